//! Protected creates (Curator's `withProtection()`): a create that can be retried after a
//! connection loss without leaving a second node behind.
//!
//! The node's name gets a prefix no other create shares, `_c_<random GUID>-`, so
//! `/locks/lock-` becomes `/locks/_c_<guid>-lock-0000000007`. When an attempt ends with
//! its outcome unknown, the next one first lists the parent: a child with the prefix is
//! the lost attempt's node, and is returned instead of creating another. The format is
//! Curator's, so Curator recipes and tools recognise these nodes.

use rand::RngCore;
use zk_proto::Stat;

use super::{Effect, Retry};
use crate::error::{Error, Result};
use crate::options::CreateOptions;

/// The prefix Curator puts before a protected node's GUID.
const PROTECTED_PREFIX: &str = "_c_";

/// The unique name prefix of one protected create (`_c_<guid>-`). Chosen before the
/// create, so that whoever abandons the create (a cancelled lock attempt) can still find
/// its node with [`Retry::find_protected_node`] and remove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protection {
    prefix: String,
}

impl Protection {
    /// A new, unique prefix.
    pub fn new() -> Self {
        Self {
            prefix: format!("{PROTECTED_PREFIX}{}-", guid()),
        }
    }

    /// `_c_<guid>-`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl Default for Protection {
    fn default() -> Self {
        Self::new()
    }
}

/// `parent` of `path` (`/` for a top-level node) and the last segment.
fn split(path: &str) -> Result<(&str, &str)> {
    let (parent, name) = path.rsplit_once('/').ok_or_else(|| Error::InvalidPath {
        path: path.to_owned(),
        reason: zk_proto::path::PathError::NotAbsolute,
    })?;
    Ok((if parent.is_empty() { "/" } else { parent }, name))
}

impl Retry<'_> {
    /// Creates a node, in any mode, so that a retry after a lost attempt never makes a
    /// second one: the last segment of `path` gets a unique prefix (`_c_<guid>-`), and after
    /// a connection loss the parent is searched for it before creating again. Returns the
    /// path actually created and its Stat. The way to retry sequential creates, ephemeral
    /// ones (locks, elections, queues) above all.
    pub async fn create_protected(
        &self,
        path: &str,
        data: &[u8],
        options: &CreateOptions,
    ) -> Result<(String, Stat)> {
        self.create_protected_as(&Protection::new(), path, data, options)
            .await
    }

    /// [`Retry::create_protected`] with a prefix chosen by the caller.
    pub async fn create_protected_as(
        &self,
        protection: &Protection,
        path: &str,
        data: &[u8],
        options: &CreateOptions,
    ) -> Result<(String, Stat)> {
        let (parent, name) = split(path)?;
        let prefix = protection.prefix();
        let protected = if parent == "/" {
            format!("/{prefix}{name}")
        } else {
            format!("{parent}/{prefix}{name}")
        };
        // The search settles a lost attempt's outcome, so errors need no rewording.
        self.run(Effect::None, |outcome_unknown| {
            let (protected, prefix) = (&protected, &prefix);
            async move {
                if outcome_unknown {
                    if let Some(found) = self.find_protected(parent, prefix).await? {
                        tracing::debug!(path = %found.0, "a lost protected create was applied");
                        return Ok(found);
                    }
                }
                self.client.create(protected, data, options).await
            }
        })
        .await
    }

    /// The node a protected create with `protection` made under `parent`, if it made one,
    /// with its Stat.
    pub async fn find_protected_node(
        &self,
        parent: &str,
        protection: &Protection,
    ) -> Result<Option<(String, Stat)>> {
        self.run(Effect::None, |_| {
            self.find_protected(parent, protection.prefix())
        })
        .await
    }

    /// The child of `parent` whose name starts with `prefix`, with its Stat.
    async fn find_protected(&self, parent: &str, prefix: &str) -> Result<Option<(String, Stat)>> {
        let children = self.client.get_children(parent).await?;
        let Some(child) = children.iter().find(|c| c.starts_with(prefix)) else {
            return Ok(None);
        };
        let path = if parent == "/" {
            format!("/{child}")
        } else {
            format!("{parent}/{child}")
        };
        Ok(self.client.exists(&path).await?.map(|stat| (path, stat)))
    }
}

/// A random (version 4) UUID in its usual text form.
fn guid() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_look_like_uuids_and_differ() {
        let (a, b) = (guid(), guid());
        assert_ne!(a, b);
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "4", "version 4");
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}

//! Chroot: the client-side path prefix from a connect string like `host:2181/app`.
//!
//! Owns translating client paths to server paths and back. The server never sees a chroot.

use crate::error::{Error, Result};
use zk_proto::path::validate_path;

/// A validated chroot prefix, or none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chroot {
    prefix: Option<String>,
}

impl Chroot {
    /// A chroot of `prefix`; `"/"` or `""` means none.
    pub fn new(prefix: &str) -> Result<Self> {
        if prefix.is_empty() || prefix == "/" {
            return Ok(Self::default());
        }
        validate_path(prefix, false).map_err(|reason| Error::InvalidPath {
            path: prefix.to_owned(),
            reason,
        })?;
        Ok(Self {
            prefix: Some(prefix.to_owned()),
        })
    }

    /// The prefix, if any.
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// The server path for a client path: `/` maps to exactly the prefix.
    pub fn to_server(&self, path: &str) -> String {
        match &self.prefix {
            None => path.to_owned(),
            Some(p) if path == "/" => p.clone(),
            Some(p) => {
                let mut s = String::with_capacity(p.len() + path.len());
                s.push_str(p);
                s.push_str(path);
                s
            }
        }
    }

    /// The client path for a server path: the prefix itself is `/`, a path below it loses
    /// the prefix, anything else is returned unchanged (as the Java client does).
    pub fn to_client(&self, path: &str) -> String {
        match &self.prefix {
            None => path.to_owned(),
            Some(p) => match path.strip_prefix(p.as_str()) {
                Some("") => "/".to_owned(),
                Some(rest) if rest.starts_with('/') => rest.to_owned(),
                _ => path.to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_paths_both_ways() {
        let c = Chroot::new("/app").unwrap();
        assert_eq!(c.to_server("/"), "/app");
        assert_eq!(c.to_server("/x/y"), "/app/x/y");
        assert_eq!(c.to_client("/app"), "/");
        assert_eq!(c.to_client("/app/x"), "/x");
        assert_eq!(c.to_client("/apple"), "/apple");
        assert_eq!(c.to_client("/zookeeper/config"), "/zookeeper/config");
        assert_eq!(Chroot::new("/").unwrap(), Chroot::default());
        assert!(Chroot::new("/bad/").is_err());
    }
}

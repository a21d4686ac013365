//! Where instances live: `{base}/{name}/{id}` (Curator's layout, default base `/services`).

use crate::error::{DiscoveryError, Result};

/// The default base path, as Curator's examples and Spring Cloud Zookeeper use.
pub const DEFAULT_BASE: &str = "/services";

/// Path construction and name checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    base: String,
}

impl Default for Naming {
    fn default() -> Self {
        Self {
            base: DEFAULT_BASE.to_owned(),
        }
    }
}

/// Checks that `value` can be one znode name.
pub fn check_name(what: &'static str, value: &str) -> Result<()> {
    let reason = if value.is_empty() {
        Some("must not be empty")
    } else if value.contains('/') {
        Some("must not contain '/'")
    } else if value == "." || value == ".." {
        Some("must not be . or ..")
    } else if zk_proto_valid(value).is_err() {
        Some("contains a character ZooKeeper does not allow in paths")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(DiscoveryError::InvalidName {
            what,
            value: value.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn zk_proto_valid(name: &str) -> std::result::Result<(), ()> {
    let path = format!("/{name}");
    zk_client::chroot::Chroot::new(&path)
        .map(drop)
        .map_err(drop)
}

impl Naming {
    /// Layout under `base` (an absolute path without trailing slash; `/` is allowed).
    pub fn new(base: &str) -> Result<Self> {
        let base = if base.len() > 1 {
            base.trim_end_matches('/')
        } else {
            base
        };
        zk_client::chroot::Chroot::new(base).map_err(|_| DiscoveryError::InvalidName {
            what: "base path",
            value: base.to_owned(),
            reason: "not a valid absolute ZooKeeper path",
        })?;
        Ok(Self {
            base: base.to_owned(),
        })
    }

    /// The base path.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `{base}/{name}`.
    pub fn service(&self, name: &str) -> String {
        if self.base == "/" {
            format!("/{name}")
        } else {
            format!("{}/{name}", self.base)
        }
    }

    /// `{base}/{name}/{id}`.
    pub fn instance(&self, name: &str, id: &str) -> String {
        format!("{}/{id}", self.service(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_curators_layout() {
        let n = Naming::default();
        assert_eq!(n.instance("orders", "abc"), "/services/orders/abc");
        assert_eq!(Naming::new("/").unwrap().service("x"), "/x");
        assert_eq!(Naming::new("/a/b/").unwrap().service("x"), "/a/b/x");
        assert!(Naming::new("relative").is_err());
        assert!(check_name("service name", "a/b").is_err());
        assert!(check_name("service name", "..").is_err());
        assert!(check_name("service name", "").is_err());
        assert!(check_name("instance id", "bad\u{1}").is_err());
        assert!(check_name("instance id", "ok-1").is_ok());
    }
}

//! Options of create and the ops of multi and multiRead.

use std::time::Duration;

use bytes::Bytes;
use zk_proto::{Acl, CreateMode, Stat};

/// Largest TTL the server accepts (`EphemeralType.TTL` keeps 40 bits of milliseconds).
pub const MAX_TTL: Duration = Duration::from_millis(0xFF_FFFF_FFFF);

/// How to create a node: mode, ACL and, for TTL modes, the time to live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    /// The create mode.
    pub mode: CreateMode,
    /// The node's ACL (default: `OPEN_ACL_UNSAFE`).
    pub acl: Vec<Acl>,
    /// Time to live, required for (and only for) the TTL modes.
    pub ttl: Option<Duration>,
}

impl CreateOptions {
    /// Options for `mode` with an open ACL.
    pub fn new(mode: CreateMode) -> Self {
        Self {
            mode,
            acl: Acl::open_unsafe(),
            ttl: None,
        }
    }

    /// A persistent node.
    pub fn persistent() -> Self {
        Self::new(CreateMode::Persistent)
    }

    /// An ephemeral node.
    pub fn ephemeral() -> Self {
        Self::new(CreateMode::Ephemeral)
    }

    /// Replaces the ACL.
    pub fn with_acl(mut self, acl: Vec<Acl>) -> Self {
        self.acl = acl;
        self
    }

    /// Sets the TTL (for `PersistentWithTtl` and `PersistentSequentialWithTtl`).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }
}

/// One write of a [`Client::multi`](crate::Client::multi) transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create a node.
    Create {
        /// Path.
        path: String,
        /// Data.
        data: Bytes,
        /// Mode, ACL, TTL.
        options: CreateOptions,
    },
    /// Delete a node, if its version matches (`None`: any).
    Delete {
        /// Path.
        path: String,
        /// Expected version.
        version: Option<i32>,
    },
    /// Set a node's data, if its version matches.
    SetData {
        /// Path.
        path: String,
        /// New data.
        data: Bytes,
        /// Expected version.
        version: Option<i32>,
    },
    /// Fail the transaction unless the node's version matches.
    Check {
        /// Path.
        path: String,
        /// Expected version.
        version: i32,
    },
}

impl Op {
    /// A create op.
    pub fn create(path: impl Into<String>, data: impl Into<Bytes>, options: CreateOptions) -> Self {
        Op::Create {
            path: path.into(),
            data: data.into(),
            options,
        }
    }

    /// A delete op.
    pub fn delete(path: impl Into<String>, version: Option<i32>) -> Self {
        Op::Delete {
            path: path.into(),
            version,
        }
    }

    /// A setData op.
    pub fn set_data(path: impl Into<String>, data: impl Into<Bytes>, version: Option<i32>) -> Self {
        Op::SetData {
            path: path.into(),
            data: data.into(),
            version,
        }
    }

    /// A check op.
    pub fn check(path: impl Into<String>, version: i32) -> Self {
        Op::Check {
            path: path.into(),
            version,
        }
    }
}

/// The result of one op of a successful multi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// The created path; the Stat when the server returns it (3.8.2+ for plain creates,
    /// always for containers and TTL nodes).
    Create {
        /// Created path (chroot removed).
        path: String,
        /// Its Stat, when the server sent it.
        stat: Option<Stat>,
    },
    /// Deleted.
    Delete,
    /// New Stat after setData.
    SetData(Stat),
    /// Check passed.
    Check,
}

/// One read of a [`Client::multi_read`](crate::Client::multi_read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOp {
    /// getData.
    GetData(String),
    /// getChildren.
    GetChildren(String),
}

/// The result of one read of a multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadResult {
    /// Data and Stat.
    Data(Bytes, Stat),
    /// Child names.
    Children(Vec<String>),
}

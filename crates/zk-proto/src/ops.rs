//! The request and response record of every client operation (`zookeeper.jute`, module
//! `org.apache.zookeeper.proto`), field for field in wire order.
//!
//! Owns: record layouts. Multi records live in [`crate::multi`]; dispatch by opcode in
//! [`crate::request`].

use bytes::Bytes;

use crate::acl::{Acl, ClientInfo};
use crate::record::record;
use crate::stat::Stat;

record! {
    /// create (1), create2 (15), createContainer (19).
    pub struct CreateRequest {
        /// Requested path (a sequential create appends a counter).
        pub path: String,
        /// Node data; `None` is the null buffer.
        pub data: Option<Bytes>,
        /// The node's ACL.
        pub acl: Vec<Acl>,
        /// A [`crate::CreateMode`] value.
        pub flags: i32,
    }
}

record! {
    /// createTTL (21).
    pub struct CreateTtlRequest {
        /// Requested path.
        pub path: String,
        /// Node data.
        pub data: Option<Bytes>,
        /// The node's ACL.
        pub acl: Vec<Acl>,
        /// A TTL [`crate::CreateMode`] value.
        pub flags: i32,
        /// Time to live in milliseconds.
        pub ttl: i64,
    }
}

record! {
    /// Reply to create (1).
    pub struct CreateResponse {
        /// The created path, with any sequence suffix.
        pub path: String,
    }
}

record! {
    /// Reply to create2, createContainer and createTTL.
    pub struct Create2Response {
        /// The created path.
        pub path: String,
        /// The new node's Stat.
        pub stat: Stat,
    }
}

record! {
    /// delete (2).
    pub struct DeleteRequest {
        /// Path to delete.
        pub path: String,
        /// Expected data version, -1 for any.
        pub version: i32,
    }
}

record! {
    /// deleteContainer (20, server-internal).
    pub struct DeleteContainerRequest {
        /// Path to delete.
        pub path: String,
    }
}

record! {
    /// exists (3), getData (4), getChildren (8), getChildren2 (12): a path and a watch flag.
    pub struct PathWatchRequest {
        /// The node.
        pub path: String,
        /// Whether to leave a one-shot watch.
        pub watch: bool,
    }
}

/// exists (3).
pub type ExistsRequest = PathWatchRequest;
/// getData (4).
pub type GetDataRequest = PathWatchRequest;
/// getChildren (8).
pub type GetChildrenRequest = PathWatchRequest;
/// getChildren2 (12).
pub type GetChildren2Request = PathWatchRequest;

record! {
    /// A request that is only a path: getACL (6), sync (9), getEphemerals (103),
    /// getAllChildrenNumber (104).
    pub struct PathRequest {
        /// The path (for getEphemerals, a string prefix).
        pub path: String,
    }
}

record! {
    /// Reply carrying one Stat: exists, setData, setACL.
    pub struct StatResponse {
        /// The node's Stat.
        pub stat: Stat,
    }
}

record! {
    /// Reply to getData (also reconfig).
    pub struct GetDataResponse {
        /// The data; `None` is the null buffer.
        pub data: Option<Bytes>,
        /// The node's Stat.
        pub stat: Stat,
    }
}

record! {
    /// setData (5).
    pub struct SetDataRequest {
        /// The node.
        pub path: String,
        /// New data.
        pub data: Option<Bytes>,
        /// Expected data version, -1 for any.
        pub version: i32,
    }
}

record! {
    /// Reply to getACL (6).
    pub struct GetAclResponse {
        /// The ACL.
        pub acl: Vec<Acl>,
        /// The node's Stat.
        pub stat: Stat,
    }
}

record! {
    /// setACL (7).
    pub struct SetAclRequest {
        /// The node.
        pub path: String,
        /// New ACL.
        pub acl: Vec<Acl>,
        /// Expected ACL version (aversion), -1 for any.
        pub version: i32,
    }
}

record! {
    /// Reply to getChildren (8) and getEphemerals (103): a list of strings.
    pub struct StringsResponse {
        /// Child names (getChildren) or full paths (getEphemerals).
        pub strings: Vec<String>,
    }
}

record! {
    /// Reply to getChildren2 (12).
    pub struct GetChildren2Response {
        /// Child names.
        pub children: Vec<String>,
        /// The parent's Stat.
        pub stat: Stat,
    }
}

record! {
    /// check (13), inside multi.
    pub struct CheckVersionRequest {
        /// The node.
        pub path: String,
        /// Expected data version.
        pub version: i32,
    }
}

record! {
    /// reconfig (16).
    pub struct ReconfigRequest {
        /// Servers to add.
        pub joining_servers: String,
        /// Server ids to remove.
        pub leaving_servers: String,
        /// A complete new membership.
        pub new_members: String,
        /// Expected config version, -1 for any.
        pub cur_config_id: i64,
    }
}

record! {
    /// checkWatches (17) and removeWatches (18).
    pub struct WatchesRequest {
        /// The watched path.
        pub path: String,
        /// A [`crate::WatcherType`] value.
        pub watcher_type: i32,
    }
}

record! {
    /// auth (100), sent with xid -4.
    pub struct AuthPacket {
        /// Unused, 0.
        pub auth_type: i32,
        /// Scheme, e.g. `digest`.
        pub scheme: String,
        /// Credentials, e.g. `user:password`.
        pub auth: Option<Bytes>,
    }
}

record! {
    /// setWatches (101).
    pub struct SetWatches {
        /// The client's last seen zxid.
        pub relative_zxid: i64,
        /// Data watches.
        pub data_watches: Vec<String>,
        /// Exists watches.
        pub exist_watches: Vec<String>,
        /// Child watches.
        pub child_watches: Vec<String>,
    }
}

record! {
    /// setWatches2 (105): setWatches plus persistent watches.
    pub struct SetWatches2 {
        /// The client's last seen zxid.
        pub relative_zxid: i64,
        /// Data watches.
        pub data_watches: Vec<String>,
        /// Exists watches.
        pub exist_watches: Vec<String>,
        /// Child watches.
        pub child_watches: Vec<String>,
        /// Persistent watches.
        pub persistent_watches: Vec<String>,
        /// Persistent recursive watches.
        pub persistent_recursive_watches: Vec<String>,
    }
}

record! {
    /// sasl (102) request and reply: an opaque token.
    pub struct SaslPacket {
        /// The token.
        pub token: Option<Bytes>,
    }
}

record! {
    /// Reply to getAllChildrenNumber (104).
    pub struct AllChildrenNumberResponse {
        /// Number of descendants, excluding the node itself.
        pub total_number: i32,
    }
}

record! {
    /// addWatch (106).
    pub struct AddWatchRequest {
        /// The path (need not exist).
        pub path: String,
        /// An [`crate::AddWatchMode`] value.
        pub mode: i32,
    }
}

record! {
    /// `ErrorResponse`: the body of an error entry in a multi reply and of the addWatch reply.
    pub struct ErrorResponse {
        /// An error code.
        pub err: i32,
    }
}

record! {
    /// Reply to whoAmI (107).
    pub struct WhoAmIResponse {
        /// The connection's identities.
        pub client_info: Vec<ClientInfo>,
    }
}

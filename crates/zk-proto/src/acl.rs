//! ACL records (`Id`, `ACL`), permission bits and the well-known ids and lists of
//! `ZooDefs.Ids`.

use bytes::{Buf, BufMut};

use crate::codec::{read_i32, read_string, write_string, Decode, DecodeResult, Encode};

/// Permission bits of an ACL entry (`ZooDefs.Perms`).
pub mod perms {
    /// Read data and list children.
    pub const READ: i32 = 1;
    /// Set data.
    pub const WRITE: i32 = 2;
    /// Create children.
    pub const CREATE: i32 = 4;
    /// Delete children.
    pub const DELETE: i32 = 8;
    /// Set the ACL.
    pub const ADMIN: i32 = 16;
    /// Every permission.
    pub const ALL: i32 = 31;
}

/// An identity: an auth scheme and an id within it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id {
    /// The scheme (`world`, `auth`, `digest`, `ip`, …).
    pub scheme: String,
    /// The id within the scheme.
    pub id: String,
}

impl Id {
    /// An id from its parts.
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    /// `world:anyone`.
    pub fn anyone() -> Self {
        Self::new("world", "anyone")
    }

    /// `auth:` — whatever ids the creating connection authenticated with.
    pub fn auth_ids() -> Self {
        Self::new("auth", "")
    }
}

impl Encode for Id {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        write_string(buf, &self.scheme);
        write_string(buf, &self.id);
    }
}

impl Decode for Id {
    const MIN_LEN: usize = 8;
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        Ok(Self {
            scheme: read_string(buf)?,
            id: read_string(buf)?,
        })
    }
}

/// One ACL entry: permissions granted to an id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Acl {
    /// Bitwise OR of [`perms`] values.
    pub perms: i32,
    /// Who gets them.
    pub id: Id,
}

impl Acl {
    /// An entry from its parts.
    pub fn new(perms: i32, id: Id) -> Self {
        Self { perms, id }
    }

    /// `OPEN_ACL_UNSAFE`: everyone may do everything.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(perms::ALL, Id::anyone())]
    }

    /// `CREATOR_ALL_ACL`: only the creator's authenticated ids.
    pub fn creator_all() -> Vec<Acl> {
        vec![Acl::new(perms::ALL, Id::auth_ids())]
    }

    /// `READ_ACL_UNSAFE`: everyone may read.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::new(perms::READ, Id::anyone())]
    }

    /// The smallest encoding of an entry (perms + two empty strings).
    pub const MIN_ENCODED_LEN: usize = 12;
}

impl Encode for Acl {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_i32(self.perms);
        self.id.encode(buf);
    }
}

impl Decode for Acl {
    const MIN_LEN: usize = 12;
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        Ok(Self {
            perms: read_i32(buf)?,
            id: Id::decode(buf)?,
        })
    }
}

/// `ClientInfo` (3.7+): one authenticated identity of a connection, as `whoAmI` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientInfo {
    /// The auth scheme.
    pub auth_scheme: String,
    /// The user (for digest, the part before `:`).
    pub user: String,
}

impl Encode for ClientInfo {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        write_string(buf, &self.auth_scheme);
        write_string(buf, &self.user);
    }
}

impl Decode for ClientInfo {
    const MIN_LEN: usize = 8;
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        Ok(Self {
            auth_scheme: read_string(buf)?,
            user: read_string(buf)?,
        })
    }
}

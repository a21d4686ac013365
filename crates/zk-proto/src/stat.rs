//! `Stat`: the 11-field metadata record (68 bytes) returned with most node operations.

use bytes::{Buf, BufMut};

use crate::codec::{read_i32, read_i64, Decode, DecodeResult, Encode};

/// Metadata of a znode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Stat {
    /// zxid of the create.
    pub czxid: i64,
    /// zxid of the last setData.
    pub mzxid: i64,
    /// Create time, ms since the epoch.
    pub ctime: i64,
    /// Last modification time, ms since the epoch.
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// Child version (child creates + deletes).
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
    /// Owning session if ephemeral, else 0.
    pub ephemeral_owner: i64,
    /// Length of the data.
    pub data_length: i32,
    /// Number of children.
    pub num_children: i32,
    /// zxid of the last change to the children list.
    pub pzxid: i64,
}

impl Stat {
    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 68;
}

impl Encode for Stat {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_i64(self.czxid);
        buf.put_i64(self.mzxid);
        buf.put_i64(self.ctime);
        buf.put_i64(self.mtime);
        buf.put_i32(self.version);
        buf.put_i32(self.cversion);
        buf.put_i32(self.aversion);
        buf.put_i64(self.ephemeral_owner);
        buf.put_i32(self.data_length);
        buf.put_i32(self.num_children);
        buf.put_i64(self.pzxid);
    }
}

impl Decode for Stat {
    const MIN_LEN: usize = 68;
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        Ok(Self {
            czxid: read_i64(buf)?,
            mzxid: read_i64(buf)?,
            ctime: read_i64(buf)?,
            mtime: read_i64(buf)?,
            version: read_i32(buf)?,
            cversion: read_i32(buf)?,
            aversion: read_i32(buf)?,
            ephemeral_owner: read_i64(buf)?,
            data_length: read_i32(buf)?,
            num_children: read_i32(buf)?,
            pzxid: read_i64(buf)?,
        })
    }
}

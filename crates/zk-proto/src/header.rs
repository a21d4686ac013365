//! `RequestHeader` and `ReplyHeader`, and the special xids that route frames which are not
//! ordinary replies.

use bytes::{Buf, BufMut};

use crate::codec::{read_i32, read_i64, Decode, DecodeResult, Encode};

/// xid of a watch notification (server → client).
pub const NOTIFICATION_XID: i32 = -1;
/// xid of a ping and its reply.
pub const PING_XID: i32 = -2;
/// xid of an auth packet and its reply.
pub const AUTH_XID: i32 = -4;
/// xid the C client uses for setWatches (the server echoes any xid).
pub const SET_WATCHES_XID: i32 = -8;

/// Precedes every request after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    /// Client-chosen id echoed in the reply.
    pub xid: i32,
    /// The opcode (see [`crate::OpCode`]).
    pub opcode: i32,
}

impl Encode for RequestHeader {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_i32(self.xid);
        buf.put_i32(self.opcode);
    }
}

impl Decode for RequestHeader {
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        Ok(Self {
            xid: read_i32(buf)?,
            opcode: read_i32(buf)?,
        })
    }
}

/// Precedes every server frame after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHeader {
    /// The request's xid, or a special xid.
    pub xid: i32,
    /// The server's last applied zxid when the reply was sent (-1 in 3.5–3.8 notifications).
    pub zxid: i64,
    /// An error code (see [`crate::ErrorCode`]); the body is only meaningful when 0.
    pub err: i32,
}

impl Encode for ReplyHeader {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_i32(self.xid);
        buf.put_i64(self.zxid);
        buf.put_i32(self.err);
    }
}

impl Decode for ReplyHeader {
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        Ok(Self {
            xid: read_i32(buf)?,
            zxid: read_i64(buf)?,
            err: read_i32(buf)?,
        })
    }
}

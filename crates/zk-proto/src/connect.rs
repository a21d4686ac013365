//! The handshake records: the client's first frame and the server's first answer, neither
//! preceded by a header.
//!
//! The trailing `readOnly` boolean was appended by hand before 3.9; a peer that omits it is
//! an "old" client, and the server then omits it from its answer as well. Both records keep
//! track of whether the byte was present so a server can mirror it.

use bytes::{Buf, BufMut};

use crate::codec::{
    read_bool, read_buffer, read_i32, read_i64, write_bool, write_buffer, Decode, DecodeResult,
    Encode,
};

/// Length of a session password.
pub const PASSWORD_LEN: usize = 16;

/// The first frame a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    /// Always 0.
    pub protocol_version: i32,
    /// Highest zxid the client has seen (0 on the first connect).
    pub last_zxid_seen: i64,
    /// Requested session timeout in milliseconds.
    pub timeout: i32,
    /// 0 for a new session, else the session to resume.
    pub session_id: i64,
    /// 16 zero bytes for a new session, else the session's password.
    pub password: Vec<u8>,
    /// Whether the client accepts a read-only server; `None` when the byte was absent.
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    /// The request of a client asking for a new session with `timeout_ms`, as the Java
    /// client sends it (16 zero bytes of password, not read-only).
    pub fn new_session(timeout_ms: i32) -> Self {
        Self {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout: timeout_ms,
            session_id: 0,
            password: vec![0; PASSWORD_LEN],
            read_only: Some(false),
        }
    }
}

impl Encode for ConnectRequest {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_i32(self.protocol_version);
        buf.put_i64(self.last_zxid_seen);
        buf.put_i32(self.timeout);
        buf.put_i64(self.session_id);
        write_buffer(buf, Some(&self.password));
        if let Some(ro) = self.read_only {
            write_bool(buf, ro);
        }
    }
}

impl Decode for ConnectRequest {
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        let protocol_version = read_i32(buf)?;
        let last_zxid_seen = read_i64(buf)?;
        let timeout = read_i32(buf)?;
        let session_id = read_i64(buf)?;
        let password = read_buffer(buf)?.map(|b| b.to_vec()).unwrap_or_default();
        let read_only = if buf.has_remaining() {
            Some(read_bool(buf)?)
        } else {
            None
        };
        Ok(Self {
            protocol_version,
            last_zxid_seen,
            timeout,
            session_id,
            password,
            read_only,
        })
    }
}

/// The server's answer to [`ConnectRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResponse {
    /// Always 0.
    pub protocol_version: i32,
    /// Negotiated timeout in milliseconds; 0 means the session is expired or invalid.
    pub timeout: i32,
    /// The session id (0 when invalid).
    pub session_id: i64,
    /// The session password.
    pub password: Vec<u8>,
    /// Whether the server is read-only; `None` when the byte was absent.
    pub read_only: Option<bool>,
}

impl Encode for ConnectResponse {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_i32(self.protocol_version);
        buf.put_i32(self.timeout);
        buf.put_i64(self.session_id);
        write_buffer(buf, Some(&self.password));
        if let Some(ro) = self.read_only {
            write_bool(buf, ro);
        }
    }
}

impl Decode for ConnectResponse {
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        let protocol_version = read_i32(buf)?;
        let timeout = read_i32(buf)?;
        let session_id = read_i64(buf)?;
        let password = read_buffer(buf)?.map(|b| b.to_vec()).unwrap_or_default();
        let read_only = if buf.has_remaining() {
            Some(read_bool(buf)?)
        } else {
            None
        };
        Ok(Self {
            protocol_version,
            timeout,
            session_id,
            password,
            read_only,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;

    /// Appendix A of the wire reference: a new-session request is 45 bytes.
    #[test]
    fn new_session_request_matches_apache_bytes() {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout: 30000,
            session_id: 0,
            password: vec![0; 16],
            read_only: Some(false),
        };
        let mut out = Vec::new();
        req.encode(&mut out);
        assert_eq!(out.len(), 45);
        assert_eq!(&out[12..16], &[0, 0, 0x75, 0x30]);
        assert_eq!(decode_exact::<ConnectRequest>(&out).unwrap(), req);
    }

    #[test]
    fn old_client_without_read_only_byte_is_recognised() {
        let mut out = Vec::new();
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout: 4000,
            session_id: 0,
            password: vec![0; 16],
            read_only: None,
        }
        .encode(&mut out);
        assert_eq!(out.len(), 44);
        assert_eq!(
            decode_exact::<ConnectRequest>(&out).unwrap().read_only,
            None
        );
    }
}

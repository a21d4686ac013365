//! Transactions: every change to the tree, with every non-deterministic choice already
//! made (zxid, time, session, sequence suffix, node kind).
//!
//! Owns the txn types and their binary encoding for the transaction log. The same txn is
//! applied on the live path, on log replay after a restart and, in an ensemble, on every
//! member ([`crate::tree::DataTree::apply`]); nothing else changes the tree.

use bytes::{Buf, BufMut, Bytes};
use zk_proto::codec::{read_i32, read_i64, read_vec};
use zk_proto::{Acl, Decode, DecodeError, DecodeResult, Encode};

/// Identifies a transaction's origin and place in the total order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnHeader {
    /// The session that asked for it (0 for the server itself).
    pub session_id: i64,
    /// The request's xid (0 for server-initiated txns).
    pub cxid: i32,
    /// Position in the total order.
    pub zxid: i64,
    /// Wall-clock ms when the txn was made (ctime/mtime of what it creates).
    pub time: i64,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txn {
    /// A session was created.
    CreateSession {
        /// Negotiated timeout in ms.
        timeout: i32,
    },
    /// A session ended (closed or expired): its ephemerals go in the same txn.
    CloseSession,
    /// Create a node.
    Create {
        /// The final path (sequence suffix included).
        path: String,
        /// Data (`None` = null).
        data: Option<Bytes>,
        /// ACL after fix-up.
        acl: Vec<Acl>,
        /// Stored ephemeral owner: session id, container marker, TTL encoding, or 0.
        ephemeral_owner: i64,
        /// The parent's stored child-create counter after this create.
        parent_cversion: i32,
    },
    /// Delete a node.
    Delete {
        /// Path.
        path: String,
    },
    /// Replace data.
    SetData {
        /// Path.
        path: String,
        /// New data.
        data: Option<Bytes>,
        /// The new version.
        version: i32,
    },
    /// Replace the ACL.
    SetAcl {
        /// Path.
        path: String,
        /// New ACL.
        acl: Vec<Acl>,
        /// The new aversion.
        version: i32,
    },
    /// A check that passed (inside multi): changes nothing.
    Check {
        /// Path.
        path: String,
    },
    /// A failed write: changes nothing but consumes the zxid.
    Error {
        /// The error code.
        err: i32,
    },
    /// An atomic group (a successful multi).
    Multi(Vec<Txn>),
}

impl Txn {
    /// About how many bytes the txn holds (paths, data, ACL ids), for memory bounds.
    pub fn approximate_size(&self) -> usize {
        let acl_size = |acl: &[Acl]| {
            acl.iter()
                .map(|a| 16 + a.id.scheme.len() + a.id.id.len())
                .sum::<usize>()
        };
        48 + match self {
            Txn::Create {
                path, data, acl, ..
            } => path.len() + data.as_ref().map_or(0, |d| d.len()) + acl_size(acl),
            Txn::SetData { path, data, .. } => path.len() + data.as_ref().map_or(0, |d| d.len()),
            Txn::SetAcl { path, acl, .. } => path.len() + acl_size(acl),
            Txn::Delete { path } | Txn::Check { path } => path.len(),
            Txn::Multi(txns) => txns.iter().map(Txn::approximate_size).sum(),
            Txn::CreateSession { .. } | Txn::CloseSession | Txn::Error { .. } => 0,
        }
    }
}

const T_CREATE_SESSION: i32 = -10;
const T_CLOSE_SESSION: i32 = -11;
const T_CREATE: i32 = 1;
const T_DELETE: i32 = 2;
const T_SET_DATA: i32 = 5;
const T_SET_ACL: i32 = 7;
const T_CHECK: i32 = 13;
const T_MULTI: i32 = 14;
const T_ERROR: i32 = -1;

impl Encode for TxnHeader {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_i64(self.session_id);
        buf.put_i32(self.cxid);
        buf.put_i64(self.zxid);
        buf.put_i64(self.time);
    }
}

impl Decode for TxnHeader {
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        Ok(Self {
            session_id: read_i64(buf)?,
            cxid: read_i32(buf)?,
            zxid: read_i64(buf)?,
            time: read_i64(buf)?,
        })
    }
}

impl Encode for Txn {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        match self {
            Txn::CreateSession { timeout } => {
                buf.put_i32(T_CREATE_SESSION);
                buf.put_i32(*timeout);
            }
            Txn::CloseSession => buf.put_i32(T_CLOSE_SESSION),
            Txn::Create {
                path,
                data,
                acl,
                ephemeral_owner,
                parent_cversion,
            } => {
                buf.put_i32(T_CREATE);
                path.encode(buf);
                data.encode(buf);
                acl.encode(buf);
                buf.put_i64(*ephemeral_owner);
                buf.put_i32(*parent_cversion);
            }
            Txn::Delete { path } => {
                buf.put_i32(T_DELETE);
                path.encode(buf);
            }
            Txn::SetData {
                path,
                data,
                version,
            } => {
                buf.put_i32(T_SET_DATA);
                path.encode(buf);
                data.encode(buf);
                buf.put_i32(*version);
            }
            Txn::SetAcl { path, acl, version } => {
                buf.put_i32(T_SET_ACL);
                path.encode(buf);
                acl.encode(buf);
                buf.put_i32(*version);
            }
            Txn::Check { path } => {
                buf.put_i32(T_CHECK);
                path.encode(buf);
            }
            Txn::Error { err } => {
                buf.put_i32(T_ERROR);
                buf.put_i32(*err);
            }
            Txn::Multi(txns) => {
                buf.put_i32(T_MULTI);
                txns.encode(buf);
            }
        }
    }
}

impl Decode for Txn {
    const MIN_LEN: usize = 4;

    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        decode_txn(buf, true)
    }
}

/// Reads a txn; a multi's ops may not be multis themselves (nor session txns), so a
/// hostile nesting cannot recurse without bound.
fn decode_txn<B: Buf>(buf: &mut B, top: bool) -> DecodeResult<Txn> {
    {
        Ok(match read_i32(buf)? {
            T_CREATE_SESSION if top => Txn::CreateSession {
                timeout: read_i32(buf)?,
            },
            T_CLOSE_SESSION if top => Txn::CloseSession,
            T_CREATE => Txn::Create {
                path: String::decode(buf)?,
                data: Option::<Bytes>::decode(buf)?,
                acl: Vec::<Acl>::decode(buf)?,
                ephemeral_owner: read_i64(buf)?,
                parent_cversion: read_i32(buf)?,
            },
            T_DELETE => Txn::Delete {
                path: String::decode(buf)?,
            },
            T_SET_DATA => Txn::SetData {
                path: String::decode(buf)?,
                data: Option::<Bytes>::decode(buf)?,
                version: read_i32(buf)?,
            },
            T_SET_ACL => Txn::SetAcl {
                path: String::decode(buf)?,
                acl: Vec::<Acl>::decode(buf)?,
                version: read_i32(buf)?,
            },
            T_CHECK => Txn::Check {
                path: String::decode(buf)?,
            },
            T_ERROR => Txn::Error {
                err: read_i32(buf)?,
            },
            T_MULTI if top => Txn::Multi(read_vec(buf, 4, |b| decode_txn(b, false))?),
            other => {
                return Err(DecodeError::InvalidValue {
                    field: "txn type",
                    value: other.into(),
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::codec::decode_exact;

    #[test]
    fn txns_round_trip() {
        let txn = Txn::Multi(vec![
            Txn::Create {
                path: "/a".into(),
                data: Some(Bytes::from_static(b"x")),
                acl: Acl::open_unsafe(),
                ephemeral_owner: 5,
                parent_cversion: 3,
            },
            Txn::SetData {
                path: "/a".into(),
                data: None,
                version: 1,
            },
            Txn::Check { path: "/a".into() },
            Txn::Delete { path: "/a".into() },
        ]);
        let mut out = Vec::new();
        txn.encode(&mut out);
        assert_eq!(decode_exact::<Txn>(&out).unwrap(), txn);
    }

    #[test]
    fn nested_multis_are_refused_not_recursed() {
        let mut out = Vec::new();
        for _ in 0..100_000 {
            out.put_i32(T_MULTI);
            out.put_i32(1);
        }
        assert!(decode_exact::<Txn>(&out).is_err());
    }
}

//! What members say to each other, and its binary form.
//!
//! Two kinds, on two ports as in Apache: election [`Notification`]s on the election port,
//! and [`QuorumMsg`]s between a learner and its leader on the quorum port (Apache's
//! `QuorumPacket` types, named the same). The peer format is ours: a member of this
//! ensemble only ever talks to another zk-server.
//!
//! A frame is `u32 length | u8 type | body`; integers are big-endian. A snapshot (SNAP
//! sync) is not one frame: the transport sends it as chunks ([`SnapChunk`]) and hands the
//! member one [`QuorumMsg::Snap`] with the decoded tree. Decoding never panics: a peer
//! that sends garbage gets a [`zk_proto::DecodeError`] and its connection closed.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use zk_proto::codec::{read_bool, read_i32, read_i64, read_vec, write_bool};
use zk_proto::{Decode, DecodeError, DecodeResult, Encode, Id};

use crate::core::Forwarded;
use crate::tree::TreeSnapshot;
use crate::txn::{Txn, TxnHeader};

/// A member's id (`server.N`, the `myid` file).
pub type Sid = u64;

/// The largest frame a peer may send (a snapshot travels in chunks below it).
pub const MAX_PEER_FRAME: usize = 64 * 1024 * 1024;

/// Builds a zxid from its epoch and counter.
pub fn zxid(epoch: u32, counter: u32) -> i64 {
    ((epoch as i64) << 32) | counter as i64
}

/// The epoch of a zxid.
pub fn epoch_of(zxid: i64) -> u32 {
    (zxid >> 32) as u32
}

/// The counter of a zxid.
pub fn counter_of(zxid: i64) -> u32 {
    zxid as u32
}

/// What a member is doing, as its votes say (Apache's `ServerState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerState {
    /// Electing.
    Looking,
    /// Following an elected leader.
    Following,
    /// Leading.
    Leading,
}

impl PeerState {
    fn code(self) -> u8 {
        match self {
            PeerState::Looking => 0,
            PeerState::Following => 1,
            PeerState::Leading => 2,
        }
    }

    fn from_code(code: u8) -> DecodeResult<Self> {
        Ok(match code {
            0 => PeerState::Looking,
            1 => PeerState::Following,
            2 => PeerState::Leading,
            other => {
                return Err(DecodeError::InvalidValue {
                    field: "peer state",
                    value: other.into(),
                })
            }
        })
    }
}

/// A vote: who should lead, and why (the candidate's history).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vote {
    /// The proposed leader.
    pub leader: Sid,
    /// The candidate's last durable zxid.
    pub zxid: i64,
    /// The candidate's current epoch (the epoch whose NEWLEADER it acknowledged).
    pub peer_epoch: u32,
}

impl Vote {
    /// Whether this vote beats `other`: (peer epoch, zxid, sid), lexicographically, as
    /// Apache's `totalOrderPredicate`.
    pub fn beats(&self, other: &Vote) -> bool {
        (self.peer_epoch, self.zxid, self.leader) > (other.peer_epoch, other.zxid, other.leader)
    }
}

/// An election message (Apache's FLE notification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// Who sends it.
    pub sender: Sid,
    /// What the sender is doing.
    pub state: PeerState,
    /// The sender's current vote.
    pub vote: Vote,
    /// The sender's election round (Apache's logical clock / election epoch).
    pub round: u64,
}

/// One piece of a snapshot on the wire; the last one has `last` set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapChunk {
    /// The zxid the snapshot is taken at.
    pub zxid: i64,
    /// Bytes of the snapshot encoding ([`crate::persist::encode_snapshot`]).
    pub bytes: Bytes,
    /// Whether this chunk ends the snapshot.
    pub last: bool,
}

/// A message between a learner and its leader.
#[derive(Debug, Clone)]
pub enum QuorumMsg {
    /// L←F: who I am and the highest epoch I promised (FOLLOWERINFO).
    FollowerInfo {
        /// The learner's id.
        sid: Sid,
        /// Its accepted epoch.
        accepted_epoch: u32,
    },
    /// L→F: the epoch I propose to lead (LEADERINFO).
    LeaderInfo {
        /// The new epoch.
        epoch: u32,
    },
    /// L←F: my history (ACKEPOCH). `current_epoch` is `None` when the learner had
    /// already accepted this epoch (Apache's -1: not an acknowledgement of a new epoch).
    AckEpoch {
        /// The learner's current epoch.
        current_epoch: Option<u32>,
        /// The learner's last durable zxid.
        last_zxid: i64,
        /// The learner could not apply a TRUNC (its snapshots are newer than the cut)
        /// and asks for a SNAP.
        snapshot_wanted: bool,
    },
    /// L→F: your history is a prefix of mine; the txns after it follow.
    Diff {
        /// The leader's last committed zxid.
        zxid: i64,
    },
    /// L→F: drop every txn after `zxid` (they were never committed), then the txns after
    /// it follow.
    Trunc {
        /// Where to cut.
        zxid: i64,
    },
    /// L→F: replace your tree with mine.
    Snap {
        /// The tree at its zxid.
        tree: TreeSnapshot,
    },
    /// A txn to log (PROPOSAL).
    Proposal {
        /// Its header.
        header: TxnHeader,
        /// The change.
        txn: Txn,
    },
    /// Every proposal up to `zxid` is committed (COMMIT).
    Commit {
        /// The highest committed zxid.
        zxid: i64,
    },
    /// L→F: the sync is over; acknowledge once it is durable (NEWLEADER).
    NewLeader {
        /// `epoch << 32`.
        zxid: i64,
    },
    /// L←F: durable up to `zxid` (ACK; the NEWLEADER ack carries `epoch << 32`).
    Ack {
        /// The highest zxid acknowledged.
        zxid: i64,
    },
    /// L→F: a quorum is in sync; serve clients (UPTODATE).
    UpToDate,
    /// Liveness, both ways; the learner's reply carries its clients' session touches.
    Ping {
        /// (session, timeout ms) pairs.
        touches: Vec<(i64, i32)>,
    },
    /// L←F: a client request to prepare (REQUEST).
    Request(Forwarded),
    /// L←F: a client re-attaches this session here (REVALIDATE).
    Revalidate {
        /// The session.
        session: i64,
        /// Its negotiated timeout.
        timeout: i32,
    },
    /// L→F: the answer to a revalidation.
    RevalidateReply {
        /// The session.
        session: i64,
        /// Whether it is alive (the learner now owns it).
        valid: bool,
    },
    /// L→F: a forwarded sync is ordered after every commit sent before this (SYNC).
    SyncReply {
        /// The session.
        session: i64,
        /// The sync's xid.
        cxid: i32,
    },
}

impl QuorumMsg {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            QuorumMsg::FollowerInfo { .. } => "FOLLOWERINFO",
            QuorumMsg::LeaderInfo { .. } => "LEADERINFO",
            QuorumMsg::AckEpoch { .. } => "ACKEPOCH",
            QuorumMsg::Diff { .. } => "DIFF",
            QuorumMsg::Trunc { .. } => "TRUNC",
            QuorumMsg::Snap { .. } => "SNAP",
            QuorumMsg::Proposal { .. } => "PROPOSAL",
            QuorumMsg::Commit { .. } => "COMMIT",
            QuorumMsg::NewLeader { .. } => "NEWLEADER",
            QuorumMsg::Ack { .. } => "ACK",
            QuorumMsg::UpToDate => "UPTODATE",
            QuorumMsg::Ping { .. } => "PING",
            QuorumMsg::Request(_) => "REQUEST",
            QuorumMsg::Revalidate { .. } => "REVALIDATE",
            QuorumMsg::RevalidateReply { .. } => "REVALIDATE-REPLY",
            QuorumMsg::SyncReply { .. } => "SYNC",
        }
    }
}

const T_NOTIFICATION: u8 = 1;
const T_FOLLOWER_INFO: u8 = 11;
const T_LEADER_INFO: u8 = 17;
const T_ACK_EPOCH: u8 = 18;
const T_DIFF: u8 = 13;
const T_TRUNC: u8 = 14;
const T_SNAP_CHUNK: u8 = 15;
const T_PROPOSAL: u8 = 2;
const T_COMMIT: u8 = 4;
const T_NEW_LEADER: u8 = 10;
const T_ACK: u8 = 3;
const T_UP_TO_DATE: u8 = 12;
const T_PING: u8 = 5;
const T_REQUEST: u8 = 20;
const T_REVALIDATE: u8 = 6;
const T_REVALIDATE_REPLY: u8 = 21;
const T_SYNC: u8 = 7;

/// Appends `u32 length | type | body` to `out`.
fn frame(out: &mut BytesMut, kind: u8, body: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_u32(0);
    out.put_u8(kind);
    body(out);
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

fn read_u8<B: Buf>(buf: &mut B) -> DecodeResult<u8> {
    if buf.remaining() < 1 {
        return Err(DecodeError::UnexpectedEof {
            needed: 1,
            remaining: 0,
        });
    }
    Ok(buf.get_u8())
}

fn read_u32<B: Buf>(buf: &mut B) -> DecodeResult<u32> {
    Ok(read_i32(buf)? as u32)
}

fn read_u64<B: Buf>(buf: &mut B) -> DecodeResult<u64> {
    Ok(read_i64(buf)? as u64)
}

impl Notification {
    /// Appends this notification as a frame.
    pub fn encode_frame(&self, out: &mut BytesMut) {
        frame(out, T_NOTIFICATION, |b| {
            b.put_u64(self.sender);
            b.put_u8(self.state.code());
            b.put_u64(self.vote.leader);
            b.put_i64(self.vote.zxid);
            b.put_u32(self.vote.peer_epoch);
            b.put_u64(self.round);
        });
    }

    /// Reads a notification frame's body (type byte included).
    pub fn decode_body(mut body: &[u8]) -> DecodeResult<Self> {
        let kind = read_u8(&mut body)?;
        if kind != T_NOTIFICATION {
            return Err(DecodeError::InvalidValue {
                field: "election message type",
                value: kind.into(),
            });
        }
        let n = Notification {
            sender: read_u64(&mut body)?,
            state: PeerState::from_code(read_u8(&mut body)?)?,
            vote: Vote {
                leader: read_u64(&mut body)?,
                zxid: read_i64(&mut body)?,
                peer_epoch: read_u32(&mut body)?,
            },
            round: read_u64(&mut body)?,
        };
        if !body.is_empty() {
            return Err(DecodeError::TrailingBytes(body.len()));
        }
        Ok(n)
    }
}

/// A quorum-port frame as read off the wire: a message, or a piece of a snapshot.
#[derive(Debug, Clone)]
pub enum WireMsg {
    /// Any message but a snapshot.
    Msg(QuorumMsg),
    /// A snapshot piece; the transport reassembles them into [`QuorumMsg::Snap`].
    Chunk(SnapChunk),
}

impl QuorumMsg {
    /// Appends this message as a frame. A [`QuorumMsg::Snap`] is not encoded here (the
    /// transport streams it as [`SnapChunk`]s); it is skipped.
    pub fn encode_frame(&self, out: &mut BytesMut) {
        match self {
            QuorumMsg::FollowerInfo {
                sid,
                accepted_epoch,
            } => frame(out, T_FOLLOWER_INFO, |b| {
                b.put_u64(*sid);
                b.put_u32(*accepted_epoch);
            }),
            QuorumMsg::LeaderInfo { epoch } => frame(out, T_LEADER_INFO, |b| b.put_u32(*epoch)),
            QuorumMsg::AckEpoch {
                current_epoch,
                last_zxid,
                snapshot_wanted,
            } => frame(out, T_ACK_EPOCH, |b| {
                write_bool(b, current_epoch.is_some());
                b.put_u32(current_epoch.unwrap_or(0));
                b.put_i64(*last_zxid);
                write_bool(b, *snapshot_wanted);
            }),
            QuorumMsg::Diff { zxid } => frame(out, T_DIFF, |b| b.put_i64(*zxid)),
            QuorumMsg::Trunc { zxid } => frame(out, T_TRUNC, |b| b.put_i64(*zxid)),
            QuorumMsg::Snap { .. } => {}
            QuorumMsg::Proposal { header, txn } => frame(out, T_PROPOSAL, |b| {
                header.encode(b);
                txn.encode(b);
            }),
            QuorumMsg::Commit { zxid } => frame(out, T_COMMIT, |b| b.put_i64(*zxid)),
            QuorumMsg::NewLeader { zxid } => frame(out, T_NEW_LEADER, |b| b.put_i64(*zxid)),
            QuorumMsg::Ack { zxid } => frame(out, T_ACK, |b| b.put_i64(*zxid)),
            QuorumMsg::UpToDate => frame(out, T_UP_TO_DATE, |_| {}),
            QuorumMsg::Ping { touches } => frame(out, T_PING, |b| {
                b.put_i32(touches.len() as i32);
                for (session, timeout) in touches {
                    b.put_i64(*session);
                    b.put_i32(*timeout);
                }
            }),
            QuorumMsg::Request(f) => frame(out, T_REQUEST, |b| {
                b.put_i64(f.session);
                b.put_i32(f.cxid);
                b.put_i32(f.opcode);
                b.put_u32(f.body.len() as u32);
                b.put_slice(&f.body);
                f.ids.encode(b);
            }),
            QuorumMsg::Revalidate { session, timeout } => frame(out, T_REVALIDATE, |b| {
                b.put_i64(*session);
                b.put_i32(*timeout);
            }),
            QuorumMsg::RevalidateReply { session, valid } => frame(out, T_REVALIDATE_REPLY, |b| {
                b.put_i64(*session);
                write_bool(b, *valid);
            }),
            QuorumMsg::SyncReply { session, cxid } => frame(out, T_SYNC, |b| {
                b.put_i64(*session);
                b.put_i32(*cxid);
            }),
        }
    }
}

impl SnapChunk {
    /// Appends this chunk as a frame.
    pub fn encode_frame(&self, out: &mut BytesMut) {
        frame(out, T_SNAP_CHUNK, |b| {
            b.put_i64(self.zxid);
            write_bool(b, self.last);
            b.put_slice(&self.bytes);
        });
    }
}

impl WireMsg {
    /// Reads a quorum frame's body (type byte included, length prefix removed).
    pub fn decode_body(mut body: Bytes) -> DecodeResult<WireMsg> {
        let kind = read_u8(&mut body)?;
        let msg = match kind {
            T_FOLLOWER_INFO => QuorumMsg::FollowerInfo {
                sid: read_u64(&mut body)?,
                accepted_epoch: read_u32(&mut body)?,
            },
            T_LEADER_INFO => QuorumMsg::LeaderInfo {
                epoch: read_u32(&mut body)?,
            },
            T_ACK_EPOCH => {
                let present = read_bool(&mut body)?;
                let epoch = read_u32(&mut body)?;
                QuorumMsg::AckEpoch {
                    current_epoch: present.then_some(epoch),
                    last_zxid: read_i64(&mut body)?,
                    snapshot_wanted: read_bool(&mut body)?,
                }
            }
            T_DIFF => QuorumMsg::Diff {
                zxid: read_i64(&mut body)?,
            },
            T_TRUNC => QuorumMsg::Trunc {
                zxid: read_i64(&mut body)?,
            },
            T_SNAP_CHUNK => {
                let zxid = read_i64(&mut body)?;
                let last = read_bool(&mut body)?;
                return Ok(WireMsg::Chunk(SnapChunk {
                    zxid,
                    last,
                    bytes: body,
                }));
            }
            T_PROPOSAL => QuorumMsg::Proposal {
                header: TxnHeader::decode(&mut body)?,
                txn: Txn::decode(&mut body)?,
            },
            T_COMMIT => QuorumMsg::Commit {
                zxid: read_i64(&mut body)?,
            },
            T_NEW_LEADER => QuorumMsg::NewLeader {
                zxid: read_i64(&mut body)?,
            },
            T_ACK => QuorumMsg::Ack {
                zxid: read_i64(&mut body)?,
            },
            T_UP_TO_DATE => QuorumMsg::UpToDate,
            T_PING => QuorumMsg::Ping {
                touches: read_vec(&mut body, 12, |b| Ok((read_i64(b)?, read_i32(b)?)))?,
            },
            T_REQUEST => {
                let session = read_i64(&mut body)?;
                let cxid = read_i32(&mut body)?;
                let opcode = read_i32(&mut body)?;
                let len = read_u32(&mut body)? as usize;
                if body.remaining() < len {
                    return Err(DecodeError::UnexpectedEof {
                        needed: len,
                        remaining: body.remaining(),
                    });
                }
                let request_body = body.split_to(len);
                QuorumMsg::Request(Forwarded {
                    session,
                    cxid,
                    opcode,
                    body: request_body,
                    ids: Vec::<Id>::decode(&mut body)?,
                })
            }
            T_REVALIDATE => QuorumMsg::Revalidate {
                session: read_i64(&mut body)?,
                timeout: read_i32(&mut body)?,
            },
            T_REVALIDATE_REPLY => QuorumMsg::RevalidateReply {
                session: read_i64(&mut body)?,
                valid: read_bool(&mut body)?,
            },
            T_SYNC => QuorumMsg::SyncReply {
                session: read_i64(&mut body)?,
                cxid: read_i32(&mut body)?,
            },
            other => {
                return Err(DecodeError::InvalidValue {
                    field: "quorum message type",
                    value: other.into(),
                })
            }
        };
        if body.has_remaining() {
            return Err(DecodeError::TrailingBytes(body.remaining()));
        }
        Ok(WireMsg::Msg(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::Acl;

    fn round_trip(msg: QuorumMsg) -> QuorumMsg {
        let mut out = BytesMut::new();
        msg.encode_frame(&mut out);
        let len = u32::from_be_bytes([out[0], out[1], out[2], out[3]]) as usize;
        assert_eq!(len + 4, out.len());
        match WireMsg::decode_body(out.freeze().slice(4..)).expect("decodes") {
            WireMsg::Msg(m) => m,
            WireMsg::Chunk(_) => panic!("not a chunk"),
        }
    }

    #[test]
    fn every_message_round_trips() {
        let header = TxnHeader {
            session_id: 7,
            cxid: 3,
            zxid: zxid(2, 9),
            time: 1234,
        };
        let txn = Txn::Create {
            path: "/a".into(),
            data: Some(Bytes::from_static(b"x")),
            acl: Acl::open_unsafe(),
            ephemeral_owner: 0,
            parent_cversion: 1,
        };
        let cases = vec![
            QuorumMsg::FollowerInfo {
                sid: 3,
                accepted_epoch: 4,
            },
            QuorumMsg::LeaderInfo { epoch: 5 },
            QuorumMsg::AckEpoch {
                current_epoch: None,
                last_zxid: 17,
                snapshot_wanted: true,
            },
            QuorumMsg::AckEpoch {
                current_epoch: Some(2),
                last_zxid: zxid(2, 1),
                snapshot_wanted: false,
            },
            QuorumMsg::Diff { zxid: 1 },
            QuorumMsg::Trunc { zxid: 2 },
            QuorumMsg::Proposal { header, txn },
            QuorumMsg::Commit { zxid: 9 },
            QuorumMsg::NewLeader { zxid: zxid(3, 0) },
            QuorumMsg::Ack { zxid: 11 },
            QuorumMsg::UpToDate,
            QuorumMsg::Ping {
                touches: vec![(1, 4000), (2, 6000)],
            },
            QuorumMsg::Request(Forwarded {
                session: 9,
                cxid: 12,
                opcode: 1,
                body: Bytes::from_static(b"\x00\x01body"),
                ids: vec![Id::new("ip", "127.0.0.1")],
            }),
            QuorumMsg::Revalidate {
                session: 9,
                timeout: 4000,
            },
            QuorumMsg::RevalidateReply {
                session: 9,
                valid: true,
            },
            QuorumMsg::SyncReply {
                session: 9,
                cxid: 13,
            },
        ];
        for msg in cases {
            let name = msg.name();
            let back = round_trip(msg.clone());
            assert_eq!(format!("{msg:?}"), format!("{back:?}"), "{name}");
        }
    }

    #[test]
    fn notifications_round_trip_and_garbage_is_an_error() {
        let n = Notification {
            sender: 2,
            state: PeerState::Following,
            vote: Vote {
                leader: 3,
                zxid: zxid(1, 5),
                peer_epoch: 1,
            },
            round: 4,
        };
        let mut out = BytesMut::new();
        n.encode_frame(&mut out);
        assert_eq!(Notification::decode_body(&out[4..]), Ok(n));
        assert!(Notification::decode_body(&out[4..10]).is_err());
        assert!(Notification::decode_body(&[1, 2, 3]).is_err());
        let mut bad_state = out[4..].to_vec();
        bad_state[9] = 7;
        assert!(Notification::decode_body(&bad_state).is_err());
    }

    #[test]
    fn votes_order_by_epoch_then_zxid_then_sid() {
        let v = |peer_epoch, zxid, leader| Vote {
            leader,
            zxid,
            peer_epoch,
        };
        assert!(v(2, 0, 1).beats(&v(1, 100, 3)));
        assert!(v(1, 101, 1).beats(&v(1, 100, 3)));
        assert!(v(1, 100, 3).beats(&v(1, 100, 2)));
        assert!(!v(1, 100, 2).beats(&v(1, 100, 2)));
    }

    #[test]
    fn zxids_split_into_epoch_and_counter() {
        let z = zxid(0x12, 0x34);
        assert_eq!(z, 0x12_0000_0034);
        assert_eq!((epoch_of(z), counter_of(z)), (0x12, 0x34));
    }
}

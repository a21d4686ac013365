//! multi (14) and multiRead (22): the self-delimiting `MultiOperationRecord` and
//! `MultiResponse` (a `MultiHeader` before each entry, a `done` header at the end — not a
//! jute vector).
//!
//! Owns the layout only; atomicity and the rule that reads and writes do not mix are the
//! server's business ([`MultiRequest::kind`] helps it decide).

use bytes::{Buf, BufMut, Bytes};

use crate::codec::{read_bool, read_i32, Decode, DecodeError, DecodeResult, Encode};
use crate::opcode::OpCode;
use crate::ops::{
    CheckVersionRequest, CreateRequest, CreateTtlRequest, DeleteRequest, PathWatchRequest,
    SetDataRequest,
};
use crate::stat::Stat;

/// Precedes every entry of a multi request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultiHeader {
    /// Opcode of the entry, -1 for an error entry or the terminator.
    pub op_type: i32,
    /// True only on the terminator.
    pub done: bool,
    /// Error code of an error entry; -1 in requests and on the terminator.
    pub err: i32,
}

impl MultiHeader {
    /// The terminator `{-1, true, -1}`.
    pub const DONE: MultiHeader = MultiHeader {
        op_type: -1,
        done: true,
        err: -1,
    };
}

impl Encode for MultiHeader {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_i32(self.op_type);
        buf.put_u8(self.done as u8);
        buf.put_i32(self.err);
    }
}

impl Decode for MultiHeader {
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        Ok(Self {
            op_type: read_i32(buf)?,
            done: read_bool(buf)?,
            err: read_i32(buf)?,
        })
    }
}

/// One operation inside a multi or multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// create (1), create2 (15) or createContainer (19), as `opcode` says.
    Create {
        /// Which create opcode.
        opcode: OpCode,
        /// The request.
        request: CreateRequest,
    },
    /// createTTL (21).
    CreateTtl(CreateTtlRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// check (13).
    Check(CheckVersionRequest),
    /// getChildren (8), multiRead only; the watch flag is ignored by servers.
    GetChildren(PathWatchRequest),
    /// getData (4), multiRead only; the watch flag is ignored by servers.
    GetData(PathWatchRequest),
}

/// Whether a multi holds writes or reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiKind {
    /// No ops at all.
    Empty,
    /// Only create/delete/setData/check.
    Write,
    /// Only getData/getChildren.
    Read,
    /// Both kinds: Apache answers MARSHALLINGERROR.
    Mixed,
}

impl MultiOp {
    /// The opcode in this op's header.
    pub fn opcode(&self) -> OpCode {
        match self {
            MultiOp::Create { opcode, .. } => *opcode,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
            MultiOp::GetData(_) => OpCode::GetData,
        }
    }

    /// The path the op works on.
    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create { request, .. } => &request.path,
            MultiOp::CreateTtl(r) => &r.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetChildren(r) | MultiOp::GetData(r) => &r.path,
        }
    }

    /// Whether this is a read op.
    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetChildren(_) | MultiOp::GetData(_))
    }
}

/// A multi or multiRead request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiRequest {
    /// The ops, in order.
    pub ops: Vec<MultiOp>,
}

impl MultiRequest {
    /// Classifies the ops.
    pub fn kind(&self) -> MultiKind {
        let reads = self.ops.iter().filter(|o| o.is_read()).count();
        match (reads, self.ops.len()) {
            (_, 0) => MultiKind::Empty,
            (0, _) => MultiKind::Write,
            (r, n) if r == n => MultiKind::Read,
            _ => MultiKind::Mixed,
        }
    }
}

impl Encode for MultiRequest {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        for op in &self.ops {
            MultiHeader {
                op_type: op.opcode().code(),
                done: false,
                err: -1,
            }
            .encode(buf);
            match op {
                MultiOp::Create { request, .. } => request.encode(buf),
                MultiOp::CreateTtl(r) => r.encode(buf),
                MultiOp::Delete(r) => r.encode(buf),
                MultiOp::SetData(r) => r.encode(buf),
                MultiOp::Check(r) => r.encode(buf),
                MultiOp::GetChildren(r) | MultiOp::GetData(r) => r.encode(buf),
            }
        }
        MultiHeader::DONE.encode(buf);
    }
}

impl Decode for MultiRequest {
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        let mut ops = Vec::new();
        loop {
            let header = MultiHeader::decode(buf)?;
            if header.done {
                return Ok(Self { ops });
            }
            let op = match OpCode::from_code(header.op_type) {
                Ok(opcode @ (OpCode::Create | OpCode::Create2 | OpCode::CreateContainer)) => {
                    MultiOp::Create {
                        opcode,
                        request: CreateRequest::decode(buf)?,
                    }
                }
                Ok(OpCode::CreateTtl) => MultiOp::CreateTtl(CreateTtlRequest::decode(buf)?),
                Ok(OpCode::Delete) => MultiOp::Delete(DeleteRequest::decode(buf)?),
                Ok(OpCode::SetData) => MultiOp::SetData(SetDataRequest::decode(buf)?),
                Ok(OpCode::Check) => MultiOp::Check(CheckVersionRequest::decode(buf)?),
                Ok(OpCode::GetChildren) => MultiOp::GetChildren(PathWatchRequest::decode(buf)?),
                Ok(OpCode::GetData) => MultiOp::GetData(PathWatchRequest::decode(buf)?),
                _ => {
                    return Err(DecodeError::InvalidValue {
                        field: "multi op type",
                        value: header.op_type.into(),
                    })
                }
            };
            ops.push(op);
        }
    }
}

/// The result of one op of a multi or multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// create (type 1): the created path.
    Create(String),
    /// create2/createContainer/createTTL (type 15): path and Stat.
    Create2 {
        /// The created path.
        path: String,
        /// Its Stat.
        stat: Stat,
    },
    /// delete (type 2).
    Delete,
    /// setData (type 5): the new Stat.
    SetData(Stat),
    /// check (type 13).
    Check,
    /// getChildren (type 8).
    GetChildren(Vec<String>),
    /// getData (type 4).
    GetData {
        /// The data (null reads as `None`).
        data: Option<Bytes>,
        /// The Stat.
        stat: Stat,
    },
    /// An error entry (type -1) with its code: 0 for ops rolled back before the failing one,
    /// the failure's code, -2 for ops after it.
    Error(i32),
}

/// A multi or multiRead reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiResponse {
    /// One result per op, in order.
    pub results: Vec<MultiResult>,
}

impl Encode for MultiResponse {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        for r in &self.results {
            let (op_type, err) = match r {
                MultiResult::Create(_) => (1, 0),
                MultiResult::Create2 { .. } => (15, 0),
                MultiResult::Delete => (2, 0),
                MultiResult::SetData(_) => (5, 0),
                MultiResult::Check => (13, 0),
                MultiResult::GetChildren(_) => (8, 0),
                MultiResult::GetData { .. } => (4, 0),
                MultiResult::Error(code) => (-1, *code),
            };
            MultiHeader {
                op_type,
                done: false,
                err,
            }
            .encode(buf);
            match r {
                MultiResult::Create(path) => path.encode(buf),
                MultiResult::Create2 { path, stat } => {
                    path.encode(buf);
                    stat.encode(buf);
                }
                MultiResult::Delete | MultiResult::Check => {}
                MultiResult::SetData(stat) => stat.encode(buf),
                MultiResult::GetChildren(children) => children.encode(buf),
                MultiResult::GetData { data, stat } => {
                    data.encode(buf);
                    stat.encode(buf);
                }
                MultiResult::Error(code) => code.encode(buf),
            }
        }
        MultiHeader::DONE.encode(buf);
    }
}

impl Decode for MultiResponse {
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        let mut results = Vec::new();
        loop {
            let header = MultiHeader::decode(buf)?;
            if header.done {
                return Ok(Self { results });
            }
            let result = match header.op_type {
                1 => MultiResult::Create(String::decode(buf)?),
                15 => MultiResult::Create2 {
                    path: String::decode(buf)?,
                    stat: Stat::decode(buf)?,
                },
                2 => MultiResult::Delete,
                5 => MultiResult::SetData(Stat::decode(buf)?),
                13 => MultiResult::Check,
                8 => MultiResult::GetChildren(Vec::<String>::decode(buf)?),
                4 => MultiResult::GetData {
                    data: Option::<Bytes>::decode(buf)?,
                    stat: Stat::decode(buf)?,
                },
                -1 => MultiResult::Error(read_i32(buf)?),
                other => {
                    return Err(DecodeError::InvalidValue {
                        field: "multi result type",
                        value: other.into(),
                    })
                }
            };
            results.push(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;

    /// Appendix A: op 2 of 3 fails with NONODE.
    #[test]
    fn failed_multi_layout_matches_apache_bytes() {
        let bytes = hex(
            "ffffffff 00 00000000 00000000 ffffffff 00 ffffff9b ffffff9b \
             ffffffff 00 fffffffe fffffffe ffffffff 01 ffffffff",
        );
        let resp: MultiResponse = decode_exact(&bytes).unwrap();
        assert_eq!(
            resp.results,
            vec![
                MultiResult::Error(0),
                MultiResult::Error(-101),
                MultiResult::Error(-2)
            ]
        );
        let mut out = Vec::new();
        resp.encode(&mut out);
        assert_eq!(out, bytes);
    }

    #[test]
    fn empty_multi_is_only_the_terminator() {
        let mut out = Vec::new();
        MultiRequest::default().encode(&mut out);
        assert_eq!(out, hex("ffffffff 01 ffffffff"));
    }

    #[test]
    fn unknown_op_type_is_rejected() {
        let bytes = hex("00000003 00 ffffffff");
        assert!(matches!(
            decode_exact::<MultiRequest>(&bytes),
            Err(DecodeError::InvalidValue { .. })
        ));
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}

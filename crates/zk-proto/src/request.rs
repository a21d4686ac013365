//! Dispatch by opcode: [`Request`] is every request body a client can send, [`Response`]
//! every reply body a server can answer with. The server decodes requests and encodes
//! responses; the client does the opposite, with the same code.
//!
//! A frame's header is decoded separately ([`crate::RequestHeader`]) so a server can still
//! answer with the request's xid when the body is malformed.

use bytes::{Buf, BufMut};

use crate::acl::ClientInfo;
use crate::codec::{Decode, DecodeError, DecodeResult, Encode};
use crate::multi::{MultiRequest, MultiResponse};
use crate::opcode::OpCode;
use crate::ops::*;
use crate::stat::Stat;

/// A request body, tagged by operation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// create (1).
    Create(CreateRequest),
    /// create2 (15).
    Create2(CreateRequest),
    /// createContainer (19).
    CreateContainer(CreateRequest),
    /// createTTL (21).
    CreateTtl(CreateTtlRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// deleteContainer (20).
    DeleteContainer(DeleteContainerRequest),
    /// exists (3).
    Exists(PathWatchRequest),
    /// getData (4).
    GetData(PathWatchRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// getACL (6).
    GetAcl(PathRequest),
    /// setACL (7).
    SetAcl(SetAclRequest),
    /// getChildren (8).
    GetChildren(PathWatchRequest),
    /// getChildren2 (12).
    GetChildren2(PathWatchRequest),
    /// sync (9).
    Sync(PathRequest),
    /// ping (11).
    Ping,
    /// check (13).
    Check(CheckVersionRequest),
    /// multi (14).
    Multi(MultiRequest),
    /// multiRead (22).
    MultiRead(MultiRequest),
    /// reconfig (16).
    Reconfig(ReconfigRequest),
    /// checkWatches (17).
    CheckWatches(WatchesRequest),
    /// removeWatches (18).
    RemoveWatches(WatchesRequest),
    /// auth (100).
    Auth(AuthPacket),
    /// setWatches (101).
    SetWatches(SetWatches),
    /// sasl (102).
    Sasl(SaslPacket),
    /// getEphemerals (103).
    GetEphemerals(PathRequest),
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber(PathRequest),
    /// setWatches2 (105).
    SetWatches2(SetWatches2),
    /// addWatch (106).
    AddWatch(AddWatchRequest),
    /// whoAmI (107).
    WhoAmI,
    /// closeSession (-11).
    CloseSession,
}

impl Request {
    /// The opcode that goes in the header.
    pub fn opcode(&self) -> OpCode {
        use Request::*;
        match self {
            Create(_) => OpCode::Create,
            Create2(_) => OpCode::Create2,
            CreateContainer(_) => OpCode::CreateContainer,
            CreateTtl(_) => OpCode::CreateTtl,
            Delete(_) => OpCode::Delete,
            DeleteContainer(_) => OpCode::DeleteContainer,
            Exists(_) => OpCode::Exists,
            GetData(_) => OpCode::GetData,
            SetData(_) => OpCode::SetData,
            GetAcl(_) => OpCode::GetAcl,
            SetAcl(_) => OpCode::SetAcl,
            GetChildren(_) => OpCode::GetChildren,
            GetChildren2(_) => OpCode::GetChildren2,
            Sync(_) => OpCode::Sync,
            Ping => OpCode::Ping,
            Check(_) => OpCode::Check,
            Multi(_) => OpCode::Multi,
            MultiRead(_) => OpCode::MultiRead,
            Reconfig(_) => OpCode::Reconfig,
            CheckWatches(_) => OpCode::CheckWatches,
            RemoveWatches(_) => OpCode::RemoveWatches,
            Auth(_) => OpCode::Auth,
            SetWatches(_) => OpCode::SetWatches,
            Sasl(_) => OpCode::Sasl,
            GetEphemerals(_) => OpCode::GetEphemerals,
            GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            SetWatches2(_) => OpCode::SetWatches2,
            AddWatch(_) => OpCode::AddWatch,
            WhoAmI => OpCode::WhoAmI,
            CloseSession => OpCode::CloseSession,
        }
    }

    /// Decodes the body of a request whose header carried `opcode`.
    ///
    /// Opcodes that are never client requests (`notification`, `createSession`, `error`)
    /// are refused with [`DecodeError::InvalidValue`].
    pub fn decode_body<B: Buf>(opcode: OpCode, buf: &mut B) -> DecodeResult<Self> {
        use Request::*;
        Ok(match opcode {
            OpCode::Create => Create(Decode::decode(buf)?),
            OpCode::Create2 => Create2(Decode::decode(buf)?),
            OpCode::CreateContainer => CreateContainer(Decode::decode(buf)?),
            OpCode::CreateTtl => CreateTtl(Decode::decode(buf)?),
            OpCode::Delete => Delete(Decode::decode(buf)?),
            OpCode::DeleteContainer => DeleteContainer(Decode::decode(buf)?),
            OpCode::Exists => Exists(Decode::decode(buf)?),
            OpCode::GetData => GetData(Decode::decode(buf)?),
            OpCode::SetData => SetData(Decode::decode(buf)?),
            OpCode::GetAcl => GetAcl(Decode::decode(buf)?),
            OpCode::SetAcl => SetAcl(Decode::decode(buf)?),
            OpCode::GetChildren => GetChildren(Decode::decode(buf)?),
            OpCode::GetChildren2 => GetChildren2(Decode::decode(buf)?),
            OpCode::Sync => Sync(Decode::decode(buf)?),
            OpCode::Ping => Ping,
            OpCode::Check => Check(Decode::decode(buf)?),
            OpCode::Multi => Multi(Decode::decode(buf)?),
            OpCode::MultiRead => MultiRead(Decode::decode(buf)?),
            OpCode::Reconfig => Reconfig(Decode::decode(buf)?),
            OpCode::CheckWatches => CheckWatches(Decode::decode(buf)?),
            OpCode::RemoveWatches => RemoveWatches(Decode::decode(buf)?),
            OpCode::Auth => Auth(Decode::decode(buf)?),
            OpCode::SetWatches => SetWatches(Decode::decode(buf)?),
            OpCode::Sasl => Sasl(Decode::decode(buf)?),
            OpCode::GetEphemerals => GetEphemerals(Decode::decode(buf)?),
            OpCode::GetAllChildrenNumber => GetAllChildrenNumber(Decode::decode(buf)?),
            OpCode::SetWatches2 => SetWatches2(Decode::decode(buf)?),
            OpCode::AddWatch => AddWatch(Decode::decode(buf)?),
            OpCode::WhoAmI => WhoAmI,
            OpCode::CloseSession => CloseSession,
            OpCode::Notification | OpCode::CreateSession | OpCode::Error => {
                return Err(DecodeError::InvalidValue {
                    field: "request opcode",
                    value: opcode.code().into(),
                })
            }
        })
    }

    /// Writes the body (without header).
    pub fn encode_body<B: BufMut>(&self, buf: &mut B) {
        use Request::*;
        match self {
            Create(r) | Create2(r) | CreateContainer(r) => r.encode(buf),
            CreateTtl(r) => r.encode(buf),
            Delete(r) => r.encode(buf),
            DeleteContainer(r) => r.encode(buf),
            Exists(r) | GetData(r) | GetChildren(r) | GetChildren2(r) => r.encode(buf),
            SetData(r) => r.encode(buf),
            GetAcl(r) | Sync(r) | GetEphemerals(r) | GetAllChildrenNumber(r) => r.encode(buf),
            SetAcl(r) => r.encode(buf),
            Ping | WhoAmI | CloseSession => {}
            Check(r) => r.encode(buf),
            Multi(r) | MultiRead(r) => r.encode(buf),
            Reconfig(r) => r.encode(buf),
            CheckWatches(r) | RemoveWatches(r) => r.encode(buf),
            Auth(r) => r.encode(buf),
            SetWatches(r) => r.encode(buf),
            Sasl(r) => r.encode(buf),
            SetWatches2(r) => r.encode(buf),
            AddWatch(r) => r.encode(buf),
        }
    }
}

/// A reply body, tagged by the shape the request's opcode calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// No body: delete, sync-less ops, check/removeWatches, auth, setWatches, ping, close.
    Empty,
    /// create (1).
    Create(CreateResponse),
    /// create2, createContainer, createTTL.
    Create2(Create2Response),
    /// exists, setData, setACL.
    Stat(Stat),
    /// getData and reconfig.
    GetData(GetDataResponse),
    /// getACL.
    GetAcl(GetAclResponse),
    /// getChildren (names) and getEphemerals (paths).
    Strings(Vec<String>),
    /// getChildren2.
    Children2(GetChildren2Response),
    /// sync: the path echoed.
    Sync(String),
    /// multi and multiRead.
    Multi(MultiResponse),
    /// getAllChildrenNumber.
    AllChildrenNumber(i32),
    /// whoAmI.
    WhoAmI(Vec<ClientInfo>),
    /// addWatch: an ErrorResponse with 0.
    AddWatch(i32),
    /// sasl.
    Sasl(SaslPacket),
}

impl Response {
    /// Decodes a successful reply body to a request with `opcode`.
    pub fn decode_body<B: Buf>(opcode: OpCode, buf: &mut B) -> DecodeResult<Self> {
        use OpCode::*;
        Ok(match opcode {
            Create => Response::Create(Decode::decode(buf)?),
            Create2 | CreateContainer | CreateTtl => Response::Create2(Decode::decode(buf)?),
            Exists | SetData | SetAcl => Response::Stat(Stat::decode(buf)?),
            GetData | Reconfig => Response::GetData(Decode::decode(buf)?),
            GetAcl => Response::GetAcl(Decode::decode(buf)?),
            GetChildren | GetEphemerals => Response::Strings(Vec::<String>::decode(buf)?),
            GetChildren2 => Response::Children2(Decode::decode(buf)?),
            Sync => Response::Sync(String::decode(buf)?),
            Multi | MultiRead => Response::Multi(Decode::decode(buf)?),
            GetAllChildrenNumber => Response::AllChildrenNumber(i32::decode(buf)?),
            WhoAmI => Response::WhoAmI(Vec::<ClientInfo>::decode(buf)?),
            AddWatch => Response::AddWatch(i32::decode(buf)?),
            Sasl => Response::Sasl(Decode::decode(buf)?),
            Delete | DeleteContainer | Check | CheckWatches | RemoveWatches | Auth | SetWatches
            | SetWatches2 | Ping | CloseSession | Notification | CreateSession | Error => {
                Response::Empty
            }
        })
    }

    /// Writes the body (without header).
    pub fn encode_body<B: BufMut>(&self, buf: &mut B) {
        match self {
            Response::Empty => {}
            Response::Create(r) => r.encode(buf),
            Response::Create2(r) => r.encode(buf),
            Response::Stat(s) => s.encode(buf),
            Response::GetData(r) => r.encode(buf),
            Response::GetAcl(r) => r.encode(buf),
            Response::Strings(v) => v.encode(buf),
            Response::Children2(r) => r.encode(buf),
            Response::Sync(p) => p.encode(buf),
            Response::Multi(r) => r.encode(buf),
            Response::AllChildrenNumber(n) => n.encode(buf),
            Response::WhoAmI(v) => v.encode(buf),
            Response::AddWatch(e) => e.encode(buf),
            Response::Sasl(r) => r.encode(buf),
        }
    }
}

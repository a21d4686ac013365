//! Proptest strategies for every zk-proto record, shared by the integration tests
//! (`mod strategies;`).
//!
//! Strings are arbitrary Unicode (any `char`, including controls and astral planes); buffers
//! are `Option<Bytes>` with `None` and the empty buffer drawn often, because null and empty
//! are distinct on the wire. Collections are kept short so a case stays cheap.
//!
//! [`request_for`] and [`response_for`] are keyed by [`OpCode`] so the tests can check that
//! every opcode the crate knows has a strategy, not just the ones listed here.

// Each test binary uses a different subset of these.
#![allow(dead_code)]

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::Union;
use zk_proto::multi::MultiHeader;
use zk_proto::ops::*;
use zk_proto::{
    Acl, ClientInfo, ConnectRequest, ConnectResponse, Id, MultiOp, MultiRequest, MultiResponse,
    MultiResult, OpCode, ReplyHeader, Request, RequestHeader, Response, Stat, WatcherEvent,
};

/// Upper bound on collection lengths in generated records.
const MAX_ITEMS: usize = 4;

/// Every opcode `OpCode::from_code` accepts. The range is far wider than the defined codes
/// (-11..=107) so an opcode added later is picked up without editing this list.
pub fn all_opcodes() -> Vec<OpCode> {
    (-1000..=1000)
        .filter_map(|c| OpCode::from_code(c).ok())
        .collect()
}

/// Every opcode that is a client request (has a [`request_for`] strategy).
pub fn request_opcodes() -> Vec<OpCode> {
    all_opcodes()
        .into_iter()
        .filter(|op| request_for(*op).is_some())
        .collect()
}

// ---------------------------------------------------------------- primitives

/// An arbitrary Unicode string (encoded as UTF-8 on the wire), usually short.
pub fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        8 => vec(any::<char>(), 0..12).prop_map(String::from_iter),
        1 => vec(any::<char>(), 0..200).prop_map(String::from_iter),
    ]
}

/// A list of strings.
pub fn strings() -> impl Strategy<Value = Vec<String>> {
    vec(string(), 0..=MAX_ITEMS)
}

/// A jute `buffer`: `None` (null), empty, or some bytes.
pub fn buffer() -> impl Strategy<Value = Option<Bytes>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Bytes::new())),
        4 => vec(any::<u8>(), 0..64).prop_map(|v| Some(Bytes::from(v))),
    ]
}

/// A plain byte vector (passwords).
pub fn byte_vec() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(vec![0u8; 16]),
        vec(any::<u8>(), 0..40),
    ]
}

// ---------------------------------------------------------------- common records

/// Any `Stat` (all 11 fields independent).
pub fn stat() -> impl Strategy<Value = Stat> {
    (
        (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>()),
        (any::<i32>(), any::<i32>(), any::<i32>()),
        any::<i64>(),
        (any::<i32>(), any::<i32>()),
        any::<i64>(),
    )
        .prop_map(
            |(
                (czxid, mzxid, ctime, mtime),
                (version, cversion, aversion),
                ephemeral_owner,
                (data_length, num_children),
                pzxid,
            )| Stat {
                czxid,
                mzxid,
                ctime,
                mtime,
                version,
                cversion,
                aversion,
                ephemeral_owner,
                data_length,
                num_children,
                pzxid,
            },
        )
}

/// Any `Id`.
pub fn id() -> impl Strategy<Value = Id> {
    (string(), string()).prop_map(|(scheme, id)| Id { scheme, id })
}

/// Any `Acl` (perms are not restricted to the defined bits).
pub fn acl() -> impl Strategy<Value = Acl> {
    (any::<i32>(), id()).prop_map(|(perms, id)| Acl { perms, id })
}

/// A list of ACL entries.
pub fn acls() -> impl Strategy<Value = Vec<Acl>> {
    vec(acl(), 0..=MAX_ITEMS)
}

/// Any `ClientInfo`.
pub fn client_info() -> impl Strategy<Value = ClientInfo> {
    (string(), string()).prop_map(|(auth_scheme, user)| ClientInfo { auth_scheme, user })
}

/// Any `ConnectRequest`, with the trailing read-only byte present (`Some`) or absent
/// (`None`).
pub fn connect_request() -> impl Strategy<Value = ConnectRequest> {
    (
        any::<i32>(),
        any::<i64>(),
        any::<i32>(),
        any::<i64>(),
        byte_vec(),
        any::<Option<bool>>(),
    )
        .prop_map(
            |(protocol_version, last_zxid_seen, timeout, session_id, password, read_only)| {
                ConnectRequest {
                    protocol_version,
                    last_zxid_seen,
                    timeout,
                    session_id,
                    password,
                    read_only,
                }
            },
        )
}

/// Any `ConnectResponse`, with or without the read-only byte.
pub fn connect_response() -> impl Strategy<Value = ConnectResponse> {
    (
        any::<i32>(),
        any::<i32>(),
        any::<i64>(),
        byte_vec(),
        any::<Option<bool>>(),
    )
        .prop_map(
            |(protocol_version, timeout, session_id, password, read_only)| ConnectResponse {
                protocol_version,
                timeout,
                session_id,
                password,
                read_only,
            },
        )
}

/// Any `RequestHeader` (opcode not restricted to defined values).
pub fn request_header() -> impl Strategy<Value = RequestHeader> {
    (any::<i32>(), any::<i32>()).prop_map(|(xid, opcode)| RequestHeader { xid, opcode })
}

/// Any `ReplyHeader`.
pub fn reply_header() -> impl Strategy<Value = ReplyHeader> {
    (any::<i32>(), any::<i64>(), any::<i32>()).prop_map(|(xid, zxid, err)| ReplyHeader {
        xid,
        zxid,
        err,
    })
}

/// Any `WatcherEvent` (type and state not restricted to defined values).
pub fn watcher_event() -> impl Strategy<Value = WatcherEvent> {
    (any::<i32>(), any::<i32>(), string()).prop_map(|(event_type, state, path)| WatcherEvent {
        event_type,
        state,
        path,
    })
}

/// Any `MultiHeader`. `done` is a bool, so it round-trips as 0/1.
pub fn multi_header() -> impl Strategy<Value = MultiHeader> {
    (any::<i32>(), any::<bool>(), any::<i32>()).prop_map(|(op_type, done, err)| MultiHeader {
        op_type,
        done,
        err,
    })
}

// ---------------------------------------------------------------- ops.rs

/// Any `CreateRequest` (flags not restricted to defined modes).
pub fn create_request() -> impl Strategy<Value = CreateRequest> {
    (string(), buffer(), acls(), any::<i32>()).prop_map(|(path, data, acl, flags)| CreateRequest {
        path,
        data,
        acl,
        flags,
    })
}

/// Any `CreateTtlRequest`.
pub fn create_ttl_request() -> impl Strategy<Value = CreateTtlRequest> {
    (string(), buffer(), acls(), any::<i32>(), any::<i64>()).prop_map(
        |(path, data, acl, flags, ttl)| CreateTtlRequest {
            path,
            data,
            acl,
            flags,
            ttl,
        },
    )
}

/// Any `CreateResponse`.
pub fn create_response() -> impl Strategy<Value = CreateResponse> {
    string().prop_map(|path| CreateResponse { path })
}

/// Any `Create2Response`.
pub fn create2_response() -> impl Strategy<Value = Create2Response> {
    (string(), stat()).prop_map(|(path, stat)| Create2Response { path, stat })
}

/// Any `DeleteRequest`.
pub fn delete_request() -> impl Strategy<Value = DeleteRequest> {
    (string(), any::<i32>()).prop_map(|(path, version)| DeleteRequest { path, version })
}

/// Any `DeleteContainerRequest`.
pub fn delete_container_request() -> impl Strategy<Value = DeleteContainerRequest> {
    string().prop_map(|path| DeleteContainerRequest { path })
}

/// Any `PathWatchRequest`.
pub fn path_watch_request() -> impl Strategy<Value = PathWatchRequest> {
    (string(), any::<bool>()).prop_map(|(path, watch)| PathWatchRequest { path, watch })
}

/// Any `PathRequest`.
pub fn path_request() -> impl Strategy<Value = PathRequest> {
    string().prop_map(|path| PathRequest { path })
}

/// Any `StatResponse`.
pub fn stat_response() -> impl Strategy<Value = StatResponse> {
    stat().prop_map(|stat| StatResponse { stat })
}

/// Any `GetDataResponse`.
pub fn get_data_response() -> impl Strategy<Value = GetDataResponse> {
    (buffer(), stat()).prop_map(|(data, stat)| GetDataResponse { data, stat })
}

/// Any `SetDataRequest`.
pub fn set_data_request() -> impl Strategy<Value = SetDataRequest> {
    (string(), buffer(), any::<i32>()).prop_map(|(path, data, version)| SetDataRequest {
        path,
        data,
        version,
    })
}

/// Any `GetAclResponse`.
pub fn get_acl_response() -> impl Strategy<Value = GetAclResponse> {
    (acls(), stat()).prop_map(|(acl, stat)| GetAclResponse { acl, stat })
}

/// Any `SetAclRequest`.
pub fn set_acl_request() -> impl Strategy<Value = SetAclRequest> {
    (string(), acls(), any::<i32>()).prop_map(|(path, acl, version)| SetAclRequest {
        path,
        acl,
        version,
    })
}

/// Any `StringsResponse`.
pub fn strings_response() -> impl Strategy<Value = StringsResponse> {
    strings().prop_map(|strings| StringsResponse { strings })
}

/// Any `GetChildren2Response`.
pub fn get_children2_response() -> impl Strategy<Value = GetChildren2Response> {
    (strings(), stat()).prop_map(|(children, stat)| GetChildren2Response { children, stat })
}

/// Any `CheckVersionRequest`.
pub fn check_version_request() -> impl Strategy<Value = CheckVersionRequest> {
    (string(), any::<i32>()).prop_map(|(path, version)| CheckVersionRequest { path, version })
}

/// Any `ReconfigRequest`.
pub fn reconfig_request() -> impl Strategy<Value = ReconfigRequest> {
    (string(), string(), string(), any::<i64>()).prop_map(
        |(joining_servers, leaving_servers, new_members, cur_config_id)| ReconfigRequest {
            joining_servers,
            leaving_servers,
            new_members,
            cur_config_id,
        },
    )
}

/// Any `WatchesRequest`.
pub fn watches_request() -> impl Strategy<Value = WatchesRequest> {
    (string(), any::<i32>()).prop_map(|(path, watcher_type)| WatchesRequest { path, watcher_type })
}

/// Any `AuthPacket`.
pub fn auth_packet() -> impl Strategy<Value = AuthPacket> {
    (any::<i32>(), string(), buffer()).prop_map(|(auth_type, scheme, auth)| AuthPacket {
        auth_type,
        scheme,
        auth,
    })
}

/// Any `SetWatches`.
pub fn set_watches() -> impl Strategy<Value = SetWatches> {
    (any::<i64>(), strings(), strings(), strings()).prop_map(
        |(relative_zxid, data_watches, exist_watches, child_watches)| SetWatches {
            relative_zxid,
            data_watches,
            exist_watches,
            child_watches,
        },
    )
}

/// Any `SetWatches2`.
pub fn set_watches2() -> impl Strategy<Value = SetWatches2> {
    (
        any::<i64>(),
        strings(),
        strings(),
        strings(),
        strings(),
        strings(),
    )
        .prop_map(
            |(
                relative_zxid,
                data_watches,
                exist_watches,
                child_watches,
                persistent_watches,
                persistent_recursive_watches,
            )| SetWatches2 {
                relative_zxid,
                data_watches,
                exist_watches,
                child_watches,
                persistent_watches,
                persistent_recursive_watches,
            },
        )
}

/// Any `SaslPacket`.
pub fn sasl_packet() -> impl Strategy<Value = SaslPacket> {
    buffer().prop_map(|token| SaslPacket { token })
}

/// Any `AllChildrenNumberResponse`.
pub fn all_children_number_response() -> impl Strategy<Value = AllChildrenNumberResponse> {
    any::<i32>().prop_map(|total_number| AllChildrenNumberResponse { total_number })
}

/// Any `AddWatchRequest`.
pub fn add_watch_request() -> impl Strategy<Value = AddWatchRequest> {
    (string(), any::<i32>()).prop_map(|(path, mode)| AddWatchRequest { path, mode })
}

/// Any `ErrorResponse`.
pub fn error_response() -> impl Strategy<Value = ErrorResponse> {
    any::<i32>().prop_map(|err| ErrorResponse { err })
}

/// Any `WhoAmIResponse`.
pub fn who_am_i_response() -> impl Strategy<Value = WhoAmIResponse> {
    vec(client_info(), 0..=MAX_ITEMS).prop_map(|client_info| WhoAmIResponse { client_info })
}

// ---------------------------------------------------------------- multi

/// Any `MultiOp`, every variant; `Create` with each of the three opcodes it can carry.
pub fn multi_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        (
            prop_oneof![
                Just(OpCode::Create),
                Just(OpCode::Create2),
                Just(OpCode::CreateContainer)
            ],
            create_request()
        )
            .prop_map(|(opcode, request)| MultiOp::Create { opcode, request }),
        create_ttl_request().prop_map(MultiOp::CreateTtl),
        delete_request().prop_map(MultiOp::Delete),
        set_data_request().prop_map(MultiOp::SetData),
        check_version_request().prop_map(MultiOp::Check),
        path_watch_request().prop_map(MultiOp::GetChildren),
        path_watch_request().prop_map(MultiOp::GetData),
    ]
}

/// Any `MultiRequest` (possibly empty, possibly mixing reads and writes: the wire format
/// does not care).
pub fn multi_request() -> impl Strategy<Value = MultiRequest> {
    vec(multi_op(), 0..=MAX_ITEMS).prop_map(|ops| MultiRequest { ops })
}

/// Any `MultiResult`, every variant.
pub fn multi_result() -> impl Strategy<Value = MultiResult> {
    prop_oneof![
        string().prop_map(MultiResult::Create),
        (string(), stat()).prop_map(|(path, stat)| MultiResult::Create2 { path, stat }),
        Just(MultiResult::Delete),
        stat().prop_map(MultiResult::SetData),
        Just(MultiResult::Check),
        strings().prop_map(MultiResult::GetChildren),
        (buffer(), stat()).prop_map(|(data, stat)| MultiResult::GetData { data, stat }),
        any::<i32>().prop_map(MultiResult::Error),
    ]
}

/// Any `MultiResponse`.
pub fn multi_response() -> impl Strategy<Value = MultiResponse> {
    vec(multi_result(), 0..=MAX_ITEMS).prop_map(|results| MultiResponse { results })
}

// ---------------------------------------------------------------- dispatch enums

/// The request bodies a header with `op` can carry, or `None` for an opcode that is never a
/// client request (notification, createSession, error).
pub fn request_for(op: OpCode) -> Option<BoxedStrategy<Request>> {
    use OpCode as O;
    Some(match op {
        O::Create => create_request().prop_map(Request::Create).boxed(),
        O::Create2 => create_request().prop_map(Request::Create2).boxed(),
        O::CreateContainer => create_request().prop_map(Request::CreateContainer).boxed(),
        O::CreateTtl => create_ttl_request().prop_map(Request::CreateTtl).boxed(),
        O::Delete => delete_request().prop_map(Request::Delete).boxed(),
        O::DeleteContainer => delete_container_request()
            .prop_map(Request::DeleteContainer)
            .boxed(),
        O::Exists => path_watch_request().prop_map(Request::Exists).boxed(),
        O::GetData => path_watch_request().prop_map(Request::GetData).boxed(),
        O::SetData => set_data_request().prop_map(Request::SetData).boxed(),
        O::GetAcl => path_request().prop_map(Request::GetAcl).boxed(),
        O::SetAcl => set_acl_request().prop_map(Request::SetAcl).boxed(),
        O::GetChildren => path_watch_request().prop_map(Request::GetChildren).boxed(),
        O::GetChildren2 => path_watch_request().prop_map(Request::GetChildren2).boxed(),
        O::Sync => path_request().prop_map(Request::Sync).boxed(),
        O::Ping => Just(Request::Ping).boxed(),
        O::Check => check_version_request().prop_map(Request::Check).boxed(),
        O::Multi => multi_request().prop_map(Request::Multi).boxed(),
        O::MultiRead => multi_request().prop_map(Request::MultiRead).boxed(),
        O::Reconfig => reconfig_request().prop_map(Request::Reconfig).boxed(),
        O::CheckWatches => watches_request().prop_map(Request::CheckWatches).boxed(),
        O::RemoveWatches => watches_request().prop_map(Request::RemoveWatches).boxed(),
        O::Auth => auth_packet().prop_map(Request::Auth).boxed(),
        O::SetWatches => set_watches().prop_map(Request::SetWatches).boxed(),
        O::Sasl => sasl_packet().prop_map(Request::Sasl).boxed(),
        O::GetEphemerals => path_request().prop_map(Request::GetEphemerals).boxed(),
        O::GetAllChildrenNumber => path_request()
            .prop_map(Request::GetAllChildrenNumber)
            .boxed(),
        O::SetWatches2 => set_watches2().prop_map(Request::SetWatches2).boxed(),
        O::AddWatch => add_watch_request().prop_map(Request::AddWatch).boxed(),
        O::WhoAmI => Just(Request::WhoAmI).boxed(),
        O::CloseSession => Just(Request::CloseSession).boxed(),
        // Notification, CreateSession, Error, and anything added to OpCode later (the
        // coverage test in roundtrip.rs then fails until it gets a strategy here).
        _ => return None,
    })
}

/// Any `Request`, every variant, drawn uniformly over opcodes.
pub fn request() -> impl Strategy<Value = Request> {
    Union::new(request_opcodes().into_iter().filter_map(request_for))
}

/// The reply bodies a successful reply to a request with `op` can carry, mirroring
/// `Response::decode_body`.
pub fn response_for(op: OpCode) -> BoxedStrategy<Response> {
    use OpCode as O;
    match op {
        O::Create => create_response().prop_map(Response::Create).boxed(),
        O::Create2 | O::CreateContainer | O::CreateTtl => {
            create2_response().prop_map(Response::Create2).boxed()
        }
        O::Exists | O::SetData | O::SetAcl => stat().prop_map(Response::Stat).boxed(),
        O::GetData | O::Reconfig => get_data_response().prop_map(Response::GetData).boxed(),
        O::GetAcl => get_acl_response().prop_map(Response::GetAcl).boxed(),
        O::GetChildren | O::GetEphemerals => strings().prop_map(Response::Strings).boxed(),
        O::GetChildren2 => get_children2_response()
            .prop_map(Response::Children2)
            .boxed(),
        O::Sync => string().prop_map(Response::Sync).boxed(),
        O::Multi | O::MultiRead => multi_response().prop_map(Response::Multi).boxed(),
        O::GetAllChildrenNumber => any::<i32>().prop_map(Response::AllChildrenNumber).boxed(),
        O::WhoAmI => vec(client_info(), 0..=MAX_ITEMS)
            .prop_map(Response::WhoAmI)
            .boxed(),
        O::AddWatch => any::<i32>().prop_map(Response::AddWatch).boxed(),
        O::Sasl => sasl_packet().prop_map(Response::Sasl).boxed(),
        _ => Just(Response::Empty).boxed(),
    }
}

/// An opcode together with a reply body of the shape that opcode calls for; every opcode
/// and so every `Response` variant is drawn.
pub fn opcode_and_response() -> impl Strategy<Value = (OpCode, Response)> {
    Union::new(
        all_opcodes()
            .into_iter()
            .map(|op| response_for(op).prop_map(move |r| (op, r))),
    )
}

//! Round-trip properties: whatever zk-proto encodes, it decodes to an equal value, consuming
//! exactly the bytes it wrote.
//!
//! - every `Request` variant, behind a `RequestHeader`, through `OpCode::from_code` and
//!   `Request::decode_body` (also inside a length-prefixed frame);
//! - every `Response` variant, behind a `ReplyHeader`, decoded with every opcode whose reply
//!   has that shape;
//! - every standalone record through `codec::decode_exact`.
//!
//! Strategies live in `tests/strategies/mod.rs`.

mod strategies;

use std::collections::HashSet;
use std::fmt::Debug;
use std::mem::discriminant;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use strategies::*;
use zk_proto::codec::decode_exact;
use zk_proto::frame::{write_frame, FrameDecoder};
use zk_proto::ops::{CreateRequest, ErrorResponse, GetDataResponse, PathRequest, SetWatches2};
use zk_proto::{
    Acl, Decode, DecodeError, DecodeResult, Encode, OpCode, ReplyHeader, Request, RequestHeader,
    Response,
};

/// Turns a decode error into a proptest failure (so the case is shrunk and reported).
fn ok<T>(r: DecodeResult<T>) -> Result<T, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(format!("decode failed: {e}")))
}

fn encoded<T: Encode>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out);
    out
}

/// `value` encodes to bytes that `decode_exact` turns back into `value`, and one extra byte
/// after the record is reported as trailing.
fn assert_record_round_trips<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Encode + Decode + PartialEq + Debug,
{
    let mut wire = encoded(value);
    prop_assert_eq!(&ok(decode_exact::<T>(&wire))?, value);
    wire.push(0xa5);
    prop_assert_eq!(decode_exact::<T>(&wire), Err(DecodeError::TrailingBytes(1)));
    Ok(())
}

/// Draws a few values from `strategy` outside a `proptest!` block.
fn samples<S: Strategy>(strategy: &S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

// ------------------------------------------------------------ strategy coverage

#[test]
fn every_request_opcode_has_a_strategy_producing_that_opcode() {
    let mut without_strategy = Vec::new();
    for op in all_opcodes() {
        match request_for(op) {
            Some(strategy) => {
                for req in samples(&strategy, 8) {
                    assert_eq!(req.opcode(), op, "{req:?}");
                }
            }
            None => without_strategy.push(op),
        }
    }
    // Only the three opcodes that never head a client request may lack a strategy; a new
    // OpCode variant lands here until `request_for` learns it.
    assert_eq!(
        without_strategy.into_iter().collect::<HashSet<_>>(),
        HashSet::from([OpCode::Error, OpCode::Notification, OpCode::CreateSession])
    );
}

#[test]
fn opcodes_that_are_never_requests_are_refused_as_request_bodies() {
    for op in [OpCode::Notification, OpCode::CreateSession, OpCode::Error] {
        assert!(
            matches!(
                Request::decode_body(op, &mut &[][..]),
                Err(DecodeError::InvalidValue { .. })
            ),
            "{op:?}"
        );
    }
}

#[test]
fn response_strategies_cover_every_response_variant() {
    let mut seen = HashSet::new();
    for op in all_opcodes() {
        for resp in samples(&response_for(op), 2) {
            seen.insert(discriminant(&resp));
        }
    }
    // Empty, Create, Create2, Stat, GetData, GetAcl, Strings, Children2, Sync, Multi,
    // AllChildrenNumber, WhoAmI, AddWatch, Sasl.
    assert_eq!(seen.len(), 14);
}

// ------------------------------------------------------------ requests and responses

proptest! {
    #[test]
    fn every_request_round_trips_through_its_header_opcode(xid in any::<i32>(), req in request()) {
        let mut wire = Vec::new();
        RequestHeader { xid, opcode: req.opcode().code() }.encode(&mut wire);
        req.encode_body(&mut wire);

        let mut input = &wire[..];
        let header = ok(RequestHeader::decode(&mut input))?;
        prop_assert_eq!(header.xid, xid);
        let op = ok(OpCode::from_code(header.opcode))?;
        prop_assert_eq!(op, req.opcode());
        let decoded = ok(Request::decode_body(op, &mut input))?;
        prop_assert_eq!(decoded, req);
        prop_assert!(input.is_empty(), "{} bytes left", input.len());
    }

    #[test]
    fn every_request_round_trips_inside_a_frame(xid in any::<i32>(), req in request()) {
        let mut wire = BytesMut::new();
        write_frame(&mut wire, |b| {
            RequestHeader { xid, opcode: req.opcode().code() }.encode(b);
            req.encode_body(b);
        });
        let frame = FrameDecoder::default().decode(&mut wire);
        let mut body = frame.expect("valid prefix").expect("complete frame");
        prop_assert!(wire.is_empty());
        let header = ok(RequestHeader::decode(&mut body))?;
        let decoded = ok(Request::decode_body(ok(OpCode::from_code(header.opcode))?, &mut body))?;
        prop_assert_eq!(decoded, req);
        prop_assert!(body.is_empty());
    }

    #[test]
    fn every_response_round_trips_for_each_opcode_of_its_shape(
        header in reply_header(),
        (op, resp) in opcode_and_response(),
    ) {
        let mut wire = Vec::new();
        header.encode(&mut wire);
        resp.encode_body(&mut wire);

        let mut input = &wire[..];
        prop_assert_eq!(ok(ReplyHeader::decode(&mut input))?, header);
        let decoded = ok(Response::decode_body(op, &mut input))?;
        prop_assert_eq!(decoded, resp);
        prop_assert!(input.is_empty(), "{} bytes left", input.len());
    }

    #[test]
    fn request_body_encoding_is_independent_of_the_variant_sharing_its_record(
        req in path_watch_request(),
    ) {
        // exists/getData/getChildren/getChildren2 share PathWatchRequest: the opcode alone
        // selects the variant.
        let bodies: Vec<Vec<u8>> = [
            Request::Exists(req.clone()),
            Request::GetData(req.clone()),
            Request::GetChildren(req.clone()),
            Request::GetChildren2(req.clone()),
        ]
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            r.encode_body(&mut out);
            out
        })
        .collect();
        prop_assert!(bodies.iter().all(|b| *b == encoded(&req)));
    }
}

// ------------------------------------------------------------ standalone records

proptest! {
    #[test]
    fn stat_round_trips_in_exactly_68_bytes(v in stat()) {
        prop_assert_eq!(encoded(&v).len(), zk_proto::Stat::ENCODED_LEN);
        assert_record_round_trips(&v)?;
    }

    #[test]
    fn id_round_trips(v in id()) { assert_record_round_trips(&v)?; }

    #[test]
    fn acl_round_trips(v in acl()) { assert_record_round_trips(&v)?; }

    #[test]
    fn acl_list_round_trips(v in acls()) { assert_record_round_trips::<Vec<Acl>>(&v)?; }

    #[test]
    fn client_info_round_trips(v in client_info()) { assert_record_round_trips(&v)?; }

    #[test]
    fn request_header_round_trips(v in request_header()) { assert_record_round_trips(&v)?; }

    #[test]
    fn reply_header_round_trips(v in reply_header()) { assert_record_round_trips(&v)?; }

    #[test]
    fn watcher_event_round_trips(v in watcher_event()) { assert_record_round_trips(&v)?; }

    #[test]
    fn multi_header_round_trips(v in multi_header()) { assert_record_round_trips(&v)?; }

    #[test]
    fn multi_request_round_trips_with_every_op_kind(v in multi_request()) {
        assert_record_round_trips(&v)?;
    }

    #[test]
    fn multi_response_round_trips_with_every_result_kind(v in multi_response()) {
        assert_record_round_trips(&v)?;
    }

    #[test]
    fn connect_request_round_trips_with_and_without_the_read_only_byte(v in connect_request()) {
        let wire = encoded(&v);
        prop_assert_eq!(&ok(decode_exact::<zk_proto::ConnectRequest>(&wire))?, &v);
        // As the whole frame, a request without the byte is an old client; one byte more
        // is that byte. With the byte present, anything more is trailing.
        let mut longer = wire.clone();
        longer.push(1);
        match v.read_only {
            None => {
                let mut expected = v.clone();
                expected.read_only = Some(true);
                prop_assert_eq!(ok(decode_exact::<zk_proto::ConnectRequest>(&longer))?, expected);
            }
            Some(_) => prop_assert_eq!(
                decode_exact::<zk_proto::ConnectRequest>(&longer),
                Err(DecodeError::TrailingBytes(1))
            ),
        }
    }

    #[test]
    fn connect_response_round_trips_with_and_without_the_read_only_byte(v in connect_response()) {
        let wire = encoded(&v);
        prop_assert_eq!(&ok(decode_exact::<zk_proto::ConnectResponse>(&wire))?, &v);
        let mut longer = wire.clone();
        longer.push(0);
        match v.read_only {
            None => {
                let mut expected = v.clone();
                expected.read_only = Some(false);
                prop_assert_eq!(ok(decode_exact::<zk_proto::ConnectResponse>(&longer))?, expected);
            }
            Some(_) => prop_assert_eq!(
                decode_exact::<zk_proto::ConnectResponse>(&longer),
                Err(DecodeError::TrailingBytes(1))
            ),
        }
    }

    #[test]
    fn unicode_strings_round_trip_as_utf8(s in string()) {
        let wire = encoded(&s);
        prop_assert_eq!(&wire[4..], s.as_bytes());
        assert_record_round_trips(&s)?;
    }

    #[test]
    fn buffers_round_trip_keeping_null_and_empty_distinct(b in buffer()) {
        let wire = encoded(&b);
        let expected_prefix = match &b { None => -1, Some(d) => d.len() as i32 };
        prop_assert_eq!(&wire[..4], &expected_prefix.to_be_bytes()[..]);
        assert_record_round_trips::<Option<Bytes>>(&b)?;
    }

    #[test]
    fn string_lists_round_trip(v in strings()) { assert_record_round_trips(&v)?; }
}

/// A vector whose elements all have the smallest possible encoding, alone in its input:
/// the element's `Decode::MIN_LEN` (used to refuse counts before allocating) must not
/// overestimate, or such a vector is wrongly refused.
fn assert_vec_of_smallest_round_trips<T>(smallest: T) -> Result<(), TestCaseError>
where
    T: Encode + Decode + PartialEq + Debug + Clone,
{
    let one = encoded(&smallest).len();
    prop_assert!(
        T::MIN_LEN <= one,
        "MIN_LEN {} > smallest encoding {}",
        T::MIN_LEN,
        one
    );
    for n in 0..6 {
        assert_record_round_trips(&vec![smallest.clone(); n])?;
    }
    Ok(())
}

#[test]
fn vectors_of_smallest_elements_fill_their_input_exactly() -> Result<(), TestCaseError> {
    assert_vec_of_smallest_round_trips(String::new())?;
    assert_vec_of_smallest_round_trips::<Option<Bytes>>(None)?;
    assert_vec_of_smallest_round_trips::<Option<Bytes>>(Some(Bytes::new()))?;
    assert_vec_of_smallest_round_trips(0i32)?;
    assert_vec_of_smallest_round_trips(0i64)?;
    assert_vec_of_smallest_round_trips(false)?;
    assert_vec_of_smallest_round_trips(zk_proto::Stat::default())?;
    assert_vec_of_smallest_round_trips(zk_proto::Id::new("", ""))?;
    assert_vec_of_smallest_round_trips(Acl::new(0, zk_proto::Id::new("", "")))?;
    assert_vec_of_smallest_round_trips(zk_proto::ClientInfo {
        auth_scheme: String::new(),
        user: String::new(),
    })?;
    assert_vec_of_smallest_round_trips(Vec::<String>::new())?;
    assert_vec_of_smallest_round_trips(PathRequest::default())?;
    assert_vec_of_smallest_round_trips(ErrorResponse::default())?;
    assert_vec_of_smallest_round_trips(CreateRequest::default())?;
    assert_vec_of_smallest_round_trips(GetDataResponse::default())?;
    assert_vec_of_smallest_round_trips(SetWatches2::default())?;
    assert_vec_of_smallest_round_trips(zk_proto::MultiRequest::default())?;
    assert_vec_of_smallest_round_trips(zk_proto::MultiResponse::default())?;
    assert_vec_of_smallest_round_trips(zk_proto::WatcherEvent {
        event_type: 0,
        state: 0,
        path: String::new(),
    })?;
    assert_vec_of_smallest_round_trips(zk_proto::RequestHeader { xid: 0, opcode: 0 })?;
    assert_vec_of_smallest_round_trips(zk_proto::ReplyHeader {
        xid: 0,
        zxid: 0,
        err: 0,
    })?;
    Ok(())
}

proptest! {
    #[test]
    fn create_request_round_trips(v in create_request()) { assert_record_round_trips(&v)?; }

    #[test]
    fn create_ttl_request_round_trips(v in create_ttl_request()) {
        assert_record_round_trips(&v)?;
    }

    #[test]
    fn create_response_round_trips(v in create_response()) { assert_record_round_trips(&v)?; }

    #[test]
    fn create2_response_round_trips(v in create2_response()) { assert_record_round_trips(&v)?; }

    #[test]
    fn delete_request_round_trips(v in delete_request()) { assert_record_round_trips(&v)?; }

    #[test]
    fn delete_container_request_round_trips(v in delete_container_request()) {
        assert_record_round_trips(&v)?;
    }

    #[test]
    fn path_watch_request_round_trips(v in path_watch_request()) {
        assert_record_round_trips(&v)?;
    }

    #[test]
    fn path_request_round_trips(v in path_request()) { assert_record_round_trips(&v)?; }

    #[test]
    fn stat_response_round_trips(v in stat_response()) { assert_record_round_trips(&v)?; }

    #[test]
    fn get_data_response_round_trips(v in get_data_response()) {
        assert_record_round_trips(&v)?;
    }

    #[test]
    fn set_data_request_round_trips(v in set_data_request()) { assert_record_round_trips(&v)?; }

    #[test]
    fn get_acl_response_round_trips(v in get_acl_response()) { assert_record_round_trips(&v)?; }

    #[test]
    fn set_acl_request_round_trips(v in set_acl_request()) { assert_record_round_trips(&v)?; }

    #[test]
    fn strings_response_round_trips(v in strings_response()) { assert_record_round_trips(&v)?; }

    #[test]
    fn get_children2_response_round_trips(v in get_children2_response()) {
        assert_record_round_trips(&v)?;
    }

    #[test]
    fn check_version_request_round_trips(v in check_version_request()) {
        assert_record_round_trips(&v)?;
    }

    #[test]
    fn reconfig_request_round_trips(v in reconfig_request()) { assert_record_round_trips(&v)?; }

    #[test]
    fn watches_request_round_trips(v in watches_request()) { assert_record_round_trips(&v)?; }

    #[test]
    fn auth_packet_round_trips(v in auth_packet()) { assert_record_round_trips(&v)?; }

    #[test]
    fn set_watches_round_trips(v in set_watches()) { assert_record_round_trips(&v)?; }

    #[test]
    fn set_watches2_round_trips(v in set_watches2()) { assert_record_round_trips(&v)?; }

    #[test]
    fn sasl_packet_round_trips(v in sasl_packet()) { assert_record_round_trips(&v)?; }

    #[test]
    fn all_children_number_response_round_trips(v in all_children_number_response()) {
        assert_record_round_trips(&v)?;
    }

    #[test]
    fn add_watch_request_round_trips(v in add_watch_request()) {
        assert_record_round_trips(&v)?;
    }

    #[test]
    fn error_response_round_trips(v in error_response()) { assert_record_round_trips(&v)?; }

    #[test]
    fn who_am_i_response_round_trips(v in who_am_i_response()) {
        assert_record_round_trips(&v)?;
    }
}

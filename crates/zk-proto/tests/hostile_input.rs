//! Hostile-input properties: decoding is total (every input yields `Ok` or `Err`, never a
//! panic) and its memory is bounded by the input, never by a length or count prefix.
//!
//! Allocation is measured, not assumed: this test binary installs a global allocator that
//! records, per thread, the largest single allocation, so "no huge allocation" is checked
//! directly around each decode.

mod strategies;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use strategies::*;
use zk_proto::codec::decode_exact;
use zk_proto::frame::{write_frame, FrameDecoder, FrameError};
use zk_proto::multi::MultiHeader;
use zk_proto::{
    Acl, ClientInfo, ConnectRequest, ConnectResponse, Decode, DecodeError, Encode, MultiRequest,
    MultiResponse, OpCode, ReplyHeader, Request, RequestHeader, Response, Stat, WatcherEvent,
};

// ------------------------------------------------------------ allocation probe

/// The system allocator, noting the largest single request made by the current thread.
struct PeakAllocator;

thread_local! {
    // Const-initialised and without a destructor, so touching it from inside the allocator
    // neither allocates nor registers anything.
    static LARGEST_ALLOCATION: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation(size: usize) {
    let _ = LARGEST_ALLOCATION.try_with(|peak| {
        if size > peak.get() {
            peak.set(size);
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// bookkeeping touches only a thread-local `Cell<usize>`.
unsafe impl GlobalAlloc for PeakAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: PeakAllocator = PeakAllocator;

/// Runs `f` and returns its result with the largest single allocation it made.
fn largest_allocation_in<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LARGEST_ALLOCATION.with(|p| p.set(0));
    let r = f();
    (r, LARGEST_ALLOCATION.with(|p| p.get()))
}

/// What decoding `input_len` bytes may allocate at most in one piece: a small multiple of
/// the input (a `Vec<MultiResult>` of 9-byte entries, say, holds ~100-byte values and may
/// double while growing) plus a constant. A length prefix of 0x7fffffff must not matter.
fn allocation_budget(input_len: usize) -> usize {
    32 * input_len + 4096
}

// ------------------------------------------------------------ hostile bytes

/// Length/count values that probe the edges: the largest, null, the first invalid negative,
/// the smallest, and plausible small ones.
fn interesting_i32() -> impl Strategy<Value = i32> {
    prop_oneof![
        Just(i32::MAX),
        Just(-1),
        Just(-2),
        Just(i32::MIN),
        Just(0),
        Just(1),
        Just(0x00ff_ffff),
        Just(0x7fff_fff0),
        0..64i32,
        any::<i32>(),
    ]
}

/// A defined opcode number, or a nearby undefined one.
fn opcode_number() -> impl Strategy<Value = i32> {
    let defined: Vec<i32> = all_opcodes().into_iter().map(OpCode::code).collect();
    prop_oneof![3 => proptest::sample::select(defined), 1 => -20i32..=200]
}

/// A short run of bytes that looks like part of a jute record.
fn token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => interesting_i32().prop_map(|n| n.to_be_bytes().to_vec()),
        1 => any::<u8>().prop_map(|b| vec![b]),
        1 => any::<i64>().prop_map(|n| n.to_be_bytes().to_vec()),
        // A MultiHeader, so multi decoders get past their first entry.
        2 => (opcode_number(), any::<u8>(), interesting_i32()).prop_map(|(op, done, err)| {
            let mut v = op.to_be_bytes().to_vec();
            v.push(if done % 4 == 0 { done } else { 0 });
            v.extend_from_slice(&err.to_be_bytes());
            v
        }),
        1 => vec(any::<u8>(), 0..24),
    ]
}

/// Up to ~2 KiB of arbitrary bytes, or a concatenation of record-like tokens.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..=2048),
        vec(token(), 0..64).prop_map(|ts| ts.concat()),
    ]
}

/// Decodes `input` as every request and reply shape `op` selects, checking allocation.
fn decode_bodies_within_budget(op: OpCode, input: &[u8]) -> Result<(), TestCaseError> {
    let budget = allocation_budget(input.len());
    let (_, peak) = largest_allocation_in(|| Request::decode_body(op, &mut &input[..]));
    prop_assert!(peak <= budget, "request {op:?}: {peak} > {budget}");
    let (_, peak) = largest_allocation_in(|| Response::decode_body(op, &mut &input[..]));
    prop_assert!(peak <= budget, "response {op:?}: {peak} > {budget}");
    Ok(())
}

/// Decodes `input` as `T`, both as a prefix and as the whole input, checking allocation.
fn decode_record_within_budget<T: Decode>(input: &[u8]) -> Result<(), TestCaseError> {
    let budget = allocation_budget(input.len());
    let (_, peak) = largest_allocation_in(|| T::decode(&mut &input[..]));
    prop_assert!(
        peak <= budget,
        "{}: {peak} > {budget}",
        std::any::type_name::<T>()
    );
    let (_, peak) = largest_allocation_in(|| decode_exact::<T>(input));
    prop_assert!(
        peak <= budget,
        "{}: {peak} > {budget}",
        std::any::type_name::<T>()
    );
    Ok(())
}

fn body_of(req: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    req.encode_body(&mut out);
    out
}

fn response_body_of(resp: &Response) -> Vec<u8> {
    let mut out = Vec::new();
    resp.encode_body(&mut out);
    out
}

proptest! {
    #[test]
    fn request_and_response_bodies_of_any_opcode_decode_arbitrary_bytes_without_panicking(
        code in opcode_number(),
        input in hostile_bytes(),
    ) {
        // Undefined numbers must be refused, not panic; defined ones reach the body decoders.
        if let Ok(op) = OpCode::from_code(code) {
            decode_bodies_within_budget(op, &input)?;
        }
    }

    #[test]
    fn every_opcode_number_from_minus_20_to_200_is_total_on_arbitrary_bytes(
        input in hostile_bytes(),
    ) {
        for code in -20..=200 {
            if let Ok(op) = OpCode::from_code(code) {
                prop_assert_eq!(op.code(), code);
                decode_bodies_within_budget(op, &input)?;
            }
        }
    }

    #[test]
    fn standalone_records_decode_arbitrary_bytes_without_panicking(input in hostile_bytes()) {
        decode_record_within_budget::<MultiRequest>(&input)?;
        decode_record_within_budget::<MultiResponse>(&input)?;
        decode_record_within_budget::<MultiHeader>(&input)?;
        decode_record_within_budget::<ConnectRequest>(&input)?;
        decode_record_within_budget::<ConnectResponse>(&input)?;
        decode_record_within_budget::<WatcherEvent>(&input)?;
        decode_record_within_budget::<RequestHeader>(&input)?;
        decode_record_within_budget::<ReplyHeader>(&input)?;
        decode_record_within_budget::<Stat>(&input)?;
        decode_record_within_budget::<Vec<Acl>>(&input)?;
        decode_record_within_budget::<Vec<ClientInfo>>(&input)?;
        decode_record_within_budget::<Vec<String>>(&input)?;
        decode_record_within_budget::<zk_proto::ops::SetWatches2>(&input)?;
        decode_record_within_budget::<zk_proto::ops::CreateTtlRequest>(&input)?;
    }

    #[test]
    fn a_valid_request_with_any_four_bytes_overwritten_decodes_without_panicking(
        req in request(),
        at in any::<Index>(),
        word in interesting_i32(),
    ) {
        let mut body = body_of(&req);
        if body.len() >= 4 {
            let at = at.index(body.len() - 3);
            body[at..at + 4].copy_from_slice(&word.to_be_bytes());
        }
        decode_bodies_within_budget(req.opcode(), &body)?;
    }

    #[test]
    fn a_valid_response_with_any_four_bytes_overwritten_decodes_without_panicking(
        (op, resp) in opcode_and_response(),
        at in any::<Index>(),
        word in interesting_i32(),
    ) {
        let mut body = response_body_of(&resp);
        if body.len() >= 4 {
            let at = at.index(body.len() - 3);
            body[at..at + 4].copy_from_slice(&word.to_be_bytes());
        }
        decode_bodies_within_budget(op, &body)?;
    }

    #[test]
    fn a_valid_request_with_one_byte_flipped_decodes_without_panicking(
        req in request(),
        at in any::<Index>(),
        mask in 1u8..,
    ) {
        let mut body = body_of(&req);
        if !body.is_empty() {
            let at = at.index(body.len());
            body[at] ^= mask;
        }
        decode_bodies_within_budget(req.opcode(), &body)?;
    }
}

// ------------------------------------------------------------ truncation

proptest! {
    #[test]
    fn every_proper_prefix_of_a_request_body_is_an_unexpected_eof(req in request()) {
        let body = body_of(&req);
        for cut in 0..body.len() {
            let result = Request::decode_body(req.opcode(), &mut &body[..cut]);
            prop_assert!(
                matches!(result, Err(DecodeError::UnexpectedEof { .. })),
                "{:?} cut at {}/{}: {:?}", req.opcode(), cut, body.len(), result
            );
        }
    }

    #[test]
    fn every_proper_prefix_of_a_response_body_is_an_unexpected_eof(
        (op, resp) in opcode_and_response(),
    ) {
        let body = response_body_of(&resp);
        for cut in 0..body.len() {
            let result = Response::decode_body(op, &mut &body[..cut]);
            prop_assert!(
                matches!(result, Err(DecodeError::UnexpectedEof { .. })),
                "{:?} cut at {}/{}: {:?}", op, cut, body.len(), result
            );
        }
    }

    #[test]
    fn every_proper_prefix_of_a_request_frame_is_an_unexpected_eof(
        xid in any::<i32>(),
        req in request(),
    ) {
        // Header and body together, as a server reads them.
        let mut wire = Vec::new();
        RequestHeader { xid, opcode: req.opcode().code() }.encode(&mut wire);
        req.encode_body(&mut wire);
        for cut in 0..wire.len() {
            let mut input = &wire[..cut];
            let result = RequestHeader::decode(&mut input).and_then(|h| {
                Request::decode_body(OpCode::from_code(h.opcode)?, &mut input)
            });
            prop_assert!(
                matches!(result, Err(DecodeError::UnexpectedEof { .. })),
                "cut at {}/{}: {:?}", cut, wire.len(), result
            );
        }
    }

    #[test]
    fn connect_request_prefixes_fail_except_without_the_trailing_read_only_byte(
        v in connect_request(),
    ) {
        let mut wire = Vec::new();
        v.encode(&mut wire);
        for cut in 0..wire.len() {
            let result = decode_exact::<ConnectRequest>(&wire[..cut]);
            if v.read_only.is_some() && cut == wire.len() - 1 {
                let mut old_client = v.clone();
                old_client.read_only = None;
                prop_assert_eq!(result, Ok(old_client));
            } else {
                prop_assert!(
                    matches!(result, Err(DecodeError::UnexpectedEof { .. })),
                    "cut at {}/{}: {:?}", cut, wire.len(), result
                );
            }
        }
    }

    #[test]
    fn connect_response_prefixes_fail_except_without_the_trailing_read_only_byte(
        v in connect_response(),
    ) {
        let mut wire = Vec::new();
        v.encode(&mut wire);
        for cut in 0..wire.len() {
            let result = decode_exact::<ConnectResponse>(&wire[..cut]);
            if v.read_only.is_some() && cut == wire.len() - 1 {
                let mut old_server = v.clone();
                old_server.read_only = None;
                prop_assert_eq!(result, Ok(old_server));
            } else {
                prop_assert!(
                    matches!(result, Err(DecodeError::UnexpectedEof { .. })),
                    "cut at {}/{}: {:?}", cut, wire.len(), result
                );
            }
        }
    }

    #[test]
    fn multi_and_watcher_event_prefixes_are_unexpected_eof(
        m in multi_request(),
        r in multi_response(),
        e in watcher_event(),
    ) {
        fn check<T: Encode + Decode + std::fmt::Debug>(v: &T) -> Result<(), TestCaseError> {
            let mut wire = Vec::new();
            v.encode(&mut wire);
            for cut in 0..wire.len() {
                let result = decode_exact::<T>(&wire[..cut]);
                prop_assert!(
                    matches!(result, Err(DecodeError::UnexpectedEof { .. })),
                    "cut at {}/{}: {:?}", cut, wire.len(), result
                );
            }
            Ok(())
        }
        check(&m)?;
        check(&r)?;
        check(&e)?;
    }
}

// ------------------------------------------------------------ huge prefixes

fn be(n: i32) -> [u8; 4] {
    n.to_be_bytes()
}

/// Bodies whose one length or count field (every kind: string, buffer, vector of strings,
/// of ACLs, of ClientInfo, and inside multi entries) holds `prefix`, followed by only a
/// few bytes, paired with the opcode and direction that reads them.
fn bodies_with_length_field(prefix: i32) -> Vec<(&'static str, OpCode, bool, Vec<u8>)> {
    let p = be(prefix);
    let tail = [1u8, 2, 3];
    let cat = |parts: &[&[u8]]| -> Vec<u8> {
        let mut v: Vec<u8> = parts.concat();
        v.extend_from_slice(&tail);
        v
    };
    let empty = be(0);
    let null = be(-1);
    let zxid = 7i64.to_be_bytes();
    const REQ: bool = true;
    const RESP: bool = false;
    vec![
        ("getData path", OpCode::GetData, REQ, cat(&[&p])),
        ("create data", OpCode::Create, REQ, cat(&[&empty, &p])),
        (
            "create acl count",
            OpCode::Create,
            REQ,
            cat(&[&empty, &null, &p]),
        ),
        (
            "createTTL acl count",
            OpCode::CreateTtl,
            REQ,
            cat(&[&empty, &null, &p]),
        ),
        ("setACL acl count", OpCode::SetAcl, REQ, cat(&[&empty, &p])),
        (
            "setACL acl scheme",
            OpCode::SetAcl,
            REQ,
            cat(&[&empty, &be(1), &be(31), &p, &empty]),
        ),
        (
            "setWatches data watches",
            OpCode::SetWatches,
            REQ,
            cat(&[&zxid, &p]),
        ),
        (
            "setWatches child watches",
            OpCode::SetWatches,
            REQ,
            cat(&[&zxid, &empty, &empty, &p]),
        ),
        (
            "setWatches2 recursive watches",
            OpCode::SetWatches2,
            REQ,
            cat(&[&zxid, &empty, &empty, &empty, &empty, &p]),
        ),
        (
            "setWatches2 watch name",
            OpCode::SetWatches2,
            REQ,
            cat(&[&zxid, &be(1), &p]),
        ),
        (
            "auth credentials",
            OpCode::Auth,
            REQ,
            cat(&[&empty, &empty, &p]),
        ),
        ("sasl token", OpCode::Sasl, REQ, cat(&[&p])),
        (
            "reconfig members",
            OpCode::Reconfig,
            REQ,
            cat(&[&empty, &empty, &p]),
        ),
        (
            "multi create path",
            OpCode::Multi,
            REQ,
            cat(&[&be(1), &[0], &be(-1), &p]),
        ),
        (
            "multi create acl count",
            OpCode::Multi,
            REQ,
            cat(&[&be(1), &[0], &be(-1), &empty, &null, &p]),
        ),
        ("getChildren names", OpCode::GetChildren, RESP, cat(&[&p])),
        (
            "getEphemerals paths",
            OpCode::GetEphemerals,
            RESP,
            cat(&[&p]),
        ),
        ("getData data", OpCode::GetData, RESP, cat(&[&p])),
        ("getACL acl count", OpCode::GetAcl, RESP, cat(&[&p])),
        ("getChildren2 names", OpCode::GetChildren2, RESP, cat(&[&p])),
        ("whoAmI client infos", OpCode::WhoAmI, RESP, cat(&[&p])),
        (
            "whoAmI user",
            OpCode::WhoAmI,
            RESP,
            cat(&[&be(1), &empty, &p]),
        ),
        ("sync path", OpCode::Sync, RESP, cat(&[&p])),
        ("create path", OpCode::Create, RESP, cat(&[&p])),
        ("sasl token", OpCode::Sasl, RESP, cat(&[&p])),
        (
            "multi getChildren names",
            OpCode::MultiRead,
            RESP,
            cat(&[&be(8), &[0], &be(0), &p]),
        ),
        (
            "multi getData data",
            OpCode::MultiRead,
            RESP,
            cat(&[&be(4), &[0], &be(0), &p]),
        ),
        (
            "multi create2 path",
            OpCode::Multi,
            RESP,
            cat(&[&be(15), &[0], &be(0), &p]),
        ),
    ]
}

fn decode_one(op: OpCode, is_request: bool, body: &[u8]) -> Result<(), DecodeError> {
    if is_request {
        Request::decode_body(op, &mut &body[..]).map(drop)
    } else {
        Response::decode_body(op, &mut &body[..]).map(drop)
    }
}

#[test]
fn a_count_of_0x7fffffff_followed_by_a_few_bytes_fails_fast_without_a_huge_allocation() {
    for (what, op, is_request, body) in bodies_with_length_field(i32::MAX) {
        let started = Instant::now();
        let (result, peak) = largest_allocation_in(|| decode_one(op, is_request, &body));
        let elapsed = started.elapsed();
        assert!(
            matches!(result, Err(DecodeError::UnexpectedEof { .. })),
            "{what}: {result:?}"
        );
        assert!(peak < 1024, "{what}: allocated {peak} bytes at once");
        assert!(
            elapsed < Duration::from_millis(100),
            "{what}: took {elapsed:?}"
        );
    }
}

#[test]
fn a_negative_length_other_than_null_is_an_invalid_length() {
    for prefix in [-2, -100, i32::MIN] {
        for (what, op, is_request, body) in bodies_with_length_field(prefix) {
            let (result, peak) = largest_allocation_in(|| decode_one(op, is_request, &body));
            assert_eq!(result, Err(DecodeError::InvalidLength(prefix)), "{what}");
            assert!(peak < 1024, "{what}: allocated {peak} bytes at once");
        }
    }
}

#[test]
fn a_huge_count_standalone_record_or_vector_fails_fast() {
    let mut input = be(i32::MAX).to_vec();
    input.extend_from_slice(&[0; 11]);
    let (results, peak) = largest_allocation_in(|| {
        [
            decode_exact::<Vec<Acl>>(&input).map(drop),
            decode_exact::<Vec<ClientInfo>>(&input).map(drop),
            decode_exact::<Vec<String>>(&input).map(drop),
            decode_exact::<Vec<Stat>>(&input).map(drop),
            decode_exact::<Vec<Vec<String>>>(&input).map(drop),
            decode_exact::<WatcherEvent>(&[&[0u8; 8][..], &input].concat()).map(drop),
        ]
    });
    for r in results {
        assert!(matches!(r, Err(DecodeError::UnexpectedEof { .. })), "{r:?}");
    }
    assert!(peak < 1024, "allocated {peak} bytes at once");
}

// ------------------------------------------------------------ framing

const MAX_FRAME: usize = 4096;

/// The capacity a buffer fed through a decoder with [`MAX_FRAME`] may reach, given the
/// largest chunk appended at once.
///
/// The decoder itself reserves exactly the announced frame (`4 + len <= MAX_FRAME + 4`) and
/// nothing for a refused prefix; `feed_in_chunks` checks that call by call. The buffer's
/// total capacity is looser because `BytesMut` grows amortised: a `reserve` (the decoder's
/// or an append's) that must allocate takes `max(2 * allocation, needed)`, and the old
/// allocation counts bytes already consumed at its front. Allocation only happens while
/// the allocation is smaller than about two frames plus three chunks (otherwise the
/// consumed front is reclaimed instead), so capacity stays below twice that. What this
/// rules out is growth driven by an unchecked, oversized or never-completed prefix.
fn capacity_bound(largest_chunk: usize) -> usize {
    4 * (MAX_FRAME + 4) + 6 * largest_chunk + 64
}

/// Bytes of bookkeeping `split_to` may allocate when it first shares a buffer; taking a
/// frame never copies its body.
const SPLIT_OVERHEAD: usize = 64;

/// What feeding a stream through a [`FrameDecoder`] produced.
struct Fed {
    /// The frames, in order.
    frames: Vec<Vec<u8>>,
    /// The error that stopped decoding, if any.
    error: Option<FrameError>,
    /// The largest capacity the buffer reached.
    max_capacity: usize,
    /// The largest chunk actually appended at once.
    largest_chunk: usize,
    /// What was left in the buffer.
    rest: BytesMut,
}

/// Appends `stream` to a buffer in chunks of the given sizes (cycled), draining complete
/// frames after each chunk, as a connection's read loop does, and checks each `decode`
/// call against what it alone is responsible for:
/// - a refused prefix leaves the buffer untouched and allocates nothing;
/// - a complete frame is split off without copying (`4 + len` bytes consumed);
/// - an incomplete frame with an accepted prefix leaves room for the whole frame, and
///   allocates nothing if that room was already there.
fn feed_in_chunks(
    decoder: FrameDecoder,
    stream: &[u8],
    chunk_sizes: &[usize],
) -> Result<Fed, TestCaseError> {
    let mut fed = Fed {
        frames: Vec::new(),
        error: None,
        max_capacity: 0,
        largest_chunk: 0,
        rest: BytesMut::new(),
    };
    let buf = &mut fed.rest;
    let mut rest = stream;
    let mut sizes = chunk_sizes.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().expect("non-empty chunk sizes")).min(rest.len());
        fed.largest_chunk = fed.largest_chunk.max(n);
        buf.put_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            let (len_before, capacity_before) = (buf.len(), buf.capacity());
            let announced = decoder.peek_len(buf);
            let (result, allocated) = largest_allocation_in(|| decoder.decode(buf));
            fed.max_capacity = fed.max_capacity.max(buf.capacity());
            match result {
                Ok(Some(frame)) => {
                    prop_assert_eq!(announced, Ok(Some(frame.len())));
                    prop_assert!(frame.len() <= MAX_FRAME);
                    prop_assert_eq!(buf.len(), len_before - 4 - frame.len());
                    prop_assert!(allocated <= SPLIT_OVERHEAD, "split allocated {}", allocated);
                    fed.frames.push(frame.to_vec());
                }
                Ok(None) => {
                    prop_assert_eq!(buf.len(), len_before);
                    if let Ok(Some(len)) = announced {
                        prop_assert!(buf.capacity() >= 4 + len, "frame of {} not reserved", len);
                        if capacity_before >= 4 + len {
                            prop_assert_eq!(allocated, 0);
                        }
                    }
                    break;
                }
                Err(e) => {
                    prop_assert_eq!(Err(e.clone()), announced);
                    prop_assert_eq!(buf.len(), len_before);
                    prop_assert_eq!(buf.capacity(), capacity_before);
                    prop_assert_eq!(allocated, 0, "a refused prefix allocated");
                    fed.error = Some(e);
                    return Ok(fed);
                }
            }
        }
    }
    Ok(fed)
}

fn frame_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => vec(any::<u8>(), 0..300),
        1 => Just(Vec::new()),
        1 => Just(vec![0xab; MAX_FRAME]),
    ]
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        vec(1usize..8, 1..16),
        vec(1usize..600, 1..16),
        Just(vec![1]),
        Just(vec![usize::MAX]),
    ]
}

/// Bytes a peer might send to a decoder with max [`MAX_FRAME`]: plausible prefixes (around
/// the maximum too) with too few or too many bytes after them, hostile prefixes, noise.
fn hostile_stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => (0..=MAX_FRAME as i32 + 8, vec(any::<u8>(), 0..600)).prop_map(|(len, body)| {
            [&len.to_be_bytes()[..], &body].concat()
        }),
        1 => (MAX_FRAME as i32 - 4..=MAX_FRAME as i32 + 4).prop_map(|len| len.to_be_bytes().to_vec()),
        1 => interesting_i32().prop_map(|n| n.to_be_bytes().to_vec()),
        1 => vec(any::<u8>(), 0..64),
    ];
    prop_oneof![
        vec(piece, 0..8).prop_map(|ps| ps.concat()),
        vec(any::<u8>(), 0..=2048),
    ]
}

proptest! {
    #[test]
    fn frame_decoder_yields_exactly_the_written_frames_under_any_chunking(
        bodies in vec(frame_body(), 0..8),
        sizes in chunk_sizes(),
    ) {
        let mut stream = BytesMut::new();
        for body in &bodies {
            write_frame(&mut stream, |b| b.put_slice(body));
        }
        let mut fed = feed_in_chunks(FrameDecoder::new(MAX_FRAME), &stream, &sizes)?;
        prop_assert_eq!(fed.error, None);
        prop_assert_eq!(fed.frames, bodies);
        prop_assert!(fed.rest.is_empty());
        prop_assert_eq!(FrameDecoder::new(MAX_FRAME).decode(&mut fed.rest), Ok(None));
        prop_assert!(
            fed.max_capacity <= capacity_bound(fed.largest_chunk),
            "capacity reached {} with chunks of up to {}", fed.max_capacity, fed.largest_chunk
        );
    }

    #[test]
    fn a_chunked_stream_of_request_frames_decodes_to_the_same_requests(
        reqs in vec((any::<i32>(), request()), 0..6),
        sizes in chunk_sizes(),
    ) {
        let mut stream = BytesMut::new();
        for (xid, req) in &reqs {
            write_frame(&mut stream, |b| {
                RequestHeader { xid: *xid, opcode: req.opcode().code() }.encode(b);
                req.encode_body(b);
            });
        }
        let fed = feed_in_chunks(FrameDecoder::default(), &stream, &sizes)?;
        prop_assert_eq!(fed.error, None);
        let mut decoded = Vec::new();
        for frame in fed.frames {
            let mut input = &frame[..];
            let header = RequestHeader::decode(&mut input).expect("header");
            let op = OpCode::from_code(header.opcode).expect("opcode");
            decoded.push((header.xid, Request::decode_body(op, &mut input).expect("body")));
            prop_assert!(input.is_empty());
        }
        prop_assert_eq!(decoded, reqs);
    }

    #[test]
    fn frame_decoder_on_arbitrary_bytes_never_panics_and_only_reserves_accepted_frames(
        stream in hostile_stream(),
        sizes in chunk_sizes(),
    ) {
        let decoder = FrameDecoder::new(MAX_FRAME);
        // The per-call checks live in `feed_in_chunks`.
        let fed = feed_in_chunks(decoder, &stream, &sizes)?;
        prop_assert!(
            fed.max_capacity <= capacity_bound(fed.largest_chunk),
            "capacity reached {} with chunks of up to {}", fed.max_capacity, fed.largest_chunk
        );
    }

    #[test]
    fn peek_len_accepts_exactly_the_prefixes_from_0_to_max(prefix in any::<i32>(), tail in vec(any::<u8>(), 0..8)) {
        let decoder = FrameDecoder::new(MAX_FRAME);
        let input = [&prefix.to_be_bytes()[..], &tail].concat();
        let result = decoder.peek_len(&input);
        if prefix < 0 {
            prop_assert_eq!(result, Err(FrameError::Negative(prefix)));
        } else if prefix as usize > MAX_FRAME {
            prop_assert_eq!(result, Err(FrameError::TooLarge { len: prefix as usize, max: MAX_FRAME }));
        } else {
            prop_assert_eq!(result, Ok(Some(prefix as usize)));
        }
        // Fewer than four bytes is never an error, only "not yet".
        for cut in 0..4 {
            prop_assert_eq!(decoder.peek_len(&input[..cut]), Ok(None));
        }
    }
}

#[test]
fn a_frame_of_exactly_max_bytes_is_accepted_and_one_more_is_refused_before_allocating() {
    let decoder = FrameDecoder::new(MAX_FRAME);
    let mut exact = BytesMut::new();
    write_frame(&mut exact, |b| b.put_bytes(7, MAX_FRAME));
    assert_eq!(
        decoder.decode(&mut exact).unwrap().unwrap().len(),
        MAX_FRAME
    );

    let mut over = BytesMut::from(&be(MAX_FRAME as i32 + 1)[..]);
    let capacity = over.capacity();
    assert_eq!(
        decoder.decode(&mut over),
        Err(FrameError::TooLarge {
            len: MAX_FRAME + 1,
            max: MAX_FRAME
        })
    );
    assert_eq!(over.capacity(), capacity);
    assert_eq!(over.len(), 4, "a refused prefix is not consumed");
}

//! Deterministic tests of the session state machine: a scripted "server" feeds frames and
//! the tests check what the session writes and tells the application.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use zk_proto::frame::{write_frame, FrameDecoder};
use zk_proto::ops::{PathRequest, PathWatchRequest, SaslPacket};
use zk_proto::{
    ConnectRequest, ConnectResponse, Decode, Encode, EventType, OpCode, ReplyHeader, Request,
    RequestHeader, Response, Stat, WatcherEvent, WatcherType,
};

use super::*;

type Out = Output<u32>;

fn config() -> SessionConfig {
    SessionConfig {
        session_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(5),
        read_only: false,
        max_frame: zk_proto::frame::DEFAULT_MAX_FRAME,
        chroot: Chroot::default(),
        session: (0, Vec::new()),
        sasl: None,
    }
}

/// Takes every frame the session wrote.
fn written(s: &mut Session<u32>) -> Vec<Bytes> {
    let d = FrameDecoder::default();
    let buf = s.transmit_buf();
    let mut frames = Vec::new();
    while let Some(f) = d.decode(buf).unwrap() {
        frames.push(f);
    }
    frames
}

fn requests(s: &mut Session<u32>) -> Vec<(RequestHeader, Request)> {
    written(s)
        .into_iter()
        .map(|mut f| {
            let h = RequestHeader::decode(&mut f).unwrap();
            let op = OpCode::from_code(h.opcode).unwrap();
            (h, Request::decode_body(op, &mut f).unwrap())
        })
        .collect()
}

fn outputs(s: &mut Session<u32>) -> Vec<Out> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn feed(s: &mut Session<u32>, now: Instant, body: impl FnOnce(&mut BytesMut)) {
    let mut frame = BytesMut::new();
    write_frame(&mut frame, body);
    s.read_buf().put_slice(&frame);
    s.handle_input(now);
}

fn reply(s: &mut Session<u32>, now: Instant, xid: i32, zxid: i64, err: i32, body: Response) {
    feed(s, now, |b| {
        ReplyHeader { xid, zxid, err }.encode(b);
        body.encode_body(b);
    });
}

fn notify(s: &mut Session<u32>, now: Instant, event: EventType, path: &str) {
    feed(s, now, |b| {
        ReplyHeader {
            xid: -1,
            zxid: -1,
            err: 0,
        }
        .encode(b);
        WatcherEvent {
            event_type: event as i32,
            state: 3,
            path: path.into(),
        }
        .encode(b);
    });
}

/// A session connected with id 0x55 and a 30 s timeout.
fn connected(now: Instant) -> Session<u32> {
    let mut s = Session::new(config(), now);
    s.start_handshake(now);
    let mut hs = written(&mut s);
    assert_eq!(hs.len(), 1);
    let req = ConnectRequest::decode(&mut hs[0]).unwrap();
    assert_eq!(req.session_id, 0);
    assert_eq!(req.password, vec![0; 16]);
    assert_eq!(req.timeout, 30_000);
    feed(&mut s, now, |b| {
        ConnectResponse {
            protocol_version: 0,
            timeout: 30_000,
            session_id: 0x55,
            password: vec![7; 16],
            read_only: Some(false),
        }
        .encode(b)
    });
    assert!(matches!(
        outputs(&mut s).as_slice(),
        [Output::State(SessionState::Connected)]
    ));
    s
}

fn get_data(path: &str, watch: bool) -> Request {
    Request::GetData(PathWatchRequest {
        path: path.into(),
        watch,
    })
}

fn data_response() -> Response {
    Response::GetData(zk_proto::ops::GetDataResponse {
        data: Some(Bytes::from_static(b"v")),
        stat: Stat::default(),
    })
}

#[test]
fn pipelined_requests_go_out_in_call_order_and_complete_in_order() {
    let now = Instant::now();
    let mut s = connected(now);
    for i in 0..3 {
        s.submit(now, get_data(&format!("/n{i}"), false), i, None);
    }
    let sent = requests(&mut s);
    let xids: Vec<i32> = sent.iter().map(|(h, _)| h.xid).collect();
    assert_eq!(xids, vec![1, 2, 3]);
    for xid in xids {
        reply(&mut s, now, xid, 10 + xid as i64, 0, data_response());
    }
    let done: Vec<u32> = outputs(&mut s)
        .into_iter()
        .map(|o| match o {
            Output::Reply(r, Ok(_)) => r,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(done, vec![0, 1, 2]);
    assert_eq!(s.last_zxid(), 13);
}

#[test]
fn watch_event_is_delivered_before_the_reply_that_follows_it() {
    let now = Instant::now();
    let mut s = connected(now);
    let w = WatchRegistration {
        kind: WatchKind::Data,
        path: "/a".into(),
        watcher: WatcherId(9),
    };
    s.submit(now, get_data("/a", true), 1, Some(w));
    s.submit(now, get_data("/a", false), 2, None);
    requests(&mut s);
    reply(&mut s, now, 1, 5, 0, data_response());
    notify(&mut s, now, EventType::NodeDataChanged, "/a");
    reply(&mut s, now, 2, 6, 0, data_response());
    let outs = outputs(&mut s);
    assert!(matches!(outs[0], Output::Reply(1, Ok(_))));
    assert!(matches!(
        &outs[1],
        Output::Watch { watcher: WatcherId(9), event, last: true }
            if event.event_type == EventType::NodeDataChanged && event.path == "/a"
    ));
    assert!(matches!(outs[2], Output::Reply(2, Ok(_))));
}

#[test]
fn exists_on_a_missing_node_still_leaves_a_watch() {
    let now = Instant::now();
    let mut s = connected(now);
    let w = WatchRegistration {
        kind: WatchKind::Exists,
        path: "/x".into(),
        watcher: WatcherId(1),
    };
    s.submit(
        now,
        Request::Exists(PathWatchRequest {
            path: "/x".into(),
            watch: true,
        }),
        7,
        Some(w),
    );
    requests(&mut s);
    reply(&mut s, now, 1, 5, -101, Response::Empty);
    assert!(matches!(
        outputs(&mut s).as_slice(),
        [Output::Reply(7, Err(Error::NoNode))]
    ));
    notify(&mut s, now, EventType::NodeCreated, "/x");
    assert!(matches!(
        outputs(&mut s).as_slice(),
        [Output::Watch {
            watcher: WatcherId(1),
            last: true,
            ..
        }]
    ));
}

#[test]
fn a_failed_get_data_leaves_no_watch() {
    let now = Instant::now();
    let mut s = connected(now);
    let w = WatchRegistration {
        kind: WatchKind::Data,
        path: "/x".into(),
        watcher: WatcherId(1),
    };
    s.submit(now, get_data("/x", true), 7, Some(w));
    requests(&mut s);
    reply(&mut s, now, 1, 5, -101, Response::Empty);
    assert!(matches!(
        outputs(&mut s).as_slice(),
        [
            Output::Unwatch(WatcherId(1)),
            Output::Reply(7, Err(Error::NoNode))
        ]
    ));
}

#[test]
fn disconnect_fails_in_flight_requests_and_reconnect_restores_watches() {
    let now = Instant::now();
    let mut s = connected(now);
    s.add_auth(now, "digest".into(), b"u:p".to_vec(), 100);
    let w = WatchRegistration {
        kind: WatchKind::Child,
        path: "/c".into(),
        watcher: WatcherId(3),
    };
    s.submit(
        now,
        Request::GetChildren(PathWatchRequest {
            path: "/c".into(),
            watch: true,
        }),
        1,
        Some(w),
    );
    requests(&mut s);
    reply(&mut s, now, -4, 0, 0, Response::Empty);
    reply(&mut s, now, 1, 42, 0, Response::Strings(vec![]));
    s.submit(now, get_data("/lost", false), 2, None);
    requests(&mut s);
    outputs(&mut s);

    s.handle_transport_lost();
    let outs = outputs(&mut s);
    assert!(matches!(outs[0], Output::CloseTransport));
    assert!(matches!(
        outs[1],
        Output::Reply(2, Err(Error::ConnectionLoss))
    ));
    assert!(matches!(outs[2], Output::State(SessionState::Disconnected)));

    // Submitted while disconnected: waits for the next session.
    s.submit(now, get_data("/later", false), 3, None);
    s.start_handshake(now);
    let mut hs = written(&mut s);
    let req = ConnectRequest::decode(&mut hs[0]).unwrap();
    assert_eq!((req.session_id, req.last_zxid_seen), (0x55, 42));
    assert_eq!(req.password, vec![7; 16]);
    feed(&mut s, now, |b| {
        ConnectResponse {
            protocol_version: 0,
            timeout: 30_000,
            session_id: 0x55,
            password: vec![7; 16],
            read_only: Some(false),
        }
        .encode(b)
    });
    let sent = requests(&mut s);
    assert!(matches!(&sent[0], (h, Request::Auth(a)) if h.xid == -4 && a.scheme == "digest"));
    assert!(matches!(&sent[1], (_, Request::SetWatches(sw))
        if sw.child_watches == vec!["/c".to_string()] && sw.relative_zxid == 42));
    assert!(matches!(&sent[2], (_, Request::GetData(r)) if r.path == "/later"));
    assert_eq!(sent.len(), 3);
}

#[test]
fn persistent_watches_are_restored_with_set_watches2() {
    let now = Instant::now();
    let mut s = connected(now);
    let w = WatchRegistration {
        kind: WatchKind::PersistentRecursive,
        path: "/r".into(),
        watcher: WatcherId(4),
    };
    s.submit(
        now,
        Request::AddWatch(zk_proto::ops::AddWatchRequest {
            path: "/r".into(),
            mode: 1,
        }),
        1,
        Some(w),
    );
    requests(&mut s);
    reply(&mut s, now, 1, 3, 0, Response::AddWatch(0));
    s.handle_transport_lost();
    s.start_handshake(now);
    written(&mut s);
    feed(&mut s, now, |b| {
        ConnectResponse {
            protocol_version: 0,
            timeout: 30_000,
            session_id: 0x55,
            password: vec![7; 16],
            read_only: Some(false),
        }
        .encode(b)
    });
    let sent = requests(&mut s);
    assert!(matches!(&sent[0], (_, Request::SetWatches2(sw))
        if sw.persistent_recursive_watches == vec!["/r".to_string()]));
}

#[test]
fn expiry_fails_everything_and_ends_every_watch() {
    let now = Instant::now();
    let mut s = connected(now);
    let w = WatchRegistration {
        kind: WatchKind::Data,
        path: "/a".into(),
        watcher: WatcherId(1),
    };
    s.submit(now, get_data("/a", true), 1, Some(w));
    requests(&mut s);
    reply(&mut s, now, 1, 5, 0, data_response());
    outputs(&mut s);
    s.handle_transport_lost();
    outputs(&mut s);
    s.start_handshake(now);
    written(&mut s);
    feed(&mut s, now, |b| {
        ConnectResponse {
            protocol_version: 0,
            timeout: 0,
            session_id: 0,
            password: vec![0; 16],
            read_only: Some(false),
        }
        .encode(b)
    });
    let outs = outputs(&mut s);
    assert!(matches!(outs[0], Output::CloseTransport));
    assert!(outs.iter().any(
        |o| matches!(o, Output::Watch { watcher: WatcherId(1), event, last: true }
        if event.state == SessionState::Expired && event.event_type == EventType::None)
    ));
    assert!(matches!(
        outs.last(),
        Some(Output::State(SessionState::Expired))
    ));
    assert!(!s.wants_transport());
    s.submit(now, get_data("/a", false), 2, None);
    assert!(matches!(
        outputs(&mut s).as_slice(),
        [Output::Reply(2, Err(Error::SessionExpired))]
    ));
}

#[test]
fn pings_at_a_third_and_gives_up_after_two_thirds_of_the_timeout() {
    let now = Instant::now();
    let mut s = connected(now);
    assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(10)));
    let t1 = now + Duration::from_secs(10);
    s.handle_timeout(t1);
    let sent = requests(&mut s);
    assert!(matches!(sent.as_slice(), [(h, Request::Ping)] if h.xid == -2));
    // The server answers nothing: at 20 s the connection is declared dead.
    s.handle_timeout(now + Duration::from_secs(20));
    assert!(matches!(
        outputs(&mut s).as_slice(),
        [
            Output::CloseTransport,
            Output::State(SessionState::Disconnected)
        ]
    ));
}

#[test]
fn out_of_order_xid_drops_the_connection() {
    let now = Instant::now();
    let mut s = connected(now);
    s.submit(now, get_data("/a", false), 1, None);
    requests(&mut s);
    reply(&mut s, now, 99, 5, 0, data_response());
    let outs = outputs(&mut s);
    assert!(matches!(outs[0], Output::CloseTransport));
    assert!(matches!(
        outs[1],
        Output::Reply(1, Err(Error::ConnectionLoss))
    ));
}

#[test]
fn oversized_reply_frame_drops_the_connection_without_allocating() {
    let now = Instant::now();
    let mut s = connected(now);
    s.read_buf().put_i32(0x7fff_fff0);
    s.handle_input(now);
    assert!(matches!(
        outputs(&mut s).first(),
        Some(Output::CloseTransport)
    ));
    assert!(s.read_buf().capacity() < 1 << 20);
}

#[test]
fn close_sends_close_session_and_ends_in_closed() {
    let now = Instant::now();
    let mut s = connected(now);
    s.close(now, 5);
    let sent = requests(&mut s);
    assert!(matches!(sent.as_slice(), [(_, Request::CloseSession)]));
    s.submit(
        now,
        Request::Sync(PathRequest { path: "/".into() }),
        6,
        None,
    );
    reply(&mut s, now, 1, 9, 0, Response::Empty);
    let outs = outputs(&mut s);
    assert!(matches!(outs[0], Output::Reply(6, Err(Error::Closed))));
    assert!(outs.iter().any(|o| matches!(o, Output::Reply(5, Ok(_)))));
    assert!(matches!(
        outs.last(),
        Some(Output::State(SessionState::Closed))
    ));
}

#[test]
fn auth_failure_is_terminal() {
    let now = Instant::now();
    let mut s = connected(now);
    s.add_auth(now, "nosuch".into(), b"x".to_vec(), 1);
    requests(&mut s);
    reply(&mut s, now, -4, 0, -115, Response::Empty);
    let outs = outputs(&mut s);
    assert!(matches!(outs[0], Output::Reply(1, Err(Error::AuthFailed))));
    assert!(matches!(
        outs.last(),
        Some(Output::State(SessionState::AuthFailed))
    ));
}

#[test]
fn chroot_is_removed_from_event_paths() {
    let now = Instant::now();
    let mut cfg = config();
    cfg.chroot = Chroot::new("/app").unwrap();
    let mut s = Session::new(cfg, now);
    s.start_handshake(now);
    written(&mut s);
    feed(&mut s, now, |b| {
        ConnectResponse {
            protocol_version: 0,
            timeout: 30_000,
            session_id: 1,
            password: vec![1; 16],
            read_only: None,
        }
        .encode(b)
    });
    outputs(&mut s);
    let w = WatchRegistration {
        kind: WatchKind::Persistent,
        path: "/app".into(),
        watcher: WatcherId(1),
    };
    s.submit(
        now,
        Request::AddWatch(zk_proto::ops::AddWatchRequest {
            path: "/app".into(),
            mode: 0,
        }),
        1,
        Some(w),
    );
    requests(&mut s);
    reply(&mut s, now, 1, 3, 0, Response::AddWatch(0));
    notify(&mut s, now, EventType::NodeChildrenChanged, "/app");
    let outs = outputs(&mut s);
    assert!(matches!(&outs[1], Output::Watch { event, last: false, .. } if event.path == "/"));
}

#[test]
fn set_watches_are_split_to_fit_frames() {
    let lists = WatchLists {
        data: (0..1000).map(|i| format!("/{i:0>200}")).collect(),
        ..Default::default()
    };
    let batches = split_watch_lists(lists, 64 * 1024);
    assert!(batches.len() > 1);
    let total: usize = batches.iter().map(|b| b.data.len()).sum();
    assert_eq!(total, 1000);
    for b in &batches {
        let bytes: usize = b.data.iter().map(|p| p.len() + 4).sum();
        assert!(bytes <= 64 * 1024);
    }
}

fn connect_response(session_id: i64, read_only: bool) -> ConnectResponse {
    ConnectResponse {
        protocol_version: 0,
        timeout: 30_000,
        session_id,
        password: vec![3; 16],
        read_only: Some(read_only),
    }
}

#[test]
fn a_session_first_made_on_a_read_only_server_is_not_resumed() {
    let now = Instant::now();
    let mut cfg = config();
    cfg.read_only = true;
    let mut s = Session::new(cfg, now);
    s.start_handshake(now);
    written(&mut s);
    feed(&mut s, now, |b| connect_response(0x77, true).encode(b));
    assert_eq!(s.state(), SessionState::ConnectedReadOnly);
    s.handle_transport_lost();
    s.start_handshake(now);
    let mut hs = written(&mut s);
    let req = ConnectRequest::decode(&mut hs[0]).unwrap();
    assert_eq!((req.session_id, req.password.clone()), (0, vec![0; 16]));
    // Once a read-write server accepted the session, it is resumed from then on.
    feed(&mut s, now, |b| connect_response(0x88, false).encode(b));
    s.handle_transport_lost();
    s.start_handshake(now);
    let mut hs = written(&mut s);
    let req = ConnectRequest::decode(&mut hs[0]).unwrap();
    assert_eq!((req.session_id, req.password), (0x88, vec![3; 16]));
}

#[test]
fn persistent_watchers_hear_about_disconnects_and_reconnects() {
    let now = Instant::now();
    let mut s = connected(now);
    let w = WatchRegistration {
        kind: WatchKind::Persistent,
        path: "/p".into(),
        watcher: WatcherId(5),
    };
    s.submit(
        now,
        Request::AddWatch(zk_proto::ops::AddWatchRequest {
            path: "/p".into(),
            mode: 0,
        }),
        1,
        Some(w),
    );
    requests(&mut s);
    reply(&mut s, now, 1, 3, 0, Response::AddWatch(0));
    outputs(&mut s);
    s.handle_transport_lost();
    assert!(outputs(&mut s).iter().any(|o| matches!(o,
        Output::Watch { watcher: WatcherId(5), event, last: false }
            if event.event_type == EventType::None && event.state == SessionState::Disconnected)));
    s.start_handshake(now);
    written(&mut s);
    feed(&mut s, now, |b| connect_response(0x55, false).encode(b));
    assert!(outputs(&mut s).iter().any(|o| matches!(o,
        Output::Watch { watcher: WatcherId(5), event, last: false }
            if event.state == SessionState::Connected)));
}

#[test]
fn requests_waiting_for_a_connection_fail_when_a_connect_attempt_fails() {
    let now = Instant::now();
    let mut s = connected(now);
    s.handle_transport_lost();
    outputs(&mut s);
    s.submit(now, get_data("/a", false), 9, None);
    assert!(outputs(&mut s).is_empty());
    s.handle_connect_failed();
    assert!(matches!(
        outputs(&mut s).as_slice(),
        [Output::Reply(9, Err(Error::ConnectionLoss))]
    ));
}

#[test]
fn local_watch_removal_happens_before_later_replies_register_new_watches() {
    let now = Instant::now();
    let mut s = connected(now);
    let reg = |id| WatchRegistration {
        kind: WatchKind::Data,
        path: "/r".into(),
        watcher: WatcherId(id),
    };
    s.submit(now, get_data("/r", true), 1, Some(reg(1)));
    requests(&mut s);
    reply(&mut s, now, 1, 3, 0, data_response());
    outputs(&mut s);
    s.remove_watches(now, "/r".into(), WatcherType::Data, false, 2);
    s.submit(now, get_data("/r", true), 3, Some(reg(2)));
    requests(&mut s);
    // Both replies arrive in one read.
    let mut frames = BytesMut::new();
    write_frame(&mut frames, |b| {
        ReplyHeader {
            xid: 2,
            zxid: 3,
            err: 0,
        }
        .encode(b)
    });
    write_frame(&mut frames, |b| {
        ReplyHeader {
            xid: 3,
            zxid: 3,
            err: 0,
        }
        .encode(b);
        data_response().encode_body(b);
    });
    s.read_buf().put_slice(&frames);
    s.handle_input(now);
    let outs = outputs(&mut s);
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Watch {
            watcher: WatcherId(1),
            ..
        }
    )));
    assert!(!outs.iter().any(|o| matches!(
        o,
        Output::Watch {
            watcher: WatcherId(2),
            ..
        }
    )));
    assert!(s.has_local_watch("/r", WatcherType::Data));
}

#[test]
fn one_shot_watch_under_a_persistent_watch_is_kept_locally() {
    let now = Instant::now();
    let mut s = connected(now);
    s.submit(
        now,
        Request::AddWatch(zk_proto::ops::AddWatchRequest {
            path: "/p".into(),
            mode: 0,
        }),
        1,
        Some(WatchRegistration {
            kind: WatchKind::Persistent,
            path: "/p".into(),
            watcher: WatcherId(1),
        }),
    );
    requests(&mut s);
    reply(&mut s, now, 1, 3, 0, Response::AddWatch(0));
    s.submit(
        now,
        get_data("/p", true),
        2,
        Some(WatchRegistration {
            kind: WatchKind::Data,
            path: "/p".into(),
            watcher: WatcherId(2),
        }),
    );
    let sent = requests(&mut s);
    assert!(matches!(&sent[0], (_, Request::GetData(r)) if !r.watch));
    reply(&mut s, now, 2, 3, 0, data_response());
    outputs(&mut s);
    notify(&mut s, now, EventType::NodeDataChanged, "/p");
    let outs = outputs(&mut s);
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Watch {
            watcher: WatcherId(2),
            last: true,
            ..
        }
    )));
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Watch {
            watcher: WatcherId(1),
            last: false,
            ..
        }
    )));
}

/// A session whose first server was read-only.
fn connected_read_only(now: Instant) -> Session<u32> {
    let mut cfg = config();
    cfg.read_only = true;
    let mut s = Session::new(cfg, now);
    s.start_handshake(now);
    written(&mut s);
    feed(&mut s, now, |b| connect_response(0x77, true).encode(b));
    assert!(matches!(
        outputs(&mut s).as_slice(),
        [Output::State(SessionState::ConnectedReadOnly)]
    ));
    s
}

fn probes(s: &mut Session<u32>) -> usize {
    outputs(s)
        .iter()
        .filter(|o| matches!(o, Output::ProbeReadWrite))
        .count()
}

#[test]
fn a_read_only_session_asks_for_probes_at_doubling_intervals() {
    let t0 = Instant::now();
    let mut s = connected_read_only(t0);
    // The first probe is due 100 ms in: sooner than any ping.
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(100)));
    s.handle_timeout(t0 + Duration::from_millis(99));
    assert_eq!(probes(&mut s), 0);
    let mut now = t0 + Duration::from_millis(100);
    s.handle_timeout(now);
    assert_eq!(probes(&mut s), 1);
    for gap in [200, 400, 800] {
        now += Duration::from_millis(gap);
        // Keep the connection alive meanwhile, as a server's ping replies would.
        s.handle_input(now);
        assert_eq!(s.poll_timeout(), Some(now));
        s.handle_timeout(now);
        assert_eq!(probes(&mut s), 1, "after {gap} ms");
    }
}

#[test]
fn a_read_write_session_never_probes() {
    let now = Instant::now();
    let mut s = connected(now);
    for secs in 1..60 {
        let t = now + Duration::from_secs(secs);
        s.handle_input(t);
        s.handle_timeout(t);
        assert_eq!(probes(&mut s), 0);
    }
}

#[test]
fn a_found_read_write_server_ends_the_read_only_connection_and_probing() {
    let now = Instant::now();
    let mut s = connected_read_only(now);
    s.submit(now, get_data("/a", false), 1, None);
    requests(&mut s);
    s.handle_read_write_found();
    let out = outputs(&mut s);
    assert!(matches!(
        out.as_slice(),
        [
            Output::CloseTransport,
            Output::Reply(1, Err(Error::ConnectionLoss)),
            Output::State(SessionState::Disconnected)
        ]
    ));
    assert_eq!(s.poll_timeout(), None);
    // A read-write server then takes over with a new session: the read-only one was
    // local to its server.
    s.start_handshake(now);
    let mut hs = written(&mut s);
    assert_eq!(ConnectRequest::decode(&mut hs[0]).unwrap().session_id, 0);
    feed(&mut s, now, |b| connect_response(0x88, false).encode(b));
    assert_eq!(s.state(), SessionState::Connected);
    s.handle_timeout(now + Duration::from_secs(1));
    assert_eq!(probes(&mut s), 0);
}

#[test]
fn a_read_write_found_report_for_a_read_write_session_changes_nothing() {
    let now = Instant::now();
    let mut s = connected(now);
    s.handle_read_write_found();
    assert!(outputs(&mut s).is_empty());
    assert_eq!(s.state(), SessionState::Connected);
}

#[test]
fn a_read_only_servers_refusal_of_a_new_session_is_a_failed_attempt() {
    let now = Instant::now();
    let mut cfg = config();
    cfg.read_only = true;
    let mut s = Session::new(cfg, now);
    s.start_handshake(now);
    written(&mut s);
    // Apache 3.8 in read-only mode without local sessions: a bare header, NotReadOnly.
    feed(&mut s, now, |b| {
        ReplyHeader {
            xid: 0,
            zxid: 0,
            err: zk_proto::ErrorCode::NotReadOnly.code(),
        }
        .encode(b)
    });
    assert!(matches!(
        outputs(&mut s).as_slice(),
        [Output::CloseTransport]
    ));
    assert_eq!(s.state(), SessionState::Connecting);
    assert!(s.wants_transport());
}

/// A session with SASL credentials, handshaken: returns it with the first `sasl` request.
fn sasl_handshaken(now: Instant, password: &str) -> (Session<u32>, RequestHeader, Vec<u8>) {
    let mut cfg = config();
    cfg.sasl = Some(SaslOptions::digest_md5("alice", password));
    let mut s = Session::new(cfg, now);
    s.start_handshake(now);
    written(&mut s);
    s.submit(now, get_data("/queued", false), 1, None);
    feed(&mut s, now, |b| {
        ConnectResponse {
            protocol_version: 0,
            timeout: 30_000,
            session_id: 0x55,
            password: vec![7; 16],
            read_only: Some(false),
        }
        .encode(b)
    });
    assert!(outputs(&mut s).is_empty(), "no Connected before SASL");
    let (h, token) = only_sasl(&mut s);
    (s, h, token)
}

/// The one frame written, which must be a `sasl` request.
fn only_sasl(s: &mut Session<u32>) -> (RequestHeader, Vec<u8>) {
    let mut frames = written(s);
    assert_eq!(frames.len(), 1, "only the sasl request goes out");
    let h = RequestHeader::decode(&mut frames[0]).unwrap();
    assert_eq!(h.opcode, OpCode::Sasl.code());
    let p = SaslPacket::decode(&mut frames[0]).unwrap();
    (h, p.token.unwrap_or_default().to_vec())
}

fn sasl_reply(s: &mut Session<u32>, now: Instant, xid: i32, err: i32, token: Option<Vec<u8>>) {
    feed(s, now, |b| {
        ReplyHeader { xid, zxid: 0, err }.encode(b);
        SaslPacket {
            token: token.map(Bytes::from),
        }
        .encode(b);
    });
}

#[test]
fn sasl_runs_before_queued_requests_and_then_reports_connected() {
    use zk_proto::sasl::{DigestMd5Server, ServerStep};
    let now = Instant::now();
    let mut server = DigestMd5Server::new(|u: &str| (u == "alice").then(|| "secret".to_owned()));
    let (mut s, h, token) = sasl_handshaken(now, "secret");
    assert!(token.is_empty(), "DIGEST-MD5 starts with an empty token");
    let ServerStep::Challenge(challenge) = server.evaluate_response(&token).unwrap() else {
        panic!("challenge expected")
    };
    sasl_reply(&mut s, now, h.xid, 0, Some(challenge));
    let (h2, response) = only_sasl(&mut s);
    assert_eq!(h2.xid, h.xid + 1, "ordinary xids, as Java's getXid()");
    let ServerStep::Complete { token, .. } = server.evaluate_response(&response).unwrap() else {
        panic!("completion expected")
    };
    assert_eq!(s.poll_timeout(), Some(later(now, config().connect_timeout)));
    sasl_reply(&mut s, now, h2.xid, 0, Some(token));
    assert!(matches!(
        outputs(&mut s).as_slice(),
        [Output::State(SessionState::Connected)]
    ));
    let sent = requests(&mut s);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, get_data("/queued", false));
}

#[test]
fn sasl_refusal_ends_the_session_in_auth_failed_without_reconnecting() {
    let now = Instant::now();
    let (mut s, h, _) = sasl_handshaken(now, "wrong");
    let challenge =
        br#"realm="zk-sasl-md5",nonce="n1",qop="auth",charset=utf-8,algorithm=md5-sess"#;
    sasl_reply(&mut s, now, h.xid, 0, Some(challenge.to_vec()));
    let (h2, _) = only_sasl(&mut s);
    sasl_reply(&mut s, now, h2.xid, ErrorCode::AuthFailed.code(), None);
    let out = outputs(&mut s);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Reply(1, Err(Error::AuthFailed)))));
    assert!(out.iter().any(|o| matches!(o, Output::CloseTransport)));
    assert!(matches!(
        out.last(),
        Some(Output::State(SessionState::AuthFailed))
    ));
    assert!(
        !s.wants_transport(),
        "no reconnect after refused credentials"
    );
}

#[test]
fn an_unverifiable_server_answer_or_a_stray_xid_is_not_trusted() {
    let now = Instant::now();
    let (mut s, h, _) = sasl_handshaken(now, "secret");
    sasl_reply(&mut s, now, h.xid, 0, None);
    assert_eq!(s.state(), SessionState::AuthFailed, "empty challenge");

    let (mut s, h, _) = sasl_handshaken(now, "secret");
    sasl_reply(&mut s, now, h.xid + 7, 0, None);
    assert_eq!(s.state(), SessionState::Connecting);
    assert!(!s.has_transport(), "dropped; reconnecting is allowed");
    assert!(s.wants_transport());

    let (mut s, _, _) = sasl_handshaken(now, "secret");
    s.handle_timeout(later(now, Duration::from_secs(60)));
    assert!(
        !s.has_transport(),
        "a stalled exchange times out like a handshake"
    );
}

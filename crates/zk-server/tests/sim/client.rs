//! Simulated clients: they speak the real client protocol (ConnectRequest, request
//! headers and bodies, replies in order) to whichever member they reach, move to another
//! member when their connection drops, and keep their session across moves.
//!
//! Workload: unique persistent creates under `/w` (never deleted, so each one that was
//! acknowledged or seen must exist forever after), unconditional writes of unique values
//! to the register `/r`, reads of `/r` and of other clients' nodes, ephemeral creates,
//! and syncs. What each reply says goes to the checker.

use bytes::{Buf, Bytes, BytesMut};
use rand::Rng;
use zk_proto::ops::{CreateRequest, PathRequest, PathWatchRequest, SetDataRequest};
use zk_proto::{
    Acl, ConnectRequest, ConnectResponse, CreateMode, Decode, Encode, ErrorCode, OpCode,
    ReplyHeader, Request, RequestHeader, Response,
};

use super::world::{Event, World};

#[derive(Debug)]
pub enum ClientEvent {
    /// Time to do something.
    Step,
    /// A frame from the member (length prefix included), on connection generation `.0`.
    Frame(u64, Bytes),
    /// The member closed connection generation `.0`.
    Closed(u64),
}

#[derive(Debug, Clone)]
enum Op {
    Create(String),
    CreateEphemeral(String),
    SetRegister(String),
    GetRegister,
    GetNode(String),
    Sync,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Connecting,
    Connected,
}

pub struct Client {
    pub id: usize,
    session: Option<(i64, Vec<u8>)>,
    pub conn: Option<(usize, u64)>,
    gen: u64,
    state: State,
    next_xid: i32,
    pending: std::collections::VecDeque<(i32, Op)>,
    pub last_zxid: i64,
    counter: u64,
    next_ping: std::time::Duration,
    /// Ops completed with an answer.
    pub completed: u64,
    /// Ops completed since the chaos ended.
    pub completed_calm: u64,
    bootstrapped: bool,
}

impl Client {
    pub fn new(id: usize) -> Client {
        Client {
            id,
            session: None,
            conn: None,
            gen: 0,
            state: State::Idle,
            next_xid: 1,
            pending: Default::default(),
            last_zxid: 0,
            counter: 0,
            next_ping: std::time::Duration::ZERO,
            completed: 0,
            completed_calm: 0,
            bootstrapped: false,
        }
    }
}

impl Client {
    /// Its state, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "{:?} on {:?}, session {:?}, waiting for {:?}",
            self.state,
            self.conn,
            self.session.as_ref().map(|(id, _)| format!("{id:#x}")),
            self.pending
        )
    }
}

pub fn handle(world: &mut World, c: usize, event: ClientEvent) {
    match event {
        ClientEvent::Step => step(world, c),
        ClientEvent::Frame(gen, frame) if gen == world.clients[c].gen => frame_in(world, c, frame),
        ClientEvent::Closed(gen) if gen == world.clients[c].gen => disconnected(world, c),
        _ => {}
    }
}

fn step(world: &mut World, c: usize) {
    let next = world.now + std::time::Duration::from_millis(world.rng.gen_range(10..60));
    world.schedule(next, Event::Client(c, ClientEvent::Step));
    match world.clients[c].state {
        State::Idle => connect(world, c),
        State::Connecting => {}
        State::Connected => {
            if world.quiet {
                ping(world, c);
                return;
            }
            if world.clients[c].pending.len() < 3 {
                issue(world, c);
            } else {
                ping(world, c);
            }
        }
    }
}

fn connect(world: &mut World, c: usize) {
    let member = world.rng.gen_range(0..world.nodes.len());
    let client = &mut world.clients[c];
    client.gen += 1;
    let (session_id, password) = client.session.clone().unwrap_or((0, vec![0; 16]));
    let hello = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: client.last_zxid,
        timeout: 1500,
        session_id,
        password,
        read_only: Some(false),
    };
    let mut buf = BytesMut::new();
    hello.encode(&mut buf);
    let gen = client.gen;
    if world.client_connect(member, c, gen, buf.freeze()) {
        world.clients[c].state = State::Connecting;
    }
}

fn disconnected(world: &mut World, c: usize) {
    let client = &mut world.clients[c];
    client.conn = None;
    client.state = State::Idle;
    client.gen += 1;
    // Their outcome is unknown: they may or may not have been applied.
    client.pending.clear();
}

fn close(world: &mut World, c: usize) {
    if let Some((member, conn)) = world.clients[c].conn.take() {
        world.client_close(member, conn);
    }
    disconnected(world, c);
}

fn issue(world: &mut World, c: usize) {
    let op = if !world.clients[c].bootstrapped {
        world.clients[c].bootstrapped = true;
        for p in ["/w", "/e", "/r"] {
            send(world, c, Op::Create(p.to_owned()));
        }
        return;
    } else {
        let roll = world.rng.gen_range(0..100);
        world.clients[c].counter += 1;
        let n = world.clients[c].counter;
        match roll {
            0..=34 => Op::Create(format!("/w/c{c}-{n}")),
            35..=54 => Op::SetRegister(format!("c{c}-{n}")),
            55..=69 => Op::GetRegister,
            70..=84 => {
                let other = world.rng.gen_range(0..world.clients.len());
                let k = world.rng.gen_range(1..=world.clients[other].counter.max(1));
                Op::GetNode(format!("/w/c{other}-{k}"))
            }
            85..=92 => Op::CreateEphemeral(format!("/e/c{c}-{n}")),
            _ => Op::Sync,
        }
    };
    send(world, c, op);
}

/// Keeps the session alive while idle, as real clients do (every third of the timeout).
fn ping(world: &mut World, c: usize) {
    let Some((member, conn)) = world.clients[c].conn else {
        return;
    };
    if world.now < world.clients[c].next_ping {
        return;
    }
    world.clients[c].next_ping = world.now + std::time::Duration::from_millis(400);
    let mut buf = BytesMut::new();
    RequestHeader {
        xid: -2,
        opcode: OpCode::Ping.code(),
    }
    .encode(&mut buf);
    world.client_send(member, conn, buf.freeze());
}

fn send(world: &mut World, c: usize, op: Op) {
    let Some((member, conn)) = world.clients[c].conn else {
        return;
    };
    let xid = world.clients[c].next_xid;
    world.clients[c].next_xid += 1;
    world.clients[c].next_ping = world.now + std::time::Duration::from_millis(400);
    let request = match &op {
        Op::Create(path) => Request::Create(CreateRequest {
            path: path.clone(),
            data: Some(Bytes::from(path.clone().into_bytes())),
            acl: Acl::open_unsafe(),
            flags: CreateMode::Persistent.flags(),
        }),
        Op::CreateEphemeral(path) => Request::Create(CreateRequest {
            path: path.clone(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: CreateMode::Ephemeral.flags(),
        }),
        Op::SetRegister(value) => Request::SetData(SetDataRequest {
            path: "/r".into(),
            data: Some(Bytes::from(value.clone().into_bytes())),
            version: -1,
        }),
        Op::GetRegister => Request::GetData(PathWatchRequest {
            path: "/r".into(),
            watch: false,
        }),
        Op::GetNode(path) => Request::GetData(PathWatchRequest {
            path: path.clone(),
            watch: false,
        }),
        Op::Sync => Request::Sync(PathRequest { path: "/".into() }),
    };
    let mut buf = BytesMut::new();
    RequestHeader {
        xid,
        opcode: request.opcode().code(),
    }
    .encode(&mut buf);
    request.encode_body(&mut buf);
    world.clients[c].pending.push_back((xid, op));
    world.client_send(member, conn, buf.freeze());
}

fn frame_in(world: &mut World, c: usize, frame: Bytes) {
    let mut body = frame.slice(4..);
    if world.clients[c].state == State::Connecting {
        let Ok(response) = ConnectResponse::decode(&mut body) else {
            world
                .checker
                .fail(format!("client {c}: unreadable ConnectResponse"));
            return;
        };
        if response.session_id == 0 {
            // Expired: start over with a new session.
            world.clients[c].session = None;
            close(world, c);
            return;
        }
        let client = &mut world.clients[c];
        if let Some((old, _)) = &client.session {
            if *old != response.session_id {
                world
                    .checker
                    .fail(format!("client {c}: re-attach gave another session"));
            }
        }
        client.session = Some((response.session_id, response.password));
        client.state = State::Connected;
        return;
    }
    let Ok(header) = ReplyHeader::decode(&mut body) else {
        world
            .checker
            .fail(format!("client {c}: unreadable reply header"));
        return;
    };
    if header.xid == -1 {
        return;
    }
    if header.xid != -2 {
        if header.zxid < world.clients[c].last_zxid {
            world.checker.fail(format!(
                "client {c}: reply zxid {:#x} after {:#x} (reads went back in time)",
                header.zxid, world.clients[c].last_zxid
            ));
        }
        world.clients[c].last_zxid = world.clients[c].last_zxid.max(header.zxid);
    }
    if header.xid < 0 {
        return;
    }
    let Some((xid, op)) = world.clients[c].pending.pop_front() else {
        world.checker.fail(format!(
            "client {c}: a reply to nothing (xid {})",
            header.xid
        ));
        return;
    };
    if xid != header.xid {
        world.checker.fail(format!(
            "client {c}: reply for xid {} while {xid} was first (order broken)",
            header.xid
        ));
        return;
    }
    world.clients[c].completed += 1;
    if world.chaos_over {
        world.clients[c].completed_calm += 1;
    }
    let err = ErrorCode::from_code(header.err).unwrap_or(ErrorCode::SystemError);
    if err != ErrorCode::Ok {
        match (err, &op) {
            (ErrorCode::NoNode | ErrorCode::NodeExists, _) => {}
            (ErrorCode::SessionExpired, _) => {
                world.clients[c].session = None;
                close(world, c);
            }
            (e, op) => world
                .checker
                .fail(format!("client {c}: {op:?} failed with {e:?}")),
        }
        return;
    }
    let opcode = match op {
        Op::Create(_) | Op::CreateEphemeral(_) => OpCode::Create,
        Op::SetRegister(_) => OpCode::SetData,
        Op::GetRegister | Op::GetNode(_) => OpCode::GetData,
        Op::Sync => OpCode::Sync,
    };
    let response = match Response::decode_body(opcode, &mut body) {
        Ok(r) => r,
        Err(e) => {
            world
                .checker
                .fail(format!("client {c}: unreadable {op:?} reply: {e}"));
            return;
        }
    };
    if body.has_remaining() {
        world
            .checker
            .fail(format!("client {c}: trailing bytes after a reply"));
    }
    match (op, response) {
        (Op::Create(path), Response::Create(r)) => {
            if r.path != path {
                world
                    .checker
                    .fail(format!("client {c}: created {} for {path}", r.path));
            }
            world.checker.acked_node(path, header.zxid);
        }
        (Op::CreateEphemeral(_), Response::Create(_)) => {}
        (Op::SetRegister(value), Response::Stat(stat)) => {
            world
                .checker
                .register_version(stat.version, &value, "acknowledged write");
        }
        (Op::GetRegister, Response::GetData(r)) => {
            let value = String::from_utf8_lossy(r.data.as_deref().unwrap_or_default()).into_owned();
            if r.stat.version > 0 {
                world
                    .checker
                    .register_version(r.stat.version, &value, "read");
            }
        }
        (Op::GetNode(path), Response::GetData(_)) => world.checker.acked_node(path, header.zxid),
        (Op::Sync, Response::Sync(_)) => {}
        (op, r) => world
            .checker
            .fail(format!("client {c}: {op:?} answered with {r:?}")),
    }
}

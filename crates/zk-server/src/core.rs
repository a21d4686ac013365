//! The server's protocol core: connections, sessions, request dispatch, transaction
//! commit, watch delivery and time-driven work (session expiry, container and TTL
//! clean-up), with no sockets and no clock of its own.
//!
//! Inputs: [`ServerCore::accept`], [`ServerCore::receive`] (one client frame),
//! [`ServerCore::disconnected`], [`ServerCore::tick`]. Outputs, polled after any input with
//! [`ServerCore::poll_output`]: frames to send to a connection and connections to close, in
//! the order they must happen. The tokio shell (the private `net` module) owns the sockets.
//!
//! # Request pipeline
//! Requests are handled one at a time, in arrival order, which gives ZooKeeper's ordering
//! for free: each session's requests are answered in order, and a read sees every write
//! that came before it. A write is validated by [`crate::prep`] (which fixes its zxid, time
//! and every other choice), committed to the tree with [`DataTree::apply`], and only then
//! answered; the watch notifications it triggers are queued *before* its reply, so no
//! client can see a reply reflecting a change before the event for it.
//!
//! This deviates from Apache's multi-stage pipeline (prep → sync → final) on purpose:
//! with one thread owning the tree there are no outstanding changes to track, and a
//! durable log or an ensemble commit can gate the release of outputs instead of delaying
//! the apply (see the crate docs).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use zk_proto::event::keeper_state;
use zk_proto::frame::write_frame;
use zk_proto::header::PING_XID;
use zk_proto::multi::{MultiKind, MultiResponse};
use zk_proto::ops::*;
use zk_proto::{
    perms, ConnectRequest, ConnectResponse, Decode, Encode, ErrorCode, EventType, Id, OpCode,
    ReplyHeader, Request, RequestHeader, Response, WatcherEvent,
};

use crate::acl;
use crate::prep::{self, Ctx, Done, View};
use crate::sessions::{initial_session_id, password, SessionTracker, PASSWORD_LEN};
use crate::tree::{DataTree, NodeEvent, NodeKind};
use crate::txn::{Txn, TxnHeader};
use crate::watches::{ConnId, Table, WatchManager};

/// Settings of the core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// ZooKeeper's basic time unit (default 2 s).
    pub tick_time: Duration,
    /// Smallest session timeout granted (default 2 ticks).
    pub min_session_timeout: Duration,
    /// Largest session timeout granted (default 20 ticks).
    pub max_session_timeout: Duration,
    /// Server id: the top byte of session ids (1 for a standalone server, as Apache).
    pub server_id: u8,
    /// Whether TTL nodes are allowed (Apache's `zookeeper.extendedTypesEnabled`).
    pub extended_types: bool,
    /// How often containers and TTL nodes are checked for deletion.
    pub container_check_interval: Duration,
    /// `digest` id that is also granted the `super` id.
    pub super_digest: Option<String>,
    /// Four-letter words allowed (`4lw.commands.whitelist`); `*` allows all.
    pub four_letter_words: Vec<String>,
    /// Whether txns are journaled for a durable log (see [`ServerCore::take_records`]).
    pub durable: bool,
    /// Txns between snapshots (Apache's `snapCount`).
    pub snap_count: u64,
}

impl Default for CoreConfig {
    fn default() -> Self {
        let tick = Duration::from_millis(2000);
        Self {
            tick_time: tick,
            min_session_timeout: tick * 2,
            max_session_timeout: tick * 20,
            server_id: 1,
            extended_types: true,
            container_check_interval: Duration::from_secs(60),
            super_digest: None,
            four_letter_words: vec!["srvr".to_owned()],
            durable: false,
            snap_count: 100_000,
        }
    }
}

/// The time an input happens at.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time, for timeouts.
    pub mono: Instant,
    /// Wall-clock milliseconds since the epoch, for ctime/mtime.
    pub wall_ms: i64,
}

impl Now {
    /// The current time.
    pub fn system() -> Self {
        Self {
            mono: Instant::now(),
            wall_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        }
    }
}

/// Something the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write a frame (length prefix included) to a connection.
    Send {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        frame: Bytes,
    },
    /// Close a connection once what was sent before has been written.
    Close {
        /// The connection.
        conn: ConnId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    AwaitingConnect,
    Active { session: i64 },
    Closed,
}

/// Per-connection counters, for `cons`/`stat`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnStats {
    pub received: u64,
    pub sent: u64,
    pub last_cxid: i32,
    pub last_zxid: i64,
    pub last_op: &'static str,
    pub established_ms: i64,
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub remote: SocketAddr,
    state: ConnState,
    pub ids: Vec<Id>,
    old_client: bool,
    pub stats: ConnStats,
}

impl Conn {
    pub(crate) fn session(&self) -> Option<i64> {
        match self.state {
            ConnState::Active { session } => Some(session),
            _ => None,
        }
    }
}

/// Server-wide counters.
#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    /// Frames received.
    pub packets_received: u64,
    /// Frames sent.
    pub packets_sent: u64,
    /// Requests answered with an error.
    pub errors: u64,
    /// Sessions created.
    pub sessions_created: u64,
    /// Sessions expired.
    pub sessions_expired: u64,
    /// Connections refused or closed for bad input.
    pub bad_input: u64,
}

/// The protocol core.
#[derive(Debug)]
pub struct ServerCore {
    pub(crate) config: CoreConfig,
    pub(crate) tree: DataTree,
    pub(crate) tracker: SessionTracker,
    pub(crate) watches: WatchManager,
    pub(crate) conns: HashMap<ConnId, Conn>,
    session_conn: HashMap<i64, ConnId>,
    outputs: VecDeque<Output>,
    events: Vec<NodeEvent>,
    next_container_check: Instant,
    pub(crate) stats: ServerStats,
    pub(crate) started: Instant,
    records: bytes::BytesMut,
    txns_since_snapshot: u64,
    next_tick: Instant,
}

/// Which reply a write sends on success.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Create,
    Create2,
    Empty,
    Stat,
}

impl ServerCore {
    /// A core serving `tree` (fresh, or recovered from disk). Sessions recorded in the tree
    /// are tracked again from `now`, so their clients can re-attach within their timeout.
    pub fn new(config: CoreConfig, tree: DataTree, now: Now) -> Self {
        let mut tracker = SessionTracker::new(
            config.tick_time,
            initial_session_id(config.server_id, now.wall_ms),
        );
        for (&id, &timeout) in tree.sessions() {
            tracker.add(id, Duration::from_millis(timeout.max(0) as u64), now.mono);
        }
        Self {
            next_container_check: now.mono + config.container_check_interval,
            config,
            tree,
            tracker,
            watches: WatchManager::default(),
            conns: HashMap::new(),
            session_conn: HashMap::new(),
            outputs: VecDeque::new(),
            events: Vec::new(),
            stats: ServerStats::default(),
            started: now.mono,
            records: bytes::BytesMut::new(),
            txns_since_snapshot: 0,
            next_tick: now.mono,
        }
    }

    /// The log records of txns committed since the last call, with the highest zxid among
    /// them (durable mode only). Replies that depend on them must not be released before
    /// they are durable.
    pub fn take_records(&mut self) -> Option<(Bytes, i64)> {
        if self.records.is_empty() {
            return None;
        }
        Some((self.records.split().freeze(), self.tree.last_zxid()))
    }

    /// A snapshot of the tree when `snap_count` txns were committed since the last one.
    pub fn take_snapshot(&mut self) -> Option<(Bytes, i64)> {
        if !self.config.durable || self.txns_since_snapshot < self.config.snap_count {
            return None;
        }
        self.txns_since_snapshot = 0;
        Some((
            crate::persist::encode_snapshot(&self.tree),
            self.tree.last_zxid(),
        ))
    }

    /// The tree (read-only).
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    /// Counters.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Number of open connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Live sessions.
    pub fn session_ids(&self) -> Vec<i64> {
        self.tree.sessions().keys().copied().collect()
    }

    /// The next thing the shell must do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`ServerCore::tick`] must next run.
    pub fn next_deadline(&self) -> Instant {
        let session = self
            .tracker
            .next_deadline()
            .unwrap_or(self.next_container_check);
        session.min(self.next_container_check)
    }

    /// A new connection from `remote`.
    pub fn accept(&mut self, conn: ConnId, remote: SocketAddr, now: Now) {
        self.conns.insert(
            conn,
            Conn {
                remote,
                state: ConnState::AwaitingConnect,
                // An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d; Java
                // reports a.b.c.d, and ip ACLs are written that way.
                ids: vec![Id::new("ip", remote.ip().to_canonical().to_string())],
                old_client: false,
                stats: ConnStats {
                    established_ms: now.wall_ms,
                    ..Default::default()
                },
            },
        );
    }

    /// The connection is gone (closed by the peer, by us, or failed). Its session lives on
    /// until it expires or another connection re-attaches it.
    pub fn disconnected(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            if let Some(session) = c.session() {
                if self.session_conn.get(&session) == Some(&conn) {
                    self.session_conn.remove(&session);
                }
            }
            self.watches.remove_connection(conn);
        }
    }

    /// Closes every connection (sessions stay alive), as the test harness's "drop all".
    pub fn close_all_connections(&mut self) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in ids {
            self.close(conn);
        }
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.state != ConnState::Closed {
                c.state = ConnState::Closed;
                self.outputs.push_back(Output::Close { conn });
            }
        }
        self.disconnected(conn);
    }

    pub(crate) fn send_frame(&mut self, conn: ConnId, frame: Bytes) {
        self.send(conn, frame);
    }

    fn send(&mut self, conn: ConnId, frame: Bytes) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.sent += 1;
        }
        self.stats.packets_sent += 1;
        self.outputs.push_back(Output::Send { conn, frame });
    }

    pub(crate) fn reply(
        &mut self,
        conn: ConnId,
        xid: i32,
        err: ErrorCode,
        body: Option<&Response>,
    ) {
        if err != ErrorCode::Ok {
            self.stats.errors += 1;
        }
        let header = ReplyHeader {
            xid,
            zxid: self.tree.last_zxid(),
            err: err.code(),
        };
        let mut buf = BytesMut::with_capacity(64);
        write_frame(&mut buf, |b| {
            header.encode(b);
            if err == ErrorCode::Ok {
                if let Some(body) = body {
                    body.encode_body(b);
                }
            }
        });
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.last_zxid = header.zxid;
        }
        self.send(conn, buf.freeze());
    }

    /// One frame (length prefix removed) from a connection.
    pub fn receive(&mut self, conn: ConnId, frame: Bytes, now: Now) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.stats.received += 1;
        self.stats.packets_received += 1;
        match c.state {
            ConnState::AwaitingConnect => self.handle_connect(conn, frame, now),
            ConnState::Active { session } => self.handle_request(conn, session, frame, now),
            ConnState::Closed => {}
        }
    }

    fn handle_connect(&mut self, conn: ConnId, frame: Bytes, now: Now) {
        let request = match ConnectRequest::decode(&mut frame.clone()) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(conn, error = %e, "malformed ConnectRequest; closing");
                self.stats.bad_input += 1;
                self.close(conn);
                return;
            }
        };
        if request.last_zxid_seen > self.tree.last_zxid() {
            tracing::info!(
                conn,
                client_zxid = format_args!("{:#x}", request.last_zxid_seen),
                server_zxid = format_args!("{:#x}", self.tree.last_zxid()),
                "client has seen a newer zxid than this server; closing"
            );
            self.close(conn);
            return;
        }
        let timeout_ms = (request.timeout.max(0) as u128)
            .clamp(
                self.config.min_session_timeout.as_millis(),
                self.config.max_session_timeout.as_millis(),
            )
            .min(i32::MAX as u128) as i32;
        let timeout = Duration::from_millis(timeout_ms as u64);
        let old_client = request.read_only.is_none();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.old_client = old_client;
        }
        let read_only = (!old_client).then_some(false);

        let session = if request.session_id == 0 {
            let id = self.tracker.next_id();
            self.commit_txn(
                id,
                0,
                now,
                Txn::CreateSession {
                    timeout: timeout_ms,
                },
            );
            self.tracker.add(id, timeout, now.mono);
            self.stats.sessions_created += 1;
            tracing::info!(
                session_id = format_args!("{id:#x}"),
                timeout_ms,
                remote = %self.conns.get(&conn).map(|c| c.remote.to_string()).unwrap_or_default(),
                "session created"
            );
            Some(id)
        } else {
            let id = request.session_id;
            // A new connection for a session first kicks the one it had, even if this
            // attempt then fails the password check (as Apache does).
            if let Some(&other) = self.session_conn.get(&id) {
                if other != conn {
                    self.close(other);
                }
            }
            let valid = request.password.len() == PASSWORD_LEN
                && request.password[..] == password(id)[..]
                && self.tracker.contains(id);
            if valid {
                self.tracker.set_timeout(id, timeout, now.mono);
                tracing::debug!(session_id = format_args!("{id:#x}"), "session re-attached");
                Some(id)
            } else {
                None
            }
        };
        match session {
            Some(id) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.state = ConnState::Active { session: id };
                }
                self.session_conn.insert(id, conn);
                let response = ConnectResponse {
                    protocol_version: 0,
                    timeout: timeout_ms,
                    session_id: id,
                    password: password(id).to_vec(),
                    read_only,
                };
                self.send_connect_response(conn, &response);
            }
            None => {
                let response = ConnectResponse {
                    protocol_version: 0,
                    timeout: 0,
                    session_id: 0,
                    password: vec![0; PASSWORD_LEN],
                    read_only,
                };
                self.send_connect_response(conn, &response);
                self.close(conn);
            }
        }
    }

    fn send_connect_response(&mut self, conn: ConnId, response: &ConnectResponse) {
        let mut buf = BytesMut::with_capacity(48);
        write_frame(&mut buf, |b| response.encode(b));
        self.send(conn, buf.freeze());
    }

    fn handle_request(&mut self, conn: ConnId, session: i64, mut frame: Bytes, now: Now) {
        self.tracker.touch(session, now.mono);
        let header = match RequestHeader::decode(&mut frame) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(conn, error = %e, "truncated request header; closing");
                self.stats.bad_input += 1;
                self.close(conn);
                return;
            }
        };
        let xid = header.xid;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.last_cxid = xid;
        }
        let opcode = match OpCode::from_code(header.opcode) {
            // A standalone check has no reply shape: Apache 3.8.5+ refuses it like an
            // unknown opcode.
            Ok(OpCode::Notification | OpCode::CreateSession | OpCode::Error | OpCode::Check)
            | Err(_) => {
                tracing::info!(
                    conn,
                    opcode = header.opcode,
                    "unimplemented opcode; closing"
                );
                self.stats.bad_input += 1;
                self.send(conn, header_frame(xid, -1, ErrorCode::Unimplemented.code()));
                self.close(conn);
                return;
            }
            Ok(op) => op,
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.last_op = op_name(opcode);
        }
        let request = match Request::decode_body(opcode, &mut frame) {
            Ok(r) => r,
            // Apache reads auth packets on the I/O thread and drops the connection when one
            // cannot be read, without a reply.
            Err(_) if opcode == OpCode::Auth => {
                self.stats.bad_input += 1;
                self.close(conn);
                return;
            }
            Err(e) => {
                tracing::debug!(conn, ?opcode, error = %e, "malformed request body");
                self.stats.bad_input += 1;
                if opcode.is_write() {
                    let err = ErrorCode::MarshallingError;
                    self.commit_txn(session, xid, now, Txn::Error { err: err.code() });
                }
                self.reply(conn, xid, ErrorCode::MarshallingError, None);
                return;
            }
        };
        self.dispatch(conn, session, xid, request, now);
    }

    /// What prep needs to know of a write: who asks, and the zxid and time it will get.
    fn ctx<'a>(&self, session: i64, ids: &'a [Id], now: Now) -> Ctx<'a> {
        Ctx {
            session_id: session,
            ids,
            zxid: self.tree.last_zxid() + 1,
            time: now.wall_ms,
            extended_types: self.config.extended_types,
        }
    }

    fn ids(&self, conn: ConnId) -> Vec<Id> {
        self.conns
            .get(&conn)
            .map(|c| c.ids.clone())
            .unwrap_or_default()
    }

    fn dispatch(&mut self, conn: ConnId, session: i64, xid: i32, request: Request, now: Now) {
        match request {
            Request::Ping => {
                let frame = header_frame(PING_XID, self.tree.last_zxid(), 0);
                self.send(conn, frame);
            }
            Request::Auth(packet) => self.auth(conn, xid, packet),
            // No SASL is configured: Apache then answers with an empty token and keeps the
            // connection open.
            Request::Sasl(_) => {
                // No SASL is configured: Apache then answers (zxid 0, like auth) with an
                // empty token and keeps the connection open.
                let mut buf = BytesMut::with_capacity(24);
                write_frame(&mut buf, |b| {
                    ReplyHeader {
                        xid,
                        zxid: 0,
                        err: 0,
                    }
                    .encode(b);
                    SaslPacket { token: None }.encode(b);
                });
                self.send(conn, buf.freeze());
            }
            Request::CloseSession => {
                self.end_session(session, xid, now);
                self.reply(conn, xid, ErrorCode::Ok, None);
                self.close(conn);
                tracing::info!(
                    session_id = format_args!("{session:#x}"),
                    "session closed by client"
                );
            }
            Request::Create(r) => self.write(conn, session, xid, now, Shape::Create, |v, c| {
                prep::create(v, c, OpCode::Create, &r, None)
            }),
            Request::Create2(r) => self.write(conn, session, xid, now, Shape::Create2, |v, c| {
                prep::create(v, c, OpCode::Create2, &r, None)
            }),
            Request::CreateContainer(r) => {
                self.write(conn, session, xid, now, Shape::Create2, |v, c| {
                    prep::create(v, c, OpCode::CreateContainer, &r, None)
                })
            }
            Request::CreateTtl(r) => {
                let req = CreateRequest {
                    path: r.path,
                    data: r.data,
                    acl: r.acl,
                    flags: r.flags,
                };
                self.write(conn, session, xid, now, Shape::Create2, |v, c| {
                    prep::create(v, c, OpCode::CreateTtl, &req, Some(r.ttl))
                })
            }
            Request::Delete(r) => self.write(conn, session, xid, now, Shape::Empty, |v, c| {
                prep::delete(v, c, &r)
            }),
            // Apache answers every client-sent deleteContainer with BADARGUMENTS (its
            // ContainerManager submits them internally); containers are cleaned up by
            // `tick` here.
            Request::DeleteContainer(_) => {
                self.write(conn, session, xid, now, Shape::Empty, |_, _| {
                    Err(ErrorCode::BadArguments)
                })
            }
            Request::SetData(r) => self.write(conn, session, xid, now, Shape::Stat, |v, c| {
                prep::set_data(v, c, &r)
            }),
            Request::SetAcl(r) => self.write(conn, session, xid, now, Shape::Stat, |v, c| {
                prep::set_acl(v, c, &r)
            }),
            Request::Multi(m) => self.multi(conn, session, xid, now, m),
            Request::MultiRead(m) => self.multi_read(conn, xid, m),
            Request::Reconfig(_) => {
                // reconfigEnabled is false, as Apache's default.
                let err = ErrorCode::ReconfigDisabled;
                self.commit_txn(session, xid, now, Txn::Error { err: err.code() });
                self.reply(conn, xid, err, None);
            }
            Request::Check(_) => unreachable!("refused before decoding"),
            other => self.read(conn, session, xid, other),
        }
    }

    fn auth(&mut self, conn: ConnId, xid: i32, packet: AuthPacket) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let remote = c.remote.ip();
        let Some(auth) = packet.auth.as_deref() else {
            // A null credential fails every provider.
            self.reply_auth_failed(conn, xid);
            return;
        };
        match acl::authenticate(
            &packet.scheme,
            auth,
            remote,
            self.config.super_digest.as_deref(),
        ) {
            Some(new_ids) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    for id in new_ids {
                        if !c.ids.contains(&id) {
                            c.ids.push(id);
                        }
                    }
                }
                self.send(conn, header_frame(xid, 0, 0));
            }
            None => {
                tracing::info!(conn, scheme = %packet.scheme, "auth failed; closing");
                self.reply_auth_failed(conn, xid);
            }
        }
    }

    fn reply_auth_failed(&mut self, conn: ConnId, xid: i32) {
        self.send(conn, header_frame(xid, 0, ErrorCode::AuthFailed.code()));
        self.close(conn);
    }

    /// Allocates the next zxid, preps with it, commits the txn (an error txn on failure:
    /// failed writes consume a zxid too) and replies.
    fn write(
        &mut self,
        conn: ConnId,
        session: i64,
        xid: i32,
        now: Now,
        shape: Shape,
        prep: impl FnOnce(&mut View, &Ctx) -> Result<(Txn, Done), ErrorCode>,
    ) {
        let ids = self.ids(conn);
        let ctx = self.ctx(session, &ids, now);
        let result = prep(&mut View::new(&self.tree), &ctx);
        match result {
            Ok((txn, done)) => {
                self.commit_txn(session, xid, now, txn);
                let body = match (shape, done) {
                    (Shape::Create, Done::Create(path, _)) => {
                        Some(Response::Create(CreateResponse { path }))
                    }
                    (Shape::Create2, Done::Create(path, stat)) => {
                        Some(Response::Create2(Create2Response { path, stat }))
                    }
                    (Shape::Stat, Done::SetData(stat) | Done::SetAcl(stat)) => {
                        Some(Response::Stat(stat))
                    }
                    _ => None,
                };
                self.reply(conn, xid, ErrorCode::Ok, body.as_ref());
            }
            Err(err) => {
                self.commit_txn(session, xid, now, Txn::Error { err: err.code() });
                self.reply(conn, xid, err, None);
            }
        }
    }

    fn multi(
        &mut self,
        conn: ConnId,
        session: i64,
        xid: i32,
        now: Now,
        request: zk_proto::MultiRequest,
    ) {
        if matches!(request.kind(), MultiKind::Read | MultiKind::Mixed) {
            let err = ErrorCode::MarshallingError;
            self.commit_txn(session, xid, now, Txn::Error { err: err.code() });
            self.reply(conn, xid, err, None);
            return;
        }
        let ids = self.ids(conn);
        let ctx = self.ctx(session, &ids, now);
        let (txn, results) = prep::multi(&self.tree, &ctx, &request.ops);
        self.commit_txn(session, xid, now, txn);
        self.reply(
            conn,
            xid,
            ErrorCode::Ok,
            Some(&Response::Multi(MultiResponse { results })),
        );
    }

    /// Commits a txn: assigns it the next zxid, applies it to the tree and notifies the
    /// watchers of what it changed (before any reply that follows).
    pub(crate) fn commit_txn(&mut self, session: i64, cxid: i32, now: Now, txn: Txn) {
        let header = TxnHeader {
            session_id: session,
            cxid,
            zxid: self.tree.last_zxid() + 1,
            time: now.wall_ms,
        };
        if self.config.durable {
            crate::persist::encode_record(&mut self.records, &header, &txn);
            self.txns_since_snapshot += 1;
        }
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        if let Err(e) = self.tree.apply(&header, &txn, &mut events) {
            // Prep checked everything apply relies on; reaching this is a bug, not input.
            tracing::error!(error = %e, "txn failed to apply");
        }
        for (event_type, path, node_acl) in events.drain(..) {
            self.notify(event_type, &path, &node_acl);
        }
        self.events = events;
    }

    fn notify(&mut self, event_type: EventType, path: &str, node_acl: &[zk_proto::Acl]) {
        let none = HashSet::new();
        let conns = match event_type {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                self.watches.trigger(Table::Data, event_type, path, &none)
            }
            EventType::NodeChildrenChanged => {
                self.watches.trigger(Table::Child, event_type, path, &none)
            }
            EventType::NodeDeleted => {
                let mut first = self.watches.trigger(Table::Data, event_type, path, &none);
                let already: HashSet<ConnId> = first.iter().copied().collect();
                first.extend(
                    self.watches
                        .trigger(Table::Child, event_type, path, &already),
                );
                first
            }
            _ => Vec::new(),
        };
        if conns.is_empty() {
            return;
        }
        let frame = notification(event_type, path);
        for conn in conns {
            // Watchers that may not read the node are not told (ZOOKEEPER-4799).
            let allowed = self
                .conns
                .get(&conn)
                .is_some_and(|c| acl::check(node_acl, &c.ids, perms::READ));
            if allowed {
                self.send(conn, frame.clone());
            }
        }
    }

    /// Ends a session: one closeSession txn deletes its ephemerals and fires their
    /// watches; its connection (if any) is closed by the caller.
    fn end_session(&mut self, session: i64, cxid: i32, now: Now) {
        self.tracker.remove(session);
        self.commit_txn(session, cxid, now, Txn::CloseSession);
        if let Some(conn) = self.session_conn.remove(&session) {
            self.watches.remove_connection(conn);
        }
    }

    /// Expires a session now (test harness); false if it is not alive.
    pub fn expire_session(&mut self, session: i64, now: Now) -> bool {
        if !self.tree.sessions().contains_key(&session) {
            return false;
        }
        self.expire(session, now);
        true
    }

    fn expire(&mut self, session: i64, now: Now) {
        tracing::info!(session_id = format_args!("{session:#x}"), "session expired");
        self.stats.sessions_expired += 1;
        let conn = self.session_conn.get(&session).copied();
        self.end_session(session, 0, now);
        if let Some(conn) = conn {
            self.close(conn);
        }
    }

    /// Time-driven work: expires sessions whose clients went quiet, deletes empty
    /// containers and expired TTL nodes.
    pub fn tick(&mut self, now: Now) {
        self.next_tick = now.mono + self.config.tick_time / 2;
        for session in self.tracker.expired(now.mono) {
            self.expire(session, now);
        }
        if now.mono >= self.next_container_check {
            self.next_container_check = now.mono + self.config.container_check_interval;
            self.clean_containers(now);
        }
    }

    fn clean_containers(&mut self, now: Now) {
        let mut doomed = Vec::new();
        for path in self.tree.containers() {
            if let Some(n) = self.tree.get(path) {
                if n.children.is_empty() && n.stat.cversion > 0 {
                    doomed.push(path.clone());
                }
            }
        }
        for path in self.tree.ttl_nodes() {
            if let Some(n) = self.tree.get(path) {
                if let NodeKind::Ttl(ttl) = n.kind() {
                    if n.children.is_empty() && now.wall_ms - n.stat.mtime > ttl {
                        doomed.push(path.clone());
                    }
                }
            }
        }
        for path in doomed {
            tracing::debug!(%path, "deleting empty container or expired TTL node");
            self.commit_txn(0, 0, now, Txn::Delete { path });
        }
    }

    /// Number of watches held for all connections.
    pub fn watch_count(&self) -> usize {
        self.watches.count()
    }
}

/// A frame holding only a reply header.
fn header_frame(xid: i32, zxid: i64, err: i32) -> Bytes {
    let mut buf = BytesMut::with_capacity(20);
    write_frame(&mut buf, |b| ReplyHeader { xid, zxid, err }.encode(b));
    buf.freeze()
}

/// A notification frame: `ReplyHeader{-1, -1, 0}` + `WatcherEvent` (3.8 sends zxid -1).
pub(crate) fn notification(event_type: EventType, path: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(32 + path.len());
    write_frame(&mut buf, |b| {
        ReplyHeader {
            xid: -1,
            zxid: -1,
            err: 0,
        }
        .encode(b);
        WatcherEvent {
            event_type: event_type as i32,
            state: keeper_state::SYNC_CONNECTED,
            path: path.to_owned(),
        }
        .encode(b);
    });
    buf.freeze()
}

/// Short operation names for `cons` (Apache's `Request.op2String`).
pub(crate) fn op_name(op: OpCode) -> &'static str {
    use OpCode::*;
    match op {
        Create => "CREA",
        Create2 => "CREA",
        CreateContainer => "CREC",
        CreateTtl => "CRET",
        Delete => "DELE",
        DeleteContainer => "DELC",
        Exists => "EXIS",
        GetData => "GETD",
        SetData => "SETD",
        GetAcl => "GETA",
        SetAcl => "SETA",
        GetChildren => "GETC",
        GetChildren2 => "GETC",
        Sync => "SYNC",
        Ping => "PING",
        Check => "CHEC",
        Multi => "MULT",
        MultiRead => "MLTR",
        Reconfig => "RECO",
        CheckWatches => "CHKW",
        RemoveWatches => "REMW",
        Auth => "AUTH",
        SetWatches | SetWatches2 => "SETW",
        Sasl => "SASL",
        GetEphemerals => "GETE",
        GetAllChildrenNumber => "GETN",
        AddWatch => "ADDW",
        WhoAmI => "WHOA",
        CloseSession => "CLOS",
        _ => "UNKN",
    }
}

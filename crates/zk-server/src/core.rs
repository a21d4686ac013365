//! The server's protocol core: connections, sessions, request dispatch, watch delivery
//! and time-driven work (session expiry, container and TTL clean-up), with no sockets
//! and no clock of its own. One core serves clients on one server, standalone or as a
//! member of an ensemble.
//!
//! Inputs: [`ServerCore::accept`], [`ServerCore::receive`] (one client frame),
//! [`ServerCore::disconnected`], [`ServerCore::tick`], and [`ServerCore::commit`] for each
//! committed txn. Outputs, polled after any input: [`ServerCore::poll_output`] (frames to
//! send to a connection and connections to close, in the order they must happen) and
//! [`ServerCore::poll_replicate`] (what must reach the rest of the ensemble). The tokio
//! shell (the private `net` module) owns the client sockets; the standalone durability
//! loop or [`crate::zab`] owns the commit.
//!
//! # Request pipeline (Apache's, see `pipeline`)
//! The tree holds *committed* state only. A write is prepared by [`crate::prep`] against
//! the tree plus every change prepared before it ([`crate::outstanding`]), which fixes
//! its zxid, time and every other choice; the txn is then proposed and, once committed,
//! applied with [`DataTree::apply`] on every member. The member holding the client's
//! connection answers it from the applied result, after the watch notifications the txn
//! triggered. Each session's requests are answered in order: a read waits behind the
//! session's earlier writes, and is answered from the tree at once otherwise.
//!
//! How a txn commits depends on the [`Role`]: standalone in memory at once; standalone
//! durable once fsync'd ([`ServerCore::take_records`], [`ServerCore::durable`]); in an
//! ensemble once a quorum logged it (the leader prepares; followers forward their
//! clients' writes to it). No client sees a change before it is committed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use zk_proto::event::keeper_state;
use zk_proto::frame::write_frame;
use zk_proto::header::PING_XID;
use zk_proto::ops::*;
use zk_proto::{
    perms, Decode, Encode, ErrorCode, EventType, Id, OpCode, ReplyHeader, Request, RequestHeader,
    Response, WatcherEvent,
};

use crate::acl;
use crate::outstanding::Outstanding;
use crate::pipeline::Waiting;
use crate::sessions::{initial_session_id, SessionTracker};
use crate::tree::{Applied, DataTree, TreeSnapshot};
use crate::txn::{Txn, TxnHeader};
use crate::watches::{ConnId, Table, WatchManager};
use zk_proto::sasl::ServerStep;

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
    /// Whether a standalone server's txns are journaled (see [`ServerCore::take_records`]).
    pub durable: bool,
    /// Txns between snapshots (Apache's `snapCount`).
    pub snap_count: u64,
    /// Whether `x509` ACLs are accepted (Apache registers the scheme's provider with
    /// `authProvider.x509`; zk-server whenever it serves TLS).
    pub x509_acls: bool,
    /// The certificate subject that is also granted `super`
    /// (`zookeeper.X509AuthenticationProvider.superUser`).
    pub x509_super_user: Option<String>,
    /// SASL DIGEST-MD5 users (Apache: a JAAS `Server` section); `None` answers every
    /// `sasl` request with an empty token, as Apache without SASL does.
    pub sasl: Option<crate::sasl::SaslSettings>,
    /// Whether `sasl` ACLs are accepted (Apache: `authProvider.N=…SASLAuthenticationProvider`).
    pub sasl_acls: bool,
    /// Schemes one of which a connection must have authenticated with before any request
    /// other than `auth` and `sasl` (Apache's `enforce.auth.schemes` with
    /// `enforce.auth.enabled`, or `sasl` for `sessionRequireClientSASLAuth`); empty = off.
    pub enforce_auth_schemes: Vec<String>,
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
            x509_acls: false,
            x509_super_user: None,
            sasl: None,
            sasl_acls: false,
            enforce_auth_schemes: Vec::new(),
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

/// Something the shell must do for a client connection.
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

/// What this server does for its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Alone: prepares and commits its own writes.
    Standalone,
    /// An ensemble's leader: prepares every write and proposes it.
    Leader,
    /// An ensemble's follower: forwards writes to the leader, serves reads.
    Follower,
    /// Electing or synchronising: client connects are closed, four-letter words say so.
    NotServing,
}

/// A client request a follower hands to its leader (Apache's `REQUEST` packet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// The session.
    pub session: i64,
    /// The request's xid.
    pub cxid: i32,
    /// The opcode (createSession and closeSession included).
    pub opcode: i32,
    /// The request body as the client sent it (for createSession: the timeout).
    pub body: Bytes,
    /// The connection's authenticated ids, which the leader checks ACLs against.
    pub ids: Vec<Id>,
}

/// What must reach the rest of the ensemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replicate {
    /// Leader: a prepared txn to propose.
    Propose {
        /// Its header (zxid, session, cxid, time).
        header: TxnHeader,
        /// The change.
        txn: Txn,
    },
    /// Follower: a client write (or sync, createSession, closeSession) for the leader.
    Forward(Forwarded),
    /// Follower: a client re-attaching a session here; the leader must confirm it and
    /// make this member its owner.
    Revalidate {
        /// The session.
        session: i64,
        /// The timeout the client negotiated.
        timeout: i32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnState {
    AwaitingConnect,
    /// The session is being created or revalidated; frames wait in `early`.
    Connecting {
        session: i64,
    },
    Active {
        session: i64,
    },
    /// A closeSession was received: nothing more is read.
    Closing,
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
    /// Requests not yet answered, with their arrival times.
    pub arrivals: crate::latency::Arrivals,
    /// This connection's request latency.
    pub latency: crate::latency::Latency,
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub remote: SocketAddr,
    pub(crate) state: ConnState,
    pub ids: Vec<Id>,
    pub(crate) old_client: bool,
    pub stats: ConnStats,
    /// Frames received while the session is being established, replayed after.
    pub(crate) early: VecDeque<Bytes>,
    /// The SASL exchange, from the connection's first `sasl` request on.
    pub(crate) sasl: Option<Box<crate::sasl::Exchange>>,
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
    /// Request latency, arrival to reply.
    pub latency: crate::latency::Latency,
}

/// A connect waiting for its session to be created or revalidated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingConnect {
    pub conn: ConnId,
    pub timeout_ms: i32,
}

/// The protocol core.
#[derive(Debug)]
pub struct ServerCore {
    pub(crate) config: CoreConfig,
    pub(crate) tree: DataTree,
    pub(crate) tracker: SessionTracker,
    pub(crate) watches: WatchManager,
    pub(crate) conns: HashMap<ConnId, Conn>,
    pub(crate) session_conn: HashMap<i64, ConnId>,
    outputs: VecDeque<Output>,
    pub(crate) applied: Applied,
    pub(crate) next_container_check: Instant,
    pub(crate) stats: ServerStats,
    pub(crate) started: Instant,
    /// The time of the input being handled (replies are timed against it).
    pub(crate) clock: Instant,
    pub(crate) role: Role,
    /// Prepared, not yet committed changes (leader and standalone).
    pub(crate) outstanding: Outstanding,
    /// The zxid the next prepared txn gets (leader and standalone).
    pub(crate) next_zxid: i64,
    /// Per session, what its connection waits for, in request order.
    pub(crate) queues: HashMap<i64, VecDeque<Waiting>>,
    /// Connects waiting for their session, by session id.
    pub(crate) connecting: HashMap<i64, PendingConnect>,
    pub(crate) replicate: VecDeque<Replicate>,
    /// Follower: sessions its clients touched since the last ping to the leader.
    pub(crate) touched: HashMap<i64, i32>,
    /// Standalone durable: log records of prepared txns not yet handed out.
    pub(crate) records: BytesMut,
    /// Standalone durable: prepared txns waiting for their fsync.
    pub(crate) prepared: VecDeque<(TxnHeader, Txn)>,
    /// Standalone durable: how many records `records` holds.
    pub(crate) unjournaled: usize,
    txns_since_snapshot: u64,
    /// Ensemble status for four-letter words.
    pub(crate) quorum: Option<crate::fourlw::QuorumStatus>,
}

impl ServerCore {
    /// A standalone core serving `tree` (fresh, or recovered from disk). Sessions recorded
    /// in the tree are tracked again from `now`, so their clients can re-attach within
    /// their timeout.
    pub fn new(config: CoreConfig, tree: DataTree, now: Now) -> Self {
        let tracker = SessionTracker::new(
            config.tick_time,
            initial_session_id(config.server_id, now.wall_ms),
            now.mono,
        );
        let mut core = Self {
            next_container_check: now.mono + config.container_check_interval,
            next_zxid: tree.last_zxid() + 1,
            config,
            tree,
            tracker,
            watches: WatchManager::default(),
            conns: HashMap::new(),
            session_conn: HashMap::new(),
            outputs: VecDeque::new(),
            applied: Applied::default(),
            stats: ServerStats::default(),
            started: now.mono,
            clock: now.mono,
            role: Role::Standalone,
            outstanding: Outstanding::default(),
            queues: HashMap::new(),
            connecting: HashMap::new(),
            replicate: VecDeque::new(),
            touched: HashMap::new(),
            records: BytesMut::new(),
            prepared: VecDeque::new(),
            unjournaled: 0,
            txns_since_snapshot: 0,
            quorum: None,
        };
        core.track_all_sessions(now);
        core
    }

    /// Tracks every session the tree knows, each with a fresh full timeout (a restarted
    /// server or a new leader, as Apache).
    fn track_all_sessions(&mut self, now: Now) {
        self.tracker.clear();
        let sessions: Vec<(i64, i32)> =
            self.tree.sessions().iter().map(|(&i, &t)| (i, t)).collect();
        for (id, timeout) in sessions {
            self.tracker.add(
                id,
                Duration::from_millis(timeout.max(0) as u64),
                now.mono,
                0,
            );
        }
    }

    /// What this server does for its clients now.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The zxid clients are told: the last applied one, or — on a leader whose epoch has
    /// no txn yet — `epoch << 32`, as Apache's leader reports after its NEWLEADER.
    pub fn last_zxid(&self) -> i64 {
        let floor = self.quorum.as_ref().map_or(0, |q| q.zxid_floor);
        self.tree.last_zxid().max(floor)
    }

    /// What four-letter words report of the ensemble (set by the member driving this
    /// core; `None` on a standalone server).
    pub fn set_quorum_status(&mut self, status: Option<crate::fourlw::QuorumStatus>) {
        self.quorum = status;
    }

    /// Stops serving clients (an ensemble member that lost its leader or its quorum):
    /// every connection is closed, and everything waiting for a commit is dropped.
    pub fn stop_serving(&mut self) {
        self.role = Role::NotServing;
        self.close_all_connections();
        self.queues.clear();
        self.connecting.clear();
        self.outstanding.clear();
        self.replicate.clear();
        self.touched.clear();
        self.prepared.clear();
        self.records.clear();
        self.unjournaled = 0;
    }

    /// Starts serving as an ensemble's leader whose next txn gets `next_zxid`. Every
    /// session in the tree gets a fresh full timeout, as a new Apache leader gives it.
    pub fn lead(&mut self, next_zxid: i64, now: Now) {
        self.stop_serving();
        self.role = Role::Leader;
        self.next_zxid = next_zxid;
        self.track_all_sessions(now);
        self.next_container_check = now.mono + self.config.container_check_interval;
    }

    /// Starts serving as a follower: writes go to the leader, reads are local.
    pub fn follow(&mut self) {
        self.stop_serving();
        self.role = Role::Follower;
        self.tracker.clear();
    }

    /// Replaces the tree (a member that synchronised by snapshot, or reloaded from its
    /// disk). Only while not serving.
    pub fn replace_tree(&mut self, tree: DataTree) {
        debug_assert_eq!(self.role, Role::NotServing);
        self.tree = tree;
        self.next_zxid = self.tree.last_zxid() + 1;
    }

    /// The log records of txns prepared since the last call, with the first and last
    /// zxid among them (standalone durable mode). They commit once
    /// [`ServerCore::durable`] says so.
    pub fn take_records(&mut self) -> Option<(Bytes, i64, i64)> {
        if self.records.is_empty() {
            return None;
        }
        let last = self.prepared.back().map_or(0, |(h, _)| h.zxid);
        let first = last + 1 - self.unjournaled as i64;
        self.unjournaled = 0;
        Some((self.records.split().freeze(), first, last))
    }

    /// Standalone durable mode: every txn up to `zxid` is on disk; commit them.
    pub fn durable(&mut self, zxid: i64, now: Now) {
        self.clock = now.mono;
        while self.prepared.front().is_some_and(|(h, _)| h.zxid <= zxid) {
            let Some((header, txn)) = self.prepared.pop_front() else {
                break;
            };
            self.commit(header, txn, now);
        }
    }

    /// A frozen copy of the tree when `snap_count` txns were committed since the last one
    /// (standalone durable mode); writing it does not hold up the core.
    pub fn take_snapshot(&mut self) -> Option<TreeSnapshot> {
        if !self.config.durable || self.txns_since_snapshot < self.config.snap_count {
            return None;
        }
        self.txns_since_snapshot = 0;
        Some(self.tree.snapshot())
    }

    pub(crate) fn count_committed(&mut self) {
        self.txns_since_snapshot += 1;
    }

    /// The tree (read-only).
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    /// Requests received on every connection and not yet answered (`srvr`'s
    /// "Outstanding").
    pub fn outstanding_requests(&self) -> usize {
        self.conns.values().map(|c| c.stats.arrivals.len()).sum()
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

    /// The session a connection is attached to, if any.
    pub fn connection_session(&self, conn: ConnId) -> Option<i64> {
        self.conns.get(&conn).and_then(Conn::session)
    }

    /// The next thing the shell must do for a client.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next thing the ensemble must be told (see [`Replicate`]).
    pub fn poll_replicate(&mut self) -> Option<Replicate> {
        self.replicate.pop_front()
    }

    /// When [`ServerCore::tick`] must next run.
    pub fn next_deadline(&self) -> Instant {
        match self.role {
            Role::Standalone | Role::Leader => {
                let session = self
                    .tracker
                    .next_deadline()
                    .unwrap_or(self.next_container_check);
                session.min(self.next_container_check)
            }
            // Only the leader expires sessions and cleans up containers.
            Role::Follower | Role::NotServing => self.next_container_check,
        }
    }

    /// A new connection from `remote`; `proven` are ids its transport established (the
    /// `x509` id of a trusted client certificate).
    pub fn accept(&mut self, conn: ConnId, remote: SocketAddr, proven: Vec<Id>, now: Now) {
        // An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d; Java reports
        // a.b.c.d, and ip ACLs are written that way.
        let mut ids = vec![Id::new("ip", remote.ip().to_canonical().to_string())];
        for id in proven {
            // Apache's X509AuthenticationProvider: the configured super user's certificate
            // is also `super` (whoAmI lists it with an empty name, as for superDigest).
            if id.scheme == "x509" && self.config.x509_super_user.as_deref() == Some(&id.id) {
                ids.push(Id::new("super", ""));
            }
            ids.push(id);
        }
        self.conns.insert(
            conn,
            Conn {
                remote,
                state: ConnState::AwaitingConnect,
                ids,
                old_client: false,
                stats: ConnStats {
                    established_ms: now.wall_ms,
                    ..Default::default()
                },
                early: VecDeque::new(),
                sasl: None,
            },
        );
    }

    /// The connection is gone (closed by the peer, by us, or failed). Its session lives on
    /// until it expires or another connection re-attaches it.
    pub fn disconnected(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            let session = match c.state {
                ConnState::Active { session } | ConnState::Connecting { session } => Some(session),
                _ => None,
            };
            if let Some(session) = session {
                if self.session_conn.get(&session) == Some(&conn) {
                    self.session_conn.remove(&session);
                    // Nothing is left to answer; commits still apply.
                    self.queues.remove(&session);
                }
                if self
                    .connecting
                    .get(&session)
                    .is_some_and(|p| p.conn == conn)
                {
                    self.connecting.remove(&session);
                }
            }
            self.watches.remove_connection(conn);
        }
    }

    /// Closes every connection (sessions stay alive), as the test harness's "drop all".
    pub fn close_all_connections(&mut self) {
        let mut ids: Vec<ConnId> = self.conns.keys().copied().collect();
        // In connection order: outputs are deterministic (the simulation replays seeds).
        ids.sort_unstable();
        for conn in ids {
            self.close(conn);
        }
    }

    pub(crate) fn close(&mut self, conn: ConnId) {
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

    pub(crate) fn send(&mut self, conn: ConnId, frame: Bytes) {
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
            if let Some(ms) = c.stats.arrivals.answered(xid, self.clock) {
                c.stats.latency.record(ms);
                self.stats.latency.record(ms);
            }
        }
        self.send(conn, buf.freeze());
    }

    /// One frame (length prefix removed) from a connection.
    pub fn receive(&mut self, conn: ConnId, frame: Bytes, now: Now) {
        self.clock = now.mono;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.stats.received += 1;
        self.stats.packets_received += 1;
        match c.state {
            ConnState::AwaitingConnect => self.handle_connect(conn, frame, now),
            ConnState::Connecting { .. } => c.early.push_back(frame),
            ConnState::Active { session } => self.handle_request(conn, session, frame, now),
            ConnState::Closing | ConnState::Closed => {}
        }
    }

    pub(crate) fn handle_request(
        &mut self,
        conn: ConnId,
        session: i64,
        mut frame: Bytes,
        now: Now,
    ) {
        self.touch_session(session, now);
        let body_start = frame.clone();
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
            c.stats.arrivals.arrived(xid, self.clock);
        }
        if !self.enforce_authentication(conn, xid, header.opcode) {
            return;
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
        let body = frame.clone();
        debug_assert!(body_start.len() >= body.len());
        let request = match Request::decode_body(opcode, &mut frame) {
            Ok(r) => r,
            // Apache reads auth and sasl packets on the I/O thread and drops the connection when one
            // cannot be read, without a reply.
            Err(_) if opcode == OpCode::Auth || opcode == OpCode::Sasl => {
                self.stats.bad_input += 1;
                self.close(conn);
                return;
            }
            Err(e) => {
                tracing::debug!(conn, ?opcode, error = %e, "malformed request body");
                self.stats.bad_input += 1;
                if opcode.is_write() {
                    // A failed write still consumes a zxid: it goes through the pipeline.
                    self.submit_write(conn, session, xid, opcode, None, body, now);
                } else {
                    self.answer_in_order(conn, session, xid, ErrorCode::MarshallingError);
                }
                return;
            }
        };
        self.dispatch(conn, session, xid, opcode, request, body, now);
    }

    /// What prep needs to know of a write: who asks, and the zxid and time it will get.
    pub(crate) fn ctx<'a>(&self, session: i64, ids: &'a [Id], now: Now) -> crate::prep::Ctx<'a> {
        crate::prep::Ctx {
            session_id: session,
            ids,
            zxid: self.next_zxid,
            time: now.wall_ms,
            extended_types: self.config.extended_types,
            x509_acls: self.config.x509_acls,
            sasl_acls: self.config.sasl_acls,
        }
    }

    pub(crate) fn ids(&self, conn: ConnId) -> Vec<Id> {
        self.conns
            .get(&conn)
            .map(|c| c.ids.clone())
            .unwrap_or_default()
    }

    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &mut self,
        conn: ConnId,
        session: i64,
        xid: i32,
        opcode: OpCode,
        request: Request,
        body: Bytes,
        now: Now,
    ) {
        match request {
            Request::Ping => {
                let frame = header_frame(PING_XID, self.last_zxid(), 0);
                self.send(conn, frame);
            }
            Request::Auth(packet) => self.auth(conn, xid, packet),
            Request::Sasl(packet) => self.sasl(conn, xid, packet.token),
            Request::CloseSession => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    // Nothing the client sends after its close is read, as in Apache.
                    c.state = ConnState::Closing;
                }
                self.submit_write(
                    conn,
                    session,
                    xid,
                    opcode,
                    Some(Request::CloseSession),
                    body,
                    now,
                );
            }
            Request::MultiRead(m) => self.in_order(conn, session, xid, Request::MultiRead(m)),
            Request::Sync(r) if self.role == Role::Follower => {
                self.sync_via_leader(conn, session, xid, r.path, body);
            }
            request if opcode.is_write() => {
                self.submit_write(conn, session, xid, opcode, Some(request), body, now)
            }
            other => self.in_order(conn, session, xid, other),
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

    /// Apache's `AuthenticationHelper.enforceAuthentication`: with enforcement on, any
    /// request but `auth` and `sasl` from a connection without an id of an enforced
    /// scheme is answered `SessionClosedRequireSaslAuth` (zxid 0, no body) and the
    /// connection closed. Returns whether the request may proceed.
    fn enforce_authentication(&mut self, conn: ConnId, xid: i32, opcode: i32) -> bool {
        let schemes = &self.config.enforce_auth_schemes;
        if schemes.is_empty() || opcode == OpCode::Auth as i32 || opcode == OpCode::Sasl as i32 {
            return true;
        }
        let Some(c) = self.conns.get(&conn) else {
            return false;
        };
        if c.ids.iter().any(|id| schemes.contains(&id.scheme)) {
            return true;
        }
        tracing::warn!(
            conn,
            remote = %c.remote,
            ?schemes,
            "client has not authenticated with an enforced scheme; closing"
        );
        self.stats.errors += 1;
        let err = ErrorCode::SessionClosedRequireSaslAuth.code();
        self.send(conn, header_frame(xid, 0, err));
        self.close(conn);
        false
    }

    /// One `sasl` request: the connection's next DIGEST-MD5 token (see [`crate::sasl`]).
    fn sasl(&mut self, conn: ConnId, xid: i32, token: Option<Bytes>) {
        let Some(settings) = self.config.sasl.clone() else {
            // No SASL configured: Apache answers (zxid 0, like auth) with an empty token
            // and keeps the connection open.
            self.send(conn, sasl_frame(xid, ErrorCode::Ok, None));
            return;
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(token) = token else {
            // Apache's processSasl takes the length of the null token, catches the
            // NullPointerException and answers OK with a null token: nothing changes.
            self.send(conn, sasl_frame(xid, ErrorCode::Ok, None));
            return;
        };
        let exchange = c.sasl.get_or_insert_with(|| Box::new(settings.exchange()));
        match exchange.evaluate_response(&token) {
            Ok(ServerStep::Challenge(challenge)) => {
                self.send(conn, sasl_frame(xid, ErrorCode::Ok, Some(challenge)));
            }
            Ok(ServerStep::Complete {
                token,
                authorization_id,
            }) => {
                tracing::info!(conn, user = %authorization_id, "SASL authenticated");
                let mut new_ids = vec![Id::new("sasl", authorization_id.clone())];
                if settings.is_super_user(&authorization_id) {
                    new_ids.push(Id::new("super", ""));
                }
                for id in new_ids {
                    if !c.ids.contains(&id) {
                        c.ids.push(id);
                    }
                }
                self.send(conn, sasl_frame(xid, ErrorCode::Ok, Some(token)));
            }
            Err(e) => {
                let required = self.config.enforce_auth_schemes.iter().any(|s| s == "sasl");
                tracing::warn!(conn, remote = %c.remote, error = %e, "SASL authentication failed");
                if settings.allows_failed_clients() && !required {
                    // Kept, unauthenticated; Apache then answers OK with a null token.
                    self.send(conn, sasl_frame(xid, ErrorCode::Ok, None));
                    return;
                }
                let err = if required {
                    ErrorCode::SessionClosedRequireSaslAuth
                } else {
                    ErrorCode::AuthFailed
                };
                self.stats.errors += 1;
                self.send(conn, sasl_frame(xid, err, None));
                self.close(conn);
            }
        }
    }

    fn reply_auth_failed(&mut self, conn: ConnId, xid: i32) {
        self.send(conn, header_frame(xid, 0, ErrorCode::AuthFailed.code()));
        self.close(conn);
    }

    pub(crate) fn notify(&mut self, event_type: EventType, path: &str, node_acl: &[zk_proto::Acl]) {
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

    /// Number of watches held for all connections.
    pub fn watch_count(&self) -> usize {
        self.watches.count()
    }
}

/// A frame holding only a reply header.
pub(crate) fn header_frame(xid: i32, zxid: i64, err: i32) -> Bytes {
    let mut buf = BytesMut::with_capacity(20);
    write_frame(&mut buf, |b| ReplyHeader { xid, zxid, err }.encode(b));
    buf.freeze()
}

/// A `sasl` reply: zxid 0 and a token even after an error (Apache's processSasl sends a
/// `SetSASLResponse` with a null token along with AuthFailed).
fn sasl_frame(xid: i32, err: ErrorCode, token: Option<Vec<u8>>) -> Bytes {
    let mut buf = BytesMut::with_capacity(24 + token.as_ref().map_or(0, Vec::len));
    write_frame(&mut buf, |b| {
        ReplyHeader {
            xid,
            zxid: 0,
            err: err.code(),
        }
        .encode(b);
        SaslPacket {
            token: token.map(Bytes::from),
        }
        .encode(b);
    });
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

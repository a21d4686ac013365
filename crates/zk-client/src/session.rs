//! The session state machine: the whole client protocol, with no sockets and no clock.
//!
//! Owns xids, the queue of requests awaiting replies, the watch registry, the last zxid
//! seen, the credentials to replay, the negotiated timeout and the session's identity. It
//! must not touch I/O: the driver (the private `driver` module) owns the socket and the timers and
//! talks to it only through the methods below, in the shape of quinn-proto's `Connection`.
//!
//! # Inputs
//! - [`Session::submit`], [`Session::add_auth`], [`Session::close`]: application commands.
//! - [`Session::start_handshake`]: a transport to some server is open.
//! - [`Session::read_buf`] then [`Session::handle_input`]: bytes arrived.
//! - [`Session::handle_transport_lost`]: the transport failed or closed.
//! - [`Session::handle_timeout`]: the instant from [`Session::poll_timeout`] passed.
//! - [`Session::handle_read_write_found`]: while connected read-only, a probe the session
//!   asked for ([`Output::ProbeReadWrite`]) found a server that serves writes.
//!
//! # Outputs, to poll after any input, in this order
//! 1. [`Session::transmit_buf`]: bytes to write (the driver advances it by what it wrote);
//! 2. [`Session::poll_output`]: replies, watch events and state changes, in the order they
//!    must reach the application (a watch event before the reply of any later request —
//!    ZooKeeper's ordering guarantee);
//! 3. [`Session::poll_timeout`]: when to call [`Session::handle_timeout`].
//!
//! Replies are matched to requests by order (ZooKeeper answers a session's requests in
//! order), checked against the xid; pings (-2), auth (-4) and notifications (-1) have their
//! own xids.
//!
//! # SASL
//! With [`SessionConfig::sasl`], every handshake is followed by a SASL exchange (DIGEST-MD5,
//! or GSSAPI with the `kerberos` feature, named after [`Session::set_server_host`]) before
//! anything else is sent, as the Java client does (its `ClientCnxnSocket` holds back every
//! queued packet while `tunnelAuthInProgress`): `sasl` (102) requests with ordinary xids,
//! each answered by a reply of the same xid carrying the server's token. Only when the
//! server's `rspauth` verifies (DIGEST-MD5), or the server's last reply after the security
//! layer negotiation arrives without error (GSSAPI), does the session replay credentials and watches, send the
//! queued requests and report `Connected`, so an application never runs unauthenticated.
//! A refusal (the server's `AuthFailed` or `SessionClosedRequireSaslAuth`, after which it
//! closes the connection), an answer that does not verify, or a mechanism that cannot
//! start (GSSAPI without usable Kerberos credentials, or a service principal the KDC does
//! not know: nothing is sent then) ends the session in
//! [`SessionState::AuthFailed`]: no reconnect could fix credentials. Unlike Java, no
//! `SyncConnected` precedes the exchange and no pings are sent during it (a server that
//! enforces authentication refuses those from an unauthenticated connection).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use zk_proto::frame::{write_frame, FrameDecoder};
use zk_proto::header::{AUTH_XID, NOTIFICATION_XID, PING_XID};
use zk_proto::ops::{AuthPacket, SetWatches, SetWatches2, WatchesRequest};
use zk_proto::{
    ConnectRequest, ConnectResponse, Decode, Encode, ErrorCode, EventType, OpCode, ReplyHeader,
    Request, RequestHeader, Response, WatcherEvent, WatcherType,
};

use crate::chroot::Chroot;
use crate::error::Error;
use crate::rw_probe::ProbeSchedule;
use crate::sasl::SaslOptions;
use crate::state::{SessionState, WatchedEvent};
use crate::watch::{WatchKind, WatchLists, WatchRegistry, WatcherId};

/// Java's cap on the ping interval (`MAX_SEND_PING_INTERVAL`).
const MAX_PING_INTERVAL: Duration = Duration::from_secs(10);
/// Java splits SetWatches so each holds at most 128 KiB of path text.
const SET_WATCHES_BATCH: usize = 128 * 1024;

/// Settings the state machine needs.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Requested session timeout.
    pub session_timeout: Duration,
    /// How long a handshake may take before the attempt is abandoned.
    pub connect_timeout: Duration,
    /// Whether a read-only server is acceptable.
    pub read_only: bool,
    /// Largest frame accepted from or sent to the server.
    pub max_frame: usize,
    /// Client path prefix.
    pub chroot: Chroot,
    /// A session to resume: (id, password); id 0 for a new session.
    pub session: (i64, Vec<u8>),
    /// SASL credentials to authenticate with after every handshake.
    pub sasl: Option<SaslOptions>,
}

/// A watcher to register when a request's reply arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRegistration {
    /// What to watch for.
    pub kind: WatchKind,
    /// The full server path.
    pub path: String,
    /// The watcher to notify.
    pub watcher: WatcherId,
}

/// Something the application must be told, in order.
#[derive(Debug)]
pub enum Output<R> {
    /// A request finished.
    Reply(R, Result<Response, Error>),
    /// A watcher fired; `last` means it will not fire again and can be dropped.
    Watch {
        /// The watcher.
        watcher: WatcherId,
        /// The event, chroot removed.
        event: WatchedEvent,
        /// Whether this is the watcher's final event.
        last: bool,
    },
    /// A watcher was not registered (its request failed): drop it silently.
    Unwatch(WatcherId),
    /// The session state changed.
    State(SessionState),
    /// The session gave up on the current transport: close it. The session has already
    /// failed what was in flight.
    CloseTransport,
    /// Connected read-only: ask another server whether it serves writes (the `isro`
    /// four-letter word) and call [`Session::handle_read_write_found`] if one does.
    ProbeReadWrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No transport.
    Idle,
    /// ConnectRequest sent, waiting for the ConnectResponse.
    Handshaking { deadline: Instant },
    /// Session established, SASL exchange under way (see the module docs); the
    /// application's requests wait.
    Authenticating { deadline: Instant },
    /// Session established on this transport.
    Connected,
}

/// Work to do when a reply arrives, before anything later is processed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Post {
    /// removeWatches: drop the local watchers too (always, when `local`), then re-register
    /// whatever else this client still watches on the path.
    RemoveWatches {
        path: String,
        watcher_type: WatcherType,
        local: bool,
    },
}

#[derive(Debug)]
struct Pending<R> {
    xid: i32,
    opcode: OpCode,
    responder: Option<R>,
    watch: Option<WatchRegistration>,
    post: Option<Post>,
}

#[derive(Debug)]
struct Queued<R> {
    request: Request,
    responder: R,
    watch: Option<WatchRegistration>,
    post: Option<Post>,
}

/// The client protocol state machine. `R` is whatever the driver uses to complete a
/// request (a oneshot sender in the tokio driver, a plain value in tests).
#[derive(Debug)]
pub struct Session<R> {
    config: SessionConfig,
    phase: Phase,
    state: SessionState,
    session_id: i64,
    password: Vec<u8>,
    negotiated: Duration,
    last_zxid: i64,
    next_xid: i32,
    pending: VecDeque<Pending<R>>,
    queued: VecDeque<Queued<R>>,
    auths: Vec<AuthPacket>,
    /// Responders of auths added while not connected, by index in `auths`.
    auth_responders: HashMap<usize, R>,
    /// One entry per auth packet on the wire, in order; replays have no responder.
    auth_waiters: VecDeque<Option<R>>,
    closing: bool,
    /// Whether a read-write server ever accepted this session: until then, a reconnect
    /// asks for a new session (a read-only server's sessions are unknown to the quorum),
    /// as the Java client's `seenRwServerBefore`.
    seen_rw: bool,
    /// When to look for a read-write server while connected to a read-only one.
    rw_probe: ProbeSchedule,
    /// The SASL exchange under way, in [`Phase::Authenticating`].
    sasl: Option<sasl::SaslExchange>,
    /// A mechanism the driver started for the next connection's exchange, and its host.
    prepared_sasl: Option<(String, crate::sasl::SaslStart)>,
    /// The host name of the server being connected to, as the connect string gives it
    /// (GSSAPI names the service principal after it).
    server_host: String,
    watches: WatchRegistry,
    frames: FrameDecoder,
    read_buf: BytesMut,
    write_buf: BytesMut,
    outputs: VecDeque<Output<R>>,
    last_send: Instant,
    last_recv: Instant,
}

impl<R> Session<R> {
    /// A session not yet connected anywhere.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        let (session_id, password) = config.session.clone();
        Self {
            frames: FrameDecoder::new(config.max_frame),
            config,
            phase: Phase::Idle,
            state: SessionState::Connecting,
            session_id,
            password,
            negotiated: Duration::ZERO,
            last_zxid: 0,
            next_xid: 1,
            pending: VecDeque::new(),
            queued: VecDeque::new(),
            auths: Vec::new(),
            auth_responders: HashMap::new(),
            auth_waiters: VecDeque::new(),
            closing: false,
            seen_rw: session_id != 0,
            rw_probe: ProbeSchedule::default(),
            sasl: None,
            prepared_sasl: None,
            server_host: String::new(),
            watches: WatchRegistry::default(),
            read_buf: BytesMut::with_capacity(64 * 1024),
            write_buf: BytesMut::with_capacity(64 * 1024),
            outputs: VecDeque::new(),
            last_send: now,
            last_recv: now,
        }
    }

    // ----- getters -----

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The session id (0 before the first handshake).
    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// The session password.
    pub fn password(&self) -> &[u8] {
        &self.password
    }

    /// The timeout the server granted (zero before the first handshake).
    pub fn negotiated_timeout(&self) -> Duration {
        self.negotiated
    }

    /// The highest zxid seen in a reply.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// The chroot.
    pub fn chroot(&self) -> &Chroot {
        &self.config.chroot
    }

    /// Whether a transport is wanted (the session is not over).
    pub fn wants_transport(&self) -> bool {
        !self.state.is_terminal()
    }

    /// Whether the session has a live transport (handshaking or connected).
    pub fn has_transport(&self) -> bool {
        self.phase != Phase::Idle
    }

    /// Number of requests sent and awaiting replies.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    // ----- application commands -----

    /// Queues a request. It is written at once when connected, else after the next
    /// handshake; a terminal session fails it immediately.
    pub fn submit(
        &mut self,
        now: Instant,
        request: Request,
        responder: R,
        watch: Option<WatchRegistration>,
    ) {
        self.submit_with(now, request, responder, watch, None);
    }

    fn submit_with(
        &mut self,
        now: Instant,
        mut request: Request,
        responder: R,
        watch: Option<WatchRegistration>,
        post: Option<Post>,
    ) {
        if let Some(err) = self.terminal_error() {
            self.fail(responder, watch, err);
            return;
        }
        if let Some(w) = &watch {
            // A 3.6–3.8 server keeps one watch mode per (connection, path): a one-shot watch
            // would replace a persistent one there. Where a persistent watch already
            // delivers the events, the one-shot watch is kept locally only.
            if self.watches.covered_by_persistent(w.kind, &w.path) {
                clear_watch_flag(&mut request);
            }
        }
        if self.phase == Phase::Connected {
            self.send(now, request, Some(responder), watch, post);
        } else {
            self.queued.push_back(Queued {
                request,
                responder,
                watch,
                post,
            });
        }
    }

    /// removeWatches: removes this client's watches of `watcher_type` on `server_path` on
    /// the server, then locally (each removed watcher gets its removal event). With
    /// `local`, local watchers are removed whatever the server says, and at once when not
    /// connected. Fails with `NoWatcher` if no such watch is registered locally.
    pub fn remove_watches(
        &mut self,
        now: Instant,
        server_path: String,
        watcher_type: WatcherType,
        local: bool,
        responder: R,
    ) {
        if let Some(err) = self.terminal_error() {
            self.outputs.push_back(Output::Reply(responder, Err(err)));
            return;
        }
        if !self.watches.contains(&server_path, watcher_type) {
            self.outputs
                .push_back(Output::Reply(responder, Err(Error::NoWatcher)));
            return;
        }
        if local && self.phase != Phase::Connected {
            self.remove_local_watches(&server_path, watcher_type);
            self.outputs
                .push_back(Output::Reply(responder, Ok(Response::Empty)));
            return;
        }
        // 3.8 servers know only Children, Data and Any; the persistent kinds are removed
        // with Any and whatever else remains is registered again afterwards.
        let wire_type = match watcher_type {
            WatcherType::Persistent | WatcherType::PersistentRecursive => WatcherType::Any,
            t => t,
        };
        let request = Request::RemoveWatches(WatchesRequest {
            path: server_path.clone(),
            watcher_type: wire_type as i32,
        });
        let post = Post::RemoveWatches {
            path: server_path,
            watcher_type,
            local,
        };
        self.submit_with(now, request, responder, None, Some(post));
    }

    /// The application dropped a persistent watcher: forget it, and stop the server's
    /// watch when nothing else of this client needs it.
    pub fn forget_watcher(&mut self, now: Instant, watcher: WatcherId) {
        let Some((kind, path)) = self.watches.remove_watcher(watcher) else {
            return;
        };
        if !kind.is_persistent() || self.watches.has_persistent(&path) {
            return;
        }
        if self.phase == Phase::Connected {
            let request = Request::RemoveWatches(WatchesRequest {
                path: path.clone(),
                watcher_type: WatcherType::Any as i32,
            });
            self.send(now, request, None, None, None);
            self.reregister(now, &path);
        }
    }

    /// A connect attempt failed before any transport existed: like the Java client,
    /// requests waiting for a connection fail with connection loss rather than wait.
    pub fn handle_connect_failed(&mut self) {
        if self.phase == Phase::Idle && !self.state.is_terminal() {
            while let Some(q) = self.queued.pop_front() {
                self.fail(q.responder, q.watch, Error::ConnectionLoss);
            }
        }
    }

    /// Adds credentials: sent now when connected and replayed after every reconnect.
    /// `responder` completes with the server's answer (an auth failure ends the session).
    pub fn add_auth(&mut self, now: Instant, scheme: String, auth: Vec<u8>, responder: R) {
        if let Some(err) = self.terminal_error() {
            self.outputs.push_back(Output::Reply(responder, Err(err)));
            return;
        }
        let packet = AuthPacket {
            auth_type: 0,
            scheme,
            auth: Some(auth.into()),
        };
        if self.phase == Phase::Connected {
            self.write_auth(now, &packet);
            self.auth_waiters.push_back(Some(responder));
        } else {
            self.auth_responders.insert(self.auths.len(), responder);
        }
        self.auths.push(packet);
    }

    /// Ends the session: sends closeSession when connected (the reply closes it), else
    /// closes at once. `responder` completes when the session is closed.
    pub fn close(&mut self, now: Instant, responder: R) {
        if self.state.is_terminal() {
            self.outputs
                .push_back(Output::Reply(responder, Ok(Response::Empty)));
            return;
        }
        if self.phase == Phase::Connected && !self.closing {
            self.closing = true;
            self.send(now, Request::CloseSession, Some(responder), None, None);
        } else {
            self.terminate(SessionState::Closed);
            self.outputs
                .push_back(Output::Reply(responder, Ok(Response::Empty)));
        }
    }

    // ----- transport events -----

    /// Names the server the next transport goes to (its host as the connect string gives
    /// it); SASL GSSAPI asks for a ticket to `zookeeper/<host>`. Call before
    /// [`Session::start_handshake`].
    pub fn set_server_host(&mut self, host: &str) {
        host.clone_into(&mut self.server_host);
    }

    /// A transport to a server is open: writes the ConnectRequest.
    pub fn start_handshake(&mut self, now: Instant) {
        debug_assert!(self.phase == Phase::Idle);
        self.read_buf.clear();
        self.write_buf.clear();
        self.phase = Phase::Handshaking {
            deadline: later(now, self.config.connect_timeout),
        };
        let resume = self.seen_rw && !self.password.is_empty();
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: self.last_zxid,
            timeout: self
                .config
                .session_timeout
                .as_millis()
                .min(i32::MAX as u128) as i32,
            session_id: if resume { self.session_id } else { 0 },
            password: if resume {
                self.password.clone()
            } else {
                vec![0; zk_proto::connect::PASSWORD_LEN]
            },
            read_only: Some(self.config.read_only),
        };
        write_frame(&mut self.write_buf, |b| request.encode(b));
        self.last_send = now;
        self.last_recv = now;
    }

    /// Where the driver puts bytes read from the transport, before calling
    /// [`Session::handle_input`].
    pub fn read_buf(&mut self) -> &mut BytesMut {
        &mut self.read_buf
    }

    /// Processes every complete frame in the read buffer.
    pub fn handle_input(&mut self, now: Instant) {
        if self.phase == Phase::Idle {
            self.read_buf.clear();
            return;
        }
        self.last_recv = now;
        loop {
            let frame = match self.frames.decode(&mut self.read_buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "refusing frame from server; dropping connection");
                    self.drop_transport();
                    return;
                }
            };
            let ok = match self.phase {
                Phase::Handshaking { .. } => self.handle_connect_response(now, frame),
                Phase::Authenticating { .. } => self.handle_sasl_frame(now, frame),
                Phase::Connected => self.handle_frame(frame),
                Phase::Idle => return,
            };
            if !ok {
                return;
            }
        }
    }

    /// The transport closed or failed.
    pub fn handle_transport_lost(&mut self) {
        if self.phase != Phase::Idle {
            self.drop_transport();
        }
    }

    /// A server that serves writes was found while this session is connected read-only:
    /// leave the read-only server, as the Java client does. Requests in flight fail with
    /// connection loss; the driver connects to the server found next. The session is
    /// resumed there if a read-write server had accepted it before; one first made on a
    /// read-only server is local to it, so a new session is made.
    pub fn handle_read_write_found(&mut self) {
        if self.phase == Phase::Connected && self.state == SessionState::ConnectedReadOnly {
            tracing::info!(
                session_id = format_args!("{:#x}", self.session_id),
                "a read-write server is up; leaving the read-only one"
            );
            self.drop_transport();
        }
    }

    /// Time-driven work: handshake and read timeouts, pings, read-write probes.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Idle => {}
            Phase::Handshaking { deadline } => {
                if now >= deadline {
                    tracing::debug!("handshake timed out");
                    self.drop_transport();
                }
            }
            Phase::Authenticating { deadline } => {
                if now >= deadline {
                    tracing::info!("SASL exchange timed out; dropping connection");
                    self.drop_transport();
                }
            }
            Phase::Connected => {
                if now >= self.last_recv + self.read_timeout() {
                    tracing::info!(
                        session_id = format_args!("{:#x}", self.session_id),
                        "nothing heard from the server for 2/3 of the session timeout; dropping connection"
                    );
                    self.drop_transport();
                    return;
                }
                if now >= self.last_send + self.ping_interval() {
                    write_frame(&mut self.write_buf, |b| {
                        RequestHeader {
                            xid: PING_XID,
                            opcode: OpCode::Ping.code(),
                        }
                        .encode(b)
                    });
                    self.last_send = now;
                }
                if self.rw_probe.poll_due(now) {
                    self.outputs.push_back(Output::ProbeReadWrite);
                }
            }
        }
    }

    // ----- outputs -----

    /// Bytes waiting to be written. The driver writes a prefix and calls
    /// [`Buf::advance`] on it.
    pub fn transmit_buf(&mut self) -> &mut BytesMut {
        &mut self.write_buf
    }

    /// The next thing the application must be told.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output<R>> {
        self.outputs.pop_front()
    }

    /// When [`Session::handle_timeout`] must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Idle => None,
            Phase::Handshaking { deadline } | Phase::Authenticating { deadline } => Some(deadline),
            Phase::Connected => {
                let liveness = (self.last_recv + self.read_timeout())
                    .min(self.last_send + self.ping_interval());
                Some(match self.rw_probe.next_due() {
                    Some(probe) => liveness.min(probe),
                    None => liveness,
                })
            }
        }
    }

    // ----- internals -----

    fn read_timeout(&self) -> Duration {
        self.negotiated * 2 / 3
    }

    fn ping_interval(&self) -> Duration {
        (self.negotiated / 3).min(MAX_PING_INTERVAL)
    }

    fn terminal_error(&self) -> Option<Error> {
        match self.state {
            SessionState::Expired => Some(Error::SessionExpired),
            SessionState::AuthFailed => Some(Error::AuthFailed),
            SessionState::Closed => Some(Error::Closed),
            _ if self.closing => Some(Error::Closed),
            _ => None,
        }
    }

    fn fail(&mut self, responder: R, watch: Option<WatchRegistration>, err: Error) {
        if let Some(w) = watch {
            self.outputs.push_back(Output::Unwatch(w.watcher));
        }
        self.outputs.push_back(Output::Reply(responder, Err(err)));
    }

    fn take_xid(&mut self) -> i32 {
        let xid = self.next_xid;
        self.next_xid = if xid == i32::MAX { 1 } else { xid + 1 };
        xid
    }

    /// Writes a request frame and records it as pending, unless it is too large to send.
    fn send(
        &mut self,
        now: Instant,
        request: Request,
        responder: Option<R>,
        watch: Option<WatchRegistration>,
        post: Option<Post>,
    ) {
        let xid = self.take_xid();
        let opcode = request.opcode();
        let start = self.write_buf.len();
        write_frame(&mut self.write_buf, |b| {
            RequestHeader {
                xid,
                opcode: opcode.code(),
            }
            .encode(b);
            request.encode_body(b);
        });
        let len = self.write_buf.len() - start - 4;
        if len > self.config.max_frame {
            self.write_buf.truncate(start);
            let err = Error::InvalidArgument(format!(
                "request of {len} bytes exceeds the maximum frame of {} bytes",
                self.config.max_frame
            ));
            match responder {
                Some(r) => self.fail(r, watch, err),
                None => tracing::error!(%err, "internal request too large"),
            }
            return;
        }
        self.last_send = now;
        self.pending.push_back(Pending {
            xid,
            opcode,
            responder,
            watch,
            post,
        });
    }

    fn write_auth(&mut self, now: Instant, packet: &AuthPacket) {
        write_frame(&mut self.write_buf, |b| {
            RequestHeader {
                xid: AUTH_XID,
                opcode: OpCode::Auth.code(),
            }
            .encode(b);
            packet.encode(b);
        });
        self.last_send = now;
    }

    fn set_state(&mut self, state: SessionState) {
        if self.state != state {
            self.state = state;
            self.outputs.push_back(Output::State(state));
            // Persistent watchers hear about disconnects and reconnects: changes made
            // meanwhile are not replayed for them (SetWatches2 has no catch-up for
            // persistent watches), so a cache built on one must resync on reconnect.
            if matches!(
                state,
                SessionState::Disconnected
                    | SessionState::Connected
                    | SessionState::ConnectedReadOnly
            ) {
                for watcher in self.watches.persistent_watchers() {
                    self.outputs.push_back(Output::Watch {
                        watcher,
                        event: WatchedEvent::session(state),
                        last: false,
                    });
                }
            }
        }
    }

    /// Returns false when the connection was dropped and reading must stop.
    fn handle_connect_response(&mut self, now: Instant, frame: bytes::Bytes) -> bool {
        let response = match ConnectResponse::decode(&mut frame.clone()) {
            Ok(r) => r,
            Err(_) if is_read_only_refusal(&frame) => {
                tracing::warn!(
                    "read-only server cannot make a new session (it needs \
                     localSessionsEnabled=true); trying another server"
                );
                self.drop_transport();
                return false;
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    len = frame.len(),
                    frame = ?&frame[..frame.len().min(64)],
                    "malformed ConnectResponse; dropping connection"
                );
                self.drop_transport();
                return false;
            }
        };
        if response.timeout <= 0 {
            tracing::warn!(
                session_id = format_args!("{:#x}", self.session_id),
                "server reports the session expired"
            );
            self.terminate(SessionState::Expired);
            return false;
        }
        self.session_id = response.session_id;
        self.password = response.password;
        self.negotiated = Duration::from_millis(response.timeout as u64);
        let read_only = response.read_only == Some(true);
        self.seen_rw |= !read_only;
        if read_only {
            self.rw_probe.start(now);
        } else {
            self.rw_probe.reset();
        }
        tracing::info!(
            session_id = format_args!("{:#x}", self.session_id),
            timeout_ms = response.timeout,
            read_only,
            "session established"
        );
        match self.config.sasl.clone() {
            Some(sasl) => self.start_sasl(now, &sasl, read_only),
            None => {
                self.finish_establishing(now, read_only);
                true
            }
        }
    }

    /// The session is established (and authenticated, with SASL): replays what must precede
    /// the application's requests, sends those, and reports the state.
    fn finish_establishing(&mut self, now: Instant, read_only: bool) {
        self.phase = Phase::Connected;
        // Order matters: credentials, then watches, then the application's requests.
        for i in 0..self.auths.len() {
            let packet = self.auths[i].clone();
            self.write_auth(now, &packet);
            let responder = self.auth_responders.remove(&i);
            self.auth_waiters.push_back(responder);
        }
        self.restore_watches(now);
        while let Some(q) = self.queued.pop_front() {
            self.send(now, q.request, Some(q.responder), q.watch, q.post);
        }
        self.set_state(if read_only {
            SessionState::ConnectedReadOnly
        } else {
            SessionState::Connected
        });
    }

    /// Re-registers every watch after a handshake.
    fn restore_watches(&mut self, now: Instant) {
        let lists = self.watches.lists();
        self.send_set_watches(now, lists);
    }

    /// Re-registers what this client still watches on one path (after a removal that, on
    /// a 3.8 server, may have taken more than it should).
    fn reregister(&mut self, now: Instant, server_path: &str) {
        if self.phase == Phase::Connected {
            let lists = self.watches.lists_for(server_path);
            self.send_set_watches(now, lists);
        }
    }

    /// Sends SetWatches (or SetWatches2 when persistent watches exist, since pre-3.6
    /// servers do not know it) in batches that fit a frame. Persistent watches go first:
    /// a 3.8 server keeps one mode per (connection, path) and table, and a standard child
    /// watch registered after a recursive one on the same path leaves both working.
    fn send_set_watches(&mut self, now: Instant, lists: WatchLists) {
        let persistent = WatchLists {
            persistent: lists.persistent,
            recursive: lists.recursive,
            ..Default::default()
        };
        let standard = WatchLists {
            data: lists.data,
            exists: lists.exists,
            child: lists.child,
            ..Default::default()
        };
        let limit = SET_WATCHES_BATCH.min(self.config.max_frame / 2).max(1);
        for (part, v2) in [(persistent, true), (standard, false)] {
            if part.is_empty() {
                continue;
            }
            for batch in split_watch_lists(part, limit) {
                let request = if v2 {
                    Request::SetWatches2(SetWatches2 {
                        relative_zxid: self.last_zxid,
                        data_watches: batch.data,
                        exist_watches: batch.exists,
                        child_watches: batch.child,
                        persistent_watches: batch.persistent,
                        persistent_recursive_watches: batch.recursive,
                    })
                } else {
                    Request::SetWatches(SetWatches {
                        relative_zxid: self.last_zxid,
                        data_watches: batch.data,
                        exist_watches: batch.exists,
                        child_watches: batch.child,
                    })
                };
                self.send(now, request, None, None, None);
            }
        }
    }

    /// Returns false when the connection was dropped and reading must stop.
    fn handle_frame(&mut self, mut frame: bytes::Bytes) -> bool {
        let header = match ReplyHeader::decode(&mut frame) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "malformed reply header; dropping connection");
                self.drop_transport();
                return false;
            }
        };
        match header.xid {
            NOTIFICATION_XID => {
                self.handle_notification(header, frame);
                true
            }
            PING_XID => true,
            AUTH_XID => self.handle_auth_reply(header),
            _ => self.handle_reply(header, frame),
        }
    }

    fn handle_notification(&mut self, header: ReplyHeader, mut body: bytes::Bytes) {
        let event = match WatcherEvent::decode(&mut body) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "malformed notification ignored");
                return;
            }
        };
        let event_type = match EventType::from_code(event.event_type) {
            Ok(t) => t,
            Err(_) => {
                tracing::warn!(event_type = event.event_type, "unknown event type ignored");
                return;
            }
        };
        let triggered = self.watches.trigger(event_type, &event.path);
        if triggered.is_empty() {
            return;
        }
        let watched = WatchedEvent {
            event_type,
            state: self.state,
            path: self.config.chroot.to_client(&event.path),
            zxid: header.zxid,
        };
        for t in triggered {
            self.outputs.push_back(Output::Watch {
                watcher: t.watcher,
                event: watched.clone(),
                last: t.last,
            });
        }
    }

    fn handle_auth_reply(&mut self, header: ReplyHeader) -> bool {
        let responder = self.auth_waiters.pop_front().flatten();
        if header.err == ErrorCode::AuthFailed.code() {
            tracing::warn!("server rejected credentials; session is over");
            if let Some(r) = responder {
                self.outputs
                    .push_back(Output::Reply(r, Err(Error::AuthFailed)));
            }
            self.terminate(SessionState::AuthFailed);
            return false;
        }
        if let Some(r) = responder {
            let result = if header.err == 0 {
                Ok(Response::Empty)
            } else {
                Err(Error::from_code(header.err))
            };
            self.outputs.push_back(Output::Reply(r, result));
        }
        true
    }

    fn handle_reply(&mut self, header: ReplyHeader, mut body: bytes::Bytes) -> bool {
        let Some(pending) = self.pending.pop_front() else {
            tracing::warn!(
                xid = header.xid,
                "reply with no request outstanding; dropping connection"
            );
            self.drop_transport();
            return false;
        };
        if pending.xid != header.xid {
            tracing::warn!(
                expected = pending.xid,
                got = header.xid,
                "xid out of order; dropping connection"
            );
            self.pending.push_front(pending);
            self.drop_transport();
            return false;
        }
        if header.zxid > 0 {
            self.last_zxid = self.last_zxid.max(header.zxid);
        }
        let result = if header.err != 0 {
            Err(Error::from_code(header.err))
        } else {
            Response::decode_body(pending.opcode, &mut body).map_err(Error::from)
        };
        if result.is_ok() && body.has_remaining() {
            tracing::debug!(
                opcode = ?pending.opcode,
                extra = body.remaining(),
                "ignoring trailing bytes in reply"
            );
        }
        if let Some(w) = pending.watch {
            // exists leaves a watch even on a missing node; otherwise only success does.
            let registered = match (&result, w.kind) {
                (Ok(_), WatchKind::Exists) => Some(WatchKind::Data),
                (Ok(_), kind) => Some(kind),
                (Err(Error::NoNode), WatchKind::Exists) => Some(WatchKind::Exists),
                _ => None,
            };
            match registered {
                Some(kind) => self.watches.add(kind, &w.path, w.watcher),
                None => self.outputs.push_back(Output::Unwatch(w.watcher)),
            }
        }
        let mut result = result;
        if let Some(Post::RemoveWatches {
            path,
            watcher_type,
            local,
        }) = pending.post
        {
            if result.is_ok() || local {
                self.remove_local_watches(&path, watcher_type);
                self.reregister(self.last_send, &path);
                result = Ok(Response::Empty);
            }
        }
        let closed = pending.opcode == OpCode::CloseSession;
        if let Some(r) = pending.responder {
            self.outputs.push_back(Output::Reply(r, result));
        } else if let Err(e) = result {
            tracing::warn!(opcode = ?pending.opcode, error = %e, "internal request failed");
        }
        if closed {
            tracing::info!(
                session_id = format_args!("{:#x}", self.session_id),
                "session closed"
            );
            self.terminate(SessionState::Closed);
            return false;
        }
        true
    }

    /// Gives up the transport: everything in flight fails with connection loss; watches
    /// stay registered locally, to be restored on the next handshake.
    fn drop_transport(&mut self) {
        let was_connected = self.phase == Phase::Connected;
        self.phase = Phase::Idle;
        self.sasl = None;
        self.rw_probe.pause();
        self.read_buf.clear();
        self.write_buf.clear();
        self.outputs.push_back(Output::CloseTransport);
        if self.closing {
            self.terminate(SessionState::Closed);
            return;
        }
        self.fail_in_flight(Error::ConnectionLoss);
        if was_connected {
            tracing::info!(
                session_id = format_args!("{:#x}", self.session_id),
                "disconnected"
            );
            self.set_state(SessionState::Disconnected);
        }
    }

    fn fail_in_flight(&mut self, err: Error) {
        while let Some(p) = self.pending.pop_front() {
            if let Some(w) = p.watch {
                self.outputs.push_back(Output::Unwatch(w.watcher));
            }
            if let Some(r) = p.responder {
                self.outputs.push_back(Output::Reply(r, Err(err.clone())));
            }
        }
        while let Some(q) = self.queued.pop_front() {
            self.fail(q.responder, q.watch, err.clone());
        }
        while let Some(w) = self.auth_waiters.pop_front() {
            if let Some(r) = w {
                self.outputs.push_back(Output::Reply(r, Err(err.clone())));
            }
        }
    }

    /// Ends the session for good in a terminal `state`.
    fn terminate(&mut self, state: SessionState) {
        let err = match state {
            SessionState::Expired => Error::SessionExpired,
            SessionState::AuthFailed => Error::AuthFailed,
            _ => Error::Closed,
        };
        self.rw_probe.pause();
        self.sasl = None;
        if self.phase != Phase::Idle {
            self.phase = Phase::Idle;
            self.read_buf.clear();
            self.write_buf.clear();
            self.outputs.push_back(Output::CloseTransport);
        }
        self.fail_in_flight(err.clone());
        for (_, r) in std::mem::take(&mut self.auth_responders) {
            self.outputs.push_back(Output::Reply(r, Err(err.clone())));
        }
        for watcher in self.watches.drain() {
            self.outputs.push_back(Output::Watch {
                watcher,
                event: WatchedEvent::session(state),
                last: true,
            });
        }
        self.set_state(state);
    }

    /// Removes local watchers (after a successful removeWatches, or a local removal) and
    /// tells each its removal event.
    fn remove_local_watches(&mut self, server_path: &str, watcher_type: WatcherType) {
        let client_path = self.config.chroot.to_client(server_path);
        for (watcher, event_type) in self.watches.remove(server_path, watcher_type) {
            self.outputs.push_back(Output::Watch {
                watcher,
                event: WatchedEvent {
                    event_type,
                    state: self.state,
                    path: client_path.clone(),
                    zxid: -1,
                },
                last: true,
            });
        }
    }

    /// Whether a watcher of `watcher_type` is registered locally on `server_path`.
    pub fn has_local_watch(&self, server_path: &str, watcher_type: WatcherType) -> bool {
        self.watches.contains(server_path, watcher_type)
    }
}

/// `now + d`, saturating instead of overflowing on absurd durations.
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// Whether a handshake answer is Apache's refusal of a new session by a read-only server
/// without local sessions: a bare reply header (xid, zxid, err: 16 bytes) with
/// `NotReadOnly` where a ConnectResponse belongs.
fn is_read_only_refusal(frame: &[u8]) -> bool {
    const REPLY_HEADER_LEN: usize = 16;
    frame.len() == REPLY_HEADER_LEN
        && ReplyHeader::decode(&mut &frame[..])
            .is_ok_and(|h| h.err == ErrorCode::NotReadOnly.code())
}

/// Turns off the server-side watch of a read whose watch is kept locally.
fn clear_watch_flag(request: &mut Request) {
    match request {
        Request::Exists(r)
        | Request::GetData(r)
        | Request::GetChildren(r)
        | Request::GetChildren2(r) => r.watch = false,
        _ => {}
    }
}

/// Splits watch lists so each batch holds at most `limit` bytes of path text.
fn split_watch_lists(lists: WatchLists, limit: usize) -> Vec<WatchLists> {
    type Pick = fn(&mut WatchLists) -> &mut Vec<String>;
    let kinds: [(Vec<String>, Pick); 5] = [
        (lists.data, |l| &mut l.data),
        (lists.exists, |l| &mut l.exists),
        (lists.child, |l| &mut l.child),
        (lists.persistent, |l| &mut l.persistent),
        (lists.recursive, |l| &mut l.recursive),
    ];
    let mut batches = Vec::new();
    let mut current = WatchLists::default();
    let mut size = 0;
    for (paths, pick) in kinds {
        for path in paths {
            if size > 0 && size + path.len() + 4 > limit {
                batches.push(std::mem::take(&mut current));
                size = 0;
            }
            size += path.len() + 4;
            pick(&mut current).push(path);
        }
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

mod sasl;
#[cfg(test)]
mod tests;

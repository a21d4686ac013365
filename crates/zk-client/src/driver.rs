//! The tokio task that drives a [`Session`]: it owns the socket, the timers and the
//! watchers' channels, and nothing else.
//!
//! One task per client. Commands from every [`Client`](crate::Client) handle arrive on one
//! channel; the task drains all that are ready before writing, so a burst of pipelined
//! requests leaves in one `write` call. It reads with a large buffer and lets the session
//! decode every complete frame per read. It never interprets the protocol itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Buf;
use futures::future::{BoxFuture, OptionFuture};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::Instrument;
use zk_proto::{Request, Response, WatcherType};

use crate::error::Error;
use crate::hosts::HostPicker;
use crate::metrics::Counters;
use crate::rw_probe;
use crate::sasl::SaslStart;
use crate::session::{Output, Session, WatchRegistration};
use crate::state::{SessionState, WatchedEvent};
use crate::tls::{tls_error, TlsConnector};
use crate::transport::Transport;
use crate::watch::WatcherId;
use crate::watch_queue::Pushed;
use crate::watcher::Sink;

/// How many queued commands are taken per wake-up before writing.
const COMMAND_BATCH: usize = 1024;
/// Read buffer growth step.
const READ_CHUNK: usize = 64 * 1024;
/// Most bytes read per wake-up before timers and commands get a turn.
const READ_BUDGET: usize = 4 * 1024 * 1024;
/// How long a connection must last before the reconnect back-off is reset.
const STABLE_CONNECTION: Duration = Duration::from_secs(1);

/// A reply channel.
pub(crate) type ReplyTx = oneshot::Sender<Result<Response, Error>>;

/// How a finished request reaches its caller.
#[derive(Debug)]
pub(crate) enum Responder {
    /// Hand the result over.
    Reply(ReplyTx),
    /// Nobody waits (closing after every handle was dropped).
    Nobody,
}

/// A request from a client handle.
#[derive(Debug)]
pub(crate) enum Command {
    Request {
        request: Request,
        responder: Responder,
        watch: Option<(WatchRegistration, Sink)>,
    },
    AddAuth {
        scheme: String,
        auth: Vec<u8>,
        tx: ReplyTx,
    },
    /// removeWatches, with the session's local bookkeeping.
    RemoveWatches {
        server_path: String,
        watcher_type: WatcherType,
        local: bool,
        tx: ReplyTx,
    },
    Close {
        tx: ReplyTx,
    },
}

/// What the driver shares with client handles besides the channel.
#[derive(Debug)]
pub(crate) struct Shared {
    pub counters: Counters,
    /// (session id, password, negotiated timeout), updated at each handshake.
    pub identity: Mutex<(i64, Vec<u8>, Duration)>,
    /// Subscribers to every state transition (never coalesced).
    pub state_subscribers: Mutex<Vec<mpsc::UnboundedSender<SessionState>>>,
    /// When the last established connection was lost, while no other has replaced it:
    /// the server expires the session a session timeout after that.
    pub disconnected_since: Mutex<Option<Instant>>,
    /// The server of the established connection, if any.
    pub server: Mutex<Option<std::net::SocketAddr>>,
    /// Why the last TLS connection failed, until a session is established: what
    /// [`ClientBuilder::connect`](crate::ClientBuilder::connect) reports instead of a bare
    /// timeout.
    pub tls_failure: Mutex<Option<Error>>,
}

pub(crate) struct Driver {
    session: Session<Responder>,
    commands: mpsc::UnboundedReceiver<Command>,
    commands_open: bool,
    sinks: HashMap<WatcherId, Sink>,
    hosts: HostPicker,
    connect_timeout: Duration,
    state_tx: watch::Sender<SessionState>,
    shared: Arc<Shared>,
    transport_closed: bool,
    /// Whether a session was established on the current transport.
    established: bool,
    /// The session asked for a probe for a read-write server.
    probe_wanted: bool,
    /// The address of the current transport's server.
    peer: Option<std::net::SocketAddr>,
    /// Set: every connection (and read-write probe) is TLS.
    tls: Option<TlsConnector>,
    /// Callers handed a reply since commands were last taken: see `take_commands`.
    callers_woken: usize,
}

impl Driver {
    pub(crate) fn new(
        session: Session<Responder>,
        commands: mpsc::UnboundedReceiver<Command>,
        hosts: HostPicker,
        connect_timeout: Duration,
        state_tx: watch::Sender<SessionState>,
        shared: Arc<Shared>,
        tls: Option<TlsConnector>,
    ) -> Self {
        Self {
            session,
            commands,
            commands_open: true,
            sinks: HashMap::new(),
            hosts,
            connect_timeout,
            state_tx,
            shared,
            transport_closed: false,
            established: false,
            probe_wanted: false,
            peer: None,
            tls,
            callers_woken: 0,
        }
    }

    /// Runs until the session is over and every client handle is gone.
    pub(crate) async fn run(mut self) {
        while self.session.wants_transport() {
            let ((host, port), delay) = self.hosts.next_attempt();
            if !delay.is_zero() {
                tracing::debug!(?delay, "backing off before reconnecting");
                let until = Instant::now()
                    .checked_add(delay)
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
                self.idle_until(until).await;
                if !self.session.wants_transport() {
                    break;
                }
            }
            let span = tracing::info_span!("connection", server = %format_args!("{host}:{port}"));
            let sasl = self.start_sasl(&host).instrument(span.clone()).await;
            if !self.session.wants_transport() {
                break;
            }
            match self.connect(&host, port).instrument(span.clone()).await {
                Some(stream) => {
                    self.established = false;
                    let started = Instant::now();
                    if let Some(sasl) = sasl {
                        self.session.provide_sasl_start(host.clone(), sasl);
                    }
                    self.serve(stream, (host, port)).instrument(span).await;
                    self.session.discard_sasl_start();
                    // A server that accepts TCP but never completes a handshake, or drops
                    // the session right after, counts as a failure: the client must back
                    // off rather than spin against it.
                    if self.established && started.elapsed() >= STABLE_CONNECTION {
                        self.hosts.connected();
                    } else {
                        self.hosts.failed();
                    }
                }
                None => {
                    self.hosts.failed();
                    self.session.handle_connect_failed();
                }
            }
        }
        self.dispatch_outputs();
        // The session is over: answer whatever still arrives with its terminal error.
        while let Some(cmd) = self.commands.recv().await {
            self.handle_command(cmd);
            self.dispatch_outputs();
        }
    }

    /// Starts a SASL mechanism that may block on the network (GSSAPI: credentials and a
    /// service ticket from the KDC, synchronously in MIT's library) for the server `host`,
    /// on a blocking thread, so that a slow or silent KDC holds up this session only, not
    /// the runtime worker and every task on it. The library's own KDC timeouts bound it,
    /// as they bound Java's send thread; commands are taken meanwhile, so a close does not
    /// wait for the KDC. It runs before the TCP connect, so that no server waits on the KDC
    /// for a ConnectRequest; an attempt at a server that turns out to be down costs little,
    /// since the library caches the tickets it got. `None` when the session's mechanism
    /// starts without the network (it then starts inline) or the session was closed.
    async fn start_sasl(&mut self, host: &str) -> Option<SaslStart> {
        let sasl = self.session.sasl_to_prepare()?;
        let span = tracing::Span::current();
        let for_host = host.to_owned();
        let mut start =
            tokio::task::spawn_blocking(move || span.in_scope(|| sasl.start(&for_host)));
        loop {
            tokio::select! {
                joined = &mut start => return Some(match joined {
                    Ok(started) => started,
                    Err(e) => Err(format!("starting SASL failed: {e}")),
                }),
                cmd = self.commands.recv(), if self.commands_open => {
                    self.on_command(cmd);
                    self.dispatch_outputs();
                    if !self.session.wants_transport() {
                        return None;
                    }
                }
            }
        }
    }

    /// Opens a TCP connection and, with TLS, runs the handshake, all within the connect
    /// timeout, still taking commands meanwhile (they queue in the session; a close ends
    /// the attempt at once).
    async fn connect(&mut self, host: &str, port: u16) -> Option<Transport> {
        Counters::bump(&self.shared.counters.connect_attempts);
        let tls = self.tls.clone();
        let server = format!("{host}:{port}");
        let open = async move {
            let tcp = TcpStream::connect((host.to_owned(), port))
                .await
                .map_err(|e| Error::Connect(format!("{server}: {e}")))?;
            let _ = tcp.set_nodelay(true);
            tracing::debug!(peer = ?tcp.peer_addr().ok(), "tcp connected");
            match tls {
                None => Ok(Transport::plain(tcp)),
                Some(tls) => {
                    let stream = tls.handshake(host, port, tcp).await?;
                    tracing::debug!("tls handshake done");
                    Ok(Transport::tls(stream))
                }
            }
        };
        let attempt = tokio::time::timeout(self.connect_timeout, open);
        tokio::pin!(attempt);
        loop {
            tokio::select! {
                result = &mut attempt => return match result {
                    Ok(Ok(transport)) => Some(transport),
                    Ok(Err(e)) => {
                        // A TLS failure is worth a warning: unlike a server being down, it
                        // rarely heals by itself (a wrong CA, name or client certificate).
                        if matches!(e, Error::Tls { .. } | Error::TlsConfig(_)) {
                            tracing::warn!(error = %e, "TLS handshake failed");
                            if let Ok(mut failure) = self.shared.tls_failure.lock() {
                                *failure = Some(e);
                            }
                        } else {
                            tracing::debug!(error = %e, "connect failed");
                        }
                        None
                    }
                    Err(_) => {
                        tracing::debug!("connect timed out");
                        None
                    }
                },
                cmd = self.commands.recv(), if self.commands_open => {
                    self.on_command(cmd);
                    self.dispatch_outputs();
                    if !self.session.wants_transport() {
                        return None;
                    }
                }
            }
        }
    }

    /// Waits without a transport, still taking commands (they queue in the session).
    async fn idle_until(&mut self, deadline: Instant) {
        loop {
            self.dispatch_outputs();
            if !self.session.wants_transport() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                cmd = self.commands.recv(), if self.commands_open => self.on_command(cmd),
            }
        }
    }

    /// Runs one connection to `server` until the session gives it up.
    async fn serve(&mut self, mut stream: Transport, server: (String, u16)) {
        self.peer = stream.peer_addr();
        self.session.set_server_host(&server.0);
        self.session.start_handshake(Instant::now().into_std());
        self.transport_closed = false;
        self.probe_wanted = false;
        self.callers_woken = 0;
        // While connected read-only: the one probe for a read-write server under way.
        let mut probe: Option<BoxFuture<'static, Option<(String, u16)>>> = None;
        // One timer for the connection's life: the session's deadlines only move later as
        // traffic flows, so the timer is re-armed only when it fired or must fire sooner,
        // not once per request.
        let idle = Instant::now() + Duration::from_secs(3600);
        let timer = tokio::time::sleep_until(idle);
        tokio::pin!(timer);
        let mut armed = idle;
        // Set when the replies just handed out woke several callers: the driver lets them
        // run before it writes again (see `take_commands`).
        let mut gather = false;
        loop {
            // Timers first: steady incoming traffic must not starve pings.
            if let Some(due) = self.session.poll_timeout() {
                if due <= Instant::now().into_std() {
                    self.session.handle_timeout(Instant::now().into_std());
                }
            }
            self.dispatch_outputs();
            if self.transport_closed {
                return;
            }
            if std::mem::take(&mut self.probe_wanted) && probe.is_none() {
                probe = self.start_probe(&server);
            }
            if !self.flush(&mut stream, &server) {
                continue;
            }
            if std::mem::take(&mut gather) {
                // The first requests are out; the other woken callers run now, and their
                // requests leave together on the next turn.
                tokio::task::yield_now().await;
                self.drain_commands();
                continue;
            }
            let deadline = self
                .session
                .poll_timeout()
                .map(Instant::from_std)
                .unwrap_or(idle);
            if deadline < armed || timer.is_elapsed() {
                timer.as_mut().reset(deadline);
                armed = deadline;
            }
            let want_write = !self.session.transmit_buf().is_empty() || stream.wants_write();
            // Input the TLS layer holds (a read stopped by its budget) is invisible to the
            // socket's readiness; tokio happens to keep the socket ready until a read finds
            // it empty, but that is not this loop's to rely on: read it before waiting.
            if stream.has_buffered_input() {
                self.read(&mut stream, &server);
                continue;
            }
            tokio::select! {
                ready = stream.readable() => match ready {
                    Ok(()) => self.read(&mut stream, &server),
                    Err(e) => {
                        tracing::debug!(error = %e, "socket error");
                        self.session.handle_transport_lost();
                    }
                },
                cmd = self.commands.recv(), if self.commands_open => {
                    self.on_command(cmd);
                    gather = self.take_commands();
                }
                ready = stream.writable(), if want_write => {
                    if let Err(e) = ready {
                        tracing::debug!(error = %e, "socket error");
                        self.session.handle_transport_lost();
                    }
                }
                () = &mut timer => {
                    self.session.handle_timeout(Instant::now().into_std());
                }
                found = OptionFuture::from(probe.as_mut()), if probe.is_some() => {
                    probe = None;
                    if let Some(Some(server)) = found {
                        self.hosts.prefer(server);
                        self.session.handle_read_write_found();
                    }
                }
            }
        }
    }

    /// Starts asking the next other server whether it serves writes; the future yields
    /// it if it does. `None` when there is no other server to ask.
    fn start_probe(
        &mut self,
        current: &(String, u16),
    ) -> Option<BoxFuture<'static, Option<(String, u16)>>> {
        let (host, port) = self.hosts.next_probe(current)?;
        let connect_timeout = self.connect_timeout;
        let tls = self.tls.clone();
        Some(Box::pin(async move {
            rw_probe::is_read_write(&host, port, connect_timeout, tls.as_ref())
                .await
                .then_some((host, port))
        }))
    }

    /// Writes what the session has queued, as far as the socket takes it. Returns false if
    /// the transport failed.
    fn flush(&mut self, stream: &mut Transport, server: &(String, u16)) -> bool {
        loop {
            let buf = self.session.transmit_buf();
            let result = if buf.is_empty() {
                // TLS records may still wait below the session's buffer.
                stream.try_flush().map(|()| 0)
            } else {
                stream.try_write(buf).inspect(|&n| buf.advance(n))
            };
            match result {
                Ok(0) if self.session.transmit_buf().is_empty() => return true,
                Ok(0) => {}
                Ok(_) => Counters::bump(&self.shared.counters.writes),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) => {
                    self.transport_failed("write failed", &e, server);
                    return false;
                }
            }
        }
    }

    /// The connection broke with `error`; a TLS error is kept for the connect call.
    fn transport_failed(&mut self, what: &str, error: &std::io::Error, server: &(String, u16)) {
        let is_tls = error
            .get_ref()
            .is_some_and(|e| e.downcast_ref::<rustls::Error>().is_some());
        if is_tls {
            let e = tls_error(&format!("{}:{}", server.0, server.1), error);
            tracing::warn!(error = %e, "TLS connection failed after the handshake");
            if !self.established {
                if let Ok(mut failure) = self.shared.tls_failure.lock() {
                    *failure = Some(e);
                }
            }
        } else {
            tracing::debug!(error = %error, "{what}");
        }
        self.session.handle_transport_lost();
    }

    fn read(&mut self, stream: &mut Transport, server: &(String, u16)) {
        let mut got = false;
        let mut budget = READ_BUDGET;
        while budget > 0 {
            let buf = self.session.read_buf();
            buf.reserve(READ_CHUNK);
            match stream.try_read_buf(buf) {
                Ok(0) => {
                    if got {
                        self.session.handle_input(Instant::now().into_std());
                    }
                    tracing::debug!("server closed the connection");
                    self.session.handle_transport_lost();
                    return;
                }
                Ok(n) => {
                    got = true;
                    budget = budget.saturating_sub(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    if got {
                        self.session.handle_input(Instant::now().into_std());
                    }
                    self.transport_failed("read failed", &e, server);
                    return;
                }
            }
        }
        if got {
            self.session.handle_input(Instant::now().into_std());
        }
    }

    /// Takes the commands queued behind the one that woke the driver, and says whether
    /// more are about to follow: whether the replies handed out since the last call woke
    /// several callers.
    ///
    /// tokio runs a task woken by the running one next (its LIFO slot), so the first of
    /// those callers to send its next request wakes the driver before the others have
    /// run. What the driver holds then is written at once, so the server starts on it
    /// while the rest run; the driver then yields once and writes what they sent with one
    /// write. Writing every request as it comes costs a system call each (on loopback the
    /// sender also pays for the receiver's network work); holding the first back until
    /// all have run leaves the server idle meanwhile, which cost 10–20 % of the
    /// throughput at 16 requests in flight (BENCHMARKS.md). With one caller woken nothing
    /// is gathered.
    fn take_commands(&mut self) -> bool {
        self.drain_commands();
        std::mem::take(&mut self.callers_woken) > 1
    }

    /// Handles up to [`COMMAND_BATCH`] queued commands without waiting.
    fn drain_commands(&mut self) {
        for _ in 0..COMMAND_BATCH {
            match self.commands.try_recv() {
                Ok(cmd) => self.handle_command(cmd),
                Err(_) => break,
            }
        }
    }

    fn on_command(&mut self, cmd: Option<Command>) {
        match cmd {
            Some(cmd) => self.handle_command(cmd),
            None => {
                // Every handle is gone: nobody can use the session any more, so end it
                // now rather than leave its ephemerals until it times out.
                self.commands_open = false;
                tracing::debug!("all client handles dropped; closing session");
                self.session
                    .close(Instant::now().into_std(), Responder::Nobody);
            }
        }
    }

    fn handle_command(&mut self, cmd: Command) {
        let now = Instant::now().into_std();
        match cmd {
            Command::Request {
                request,
                responder,
                watch,
            } => {
                let registration = watch.map(|(reg, sink)| {
                    self.sinks.insert(reg.watcher, sink);
                    reg
                });
                self.session.submit(now, request, responder, registration);
            }
            Command::AddAuth { scheme, auth, tx } => {
                self.session
                    .add_auth(now, scheme, auth, Responder::Reply(tx));
            }
            Command::RemoveWatches {
                server_path,
                watcher_type,
                local,
                tx,
            } => {
                self.session.remove_watches(
                    now,
                    server_path,
                    watcher_type,
                    local,
                    Responder::Reply(tx),
                );
            }
            Command::Close { tx } => self.session.close(now, Responder::Reply(tx)),
        }
    }

    fn dispatch_outputs(&mut self) {
        self.shared.counters.in_flight.store(
            self.session.in_flight() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::Reply(responder, result) => self.complete(responder, result),
                Output::Watch {
                    watcher,
                    event,
                    last,
                } => self.deliver(watcher, event, last),
                Output::Unwatch(watcher) => {
                    self.sinks.remove(&watcher);
                }
                Output::State(state) => self.on_state(state),
                Output::CloseTransport => self.transport_closed = true,
                Output::ProbeReadWrite => self.probe_wanted = true,
            }
        }
    }

    fn complete(&mut self, responder: Responder, result: Result<Response, Error>) {
        let counters = &self.shared.counters;
        Counters::bump(&counters.requests);
        if result.is_err() {
            Counters::bump(&counters.errors);
        }
        match responder {
            Responder::Reply(tx) => {
                if tx.send(result).is_ok() {
                    self.callers_woken += 1;
                }
            }
            Responder::Nobody => {}
        }
    }

    fn deliver(&mut self, watcher: WatcherId, event: WatchedEvent, last: bool) {
        let counters = &self.shared.counters;
        Counters::bump(&counters.watch_events);
        if last {
            match self.sinks.remove(&watcher) {
                Some(Sink::Once(tx)) => {
                    let _ = tx.send(event);
                }
                Some(Sink::Stream(tx)) => tx.push_last(event),
                None => {}
            }
        } else if let Some(Sink::Stream(tx)) = self.sinks.get(&watcher) {
            match tx.push(event) {
                Pushed::Queued => {}
                Pushed::Dropped => Counters::bump(&counters.watch_events_dropped),
                Pushed::ReceiverGone => {
                    // The application dropped the stream: stop watching for it.
                    self.sinks.remove(&watcher);
                    self.session
                        .forget_watcher(Instant::now().into_std(), watcher);
                }
            }
        }
    }

    fn on_state(&mut self, state: SessionState) {
        let counters = &self.shared.counters;
        match state {
            SessionState::Connected | SessionState::ConnectedReadOnly => {
                Counters::bump(&counters.connections);
                self.established = true;
                if let Ok(mut failure) = self.shared.tls_failure.lock() {
                    *failure = None;
                }
                if let Ok(mut since) = self.shared.disconnected_since.lock() {
                    *since = None;
                }
                if let Ok(mut server) = self.shared.server.lock() {
                    *server = self.peer;
                }
                if let Ok(mut id) = self.shared.identity.lock() {
                    *id = (
                        self.session.session_id(),
                        self.session.password().to_vec(),
                        self.session.negotiated_timeout(),
                    );
                }
            }
            SessionState::Disconnected => {
                Counters::bump(&counters.disconnects);
                if let Ok(mut server) = self.shared.server.lock() {
                    *server = None;
                }
                if let Ok(mut since) = self.shared.disconnected_since.lock() {
                    since.get_or_insert_with(Instant::now);
                }
            }
            _ => {}
        }
        self.state_tx.send_replace(state);
        if let Ok(mut subs) = self.shared.state_subscribers.lock() {
            subs.retain(|tx| tx.send(state).is_ok());
        }
    }
}

//! The tokio shell around [`ServerCore`]: a listener, one task per connection that splits
//! bytes into frames, and one task that owns the core and feeds it.
//!
//! Owns sockets, TLS handshakes on a secure port (bounded by the handshake timeout; a
//! failed one is logged and closed), framing (a frame over the maximum closes its
//! connection before anything is allocated for it), four-letter-word detection, and
//! write coalescing. Owns no protocol decision.

use std::collections::HashMap;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use zk_proto::frame::FrameDecoder;
use zk_proto::Id;

use crate::core::{Now, Output, ServerCore, ServerStats};
use crate::fourlw;
use crate::journal::{Journal, StoreEvent};
use crate::storage::StoreJob;
use crate::watches::ConnId;

/// Messages to the core task.
#[derive(Debug)]
pub(crate) enum Input {
    Accept {
        conn: ConnId,
        remote: SocketAddr,
        /// Ids the transport proved (`x509` from a trusted client certificate).
        ids: Vec<Id>,
        handle: ConnHandle,
    },
    Frame {
        conn: ConnId,
        frame: Bytes,
    },
    Closed {
        conn: ConnId,
    },
    FourLetter {
        word: String,
        reply: oneshot::Sender<String>,
    },
    ExpireSession {
        session: i64,
        reply: oneshot::Sender<bool>,
    },
    DropConnections {
        reply: oneshot::Sender<()>,
    },
    Inspect {
        reply: oneshot::Sender<Snapshot>,
    },
}

/// What a server does, as `srvr`'s `Mode:` says (plus not serving at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Alone.
    Standalone,
    /// An ensemble's established leader.
    Leader,
    /// A follower in sync with its leader.
    Follower,
    /// An ensemble member electing or synchronising: it serves no client.
    NotServing,
}

/// What the harness can read off a running server.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// What it does.
    pub mode: Mode,
    /// Its member id (ensemble members only).
    pub sid: Option<u64>,
    /// The leader it follows or is, once elected.
    pub leader: Option<u64>,
    /// The epoch of its current leader once in sync (its accepted and current epochs
    /// otherwise say the same).
    pub epoch: Option<u32>,
    /// Counters.
    pub stats: ServerStats,
    /// Live sessions.
    pub sessions: Vec<i64>,
    /// Open connections.
    pub connections: usize,
    /// Number of znodes (Apache's count).
    pub znodes: usize,
    /// Last zxid.
    pub last_zxid: i64,
    /// Watches held.
    pub watches: usize,
}

impl Snapshot {
    /// What an ensemble member looks like now.
    pub(crate) fn of_member(member: &crate::zab::member::Member) -> Snapshot {
        use crate::core::Role;
        let core = member.core();
        Snapshot {
            mode: match core.role() {
                Role::Leader => Mode::Leader,
                Role::Follower => Mode::Follower,
                Role::Standalone => Mode::Standalone,
                Role::NotServing => Mode::NotServing,
            },
            sid: Some(member.sid()),
            leader: member.leader(),
            epoch: member.serving().then(|| member.epochs().1),
            stats: core.stats().clone(),
            sessions: core.session_ids(),
            connections: core.connection_count(),
            znodes: core.tree().node_count(),
            last_zxid: core.last_zxid(),
            watches: core.watch_count(),
        }
    }
}

/// Messages to a connection's writer.
#[derive(Debug)]
pub(crate) enum ConnMsg {
    Frame(Bytes),
    Close,
}

/// Bytes queued for one connection beyond which it is closed: a client that does not
/// read its replies must not make the server's memory grow without bound.
const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// What the core task holds for each connection.
#[derive(Debug)]
pub(crate) struct ConnHandle {
    tx: mpsc::UnboundedSender<ConnMsg>,
    queued: Arc<AtomicUsize>,
    writer: tokio::task::AbortHandle,
}

pub(crate) type Conns = HashMap<ConnId, ConnHandle>;

/// Runs the core until `inputs` closes or `shutdown` flips.
///
/// With a journal, every batch's prepared txns are handed to the log writer; the core
/// commits them (applies, fires watches, answers) once the writer reports them durable.
pub(crate) async fn run_core(
    mut core: ServerCore,
    mut inputs: mpsc::UnboundedReceiver<Input>,
    mut shutdown: watch::Receiver<bool>,
    stop: Arc<watch::Sender<bool>>,
    failure: watch::Sender<Option<String>>,
    mut journal: Option<Journal>,
) {
    let mut conns: Conns = HashMap::new();
    loop {
        let deadline = tokio::time::Instant::from_std(core.next_deadline());
        tokio::select! {
            input = inputs.recv() => {
                let Some(input) = input else { break };
                handle(&mut core, &mut conns, input);
                // Take everything already queued before writing anything back.
                for _ in 0..4096 {
                    match inputs.try_recv() {
                        Ok(input) => handle(&mut core, &mut conns, input),
                        Err(_) => break,
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => core.tick(Now::system()),
            event = next_store_event(&mut journal) => match event {
                Some(StoreEvent::Stored { zxid, .. }) => core.durable(zxid, Now::system()),
                Some(StoreEvent::Loaded { .. }) => {}
                Some(StoreEvent::Failed(_)) | None => {
                    // Without a working log nothing can be acknowledged: stop serving (as
                    // Apache does) rather than keep clients connected to a server that
                    // can no longer answer.
                    let reason = "the transaction log writer failed; stopping".to_owned();
                    tracing::error!("{reason}");
                    failure.send_replace(Some(reason));
                    stop.send_replace(true);
                    break;
                }
            },
            _ = shutdown.changed() => break,
        }
        if let Some(journal) = &mut journal {
            if let Some((records, first, last)) = core.take_records() {
                journal.submit(StoreJob::Append {
                    records,
                    first,
                    last,
                });
            }
            if let Some(snapshot) = core.take_snapshot() {
                journal.submit(StoreJob::Snapshot(snapshot));
            }
        }
        while let Some(output) = core.poll_output() {
            dispatch(&mut core, &mut conns, output);
        }
    }
    for handle in conns.values() {
        let _ = handle.tx.send(ConnMsg::Close);
    }
}

/// The writer's next report; never without a journal.
async fn next_store_event(journal: &mut Option<Journal>) -> Option<StoreEvent> {
    match journal {
        Some(j) => j.next_event().await,
        None => std::future::pending().await,
    }
}

fn dispatch(core: &mut ServerCore, conns: &mut Conns, output: Output) {
    if let Some(conn) = deliver(conns, output) {
        core.disconnected(conn);
    }
}

/// Hands a client output to its connection's writer. Returns a connection that had to
/// be dropped because its client stopped reading (the core must forget it).
pub(crate) fn deliver(conns: &mut Conns, output: Output) -> Option<ConnId> {
    match output {
        Output::Send { conn, frame } => {
            let handle = conns.get(&conn)?;
            let queued = handle.queued.fetch_add(frame.len(), Ordering::Relaxed) + frame.len();
            if queued > MAX_QUEUED_BYTES {
                tracing::warn!(
                    conn,
                    queued,
                    "client is not reading its replies; closing its connection"
                );
                handle.writer.abort();
                conns.remove(&conn);
                return Some(conn);
            }
            let _ = handle.tx.send(ConnMsg::Frame(frame));
        }
        Output::Close { conn } => {
            if let Some(handle) = conns.remove(&conn) {
                let _ = handle.tx.send(ConnMsg::Close);
            }
        }
    }
    None
}

/// Closes every connection's writer (the server is stopping).
pub(crate) fn close_all(conns: &Conns) {
    for handle in conns.values() {
        let _ = handle.tx.send(ConnMsg::Close);
    }
}

fn handle(core: &mut ServerCore, conns: &mut Conns, input: Input) {
    let now = Now::system();
    match input {
        Input::Accept {
            conn,
            remote,
            ids,
            handle,
        } => {
            conns.insert(conn, handle);
            core.accept(conn, remote, ids, now);
        }
        Input::Frame { conn, frame } => core.receive(conn, frame, now),
        Input::Closed { conn } => {
            conns.remove(&conn);
            core.disconnected(conn);
        }
        Input::FourLetter { word, reply } => {
            let _ = reply.send(core.four_letter(&word, now));
        }
        Input::ExpireSession { session, reply } => {
            let _ = reply.send(core.expire_session(session, now));
        }
        Input::DropConnections { reply } => {
            core.close_all_connections();
            let _ = reply.send(());
        }
        Input::Inspect { reply } => {
            let _ = reply.send(Snapshot {
                mode: Mode::Standalone,
                sid: None,
                leader: None,
                epoch: None,
                stats: core.stats().clone(),
                sessions: core.session_ids(),
                connections: core.connection_count(),
                znodes: core.tree().node_count(),
                last_zxid: core.tree().last_zxid(),
                watches: core.watch_count(),
            });
        }
    }
}

/// Connections per client address (Apache's `maxClientCnxns`; 0 = unlimited).
#[derive(Debug, Default)]
struct PerIp {
    max: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// Holds one slot of a client address's connection allowance.
struct IpSlot {
    limits: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if self.max > 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            limits: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.limits.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// What a listener speaks.
#[derive(Clone)]
pub(crate) enum Security {
    /// Plain TCP (`clientPort`).
    Plain,
    /// TLS first (`secureClientPort`).
    Tls(tokio_rustls::TlsAcceptor),
}

/// What every client listener of one server shares: the connection limits per address
/// and the numbering of connections (one sequence across the plain and secure ports).
#[derive(Debug, Clone)]
pub(crate) struct Listening {
    max_frame: usize,
    handshake_timeout: Duration,
    limits: Arc<PerIp>,
    next_conn: Arc<AtomicU64>,
    /// TLS handshakes that failed or stalled, for [`crate::ServerHandle`]'s counter.
    pub(crate) tls_failures: Arc<AtomicU64>,
}

impl Listening {
    pub(crate) fn new(max_frame: usize, max_per_ip: usize, handshake_timeout: Duration) -> Self {
        Self {
            max_frame,
            handshake_timeout,
            limits: Arc::new(PerIp {
                max: max_per_ip,
                counts: Mutex::default(),
            }),
            next_conn: Arc::new(AtomicU64::new(1)),
            tls_failures: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// Accepts connections until `shutdown` flips.
pub(crate) async fn accept_loop<E: From<Input> + Send + 'static>(
    listener: TcpListener,
    security: Security,
    core: mpsc::UnboundedSender<E>,
    listening: Listening,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let Some(slot) = listening.limits.take(remote.ip()) else {
                        tracing::warn!(%remote, max = listening.limits.max, "too many connections from one address; closing");
                        continue;
                    };
                    let conn = listening.next_conn.fetch_add(1, Ordering::Relaxed);
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(
                        stream,
                        remote,
                        conn,
                        security.clone(),
                        core.clone(),
                        listening.clone(),
                        shutdown.clone(),
                        slot,
                    ));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// A stream that splits into halves a reader and a writer task can own.
trait Split: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    type Read: AsyncRead + Unpin + Send + 'static;
    type Write: AsyncWrite + Unpin + Send + 'static;
    fn split(self) -> (Self::Read, Self::Write);
}

impl Split for TcpStream {
    type Read = tokio::net::tcp::OwnedReadHalf;
    type Write = tokio::net::tcp::OwnedWriteHalf;
    fn split(self) -> (Self::Read, Self::Write) {
        self.into_split()
    }
}

impl Split for tokio_rustls::server::TlsStream<TcpStream> {
    type Read = tokio::io::ReadHalf<Self>;
    type Write = tokio::io::WriteHalf<Self>;
    fn split(self) -> (Self::Read, Self::Write) {
        tokio::io::split(self)
    }
}

/// Runs a connection's TLS handshake (if its port has TLS) within the handshake timeout,
/// then serves it.
#[allow(clippy::too_many_arguments)]
async fn connection<E: From<Input>>(
    stream: TcpStream,
    remote: SocketAddr,
    conn: ConnId,
    security: Security,
    core: mpsc::UnboundedSender<E>,
    listening: Listening,
    mut shutdown: watch::Receiver<bool>,
    _slot: IpSlot,
) {
    let handshake = tokio::time::Instant::now() + listening.handshake_timeout;
    let acceptor = match security {
        Security::Plain => {
            let ids = Vec::new();
            let served = serve(
                stream, remote, conn, ids, core, &listening, handshake, shutdown,
            );
            return served.await;
        }
        Security::Tls(acceptor) => acceptor,
    };
    let tls = tokio::select! {
        done = tokio::time::timeout_at(handshake, acceptor.accept(stream)) => match done {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                listening.tls_failures.fetch_add(1, Ordering::Relaxed);
                tracing::info!(conn, %remote, error = %e, "TLS handshake failed; closing");
                return;
            }
            Err(_) => {
                listening.tls_failures.fetch_add(1, Ordering::Relaxed);
                tracing::info!(conn, %remote, "TLS handshake not done within the handshake timeout; closing");
                return;
            }
        },
        _ = shutdown.changed() => return,
    };
    let ids = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|cert| crate::tls::subject_dn(cert))
        .map(|dn| vec![Id::new("x509", dn)])
        .unwrap_or_default();
    tracing::debug!(conn, %remote, ?ids, "TLS handshake done");
    serve(
        tls, remote, conn, ids, core, &listening, handshake, shutdown,
    )
    .await;
}

/// Serves one connection: this task reads frames and hands them to the core; a writer
/// task writes what the core sends back, coalesced. The writer is separate so that a
/// client that stops reading blocks only its own writer, which the core can abort.
#[allow(clippy::too_many_arguments)]
async fn serve<S: Split, E: From<Input>>(
    mut stream: S,
    remote: SocketAddr,
    conn: ConnId,
    ids: Vec<Id>,
    core: mpsc::UnboundedSender<E>,
    listening: &Listening,
    handshake: tokio::time::Instant,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    // The first four bytes decide: a four-letter word, or the length of a ConnectRequest.
    while buf.len() < 4 {
        match tokio::time::timeout_at(handshake, stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
    if fourlw::is_known(&buf[..4]) {
        let word = String::from_utf8_lossy(&buf[..4]).into_owned();
        let (reply, answer) = oneshot::channel();
        if core.send(Input::FourLetter { word, reply }.into()).is_ok() {
            if let Ok(text) = answer.await {
                let _ = stream.write_all(text.as_bytes()).await;
            }
        }
        let _ = stream.shutdown().await;
        return;
    }

    let (mut reader, writer) = stream.split();
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let writer_task = tokio::spawn(write_loop(writer, rx, queued.clone()));
    let handle = ConnHandle {
        tx,
        queued,
        writer: writer_task.abort_handle(),
    };
    if core
        .send(
            Input::Accept {
                conn,
                remote,
                ids,
                handle,
            }
            .into(),
        )
        .is_err()
    {
        writer_task.abort();
        return;
    }
    let frames = FrameDecoder::new(listening.max_frame);
    let mut first_frame_seen = false;
    let mut writer_task = writer_task;
    'serve: loop {
        // Hand every complete frame to the core.
        loop {
            match frames.decode(&mut buf) {
                Ok(Some(frame)) => {
                    first_frame_seen = true;
                    if core.send(Input::Frame { conn, frame }.into()).is_err() {
                        break 'serve;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::info!(conn, %remote, error = %e, "refusing frame; closing connection");
                    break 'serve;
                }
            }
        }
        let deadline = if first_frame_seen {
            None
        } else {
            Some(handshake)
        };
        tokio::select! {
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => break 'serve,
                Ok(_) => {}
            },
            // The writer ends after a Close (or was aborted): the connection is over.
            _ = &mut writer_task => break 'serve,
            _ = sleep_until(deadline) => {
                tracing::info!(conn, %remote, "no complete request within the handshake timeout; closing");
                break 'serve;
            }
            _ = shutdown.changed() => break 'serve,
        }
    }
    writer_task.abort();
    let _ = core.send(Input::Closed { conn }.into());
}

/// Writes everything queued for a connection, coalescing what is ready into one write.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::UnboundedReceiver<ConnMsg>,
    queued: Arc<AtomicUsize>,
) {
    let mut out = BytesMut::with_capacity(16 * 1024);
    while let Some(first) = rx.recv().await {
        let mut close = false;
        let mut next = Some(first);
        while let Some(m) = next {
            match m {
                ConnMsg::Frame(frame) => out.extend_from_slice(&frame),
                ConnMsg::Close => {
                    close = true;
                    break;
                }
            }
            next = rx.try_recv().ok();
        }
        if !out.is_empty() {
            // TLS holds records back until flushed; for TCP the flush does nothing.
            if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
                return;
            }
            queued.fetch_sub(out.len(), Ordering::Relaxed);
            out.clear();
            if out.capacity() > 1024 * 1024 {
                out = BytesMut::with_capacity(16 * 1024);
            }
        }
        if close {
            let _ = writer.shutdown().await;
            return;
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

//! The sockets between members.
//!
//! **Election**: each member dials every other member's election port to send its votes
//! and only reads on the connections it accepts — two one-way connections per pair, so
//! no tie-break is needed over who keeps a connection (Apache's "larger sid dials"). Each
//! peer has a one-slot send queue: a newer vote replaces one not yet sent, and dialling
//! happens off the member task (an unreachable peer never blocks the election,
//! ZOOKEEPER-2164/3756). A connection opens with `b"ZKEL" | u16 version | u64 sid`.
//!
//! **Quorum links**: a learner dials its leader's quorum port; each link is a reader task
//! (frames into [`Input::Quorum`]) and a writer task (queued messages, coalesced into one
//! write; a SNAP encoded and streamed in chunks on a blocking thread, so the member task
//! never waits for it). A link whose peer stops reading is closed once 256 MiB are queued
//! for it.
//!
//! **TLS** (`sslQuorum`): every connection, on both ports, is mutual TLS before its first
//! byte is read; the handshake runs in the connection's own task, bounded by the dial
//! timeout or `HELLO_TIMEOUT`. A peer without a trusted certificate is never heard, nor
//! (with host name verification, the default) one whose certificate names another host.
//!
//! Anything unreadable — a stranger, an unknown or mismatched id, a malformed or
//! oversized frame, a failed handshake — closes that one connection with a log line; the
//! member never sees it and nothing else is affected (ZOOKEEPER-3769).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use zk_proto::frame::FrameDecoder;

use super::run::Event;
use crate::persist::{decode_snapshot, encode_snapshot};
use crate::tls::{names_peer, peer_name, PeerTls};
use crate::zab::member::{Input, LinkId};
use crate::zab::message::{Notification, QuorumMsg, Sid, SnapChunk, WireMsg, MAX_PEER_FRAME};

const ELECTION_MAGIC: &[u8; 4] = b"ZKEL";
const ELECTION_VERSION: u16 = 1;
/// An election frame is tiny; anything bigger is garbage.
const MAX_ELECTION_FRAME: usize = 1024;
/// How long a new connection may take to say who it is.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes queued on one quorum link beyond which it is closed.
const MAX_LINK_QUEUE: usize = 256 * 1024 * 1024;
/// Largest snapshot a follower accepts.
const MAX_SNAPSHOT: usize = 8 * 1024 * 1024 * 1024;
/// Size of the pieces a snapshot is streamed in.
const SNAP_CHUNK: usize = 1024 * 1024;

/// The reading half of a peer connection (TCP or TLS).
type PeerRead = Box<dyn AsyncRead + Unpin + Send>;
/// The writing half of a peer connection (TCP or TLS); written data must be flushed.
type PeerWrite = Box<dyn AsyncWrite + Unpin + Send>;

/// Where a peer listens: its host is resolved at each dial, so a peer whose name does
/// not resolve yet (DNS still coming up) is simply unreachable for now, as in Apache.
#[derive(Debug, Clone)]
pub(crate) struct PeerAddrs {
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
}

/// The latest vote for one peer, not yet sent.
#[derive(Debug, Default)]
struct Slot {
    latest: Mutex<Option<Notification>>,
    ready: Notify,
}

/// The transport of one member.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    me: Sid,
    peers: BTreeMap<Sid, PeerAddrs>,
    events: mpsc::UnboundedSender<Event>,
    slots: BTreeMap<Sid, Arc<Slot>>,
    /// Set while the member is isolated (the harness's partition): nothing goes out or
    /// comes in.
    cut: Arc<AtomicBool>,
    connect_timeout: Duration,
    next_link: AtomicU64,
    shutdown: watch::Receiver<bool>,
    tls: Option<PeerTls>,
}

/// What the member task holds for one quorum link.
#[derive(Debug)]
pub(crate) struct LinkHandle {
    tx: mpsc::UnboundedSender<LinkOut>,
    queued: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::AbortHandle>,
}

#[derive(Debug)]
enum LinkOut {
    Msg(QuorumMsg),
    Close,
}

impl LinkHandle {
    /// Queues a message; false if the link is gone or its peer stopped reading.
    pub fn send(&self, msg: QuorumMsg) -> bool {
        let size = match &msg {
            QuorumMsg::Proposal { txn, .. } => 16 + txn.approximate_size(),
            _ => 64,
        };
        if self.queued.fetch_add(size, Ordering::Relaxed) + size > MAX_LINK_QUEUE {
            tracing::warn!("a peer is not reading its quorum link; closing it");
            return false;
        }
        self.tx.send(LinkOut::Msg(msg)).is_ok()
    }

    /// Closes the link once what was queued is written.
    pub fn close(&self) {
        let _ = self.tx.send(LinkOut::Close);
    }

    /// Ends the link's tasks now.
    pub fn abort(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Transport {
    /// A transport for member `me`, sending what arrives to `events`.
    pub fn new(
        me: Sid,
        peers: BTreeMap<Sid, PeerAddrs>,
        events: mpsc::UnboundedSender<Event>,
        connect_timeout: Duration,
        cut: Arc<AtomicBool>,
        shutdown: watch::Receiver<bool>,
        tls: Option<PeerTls>,
    ) -> Transport {
        let slots = peers
            .keys()
            .filter(|&&s| s != me)
            .map(|&s| (s, Arc::new(Slot::default())))
            .collect();
        let transport = Transport {
            inner: Arc::new(Inner {
                me,
                peers,
                events,
                slots,
                cut,
                connect_timeout,
                next_link: AtomicU64::new(1),
                shutdown,
                tls,
            }),
        };
        for (&sid, slot) in &transport.inner.slots {
            tokio::spawn(election_sender(transport.clone(), sid, slot.clone()));
        }
        transport
    }

    fn cut(&self) -> bool {
        self.inner.cut.load(Ordering::Relaxed)
    }

    /// Queues a vote for `to` (replacing one not yet sent).
    pub fn elect(&self, to: Sid, n: Notification) {
        if let Some(slot) = self.inner.slots.get(&to) {
            *slot.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(n);
            slot.ready.notify_one();
        }
    }

    /// Dials `to`'s quorum port as link `link`: the member task gets
    /// [`Event::LinkOpened`] or [`Input::LinkDown`].
    pub fn connect(&self, link: LinkId, to: Sid) {
        let this = self.clone();
        tokio::spawn(async move {
            let addr = this
                .inner
                .peers
                .get(&to)
                .map(|p| (p.host.clone(), p.quorum_port));
            let stream = match addr {
                Some((host, port)) if !this.cut() => this.dial(to, &host, port, "quorum").await,
                _ => None,
            };
            match stream {
                Some((reader, writer)) if !this.cut() => {
                    let handle = this.open_link(reader, writer, link);
                    let _ = this
                        .inner
                        .events
                        .send(Event::LinkOpened(link, handle, false));
                }
                _ => {
                    let _ = this.inner.events.send(Event::Member(Input::LinkDown(link)));
                }
            }
        });
    }

    /// Dials `peer`'s `port` and, with quorum TLS, runs the handshake; both within the
    /// dial timeout. `None` (logged) if the peer cannot be reached or is not trusted.
    async fn dial(
        &self,
        peer: Sid,
        host: &str,
        port: u16,
        which: &str,
    ) -> Option<(PeerRead, PeerWrite)> {
        let dial = async {
            let stream = TcpStream::connect((host, port)).await?;
            let _ = stream.set_nodelay(true);
            let Some(tls) = &self.inner.tls else {
                let (r, w) = stream.into_split();
                return Ok::<(PeerRead, PeerWrite), std::io::Error>((Box::new(r), Box::new(w)));
            };
            let name = peer_name(host).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{host} is not a name a certificate can carry"),
                )
            })?;
            let tls = tls.connector.connect(name, stream).await?;
            let (r, w) = tokio::io::split(tls);
            Ok((Box::new(r), Box::new(w)))
        };
        match tokio::time::timeout(self.inner.connect_timeout, dial).await {
            Ok(Ok(halves)) => Some(halves),
            Ok(Err(e)) => {
                tracing::debug!(peer, %host, port, error = %e, "cannot reach a peer's {which} port");
                None
            }
            Err(_) => {
                tracing::debug!(peer, %host, port, "timed out dialling a peer's {which} port");
                None
            }
        }
    }

    /// With quorum TLS, runs the handshake of an accepted connection (a certificate is
    /// required and, unless `ssl.quorum.hostnameVerification=false`, must name the address
    /// it comes from); `None` (logged) if it fails, stalls or names someone else.
    async fn secure(&self, stream: TcpStream, remote: SocketAddr) -> Option<(PeerRead, PeerWrite)> {
        let _ = stream.set_nodelay(true);
        let Some(tls) = &self.inner.tls else {
            let (r, w) = stream.into_split();
            return Some((Box::new(r), Box::new(w)));
        };
        match tokio::time::timeout(HELLO_TIMEOUT, tls.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => {
                if tls.verify_peer_names {
                    // A resolver that hangs counts as no: the link is not held for it.
                    let check =
                        tokio::time::timeout(HELLO_TIMEOUT, self.names_peer(&stream, remote));
                    if !check.await.unwrap_or(false) {
                        tracing::warn!(
                            %remote,
                            "a peer's quorum certificate does not name its address; closing"
                        );
                        return None;
                    }
                }
                let (r, w) = tokio::io::split(stream);
                Some((Box::new(r), Box::new(w)))
            }
            Ok(Err(e)) => {
                tracing::warn!(%remote, error = %e, "a peer failed the quorum TLS handshake; closing");
                None
            }
            Err(_) => {
                tracing::warn!(%remote, "a peer stalled in the quorum TLS handshake; closing");
                None
            }
        }
    }

    /// Whether the certificate an accepted peer presented names its address (or a member
    /// host that resolves to it): see [`names_peer`].
    async fn names_peer(
        &self,
        stream: &tokio_rustls::server::TlsStream<TcpStream>,
        remote: SocketAddr,
    ) -> bool {
        let Some(cert) = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
        else {
            return false;
        };
        let hosts: Vec<&str> = self.inner.peers.values().map(|p| p.host.as_str()).collect();
        names_peer(cert, remote.ip(), &hosts).await
    }

    /// Starts a link's reader and writer.
    fn open_link(&self, reader: PeerRead, writer: PeerWrite, link: LinkId) -> LinkHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let write = tokio::spawn(link_writer(writer, rx, queued.clone()));
        let read = tokio::spawn(link_reader(
            reader,
            link,
            self.inner.events.clone(),
            self.inner.cut.clone(),
            write.abort_handle(),
        ));
        LinkHandle {
            tx,
            queued,
            tasks: vec![write.abort_handle(), read.abort_handle()],
        }
    }

    /// Accepts learners on the quorum port until shutdown.
    pub async fn quorum_listener(self, listener: TcpListener) {
        let mut shutdown = self.inner.shutdown.clone();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, remote)) => {
                        if self.cut() {
                            continue;
                        }
                        // The handshake runs apart, so a stalled peer holds up no one.
                        let this = self.clone();
                        tokio::spawn(async move {
                            let Some((reader, writer)) = this.secure(stream, remote).await else {
                                return;
                            };
                            if this.cut() {
                                return;
                            }
                            let link = this.inner.next_link.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%remote, link, "quorum connection accepted");
                            let handle = this.open_link(reader, writer, link);
                            let _ = this.inner.events.send(Event::LinkOpened(link, handle, true));
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "quorum port accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Accepts vote connections on the election port until shutdown.
    pub async fn election_listener(self, listener: TcpListener) {
        let mut shutdown = self.inner.shutdown.clone();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, remote)) => {
                        tokio::spawn(election_receiver(self.clone(), stream, remote));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "election port accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Sends the newest vote for one peer, dialling when there is no connection. A vote that
/// cannot be sent is dropped: the election re-sends on its own timer.
async fn election_sender(transport: Transport, peer: Sid, slot: Arc<Slot>) {
    let inner = &transport.inner;
    let mut shutdown = inner.shutdown.clone();
    let mut conn: Option<PeerWrite> = None;
    loop {
        tokio::select! {
            _ = slot.ready.notified() => {}
            _ = shutdown.changed() => return,
        }
        let Some(n) = slot.latest.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            continue;
        };
        if transport.cut() {
            conn = None;
            continue;
        }
        if conn.is_none() {
            let Some((host, port)) = inner
                .peers
                .get(&peer)
                .map(|p| (p.host.clone(), p.election_port))
            else {
                return;
            };
            // Only the writing half is used: votes come back on the peer's own dial.
            let Some((_, mut s)) = transport.dial(peer, &host, port, "election").await else {
                continue;
            };
            let mut hello = BytesMut::with_capacity(14);
            hello.put_slice(ELECTION_MAGIC);
            hello.put_u16(ELECTION_VERSION);
            hello.put_u64(inner.me);
            if s.write_all(&hello).await.is_ok() {
                conn = Some(s);
            }
        }
        let mut frame = BytesMut::with_capacity(64);
        n.encode_frame(&mut frame);
        if let Some(s) = &mut conn {
            if s.write_all(&frame).await.is_err() || s.flush().await.is_err() {
                conn = None;
            }
        }
    }
}

/// Reads votes from one peer's connection.
async fn election_receiver(transport: Transport, stream: TcpStream, remote: SocketAddr) {
    let inner = &transport.inner;
    let Some((mut stream, _)) = transport.secure(stream, remote).await else {
        return;
    };
    let mut hello = [0u8; 14];
    match tokio::time::timeout(HELLO_TIMEOUT, stream.read_exact(&mut hello)).await {
        Ok(Ok(_)) => {}
        _ => {
            tracing::info!(%remote, "election connection without a hello; closing");
            return;
        }
    }
    let version = u16::from_be_bytes([hello[4], hello[5]]);
    let sid = u64::from_be_bytes([
        hello[6], hello[7], hello[8], hello[9], hello[10], hello[11], hello[12], hello[13],
    ]);
    if &hello[..4] != ELECTION_MAGIC || version != ELECTION_VERSION {
        tracing::warn!(%remote, "a stranger on the election port (bad magic or version); closing");
        return;
    }
    if sid == inner.me || !inner.peers.contains_key(&sid) {
        tracing::warn!(%remote, sid, "a peer with an unknown id on the election port; closing");
        return;
    }
    let frames = FrameDecoder::new(MAX_ELECTION_FRAME);
    let mut buf = BytesMut::with_capacity(256);
    let mut shutdown = inner.shutdown.clone();
    loop {
        loop {
            match frames.decode(&mut buf) {
                Ok(Some(frame)) => match Notification::decode_body(&frame) {
                    Ok(n) if n.sender == sid => {
                        if !transport.cut() {
                            let _ = inner.events.send(Event::Member(Input::Election(n)));
                        }
                    }
                    Ok(n) => {
                        tracing::warn!(%remote, sid, claimed = n.sender, "vote sender does not match the connection; closing");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(%remote, sid, error = %e, "malformed vote; closing");
                        return;
                    }
                },
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%remote, sid, error = %e, "bad election frame; closing");
                    return;
                }
            }
        }
        tokio::select! {
            read = stream.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// Writes one link's queue, coalescing what is ready into one write.
async fn link_writer(
    mut writer: PeerWrite,
    mut rx: mpsc::UnboundedReceiver<LinkOut>,
    queued: Arc<AtomicUsize>,
) {
    let mut out = BytesMut::with_capacity(64 * 1024);
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut close = false;
        let mut released = 0usize;
        while let Some(item) = next {
            match item {
                LinkOut::Msg(QuorumMsg::Snap { tree }) => {
                    released += 64;
                    // Flush what is before it, then stream the tree, encoded off the
                    // runtime's threads.
                    if !out.is_empty()
                        && (writer.write_all(&out).await.is_err() || writer.flush().await.is_err())
                    {
                        return;
                    }
                    out.clear();
                    let zxid = tree.last_zxid();
                    let Ok(bytes) =
                        tokio::task::spawn_blocking(move || encode_snapshot(&tree)).await
                    else {
                        return;
                    };
                    if write_snapshot(&mut writer, zxid, &bytes).await.is_err() {
                        return;
                    }
                }
                LinkOut::Msg(msg) => {
                    released += match &msg {
                        QuorumMsg::Proposal { txn, .. } => 16 + txn.approximate_size(),
                        _ => 64,
                    };
                    msg.encode_frame(&mut out);
                }
                LinkOut::Close => {
                    close = true;
                    break;
                }
            }
            if out.len() > 1024 * 1024 {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !out.is_empty() {
            // TLS holds records back until flushed; for TCP the flush does nothing.
            if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
                return;
            }
            out.clear();
            if out.capacity() > 4 * 1024 * 1024 {
                out = BytesMut::with_capacity(64 * 1024);
            }
        }
        queued.fetch_sub(
            released.min(queued.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        if close {
            let _ = writer.shutdown().await;
            return;
        }
    }
}

async fn write_snapshot(writer: &mut PeerWrite, zxid: i64, bytes: &Bytes) -> std::io::Result<()> {
    let mut offset = 0;
    loop {
        let end = (offset + SNAP_CHUNK).min(bytes.len());
        let chunk = SnapChunk {
            zxid,
            bytes: bytes.slice(offset..end),
            last: end == bytes.len(),
        };
        let mut frame = BytesMut::with_capacity(end - offset + 32);
        chunk.encode_frame(&mut frame);
        writer.write_all(&frame).await?;
        if chunk.last {
            return writer.flush().await;
        }
        offset = end;
    }
}

/// Reads one link's frames into the member; reassembles and decodes a snapshot before
/// reading on, so nothing overtakes it.
async fn link_reader(
    mut reader: PeerRead,
    link: LinkId,
    events: mpsc::UnboundedSender<Event>,
    cut: Arc<AtomicBool>,
    writer: tokio::task::AbortHandle,
) {
    let frames = FrameDecoder::new(MAX_PEER_FRAME);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut snap: Option<(i64, BytesMut)> = None;
    'read: loop {
        loop {
            let frame = match frames.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(link, error = %e, "bad quorum frame; closing the link");
                    break 'read;
                }
            };
            let msg = match WireMsg::decode_body(frame) {
                Ok(WireMsg::Msg(m)) => m,
                Ok(WireMsg::Chunk(chunk)) => {
                    let (zxid, bytes) = snap.get_or_insert_with(|| (chunk.zxid, BytesMut::new()));
                    if *zxid != chunk.zxid || bytes.len() + chunk.bytes.len() > MAX_SNAPSHOT {
                        tracing::warn!(
                            link,
                            "inconsistent or oversized snapshot stream; closing the link"
                        );
                        break 'read;
                    }
                    bytes.extend_from_slice(&chunk.bytes);
                    if !chunk.last {
                        continue;
                    }
                    let Some((_, whole)) = snap.take() else {
                        break 'read;
                    };
                    let decoded =
                        tokio::task::spawn_blocking(move || decode_snapshot(&whole)).await;
                    match decoded {
                        Ok(Ok(tree)) => QuorumMsg::Snap {
                            tree: tree.snapshot(),
                        },
                        Ok(Err(e)) => {
                            tracing::warn!(link, error = %e, "unreadable snapshot from the leader; closing the link");
                            break 'read;
                        }
                        Err(_) => break 'read,
                    }
                }
                Err(e) => {
                    tracing::warn!(link, error = %e, "malformed quorum message; closing the link");
                    break 'read;
                }
            };
            if cut.load(Ordering::Relaxed) {
                break 'read;
            }
            if events
                .send(Event::Member(Input::Quorum(link, msg)))
                .is_err()
            {
                break 'read;
            }
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    writer.abort();
    let _ = events.send(Event::Member(Input::LinkDown(link)));
}

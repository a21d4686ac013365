//! The tokio shell around [`ServerCore`]: a listener, one task per connection that splits
//! bytes into frames, and one task that owns the core and feeds it.
//!
//! Owns sockets, framing (a frame over the maximum closes its connection before anything
//! is allocated for it), four-letter-word detection, and write coalescing. Owns no
//! protocol decision.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use zk_proto::frame::FrameDecoder;

use crate::core::{Now, Output, ServerCore, ServerStats};
use crate::fourlw;
use crate::persist::Journal;
use crate::watches::ConnId;

/// Messages to the core task.
#[derive(Debug)]
pub(crate) enum Input {
    Accept {
        conn: ConnId,
        remote: SocketAddr,
        tx: mpsc::UnboundedSender<ConnMsg>,
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

/// What the harness can read off a running server.
#[derive(Debug, Clone)]
pub struct Snapshot {
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

/// Messages to a connection task.
#[derive(Debug)]
pub(crate) enum ConnMsg {
    Frame(Bytes),
    Close,
}

/// Runs the core until `inputs` closes or `shutdown` flips.
///
/// With a journal, every batch's txns are handed to the log writer, and the batch's
/// outputs are held until the writer reports them durable; outputs leave in order, so a
/// later read never overtakes an earlier write's reply.
pub(crate) async fn run_core(
    mut core: ServerCore,
    mut inputs: mpsc::UnboundedReceiver<Input>,
    mut shutdown: watch::Receiver<bool>,
    journal: Option<Journal>,
) {
    let mut conns: HashMap<ConnId, mpsc::UnboundedSender<ConnMsg>> = HashMap::new();
    let mut held: VecDeque<(i64, Output)> = VecDeque::new();
    let mut durable = journal.as_ref().map(Journal::durable);
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
            changed = wait_durable(&mut durable) => {
                if !changed {
                    tracing::error!("log writer stopped; no further replies are released");
                    durable = None;
                }
            }
            _ = shutdown.changed() => break,
        }
        if let Some(journal) = &journal {
            if let Some((records, zxid)) = core.take_records() {
                journal.append(records, zxid);
            }
            if let Some((snapshot, zxid)) = core.take_snapshot() {
                journal.snapshot(snapshot, zxid);
            }
        }
        let required = core.tree().last_zxid();
        while let Some(output) = core.poll_output() {
            held.push_back((required, output));
        }
        let durable_zxid = match (&journal, &durable) {
            (None, _) => i64::MAX,
            (Some(_), Some(rx)) => *rx.borrow(),
            (Some(_), None) => i64::MIN,
        };
        while held.front().is_some_and(|(z, _)| *z <= durable_zxid) {
            let Some((_, output)) = held.pop_front() else {
                break;
            };
            dispatch(&mut conns, output);
        }
    }
    for tx in conns.values() {
        let _ = tx.send(ConnMsg::Close);
    }
}

/// Completes when the durable zxid moves (true) or the writer is gone (false); never
/// without a journal.
async fn wait_durable(durable: &mut Option<watch::Receiver<i64>>) -> bool {
    match durable {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

fn dispatch(conns: &mut HashMap<ConnId, mpsc::UnboundedSender<ConnMsg>>, output: Output) {
    match output {
        Output::Send { conn, frame } => {
            if let Some(tx) = conns.get(&conn) {
                let _ = tx.send(ConnMsg::Frame(frame));
            }
        }
        Output::Close { conn } => {
            if let Some(tx) = conns.remove(&conn) {
                let _ = tx.send(ConnMsg::Close);
            }
        }
    }
}

fn handle(
    core: &mut ServerCore,
    conns: &mut HashMap<ConnId, mpsc::UnboundedSender<ConnMsg>>,
    input: Input,
) {
    let now = Now::system();
    match input {
        Input::Accept { conn, remote, tx } => {
            conns.insert(conn, tx);
            core.accept(conn, remote, now);
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

/// Accepts connections until `shutdown` flips.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    core: mpsc::UnboundedSender<Input>,
    max_frame: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut next_conn: ConnId = 1;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let conn = next_conn;
                    next_conn += 1;
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(stream, remote, conn, core.clone(), max_frame, shutdown.clone()));
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

async fn connection(
    mut stream: TcpStream,
    remote: SocketAddr,
    conn: ConnId,
    core: mpsc::UnboundedSender<Input>,
    max_frame: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    // The first four bytes decide: a four-letter word, or the length of a ConnectRequest.
    while buf.len() < 4 {
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
    if fourlw::is_known(&buf[..4]) {
        let word = String::from_utf8_lossy(&buf[..4]).into_owned();
        let (reply, answer) = oneshot::channel();
        if core.send(Input::FourLetter { word, reply }).is_ok() {
            if let Ok(text) = answer.await {
                let _ = stream.write_all(text.as_bytes()).await;
            }
        }
        let _ = stream.shutdown().await;
        return;
    }

    let (tx, mut rx) = mpsc::unbounded_channel();
    if core.send(Input::Accept { conn, remote, tx }).is_err() {
        return;
    }
    let frames = FrameDecoder::new(max_frame);
    let (mut reader, mut writer) = stream.into_split();
    let mut out = BytesMut::with_capacity(16 * 1024);
    'serve: loop {
        // Hand every complete frame to the core.
        loop {
            match frames.decode(&mut buf) {
                Ok(Some(frame)) => {
                    if core.send(Input::Frame { conn, frame }).is_err() {
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
        tokio::select! {
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => break 'serve,
                Ok(_) => {}
            },
            msg = rx.recv() => {
                let mut close = false;
                let mut next = msg;
                // Coalesce everything queued for this connection into one write.
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
                    if writer.write_all(&out).await.is_err() {
                        break 'serve;
                    }
                    out.clear();
                }
                if close {
                    let _ = writer.shutdown().await;
                    break 'serve;
                }
            }
            _ = shutdown.changed() => break 'serve,
        }
    }
    let _ = core.send(Input::Closed { conn });
}

//! A small fault-injecting TCP proxy for tests.
//!
//! [`FaultProxy`] listens on `127.0.0.1:0` and forwards every accepted
//! connection to a target address. Faults can be switched on at any time:
//!
//! - [`drop_connections`](FaultProxy::drop_connections): reset every current
//!   client and upstream socket (RST via `SO_LINGER` 0);
//! - [`pause`](FaultProxy::pause) / [`resume`](FaultProxy::resume): a black
//!   hole like a network partition; connections stay open but no byte (nor
//!   end-of-stream) is forwarded in either direction until resumed, when what
//!   was held back is delivered;
//! - [`refuse`](FaultProxy::refuse): new connections are accepted and closed
//!   at once;
//! - [`set_delay`](FaultProxy::set_delay): each forwarded chunk waits first.
//!
//! All work runs on tokio tasks that are aborted when the proxy is dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::{Result, TestkitError};

/// State shared between the handle and its tasks.
struct Shared {
    target: Mutex<SocketAddr>,
    refuse: AtomicBool,
    delay_ns: AtomicU64,
    accepted: AtomicU64,
    /// `true` while paused.
    paused: watch::Sender<bool>,
    /// Bumped by `drop_connections`; connections end when it changes.
    epoch: watch::Sender<u64>,
}

/// A fault-injecting TCP proxy; see the [module docs](self).
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_task: JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("target", &self.target())
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` forwarding to `target`. Must be called
    /// inside a tokio runtime.
    pub async fn start(target: SocketAddr) -> Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| TestkitError::io("binding the proxy listener", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| TestkitError::io("reading the proxy address", e))?;
        let shared = Arc::new(Shared {
            target: Mutex::new(target),
            refuse: AtomicBool::new(false),
            delay_ns: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            paused: watch::Sender::new(false),
            epoch: watch::Sender::new(0),
        });
        let accept_task = tokio::spawn(accept_loop(listener, shared.clone()));
        tracing::debug!(%addr, %target, "fault proxy started");
        Ok(FaultProxy {
            addr,
            shared,
            accept_task,
        })
    }

    /// The address clients should connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address new connections are forwarded to.
    pub fn target(&self) -> SocketAddr {
        *self
            .shared
            .target
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Forwards connections accepted from now on to `new_target`; existing
    /// connections keep their upstream (combine with `drop_connections`).
    pub fn retarget(&self, new_target: SocketAddr) {
        *self
            .shared
            .target
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = new_target;
    }

    /// Resets every connection the proxy has accepted so far, client and
    /// upstream side. New connections are unaffected.
    pub fn drop_connections(&self) {
        self.shared.epoch.send_modify(|e| *e += 1);
    }

    /// Stops forwarding bytes in both directions (connections stay open).
    pub fn pause(&self) {
        self.shared.paused.send_replace(true);
    }

    /// Resumes forwarding; bytes held back while paused are delivered.
    pub fn resume(&self) {
        self.shared.paused.send_replace(false);
    }

    /// While `true`, new connections are accepted and immediately closed.
    pub fn refuse(&self, refuse: bool) {
        self.shared.refuse.store(refuse, Ordering::SeqCst);
    }

    /// Delays each forwarded chunk by `delay` (zero disables).
    pub fn set_delay(&self, delay: Duration) {
        let ns = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        self.shared.delay_ns.store(ns, Ordering::SeqCst);
    }

    /// How many connections have been accepted, refused ones included.
    pub fn connections_accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, aborting every connection.
        self.accept_task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    shared.accepted.fetch_add(1, Ordering::SeqCst);
                    if shared.refuse.load(Ordering::SeqCst) {
                        tracing::debug!(%peer, "fault proxy refusing connection");
                        reset(&client);
                        continue;
                    }
                    // Subscribe now so a drop_connections racing the spawn is seen.
                    let epoch = shared.epoch.subscribe();
                    conns.spawn(connection(client, shared.clone(), epoch));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "fault proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Serves one connection until both directions finish, an error occurs, or
/// `drop_connections` bumps the epoch (then both sockets are reset).
async fn connection(mut client: TcpStream, shared: Arc<Shared>, mut epoch: watch::Receiver<u64>) {
    let target = *shared.target.lock().unwrap_or_else(PoisonError::into_inner);
    let mut upstream = tokio::select! {
        connected = TcpStream::connect(target) => match connected {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(%target, error = %e, "fault proxy upstream connect failed");
                reset(&client);
                return;
            }
        },
        _ = epoch.changed() => {
            reset(&client);
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let dropped = {
        let (mut cr, mut cw) = client.split();
        let (mut ur, mut uw) = upstream.split();
        // The first direction to fail ends the connection; a clean EOF on
        // one side only half-closes it.
        let pumps = async {
            tokio::try_join!(
                pump(&mut cr, &mut uw, &shared),
                pump(&mut ur, &mut cw, &shared)
            )
        };
        // Biased: a drop that happened before a resume must win, or bytes held
        // back by a pause would be delivered to a connection that was cut.
        tokio::select! {
            biased;
            _ = epoch.changed() => true,
            _ = pumps => false,
        }
    };
    if dropped {
        tracing::debug!(%target, "fault proxy dropping connection");
        reset(&client);
        reset(&upstream);
    }
}

/// Copies `from` to `to` chunk by chunk, honouring delay and pause.
async fn pump<R, W>(from: &mut R, to: &mut W, shared: &Shared) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    let mut paused = shared.paused.subscribe();
    loop {
        let n = from.read(&mut buf).await?;
        let delay = shared.delay_ns.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_nanos(delay)).await;
        }
        // While paused, hold the chunk (or the EOF) back.
        if paused.wait_for(|p| !*p).await.is_err() {
            return Ok(());
        }
        if n == 0 {
            return to.shutdown().await;
        }
        to.write_all(&buf[..n]).await?;
    }
}

/// Makes the next close of `stream` send RST instead of FIN (best effort).
fn reset(stream: &TcpStream) {
    if let Err(e) = stream.set_zero_linger() {
        tracing::debug!(error = %e, "fault proxy could not set SO_LINGER 0");
    }
}

//! `LeaderLatch`: Curator's leader election. Every candidate makes a node
//! `{path}/_c_<guid>-latch-N` holding its id; the one with the lowest sequence number
//! leads, each other candidate watches only the node just before its own.
//!
//! ```no_run
//! # async fn demo(client: zk_client::ManagedClient) -> zk_recipes::Result<()> {
//! use zk_recipes::{LeaderLatch, Leadership};
//! let latch = LeaderLatch::start(&client, "/election/orders", "orders-7").await?;
//! let mut leadership = latch.leadership();
//! leadership.wait_for(|l| *l == Leadership::Leader).await.ok();
//! // Lead, until `leadership` says otherwise.
//! latch.close().await?;
//! # Ok(()) }
//! ```
//!
//! # Connection loss and session expiry
//! As Curator's default (`StandardConnectionStateErrorPolicy`): the leader stops being
//! leader the moment the connection is lost ([`Leadership::NotLeader`]), since its session,
//! and with it its node, may expire before the connection returns while another candidate
//! takes over. When the connection returns in the same session, the node is still there
//! and leadership is decided again from it. When the session expired, the node is gone:
//! with a [`zk_client::ManagedClient`] the latch joins again in the new session (as
//! Curator does); with a plain `Client` it has ended ([`LeaderLatch::leadership`] stays
//! `NotLeader`, [`LeaderLatch::ended`] is true).
//!
//! Leadership is a lease (see [`crate::mutex`] on fencing): a leader paused longer than
//! its session timeout may act after another was elected. Act on the leader's behalf with
//! a fencing token: [`LeaderLatch::node_czxid`].

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use zk_client::retry::Protection;
use zk_client::{Client, CreateMode, CreateOptions, Error as ZkError, SessionEvent, SessionState};

use crate::contention::{create_in, delete_own, sorted_contenders, Cleanup};
use crate::error::{RecipeError, Result};
use crate::paths::{basename, check_base, join};
use crate::session::{retry_policy, Session};

/// Curator's latch node name.
const LATCH_NAME: &str = "latch-";

/// Whether this candidate leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leadership {
    /// It leads: its node is first and the connection is up.
    Leader,
    /// It does not (or no longer, or not while disconnected).
    NotLeader,
}

struct Shared {
    ended: AtomicBool,
    czxid: AtomicI64,
}

/// A candidate in an election at a path. Dropping it withdraws (in the background);
/// [`LeaderLatch::close`] withdraws and waits.
pub struct LeaderLatch {
    path: String,
    id: String,
    session: Session,
    leadership: watch::Receiver<Leadership>,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    worker: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for LeaderLatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderLatch")
            .field("path", &self.path)
            .field("id", &self.id)
            .field("leadership", &*self.leadership.borrow())
            .finish()
    }
}

impl LeaderLatch {
    /// Joins the election at `path` as `id` (written into the node, as Curator's
    /// participant id). Returns once the node is made.
    pub async fn start(session: impl Into<Session>, path: &str, id: &str) -> Result<LeaderLatch> {
        check_base(path)?;
        let session = session.into();
        let (tx, leadership) = watch::channel(Leadership::NotLeader);
        let shared = Arc::new(Shared {
            ended: AtomicBool::new(false),
            czxid: AtomicI64::new(0),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let mut candidate = Candidate {
            session: session.clone(),
            path: path.to_owned(),
            id: id.as_bytes().to_vec(),
            node: None,
            tx,
            shared: shared.clone(),
        };
        // The first node is made here, so errors in the arguments surface to the caller.
        candidate.join(&session.client()).await?;
        let worker = tokio::spawn(candidate.run(stopped));
        Ok(LeaderLatch {
            path: path.to_owned(),
            id: id.to_owned(),
            session,
            leadership,
            shared,
            stop: Some(stop),
            worker: Some(worker),
        })
    }

    /// Leadership as it changes.
    pub fn leadership(&self) -> watch::Receiver<Leadership> {
        self.leadership.clone()
    }

    /// Whether this candidate leads now.
    pub fn has_leadership(&self) -> bool {
        *self.leadership.borrow() == Leadership::Leader
    }

    /// Whether the latch can no longer lead: its (plain, unmanaged) session ended.
    pub fn ended(&self) -> bool {
        self.shared.ended.load(Ordering::Relaxed)
    }

    /// The creation zxid of this candidate's node: larger for every later leader, so a
    /// fencing token for what the leader does.
    pub fn node_czxid(&self) -> i64 {
        self.shared.czxid.load(Ordering::Relaxed)
    }

    /// Every candidate's id, leader first (Curator's `getParticipants`).
    pub async fn participants(&self) -> Result<Vec<String>> {
        participants(&self.session.client(), &self.path).await
    }

    /// Withdraws: deletes this candidate's node and stops; leadership ends (watchers see
    /// `NotLeader`).
    pub async fn close(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(worker) = self.worker.take() {
            let _ = worker.await;
        }
        Ok(())
    }
}

impl Drop for LeaderLatch {
    fn drop(&mut self) {
        // The worker sees the stop channel close and withdraws.
        self.stop.take();
    }
}

/// The ids of the candidates at `path`, leader first.
pub async fn participants(client: &Client, path: &str) -> Result<Vec<String>> {
    let sorted = match sorted_contenders(client, path, &[LATCH_NAME]).await {
        Ok(sorted) => sorted,
        Err(RecipeError::ZooKeeper(ZkError::NoNode)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let policy = retry_policy();
    let mut ids = Vec::new();
    for name in sorted {
        match client.retry(&policy).get_data(&join(path, &name)).await {
            Ok((data, _)) => ids.push(String::from_utf8_lossy(&data).into_owned()),
            Err(ZkError::NoNode) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ids)
}

/// The worker's state.
struct Candidate {
    session: Session,
    path: String,
    id: Vec<u8>,
    /// Our node in the current session.
    node: Option<String>,
    tx: watch::Sender<Leadership>,
    shared: Arc<Shared>,
}

/// What ended a wait.
enum Woken {
    Recheck,
    Disconnected,
    SessionEnded,
    Stop,
}

impl Candidate {
    fn set(&self, leadership: Leadership) {
        self.tx.send_if_modified(|l| {
            let changed = *l != leadership;
            *l = leadership;
            changed
        });
    }

    /// Makes our node in `client`'s session.
    async fn join(&mut self, client: &Client) -> Result<()> {
        let protection = Protection::new();
        let target = join(&self.path, LATCH_NAME);
        let options = CreateOptions::new(CreateMode::EphemeralSequential);
        // Armed until the node is ours to manage: a `start` dropped mid-create (or a
        // failed one) leaves no phantom candidate.
        let cleanup = Cleanup::pending(client, &self.path, protection.clone());
        let (node, stat) =
            create_in(client, &self.path, &protection, &target, &self.id, &options).await?;
        cleanup.disarm();
        self.shared.czxid.store(stat.czxid, Ordering::Relaxed);
        self.node = Some(node);
        Ok(())
    }

    async fn run(mut self, mut stop: tokio::sync::oneshot::Receiver<()>) {
        let mut sessions = self.session.managed().map(|m| m.events());
        loop {
            let client = self.session.client();
            let woken = match self.step(&client, &mut stop).await {
                Ok(woken) => woken,
                Err(e) => {
                    tracing::warn!(error = %e, path = %self.path, "leader latch: retrying");
                    self.set(Leadership::NotLeader);
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => Woken::Recheck,
                        _ = &mut stop => Woken::Stop,
                    }
                }
            };
            match woken {
                Woken::Recheck => {}
                Woken::Disconnected => {
                    self.set(Leadership::NotLeader);
                    let mut states = client.state_watcher();
                    tokio::select! {
                        _ = async { states.wait_for(|s| *s == SessionState::Connected || s.is_terminal()).await.is_ok() } => {}
                        _ = &mut stop => { self.withdraw(&client).await; return; }
                    }
                }
                Woken::SessionEnded => {
                    self.set(Leadership::NotLeader);
                    self.node = None;
                    let Some(events) = sessions.as_mut() else {
                        self.shared.ended.store(true, Ordering::Relaxed);
                        let _ = stop.await;
                        return;
                    };
                    // Wait for the managed client's new session, then join it.
                    loop {
                        tokio::select! {
                            event = events.recv() => match event {
                                Ok(SessionEvent::NewSession { .. }) => break,
                                Ok(SessionEvent::Closed) | Err(broadcast::error::RecvError::Closed) => {
                                    self.shared.ended.store(true, Ordering::Relaxed);
                                    let _ = stop.await;
                                    return;
                                }
                                _ => {}
                            },
                            _ = &mut stop => return,
                        }
                    }
                }
                Woken::Stop => {
                    self.withdraw(&client).await;
                    return;
                }
            }
        }
    }

    /// One look at the election, then a wait for what could change it.
    async fn step(
        &mut self,
        client: &Client,
        stop: &mut tokio::sync::oneshot::Receiver<()>,
    ) -> Result<Woken> {
        let mut states = client.state_watcher();
        let state = *states.borrow_and_update();
        if state.is_terminal() {
            return Ok(Woken::SessionEnded);
        }
        // A read-only server is a partitioned one: its view of the election is stale
        // and the majority may elect another meanwhile.
        if state != SessionState::Connected {
            return Ok(Woken::Disconnected);
        }
        if self.node.is_none() {
            self.join(client).await?;
        }
        let Some(node) = self.node.clone() else {
            return Ok(Woken::Recheck);
        };
        let sorted = sorted_contenders(client, &self.path, &[LATCH_NAME]).await?;
        let ours = basename(&node);
        let Some(index) = sorted.iter().position(|n| n == ours) else {
            // Our node is gone (deleted by someone, or the session that made it ended):
            // make a new one.
            self.node = None;
            return Ok(Woken::Recheck);
        };
        let watched = if index == 0 {
            self.set(Leadership::Leader);
            None
        } else {
            self.set(Leadership::NotLeader);
            let before = join(&self.path, &sorted[index - 1]);
            let policy = retry_policy();
            match client
                .retry(&policy)
                .idempotent(|c| {
                    let before = before.clone();
                    async move { c.get_and_watch_data(&before).await }
                })
                .await
            {
                Ok((_, _, watcher)) => Some(watcher),
                Err(ZkError::NoNode) => return Ok(Woken::Recheck),
                Err(e) => return Err(e.into()),
            }
        };
        // A leader also watches its own node, in case someone deletes it.
        let own = match watched {
            Some(w) => w,
            None => match client.exists_and_watch(&node).await {
                Ok((Some(_), w)) => w,
                Ok((None, _)) => {
                    self.node = None;
                    return Ok(Woken::Recheck);
                }
                Err(e) => return Err(e.into()),
            },
        };
        tokio::select! {
            event = own => Ok(if event.state.is_terminal() { Woken::SessionEnded } else { Woken::Recheck }),
            changed = async { states.wait_for(|s| *s != SessionState::Connected).await.map(|s| *s) } => Ok(match changed {
                Ok(s) if s.is_terminal() => Woken::SessionEnded,
                Ok(SessionState::Disconnected | SessionState::Connecting) => Woken::Disconnected,
                Ok(_) => Woken::Recheck,
                Err(_) => Woken::SessionEnded,
            }),
            _ = stop => Ok(Woken::Stop),
        }
    }

    async fn withdraw(&mut self, client: &Client) {
        self.set(Leadership::NotLeader);
        if let Some(node) = self.node.take() {
            if let Err(e) = delete_own(client, &node).await {
                tracing::warn!(error = %e, %node, "could not delete the latch node; it goes with the session");
                // Leave it to a background attempt.
                drop(Cleanup::node(client, &node));
            }
        }
    }
}

//! `InterProcessMutex`: Curator's re-entrant distributed lock, node for node, so a Rust
//! task and a Java thread contending for the same path see one lock.
//!
//! ```no_run
//! # async fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
//! use zk_recipes::InterProcessMutex;
//! let mutex = InterProcessMutex::new(&client, "/locks/orders")?;
//! let guard = mutex.lock().await?;
//! // Work that needs the lock; pass `guard.fencing_token()` to the resource you change,
//! // and stop when `guard.state()` is no longer `Held` (see below).
//! guard.release().await?;
//! # Ok(()) }
//! ```
//!
//! # What it guarantees, and what it does not
//! A lock node exists for the holder until it releases, its session ends, or someone
//! deletes it; while it exists nobody else acquires the lock. But a ZooKeeper lock is a
//! lease, not a fence: after a connection loss the holder cannot know whether its session
//! still lives (the guard's state turns [`LockState::Suspended`]), and a holder paused
//! longer than its session timeout (a GC pause, a stopped VM) may still be working when
//! the server has already given the lock to someone else. Work that must never overlap
//! passes [`LockGuard::fencing_token`] (the lock node's creation zxid, larger for every
//! later holder) to the resource it changes, which refuses tokens older than the newest it
//! has seen.
//!
//! # Re-entrancy
//! As Curator's lock is re-entrant per thread, this one is per tokio task (per thread
//! outside tasks): a task that holds it and locks again gets another guard on the same
//! node, and the node goes when the last of its guards is released or dropped. Two tasks
//! sharing one `InterProcessMutex` contend as two processes would. Two `lock()` futures
//! polled together inside one task (`join!`, `select!`) therefore both succeed, on one
//! node: within a task, hold one guard.
//!
//! # Cancellation
//! A `lock()` future dropped while it waits deletes its node; a dropped guard releases.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::watch;
use zk_client::{Client, EventType, SessionState};

use crate::contention::{self, acquire, deadline_after, Cleanup, Node, Rule, LOCK_NAME};
use crate::error::{RecipeError, Result};
use crate::paths::check_base;
use crate::session::Session;

/// Whether a guard's holder may still rely on holding the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    /// Held: the node exists and the session is connected.
    Held,
    /// The connection is lost: the lock may be lost (the session may expire before the
    /// connection returns). Stop work that needs exclusivity until `Held` again.
    Suspended,
    /// Lost for good: the session ended or the node was deleted.
    Lost,
}

/// Who may re-enter a held lock: the task (or thread) that acquired it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Owner {
    Task(tokio::task::Id),
    Thread(std::thread::ThreadId),
}

impl Owner {
    fn current() -> Self {
        tokio::task::try_id()
            .map_or_else(|| Owner::Thread(std::thread::current().id()), Owner::Task)
    }
}

pub(crate) struct Inner {
    session: Session,
    base: String,
    lock_name: &'static str,
    lock_names: &'static [&'static str],
    data: Vec<u8>,
    /// For a read lock: the write lock of the same read-write lock.
    write_lock: Option<InterProcessMutex>,
    holders: Mutex<HashMap<Owner, Weak<Holding>>>,
}

/// A distributed, re-entrant mutex at a path, in Curator's layout (see the module docs).
/// Cheap to clone; clones are the same lock.
#[derive(Clone)]
pub struct InterProcessMutex {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for InterProcessMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterProcessMutex")
            .field("path", &self.inner.base)
            .field("lock_name", &self.inner.lock_name)
            .finish()
    }
}

fn lock_map<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl InterProcessMutex {
    /// The mutex at `path` (Curator's `new InterProcessMutex(client, path)`).
    pub fn new(session: impl Into<Session>, path: &str) -> Result<Self> {
        Self::with_names(session.into(), path, LOCK_NAME, &[LOCK_NAME], None)
    }

    pub(crate) fn with_names(
        session: Session,
        path: &str,
        lock_name: &'static str,
        lock_names: &'static [&'static str],
        write_lock: Option<InterProcessMutex>,
    ) -> Result<Self> {
        check_base(path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                session,
                base: path.to_owned(),
                lock_name,
                lock_names,
                data: Vec::new(),
                write_lock,
                holders: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The same lock, writing `data` into its lock nodes (Curator writes the host's
    /// address unless told otherwise; here nothing, unless told).
    pub fn with_node_data(self, data: impl Into<Vec<u8>>) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                session: inner.session.clone(),
                base: inner.base.clone(),
                lock_name: inner.lock_name,
                lock_names: inner.lock_names,
                data: data.into(),
                write_lock: inner.write_lock.clone(),
                holders: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The lock's node.
    pub fn path(&self) -> &str {
        &self.inner.base
    }

    /// Waits for the lock, as long as it takes.
    pub async fn lock(&self) -> Result<LockGuard> {
        match self.acquire(None).await? {
            Some(guard) => Ok(guard),
            None => Err(RecipeError::Timeout(Duration::MAX)),
        }
    }

    /// Waits for the lock at most `timeout`; `None` if it was not acquired by then (and
    /// nothing is left behind).
    pub async fn try_lock_for(&self, timeout: Duration) -> Result<Option<LockGuard>> {
        self.acquire(Some(timeout)).await
    }

    /// Whether the current task holds this lock.
    pub fn is_held_by_current_task(&self) -> bool {
        self.held_by(Owner::current()).is_some()
    }

    /// The contenders' node paths, holder first (Curator's `getParticipantNodes`).
    pub async fn participant_nodes(&self) -> Result<Vec<String>> {
        let client = self.inner.session.client();
        let sorted =
            match contention::sorted_contenders(&client, &self.inner.base, self.inner.lock_names)
                .await
            {
                Ok(sorted) => sorted,
                Err(RecipeError::ZooKeeper(zk_client::Error::NoNode)) => Vec::new(),
                Err(e) => return Err(e),
            };
        Ok(sorted
            .into_iter()
            .filter(|n| n.contains(self.inner.lock_name))
            .map(|n| crate::paths::join(&self.inner.base, &n))
            .collect())
    }

    fn held_by(&self, owner: Owner) -> Option<Arc<Holding>> {
        let mut holders = lock_map(&self.inner.holders);
        let held = holders.get(&owner).and_then(Weak::upgrade);
        match held {
            Some(h) if *h.state.borrow() != LockState::Lost => Some(h),
            stale => {
                holders.remove(&owner);
                // A lost holding's drop takes this same lock: let it go only after.
                drop(holders);
                drop(stale);
                None
            }
        }
    }

    /// Acquires without re-entering a holding of this task: for the recipes built on a
    /// mutex (the semaphore's internal lock, a selector's leadership), where two futures
    /// of one task must contend like two processes.
    pub(crate) async fn lock_fresh(&self, timeout: Option<Duration>) -> Result<Option<LockGuard>> {
        self.acquire_as(timeout, false).await
    }

    async fn acquire(&self, timeout: Option<Duration>) -> Result<Option<LockGuard>> {
        self.acquire_as(timeout, true).await
    }

    async fn acquire_as(
        &self,
        timeout: Option<Duration>,
        reenter: bool,
    ) -> Result<Option<LockGuard>> {
        let owner = Owner::current();
        if reenter {
            if let Some(holding) = self.held_by(owner) {
                return Ok(Some(LockGuard { holding }));
            }
        }
        let rule = match &self.inner.write_lock {
            Some(write) => Rule::Read {
                holds_write: write.held_by(owner).is_some(),
            },
            None => Rule::Leases(1),
        };
        let deadline = deadline_after(timeout);
        let mut tries = 0;
        let (client, node) = loop {
            let client = self.inner.session.client();
            match acquire(
                &client,
                &self.inner.base,
                self.inner.lock_name,
                self.inner.lock_names,
                &self.inner.data,
                rule,
                deadline,
            )
            .await
            {
                Ok(Some(node)) => break (client, node),
                Ok(None) => return Ok(None),
                // Our node was deleted under us while the session lives: queue again,
                // as Curator does.
                Err(RecipeError::NodeLost(path))
                    if tries < 3 && client.state() == SessionState::Connected =>
                {
                    tracing::debug!(%path, "our lock node went while waiting; queueing again");
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let holding = Holding::start(client, node, owner, Arc::downgrade(&self.inner));
        if reenter {
            lock_map(&self.inner.holders).insert(owner, Arc::downgrade(&holding));
        }
        Ok(Some(LockGuard { holding }))
    }
}

/// One acquisition: the node, and the task that watches whether it is still ours.
struct Holding {
    client: Client,
    node: Node,
    owner: Owner,
    lock: Weak<Inner>,
    state: watch::Receiver<LockState>,
    /// Set once someone watches the state: the monitor then watches the node too.
    watch_node: watch::Sender<bool>,
    monitor: tokio::task::JoinHandle<()>,
    /// Deletes the node when the last guard goes (armed until then).
    cleanup: Mutex<Option<Cleanup>>,
}

impl Holding {
    fn start(client: Client, node: Node, owner: Owner, lock: Weak<Inner>) -> Arc<Holding> {
        let (tx, state) = watch::channel(if client.state() == SessionState::Connected {
            LockState::Held
        } else {
            LockState::Suspended
        });
        let (watch_node, node_watched) = watch::channel(false);
        let monitor = tokio::spawn(monitor(client.clone(), node.path.clone(), tx, node_watched));
        Arc::new(Holding {
            cleanup: Mutex::new(Some(Cleanup::node(&client, &node.path))),
            client,
            node,
            owner,
            lock,
            state,
            watch_node,
            monitor,
        })
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.monitor.abort();
        if let Some(lock) = self.lock.upgrade() {
            let mut holders = lock_map(&lock.holders);
            if holders
                .get(&self.owner)
                .is_some_and(|w| w.strong_count() == 0)
            {
                holders.remove(&self.owner);
            }
        }
        // The cleanup, dropped armed, deletes the node in the background.
    }
}

/// Keeps a holding's state current: from the session's connection always (free: no
/// request), and from the node's existence once someone watches the state (an exists
/// watch, one request per acquisition, paid only by those who look).
async fn monitor(
    client: Client,
    path: String,
    tx: watch::Sender<LockState>,
    mut watch_node: watch::Receiver<bool>,
) {
    let mut states = client.state_watcher();
    let lost = |why: &str| {
        tracing::warn!(%path, "lock lost: {why}");
        tx.send_replace(LockState::Lost);
    };
    loop {
        let state = *states.borrow_and_update();
        let mapped = match state {
            s if s.is_terminal() => LockState::Lost,
            // A read-only server is a partitioned one: the majority may expire the
            // session meanwhile.
            SessionState::Connected => LockState::Held,
            _ => LockState::Suspended,
        };
        if mapped == LockState::Lost {
            lost("the session ended");
            return;
        }
        tx.send_replace(mapped);
        if mapped == LockState::Held && *watch_node.borrow_and_update() {
            match client.exists_and_watch(&path).await {
                Ok((None, _)) => {
                    lost("our node was deleted by someone else");
                    return;
                }
                Ok((Some(_), watcher)) => {
                    tokio::select! {
                        event = watcher => {
                            if event.event_type == EventType::NodeDeleted {
                                lost("our node was deleted by someone else");
                                return;
                            }
                        }
                        changed = states.changed() => {
                            if changed.is_err() {
                                lost("the client is gone");
                                return;
                            }
                        }
                    }
                    continue;
                }
                // The connection went meanwhile: the state change says what to do.
                Err(_) => {}
            }
        }
        tokio::select! {
            changed = states.changed() => {
                if changed.is_err() {
                    lost("the client is gone");
                    return;
                }
            }
            // Someone started watching the state: watch the node too.
            _ = watch_node.changed() => {}
        }
    }
}

/// Proof of holding a lock. Dropping it releases (in the background); [`LockGuard::release`]
/// releases and waits. Guards of one task's re-entrant acquisitions share one node, which
/// goes with the last of them.
pub struct LockGuard {
    holding: Arc<Holding>,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("node", &self.holding.node.path)
            .field("state", &*self.holding.state.borrow())
            .finish()
    }
}

impl LockGuard {
    /// The lock node.
    pub fn node(&self) -> &str {
        &self.holding.node.path
    }

    /// The session that holds the lock. Changes to ZooKeeper made through it cannot be
    /// applied once the lock is lost: the server refuses requests of an expired session,
    /// and its lock node goes only with it.
    pub fn client(&self) -> &Client {
        &self.holding.client
    }

    /// A number larger for every later holder of this lock (the lock node's creation
    /// zxid): pass it to what the lock protects, which refuses older ones.
    pub fn fencing_token(&self) -> i64 {
        self.holding.node.stat.czxid
    }

    /// Whether the lock is still held, as far as the session's state tells (and, once
    /// the state is watched with [`LockGuard::watch_state`] or [`LockGuard::at_risk`], the
    /// node's existence too).
    pub fn state(&self) -> LockState {
        *self.holding.state.borrow()
    }

    /// The state, as it changes: the connection's and the session's, and whether someone
    /// deleted the lock node (watched from this call on).
    pub fn watch_state(&self) -> watch::Receiver<LockState> {
        self.holding.watch_node.send_replace(true);
        self.holding.state.clone()
    }

    /// Resolves when the lock may be lost (connection lost) or is lost (session ended,
    /// node deleted).
    pub async fn at_risk(&self) -> LockState {
        let mut state = self.watch_state();
        let result = state.wait_for(|s| *s != LockState::Held).await;
        result.map_or(LockState::Lost, |s| *s)
    }

    /// Releases this guard; when it is the holder's last, deletes the node and waits for
    /// that.
    pub async fn release(self) -> Result<()> {
        let cleanup = if Arc::strong_count(&self.holding) == 1 {
            lock_map(&self.holding.cleanup).take()
        } else {
            None
        };
        drop(self);
        match cleanup {
            Some(cleanup) => cleanup.run().await,
            None => Ok(()),
        }
    }
}

//! A watched, in-memory view of one service's instances.
//!
//! Owns the snapshot (published atomically; readers never lock), the change events, and
//! keeping both right across disconnects and session changes. One persistent recursive
//! watch on `{base}/{name}` feeds it (child and data watches on servers older than 3.6);
//! after a reconnect, a new session or a lag (the client dropped events this cache was too
//! slow to take) it re-reads everything, because changes made while disconnected are not
//! replayed to persistent watches and dropped events are gone. Nodes whose data is empty or not
//! an instance are skipped and logged.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use futures::StreamExt;
use tokio::sync::broadcast;
use tokio::time::Instant;
use zk_client::{
    AddWatchMode, Client, Error as ZkError, EventType, ManagedClient, SessionEvent, SessionState,
};

use crate::instance::ServiceInstance;

/// A change to a service's instances, keyed by instance id.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheEvent {
    /// A new instance.
    Added(Arc<ServiceInstance>),
    /// An instance's data changed.
    Updated(Arc<ServiceInstance>),
    /// An instance went away.
    Removed(Arc<ServiceInstance>),
}

/// A predicate instances must pass to be in the cache's view.
pub type InstanceFilter = Arc<dyn Fn(&ServiceInstance) -> bool + Send + Sync>;

/// How a cache behaves.
#[derive(Clone)]
pub struct CacheOptions {
    /// Only instances passing every filter are visible. By default, disabled instances
    /// (`enabled: false`) are filtered out, as Curator does.
    pub filters: Vec<InstanceFilter>,
    /// Keep a removed instance visible this long, in case it comes back (a flapping
    /// registrar); `None` removes at once.
    pub removal_delay: Option<Duration>,
    /// Never publish an empty list after a non-empty one: keep the last instances until
    /// one comes back (protects callers from a registry wipe-out).
    pub empty_protection: bool,
    /// Watch with a child watch plus a data watch per instance instead of one persistent
    /// recursive watch. Chosen automatically for servers before 3.6 (which answer
    /// `addWatch` with "unimplemented"); set it to force that mode.
    pub one_shot_watches: bool,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            filters: vec![Arc::new(|i: &ServiceInstance| i.enabled)],
            removal_delay: None,
            empty_protection: false,
            one_shot_watches: false,
        }
    }
}

impl std::fmt::Debug for CacheOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheOptions")
            .field("filters", &self.filters.len())
            .field("removal_delay", &self.removal_delay)
            .field("empty_protection", &self.empty_protection)
            .field("one_shot_watches", &self.one_shot_watches)
            .finish()
    }
}

/// The instances visible at one moment, sorted by id. Each znode is one instance, as in
/// Curator's cache: two nodes carrying the same id (sequential registrations with a
/// shared id prefix) are both listed.
#[derive(Debug, Default)]
pub struct Snapshot {
    instances: Vec<Arc<ServiceInstance>>,
    /// The znode name of each instance, in the same order.
    nodes: Vec<String>,
}

impl Snapshot {
    /// All instances.
    pub fn instances(&self) -> &[Arc<ServiceInstance>] {
        &self.instances
    }

    /// The instance with `id` (the first one, if several nodes carry it).
    pub fn get(&self, id: &str) -> Option<&Arc<ServiceInstance>> {
        let at = self.instances.partition_point(|i| i.id.as_str() < id);
        self.instances.get(at).filter(|i| i.id == id)
    }

    /// Instances with the name of the znode each was read from.
    pub fn by_node(&self) -> impl Iterator<Item = (&str, &Arc<ServiceInstance>)> {
        self.nodes.iter().map(String::as_str).zip(&self.instances)
    }

    /// Number of instances.
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }
}

pub(crate) struct CacheShared {
    pub snapshot: ArcSwap<Snapshot>,
    pub events: broadcast::Sender<CacheEvent>,
    pub ready: tokio::sync::watch::Sender<bool>,
    /// Never sent on: dropping it (with the last handle) tells the worker to stop at once,
    /// so a forgotten cache does not keep a watch and a session alive.
    _alive: tokio::sync::watch::Sender<()>,
}

/// A watched cache of one service. Cheap to clone; the watch stops when every clone and
/// the discovery service are dropped.
#[derive(Clone)]
pub struct ServiceCache {
    name: String,
    shared: Arc<CacheShared>,
}

impl std::fmt::Debug for ServiceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCache")
            .field("name", &self.name)
            .field("instances", &self.shared.snapshot.load().len())
            .finish()
    }
}

impl ServiceCache {
    pub(crate) fn start(
        client: ManagedClient,
        service_path: String,
        name: String,
        options: CacheOptions,
    ) -> Self {
        // Small on purpose: the buffer is allocated per service. A receiver that falls
        // further behind gets `Lagged` and should re-read the snapshot.
        let (events, _) = broadcast::channel(64);
        let (ready, _) = tokio::sync::watch::channel(false);
        let (alive, mut alive_rx) = tokio::sync::watch::channel(());
        let shared = Arc::new(CacheShared {
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            events,
            ready,
            _alive: alive,
        });
        let worker = Worker {
            client,
            path: service_path,
            options,
            known: BTreeMap::new(),
            pending_removal: HashMap::new(),
            shared: Arc::downgrade(&shared),
            published_empty_guard: false,
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = worker.run() => {}
                // Only ever an error: every handle is gone.
                _ = alive_rx.changed() => {}
            }
        });
        ServiceCache { name, shared }
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current instances, from memory (no round trip; lock-free).
    pub fn instances(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    /// Changes from now on. A receiver more than 64 events behind gets
    /// `RecvError::Lagged` and should re-read [`ServiceCache::instances`].
    pub fn events(&self) -> broadcast::Receiver<CacheEvent> {
        self.shared.events.subscribe()
    }

    /// Waits until the first full read completed.
    pub async fn ready(&self) {
        let mut rx = self.shared.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    pub(crate) fn shared(&self) -> &Arc<CacheShared> {
        &self.shared
    }
}

struct Worker {
    client: ManagedClient,
    path: String,
    options: CacheOptions,
    /// Every parseable instance node, by znode name, unfiltered.
    known: BTreeMap<String, Arc<ServiceInstance>>,
    /// Removed instances still shown, until the deadline.
    pending_removal: HashMap<String, (Arc<ServiceInstance>, Instant)>,
    shared: std::sync::Weak<CacheShared>,
    published_empty_guard: bool,
}

enum Next {
    Resync,
    WaitForSession,
    Stop,
}

impl Worker {
    async fn run(mut self) {
        let mut session_events = self.client.events();
        loop {
            let client = self.client.client();
            let next = self.follow(&client, &mut session_events).await;
            match next {
                Next::Resync => continue,
                Next::WaitForSession => loop {
                    match session_events.recv().await {
                        Ok(SessionEvent::NewSession { .. }) => break,
                        Ok(SessionEvent::Closed) | Err(broadcast::error::RecvError::Closed) => {
                            return
                        }
                        _ => {}
                    }
                },
                Next::Stop => return,
            }
        }
    }

    /// Watches the service on one session until it must resync or the session ends.
    async fn follow(
        &mut self,
        client: &Client,
        session_events: &mut broadcast::Receiver<SessionEvent>,
    ) -> Next {
        if self.shared.upgrade().is_none() {
            return Next::Stop;
        }
        if self.options.one_shot_watches {
            return self
                .follow_with_one_shot_watches(client, session_events)
                .await;
        }
        let watch = match client
            .add_watch(&self.path, AddWatchMode::PersistentRecursive)
            .await
        {
            Ok(w) => Some(w),
            Err(ZkError::Unimplemented) => None,
            Err(e) if e.is_terminal() => return Next::WaitForSession,
            Err(e) => return self.retry_later(&e).await,
        };
        let Some(mut watch) = watch else {
            return self
                .follow_with_one_shot_watches(client, session_events)
                .await;
        };
        if let Err(e) = self.resync(client).await {
            if e.is_terminal() {
                return Next::WaitForSession;
            }
            return self.retry_later(&e).await;
        }
        loop {
            let deadline = self.next_removal();
            tokio::select! {
                ev = watch.next() => {
                    let Some(ev) = ev else { return Next::WaitForSession };
                    if self.shared.upgrade().is_none() {
                        return Next::Stop;
                    }
                    let ev = match ev {
                        Ok(ev) => ev,
                        Err(lagged) => {
                            // This worker fell behind a burst and the client dropped
                            // events: what they said is lost, so re-read everything, as
                            // after a reconnect.
                            tracing::debug!(missed = lagged.missed, path = %self.path, "watch lagged; resyncing");
                            if let Err(e) = self.resync(client).await {
                                if e.is_terminal() { return Next::WaitForSession; }
                                return self.retry_later(&e).await;
                            }
                            continue;
                        }
                    };
                    match ev.event_type {
                        EventType::None => match ev.state {
                            SessionState::Connected | SessionState::ConnectedReadOnly => {
                                if let Err(e) = self.resync(client).await {
                                    if e.is_terminal() { return Next::WaitForSession; }
                                }
                            }
                            s if s.is_terminal() => return Next::WaitForSession,
                            _ => {}
                        },
                        EventType::NodeCreated | EventType::NodeDataChanged => {
                            if let Some(child) = self.child_name(&ev.path) {
                                match self.read(client, &child).await {
                                    Ok(()) => {}
                                    Err(e) if e.is_terminal() => return Next::WaitForSession,
                                    Err(_) => {}
                                }
                            }
                        }
                        EventType::NodeDeleted => {
                            if let Some(child) = self.child_name(&ev.path) {
                                self.known.remove(&child);
                                self.publish();
                            } else if ev.path == self.path {
                                self.known.clear();
                                self.publish();
                            }
                        }
                        _ => {}
                    }
                }
                _ = sleep_until(deadline) => self.publish(),
                e = session_events.recv() => {
                    if matches!(e, Ok(SessionEvent::Closed) | Err(broadcast::error::RecvError::Closed)) {
                        return Next::Stop;
                    }
                }
            }
        }
    }

    /// Servers before 3.6 (or [`CacheOptions::one_shot_watches`]): a child watch on the
    /// service and a data watch on each instance; any of them firing re-reads the service
    /// and sets them again.
    async fn follow_with_one_shot_watches(
        &mut self,
        client: &Client,
        session_events: &mut broadcast::Receiver<SessionEvent>,
    ) -> Next {
        loop {
            let (children, mut child_watch) = match client.get_and_watch_children(&self.path).await
            {
                Ok((children, _, watch)) => (children, watch),
                Err(ZkError::NoNode) => match client.exists_and_watch(&self.path).await {
                    Ok((_, watch)) => (Vec::new(), watch),
                    Err(e) if e.is_terminal() => return Next::WaitForSession,
                    Err(e) => return self.retry_later(&e).await,
                },
                Err(e) if e.is_terminal() => return Next::WaitForSession,
                Err(e) => return self.retry_later(&e).await,
            };
            let mut fresh = BTreeMap::new();
            let mut data_watches = futures::stream::FuturesUnordered::new();
            for child in children {
                let path = format!("{}/{child}", self.path);
                let read = client
                    .get_and_watch_data(&path)
                    .await
                    .map(|(data, _, watch)| {
                        data_watches.push(watch);
                        data
                    });
                match instance_or_skip(&path, read) {
                    Ok(Some(i)) => {
                        fresh.insert(child, i);
                    }
                    Ok(None) => {}
                    Err(e) if e.is_terminal() => return Next::WaitForSession,
                    Err(e) => return self.retry_later(&e).await,
                }
            }
            self.known = fresh;
            self.publish();
            self.mark_ready();
            loop {
                let deadline = self.next_removal();
                tokio::select! {
                    ev = &mut child_watch => {
                        if ev.state.is_terminal() {
                            return Next::WaitForSession;
                        }
                        break;
                    }
                    Some(ev) = data_watches.next(), if !data_watches.is_empty() => {
                        if ev.state.is_terminal() {
                            return Next::WaitForSession;
                        }
                        break;
                    }
                    _ = sleep_until(deadline) => self.publish(),
                    e = session_events.recv() => {
                        if matches!(e, Ok(SessionEvent::Closed) | Err(broadcast::error::RecvError::Closed)) {
                            return Next::Stop;
                        }
                    }
                }
            }
        }
    }

    /// A pause before resyncing after a failure, so a persistent one is not a tight loop.
    async fn retry_later(&self, e: &ZkError) -> Next {
        tracing::debug!(error = %e, path = %self.path, "cannot watch or read yet; retrying");
        tokio::time::sleep(Duration::from_millis(200)).await;
        Next::Resync
    }

    fn child_name(&self, path: &str) -> Option<String> {
        let rest = path.strip_prefix(&self.path)?.strip_prefix('/')?;
        (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_owned())
    }

    /// Reads one instance node (`None` when it vanished or is not an instance).
    async fn fetch(
        &self,
        client: &Client,
        child: &str,
    ) -> Result<Option<Arc<ServiceInstance>>, ZkError> {
        let path = format!("{}/{child}", self.path);
        let read = client.get_data(&path).await.map(|(data, _)| data);
        instance_or_skip(&path, read)
    }

    async fn read(&mut self, client: &Client, child: &str) -> Result<(), ZkError> {
        match self.fetch(client, child).await? {
            Some(i) => {
                self.known.insert(child.to_owned(), i);
            }
            None => {
                self.known.remove(child);
            }
        }
        self.publish();
        Ok(())
    }

    /// Re-reads every instance.
    async fn resync(&mut self, client: &Client) -> Result<(), ZkError> {
        let children = match client.get_children(&self.path).await {
            Ok(c) => c,
            Err(ZkError::NoNode) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut fresh = BTreeMap::new();
        for child in children {
            if let Some(i) = self.fetch(client, &child).await? {
                fresh.insert(child, i);
            }
        }
        self.known = fresh;
        self.publish();
        self.mark_ready();
        Ok(())
    }

    fn mark_ready(&self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.ready.send_replace(true);
        }
    }

    fn next_removal(&self) -> Option<Instant> {
        self.pending_removal.values().map(|(_, at)| *at).min()
    }

    /// Publishes the filtered view and emits the differences from the previous one.
    fn publish(&mut self) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let now = Instant::now();
        // Keyed by znode name: one entry per node, whatever ids the nodes carry.
        let visible: HashMap<String, Arc<ServiceInstance>> = self
            .known
            .iter()
            .filter(|(_, i)| self.options.filters.iter().all(|f| f(i)))
            .map(|(node, i)| (node.clone(), i.clone()))
            .collect();
        let old = shared.snapshot.load_full();
        let old_by_node: HashMap<&str, &Arc<ServiceInstance>> = old.by_node().collect();
        let mut next = visible.clone();
        // Hold removals back for the configured window.
        if let Some(delay) = self.options.removal_delay {
            for (node, i) in old.by_node() {
                if !visible.contains_key(node) {
                    self.pending_removal
                        .entry(node.to_owned())
                        .or_insert((i.clone(), now + delay));
                }
            }
            self.pending_removal
                .retain(|node, (_, at)| !visible.contains_key(node) && *at > now);
            for (node, (i, _)) in &self.pending_removal {
                next.entry(node.clone()).or_insert_with(|| i.clone());
            }
        }
        if self.options.empty_protection && next.is_empty() && !old.is_empty() {
            if !self.published_empty_guard {
                tracing::warn!(service = %self.path, "every instance vanished; keeping the last list (empty protection)");
                self.published_empty_guard = true;
            }
            return;
        }
        self.published_empty_guard = false;
        let mut events = Vec::new();
        for (node, i) in &next {
            match old_by_node.get(node.as_str()) {
                None => events.push(CacheEvent::Added(i.clone())),
                Some(prev) if prev.as_ref() != i.as_ref() => {
                    events.push(CacheEvent::Updated(i.clone()))
                }
                _ => {}
            }
        }
        for (node, i) in old.by_node() {
            if !next.contains_key(node) {
                events.push(CacheEvent::Removed(i.clone()));
            }
        }
        if events.is_empty() {
            return;
        }
        let mut entries: Vec<(String, Arc<ServiceInstance>)> = next.into_iter().collect();
        entries.sort_by(|(na, a), (nb, b)| a.id.cmp(&b.id).then_with(|| na.cmp(nb)));
        let (nodes, instances) = entries.into_iter().unzip();
        shared
            .snapshot
            .store(Arc::new(Snapshot { instances, nodes }));
        for e in events {
            let _ = shared.events.send(e);
        }
    }
}

/// The instance in a node's data, `None` for a node to skip (gone, unreadable to us, or
/// not an instance), or the error that stops this read.
fn instance_or_skip(
    path: &str,
    read: Result<impl AsRef<[u8]>, ZkError>,
) -> Result<Option<Arc<ServiceInstance>>, ZkError> {
    match read {
        Ok(data) => match ServiceInstance::from_json(data.as_ref()) {
            Ok(i) => Ok(Some(Arc::new(i))),
            Err(e) => {
                tracing::warn!(%path, error = %e, "skipping a node that is not a service instance");
                Ok(None)
            }
        },
        Err(ZkError::NoNode) => Ok(None),
        // An instance we may not read must not stall the whole service's cache.
        Err(ZkError::NoAuth) => {
            tracing::warn!(%path, "skipping an instance node this client may not read");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

//! The router of one service: the current route table, rebuilt atomically when the rule
//! node or the service's instances change, and picked from without locks.
//!
//! Hot reload: the rule node is watched; a new rule is parsed and validated completely
//! before it replaces the old one in one pointer swap. An invalid rule keeps the last good
//! one and is reported (a [`RouterEvent`], a warning, a counter) — never a crash, never an
//! empty table. Deleting the node returns to default routing (every instance).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use futures::StreamExt;
use tokio::sync::broadcast;
use zk_client::{AddWatchMode, Error as ZkError, EventType, ManagedClient, SessionEvent};
use zk_discovery::{ServiceCache, ServiceDiscovery, ServiceInstance};

use crate::endpoint::{Endpoint, Picked};
use crate::health::HealthPolicy;
use crate::load::Loads;
use crate::matcher::RequestContext;
use crate::policy::Rng;
use crate::rule::{Rule, RuleError};
use crate::table::{Explanation, RouteError, RouteTable};

/// Default node of a service's rule: `/routes/{service}`.
pub fn default_rule_path(service: &str) -> String {
    format!("/routes/{service}")
}

/// What happened to a router's rule.
#[derive(Debug, Clone, PartialEq)]
pub enum RouterEvent {
    /// A new rule is in force.
    RuleLoaded,
    /// A rule was refused; the previous one stays in force.
    RuleRejected(RuleError),
    /// The rule node is gone: default routing (every instance).
    RuleRemoved,
}

/// Counters of a router.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RouterStats {
    /// Rules loaded.
    pub rules_loaded: u64,
    /// Rules refused.
    pub rules_rejected: u64,
    /// Tables built (rule or endpoint changes).
    pub tables_built: u64,
    /// Ejections of the current endpoints by passive health checking.
    pub ejections: u64,
    /// Requests sent through a [`crate::RouteLayer`] of this router.
    pub requests: u64,
    /// Of those, requests that failed (no route, or the endpoint's service failed).
    pub failed_requests: u64,
}

#[derive(Debug)]
struct Shared {
    service: String,
    table: ArcSwap<RouteTable>,
    rule: Mutex<Option<Arc<Rule>>>,
    endpoints: Mutex<Vec<Arc<Endpoint>>>,
    rng: Rng,
    /// Where round robin and sticky start (see [`crate::policy::build`]).
    offset: usize,
    /// Requests in flight per bounded-load destination, across tables.
    loads: Loads,
    health: Mutex<Option<Arc<HealthPolicy>>>,
    events: broadcast::Sender<RouterEvent>,
    rules_loaded: AtomicU64,
    rules_rejected: AtomicU64,
    /// The version (mzxid) of the rule last refused: a re-read of the same bad rule (after
    /// a reconnect, or one racing with the write) is not reported again.
    rejected_version: Mutex<Option<i64>>,
    tables_built: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) failed_requests: AtomicU64,
    /// Serialises rebuilds: read inputs, build, store — so an older build can never
    /// overwrite a newer one.
    rebuild_lock: Mutex<()>,
    /// Bumped by every rebuild (the tower layer prunes its per-endpoint services on it).
    pub(crate) generation: AtomicU64,
    /// Dropped with the router: its background tasks end when this closes.
    _closed: tokio::sync::watch::Sender<()>,
}

/// Routes the requests of one service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Router {
    shared: Arc<Shared>,
}

impl Router {
    /// A router fed by hand: set its rule and endpoints yourself.
    pub fn new(service: &str) -> Self {
        Self::with_rng(service, Rng::from_entropy())
    }

    /// Like [`Router::new`] with a seeded random source, for reproducible picks.
    pub fn with_rng(service: &str, rng: Rng) -> Self {
        let (events, _) = broadcast::channel(64);
        let offset = rng.next_u64() as usize;
        Router {
            shared: Arc::new(Shared {
                service: service.to_owned(),
                table: ArcSwap::from_pointee(RouteTable::new(
                    service,
                    None,
                    Vec::new(),
                    None,
                    offset,
                )),
                offset,
                loads: Loads::default(),
                rule: Mutex::new(None),
                endpoints: Mutex::new(Vec::new()),
                rng,
                health: Mutex::new(Some(Arc::new(HealthPolicy::default()))),
                events,
                rules_loaded: AtomicU64::new(0),
                rules_rejected: AtomicU64::new(0),
                rejected_version: Mutex::new(None),
                tables_built: AtomicU64::new(0),
                requests: AtomicU64::new(0),
                failed_requests: AtomicU64::new(0),
                rebuild_lock: Mutex::new(()),
                generation: AtomicU64::new(0),
                _closed: tokio::sync::watch::channel(()).0,
            }),
        }
    }

    /// A router whose rule follows `rule_path` (default `/routes/{service}`) and whose
    /// endpoints follow the service's discovery cache.
    pub async fn watch(
        discovery: &ServiceDiscovery,
        service: &str,
        rule_path: Option<&str>,
    ) -> Result<Router, zk_discovery::DiscoveryError> {
        let router = Router::new(service);
        let cache = discovery.cache(service).await?;
        // Subscribe before reading the snapshot, so no change falls in between.
        let changes = cache.events();
        router.set_instances(cache.instances().instances().iter().map(|i| i.as_ref()));
        let closed = router.shared._closed.subscribe();
        tokio::spawn(follow_instances(
            Arc::downgrade(&router.shared),
            cache,
            changes,
            closed,
        ));
        let path = rule_path.map_or_else(|| default_rule_path(service), str::to_owned);
        let client = discovery.client().clone();
        // Load the rule once before returning, so the first request sees it.
        load_rule(&router.shared, &client, &path).await;
        let closed = router.shared._closed.subscribe();
        tokio::spawn(follow_rule(
            Arc::downgrade(&router.shared),
            client,
            path,
            discovery.cache_options().one_shot_watches,
            closed,
        ));
        Ok(router)
    }

    /// Picks an endpoint for `ctx`. Hold the result while the request runs (load-aware
    /// policies count it).
    pub fn route(&self, ctx: &RequestContext) -> Result<Picked, RouteError> {
        self.shared.table.load().route(ctx, &self.shared.rng)
    }

    /// Picks an endpoint for `ctx` as [`Router::route`] does, and says why (see
    /// [`RouteTable::explain`]): for tools and logs, not the request path.
    pub fn explain(&self, ctx: &RequestContext) -> Explanation {
        self.shared.table.load().explain(ctx, &self.shared.rng)
    }

    /// Sets passive health checking (on with [`HealthPolicy::default`] unless changed;
    /// `None` turns it off).
    pub fn set_health(&self, health: Option<HealthPolicy>) {
        *lock(&self.shared.health) = health.map(Arc::new);
        rebuild(&self.shared);
    }

    /// Replaces the rule (`None`: default routing).
    pub fn set_rule(&self, rule: Option<Rule>) {
        *lock(&self.shared.rule) = rule.map(Arc::new);
        rebuild(&self.shared);
    }

    /// Replaces the endpoints.
    pub fn set_endpoints(&self, endpoints: Vec<Arc<Endpoint>>) {
        *lock(&self.shared.endpoints) = endpoints;
        rebuild(&self.shared);
    }

    /// Replaces the endpoints from discovered instances. An instance whose routing data
    /// did not change keeps its endpoint, and with it its health, latency estimate and
    /// requests in flight.
    pub fn set_instances<'a>(&self, instances: impl Iterator<Item = &'a ServiceInstance>) {
        replace_instances(&self.shared, instances);
    }

    /// The rule in force.
    pub fn rule(&self) -> Option<Arc<Rule>> {
        lock(&self.shared.rule).clone()
    }

    /// The current table.
    pub fn table(&self) -> Arc<RouteTable> {
        self.shared.table.load_full()
    }

    /// Rule events from now on.
    pub fn events(&self) -> broadcast::Receiver<RouterEvent> {
        self.shared.events.subscribe()
    }

    /// Counters.
    pub fn stats(&self) -> RouterStats {
        RouterStats {
            rules_loaded: self.shared.rules_loaded.load(Ordering::Relaxed),
            rules_rejected: self.shared.rules_rejected.load(Ordering::Relaxed),
            tables_built: self.shared.tables_built.load(Ordering::Relaxed),
            ejections: self
                .shared
                .table
                .load()
                .endpoints()
                .iter()
                .map(|e| e.ejections() as u64)
                .sum(),
            requests: self.shared.requests.load(Ordering::Relaxed),
            failed_requests: self.shared.failed_requests.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Relaxed)
    }

    pub(crate) fn count_request(&self, failed: bool) {
        self.shared.requests.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.shared.failed_requests.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Replaces the endpoints with those of `instances`, reusing the current endpoint of
/// every instance whose routing data is unchanged, and rebuilds. The merge happens under
/// the endpoints lock, so concurrent callers cannot interleave their read and write.
fn replace_instances<'a>(shared: &Shared, instances: impl Iterator<Item = &'a ServiceInstance>) {
    {
        let mut current = lock(&shared.endpoints);
        let by_id: std::collections::HashMap<&str, &Arc<Endpoint>> =
            current.iter().map(|e| (e.id.as_str(), e)).collect();
        let merged: Vec<Arc<Endpoint>> = instances
            .map(|i| {
                let fresh = Endpoint::from_instance(i);
                match by_id.get(i.id.as_str()) {
                    Some(old) if old.same_routing(&fresh) => Arc::clone(old),
                    _ => Arc::new(fresh),
                }
            })
            .collect();
        *current = merged;
    }
    rebuild(shared);
}

fn rebuild(shared: &Shared) {
    let _serial = lock(&shared.rebuild_lock);
    let rule = lock(&shared.rule).clone();
    let endpoints = lock(&shared.endpoints).clone();
    let health = lock(&shared.health).clone();
    let table = RouteTable::with_loads(
        &shared.service,
        rule.as_deref(),
        endpoints,
        health,
        shared.offset,
        &shared.loads,
    );
    shared.table.store(Arc::new(table));
    shared.tables_built.fetch_add(1, Ordering::Relaxed);
    shared.generation.fetch_add(1, Ordering::Relaxed);
}

/// Reads the rule node and applies what it holds.
async fn load_rule(shared: &Shared, client: &ManagedClient, path: &str) {
    match client.client().get_data(path).await {
        Ok((data, stat)) => match Rule::parse(&data) {
            Ok(rule) => {
                *lock(&shared.rejected_version) = None;
                let changed = lock(&shared.rule).as_deref() != Some(&rule);
                if changed {
                    *lock(&shared.rule) = Some(Arc::new(rule));
                    rebuild(shared);
                    shared.rules_loaded.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(service = %shared.service, %path, "routing rule loaded");
                    let _ = shared.events.send(RouterEvent::RuleLoaded);
                }
            }
            Err(e) => {
                if lock(&shared.rejected_version).replace(stat.mzxid) == Some(stat.mzxid) {
                    tracing::debug!(%path, "the refused rule read again");
                    return;
                }
                shared.rules_rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(service = %shared.service, %path, error = %e, "routing rule refused; keeping the last good one");
                let _ = shared.events.send(RouterEvent::RuleRejected(e));
            }
        },
        Err(ZkError::NoNode) => {
            let had = lock(&shared.rule).take().is_some();
            if had {
                rebuild(shared);
                tracing::info!(service = %shared.service, %path, "routing rule removed; routing to every instance");
                let _ = shared.events.send(RouterEvent::RuleRemoved);
            }
        }
        Err(e) => tracing::debug!(%path, error = %e, "cannot read the routing rule now"),
    }
}

/// Follows the rule node with a persistent watch; re-reads after reconnects and new
/// sessions (changes made meanwhile are not replayed to persistent watches).
async fn follow_rule(
    shared: std::sync::Weak<Shared>,
    client: ManagedClient,
    path: String,
    one_shot: bool,
    mut closed: tokio::sync::watch::Receiver<()>,
) {
    let mut sessions = client.events();
    tokio::select! {
        _ = async {
            // One-shot watches when forced, or when the server has no persistent watches
            // (before 3.6).
            if one_shot || follow_rule_inner(&shared, &client, &path, &mut sessions).await {
                follow_rule_one_shot(&shared, &client, &path, &mut sessions).await;
            }
        } => {}
        _ = closed.changed() => {}
    }
}

/// Follows the rule with one-shot `exists` watches, set again after each event (an
/// exists watch fires on create, change and delete alike).
async fn follow_rule_one_shot(
    shared: &std::sync::Weak<Shared>,
    client: &ManagedClient,
    path: &str,
    sessions: &mut broadcast::Receiver<SessionEvent>,
) {
    loop {
        let watch = match client.client().exists_and_watch(path).await {
            Ok((_, watch)) => watch,
            Err(e) => {
                tracing::debug!(%path, error = %e, "cannot watch the routing rule now");
                // Wait for the session to change (reconnect or a new session) and retry.
                match sessions.recv().await {
                    Ok(SessionEvent::Closed) | Err(broadcast::error::RecvError::Closed) => return,
                    _ => continue,
                }
            }
        };
        let Some(s) = shared.upgrade() else { return };
        load_rule(&s, client, path).await;
        drop(s);
        tokio::select! {
            _ = watch => {}
            e = sessions.recv() => {
                if matches!(e, Ok(SessionEvent::Closed) | Err(broadcast::error::RecvError::Closed)) {
                    return;
                }
            }
        }
    }
}

/// Follows the rule with a persistent watch. Returns true when the server has no
/// persistent watches (the caller falls back to one-shot ones), false when done.
async fn follow_rule_inner(
    shared: &std::sync::Weak<Shared>,
    client: &ManagedClient,
    path: &str,
    sessions: &mut broadcast::Receiver<SessionEvent>,
) -> bool {
    let (client, path) = (client.clone(), path.to_owned());
    loop {
        let watch = client
            .client()
            .add_watch(&path, AddWatchMode::Persistent)
            .await;
        let mut watch = match watch {
            Ok(w) => w,
            Err(ZkError::Unimplemented) => return true,
            Err(_) => match sessions.recv().await {
                Ok(SessionEvent::Closed) | Err(broadcast::error::RecvError::Closed) => {
                    return false
                }
                _ => continue,
            },
        };
        if let Some(s) = shared.upgrade() {
            load_rule(&s, &client, &path).await;
        } else {
            return false;
        }
        while let Some(ev) = watch.next().await {
            let Some(s) = shared.upgrade() else {
                return false;
            };
            let reload = match ev {
                Ok(ev) => match ev.event_type {
                    EventType::NodeCreated
                    | EventType::NodeDataChanged
                    | EventType::NodeDeleted => true,
                    EventType::None => ev.state.is_connected(),
                    _ => false,
                },
                // The client dropped events this follower was too slow for: one of them
                // may have changed the rule.
                Err(_lagged) => true,
            };
            if reload {
                load_rule(&s, &client, &path).await;
            }
        }
        // The session ended: wait for the next one.
        loop {
            match sessions.recv().await {
                Ok(SessionEvent::NewSession { .. }) => break,
                Ok(SessionEvent::Closed) | Err(broadcast::error::RecvError::Closed) => {
                    return false
                }
                _ => {}
            }
        }
    }
}

/// Rebuilds the table whenever the service's instances change (once per burst of
/// changes), until the router is dropped.
async fn follow_instances(
    shared: std::sync::Weak<Shared>,
    cache: ServiceCache,
    mut events: broadcast::Receiver<zk_discovery::CacheEvent>,
    mut closed: tokio::sync::watch::Receiver<()>,
) {
    loop {
        tokio::select! {
            e = events.recv() => match e {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = closed.changed() => return,
        }
        // Take every change already queued: one rebuild for the lot.
        while events.try_recv().is_ok() {}
        let Some(s) = shared.upgrade() else { return };
        replace_instances(&s, cache.instances().instances().iter().map(|i| i.as_ref()));
    }
}

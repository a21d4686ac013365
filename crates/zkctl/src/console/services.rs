//! The services page's data: every service under the discovery base path and its
//! instances, kept current by the discovery caches and pushed to pages as server-sent
//! events.
//!
//! Owns the list of service names (one persistent watch on the base path) and a cache per
//! service; it never polls ZooKeeper. Each change a cache reports, or a service coming or
//! going, bumps a generation number; each open event stream then sends the whole list
//! again, built from the caches' snapshots (a burst of changes coalesces into one send).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;
use zk_client::{AddWatchMode, Error as ZkError, EventType, SessionEvent};
use zk_discovery::{ServiceCache, ServiceDiscovery, ServiceInstance};

use super::Shared;
use crate::services::instance_json;

/// The live view of every service. Its watcher stops when this is dropped.
pub struct LiveServices {
    caches: Arc<Mutex<BTreeMap<String, ServiceCache>>>,
    changes: watch::Receiver<u64>,
    /// True once the services have been listed.
    listed: watch::Receiver<bool>,
    watcher: tokio::task::JoinHandle<()>,
}

impl Drop for LiveServices {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the map leaves it usable: it only holds handles.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LiveServices {
    /// Starts following the services of `discovery`.
    pub fn start(discovery: ServiceDiscovery) -> Self {
        let caches = Arc::new(Mutex::new(BTreeMap::new()));
        let (notify, changes) = watch::channel(0u64);
        let (done, listed) = watch::channel(false);
        let watcher = tokio::spawn(follow_names(discovery, caches.clone(), notify, done));
        Self {
            caches,
            changes,
            listed,
            watcher,
        }
    }

    /// Waits until the services have been listed once (so the first page is not empty
    /// for want of time), at most `within`.
    pub async fn listed(&self, within: Duration) -> bool {
        let mut listed = self.listed.clone();
        tokio::time::timeout(within, listed.wait_for(|l| *l))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// A receiver that is told of every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    /// The live instances of `service` (enabled ones: what the router uses), if the
    /// service is known.
    pub fn enabled_instances(&self, service: &str) -> Option<Vec<ServiceInstance>> {
        let caches = lock(&self.caches);
        let cache = caches.get(service)?;
        Some(
            cache
                .instances()
                .instances()
                .iter()
                .filter(|i| i.enabled)
                .map(|i| i.as_ref().clone())
                .collect(),
        )
    }

    /// Every service with its instances, as the page shows them.
    pub fn to_json(&self) -> Value {
        let caches = lock(&self.caches);
        let services: Vec<Value> = caches
            .iter()
            .map(|(name, cache)| {
                let snapshot = cache.instances();
                let instances: Vec<Value> = snapshot
                    .by_node()
                    .map(|(node, i)| {
                        let mut v = instance_json(i);
                        if let Some(m) = v.as_object_mut() {
                            m.insert("node".into(), json!(node));
                        }
                        v
                    })
                    .collect();
                json!({"name": name, "instances": instances})
            })
            .collect();
        json!({"services": services, "generation": *self.changes.borrow()})
    }
}

/// Keeps `caches` equal to the children of the base path, across reconnects and new
/// sessions.
async fn follow_names(
    discovery: ServiceDiscovery,
    caches: Arc<Mutex<BTreeMap<String, ServiceCache>>>,
    notify: watch::Sender<u64>,
    listed: watch::Sender<bool>,
) {
    let base = discovery.naming().base().to_owned();
    let mut sessions = discovery.client().events();
    // One forwarder per service cache; all aborted when this task ends.
    let mut forwarders = JoinSet::new();
    loop {
        let client = discovery.client().client();
        match client.add_watch(&base, AddWatchMode::Persistent).await {
            Ok(mut watch) => {
                if relist(&discovery, &caches, &notify, &mut forwarders).await {
                    listed.send_replace(true);
                }
                while let Some(event) = watch.next().await {
                    let again = match event {
                        // Missed events: the list may have changed in them.
                        Err(_) => true,
                        Ok(ev) if ev.event_type == EventType::None => {
                            if ev.state.is_terminal() {
                                break;
                            }
                            // Changes made while disconnected are not replayed.
                            ev.state.is_connected()
                        }
                        Ok(_) => true,
                    };
                    if again {
                        relist(&discovery, &caches, &notify, &mut forwarders).await;
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, path = %base, "console cannot watch the services yet")
            }
        }
        // The session ended or the watch could not be set: wait for a new session, or
        // try again shortly (a connection that comes back keeps the session).
        tokio::select! {
            event = sessions.recv() => match event {
                Ok(SessionEvent::Closed) | Err(broadcast::error::RecvError::Closed) => return,
                _ => {}
            },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Reads the service names again and starts or drops caches to match; false if they
/// could not be read.
async fn relist(
    discovery: &ServiceDiscovery,
    caches: &Mutex<BTreeMap<String, ServiceCache>>,
    notify: &watch::Sender<u64>,
    forwarders: &mut JoinSet<()>,
) -> bool {
    let base = discovery.naming().base();
    let names = match discovery.client().client().get_children(base).await {
        Ok(names) => names,
        Err(ZkError::NoNode) => Vec::new(),
        Err(e) => {
            tracing::debug!(error = %e, path = %base, "console cannot list the services");
            return false;
        }
    };
    let known: Vec<String> = lock(caches).keys().cloned().collect();
    let mut changed = false;
    for gone in known.iter().filter(|k| !names.contains(k)) {
        lock(caches).remove(gone);
        changed = true;
    }
    for name in names.iter().filter(|n| !known.contains(n)) {
        match discovery.cache(name).await {
            Ok(cache) => {
                let mut events = cache.events();
                let notify = notify.clone();
                forwarders.spawn(async move {
                    loop {
                        match events.recv().await {
                            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                                notify.send_modify(|g| *g += 1)
                            }
                            Err(broadcast::error::RecvError::Closed) => return,
                        }
                    }
                });
                lock(caches).insert(name.clone(), cache);
                changed = true;
            }
            // A node under the base path whose name is not a valid service name.
            Err(e) => tracing::debug!(error = %e, service = %name, "console skips a service"),
        }
    }
    if changed {
        notify.send_modify(|g| *g += 1);
    }
    true
}

/// `GET /api/services`.
pub async fn list(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(s.services.to_json())
}

/// `GET /api/services/stream`: the list now, then again after every change.
pub async fn stream(
    State(s): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = s.services.subscribe();
    let events =
        futures::stream::unfold((s, changes, true), |(s, mut changes, first)| async move {
            if !first {
                changes.changed().await.ok()?;
            }
            changes.borrow_and_update();
            let event = Event::default()
                .event("services")
                .data(s.services.to_json().to_string());
            Some((Ok(event), (s, changes, false)))
        });
    Sse::new(events).keep_alive(KeepAlive::default())
}

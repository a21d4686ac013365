//! `TreeCache`: a watched copy of a whole subtree, as Curator's `CuratorCache`: one
//! persistent recursive watch on the root (ZooKeeper 3.6 and later), a full read at the
//! start and after every reconnect, lag or new session (changes made meanwhile are not
//! replayed to persistent watches), and each event applied as it comes.
//!
//! Owns the copy and its events; readers get an immutable snapshot (an `Arc` of an
//! ordered map from full path to [`NodeData`]) without locking, and a broadcast of
//! changes. zk-discovery's service caches are the same idea specialised to service
//! instances (one level, parsed as Curator's instance JSON); this one is generic.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, watch};
use zk_client::{AddWatchMode, Client, Error as ZkError, EventType, PersistentWatcher};

use crate::error::Result;
use crate::node_cache::NodeData;
use crate::paths::{check_base, join};
use crate::session::{next_session, retry_policy, Session};

/// A change to the subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeEvent {
    /// A node appeared.
    Added(String, NodeData),
    /// A node's data or Stat changed (the new ones).
    Updated(String, NodeData),
    /// A node went (its last known data).
    Removed(String, NodeData),
}

/// The subtree at one moment: full path → node.
pub type TreeSnapshot = Arc<BTreeMap<String, NodeData>>;

/// A watched copy of a subtree. Dropping it stops the watch.
pub struct TreeCache {
    root: String,
    snapshot: watch::Receiver<TreeSnapshot>,
    events: broadcast::Sender<TreeEvent>,
    worker: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TreeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeCache")
            .field("root", &self.root)
            .field("nodes", &self.snapshot.borrow().len())
            .finish()
    }
}

impl Drop for TreeCache {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

impl TreeCache {
    /// Starts following the subtree at `root`; returns once it has been read. Fails with
    /// `Unimplemented` on servers before 3.6 (no persistent watches).
    pub async fn start(session: impl Into<Session>, root: &str) -> Result<TreeCache> {
        check_base(root)?;
        let session = session.into();
        let client = session.client();
        let watch = client
            .add_watch(root, AddWatchMode::PersistentRecursive)
            .await?;
        let first = read_all(&client, root).await?;
        let (tx, snapshot) = watch::channel(Arc::new(first));
        let (events, _) = broadcast::channel(1024);
        let worker = tokio::spawn(follow(
            session,
            root.to_owned(),
            tx,
            events.clone(),
            Some(watch),
        ));
        Ok(TreeCache {
            root: root.to_owned(),
            snapshot,
            events,
            worker,
        })
    }

    /// The subtree now.
    pub fn snapshot(&self) -> TreeSnapshot {
        self.snapshot.borrow().clone()
    }

    /// One node, if it is in the subtree now.
    pub fn get(&self, path: &str) -> Option<NodeData> {
        self.snapshot.borrow().get(path).cloned()
    }

    /// The names of a node's children now, sorted.
    pub fn children(&self, path: &str) -> Vec<String> {
        let snapshot = self.snapshot.borrow();
        let prefix = if path == "/" {
            "/".to_owned()
        } else {
            format!("{path}/")
        };
        snapshot
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter_map(|(p, _)| {
                let rest = &p[prefix.len()..];
                (!rest.contains('/')).then(|| rest.to_owned())
            })
            .collect()
    }

    /// Snapshots as they change.
    pub fn watch(&self) -> watch::Receiver<TreeSnapshot> {
        self.snapshot.clone()
    }

    /// Changes from now on. A receiver that falls behind gets `Lagged` and should read
    /// [`TreeCache::snapshot`] again.
    pub fn events(&self) -> broadcast::Receiver<TreeEvent> {
        self.events.subscribe()
    }
}

/// Reads the whole subtree (nodes that vanish during the read are skipped).
async fn read_all(client: &Client, root: &str) -> Result<BTreeMap<String, NodeData>> {
    let policy = retry_policy();
    let retry = client.retry(&policy);
    let mut nodes = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(path) = pending.pop() {
        match retry.get_data(&path).await {
            Ok((data, stat)) => {
                nodes.insert(path.clone(), NodeData { data, stat });
            }
            Err(ZkError::NoNode) => continue,
            Err(e) => return Err(e.into()),
        }
        match retry.get_children(&path).await {
            Ok(children) => pending.extend(children.iter().map(|c| join(&path, c))),
            Err(ZkError::NoNode) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(nodes)
}

/// Replaces the copy with `fresh`, telling what differs.
fn replace(
    tx: &watch::Sender<TreeSnapshot>,
    events: &broadcast::Sender<TreeEvent>,
    fresh: BTreeMap<String, NodeData>,
) {
    let old = tx.borrow().clone();
    for (path, node) in &fresh {
        match old.get(path) {
            None => {
                let _ = events.send(TreeEvent::Added(path.clone(), node.clone()));
            }
            Some(before) if before != node => {
                let _ = events.send(TreeEvent::Updated(path.clone(), node.clone()));
            }
            Some(_) => {}
        }
    }
    for (path, node) in old.iter() {
        if !fresh.contains_key(path) {
            let _ = events.send(TreeEvent::Removed(path.clone(), node.clone()));
        }
    }
    tx.send_replace(Arc::new(fresh));
}

/// Applies one node's new state (`None`: gone).
fn apply(
    tx: &watch::Sender<TreeSnapshot>,
    events: &broadcast::Sender<TreeEvent>,
    path: &str,
    node: Option<NodeData>,
) {
    tx.send_modify(|snapshot| {
        let map = Arc::make_mut(snapshot);
        match node {
            Some(node) => {
                let event = match map.insert(path.to_owned(), node.clone()) {
                    None => TreeEvent::Added(path.to_owned(), node),
                    Some(before) if before != node => TreeEvent::Updated(path.to_owned(), node),
                    Some(_) => return,
                };
                let _ = events.send(event);
            }
            None => {
                if let Some(before) = map.remove(path) {
                    let _ = events.send(TreeEvent::Removed(path.to_owned(), before));
                }
            }
        }
    });
}

async fn follow(
    session: Session,
    root: String,
    tx: watch::Sender<TreeSnapshot>,
    events: broadcast::Sender<TreeEvent>,
    mut watch: Option<PersistentWatcher>,
) {
    let mut sessions = session.managed().map(|m| m.events());
    loop {
        let client = session.client();
        let mut stream = match watch.take() {
            Some(w) => w,
            None => match client
                .add_watch(&root, AddWatchMode::PersistentRecursive)
                .await
            {
                Ok(w) => {
                    match read_all(&client, &root).await {
                        Ok(fresh) => replace(&tx, &events, fresh),
                        Err(e) => tracing::debug!(error = %e, %root, "tree cache: resync failed"),
                    }
                    w
                }
                Err(e) if e.is_terminal() => {
                    if !next_session(&mut sessions).await {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::debug!(error = %e, %root, "tree cache: watching again shortly");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            },
        };
        let mut resync = false;
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(event) => event,
                Err(_) => {
                    resync = true;
                    break;
                }
            };
            match event.event_type {
                EventType::None => {
                    if event.state.is_terminal() {
                        break;
                    }
                    if event.state.is_connected() {
                        resync = true;
                        break;
                    }
                }
                EventType::NodeCreated | EventType::NodeDataChanged => {
                    let policy = retry_policy();
                    match client.retry(&policy).get_data(&event.path).await {
                        Ok((data, stat)) => {
                            apply(&tx, &events, &event.path, Some(NodeData { data, stat }))
                        }
                        Err(ZkError::NoNode) => apply(&tx, &events, &event.path, None),
                        Err(_) => {
                            resync = true;
                            break;
                        }
                    }
                }
                EventType::NodeDeleted => apply(&tx, &events, &event.path, None),
                _ => {}
            }
        }
        if resync {
            // Same session: keep the watch, read everything again, until it succeeds or
            // the session ends (a copy must not stay stale after a failed read).
            let ended = loop {
                match read_all(&client, &root).await {
                    Ok(fresh) => {
                        replace(&tx, &events, fresh);
                        break false;
                    }
                    Err(crate::RecipeError::ZooKeeper(e)) if e.is_terminal() => break true,
                    Err(e) => {
                        tracing::debug!(error = %e, %root, "tree cache: resync failed; trying again");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            };
            if !ended {
                watch = Some(stream);
                continue;
            }
        }
        // The session ended.
        if !next_session(&mut sessions).await {
            return;
        }
    }
}

//! `NodeCache`: Curator's cache of one node: its data and Stat (or its absence), kept
//! current by a watch and published on a `watch` channel.
//!
//! Owns following one node, across reconnects (the client restores the watch, and a change
//! made meanwhile fires it) and, with a managed client, across new sessions. For a whole
//! subtree, see [`crate::TreeCache`].

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use zk_client::{Client, Error as ZkError, OneshotWatcher, Stat};

use crate::error::Result;
use crate::paths::check_base;
use crate::session::{next_session, retry_policy, Session};

/// A node's data and Stat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeData {
    /// The data.
    pub data: Bytes,
    /// The Stat.
    pub stat: Stat,
}

/// A watched copy of one node. Dropping it stops the watch.
pub struct NodeCache {
    path: String,
    current: watch::Receiver<Option<NodeData>>,
    worker: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for NodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCache")
            .field("path", &self.path)
            .finish()
    }
}

impl Drop for NodeCache {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

/// Reads the node and leaves a watch on it (on its creation, when absent).
async fn read(client: &Client, path: &str) -> Result<(Option<NodeData>, OneshotWatcher)> {
    let policy = retry_policy();
    let retry = client.retry(&policy);
    loop {
        match retry
            .idempotent(|c| async move { c.get_and_watch_data(path).await })
            .await
        {
            Ok((data, stat, watcher)) => return Ok((Some(NodeData { data, stat }), watcher)),
            Err(ZkError::NoNode) => {}
            Err(e) => return Err(e.into()),
        }
        let (stat, watcher) = retry
            .idempotent(|c| async move { c.exists_and_watch(path).await })
            .await?;
        if stat.is_none() {
            return Ok((None, watcher));
        }
        // Created between the two reads: read it.
    }
}

impl NodeCache {
    /// Starts following `path`; returns once it has been read.
    pub async fn start(session: impl Into<Session>, path: &str) -> Result<NodeCache> {
        check_base(path)?;
        let session = session.into();
        let (first, watcher) = read(&session.client(), path).await?;
        let (tx, current) = watch::channel(first);
        let worker = tokio::spawn(follow(session, path.to_owned(), tx, watcher));
        Ok(NodeCache {
            path: path.to_owned(),
            current,
            worker,
        })
    }

    /// The node now (`None`: it does not exist).
    pub fn current(&self) -> Option<NodeData> {
        self.current.borrow().clone()
    }

    /// The node as it changes.
    pub fn watch(&self) -> watch::Receiver<Option<NodeData>> {
        self.current.clone()
    }
}

async fn follow(
    session: Session,
    path: String,
    tx: watch::Sender<Option<NodeData>>,
    mut watcher: OneshotWatcher,
) {
    let mut sessions = session.managed().map(|m| m.events());
    loop {
        let event = watcher.await;
        // The session ended: with a managed client, follow on in its next one.
        if event.state.is_terminal() && !next_session(&mut sessions).await {
            return;
        }
        loop {
            match read(&session.client(), &path).await {
                Ok((node, next)) => {
                    tx.send_if_modified(|current| {
                        let changed = *current != node;
                        *current = node;
                        changed
                    });
                    watcher = next;
                    break;
                }
                Err(e) => {
                    tracing::debug!(error = %e, %path, "node cache: reading again shortly");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

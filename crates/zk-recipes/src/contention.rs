//! The protocol Curator's locks share (its `LockInternals` and lock drivers), and what
//! the mutex, the read-write lock and the semaphore's internal lock are built on.
//!
//! Each contender creates a protected ephemeral-sequential node under the lock's node
//! (`_c_<guid>-lock-0000000042`). Contenders are ordered by the sequence number after the
//! lock name; one holds the lock when its [`Rule`] says so (a mutex: nobody before it),
//! and otherwise watches the one node the rule names, normally the one just before it: a
//! release wakes one waiter, not the herd.
//!
//! Owns acquiring and the node's clean-up: a contender that gives up (timeout), fails or
//! is dropped mid-way (a cancelled future) deletes its node, even one whose create was
//! still in flight ([`Cleanup`]). Holding, re-entrancy and releasing are the recipes'.

use std::time::Duration;

use tokio::time::Instant;
use zk_client::retry::Protection;
use zk_client::{
    Client, CreateMode, CreateOptions, Error as ZkError, OneshotWatcher, Stat, WatchedEvent,
};

use crate::error::{RecipeError, Result};
use crate::paths::{basename, ensure_containers, join};
use crate::session::retry_policy;

/// Curator's mutex lock name.
pub(crate) const LOCK_NAME: &str = "lock-";

/// When a contender holds the lock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    /// Fewer than this many contenders are before it (1 for a mutex); it watches the one
    /// that many places before it.
    Leases(usize),
    /// A read lock (Curator's `readLockPredicate`): no write contender is before it, or
    /// its holder holds the write lock (a writer may also read). It watches the first
    /// write contender.
    Read {
        /// Whether this reader's holder holds the write lock.
        holds_write: bool,
    },
}

/// What the rule says of one contender.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Acquired,
    Watch(String),
}

impl Rule {
    fn decide(self, sorted: &[String], ours: usize) -> Decision {
        match self {
            Rule::Leases(leases) => {
                if ours < leases {
                    Decision::Acquired
                } else {
                    Decision::Watch(sorted[ours - leases].clone())
                }
            }
            Rule::Read { holds_write: true } => Decision::Acquired,
            Rule::Read { holds_write: false } => {
                match sorted[..ours]
                    .iter()
                    .find(|n| n.contains(crate::rwlock::WRITE_NAME))
                {
                    None => Decision::Acquired,
                    Some(writer) => Decision::Watch(writer.clone()),
                }
            }
        }
    }
}

/// The part of a contender's node name that orders it: what follows the last lock name
/// in it (Curator's `fixForSorting`), or the whole name.
pub(crate) fn sequence_of<'a>(name: &'a str, lock_names: &[&str]) -> &'a str {
    let mut key = name;
    for lock_name in lock_names {
        if let Some(at) = key.rfind(lock_name) {
            key = &key[at + lock_name.len()..];
        }
    }
    key
}

/// The children of `base`, ordered as contenders.
pub(crate) async fn sorted_contenders(
    client: &Client,
    base: &str,
    lock_names: &[&str],
) -> Result<Vec<String>> {
    let policy = retry_policy();
    let mut children = client.retry(&policy).get_children(base).await?;
    children.sort_by(|a, b| sequence_of(a, lock_names).cmp(sequence_of(b, lock_names)));
    Ok(children)
}

/// A node held: its path and the Stat it was created with (its `czxid` orders every
/// holder of this lock ever, and so serves as a fencing token).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub path: String,
    pub stat: Stat,
}

/// Deletes a contender's node unless disarmed: on drop it hands the deletion to the
/// runtime, so a dropped future or guard leaves nothing behind. Before the create has
/// answered, the node is found by its protection prefix.
pub(crate) struct Cleanup {
    client: Client,
    target: Target,
    armed: bool,
}

enum Target {
    Pending {
        parent: String,
        protection: Protection,
    },
    Node(String),
}

impl Cleanup {
    /// A cleanup for the node a protected create under `parent` may make.
    pub(crate) fn pending(client: &Client, parent: &str, protection: Protection) -> Self {
        Self {
            client: client.clone(),
            target: Target::Pending {
                parent: parent.to_owned(),
                protection,
            },
            armed: true,
        }
    }

    /// A cleanup for a node that exists.
    pub(crate) fn node(client: &Client, path: &str) -> Self {
        Self {
            client: client.clone(),
            target: Target::Node(path.to_owned()),
            armed: true,
        }
    }

    /// The create answered: the node is `path`.
    pub(crate) fn created(&mut self, path: &str) {
        self.target = Target::Node(path.to_owned());
    }

    /// Keeps the node.
    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }

    /// Deletes the node now (a node already gone is fine).
    /// On failure, or when this future is dropped before the delete is done, the
    /// cleanup stays armed and its drop retries in the background.
    pub(crate) async fn run(mut self) -> Result<()> {
        let deleted = delete_target(&self.client, &self.target).await;
        if deleted.is_ok() {
            self.armed = false;
        }
        deleted
    }
}

async fn delete_target(client: &Client, target: &Target) -> Result<()> {
    let path = match target {
        Target::Node(path) => path.clone(),
        Target::Pending { parent, protection } => {
            let policy = retry_policy();
            match client
                .retry(&policy)
                .find_protected_node(parent, protection)
                .await
            {
                Ok(Some((path, _))) => path,
                Ok(None) | Err(ZkError::NoNode) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    };
    delete_own(client, &path).await
}

/// Deletes a node this client made (an ephemeral-sequential name is never reused, so an
/// unconditional delete can only hit ours); gone already is fine.
pub(crate) async fn delete_own(client: &Client, path: &str) -> Result<()> {
    let policy = retry_policy();
    let r = client
        .retry(&policy)
        .idempotent(|c| async move { c.delete(path, None).await })
        .await;
    match r {
        Ok(()) | Err(ZkError::NoNode) => Ok(()),
        // With the session gone, so is the ephemeral node.
        Err(ZkError::SessionExpired | ZkError::Closed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let client = self.client.clone();
        let target = std::mem::replace(&mut self.target, Target::Node(String::new()));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(e) = delete_target(&client, &target).await {
                        tracing::warn!(error = %e, "could not delete an abandoned lock node; it goes when the session ends");
                    }
                });
            }
            Err(_) => tracing::warn!(
                "a lock node was abandoned outside a tokio runtime; it goes when the session ends"
            ),
        }
    }
}

/// A protected create of `target` under `base`, making `base` (as containers) when it is
/// missing; again if a container is reaped between the two, as Curator does.
pub(crate) async fn create_in(
    client: &Client,
    base: &str,
    protection: &Protection,
    target: &str,
    data: &[u8],
    options: &CreateOptions,
) -> Result<(String, Stat)> {
    let policy = retry_policy();
    let retry = client.retry(&policy);
    let mut tries = 0;
    loop {
        match retry
            .create_protected_as(protection, target, data, options)
            .await
        {
            Err(ZkError::NoNode) if tries < 3 => {
                tries += 1;
                ensure_containers(client, base).await?;
            }
            other => return Ok(other?),
        }
    }
}

/// One attempt to acquire: creates our node under `base` and waits, until `rule` gives
/// us the lock (`Some`), or `deadline` passes (`None`, our node deleted).
pub(crate) async fn acquire(
    client: &Client,
    base: &str,
    lock_name: &str,
    lock_names: &[&str],
    data: &[u8],
    rule: Rule,
    deadline: Option<Instant>,
) -> Result<Option<Node>> {
    let policy = retry_policy();
    let retry = client.retry(&policy);
    let protection = Protection::new();
    let mut cleanup = Cleanup::pending(client, base, protection.clone());
    let target = join(base, lock_name);
    let options = CreateOptions::new(CreateMode::EphemeralSequential);
    let created = match retry
        .create_protected_as(&protection, &target, data, &options)
        .await
    {
        Err(ZkError::NoNode) => {
            ensure_containers(client, base).await?;
            retry
                .create_protected_as(&protection, &target, data, &options)
                .await
        }
        other => other,
    };
    let (path, stat) = created?;
    cleanup.created(&path);
    let ours = basename(&path).to_owned();
    loop {
        let sorted = sorted_contenders(client, base, lock_names).await?;
        let Some(index) = sorted.iter().position(|n| *n == ours) else {
            // Deleted by someone else (or our session ended): start again or give up is
            // the caller's choice.
            cleanup.disarm();
            return Err(RecipeError::NodeLost(path));
        };
        let watch = match rule.decide(&sorted, index) {
            Decision::Acquired => {
                cleanup.disarm();
                return Ok(Some(Node { path, stat }));
            }
            Decision::Watch(before) => join(base, &before),
        };
        let watched = retry
            .idempotent(|c| {
                let watch = watch.clone();
                async move { c.get_and_watch_data(&watch).await }
            })
            .await;
        let watcher = match watched {
            Ok((_, _, watcher)) => watcher,
            // Gone between the listing and the watch: look again.
            Err(ZkError::NoNode) => continue,
            Err(e) => return Err(e.into()),
        };
        let Some(event) = wait_until(watcher, deadline).await else {
            cleanup.run().await?;
            return Ok(None);
        };
        if event.state.is_terminal() {
            cleanup.disarm();
            return Err(RecipeError::SessionEnded(event.state));
        }
    }
}

/// Waits for `watcher` until `deadline` (`None`: without limit): its event, or `None` when
/// the deadline came first.
pub(crate) async fn wait_until(
    watcher: OneshotWatcher,
    deadline: Option<Instant>,
) -> Option<WatchedEvent> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, watcher).await.ok(),
        None => Some(watcher.await),
    }
}

/// `deadline` for a wait of `timeout` from now.
pub(crate) fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now() + t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn contenders_are_ordered_by_the_sequence_after_the_lock_name() {
        assert_eq!(
            sequence_of("_c_1234-lock-0000000007", &[LOCK_NAME]),
            "0000000007"
        );
        assert_eq!(sequence_of("foreign", &[LOCK_NAME]), "foreign");
        let rw = ["__READ__", "__WRIT__"];
        assert_eq!(sequence_of("_c_9-__WRIT__0000000003", &rw), "0000000003");
        assert_eq!(sequence_of("_c_9-__READ__0000000004", &rw), "0000000004");
    }

    #[test]
    fn a_mutex_contender_watches_only_the_one_before_it() {
        let sorted = names(&["a-lock-1", "b-lock-2", "c-lock-3"]);
        assert_eq!(Rule::Leases(1).decide(&sorted, 0), Decision::Acquired);
        assert_eq!(
            Rule::Leases(1).decide(&sorted, 2),
            Decision::Watch("b-lock-2".into())
        );
        assert_eq!(Rule::Leases(2).decide(&sorted, 1), Decision::Acquired);
        assert_eq!(
            Rule::Leases(2).decide(&sorted, 2),
            Decision::Watch("a-lock-1".into())
        );
    }

    #[test]
    fn a_reader_waits_only_for_writers_before_it() {
        let sorted = names(&[
            "r-__READ__1",
            "w-__WRIT__2",
            "r-__READ__3",
            "w-__WRIT__4",
            "r-__READ__5",
        ]);
        let read = Rule::Read { holds_write: false };
        assert_eq!(read.decide(&sorted, 0), Decision::Acquired);
        // Curator's readers watch the first writer, not the nearest.
        assert_eq!(
            read.decide(&sorted, 4),
            Decision::Watch("w-__WRIT__2".into())
        );
        // The write lock's own holder may read.
        assert_eq!(
            Rule::Read { holds_write: true }.decide(&sorted, 2),
            Decision::Acquired
        );
    }
}

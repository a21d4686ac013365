//! `InterProcessSemaphoreV2`: Curator's counting semaphore. At most `max_leases` leases
//! are out at once, across every process using the path.
//!
//! Layout and protocol are Curator's: a mutex at `{path}/locks` admits one acquirer at a
//! time; it creates its lease node `{path}/leases/_c_<guid>-lease-N` (ephemeral,
//! sequential) and, still holding the mutex, waits until the lease nodes number at most
//! `max_leases`, then releases the mutex. Returning a lease deletes its node.
//!
//! A lease is held as long as its node exists: it ends with the session, so after a
//! connection loss its holder cannot know whether it still has it (see
//! [`crate::mutex`] on leases and fences).

use std::time::Duration;

use tokio::time::Instant;
use zk_client::retry::Protection;
use zk_client::{Client, CreateMode, CreateOptions, Error as ZkError};

use crate::contention::{create_in, deadline_after, wait_until, Cleanup};
use crate::error::{RecipeError, Result};
use crate::mutex::InterProcessMutex;
use crate::paths::{basename, check_base, join};
use crate::session::{retry_policy, Session};

/// Curator's lease node name.
const LEASE_NAME: &str = "lease-";

/// A semaphore at a path, in Curator's layout.
#[derive(Debug, Clone)]
pub struct InterProcessSemaphoreV2 {
    session: Session,
    leases: String,
    max_leases: usize,
    lock: InterProcessMutex,
    data: Vec<u8>,
}

/// One lease. Dropping it returns it (in the background); [`Lease::release`] returns it
/// and waits.
pub struct Lease {
    node: String,
    client: Client,
    cleanup: Cleanup,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("node", &self.node).finish()
    }
}

impl Lease {
    /// The lease's node.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The session that holds the lease (see [`crate::LockGuard::client`]).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Returns the lease: deletes its node.
    pub async fn release(self) -> Result<()> {
        self.cleanup.run().await
    }
}

impl InterProcessSemaphoreV2 {
    /// The semaphore at `path` allowing `max_leases` leases at once.
    pub fn new(session: impl Into<Session>, path: &str, max_leases: usize) -> Result<Self> {
        check_base(path)?;
        if max_leases == 0 {
            return Err(RecipeError::InvalidArgument(
                "a semaphore needs at least one lease".into(),
            ));
        }
        let session = session.into();
        Ok(Self {
            lock: InterProcessMutex::new(session.clone(), &join(path, "locks"))?,
            leases: join(path, "leases"),
            session,
            max_leases,
            data: Vec::new(),
        })
    }

    /// The same semaphore, writing `data` into its lease nodes.
    pub fn with_node_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// Waits for a lease as long as it takes.
    pub async fn acquire(&self) -> Result<Lease> {
        match self.acquire_until(None).await? {
            Some(lease) => Ok(lease),
            None => Err(RecipeError::Timeout(Duration::MAX)),
        }
    }

    /// Waits for a lease at most `timeout`; `None` if none was free by then.
    pub async fn try_acquire_for(&self, timeout: Duration) -> Result<Option<Lease>> {
        self.acquire_until(deadline_after(Some(timeout))).await
    }

    /// The lease nodes' names (Curator's `getParticipantNodes`).
    pub async fn participant_nodes(&self) -> Result<Vec<String>> {
        let client = self.session.client();
        let policy = retry_policy();
        match client.retry(&policy).get_children(&self.leases).await {
            Ok(children) => Ok(children),
            Err(ZkError::NoNode) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    async fn acquire_until(&self, deadline: Option<Instant>) -> Result<Option<Lease>> {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        // Never re-entered: two acquires of one task queue like two processes.
        let Some(guard) = self.lock.lock_fresh(left).await? else {
            return Ok(None);
        };
        let client = self.session.client();
        let lease = self.wait_for_room(&client, deadline).await;
        // Whatever happened, the next acquirer may go.
        if let Err(e) = guard.release().await {
            tracing::warn!(error = %e, "could not release the semaphore's lock; it goes with the session");
        }
        lease
    }

    /// With the semaphore's lock held: makes our lease node and waits until the leases
    /// number at most `max_leases`.
    async fn wait_for_room(
        &self,
        client: &Client,
        deadline: Option<Instant>,
    ) -> Result<Option<Lease>> {
        let policy = retry_policy();
        let retry = client.retry(&policy);
        let protection = Protection::new();
        let target = join(&self.leases, LEASE_NAME);
        let options = CreateOptions::new(CreateMode::EphemeralSequential);
        // Armed before the create: a caller that gives up mid-create leaves no lease.
        let mut cleanup = Cleanup::pending(client, &self.leases, protection.clone());
        let (node, _) = create_in(
            client,
            &self.leases,
            &protection,
            &target,
            &self.data,
            &options,
        )
        .await?;
        cleanup.created(&node);
        let ours = basename(&node).to_owned();
        loop {
            let leases = &self.leases;
            let (children, _, watcher) = retry
                .idempotent(|c| async move { c.get_and_watch_children(leases).await })
                .await?;
            if !children.contains(&ours) {
                cleanup.disarm();
                return Err(RecipeError::NodeLost(node));
            }
            if children.len() <= self.max_leases {
                return Ok(Some(Lease {
                    node,
                    client: client.clone(),
                    cleanup,
                }));
            }
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
}

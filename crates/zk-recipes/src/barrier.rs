//! Curator's barriers. [`DistributedBarrier`]: everyone waits while a node exists, until
//! someone removes it. [`DistributedDoubleBarrier`]: a group of N starts together (enter)
//! and finishes together (leave).
//!
//! Double barrier layout: each participant's ephemeral node `{path}/<uuid>` (a bare
//! random UUID), and `{path}/ready`, made by the N-th to enter. Leaving: the lowest node
//! waits for the highest to go, every other one deletes itself and waits for the lowest,
//! until none is left.

use std::time::Duration;

use rand::RngCore;
use tokio::time::Instant;
use zk_client::{Client, CreateMode, CreateOptions, Error as ZkError, OneshotWatcher};

use crate::contention::{deadline_after, delete_own, wait_until};
use crate::error::{RecipeError, Result};
use crate::paths::{check_base, ensure_containers, is_node_exists, join};
use crate::session::{retry_policy, Session};

/// Waits for `watcher` until `deadline`; `false` when the deadline came first.
async fn wait(watcher: OneshotWatcher, deadline: Option<Instant>) -> Result<bool> {
    let Some(event) = wait_until(watcher, deadline).await else {
        return Ok(false);
    };
    if event.state.is_terminal() {
        return Err(RecipeError::SessionEnded(event.state));
    }
    Ok(true)
}

async fn watch_exists(client: &Client, path: &str) -> Result<(bool, OneshotWatcher)> {
    let policy = retry_policy();
    let (stat, watcher) = client
        .retry(&policy)
        .idempotent(|c| async move { c.exists_and_watch(path).await })
        .await?;
    Ok((stat.is_some(), watcher))
}

/// A barrier at a path: set it, wait on it, remove it.
#[derive(Debug, Clone)]
pub struct DistributedBarrier {
    session: Session,
    path: String,
}

impl DistributedBarrier {
    /// The barrier at `path`.
    pub fn new(session: impl Into<Session>, path: &str) -> Result<Self> {
        check_base(path)?;
        Ok(Self {
            session: session.into(),
            path: path.to_owned(),
        })
    }

    /// Raises the barrier (creates its node; already raised is fine).
    pub async fn set_barrier(&self) -> Result<()> {
        let client = self.session.client();
        if let Some((parent, _)) = self.path.rsplit_once('/') {
            if !parent.is_empty() {
                ensure_containers(&client, parent).await?;
            }
        }
        let policy = retry_policy();
        match client
            .retry(&policy)
            .create(&self.path, b"", &CreateOptions::persistent())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_node_exists(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Lowers it: everyone waiting goes on.
    pub async fn remove_barrier(&self) -> Result<()> {
        delete_own(&self.session.client(), &self.path).await
    }

    /// Waits while the barrier is up, at most `timeout` (`None`: as long as it takes);
    /// `false` when it was still up at the end.
    pub async fn wait_on_barrier(&self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = deadline_after(timeout);
        let client = self.session.client();
        loop {
            let (up, watcher) = watch_exists(&client, &self.path).await?;
            if !up {
                return Ok(true);
            }
            if !wait(watcher, deadline).await? {
                return Ok(false);
            }
        }
    }
}

/// A double barrier for `members` participants at a path.
#[derive(Debug, Clone)]
pub struct DistributedDoubleBarrier {
    session: Session,
    path: String,
    ready: String,
    ours: String,
    members: usize,
}

/// A random UUID's text (the participant's node name, as Curator's).
fn uuid() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl DistributedDoubleBarrier {
    /// A participant in the barrier at `path` for `members` participants.
    pub fn new(session: impl Into<Session>, path: &str, members: usize) -> Result<Self> {
        check_base(path)?;
        if members == 0 {
            return Err(RecipeError::InvalidArgument(
                "a double barrier needs at least one member".into(),
            ));
        }
        Ok(Self {
            session: session.into(),
            ready: join(path, "ready"),
            ours: join(path, &uuid()),
            path: path.to_owned(),
            members,
        })
    }

    /// Enters, and waits until `members` have entered, at most `timeout`; `false` if
    /// they had not by then (our node stays: leave, or end the session).
    pub async fn enter(&self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = deadline_after(timeout);
        let client = self.session.client();
        let (ready, watcher) = watch_exists(&client, &self.ready).await?;
        ensure_containers(&client, &self.path).await?;
        let policy = retry_policy();
        let retry = client.retry(&policy);
        match retry
            .create(&self.ours, b"", &CreateOptions::new(CreateMode::Ephemeral))
            .await
        {
            Ok(_) => {}
            Err(e) if is_node_exists(&e) => {}
            Err(e) => return Err(e.into()),
        }
        if ready {
            return Ok(true);
        }
        let children = retry.get_children(&self.path).await?;
        let entered = children.iter().filter(|c| *c != "ready").count();
        if entered >= self.members {
            match retry
                .create(&self.ready, b"", &CreateOptions::persistent())
                .await
            {
                Ok(_) => {}
                Err(e) if is_node_exists(&e) => {}
                Err(e) => return Err(e.into()),
            }
            return Ok(true);
        }
        wait(watcher, deadline).await
    }

    /// Leaves, and waits until every participant has left, at most `timeout`; `false` if
    /// some had not by then.
    pub async fn leave(&self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = deadline_after(timeout);
        let client = self.session.client();
        let policy = retry_policy();
        let ours = crate::paths::basename(&self.ours).to_owned();
        let mut deleted = false;
        let done = loop {
            let mut children = match client.retry(&policy).get_children(&self.path).await {
                Ok(c) => c,
                Err(ZkError::NoNode) => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            children.retain(|c| c != "ready");
            children.sort();
            if children.is_empty() {
                break true;
            }
            let present = children.contains(&ours);
            if !present && !deleted {
                return Err(RecipeError::NodeLost(self.ours.clone()));
            }
            if children.len() == 1 && present {
                delete_own(&client, &self.ours).await?;
                break true;
            }
            let lowest = children[0] == ours;
            let watch = if lowest {
                // The lowest goes last: wait for the highest.
                children[children.len() - 1].clone()
            } else {
                if present {
                    delete_own(&client, &self.ours).await?;
                    deleted = true;
                }
                children[0].clone()
            };
            let (exists, watcher) = watch_exists(&client, &join(&self.path, &watch)).await?;
            if exists && !wait(watcher, deadline).await? {
                break false;
            }
        };
        match delete_own(&client, &self.ready).await {
            Ok(()) => {}
            Err(e) => tracing::debug!(error = %e, "double barrier: ready node not deleted"),
        }
        Ok(done)
    }
}

//! `LeaderSelector`: Curator's leader election by lock. Candidates queue on an
//! [`InterProcessMutex`] at the election path (nodes `_c_<guid>-lock-N` holding each
//! candidate's id); the holder leads while the work it was given runs, and gives up
//! leadership by returning from it.
//!
//! ```no_run
//! # async fn demo(client: zk_client::ManagedClient) -> zk_recipes::Result<()> {
//! use zk_recipes::{LeaderSelector, Leading};
//! let selector = LeaderSelector::new(&client, "/election/jobs", "worker-3")?;
//! // Lead once: run the work while leading, then let the next candidate lead.
//! let outcome = selector.lead(|leading: Leading| async move {
//!     // ... work; `leading.fencing_token()` for what it changes ...
//!     "done"
//! }).await?;
//! # let _ = outcome; Ok(()) }
//! ```
//!
//! # Session loss
//! As Curator's `LeaderSelectorListenerAdapter` under its default policy: when the
//! connection is lost (the session may expire while another candidate takes over) or the
//! session ends, the leader's work is cancelled — its future is dropped — and
//! [`LeaderSelector::lead`] returns [`Led::Interrupted`]. Work that must not be cut
//! anywhere keeps its own state consistent at every `.await`, as any cancellable future.

use std::future::Future;

use crate::error::Result;
use crate::mutex::{InterProcessMutex, LockState};
use crate::session::{retry_policy, Session};

/// What a leader gets: how to tell what it does apart from an older leader's.
#[derive(Debug, Clone)]
pub struct Leading {
    node: String,
    fencing_token: i64,
}

impl Leading {
    /// This leadership's lock node.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Larger for every later leader (the lock node's creation zxid).
    pub fn fencing_token(&self) -> i64 {
        self.fencing_token
    }
}

/// How a leadership ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Led<T> {
    /// The work finished while leading, with its output; leadership was given up.
    Finished(T),
    /// Leadership was at risk (connection lost) or lost: the work was cancelled.
    Interrupted(LockState),
}

/// A candidate for leadership at a path.
#[derive(Debug, Clone)]
pub struct LeaderSelector {
    session: Session,
    path: String,
    mutex: InterProcessMutex,
}

impl LeaderSelector {
    /// A candidate with `id` (written into its node, as Curator's participant id).
    pub fn new(session: impl Into<Session>, path: &str, id: &str) -> Result<Self> {
        let session = session.into();
        let mutex = InterProcessMutex::new(session.clone(), path)?.with_node_data(id.as_bytes());
        Ok(Self {
            session,
            path: path.to_owned(),
            mutex,
        })
    }

    /// Waits to lead, then runs `work` while leading. Returns when the work finishes, or
    /// as soon as leadership is at risk (the work is then dropped). Call again to queue
    /// again (Curator's `autoRequeue`).
    pub async fn lead<T, F, Fut>(&self, work: F) -> Result<Led<T>>
    where
        F: FnOnce(Leading) -> Fut,
        Fut: Future<Output = T>,
    {
        // Leadership is never re-entered: two `lead` calls of one task take turns.
        let Some(guard) = self.mutex.lock_fresh(None).await? else {
            return Err(crate::RecipeError::Timeout(std::time::Duration::MAX));
        };
        let leading = Leading {
            node: guard.node().to_owned(),
            fencing_token: guard.fencing_token(),
        };
        let outcome = tokio::select! {
            output = work(leading) => Led::Finished(output),
            state = guard.at_risk() => Led::Interrupted(state),
        };
        if let Err(e) = guard.release().await {
            tracing::warn!(error = %e, path = %self.path, "could not give up leadership cleanly; the node goes with the session");
        }
        Ok(outcome)
    }

    /// Every candidate's id, leader first (Curator's `getParticipants`).
    pub async fn participants(&self) -> Result<Vec<String>> {
        let client = self.session.client();
        let policy = retry_policy();
        let mut ids = Vec::new();
        for node in self.mutex.participant_nodes().await? {
            match client.retry(&policy).get_data(&node).await {
                Ok((data, _)) => ids.push(String::from_utf8_lossy(&data).into_owned()),
                Err(zk_client::Error::NoNode) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(ids)
    }

    /// The election's node.
    pub fn path(&self) -> &str {
        &self.path
    }
}

//! `DistributedAtomicLong`: Curator's optimistic counter. The node holds the value as 8
//! big-endian bytes (absent or empty: 0); a change reads the value and its version, then
//! writes the new value on that version (creating the node when absent), and tries again
//! when someone else got there first.
//!
//! Unlike Curator's, an update whose write met a connection loss and whose retry then
//! found the version moved is never retried blindly (that could count twice): it is
//! reported as `zk_client::Error::MaybeApplied`.

use std::time::Duration;

use zk_client::{Client, CreateOptions, Error as ZkError};

use crate::error::{RecipeError, Result};
use crate::mutex::InterProcessMutex;
use crate::paths::{check_base, ensure_containers, is_node_exists};
use crate::session::{retry_policy, Session};

/// Attempts of an update made under the promoted lock.
const LOCKED_ATTEMPTS: u32 = 1000;

/// The outcome of an update (Curator's `AtomicValue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtomicValue {
    /// Whether the update was made (false: every attempt lost to concurrent changes, or a
    /// compare-and-set found another value).
    pub succeeded: bool,
    /// The value before.
    pub pre_value: i64,
    /// The value after (the value seen, when it did not succeed).
    pub post_value: i64,
}

/// An optimistic counter at a path.
#[derive(Debug, Clone)]
pub struct DistributedAtomicLong {
    session: Session,
    path: String,
    attempts: u32,
    /// Curator's `PromotedToLock`: when every optimistic attempt loses, take this lock
    /// (waiting at most the duration) and try again under it.
    promoted: Option<(InterProcessMutex, Duration)>,
}

fn decode(path: &str, data: &[u8]) -> Result<i64> {
    if data.is_empty() {
        return Ok(0);
    }
    let bytes: [u8; 8] = data.try_into().map_err(|_| RecipeError::BadData {
        path: path.to_owned(),
        len: data.len(),
        what: "an 8-byte big-endian long",
    })?;
    Ok(i64::from_be_bytes(bytes))
}

/// What the node holds now: its value and version, or `None` when absent.
async fn current(client: &Client, path: &str) -> Result<Option<(i64, i32)>> {
    let policy = retry_policy();
    match client.retry(&policy).get_data(path).await {
        Ok((data, stat)) => Ok(Some((decode(path, &data)?, stat.version))),
        Err(ZkError::NoNode) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl DistributedAtomicLong {
    /// The counter at `path`; updates try at most 10 times against concurrent changes.
    pub fn new(session: impl Into<Session>, path: &str) -> Result<Self> {
        check_base(path)?;
        Ok(Self {
            session: session.into(),
            path: path.to_owned(),
            attempts: 10,
            promoted: None,
        })
    }

    /// The same counter, falling back to the mutex at `lock_path` (waiting for it at most
    /// `max_wait`) when every optimistic attempt of an update loses to concurrent changes,
    /// as Curator's `PromotedToLock`. Writers that all use the same lock path then update
    /// one at a time.
    pub fn promoted_to_lock(mut self, lock_path: &str, max_wait: Duration) -> Result<Self> {
        let mutex = InterProcessMutex::new(self.session.clone(), lock_path)?;
        self.promoted = Some((mutex, max_wait));
        Ok(self)
    }

    /// The same counter, trying updates at most `attempts` times.
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The value now (0 when the node does not exist).
    pub async fn get(&self) -> Result<AtomicValue> {
        let v = current(&self.session.client(), &self.path)
            .await?
            .map_or(0, |(v, _)| v);
        Ok(AtomicValue {
            succeeded: true,
            pre_value: v,
            post_value: v,
        })
    }

    /// Adds 1.
    pub async fn increment(&self) -> Result<AtomicValue> {
        self.add(1).await
    }

    /// Subtracts 1.
    pub async fn decrement(&self) -> Result<AtomicValue> {
        self.add(-1).await
    }

    /// Adds `delta` (wrapping, as Java's long arithmetic).
    pub async fn add(&self, delta: i64) -> Result<AtomicValue> {
        self.update(|v| Some(v.wrapping_add(delta))).await
    }

    /// Sets `new` only if the value is `expected` (an absent node is never compared).
    pub async fn compare_and_set(&self, expected: i64, new: i64) -> Result<AtomicValue> {
        let client = self.session.client();
        let Some((value, version)) = current(&client, &self.path).await? else {
            return Ok(AtomicValue {
                succeeded: false,
                pre_value: 0,
                post_value: 0,
            });
        };
        if value != expected {
            return Ok(AtomicValue {
                succeeded: false,
                pre_value: value,
                post_value: value,
            });
        }
        let policy = retry_policy();
        match client
            .retry(&policy)
            .set_data(&self.path, &new.to_be_bytes(), version)
            .await
        {
            Ok(_) => Ok(AtomicValue {
                succeeded: true,
                pre_value: value,
                post_value: new,
            }),
            Err(ZkError::BadVersion) => Ok(AtomicValue {
                succeeded: false,
                pre_value: value,
                post_value: value,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets `new` whatever the value is, trying against concurrent changes.
    pub async fn try_set(&self, new: i64) -> Result<AtomicValue> {
        self.update(|_| Some(new)).await
    }

    /// Creates the counter at `value`; `false` if it already exists.
    pub async fn initialize(&self, value: i64) -> Result<bool> {
        let client = self.session.client();
        self.ensure_parent(&client).await?;
        let policy = retry_policy();
        match client
            .retry(&policy)
            .create(
                &self.path,
                &value.to_be_bytes(),
                &CreateOptions::persistent(),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_node_exists(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn ensure_parent(&self, client: &Client) -> Result<()> {
        match self.path.rsplit_once('/') {
            Some((parent, _)) if !parent.is_empty() => ensure_containers(client, parent).await,
            _ => Ok(()),
        }
    }

    /// The optimistic loop, then (when promoted) the same loop under the lock.
    async fn update(&self, next: impl Fn(i64) -> Option<i64>) -> Result<AtomicValue> {
        let outcome = self.optimistic(&next).await?;
        let Some((mutex, max_wait)) = &self.promoted else {
            return Ok(outcome);
        };
        if outcome.succeeded {
            return Ok(outcome);
        }
        let Some(guard) = mutex.try_lock_for(*max_wait).await? else {
            return Ok(outcome);
        };
        // Under the lock only writers still in their optimistic attempts can interfere,
        // and each of those that does has succeeded: a bounded number more attempts
        // suffices.
        let outcome = self.optimistic_for(&next, LOCKED_ATTEMPTS).await;
        guard.release().await?;
        outcome
    }

    async fn optimistic(&self, next: &impl Fn(i64) -> Option<i64>) -> Result<AtomicValue> {
        self.optimistic_for(next, self.attempts).await
    }

    /// The optimistic loop: read, compute, write on the version read; at most `attempts`
    /// times.
    async fn optimistic_for(
        &self,
        next: &impl Fn(i64) -> Option<i64>,
        attempts: u32,
    ) -> Result<AtomicValue> {
        let client = self.session.client();
        let policy = retry_policy();
        let retry = client.retry(&policy);
        let mut seen = 0;
        for _ in 0..attempts {
            let now = current(&client, &self.path).await?;
            let pre = now.map_or(0, |(v, _)| v);
            seen = pre;
            let Some(post) = next(pre) else {
                break;
            };
            let written = match now {
                Some((_, version)) => retry
                    .set_data(&self.path, &post.to_be_bytes(), version)
                    .await
                    .map(drop),
                None => {
                    self.ensure_parent(&client).await?;
                    retry
                        .create(
                            &self.path,
                            &post.to_be_bytes(),
                            &CreateOptions::persistent(),
                        )
                        .await
                        .map(drop)
                }
            };
            match written {
                Ok(()) => {
                    return Ok(AtomicValue {
                        succeeded: true,
                        pre_value: pre,
                        post_value: post,
                    })
                }
                // Someone else changed it first: try again from what is there now.
                Err(ZkError::BadVersion | ZkError::NodeExists | ZkError::NoNode) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(AtomicValue {
            succeeded: false,
            pre_value: seen,
            post_value: seen,
        })
    }
}

//! Retrying operations that met a connection loss, without ever applying a write twice.
//!
//! Owns the retry loop ([`Retry`], from [`Client::retry`]), the policies that pace it
//! ([`RetryPolicy`]: [`ExponentialBackoff`], [`RetryNTimes`], [`RetryUntilElapsed`]) and
//! protected creates ([`Retry::create_protected`]). A raw call never retries: it fails
//! with [`Error::ConnectionLoss`] and leaves the decision to the caller. This module is
//! that decision, made once and carefully.
//!
//! ```no_run
//! use std::time::Duration;
//! use zk_client::retry::ExponentialBackoff;
//! use zk_client::{Client, CreateMode, CreateOptions};
//!
//! # async fn demo(client: Client) -> zk_client::Result<()> {
//! let policy = ExponentialBackoff::new(Duration::from_millis(100), 5);
//! let retry = client.retry(&policy);
//! let (data, stat) = retry.get_data("/counter").await?;           // a read
//! retry.set_data("/counter", b"8", stat.version).await?;            // a conditional write
//! let (lock, _) = retry                                              // a sequential create
//!     .create_protected("/locks/lock-", b"", &CreateOptions::new(CreateMode::EphemeralSequential))
//!     .await?;
//! let children = retry.idempotent(|c| async move { c.get_children("/locks").await }).await?;
//! # let _ = (data, lock, children); Ok(()) }
//! ```
//!
//! # What is retried
//! An attempt is repeated after [`Error::ConnectionLoss`], [`Error::RequestTimeout`] (the
//! client's own), [`Error::OperationTimeout`], [`Error::Throttled`] and
//! [`Error::SessionMoved`]; every other error is the answer. Before each retry the loop
//! pauses as the policy says (jittered), then waits for the client to be connected again.
//! It stops at once when the session ends (expired, closed, authentication failed: that
//! error is returned), and once the client has been without a connection for the
//! session timeout: the server has expired the session by then, so waiting longer only
//! hides that (the last error is returned).
//!
//! # Why not every operation
//! After a connection loss the server may or may not have applied the request. Repeating a
//! read is harmless. Repeating a write is harmless only if the repeat cannot take effect
//! when the first attempt did:
//! - a write conditioned on the node's version ([`Retry::set_data`], [`Retry::delete`],
//!   [`Retry::set_acl`] take a version, not an `Option`): once applied, the version has
//!   moved on and the repeat fails with `BadVersion` (or `NoNode`);
//! - a non-sequential create ([`Retry::create`]): once applied, the repeat fails with
//!   `NodeExists`.
//!
//! An unconditional setData or delete (version -1) would be applied again — over a newer
//! write of another client, or to a node re-created since — and a sequential create would
//! make a second node, which for an ephemeral-sequential lock or election node means a
//! node the client does not know it owns, blocking everyone until the session ends. So
//! this module offers no such call: [`Retry::create`] refuses sequential modes, and a
//! sequential create goes through [`Retry::create_protected`], Curator's protected mode:
//! the node's name carries a random GUID (`_c_<guid>-name`), and after a lost attempt the
//! parent's children are searched for it before creating again.
//!
//! A conflict after a lost attempt is ambiguous: `BadVersion` may be the lost attempt's own
//! doing, or another client's. A retry loop that passed it on would invite its caller to
//! re-read and apply the change again (the classic double increment of an optimistic
//! counter). So once an attempt of a write ended with its outcome unknown, a later failure
//! comes back as [`Error::MaybeApplied`], carrying that failure: the caller knows to check.
//! A success is unambiguous: had the lost attempt been applied, the repeat could not have
//! succeeded. (One caveat, inherent to versions: a node deleted and re-created between
//! attempts starts again at version 0, so a repeat conditioned on a small version may
//! match the new node.)
//!
//! Anything else — a multi, a read-modify-write sequence, an operation made idempotent by
//! its own checks — goes through [`Retry::idempotent`], where the caller declares that
//! running the closure more than once is harmless; its errors are passed on as they are.
//!
//! # Compared with Curator and kazoo
//! Curator's `RetryLoop` retries whatever it is given, creates included, and offers
//! `withProtection()` for creates (the model for [`Retry::create_protected`]); its
//! `idempotent()` builders (5.x) take a node that already holds the written data as
//! success, which cannot tell the caller's write from an identical one by another client
//! (two increments of a counter reported, one applied). kazoo's `KazooRetry` retries any
//! callable and documents that it must be idempotent. Here the type of each call says what is safe, the
//! one open door ([`Retry::idempotent`]) is named for what the caller promises, and no
//! conflict that may be self-inflicted is reported as someone else's.

mod policy;
mod protected;

pub use protected::Protection;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use zk_proto::{Acl, Stat};

pub use policy::{ExponentialBackoff, RetryNTimes, RetryPolicy, RetryUntilElapsed};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::options::{CreateOptions, ReadOp, ReadResult};
use crate::state::SessionState;

/// Runs operations of one client under a [`RetryPolicy`]; see the [module docs](self).
/// Obtain one with [`Client::retry`]; it is cheap and borrows both.
#[derive(Debug, Clone, Copy)]
pub struct Retry<'a> {
    client: &'a Client,
    policy: &'a dyn RetryPolicy,
}

/// Whether a repeat of a failed attempt could have an effect of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Repeating changes nothing: reads, and what the caller declared idempotent.
    None,
    /// A write whose repeat fails if an earlier attempt was applied.
    Write,
}

/// Errors after which another attempt may succeed.
fn is_transient(error: &Error) -> bool {
    matches!(
        error,
        Error::ConnectionLoss
            | Error::RequestTimeout
            | Error::OperationTimeout
            | Error::Throttled
            | Error::SessionMoved
    )
}

/// Transient errors that leave the attempt's outcome unknown: the server may have applied
/// it. (A throttled or moved-session request was refused before being applied.)
fn outcome_unknown(error: &Error) -> bool {
    matches!(
        error,
        Error::ConnectionLoss | Error::RequestTimeout | Error::OperationTimeout
    )
}

/// Why the pause before a retry ended the loop instead.
enum Stop {
    /// The session is over; this is its error.
    SessionEnded(Error),
    /// The client has been disconnected for the session timeout: the session is gone.
    SessionTimedOut,
}

impl<'a> Retry<'a> {
    pub(crate) fn new(client: &'a Client, policy: &'a dyn RetryPolicy) -> Self {
        Self { client, policy }
    }

    // ----- reads -----

    /// [`Client::exists`], retried.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>> {
        self.run(Effect::None, |_| self.client.exists(path)).await
    }

    /// [`Client::get_data`], retried.
    pub async fn get_data(&self, path: &str) -> Result<(Bytes, Stat)> {
        self.run(Effect::None, |_| self.client.get_data(path)).await
    }

    /// [`Client::get_children`], retried.
    pub async fn get_children(&self, path: &str) -> Result<Vec<String>> {
        self.run(Effect::None, |_| self.client.get_children(path))
            .await
    }

    /// [`Client::get_children_with_stat`], retried.
    pub async fn get_children_with_stat(&self, path: &str) -> Result<(Vec<String>, Stat)> {
        self.run(Effect::None, |_| self.client.get_children_with_stat(path))
            .await
    }

    /// [`Client::get_acl`], retried.
    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        self.run(Effect::None, |_| self.client.get_acl(path)).await
    }

    /// [`Client::sync`], retried.
    pub async fn sync(&self, path: &str) -> Result<()> {
        self.run(Effect::None, |_| self.client.sync(path)).await
    }

    /// [`Client::multi_read`], retried.
    pub async fn multi_read(&self, ops: &[ReadOp]) -> Result<Vec<Result<ReadResult>>> {
        self.run(Effect::None, |_| self.client.multi_read(ops))
            .await
    }

    // ----- writes that cannot apply twice -----

    /// [`Client::set_data`] conditioned on `version`, retried. After a lost attempt a
    /// failure is [`Error::MaybeApplied`] (see the [module docs](self)).
    pub async fn set_data(&self, path: &str, data: &[u8], version: i32) -> Result<Stat> {
        self.run(Effect::Write, |_| {
            self.client.set_data(path, data, Some(version))
        })
        .await
    }

    /// [`Client::delete`] conditioned on `version`, retried. After a lost attempt a
    /// failure (`NoNode` included) is [`Error::MaybeApplied`].
    pub async fn delete(&self, path: &str, version: i32) -> Result<()> {
        self.run(Effect::Write, |_| self.client.delete(path, Some(version)))
            .await
    }

    /// [`Client::set_acl`] conditioned on the ACL version `version`, retried. After a lost
    /// attempt a failure is [`Error::MaybeApplied`].
    pub async fn set_acl(&self, path: &str, acl: &[Acl], version: i32) -> Result<Stat> {
        self.run(Effect::Write, |_| {
            self.client.set_acl(path, acl, Some(version))
        })
        .await
    }

    /// [`Client::create`] of a non-sequential node, retried. After a lost attempt a failure
    /// (`NodeExists` included) is [`Error::MaybeApplied`]; for an ephemeral node, a
    /// `stat.ephemeral_owner` equal to [`Client::session_id`] then shows the node is this
    /// session's.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`], before anything is sent, for a sequential mode: a repeat
    /// would make a second node. Use [`Retry::create_protected`].
    pub async fn create(
        &self,
        path: &str,
        data: &[u8],
        options: &CreateOptions,
    ) -> Result<(String, Stat)> {
        if options.mode.is_sequential() {
            return Err(Error::InvalidArgument(format!(
                "{:?} cannot be retried safely (a repeat makes a second node); \
                 use Retry::create_protected",
                options.mode
            )));
        }
        self.run(Effect::Write, |_| self.client.create(path, data, options))
            .await
    }

    // ----- declared by the caller -----

    /// Runs `op`, which the caller declares idempotent (safe to run more than once),
    /// retrying it on the errors listed in the [module docs](self). Its errors are passed
    /// on as they are: what a repeat means is the caller's to know. A multi is safe when
    /// one of its ops fails once the multi has been applied (a version check on a node the
    /// multi changes, a conditional setData or delete, a non-sequential create).
    pub async fn idempotent<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.run(Effect::None, |_| op(self.client.clone())).await
    }

    // ----- the loop -----

    /// Runs `attempt` until it succeeds, fails for good, the policy gives up or the session
    /// ends. `attempt` is told whether an earlier attempt's outcome is unknown; for a
    /// [`Effect::Write`] that turns a later failure into [`Error::MaybeApplied`].
    async fn run<T, F, Fut>(&self, effect: Effect, mut attempt: F) -> Result<T>
    where
        F: FnMut(bool) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let started = Instant::now();
        let mut retries = 0;
        let mut unknown = false;
        loop {
            let error = match attempt(unknown).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            unknown |= outcome_unknown(&error);
            let maybe_applied = effect == Effect::Write && unknown;
            let pause = if is_transient(&error) {
                self.policy.next_pause(retries, started.elapsed())
            } else {
                None
            };
            let Some(pause) = pause else {
                return Err(settle(error, maybe_applied));
            };
            retries += 1;
            tracing::debug!(%error, retries, ?pause, "retrying");
            match self.pause(pause).await {
                Ok(()) => {}
                Err(Stop::SessionEnded(end)) => return Err(end),
                Err(Stop::SessionTimedOut) => return Err(settle(error, maybe_applied)),
            }
        }
    }

    /// Waits `pause`, then until the client is connected. Ends early when the session
    /// does, and fails once the client has been disconnected for the session timeout.
    async fn pause(&self, pause: Duration) -> Result<(), Stop> {
        let mut states = self.client.state_watcher();
        let resume_at = later(Instant::now(), pause);
        loop {
            let state = *states.borrow_and_update();
            if let Some(end) = session_end(state) {
                return Err(Stop::SessionEnded(end));
            }
            let now = Instant::now();
            // The server expires a session a session timeout after its connection went;
            // once that has passed, no reconnect will bring it back.
            let session_deadline = self
                .client
                .disconnected_since()
                .map(|since| later(since, self.client.negotiated_timeout()));
            if session_deadline.is_some_and(|deadline| now >= deadline) {
                return Err(Stop::SessionTimedOut);
            }
            if now >= resume_at && state.is_connected() {
                return Ok(());
            }
            let mut wake = if now < resume_at {
                resume_at
            } else {
                later(now, Duration::from_secs(3600))
            };
            if let Some(deadline) = session_deadline {
                wake = wake.min(deadline);
            }
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                changed = states.changed() => {
                    if changed.is_err() {
                        return Err(Stop::SessionEnded(Error::Closed));
                    }
                }
            }
        }
    }
}

/// The error a write's retry loop ends with: once an attempt's outcome was unknown, a
/// failure that does not say so itself is [`Error::MaybeApplied`]. The session's end is
/// reported as it is: nothing more can be done with it.
fn settle(error: Error, maybe_applied: bool) -> Error {
    if maybe_applied && !outcome_unknown(&error) && !error.is_terminal() {
        Error::MaybeApplied {
            error: Box::new(error),
        }
    } else {
        error
    }
}

/// The error of a session that is over.
fn session_end(state: SessionState) -> Option<Error> {
    match state {
        SessionState::Expired => Some(Error::SessionExpired),
        SessionState::AuthFailed => Some(Error::AuthFailed),
        SessionState::Closed => Some(Error::Closed),
        _ => None,
    }
}

/// `at + d`, saturating on absurd durations.
fn later(at: Instant, d: Duration) -> Instant {
    at.checked_add(d)
        .unwrap_or_else(|| at + Duration::from_secs(365 * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_errors_are_retried_and_only_some_leave_the_outcome_unknown() {
        for e in [
            Error::ConnectionLoss,
            Error::RequestTimeout,
            Error::OperationTimeout,
        ] {
            assert!(is_transient(&e) && outcome_unknown(&e), "{e}");
        }
        // Refused before being applied: worth repeating, nothing to doubt.
        for e in [Error::Throttled, Error::SessionMoved] {
            assert!(is_transient(&e) && !outcome_unknown(&e), "{e}");
        }
        for e in [
            Error::NoNode,
            Error::BadVersion,
            Error::NodeExists,
            Error::NotReadOnly,
            Error::SessionExpired,
            Error::Closed,
        ] {
            assert!(!is_transient(&e), "{e}");
        }
    }

    #[test]
    fn after_a_lost_attempt_a_conflict_is_reported_as_maybe_applied() {
        assert_eq!(
            settle(Error::BadVersion, true),
            Error::MaybeApplied {
                error: Box::new(Error::BadVersion)
            }
        );
        assert_eq!(settle(Error::BadVersion, false), Error::BadVersion);
        // Already says "unknown", or the session is over: passed on as is.
        assert_eq!(settle(Error::ConnectionLoss, true), Error::ConnectionLoss);
        assert_eq!(settle(Error::SessionExpired, true), Error::SessionExpired);
    }
}

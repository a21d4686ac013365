//! Retry policies: how many times to try again and how long to pause first.
//!
//! A policy only answers "another attempt, after what pause?" from the number of retries
//! so far and the time since the first attempt, like Curator's `RetryPolicy.allowRetry`.
//! Every pause is jittered (a random point in its upper half) so that clients cut off
//! together do not come back in step. The [`Retry`](super::Retry) runner adds what a
//! policy cannot know: the session's state.

use std::fmt::Debug;
use std::time::Duration;

use rand::Rng;

/// Decides whether a failed operation is tried again, and after what pause.
pub trait RetryPolicy: Debug + Send + Sync {
    /// The pause before retry number `retries + 1` (`retries` retries were made so far,
    /// the first attempt not counted), `elapsed` after the first attempt started; `None`
    /// to give up.
    fn next_pause(&self, retries: u32, elapsed: Duration) -> Option<Duration>;
}

/// A random pause in `[pause / 2, pause]`: never shorter than half what the policy asks
/// ("equal jitter"), so retries stay spaced while a crowd of clients spreads out.
fn jittered(pause: Duration) -> Duration {
    pause.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

/// Pauses that double from `base` up to a maximum, for at most `max_retries` retries
/// (Curator's `ExponentialBackoffRetry`, kazoo's `KazooRetry`). The usual choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExponentialBackoff {
    base: Duration,
    max_retries: u32,
    max_pause: Duration,
}

impl ExponentialBackoff {
    /// Pauses of `base`, `2 × base`, `4 × base`… (jittered), at most 10 s each, for at
    /// most `max_retries` retries.
    pub fn new(base: Duration, max_retries: u32) -> Self {
        Self {
            base,
            max_retries,
            max_pause: Duration::from_secs(10),
        }
    }

    /// Caps each pause (before jitter) at `max_pause`.
    pub fn max_pause(mut self, max_pause: Duration) -> Self {
        self.max_pause = max_pause;
        self
    }
}

impl RetryPolicy for ExponentialBackoff {
    fn next_pause(&self, retries: u32, _elapsed: Duration) -> Option<Duration> {
        if retries >= self.max_retries {
            return None;
        }
        let pause = self
            .base
            .saturating_mul(1u32 << retries.min(30))
            .min(self.max_pause);
        Some(jittered(pause))
    }
}

/// The same pause before each of at most `times` retries (Curator's `RetryNTimes`;
/// `RetryNTimes::new(1, pause)` is its `RetryOneTime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryNTimes {
    times: u32,
    pause: Duration,
}

impl RetryNTimes {
    /// At most `times` retries, each after `pause` (jittered).
    pub fn new(times: u32, pause: Duration) -> Self {
        Self { times, pause }
    }
}

impl RetryPolicy for RetryNTimes {
    fn next_pause(&self, retries: u32, _elapsed: Duration) -> Option<Duration> {
        (retries < self.times).then(|| jittered(self.pause))
    }
}

/// The same pause between retries until `max_elapsed` has passed since the first attempt
/// (Curator's `RetryUntilElapsed`, kazoo's `deadline`). No pause ends past the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryUntilElapsed {
    max_elapsed: Duration,
    pause: Duration,
}

impl RetryUntilElapsed {
    /// Retries after `pause` (jittered) while less than `max_elapsed` has passed.
    pub fn new(max_elapsed: Duration, pause: Duration) -> Self {
        Self { max_elapsed, pause }
    }
}

impl RetryPolicy for RetryUntilElapsed {
    fn next_pause(&self, _retries: u32, elapsed: Duration) -> Option<Duration> {
        let left = self.max_elapsed.checked_sub(elapsed)?;
        (!left.is_zero()).then(|| jittered(self.pause).min(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Asks `policy` for pauses until it gives up (at most 100), with no time passing.
    fn pauses(policy: &dyn RetryPolicy) -> Vec<Duration> {
        (0..100)
            .map_while(|retries| policy.next_pause(retries, Duration::ZERO))
            .collect()
    }

    #[test]
    fn exponential_backoff_doubles_within_its_jitter_and_caps() {
        let policy = ExponentialBackoff::new(100 * MS, 6).max_pause(1000 * MS);
        for _ in 0..50 {
            let got = pauses(&policy);
            let ceilings = [100, 200, 400, 800, 1000, 1000].map(|ms| ms * MS);
            assert_eq!(got.len(), ceilings.len());
            for (pause, ceiling) in got.iter().zip(ceilings) {
                assert!(
                    *pause >= ceiling / 2 && *pause <= ceiling,
                    "{pause:?} outside [{:?}, {ceiling:?}]",
                    ceiling / 2
                );
            }
        }
    }

    #[test]
    fn exponential_backoff_never_overflows() {
        let policy = ExponentialBackoff::new(Duration::from_secs(3600), u32::MAX);
        assert!(
            policy.next_pause(u32::MAX - 1, Duration::ZERO).unwrap() <= Duration::from_secs(10)
        );
    }

    #[test]
    fn the_pauses_are_not_all_alike() {
        let policy = RetryNTimes::new(1, 1000 * MS);
        let distinct: std::collections::HashSet<_> = (0..20)
            .filter_map(|_| policy.next_pause(0, Duration::ZERO))
            .collect();
        assert!(distinct.len() > 1, "jitter spreads clients out");
    }

    #[test]
    fn n_times_retries_exactly_n_times() {
        assert_eq!(pauses(&RetryNTimes::new(3, 10 * MS)).len(), 3);
        assert!(pauses(&RetryNTimes::new(0, 10 * MS)).is_empty());
    }

    #[test]
    fn until_elapsed_stops_at_the_deadline_and_never_pauses_past_it() {
        let policy = RetryUntilElapsed::new(1000 * MS, 300 * MS);
        assert!(policy.next_pause(0, Duration::ZERO).unwrap() <= 300 * MS);
        assert!(policy.next_pause(9, 950 * MS).unwrap() <= 50 * MS);
        assert_eq!(policy.next_pause(10, 1000 * MS), None);
        assert_eq!(policy.next_pause(10, 5000 * MS), None);
    }
}

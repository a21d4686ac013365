//! The session tracker: ids, passwords, timeouts and expiry deadlines.
//!
//! Owns which sessions are alive *as far as liveness goes* and when each expires (Apache's
//! `SessionTrackerImpl`/`ExpiryQueue`: deadlines rounded up to the next tick). The tree
//! records session creation and closing as txns; this tracker only times them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Length of a session password.
pub const PASSWORD_LEN: usize = 16;
/// Apache's fixed "superSecret" mixed into password generation.
const SUPER_SECRET: i64 = 0xB341_5C00;

/// The password Apache generates for `session_id`
/// (`new java.util.Random(sessionId ^ superSecret).nextBytes(16)`), so passwords are
/// deterministic: sessions recovered after a restart keep their password.
pub fn password(session_id: i64) -> [u8; PASSWORD_LEN] {
    const MULT: i64 = 0x5DEE_CE66D;
    const MASK: i64 = (1 << 48) - 1;
    let mut seed = ((session_id ^ SUPER_SECRET) ^ MULT) & MASK;
    let mut next_int = || {
        seed = (seed.wrapping_mul(MULT).wrapping_add(0xB)) & MASK;
        (seed >> 16) as i32
    };
    let mut out = [0u8; PASSWORD_LEN];
    let mut i = 0;
    while i < PASSWORD_LEN {
        let mut rnd = next_int();
        for _ in 0..4.min(PASSWORD_LEN - i) {
            out[i] = rnd as u8;
            rnd >>= 8;
            i += 1;
        }
    }
    out
}

/// The first session id of a server: `(serverId << 56) | ((ms << 24) >>> 8)`.
pub fn initial_session_id(server_id: u8, now_ms: i64) -> i64 {
    let time_part = ((now_ms << 24) as u64 >> 8) as i64;
    ((server_id as i64) << 56) | time_part
}

/// Which member a session's requests must come through (Apache's session owner): the
/// member its client is connected to. 0 on a standalone server.
pub type Owner = u64;

#[derive(Debug, Clone)]
struct Tracked {
    timeout: Duration,
    deadline: Instant,
    owner: Owner,
}

/// Liveness of every session.
#[derive(Debug)]
pub struct SessionTracker {
    tick: Duration,
    /// Deadlines are rounded up to whole ticks counted from here.
    origin: Instant,
    next_id: i64,
    sessions: HashMap<i64, Tracked>,
}

impl SessionTracker {
    /// A tracker handing out ids from `first_id`, expiring on `tick` boundaries counted
    /// from `origin` (any fixed instant; a simulation passes its own).
    pub fn new(tick: Duration, first_id: i64, origin: Instant) -> Self {
        Self {
            tick: tick.max(Duration::from_millis(1)),
            origin,
            next_id: first_id,
            sessions: HashMap::new(),
        }
    }

    /// A fresh id (never the container marker, never one in use).
    pub fn next_id(&mut self) -> i64 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            if id != i64::MIN && id != 0 && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    fn deadline(&self, now: Instant, timeout: Duration) -> Instant {
        // Round up to a tick boundary: expiry happens in (timeout, timeout + tick] after
        // the last packet, as in Apache.
        let tick = self.tick.as_nanos().max(1);
        let at = now + timeout;
        let since = at.saturating_duration_since(self.origin).as_nanos();
        let rounded = since.div_ceil(tick) * tick;
        at + Duration::from_nanos((rounded - since) as u64)
    }

    /// Starts tracking a session whose requests come through `owner`.
    pub fn add(&mut self, id: i64, timeout: Duration, now: Instant, owner: Owner) {
        let deadline = self.deadline(now, timeout);
        self.sessions.insert(
            id,
            Tracked {
                timeout,
                deadline,
                owner,
            },
        );
    }

    /// Pushes a session's expiry back (any packet from its client). False if unknown.
    pub fn touch(&mut self, id: i64, now: Instant) -> bool {
        let Some(timeout) = self.sessions.get(&id).map(|t| t.timeout) else {
            return false;
        };
        let deadline = self.deadline(now, timeout);
        if let Some(t) = self.sessions.get_mut(&id) {
            t.deadline = deadline;
        }
        true
    }

    /// Changes a session's timeout (renegotiated on reconnect) and touches it.
    pub fn set_timeout(&mut self, id: i64, timeout: Duration, now: Instant) {
        if let Some(t) = self.sessions.get_mut(&id) {
            t.timeout = timeout;
        }
        self.touch(id, now);
    }

    /// Moves a session to another member (its client reconnected there).
    pub fn set_owner(&mut self, id: i64, owner: Owner) {
        if let Some(t) = self.sessions.get_mut(&id) {
            t.owner = owner;
        }
    }

    /// The member a session's requests must come through.
    pub fn owner(&self, id: i64) -> Option<Owner> {
        self.sessions.get(&id).map(|t| t.owner)
    }

    /// Whether the session is tracked.
    pub fn contains(&self, id: i64) -> bool {
        self.sessions.contains_key(&id)
    }

    /// A session's timeout.
    pub fn timeout(&self, id: i64) -> Option<Duration> {
        self.sessions.get(&id).map(|t| t.timeout)
    }

    /// Stops tracking a session.
    pub fn remove(&mut self, id: i64) {
        self.sessions.remove(&id);
    }

    /// Stops tracking every session.
    pub fn clear(&mut self) {
        self.sessions.clear();
    }

    /// Sessions whose deadline passed, removed from tracking (sorted for determinism).
    pub fn expired(&mut self, now: Instant) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .sessions
            .iter()
            .filter(|(_, t)| t.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        for id in &ids {
            self.sessions.remove(id);
        }
        ids
    }

    /// The earliest deadline, for the driver's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.sessions.values().map(|t| t.deadline).min()
    }

    /// Number of tracked sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is tracked.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_match_apache() {
        // Captured from Apache ZooKeeper 3.8.0 (wire reference, Appendix A).
        assert_eq!(
            password(0x1000_005a_700e_0003),
            [
                0x9d, 0xf9, 0xe1, 0x8f, 0xdd, 0x62, 0xa7, 0xc2, 0x19, 0x22, 0xf2, 0xf2, 0xbb, 0x5a,
                0x50, 0x52
            ]
        );
    }

    #[test]
    fn sessions_expire_after_timeout_rounded_to_a_tick() {
        let now = Instant::now();
        let mut t = SessionTracker::new(Duration::from_millis(100), 1, now);
        let id = t.next_id();
        t.add(id, Duration::from_millis(400), now, 0);
        assert!(t.expired(now + Duration::from_millis(399)).is_empty());
        assert!(t.touch(id, now + Duration::from_millis(300)));
        assert!(t.expired(now + Duration::from_millis(650)).is_empty());
        assert_eq!(t.expired(now + Duration::from_millis(801)), vec![id]);
        assert!(!t.contains(id));
    }

    #[test]
    fn initial_ids_carry_the_server_id() {
        let id = initial_session_id(1, 0x1234_5678);
        assert_eq!(id >> 56, 1);
    }
}

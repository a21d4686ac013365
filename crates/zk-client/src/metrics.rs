//! Counters a user can read: how much the client did and how often it had to reconnect.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters, shared by the driver and every client handle.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub watch_events: AtomicU64,
    pub watch_events_dropped: AtomicU64,
    pub connect_attempts: AtomicU64,
    pub connections: AtomicU64,
    pub disconnects: AtomicU64,
    pub in_flight: AtomicU64,
    pub writes: AtomicU64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> Metrics {
        Metrics {
            requests: self.requests.load(Relaxed),
            errors: self.errors.load(Relaxed),
            watch_events: self.watch_events.load(Relaxed),
            watch_events_dropped: self.watch_events_dropped.load(Relaxed),
            connect_attempts: self.connect_attempts.load(Relaxed),
            connections: self.connections.load(Relaxed),
            disconnects: self.disconnects.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            writes: self.writes.load(Relaxed),
        }
    }
}

/// A snapshot of a client's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Requests completed (successfully or not).
    pub requests: u64,
    /// Requests that completed with an error.
    pub errors: u64,
    /// Watch events handed to watchers (those dropped for a lagging reader included).
    pub watch_events: u64,
    /// Persistent watch events dropped because their reader lagged behind a full queue
    /// (each reader was told with a [`Lagged`](crate::Lagged) item).
    pub watch_events_dropped: u64,
    /// TCP connection attempts.
    pub connect_attempts: u64,
    /// Sessions established or re-attached (the first connect counts; later ones are
    /// reconnects).
    pub connections: u64,
    /// Established connections lost.
    pub disconnects: u64,
    /// Requests written and awaiting their reply right now (a gauge).
    pub in_flight: u64,
    /// Writes of queued requests to the connection (over TLS, one may take several socket
    /// writes). Requests per write is how well pipelined requests are batched: each write
    /// is at least one system call.
    pub writes: u64,
}

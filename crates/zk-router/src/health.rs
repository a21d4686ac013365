//! Passive health: endpoints that fail requests in a row are ejected for a back-off that
//! grows with each ejection, and come back by themselves when it ends; when too many
//! endpoints are ejected, ejection is ignored and traffic goes to all of them (the panic
//! threshold: better to spread load over struggling endpoints than to crush the few left).
//! Also the per-endpoint latency estimate of the peak-EWMA policy, and slow start.
//!
//! Modelled on Envoy's outlier detection (consecutive errors, ejection time multiplied by
//! the number of ejections, panic threshold) and Finagle's peak EWMA.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::endpoint::Endpoint;

/// Milliseconds since a process-wide origin: a clock that fits in an atomic.
pub(crate) fn now_ms() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// How passive health checking behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthPolicy {
    /// Failures in a row that eject an endpoint (default 5).
    pub consecutive_failures: u32,
    /// Ejection time of a first ejection; the n-th lasts n times as long (default 10 s).
    pub base_ejection: Duration,
    /// Longest ejection (default 5 min).
    pub max_ejection: Duration,
    /// Above this fraction of a destination's endpoints ejected, ejection is ignored
    /// (default 0.5).
    pub panic_threshold: f64,
    /// Ramp a new endpoint's share of traffic up linearly over this window (default off).
    pub slow_start: Option<Duration>,
    /// Also eject when at least this fraction of the last `failure_rate_window` requests
    /// failed (default 0.5 over 20): catches endpoints that fail often but not in a row.
    pub failure_rate: Option<f64>,
    /// Requests per failure-rate window.
    pub failure_rate_window: u32,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(10),
            max_ejection: Duration::from_secs(300),
            panic_threshold: 0.5,
            slow_start: None,
            failure_rate: Some(0.5),
            failure_rate_window: 20,
        }
    }
}

/// Per-endpoint state: failures, ejection, latency estimate, age.
#[derive(Debug)]
// What every pick reads comes first (see `Endpoint`'s layout).
#[repr(C)]
pub struct EndpointHealth {
    ejected_until_ms: AtomicU64,
    ewma_us_bits: AtomicU64,
    failures: AtomicU32,
    window_ok: AtomicU32,
    window_failed: AtomicU32,
    ejections: AtomicU32,
    ewma_at_ms: AtomicU64,
    registered_ms: AtomicI64,
    seen_ms: u64,
}

/// Decay of the latency estimate (Finagle's default).
const EWMA_DECAY_MS: f64 = 10_000.0;

impl EndpointHealth {
    pub(crate) fn new(registration_time_utc: i64) -> Self {
        Self {
            failures: AtomicU32::new(0),
            window_ok: AtomicU32::new(0),
            window_failed: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            ejected_until_ms: AtomicU64::new(0),
            ewma_us_bits: AtomicU64::new(0f64.to_bits()),
            ewma_at_ms: AtomicU64::new(now_ms()),
            registered_ms: AtomicI64::new(registration_time_utc),
            seen_ms: now_ms(),
        }
    }

    /// How many times the endpoint was ejected.
    pub fn ejections(&self) -> u32 {
        self.ejections.load(Ordering::Relaxed)
    }

    /// Whether the endpoint is ejected now. Never ejected (the common case) costs one
    /// atomic load and no clock read.
    pub fn is_ejected(&self) -> bool {
        let until = self.ejected_until_ms.load(Ordering::Relaxed);
        if until == 0 {
            return false;
        }
        if now_ms() < until {
            return true;
        }
        // The ejection is over: forget it, so later checks are cheap again.
        let _ =
            self.ejected_until_ms
                .compare_exchange(until, 0, Ordering::Relaxed, Ordering::Relaxed);
        false
    }

    pub(crate) fn record_success(&self, latency: Option<Duration>) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if self.window_failed.load(Ordering::Relaxed) != 0 {
            // Only count successes while failures are being watched.
            self.window_ok.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(latency) = latency {
            self.observe(latency);
        }
    }

    /// Peak EWMA: a sample above the estimate replaces it at once (react to trouble
    /// fast); below it, the estimate decays towards it with time.
    fn observe(&self, latency: Duration) {
        let now = now_ms();
        let sample = latency.as_secs_f64() * 1e6;
        let prev_at = self.ewma_at_ms.swap(now, Ordering::Relaxed);
        let prev = f64::from_bits(self.ewma_us_bits.load(Ordering::Relaxed));
        let next = if sample > prev || prev == 0.0 {
            sample
        } else {
            let w = (-((now - prev_at.min(now)) as f64) / EWMA_DECAY_MS).exp();
            prev * w + sample * (1.0 - w)
        };
        self.ewma_us_bits.store(next.to_bits(), Ordering::Relaxed);
    }

    /// The latency estimate, µs.
    pub fn ewma_us(&self) -> f64 {
        f64::from_bits(self.ewma_us_bits.load(Ordering::Relaxed))
    }

    /// The slow-start factor in (0, 1]: how much of its share a new endpoint gets.
    pub(crate) fn warmth(&self, window: Option<Duration>) -> f64 {
        let Some(window) = window.filter(|w| !w.is_zero()) else {
            return 1.0;
        };
        // Age from registration when the instance says so, else from when we first saw it.
        let wall_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let registered = self.registered_ms.load(Ordering::Relaxed);
        let age_ms = if registered > 0 && registered <= wall_now {
            (wall_now - registered) as f64
        } else {
            (now_ms() - self.seen_ms) as f64
        };
        (age_ms / window.as_millis() as f64).clamp(0.05, 1.0)
    }
}

impl HealthPolicy {
    pub(crate) fn record_failure(&self, endpoint: &Endpoint, latency: Option<Duration>) {
        let h = &endpoint.health;
        if let Some(latency) = latency {
            // A fast failure must not look like a fast endpoint: count it as slow.
            let penalty = latency
                .max(Duration::from_secs_f64(h.ewma_us() * 2.0 / 1e6))
                .max(Duration::from_millis(100));
            h.observe(penalty);
        }
        let failures = h.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let failed = h.window_failed.fetch_add(1, Ordering::Relaxed) + 1;
        let ok = h.window_ok.load(Ordering::Relaxed);
        let mut rate_exceeded = false;
        if let Some(rate) = self.failure_rate {
            let total = ok + failed;
            if total >= self.failure_rate_window.max(1) {
                rate_exceeded = failed as f64 / total as f64 >= rate;
                h.window_ok.store(0, Ordering::Relaxed);
                h.window_failed.store(0, Ordering::Relaxed);
            }
        }
        if (failures >= self.consecutive_failures.max(1) || rate_exceeded) && !h.is_ejected() {
            let n = h.ejections.fetch_add(1, Ordering::Relaxed) + 1;
            let ejection = self.base_ejection.saturating_mul(n).min(self.max_ejection);
            h.ejected_until_ms
                .store(now_ms() + ejection.as_millis() as u64, Ordering::Relaxed);
            h.failures.store(0, Ordering::Relaxed);
            tracing::info!(endpoint = %endpoint.authority(), ejections = n, ?ejection, "endpoint ejected after consecutive failures");
        }
    }
}

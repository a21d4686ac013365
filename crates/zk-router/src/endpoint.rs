//! An endpoint: one service instance as the router sees it, with its live load counter.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use zk_discovery::ServiceInstance;

use crate::load::LoadSlot;
use crate::rule::Subset;

/// One instance a request can go to.
#[derive(Debug)]
// In declaration order, so that what a pick reads and writes (the load counter, the
// ejection deadline, the latency estimate) shares the cache line of the `Arc`'s reference
// count: with 10,000 endpoints a random pick otherwise misses the cache two or three
// times instead of once.
#[repr(C)]
pub struct Endpoint {
    /// Requests picked for this endpoint and not finished yet.
    pub(crate) in_flight: AtomicU64,
    /// Passive health and latency state.
    pub(crate) health: crate::health::EndpointHealth,
    /// Instance id.
    pub id: String,
    /// Host or IP.
    pub address: String,
    /// Port (the TLS port if the instance only has that).
    pub port: Option<u16>,
    /// Relative weight (from the payload convention; default 100).
    pub weight: f64,
    /// Zone.
    pub zone: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Free metadata.
    pub metadata: BTreeMap<String, String>,
    /// `id@authority`: names the endpoint's service in the tower layer, computed once so
    /// a routed call does not format it.
    pub(crate) service_key: String,
}

impl Endpoint {
    /// The endpoint for a discovered instance.
    pub fn from_instance(i: &ServiceInstance) -> Self {
        let r = i.routing();
        let port = i.port.or(i.ssl_port);
        let service_key = match port {
            Some(p) => format!("{}@{}:{p}", i.id, i.address),
            None => format!("{}@{}", i.id, i.address),
        };
        Endpoint {
            id: i.id.clone(),
            address: i.address.clone(),
            port,
            service_key,
            weight: r.weight,
            zone: r.zone,
            version: r.version,
            tags: r.tags,
            metadata: r.metadata,
            in_flight: AtomicU64::new(0),
            health: crate::health::EndpointHealth::new(i.registration_time_utc),
        }
    }

    /// Whether the endpoint is ejected by passive health checking right now.
    pub fn is_ejected(&self) -> bool {
        self.health.is_ejected()
    }

    /// How many times passive health checking ejected this endpoint.
    pub fn ejections(&self) -> u32 {
        self.health.ejections()
    }

    /// The latency estimate of the peak-EWMA policy, in microseconds (0 before any sample).
    pub fn latency_estimate_us(&self) -> f64 {
        self.health.ewma_us()
    }

    /// `address:port` (or the address alone).
    pub fn authority(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.address),
            None => self.address.clone(),
        }
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether `other` routes the same (address, weight and routing metadata).
    pub fn same_routing(&self, other: &Endpoint) -> bool {
        self.id == other.id
            && self.address == other.address
            && self.port == other.port
            && self.weight == other.weight
            && self.zone == other.zone
            && self.version == other.version
            && self.tags == other.tags
            && self.metadata == other.metadata
    }

    /// Whether the endpoint belongs to `subset`.
    pub fn in_subset(&self, subset: &Subset) -> bool {
        subset
            .version
            .as_ref()
            .is_none_or(|v| self.version.as_ref() == Some(v))
            && subset
                .zone
                .as_ref()
                .is_none_or(|z| self.zone.as_ref() == Some(z))
            && subset.tags.iter().all(|t| self.tags.contains(t))
            && subset
                .metadata
                .iter()
                .all(|(k, v)| self.metadata.get(k) == Some(v))
    }
}

/// A picked endpoint. Holding it counts as one request in flight for load-aware
/// policies; report the outcome with [`Picked::success`] or [`Picked::failure`] so that
/// latency-aware policies and passive health checking learn from it (or just drop it).
#[derive(Debug)]
pub struct Picked {
    target: Target,
    /// A copy, not a shared reference: cloning an `Arc` costs two atomic operations per
    /// pick on a counter every thread's picks share; copying these few numbers costs less.
    health: Option<crate::health::HealthPolicy>,
    /// Set when a latency-aware policy needs the request's duration.
    started: Option<std::time::Instant>,
}

/// What a guard holds on to.
#[derive(Debug)]
enum Target {
    Endpoint(Arc<Endpoint>),
    /// The endpoint's slot in its destination's load group (bounded-load hashing). The
    /// slot holds the endpoint: one reference count to take per pick, not two.
    Slot(Arc<LoadSlot>),
}

impl Picked {
    /// Counts a request on `endpoint`.
    pub(crate) fn new(
        endpoint: Arc<Endpoint>,
        health: Option<crate::health::HealthPolicy>,
        timed: bool,
    ) -> Self {
        Self::start(Target::Endpoint(endpoint), health, timed)
    }

    /// Counts a request on the endpoint of `slot`, in its load group too.
    pub(crate) fn in_group(
        slot: Arc<LoadSlot>,
        health: Option<crate::health::HealthPolicy>,
        timed: bool,
    ) -> Self {
        slot.start();
        Self::start(Target::Slot(slot), health, timed)
    }

    fn start(target: Target, health: Option<crate::health::HealthPolicy>, timed: bool) -> Self {
        let picked = Self {
            target,
            health,
            started: timed.then(std::time::Instant::now),
        };
        picked.endpoint().in_flight.fetch_add(1, Ordering::Relaxed);
        picked
    }

    /// The request succeeded: feeds its latency (since the pick) to the estimates and
    /// resets the endpoint's failure count.
    pub fn success(self) {
        let latency = self.started.map(|s| s.elapsed());
        self.endpoint().health.record_success(latency);
    }

    /// The request failed at the endpoint (connection refused, 5xx, …): counts towards
    /// ejecting it.
    pub fn failure(self) {
        let latency = self.started.map(|s| s.elapsed());
        if let Some(policy) = &self.health {
            policy.record_failure(self.endpoint(), latency);
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        match &self.target {
            Target::Endpoint(e) => e,
            Target::Slot(slot) => slot.endpoint(),
        }
    }
}

impl std::ops::Deref for Picked {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        self.endpoint()
    }
}

impl Drop for Picked {
    fn drop(&mut self) {
        self.endpoint().in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Target::Slot(slot) = &self.target {
            slot.finish();
        }
    }
}

//! Consistent hashing on a request key: a ring with virtual nodes per endpoint (more for
//! heavier endpoints). A key maps to the first point at or after its hash, so when an
//! endpoint joins or leaves only the keys near its points move.
//!
//! With bounded loads (Mirrokni, Thorup and Zadimoghaddam, "Consistent Hashing with
//! Bounded Loads", 2018) no endpoint takes a request while it carries
//! `ceil(c × (total + 1) / n)` or more: the key walks on along the ring to the first
//! endpoint under that bound. The loads are the destination's own (the crate's `load`
//! module keeps them across table rebuilds): the total is one counter, so a pick costs
//! the same at 10 or 10,000 endpoints, and since the members' loads sum to the total, some
//! member is always under the bound (the walk ends) unless concurrent picks race.

use std::sync::Arc;

use super::{fnv1a, Pick, Rng};
use crate::endpoint::Endpoint;
use crate::load::LoadView;
use crate::matcher::RequestContext;

/// Virtual nodes for an endpoint of the default weight.
const POINTS_PER_ENDPOINT: f64 = 160.0;

/// Bits of the hash indexing the lookup table that narrows the ring search.
const LUT_BITS: u32 = 16;

/// A hash ring.
#[derive(Debug)]
pub struct ConsistentHash {
    ring: Vec<(u64, u32)>,
    /// For each value of the hash's top bits, the first ring position at or after it: a
    /// lookup replaces most of the binary search.
    lut: Vec<u32>,
    header: Option<String>,
    /// The bound's factor `c` and the destination's loads.
    bounded: Option<(f64, Arc<LoadView>)>,
}

/// Which endpoints are on the ring: those of positive weight (weight 0 drains an
/// endpoint), or all of them when none has a weight. They are also the `n` of the bound:
/// an endpoint the walk can never reach must not lower it.
pub(crate) fn on_ring(endpoints: &[Arc<Endpoint>]) -> impl Fn(&Endpoint) -> bool {
    let all_zero = endpoints.iter().all(|e| e.weight <= 0.0);
    move |e| all_zero || e.weight > 0.0
}

impl ConsistentHash {
    /// Builds the ring; `header` names the key (else the caller id). With `bounded_load`,
    /// the loads are counted for this ring alone, and only for requests picked through a
    /// [`crate::RouteTable`]; a table builds its rings with loads that last as long as its
    /// router.
    pub fn new(
        endpoints: &[Arc<Endpoint>],
        header: Option<String>,
        bounded_load: Option<f64>,
    ) -> Self {
        let load =
            bounded_load.map(|_| Arc::new(LoadView::standalone(endpoints, on_ring(endpoints))));
        Self::with_load(endpoints, header, bounded_load.zip(load))
    }

    /// Builds the ring, bounding loads with factor `c` over `load` when given.
    pub(crate) fn with_load(
        endpoints: &[Arc<Endpoint>],
        header: Option<String>,
        bounded: Option<(f64, Arc<LoadView>)>,
    ) -> Self {
        let mut ring = Vec::new();
        let member = on_ring(endpoints);
        for (i, e) in endpoints.iter().enumerate() {
            if !member(e) {
                continue;
            }
            let points = ((e.weight / crate::DEFAULT_WEIGHT) * POINTS_PER_ENDPOINT)
                .round()
                .clamp(1.0, 10_000.0) as u32;
            for p in 0..points {
                ring.push((fnv1a(format!("{}#{p}", e.id).as_bytes()), i as u32));
            }
        }
        ring.sort_unstable();
        let buckets = 1usize << LUT_BITS;
        let mut lut = Vec::with_capacity(buckets + 1);
        let mut at = 0usize;
        for bucket in 0..buckets as u64 {
            let start = bucket << (64 - LUT_BITS);
            while at < ring.len() && ring[at].0 < start {
                at += 1;
            }
            lut.push(at as u32);
        }
        lut.push(ring.len() as u32);
        Self {
            ring,
            lut,
            header,
            bounded,
        }
    }
}

impl Pick for ConsistentHash {
    fn pick(&self, endpoints: &[Arc<Endpoint>], ctx: &RequestContext, rng: &Rng) -> usize {
        let key = match &self.header {
            Some(h) => ctx.header(h),
            None => Some(ctx.caller_id).filter(|c| !c.is_empty()),
        };
        let Some(key) = key else {
            // No key: any endpoint will do.
            return rng.below(endpoints.len());
        };
        if self.ring.is_empty() {
            return 0;
        }
        let h = fnv1a(key.as_bytes());
        let bucket = (h >> (64 - LUT_BITS)) as usize;
        let (lo, hi) = (self.lut[bucket] as usize, self.lut[bucket + 1] as usize);
        let at = lo + self.ring[lo..hi].partition_point(|(p, _)| *p < h);
        let owner =
            |k: usize| (self.ring[(at + k) % self.ring.len()].1 as usize).min(endpoints.len() - 1);
        let Some((c, load)) = &self.bounded else {
            return owner(0);
        };
        // An idle home endpoint is under any bound (the bound is at least 1).
        if load.in_flight(owner(0)) == 0 {
            return owner(0);
        }
        // Walk on from an endpoint already at the bound (counting this request) to the
        // first one under it.
        let total = load.total() + 1;
        let cap = (c * total as f64 / load.members().max(1) as f64).ceil() as u64;
        (0..self.ring.len())
            .map(owner)
            .find(|&i| load.in_flight(i) < cap)
            // Every member at the bound: the members' loads sum to the total, so only
            // concurrent picks racing get here. The key stays home.
            .unwrap_or_else(|| owner(0))
    }
}

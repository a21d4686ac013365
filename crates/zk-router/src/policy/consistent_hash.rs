//! Consistent hashing on a request key: a ring with virtual nodes per endpoint (more for
//! heavier endpoints). A key maps to the first point at or after its hash, so when an
//! endpoint joins or leaves only the keys near its points move.

use std::sync::Arc;

use super::{fnv1a, Pick, Rng};
use crate::endpoint::Endpoint;
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
    bounded_load: Option<f64>,
}

impl ConsistentHash {
    /// Builds the ring; `header` names the key (else the caller id).
    pub fn new(
        endpoints: &[Arc<Endpoint>],
        header: Option<String>,
        bounded_load: Option<f64>,
    ) -> Self {
        let mut ring = Vec::new();
        let all_zero = endpoints.iter().all(|e| e.weight <= 0.0);
        for (i, e) in endpoints.iter().enumerate() {
            if e.weight <= 0.0 && !all_zero {
                continue; // weight 0: no traffic
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
            bounded_load,
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
        let Some(c) = self.bounded_load else {
            return owner(0);
        };
        // An idle home endpoint is under any bound (the cap is at least 1): no need to
        // sum the loads.
        if endpoints[owner(0)].in_flight() == 0 {
            return owner(0);
        }
        // Bounded loads: walk on from an endpoint already carrying more than c times the
        // average (counting this request), to the first one that is not. The total is
        // summed from the endpoints' own counters, which outlive table rebuilds (a
        // per-table counter would restart at zero while requests are still in flight).
        let total = endpoints.iter().map(|e| e.in_flight()).sum::<u64>() + 1;
        let cap = (c * total as f64 / endpoints.len() as f64).ceil() as u64;
        (0..self.ring.len())
            .map(owner)
            .find(|&i| endpoints[i].in_flight() < cap)
            .unwrap_or_else(|| owner(0))
    }
}

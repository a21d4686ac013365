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

use super::{fnv1a, fnv1a_feed, fnv1a_finish, Pick, Rng, FNV1A_START};
use crate::endpoint::Endpoint;
use crate::load::LoadView;
use crate::matcher::RequestContext;

/// Virtual nodes for an endpoint of the default weight.
const POINTS_PER_ENDPOINT: f64 = 160.0;

/// Bits of the hash indexing the lookup table that narrows the ring search: about as
/// many buckets as ring points, so a bucket holds one or two points and the search after
/// the lookup is as short at 10,000 endpoints as at 10 (within these bounds: 256 KiB to
/// 16 MiB of table).
const LUT_BITS: std::ops::RangeInclusive<u32> = 16..=22;

/// A hash ring.
#[derive(Debug)]
pub struct ConsistentHash {
    /// The ring points' hashes, in order (apart from their owners, so that the search
    /// reads 8 bytes a point, not 16).
    points: Vec<u64>,
    /// The endpoint of each point.
    owners: Vec<u32>,
    /// For each value of the hash's top `lut_bits` bits, the first ring position at or
    /// after it: a lookup replaces most of the binary search.
    lut: Vec<u32>,
    lut_bits: u32,
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
    /// the ring bounds the loads it is told of, which only a [`crate::RouteTable`] does:
    /// the guards of its picks count them, in groups that outlive the table when a
    /// [`crate::Router`] built it. A ring built here, outside a table, sees no load and
    /// never walks on.
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
            // The hash of "{id}#{p}", fed in parts: no string formatted per point (1.6
            // million of them at 10,000 endpoints).
            let prefix = fnv1a_feed(fnv1a_feed(FNV1A_START, e.id.as_bytes()), b"#");
            for p in 0..points {
                let mut digits = [0u8; 10];
                let h = fnv1a_finish(fnv1a_feed(prefix, decimal(p, &mut digits)));
                ring.push((h, i as u32));
            }
        }
        ring.sort_unstable();
        let (points, owners): (Vec<u64>, Vec<u32>) = ring.into_iter().unzip();
        let lut_bits = (points.len().max(1).next_power_of_two().trailing_zeros())
            .clamp(*LUT_BITS.start(), *LUT_BITS.end());
        let buckets = 1usize << lut_bits;
        let mut lut = Vec::with_capacity(buckets + 1);
        let mut at = 0usize;
        for bucket in 0..buckets as u64 {
            let start = bucket << (64 - lut_bits);
            while at < points.len() && points[at] < start {
                at += 1;
            }
            lut.push(at as u32);
        }
        lut.push(points.len() as u32);
        Self {
            points,
            owners,
            lut,
            lut_bits,
            header,
            bounded,
        }
    }
}

/// `n` in decimal, written into `buf`.
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
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
        if self.points.is_empty() {
            return 0;
        }
        let h = fnv1a(key.as_bytes());
        let bucket = (h >> (64 - self.lut_bits)) as usize;
        let (lo, hi) = (self.lut[bucket] as usize, self.lut[bucket + 1] as usize);
        let at = lo + self.points[lo..hi].partition_point(|p| *p < h);
        let len = self.points.len();
        let owner = |k: usize| (self.owners[(at + k) % len] as usize).min(endpoints.len() - 1);
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
        (0..len)
            .map(owner)
            .find(|&i| load.in_flight(i) < cap)
            // Every member at the bound: the members' loads sum to the total, so only
            // concurrent picks racing get here. The key stays home.
            .unwrap_or_else(|| owner(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_points_hash_as_their_formatted_names() {
        // Placement must not change with the way points are hashed: routers of different
        // versions in one fleet send a key to the same endpoint.
        for id in ["e0", "orders-7f9c", ""] {
            let prefix = fnv1a_feed(fnv1a_feed(FNV1A_START, id.as_bytes()), b"#");
            for p in [0u32, 7, 10, 159, 4_294_967_295] {
                let mut digits = [0u8; 10];
                let streamed = fnv1a_finish(fnv1a_feed(prefix, decimal(p, &mut digits)));
                assert_eq!(streamed, fnv1a(format!("{id}#{p}").as_bytes()), "{id}#{p}");
            }
        }
    }
}

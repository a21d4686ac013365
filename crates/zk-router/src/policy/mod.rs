//! Load-balancing policies: given the endpoints of a destination, pick one. Each policy's
//! state is built once per route table and picks without locks or allocation.

mod consistent_hash;
mod least_request;
mod peak_ewma;
mod random;
mod round_robin;
mod sticky;
mod weighted_round_robin;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::endpoint::Endpoint;
use crate::load::LoadView;
use crate::matcher::RequestContext;
use crate::rule::Policy;

pub(crate) use consistent_hash::on_ring;
pub use consistent_hash::ConsistentHash;
pub use least_request::LeastRequest;
pub use peak_ewma::PeakEwma;
pub use random::{Random, WeightedRandom};
pub use round_robin::RoundRobin;
pub use sticky::Sticky;
pub use weighted_round_robin::WeightedRoundRobin;

/// A lock-free, seedable random source (SplitMix64 over an atomic counter): deterministic
/// for a given seed when used from one thread, cheap and uncontended from many.
#[derive(Debug)]
pub struct Rng(AtomicU64);

impl Rng {
    /// A source starting at `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(AtomicU64::new(seed))
    }

    /// A source seeded from the OS.
    pub fn from_entropy() -> Self {
        Rng::new(rand::random())
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        let mut z = self
            .0
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in `0..n` (n > 0).
    pub fn below(&self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Two different uniform values in `0..n` (n > 1), for the power of two choices: one
    /// draw (one atomic operation), each value from 32 of its bits, so the bias is at most
    /// n / 2³², nothing for any real set of endpoints.
    pub fn two_below(&self, n: usize) -> (usize, usize) {
        let r = self.next_u64() as u128;
        let a = (((r >> 32) * n as u128) >> 32) as usize;
        let mut b = (((r & 0xFFFF_FFFF) * (n as u128 - 1)) >> 32) as usize;
        if b >= a {
            b += 1;
        }
        (a, b)
    }
}

/// Picks one endpoint of a fixed list.
pub trait Pick: Send + Sync + std::fmt::Debug {
    /// The index of the chosen endpoint in `endpoints` (never empty).
    fn pick(&self, endpoints: &[Arc<Endpoint>], ctx: &RequestContext, rng: &Rng) -> usize;

    /// Whether the policy learns from request latencies (the pick is then timed).
    fn needs_latency(&self) -> bool {
        false
    }
}

/// Builds the state of `policy` for `endpoints`.
///
/// `offset` is where round robin and sticky start. It differs per router (drawn once
/// from its random source), so a fleet of clients does not begin on the same endpoint
/// after each rebuild, and stays the same across rebuilds, so a sticky client keeps its
/// endpoint while the set does not change size.
///
/// Bounded-load hashing built here counts loads for itself alone (see
/// [`ConsistentHash::new`]); route tables give it the loads of their router instead.
pub fn build(policy: &Policy, endpoints: &[Arc<Endpoint>], offset: usize) -> Box<dyn Pick> {
    build_with_load(policy, endpoints, offset, None)
}

/// Like [`build`], with the destination's loads for bounded-load hashing (`None`: its own).
pub(crate) fn build_with_load(
    policy: &Policy,
    endpoints: &[Arc<Endpoint>],
    offset: usize,
    load: Option<Arc<LoadView>>,
) -> Box<dyn Pick> {
    match policy {
        Policy::RoundRobin => Box::new(RoundRobin::starting_at(offset)),
        Policy::Random => Box::new(Random),
        Policy::WeightedRandom => Box::new(WeightedRandom::new(endpoints)),
        Policy::WeightedRoundRobin => Box::new(WeightedRoundRobin::new(endpoints)),
        Policy::LeastRequest => Box::new(LeastRequest),
        Policy::PeakEwma => Box::new(PeakEwma),
        Policy::ConsistentHash {
            header,
            bounded_load,
        } => Box::new(match (bounded_load, load) {
            (Some(c), Some(load)) => {
                ConsistentHash::with_load(endpoints, header.clone(), Some((*c, load)))
            }
            _ => ConsistentHash::new(endpoints, header.clone(), *bounded_load),
        }),
        Policy::Sticky => Box::new(Sticky::starting_at(offset)),
    }
}

/// A stable, fast 64-bit hash for keys and ring points: FNV-1a, then SplitMix64's
/// finalizer, because FNV alone leaves the high bits of short, similar keys ("user-1",
/// "user-2") clustered, which bunches them on the ring.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_finish(fnv1a_feed(FNV1A_START, bytes))
}

/// FNV-1a's starting state.
pub(crate) const FNV1A_START: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over `bytes` from state `h`: feeding a key in parts gives the hash of the whole.
pub(crate) fn fnv1a_feed(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The finalizer of [`fnv1a`].
pub(crate) fn fnv1a_finish(mut h: u64) -> u64 {
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_below_draws_two_different_uniform_values() {
        let rng = Rng::new(17);
        for n in [2usize, 3, 7, 50] {
            let mut seen = vec![[0u32; 2]; n];
            let draws = 20_000 * n as u32;
            for _ in 0..draws {
                let (a, b) = rng.two_below(n);
                assert!(a < n && b < n && a != b, "{n}: {a}, {b}");
                seen[a][0] += 1;
                seen[b][1] += 1;
            }
            for (i, [first, second]) in seen.iter().enumerate() {
                for got in [first, second] {
                    let share = *got as f64 / draws as f64 * n as f64;
                    assert!(
                        (share - 1.0).abs() < 0.05,
                        "{n}: {i} drawn {share:.3}x its share"
                    );
                }
            }
        }
    }
}

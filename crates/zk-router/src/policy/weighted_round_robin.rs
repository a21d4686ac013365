//! Smooth weighted round robin (nginx's, which Dubbo adopted): over a cycle each endpoint
//! is chosen in proportion to its weight, and the choices are interleaved rather than
//! bunched (weights 5,1,1 give a a b a c a a, not a a a a a b c). The cycle is computed
//! once per table, so a pick is one atomic increment.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{Pick, Rng};
use crate::endpoint::Endpoint;
use crate::matcher::RequestContext;

/// Longest precomputed cycle; weights are scaled down to fit.
const MAX_CYCLE: usize = 4096;

/// Smooth weighted round robin over a precomputed cycle.
#[derive(Debug)]
pub struct WeightedRoundRobin {
    cycle: Vec<u32>,
    next: AtomicUsize,
}

impl WeightedRoundRobin {
    /// Computes the cycle for the endpoints' weights.
    pub fn new(endpoints: &[Arc<Endpoint>]) -> Self {
        let total: f64 = endpoints.iter().map(|e| e.weight.max(0.0)).sum();
        let scale = if total > MAX_CYCLE as f64 {
            MAX_CYCLE as f64 / total
        } else {
            1.0
        };
        let mut weights: Vec<i64> = endpoints
            .iter()
            .map(|e| {
                ((e.weight.max(0.0) * scale).round() as i64).max(if e.weight > 0.0 { 1 } else { 0 })
            })
            .collect();
        if weights.iter().all(|w| *w == 0) {
            weights = vec![1; endpoints.len()];
        }
        let g = weights.iter().copied().fold(0, gcd);
        for w in &mut weights {
            *w /= g.max(1);
        }
        let sum: i64 = weights.iter().sum();
        let mut current = vec![0i64; weights.len()];
        let mut cycle = Vec::with_capacity(sum as usize);
        for _ in 0..sum {
            for (c, w) in current.iter_mut().zip(&weights) {
                *c += w;
            }
            let (best, _) = current
                .iter()
                .enumerate()
                .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
                .unwrap_or((0, &0));
            current[best] -= sum;
            cycle.push(best as u32);
        }
        Self {
            cycle,
            next: AtomicUsize::new(0),
        }
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Pick for WeightedRoundRobin {
    fn pick(&self, endpoints: &[Arc<Endpoint>], _: &RequestContext, _: &Rng) -> usize {
        if self.cycle.is_empty() {
            return 0;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.cycle.len();
        (self.cycle[i] as usize).min(endpoints.len() - 1)
    }
}

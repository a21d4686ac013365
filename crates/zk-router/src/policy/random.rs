//! Random choices: uniform, and in proportion to endpoint weights.

use std::sync::Arc;

use super::{Pick, Rng};
use crate::endpoint::Endpoint;
use crate::matcher::RequestContext;

/// Uniformly at random.
#[derive(Debug, Default)]
pub struct Random;

impl Pick for Random {
    fn pick(&self, endpoints: &[Arc<Endpoint>], _: &RequestContext, rng: &Rng) -> usize {
        rng.below(endpoints.len())
    }
}

/// At random in proportion to weights: a binary search over cumulative weights.
#[derive(Debug)]
pub struct WeightedRandom {
    cumulative: Vec<f64>,
}

impl WeightedRandom {
    /// Precomputes cumulative weights (all-zero weights fall back to uniform).
    pub fn new(endpoints: &[Arc<Endpoint>]) -> Self {
        let mut total = 0.0;
        let mut cumulative: Vec<f64> = endpoints
            .iter()
            .map(|e| {
                total += e.weight;
                total
            })
            .collect();
        if total <= 0.0 {
            cumulative = (1..=endpoints.len()).map(|i| i as f64).collect();
        }
        Self { cumulative }
    }
}

impl Pick for WeightedRandom {
    fn pick(&self, endpoints: &[Arc<Endpoint>], _: &RequestContext, rng: &Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        self.cumulative
            .partition_point(|c| *c <= x)
            .min(endpoints.len() - 1)
    }
}

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

/// At random in proportion to weights, in constant time whatever the number of
/// endpoints: Vose's alias method (one uniform draw picks a column, a second decides
/// between the column's endpoint and its alias).
#[derive(Debug)]
pub struct WeightedRandom {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl WeightedRandom {
    /// Builds the alias table (all-zero weights fall back to uniform).
    pub fn new(endpoints: &[Arc<Endpoint>]) -> Self {
        let n = endpoints.len();
        let total: f64 = endpoints.iter().map(|e| e.weight.max(0.0)).sum();
        let mut scaled: Vec<f64> = if total > 0.0 {
            endpoints
                .iter()
                .map(|e| e.weight.max(0.0) * n as f64 / total)
                .collect()
        } else {
            vec![1.0; n]
        };
        let mut prob = vec![1.0; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            prob[s] = scaled[s];
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        Self { prob, alias }
    }
}

impl Pick for WeightedRandom {
    fn pick(&self, endpoints: &[Arc<Endpoint>], _: &RequestContext, rng: &Rng) -> usize {
        let r = rng.next_u64();
        let column = (((r >> 32) * self.prob.len() as u64) >> 32) as usize;
        let coin = (r & 0xFFFF_FFFF) as f64 / 4_294_967_296.0;
        let i = if coin < self.prob[column] {
            column
        } else {
            self.alias[column] as usize
        };
        i.min(endpoints.len() - 1)
    }
}

//! Smooth weighted round robin (nginx's, which Dubbo adopted): over a cycle each endpoint
//! is chosen in proportion to its weight, and the choices are interleaved rather than
//! bunched (weights 5,1,1 give a a b a c a a, not a a a a a b c). The cycle is computed
//! once per table, so a pick is one atomic increment whatever the number of endpoints.
//!
//! # Building the cycle
//! nginx's rule, step by step: every endpoint's current weight grows by its weight, the
//! largest (the lowest index among equals) is picked and loses the sum of the weights.
//! Run as written that costs O(n) per step, O(S·n) for a cycle of S picks: over a
//! hundred milliseconds per table at 10,000 endpoints. Endpoints of equal weight move
//! together, though: they start equal, grow equally, and are picked in index order, one
//! per turn of their class, until each has been picked once and they are equal again.
//! So the same sequence comes from running the rule over classes of equal weight, with
//! a class's current weight that of its members not yet picked this turn: O(S·C) for C
//! distinct weights, at most √(2S) and usually a handful. A test compares the two step
//! by step.
//!
//! # Cycle length
//! Weights (rounded to integers, divided by their greatest common divisor) are used as
//! they are while they sum to at most `max(65,536, 32 × n)` entries of the cycle. Above
//! that they are scaled down to fit, each rounded to the nearest integer and at least 1:
//! a share is then off by at most half a pick per cycle, about 1.5 % for an endpoint of
//! average weight at the limit (4 bytes of cycle per entry: 1.3 MB at 10,000 endpoints).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{Pick, Rng};
use crate::endpoint::Endpoint;
use crate::matcher::RequestContext;

/// Cycle entries allowed whatever the number of endpoints.
const MIN_CYCLE_LIMIT: usize = 1 << 16;

/// Cycle entries allowed per endpoint beyond that: enough for weights to keep about two
/// significant digits.
const CYCLE_PER_ENDPOINT: usize = 32;

/// Smooth weighted round robin over a precomputed cycle.
#[derive(Debug)]
pub struct WeightedRoundRobin {
    cycle: Vec<u32>,
    next: AtomicUsize,
}

impl WeightedRoundRobin {
    /// Computes the cycle for the endpoints' weights.
    pub fn new(endpoints: &[Arc<Endpoint>]) -> Self {
        let weights: Vec<f64> = endpoints.iter().map(|e| e.weight).collect();
        Self {
            cycle: smooth_cycle(&integer_weights(&weights)),
            next: AtomicUsize::new(0),
        }
    }
}

/// The weights as small integers: 0 stays 0 (no traffic), a positive weight gets at least
/// 1; scaled down when their sum exceeds the cycle limit; divided by their gcd. All zero
/// (or none positive) counts as all equal.
fn integer_weights(weights: &[f64]) -> Vec<u64> {
    let positive = |w: f64| w > 0.0 && w.is_finite();
    let total: f64 = weights.iter().copied().filter(|w| positive(*w)).sum();
    if total <= 0.0 {
        return vec![1; weights.len()];
    }
    let limit = MIN_CYCLE_LIMIT.max(CYCLE_PER_ENDPOINT * weights.len()) as f64;
    let scale = if total > limit { limit / total } else { 1.0 };
    let mut ints: Vec<u64> = weights
        .iter()
        .map(|&w| {
            if positive(w) {
                ((w * scale).round() as u64).max(1)
            } else {
                0
            }
        })
        .collect();
    let g = ints.iter().copied().fold(0, gcd);
    if g > 1 {
        for w in &mut ints {
            *w /= g;
        }
    }
    ints
}

/// A class of endpoints of equal weight during the construction.
struct Class {
    weight: i64,
    /// Its endpoints, in index order.
    members: Vec<u32>,
    /// The current weight of the members not yet picked this turn is `weight × step + base`.
    base: i64,
    /// The next member to pick.
    turn: usize,
}

/// nginx's smooth weighted round robin over `weights` for one cycle (the sum of the
/// weights), run over classes of equal weight.
fn smooth_cycle(weights: &[u64]) -> Vec<u32> {
    let mut by_weight: std::collections::BTreeMap<u64, Vec<u32>> = Default::default();
    for (i, &w) in weights.iter().enumerate() {
        if w > 0 {
            by_weight.entry(w).or_default().push(i as u32);
        }
    }
    let mut classes: Vec<Class> = by_weight
        .into_iter()
        .map(|(w, members)| Class {
            weight: w as i64,
            members,
            base: 0,
            turn: 0,
        })
        .collect();
    let sum: u64 = weights.iter().sum();
    let mut cycle = Vec::with_capacity(sum as usize);
    for step in 1..=sum as i64 {
        // The class whose next member has the largest current weight, the lowest index
        // among equals (as nginx, scanning in index order, keeps the first maximum).
        let mut best: Option<(i64, u32, usize)> = None;
        for (c, class) in classes.iter().enumerate() {
            let current = class.weight * step + class.base;
            let index = class.members[class.turn];
            if best.is_none_or(|(v, i, _)| current > v || (current == v && index < i)) {
                best = Some((current, index, c));
            }
        }
        let Some((_, index, c)) = best else { break };
        cycle.push(index);
        let class = &mut classes[c];
        class.turn += 1;
        if class.turn == class.members.len() {
            // Every member lost the sum once this turn: they are equal again.
            class.turn = 0;
            class.base -= sum as i64;
        }
    }
    cycle
}

fn gcd(a: u64, b: u64) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// nginx's rule run as written: every endpoint, every step.
    fn nginx(weights: &[u64]) -> Vec<u32> {
        let sum: i64 = weights.iter().sum::<u64>() as i64;
        let mut current = vec![0i64; weights.len()];
        (0..sum)
            .map(|_| {
                let mut best = 0;
                for (i, w) in weights.iter().enumerate() {
                    current[i] += *w as i64;
                    if current[i] > current[best] {
                        best = i;
                    }
                }
                current[best] -= sum;
                best as u32
            })
            .collect()
    }

    #[test]
    fn the_class_construction_gives_nginx_sequence_step_by_step() {
        let rng = Rng::new(9);
        for case in 0..2_000 {
            let n = 1 + rng.below(12);
            let top = [2, 4, 10, 40][rng.below(4)];
            let weights: Vec<u64> = (0..n).map(|_| rng.below(top) as u64).collect();
            if weights.iter().all(|w| *w == 0) {
                continue;
            }
            assert_eq!(
                smooth_cycle(&weights),
                nginx(&weights),
                "case {case}: {weights:?}"
            );
        }
        assert_eq!(smooth_cycle(&[5, 1, 1]), [0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn weights_are_kept_exactly_below_the_limit_and_scaled_above_it() {
        assert_eq!(integer_weights(&[100.0, 50.0, 0.0]), [2, 1, 0]);
        assert_eq!(integer_weights(&[0.0, 0.0]), [1, 1]);
        assert_eq!(integer_weights(&[0.2, 1.0]), [1, 1]);
        // 10,000 endpoints weighing 50 to 149: 995,000 in all, scaled to about 320,000.
        let weights: Vec<f64> = (0..10_000).map(|i| 50.0 + (i % 100) as f64).collect();
        let ints = integer_weights(&weights);
        let sum: u64 = ints.iter().sum();
        assert!((319_000..=321_000).contains(&sum), "{sum}");
        let total: f64 = weights.iter().sum();
        for (w, i) in weights.iter().zip(&ints) {
            let exact = w / total * sum as f64;
            assert!((*i as f64 - exact).abs() <= 0.51, "{w}: {i} vs {exact}");
        }
    }
}

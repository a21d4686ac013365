//! Peak EWMA with the power of two choices: draw two endpoints and take the one whose
//! latency estimate times (outstanding requests + 1) is lower. The estimate jumps up with
//! every slow response and decays back over about ten seconds, so an endpoint that turns
//! slow loses traffic at once and wins it back gradually (Finagle's `p2cPeakEwma`, tower's
//! `PeakEwma`).

use std::sync::Arc;

use super::{Pick, Rng};
use crate::endpoint::Endpoint;
use crate::matcher::RequestContext;

/// Assumed latency of an endpoint with no sample yet (µs): optimistic, so it gets tried.
const DEFAULT_RTT_US: f64 = 1.0;

/// Power of two choices over latency × load.
#[derive(Debug, Default)]
pub struct PeakEwma;

fn cost(e: &Endpoint) -> f64 {
    let rtt = e.latency_estimate_us();
    let rtt = if rtt > 0.0 { rtt } else { DEFAULT_RTT_US };
    rtt * (e.in_flight() as f64 + 1.0)
}

impl Pick for PeakEwma {
    fn needs_latency(&self) -> bool {
        true
    }

    fn pick(&self, endpoints: &[Arc<Endpoint>], _: &RequestContext, rng: &Rng) -> usize {
        let n = endpoints.len();
        if n == 1 {
            return 0;
        }
        let (a, b) = rng.two_below(n);
        if cost(&endpoints[b]) < cost(&endpoints[a]) {
            b
        } else {
            a
        }
    }
}

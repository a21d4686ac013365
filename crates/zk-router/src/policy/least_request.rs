//! Least outstanding requests by the power of two choices: draw two endpoints at random
//! and take the one with fewer requests in flight. Nearly as good as scanning every
//! endpoint for the least loaded, at constant cost, and without the herding a full scan
//! causes when many callers see the same "least loaded" endpoint (Mitzenmacher, "The Power
//! of Two Choices in Randomized Load Balancing", 2001).

use std::sync::Arc;

use super::{Pick, Rng};
use crate::endpoint::Endpoint;
use crate::matcher::RequestContext;

/// Power of two choices over requests in flight.
#[derive(Debug, Default)]
pub struct LeastRequest;

impl Pick for LeastRequest {
    fn pick(&self, endpoints: &[Arc<Endpoint>], _: &RequestContext, rng: &Rng) -> usize {
        let n = endpoints.len();
        if n == 1 {
            return 0;
        }
        let (a, b) = rng.two_below(n);
        if endpoints[b].in_flight() < endpoints[a].in_flight() {
            b
        } else {
            a
        }
    }
}

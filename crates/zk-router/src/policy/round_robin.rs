//! Round robin: each endpoint in turn.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{Pick, Rng};
use crate::endpoint::Endpoint;
use crate::matcher::RequestContext;

/// Picks endpoints in turn.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl Pick for RoundRobin {
    fn pick(&self, endpoints: &[Arc<Endpoint>], _: &RequestContext, _: &Rng) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % endpoints.len()
    }
}

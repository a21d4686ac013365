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

impl RoundRobin {
    /// Round robin whose first pick is endpoint `offset` (modulo their number).
    pub fn starting_at(offset: usize) -> Self {
        Self {
            next: AtomicUsize::new(offset),
        }
    }
}

impl Pick for RoundRobin {
    fn pick(&self, endpoints: &[Arc<Endpoint>], _: &RequestContext, _: &Rng) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % endpoints.len()
    }
}

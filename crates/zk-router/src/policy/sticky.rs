//! Sticky: keep sending to the same endpoint; move to the next one only when it is ejected
//! (or leaves, which rebuilds the table).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{Pick, Rng};
use crate::endpoint::Endpoint;
use crate::matcher::RequestContext;

/// One endpoint until it fails.
#[derive(Debug, Default)]
pub struct Sticky {
    current: AtomicUsize,
}

impl Sticky {
    /// Sticky to endpoint `offset` (modulo their number) until it is ejected.
    pub fn starting_at(offset: usize) -> Self {
        Self {
            current: AtomicUsize::new(offset),
        }
    }
}

impl Pick for Sticky {
    fn pick(&self, endpoints: &[Arc<Endpoint>], _: &RequestContext, _: &Rng) -> usize {
        let n = endpoints.len();
        let start = self.current.load(Ordering::Relaxed) % n;
        for k in 0..n {
            let i = (start + k) % n;
            if !endpoints[i].is_ejected() {
                if k > 0 {
                    self.current.store(i, Ordering::Relaxed);
                }
                return i;
            }
        }
        start
    }
}

//! Requests in flight per destination, for consistent hashing with bounded loads.
//!
//! The bound is `ceil(c × (total + 1) / n)`: it needs the destination's total load on
//! every pick, so the total is one counter kept up to date as requests start and finish,
//! not a sum over the endpoints. Tables are rebuilt while requests run (an instance joins
//! or leaves, the rule changes), so the counters live outside the tables, in a router-wide
//! [`Loads`], and a group is found again by its destination's subset. Two routes whose
//! destinations name the same subset share a group: their requests load the same
//! endpoints.
//!
//! # Exactness
//! A group holds one [`LoadSlot`] per endpoint, and at every quiescent moment
//! `total == Σ in-flight of the member slots`: requests on endpoints that are members
//! now, whichever table picked them. A slot's count and a "not a member" bit share one
//! atomic word, so each start or finish sees, in the same operation that counts it,
//! whether the endpoint is a member; a rebuild flips the bit with one atomic operation and
//! moves exactly the count it saw into or out of the total:
//!
//! - an endpoint that leaves takes its in-flight requests out of the total at once, and
//!   their finishes leave the total alone;
//! - an endpoint that joins (or comes back while its older requests still run) brings its
//!   in-flight requests into the total, and their finishes take them out again;
//! - a request started through a table older than the endpoint's departure lands on the
//!   detached slot and never touches the total.
//!
//! A slot belongs to one [`Endpoint`] value, as the endpoint's own in-flight counter does:
//! an instance whose routing data changes gets a new endpoint, and so a new slot (its
//! older requests leave the total as if it had left).
//!
//! Between the two atomic operations of a start, finish or rebuild the total may be off by
//! the operations in progress (never for long, and clamped at zero when read).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::endpoint::Endpoint;
use crate::rule::Subset;

/// Set in a slot's word while its endpoint is not a member of the group.
const DETACHED: u64 = 1 << 63;

/// The requests one endpoint has in flight through one group.
#[derive(Debug)]
pub(crate) struct LoadSlot {
    /// Count in the low bits, [`DETACHED`] on top.
    word: AtomicU64,
    total: Arc<AtomicI64>,
    /// The endpoint, so that a pick's guard holds one reference (the slot's), not two.
    endpoint: Arc<Endpoint>,
}

impl LoadSlot {
    fn new(endpoint: Arc<Endpoint>, total: Arc<AtomicI64>) -> Self {
        Self {
            word: AtomicU64::new(DETACHED),
            total,
            endpoint,
        }
    }

    /// The endpoint whose requests this slot counts.
    pub(crate) fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }

    /// A request to this endpoint starts.
    pub(crate) fn start(&self) {
        // Relaxed is enough throughout: whether the total is touched follows from the
        // value this one read-modify-write saw, and all writes to one atomic are totally
        // ordered.
        if self.word.fetch_add(1, Ordering::Relaxed) & DETACHED == 0 {
            self.total.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A request started with [`LoadSlot::start`] is over.
    pub(crate) fn finish(&self) {
        if self.word.fetch_sub(1, Ordering::Relaxed) & DETACHED == 0 {
            self.total.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Requests in flight on this endpoint through the group (members or not).
    pub(crate) fn in_flight(&self) -> u64 {
        self.word.load(Ordering::Relaxed) & !DETACHED
    }

    fn attach(&self) {
        let was = self.word.fetch_and(!DETACHED, Ordering::Relaxed);
        if was & DETACHED != 0 {
            self.total
                .fetch_add((was & !DETACHED) as i64, Ordering::Relaxed);
        }
    }

    fn detach(&self) {
        let was = self.word.fetch_or(DETACHED, Ordering::Relaxed);
        if was & DETACHED == 0 {
            self.total.fetch_sub(was as i64, Ordering::Relaxed);
        }
    }
}

/// One destination's view of its group in one table: the members' slots, in the order of
/// the destination's endpoints, and the total.
#[derive(Debug)]
pub(crate) struct LoadView {
    /// `Some` for members, `None` for endpoints outside the group (weight 0).
    slots: Vec<Option<Arc<LoadSlot>>>,
    members: usize,
    total: Arc<AtomicI64>,
}

impl LoadView {
    /// A view over a group of its own, for a table built outside a router.
    pub(crate) fn standalone(
        endpoints: &[Arc<Endpoint>],
        member: impl Fn(&Endpoint) -> bool,
    ) -> Self {
        let loads = Loads::default();
        let mut rebuild = loads.rebuild();
        rebuild.view(&Subset::default(), endpoints, member)
    }

    /// The slot of endpoint `i`, if it is a member.
    pub(crate) fn slot(&self, i: usize) -> Option<&Arc<LoadSlot>> {
        self.slots.get(i)?.as_ref()
    }

    /// Requests in flight on endpoint `i` through the group (0 for non-members).
    pub(crate) fn in_flight(&self, i: usize) -> u64 {
        self.slot(i).map_or(0, |s| s.in_flight())
    }

    /// Requests in flight on the members.
    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed).max(0) as u64
    }

    /// How many endpoints are members.
    pub(crate) fn members(&self) -> usize {
        self.members
    }
}

#[derive(Debug, Default)]
struct Group {
    total: Arc<AtomicI64>,
    /// By endpoint (its address: the slot holds the endpoint, so the address cannot be
    /// reused while the entry exists).
    slots: HashMap<usize, Arc<LoadSlot>>,
}

/// An endpoint's identity as a key of [`Group::slots`].
fn identity(e: &Arc<Endpoint>) -> usize {
    Arc::as_ptr(e) as usize
}

/// The load groups of one router, kept across its tables.
#[derive(Debug, Default)]
pub(crate) struct Loads {
    groups: Mutex<HashMap<String, Group>>,
}

impl Loads {
    /// Starts a table build: the groups are locked until the returned value is dropped,
    /// which detaches every endpoint the build did not name as a member.
    pub(crate) fn rebuild(&self) -> Rebuild<'_> {
        Rebuild {
            groups: self.groups.lock().unwrap_or_else(|p| p.into_inner()),
            claimed: HashMap::new(),
        }
    }

    #[cfg(test)]
    fn total(&self, subset: &Subset) -> i64 {
        let groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        groups
            .get(&key(subset))
            .map_or(0, |g| g.total.load(Ordering::Relaxed))
    }
}

/// The groups during one table build.
#[derive(Debug)]
pub(crate) struct Rebuild<'a> {
    groups: std::sync::MutexGuard<'a, HashMap<String, Group>>,
    /// The members of every group this build uses.
    claimed: HashMap<String, HashSet<usize>>,
}

impl Rebuild<'_> {
    /// The view of the group of `subset` for a destination over `endpoints`, whose members
    /// are those `member` accepts.
    pub(crate) fn view(
        &mut self,
        subset: &Subset,
        endpoints: &[Arc<Endpoint>],
        member: impl Fn(&Endpoint) -> bool,
    ) -> LoadView {
        let key = key(subset);
        let group = self.groups.entry(key.clone()).or_default();
        let mut members = 0;
        let slots = endpoints
            .iter()
            .map(|e| {
                if !member(e) {
                    return None;
                }
                members += 1;
                let slot = group
                    .slots
                    .entry(identity(e))
                    .or_insert_with(|| Arc::new(LoadSlot::new(e.clone(), group.total.clone())));
                slot.attach();
                Some(slot.clone())
            })
            .collect();
        // Another destination with the same subset has the same members: claiming twice
        // adds nothing.
        self.claimed.entry(key).or_insert_with(|| {
            endpoints
                .iter()
                .filter(|e| member(e))
                .map(identity)
                .collect()
        });
        LoadView {
            slots,
            members,
            total: group.total.clone(),
        }
    }
}

impl Drop for Rebuild<'_> {
    fn drop(&mut self) {
        let claimed = std::mem::take(&mut self.claimed);
        self.groups.retain(|key, group| {
            let members = claimed.get(key);
            group.slots.retain(|endpoint, slot| {
                if members.is_some_and(|m| m.contains(endpoint)) {
                    return true;
                }
                slot.detach();
                // A detached slot with requests still running is kept, so that they count
                // again if the endpoint comes back before they end.
                slot.in_flight() > 0
            });
            members.is_some() || !group.slots.is_empty()
        });
    }
}

/// A group's name: its subset, with the tags in order (a set, however written).
fn key(subset: &Subset) -> String {
    let mut tags: Vec<&str> = subset.tags.iter().map(String::as_str).collect();
    tags.sort_unstable();
    format!(
        "{:?}/{:?}/{tags:?}/{:?}",
        subset.version, subset.zone, subset.metadata
    )
}

#[cfg(test)]
mod tests;

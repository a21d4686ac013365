//! A pick allocates nothing: `Router::route` and dropping its guard, for every policy, at
//! 10 and 1,000 endpoints, on the paths that do more than the common case (the bound of
//! bounded-load hashing computed, an ejected endpoint passed over, slow start, a split, a
//! request that no route takes). Allocations are counted by a global allocator, only on
//! the thread under test and only while it measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use zk_discovery::ServiceInstance;
use zk_router::policy::Rng;
use zk_router::{Endpoint, HealthPolicy, Picked, RequestContext, Router, Rule};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set while this thread measures: the test harness's other threads allocate freely.
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    // `try_with`: the allocator also runs while thread-locals are being torn down.
    if MEASURING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarding the caller's layout to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    MEASURING.with(|m| m.set(true));
    f();
    MEASURING.with(|m| m.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

fn endpoints(n: usize) -> Vec<Arc<Endpoint>> {
    (0..n)
        .map(|i| {
            Arc::new(Endpoint::from_instance(
                &ServiceInstance::new("svc", "10.0.0.1", 1000 + i as u16)
                    .with_id(format!("e{i}"))
                    .with_payload(json!({
                        "weight": 50 + i % 100,
                        "version": if i % 10 == 0 { "2.0" } else { "1.0" },
                    })),
            ))
        })
        .collect()
}

const POLICIES: [&str; 9] = [
    r#"{"type": "round_robin"}"#,
    r#"{"type": "random"}"#,
    r#"{"type": "weighted_random"}"#,
    r#"{"type": "weighted_round_robin"}"#,
    r#"{"type": "consistent_hash", "header": "x-user"}"#,
    r#"{"type": "consistent_hash", "header": "x-user", "bounded_load": 1.25}"#,
    r#"{"type": "sticky"}"#,
    r#"{"type": "least_request"}"#,
    r#"{"type": "peak_ewma"}"#,
];

fn router(policy: &str, n: usize, health: HealthPolicy) -> Router {
    let r = Router::with_rng("svc", Rng::new(5));
    // A header-matched route with a 90/10 split, then a catch-all route for `x-split`
    // requests; anything else falls through to every instance.
    let rule = format!(
        r#"{{"routes": [
            {{"match": {{"headers": [{{"name": "x-split", "exact": "yes"}}]}},
              "destinations": [{{"subset": {{"version": "1.0"}}, "weight": 90}},
                               {{"subset": {{"version": "2.0"}}, "weight": 10}}],
              "policy": {policy}}},
            {{"match": {{"headers": [{{"name": "x-plain", "present": true}}]}},
              "destinations": [{{}}], "policy": {policy}}}
        ]}}"#
    );
    r.set_rule(Some(Rule::parse(rule.as_bytes()).unwrap()));
    r.set_health(Some(health));
    r.set_endpoints(endpoints(n));
    r
}

/// Picks `picks` times with each of the request shapes, holding up to `hold` guards (so
/// load-aware policies see load) in a vector allocated beforehand.
fn allocations_picking(r: &Router, picks: usize, hold: usize) -> u64 {
    let shapes: [&[(&str, &str)]; 4] = [
        &[("x-split", "yes"), ("x-user", "user-1")],
        &[("x-plain", "1"), ("x-user", "user-1")],
        &[("x-plain", "1"), ("x-user", "user-2")],
        &[("x-user", "user-3")], // no route: every instance
    ];
    let mut held: Vec<Picked> = Vec::with_capacity(hold + 1);
    // Warm up lazily initialised state (the process clock's origin) outside the count.
    drop(r.route(&RequestContext::default()));
    allocations_in(|| {
        for k in 0..picks {
            let ctx = RequestContext {
                headers: shapes[k % shapes.len()],
                caller_id: "caller",
                ..Default::default()
            };
            let p = r.route(&ctx).expect("an endpoint");
            if held.len() < hold {
                held.push(p);
            } else if k % 3 == 0 {
                p.success();
            } else {
                drop(p);
                held.swap_remove(k % hold.max(1));
            }
        }
        held.clear();
    })
}

#[test]
fn no_policy_allocates_to_pick() {
    for n in [10, 1_000] {
        for policy in POLICIES {
            let r = router(policy, n, HealthPolicy::default());
            // Held guards make the bounded hash compute its bound and walk the ring.
            let allocs = allocations_picking(&r, 20_000, 64);
            assert_eq!(allocs, 0, "{policy} at {n} endpoints");
        }
    }
}

#[test]
fn health_paths_do_not_allocate_to_pick() {
    for policy in POLICIES {
        let health = HealthPolicy {
            consecutive_failures: 1,
            base_ejection: Duration::from_secs(600),
            slow_start: Some(Duration::from_secs(600)),
            ..Default::default()
        };
        let r = router(policy, 10, health);
        // Eject one endpoint (outside the count): picks landing on it move on.
        let first = r.route(&RequestContext::default()).unwrap();
        let ejected = first.endpoint().clone();
        first.failure();
        assert!(ejected.is_ejected());
        let allocs = allocations_picking(&r, 5_000, 8);
        assert_eq!(
            allocs, 0,
            "{policy} with an ejected endpoint and slow start"
        );
    }
}

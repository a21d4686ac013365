//! Router benchmark: cost per pick of each policy at 10, 100, 1,000 and 10,000 endpoints,
//! with tower's p2c balancer (over pending requests, and over peak EWMA) measured in the
//! same run; allocations per pick; the time a
//! table rebuild takes at the larger sizes; and the cost of matching a request against a
//! 50-route rule.
//!
//! `cargo bench -p zk-router --bench router`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tower::{Service, ServiceExt};
use zk_discovery::ServiceInstance;
use zk_router::policy::Rng;
use zk_router::{Endpoint, RequestContext, Router, Rule};

/// Counts allocations, to show that a pick allocates nothing.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarding the caller's layout to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const PICKS: u64 = 2_000_000;

/// Each cell is the fastest of this many rounds of `PICKS / ROUNDS` picks: the machine is
/// shared, and the fastest round is the one least disturbed by other work.
const ROUNDS: u64 = 4;

const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

fn endpoints(n: usize) -> Vec<Arc<Endpoint>> {
    (0..n)
        .map(|i| {
            Arc::new(Endpoint::from_instance(
                &ServiceInstance::new("svc", "10.0.0.1", 1000 + (i % 60000) as u16)
                    .with_id(format!("e{i:04}"))
                    .with_payload(serde_json::json!({ "weight": 50 + (i % 100) as u64 })),
            ))
        })
        .collect()
}

/// A router with one route to every endpoint under `policy`, and how long setting its
/// `n` endpoints took (one table build), in ms.
fn router(policy: &str, n: usize) -> (Router, f64) {
    let r = Router::with_rng("svc", Rng::new(1));
    let rule = format!(r#"{{"routes": [{{"destinations": [{{}}], "policy": {policy}}}]}}"#);
    r.set_rule(Some(Rule::parse(rule.as_bytes()).expect("rule")));
    let eps = endpoints(n);
    let t = Instant::now();
    r.set_endpoints(eps);
    (r, t.elapsed().as_secs_f64() * 1e3)
}

/// (ns per pick, allocations per pick)
fn measure(r: &Router, ctx: &RequestContext) -> (f64, f64) {
    for _ in 0..10_000 {
        drop(r.route(ctx));
    }
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..PICKS / ROUNDS {
            let picked = r.route(ctx);
            std::hint::black_box(&picked);
        }
        best = best.min(t.elapsed().as_nanos() as f64 / (PICKS / ROUNDS) as f64);
    }
    (
        best,
        (ALLOCS.load(Ordering::Relaxed) - a0) as f64 / PICKS as f64,
    )
}

/// Which load estimate tower's balancer runs on.
#[derive(Clone, Copy)]
enum TowerLoad {
    PendingRequests,
    PeakEwma,
}

/// ns per request through tower's p2c balancer over `n` no-op services.
fn tower_p2c(n: usize, load: TowerLoad) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let services: Vec<_> = (0..n)
            .map(|_| tower::service_fn(|_: ()| async { Ok::<_, std::convert::Infallible>(()) }))
            .collect();
        let discover = tower::discover::ServiceList::new(services);
        let completion = tower::load::CompleteOnResponse::default();
        match load {
            TowerLoad::PendingRequests => {
                let load = tower::load::PendingRequestsDiscover::new(discover, completion);
                time_balance(tower::balance::p2c::Balance::new(load)).await
            }
            TowerLoad::PeakEwma => {
                // Finagle's defaults, as our peak EWMA: a 10 s decay, and an optimistic
                // estimate for endpoints with no sample yet.
                let load = tower::load::PeakEwmaDiscover::new(
                    discover,
                    std::time::Duration::from_micros(1),
                    std::time::Duration::from_secs(10),
                    completion,
                );
                time_balance(tower::balance::p2c::Balance::new(load)).await
            }
        }
    })
}

/// ns per `ready` + `call` + awaiting the response (fastest of `ROUNDS`).
async fn time_balance<S: Service<(), Response = ()>>(mut balance: S) -> f64
where
    S::Error: std::fmt::Debug,
{
    for _ in 0..10_000 {
        balance
            .ready()
            .await
            .expect("ready")
            .call(())
            .await
            .expect("call");
    }
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..PICKS / 4 / ROUNDS {
            balance
                .ready()
                .await
                .expect("ready")
                .call(())
                .await
                .expect("call");
        }
        best = best.min(t.elapsed().as_nanos() as f64 / (PICKS / 4 / ROUNDS) as f64);
    }
    best
}

fn main() {
    println!("router benchmark: {PICKS} picks per cell (fastest of {ROUNDS} rounds), one thread; a pick is `Router::route` plus dropping the guard");
    println!();
    println!("| policy | 10 endpoints ns/pick | 100 | 1000 | 10000 | allocations per pick |");
    println!("|---|---:|---:|---:|---:|---:|");
    let headers = [("x-user", "user-4711")];
    let ctx = RequestContext {
        headers: &headers,
        caller_id: "caller-1",
        ..Default::default()
    };
    let bounded = r#"{"type": "consistent_hash", "header": "x-user", "bounded_load": 1.25}"#;
    let mut builds = Vec::new();
    for (label, policy, busy) in [
        ("round_robin", r#"{"type": "round_robin"}"#, false),
        ("random", r#"{"type": "random"}"#, false),
        ("weighted_random", r#"{"type": "weighted_random"}"#, false),
        (
            "weighted_round_robin",
            r#"{"type": "weighted_round_robin"}"#,
            false,
        ),
        (
            "consistent_hash",
            r#"{"type": "consistent_hash", "header": "x-user"}"#,
            false,
        ),
        ("consistent_hash (bounded load 1.25)", bounded, false),
        (
            "consistent_hash (bounded load 1.25, the key's home endpoint busy)",
            bounded,
            true,
        ),
        ("sticky", r#"{"type": "sticky"}"#, false),
        ("least_request (P2C)", r#"{"type": "least_request"}"#, false),
        ("peak_ewma (P2C)", r#"{"type": "peak_ewma"}"#, false),
    ] {
        let mut cells = Vec::new();
        let mut allocs = 0.0f64;
        for n in SIZES {
            let (r, build_ms) = router(policy, n);
            if !busy && n >= 1_000 {
                builds.push((label, build_ms));
            }
            // One request of the key held for the whole cell: every pick then finds the
            // key's home endpoint loaded and computes the bound (the idle path skips it).
            let held = busy.then(|| r.route(&ctx).expect("route"));
            let (ns, a) = measure(&r, &ctx);
            drop(held);
            cells.push(format!("{ns:.0}"));
            allocs = allocs.max(a);
        }
        println!(
            "| {label} | {} | {} | {} | {} | {allocs:.3} |",
            cells[0], cells[1], cells[2], cells[3]
        );
    }
    for (label, load) in [
        ("`PendingRequests`", TowerLoad::PendingRequests),
        ("`PeakEwma`", TowerLoad::PeakEwma),
    ] {
        let cells: Vec<String> = SIZES
            .iter()
            .map(|n| format!("{:.0}", tower_p2c(*n, load)))
            .collect();
        println!(
            "| tower 0.5 `p2c::Balance` + {label} (ready + call of a no-op service) | {} | {} | {} | {} | — |",
            cells[0], cells[1], cells[2], cells[3]
        );
    }

    // What a change of the endpoint set costs: one table build, with the policy's state
    // for the one destination and the round-robin fallback over all endpoints.
    println!();
    println!("| policy | table build at 1000 endpoints, ms | 10000 |");
    println!("|---|---:|---:|");
    for pair in builds.chunks(2) {
        println!("| {} | {:.1} | {:.1} |", pair[0].0, pair[0].1, pair[1].1);
    }

    // Matching: 50 routes with a header condition each; the request matches the last.
    let routes: Vec<String> = (0..50)
        .map(|i| format!(r#"{{"match": {{"headers": [{{"name": "x-tenant", "exact": "tenant-{i}"}}], "method": {{"prefix": "Get"}}}}, "destinations": [{{}}]}}"#))
        .collect();
    let rule = format!(r#"{{"routes": [{}]}}"#, routes.join(","));
    let r = Router::with_rng("svc", Rng::new(1));
    r.set_rule(Some(Rule::parse(rule.as_bytes()).expect("rule")));
    r.set_endpoints(endpoints(100));
    let headers = [("x-tenant", "tenant-49"), ("x-other", "a")];
    let ctx = RequestContext {
        method: "GetOrder",
        headers: &headers,
        ..Default::default()
    };
    let (ns, a) = measure(&r, &ctx);
    println!();
    println!("matching a 50-route rule (the request matches the 50th route) and picking: {ns:.0} ns, {a:.3} allocations");
}

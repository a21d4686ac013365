//! Consistent hashing with bounded loads while the endpoint set changes under running
//! requests: every pick lands on an endpoint under the bound computed from the requests
//! running on the current members, whichever table picked them.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;
use zk_discovery::ServiceInstance;
use zk_router::policy::Rng;
use zk_router::{Endpoint, Picked, RequestContext, Router, Rule};

const C: f64 = 1.25;

fn endpoints(n: usize) -> Vec<Arc<Endpoint>> {
    (0..n)
        .map(|i| {
            Arc::new(Endpoint::from_instance(
                &ServiceInstance::new("svc", "10.0.0.1", 8000 + i as u16)
                    .with_id(format!("e{i}"))
                    .with_payload(json!({})),
            ))
        })
        .collect()
}

fn router() -> Router {
    let r = Router::with_rng("svc", Rng::new(3));
    let rule = format!(
        r#"{{"routes": [{{"destinations": [{{}}],
             "policy": {{"type": "consistent_hash", "header": "k", "bounded_load": {C}}}}}]}}"#
    );
    r.set_rule(Some(Rule::parse(rule.as_bytes()).unwrap()));
    r
}

/// The bound for the next request: `ceil(c × (running on members + 1) / members)`.
fn bound(held: &[Picked], members: &BTreeSet<String>) -> u64 {
    let total = held.iter().filter(|p| members.contains(&p.id)).count();
    (C * (total + 1) as f64 / members.len() as f64).ceil() as u64
}

#[test]
fn the_bound_holds_while_endpoints_leave_and_join_under_running_requests() {
    let all = endpoints(8);
    let r = router();
    r.set_endpoints(all.clone());
    let mut members: BTreeSet<String> = all.iter().map(|e| e.id.clone()).collect();
    let rng = Rng::new(11);
    let mut held: Vec<Picked> = Vec::new();
    let mut spilled = 0;
    for step in 0..5_000 {
        match rng.below(20) {
            // The set changes (some leave with requests running, some come back to find
            // theirs still running).
            0 => {
                let next: Vec<_> = all.iter().filter(|_| rng.below(4) != 0).cloned().collect();
                if next.len() >= 2 {
                    members = next.iter().map(|e| e.id.clone()).collect();
                    r.set_endpoints(next);
                }
            }
            1..=7 if !held.is_empty() => {
                held.swap_remove(rng.below(held.len()));
            }
            _ => {
                let key = if rng.below(5) == 0 {
                    format!("key-{}", rng.below(50))
                } else {
                    "hot".to_owned()
                };
                let headers = [("k", key.as_str())];
                let cap = bound(&held, &members);
                let p = r
                    .route(&RequestContext {
                        headers: &headers,
                        ..Default::default()
                    })
                    .unwrap();
                assert!(members.contains(&p.id), "step {step}: {} left", p.id);
                let load = held.iter().filter(|h| h.id == p.id).count() as u64;
                assert!(
                    load < cap,
                    "step {step}: {} already carries {load}, bound {cap} over {} members",
                    p.id,
                    members.len()
                );
                if load > 0 {
                    spilled += 1;
                }
                held.push(p);
            }
        }
    }
    assert!(
        spilled > 100,
        "the bound was hardly ever in play: {spilled}"
    );
}

#[test]
fn requests_running_on_a_departed_endpoint_do_not_loosen_the_bound() {
    let all = endpoints(4);
    let r = router();
    r.set_endpoints(all.clone());
    let headers = [("k", "hot")];
    let ctx = RequestContext {
        headers: &headers,
        ..Default::default()
    };
    let home = r.route(&ctx).unwrap().id.clone();
    // Forty requests of the hot key: its home takes ceil(1.25 × 40 / 4) = 13 at most.
    let mut held: Vec<Picked> = (0..40).map(|_| r.route(&ctx).unwrap()).collect();
    // The busiest endpoint other than the home leaves with its requests still running.
    let gone = all
        .iter()
        .filter(|e| e.id != home)
        .max_by_key(|e| held.iter().filter(|p| p.id == e.id).count())
        .unwrap()
        .id
        .clone();
    r.set_endpoints(all.iter().filter(|e| e.id != gone).cloned().collect());
    // Thirty more over the three left: if the departed requests still counted, the bound
    // would be looser and the home would take more than its share of what runs on members.
    let members: BTreeSet<String> = all
        .iter()
        .filter(|e| e.id != gone)
        .map(|e| e.id.clone())
        .collect();
    for _ in 0..30 {
        let cap = bound(&held, &members);
        let p = r.route(&ctx).unwrap();
        let load = held.iter().filter(|h| h.id == p.id).count() as u64;
        assert!(load < cap, "{} carries {load}, bound {cap}", p.id);
        held.push(p);
    }
}

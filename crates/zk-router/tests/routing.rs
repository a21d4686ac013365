//! Matching, splits, fallbacks and each policy's distribution, with a fixed seed.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use zk_discovery::ServiceInstance;
use zk_router::policy::Rng;
use zk_router::{Endpoint, RequestContext, RouteError, Router, Rule};

fn endpoint(id: &str, payload: serde_json::Value) -> Arc<Endpoint> {
    Arc::new(Endpoint::from_instance(
        &ServiceInstance::new("svc", format!("10.0.0.{}", id.len()), 80)
            .with_id(id)
            .with_payload(payload),
    ))
}

fn router(rule: &str, endpoints: Vec<Arc<Endpoint>>) -> Router {
    let r = Router::with_rng("svc", Rng::new(42));
    r.set_rule(Some(Rule::parse(rule.as_bytes()).unwrap()));
    r.set_endpoints(endpoints);
    r
}

fn counts(r: &Router, ctx: &RequestContext, n: usize) -> HashMap<String, usize> {
    let mut c = HashMap::new();
    for _ in 0..n {
        let p = r.route(ctx).unwrap();
        *c.entry(p.id.clone()).or_insert(0) += 1;
    }
    c
}

fn versions() -> Vec<Arc<Endpoint>> {
    vec![
        endpoint("a1", json!({"version": "1.0", "zone": "z1"})),
        endpoint("a2", json!({"version": "1.0", "zone": "z2"})),
        endpoint(
            "b1",
            json!({"version": "2.0", "zone": "z1", "tags": ["canary"]}),
        ),
    ]
}

#[test]
fn a_90_10_split_sends_about_a_tenth_to_the_canary() {
    let r = router(
        r#"{"routes": [{"destinations": [{"subset": {"version": "1.0"}, "weight": 90},
                                          {"subset": {"version": "2.0"}, "weight": 10}]}]}"#,
        versions(),
    );
    let c = counts(&r, &RequestContext::default(), 20_000);
    let canary = *c.get("b1").unwrap_or(&0) as f64 / 20_000.0;
    assert!((canary - 0.10).abs() < 0.01, "canary share {canary}");
    // Round robin within the 1.0 subset: its two members share evenly.
    let (a1, a2) = (c["a1"] as f64, c["a2"] as f64);
    assert!((a1 / a2 - 1.0).abs() < 0.02, "{a1} vs {a2}");
}

#[test]
fn routes_match_in_order_and_fall_back_as_told() {
    let rule = r#"{"routes": [
        {"match": {"headers": [{"name": "x-group", "exact": "beta"}]},
         "destinations": [{"subset": {"tags": ["canary"]}}]},
        {"match": {"headers": [{"name": "x-zone", "exact": "z3"}]},
         "destinations": [{"subset": {"zone": "z3"}}], "fallback": "next_route"},
        {"match": {"headers": [{"name": "x-zone", "exact": "z9"}]},
         "destinations": [{"subset": {"zone": "z9"}}], "fallback": "fail"},
        {"match": {"headers": [{"name": "x-zone", "exact": "z8"}]},
         "destinations": [{"subset": {"zone": "z8"}}], "fallback": "any_instance"},
        {"destinations": [{"subset": {"version": "1.0"}}]}
    ]}"#;
    let r = router(rule, versions());
    let ctx = |headers: &'static [(&'static str, &'static str)]| RequestContext {
        headers,
        ..Default::default()
    };
    assert_eq!(r.route(&ctx(&[("X-Group", "beta")])).unwrap().id, "b1");
    // z3 is empty: next route, which sends to 1.0.
    for _ in 0..10 {
        assert!(r
            .route(&ctx(&[("x-zone", "z3")]))
            .unwrap()
            .id
            .starts_with('a'));
    }
    assert!(matches!(
        r.route(&ctx(&[("x-zone", "z9")])),
        Err(RouteError::EmptyDestination { .. })
    ));
    assert!(r.route(&ctx(&[("x-zone", "z8")])).is_ok());
    assert!(r.route(&ctx(&[])).unwrap().id.starts_with('a'));
}

#[test]
fn no_rule_routes_to_every_instance_and_no_instance_is_an_error() {
    let r = Router::with_rng("svc", Rng::new(1));
    assert_eq!(
        r.route(&RequestContext::default()).unwrap_err(),
        RouteError::NoInstances("svc".into())
    );
    r.set_endpoints(versions());
    let c = counts(&r, &RequestContext::default(), 300);
    assert_eq!(c.len(), 3);
    assert!(c.values().all(|n| *n == 100), "{c:?}");
}

#[test]
fn random_policies_follow_weights_within_tolerance() {
    let eps = vec![
        endpoint("w1", json!({"weight": 10})),
        endpoint("w3", json!({"weight": 30})),
        endpoint("w6", json!({"weight": 60})),
    ];
    let n = 30_000;
    let r = router(
        r#"{"routes": [{"destinations": [{}], "policy": {"type": "random"}}]}"#,
        eps.clone(),
    );
    let c = counts(&r, &RequestContext::default(), n);
    for id in ["w1", "w3", "w6"] {
        let share = c[id] as f64 / n as f64;
        assert!((share - 1.0 / 3.0).abs() < 0.02, "{id}: {share}");
    }
    let r = router(
        r#"{"routes": [{"destinations": [{}], "policy": {"type": "weighted_random"}}]}"#,
        eps,
    );
    let c = counts(&r, &RequestContext::default(), n);
    for (id, want) in [("w1", 0.1), ("w3", 0.3), ("w6", 0.6)] {
        let share = c[id] as f64 / n as f64;
        assert!((share - want).abs() < 0.02, "{id}: {share} vs {want}");
    }
}

#[test]
fn smooth_weighted_round_robin_is_exact_and_interleaved() {
    let eps = vec![
        endpoint("a", json!({"weight": 5})),
        endpoint("b", json!({"weight": 1})),
        endpoint("c", json!({"weight": 1})),
    ];
    let r = router(
        r#"{"routes": [{"destinations": [{}], "policy": {"type": "weighted_round_robin"}}]}"#,
        eps,
    );
    let seq: Vec<String> = (0..7)
        .map(|_| r.route(&RequestContext::default()).unwrap().id.clone())
        .collect();
    assert_eq!(seq.join(""), "aabacaa");
    let c = counts(&r, &RequestContext::default(), 700);
    assert_eq!((c["a"], c["b"], c["c"]), (500, 100, 100));
}

#[test]
fn smooth_weighted_round_robin_keeps_weights_and_spacing_at_10000_endpoints() {
    // The benchmark's fleet: weights 50 to 149, sum 995,000, beyond the cycle limit, so
    // the weights are scaled to fit (to about 320,000 picks per cycle).
    let weights: Vec<u64> = (0..10_000).map(|i| 50 + i % 100).collect();
    let eps: Vec<_> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| endpoint(&format!("e{i}"), json!({ "weight": w })))
        .collect();
    let r = router(
        r#"{"routes": [{"destinations": [{}], "policy": {"type": "weighted_round_robin"}}]}"#,
        eps,
    );
    let index = |id: &str| id[1..].parse::<usize>().unwrap();
    let picks: Vec<usize> = (0..500_000)
        .map(|_| index(&r.route(&RequestContext::default()).unwrap().id))
        .collect();
    // The cycle's length (the scaled weights' sum) is internal: it is the picks' period.
    let cycle = (1..400_000)
        .find(|&len| picks[len..].starts_with(&picks[..100_000]))
        .expect("a cycle within 400,000 picks");
    let total: u64 = weights.iter().sum();
    let mut at: Vec<Vec<usize>> = vec![Vec::new(); weights.len()];
    for (t, &i) in picks[..cycle].iter().enumerate() {
        at[i].push(t);
    }
    for (i, positions) in at.iter().enumerate() {
        // Share: within half a pick per cycle of the exact weight (the rounding).
        let exact = weights[i] as f64 / total as f64 * cycle as f64;
        let got = positions.len() as f64;
        assert!(
            (got - exact).abs() <= 0.51,
            "e{i}: {got} picks vs {exact:.2}"
        );
        // Smooth: never more than twice the even spacing between two picks.
        let even = cycle as f64 / got;
        let widest = positions
            .windows(2)
            .map(|p| p[1] - p[0])
            .chain([positions[0] + cycle - positions[positions.len() - 1]])
            .max()
            .unwrap();
        assert!(
            (widest as f64) < 2.0 * even,
            "e{i}: gap {widest} vs even {even:.1}"
        );
    }
}

#[test]
fn least_request_prefers_the_less_loaded() {
    let eps = vec![endpoint("busy", json!({})), endpoint("idle", json!({}))];
    let r = router(
        r#"{"routes": [{"destinations": [{}], "policy": {"type": "least_request"}}]}"#,
        eps,
    );
    // Keep five requests in flight on whichever endpoint was picked first…
    let first = r.route(&RequestContext::default()).unwrap();
    let held: Vec<_> = (0..4).map(|_| first.endpoint().clone()).collect();
    let guards: Vec<_> = held
        .iter()
        .map(|_| r.route(&RequestContext::default()).unwrap())
        .collect();
    let loaded = first.id.clone();
    drop(guards);
    // …then every new pick avoids it while it is busier.
    for _ in 0..50 {
        let p = r.route(&RequestContext::default()).unwrap();
        assert_ne!(p.id, loaded);
        drop(p);
    }
    drop(first);
}

#[test]
fn consistent_hashing_keeps_keys_on_their_endpoint_and_moves_few() {
    let rule = r#"{"routes": [{"destinations": [{}], "policy": {"type": "consistent_hash", "header": "x-user"}}]}"#;
    let eps: Vec<_> = (0..10)
        .map(|i| endpoint(&format!("e{i}"), json!({})))
        .collect();
    let r = router(rule, eps.clone());
    let users: Vec<String> = (0..2000).map(|u| format!("user-{u}")).collect();
    let owner = |r: &Router, u: &str| {
        let headers = [("x-user", u)];
        r.route(&RequestContext {
            headers: &headers,
            ..Default::default()
        })
        .unwrap()
        .id
        .clone()
    };
    let before: Vec<String> = users.iter().map(|u| owner(&r, u)).collect();
    // Stable: asking again gives the same endpoint.
    assert!(users.iter().zip(&before).all(|(u, b)| owner(&r, u) == *b));
    // Spread: every endpoint gets a fair share.
    let mut per = HashMap::new();
    for b in &before {
        *per.entry(b.clone()).or_insert(0) += 1;
    }
    assert!(per.values().all(|n| (100..=320).contains(n)), "{per:?}");
    // One endpoint leaves: only its keys move.
    r.set_endpoints(eps.into_iter().filter(|e| e.id != "e3").collect());
    let moved = users
        .iter()
        .zip(&before)
        .filter(|(u, b)| owner(&r, u) != **b)
        .count();
    assert_eq!(moved, per["e3"], "only e3's keys may move");
}

#[test]
fn a_zero_weight_endpoint_gets_no_consistent_hash_keys() {
    let rule = r#"{"routes": [{"destinations": [{}], "policy": {"type": "consistent_hash", "header": "x-user"}}]}"#;
    let r = router(
        rule,
        vec![
            endpoint("drained", json!({"weight": 0})),
            endpoint("live1", json!({})),
            endpoint("live2", json!({})),
        ],
    );
    for u in 0..500 {
        let user = format!("user-{u}");
        let headers = [("x-user", user.as_str())];
        let p = r
            .route(&RequestContext {
                headers: &headers,
                ..Default::default()
            })
            .unwrap();
        assert_ne!(p.id, "drained", "weight 0 drains the endpoint");
    }
}

#[test]
fn sticky_clients_spread_over_endpoints_and_keep_theirs_across_rebuilds() {
    let rule = r#"{"routes": [{"destinations": [{}], "policy": {"type": "sticky"}}]}"#;
    let eps: Vec<_> = (0..4)
        .map(|i| endpoint(&format!("e{i}"), json!({})))
        .collect();
    // Twenty clients (routers with their own random source): not all on one endpoint.
    let chosen: std::collections::BTreeSet<String> = (0..20)
        .map(|seed| {
            let r = Router::with_rng("svc", Rng::new(seed));
            r.set_rule(Some(Rule::parse(rule.as_bytes()).unwrap()));
            r.set_endpoints(eps.clone());
            let first = r.route(&RequestContext::default()).unwrap().id.clone();
            // A rebuild with the same endpoints (e.g. an unrelated instance update)
            // keeps the client where it was.
            r.set_endpoints(eps.clone());
            assert_eq!(r.route(&RequestContext::default()).unwrap().id, first);
            first
        })
        .collect();
    assert!(chosen.len() > 1, "every client stuck to {chosen:?}");
}

#[test]
fn explain_names_every_route_passed_over_and_the_one_that_decided() {
    use zk_router::rule::Fallback;
    use zk_router::Step;
    let rule = r#"{"routes": [
        {"match": {"headers": [{"name": "x-group", "exact": "beta"}]},
         "destinations": [{"subset": {"tags": ["canary"]}}]},
        {"match": {"headers": [{"name": "x-zone", "exact": "z3"}]},
         "destinations": [{"subset": {"zone": "z3"}}], "fallback": "next_route"},
        {"match": {"headers": [{"name": "x-zone", "exact": "z9"}]},
         "destinations": [{"subset": {"zone": "z9"}}], "fallback": "fail"},
        {"destinations": [{"subset": {"version": "9.9"}, "weight": 5},
                          {"subset": {"version": "1.0"}, "weight": 90},
                          {"subset": {"version": "2.0"}, "weight": 10}]}
    ]}"#;
    let r = router(rule, versions());
    let ctx = |headers: &'static [(&'static str, &'static str)]| RequestContext {
        headers,
        ..Default::default()
    };

    // z3 matches but is empty and falls through; the last route draws among the two
    // destinations that have endpoints (9.9 has none, so its weight does not count).
    let e = r.explain(&ctx(&[("x-zone", "z3")]));
    assert_eq!(e.steps[0], Step::NoMatch { route: 0 });
    assert_eq!(
        e.steps[1],
        Step::Empty {
            route: 1,
            fallback: Fallback::NextRoute
        }
    );
    assert_eq!(e.steps[2], Step::NoMatch { route: 2 });
    let Step::Drew {
        route,
        destination,
        weight,
        of,
    } = e.steps[3]
    else {
        panic!("expected a draw, got {:?}", e.steps);
    };
    assert_eq!((route, of), (3, 100));
    let picked = e.picked.expect("a pick");
    let members = r
        .table()
        .destination_endpoints(route, destination)
        .expect("the drawn destination")
        .to_vec();
    assert!(members.iter().any(|m| m.id == picked.id), "{members:?}");
    assert_eq!(weight, if destination == 1 { 90 } else { 10 });

    // z9 matches, is empty and fails: the explanation ends there, with the error.
    let e = r.explain(&ctx(&[("x-zone", "z9")]));
    assert_eq!(
        e.steps.last(),
        Some(&Step::Empty {
            route: 2,
            fallback: Fallback::Fail
        })
    );
    assert!(matches!(e.picked, Err(RouteError::EmptyDestination { .. })));

    // Without a rule: default routing.
    let plain = Router::with_rng("svc", Rng::new(7));
    plain.set_endpoints(versions());
    let e = plain.explain(&RequestContext::default());
    assert_eq!(e.steps, [Step::Default]);
    assert!(e.picked.is_ok());
}

//! Passive health (ejection with growing back-off, recovery, panic threshold), slow start,
//! and the load- and latency-aware policies.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use zk_discovery::ServiceInstance;
use zk_router::policy::Rng;
use zk_router::{Endpoint, HealthPolicy, RequestContext, Router, Rule};

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

fn router(policy: &str, eps: Vec<Arc<Endpoint>>, health: HealthPolicy) -> Router {
    let r = Router::with_rng("svc", Rng::new(7));
    r.set_rule(Some(
        Rule::parse(
            format!(r#"{{"routes": [{{"destinations": [{{}}], "policy": {policy}}}]}}"#).as_bytes(),
        )
        .unwrap(),
    ));
    r.set_health(Some(health));
    r.set_endpoints(eps);
    r
}

fn pick(r: &Router) -> String {
    r.route(&RequestContext::default()).unwrap().id.clone()
}

#[test]
fn consecutive_failures_eject_an_endpoint_until_its_back_off_ends() {
    let health = HealthPolicy {
        consecutive_failures: 3,
        base_ejection: Duration::from_millis(200),
        ..Default::default()
    };
    let r = router(r#"{"type": "round_robin"}"#, endpoints(3), health);
    // e0 fails three times in a row.
    let mut fails = 0;
    while fails < 3 {
        let p = r.route(&RequestContext::default()).unwrap();
        if p.id == "e0" {
            p.failure();
            fails += 1;
        } else {
            p.success();
        }
    }
    assert!(r.table().endpoints()[0].is_ejected());
    assert_eq!(r.stats().ejections, 1);
    for _ in 0..30 {
        assert_ne!(pick(&r), "e0");
    }
    // After the back-off it is back in rotation.
    std::thread::sleep(Duration::from_millis(250));
    assert!((0..30).any(|_| pick(&r) == "e0"));
}

#[test]
fn every_ejection_lasts_longer_than_the_last() {
    let health = HealthPolicy {
        consecutive_failures: 1,
        base_ejection: Duration::from_millis(100),
        ..Default::default()
    };
    let r = router(r#"{"type": "round_robin"}"#, endpoints(4), health);
    let fail_e0 = |r: &Router| loop {
        let p = r.route(&RequestContext::default()).unwrap();
        if p.id == "e0" {
            p.failure();
            return;
        }
    };
    fail_e0(&r);
    std::thread::sleep(Duration::from_millis(130));
    assert!(
        !r.table().endpoints()[0].is_ejected(),
        "first ejection: ~100 ms"
    );
    fail_e0(&r);
    std::thread::sleep(Duration::from_millis(130));
    assert!(
        r.table().endpoints()[0].is_ejected(),
        "second ejection: ~200 ms"
    );
}

#[test]
fn too_many_ejected_means_traffic_goes_to_all() {
    let health = HealthPolicy {
        consecutive_failures: 1,
        base_ejection: Duration::from_secs(60),
        panic_threshold: 0.5,
        ..Default::default()
    };
    let r = router(r#"{"type": "round_robin"}"#, endpoints(4), health);
    // Eject three of four: beyond the 50 % threshold.
    let mut ejected = std::collections::BTreeSet::new();
    while ejected.len() < 3 {
        let p = r.route(&RequestContext::default()).unwrap();
        let id = p.id.clone();
        if id != "e3" && !ejected.contains(&id) {
            p.failure();
            ejected.insert(id);
        }
    }
    let seen: std::collections::BTreeSet<String> = (0..40).map(|_| pick(&r)).collect();
    assert!(
        seen.len() > 1,
        "panic mode spreads traffic over ejected endpoints too: {seen:?}"
    );
}

#[test]
fn slow_start_gives_a_new_endpoint_a_growing_share() {
    let mut eps = endpoints(1);
    let fresh = Arc::new(Endpoint::from_instance(
        &ServiceInstance::new("svc", "10.0.0.2", 9000).with_id("new"),
    ));
    // An old instance: registered an hour ago.
    let mut old = ServiceInstance::new("svc", "10.0.0.1", 8000).with_id("old");
    old.registration_time_utc -= 3_600_000;
    eps[0] = Arc::new(Endpoint::from_instance(&old));
    eps.push(fresh);
    let health = HealthPolicy {
        slow_start: Some(Duration::from_secs(600)),
        ..Default::default()
    };
    let r = router(r#"{"type": "random"}"#, eps, health);
    let n = 4000;
    let new_share = (0..n).filter(|_| pick(&r) == "new").count() as f64 / n as f64;
    assert!(
        new_share < 0.1,
        "a just-registered endpoint should get far less than half: {new_share}"
    );
}

#[test]
fn peak_ewma_sends_less_to_a_slow_endpoint() {
    let r = router(
        r#"{"type": "peak_ewma"}"#,
        endpoints(2),
        HealthPolicy::default(),
    );
    // Teach it: e0 answers in 20 ms, e1 at once.
    for _ in 0..20 {
        let p = r.route(&RequestContext::default()).unwrap();
        if p.id == "e0" {
            std::thread::sleep(Duration::from_millis(20));
        }
        p.success();
    }
    let slow = (0..1000).filter(|_| pick(&r) == "e0").count();
    assert!(slow < 100, "slow endpoint picked {slow} times of 1000");
}

#[test]
fn bounded_load_hashing_moves_keys_off_an_overloaded_endpoint() {
    let rule = r#"{"type": "consistent_hash", "header": "k", "bounded_load": 1.25}"#;
    let r = router(rule, endpoints(4), HealthPolicy::default());
    let headers = [("k", "hot-key")];
    let ctx = RequestContext {
        headers: &headers,
        ..Default::default()
    };
    let home = r.route(&ctx).unwrap().id.clone();
    // Hold many requests for the hot key: once its endpoint is over the bound, the key
    // spills to the next endpoint on the ring.
    let held: Vec<_> = (0..20).map(|_| r.route(&ctx).unwrap()).collect();
    let spilled = held.iter().filter(|p| p.id != home).count();
    assert!(spilled > 0, "bounded load never spilled");
    let max = held.iter().filter(|p| p.id == home).count();
    assert!(
        max <= 10,
        "home endpoint took {max} of 20 with a 1.25 bound"
    );
}

#[test]
fn bounded_load_still_holds_right_after_a_table_rebuild() {
    let rule = r#"{"type": "consistent_hash", "header": "k", "bounded_load": 1.25}"#;
    let r = router(rule, endpoints(4), HealthPolicy::default());
    let headers = [("k", "hot-key")];
    let ctx = RequestContext {
        headers: &headers,
        ..Default::default()
    };
    let held: Vec<_> = (0..20).map(|_| r.route(&ctx).unwrap()).collect();
    // A rebuild (a rule or instance change) while the 20 requests are in flight: the
    // load they put on each endpoint still counts.
    r.set_endpoints(r.table().endpoints().to_vec());
    let more: Vec<_> = (0..20).map(|_| r.route(&ctx).unwrap()).collect();
    let mut per = std::collections::HashMap::new();
    for p in held.iter().chain(&more) {
        *per.entry(p.id.clone()).or_insert(0) += 1;
    }
    // 40 in flight over 4 endpoints, bound 1.25: at most ceil(1.25 × 40 / 4) = 13 each.
    assert!(per.values().all(|&n| n <= 13), "{per:?}");
}

#[test]
fn an_endpoint_failing_often_but_not_in_a_row_is_ejected_by_failure_rate() {
    let health = HealthPolicy {
        consecutive_failures: 100,
        base_ejection: Duration::from_secs(60),
        failure_rate: Some(0.5),
        failure_rate_window: 10,
        ..Default::default()
    };
    let r = router(r#"{"type": "round_robin"}"#, endpoints(3), health);
    // e0 alternates failure and success: never two failures in a row.
    // Counting starts at the first failure; the sixth failure completes a window of ten
    // or more requests, half of them failed.
    let mut fail_next = true;
    for _ in 0..200 {
        if r.table().endpoints()[0].is_ejected() {
            break;
        }
        let p = r.route(&RequestContext::default()).unwrap();
        if p.id == "e0" {
            if fail_next {
                p.failure();
            } else {
                p.success();
            }
            fail_next = !fail_next;
        } else {
            p.success();
        }
    }
    assert!(
        r.table().endpoints()[0].is_ejected(),
        "half failed: ejected"
    );
    assert!(!r.table().endpoints()[1].is_ejected());
}

#[test]
fn health_state_survives_a_rebuild_with_the_same_endpoints() {
    let health = HealthPolicy {
        consecutive_failures: 1,
        base_ejection: Duration::from_secs(60),
        ..Default::default()
    };
    let r = router(r#"{"type": "round_robin"}"#, endpoints(3), health);
    loop {
        let p = r.route(&RequestContext::default()).unwrap();
        if p.id == "e1" {
            p.failure();
            break;
        }
        p.success();
    }
    assert!(r.table().endpoints()[1].is_ejected());
    // The discovery cache delivers the same instances again (e.g. after a resync).
    let instances: Vec<ServiceInstance> = (0..3)
        .map(|i| {
            ServiceInstance::new("svc", "10.0.0.1", 8000 + i as u16)
                .with_id(format!("e{i}"))
                .with_payload(json!({}))
        })
        .collect();
    r.set_instances(instances.iter());
    assert!(
        r.table().endpoints()[1].is_ejected(),
        "an equal endpoint keeps its ejection across the rebuild"
    );
    let seen: std::collections::BTreeSet<String> = (0..30).map(|_| pick(&r)).collect();
    assert!(!seen.contains("e1"), "still ejected: {seen:?}");
}

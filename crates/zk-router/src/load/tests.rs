//! The accounting of the load groups: exact across members leaving, joining and coming
//! back, across stale tables, and under concurrent picks and rebuilds.

use std::sync::{Arc, Mutex};

use zk_discovery::ServiceInstance;

use super::*;
use crate::policy::Rng;
use crate::rule::Subset;

fn endpoint(id: &str, weight: u64) -> Arc<Endpoint> {
    Arc::new(Endpoint::from_instance(
        &ServiceInstance::new("svc", "10.0.0.1", 80)
            .with_id(id)
            .with_payload(serde_json::json!({ "weight": weight })),
    ))
}

fn endpoints(ids: &[&str]) -> Vec<Arc<Endpoint>> {
    ids.iter().map(|id| endpoint(id, 100)).collect()
}

/// One table build over `eps` (every endpoint of positive weight a member), as the route
/// table does it.
fn build(loads: &Loads, eps: &[Arc<Endpoint>]) -> LoadView {
    let mut rebuild = loads.rebuild();
    rebuild.view(&Subset::default(), eps, |e| e.weight > 0.0)
}

/// Starts a request on endpoint `i` of `view`, as a pick's guard does.
fn start(view: &LoadView, i: usize) -> Arc<LoadSlot> {
    let slot = view.slot(i).expect("a member").clone();
    slot.start();
    slot
}

fn all() -> Subset {
    Subset::default()
}

#[test]
fn requests_count_in_the_total_and_leave_it_when_they_finish() {
    let loads = Loads::default();
    let view = build(&loads, &endpoints(&["a", "b", "c"]));
    assert_eq!(view.members(), 3);
    let a1 = start(&view, 0);
    let a2 = start(&view, 0);
    let b1 = start(&view, 1);
    assert_eq!(
        (view.total(), view.in_flight(0), view.in_flight(1)),
        (3, 2, 1)
    );
    a1.finish();
    b1.finish();
    a2.finish();
    assert_eq!(view.total(), 0);
}

#[test]
fn an_endpoint_that_leaves_takes_its_running_requests_out_of_the_total() {
    let loads = Loads::default();
    let eps = endpoints(&["a", "b", "c"]);
    let old = build(&loads, &eps);
    let on_a: Vec<_> = (0..2).map(|_| start(&old, 0)).collect();
    let on_b = start(&old, 1);
    assert_eq!(old.total(), 3);
    // `a` leaves while its two requests run: the total is the members' load at once.
    let new = build(&loads, &eps[1..]);
    assert_eq!(new.total(), 1);
    assert_eq!(new.members(), 2);
    // Their finishes, through the guards made under the old table, leave it alone.
    for slot in on_a {
        slot.finish();
    }
    assert_eq!(new.total(), 1);
    on_b.finish();
    assert_eq!(loads.total(&all()), 0);
}

#[test]
fn an_endpoint_that_joins_or_comes_back_brings_its_running_requests() {
    let loads = Loads::default();
    let eps = endpoints(&["a", "b"]);
    let first = build(&loads, &eps);
    let on_a: Vec<_> = (0..3).map(|_| start(&first, 0)).collect();
    let _gone = build(&loads, &eps[1..]);
    assert_eq!(loads.total(&all()), 0);
    // `a` is back (same instance) while its requests still run: they load it again.
    let back = build(&loads, &eps);
    assert_eq!(back.total(), 3);
    assert_eq!(back.in_flight(0), 3);
    for slot in on_a {
        slot.finish();
    }
    assert_eq!(back.total(), 0);
}

#[test]
fn a_request_picked_through_a_table_older_than_the_departure_is_never_counted() {
    let loads = Loads::default();
    let eps = endpoints(&["a", "b"]);
    let old = build(&loads, &eps);
    let _new = build(&loads, &eps[1..]);
    // A pick that loaded the old table before the swap lands on `a` after it left.
    let late = start(&old, 0);
    assert_eq!(loads.total(&all()), 0);
    late.finish();
    assert_eq!(loads.total(&all()), 0);
}

#[test]
fn an_instance_whose_routing_data_changed_is_a_new_member() {
    let loads = Loads::default();
    let before = vec![endpoint("a", 100), endpoint("b", 100)];
    let view = build(&loads, &before);
    let running = start(&view, 0);
    // New weight: a new endpoint for the same instance. Like the endpoint's own in-flight
    // counter, its slot starts at zero; the older request leaves the total.
    let after = vec![endpoint("a", 300), before[1].clone()];
    let view = build(&loads, &after);
    assert!(!Arc::ptr_eq(view.slot(0).expect("member"), &running));
    assert!(Arc::ptr_eq(
        view.slot(0).expect("member").endpoint(),
        &after[0]
    ));
    assert_eq!((view.total(), view.in_flight(0)), (0, 0));
    running.finish();
    assert_eq!(view.total(), 0);
}

#[test]
fn a_weight_zero_endpoint_is_not_a_member() {
    let loads = Loads::default();
    let eps = vec![
        endpoint("a", 100),
        endpoint("drained", 0),
        endpoint("b", 100),
    ];
    let view = build(&loads, &eps);
    assert_eq!(view.members(), 2);
    assert!(view.slot(1).is_none());
    assert_eq!(view.in_flight(1), 0);
}

#[test]
fn a_subset_that_leaves_the_rule_and_returns_counts_its_running_requests_again() {
    let loads = Loads::default();
    let eps = endpoints(&["a", "b"]);
    let view = build(&loads, &eps);
    let running = start(&view, 1);
    // A rule without that destination, then with it again.
    drop(loads.rebuild());
    assert_eq!(loads.total(&all()), 0);
    let view = build(&loads, &eps);
    assert_eq!(view.total(), 1);
    running.finish();
    assert_eq!(view.total(), 0);
    // Nothing runs and nothing uses the group: it is gone.
    drop(loads.rebuild());
    assert!(loads.groups.lock().expect("lock").is_empty());
}

#[test]
fn two_destinations_with_the_same_subset_share_a_group() {
    let loads = Loads::default();
    let eps = endpoints(&["a", "b"]);
    let mut rebuild = loads.rebuild();
    let tags_ab = Subset {
        tags: vec!["x".into(), "y".into()],
        ..Default::default()
    };
    let tags_ba = Subset {
        tags: vec!["y".into(), "x".into()],
        ..Default::default()
    };
    let one = rebuild.view(&tags_ab, &eps, |_| true);
    let two = rebuild.view(&tags_ba, &eps, |_| true);
    drop(rebuild);
    let r = start(&one, 0);
    assert_eq!(two.total(), 1);
    assert_eq!(two.in_flight(0), 1);
    r.finish();
}

/// Two threads start and finish requests through whatever table is current (or one they
/// loaded a moment ago) while a third rebuilds with random members; at every pause the
/// total equals the members' loads, and it ends at zero.
#[test]
fn the_total_stays_exact_under_concurrent_picks_and_rebuilds() {
    let loads = Arc::new(Loads::default());
    let eps: Vec<_> = (0..8).map(|i| endpoint(&format!("e{i}"), 100)).collect();
    let current = Arc::new(Mutex::new(Arc::new(build(&loads, &eps))));
    for round in 0..20u64 {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let starts = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let pickers: Vec<_> = (0..2u64)
            .map(|t| {
                let (current, stop, starts) = (current.clone(), stop.clone(), starts.clone());
                std::thread::spawn(move || {
                    let rng = Rng::new(round * 2 + t);
                    let mut held: Vec<Arc<LoadSlot>> = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        // A table loaded now may be replaced before the request starts.
                        let view = current.lock().expect("lock").clone();
                        let i = rng.below(view.slots.len());
                        if let Some(slot) = view.slot(i) {
                            slot.start();
                            held.push(slot.clone());
                            starts.fetch_add(1, Ordering::Relaxed);
                        }
                        if held.len() > 16 || rng.below(2) == 0 {
                            if let Some(slot) = held.pop() {
                                slot.finish();
                            }
                        }
                    }
                    held
                })
            })
            .collect();
        let rng = Rng::new(1000 + round);
        // Rebuild until the pickers have started plenty of requests meanwhile.
        let mut rebuilds = 0;
        while rebuilds < 200 || starts.load(Ordering::Relaxed) < 5_000 {
            rebuilds += 1;
            let members: Vec<_> = eps.iter().filter(|_| rng.below(3) != 0).cloned().collect();
            let view = Arc::new(build(&loads, &members));
            *current.lock().expect("lock") = view;
        }
        stop.store(true, Ordering::Relaxed);
        let held: Vec<Arc<LoadSlot>> = pickers
            .into_iter()
            .flat_map(|p| p.join().expect("picker"))
            .collect();
        // Quiescent: the total is the members' load, exactly.
        let view = current.lock().expect("lock").clone();
        let members_load: u64 = (0..view.slots.len()).map(|i| view.in_flight(i)).sum();
        assert_eq!(loads.total(&all()), members_load as i64, "round {round}");
        for slot in held {
            slot.finish();
        }
        assert_eq!(loads.total(&all()), 0, "round {round}");
    }
}

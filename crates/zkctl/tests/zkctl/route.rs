//! `route`: the endpoint a request would get, with the route, subset and policy that
//! chose it.

use serde_json::json;

use crate::common::{register, server, zkctl, TempFile};

const RULE: &str = r#"{"routes": [
  {"name": "beta", "match": {"headers": [{"name": "x-group", "exact": "beta"}]},
   "destinations": [{"subset": {"version": "2.0"}}]},
  {"name": "retired", "match": {"method": {"exact": "Old"}},
   "destinations": [{"subset": {"version": "0.9"}}], "fallback": "next_route"},
  {"name": "rest", "destinations": [{"subset": {"version": "1.0"}, "weight": 90},
                                    {"subset": {"version": "2.0"}, "weight": 10}],
   "policy": {"type": "consistent_hash", "header": "x-user"}}
]}"#;

async fn with_rule(zk: &str) {
    let file = TempFile::new(RULE);
    zkctl(zk, &["routes", "put", "--force", "orders", file.arg()])
        .await
        .ok();
}

#[tokio::test]
async fn a_matching_header_takes_its_route_and_subset() {
    let s = server().await;
    let zk = s.connect_string();
    let _live = register(&zk, "orders", &[("a", "1.0"), ("b", "2.0")]).await;
    with_rule(&zk).await;

    let run = zkctl(
        &zk,
        &[
            "--json",
            "route",
            "orders",
            "-m",
            "Get",
            "-H",
            "x-group=beta",
        ],
    )
    .await;
    run.ok();
    let v = run.json();
    assert_eq!(v["picked"]["id"], "b");
    assert_eq!(v["picked"]["authority"], "10.0.0.2:8080");
    assert_eq!(v["decided_by"], "route");
    assert_eq!(v["route"], json!({"index": 0, "name": "beta"}));
    assert_eq!(v["destination"]["subset"], json!({"version": "2.0"}));
    assert_eq!(v["policy"], json!({"type": "round_robin"}));
    assert_eq!(
        v["trace"],
        json!(["beta: matches; drew destination 0 (weight 1 of 1)"])
    );
    assert_eq!(v["rule"], json!({"path": "/routes/orders", "version": 0}));

    let text = zkctl(&zk, &["route", "orders", "--header", "x-group=beta"]).await;
    text.ok();
    assert!(
        text.stdout
            .starts_with("endpoint    b 10.0.0.2:8080\nroute       beta (routes[0], route)\n"),
        "{text:?}"
    );
}

#[tokio::test]
async fn other_requests_fall_through_to_the_split_with_its_policy() {
    let s = server().await;
    let zk = s.connect_string();
    let _live = register(&zk, "orders", &[("a", "1.0"), ("b", "2.0")]).await;
    with_rule(&zk).await;

    let run = zkctl(
        &zk,
        &["--json", "route", "orders", "-m", "Old", "-H", "x-user=42"],
    )
    .await;
    run.ok();
    let v = run.json();
    assert_eq!(v["route"]["name"], "rest");
    let trace = v["trace"].as_array().expect("a trace");
    assert_eq!(
        trace[..2],
        [
            json!("beta: does not match"),
            json!("retired: matches, but no destination has an instance; fallback next_route"),
        ]
    );
    // The draw is the router's: 90 or 10 of the 100 that the live destinations weigh.
    let drew = trace[2].as_str().expect("a step");
    assert!(
        drew == "rest: matches; drew destination 0 (weight 90 of 100)"
            || drew == "rest: matches; drew destination 1 (weight 10 of 100)",
        "{drew}"
    );
    assert_eq!(
        v["policy"],
        json!({"type": "consistent_hash", "header": "x-user", "bounded_load": null})
    );
    // Whichever destination the weighted draw chose, the picked endpoint is in it.
    let picked = v["picked"]["id"].as_str().expect("an endpoint").to_owned();
    let candidates = v["destination"]["candidates"]
        .as_array()
        .expect("candidates");
    assert!(candidates.contains(&json!(picked)), "{v}");
    let share = v["destination"]["share"].as_str().expect("share");
    assert!(share == "90/100" || share == "10/100", "{v}");
}

#[tokio::test]
async fn without_a_rule_every_instance_is_a_candidate() {
    let s = server().await;
    let zk = s.connect_string();
    let _live = register(&zk, "orders", &[("a", "1.0")]).await;
    let run = zkctl(&zk, &["--json", "route", "orders"]).await;
    run.ok();
    let v = run.json();
    assert_eq!(v["decided_by"], "default");
    assert_eq!(v["picked"]["id"], "a");
    assert_eq!(v["route"], serde_json::Value::Null);
    assert_eq!(v["rule"]["version"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_local_rule_file_previews_a_change_before_it_is_stored() {
    let s = server().await;
    let zk = s.connect_string();
    let _live = register(&zk, "orders", &[("a", "1.0"), ("b", "2.0")]).await;
    let preview = TempFile::new(
        r#"{"routes": [{"name": "all-v2", "destinations": [{"subset": {"version": "2.0"}}]}]}"#,
    );
    let run = zkctl(
        &zk,
        &["--json", "route", "orders", "--rule-file", preview.arg()],
    )
    .await;
    run.ok();
    assert_eq!(run.json()["route"]["name"], "all-v2");
    assert_eq!(run.json()["picked"]["id"], "b");
}

#[tokio::test]
async fn route_failures_have_their_exit_codes() {
    let s = server().await;
    let zk = s.connect_string();
    zkctl(&zk, &["route", "ghost"]).await.expect_code(3);
    let _live = register(&zk, "orders", &[("a", "1.0")]).await;
    zkctl(&zk, &["route", "orders", "-H", "no-equals-sign"])
        .await
        .expect_code(2);

    // A route that matches but whose subset selects nobody, with fallback fail.
    let failing =
        TempFile::new(r#"{"routes": [{"destinations": [{"subset": {"version": "9"}}]}]}"#);
    let run = zkctl(
        &zk,
        &["--json", "route", "orders", "--rule-file", failing.arg()],
    )
    .await;
    run.expect_code(1);
    assert_eq!(run.json()["decided_by"], "fallback_fail");
    assert_eq!(run.json()["picked"], serde_json::Value::Null);

    zkctl(&zk, &["set", "/routes/orders", "{not json"])
        .await
        .expect_code(3);
    zkctl(&zk, &["create", "-p", "/routes/orders", "{not json"])
        .await
        .ok();
    zkctl(&zk, &["route", "orders"]).await.expect_code(1);
    let unparsable = zkctl(&zk, &["--json", "routes", "get", "orders"]).await;
    unparsable.ok();
    assert_eq!(unparsable.json()["rule"], serde_json::Value::Null);
    assert_eq!(unparsable.json()["raw"], "{not json");
    zkctl(&zk, &["route", "--help"]).await.ok();
}

//! `routes get|validate|put|diff`: rules are checked before they are stored, and stored
//! only over the version that was read.

use serde_json::json;

use crate::common::{register, server, zkctl, TempFile};

const CANARY: &str = r#"{"routes": [
  {"name": "beta", "match": {"headers": [{"name": "x-group", "exact": "beta"}]},
   "destinations": [{"subset": {"version": "2.0"}}]},
  {"destinations": [{"subset": {"version": "1.0"}, "weight": 90},
                    {"subset": {"version": "2.0"}, "weight": 10}]}
]}"#;

const EVERYONE_TO_V1: &str = r#"{"routes": [{"destinations": [{"subset": {"version": "1.0"}}]}]}"#;

#[tokio::test]
async fn put_stores_a_valid_rule_and_get_reads_it_back_with_its_version() {
    let s = server().await;
    let zk = s.connect_string();
    let _live = register(&zk, "orders", &[("a", "1.0"), ("b", "2.0")]).await;
    zkctl(&zk, &["routes", "get", "orders"])
        .await
        .expect_code(3);

    let file = TempFile::new(CANARY);
    let put = zkctl(&zk, &["--json", "routes", "put", "orders", file.arg()]).await;
    put.ok();
    assert_eq!(
        put.json(),
        json!({"service": "orders", "path": "/routes/orders", "version": 0,
               "created": true, "warnings": []})
    );

    let get = zkctl(&zk, &["--json", "routes", "get", "orders"]).await;
    get.ok();
    assert_eq!(get.json()["version"], 0);
    let stored: serde_json::Value = serde_json::from_str(CANARY).expect("JSON");
    assert_eq!(get.json()["rule"], stored);

    let text = zkctl(&zk, &["routes", "get", "orders"]).await;
    text.ok();
    assert!(text.stderr.contains("/routes/orders version 0"), "{text:?}");
    let printed: serde_json::Value = serde_json::from_str(&text.stdout).expect("JSON on stdout");
    assert_eq!(printed, stored);
}

#[tokio::test]
async fn validate_names_the_field_at_fault_and_lists_what_each_subset_selects() {
    let s = server().await;
    let zk = s.connect_string();
    let _live = register(&zk, "orders", &[("a", "1.0"), ("b", "2.0")]).await;

    let good = TempFile::new(CANARY);
    let ok = zkctl(&zk, &["--json", "routes", "validate", "orders", good.arg()]).await;
    ok.ok();
    let report = ok.json();
    assert_eq!(report["valid"], true);
    assert_eq!(report["warnings"], json!([]));
    assert_eq!(report["destinations"][0]["instances"], json!(["b"]));
    assert_eq!(report["destinations"][1]["instances"], json!(["a"]));

    let bad = TempFile::new(r#"{"routes": [{"destinations": [{"weight": 0}]}]}"#);
    let refused = zkctl(&zk, &["--json", "routes", "validate", "orders", bad.arg()]).await;
    refused.expect_code(1);
    assert_eq!(refused.json()["valid"], false);
    let error = refused.json()["errors"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains("routes[0].destinations[0].weight"),
        "{refused:?}"
    );

    let not_json = TempFile::new("{routes:");
    zkctl(&zk, &["routes", "validate", "orders", not_json.arg()])
        .await
        .expect_code(1);
    zkctl(&zk, &["routes", "validate", "orders", "/no/such/file.json"])
        .await
        .expect_code(1);
}

#[tokio::test]
async fn a_subset_without_live_instances_warns_and_put_needs_force_for_it() {
    let s = server().await;
    let zk = s.connect_string();
    let _live = register(&zk, "orders", &[("a", "1.0")]).await;
    let file = TempFile::new(r#"{"routes": [{"destinations": [{"subset": {"version": "3.0"}}]}]}"#);

    let check = zkctl(&zk, &["--json", "routes", "validate", "orders", file.arg()]).await;
    check.ok();
    assert_eq!(check.json()["valid"], true);
    assert_eq!(check.json()["warnings"].as_array().map(Vec::len), Some(2));

    zkctl(&zk, &["routes", "put", "orders", file.arg()])
        .await
        .expect_code(1);
    zkctl(&zk, &["routes", "get", "orders"])
        .await
        .expect_code(3);
    zkctl(&zk, &["routes", "put", "--force", "orders", file.arg()])
        .await
        .ok();
    zkctl(&zk, &["routes", "get", "orders"]).await.ok();

    let invalid = TempFile::new(r#"{"routes": [{"destinations": []}]}"#);
    zkctl(&zk, &["routes", "put", "--force", "orders", invalid.arg()])
        .await
        .expect_code(1);
}

#[tokio::test]
async fn put_does_not_overwrite_a_rule_changed_since_the_version_read() {
    let s = server().await;
    let zk = s.connect_string();
    let _live = register(&zk, "orders", &[("a", "1.0"), ("b", "2.0")]).await;
    let mine = TempFile::new(CANARY);
    zkctl(&zk, &["routes", "put", "orders", mine.arg()])
        .await
        .ok();

    // Someone else changes the rule after we read version 0.
    zkctl(&zk, &["set", "/routes/orders", EVERYONE_TO_V1])
        .await
        .ok();

    let stale = zkctl(
        &zk,
        &["--json", "routes", "put", "-v", "0", "orders", mine.arg()],
    )
    .await;
    stale.expect_code(4);
    assert_eq!(stale.error_json()["kind"], "conflict");
    let get = zkctl(&zk, &["--json", "routes", "get", "orders"]).await;
    assert_eq!(get.json()["version"], 1);
    assert_eq!(
        get.json()["rule"],
        serde_json::from_str::<serde_json::Value>(EVERYONE_TO_V1).expect("JSON")
    );

    let fresh = zkctl(
        &zk,
        &["--json", "routes", "put", "-v", "1", "orders", mine.arg()],
    )
    .await;
    fresh.ok();
    assert_eq!(fresh.json()["version"], 2);
    assert_eq!(fresh.json()["created"], false);

    // No rule at all is not "at version 0" either.
    zkctl(
        &zk,
        &[
            "routes",
            "put",
            "--force",
            "-v",
            "0",
            "payments",
            mine.arg(),
        ],
    )
    .await
    .expect_code(4);
}

#[tokio::test]
async fn diff_shows_what_a_put_would_change() {
    let s = server().await;
    let zk = s.connect_string();
    let _live = register(&zk, "orders", &[("a", "1.0"), ("b", "2.0")]).await;
    let canary = TempFile::new(CANARY);
    let v1 = TempFile::new(EVERYONE_TO_V1);

    let nothing_yet = zkctl(&zk, &["--json", "routes", "diff", "orders", v1.arg()]).await;
    nothing_yet.ok();
    assert_eq!(nothing_yet.json()["identical"], false);
    assert_eq!(nothing_yet.json()["version"], serde_json::Value::Null);

    zkctl(&zk, &["routes", "put", "orders", v1.arg()])
        .await
        .ok();
    let same = zkctl(&zk, &["--json", "routes", "diff", "orders", v1.arg()]).await;
    same.ok();
    assert_eq!(same.json()["identical"], true);

    let changed = zkctl(&zk, &["routes", "diff", "orders", canary.arg()]).await;
    changed.ok();
    assert!(
        changed
            .stdout
            .starts_with("--- /routes/orders (version 0)\n"),
        "{changed:?}"
    );
    assert!(
        changed.stdout.contains("\n+ ") && changed.stdout.contains("\"beta\""),
        "{changed:?}"
    );
    assert!(
        changed.stdout.contains("\n  "),
        "unchanged lines are kept: {changed:?}"
    );
}

#[tokio::test]
async fn routes_usage_and_connection_errors_have_their_codes() {
    let s = server().await;
    let zk = s.connect_string();
    zkctl(&zk, &["routes", "put", "orders"])
        .await
        .expect_code(2);
    zkctl(&zk, &["routes", "frobnicate"]).await.expect_code(2);
    zkctl(&zk, &["routes", "diff", "orders", "/no/such/rule.json"])
        .await
        .expect_code(1);
    zkctl(&zk, &["routes", "put", "orders", "/no/such/rule.json"])
        .await
        .expect_code(1);
    for sub in ["get", "validate", "put", "diff"] {
        zkctl(&zk, &["routes", sub, "--help"]).await.ok();
    }
    let dead = crate::common::dead_address();
    zkctl(&dead, &["--timeout", "1", "routes", "get", "orders"])
        .await
        .expect_code(5);
}

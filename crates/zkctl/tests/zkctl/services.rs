//! `services list|show`: registered instances as Curator lays them out.

use serde_json::json;
use zk_discovery::{ServiceDiscovery, ServiceInstance};

use crate::common::{server, zkctl};

#[tokio::test]
async fn services_are_listed_with_their_instance_counts() {
    let s = server().await;
    let zk = s.connect_string();
    let empty = zkctl(&zk, &["--json", "services", "list"]).await;
    empty.ok();
    assert_eq!(empty.json(), json!([]));

    let discovery = ServiceDiscovery::connect(&zk).await.expect("discovery");
    let _a = discovery
        .register(ServiceInstance::new("orders", "10.0.0.5", 8080).with_id("a"))
        .await
        .expect("register");
    let _b = discovery
        .register(ServiceInstance::new("orders", "10.0.0.6", 8080).with_id("b"))
        .await
        .expect("register");
    let _c = discovery
        .register(ServiceInstance::new("payments", "10.0.1.1", 9090).with_id("c"))
        .await
        .expect("register");

    let list = zkctl(&zk, &["--json", "services", "list"]).await;
    list.ok();
    assert_eq!(
        list.json(),
        json!([{"name": "orders", "instances": 2}, {"name": "payments", "instances": 1}])
    );
    let text = zkctl(&zk, &["services", "list"]).await;
    assert_eq!(
        text.stdout,
        "SERVICE   INSTANCES\norders    2\npayments  1\n"
    );
}

#[tokio::test]
async fn show_gives_address_payload_and_registration_time() {
    let s = server().await;
    let zk = s.connect_string();
    let discovery = ServiceDiscovery::connect(&zk).await.expect("discovery");
    let instance = ServiceInstance::new("orders", "10.0.0.5", 8080)
        .with_id("a")
        .with_payload(json!({"zone": "eu-1a", "version": "2.0"}));
    let registered_at = instance.registration_time_utc;
    let _reg = discovery.register(instance).await.expect("register");

    let json = zkctl(&zk, &["--json", "services", "show", "orders"]).await;
    json.ok();
    let i = &json.json()["instances"][0];
    assert_eq!(i["id"], "a");
    assert_eq!(i["address"], "10.0.0.5");
    assert_eq!(i["port"], 8080);
    assert_eq!(i["payload"], json!({"zone": "eu-1a", "version": "2.0"}));
    assert_eq!(i["registrationTimeUTC"], registered_at);

    let text = zkctl(&zk, &["services", "show", "orders"]).await;
    text.ok();
    let row = text.stdout.lines().nth(1).expect("a row");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..2], ["a", "10.0.0.5:8080"], "{text:?}");
    assert!(
        row.contains(r#"{"version":"2.0","zone":"eu-1a"}"#),
        "{text:?}"
    );
}

#[tokio::test]
async fn an_unknown_service_exits_3_and_a_bad_name_exits_2() {
    let s = server().await;
    let zk = s.connect_string();
    let run = zkctl(&zk, &["--json", "services", "show", "ghost"]).await;
    run.expect_code(3);
    assert_eq!(run.error_json()["kind"], "not_found");
    zkctl(&zk, &["services", "show", "a/b"])
        .await
        .expect_code(2);
    zkctl(&zk, &["services", "show"]).await.expect_code(2);
    zkctl(&zk, &["services", "list", "--help"]).await.ok();
    zkctl(&zk, &["services", "show", "--help"]).await.ok();
}

#[tokio::test]
async fn services_without_a_server_exit_5() {
    let dead = crate::common::dead_address();
    zkctl(&dead, &["--timeout", "1", "services", "list"])
        .await
        .expect_code(5);
}

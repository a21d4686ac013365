//! Rules and instances followed live from ZooKeeper: a new rule takes effect, a bad one
//! is refused while the last good one stays, deleting the rule returns to default
//! routing, and instances joining and leaving rebuild the table — on zk-server and on
//! Apache ZooKeeper 3.8.

use std::time::Duration;

use zk_client::CreateOptions;
use zk_discovery::{CacheOptions, ServiceDiscovery, ServiceInstance};
use zk_router::{RequestContext, Router, RouterEvent};
use zk_server::ServerHandle;
use zk_testkit::ApacheZk;

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

fn ids(router: &Router, n: usize) -> std::collections::BTreeSet<String> {
    (0..n)
        .filter_map(|_| {
            router
                .route(&RequestContext::default())
                .ok()
                .map(|p| p.id.clone())
        })
        .collect()
}

/// `one_shot`: watch with one-shot watches (the mode for servers before 3.6) instead of
/// persistent ones.
async fn scenario(connect: String, one_shot: bool) {
    let discovery = ServiceDiscovery::builder()
        .cache_options(CacheOptions {
            one_shot_watches: one_shot,
            ..Default::default()
        })
        .connect(&connect)
        .await
        .unwrap();
    for (id, version) in [("v1", "1.0"), ("v2", "2.0")] {
        discovery
            .register(
                ServiceInstance::new("orders", "10.0.0.1", 80)
                    .with_id(id)
                    .with_payload(serde_json::json!({ "version": version })),
            )
            .await
            .unwrap();
    }
    let router = Router::watch(&discovery, "orders", None).await.unwrap();
    let mut events = router.events();
    // No rule yet: every instance.
    eventually("both instances", || ids(&router, 50).len() == 2).await;

    let admin = discovery.client().client();
    admin
        .create("/routes", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let only_v2 = br#"{"routes": [{"destinations": [{"subset": {"version": "2.0"}}]}]}"#;
    admin
        .create("/routes/orders", only_v2, &CreateOptions::persistent())
        .await
        .unwrap();
    assert_eq!(
        within("loaded", events.recv()).await.unwrap(),
        RouterEvent::RuleLoaded
    );
    assert_eq!(ids(&router, 50), ["v2".to_string()].into());

    // A bad rule is refused; the good one stays in force.
    admin
        .set_data(
            "/routes/orders",
            br#"{"routes": [{"destinations": []}]}"#,
            None,
        )
        .await
        .unwrap();
    match within("rejected", events.recv()).await.unwrap() {
        RouterEvent::RuleRejected(e) => {
            assert_eq!(e.to_string(), "routes[0].destinations must not be empty")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(ids(&router, 50), ["v2".to_string()].into());
    admin
        .set_data("/routes/orders", b"{ not json", None)
        .await
        .unwrap();
    assert!(matches!(
        within("rejected", events.recv()).await.unwrap(),
        RouterEvent::RuleRejected(_)
    ));
    assert_eq!(router.stats().rules_rejected, 2);

    // A new good rule replaces it.
    let only_v1 = br#"{"routes": [{"destinations": [{"subset": {"version": "1.0"}}]}]}"#;
    admin
        .set_data("/routes/orders", only_v1, None)
        .await
        .unwrap();
    assert_eq!(
        within("loaded", events.recv()).await.unwrap(),
        RouterEvent::RuleLoaded
    );
    assert_eq!(ids(&router, 50), ["v1".to_string()].into());

    // An instance joining a subset shows up without any rule change.
    discovery
        .register(
            ServiceInstance::new("orders", "10.0.0.2", 80)
                .with_id("v1b")
                .with_payload(serde_json::json!({ "version": "1.0" })),
        )
        .await
        .unwrap();
    eventually("v1b routed", || ids(&router, 50).contains("v1b")).await;

    // Deleting the rule: default routing again.
    admin.delete("/routes/orders", None).await.unwrap();
    assert_eq!(
        within("removed", events.recv()).await.unwrap(),
        RouterEvent::RuleRemoved
    );
    eventually("all three", || ids(&router, 100).len() == 3).await;
}

#[tokio::test]
async fn hot_reload_on_the_bundled_server() {
    let server = ServerHandle::builder().port(0).start().await.unwrap();
    scenario(server.connect_string(), false).await;
}

#[tokio::test]
async fn hot_reload_with_one_shot_watches_on_the_bundled_server() {
    let server = ServerHandle::builder().port(0).start().await.unwrap();
    scenario(server.connect_string(), true).await;
}

#[tokio::test]
async fn hot_reload_with_one_shot_watches_on_apache_zookeeper() {
    let zk = ApacheZk::single().await.unwrap();
    scenario(zk.connect_string().to_owned(), true).await;
}

#[tokio::test]
async fn hot_reload_on_apache_zookeeper() {
    let zk = ApacheZk::single().await.unwrap();
    scenario(zk.connect_string().to_owned(), false).await;
}

#[tokio::test]
async fn a_rule_at_a_node_of_the_applications_choosing() {
    let server = ServerHandle::builder().port(0).start().await.unwrap();
    let discovery = ServiceDiscovery::connect(&server.connect_string())
        .await
        .unwrap();
    discovery
        .register(
            ServiceInstance::new("svc", "h", 1)
                .with_id("x")
                .with_payload(serde_json::json!({"zone": "z1"})),
        )
        .await
        .unwrap();
    let admin = discovery.client().client();
    admin
        .create("/my_namespace", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    admin
        .create(
            "/my_namespace/route_rule",
            br#"{"routes": [{"destinations": [{"subset": {"zone": "z2"}}], "fallback": "fail"}]}"#,
            &CreateOptions::persistent(),
        )
        .await
        .unwrap();
    let router = Router::watch(&discovery, "svc", Some("/my_namespace/route_rule"))
        .await
        .unwrap();
    assert!(router.rule().is_some());
    assert!(router.route(&RequestContext::default()).is_err());
}

//! A router following its rule and instances from a 3-member ensemble — Apache
//! ZooKeeper's and zk-server's, started from the same `zoo.cfg` files — through the
//! leader's death: it keeps routing with what it had, and a rule changed after the
//! fail-over takes effect.

use std::time::Duration;

use zk_client::{Client, CreateOptions};
use zk_discovery::{ServiceDiscovery, ServiceInstance};
use zk_router::{RequestContext, Router, RouterEvent};
use zk_testkit::{bundled_server_binary, ApacheZk};

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
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

#[tokio::test]
async fn routing_follows_its_rule_through_a_leader_kill_on_apache() {
    through_a_leader_kill(None).await;
}

#[tokio::test]
async fn routing_follows_its_rule_through_a_leader_kill_on_bundled() {
    through_a_leader_kill(Some(bundled_server_binary().expect("zk-server binary"))).await;
}

async fn through_a_leader_kill(server: Option<std::path::PathBuf>) {
    let mut options = ApacheZk::options(3).tick_time(Duration::from_millis(500));
    if let Some(bin) = server {
        options = options.server_command(bin);
    }
    let zk = options.start().await.expect("a 3-member ensemble");
    let discovery = ServiceDiscovery::builder()
        .client(Client::builder().session_timeout(Duration::from_secs(8)))
        .connect(zk.connect_string())
        .await
        .expect("discovery");
    for (id, version) in [("v1", "1.0"), ("v2", "2.0")] {
        discovery
            .register(
                ServiceInstance::new("orders", "10.0.0.1", 80)
                    .with_id(id)
                    .with_payload(serde_json::json!({ "version": version })),
            )
            .await
            .expect("register");
    }
    let admin = discovery.client().client();
    admin
        .create("/routes", b"", &CreateOptions::persistent())
        .await
        .expect("create /routes");
    admin
        .create(
            "/routes/orders",
            br#"{"routes": [{"destinations": [{"subset": {"version": "1.0"}}]}]}"#,
            &CreateOptions::persistent(),
        )
        .await
        .expect("rule");
    let router = Router::watch(&discovery, "orders", None)
        .await
        .expect("router");
    let mut events = router.events();
    within("v1 only", async {
        while ids(&router, 50) != ["v1".to_string()].into() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    let leader = zk.leader_index().await.expect("leader");
    zk.kill(leader).await.expect("kill the leader");
    // Meanwhile routing goes on with the rule it has.
    assert_eq!(ids(&router, 50), ["v1".to_string()].into());
    // A rule written after the fail-over is followed.
    let only_v2 = br#"{"routes": [{"destinations": [{"subset": {"version": "2.0"}}]}]}"#;
    within("rule update after the fail-over", async {
        while admin
            .set_data("/routes/orders", only_v2, None)
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    within("the new rule loaded", async {
        loop {
            if matches!(events.recv().await, Ok(RouterEvent::RuleLoaded))
                && ids(&router, 50) == ["v2".to_string()].into()
            {
                return;
            }
        }
    })
    .await;
}

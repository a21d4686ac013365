//! The layout of zkmesh's original design sketch: a namespace node `/my_namespace`, and a
//! routing rule stored at `/my_namespace/route_rule` as JSON, read, validated and applied
//! to requests keyed by a field of their data — here the tenant of an order, hashed
//! consistently so that a tenant's orders keep going to the same shard.
//!
//! Then an operator writes an invalid rule there: the router logs why it refused it and
//! keeps routing with the last good rule; a corrected rule is taken at once.
//!
//! `cargo run --example namespace_rule`. Reads `ZK_HOSTS` (it creates, and removes at the
//! end, `/my_namespace` and three registrations of the service `orders`); with it unset,
//! it embeds a zk-server.

use std::collections::BTreeMap;
use std::time::Duration;

use zk_client::{Client, CreateOptions};
use zk_discovery::{ServiceDiscovery, ServiceInstance};
use zk_router::{RequestContext, Router, RouterEvent};
use zkmesh_examples::zookeeper::ZooKeeper;
use zkmesh_examples::BoxError;

const NAMESPACE: &str = "/my_namespace";
const RULE_PATH: &str = "/my_namespace/route_rule";

const RULE: &str = r#"{"routes": [{
  "name": "orders by tenant",
  "destinations": [{"subset": {}}],
  "policy": {"type": "consistent_hash", "header": "x-tenant"}
}]}"#;

/// Invalid: a weight must not be negative.
const BAD_RULE: &str = r#"{"routes": [{
  "name": "orders by tenant",
  "destinations": [{"subset": {}, "weight": -5}],
  "policy": {"type": "consistent_hash", "header": "x-tenant"}
}]}"#;

/// Valid again: as before, with bounded loads (no shard above 1.25x the average).
const FIXED_RULE: &str = r#"{"routes": [{
  "name": "orders by tenant, bounded",
  "destinations": [{"subset": {}}],
  "policy": {"type": "consistent_hash", "header": "x-tenant", "bounded_load": 1.25}
}]}"#;

/// Orders as an application holds them: the routing key is a field of the data.
const ORDERS: &[&str] = &[
    r#"{"tenant": "acme", "item": "anvil"}"#,
    r#"{"tenant": "globex", "item": "widget"}"#,
    r#"{"tenant": "initech", "item": "stapler"}"#,
    r#"{"tenant": "acme", "item": "rocket skates"}"#,
    r#"{"tenant": "umbrella", "item": "vaccine"}"#,
    r#"{"tenant": "globex", "item": "gadget"}"#,
];

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // The router logs refused rules at `warn`.
    zkmesh_examples::init_logging("warn");
    let zk = ZooKeeper::from_env().await?;
    let admin = Client::connect(zk.hosts()).await?;
    let discovery = ServiceDiscovery::connect(zk.hosts()).await?;

    // Three shards of `orders` (addresses only: this example routes, it does not call).
    let mut registrations = Vec::new();
    for (i, shard) in ["shard-a", "shard-b", "shard-c"].into_iter().enumerate() {
        let instance = ServiceInstance::new("orders", "127.0.0.1", 7001 + i as u16).with_id(shard);
        registrations.push(discovery.register(instance).await?);
    }

    // The operator's side: the namespace and its rule.
    admin
        .create(NAMESPACE, b"", &CreateOptions::persistent())
        .await?;
    admin
        .create(RULE_PATH, RULE.as_bytes(), &CreateOptions::persistent())
        .await?;
    println!("rule stored at {RULE_PATH}: consistent hashing on the order's tenant");

    // The application's side: a router following the instances and that rule.
    let router = Router::watch(&discovery, "orders", Some(RULE_PATH)).await?;
    let mut events = router.events();
    wait_until(|| router.table().endpoints().len() == 3).await?;
    let before = route_orders(&router)?;

    println!();
    println!("an operator writes an invalid rule (a negative weight)");
    admin.set_data(RULE_PATH, BAD_RULE.as_bytes(), None).await?;
    match next_event(&mut events).await? {
        RouterEvent::RuleRejected(e) => println!("  refused: {e}; the last good rule stays"),
        other => return Err(format!("expected the rule to be refused, got {other:?}").into()),
    }
    let after = route_orders(&router)?;
    if after != before {
        return Err("routing changed after an invalid rule".into());
    }
    println!("  every tenant kept its shard");

    println!();
    println!("the operator corrects it (bounded loads)");
    admin
        .set_data(RULE_PATH, FIXED_RULE.as_bytes(), None)
        .await?;
    match next_event(&mut events).await? {
        RouterEvent::RuleLoaded => println!("  loaded"),
        other => return Err(format!("expected the rule to load, got {other:?}").into()),
    }
    route_orders(&router)?;

    admin.delete(RULE_PATH, None).await?;
    admin.delete(NAMESPACE, None).await?;
    for registration in registrations {
        registration.unregister().await?;
    }
    discovery.close().await?;
    admin.close().await?;
    zk.shutdown().await;
    Ok(())
}

/// Routes every order by its tenant; prints and returns tenant -> shard.
fn route_orders(router: &Router) -> Result<BTreeMap<String, String>, BoxError> {
    let mut shards = BTreeMap::new();
    for order in ORDERS {
        let data: serde_json::Value = serde_json::from_str(order)?;
        let tenant = data["tenant"].as_str().ok_or("an order without a tenant")?;
        let headers = [("x-tenant", tenant)];
        let picked = router.route(&RequestContext {
            method: "PlaceOrder",
            headers: &headers,
            ..Default::default()
        })?;
        let shard = picked.endpoint().id.clone();
        println!("  {:<44} -> {shard}", order);
        shards.insert(tenant.to_owned(), shard);
    }
    Ok(shards)
}

/// The router's next event, waiting up to 30 s.
async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<RouterEvent>,
) -> Result<RouterEvent, BoxError> {
    Ok(tokio::time::timeout(Duration::from_secs(30), events.recv()).await??)
}

/// Polls `done` every 10 ms, up to 30 s.
async fn wait_until(mut done: impl FnMut() -> bool) -> Result<(), BoxError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        if tokio::time::Instant::now() > deadline {
            return Err("timed out".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

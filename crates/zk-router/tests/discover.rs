//! The `Discover` adapter: inserts and removes follow the cache, and falling behind the
//! cache resynchronises without re-inserting instances the consumer already has.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use tower::discover::Change;
use zk_discovery::{ServiceDiscovery, ServiceInstance};
use zk_server::ServerHandle;

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test]
async fn a_lagging_consumer_gets_only_what_changed() {
    let server = ServerHandle::builder().port(0).start().await.unwrap();
    let discovery = ServiceDiscovery::connect(&server.connect_string())
        .await
        .unwrap();
    for id in ["a-old-1", "a-old-2"] {
        discovery
            .register(ServiceInstance::new("svc", "h", 1).with_id(id))
            .await
            .unwrap();
    }
    let cache = discovery.cache("svc").await.unwrap();
    within("both cached", async {
        while cache.instances().len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let mut discover = zk_router::discover(cache.clone(), |i: &ServiceInstance| i.port);
    let mut inserts: HashMap<String, usize> = HashMap::new();
    for _ in 0..2 {
        match within("initial", discover.next()).await.unwrap().unwrap() {
            Change::Insert(id, _) => *inserts.entry(id).or_default() += 1,
            Change::Remove(id) => panic!("unexpected remove of {id}"),
        }
    }
    // (The old ids sort first, so a resync that re-inserted them would do it first.)
    // 100 changes while the consumer does not poll: more than the cache's event buffer.
    let mut regs = Vec::new();
    for n in 0..100 {
        regs.push(
            discovery
                .register(ServiceInstance::new("svc", "h", 2).with_id(format!("new-{n}")))
                .await
                .unwrap(),
        );
    }
    within("cache caught up", async {
        while cache.instances().len() < 102 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    within("every new instance inserted", async {
        while inserts.keys().filter(|k| k.starts_with("new-")).count() < 100 {
            match discover.next().await.unwrap().unwrap() {
                Change::Insert(id, _) => *inserts.entry(id).or_default() += 1,
                Change::Remove(id) => panic!("unexpected remove of {id}"),
            }
        }
    })
    .await;
    assert_eq!(
        inserts["a-old-1"], 1,
        "an unchanged instance is not re-inserted"
    );
    assert_eq!(inserts["a-old-2"], 1);
    assert!(
        inserts.values().all(|&n| n == 1),
        "each instance inserted once: {inserts:?}"
    );
}

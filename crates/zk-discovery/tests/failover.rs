//! Discovery on a 3-member ensemble — Apache ZooKeeper's and zk-server's, started from
//! the same `zoo.cfg` files — through the death of the member a registrar is on and then
//! of the leader: the instance stays registered under the same session, a watching cache
//! never sees it go, and what changes after each fail-over reaches the cache.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use zk_client::Client;
use zk_discovery::{CacheEvent, ServiceDiscovery, ServiceInstance};

#[tokio::test]
async fn registrations_and_caches_survive_member_deaths_on_apache() {
    survive_member_deaths(Members::Apache).await;
}

#[tokio::test]
async fn registrations_and_caches_survive_member_deaths_on_bundled() {
    survive_member_deaths(Members::Bundled).await;
}

async fn discovery(connect: &str) -> ServiceDiscovery {
    ServiceDiscovery::builder()
        .client(Client::builder().session_timeout(Duration::from_secs(8)))
        .connect(connect)
        .await
        .expect("discovery")
}

async fn survive_member_deaths(members: Members) {
    let zk = ensemble(members).await;
    let registrar = discovery(zk.connect_string()).await;
    let watcher = discovery(zk.connect_string()).await;
    let cache = watcher.cache("orders").await.expect("cache");
    let mut events = cache.events();
    let a = ServiceInstance::new("orders", "10.0.0.5", 8080).with_id("a");
    let reg = registrar.register(a.clone()).await.expect("register a");
    let added = within("a added", events.recv()).await.expect("event");
    assert!(matches!(&added, CacheEvent::Added(i) if i.id == "a"));
    let session = registrar.client().client().session_id();

    // The member the registrar is on dies.
    let on = registrar
        .client()
        .client()
        .server_addr()
        .expect("connected");
    let member = (0..zk.members())
        .find(|&i| zk.client_addr(i).port() == on.port())
        .expect("a member");
    zk.kill(member).await.expect("kill");
    // A registration racing the move may fail with a connection loss, as any call does.
    let b = ServiceInstance::new("orders", "10.0.0.6", 8080).with_id("b");
    within("register b after the fail-over", async {
        while registrar.register(b.clone()).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let added = within("b added", events.recv()).await.expect("event");
    assert!(
        matches!(&added, CacheEvent::Added(i) if i.id == "b"),
        "{added:?}"
    );

    // Then the leader dies (with the first member back, so a quorum remains).
    zk.restart(member).await.expect("restart");
    let leader = zk.leader_index().await.expect("leader");
    zk.kill(leader).await.expect("kill the leader");
    let a2 = a.clone().with_payload(json!({"zone": "z2"}));
    within("update a after the leader's death", async {
        while reg.update(a2.clone()).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let updated = within("a updated", events.recv()).await.expect("event");
    assert!(
        matches!(&updated, CacheEvent::Updated(i) if i.id == "a" && i.routing().zone.as_deref() == Some("z2")),
        "{updated:?}"
    );
    // Nothing was lost on the way: the same session, both instances seen.
    assert_eq!(registrar.client().client().session_id(), session);
    let now = cache.instances();
    assert!(now.get("a").is_some() && now.get("b").is_some());
    assert!(events.try_recv().is_err(), "no instance flapped");
}

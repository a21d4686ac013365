//! Registration and discovery against both servers (zk-server and Apache ZooKeeper 3.8),
//! including the session-loss scenarios behind Curator's and Dubbo's recurring bugs.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use zk_client::{Client, CreateOptions, Op};
use zk_discovery::{CacheEvent, CacheOptions, ServiceDiscovery, ServiceInstance, ServiceType};
use zk_testkit::FaultProxy;

/// Runs one scenario against each server.
macro_rules! on_both_servers {
    ($($name:ident),* $(,)?) => {
        mod on_bundled {
            $(#[tokio::test] async fn $name() { super::$name(super::Server::bundled().await).await })*
        }
        mod on_apache {
            $(#[tokio::test] async fn $name() { super::$name(super::Server::apache().await).await })*
        }
    };
}

on_both_servers!(
    register_discover_update_unregister,
    closing_a_registrars_session_removes_its_instances,
    expiry_re_registers_from_the_current_state,
    a_stale_node_of_another_session_is_replaced_but_our_own_is_kept,
    unregister_leaves_a_node_another_session_took_over,
    an_unreadable_instance_is_skipped_not_fatal,
    a_lost_create_reply_leaves_one_sequential_node,
    one_shot_watch_mode_follows_adds_updates_and_removals,
    two_sequential_nodes_with_one_id_are_two_instances,
    unregister_while_disconnected_leaves_no_phantom,
    corrupt_and_empty_nodes_are_skipped,
);

/// Creates `/services/svc` (and `/services`) as plain persistent nodes.
async fn create_service_dir(client: &Client) {
    for p in ["/services", "/services/svc"] {
        client
            .create(p, b"", &CreateOptions::persistent())
            .await
            .unwrap();
    }
}

async fn discovery(server: &Server) -> ServiceDiscovery {
    ServiceDiscovery::builder()
        .client(Client::builder().session_timeout(Duration::from_secs(6)))
        .connect(&server.connect_string())
        .await
        .expect("discovery")
}

async fn register_discover_update_unregister(server: Server) {
    let registrar = discovery(&server).await;
    let watcher = discovery(&server).await;
    let cache = watcher.cache("orders").await.unwrap();
    assert!(cache.instances().is_empty());
    let mut events = cache.events();

    let instance = ServiceInstance::new("orders", "10.0.0.5", 8080)
        .with_id("a")
        .with_payload(json!({"zone": "z1", "weight": 5}))
        .with_uri_spec("{scheme}://{address}:{port}");
    let reg = registrar.register(instance.clone()).await.unwrap();
    assert_eq!(reg.path(), "/services/orders/a");
    let added = within("added", events.recv()).await.unwrap();
    assert!(
        matches!(&added, CacheEvent::Added(i) if i.id == "a" && i.routing().zone.as_deref() == Some("z1"))
    );
    assert_eq!(
        cache.instances().get("a").unwrap().uri().unwrap(),
        "http://10.0.0.5:8080"
    );
    assert_eq!(watcher.resolve("orders").unwrap().len(), 1);
    assert_eq!(
        watcher.query_for_instances("orders").await.unwrap(),
        vec![instance.clone()]
    );
    assert_eq!(
        watcher.query_for_names().await.unwrap(),
        vec!["orders".to_string()]
    );

    let mut moved = instance.clone();
    moved.port = Some(9090);
    reg.update(moved).await.unwrap();
    let updated = within("updated", events.recv()).await.unwrap();
    assert!(matches!(&updated, CacheEvent::Updated(i) if i.port == Some(9090)));

    // Disabled instances are filtered out of caches by default.
    let mut disabled = reg.instance();
    disabled.enabled = false;
    reg.update(disabled).await.unwrap();
    assert!(matches!(
        within("disabled", events.recv()).await.unwrap(),
        CacheEvent::Removed(_)
    ));
    let mut enabled = reg.instance();
    enabled.enabled = true;
    reg.update(enabled).await.unwrap();
    assert!(matches!(
        within("enabled", events.recv()).await.unwrap(),
        CacheEvent::Added(_)
    ));
    // The create mode cannot change by update.
    let mut permanent = reg.instance();
    permanent.service_type = ServiceType::Permanent;
    assert!(reg.update(permanent).await.is_err());

    reg.unregister().await.unwrap();
    assert!(
        matches!(within("removed", events.recv()).await.unwrap(), CacheEvent::Removed(i) if i.id == "a")
    );
    assert!(cache.instances().is_empty());
    reg.unregister().await.unwrap();
    assert!(reg.update(reg.instance()).await.is_err());
}

async fn closing_a_registrars_session_removes_its_instances(server: Server) {
    let watcher = discovery(&server).await;
    let cache = watcher.cache("svc").await.unwrap();
    let registrar = discovery(&server).await;
    registrar
        .register(ServiceInstance::new("svc", "h", 1).with_id("x"))
        .await
        .unwrap();
    registrar
        .register(ServiceInstance::new("svc", "h", 2).with_id("y"))
        .await
        .unwrap();
    eventually("both visible", || cache.instances().len() == 2).await;
    // The registrar's process goes away: its session is closed without unregistering.
    registrar.client().client().close().await.unwrap();
    eventually("both gone", || cache.instances().is_empty()).await;
}

async fn expiry_re_registers_from_the_current_state(server: Server) {
    let proxy = FaultProxy::start(server.addr()).await.unwrap();
    let registrar = ServiceDiscovery::builder()
        .client(Client::builder().session_timeout(Duration::from_secs(6)))
        .connect(&proxy.addr().to_string())
        .await
        .unwrap();
    let watcher = discovery(&server).await;
    let cache = watcher.cache("svc").await.unwrap();
    let reg = registrar
        .register(ServiceInstance::new("svc", "h", 1).with_id("x"))
        .await
        .unwrap();
    let mut updated = reg.instance();
    updated.port = Some(2);
    reg.update(updated).await.unwrap();
    eventually("visible with port 2", || {
        cache
            .instances()
            .get("x")
            .is_some_and(|i| i.port == Some(2))
    })
    .await;
    let mut events = cache.events();
    let old = registrar.client().client();
    server
        .expire(old.session_id(), old.session_password(), Some(&proxy))
        .await;
    // It disappears with the old session, then comes back from the new one, as updated.
    let mut saw_removal = false;
    loop {
        match within("re-registration", events.recv()).await.unwrap() {
            CacheEvent::Removed(_) => saw_removal = true,
            CacheEvent::Added(i) | CacheEvent::Updated(i) => {
                assert_eq!(i.port, Some(2), "re-registered from a stale copy");
                break;
            }
        }
    }
    assert!(saw_removal);
    let node_owner = watcher
        .client()
        .client()
        .exists("/services/svc/x")
        .await
        .unwrap()
        .unwrap()
        .ephemeral_owner;
    assert_eq!(node_owner, registrar.client().client().session_id());
    assert_ne!(node_owner, old.session_id());
}

async fn a_stale_node_of_another_session_is_replaced_but_our_own_is_kept(server: Server) {
    let other = Client::connect(&server.connect_string()).await.unwrap();
    create_service_dir(&other).await;
    let stale = ServiceInstance::new("svc", "old-host", 1).with_id("x");
    other
        .create(
            "/services/svc/x",
            &stale.to_json().unwrap(),
            &CreateOptions::ephemeral(),
        )
        .await
        .unwrap();
    let d = discovery(&server).await;
    let fresh = ServiceInstance::new("svc", "new-host", 2).with_id("x");
    let reg = d.register(fresh.clone()).await.unwrap();
    let client = d.client().client();
    let (data, stat) = client.get_data("/services/svc/x").await.unwrap();
    assert_eq!(stat.ephemeral_owner, client.session_id());
    assert_eq!(
        ServiceInstance::from_json(&data).unwrap().address,
        "new-host"
    );
    // Registering again from the same session updates our node in place.
    let czxid = stat.czxid;
    let again = d
        .register(ServiceInstance::new("svc", "newer-host", 3).with_id("x"))
        .await
        .unwrap();
    let (data, stat) = client.get_data("/services/svc/x").await.unwrap();
    assert_eq!(
        stat.czxid, czxid,
        "our own node must not be deleted and recreated"
    );
    assert_eq!(
        ServiceInstance::from_json(&data).unwrap().address,
        "newer-host"
    );
    // The second registration superseded the first: unregistering the old handle leaves
    // the node to the new one.
    assert!(!reg.is_active());
    reg.unregister().await.unwrap();
    assert!(client.exists("/services/svc/x").await.unwrap().is_some());
    assert!(again.is_active());
    again.unregister().await.unwrap();
    assert!(client.exists("/services/svc/x").await.unwrap().is_none());
}

async fn unregister_leaves_a_node_another_session_took_over(server: Server) {
    let d = discovery(&server).await;
    let reg = d
        .register(ServiceInstance::new("svc", "ours", 1).with_id("x"))
        .await
        .unwrap();
    // Another process with the same instance id takes the path over.
    let other = Client::connect(&server.connect_string()).await.unwrap();
    other.delete("/services/svc/x", None).await.unwrap();
    let theirs = ServiceInstance::new("svc", "theirs", 2).with_id("x");
    other
        .create(
            "/services/svc/x",
            &theirs.to_json().unwrap(),
            &CreateOptions::ephemeral(),
        )
        .await
        .unwrap();
    reg.unregister().await.unwrap();
    let (data, stat) = other.get_data("/services/svc/x").await.unwrap();
    assert_eq!(stat.ephemeral_owner, other.session_id());
    assert_eq!(ServiceInstance::from_json(&data).unwrap().address, "theirs");
}

async fn unregister_while_disconnected_leaves_no_phantom(server: Server) {
    let proxy = FaultProxy::start(server.addr()).await.unwrap();
    let registrar = ServiceDiscovery::builder()
        .client(Client::builder().session_timeout(Duration::from_secs(8)))
        .connect(&proxy.addr().to_string())
        .await
        .unwrap();
    let watcher = discovery(&server).await;
    let cache = watcher.cache("svc").await.unwrap();
    let reg = registrar
        .register(ServiceInstance::new("svc", "h", 1).with_id("x"))
        .await
        .unwrap();
    eventually("visible", || cache.instances().len() == 1).await;
    proxy.refuse(true);
    proxy.drop_connections();
    // The server cannot be reached: the handle is inactive at once…
    reg.unregister().await.unwrap();
    assert!(!reg.is_active());
    proxy.refuse(false);
    // …and the node goes as soon as the session is back, though the session lived on.
    eventually("phantom removed", || cache.instances().is_empty()).await;
    assert!(watcher.query_for_instances("svc").await.unwrap().is_empty());
}

async fn corrupt_and_empty_nodes_are_skipped(server: Server) {
    let d = discovery(&server).await;
    let cache = d.cache("svc").await.unwrap();
    d.register(ServiceInstance::new("svc", "h", 1).with_id("good"))
        .await
        .unwrap();
    let raw = d.client().client();
    raw.create("/services/svc/empty", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    raw.create(
        "/services/svc/junk",
        b"{not json",
        &CreateOptions::persistent(),
    )
    .await
    .unwrap();
    raw.create("/services/svc/late", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    eventually("good visible", || cache.instances().len() == 1).await;
    // An empty node that later gets valid data appears then.
    let late = ServiceInstance::new("svc", "h", 2).with_id("late");
    raw.set_data("/services/svc/late", &late.to_json().unwrap(), None)
        .await
        .unwrap();
    eventually("late visible", || cache.instances().len() == 2).await;
    assert_eq!(d.query_for_instances("svc").await.unwrap().len(), 2);
}

#[tokio::test]
async fn flapping_connection_does_not_loop_re_registration() {
    let server = Server::bundled().await;
    let proxy = FaultProxy::start(server.addr()).await.unwrap();
    let d = ServiceDiscovery::builder()
        .client(Client::builder().session_timeout(Duration::from_secs(6)))
        .connect(&proxy.addr().to_string())
        .await
        .unwrap();
    d.register(ServiceInstance::new("svc", "h", 1).with_id("x"))
        .await
        .unwrap();
    let c = d.client().client();
    for round in 1..=5u64 {
        proxy.drop_connections();
        eventually("reconnected", || {
            c.metrics().disconnects >= round && c.state().is_connected()
        })
        .await;
    }
    let watcher = discovery(&server).await;
    let cache = watcher.cache("svc").await.unwrap();
    eventually("still registered", || cache.instances().len() == 1).await;
    // One re-registration per reconnect at most, not a loop. (A loaded machine may add
    // a reconnect of its own to the five drops; each still earns one re-registration.)
    let reconnects = c.metrics().disconnects;
    assert!(
        d.reregistrations() <= reconnects + 1,
        "{} re-registrations for {reconnects} reconnects",
        d.reregistrations()
    );
}

#[tokio::test]
async fn removal_hold_back_and_empty_protection() {
    let server = Server::bundled().await;
    let registrar = discovery(&server).await;
    let held = ServiceDiscovery::builder()
        .cache_options(CacheOptions {
            removal_delay: Some(Duration::from_millis(700)),
            ..Default::default()
        })
        .connect(&server.connect_string())
        .await
        .unwrap();
    let protected = ServiceDiscovery::builder()
        .cache_options(CacheOptions {
            empty_protection: true,
            ..Default::default()
        })
        .connect(&server.connect_string())
        .await
        .unwrap();
    let held_cache = held.cache("svc").await.unwrap();
    let protected_cache = protected.cache("svc").await.unwrap();
    let a = registrar
        .register(ServiceInstance::new("svc", "h", 1).with_id("a"))
        .await
        .unwrap();
    let b = registrar
        .register(ServiceInstance::new("svc", "h", 2).with_id("b"))
        .await
        .unwrap();
    eventually("both", || {
        held_cache.instances().len() == 2 && protected_cache.instances().len() == 2
    })
    .await;
    let mut held_events = held_cache.events();
    a.unregister().await.unwrap();
    // Protected: a is gone, b stays.
    eventually("a removed", || protected_cache.instances().len() == 1).await;
    // Held back: a is still visible for a while, then goes.
    assert_eq!(held_cache.instances().len(), 2);
    assert!(
        matches!(within("held removal", held_events.recv()).await.unwrap(), CacheEvent::Removed(i) if i.id == "a")
    );
    assert_eq!(held_cache.instances().len(), 1);
    // The last instance going away does not empty a protected cache.
    b.unregister().await.unwrap();
    eventually("held cache empty", || held_cache.instances().is_empty()).await;
    assert_eq!(protected_cache.instances().len(), 1);
    registrar
        .register(ServiceInstance::new("svc", "h", 3).with_id("c"))
        .await
        .unwrap();
    eventually("protected cache replaced", || {
        protected_cache.instances().len() == 1 && protected_cache.instances().get("c").is_some()
    })
    .await;
}

#[tokio::test]
async fn sequential_and_persistent_service_types() {
    let server = Server::bundled().await;
    let d = discovery(&server).await;
    let seq = d
        .register(
            ServiceInstance::new("svc", "h", 1)
                .with_id("w-")
                .with_service_type(ServiceType::DynamicSequential),
        )
        .await
        .unwrap();
    assert!(
        seq.path().starts_with("/services/svc/w-00000"),
        "{}",
        seq.path()
    );
    let st = d
        .register(
            ServiceInstance::new("svc", "h", 2)
                .with_id("static")
                .with_service_type(ServiceType::Static),
        )
        .await
        .unwrap();
    let stat = d
        .client()
        .client()
        .exists(&st.path())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stat.ephemeral_owner, 0);
    let cache = d.cache("svc").await.unwrap();
    assert_eq!(cache.instances().len(), 2);
}

#[tokio::test]
async fn a_watcher_that_was_disconnected_resyncs_on_reconnect() {
    let server = Server::bundled().await;
    let proxy = FaultProxy::start(server.addr()).await.unwrap();
    let watcher = ServiceDiscovery::builder()
        .client(Client::builder().session_timeout(Duration::from_secs(8)))
        .connect(&proxy.addr().to_string())
        .await
        .unwrap();
    let cache = watcher.cache("svc").await.unwrap();
    let registrar = discovery(&server).await;
    let a = registrar
        .register(ServiceInstance::new("svc", "h", 1).with_id("a"))
        .await
        .unwrap();
    eventually("a visible", || cache.instances().len() == 1).await;
    proxy.refuse(true);
    proxy.drop_connections();
    eventually("watcher disconnected", || {
        !watcher.client().client().state().is_connected()
    })
    .await;
    // Changes while the watcher is away: persistent watches do not replay them.
    a.unregister().await.unwrap();
    registrar
        .register(ServiceInstance::new("svc", "h", 2).with_id("b"))
        .await
        .unwrap();
    proxy.refuse(false);
    eventually("resynced", || {
        let s = cache.instances();
        s.len() == 1 && s.get("b").is_some()
    })
    .await;
}

#[tokio::test]
async fn a_cache_that_lags_behind_a_burst_resyncs_to_every_instance() {
    let server = Server::bundled().await;
    // A watch queue of one event: the burst below cannot fit it.
    let watcher = ServiceDiscovery::builder()
        .client(Client::builder().persistent_watch_capacity(1))
        .connect(&server.connect_string())
        .await
        .unwrap();
    let cache = watcher.cache("svc").await.unwrap();
    cache.ready().await;
    let writer = Client::connect(&server.connect_string()).await.unwrap();
    create_service_dir(&writer).await;
    // One transaction: its fifty events reach the cache's client before the reply to the
    // read the cache makes for the first of them, so the rest overflow the queue.
    let ops: Vec<Op> = (0..50)
        .map(|i| {
            let instance = ServiceInstance::new("svc", "h", 1000 + i).with_id(format!("i{i}"));
            let data = instance.to_json().unwrap();
            Op::create(
                format!("/services/svc/i{i}"),
                data,
                CreateOptions::persistent(),
            )
        })
        .collect();
    writer.multi(&ops).await.unwrap();
    eventually("every instance after the lag", || {
        cache.instances().len() == 50
    })
    .await;
    assert!(watcher.client().client().metrics().watch_events_dropped > 0);
}

#[tokio::test]
async fn custom_filters_and_close_unregisters_everything() {
    let server = Server::bundled().await;
    let filtered = ServiceDiscovery::builder()
        .cache_options(CacheOptions {
            filters: vec![std::sync::Arc::new(|i: &ServiceInstance| {
                i.routing().zone.as_deref() == Some("z1")
            })],
            ..Default::default()
        })
        .connect(&server.connect_string())
        .await
        .unwrap();
    let cache = filtered.cache("svc").await.unwrap();
    let registrar = discovery(&server).await;
    registrar
        .register(
            ServiceInstance::new("svc", "h", 1)
                .with_id("in")
                .with_payload(json!({"zone": "z1"})),
        )
        .await
        .unwrap();
    registrar
        .register(
            ServiceInstance::new("svc", "h", 2)
                .with_id("out")
                .with_payload(json!({"zone": "z2"})),
        )
        .await
        .unwrap();
    registrar
        .register(
            ServiceInstance::new("svc", "h", 3)
                .with_id("kept")
                .with_service_type(ServiceType::Static),
        )
        .await
        .unwrap();
    eventually("only z1", || {
        cache.instances().len() == 1 && cache.instances().get("in").is_some()
    })
    .await;
    assert_eq!(filtered.query_for_instances("svc").await.unwrap().len(), 3);
    // Graceful shutdown removes every instance the registrar registered, persistent too.
    registrar.close().await.unwrap();
    within("all gone", async {
        while !filtered
            .query_for_instances("svc")
            .await
            .unwrap()
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

async fn an_unreadable_instance_is_skipped_not_fatal(server: Server) {
    let owner = Client::builder()
        .digest_auth("svc-admin:secret")
        .connect(&server.connect_string())
        .await
        .unwrap();
    create_service_dir(&owner).await;
    let hidden = ServiceInstance::new("svc", "hidden", 1).with_id("hidden");
    owner
        .create(
            "/services/svc/hidden",
            &hidden.to_json().unwrap(),
            &CreateOptions::persistent().with_acl(zk_client::Acl::creator_all()),
        )
        .await
        .unwrap();
    let public = ServiceInstance::new("svc", "public", 2).with_id("public");
    owner
        .create(
            "/services/svc/public",
            &public.to_json().unwrap(),
            &CreateOptions::persistent(),
        )
        .await
        .unwrap();
    let reader = discovery(&server).await;
    // `cache` waits for the first full read: it must complete despite the NoAuth child.
    let cache = within("cache ready", reader.cache("svc")).await.unwrap();
    let snapshot = cache.instances();
    assert_eq!(snapshot.len(), 1);
    assert!(snapshot.get("public").is_some());
}

#[tokio::test]
async fn a_dropped_cache_stops_watching() {
    let server = Server::Bundled(
        zk_server::ServerHandle::builder()
            .port(0)
            .four_letter_words(vec!["wchs".into()])
            .start()
            .await
            .unwrap(),
    );
    let Server::Bundled(handle) = &server else {
        unreachable!()
    };
    let watcher = discovery(&server).await;
    let cache = watcher.cache("svc").await.unwrap();
    let watches = || async { handle.four_letter("wchs").await.unwrap() };
    let before = watches().await;
    assert!(before.contains("Total watches:1\n"), "{before}");
    drop(cache);
    drop(watcher);
    within("watch released", async {
        while !watches().await.contains("Total watches:0\n") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn a_lost_create_reply_leaves_one_sequential_node(server: Server) {
    let admin = Client::connect(&server.connect_string()).await.unwrap();
    create_service_dir(&admin).await;
    let proxy = FaultProxy::start(server.addr()).await.unwrap();
    let d = ServiceDiscovery::builder()
        .client(Client::builder().session_timeout(Duration::from_secs(8)))
        .connect(&proxy.addr().to_string())
        .await
        .unwrap();
    let (_, _, created) = admin.get_and_watch_children("/services/svc").await.unwrap();
    // Replies now crawl through the proxy: the create is applied, its reply is lost.
    proxy.set_delay(Duration::from_millis(300));
    let register = tokio::spawn(async move {
        let reg = d
            .register(
                ServiceInstance::new("svc", "h", 1)
                    .with_id("seq-")
                    .with_service_type(ServiceType::DynamicSequential),
            )
            .await;
        (d, reg)
    });
    within("node created", created).await;
    proxy.drop_connections();
    proxy.set_delay(Duration::ZERO);
    let (d, reg) = within("register", register).await.unwrap();
    let reg = reg.expect("the registration survives the lost reply");
    let children = admin.get_children("/services/svc").await.unwrap();
    assert_eq!(
        children.len(),
        1,
        "no orphan next to a second node: {children:?}"
    );
    assert_eq!(reg.path(), format!("/services/svc/{}", children[0]));
    let (_, stat) = admin.get_data(&reg.path()).await.unwrap();
    assert_eq!(stat.ephemeral_owner, d.client().client().session_id());
}

async fn one_shot_watch_mode_follows_adds_updates_and_removals(server: Server) {
    // The mode used with servers before 3.6, forced here: a child watch plus a data watch
    // per instance.
    let watcher = ServiceDiscovery::builder()
        .cache_options(CacheOptions {
            one_shot_watches: true,
            ..Default::default()
        })
        .connect(&server.connect_string())
        .await
        .unwrap();
    let cache = watcher.cache("svc").await.unwrap();
    let registrar = discovery(&server).await;
    let a = registrar
        .register(ServiceInstance::new("svc", "h", 1).with_id("a"))
        .await
        .unwrap();
    eventually("a added", || cache.instances().get("a").is_some()).await;
    let mut moved = a.instance();
    moved.port = Some(2);
    a.update(moved).await.unwrap();
    eventually("a updated through its data watch", || {
        cache
            .instances()
            .get("a")
            .is_some_and(|i| i.port == Some(2))
    })
    .await;
    // The data watch was set again: a second update is seen too.
    let mut again = a.instance();
    again.port = Some(3);
    a.update(again).await.unwrap();
    eventually("a updated again", || {
        cache
            .instances()
            .get("a")
            .is_some_and(|i| i.port == Some(3))
    })
    .await;
    registrar
        .register(ServiceInstance::new("svc", "h", 4).with_id("b"))
        .await
        .unwrap();
    a.unregister().await.unwrap();
    eventually("only b", || {
        let s = cache.instances();
        s.len() == 1 && s.get("b").is_some()
    })
    .await;
}

async fn two_sequential_nodes_with_one_id_are_two_instances(server: Server) {
    let watcher = discovery(&server).await;
    let cache = watcher.cache("svc").await.unwrap();
    let registrar = discovery(&server).await;
    let mut regs = Vec::new();
    for port in [1, 2] {
        regs.push(
            registrar
                .register(
                    ServiceInstance::new("svc", "h", port)
                        .with_id("worker-")
                        .with_service_type(ServiceType::DynamicSequential),
                )
                .await
                .unwrap(),
        );
    }
    // As in Curator's cache, each node is an instance, whatever id its JSON carries.
    eventually("both nodes listed", || cache.instances().len() == 2).await;
    let ports: std::collections::BTreeSet<_> = cache
        .instances()
        .instances()
        .iter()
        .map(|i| i.port)
        .collect();
    assert_eq!(ports, [Some(1), Some(2)].into());
    regs[0].unregister().await.unwrap();
    eventually("one left", || {
        let s = cache.instances();
        s.len() == 1 && s.get("worker-").is_some_and(|i| i.port == Some(2))
    })
    .await;
}

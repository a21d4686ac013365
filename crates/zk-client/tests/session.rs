//! Session life cycle under faults, against real Apache ZooKeeper 3.8: expiry, server
//! restarts, dropped and black-holed connections, ensemble fail-over, close.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use zk_client::{AddWatchMode, Client, CreateOptions, Error, EventType, SessionState};

#[tokio::test]
async fn forced_expiry_removes_ephemerals_and_ends_watches() {
    let zk = apache().await;
    // The victim goes through a proxy so that it cannot re-attach (and kick the thief)
    // while the session is being stolen and closed.
    let proxy = FaultProxy::start(zk.client_addr(0)).await.unwrap();
    let victim = client(&proxy.addr().to_string()).await;
    let observer = client(zk.connect_string()).await;
    victim
        .create("/eph", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let (_, _, victim_watch) = victim.get_and_watch_data("/eph").await.unwrap();
    let (_, _, observer_watch) = observer.get_and_watch_data("/eph").await.unwrap();

    // A second connection attaching to the same session, then closing it, ends the session
    // on the server; the victim's connection is kicked and its reconnect finds it expired.
    proxy.refuse(true);
    let thief = Client::builder()
        .session(victim.session_id(), victim.session_password())
        .connect(zk.connect_string())
        .await
        .unwrap();
    assert_eq!(thief.session_id(), victim.session_id());
    thief.close().await.unwrap();
    proxy.refuse(false);

    assert_eq!(
        within("observer sees deletion", observer_watch)
            .await
            .event_type,
        EventType::NodeDeleted
    );
    wait_state(&victim, SessionState::Expired).await;
    let ev = within("victim watch ends", victim_watch).await;
    assert_eq!(
        (ev.event_type, ev.state),
        (EventType::None, SessionState::Expired)
    );
    assert_eq!(victim.exists("/").await, Err(Error::SessionExpired));
    assert_eq!(observer.exists("/eph").await.unwrap(), None);

    // The old credentials cannot be revived.
    let again = Client::builder()
        .session(victim.session_id(), victim.session_password())
        .connect(zk.connect_string())
        .await;
    assert_eq!(again.err(), Some(Error::SessionExpired));
}

#[tokio::test]
async fn server_restart_within_the_timeout_keeps_session_ephemerals_and_watches() {
    // A session timeout long enough that a JVM restarting on a loaded machine comes back
    // within it (the shared setup's tick caps sessions at 10 s).
    init_tracing();
    let zk = ApacheZk::options(1)
        .tick_time(Duration::from_millis(500))
        .config("maxSessionTimeout=30000")
        .start()
        .await
        .expect("start Apache ZooKeeper");
    let c = Client::builder()
        .session_timeout(Duration::from_secs(30))
        .connect(zk.connect_string())
        .await
        .unwrap();
    let id = c.session_id();
    c.create("/eph", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    c.create("/w", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, data_watch) = c.get_and_watch_data("/w").await.unwrap();
    let mut persistent = c.add_watch("/w", AddWatchMode::Persistent).await.unwrap();

    zk.kill(0).await.unwrap();
    wait_state(&c, SessionState::Disconnected).await;
    zk.restart(0).await.unwrap();
    wait_state(&c, SessionState::Connected).await;
    assert_eq!(c.session_id(), id);
    assert!(c.exists("/eph").await.unwrap().is_some());

    let other = client(zk.connect_string()).await;
    other.set_data("/w", b"after", None).await.unwrap();
    assert_eq!(
        within("restored one-shot", data_watch).await.event_type,
        EventType::NodeDataChanged
    );
    // The persistent stream was told about the disconnect and the reconnect first.
    let mut session_events = Vec::new();
    let ev = loop {
        let ev = next_event(&mut persistent, "restored persistent").await;
        if ev.event_type != EventType::None {
            break ev;
        }
        session_events.push(ev.state);
    };
    assert_eq!(
        session_events,
        [SessionState::Disconnected, SessionState::Connected]
    );
    assert_eq!(ev.event_type, EventType::NodeDataChanged);
    assert!(c.metrics().disconnects >= 1);
}

#[tokio::test]
async fn change_made_while_disconnected_fires_after_reconnect() {
    let zk = apache().await;
    let proxy = FaultProxy::start(zk.client_addr(0)).await.unwrap();
    let c = client(&proxy.addr().to_string()).await;
    let other = client(zk.connect_string()).await;
    c.create("/w", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    c.create("/kids", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, data_watch) = c.get_and_watch_data("/w").await.unwrap();
    let (_, _, child_watch) = c.get_and_watch_children("/kids").await.unwrap();
    let (_, exists_watch) = c.exists_and_watch("/new").await.unwrap();

    proxy.refuse(true);
    proxy.drop_connections();
    wait_state(&c, SessionState::Disconnected).await;
    other.set_data("/w", b"changed", None).await.unwrap();
    other
        .create("/kids/k", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    other
        .create("/new", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    proxy.refuse(false);

    wait_state(&c, SessionState::Connected).await;
    assert_eq!(
        within("missed data change", data_watch).await.event_type,
        EventType::NodeDataChanged
    );
    assert_eq!(
        within("missed child", child_watch).await.event_type,
        EventType::NodeChildrenChanged
    );
    assert_eq!(
        within("missed creation", exists_watch).await.event_type,
        EventType::NodeCreated
    );
}

#[tokio::test]
async fn requests_in_flight_at_a_drop_fail_with_connection_loss_and_are_not_retried() {
    let zk = apache().await;
    let proxy = FaultProxy::start(zk.client_addr(0)).await.unwrap();
    let c = client(&proxy.addr().to_string()).await;
    c.exists("/").await.unwrap();
    proxy.pause();
    let write = tokio::spawn({
        let c = c.clone();
        async move { c.create("/maybe", b"", &CreateOptions::persistent()).await }
    });
    let read = tokio::spawn({
        let c = c.clone();
        async move { c.get_data("/").await }
    });
    // Both are on the wire (held by the partition) before the connection is cut.
    wait_until("both requests in flight", || c.metrics().in_flight >= 2).await;
    proxy.drop_connections();
    proxy.resume();
    assert_eq!(
        within("write", write).await.unwrap(),
        Err(Error::ConnectionLoss)
    );
    assert_eq!(
        within("read", read).await.unwrap().err(),
        Some(Error::ConnectionLoss)
    );
    wait_state(&c, SessionState::Connected).await;
    assert_eq!(
        c.exists("/maybe").await.unwrap(),
        None,
        "the write was retried"
    );
}

#[tokio::test]
async fn silent_server_is_detected_by_the_read_timeout_and_the_session_resumes() {
    let zk = apache().await;
    let proxy = FaultProxy::start(zk.client_addr(0)).await.unwrap();
    let c = client(&proxy.addr().to_string()).await;
    let id = c.session_id();
    c.create("/eph", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    proxy.pause();
    // Nothing is heard: after 2/3 of the session timeout the client gives up the connection.
    wait_state(&c, SessionState::Disconnected).await;
    proxy.resume();
    wait_state(&c, SessionState::Connected).await;
    assert_eq!(c.session_id(), id);
    assert!(c.exists("/eph").await.unwrap().is_some());
    let m = c.metrics();
    assert!(m.connections >= 2 && m.disconnects >= 1, "{m:?}");
}

#[tokio::test]
async fn killing_the_connected_apache_member_moves_the_session() {
    killing_the_connected_member_moves_the_session(Members::Apache).await;
}

#[tokio::test]
async fn killing_the_connected_bundled_member_moves_the_session() {
    killing_the_connected_member_moves_the_session(Members::Bundled).await;
}

async fn killing_the_connected_member_moves_the_session(members: Members) {
    let zk = ensemble(members).await;
    let c = Client::builder()
        .session_timeout(Duration::from_secs(10))
        .connect(zk.connect_string())
        .await
        .unwrap();
    let id = c.session_id();
    c.create("/eph", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    c.create("/w", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, watch) = c.get_and_watch_data("/w").await.unwrap();
    let mut recursive = c
        .add_watch("/w", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();

    let needle = format!("sid={id:#x}");
    let mut member = None;
    for i in 0..zk.members() {
        if zk.four_letter(i, "cons").await.unwrap().contains(&needle) {
            member = Some(i);
        }
    }
    let member = member.expect("the session is on some member");
    assert_eq!(
        c.server_addr().map(|a| a.port()),
        Some(zk.client_addr(member).port()),
        "the client knows which member serves it"
    );
    zk.kill(member).await.unwrap();
    // The client may be back before we look: count the disconnect instead of racing it.
    wait_until("disconnect noticed", || c.metrics().disconnects >= 1).await;
    wait_state(&c, SessionState::Connected).await;
    assert_eq!(c.session_id(), id);

    let survivor = (member + 1) % zk.members();
    let other = client(&zk.client_addr(survivor).to_string()).await;
    assert!(other.exists("/eph").await.unwrap().is_some());
    other.set_data("/w", b"moved", None).await.unwrap();
    assert_eq!(
        within("watch after fail-over", watch).await.event_type,
        EventType::NodeDataChanged
    );
    let ev = loop {
        let ev = next_event(&mut recursive, "recursive after fail-over").await;
        if ev.event_type != EventType::None {
            break ev;
        }
    };
    assert_eq!(ev.event_type, EventType::NodeDataChanged);
}

#[tokio::test]
async fn close_removes_ephemerals_at_once_and_ends_watches() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    let observer = client(zk.connect_string()).await;
    c.create("/eph", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    c.create("/kept", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, eph_watch) = c.get_and_watch_data("/eph").await.unwrap();
    let (_, _, own_watch) = c.get_and_watch_data("/kept").await.unwrap();
    let mut states = c.state_stream();
    assert_eq!(states.next().await, Some(SessionState::Connected));
    c.close().await.unwrap();
    assert_eq!(
        within("state", states.next()).await,
        Some(SessionState::Closed)
    );
    // The close deleted our own ephemeral (an event like any other), then ended the rest.
    assert_eq!(eph_watch.await.event_type, EventType::NodeDeleted);
    let ev = own_watch.await;
    assert_eq!(
        (ev.event_type, ev.state),
        (EventType::None, SessionState::Closed)
    );
    assert_eq!(observer.exists("/eph").await.unwrap(), None);
    assert_eq!(c.exists("/").await, Err(Error::Closed));
    c.close().await.unwrap();
}

#[tokio::test]
async fn dropping_every_handle_closes_the_session() {
    let zk = apache().await;
    let observer = client(zk.connect_string()).await;
    {
        let c = client(zk.connect_string()).await;
        c.create("/eph", b"", &CreateOptions::ephemeral())
            .await
            .unwrap();
    }
    let (stat, watch) = observer.exists_and_watch("/eph").await.unwrap();
    if stat.is_some() {
        assert_eq!(
            within("ephemeral removed", watch).await.event_type,
            EventType::NodeDeleted
        );
    }
}

#[tokio::test]
async fn the_client_keeps_trying_while_no_server_is_up() {
    let zk = apache().await;
    let c = Client::builder()
        .session_timeout(Duration::from_secs(10))
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .connect(zk.connect_string())
        .await
        .unwrap();
    zk.kill(0).await.unwrap();
    wait_state(&c, SessionState::Disconnected).await;
    let attempts = c.metrics().connect_attempts;
    // Queued while disconnected: completes once the server is back.
    let pending = tokio::spawn({
        let c = c.clone();
        async move {
            let mut rx = c.state_watcher();
            while !rx.borrow_and_update().is_connected() {
                rx.changed().await.unwrap();
            }
            c.exists("/").await
        }
    });
    zk.restart(0).await.unwrap();
    assert!(within("request after restart", pending)
        .await
        .unwrap()
        .unwrap()
        .is_some());
    assert!(c.metrics().connect_attempts > attempts);
}

#[tokio::test]
async fn connecting_to_nothing_fails_within_the_establish_timeout() {
    let r = Client::builder()
        .establish_timeout(Duration::from_millis(500))
        .connect("127.0.0.1:1")
        .await;
    assert!(matches!(r, Err(Error::Connect(_))), "{r:?}");
    let r = Client::connect("").await;
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
}

#[tokio::test]
async fn read_only_member_serves_reads_to_clients_that_allow_it() {
    init_tracing();
    // Apache 3.8 refuses global sessions on a read-only member (creating or re-attaching
    // one is a write); read-only mode works with local sessions, as deployed in practice.
    let zk = ApacheZk::options(3)
        .java_opts("-Dreadonlymode.enabled=true")
        .config("localSessionsEnabled=true")
        .start()
        .await
        .unwrap();
    let writer = client(zk.connect_string()).await;
    writer
        .create("/data", b"kept", &CreateOptions::persistent())
        .await
        .unwrap();
    let leader = zk.leader_index().await.unwrap();
    let survivor = (leader + 1) % 3;
    for i in (0..3).filter(|&i| i != survivor) {
        zk.kill(i).await.unwrap();
    }
    wait_until_async("member turns read-only", || async {
        zk.four_letter(survivor, "isro")
            .await
            .is_ok_and(|s| s == "ro")
    })
    .await;
    let only = zk.client_addr(survivor).to_string();
    let ro = Client::builder()
        .read_only(true)
        .session_timeout(Duration::from_secs(10))
        .connect(&only)
        .await
        .unwrap();
    assert_eq!(ro.state(), SessionState::ConnectedReadOnly);
    assert_eq!(&ro.get_data("/data").await.unwrap().0[..], b"kept");
    assert_eq!(
        ro.create("/new", b"", &CreateOptions::persistent()).await,
        Err(Error::NotReadOnly)
    );
    // A client that does not accept read-only servers is turned away.
    let refused = Client::builder()
        .establish_timeout(Duration::from_secs(2))
        .connect(&only)
        .await;
    assert!(matches!(refused, Err(Error::Connect(_))), "{refused:?}");
}

#[tokio::test]
async fn requests_fail_fast_while_no_server_can_be_reached() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    c.create("/w", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, watch) = c.get_and_watch_data("/w").await.unwrap();
    zk.kill(0).await.unwrap();
    wait_state(&c, SessionState::Disconnected).await;
    assert_eq!(
        within("fail fast", c.exists("/")).await,
        Err(Error::ConnectionLoss)
    );
    // A local removal does not need the server.
    within(
        "local removal",
        c.remove_watches("/w", zk_client::WatcherType::Data, true),
    )
    .await
    .unwrap();
    assert_eq!(
        within("removal event", watch).await.event_type,
        EventType::DataWatchRemoved
    );
}

#[tokio::test]
async fn session_events_report_every_transition() {
    let zk = apache().await;
    let proxy = FaultProxy::start(zk.client_addr(0)).await.unwrap();
    let c = client(&proxy.addr().to_string()).await;
    let mut events = c.session_events();
    proxy.drop_connections();
    assert_eq!(
        within("disconnect", events.next()).await,
        Some(SessionState::Disconnected)
    );
    assert_eq!(
        within("reconnect", events.next()).await,
        Some(SessionState::Connected)
    );
    c.close().await.unwrap();
    assert_eq!(
        within("close", events.next()).await,
        Some(SessionState::Closed)
    );
}

#[tokio::test]
async fn absurd_timeouts_do_not_break_the_client() {
    let zk = apache().await;
    let c = Client::builder()
        .connect_timeout(Duration::MAX)
        .reconnect_backoff(Duration::MAX, Duration::MAX)
        .connect(zk.connect_string())
        .await
        .unwrap();
    assert!(c.exists("/").await.unwrap().is_some());
}

#[tokio::test]
async fn managed_client_replaces_an_expired_session() {
    let zk = apache().await;
    let proxy = FaultProxy::start(zk.client_addr(0)).await.unwrap();
    let managed = zk_client::ManagedClient::connect(
        Client::builder().session_timeout(Duration::from_secs(6)),
        &proxy.addr().to_string(),
    )
    .await
    .unwrap();
    let mut events = managed.events();
    let first = managed.client();
    let old_id = first.session_id();
    first
        .create("/eph", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    // Steal and close the session while the managed client cannot reach the server.
    proxy.refuse(true);
    let thief = Client::builder()
        .session(old_id, first.session_password())
        .connect(zk.connect_string())
        .await
        .unwrap();
    thief.close().await.unwrap();
    proxy.refuse(false);
    let mut seen = Vec::new();
    let new_id = loop {
        match within("new session", events.recv()).await.unwrap() {
            zk_client::SessionEvent::NewSession { session_id } => break session_id,
            other => seen.push(other),
        }
    };
    assert!(seen.contains(&zk_client::SessionEvent::Lost), "{seen:?}");
    assert_ne!(new_id, old_id);
    let current = managed.client();
    assert_eq!(current.session_id(), new_id);
    assert_eq!(current.exists("/eph").await.unwrap(), None);
    assert_eq!(first.exists("/").await, Err(Error::SessionExpired));
    managed.close().await.unwrap();
}

/// When no new session can be made (its credentials are refused), the managed client says
/// it is done (`Closed`), so nothing waits for a new session forever.
#[tokio::test]
async fn a_managed_client_that_cannot_make_a_new_session_says_it_is_done() {
    use zk_server::{SaslSettings, ServerHandle};
    let knows_alice = ServerHandle::builder()
        .port(0)
        .sasl(SaslSettings::digest_md5([("alice", "secret")]))
        .start()
        .await
        .unwrap();
    let knows_only_bob = ServerHandle::builder()
        .port(0)
        .sasl(SaslSettings::digest_md5([("bob", "other")]))
        .start()
        .await
        .unwrap();
    let proxy = FaultProxy::start(knows_alice.addr()).await.unwrap();
    let managed = zk_client::ManagedClient::connect(
        Client::builder().sasl(zk_client::SaslOptions::digest_md5("alice", "secret")),
        &proxy.addr().to_string(),
    )
    .await
    .unwrap();
    let mut events = managed.events();
    let first = managed.client();
    // End the session while the client cannot reach a server, then send it to a server
    // that will refuse its credentials for a new one.
    proxy.refuse(true);
    let thief = Client::builder()
        .session(first.session_id(), first.session_password())
        .connect(&knows_alice.connect_string())
        .await
        .unwrap();
    thief.close().await.unwrap();
    proxy.retarget(knows_only_bob.addr());
    proxy.refuse(false);
    let mut seen = Vec::new();
    loop {
        match within("the managed client gives up", events.recv()).await {
            Ok(zk_client::SessionEvent::Closed) => break,
            Ok(other) => seen.push(other),
            Err(e) => panic!("events ended without Closed: {e}; saw {seen:?}"),
        }
    }
    assert!(seen.contains(&zk_client::SessionEvent::Lost), "{seen:?}");
}

//! Read-only mode against Apache ZooKeeper 3.8 (`readonlymode.enabled`): a client allowed
//! to use read-only servers gets a session on one while the ensemble has no quorum, and
//! leaves it for a read-write server by itself, as the Java client does.
//!
//! What Apache 3.8 allows shapes the tests: a read-only member makes new sessions only with
//! `localSessionsEnabled=true` (they are local to it), and refuses to re-attach a global
//! session; a local session lives on one server only, so a session that must outlive a
//! server change is made global by creating an ephemeral
//! (`localSessionsUpgradingEnabled=true`).

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use zk_client::{Client, CreateOptions, Error, SessionState};
use zk_testkit::{ApacheZkOptions, Mode};

/// A 3-member ensemble whose members serve read-only clients once out of quorum. Local
/// sessions are upgraded to global ones when they create an ephemeral.
fn read_only_ensemble() -> ApacheZkOptions {
    init_tracing();
    ApacheZk::options(3)
        .java_opts("-Dreadonlymode.enabled=true")
        .config("localSessionsEnabled=true")
        .config("localSessionsUpgradingEnabled=true")
}

fn read_only_client() -> zk_client::ClientBuilder {
    Client::builder()
        .read_only(true)
        .session_timeout(Duration::from_secs(20))
}

/// Waits until member `i` reports `mode`.
async fn wait_mode(zk: &ApacheZk, i: usize, mode: Mode) {
    wait_until_async(&format!("member {i} in mode {mode}"), || async {
        zk.mode(i).await.ok() == Some(mode)
    })
    .await;
}

#[tokio::test]
async fn a_client_serves_reads_from_a_read_only_member_and_returns_to_read_write_by_itself() {
    let zk = read_only_ensemble()
        .start()
        .await
        .expect("start the ensemble");
    // A client from before the quorum loss, with a global session (it owns an ephemeral).
    let veteran = read_only_client()
        .session_timeout(Duration::from_secs(30))
        .connect(zk.connect_string())
        .await
        .unwrap();
    veteran
        .create("/config", b"v1", &CreateOptions::persistent())
        .await
        .unwrap();
    veteran
        .create("/owner", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let veteran_session = veteran.session_id();

    // Lose the quorum: the survivor turns read-only.
    let survivor = 0;
    zk.kill(1).await.unwrap();
    zk.kill(2).await.unwrap();
    wait_mode(&zk, survivor, Mode::ReadOnly).await;

    // A new client gets a read-only session there: reads work, writes are refused.
    let c = read_only_client()
        .connect(zk.connect_string())
        .await
        .unwrap();
    assert_eq!(c.state(), SessionState::ConnectedReadOnly);
    let (data, _) = c.get_data("/config").await.unwrap();
    assert_eq!(&data[..], b"v1");
    assert_eq!(
        c.set_data("/config", b"v2", None).await,
        Err(Error::NotReadOnly)
    );
    // Apache refuses to re-attach a global session in read-only mode: the veteran waits
    // for the quorum rather than give its session up.
    assert!(!veteran.state().is_connected());

    // Regain the quorum: the new client moves to read-write by itself (with a new session:
    // its read-only one was local to the read-only server) and the veteran resumes its own.
    zk.restart(1).await.unwrap();
    zk.restart(2).await.unwrap();
    wait_state_within(&c, SessionState::Connected, PROBE_WAIT).await;
    c.set_data("/config", b"v2", None).await.unwrap();
    assert_eq!(&c.get_data("/config").await.unwrap().0[..], b"v2");
    wait_state(&veteran, SessionState::Connected).await;
    assert_eq!(veteran.session_id(), veteran_session);
    assert!(veteran.exists("/owner").await.unwrap().is_some());
}

#[tokio::test]
async fn a_read_only_client_probes_for_a_read_write_server_and_moves_to_it() {
    // A member that stays read-only: its ensemble never regains a quorum.
    let stranded = read_only_ensemble()
        .start()
        .await
        .expect("start the ensemble");
    stranded.kill(1).await.unwrap();
    stranded.kill(2).await.unwrap();
    wait_mode(&stranded, 0, Mode::ReadOnly).await;
    // A read-write server the client cannot reach at first, ahead of what it will see.
    let seen = last_zxid(&stranded, 0).await;
    let (writable, leader) = ensemble_ahead_of(ApacheZk::options(3), seen).await;
    let gate = FaultProxy::start(writable.client_addr(leader))
        .await
        .unwrap();
    gate.refuse(true);

    let connect = format!("{},{}", stranded.client_addr(0), gate.addr());
    let c = read_only_client().connect(&connect).await.unwrap();
    assert_eq!(c.state(), SessionState::ConnectedReadOnly);
    let mut transitions = c.session_events();
    assert!(c.exists("/zookeeper").await.unwrap().is_some());
    assert_eq!(
        c.create("/x", b"", &CreateOptions::persistent()).await,
        Err(Error::NotReadOnly)
    );

    // The read-write server becomes reachable; nothing disturbs the read-only one.
    gate.refuse(false);
    wait_state_within(&c, SessionState::Connected, PROBE_WAIT).await;
    c.create("/moved", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    assert!(writable_sees(&writable, leader, "/moved").await);
    assert_eq!(
        within(
            "transitions",
            transitions.by_ref().take(2).collect::<Vec<_>>()
        )
        .await,
        [SessionState::Disconnected, SessionState::Connected],
        "the client left the read-only server itself"
    );
    assert_eq!(stranded.mode(0).await.unwrap(), Mode::ReadOnly);
}

/// Whether `path` exists on member `i` of the read-write ensemble, read directly (not
/// through the gate).
async fn writable_sees(server: &ApacheZk, i: usize, path: &str) -> bool {
    let direct = client(&server.client_addr(i).to_string()).await;
    direct.exists(path).await.unwrap().is_some()
}

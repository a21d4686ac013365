//! Retrying through connection losses, against Apache ZooKeeper 3.8 behind a fault proxy:
//! reads and conditional writes are retried, a write is never applied twice, creates are
//! repeated only when that cannot make a second node, and the session's end stops it all.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::time::Instant;
use zk_client::retry::{ExponentialBackoff, RetryNTimes, RetryUntilElapsed};
use zk_client::{Client, CreateMode, CreateOptions, Error, OneshotWatcher, SessionState};

/// Quick retries, enough of them for a reconnect.
fn quick() -> ExponentialBackoff {
    ExponentialBackoff::new(Duration::from_millis(50), 10)
}

/// A server, a proxy in front of it, a client through the proxy and one straight to the
/// server (to watch and check what really happened).
async fn setup() -> (ApacheZk, FaultProxy, Client, Client) {
    let zk = apache().await;
    let proxy = FaultProxy::start(zk.client_addr(0)).await.unwrap();
    let c = client(&proxy.addr().to_string()).await;
    let direct = client(zk.connect_string()).await;
    (zk, proxy, c, direct)
}

/// Runs `op` so that its request never reaches the server: the proxy holds the bytes,
/// and the connection is cut before it forwards them.
async fn with_lost_request<T: Send + 'static>(
    proxy: &FaultProxy,
    c: &Client,
    op: impl Future<Output = T> + Send + 'static,
) -> T {
    proxy.pause();
    let call = tokio::spawn(op);
    wait_until("the request is in flight", || c.metrics().in_flight >= 1).await;
    proxy.drop_connections();
    proxy.resume();
    within("the retried call", call).await.unwrap()
}

/// Runs `op` so that the server applies it but its reply is lost: the proxy holds every
/// chunk for a second, and the connection is cut once `applied` (a watch of the direct
/// client) has fired, before the reply gets through.
async fn with_lost_reply<T: Send + 'static>(
    proxy: &FaultProxy,
    applied: OneshotWatcher,
    op: impl Future<Output = T> + Send + 'static,
) -> T {
    proxy.set_delay(Duration::from_secs(1));
    let call = tokio::spawn(op);
    within("the server applies the write", applied).await;
    proxy.set_delay(Duration::ZERO);
    proxy.drop_connections();
    within("the retried call", call).await.unwrap()
}

#[tokio::test]
async fn a_read_cut_off_mid_flight_is_retried_and_succeeds() {
    let (_zk, proxy, c, _direct) = setup().await;
    c.create("/x", b"v", &CreateOptions::persistent())
        .await
        .unwrap();
    let read = {
        let c = c.clone();
        async move { c.retry(&quick()).get_data("/x").await }
    };
    let (data, _) = with_lost_request(&proxy, &c, read).await.unwrap();
    assert_eq!(&data[..], b"v");
    assert!(
        c.metrics().disconnects >= 1,
        "the first attempt was cut off"
    );
}

#[tokio::test]
async fn a_declared_idempotent_operation_is_run_again_after_a_loss() {
    let (_zk, proxy, c, _direct) = setup().await;
    c.create("/x", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let attempts = Arc::new(AtomicUsize::new(0));
    let op = {
        let (c, attempts) = (c.clone(), attempts.clone());
        async move {
            c.retry(&quick())
                .idempotent(|c| {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    async move { c.get_children("/x").await }
                })
                .await
        }
    };
    assert_eq!(
        with_lost_request(&proxy, &c, op).await,
        Ok(Vec::<String>::new())
    );
    assert!(attempts.load(Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn an_answer_other_than_a_lost_connection_is_not_retried() {
    let (_zk, _proxy, c, _direct) = setup().await;
    let before = c.metrics().requests;
    assert_eq!(
        c.retry(&quick()).get_data("/missing").await,
        Err(Error::NoNode)
    );
    assert_eq!(c.metrics().requests - before, 1);
}

#[tokio::test]
async fn a_conditional_write_that_never_reached_the_server_is_retried_and_applied_once() {
    let (_zk, proxy, c, direct) = setup().await;
    let (_, created) = c
        .create("/x", b"v0", &CreateOptions::persistent())
        .await
        .unwrap();
    let write = {
        let c = c.clone();
        async move {
            c.retry(&quick())
                .set_data("/x", b"mine", created.version)
                .await
        }
    };
    let stat = with_lost_request(&proxy, &c, write).await.unwrap();
    assert_eq!(stat.version, created.version + 1);
    let (data, now) = direct.get_data("/x").await.unwrap();
    assert_eq!(
        (&data[..], now.version),
        (&b"mine"[..], created.version + 1)
    );
}

#[tokio::test]
async fn a_conditional_write_whose_reply_was_lost_is_reported_as_maybe_applied() {
    let (_zk, proxy, c, direct) = setup().await;
    let (_, created) = c
        .create("/x", b"v0", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, applied) = direct.get_and_watch_data("/x").await.unwrap();
    let write = {
        let c = c.clone();
        async move {
            c.retry(&quick())
                .set_data("/x", b"mine", created.version)
                .await
        }
    };
    // The repeat meets BadVersion, which the lost attempt itself caused: not passed on as
    // another client's conflict.
    assert_eq!(
        with_lost_reply(&proxy, applied, write).await,
        Err(Error::MaybeApplied {
            error: Box::new(Error::BadVersion)
        })
    );
    let (data, now) = direct.get_data("/x").await.unwrap();
    assert_eq!(
        (&data[..], now.version),
        (&b"mine"[..], created.version + 1),
        "applied exactly once"
    );
}

#[tokio::test]
async fn a_sequential_create_is_refused_before_anything_is_sent() {
    let (_zk, _proxy, c, _direct) = setup().await;
    c.create("/q", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let before = c.metrics().requests;
    let sequential = CreateOptions::new(CreateMode::EphemeralSequential);
    assert!(matches!(
        c.retry(&quick()).create("/q/job-", b"", &sequential).await,
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(c.metrics().requests, before);
    assert!(c.get_children("/q").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_plain_create_whose_reply_was_lost_is_not_reported_as_someone_elses_node() {
    let (_zk, proxy, c, direct) = setup().await;
    let (_, applied) = direct.exists_and_watch("/leader").await.unwrap();
    let create = {
        let c = c.clone();
        async move {
            c.retry(&quick())
                .create("/leader", b"me", &CreateOptions::ephemeral())
                .await
        }
    };
    assert_eq!(
        with_lost_reply(&proxy, applied, create).await,
        Err(Error::MaybeApplied {
            error: Box::new(Error::NodeExists)
        })
    );
    // The node is this session's, as the error's advice to check shows.
    let stat = c.exists("/leader").await.unwrap().unwrap();
    assert_eq!(stat.ephemeral_owner, c.session_id());
}

#[tokio::test]
async fn a_protected_sequential_create_whose_reply_was_lost_leaves_one_node() {
    let (_zk, proxy, c, direct) = setup().await;
    c.create("/q", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, applied) = direct.get_and_watch_children("/q").await.unwrap();
    let create = {
        let c = c.clone();
        async move {
            let sequential = CreateOptions::new(CreateMode::EphemeralSequential);
            c.retry(&quick())
                .create_protected("/q/job-", b"payload", &sequential)
                .await
        }
    };
    let (path, stat) = with_lost_reply(&proxy, applied, create).await.unwrap();
    let children = direct.get_children("/q").await.unwrap();
    assert_eq!(children.len(), 1, "no second node: {children:?}");
    assert_eq!(path, format!("/q/{}", children[0]));
    let name = &children[0];
    assert!(name.starts_with("_c_") && name.contains("-job-"), "{name}");
    assert!(name.ends_with("0000000000"), "{name}");
    assert_eq!(stat.ephemeral_owner, c.session_id());
}

#[tokio::test]
async fn expiry_ends_the_retries_at_once() {
    let (zk, proxy, c, _direct) = setup().await;
    c.create("/x", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    // Pauses of 15 to 30 s between attempts: only the expiry can end this call in time.
    let patient = RetryNTimes::new(100, Duration::from_secs(30));
    proxy.pause();
    let read = tokio::spawn({
        let c = c.clone();
        async move { c.retry(&patient).get_data("/x").await }
    });
    wait_until("the read is in flight", || c.metrics().in_flight >= 1).await;
    // End the session on the server, as an expiry would, while the client is cut off.
    let thief = Client::builder()
        .session(c.session_id(), c.session_password())
        .connect(zk.connect_string())
        .await
        .unwrap();
    thief.close().await.unwrap();
    let started = Instant::now();
    proxy.drop_connections();
    proxy.resume();
    assert_eq!(
        within("the read", read).await.unwrap(),
        Err(Error::SessionExpired)
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "no pause sat out"
    );
    assert_eq!(c.state(), SessionState::Expired);
}

#[tokio::test]
async fn retries_stop_once_the_session_timeout_has_passed_without_a_connection() {
    let (_zk, proxy, c, _direct) = setup().await;
    let session_timeout = c.negotiated_timeout();
    // A policy that would go on for ten minutes.
    let patient = RetryUntilElapsed::new(Duration::from_secs(600), Duration::from_millis(100));
    proxy.refuse(true);
    let cut = Instant::now();
    proxy.drop_connections();
    wait_state(&c, SessionState::Disconnected).await;
    let result = within("the read", c.retry(&patient).get_data("/zookeeper")).await;
    assert_eq!(result, Err(Error::ConnectionLoss));
    let waited = cut.elapsed();
    assert!(
        waited >= session_timeout && waited < session_timeout + Duration::from_secs(2),
        "gave up after {waited:?}, session timeout {session_timeout:?}"
    );
}

//! Shared helpers for the client's integration tests: every test starts its own Apache
//! ZooKeeper through zk-testkit, so no test needs a server already running.

#![allow(dead_code)]

/// Runs each named scenario (an `async fn(Servers)`) as a test against Apache ZooKeeper
/// and as a test against zk-server started from the same options (`mod apache` and
/// `mod bundled`).
#[allow(unused_macros)]
macro_rules! on_both_servers {
    ($($scenario:ident),* $(,)?) => {
        mod apache {
            $(#[tokio::test]
            async fn $scenario() {
                super::$scenario(zk_testkit::Servers::Apache).await
            })*
        }
        mod bundled {
            $(#[tokio::test]
            async fn $scenario() {
                super::$scenario(zk_testkit::Servers::Bundled).await
            })*
        }
    };
}

use std::future::Future;
use std::time::Duration;

use zk_client::{Client, PersistentWatcher, SessionState, WatchedEvent};
#[allow(unused_imports)]
pub use zk_testkit::{ApacheZk, FaultProxy};

/// Upper bound for anything a test waits on.
pub const WAIT: Duration = Duration::from_secs(20);

/// Awaits `f`, failing the test if it takes longer than [`WAIT`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Asserts `f` does not complete within `d` (a watch that must not fire).
pub async fn never<T: std::fmt::Debug>(d: Duration, f: impl Future<Output = T>) {
    if let Ok(v) = tokio::time::timeout(d, f).await {
        panic!("expected nothing, got {v:?}");
    }
}

/// A standalone Apache ZooKeeper 3.8 with a short tick so expiry tests stay quick.
pub async fn apache() -> ApacheZk {
    init_tracing();
    ApacheZk::options(1)
        .tick_time(Duration::from_millis(500))
        .start()
        .await
        .expect("start Apache ZooKeeper")
}

/// Whose members make up a 3-member ensemble.
pub use zk_testkit::Servers as Members;

/// A 3-member ensemble of either kind, with a 500 ms tick.
pub async fn ensemble(members: Members) -> ApacheZk {
    init_tracing();
    ApacheZk::options(3)
        .tick_time(Duration::from_millis(500))
        .servers(members)
        .expect("zk-server binary")
        .start()
        .await
        .expect("start a 3-member ensemble")
}

/// A client with a short session timeout.
pub async fn client(connect: &str) -> Client {
    Client::builder()
        .session_timeout(Duration::from_secs(6))
        .connect(connect)
        .await
        .expect("connect")
}

/// The next event of a persistent watch, failing the test if it takes longer than
/// [`WAIT`], the stream ends, or it lagged (no test short of the lag test fills a queue).
pub async fn next_event(watch: &mut PersistentWatcher, what: &str) -> WatchedEvent {
    match within(what, watch.changed()).await {
        Some(Ok(event)) => event,
        Some(Err(lagged)) => panic!("{what}: the watch lagged: {lagged}"),
        None => panic!("{what}: the watch ended"),
    }
}

/// Waits until the client reaches `state`.
pub async fn wait_state(client: &Client, state: SessionState) {
    wait_state_within(client, state, WAIT).await
}

/// Longest wait for a read-only client to find a read-write server: its probes back off
/// from 100 ms, doubling (Java's pacing), so on a slow machine the next probe can come
/// tens of seconds after the server is back; the interval's ceiling is 60 s.
pub const PROBE_WAIT: Duration = Duration::from_secs(75);

/// Waits until the client reaches `state`, failing the test after `limit`.
pub async fn wait_state_within(client: &Client, state: SessionState, limit: Duration) {
    let mut rx = client.state_watcher();
    let what = format!("state {state:?}");
    let reached = tokio::time::timeout(limit, async {
        loop {
            if *rx.borrow_and_update() == state {
                return;
            }
            rx.changed().await.expect("state channel closed");
        }
    })
    .await;
    assert!(reached.is_ok(), "timed out waiting for {what}");
}

/// Enables tracing output when `RUST_LOG` is set (e.g. `RUST_LOG=zk_client=debug`).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Enables tracing output at `directives` unless `RUST_LOG` says otherwise: for tests whose
/// rare failures need the client's own account (the test harness shows it only then).
pub fn init_tracing_at(directives: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| directives.to_owned());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_test_writer()
        .try_init();
}

/// The zxid member `i` of `zk` reports in `srvr`: the last it has seen.
pub async fn last_zxid(zk: &ApacheZk, i: usize) -> u64 {
    let srvr = zk.four_letter(i, "srvr").await.expect("srvr");
    srvr.lines()
        .find_map(|l| l.strip_prefix("Zxid: 0x"))
        .and_then(|z| u64::from_str_radix(z.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no Zxid line in {srvr:?}"))
}

/// Starts a 3-member ensemble from `options` and re-elects its leader until a write there
/// gets a zxid past `seen`; returns it and the index of its leader.
///
/// A client that moves from a read-only server to a read-write one of another ensemble
/// tells it the last zxid it saw, and Apache closes the connection of a client that has
/// seen a later zxid than its own ("client must try another server"). A fresh ensemble
/// may be behind a stranded one whatever is written to it, because the zxid's upper half
/// is the epoch, which only an election moves on.
pub async fn ensemble_ahead_of(
    options: zk_testkit::ApacheZkOptions,
    seen: u64,
) -> (ApacheZk, usize) {
    let zk = options.start().await.expect("start the ensemble");
    let c = client(zk.connect_string()).await;
    for election in 0..5 {
        let leader = zk.leader_index().await.expect("a leader");
        let path = format!("/epoch-{election}");
        // Right after an election the client may still be reconnecting.
        let written = within("a write after the election", async {
            loop {
                let created = c
                    .create(&path, b"", &zk_client::CreateOptions::persistent())
                    .await;
                if matches!(created, Ok(_) | Err(zk_client::Error::NodeExists)) {
                    if let Ok(Some(stat)) = c.exists(&path).await {
                        return stat;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        if written.czxid as u64 > seen {
            return (zk, leader);
        }
        zk.kill(leader).await.expect("kill the leader");
        wait_until_async("a new leader", || async {
            matches!(zk.leader_index().await, Ok(i) if i != leader)
        })
        .await;
        zk.restart(leader).await.expect("restart the old leader");
    }
    panic!("five elections did not take the ensemble past zxid {seen:#x}");
}

/// Polls `cond` every 10 ms until it holds, failing the test after [`WAIT`].
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// Polls the async `cond` every 50 ms until it holds, failing the test after a minute.
pub async fn wait_until_async<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let poll = async {
        while !cond().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(60), poll)
        .await
        .is_err()
    {
        panic!("timed out waiting for {what}");
    }
}

/// Drops every connection through `proxy`, waits for `client` to reconnect, and reads
/// `path`, which must hold `expected`: a node only the client's SASL identity may read,
/// so this shows the new connection authenticated again before the request went out
/// (servers keep SASL ids per connection).
pub async fn read_after_reconnect(
    client: &Client,
    proxy: &FaultProxy,
    path: &str,
    expected: &[u8],
) {
    let mut states = client.state_watcher();
    proxy.drop_connections();
    within("the disconnect", states.wait_for(|s| !s.is_connected()))
        .await
        .expect("state channel");
    wait_state(client, SessionState::Connected).await;
    assert!(proxy.connections_accepted() >= 2);
    let (data, _) = client.get_data(path).await.expect("read after reconnect");
    assert_eq!(&data[..], expected);
}

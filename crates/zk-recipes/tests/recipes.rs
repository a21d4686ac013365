//! Every recipe against both servers (Apache ZooKeeper 3.8 and zk-server, started from
//! the same `zoo.cfg`): mutual exclusion under contention, no node left behind by a
//! timeout, a cancelled waiter or a dropped guard, what a holder is told when its
//! connection drops and when its session expires, leadership hand-over, counters and
//! barriers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zk_client::{Client, ManagedClient};
use zk_recipes::{
    DistributedAtomicLong, DistributedBarrier, DistributedDoubleBarrier, InterProcessMutex,
    InterProcessReadWriteLock, InterProcessSemaphoreV2, LeaderLatch, LeaderSelector, Leadership,
    Led, LockState, NodeCache, SharedCount, TreeCache, TreeEvent,
};
use zk_testkit::{ApacheZk, FaultProxy, Servers};

/// Upper bound for anything a test waits on.
const WAIT: Duration = Duration::from_secs(30);

macro_rules! on_both_servers {
    ($($scenario:ident),* $(,)?) => {
        mod apache {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario(zk_testkit::Servers::Apache).await
            })*
        }
        mod bundled {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario(zk_testkit::Servers::Bundled).await
            })*
        }
    };
}

on_both_servers!(
    a_mutex_excludes_across_sessions_and_leaves_no_node,
    a_mutex_is_reentrant_per_task_and_fences_later_holders,
    giving_up_or_cancelling_leaves_no_node,
    a_lock_whose_create_reply_was_lost_adopts_its_node,
    a_semaphore_abandoned_mid_create_leaves_no_lease_and_one_task_queues_twice,
    a_shared_count_follows_a_managed_client_into_its_next_session,
    a_holder_is_told_of_a_lost_connection_and_of_expiry,
    readers_share_and_a_writer_excludes,
    a_semaphore_hands_out_at_most_its_leases,
    one_leader_at_a_time_and_hand_over_on_close_and_expiry,
    a_selector_leads_in_turn_and_cancels_work_when_cut_off,
    counters_count_exactly,
    barriers_hold_until_lowered_and_double_barriers_gather,
    caches_follow_a_node_and_a_subtree_across_a_lost_connection,
);

async fn start(servers: Servers) -> ApacheZk {
    ApacheZk::options(1)
        .tick_time(Duration::from_millis(200))
        .servers(servers)
        .expect("servers")
        .start()
        .await
        .expect("server starts")
}

/// A client whose connection goes through a fault proxy, with `session_timeout`.
async fn through_proxy(zk: &ApacheZk, session_timeout: Duration) -> (FaultProxy, Client) {
    let proxy = FaultProxy::start(zk.client_addr(0)).await.expect("proxy");
    let client = Client::builder()
        .session_timeout(session_timeout)
        .connect(&proxy.addr().to_string())
        .await
        .expect("connect through the proxy");
    (proxy, client)
}

async fn connect(zk: &str) -> Client {
    Client::connect(zk).await.expect("connect")
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {WAIT:?}"))
}

async fn children(client: &Client, path: &str) -> Vec<String> {
    match client.get_children(path).await {
        Ok(c) => c,
        Err(zk_client::Error::NoNode) => Vec::new(),
        Err(e) => panic!("children of {path}: {e}"),
    }
}

/// Eight tasks over four sessions take the lock 25 times each and, holding it, do a
/// read-modify-write of a node that would lose updates if two held it at once.
async fn a_mutex_excludes_across_sessions_and_leaves_no_node(servers: Servers) {
    let zk = start(servers).await;
    let sessions: Vec<Client> =
        futures::future::join_all((0..4).map(|_| connect(zk.connect_string()))).await;
    sessions[0]
        .create("/counter", b"0", &zk_client::CreateOptions::persistent())
        .await
        .expect("counter");
    let inside = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let client = sessions[t % 4].clone();
            let inside = inside.clone();
            tokio::spawn(async move {
                let mutex = InterProcessMutex::new(&client, "/locks/counter").expect("mutex");
                for _ in 0..25 {
                    let guard = mutex.lock().await.expect("lock");
                    assert_eq!(
                        inside.fetch_add(1, Ordering::SeqCst),
                        0,
                        "two holders at once"
                    );
                    let (data, _) = client.get_data("/counter").await.expect("read");
                    let n: u64 = std::str::from_utf8(&data)
                        .expect("utf8")
                        .parse()
                        .expect("number");
                    tokio::task::yield_now().await;
                    client
                        .set_data("/counter", (n + 1).to_string().as_bytes(), None)
                        .await
                        .expect("write");
                    inside.fetch_sub(1, Ordering::SeqCst);
                    guard.release().await.expect("release");
                }
            })
        })
        .collect();
    within("contention", futures::future::try_join_all(tasks))
        .await
        .expect("tasks");
    let (data, _) = sessions[0].get_data("/counter").await.expect("read");
    assert_eq!(&data[..], b"200", "no update lost");
    assert!(
        children(&sessions[0], "/locks/counter").await.is_empty(),
        "no node left"
    );
}

async fn a_mutex_is_reentrant_per_task_and_fences_later_holders(servers: Servers) {
    let zk = start(servers).await;
    let client = connect(zk.connect_string()).await;
    let mutex = InterProcessMutex::new(&client, "/locks/r").expect("mutex");
    let first = mutex.lock().await.expect("lock");
    let again = mutex.lock().await.expect("re-enter");
    assert_eq!(first.node(), again.node(), "one node for both");
    assert!(
        first.node().contains("/_c_") && first.node().contains("-lock-"),
        "{}",
        first.node()
    );
    assert_eq!(
        mutex.participant_nodes().await.expect("participants").len(),
        1
    );

    // Another task contends as another process would.
    let other = mutex.clone();
    let contender = tokio::spawn(async move {
        other
            .try_lock_for(Duration::from_millis(300))
            .await
            .expect("try")
    });
    assert!(
        contender.await.expect("task").is_none(),
        "held by another task"
    );

    let token = first.fencing_token();
    drop(again);
    assert_eq!(
        children(&client, "/locks/r").await.len(),
        1,
        "still held by the first guard"
    );
    first.release().await.expect("release");
    assert!(children(&client, "/locks/r").await.is_empty());
    let next = mutex.lock().await.expect("lock again");
    assert!(
        next.fencing_token() > token,
        "a later holder's token is larger"
    );

    // Someone deletes the lock node: a holder watching its state learns it lost the lock.
    let mut state = next.watch_state();
    let admin = connect(zk.connect_string()).await;
    admin.delete(next.node(), None).await.expect("delete");
    within("lost", state.wait_for(|s| *s == LockState::Lost))
        .await
        .expect("state");
}

async fn giving_up_or_cancelling_leaves_no_node(servers: Servers) {
    let zk = start(servers).await;
    let holder = connect(zk.connect_string()).await;
    let waiter = connect(zk.connect_string()).await;
    let held = InterProcessMutex::new(&holder, "/locks/c")
        .expect("mutex")
        .lock()
        .await
        .expect("lock");
    let mutex = InterProcessMutex::new(&waiter, "/locks/c").expect("mutex");

    assert!(mutex
        .try_lock_for(Duration::from_millis(200))
        .await
        .expect("try")
        .is_none());
    assert_eq!(
        children(&holder, "/locks/c").await.len(),
        1,
        "the timed-out waiter's node is gone"
    );

    // A waiter whose future is dropped (here by a timeout around it) cleans up too.
    let cancelled = tokio::time::timeout(Duration::from_millis(200), mutex.lock()).await;
    assert!(cancelled.is_err());
    within("the cancelled waiter's node to go", async {
        while children(&holder, "/locks/c").await.len() != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    // A dropped guard releases: the waiter gets the lock.
    let waiting = tokio::spawn(async move { mutex.lock().await.map(|g| g.node().to_owned()) });
    drop(held);
    let got = within("the waiter to get the lock", waiting)
        .await
        .expect("task")
        .expect("lock");
    assert!(got.starts_with("/locks/c/_c_"));

    // A semaphore and a read lock that give up leave nothing either.
    let semaphore = InterProcessSemaphoreV2::new(&holder, "/sem/c", 1).expect("semaphore");
    let lease = semaphore.acquire().await.expect("lease");
    let other = InterProcessSemaphoreV2::new(&waiter, "/sem/c", 1).expect("semaphore");
    assert!(other
        .try_acquire_for(Duration::from_millis(200))
        .await
        .expect("try")
        .is_none());
    assert_eq!(
        semaphore.participant_nodes().await.expect("leases").len(),
        1
    );
    assert!(
        children(&holder, "/sem/c/locks").await.is_empty(),
        "the internal lock is free"
    );
    lease.release().await.expect("return");
    assert!(semaphore
        .participant_nodes()
        .await
        .expect("leases")
        .is_empty());
}

/// The lock node's create reaches the server, its reply is lost with the connection: the
/// retried create finds the node by its protection prefix and adopts it, so the lock is
/// held with one node, not two (a second would block every other contender until the
/// session ended).
async fn a_lock_whose_create_reply_was_lost_adopts_its_node(servers: Servers) {
    let zk = start(servers).await;
    let direct = connect(zk.connect_string()).await;
    let (proxy, cut) = through_proxy(&zk, Duration::from_secs(10)).await;
    direct
        .create("/locks", b"", &zk_client::CreateOptions::persistent())
        .await
        .expect("create");
    direct
        .create("/locks/lost", b"", &zk_client::CreateOptions::persistent())
        .await
        .expect("create");
    let (_, _, applied) = direct
        .get_and_watch_children("/locks/lost")
        .await
        .expect("watch");
    // Every chunk waits a second: the create arrives, and its reply is cut off.
    proxy.set_delay(Duration::from_secs(1));
    let mutex = InterProcessMutex::new(&cut, "/locks/lost").expect("mutex");
    let locking = tokio::spawn(async move { mutex.lock().await.map(|g| (g.node().to_owned(), g)) });
    within("the server applies the create", applied).await;
    proxy.set_delay(Duration::ZERO);
    proxy.drop_connections();
    let (node, guard) = within("the lock", locking)
        .await
        .expect("task")
        .expect("lock");
    let nodes = children(&direct, "/locks/lost").await;
    assert_eq!(nodes.len(), 1, "one node: {nodes:?}");
    assert_eq!(node, format!("/locks/lost/{}", nodes[0]));
    assert_eq!(guard.state(), LockState::Held);
    guard.release().await.expect("release");
    assert!(children(&direct, "/locks/lost").await.is_empty());
}

async fn a_semaphore_abandoned_mid_create_leaves_no_lease_and_one_task_queues_twice(
    servers: Servers,
) {
    let zk = start(servers).await;
    let direct = connect(zk.connect_string()).await;
    let (proxy, cut) = through_proxy(&zk, Duration::from_secs(10)).await;
    let holder = InterProcessSemaphoreV2::new(&direct, "/sem/a", 1).expect("semaphore");
    let held = holder.acquire().await.expect("lease");
    let (_, _, applied) = direct
        .get_and_watch_children("/sem/a/leases")
        .await
        .expect("watch");
    // The lease node's create reaches the server; the caller gives up before its reply.
    proxy.set_delay(Duration::from_secs(1));
    let semaphore = InterProcessSemaphoreV2::new(&cut, "/sem/a", 1).expect("semaphore");
    let acquiring = tokio::spawn(async move { semaphore.acquire().await.map(drop) });
    within("the server makes the lease node", applied).await;
    acquiring.abort();
    proxy.set_delay(Duration::ZERO);
    proxy.drop_connections();
    within("the abandoned lease to go", async {
        while children(&direct, "/sem/a/leases").await.len() != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    within("the internal lock to be free", async {
        while !children(&direct, "/sem/a/locks").await.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    // Two acquires in one task queue like two processes: when the held lease is returned
    // one of them gets it, the other times out (re-entering the internal lock would let
    // both wait at once, and neither would ever get it).
    let semaphore = InterProcessSemaphoreV2::new(&cut, "/sem/a", 1).expect("semaphore");
    let returning = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        held.release().await.expect("return");
    });
    let (a, b) = tokio::join!(
        semaphore.try_acquire_for(Duration::from_secs(3)),
        semaphore.try_acquire_for(Duration::from_secs(3))
    );
    returning.await.expect("task");
    let (a, b) = (a.expect("first"), b.expect("second"));
    assert_eq!(
        a.is_some() as u8 + b.is_some() as u8,
        1,
        "exactly one lease: {a:?} {b:?}"
    );
}

async fn a_shared_count_follows_a_managed_client_into_its_next_session(servers: Servers) {
    let zk = start(servers).await;
    let writer = connect(zk.connect_string()).await;
    let proxy = FaultProxy::start(zk.client_addr(0)).await.expect("proxy");
    let builder = Client::builder().session_timeout(Duration::from_millis(1600));
    let managed = ManagedClient::connect(builder, &proxy.addr().to_string())
        .await
        .expect("managed");
    let first_session = managed.client().session_id();
    let count = SharedCount::start(&managed, "/counters/follow", 1)
        .await
        .expect("count");
    // An ephemeral of the first session tells when the server has expired it.
    managed
        .client()
        .create(
            "/counters/alive",
            b"",
            &zk_client::CreateOptions::ephemeral(),
        )
        .await
        .expect("ephemeral");
    let (_, gone) = writer
        .exists_and_watch("/counters/alive")
        .await
        .expect("watch");
    let mut events = managed.events();
    proxy.pause();
    proxy.drop_connections();
    let theirs = SharedCount::start(&writer, "/counters/follow", 0)
        .await
        .expect("count");
    within("the first session to expire", gone).await;
    proxy.resume();
    within("the session to be replaced", async {
        loop {
            if let Ok(zk_client::SessionEvent::NewSession { .. }) = events.recv().await {
                return;
            }
        }
    })
    .await;
    let seen = theirs.versioned_value();
    assert!(theirs.try_set_count(seen, 42).await.expect("set"));
    let mut watch = count.watch();
    within(
        "the new value in the new session",
        watch.wait_for(|v| v.value == 42),
    )
    .await
    .expect("watch");
    assert_ne!(managed.client().session_id(), first_session);
}

/// Everything is `Send` (and the handles `Sync`): usable from any task.
#[allow(dead_code)]
fn recipes_are_send(client: &Client) {
    fn send<T: Send>(_: &T) {}
    fn sync<T: Send + Sync>() {}
    sync::<InterProcessMutex>();
    sync::<zk_recipes::LockGuard>();
    sync::<InterProcessReadWriteLock>();
    sync::<InterProcessSemaphoreV2>();
    sync::<zk_recipes::Lease>();
    sync::<LeaderLatch>();
    sync::<LeaderSelector>();
    sync::<SharedCount>();
    sync::<DistributedAtomicLong>();
    sync::<DistributedDoubleBarrier>();
    sync::<NodeCache>();
    sync::<TreeCache>();
    let mutex = InterProcessMutex::new(client, "/x").expect("mutex");
    send(&mutex.lock());
    send(&mutex.try_lock_for(Duration::ZERO));
    let semaphore = InterProcessSemaphoreV2::new(client, "/s", 1).expect("semaphore");
    send(&semaphore.acquire());
    send(&LeaderLatch::start(client, "/l", "id"));
    let selector = LeaderSelector::new(client, "/l", "id").expect("selector");
    send(&selector.lead(|_| async {}));
    send(&TreeCache::start(client, "/t"));
}

/// Through a proxy: a paused connection makes the holder's guard `Suspended`, a session
/// that expires meanwhile makes it `Lost`, and another session then gets the lock.
async fn a_holder_is_told_of_a_lost_connection_and_of_expiry(servers: Servers) {
    let zk = start(servers).await;
    let (proxy, holder) = through_proxy(&zk, Duration::from_millis(1600)).await;
    let guard = InterProcessMutex::new(&holder, "/locks/f")
        .expect("mutex")
        .lock()
        .await
        .expect("lock");
    assert_eq!(guard.state(), LockState::Held);

    proxy.pause();
    proxy.drop_connections();
    assert_eq!(
        within("suspended", guard.at_risk()).await,
        LockState::Suspended
    );

    let other = connect(zk.connect_string()).await;
    let mutex = InterProcessMutex::new(&other, "/locks/f").expect("mutex");
    let next = within("the lock after the holder's session expired", mutex.lock())
        .await
        .expect("lock");
    proxy.resume();
    let mut state = guard.watch_state();
    within("lost", state.wait_for(|s| *s == LockState::Lost))
        .await
        .expect("state");
    assert_eq!(next.state(), LockState::Held);
    drop(guard);
    next.release().await.expect("release");
}

async fn readers_share_and_a_writer_excludes(servers: Servers) {
    let zk = start(servers).await;
    let a = connect(zk.connect_string()).await;
    let b = connect(zk.connect_string()).await;
    let lock_a = InterProcessReadWriteLock::new(&a, "/rw").expect("lock");
    let lock_b = InterProcessReadWriteLock::new(&b, "/rw").expect("lock");

    let read_a = lock_a.read_lock().lock().await.expect("read");
    let read_b = lock_b.read_lock().lock().await.expect("readers share");
    assert!(read_a.node().contains("__READ__"));
    assert!(lock_b
        .write_lock()
        .try_lock_for(Duration::from_millis(200))
        .await
        .expect("try")
        .is_none());
    drop(read_b);
    read_a.release().await.expect("release");

    let write = lock_a.write_lock().lock().await.expect("write");
    assert!(
        write.node().contains("__WRIT__"),
        "Curator's name: {}",
        write.node()
    );
    assert!(lock_b
        .read_lock()
        .try_lock_for(Duration::from_millis(200))
        .await
        .expect("try")
        .is_none());
    // The writer may read too (and so downgrade).
    let downgrade = lock_a.read_lock().lock().await.expect("the writer reads");
    write.release().await.expect("release the write lock");
    let shared = within(
        "a reader beside the downgraded one",
        lock_b.read_lock().lock(),
    )
    .await
    .expect("read");
    drop((downgrade, shared));
}

async fn a_semaphore_hands_out_at_most_its_leases(servers: Servers) {
    let zk = start(servers).await;
    let sessions: Vec<Client> =
        futures::future::join_all((0..3).map(|_| connect(zk.connect_string()))).await;
    let out = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..6)
        .map(|t| {
            let client = sessions[t % 3].clone();
            let (out, most) = (out.clone(), most.clone());
            tokio::spawn(async move {
                let semaphore =
                    InterProcessSemaphoreV2::new(&client, "/sem/s", 2).expect("semaphore");
                for _ in 0..5 {
                    let lease = semaphore.acquire().await.expect("lease");
                    let now = out.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    assert!(now <= 2, "{now} leases out");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    out.fetch_sub(1, Ordering::SeqCst);
                    lease.release().await.expect("return");
                }
            })
        })
        .collect();
    within("leases", futures::future::try_join_all(tasks))
        .await
        .expect("tasks");
    assert_eq!(most.load(Ordering::SeqCst), 2, "both leases were used");
    assert!(children(&sessions[0], "/sem/s/leases").await.is_empty());
}

async fn one_leader_at_a_time_and_hand_over_on_close_and_expiry(servers: Servers) {
    let zk = start(servers).await;
    let proxy = FaultProxy::start(zk.client_addr(0)).await.expect("proxy");
    // The first candidate's sessions go through the proxy; a managed client rejoins after
    // its session expires.
    let builder = Client::builder().session_timeout(Duration::from_millis(1600));
    let first = ManagedClient::connect(builder, &proxy.addr().to_string())
        .await
        .expect("managed");
    let second = connect(zk.connect_string()).await;
    let third = connect(zk.connect_string()).await;

    let a = LeaderLatch::start(&first, "/election", "a")
        .await
        .expect("latch a");
    let mut a_leads = a.leadership();
    within("a leads", a_leads.wait_for(|l| *l == Leadership::Leader))
        .await
        .expect("a");
    let b = LeaderLatch::start(&second, "/election", "b")
        .await
        .expect("latch b");
    let c = LeaderLatch::start(&third, "/election", "c")
        .await
        .expect("latch c");
    assert_eq!(a.participants().await.expect("ids"), ["a", "b", "c"]);
    assert!(!b.has_leadership() && !c.has_leadership());

    // a's connection goes: it stops leading at once; its session expires and b leads.
    proxy.pause();
    proxy.drop_connections();
    within(
        "a steps down",
        a_leads.wait_for(|l| *l == Leadership::NotLeader),
    )
    .await
    .expect("a");
    let mut b_leads = b.leadership();
    within(
        "b leads after a's session expired",
        b_leads.wait_for(|l| *l == Leadership::Leader),
    )
    .await
    .expect("b");
    proxy.resume();
    // a rejoins in a new session, behind c.
    within("a rejoins", async {
        while a.participants().await.map(|p| p.len()).unwrap_or(0) != 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(b.participants().await.expect("ids"), ["b", "c", "a"]);

    b.close().await.expect("close b");
    let mut c_leads = c.leadership();
    within(
        "c leads after b closed",
        c_leads.wait_for(|l| *l == Leadership::Leader),
    )
    .await
    .expect("c");
    assert!(!a.has_leadership());
    assert!(b_leads.borrow().eq(&Leadership::NotLeader));
    drop(c);
    let mut a_leads = a.leadership();
    within(
        "a leads after c dropped",
        a_leads.wait_for(|l| *l == Leadership::Leader),
    )
    .await
    .expect("a");
}

async fn a_selector_leads_in_turn_and_cancels_work_when_cut_off(servers: Servers) {
    let zk = start(servers).await;
    let (proxy, cut) = through_proxy(&zk, Duration::from_millis(4000)).await;
    let steady = connect(zk.connect_string()).await;
    let a = LeaderSelector::new(&cut, "/select", "a").expect("selector");
    let b = LeaderSelector::new(&steady, "/select", "b").expect("selector");

    let (leading_tx, leading_rx) = tokio::sync::oneshot::channel();
    let a_leads = tokio::spawn(async move {
        a.lead(|leading| async move {
            let _ = leading_tx.send(leading.fencing_token());
            std::future::pending::<()>().await
        })
        .await
    });
    let token = within("a leads", leading_rx).await.expect("a's token");
    let b_turn = tokio::spawn({
        let b = b.clone();
        async move {
            b.lead(|leading| async move { leading.fencing_token() })
                .await
        }
    });
    within("b queues", async {
        while b.participants().await.expect("ids").len() != 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(b.participants().await.expect("ids"), ["a", "b"]);

    // a's connection is cut: its never-ending work is cancelled at once.
    proxy.pause();
    proxy.drop_connections();
    let led = within("a interrupted", a_leads)
        .await
        .expect("task")
        .expect("lead");
    assert_eq!(led, Led::Interrupted(LockState::Suspended));
    // b leads once a's session has expired, with a later token.
    let led = within("b's turn", b_turn)
        .await
        .expect("task")
        .expect("lead");
    match led {
        Led::Finished(b_token) => assert!(b_token > token),
        other => panic!("b: {other:?}"),
    }
    proxy.resume();
}

async fn counters_count_exactly(servers: Servers) {
    let zk = start(servers).await;
    let sessions: Vec<Client> =
        futures::future::join_all((0..3).map(|_| connect(zk.connect_string()))).await;
    let tasks: Vec<_> = (0..6)
        .map(|t| {
            let client = sessions[t % 3].clone();
            tokio::spawn(async move {
                let counter = DistributedAtomicLong::new(&client, "/counters/long")
                    .expect("counter")
                    .with_attempts(1000);
                for _ in 0..20 {
                    assert!(counter.increment().await.expect("increment").succeeded);
                }
            })
        })
        .collect();
    within("increments", futures::future::try_join_all(tasks))
        .await
        .expect("tasks");
    let counter = DistributedAtomicLong::new(&sessions[0], "/counters/long").expect("counter");
    assert_eq!(counter.get().await.expect("get").post_value, 120);

    // One optimistic attempt each, then the lock: every increment succeeds.
    let promoted: Vec<_> = (0..6)
        .map(|t| {
            let client = sessions[t % 3].clone();
            tokio::spawn(async move {
                let counter = DistributedAtomicLong::new(&client, "/counters/promoted")
                    .expect("counter")
                    .with_attempts(1)
                    .promoted_to_lock("/counters/promoted-lock", WAIT)
                    .expect("promoted");
                for _ in 0..10 {
                    assert!(counter.add(2).await.expect("add").succeeded);
                }
            })
        })
        .collect();
    within(
        "promoted increments",
        futures::future::try_join_all(promoted),
    )
    .await
    .expect("tasks");
    let promoted = DistributedAtomicLong::new(&sessions[0], "/counters/promoted").expect("counter");
    assert_eq!(promoted.get().await.expect("get").post_value, 120);
    let (data, _) = sessions[0].get_data("/counters/long").await.expect("raw");
    assert_eq!(&data[..], &120i64.to_be_bytes(), "Curator's encoding");
    assert!(!counter.compare_and_set(7, 8).await.expect("cas").succeeded);
    assert!(
        counter
            .compare_and_set(120, 5)
            .await
            .expect("cas")
            .succeeded
    );

    let one = SharedCount::start(&sessions[0], "/counters/shared", 10)
        .await
        .expect("count");
    let two = SharedCount::start(&sessions[1], "/counters/shared", 99)
        .await
        .expect("count");
    assert_eq!(two.count(), 10, "the seed of whoever came first");
    let seen = one.versioned_value();
    assert!(one.try_set_count(seen, 11).await.expect("set"));
    assert!(
        !two.try_set_count(seen, 12).await.expect("stale"),
        "a stale version is refused"
    );
    let mut watch = two.watch();
    within("the other sees 11", watch.wait_for(|v| v.value == 11))
        .await
        .expect("watch");
    let (data, _) = sessions[0].get_data("/counters/shared").await.expect("raw");
    assert_eq!(&data[..], &11i32.to_be_bytes(), "Curator's encoding");
}

async fn barriers_hold_until_lowered_and_double_barriers_gather(servers: Servers) {
    let zk = start(servers).await;
    let a = connect(zk.connect_string()).await;
    let b = connect(zk.connect_string()).await;
    let barrier = DistributedBarrier::new(&a, "/barriers/b").expect("barrier");
    barrier.set_barrier().await.expect("set");
    let waiting = DistributedBarrier::new(&b, "/barriers/b").expect("barrier");
    assert!(!waiting
        .wait_on_barrier(Some(Duration::from_millis(200)))
        .await
        .expect("wait"));
    let released = tokio::spawn(async move { waiting.wait_on_barrier(None).await });
    barrier.remove_barrier().await.expect("remove");
    assert!(within("released", released)
        .await
        .expect("task")
        .expect("wait"));

    let sessions = [a.clone(), b.clone(), connect(zk.connect_string()).await];
    let entered = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = sessions
        .iter()
        .map(|client| {
            let barrier =
                DistributedDoubleBarrier::new(client, "/barriers/double", 3).expect("double");
            let entered = entered.clone();
            tokio::spawn(async move {
                assert!(barrier.enter(Some(WAIT)).await.expect("enter"));
                entered.fetch_add(1, Ordering::SeqCst);
                assert!(barrier.leave(Some(WAIT)).await.expect("leave"));
                entered.load(Ordering::SeqCst)
            })
        })
        .collect();
    let seen = within("the group", futures::future::try_join_all(tasks))
        .await
        .expect("tasks");
    assert!(
        seen.iter().all(|n| *n == 3),
        "nobody left before all entered: {seen:?}"
    );
    assert!(children(&a, "/barriers/double").await.is_empty());
}

async fn caches_follow_a_node_and_a_subtree_across_a_lost_connection(servers: Servers) {
    let zk = start(servers).await;
    let writer = connect(zk.connect_string()).await;
    let (proxy, reader) = through_proxy(&zk, Duration::from_secs(10)).await;
    let persistent = zk_client::CreateOptions::persistent();
    writer
        .create("/app", b"root", &persistent)
        .await
        .expect("create");
    writer
        .create("/app/a", b"1", &persistent)
        .await
        .expect("create");

    let node = NodeCache::start(&reader, "/app/config")
        .await
        .expect("node cache");
    assert_eq!(node.current(), None);
    let tree = TreeCache::start(&reader, "/app").await.expect("tree cache");
    assert_eq!(tree.children("/app"), ["a"]);
    let mut events = tree.events();

    writer
        .create("/app/config", b"v1", &persistent)
        .await
        .expect("create");
    let mut watched = node.watch();
    within(
        "the node appears",
        watched.wait_for(|n| n.as_ref().is_some_and(|n| &n.data[..] == b"v1")),
    )
    .await
    .expect("watch");
    let added = within("a tree event", events.recv()).await.expect("event");
    assert!(
        matches!(&added, TreeEvent::Added(p, n) if p == "/app/config" && &n.data[..] == b"v1"),
        "{added:?}"
    );

    // Changes made while the reader is cut off show once it is back.
    proxy.pause();
    proxy.drop_connections();
    writer
        .set_data("/app/config", b"v2", None)
        .await
        .expect("set");
    writer
        .create("/app/a/deep", b"x", &persistent)
        .await
        .expect("create");
    writer.delete("/app/a/deep", None).await.expect("delete");
    writer
        .create("/app/b", b"2", &persistent)
        .await
        .expect("create");
    proxy.resume();
    within(
        "the node's new data",
        watched.wait_for(|n| n.as_ref().is_some_and(|n| &n.data[..] == b"v2")),
    )
    .await
    .expect("watch");
    let mut snapshots = tree.watch();
    within(
        "the subtree after the reconnect",
        snapshots.wait_for(|s| s.contains_key("/app/b")),
    )
    .await
    .expect("watch");
    assert_eq!(tree.children("/app"), ["a", "b", "config"]);
    assert_eq!(
        tree.get("/app/config").map(|n| n.data.to_vec()),
        Some(b"v2".to_vec())
    );
    assert!(tree.get("/app/a/deep").is_none());

    writer.delete("/app/config", None).await.expect("delete");
    within("the node goes", watched.wait_for(|n| n.is_none()))
        .await
        .expect("watch");
    within(
        "and leaves the tree",
        snapshots.wait_for(|s| !s.contains_key("/app/config")),
    )
    .await
    .expect("watch");
}

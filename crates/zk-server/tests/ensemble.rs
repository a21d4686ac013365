//! A bundled 3-member ensemble in one process, over real sockets and real disks, with
//! real clients (zk-client): what users rely on when a member dies.
//!
//! - a leader killed under steady writes from several clients loses no acknowledged
//!   write, keeps each client's order, and the register history stays linearizable;
//! - a killed follower rejoins (by DIFF when it can, by snapshot when it is too far
//!   behind) and serves the same data;
//! - an isolated leader steps down, its side refuses writes, the majority goes on;
//! - the whole ensemble restarts from its disks with every acknowledged write;
//! - sessions, ephemerals and watches survive a fail-over; expiry removes ephemerals
//!   everywhere;
//! - garbage on the peer ports closes those connections and nothing else.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use zk_client::{Client, CreateMode, CreateOptions, Error, SessionState};
use zk_server::{Ensemble, Mode};
use zk_testkit::linearizable::{self, RegisterKind, RegisterOp};
use zk_testkit::process_cpu_time;

const WAIT: Duration = Duration::from_secs(30);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "zk_server=warn".into()),
        )
        .with_test_writer()
        .try_init();
}

async fn client(connect: &str) -> Client {
    Client::builder()
        .session_timeout(Duration::from_secs(4))
        .connect(connect)
        .await
        .expect("connect")
}

/// Waits until `f` holds, checking every 20 ms, for at most 30 s.
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes until it succeeds (the ensemble may be electing).
async fn write_until_ok(c: &Client, path: &str, data: &[u8]) -> zk_client::Stat {
    let deadline = Instant::now() + WAIT;
    loop {
        match c.set_data(path, data, None).await {
            Ok(stat) => return stat,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "no write accepted within 30 s: {e}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[derive(Default)]
struct Record {
    /// Per client: the creates acknowledged, in issue order, with their czxid.
    created: BTreeMap<usize, Vec<(String, i64)>>,
    register: Vec<RegisterOp>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_killed_under_writes_loses_no_acknowledged_write() {
    init_tracing();
    let mut ensemble = Ensemble::builder().members(3).start().await.expect("start");
    let setup = client(&ensemble.connect_string()).await;
    setup
        .create("/w", b"", &CreateOptions::persistent())
        .await
        .expect("/w");
    setup
        .create("/r", b"init", &CreateOptions::persistent())
        .await
        .expect("/r");
    let record = Arc::new(Mutex::new(Record::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for k in 0..4usize {
        let c = client(&ensemble.connect_string()).await;
        let record = record.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let path = format!("/w/c{k}-{i}");
                if let Ok((_, stat)) = c.create(&path, b"x", &CreateOptions::persistent()).await {
                    let mut r = record.lock().unwrap();
                    r.created.entry(k).or_default().push((path, stat.czxid));
                }
                let value = format!("c{k}-{i}").into_bytes();
                let invoked = Instant::now();
                let result = c.set_data("/r", &value, None).await;
                let completed = Instant::now();
                record.lock().unwrap().register.push(RegisterOp {
                    client: k,
                    invoked,
                    completed: result.is_ok().then_some(completed),
                    kind: RegisterKind::Write {
                        value,
                        zxid: result.as_ref().ok().map(|s| s.mzxid),
                    },
                });
                let invoked = Instant::now();
                if c.sync("/r").await.is_ok() {
                    if let Ok((data, stat)) = c.get_data("/r").await {
                        record.lock().unwrap().register.push(RegisterOp {
                            client: k,
                            invoked,
                            completed: Some(Instant::now()),
                            kind: RegisterKind::Read {
                                value: data.to_vec(),
                                zxid: stat.mzxid,
                            },
                        });
                    }
                }
                if result.is_err() {
                    // Electing: give the client a moment to reconnect.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }
    let acked = || {
        record
            .lock()
            .unwrap()
            .created
            .values()
            .map(Vec::len)
            .sum::<usize>()
    };
    eventually("writes before the kill", || async { acked() >= 200 }).await;
    let leader = ensemble.leader().await.expect("leader");
    let before = acked();
    ensemble.kill(leader).await;
    eventually("writes after the kill", || async {
        acked() >= before + 200
    })
    .await;
    let new_leader = ensemble.leader().await.expect("a new leader");
    assert_ne!(new_leader, leader);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.expect("writer");
    }
    ensemble.restart(leader).await.expect("restart");
    ensemble.wait_serving(WAIT).await.expect("all serving");

    let record = std::mem::take(&mut *record.lock().unwrap());
    // Every acknowledged create is there, on the member that was killed too.
    let reader = Client::builder()
        .connect(&ensemble.client_addr(leader).to_string())
        .await
        .expect("connect to the restarted member");
    reader.sync("/w").await.expect("sync");
    for (k, created) in &record.created {
        let mut last = 0;
        for (path, czxid) in created {
            let (_, stat) = reader
                .get_data(path)
                .await
                .unwrap_or_else(|e| panic!("acknowledged {path} lost: {e}"));
            assert_eq!(stat.czxid, *czxid, "{path}");
            assert!(*czxid > last, "client {k}'s writes out of order at {path}");
            last = *czxid;
        }
    }
    linearizable::check(&record.register).expect("the register history is linearizable");
    assert!(
        record.register.len() > 400,
        "enough history to mean something"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_follower_catches_up_by_diff_or_by_snapshot() {
    init_tracing();
    let mut ensemble = Ensemble::builder()
        .members(3)
        .history_kept(100)
        .start()
        .await
        .expect("start");
    let leader = ensemble.leader().await.expect("leader");
    let follower = (leader + 1) % 3;
    let c = client(&ensemble.client_addr(leader).to_string()).await;
    // A few missed writes: DIFF.
    ensemble.kill(follower).await;
    for i in 0..30 {
        c.create(&format!("/d{i}"), b"d", &CreateOptions::persistent())
            .await
            .expect("create");
    }
    ensemble.restart(follower).await.expect("restart");
    ensemble.wait_serving(WAIT).await.expect("serving");
    let on_follower = client(&ensemble.client_addr(follower).to_string()).await;
    on_follower.sync("/").await.expect("sync");
    assert_eq!(
        on_follower.get_data("/d29").await.expect("d29").0,
        &b"d"[..]
    );
    // More missed writes than the leader keeps: SNAP.
    ensemble.kill(follower).await;
    for i in 0..300 {
        c.create(&format!("/s{i}"), b"s", &CreateOptions::persistent())
            .await
            .expect("create");
    }
    ensemble.restart(follower).await.expect("restart");
    ensemble.wait_serving(WAIT).await.expect("serving");
    let on_follower = client(&ensemble.client_addr(follower).to_string()).await;
    on_follower.sync("/").await.expect("sync");
    assert_eq!(
        on_follower.get_children("/").await.expect("ls /").len(),
        331
    );
    // The snapshot it took is durable: it comes back from its own disk alone.
    let zxid = ensemble
        .member(follower)
        .unwrap()
        .snapshot()
        .await
        .unwrap()
        .last_zxid;
    ensemble.kill(follower).await;
    ensemble.restart(follower).await.expect("restart");
    ensemble.wait_serving(WAIT).await.expect("serving");
    let after = ensemble.member(follower).unwrap().snapshot().await.unwrap();
    assert!(after.last_zxid >= zxid);
    // The root, its 331 children, /zookeeper/quota and /zookeeper/config, and Apache's
    // root alias.
    assert_eq!(after.znodes, 1 + 331 + 2 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_steps_down_and_its_side_refuses_writes() {
    init_tracing();
    let ensemble = Ensemble::builder().members(3).start().await.expect("start");
    let leader = ensemble.leader().await.expect("leader");
    let on_old_leader = Client::builder()
        .session_timeout(Duration::from_secs(4))
        .connect(&ensemble.client_addr(leader).to_string())
        .await
        .expect("connect");
    on_old_leader
        .create("/before", b"", &CreateOptions::persistent())
        .await
        .expect("create");
    ensemble.isolate(leader, true).await.expect("isolate");
    // The old leader notices it lost its quorum and stops serving.
    eventually("the isolated leader to step down", || async {
        ensemble.mode(leader).await == Some(Mode::NotServing)
    })
    .await;
    // Its side refuses writes: its client is disconnected and cannot reconnect there.
    let refused = on_old_leader
        .create("/minority", b"", &CreateOptions::persistent())
        .await;
    assert!(refused.is_err(), "a write on the minority side must fail");
    // The majority elects a new leader and takes writes.
    let majority: Vec<String> = (0..3)
        .filter(|&i| i != leader)
        .map(|i| ensemble.client_addr(i).to_string())
        .collect();
    let c = client(&majority.join(",")).await;
    write_until_ok(&c, "/before", b"majority").await;
    let new_leader = ensemble.leader().await.expect("new leader");
    assert_ne!(new_leader, leader);
    // Healed, the old leader follows the new one and has the majority's data.
    ensemble.isolate(leader, false).await.expect("heal");
    ensemble.wait_serving(WAIT).await.expect("serving");
    assert_eq!(ensemble.mode(leader).await, Some(Mode::Follower));
    let back = client(&ensemble.client_addr(leader).to_string()).await;
    back.sync("/").await.expect("sync");
    assert_eq!(
        back.get_data("/before").await.expect("get").0,
        &b"majority"[..]
    );
    assert!(matches!(back.exists("/minority").await, Ok(None)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_ensemble_restarts_from_its_disks() {
    init_tracing();
    let mut ensemble = Ensemble::builder().members(3).start().await.expect("start");
    let c = client(&ensemble.connect_string()).await;
    let mut acked = Vec::new();
    for i in 0..100 {
        let (path, _) = c
            .create(
                "/seq-",
                format!("{i}").as_bytes(),
                &CreateOptions::new(CreateMode::PersistentSequential),
            )
            .await
            .expect("create");
        acked.push(path);
    }
    drop(c);
    for i in 0..3 {
        ensemble.kill(i).await;
    }
    for i in 0..3 {
        ensemble.restart(i).await.expect("restart");
    }
    ensemble.wait_serving(WAIT).await.expect("serving");
    let c = client(&ensemble.connect_string()).await;
    for (i, path) in acked.iter().enumerate() {
        let (data, _) = c.get_data(path).await.expect("acknowledged write kept");
        assert_eq!(data, format!("{i}").as_bytes());
    }
    // And the ensemble takes writes again, in a new epoch.
    let (_, stat) = c
        .create("/after", b"", &CreateOptions::persistent())
        .await
        .expect("write after restart");
    assert!(stat.czxid >> 32 >= 2, "a new epoch: {:#x}", stat.czxid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_ephemerals_and_watches_survive_a_fail_over() {
    init_tracing();
    let mut ensemble = Ensemble::builder().members(3).start().await.expect("start");
    let leader = ensemble.leader().await.expect("leader");
    let follower = (leader + 1) % 3;
    // A client on a follower, which will move when its member... stays; the leader dies.
    let c = Client::builder()
        .session_timeout(Duration::from_secs(4))
        .connect(&format!(
            "{},{}",
            ensemble.client_addr(follower),
            ensemble.client_addr((leader + 2) % 3)
        ))
        .await
        .expect("connect");
    let session = c.session_id();
    c.create("/eph", b"", &CreateOptions::new(CreateMode::Ephemeral))
        .await
        .expect("ephemeral");
    c.create("/watched", b"1", &CreateOptions::persistent())
        .await
        .expect("create");
    let (_, _, watch) = c.get_and_watch_data("/watched").await.expect("watch");
    ensemble.kill(leader).await;
    // The session lives on: same id, its ephemeral still there, its watch still armed.
    let other = client(&ensemble.client_addr((leader + 2) % 3).to_string()).await;
    write_until_ok(&other, "/watched", b"2").await;
    let event = tokio::time::timeout(WAIT, watch)
        .await
        .expect("the watch fires after the fail-over");
    assert_eq!(event.path, "/watched");
    eventually("the client to be connected", || async {
        c.state() == SessionState::Connected
    })
    .await;
    assert_eq!(c.session_id(), session);
    assert!(other.exists("/eph").await.expect("exists").is_some());
    // Closing the session removes its ephemeral on every member.
    c.close().await.expect("close");
    for i in (0..3).filter(|&i| i != leader) {
        let r = client(&ensemble.client_addr(i).to_string()).await;
        r.sync("/").await.expect("sync");
        assert!(
            r.exists("/eph").await.expect("exists").is_none(),
            "member {i}"
        );
    }
    // Expiry too (only the leader expires sessions): its ephemerals go everywhere.
    ensemble.restart(leader).await.expect("restart");
    ensemble.wait_serving(WAIT).await.expect("serving");
    let doomed = client(&ensemble.client_addr(leader).to_string()).await;
    doomed
        .create("/eph2", b"", &CreateOptions::new(CreateMode::Ephemeral))
        .await
        .expect("ephemeral");
    let current = ensemble.leader().await.expect("leader");
    assert!(ensemble
        .member(current)
        .unwrap()
        .expire_session(doomed.session_id())
        .await
        .expect("expire"));
    for i in 0..3 {
        let r = client(&ensemble.client_addr(i).to_string()).await;
        r.sync("/").await.expect("sync");
        assert!(
            r.exists("/eph2").await.expect("exists").is_none(),
            "member {i}"
        );
    }
    assert!(matches!(
        doomed.exists("/").await,
        Err(Error::SessionExpired)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_peer_ports_closes_only_that_connection() {
    init_tracing();
    let ensemble = Ensemble::builder().members(3).start().await.expect("start");
    let leader = ensemble.leader().await.expect("leader");
    let conf = ensemble
        .member(leader)
        .unwrap()
        .four_letter("conf")
        .await
        .expect("conf");
    let port_of = |key: &str| -> u16 {
        conf.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .expect("port in conf")
    };
    let (quorum, election) = (port_of("quorumPort="), port_of("electionPort="));
    let payloads: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        vec![0xff; 4096],
        // A length that claims 2 GiB.
        vec![0x7f, 0xff, 0xff, 0xff, 1, 2, 3],
        // A well-formed election hello from an unknown id.
        [b"ZKEL".to_vec(), vec![0, 1], 99u64.to_be_bytes().to_vec()].concat(),
        // A FOLLOWERINFO from an unknown id.
        [
            vec![0, 0, 0, 13, 11],
            99u64.to_be_bytes().to_vec(),
            vec![0, 0, 0, 1],
        ]
        .concat(),
    ];
    for port in [quorum, election] {
        for bytes in &payloads {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            let _ = s.write_all(bytes).await;
            // The member closes it (reading gets EOF or an error), soon.
            let mut buf = [0u8; 64];
            let closed = tokio::time::timeout(WAIT, async {
                loop {
                    match tokio::io::AsyncReadExt::read(&mut s, &mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            })
            .await;
            assert!(closed.is_ok(), "port {port} kept a garbage connection open");
        }
    }
    // Nothing else noticed: same leader, and writes work.
    assert_eq!(ensemble.leader().await.expect("leader"), leader);
    let c = client(&ensemble.connect_string()).await;
    c.create("/still-fine", b"", &CreateOptions::persistent())
        .await
        .expect("write");
    for i in 0..3 {
        assert!(matches!(
            ensemble.mode(i).await,
            Some(Mode::Leader | Mode::Follower)
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_members_sleep_between_their_deadlines() {
    init_tracing();
    // A short container check interval: every member must move its deadline on, not
    // only the leader that runs the check (a follower that did not spun on a deadline
    // in the past).
    let ensemble = Ensemble::builder()
        .members(3)
        .configure(|b| b.container_check_interval(Duration::from_millis(50)))
        .start()
        .await
        .expect("start");
    let before = process_cpu_time();
    let wall = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let busy = process_cpu_time() - before;
    // Three idle members ping and check containers: far below one core's worth.
    assert!(
        busy < wall.elapsed() / 4,
        "idle members used {busy:?} of CPU in {:?}",
        wall.elapsed()
    );
    drop(ensemble);
}

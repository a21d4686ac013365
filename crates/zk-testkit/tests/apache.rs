//! Integration tests against real Apache ZooKeeper JVMs (via scripts/zk-apache.sh).

use std::time::{Duration, Instant};

use zk_testkit::{ApacheZk, Mode, TestkitError};

fn process_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit_once(") ").unwrap().1.starts_with('Z'))
        .unwrap_or(false)
}

#[tokio::test]
async fn single_server_answers_ruok_and_drop_kills_it() {
    let started = Instant::now();
    let zk = ApacheZk::single().await.unwrap();
    eprintln!("single server started in {:?}", started.elapsed());

    assert_eq!(zk.members(), 1);
    assert_eq!(zk.four_letter(0, "ruok").await.unwrap(), "imok");
    assert_eq!(zk.mode(0).await.unwrap(), Mode::Standalone);
    assert_eq!(zk.leader_index().await.unwrap(), 0);
    let addr = zk.client_addr(0);
    assert_eq!(zk.connect_string(), format!("127.0.0.1:{}", addr.port()));
    let srvr = zk.four_letter(0, "srvr").await.unwrap();
    assert!(srvr.contains("Node count: 5"), "{srvr}");
    assert!(matches!(
        zk.four_letter(1, "ruok").await,
        Err(TestkitError::NoSuchMember {
            index: 1,
            members: 1
        })
    ));

    let pids = zk.pids().unwrap();
    assert_eq!(pids.len(), 1);
    assert!(process_running(pids[0]));
    let dir = zk.dir().to_path_buf();
    drop(zk);
    assert!(
        !process_running(pids[0]),
        "JVM {} outlived ApacheZk",
        pids[0]
    );
    assert!(!dir.exists(), "temporary directory not removed");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "something still listens on {addr}"
    );
}

#[tokio::test]
async fn panicking_test_still_kills_its_jvms() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let zk = ApacheZk::single().await.unwrap();
        tx.send(zk.pids().unwrap()).unwrap();
        panic!("simulated test failure");
    });
    assert!(task.await.unwrap_err().is_panic());
    let pids = rx.await.unwrap();
    for pid in pids {
        assert!(!process_running(pid), "JVM {pid} outlived a panicking test");
    }
}

#[tokio::test]
async fn tick_time_option_reaches_the_server() {
    let zk = ApacheZk::options(1)
        .tick_time(Duration::from_millis(500))
        .start()
        .await
        .unwrap();
    let conf = zk.four_letter(0, "conf").await.unwrap();
    assert!(conf.lines().any(|l| l == "tickTime=500"), "{conf}");
    assert!(
        conf.lines().any(|l| l == "minSessionTimeout=1000"),
        "{conf}"
    );
    zk.stop().await.unwrap();
    assert!(zk.four_letter(0, "ruok").await.is_err());
}

#[tokio::test]
async fn ensemble_follower_can_be_killed_and_restarted() {
    let started = Instant::now();
    let zk = ApacheZk::ensemble(3).await.unwrap();
    eprintln!("3-member ensemble started in {:?}", started.elapsed());
    assert_eq!(zk.members(), 3);
    assert_eq!(zk.connect_string().split(',').count(), 3);

    let leader = zk.leader_index().await.unwrap();
    assert_eq!(zk.mode(leader).await.unwrap(), Mode::Leader);
    let mut modes = Vec::new();
    for i in 0..3 {
        modes.push(zk.mode(i).await.unwrap());
    }
    assert_eq!(modes.iter().filter(|m| **m == Mode::Follower).count(), 2);

    let follower = (leader + 1) % 3;
    zk.kill(follower).await.unwrap();
    assert!(zk.four_letter(follower, "ruok").await.is_err());
    // The remaining two still form a quorum with the same leader.
    assert_eq!(zk.mode(leader).await.unwrap(), Mode::Leader);

    let restarted = Instant::now();
    zk.restart(follower).await.unwrap();
    eprintln!("follower restarted in {:?}", restarted.elapsed());
    assert_eq!(zk.four_letter(follower, "ruok").await.unwrap(), "imok");
    assert_eq!(zk.mode(follower).await.unwrap(), Mode::Follower);

    // Killing the leader triggers an election among the others.
    zk.kill(leader).await.unwrap();
    let new_leader = zk.leader_index().await.unwrap();
    assert_ne!(new_leader, leader);
    zk.restart(leader).await.unwrap();
    assert_eq!(zk.mode(leader).await.unwrap(), Mode::Follower);

    let pids = zk.pids().unwrap();
    drop(zk);
    for pid in pids {
        assert!(!process_running(pid), "JVM {pid} outlived ApacheZk");
    }
}

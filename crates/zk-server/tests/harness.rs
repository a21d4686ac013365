//! The embedding and test-harness API: start in-process on a free port, expire a session,
//! drop every connection, read counters, ask four-letter words.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_client::{Client, CreateOptions, EventType, SessionState};
use zk_server::ServerHandle;

async fn client(server: &ServerHandle) -> Client {
    Client::builder()
        .session_timeout(Duration::from_secs(6))
        .connect(&server.connect_string())
        .await
        .unwrap()
}

async fn wait_state(c: &Client, want: SessionState) {
    let mut rx = c.state_watcher();
    tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|s| *s == want))
        .await
        .unwrap_or_else(|_| panic!("state {want:?} not reached"))
        .unwrap();
}

#[tokio::test]
async fn expire_session_ends_it_like_a_timeout() {
    let server = ServerHandle::builder().port(0).start().await.unwrap();
    let victim = client(&server).await;
    let observer = client(&server).await;
    victim
        .create("/e", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let (_, watch) = observer.exists_and_watch("/e").await.unwrap();
    assert!(server.expire_session(victim.session_id()).await.unwrap());
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), watch)
            .await
            .unwrap()
            .event_type,
        EventType::NodeDeleted
    );
    wait_state(&victim, SessionState::Expired).await;
    assert!(!server.expire_session(victim.session_id()).await.unwrap());
    let snap = server.snapshot().await.unwrap();
    assert_eq!(snap.stats.sessions_expired, 1);
    assert!(!snap.sessions.contains(&victim.session_id()));
}

#[tokio::test]
async fn drop_connections_keeps_sessions_alive() {
    let server = ServerHandle::builder().port(0).start().await.unwrap();
    let c = client(&server).await;
    let id = c.session_id();
    c.create("/e", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    server.drop_connections().await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), async {
        while c.metrics().disconnects == 0 || !c.state().is_connected() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("reconnected");
    assert_eq!(c.session_id(), id);
    assert!(c.exists("/e").await.unwrap().is_some());
}

#[tokio::test]
async fn idle_sessions_expire_after_their_timeout() {
    let server = ServerHandle::builder()
        .port(0)
        .tick_time(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let observer = client(&server).await;
    // A raw connection that makes a session, then goes silent (no pings).
    let mut raw = TcpStream::connect(server.addr()).await.unwrap();
    let mut frame = bytes::BytesMut::new();
    zk_proto::frame::write_frame(&mut frame, |b| {
        zk_proto::Encode::encode(&zk_proto::ConnectRequest::new_session(200), b)
    });
    raw.write_all(&frame).await.unwrap();
    let mut buf = [0u8; 41];
    raw.read_exact(&mut buf).await.unwrap();
    let timeout = i32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
    // Clamped to the minimum of 2 ticks.
    assert_eq!(timeout, 200);
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let snap = server.snapshot().await.unwrap();
            if snap.stats.sessions_expired == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("silent session expired");
    // The expired session's connection was closed.
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut rest))
        .await
        .expect("closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(observer.exists("/").await.unwrap().is_some());
}

async fn four(addr: std::net::SocketAddr, word: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(word.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn four_letter_words_follow_apaches_formats_and_allow_list() {
    let server = ServerHandle::builder()
        .port(0)
        .four_letter_words(vec!["*".into()])
        .start()
        .await
        .unwrap();
    let c = client(&server).await;
    c.create("/w", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let _watch = c.get_and_watch_data("/w").await.unwrap();
    let addr = server.addr();
    assert_eq!(four(addr, "ruok").await, "imok");
    assert_eq!(four(addr, "isro").await, "rw");
    let srvr = four(addr, "srvr").await;
    for line in [
        "Zookeeper version: ",
        "Latency min/avg/max: ",
        "Received: ",
        "Sent: ",
        "Connections: 1",
        "Outstanding: 0",
        "Zxid: 0x",
        "Mode: standalone",
        "Node count: 6",
    ] {
        assert!(srvr.contains(line), "srvr lacks {line:?}:\n{srvr}");
    }
    let stat = four(addr, "stat").await;
    assert!(stat.contains("Clients:\n /127.0.0.1:"), "{stat}");
    let cons = four(addr, "cons").await;
    assert!(
        cons.contains(&format!("sid=0x{:x}", c.session_id())),
        "{cons}"
    );
    let mntr = four(addr, "mntr").await;
    for key in [
        "zk_version\t",
        "zk_server_state\tstandalone",
        "zk_znode_count\t6",
        "zk_ephemerals_count\t1",
        "zk_watch_count\t1",
        "zk_num_alive_connections\t1",
    ] {
        assert!(mntr.contains(key), "mntr lacks {key:?}:\n{mntr}");
    }
    assert!(four(addr, "conf").await.contains("tickTime=2000"));
    assert!(four(addr, "wchs")
        .await
        .contains("1 connections watching 1 paths"));
    let restricted = ServerHandle::builder().port(0).start().await.unwrap();
    assert_eq!(
        four(restricted.addr(), "ruok").await,
        "ruok is not executed because it is not in the whitelist.\n"
    );
    assert!(four(restricted.addr(), "srvr")
        .await
        .starts_with("Zookeeper version: "));
}

//! Durability with `--data-dir`: the server process is killed mid-load and restarted on
//! the same directory; every write it acknowledged is there afterwards, and sessions whose
//! clients come back within their timeout keep their ephemeral nodes.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use zk_client::{Client, CreateMode, CreateOptions};
use zk_server::ServerHandle;

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("zkmesh-durable-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start(dir: &std::path::Path, port: u16) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zk-server"))
        .args([
            "--address",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--tick-time",
            "500",
        ])
        .args(["--data-dir", dir.to_str().unwrap(), "--snap-count", "150"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn zk-server");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("zk-server ready") {
                if let Some(a) = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("addr="))
                {
                    return a.to_owned();
                }
            }
        }
        panic!("zk-server exited before it was ready");
    })
    .await
    .expect("ready in time");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_load_loses_no_acknowledged_write() {
    let dir = TempDir::new("kill");
    let (mut server, addr) = start(&dir.0, 0).await;
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();

    let acked: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
    for round in 0..3 {
        let writer = Client::builder()
            .session_timeout(Duration::from_secs(10))
            .connect(&addr)
            .await
            .unwrap();
        writer
            .create(&format!("/r{round}"), b"", &CreateOptions::persistent())
            .await
            .unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let writer = writer.clone();
                let acked = acked.clone();
                tokio::spawn(async move {
                    let seq = CreateOptions::new(CreateMode::PersistentSequential);
                    for i in 0..10_000u32 {
                        let data = format!("{round}-{t}-{i}").into_bytes();
                        match writer.create(&format!("/r{round}/n-"), &data, &seq).await {
                            Ok((path, _)) => {
                                acked.lock().unwrap().insert(path, data);
                            }
                            Err(_) => return, // the server died under us
                        }
                    }
                })
            })
            .collect();
        // Let the load run, then kill the server in the middle of it.
        let target = acked.lock().unwrap().len() + 300;
        tokio::time::timeout(Duration::from_secs(60), async {
            while acked.lock().unwrap().len() < target {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("writes progress");
        server.start_kill().unwrap();
        server.wait().await.unwrap();
        for t in tasks {
            let _ = t.await;
        }
        drop(writer);
        let restarted = start(&dir.0, port).await;
        server = restarted.0;

        let reader = Client::connect(&addr).await.unwrap();
        let expected = acked.lock().unwrap().clone();
        for (path, data) in &expected {
            let (got, _) = reader
                .get_data(path)
                .await
                .unwrap_or_else(|e| panic!("acknowledged {path} lost after kill #{round}: {e}"));
            assert_eq!(&got[..], &data[..], "{path}");
        }
        reader.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_survives_a_restart_within_its_timeout() {
    let dir = TempDir::new("session");
    let (mut server, addr) = start(&dir.0, 0).await;
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let client = Client::builder()
        .session_timeout(Duration::from_secs(10))
        .connect(&addr)
        .await
        .unwrap();
    let id = client.session_id();
    client
        .create("/eph", b"e", &CreateOptions::ephemeral())
        .await
        .unwrap();
    client
        .create("/p", b"p", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, watch) = client.get_and_watch_data("/p").await.unwrap();
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    let (_server, _) = start(&dir.0, port).await;
    let mut state = client.state_watcher();
    tokio::time::timeout(
        Duration::from_secs(20),
        state.wait_for(|s| *s == zk_client::SessionState::Connected),
    )
    .await
    .expect("reconnected")
    .unwrap();
    assert_eq!(client.session_id(), id);
    assert!(client.exists("/eph").await.unwrap().is_some());
    let other = Client::connect(&addr).await.unwrap();
    other.set_data("/p", b"changed", None).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(10), watch)
        .await
        .unwrap();
    assert_eq!(ev.event_type, zk_client::EventType::NodeDataChanged);
}

#[tokio::test]
async fn an_embedded_server_recovers_its_data_directory() {
    let dir = TempDir::new("embedded");
    let server = ServerHandle::builder()
        .port(0)
        .data_dir(&dir.0)
        .snap_count(10)
        .start()
        .await
        .unwrap();
    let c = Client::connect(&server.connect_string()).await.unwrap();
    for i in 0..25 {
        c.create(
            &format!("/n{i}"),
            format!("{i}").as_bytes(),
            &CreateOptions::persistent(),
        )
        .await
        .unwrap();
    }
    c.set_data("/n3", b"three", None).await.unwrap();
    c.close().await.unwrap();
    server.shutdown().await;
    let server = ServerHandle::builder()
        .port(0)
        .data_dir(&dir.0)
        .start()
        .await
        .unwrap();
    let c = Client::connect(&server.connect_string()).await.unwrap();
    assert_eq!(c.get_all_children_number("/").await.unwrap(), 25 + 3);
    let (data, stat) = c.get_data("/n3").await.unwrap();
    assert_eq!((&data[..], stat.version), (&b"three"[..], 1));
    let snapshots = std::fs::read_dir(dir.0.join("zkmesh"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("snapshot."))
        })
        .count();
    assert!(snapshots >= 1);
}

//! The `zk-server` binary: flags and zoo.cfg are honoured, it says when it is ready, serves
//! real clients and four-letter words, and stops cleanly on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use zk_client::{Client, CreateOptions};

async fn start(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zk-server"))
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn zk-server");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("zk-server ready") {
                let addr = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("addr="))
                    .map(|a| a.trim_matches(|c: char| !c.is_ascii_digit() && c != '.' && c != ':'))
                    .expect("address in the ready line")
                    .to_owned();
                return addr;
            }
        }
        panic!("zk-server exited before it was ready");
    })
    .await
    .expect("ready line within 20 s");
    // Keep draining the log so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

async fn four_letter(addr: &str, word: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(word.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

fn sigterm(child: &Child) {
    let pid = child.id().expect("pid") as i32;
    // `kill` from the shell keeps the test free of libc.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[tokio::test]
async fn serves_clients_and_four_letter_words_then_stops_on_sigterm() {
    let (mut child, addr) = start(&[
        "--port",
        "0",
        "--address",
        "127.0.0.1",
        "--4lw",
        "ruok,srvr",
        "--tick-time",
        "500",
    ])
    .await;
    assert_eq!(four_letter(&addr, "ruok").await, "imok");
    assert!(four_letter(&addr, "srvr")
        .await
        .contains("Mode: standalone"));
    assert_eq!(
        four_letter(&addr, "mntr").await,
        "mntr is not executed because it is not in the whitelist.\n"
    );
    let client = Client::builder()
        .session_timeout(Duration::from_secs(60))
        .connect(&addr)
        .await
        .unwrap();
    // The server clamps the session timeout to 20 ticks.
    assert_eq!(client.negotiated_timeout(), Duration::from_secs(10));
    client
        .create("/x", b"y", &CreateOptions::persistent())
        .await
        .unwrap();
    sigterm(&child);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exit within 20 s")
        .expect("wait");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn reads_apache_zoo_cfg() {
    let dir = std::env::temp_dir().join(format!("zk-server-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("zoo.cfg");
    std::fs::write(
        &cfg,
        "tickTime=300\nclientPort=0\nclientPortAddress=127.0.0.1\ninitLimit=10\nsyncLimit=5\n\
         maxSessionTimeout=1500\n4lw.commands.whitelist=*\n",
    )
    .unwrap();
    let (child, addr) = start(&["--config", cfg.to_str().unwrap()]).await;
    let conf = four_letter(&addr, "conf").await;
    assert!(conf.contains("tickTime=300"), "{conf}");
    assert!(conf.contains("minSessionTimeout=600"), "{conf}");
    assert!(conf.contains("maxSessionTimeout=1500"), "{conf}");
    drop(child);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn refuses_bad_configuration_with_a_clear_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_zk-server"))
        .args(["--tick-time", "soon"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tickTime=\"soon\" is not valid"), "{err}");
}

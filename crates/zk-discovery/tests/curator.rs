//! Interoperation with Apache Curator itself: an instance registered by Curator's
//! `ServiceDiscovery` shows up in our cache with its payload, and an instance we register
//! is returned by Curator's `queryForInstances` — against zk-server and Apache ZooKeeper.
//! The Java side is compiled from `tests/java/CuratorDiscovery.java` with Debian's
//! `libcurator-discovery-java` (installed by `scripts/test.sh`).

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use zk_discovery::{ServiceDiscovery, ServiceInstance};

/// Curator's service discovery and what it needs, as Debian names the jars.
const JARS: [&str; 11] = [
    "curator-x-discovery",
    "curator-framework",
    "curator-client",
    "zookeeper",
    "zookeeper-jute",
    "guava",
    "jackson-annotations",
    "jackson-core",
    "jackson-databind",
    "slf4j-api",
    "slf4j-nop",
];

/// Compiles the Java driver once per test process; its class path.
fn compiled() -> String {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH
        .get_or_init(|| {
            let src =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/java/CuratorDiscovery.java");
            zk_testkit::java::compile(&src, &JARS).unwrap_or_else(|e| panic!("javac: {e}"))
        })
        .clone()
}

fn java(args: &[&str]) -> Command {
    let mut cmd = Command::new("java");
    cmd.arg("-cp")
        .arg(compiled())
        .arg("CuratorDiscovery")
        .args(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn curator_registration_is_seen_by_our_cache(server: Server) {
    let connect = server.connect_string();
    let ours = ServiceDiscovery::connect(&connect).await.unwrap();
    let cache = ours.cache("java-svc").await.unwrap();
    let mut child = java(&[&connect, "register", "java-svc", "j1", "10.1.1.1", "7000"])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = within("curator registered", lines.next_line())
        .await
        .unwrap();
    assert_eq!(line.as_deref(), Some("registered"));
    eventually("curator instance in our cache", || {
        cache.instances().get("j1").is_some()
    })
    .await;
    let snap = cache.instances();
    let i = snap.get("j1").unwrap();
    assert_eq!((i.address.as_str(), i.port), ("10.1.1.1", Some(7000)));
    let routing = i.routing();
    assert_eq!(routing.zone.as_deref(), Some("java-zone"));
    assert_eq!(routing.version.as_deref(), Some("1.0"));
    // Closing Curator's side unregisters: our cache sees it go.
    drop(child.stdin.take());
    within("curator exit", child.wait()).await.unwrap();
    eventually("curator instance gone", || {
        cache.instances().get("j1").is_none()
    })
    .await;
}

async fn our_registration_is_returned_by_curator(server: Server) {
    let connect = server.connect_string();
    let ours = ServiceDiscovery::connect(&connect).await.unwrap();
    ours.register(
        ServiceInstance::new("rust-svc", "10.2.2.2", 8000)
            .with_id("r1")
            .with_payload(serde_json::json!({"zone": "rust-zone"})),
    )
    .await
    .unwrap();
    let out = within(
        "curator query",
        java(&[&connect, "query", "rust-svc"]).output(),
    )
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("instance r1 10.2.2.2 8000 {zone=rust-zone}"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("done"));
}

#[tokio::test]
async fn curator_to_us_on_bundled() {
    curator_registration_is_seen_by_our_cache(Server::bundled().await).await;
}

#[tokio::test]
async fn curator_to_us_on_apache() {
    curator_registration_is_seen_by_our_cache(Server::apache().await).await;
}

#[tokio::test]
async fn us_to_curator_on_bundled() {
    our_registration_is_returned_by_curator(Server::bundled().await).await;
}

#[tokio::test]
async fn us_to_curator_on_apache() {
    our_registration_is_returned_by_curator(Server::apache().await).await;
}

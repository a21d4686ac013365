//! Apache Curator 5.4 (Debian's `libcurator-recipes-java`) and zk-recipes on the same
//! paths, on Apache ZooKeeper 3.8 and on a 3-member zk-server ensemble: a Java process and
//! Rust tasks take turns at a mutex, a write lock and a one-lease semaphore, each holder
//! incrementing a shared counter non-atomically (a lost update would show two holders at
//! once), while the Rust side's connection is cut and its session expired; and a Java and
//! two Rust candidates share one leader latch.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use zk_client::{Client, CreateOptions, Error as ZkError, ManagedClient};
use zk_recipes::{
    InterProcessMutex, InterProcessReadWriteLock, InterProcessSemaphoreV2, LeaderLatch, Leadership,
    LockState, RecipeError,
};
use zk_testkit::{ApacheZk, FaultProxy, Servers};

const WAIT: Duration = Duration::from_secs(90);

/// Compiles the Java side; its class path.
fn compile() -> String {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/java/CuratorContender.java");
    zk_testkit::java::compile(&source, zk_testkit::java::CURATOR_JARS)
        .expect("the Java side compiles")
}

/// The Java side, read line by line.
struct Java {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Java {
    fn start(classpath: &str, args: &[&str]) -> Java {
        let mut child = Command::new("java")
            .arg("-cp")
            .arg(classpath)
            .arg("CuratorContender")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("java starts");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Java { child, lines }
    }

    /// The next line that starts with `prefix`.
    async fn expect(&mut self, prefix: &str) -> String {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.lines.next_line().await.expect("read java") {
                    Some(line) if line.starts_with(prefix) => return line,
                    Some(_) => {}
                    None => panic!("java ended before {prefix:?}"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {prefix:?} from java within {WAIT:?}"))
    }

    async fn poke(&mut self) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(b"go\n").await.expect("write");
        stdin.flush().await.expect("flush");
    }
}

async fn servers(servers: Servers) -> ApacheZk {
    let members = if servers == Servers::Apache { 1 } else { 3 };
    ApacheZk::options(members)
        .tick_time(Duration::from_millis(200))
        .servers(servers)
        .expect("servers")
        .start()
        .await
        .expect("servers start")
}

#[derive(Clone, Copy, Debug)]
enum Recipe {
    Mutex,
    Write,
    Semaphore,
}

/// What a Rust contender's rounds came to.
#[derive(Default)]
struct Tally {
    applied: AtomicUsize,
    /// Writes whose outcome a connection loss hid.
    unknown: AtomicUsize,
}

/// One Rust contender: `rounds` increments under `recipe`, through `session`.
async fn rust_rounds(
    session: ManagedClient,
    recipe: Recipe,
    path: &str,
    rounds: usize,
    tally: Arc<Tally>,
) {
    let mut done = 0;
    while done < rounds {
        // Each holder: the session holding it, and whatever must be released.
        let held = match recipe {
            Recipe::Mutex => InterProcessMutex::new(&session, path)
                .expect("mutex")
                .lock()
                .await
                .map(Holder::Lock),
            Recipe::Write => InterProcessReadWriteLock::new(&session, path)
                .expect("rw")
                .write_lock()
                .lock()
                .await
                .map(Holder::Lock),
            Recipe::Semaphore => InterProcessSemaphoreV2::new(&session, path, 1)
                .expect("semaphore")
                .acquire()
                .await
                .map(Holder::Lease),
        };
        let holder = match held {
            Ok(h) => h,
            // The session ended or the connection stayed away: try again (a managed
            // client makes a new session).
            Err(
                RecipeError::SessionEnded(_) | RecipeError::ZooKeeper(_) | RecipeError::NodeLost(_),
            ) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => panic!("{recipe:?}: {e}"),
        };
        done += 1;
        let client = holder.client().clone();
        // No in-process "one holder at a time" check here: a holder cut off by the proxy
        // may still be in its section when its session expires and the other takes over
        // (a lock is a lease). What must hold is that its writes then fail (the server
        // refuses an expired session's requests), which the counter shows.
        if holder.held() {
            if let Ok((data, _)) = client.get_data("/counter").await {
                let n: u64 = std::str::from_utf8(&data)
                    .expect("utf8")
                    .parse()
                    .expect("number");
                tokio::time::sleep(Duration::from_millis(1)).await;
                match client
                    .set_data("/counter", (n + 1).to_string().as_bytes(), None)
                    .await
                {
                    Ok(_) => tally.applied.fetch_add(1, Ordering::SeqCst),
                    Err(ZkError::ConnectionLoss | ZkError::RequestTimeout) => {
                        tally.unknown.fetch_add(1, Ordering::SeqCst)
                    }
                    Err(_) => 0,
                };
            }
        }
        holder.release().await;
    }
}

enum Holder {
    Lock(zk_recipes::LockGuard),
    Lease(zk_recipes::Lease),
}

impl Holder {
    fn client(&self) -> &Client {
        match self {
            Holder::Lock(g) => g.client(),
            Holder::Lease(l) => l.client(),
        }
    }

    fn held(&self) -> bool {
        match self {
            Holder::Lock(g) => g.state() == LockState::Held,
            Holder::Lease(_) => self.client().state().is_connected(),
        }
    }

    async fn release(self) {
        let _ = match self {
            Holder::Lock(g) => g.release().await,
            Holder::Lease(l) => l.release().await,
        };
    }
}

async fn exclusion_across_curator_and_rust(servers_kind: Servers) {
    let classpath = compile();
    let zk = servers(servers_kind).await;
    let hosts = zk.connect_string().to_owned();
    let admin = Client::connect(&hosts).await.expect("admin");
    for (recipe, java_name, path) in [
        (Recipe::Mutex, "mutex", "/interop/mutex"),
        (Recipe::Write, "write", "/interop/rw"),
        (Recipe::Semaphore, "semaphore", "/interop/semaphore"),
    ] {
        match admin
            .create("/counter", b"0", &CreateOptions::persistent())
            .await
        {
            Ok(_) => {}
            Err(ZkError::NodeExists) => {
                admin.set_data("/counter", b"0", None).await.expect("reset");
            }
            Err(e) => panic!("counter: {e}"),
        }
        let mut java = Java::start(
            &classpath,
            &["count", &hosts, java_name, path, "/counter", "100"],
        );
        java.expect("ready").await;

        // One Rust contender connects directly, the other through a proxy that cuts its
        // connection now and then and, once, long enough for its session to expire.
        let proxy = Arc::new(FaultProxy::start(zk.client_addr(0)).await.expect("proxy"));
        let builder = Client::builder().session_timeout(Duration::from_millis(1600));
        let faulty = ManagedClient::connect(builder, &proxy.addr().to_string())
            .await
            .expect("managed");
        let steady = ManagedClient::connect(Client::builder(), &hosts)
            .await
            .expect("managed");
        let first_session = faulty.client().session_id();
        let tally = Arc::new(Tally::default());
        let rust: Vec<_> = [faulty.clone(), steady.clone()]
            .into_iter()
            .map(|session| tokio::spawn(rust_rounds(session, recipe, path, 50, tally.clone())))
            .collect();
        let faults = {
            let proxy = proxy.clone();
            tokio::spawn(async move {
                for _ in 0..3 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    proxy.drop_connections();
                }
                proxy.pause();
                proxy.drop_connections();
                tokio::time::sleep(Duration::from_millis(3000)).await;
                proxy.resume();
            })
        };
        tokio::time::timeout(WAIT, async {
            for task in rust {
                task.await.expect("rust contender");
            }
            faults.await.expect("faults");
            java.expect("done").await;
        })
        .await
        .unwrap_or_else(|_| panic!("{recipe:?}: contenders did not finish within {WAIT:?}"));

        let (data, _) = admin.get_data("/counter").await.expect("counter");
        let value: usize = std::str::from_utf8(&data)
            .expect("utf8")
            .parse()
            .expect("number");
        let applied = 100 + tally.applied.load(Ordering::SeqCst);
        let unknown = tally.unknown.load(Ordering::SeqCst);
        assert!(
            value >= applied && value <= applied + unknown,
            "{recipe:?}: counter {value}, but {applied} increments were applied (+{unknown} unknown): two holders at once"
        );
        assert_ne!(
            faulty.client().session_id(),
            first_session,
            "{recipe:?}: the faulty contender's session was expired and replaced"
        );
        assert!(
            tally.applied.load(Ordering::SeqCst) > 50,
            "{recipe:?}: the Rust side took part"
        );
        drop(java);
        // Nothing left behind by the Rust contenders, checked while their sessions are
        // still open (the expired session's node went with it).
        let leftovers = tokio::time::timeout(WAIT, async {
            loop {
                let nodes = lock_nodes(&admin, path).await;
                if nodes.is_empty() {
                    return nodes;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{recipe:?}: nodes left under {path}"));
        assert!(leftovers.is_empty());
        let _ = faulty.close().await;
        let _ = steady.close().await;
    }
}

/// Every lock or lease node under `path` (the semaphore's are a level down).
async fn lock_nodes(client: &Client, path: &str) -> Vec<String> {
    let mut nodes = Vec::new();
    for dir in [
        path.to_owned(),
        format!("{path}/locks"),
        format!("{path}/leases"),
    ] {
        if let Ok(children) = client.get_children(&dir).await {
            nodes.extend(children.into_iter().filter(|c| c.starts_with("_c_")));
        }
    }
    nodes
}

async fn one_leader_among_curator_and_rust(servers_kind: Servers) {
    let classpath = compile();
    let zk = servers(servers_kind).await;
    let hosts = zk.connect_string().to_owned();
    let a = Client::connect(&hosts).await.expect("client");
    let b = Client::connect(&hosts).await.expect("client");
    let first = LeaderLatch::start(&a, "/interop/latch", "rust-1")
        .await
        .expect("latch");
    let mut first_leads = first.leadership();
    tokio::time::timeout(WAIT, first_leads.wait_for(|l| *l == Leadership::Leader))
        .await
        .expect("rust-1 leads")
        .expect("watch");

    let mut java = Java::start(&classpath, &["latch", &hosts, "/interop/latch", "java"]);
    java.expect("started").await;
    tokio::time::timeout(WAIT, async {
        while first.participants().await.expect("ids").len() != 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("java joins");
    let second = LeaderLatch::start(&b, "/interop/latch", "rust-2")
        .await
        .expect("latch");
    assert_eq!(
        second.participants().await.expect("ids"),
        ["rust-1", "java", "rust-2"]
    );
    assert!(first.has_leadership() && !second.has_leadership());

    first.close().await.expect("close");
    // Curator's latch leads now, and sees itself first.
    assert_eq!(java.expect("leader").await, "leader java* rust-2");
    assert!(!second.has_leadership());
    java.poke().await;
    java.expect("closed").await;
    let mut second_leads = second.leadership();
    tokio::time::timeout(WAIT, second_leads.wait_for(|l| *l == Leadership::Leader))
        .await
        .expect("rust-2 leads after java closed")
        .expect("watch");
}

/// A Curator reader and a Rust reader share the read-write lock; a Rust writer waits for
/// the Java reader to leave.
async fn readers_share_across_curator_and_rust(servers_kind: Servers) {
    let classpath = compile();
    let zk = servers(servers_kind).await;
    let hosts = zk.connect_string().to_owned();
    let mut java = Java::start(&classpath, &["read", &hosts, "/interop/shared"]);
    java.expect("reading").await;
    let a = Client::connect(&hosts).await.expect("client");
    let b = Client::connect(&hosts).await.expect("client");
    let ours = InterProcessReadWriteLock::new(&a, "/interop/shared").expect("rw");
    let read = tokio::time::timeout(WAIT, ours.read_lock().lock())
        .await
        .expect("a Rust reader beside Curator's")
        .expect("read");
    let writer = InterProcessReadWriteLock::new(&b, "/interop/shared").expect("rw");
    assert!(writer
        .write_lock()
        .try_lock_for(Duration::from_millis(300))
        .await
        .expect("try")
        .is_none());
    read.release().await.expect("release");
    let waiting = tokio::spawn(async move {
        writer
            .write_lock()
            .lock()
            .await
            .map(|g| g.node().to_owned())
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiting.is_finished(),
        "the writer waits for Curator's reader"
    );
    java.poke().await;
    java.expect("released").await;
    let node = tokio::time::timeout(WAIT, waiting)
        .await
        .expect("the writer after Curator's reader left")
        .expect("task")
        .expect("write");
    assert!(node.contains("__WRIT__"), "{node}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_share_across_curator_and_rust_on_apache() {
    readers_share_across_curator_and_rust(Servers::Apache).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_share_across_curator_and_rust_on_the_bundled_ensemble() {
    readers_share_across_curator_and_rust(Servers::Bundled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_and_rust_exclude_each_other_on_apache() {
    exclusion_across_curator_and_rust(Servers::Apache).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_and_rust_exclude_each_other_on_the_bundled_ensemble() {
    exclusion_across_curator_and_rust(Servers::Bundled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_and_rust_elect_one_leader_on_apache() {
    one_leader_among_curator_and_rust(Servers::Apache).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_and_rust_elect_one_leader_on_the_bundled_ensemble() {
    one_leader_among_curator_and_rust(Servers::Bundled).await;
}

//! The examples as a user runs them: the quick start reaches every step without a failed
//! call, and `register` + `call` work together against the bundled server and against
//! Apache ZooKeeper 3.8, with `register` leaving at once on SIGTERM.
//!
//! The examples are run as built by `cargo test` / `cargo nextest` (which build every
//! example of the package), from the target directory next to this test's binary.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use zk_client::Client;
use zk_server::ServerHandle;
use zk_testkit::browser::fantoccini::Locator;
use zk_testkit::{ApacheZk, Browser};

/// Longest an example may take.
const WAIT: Duration = Duration::from_secs(120);

/// The built example `name`: `target/<profile>/examples/<name>`, beside `deps/` where
/// this test runs from.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built (cargo test builds the package's examples)",
        path.display()
    );
    path
}

/// Runs `name` with `args` and `ZK_HOSTS` (unset when `None`) to the end; its exit status
/// and standard output.
async fn run(name: &str, args: &[&str], hosts: Option<&str>) -> (bool, String) {
    let mut command = Command::new(example(name));
    command.args(args).kill_on_drop(true);
    match hosts {
        Some(hosts) => command.env("ZK_HOSTS", hosts),
        None => command.env_remove("ZK_HOSTS"),
    };
    let output = tokio::time::timeout(WAIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{name} did not finish within {WAIT:?}"))
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        eprintln!(
            "{name} stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    (output.status.success(), stdout)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_quick_start_reaches_every_step_without_a_failed_call() {
    let (ok, out) = run("quickstart", &[], None).await;
    println!("{out}");
    assert!(ok, "the quick start failed");
    for step in 1..=7 {
        assert!(out.contains(&format!("[{step}/7]")), "step {step} missing");
    }
    assert!(
        out.contains("registrations kept: 2 of 2"),
        "registrations lost"
    );
    let totals = out
        .lines()
        .find(|l| l.contains(" calls, ") && l.contains(" failed, in "))
        .expect("a summary line");
    let calls: u64 = totals
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a call count");
    assert!(calls > 1000, "only {calls} calls routed");
    assert!(totals.contains(" 0 failed"), "{totals}");
    // Every line fits an 80-column terminal.
    for line in out.lines() {
        assert!(line.chars().count() <= 80, "too wide: {line:?}");
    }
}

/// `quickstart --console` leaves its ensemble, greeters and rule open in the web console,
/// which a browser shows page by page (the screenshots are the README's).
#[tokio::test(flavor = "multi_thread")]
async fn the_quick_start_opens_its_data_in_the_console() {
    let mut quickstart = Command::new(example("quickstart"))
        .args(["--console", "127.0.0.1:0"])
        .env_remove("ZK_HOSTS")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the quick start");
    let stdout = quickstart.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.expect("read its output") {
            if let Some(rest) = line.strip_prefix("zkmesh console on ") {
                return rest.split_whitespace().next().map(str::to_owned);
            }
        }
        None
    })
    .await
    .expect("the console starts in time")
    .expect("the quick start prints the console's address");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let slow = Duration::from_secs(20);
    let b = Browser::start()
        .await
        .expect("headless Chromium (scripts/test.sh installs it)");
    b.goto(&format!("{url}#/services")).await.expect("open");
    b.wait_for_text("#services", "greeter-v2-a", slow)
        .await
        .expect("the greeters");
    b.wait_for_text("#services-status", "live", slow)
        .await
        .expect("live");
    b.screenshot("quickstart-services")
        .await
        .expect("screenshot");

    b.goto(&format!("{url}#/routes/greeter"))
        .await
        .expect("open");
    b.wait_for_text("#rule-split", "greeter-v1-a", slow)
        .await
        .expect("the split");
    b.wait_for_text("#rule-version", "/routes/greeter version 1", slow)
        .await
        .expect("the rule's version");
    let editor = b
        .client()
        .find(Locator::Css("#rule-editor"))
        .await
        .expect("the editor");
    let text = editor
        .prop("value")
        .await
        .expect("its text")
        .unwrap_or_default();
    assert!(text.contains("everyone else: 50/50"), "{text}");
    b.screenshot("quickstart-routes").await.expect("screenshot");

    b.goto(&format!("{url}#/tree?path=/services/greeter"))
        .await
        .expect("open");
    b.wait_for_text("#tree-children", "greeter-v1-a", slow)
        .await
        .expect("the children");
    b.screenshot("quickstart-tree").await.expect("screenshot");

    b.goto(&format!("{url}#/ensemble")).await.expect("open");
    b.wait_for_text("#ensemble", "leader", slow)
        .await
        .expect("a leader");
    let members = tokio::time::timeout(slow, async {
        loop {
            let up = b
                .client()
                .find_all(Locator::Css("#ensemble tr.member-up"))
                .await
                .expect("query")
                .len();
            if up == 3 {
                return up;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("all three members up (the killed one restarted)");
    assert_eq!(members, 3);
    b.screenshot("quickstart-ensemble")
        .await
        .expect("screenshot");
    b.close().await.expect("close the browser");
}

/// Starts `register` against `hosts` as instance `id`, returning it once registered.
async fn start_register(hosts: &str, id: &str) -> Child {
    let mut child = Command::new(example("register"))
        .args([id, "v1"])
        .env("ZK_HOSTS", hosts)
        .env("DRAIN_MS", "100")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start register");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.expect("read register's output") {
            if line.starts_with("registered ") {
                return;
            }
        }
        panic!("register exited before registering");
    })
    .await
    .expect("register registers");
    // Keep draining its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// `register` serves `call`, then leaves on SIGTERM: its node is gone as soon as it
/// exits, long before its session could have timed out.
async fn register_then_call_then_terminate(hosts: &str) {
    let id = format!("greeter-test-{}", std::process::id());
    let mut register = start_register(hosts, &id).await;

    let (ok, out) = run("call", &["5"], Some(hosts)).await;
    assert!(ok, "call failed:\n{out}");
    let served = out
        .lines()
        .filter(|l| l.contains(&format!("served by {id} v1")))
        .count();
    assert_eq!(served, 5, "{out}");

    let pid = register.id().expect("register's pid");
    let pid = libc::pid_t::try_from(pid).expect("a pid");
    // SAFETY: kill(2) with a pid this test started; it touches no memory.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM sent");
    let exit = tokio::time::timeout(WAIT, register.wait())
        .await
        .expect("register stops on SIGTERM")
        .expect("wait for register");
    assert!(exit.success(), "register exited with {exit}");

    let client = Client::connect(hosts).await.expect("connect");
    let node = format!("/services/greeter/{id}");
    assert_eq!(
        client.exists(&node).await.expect("exists"),
        None,
        "{node} left behind"
    );
    client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn register_and_call_work_together_on_the_bundled_server() {
    let server = ServerHandle::builder()
        .port(0)
        .start()
        .await
        .expect("server");
    register_then_call_then_terminate(&server.connect_string()).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn register_and_call_work_together_on_apache_zookeeper() {
    let zk = ApacheZk::single().await.expect("Apache ZooKeeper 3.8");
    register_then_call_then_terminate(zk.connect_string()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resolve_and_namespace_rule_run_on_an_embedded_server() {
    let (ok, out) = run("resolve", &["4"], None).await;
    assert!(ok, "resolve failed:\n{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("Hello, call")).count(),
        4
    );

    let (ok, out) = run("namespace_rule", &[], None).await;
    assert!(ok, "namespace_rule failed:\n{out}");
    assert!(out.contains("refused: "), "{out}");
    assert!(out.contains("every tenant kept its shard"), "{out}");
    assert!(out.contains("loaded"), "{out}");
}

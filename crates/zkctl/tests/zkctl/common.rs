//! Running the built `zkctl` against a server started in the test.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use zk_server::ServerHandle;

/// How long any one zkctl run or awaited line may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// What a finished zkctl run left behind.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// Stderr parsed as JSON (errors under `--json`).
    pub fn error_json(&self) -> Value {
        serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {self:?}"))
    }

    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code; run: {self:#?}");
        self
    }

    /// Asserts success.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }
}

/// A single bundled server on a free port.
pub async fn server() -> ServerHandle {
    ServerHandle::builder()
        .port(0)
        .start()
        .await
        .expect("server starts")
}

/// `zkctl` with no ZK_* variables from the environment running the tests.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zkctl"));
    cmd.env_remove("ZK_HOSTS")
        .env_remove("ZK_CHROOT")
        .env_remove("ZK_AUTH")
        .env_remove("ZK_TLS")
        .env_remove("ZK_TLS_CA")
        .env_remove("ZK_TLS_CERT")
        .env_remove("ZK_TLS_KEY")
        .env_remove("ZK_SASL")
        .env_remove("ZK_JAAS")
        .kill_on_drop(true)
        .stdin(Stdio::null());
    cmd
}

/// Runs `zkctl --server <server> <args>` to completion.
pub async fn zkctl(server: &str, args: &[&str]) -> Run {
    let mut cmd = command();
    cmd.arg("--server").arg(server).args(args);
    run(cmd).await
}

/// Runs a prepared command to completion.
pub async fn run(mut cmd: Command) -> Run {
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .expect("zkctl finishes in time")
        .expect("zkctl runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A zkctl left running (`watch`), read line by line.
pub struct Running {
    pub child: Child,
    pub stdout: Lines<BufReader<ChildStdout>>,
    pub stderr: Lines<BufReader<ChildStderr>>,
}

impl Running {
    /// Starts `zkctl --server <server> <args>` without waiting for it.
    pub fn spawn(server: &str, args: &[&str]) -> Running {
        let mut cmd = command();
        cmd.arg("--server")
            .arg(server)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("zkctl starts");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let stderr = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// The next line of stdout.
    pub async fn stdout_line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.stdout.next_line())
            .await
            .expect("a line in time")
            .expect("readable stdout")
            .expect("stdout still open")
    }

    /// The next line of stderr.
    pub async fn stderr_line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.stderr.next_line())
            .await
            .expect("a line in time")
            .expect("readable stderr")
            .expect("stderr still open")
    }
}

/// An address where nothing listens: a port just bound and released.
pub fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr.to_string()
}

/// A file in the temporary directory, removed when dropped.
pub struct TempFile(pub std::path::PathBuf);

impl TempFile {
    /// A new file holding `content`.
    pub fn new(content: &str) -> TempFile {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("zkctl-test-{}-{n}.json", std::process::id()));
        std::fs::write(&path, content).expect("write temp file");
        TempFile(path)
    }

    /// The path as a string argument.
    pub fn arg(&self) -> &str {
        self.0.to_str().expect("UTF-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Registers instances of `service` with `(id, version)` payloads; keep the discovery
/// alive as long as they should stay registered.
pub async fn register(
    zk: &str,
    service: &str,
    instances: &[(&str, &str)],
) -> (
    zk_discovery::ServiceDiscovery,
    Vec<zk_discovery::Registration>,
) {
    let discovery = zk_discovery::ServiceDiscovery::connect(zk)
        .await
        .expect("discovery");
    let mut registrations = Vec::new();
    for (i, (id, version)) in instances.iter().enumerate() {
        let instance =
            zk_discovery::ServiceInstance::new(service, format!("10.0.0.{}", i + 1), 8080)
                .with_id(*id)
                .with_payload(serde_json::json!({"version": version}));
        registrations.push(discovery.register(instance).await.expect("register"));
    }
    (discovery, registrations)
}

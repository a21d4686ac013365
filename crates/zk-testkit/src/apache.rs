//! Throwaway Apache ZooKeeper clusters driven through `scripts/zk-apache.sh`.
//!
//! Member indices in this module are **0-based** (the script's are 1-based).
//!
//! ```no_run
//! # async fn demo() -> zk_testkit::Result<()> {
//! use zk_testkit::{ApacheZk, Mode};
//! let zk = ApacheZk::ensemble(3).await?;
//! let leader = zk.leader_index().await?;
//! let follower = (leader + 1) % zk.members();
//! zk.kill(follower).await?;
//! zk.restart(follower).await?;
//! assert_eq!(zk.mode(follower).await?, Mode::Follower);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::sync::{Mutex, OnceCell};

use crate::{Result, TestkitError};

/// Path of the driver script, relative to this crate's manifest directory.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/zk-apache.sh");

/// How long a single four-letter-word exchange may take.
const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(5);

/// Result of `zk-apache.sh install`, shared by every cluster in the process.
static INSTALLED: OnceCell<std::result::Result<(), String>> = OnceCell::const_new();

/// The role a member reports in the `Mode:` line of `srvr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// A single server without a quorum.
    Standalone,
    /// The ensemble's elected leader.
    Leader,
    /// A voting follower.
    Follower,
    /// A non-voting observer.
    Observer,
    /// A member serving read-only clients while out of quorum.
    ReadOnly,
}

impl Mode {
    /// Parses the value of a `Mode:` line (`leader`, `follower`, ...).
    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim() {
            "standalone" => Some(Mode::Standalone),
            "leader" => Some(Mode::Leader),
            "follower" => Some(Mode::Follower),
            "observer" => Some(Mode::Observer),
            "read-only" => Some(Mode::ReadOnly),
            _ => None,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Standalone => "standalone",
            Mode::Leader => "leader",
            Mode::Follower => "follower",
            Mode::Observer => "observer",
            Mode::ReadOnly => "read-only",
        })
    }
}

/// Whether a TLS server asks clients for a certificate (Apache's `ssl.clientAuth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// One is asked for; a client without one is served all the same.
    Want,
    /// A client without a trusted certificate is refused (Apache's default).
    Need,
}

impl ClientAuth {
    fn config_value(self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::Want => "want",
            ClientAuth::Need => "need",
        }
    }
}

/// Which server the members of a cluster run (see [`ApacheZkOptions::servers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Servers {
    /// Apache ZooKeeper 3.8.
    Apache,
    /// zk-server, started from the very same `zoo.cfg` and `myid` files.
    Bundled,
}

/// TLS on every member's `secureClientPort` (plain `clientPort` stays, for the kit's
/// four-letter words): Netty's connection factory, key and trust stores — PEM, or Java
/// stores by their extension (`.p12`: PKCS12, `.jks`: JKS; their passwords go in
/// [`ApacheZkOptions::config`] lines, `ssl.keyStore.password=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// The server's private key and certificate in one PEM file.
    pub key_store: PathBuf,
    /// The CA certificates (PEM) that client certificates must chain to.
    pub trust_store: PathBuf,
    /// Whether clients must present a certificate.
    pub client_auth: ClientAuth,
}

impl ServerTls {
    /// The `zoo.cfg` lines (Apache turns unknown keys into `zookeeper.`-prefixed system
    /// properties, which is where its TLS settings are read from).
    fn config_lines(&self) -> Vec<String> {
        vec![
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory".into(),
            // Netty authenticates a presented client certificate with this provider and
            // drops the connection if it is not registered.
            "authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider".into(),
            format!("ssl.keyStore.location={}", self.key_store.display()),
            format!("ssl.keyStore.type={}", store_type(&self.key_store)),
            format!("ssl.trustStore.location={}", self.trust_store.display()),
            format!("ssl.trustStore.type={}", store_type(&self.trust_store)),
            format!("ssl.clientAuth={}", self.client_auth.config_value()),
        ]
    }
}

/// Apache's store type for a key or trust store file, by its extension.
fn store_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("p12" | "pfx") => "PKCS12",
        Some("jks") => "JKS",
        _ => "PEM",
    }
}

/// Options for starting an [`ApacheZk`] cluster; build with
/// [`ApacheZk::options`] and finish with [`ApacheZkOptions::start`].
#[derive(Debug, Clone)]
pub struct ApacheZkOptions {
    members: usize,
    tick_time: Option<Duration>,
    start_timeout: Duration,
    java_opts: Option<String>,
    jvm_opts: Option<String>,
    extra_config: Vec<String>,
    server_command: Option<PathBuf>,
    tls: Option<ServerTls>,
}

impl ApacheZkOptions {
    /// Options for a cluster of `members` servers (1 = standalone).
    pub fn new(members: usize) -> Self {
        ApacheZkOptions {
            members,
            tick_time: None,
            start_timeout: Duration::from_secs(60),
            java_opts: None,
            jvm_opts: None,
            extra_config: Vec::new(),
            server_command: None,
            tls: None,
        }
    }

    /// Serves TLS on a `secureClientPort` per member as well
    /// ([`ApacheZk::secure_connect_string`]).
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets ZooKeeper's `tickTime` (default 2 s). Session timeouts are clamped
    /// by the server to `2..=20` ticks, so a short tick allows short sessions.
    pub fn tick_time(mut self, tick: Duration) -> Self {
        self.tick_time = Some(tick);
        self
    }

    /// How long `start` and `restart` wait for members to serve (default 60 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Extra JVM options appended to the defaults (e.g. `-Dzookeeper.foo=1`).
    pub fn java_opts(mut self, opts: impl Into<String>) -> Self {
        self.java_opts = Some(opts.into());
        self
    }

    /// Adds the JVM system property `-Dkey=value` to [`ApacheZkOptions::java_opts`] (set
    /// those first), e.g. `java.security.auth.login.config` for SASL. No spaces in either.
    pub fn jvm_property(mut self, key: &str, value: impl fmt::Display) -> Self {
        let opts = self.java_opts.take().unwrap_or_default();
        self.java_opts = Some(format!("{opts} -D{key}={value}"));
        self
    }

    /// Replaces the test-oriented JVM defaults (a 256 MiB heap, serial GC and the C1
    /// compiler only, chosen for a fast start) — e.g. `-Xmx1g` for a benchmark that must
    /// measure Apache ZooKeeper at its best.
    pub fn jvm_opts(mut self, opts: impl Into<String>) -> Self {
        self.jvm_opts = Some(opts.into());
        self
    }

    /// Appends a `key=value` line to every member's `zoo.cfg` (e.g.
    /// `localSessionsEnabled=true`).
    pub fn config(mut self, line: impl Into<String>) -> Self {
        self.extra_config.push(line.into());
        self
    }

    /// Runs each member as `servers` says: Apache's JVM, or the bundled zk-server from
    /// the same `zoo.cfg` and `myid` ([`ApacheZkOptions::server_command`] with
    /// [`bundled_server_binary`]). Fails if the zk-server binary cannot be built or found.
    pub fn servers(self, servers: Servers) -> Result<Self> {
        Ok(match servers {
            Servers::Apache => self,
            Servers::Bundled => self.server_command(bundled_server_binary()?),
        })
    }

    /// Runs `command zoo.cfg` for each member instead of Apache's JVM: the bundled
    /// zk-server ([`bundled_server_binary`]), started from the very `zoo.cfg` and `myid`
    /// an Apache member gets — the same ports, kills and restarts, for comparisons.
    pub fn server_command(mut self, command: impl Into<PathBuf>) -> Self {
        self.server_command = Some(command.into());
        self
    }

    /// Starts the cluster and waits until every member serves.
    pub async fn start(self) -> Result<ApacheZk> {
        ApacheZk::start_with(self).await
    }
}

/// The `zk-server` binary of this build: `$ZK_SERVER_BIN`, or `zk-server` next to the
/// running test's `deps/` directory (where cargo puts a workspace's binaries), built
/// there with cargo first if a crate's tests or benchmarks run on their own and it is
/// missing or older than the server's sources (a stale binary would test old code).
pub fn bundled_server_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ZK_SERVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe =
        std::env::current_exe().map_err(|e| TestkitError::io("finding the test binary", e))?;
    let dir = exe
        .parent()
        .and_then(|deps| {
            if deps.ends_with("deps") {
                deps.parent()
            } else {
                Some(deps)
            }
        })
        .ok_or_else(|| {
            TestkitError::Parse(format!("no target directory above {}", exe.display()))
        })?;
    let bin = dir.join("zk-server");
    if is_current(&bin) {
        return Ok(bin);
    }
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILD.lock().unwrap_or_else(|p| p.into_inner());
    if !is_current(&bin) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let release = dir.file_name().is_some_and(|n| n == "release");
        let mut build = std::process::Command::new(cargo);
        build.args(["build", "-p", "zk-server", "--bin", "zk-server"]);
        if release {
            build.arg("--release");
        }
        let status = build
            .status()
            .map_err(|e| TestkitError::io("running cargo build -p zk-server", e))?;
        if !status.success() || !bin.is_file() {
            return Err(TestkitError::Parse(format!(
                "{} not found and could not be built: cargo build -p zk-server, or set ZK_SERVER_BIN",
                bin.display()
            )));
        }
    }
    Ok(bin)
}

/// Whether `bin` exists and is newer than every source file of zk-server and zk-proto.
fn is_current(bin: &Path) -> bool {
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return false;
    };
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs = vec![crates.join("zk-server/src"), crates.join("zk-proto/src")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(changed) = entry.metadata().and_then(|m| m.modified()) {
                if changed > built {
                    return false;
                }
            }
        }
    }
    true
}

/// A running throwaway Apache ZooKeeper cluster on loopback ports.
///
/// Dropping it SIGKILLs every JVM it started (synchronously) and deletes its
/// temporary directory. Set `ZK_TESTKIT_KEEP_DIR=1` to keep the directory
/// (configs, data and `zk.log` files) for post-mortems.
pub struct ApacheZk {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    opts: ApacheZkOptions,
    connect: String,
    client_ports: Vec<u16>,
    secure_ports: Vec<u16>,
    /// Serialises script runs: they rewrite `cluster.env`.
    ops: Mutex<()>,
}

impl fmt::Debug for ApacheZk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApacheZk")
            .field("dir", &self.path)
            .field("connect", &self.connect)
            .finish_non_exhaustive()
    }
}

impl ApacheZk {
    /// Starts a cluster of `members` servers with default options.
    pub async fn start(members: usize) -> Result<ApacheZk> {
        ApacheZkOptions::new(members).start().await
    }

    /// Starts a single standalone server.
    pub async fn single() -> Result<ApacheZk> {
        ApacheZk::start(1).await
    }

    /// Starts an ensemble of `members` servers (use 3 or 5).
    pub async fn ensemble(members: usize) -> Result<ApacheZk> {
        ApacheZk::start(members).await
    }

    /// Returns an options builder for a cluster of `members` servers.
    pub fn options(members: usize) -> ApacheZkOptions {
        ApacheZkOptions::new(members)
    }

    async fn start_with(opts: ApacheZkOptions) -> Result<ApacheZk> {
        if opts.members == 0 {
            return Err(TestkitError::NoSuchMember {
                index: 0,
                members: 0,
            });
        }
        if opts.server_command.is_none() {
            ensure_installed().await?;
        }
        let dir = tempfile::Builder::new()
            .prefix("zk-apache-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating a temporary directory", e))?;
        let path = dir.path().to_path_buf();
        let mut zk = ApacheZk {
            dir: Some(dir),
            path,
            opts,
            connect: String::new(),
            client_ports: Vec::new(),
            secure_ports: Vec::new(),
            ops: Mutex::new(()),
        };
        let started = Instant::now();
        let members = zk.opts.members.to_string();
        let dir_arg = zk.path.display().to_string();
        // On failure `zk` is dropped here, which kills anything half-started.
        let stdout = zk.run(&["start", &members, &dir_arg]).await?;
        zk.connect = stdout
            .lines()
            .last()
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
        let env = zk.read_env()?;
        zk.client_ports = parse_ports(env_get(&env, "CLIENT_PORTS")?)?;
        if zk.client_ports.len() != zk.opts.members {
            return Err(TestkitError::Parse(format!(
                "cluster.env lists {} client ports for {} members",
                zk.client_ports.len(),
                zk.opts.members
            )));
        }
        if zk.opts.tls.is_some() {
            zk.secure_ports = parse_ports(env_get(&env, "SECURE_CLIENT_PORTS")?)?;
            if zk.secure_ports.len() != zk.opts.members {
                return Err(TestkitError::Parse(format!(
                    "cluster.env lists {} secure client ports for {} members",
                    zk.secure_ports.len(),
                    zk.opts.members
                )));
            }
        }
        tracing::info!(
            members = zk.opts.members,
            connect = %zk.connect,
            dir = %zk.path.display(),
            elapsed = ?started.elapsed(),
            "apache zookeeper cluster started"
        );
        Ok(zk)
    }

    /// The client connect string, `127.0.0.1:p1,127.0.0.1:p2,...`.
    pub fn connect_string(&self) -> &str {
        &self.connect
    }

    /// The connect string of the members' TLS ports, `127.0.0.1:s1,127.0.0.1:s2,...`
    /// (empty without [`ApacheZkOptions::tls`]).
    pub fn secure_connect_string(&self) -> String {
        self.secure_ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The TLS port of member `i` (0-based), with [`ApacheZkOptions::tls`].
    pub fn secure_port(&self, i: usize) -> Option<u16> {
        self.secure_ports.get(i).copied()
    }

    /// The client address of member `i` (0-based).
    ///
    /// # Panics
    /// If `i >= self.members()`.
    pub fn client_addr(&self, i: usize) -> SocketAddr {
        match self.client_ports.get(i) {
            Some(&port) => SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            None => panic!(
                "member index {i} out of range: the cluster has {} member(s)",
                self.members()
            ),
        }
    }

    /// The client addresses of all members, in member order.
    pub fn client_addrs(&self) -> Vec<SocketAddr> {
        (0..self.members()).map(|i| self.client_addr(i)).collect()
    }

    /// The number of members (running or not).
    pub fn members(&self) -> usize {
        self.client_ports.len()
    }

    /// The cluster's working directory (holds `cluster.env` and `member<N>/`).
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// Path of member `i`'s server log (0-based index).
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.path.join(format!("member{}", i + 1)).join("zk.log")
    }

    /// SIGKILLs member `i` (0-based) and waits until the process is gone.
    pub async fn kill(&self, i: usize) -> Result<()> {
        self.check_index(i)?;
        self.run(&[
            "kill",
            &self.path.display().to_string(),
            &(i + 1).to_string(),
        ])
        .await
        .map(drop)
    }

    /// Starts member `i` (0-based) again with the same ports, config and data,
    /// and waits until it serves (`ruok` and a leader/follower/standalone mode).
    pub async fn restart(&self, i: usize) -> Result<()> {
        self.check_index(i)?;
        self.run(&[
            "restart",
            &self.path.display().to_string(),
            &(i + 1).to_string(),
        ])
        .await
        .map(drop)
    }

    /// Stops every member (SIGTERM, then SIGKILL after 5 s). The directory is
    /// kept until the handle is dropped.
    pub async fn stop(&self) -> Result<()> {
        self.run(&["stop", &self.path.display().to_string()])
            .await
            .map(drop)
    }

    /// Sends a four-letter word (`ruok`, `srvr`, `mntr`, ...) to member `i`
    /// over plain TCP and returns everything the server wrote before closing.
    pub async fn four_letter(&self, i: usize, word: &str) -> Result<String> {
        self.check_index(i)?;
        if word.len() != 4 {
            return Err(TestkitError::Parse(format!(
                "four-letter word must be 4 bytes, got {word:?}"
            )));
        }
        let addr = self.client_addr(i);
        let exchange = async {
            let mut stream = TcpStream::connect(addr)
                .await
                .map_err(|e| TestkitError::io(format!("connecting to {addr}"), e))?;
            stream
                .write_all(word.as_bytes())
                .await
                .map_err(|e| TestkitError::io(format!("sending {word} to {addr}"), e))?;
            let mut reply = Vec::new();
            stream
                .read_to_end(&mut reply)
                .await
                .map_err(|e| TestkitError::io(format!("reading {word} reply from {addr}"), e))?;
            Ok(String::from_utf8_lossy(&reply).into_owned())
        };
        match tokio::time::timeout(FOUR_LETTER_TIMEOUT, exchange).await {
            Ok(result) => result,
            Err(_) => Err(TestkitError::Timeout {
                what: format!("waiting for `{word}` from {addr}"),
                after: FOUR_LETTER_TIMEOUT,
            }),
        }
    }

    /// The mode member `i` reports in `srvr`. Fails if it is not serving.
    pub async fn mode(&self, i: usize) -> Result<Mode> {
        let srvr = self.four_letter(i, "srvr").await?;
        srvr.lines()
            .find_map(|l| l.strip_prefix("Mode:"))
            .and_then(Mode::parse)
            .ok_or_else(|| {
                TestkitError::Parse(format!("no Mode line in srvr of member {i}: {srvr:?}"))
            })
    }

    /// The index of the member that is leader (or the standalone server),
    /// polling until an election settles or the start timeout passes.
    pub async fn leader_index(&self) -> Result<usize> {
        let timeout = self.opts.start_timeout;
        let deadline = Instant::now() + timeout;
        loop {
            for i in 0..self.members() {
                if let Ok(Mode::Leader | Mode::Standalone) = self.mode(i).await {
                    return Ok(i);
                }
            }
            if Instant::now() >= deadline {
                return Err(TestkitError::Timeout {
                    what: "waiting for a leader".into(),
                    after: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The process ids currently recorded for the members (0 = never started).
    pub fn pids(&self) -> Result<Vec<u32>> {
        let env = self.read_env()?;
        env_get(&env, "PIDS")?
            .split_whitespace()
            .map(|p| {
                p.parse()
                    .map_err(|_| TestkitError::Parse(format!("bad pid {p:?} in cluster.env")))
            })
            .collect()
    }

    fn check_index(&self, i: usize) -> Result<()> {
        if i < self.members() {
            Ok(())
        } else {
            Err(TestkitError::NoSuchMember {
                index: i,
                members: self.members(),
            })
        }
    }

    /// Runs the script with `args`; returns its stdout on success.
    async fn run(&self, args: &[&str]) -> Result<String> {
        let _guard = self.ops.lock().await;
        let mut cmd = script_command(args);
        cmd.env("ZK_OWNER_PID", std::process::id().to_string()).env(
            "ZK_START_TIMEOUT",
            self.opts.start_timeout.as_secs().max(1).to_string(),
        );
        if let Some(tick) = self.opts.tick_time {
            cmd.env("ZK_TICK_TIME", tick.as_millis().max(1).to_string());
        }
        if let Some(opts) = &self.opts.java_opts {
            cmd.env("ZK_JAVA_OPTS", opts);
        }
        if let Some(opts) = &self.opts.jvm_opts {
            cmd.env("ZK_JVM_OPTS", opts);
        }
        let mut extra = self.opts.extra_config.clone();
        if let Some(tls) = &self.opts.tls {
            cmd.env("ZK_SECURE_CLIENT", "1");
            extra.extend(tls.config_lines());
        }
        if !extra.is_empty() {
            cmd.env("ZK_EXTRA_CONFIG", extra.join("\n"));
        }
        if let Some(command) = &self.opts.server_command {
            cmd.env("ZK_SERVER_CMD", command);
        }
        run_command(cmd, args).await
    }

    fn read_env(&self) -> Result<HashMap<String, String>> {
        let file = self.path.join("cluster.env");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| TestkitError::io(format!("reading {}", file.display()), e))?;
        Ok(parse_env(&text))
    }

    /// SIGKILLs every JVM and the watchdog recorded in `cluster.env`, checking
    /// first that each pid still belongs to this cluster.
    fn kill_all_sync(&self) {
        let Ok(env) = self.read_env() else { return };
        let dir = self.path.display().to_string();
        let pids: Vec<u32> = ["PIDS", "WATCHDOG_PID"]
            .iter()
            .filter_map(|k| env.get(*k))
            .flat_map(|v| v.split_whitespace())
            .filter_map(|p| p.parse().ok())
            .filter(|&p| p != 0 && process_mentions(p, &dir))
            .collect();
        if pids.is_empty() {
            return;
        }
        let mut kill = std::process::Command::new("kill");
        kill.arg("-9").args(pids.iter().map(u32::to_string));
        if let Err(e) = kill.status() {
            tracing::warn!(error = %e, ?pids, "failed to run kill -9");
        }
        // Wait (briefly) until they are really gone so ports and files are free.
        let deadline = Instant::now() + Duration::from_secs(5);
        while pids.iter().any(|&p| process_running(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ApacheZk {
    fn drop(&mut self) {
        self.kill_all_sync();
        if std::env::var_os("ZK_TESTKIT_KEEP_DIR").is_some() {
            if let Some(dir) = self.dir.take() {
                let kept = dir.keep();
                eprintln!("zk-testkit: kept {}", kept.display());
            }
        }
    }
}

/// Runs `zk-apache.sh install` once per process; later calls share the result.
async fn ensure_installed() -> Result<()> {
    INSTALLED
        .get_or_init(|| async {
            run_command(script_command(&["install"]), &["install"])
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await
        .clone()
        .map_err(TestkitError::Install)
}

fn script_command(args: &[&str]) -> Command {
    let script = std::env::var("ZK_APACHE_SCRIPT").unwrap_or_else(|_| SCRIPT.to_string());
    let mut cmd = Command::new("bash");
    cmd.arg(script)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn run_command(mut cmd: Command, args: &[&str]) -> Result<String> {
    let command = args.join(" ");
    tracing::debug!(%command, "running zk-apache.sh");
    let out = cmd
        .output()
        .await
        .map_err(|e| TestkitError::io(format!("running zk-apache.sh {command}"), e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(TestkitError::Script {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Parses the shell-sourceable `KEY=value` / `KEY="a b"` lines of cluster.env.
fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

fn env_get<'a>(env: &'a HashMap<String, String>, key: &str) -> Result<&'a str> {
    env.get(key)
        .map(String::as_str)
        .ok_or_else(|| TestkitError::Parse(format!("cluster.env has no {key}")))
}

fn parse_ports(s: &str) -> Result<Vec<u16>> {
    s.split_whitespace()
        .map(|p| {
            p.parse()
                .map_err(|_| TestkitError::Parse(format!("bad port {p:?} in cluster.env")))
        })
        .collect()
}

/// True if `pid` is alive and its command line mentions `needle`; guards
/// against killing an unrelated process that reused a recorded pid.
fn process_mentions(pid: u32, needle: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| String::from_utf8_lossy(&raw).contains(needle))
        .unwrap_or(false)
}

/// True if `pid` exists and is not a finished zombie. A JVM's main thread
/// turns zombie while its other threads (which still hold its sockets) exit,
/// so a zombie counts as running until it is the only task left.
fn process_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let zombie = stat
        .rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('Z'));
    if !zombie {
        return true;
    }
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| tasks.count() > 1)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_env() {
        let env =
            parse_env("MEMBERS=3\nCLIENT_PORTS=\"1 2 3\"\nPIDS=\"10 11 12\"\nWATCHDOG_PID=0\n");
        assert_eq!(env_get(&env, "MEMBERS").unwrap(), "3");
        assert_eq!(
            parse_ports(env_get(&env, "CLIENT_PORTS").unwrap()).unwrap(),
            vec![1, 2, 3]
        );
        assert!(env_get(&env, "NOPE").is_err());
    }

    #[test]
    fn parses_modes() {
        assert_eq!(Mode::parse(" leader"), Some(Mode::Leader));
        assert_eq!(Mode::parse("read-only"), Some(Mode::ReadOnly));
        assert_eq!(Mode::parse("boss"), None);
        assert_eq!(Mode::Follower.to_string(), "follower");
    }
}

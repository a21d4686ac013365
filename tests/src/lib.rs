//! Shared harness of the cross-crate tests: start either server (Apache ZooKeeper 3.8 or
//! the bundled zk-server) behind one type, talk raw protocol to it, and normalise what
//! legitimately differs between the two (times, session ids) so results can be compared
//! field by field.

pub mod clients;
pub mod raw;

pub use raw::RawConnExt;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use zk_client::{Client, Stat};
use zk_server::ServerHandle;
use zk_testkit::ApacheZk;

/// Upper bound for anything a test waits on.
pub const WAIT: Duration = Duration::from_secs(20);

/// Tick used by both servers in tests (sessions of 1–10 s).
pub const TICK: Duration = Duration::from_millis(500);

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Apache ZooKeeper 3.8 from Debian.
    Apache,
    /// zk-server, in process.
    Bundled,
}

impl Kind {
    /// The same kind for a cluster started from `zoo.cfg` files (zk-server as processes).
    pub fn servers(self) -> zk_testkit::Servers {
        match self {
            Kind::Apache => zk_testkit::Servers::Apache,
            Kind::Bundled => zk_testkit::Servers::Bundled,
        }
    }
}

/// A running server of either kind.
pub enum Server {
    /// Apache ZooKeeper (boxed: its handle is several times the size of zk-server's).
    Apache(Box<ApacheZk>),
    /// zk-server.
    Bundled(ServerHandle),
}

impl Server {
    /// Starts a fresh standalone server of `kind` with the test tick, TTL nodes enabled,
    /// every four-letter word allowed and container checks every second.
    pub async fn start(kind: Kind) -> Server {
        init_tracing();
        match kind {
            Kind::Apache => Server::Apache(Box::new(
                ApacheZk::options(1)
                    .tick_time(TICK)
                    .start()
                    .await
                    .expect("start Apache ZooKeeper"),
            )),
            Kind::Bundled => Server::Bundled(
                ServerHandle::builder()
                    .port(0)
                    .tick_time(TICK)
                    .four_letter_words(vec!["*".into()])
                    .container_check_interval(Duration::from_secs(1))
                    .start()
                    .await
                    .expect("start zk-server"),
            ),
        }
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Server::Apache(zk) => zk.client_addr(0),
            Server::Bundled(s) => s.addr(),
        }
    }

    /// A connect string.
    pub fn connect_string(&self) -> String {
        self.addr().to_string()
    }

    /// Which kind.
    pub fn kind(&self) -> Kind {
        match self {
            Server::Apache(_) => Kind::Apache,
            Server::Bundled(_) => Kind::Bundled,
        }
    }

    /// A client with a 4 s session.
    pub async fn client(&self) -> Client {
        Client::builder()
            .session_timeout(Duration::from_secs(4))
            .connect(&self.connect_string())
            .await
            .expect("connect")
    }
}

/// Awaits `f`, failing the test after [`WAIT`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Enables tracing output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A Stat with what legitimately differs between servers normalised: times are checked
/// for order only, the owner becomes `self`, `other` or 0. Zxids stay: both
/// servers number transactions identically from a fresh start.
pub fn stat(s: &Stat, own_session: i64) -> String {
    let owner = match s.ephemeral_owner {
        0 => "0".to_owned(),
        o if o == own_session => "self".to_owned(),
        _ => "other".to_owned(),
    };
    // Whether a change landed in the same millisecond as the create depends on speed,
    // so only the order is compared.
    let times = if s.ctime <= s.mtime && s.ctime > 0 || s.ctime == 0 && s.mtime == 0 {
        "times-ok"
    } else {
        "times-BAD"
    };
    format!(
        "czxid={:#x} mzxid={:#x} pzxid={:#x} {times} v={} cv={} av={} owner={owner} len={} kids={}",
        s.czxid, s.mzxid, s.pzxid, s.version, s.cversion, s.aversion, s.data_length, s.num_children
    )
}

/// Runs `scenario` against a fresh Apache ZooKeeper and a fresh zk-server and asserts the
/// two transcripts are identical, line by line.
pub async fn differential<F, Fut>(name: &str, scenario: F)
where
    F: Fn(Server) -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    let apache = scenario(Server::start(Kind::Apache).await).await;
    if std::env::var_os("ZKMESH_SHOW_TRANSCRIPT").is_some() {
        println!("--- {name} (Apache transcript)\n{}", apache.join("\n"));
    }
    let bundled = scenario(Server::start(Kind::Bundled).await).await;
    let n = apache.len().max(bundled.len());
    let mut diffs = Vec::new();
    for i in 0..n {
        let a = apache.get(i).map(String::as_str).unwrap_or("<missing>");
        let b = bundled.get(i).map(String::as_str).unwrap_or("<missing>");
        if a != b {
            diffs.push(format!("line {i}:\n  apache : {a}\n  bundled: {b}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{name}: zk-server differs from Apache ZooKeeper in {} of {n} lines:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

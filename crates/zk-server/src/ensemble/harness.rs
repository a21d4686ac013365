//! An ensemble in one process, for tests: N members on loopback with their own data
//! directories (removed when the [`Ensemble`] is dropped), and the faults tests need.
//!
//! ```no_run
//! # async fn demo() -> Result<(), zk_server::ServerError> {
//! let mut ensemble = zk_server::Ensemble::builder().members(3).start().await?;
//! let leader = ensemble.leader().await?;
//! ensemble.kill(leader).await;             // the others elect a new leader
//! ensemble.restart(leader).await?;         // it rejoins from its disk
//! ensemble.isolate((leader + 1) % 3, true).await?;   // a partition
//! println!("clients connect to {}", ensemble.connect_string());
//! # Ok(()) }
//! ```

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{EnsembleSpec, PeerSpec};
use crate::net::Mode;
use crate::server::{ServerBuilder, ServerError, ServerHandle};
use crate::tls::QuorumTls;

/// How long [`Ensemble::leader`] and [`Ensemble::wait_serving`] wait by default.
const WAIT: Duration = Duration::from_secs(30);

/// Settings for an [`Ensemble`].
pub struct EnsembleBuilder {
    members: usize,
    tick: Duration,
    init_limit: u32,
    sync_limit: u32,
    history_kept: usize,
    customize: Option<Box<dyn Fn(ServerBuilder) -> ServerBuilder + Send + Sync>>,
    quorum_tls: Option<QuorumTlsFn>,
}

/// Chooses member `i`'s quorum TLS, each time it starts.
type QuorumTlsFn = Box<dyn Fn(usize) -> Option<QuorumTls> + Send + Sync>;

impl std::fmt::Debug for EnsembleBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnsembleBuilder")
            .field("members", &self.members)
            .field("tick", &self.tick)
            .field("init_limit", &self.init_limit)
            .field("sync_limit", &self.sync_limit)
            .finish()
    }
}

impl Default for EnsembleBuilder {
    fn default() -> Self {
        Self {
            members: 3,
            tick: Duration::from_millis(200),
            init_limit: 10,
            sync_limit: 5,
            history_kept: 10_000,
            customize: None,
            quorum_tls: None,
        }
    }
}

impl EnsembleBuilder {
    /// How many members (default 3; any odd number works, 2 tolerates no failure).
    pub fn members(mut self, n: usize) -> Self {
        self.members = n.max(1);
        self
    }

    /// The tick (default 200 ms: fast fail-over for tests).
    pub fn tick_time(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }

    /// `initLimit` and `syncLimit` in ticks (default 10 and 5).
    pub fn limits(mut self, init_limit: u32, sync_limit: u32) -> Self {
        self.init_limit = init_limit.max(1);
        self.sync_limit = sync_limit.max(1);
        self
    }

    /// Txns each member keeps in memory for DIFF syncs (default 10 000); a member further
    /// behind is synchronised by snapshot.
    pub fn history_kept(mut self, txns: usize) -> Self {
        self.history_kept = txns.max(1);
        self
    }

    /// Adjusts every member's server settings (four-letter words, snapshot count…).
    pub fn configure(
        mut self,
        f: impl Fn(ServerBuilder) -> ServerBuilder + Send + Sync + 'static,
    ) -> Self {
        self.customize = Some(Box::new(f));
        self
    }

    /// TLS between members: `f(i)` is member `i`'s, asked each time it starts (so a test
    /// can restart a member with another certificate).
    pub fn quorum_tls(
        mut self,
        f: impl Fn(usize) -> Option<QuorumTls> + Send + Sync + 'static,
    ) -> Self {
        self.quorum_tls = Some(Box::new(f));
        self
    }

    /// Starts every member and waits until one leads and the rest follow.
    pub async fn start(self) -> Result<Ensemble, ServerError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "zkmesh-ensemble-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let mut ensemble = Ensemble {
            dir,
            peers: Vec::new(),
            clients: Vec::new(),
            handles: Vec::new(),
            builder: self,
        };
        let mut attempt = 1;
        loop {
            ensemble.choose_ports()?;
            match ensemble.start_members().await {
                Ok(()) => break,
                // A port found free was taken before its member bound it: any outgoing
                // connection on the machine (another test's client, say) may be given it,
                // since both come from the ephemeral range. Start over on other ports.
                Err(ServerError::Io(e))
                    if e.kind() == std::io::ErrorKind::AddrInUse && attempt < PORT_ATTEMPTS =>
                {
                    tracing::debug!(attempt, error = %e, "a chosen port was taken; choosing again");
                    for i in 0..ensemble.handles.len() {
                        ensemble.kill(i).await;
                    }
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
        ensemble.wait_serving(WAIT).await?;
        Ok(ensemble)
    }
}

/// How many sets of ports [`EnsembleBuilder::start`] tries before it gives up.
const PORT_ATTEMPTS: u32 = 5;

/// A free loopback port (bound and released: see [`EnsembleBuilder::start`] for the race).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// An in-process ensemble (see the module docs).
#[derive(Debug)]
pub struct Ensemble {
    dir: PathBuf,
    peers: Vec<PeerSpec>,
    clients: Vec<SocketAddr>,
    handles: Vec<Option<ServerHandle>>,
    builder: EnsembleBuilder,
}

impl Ensemble {
    /// A builder (3 members, 200 ms ticks).
    pub fn builder() -> EnsembleBuilder {
        EnsembleBuilder::default()
    }

    /// Picks free ports for every member, and an empty data directory.
    fn choose_ports(&mut self) -> std::io::Result<()> {
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir)?;
        self.handles.clear();
        self.peers.clear();
        self.clients.clear();
        for i in 0..self.builder.members {
            let client = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            self.clients.push(client);
            self.peers.push(PeerSpec {
                sid: i as u64 + 1,
                host: "127.0.0.1".into(),
                quorum_port: free_port()?,
                election_port: free_port()?,
                client: Some(client),
            });
        }
        Ok(())
    }

    /// Starts every member on the chosen ports; those started stay in `handles`.
    async fn start_members(&mut self) -> Result<(), ServerError> {
        for i in 0..self.peers.len() {
            let handle = self.start_member(i).await?;
            self.handles.push(Some(handle));
        }
        Ok(())
    }

    async fn start_member(&self, i: usize) -> Result<ServerHandle, ServerError> {
        let b = &self.builder;
        let mut spec = EnsembleSpec::new(
            self.peers[i].sid,
            self.peers.clone(),
            b.init_limit,
            b.sync_limit,
        );
        spec.quorum_tls = b.quorum_tls.as_ref().and_then(|f| f(i));
        let mut server = ServerHandle::builder()
            .bind(self.clients[i])
            .tick_time(b.tick)
            .four_letter_words(vec!["*".into()])
            .data_dir(self.dir.join(format!("member{}", i + 1)))
            .ensemble(spec);
        if let Some(f) = &b.customize {
            server = f(server);
        }
        server.start().await
    }

    /// Member `i`'s listing: its id and its quorum and election ports.
    pub fn peer(&self, i: usize) -> Option<&PeerSpec> {
        self.peers.get(i)
    }

    /// Number of members.
    pub fn members(&self) -> usize {
        self.peers.len()
    }

    /// `host:port,host:port,…` of every member, for a client.
    pub fn connect_string(&self) -> String {
        self.clients
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Member `i`'s client address.
    pub fn client_addr(&self, i: usize) -> SocketAddr {
        self.clients[i]
    }

    /// Which member serves clients at `addr` (the server a client is connected to).
    pub fn member_at(&self, addr: SocketAddr) -> Option<usize> {
        self.clients.iter().position(|a| a.port() == addr.port())
    }

    /// Member `i`'s handle, unless it is killed.
    pub fn member(&self, i: usize) -> Option<&ServerHandle> {
        self.handles.get(i).and_then(Option::as_ref)
    }

    /// Member `i`'s data directory.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("member{}", i + 1))
    }

    /// What member `i` does now (`None` if killed).
    pub async fn mode(&self, i: usize) -> Option<Mode> {
        self.member(i)?.mode().await.ok()
    }

    /// The index of the established leader, waiting (up to 30 s) for one.
    pub async fn leader(&self) -> Result<usize, ServerError> {
        let deadline = Instant::now() + WAIT;
        loop {
            for i in 0..self.members() {
                if self.mode(i).await == Some(Mode::Leader) {
                    return Ok(i);
                }
            }
            if Instant::now() > deadline {
                return Err(ServerError::Config("no leader within 30 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (up to `timeout`) until every live member serves: one leads, the rest follow.
    pub async fn wait_serving(&self, timeout: Duration) -> Result<(), ServerError> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut all = true;
            for i in 0..self.members() {
                if self.member(i).is_some()
                    && !matches!(self.mode(i).await, Some(Mode::Leader | Mode::Follower))
                {
                    all = false;
                }
            }
            if all {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ServerError::Config(format!(
                    "members not serving within {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills member `i`: its sockets close at once, nothing more is written or answered
    /// (its disk keeps what was written).
    pub async fn kill(&mut self, i: usize) {
        if let Some(handle) = self.handles.get_mut(i).and_then(Option::take) {
            handle.shutdown().await;
        }
    }

    /// Starts member `i` again from its data directory, on the same ports.
    pub async fn restart(&mut self, i: usize) -> Result<(), ServerError> {
        self.kill(i).await;
        let handle = self.start_member(i).await?;
        self.handles[i] = Some(handle);
        Ok(())
    }

    /// Stops every member, waiting for each to close; the data directories go with the
    /// ensemble when it is dropped.
    pub async fn shutdown(mut self) {
        for i in 0..self.members() {
            self.kill(i).await;
        }
    }

    /// Cuts member `i` off from the other members (`true`) or reconnects it (`false`).
    pub async fn isolate(&self, i: usize, cut: bool) -> Result<(), ServerError> {
        match self.member(i) {
            Some(h) => h.isolate(cut).await,
            None => Err(ServerError::Stopped),
        }
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        self.handles.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

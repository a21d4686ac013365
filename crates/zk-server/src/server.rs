//! Starting a server in-process — standalone, or one member of an ensemble — a builder
//! for its settings, and a handle to read its address, drive faults in tests (expire a
//! session, drop every connection, isolate a member), read its counters and shut it down.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;
use zk_proto::frame::DEFAULT_MAX_FRAME;

use crate::core::{CoreConfig, Now, ServerCore};
use crate::ensemble::run::{self, Event, Runtime};
use crate::ensemble::transport::{PeerAddrs, Transport};
use crate::ensemble::EnsembleSpec;
use crate::journal::Journal;
use crate::net::{self, Input, Mode, Snapshot};
use crate::persist::{self, FileStorage};
use crate::sasl::SaslSettings;
use crate::storage::{Storage, StorageError};
use crate::tls::TlsSettings;
use crate::tree::DataTree;

/// Errors starting or talking to a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding or another socket operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The server has stopped.
    #[error("server stopped")]
    Stopped,
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The data directory could not be recovered or written.
    #[error(transparent)]
    Persist(#[from] persist::PersistError),
    /// The data directory could not be recovered or written.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A TLS key store, trust store or setting is unusable.
    #[error("TLS: {0}")]
    Tls(String),
}

/// Settings for an embedded or standalone server.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    addr: SocketAddr,
    core: CoreConfig,
    max_frame: usize,
    data_dir: Option<PathBuf>,
    max_client_connections: usize,
    handshake_timeout: Duration,
    data_log_dir: Option<PathBuf>,
    force_sync: bool,
    ensemble: Option<EnsembleSpec>,
    plaintext: bool,
    secure: Option<(SocketAddr, TlsSettings)>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 2181)),
            core: CoreConfig::default(),
            max_frame: DEFAULT_MAX_FRAME,
            data_dir: None,
            max_client_connections: 60,
            handshake_timeout: Duration::from_secs(10),
            data_log_dir: None,
            force_sync: true,
            ensemble: None,
            plaintext: true,
            secure: None,
        }
    }
}

impl ServerBuilder {
    /// Listen on `addr` (port 0 picks a free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Listen on 127.0.0.1:`port`.
    pub fn port(mut self, port: u16) -> Self {
        self.addr.set_port(port);
        self
    }

    /// The tick (default 2 s); also resets the session timeout bounds to 2 and 20 ticks
    /// unless they are set afterwards.
    pub fn tick_time(mut self, tick: Duration) -> Self {
        self.core.tick_time = tick;
        self.core.min_session_timeout = tick * 2;
        self.core.max_session_timeout = tick * 20;
        self
    }

    /// Smallest session timeout granted.
    pub fn min_session_timeout(mut self, t: Duration) -> Self {
        self.core.min_session_timeout = t;
        self
    }

    /// Largest session timeout granted.
    pub fn max_session_timeout(mut self, t: Duration) -> Self {
        self.core.max_session_timeout = t;
        self
    }

    /// Largest accepted frame (default `0xfffff`, Apache's `jute.maxbuffer`).
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// Allowed four-letter words (`["*"]` for all; default `["srvr"]`, as Apache).
    pub fn four_letter_words(mut self, words: Vec<String>) -> Self {
        self.core.four_letter_words = words;
        self
    }

    /// Whether TTL nodes are allowed (default true).
    pub fn extended_types(mut self, enabled: bool) -> Self {
        self.core.extended_types = enabled;
        self
    }

    /// How often empty containers and expired TTL nodes are removed (default 60 s).
    pub fn container_check_interval(mut self, interval: Duration) -> Self {
        self.core.container_check_interval = interval;
        self
    }

    /// A digest id (`user:base64hash`) that is granted `super`.
    pub fn super_digest(mut self, digest: impl Into<String>) -> Self {
        self.core.super_digest = Some(digest.into());
        self
    }

    /// Makes the server durable: a transaction log (fsync'd before each reply) and
    /// snapshots in `dir`, recovered on start. Without it the server keeps everything in
    /// memory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Connections allowed from one client address (Apache's `maxClientCnxns`, default
    /// 60; 0 = unlimited).
    pub fn max_client_connections(mut self, n: usize) -> Self {
        self.max_client_connections = n;
        self
    }

    /// How long a new connection may take to send its first complete frame before it is
    /// closed (default 10 s; Apache closes sessionless connections after about as long).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Txns between snapshots in durable mode (default 100 000, Apache's `snapCount`).
    pub fn snap_count(mut self, txns: u64) -> Self {
        self.core.snap_count = txns.max(1);
        self
    }

    /// Puts the transaction log in `dir` instead of the data directory (`dataLogDir`).
    pub fn data_log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_log_dir = Some(dir.into());
        self
    }

    /// Whether log writes are fsync'd before they count (default true; `forceSync=no`
    /// trades durability for speed, as in Apache).
    pub fn force_sync(mut self, force: bool) -> Self {
        self.force_sync = force;
        self
    }

    /// Also serves TLS on `addr` (Apache's `secureClientPort`; port 0 picks a free port).
    /// A trusted client certificate gives its connection the `x509` id of its subject, and
    /// `x509` ACLs are accepted.
    pub fn secure(mut self, addr: SocketAddr, tls: TlsSettings) -> Self {
        self.secure = Some((addr, tls));
        self.core.x509_acls = true;
        self
    }

    /// Whether the plain port of [`ServerBuilder::bind`] is served (default true; Apache
    /// serves only TLS when `secureClientPort` is set and `clientPort` is not).
    pub fn plaintext(mut self, serve: bool) -> Self {
        self.plaintext = serve;
        self
    }

    /// A client certificate subject that is also granted `super`
    /// (`zookeeper.X509AuthenticationProvider.superUser`).
    pub fn x509_super_user(mut self, subject: impl Into<String>) -> Self {
        self.core.x509_super_user = Some(subject.into());
        self
    }

    /// Accepts SASL DIGEST-MD5 from the users of `sasl` and `sasl` ACLs, as Apache with a
    /// JAAS `Server` section and `authProvider.N=…SASLAuthenticationProvider`. A client
    /// that authenticates gets the id `sasl:<user>` on its connection.
    pub fn sasl(mut self, sasl: SaslSettings) -> Self {
        self.core.sasl = Some(sasl);
        self.core.sasl_acls = true;
        self
    }

    /// Whether `sasl` ACLs are accepted (set by [`ServerBuilder::sasl`]; Apache accepts
    /// them when its SASL provider is registered, with or without a JAAS `Server` section).
    pub fn sasl_acls(mut self, accept: bool) -> Self {
        self.core.sasl_acls = accept;
        self
    }

    /// Refuses every request but `auth` and `sasl` from a connection that has no id of one
    /// of `schemes` with `SessionClosedRequireSaslAuth`, closing it (Apache's
    /// `enforce.auth.enabled` and `enforce.auth.schemes`; `["sasl"]` is
    /// `sessionRequireClientSASLAuth`). A failed SASL exchange then answers
    /// `SessionClosedRequireSaslAuth` rather than `AuthFailed`. Empty turns it off.
    pub fn enforce_auth(mut self, schemes: Vec<String>) -> Self {
        self.core.enforce_auth_schemes = schemes;
        self
    }

    /// Runs this server as member `spec.sid` of an ensemble. It needs a data directory.
    pub fn ensemble(mut self, spec: EnsembleSpec) -> Self {
        self.ensemble = Some(spec);
        self
    }

    /// The core settings, for inspection.
    pub fn core_config(&self) -> &CoreConfig {
        &self.core
    }

    /// Binds the client ports: the plain one and the TLS one, as configured. The TLS
    /// files are read first, so a bad one fails the start before anything is bound.
    async fn bind_clients(&self) -> Result<ClientPorts, ServerError> {
        let secure = match &self.secure {
            Some((addr, tls)) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config()?);
                Some((TcpListener::bind(addr).await?, acceptor))
            }
            None => None,
        };
        let plain = match (self.plaintext, &secure) {
            (true, _) => Some(TcpListener::bind(self.addr).await?),
            (false, Some(_)) => None,
            (false, None) => {
                return Err(ServerError::Config(
                    "no client port: neither clientPort nor secureClientPort is set".into(),
                ))
            }
        };
        let plain_addr = plain.as_ref().map(TcpListener::local_addr).transpose()?;
        let secure_addr = secure.as_ref().map(|(l, _)| l.local_addr()).transpose()?;
        Ok(ClientPorts {
            plain,
            secure,
            plain_addr,
            secure_addr,
            listening: net::Listening::new(
                self.max_frame,
                self.max_client_connections,
                self.handshake_timeout,
            ),
        })
    }

    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(self) -> Result<ServerHandle, ServerError> {
        if self.core.min_session_timeout > self.core.max_session_timeout {
            return Err(ServerError::Config(
                "minSessionTimeout exceeds maxSessionTimeout".into(),
            ));
        }
        if let Some(spec) = self.ensemble.clone() {
            return self.start_member(spec).await;
        }
        let (tree, journal) = match &self.data_dir {
            Some(dir) => {
                let dir = dir.clone();
                let log_dir = self.data_log_dir.clone();
                let force_sync = self.force_sync;
                let (tree, storage) = tokio::task::spawn_blocking(move || {
                    let mut storage = FileStorage::open(&dir, log_dir.as_deref())?;
                    storage.set_force_sync(force_sync);
                    let loaded = storage.load()?;
                    Ok::<_, StorageError>((loaded.tree, storage))
                })
                .await
                .map_err(|e| ServerError::Config(format!("recovery task failed: {e}")))??;
                let journal = Journal::start(Box::new(storage), tree.last_zxid())?;
                (tree, Some(journal))
            }
            None => (DataTree::new(), None),
        };
        let ports = self.bind_clients().await?;
        let mut core_config = self.core;
        core_config.durable = journal.is_some();
        let (addr, secure_addr) = (ports.addr(), ports.secure_addr);
        let tls_failures = ports.listening.tls_failures.clone();
        let core = ServerCore::new(core_config, tree, Now::system());
        let (inputs_tx, inputs_rx) = mpsc::unbounded_channel();
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shutdown_tx = Arc::new(shutdown_tx);
        let (failure_tx, failure_rx) = watch::channel(None);
        let core_task = tokio::spawn(net::run_core(
            core,
            inputs_rx,
            shutdown_rx.clone(),
            shutdown_tx.clone(),
            failure_tx,
            journal,
        ));
        let mut tasks = vec![core_task];
        tasks.extend(ports.spawn(&inputs_tx, &shutdown_rx));
        tracing::info!(%addr, ?secure_addr, "zk-server ready");
        Ok(ServerHandle {
            addr,
            secure_addr,
            tls_failures,
            inputs: Inputs::Standalone(inputs_tx),
            shutdown: shutdown_tx,
            failure: failure_rx,
            tasks,
        })
    }

    /// Starts one ensemble member: its disk, its member task, its client, quorum and
    /// election ports.
    async fn start_member(self, spec: EnsembleSpec) -> Result<ServerHandle, ServerError> {
        use crate::zab::member::{Member, MemberConfig};
        use crate::zab::quorum::Voters;
        let data_dir = self.data_dir.clone().ok_or_else(|| {
            ServerError::Config("an ensemble member needs a data directory (dataDir)".into())
        })?;
        let me = spec
            .me()
            .cloned()
            .ok_or_else(|| ServerError::Config(format!("server.{} is not listed", spec.sid)))?;
        // Peers are resolved at each dial; only our own addresses must resolve now, to
        // bind them.
        let peers: BTreeMap<_, _> = spec
            .peers
            .iter()
            .map(|p| {
                (
                    p.sid,
                    PeerAddrs {
                        host: p.host.clone(),
                        quorum_port: p.quorum_port,
                        election_port: p.election_port,
                    },
                )
            })
            .collect();
        let resolve = |port: u16| {
            let host = me.host.clone();
            async move {
                tokio::net::lookup_host((host.as_str(), port))
                    .await
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| {
                        ServerError::Config(format!(
                            "server.{}: cannot resolve {host} (this member's own address)",
                            spec.sid
                        ))
                    })
            }
        };
        let mine_quorum = resolve(me.quorum_port).await?;
        let mine_election = resolve(me.election_port).await?;
        let bind_ip = |addr: SocketAddr| {
            if spec.listen_on_all_ips {
                SocketAddr::new(std::net::IpAddr::from([0, 0, 0, 0]), addr.port())
            } else {
                addr
            }
        };
        let quorum_listener = TcpListener::bind(bind_ip(mine_quorum)).await?;
        let election_listener = TcpListener::bind(bind_ip(mine_election)).await?;
        let ports = self.bind_clients().await?;
        let (addr, secure_addr) = (ports.addr(), ports.secure_addr);
        let tls_failures = ports.listening.tls_failures.clone();

        let log_dir = self.data_log_dir.clone();
        let force_sync = self.force_sync;
        let dir = data_dir.clone();
        let (loaded, storage) = tokio::task::spawn_blocking(move || {
            let mut storage = FileStorage::open(&dir, log_dir.as_deref())?;
            storage.set_force_sync(force_sync);
            let loaded = storage.load()?;
            Ok::<_, StorageError>((loaded, storage))
        })
        .await
        .map_err(|e| ServerError::Config(format!("recovery task failed: {e}")))??;
        let journal = Journal::start(Box::new(storage), loaded.tree.last_zxid())?;

        let tick = self.core.tick_time;
        let config = MemberConfig {
            sid: spec.sid,
            voters: Voters::new(spec.peers.iter().map(|p| p.sid)),
            init_limit: spec.init_limit,
            sync_limit: spec.sync_limit,
            election: spec.election_timing(tick),
            history_kept: spec.history_kept,
            core: self.core.clone(),
            seed: rand::random(),
        };
        let mut member = Member::new(config, loaded, Now::system());
        member.set_conf(conf_lines(&spec, &me));

        let (events_tx, events_rx) = mpsc::unbounded_channel::<Event>();
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shutdown_tx = Arc::new(shutdown_tx);
        let (failure_tx, failure_rx) = watch::channel(None);
        let cut = Arc::new(AtomicBool::new(false));
        let peer_tls = spec.quorum_tls.as_ref().map(|t| t.load()).transpose()?;
        let transport = Transport::new(
            spec.sid,
            peers,
            events_tx.clone(),
            spec.connect_timeout,
            cut.clone(),
            shutdown_rx.clone(),
            peer_tls,
        );
        let runtime = Runtime::new(
            member,
            transport.clone(),
            journal,
            cut,
            failure_tx,
            shutdown_tx.clone(),
        );
        let span = tracing::info_span!("member", sid = spec.sid);
        let member_task = tokio::spawn(
            run::run(runtime, events_rx, shutdown_rx.clone()).instrument(span.clone()),
        );
        let quorum_task = tokio::spawn(
            transport
                .clone()
                .quorum_listener(quorum_listener)
                .instrument(span.clone()),
        );
        let election_task = tokio::spawn(
            transport
                .election_listener(election_listener)
                .instrument(span),
        );
        let mut tasks = vec![member_task, quorum_task, election_task];
        tasks.extend(ports.spawn(&events_tx, &shutdown_rx));
        tracing::info!(%addr, ?secure_addr, sid = spec.sid, quorum = %mine_quorum, election = %mine_election, "zk-server ready (ensemble member)");
        Ok(ServerHandle {
            addr,
            secure_addr,
            tls_failures,
            inputs: Inputs::Member(events_tx),
            shutdown: shutdown_tx,
            failure: failure_rx,
            tasks,
        })
    }
}

/// A server's bound client listeners.
struct ClientPorts {
    plain: Option<TcpListener>,
    secure: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
    plain_addr: Option<SocketAddr>,
    secure_addr: Option<SocketAddr>,
    listening: net::Listening,
}

impl ClientPorts {
    /// The address [`ServerHandle::addr`] reports: the plain port, else the TLS one.
    fn addr(&self) -> SocketAddr {
        self.plain_addr
            .or(self.secure_addr)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Starts an accept loop per listener.
    fn spawn<E: From<Input> + Send + 'static>(
        self,
        core: &mpsc::UnboundedSender<E>,
        shutdown: &watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        if let Some(listener) = self.plain {
            tasks.push(tokio::spawn(net::accept_loop(
                listener,
                net::Security::Plain,
                core.clone(),
                self.listening.clone(),
                shutdown.clone(),
            )));
        }
        if let Some((listener, acceptor)) = self.secure {
            tasks.push(tokio::spawn(net::accept_loop(
                listener,
                net::Security::Tls(acceptor),
                core.clone(),
                self.listening,
                shutdown.clone(),
            )));
        }
        tasks
    }
}

/// The lines Apache's `conf` prints for an ensemble member.
fn conf_lines(spec: &EnsembleSpec, me: &crate::ensemble::PeerSpec) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "initLimit={}\nsyncLimit={}\nelectionAlg=3\nelectionPort={}\nquorumPort={}\npeerType=0\nmembership: \n",
        spec.init_limit, spec.sync_limit, me.election_port, me.quorum_port
    );
    for p in &spec.peers {
        let _ = write!(
            s,
            "server.{}={}:{}:{}:participant",
            p.sid, p.host, p.quorum_port, p.election_port
        );
        if let Some(c) = p.client {
            let _ = write!(s, ";{}:{}", c.ip(), c.port());
        }
        s.push('\n');
    }
    s.push_str("version=0");
    s
}

/// Where a handle sends its requests: a standalone core's task or a member's.
#[derive(Debug)]
enum Inputs {
    Standalone(mpsc::UnboundedSender<Input>),
    Member(mpsc::UnboundedSender<Event>),
}

impl Inputs {
    fn send(&self, input: Input) -> Result<(), ServerError> {
        let sent = match self {
            Inputs::Standalone(tx) => tx.send(input).is_ok(),
            Inputs::Member(tx) => tx.send(Event::Client(input)).is_ok(),
        };
        if sent {
            Ok(())
        } else {
            Err(ServerError::Stopped)
        }
    }
}

/// A running server. Dropping it shuts the server down.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    secure_addr: Option<SocketAddr>,
    tls_failures: Arc<std::sync::atomic::AtomicU64>,
    inputs: Inputs,
    shutdown: Arc<watch::Sender<bool>>,
    failure: watch::Receiver<Option<String>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ServerHandle {
    /// A builder.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port` for a client's connect string.
    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    /// The bound TLS address, if [`ServerBuilder::secure`] set one.
    pub fn secure_addr(&self) -> Option<SocketAddr> {
        self.secure_addr
    }

    /// Client connections closed because their TLS handshake failed (garbage, a plaintext
    /// client, an untrusted or missing certificate) or did not finish within the
    /// handshake timeout. Each is also logged.
    pub fn tls_handshake_failures(&self) -> u64 {
        self.tls_failures.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Input,
    ) -> Result<T, ServerError> {
        let (tx, rx) = oneshot::channel();
        self.inputs.send(make(tx))?;
        rx.await.map_err(|_| ServerError::Stopped)
    }

    /// What the server does now (standalone, leader, follower, or not serving).
    pub async fn mode(&self) -> Result<Mode, ServerError> {
        Ok(self.snapshot().await?.mode)
    }

    /// Cuts an ensemble member off from the other members (a partition: its peer
    /// connections close, nothing goes out or comes in), or reconnects it. Clients still
    /// reach it. An error on a standalone server.
    pub async fn isolate(&self, cut: bool) -> Result<(), ServerError> {
        let Inputs::Member(tx) = &self.inputs else {
            return Err(ServerError::Config(
                "a standalone server has no peers".into(),
            ));
        };
        let (reply, done) = oneshot::channel();
        tx.send(Event::Isolate(cut, reply))
            .map_err(|_| ServerError::Stopped)?;
        done.await.map_err(|_| ServerError::Stopped)
    }

    /// Expires a session now, as if its client went silent: ephemerals deleted, watches
    /// fired, its connection closed. False if no such session is alive (or, in an
    /// ensemble, if this member is not the leader: only the leader expires sessions).
    pub async fn expire_session(&self, session: i64) -> Result<bool, ServerError> {
        self.ask(|reply| Input::ExpireSession { session, reply })
            .await
    }

    /// Closes every client connection; sessions stay alive for their clients to re-attach.
    pub async fn drop_connections(&self) -> Result<(), ServerError> {
        self.ask(|reply| Input::DropConnections { reply }).await
    }

    /// Counters and sizes.
    pub async fn snapshot(&self) -> Result<Snapshot, ServerError> {
        self.ask(|reply| Input::Inspect { reply }).await
    }

    /// The answer to a four-letter word, as a client would get it.
    pub async fn four_letter(&self, word: &str) -> Result<String, ServerError> {
        let word = word.to_owned();
        self.ask(|reply| Input::FourLetter { word, reply }).await
    }

    /// Completes if the server stops by itself because it can no longer serve safely
    /// (the transaction log failed), with the reason. Never completes otherwise.
    pub async fn failed(&self) -> String {
        let mut rx = self.failure.clone();
        let reason = match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            Err(_) => String::new(),
        };
        if reason.is_empty() {
            // The server was shut down normally: nothing failed.
            std::future::pending::<()>().await;
        }
        reason
    }

    /// Stops accepting, closes every connection and waits for the tasks to end.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

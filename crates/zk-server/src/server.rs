//! Starting a server in-process: a builder for its settings, and a handle to read its
//! address, drive faults in tests (expire a session, drop every connection), read its
//! counters and shut it down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use zk_proto::frame::DEFAULT_MAX_FRAME;

use crate::core::{CoreConfig, Now, ServerCore};
use crate::journal::Journal;
use crate::net::{self, Input, Snapshot};
use crate::persist::{self, FileStorage};
use crate::storage::{Storage, StorageError};
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

    /// The core settings, for inspection.
    pub fn core_config(&self) -> &CoreConfig {
        &self.core
    }

    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(self) -> Result<ServerHandle, ServerError> {
        if self.core.min_session_timeout > self.core.max_session_timeout {
            return Err(ServerError::Config(
                "minSessionTimeout exceeds maxSessionTimeout".into(),
            ));
        }
        let (tree, journal) = match &self.data_dir {
            Some(dir) => {
                let dir = dir.clone();
                let (tree, storage) = tokio::task::spawn_blocking(move || {
                    let mut storage = FileStorage::open(&dir, None)?;
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
        let mut core_config = self.core;
        core_config.durable = journal.is_some();
        let listener = TcpListener::bind(self.addr).await?;
        let addr = listener.local_addr()?;
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
        let accept_task = tokio::spawn(net::accept_loop(
            listener,
            inputs_tx.clone(),
            self.max_frame,
            self.max_client_connections,
            self.handshake_timeout,
            shutdown_rx,
        ));
        tracing::info!(%addr, "zk-server ready");
        Ok(ServerHandle {
            addr,
            inputs: inputs_tx,
            shutdown: shutdown_tx,
            failure: failure_rx,
            tasks: vec![core_task, accept_task],
        })
    }
}

/// A running server. Dropping it shuts the server down.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    inputs: mpsc::UnboundedSender<Input>,
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

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Input,
    ) -> Result<T, ServerError> {
        let (tx, rx) = oneshot::channel();
        self.inputs
            .send(make(tx))
            .map_err(|_| ServerError::Stopped)?;
        rx.await.map_err(|_| ServerError::Stopped)
    }

    /// Expires a session now, as if its client went silent: ephemerals deleted, watches
    /// fired, its connection closed. False if no such session is alive.
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

//! The public client handle: every ZooKeeper operation as an async method.
//!
//! Owns argument checks (Apache's path rules, ACL and TTL sanity), the chroot translation
//! of paths going out and coming back, and turning replies into typed results. The
//! protocol itself lives in [`crate::session`]; the socket in [`crate::driver`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use tokio::sync::{mpsc, oneshot, watch};
use zk_proto::multi::{MultiOp, MultiRequest, MultiResult};
use zk_proto::ops::*;
use zk_proto::path::validate_path;
use zk_proto::{Acl, AddWatchMode, ClientInfo, CreateMode, Request, Response, Stat, WatcherType};

use crate::builder::ClientBuilder;
use crate::chroot::Chroot;
use crate::driver::{Command, Responder, Shared};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::options::{CreateOptions, Op, OpResult, ReadOp, ReadResult, MAX_TTL};
use crate::retry::{Retry, RetryPolicy};
use crate::session::WatchRegistration;
use crate::state::SessionState;
use crate::watch::{WatchKind, WatcherId};
use crate::watcher::{OneshotWatcher, PersistentWatcher, Sink};

/// The node that holds the ensemble's dynamic configuration (never chrooted).
pub const CONFIG_NODE: &str = "/zookeeper/config";

/// A ZooKeeper session. Cheap to clone; every clone shares the session. When the last
/// clone is dropped the session is closed (its ephemeral nodes go away at once).
///
/// # Getting a fresh session after expiry
/// An expired session is over: every call then fails with [`Error::SessionExpired`] and
/// the client does not reconnect. Build a new client with [`Client::connect`] (and
/// re-create ephemerals and watches) — exactly as with the Java client, whose `ZooKeeper`
/// object is also unusable after expiry. Watch [`Client::state_watcher`] to notice it.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    chroot: Chroot,
    state: watch::Receiver<SessionState>,
    shared: Arc<Shared>,
    request_timeout: Option<Duration>,
    next_watcher: AtomicU64,
    /// Queue capacity of each persistent watcher.
    watch_capacity: usize,
}

fn check_path(path: &str, sequential: bool) -> Result<()> {
    validate_path(path, sequential).map_err(|reason| Error::InvalidPath {
        path: path.to_owned(),
        reason,
    })
}

fn version(v: Option<i32>) -> i32 {
    v.unwrap_or(-1)
}

fn unexpected(response: Response) -> Error {
    Error::Marshalling(zk_proto::DecodeError::InvalidValue {
        field: "reply shape",
        value: match response {
            Response::Empty => 0,
            _ => 1,
        },
    })
}

impl Client {
    /// Connects with default settings; see [`ClientBuilder`] for the rest.
    pub async fn connect(connect_string: &str) -> Result<Client> {
        ClientBuilder::default().connect(connect_string).await
    }

    /// A builder for settings (timeouts, auth, chroot, resuming a session).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    pub(crate) fn new(
        commands: mpsc::UnboundedSender<Command>,
        chroot: Chroot,
        state: watch::Receiver<SessionState>,
        shared: Arc<Shared>,
        request_timeout: Option<Duration>,
        watch_capacity: usize,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                commands,
                chroot,
                state,
                shared,
                request_timeout,
                next_watcher: AtomicU64::new(1),
                watch_capacity,
            }),
        }
    }

    // ----- session -----

    /// The current session state.
    pub fn state(&self) -> SessionState {
        *self.inner.state.borrow()
    }

    /// A receiver of every state change (tokio `watch`: it holds the latest state).
    pub fn state_watcher(&self) -> watch::Receiver<SessionState> {
        self.inner.state.clone()
    }

    /// The session states as a stream, starting with the current one. Consecutive
    /// changes faster than the reader may be coalesced into the latest.
    pub fn state_stream(&self) -> BoxStream<'static, SessionState> {
        let rx = self.inner.state.clone();
        Box::pin(futures::stream::unfold(
            (rx, true),
            |(mut rx, first)| async move {
                if !first && rx.changed().await.is_err() {
                    return None;
                }
                let s = *rx.borrow_and_update();
                Some((s, (rx, false)))
            },
        ))
    }

    /// Every session state transition from now on, none merged or dropped (unlike
    /// [`Client::state_watcher`], which holds only the latest). The stream ends when the
    /// client's driver stops.
    pub fn session_events(&self) -> BoxStream<'static, SessionState> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        if let Ok(mut subs) = self.inner.shared.state_subscribers.lock() {
            subs.push(tx);
        }
        Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }

    /// The session id (0 before a session was established).
    pub fn session_id(&self) -> i64 {
        self.inner.shared.identity.lock().map(|i| i.0).unwrap_or(0)
    }

    /// The session password, to resume the session elsewhere with
    /// [`ClientBuilder::session`].
    pub fn session_password(&self) -> Vec<u8> {
        self.inner
            .shared
            .identity
            .lock()
            .map(|i| i.1.clone())
            .unwrap_or_default()
    }

    /// The session timeout the server granted.
    pub fn negotiated_timeout(&self) -> Duration {
        self.inner
            .shared
            .identity
            .lock()
            .map(|i| i.2)
            .unwrap_or_default()
    }

    /// When the connection was lost, if the client has been without one since (the server
    /// expires the session a session timeout after that).
    pub(crate) fn disconnected_since(&self) -> Option<tokio::time::Instant> {
        self.inner
            .shared
            .disconnected_since
            .lock()
            .ok()
            .and_then(|since| *since)
    }

    /// Why the last TLS connection failed, while no session has been established since.
    pub(crate) fn tls_failure(&self) -> Option<Error> {
        self.inner
            .shared
            .tls_failure
            .lock()
            .ok()
            .and_then(|failure| failure.clone())
    }

    /// Runs operations under a retry `policy`: what is retried and why only that is in
    /// [`crate::retry`].
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use zk_client::retry::ExponentialBackoff;
    ///
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// let policy = ExponentialBackoff::new(Duration::from_millis(100), 5);
    /// let (data, stat) = client.retry(&policy).get_data("/config").await?;
    /// client.retry(&policy).set_data("/config", b"next", stat.version).await?;
    /// # let _ = data; Ok(()) }
    /// ```
    pub fn retry<'a>(&'a self, policy: &'a dyn RetryPolicy) -> Retry<'a> {
        Retry::new(self, policy)
    }

    /// The client's counters.
    pub fn metrics(&self) -> Metrics {
        self.inner.shared.counters.snapshot()
    }

    /// The address of the server this client is connected to, while it is connected
    /// (Java's `ClientCnxn` remote address): which member of an ensemble serves it.
    pub fn server_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.shared.server.lock().ok().and_then(|s| *s)
    }

    /// Closes the session (sends closeSession and waits for the reply, at most the
    /// request timeout or 10 s). Other clones then fail with [`Error::Closed`].
    pub async fn close(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        if self.inner.commands.send(Command::Close { tx }).is_err() {
            return Ok(());
        }
        let limit = self
            .inner
            .request_timeout
            .unwrap_or(Duration::from_secs(10));
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(Ok(_))) | Ok(Err(_)) => Ok(()),
            Ok(Ok(Err(e))) if e.is_terminal() => Ok(()),
            Ok(Ok(Err(e))) => Err(e),
            Err(_) => Err(Error::RequestTimeout),
        }
    }

    // ----- plumbing -----

    fn server_path(&self, path: &str) -> String {
        self.inner.chroot.to_server(path)
    }

    fn client_path(&self, path: &str) -> String {
        self.inner.chroot.to_client(path)
    }

    async fn wait(&self, rx: oneshot::Receiver<Result<Response>>) -> Result<Response> {
        let result = match self.inner.request_timeout {
            Some(limit) => match tokio::time::timeout(limit, rx).await {
                Ok(r) => r,
                Err(_) => return Err(Error::RequestTimeout),
            },
            None => rx.await,
        };
        result.unwrap_or(Err(Error::Closed))
    }

    async fn call(&self, request: Request) -> Result<Response> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Request {
            request,
            responder: Responder::Reply(tx),
            watch: None,
        })?;
        self.wait(rx).await
    }

    fn send(&self, command: Command) -> Result<()> {
        self.inner.commands.send(command).map_err(|_| Error::Closed)
    }

    fn next_watcher(&self) -> WatcherId {
        WatcherId(self.inner.next_watcher.fetch_add(1, Ordering::Relaxed))
    }

    async fn call_watched(
        &self,
        request: Request,
        kind: WatchKind,
        server_path: String,
        sink: Sink,
    ) -> Result<Response> {
        let (tx, rx) = oneshot::channel();
        let registration = WatchRegistration {
            kind,
            path: server_path,
            watcher: self.next_watcher(),
        };
        self.send(Command::Request {
            request,
            responder: Responder::Reply(tx),
            watch: Some((registration, sink)),
        })?;
        self.wait(rx).await
    }

    // ----- writes -----

    /// Creates a node and returns its actual path (with the sequence suffix for
    /// sequential modes; chroot removed) and its Stat.
    ///
    /// # Errors
    /// `NodeExists`, `NoNode` (parent missing), `NoChildrenForEphemerals`, `NoAuth`,
    /// `InvalidAcl`, `BadArguments`, `Unimplemented` (TTL disabled on the server),
    /// `InvalidPath` / `InvalidArgument` before sending.
    pub async fn create(
        &self,
        path: &str,
        data: &[u8],
        options: &CreateOptions,
    ) -> Result<(String, Stat)> {
        let request = self.create_request(path, Bytes::copy_from_slice(data), options)?;
        match self.call(request).await? {
            Response::Create2(r) => Ok((self.client_path(&r.path), r.stat)),
            other => Err(unexpected(other)),
        }
    }

    fn create_request(&self, path: &str, data: Bytes, options: &CreateOptions) -> Result<Request> {
        let mode = options.mode;
        check_path(path, mode.is_sequential())?;
        if options.acl.is_empty() {
            return Err(Error::InvalidAcl);
        }
        let req = CreateRequest {
            path: self.server_path(path),
            data: Some(data),
            acl: options.acl.clone(),
            flags: mode.flags(),
        };
        match (mode.is_ttl(), options.ttl) {
            (true, Some(ttl)) => {
                if ttl.is_zero() || ttl > MAX_TTL {
                    return Err(Error::InvalidArgument(format!(
                        "ttl {ttl:?} must be in (0, {MAX_TTL:?}]"
                    )));
                }
                Ok(Request::CreateTtl(CreateTtlRequest {
                    path: req.path,
                    data: req.data,
                    acl: req.acl,
                    flags: req.flags,
                    ttl: ttl.as_millis() as i64,
                }))
            }
            (true, None) => Err(Error::InvalidArgument(format!("{mode:?} needs a ttl"))),
            (false, Some(_)) => Err(Error::InvalidArgument(format!("{mode:?} takes no ttl"))),
            (false, None) if mode == CreateMode::Container => Ok(Request::CreateContainer(req)),
            (false, None) => Ok(Request::Create2(req)),
        }
    }

    /// Deletes a node if its version matches (`None`: any version).
    ///
    /// # Errors
    /// `NoNode`, `BadVersion`, `NotEmpty`, `NoAuth`, `BadArguments` (system nodes).
    pub async fn delete(&self, path: &str, version: Option<i32>) -> Result<()> {
        check_path(path, false)?;
        self.call(Request::Delete(DeleteRequest {
            path: self.server_path(path),
            version: self::version(version),
        }))
        .await
        .map(drop)
    }

    /// Replaces a node's data if its version matches; returns the new Stat.
    pub async fn set_data(&self, path: &str, data: &[u8], version: Option<i32>) -> Result<Stat> {
        check_path(path, false)?;
        match self
            .call(Request::SetData(SetDataRequest {
                path: self.server_path(path),
                data: Some(Bytes::copy_from_slice(data)),
                version: self::version(version),
            }))
            .await?
        {
            Response::Stat(stat) => Ok(stat),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces a node's ACL if its ACL version (aversion) matches; returns the new Stat.
    pub async fn set_acl(&self, path: &str, acl: &[Acl], version: Option<i32>) -> Result<Stat> {
        check_path(path, false)?;
        if acl.is_empty() {
            return Err(Error::InvalidAcl);
        }
        match self
            .call(Request::SetAcl(SetAclRequest {
                path: self.server_path(path),
                acl: acl.to_vec(),
                version: self::version(version),
            }))
            .await?
        {
            Response::Stat(stat) => Ok(stat),
            other => Err(unexpected(other)),
        }
    }

    /// Runs `ops` as one atomic transaction. On failure nothing is applied and the error is
    /// [`Error::MultiFailed`] with the index of the first failing op.
    pub async fn multi(&self, ops: &[Op]) -> Result<Vec<OpResult>> {
        let mut request = MultiRequest::default();
        for op in ops {
            request.ops.push(match op {
                Op::Create {
                    path,
                    data,
                    options,
                } => match self.create_request(path, data.clone(), options)? {
                    Request::Create2(r) => MultiOp::Create {
                        opcode: zk_proto::OpCode::Create2,
                        request: r,
                    },
                    Request::CreateContainer(r) => MultiOp::Create {
                        opcode: zk_proto::OpCode::CreateContainer,
                        request: r,
                    },
                    Request::CreateTtl(r) => MultiOp::CreateTtl(r),
                    _ => return Err(Error::InvalidArgument("unsupported create".into())),
                },
                Op::Delete { path, version } => {
                    check_path(path, false)?;
                    MultiOp::Delete(DeleteRequest {
                        path: self.server_path(path),
                        version: self::version(*version),
                    })
                }
                Op::SetData {
                    path,
                    data,
                    version,
                } => {
                    check_path(path, false)?;
                    MultiOp::SetData(SetDataRequest {
                        path: self.server_path(path),
                        data: Some(data.clone()),
                        version: self::version(*version),
                    })
                }
                Op::Check { path, version } => {
                    check_path(path, false)?;
                    MultiOp::Check(CheckVersionRequest {
                        path: self.server_path(path),
                        version: *version,
                    })
                }
            });
        }
        let results = match self.call(Request::Multi(request)).await? {
            Response::Multi(r) => r.results,
            other => return Err(unexpected(other)),
        };
        if let Some(index) = results
            .iter()
            .position(|r| matches!(r, MultiResult::Error(code) if *code != 0))
        {
            let MultiResult::Error(code) = results[index] else {
                unreachable!("position matched an error entry")
            };
            return Err(Error::MultiFailed {
                index,
                error: Box::new(Error::from_code(code)),
            });
        }
        results
            .into_iter()
            .map(|r| match r {
                MultiResult::Create(path) => Ok(OpResult::Create {
                    path: self.client_path(&path),
                    stat: None,
                }),
                MultiResult::Create2 { path, stat } => Ok(OpResult::Create {
                    path: self.client_path(&path),
                    stat: Some(stat),
                }),
                MultiResult::Delete => Ok(OpResult::Delete),
                MultiResult::SetData(stat) => Ok(OpResult::SetData(stat)),
                MultiResult::Check => Ok(OpResult::Check),
                _ => Err(Error::RuntimeInconsistency),
            })
            .collect()
    }

    // ----- reads -----

    /// A node's Stat, or `None` if it does not exist.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>> {
        check_path(path, false)?;
        let request = Request::Exists(PathWatchRequest {
            path: self.server_path(path),
            watch: false,
        });
        match self.call(request).await {
            Ok(Response::Stat(stat)) => Ok(Some(stat)),
            Ok(other) => Err(unexpected(other)),
            Err(Error::NoNode) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Like [`Client::exists`], and leaves a one-shot watch that fires on the node's
    /// creation, data change or deletion — whether or not it exists now.
    pub async fn exists_and_watch(&self, path: &str) -> Result<(Option<Stat>, OneshotWatcher)> {
        check_path(path, false)?;
        let server_path = self.server_path(path);
        let request = Request::Exists(PathWatchRequest {
            path: server_path.clone(),
            watch: true,
        });
        let (watcher, sink) = OneshotWatcher::new();
        match self
            .call_watched(request, WatchKind::Exists, server_path, sink)
            .await
        {
            Ok(Response::Stat(stat)) => Ok((Some(stat), watcher)),
            Ok(other) => Err(unexpected(other)),
            Err(Error::NoNode) => Ok((None, watcher)),
            Err(e) => Err(e),
        }
    }

    /// A node's data and Stat (null data reads as empty).
    pub async fn get_data(&self, path: &str) -> Result<(Bytes, Stat)> {
        check_path(path, false)?;
        self.get_data_at(self.server_path(path), false, None)
            .await
            .map(|(d, s, _)| (d, s))
    }

    /// Like [`Client::get_data`], and leaves a one-shot watch for the node's next data
    /// change or deletion.
    pub async fn get_and_watch_data(&self, path: &str) -> Result<(Bytes, Stat, OneshotWatcher)> {
        check_path(path, false)?;
        let (watcher, sink) = OneshotWatcher::new();
        let (d, s, _) = self
            .get_data_at(self.server_path(path), true, Some(sink))
            .await?;
        Ok((d, s, watcher))
    }

    async fn get_data_at(
        &self,
        server_path: String,
        watch: bool,
        sink: Option<Sink>,
    ) -> Result<(Bytes, Stat, ())> {
        let request = Request::GetData(PathWatchRequest {
            path: server_path.clone(),
            watch,
        });
        let response = match sink {
            Some(sink) => {
                self.call_watched(request, WatchKind::Data, server_path, sink)
                    .await?
            }
            None => self.call(request).await?,
        };
        match response {
            Response::GetData(r) => Ok((r.data.unwrap_or_default(), r.stat, ())),
            other => Err(unexpected(other)),
        }
    }

    /// The names of a node's children (unordered).
    pub async fn get_children(&self, path: &str) -> Result<Vec<String>> {
        check_path(path, false)?;
        match self
            .call(Request::GetChildren(PathWatchRequest {
                path: self.server_path(path),
                watch: false,
            }))
            .await?
        {
            Response::Strings(children) => Ok(children),
            other => Err(unexpected(other)),
        }
    }

    /// The names of a node's children and the node's Stat.
    pub async fn get_children_with_stat(&self, path: &str) -> Result<(Vec<String>, Stat)> {
        check_path(path, false)?;
        match self
            .call(Request::GetChildren2(PathWatchRequest {
                path: self.server_path(path),
                watch: false,
            }))
            .await?
        {
            Response::Children2(r) => Ok((r.children, r.stat)),
            other => Err(unexpected(other)),
        }
    }

    /// Like [`Client::get_children_with_stat`], and leaves a one-shot watch for the next
    /// change of the children (or the node's deletion).
    pub async fn get_and_watch_children(
        &self,
        path: &str,
    ) -> Result<(Vec<String>, Stat, OneshotWatcher)> {
        check_path(path, false)?;
        let server_path = self.server_path(path);
        let (watcher, sink) = OneshotWatcher::new();
        let request = Request::GetChildren2(PathWatchRequest {
            path: server_path.clone(),
            watch: true,
        });
        match self
            .call_watched(request, WatchKind::Child, server_path, sink)
            .await?
        {
            Response::Children2(r) => Ok((r.children, r.stat, watcher)),
            other => Err(unexpected(other)),
        }
    }

    /// A node's ACL and Stat.
    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        check_path(path, false)?;
        match self
            .call(Request::GetAcl(PathRequest {
                path: self.server_path(path),
            }))
            .await?
        {
            Response::GetAcl(r) => Ok((r.acl, r.stat)),
            other => Err(unexpected(other)),
        }
    }

    /// Waits until the server this client is connected to has caught up with the leader
    /// (for reads that must see writes made through other servers).
    pub async fn sync(&self, path: &str) -> Result<()> {
        check_path(path, false)?;
        self.call(Request::Sync(PathRequest {
            path: self.server_path(path),
        }))
        .await
        .map(drop)
    }

    /// Runs reads together (not atomically): each op has its own result.
    pub async fn multi_read(&self, ops: &[ReadOp]) -> Result<Vec<Result<ReadResult>>> {
        let mut request = MultiRequest::default();
        for op in ops {
            let (ReadOp::GetData(path) | ReadOp::GetChildren(path)) = op;
            check_path(path, false)?;
            let r = PathWatchRequest {
                path: self.server_path(path),
                watch: false,
            };
            request.ops.push(match op {
                ReadOp::GetData(_) => MultiOp::GetData(r),
                ReadOp::GetChildren(_) => MultiOp::GetChildren(r),
            });
        }
        match self.call(Request::MultiRead(request)).await? {
            Response::Multi(r) => Ok(r
                .results
                .into_iter()
                .map(|r| match r {
                    MultiResult::GetData { data, stat } => {
                        Ok(ReadResult::Data(data.unwrap_or_default(), stat))
                    }
                    MultiResult::GetChildren(children) => Ok(ReadResult::Children(children)),
                    MultiResult::Error(code) => Err(Error::from_code(code)),
                    _ => Err(Error::RuntimeInconsistency),
                })
                .collect()),
            other => Err(unexpected(other)),
        }
    }

    /// The session's ephemeral nodes whose path starts with `prefix` (a plain string
    /// prefix; `"/"` for all). Unlike the Java client, the chroot is applied to the prefix
    /// and removed from the results, so paths are consistent with every other call.
    pub async fn get_ephemerals(&self, prefix: &str) -> Result<Vec<String>> {
        if !prefix.starts_with('/') {
            return Err(Error::InvalidPath {
                path: prefix.to_owned(),
                reason: zk_proto::path::PathError::NotAbsolute,
            });
        }
        match self
            .call(Request::GetEphemerals(PathRequest {
                path: self.server_path(prefix),
            }))
            .await?
        {
            Response::Strings(paths) => Ok(paths
                .iter()
                .filter(|p| {
                    self.inner.chroot.prefix().is_none_or(|c| {
                        p.as_str() == c || p.strip_prefix(c).is_some_and(|r| r.starts_with('/'))
                    })
                })
                .map(|p| self.client_path(p))
                .collect()),
            other => Err(unexpected(other)),
        }
    }

    /// The number of descendants of a node (all depths, the node excluded).
    pub async fn get_all_children_number(&self, path: &str) -> Result<i32> {
        check_path(path, false)?;
        match self
            .call(Request::GetAllChildrenNumber(PathRequest {
                path: self.server_path(path),
            }))
            .await?
        {
            Response::AllChildrenNumber(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// The identities this connection is authenticated as (3.7+ servers).
    pub async fn whoami(&self) -> Result<Vec<ClientInfo>> {
        match self.call(Request::WhoAmI).await? {
            Response::WhoAmI(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// The ensemble's dynamic configuration (`/zookeeper/config`, never chrooted).
    pub async fn get_config(&self) -> Result<(Bytes, Stat)> {
        self.get_data_at(CONFIG_NODE.to_owned(), false, None)
            .await
            .map(|(d, s, _)| (d, s))
    }

    /// Like [`Client::get_config`], with a one-shot watch on configuration changes.
    pub async fn get_and_watch_config(&self) -> Result<(Bytes, Stat, OneshotWatcher)> {
        let (watcher, sink) = OneshotWatcher::new();
        let (d, s, _) = self
            .get_data_at(CONFIG_NODE.to_owned(), true, Some(sink))
            .await?;
        Ok((d, s, watcher))
    }

    // ----- auth and watches -----

    /// Adds credentials to the session (replayed after every reconnect) and waits for the
    /// server's answer. A refusal ends the session ([`SessionState::AuthFailed`]).
    pub async fn add_auth(&self, scheme: &str, auth: &[u8]) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::AddAuth {
            scheme: scheme.to_owned(),
            auth: auth.to_vec(),
            tx,
        })?;
        self.wait(rx).await.map(drop)
    }

    /// Adds a persistent watch (`addWatch`): a stream of events on `path` (persistent) or
    /// on `path` and every descendant (persistent recursive). The node need not exist.
    /// The watch survives reconnects and fires until removed or the session ends. Its
    /// queue is bounded: a reader that falls behind gets a [`Lagged`](crate::Lagged) item
    /// where events were dropped (see [`PersistentWatcher`]).
    pub async fn add_watch(&self, path: &str, mode: AddWatchMode) -> Result<PersistentWatcher> {
        check_path(path, false)?;
        let server_path = self.server_path(path);
        let (watcher, sink) = PersistentWatcher::new(self.inner.watch_capacity);
        let kind = match mode {
            AddWatchMode::Persistent => WatchKind::Persistent,
            AddWatchMode::PersistentRecursive => WatchKind::PersistentRecursive,
        };
        let request = Request::AddWatch(AddWatchRequest {
            path: server_path.clone(),
            mode: mode as i32,
        });
        self.call_watched(request, kind, server_path, sink).await?;
        Ok(watcher)
    }

    /// Removes this client's watches of `watcher_type` on `path`, on the server and
    /// locally; each removed watcher receives a `*WatchRemoved` event. With `local`, the
    /// local watchers are removed even if the server cannot be reached.
    ///
    /// # Errors
    /// [`Error::NoWatcher`] if no such watch is registered locally.
    pub async fn remove_watches(
        &self,
        path: &str,
        watcher_type: WatcherType,
        local: bool,
    ) -> Result<()> {
        check_path(path, false)?;
        let (tx, rx) = oneshot::channel();
        self.send(Command::RemoveWatches {
            server_path: self.server_path(path),
            watcher_type,
            local,
            tx,
        })?;
        self.wait(rx).await.map(drop)
    }
}

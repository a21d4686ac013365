//! An async (tokio) client for Apache ZooKeeper 3.5+ (tested against 3.8).
//!
//! ```no_run
//! use zk_client::{Client, CreateOptions, CreateMode};
//!
//! # async fn demo() -> zk_client::Result<()> {
//! let client = Client::connect("127.0.0.1:2181/app").await?;
//! let (path, _stat) = client
//!     .create("/jobs-", b"payload", &CreateOptions::new(CreateMode::PersistentSequential))
//!     .await?;
//! let (data, stat, watcher) = client.get_and_watch_data(&path).await?;
//! client.set_data(&path, b"next", Some(stat.version)).await?;
//! let event = watcher.await; // NodeDataChanged
//! # let _ = (data, event);
//! # Ok(()) }
//! ```
//!
//! # Shape
//! - [`session`]: the protocol as a sans-IO state machine (xids, pending requests,
//!   watches, pings, handshakes, expiry). Deterministically unit-tested.
//! - `driver`: one tokio task per client owning the socket and timers; it batches every
//!   ready request into one write.
//! - [`Client`]: cheap cloneable handle; each operation is an async method.
//! - [`retry`]: retry policies (exponential back-off, n times, until elapsed; jittered) and
//!   the retry loop, bounded by the session.
//! - [`watch`]: the watch registry (Apache's `ZKWatchManager`), [`hosts`]: connect string
//!   and reconnect back-off, [`chroot`]: path prefixing, `rw_probe`: finding a read-write
//!   server while connected to a read-only one.
//! - TLS: [`TlsOptions`] on [`ClientBuilder::tls`] (what to trust, a client certificate,
//!   host name checks), `transport` moves a connection's bytes, plain or TLS;
//!   [`properties`] maps the Java client's property names (`zookeeper.client.secure`, …).
//! - SASL: [`SaslOptions`] on [`ClientBuilder::sasl`] (DIGEST-MD5 credentials, given or read
//!   from a JAAS file, see [`sasl`]; Kerberos/GSSAPI with the `kerberos` feature, see
//!   `kerberos`); the exchange runs in the session after every handshake.
//!
//! # Features
//! - `kerberos` (off by default): SASL GSSAPI with MIT Kerberos through the `libgssapi`
//!   crate, which links libgssapi_krb5 and runs bindgen at build time, so it needs the
//!   MIT headers and libclang (Debian: `libkrb5-dev libclang-dev pkg-config`). Off by
//!   default so that the default build needs nothing beyond a C compiler.
//!
//! # Guarantees
//! - Requests go on the wire in call order and are pipelined on one connection.
//! - A watch event is delivered before the reply of any later request that observes the
//!   change (ZooKeeper's ordering guarantee): the driver hands out events and replies in
//!   the order the server sent them.
//! - On a dropped connection the client reconnects to the ensemble (shuffled hosts,
//!   jittered exponential back-off), re-attaches the same session, replays credentials and
//!   restores every watch with SetWatches/SetWatches2; requests in flight fail with
//!   [`Error::ConnectionLoss`] and are never retried by themselves (a write may or may not
//!   have applied). [`Client::retry`] retries under a [`retry::RetryPolicy`] what can be
//!   repeated safely — reads, version-conditioned writes, non-sequential and protected
//!   creates — and reports a conflict that a lost attempt may have caused as
//!   [`Error::MaybeApplied`]; see [`retry`] for why only those.
//!   Requests made while no server can be reached fail with `ConnectionLoss` after the
//!   next failed connect attempt rather than wait, as with the Java client.
//! - With [`ClientBuilder::read_only`], a client may be served reads by a server cut off
//!   from its quorum; it probes the other servers in the background (Java's back-off:
//!   100 ms doubling to 60 s) and moves to a read-write one as soon as one answers,
//!   resuming its session if a read-write server had accepted it (a session made on a
//!   read-only server is local to it, so a new one is made).
//! - Session state: [`Client::state_watcher`] holds the latest state,
//!   [`Client::session_events`] yields every transition; persistent watch streams also
//!   carry disconnect/reconnect events.
//! - A persistent watch's events wait in a bounded queue (4096 by default,
//!   [`ClientBuilder::persistent_watch_capacity`]): a reader that stops reading costs
//!   bounded memory, and where events were dropped it gets one [`Lagged`] item, in order,
//!   telling it to re-read (see [`PersistentWatcher`]).
//! - On a 3.6–3.8 server, which keeps one watch mode per connection and path, a one-shot
//!   watch on a path this client already watches persistently is served locally from the
//!   persistent watch, so neither breaks the other.
//! - On expiry every watcher receives a final `Expired` event and every later call fails
//!   with [`Error::SessionExpired`]; see [`Client`] for getting a fresh session.
//!
//! Dependencies: `rand` shuffles hosts and jitters back-off; `futures` provides the
//! `Stream` trait for persistent watches and state streams; `rustls` (with the `ring`
//! provider, no OpenSSL, nothing but a C compiler to build), `tokio-rustls`,
//! `rustls-pki-types` (PEM), `rustls-native-certs` (the system's roots) and the
//! workspace's `zk-keystore` (Java's PKCS#12 stores, pure Rust) provide TLS — see the
//! `tls` module for why each.

#![warn(missing_docs)]

mod builder;
pub mod chroot;
mod client;
mod driver;
pub mod error;
pub mod hosts;
#[cfg(feature = "kerberos")]
pub mod kerberos;
pub mod managed;
mod metrics;
mod options;
pub mod properties;
pub mod retry;
mod rw_probe;
pub mod sasl;
pub mod session;
pub mod state;
mod tls;
mod transport;
pub mod watch;
mod watch_queue;
mod watcher;

pub use builder::ClientBuilder;
pub use client::{Client, CONFIG_NODE};
pub use error::{Error, Result};
pub use managed::{ManagedClient, SessionEvent};
pub use metrics::Metrics;
pub use options::{CreateOptions, Op, OpResult, ReadOp, ReadResult, MAX_TTL};
pub use sasl::SaslOptions;
pub use state::{EventType, SessionState, WatchedEvent};
pub use tls::{TlsFailure, TlsOptions};
pub use watcher::{Lagged, OneshotWatcher, PersistentWatcher};
pub use zk_proto::{
    perms, Acl, AddWatchMode, ClientInfo, CreateMode, ErrorCode, Id, Stat, WatcherType,
};

/// Digest ids for ACLs: `digest_id("user:password")`.
pub use zk_proto::digest::digest_id;

//! zk-server: a ZooKeeper-compatible server that speaks Apache ZooKeeper's client
//! protocol, bundled so that zkmesh runs, demos and tests without Java.
//!
//! Real clients cannot tell it from Apache ZooKeeper 3.8: the project's tests run the same
//! scripts against both with zk-client, raw protocol frames, the Java `zkCli.sh` and the
//! Python `kazoo` client, and compare the results field by field.
//!
//! ```no_run
//! # async fn demo() -> Result<(), zk_server::ServerError> {
//! let server = zk_server::ServerHandle::builder().port(0).start().await?;
//! println!("serving on {}", server.connect_string());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Shape
//! - [`core`]: the protocol core (sans-IO): connections, sessions, dispatch, commit,
//!   watch delivery, expiry and clean-up. Inputs in, frames out.
//! - [`prep`]: write validation in Apache's order, turning requests into [`txn`]s that fix
//!   every choice; [`tree`]: the data tree, changed only by applying txns.
//! - [`watches`], [`sessions`], [`acl`], [`fourlw`]: one concept each.
//! - [`persist`]: transaction log with group commit, snapshots, recovery.
//! - `net` (private): the tokio shell — sockets, framing, write coalescing.
//! - [`ServerHandle`]: embedding and the test harness (expire a session, drop every
//!   connection, read counters); the `zk-server` binary wraps it.
//!
//! # Pipeline, and where it differs from Apache's
//! One task owns the tree and handles requests one at a time in arrival order. A write is
//! validated and turned into a txn, applied at once, and its watch notifications queued
//! before its reply — Apache's ordering guarantee. Because the task applies txns in order
//! itself, there are no "outstanding changes" to track as Apache's `PrepRequestProcessor`
//! must. Durability is enforced at the exit instead of the entrance: in durable mode the
//! txns of each batch go to a log-writer thread, and every output produced by the batch
//! is held until the writer has fsync'd them. No client can observe a change that a crash
//! could lose, and concurrent writers share one fsync (group commit). The single-node
//! server is built as a one-member ensemble would be: the committed txn stream is the
//! only thing that changes the tree.
//!
//! # Known differences from Apache ZooKeeper 3.8.0
//! - `create2` inside `multi` answers with a path and a Stat (as 3.8.2+), not a path only.
//! - A standalone `check` (outside multi) is refused with UNIMPLEMENTED and the connection
//!   is closed (as 3.8.5+); 3.8.0 sends no reply at all.
//! - TTL nodes are enabled by default (`zookeeper.extendedTypesEnabled` defaults to false
//!   in Apache); turn them off with [`ServerBuilder::extended_types`].
//! - `whoAmI` and `getChildren` list in a deterministic order; Apache's order is a hash
//!   order that clients must not rely on.
//! - Four-letter words give Apache's formats with fewer `mntr` metrics; latency figures
//!   are not measured.
//! - `checkWatches` answers for the calling connection only; 3.6–3.8's
//!   `containsWatcher` also reported watches of *other* connections (a bug, not copied).
//!
//! # Limits worth knowing
//! - A snapshot is encoded on the core task: with a million znodes that pauses request
//!   handling for about 0.4 s once every `snap_count` writes.
//! - A connection whose client stops reading is closed once 64 MiB of replies are queued
//!   for it; connections per client address are capped (`maxClientCnxns`, default 60);
//!   a connection must send its first request within the handshake timeout (10 s).
//!
//! Dependencies beyond the workspace's: `crc32fast` (log and snapshot checksums) and
//! `tracing-subscriber` (the binary's logging).

#![warn(missing_docs)]

pub mod acl;
pub mod config;
mod connect;
pub mod core;
pub mod digest;
pub mod ensemble;
pub mod fourlw;
pub mod journal;
mod net;
pub mod outstanding;
pub mod persist;
mod pipeline;
pub mod prep;
pub mod quota;
mod reads;
mod server;
pub mod sessions;
pub mod storage;
pub mod tree;
pub mod txn;
pub mod watches;
pub mod zab;

pub use ensemble::{Ensemble, EnsembleBuilder, EnsembleSpec, PeerSpec};
pub use net::{Mode, Snapshot};
pub use server::{ServerBuilder, ServerError, ServerHandle};

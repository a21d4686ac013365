//! zk-server: a ZooKeeper-compatible server that speaks Apache ZooKeeper's client
//! protocol, bundled so that zkmesh runs, demos and tests without Java — standalone, or
//! as a member of a 3- or 5-member ensemble that keeps its data through the loss of a
//! minority of members (Zab, as Apache ZooKeeper 3.8 runs it).
//!
//! Real clients cannot tell it from Apache ZooKeeper 3.8: the project's tests run the same
//! scripts against both with zk-client, raw protocol frames, the Java `zkCli.sh`, Apache
//! Curator and the Python `kazoo` client — on single servers and on 3-member ensembles
//! through a leader kill — and compare the results.
//!
//! ```no_run
//! # async fn demo() -> Result<(), zk_server::ServerError> {
//! let server = zk_server::ServerHandle::builder().port(0).start().await?;
//! println!("serving on {}", server.connect_string());
//! server.shutdown().await;
//!
//! // Three members in this process (tests): kill, restart and isolate them.
//! let mut ensemble = zk_server::Ensemble::builder().members(3).start().await?;
//! let leader = ensemble.leader().await?;
//! ensemble.kill(leader).await;
//! # Ok(()) }
//! ```
//!
//! A member of a real ensemble is started from the `zoo.cfg` an Apache member would read
//! (`zk-server zoo.cfg`, with `dataDir/myid`); see [`config`].
//!
//! # Shape
//! - [`core`]: the client-facing protocol core (sans-IO): connections, sessions,
//!   dispatch, watch delivery, expiry and clean-up. Inputs in, frames out.
//! - `pipeline` and `connect` (private, `impl ServerCore`): the write pipeline and the
//!   handshake; [`prep`] validates writes in Apache's order against the tree plus the
//!   [`outstanding`] changes and turns them into [`txn`]s that fix every choice;
//!   [`tree`]: the data tree, changed only by applying committed txns, with a running
//!   [`digest`].
//! - [`zab`]: the ensemble protocol (sans-IO): election, discovery and synchronisation,
//!   broadcast, global sessions — whole members driven by inputs, answering with actions.
//! - [`storage`], [`persist`], [`journal`]: disk jobs and their completions, the file
//!   formats and recovery, the writer thread with group commit.
//! - [`watches`], [`sessions`], [`acl`], [`quota`], [`fourlw`]: one concept each;
//!   [`tls`]: TLS settings and certificate identities.
//! - `net` (private) and [`ensemble`]: the tokio shells — client sockets; peer sockets,
//!   the member task and the in-process [`Ensemble`] harness.
//! - [`ServerHandle`]: embedding and the test harness (expire a session, drop every
//!   connection, isolate a member, read counters); the `zk-server` binary wraps it.
//!
//! # Pipeline (Apache's)
//! The tree holds committed state only. A write is prepared against the tree plus every
//! change prepared before it and not yet committed (Apache's `outstandingChanges`), which
//! fixes its zxid and every other choice; the txn then commits — at once in memory, once
//! fsync'd when durable (concurrent writers share an fsync), once a quorum logged it in
//! an ensemble — and is applied on every member in zxid order. The member holding the
//! client's request answers it from what applying reported, after the watch
//! notifications it triggered. A session's reads wait behind its earlier writes; other
//! reads are answered at once. No client ever sees a change that is not committed.
//!
//! # Snapshots: a copy-on-write tree, not a fuzzy snapshot
//! The tree is persistent (shared nodes, each holding its children in a copy-on-write
//! B+tree, `tree/children.rs`): freezing it is O(1), and the frozen copy is encoded and written (or streamed to a
//! follower for a SNAP sync) on another thread while the live tree changes — the core
//! never stops for a snapshot. Apache instead writes a *fuzzy* snapshot while txns apply
//! and relies on replaying them idempotently, a class of bugs of its own (ZOOKEEPER-3145,
//! 3249, 3127, 4689); an exact snapshot has none. The cost: a write made while a copy is
//! alive copies the nodes on its path and the map chunks it touches (measured by
//! `examples/tree_costs.rs`: about 10 µs per setData in a directory of a million nodes,
//! against 3 µs with no copy alive).
//!
//! # The ensemble, and where it differs from Apache's
//! Fast leader election, discovery (a new epoch, the follower-ahead check), DIFF/TRUNC/SNAP
//! sync with Apache's durable order (history, then `currentEpoch`, then the NEWLEADER
//! ack), pipelined broadcast, liveness by `syncLimit`, and global sessions (creation,
//! close and expiry are txns; followers forward writes and report session touches on
//! pings; a client may move to any member and keep its session, ephemerals and
//! watches). Every rule of `zab-and-ensembles.md`'s pitfall list is followed; a seeded
//! simulation of whole members checks the invariants after every step (see
//! `tests/simulation.rs`). Differences that a user might notice:
//! - The peer protocol is zkmesh's own (two ports as in Apache, framed TCP, cumulative
//!   acks and commits): zk-server members and Apache members cannot form one ensemble.
//! - Elections scale with the tick: the finalize wait and first re-send interval are
//!   Apache's 200 ms but at most a quarter of `tickTime` (50 ms at a 200 ms tick), which
//!   is most of why fail-over takes a fraction of Apache's time.
//! - DIFF syncs come from the last txns kept in memory (10 000 by default); a member
//!   further behind gets a snapshot (Apache can also DIFF from its log on disk).
//! - Membership is static: no observers, no dynamic reconfiguration, no local sessions,
//!   no read-only mode (a member without a quorum serves no client, as Apache's does by
//!   default). Configuration keys for these are refused by name.
//!
//! # Other known differences from Apache ZooKeeper 3.8.0
//! - `create2` inside `multi` answers with a path and a Stat (as 3.8.2+), not a path only.
//! - A standalone `check` (outside multi) is refused with UNIMPLEMENTED and the connection
//!   is closed (as 3.8.5+); 3.8.0 sends no reply at all.
//! - TTL nodes are enabled by default (`zookeeper.extendedTypesEnabled` defaults to false
//!   in Apache); turn them off with [`ServerBuilder::extended_types`].
//! - `whoAmI` and `getChildren` list in a deterministic order; Apache's order is a hash
//!   order that clients must not rely on.
//! - Four-letter words give Apache's formats with fewer `mntr` metrics; latency figures
//!   are not measured.
//! - SASL is DIGEST-MD5 only (a JAAS `Server` section of `DigestLoginModule` users; no
//!   Kerberos/GSSAPI, no `zookeeper.letAnySaslUserDoX`, no
//!   `SASLAuthenticationProvider.superPassword`). The JAAS file comes from zk-server's
//!   `jaasLoginConfig` key or a `-Djava.security.auth.login.config=` argument. An unknown
//!   user is refused; 3.8.0 checks it against the last looked-up user's password
//!   (ZOOKEEPER-4839, fixed in 3.8.5). A `sasl` request after the exchange completed is
//!   answered AuthFailed and closed; Java's `SaslServer` throws an unchecked exception
//!   there, which drops the connection without a reply.
//! - `checkWatches` answers for the calling connection only; 3.6–3.8's
//!   `containsWatcher` also reported watches of *other* connections (a bug, not copied).
//!
//! # TLS
//! `secureClientPort` serves TLS (rustls) beside or instead of `clientPort`, from the
//! same `ssl.*` keys as Apache (PEM, PKCS#12 and JKS stores, `ssl.clientAuth`, protocols); a
//! trusted client
//! certificate gives its connection the `x509` id of its subject, printed as Java prints
//! it, and `x509` ACLs work as in Apache (`X509AuthenticationProvider.superUser` too).
//! `sslQuorum=true` puts mutual TLS on the quorum and election ports. Failed or stalled
//! handshakes are logged and counted ([`ServerHandle::tls_handshake_failures`]).
//! Differences:
//! - Key and trust stores are PEM, PKCS#12 or JKS (by `ssl.*.type` or the file
//!   extension, as Apache infers it, with `ssl.*.password`): BCFKS is refused at start
//!   with the `keytool` conversion to use; an encrypted PEM key is opened with
//!   `ssl.keyStore.password`.
//! - No port unification (`portUnification`), no CRL or OCSP checks (refused by name);
//!   `ssl.ciphersuites` is ignored (rustls's modern suites are offered).
//! - Client certificates are checked against the trust store, not against the client's
//!   host name (Apache's `ssl.clientHostnameVerification`).
//! - The `x509` provider is always on for TLS connections; Apache needs
//!   `authProvider.x509=…X509AuthenticationProvider` and drops TLS clients without it.
//!
//! # Limits worth knowing
//! - A connection whose client stops reading is closed once 64 MiB of replies are queued
//!   for it; connections per client address are capped (`maxClientCnxns`, default 60);
//!   a connection must finish its TLS handshake and send its first request within the
//!   handshake timeout (10 s). A
//!   learner that stops reading its quorum link is dropped once 256 MiB are queued.
//!
//! Dependencies beyond the workspace's: `triomphe` (shared nodes and data without a weak count, see `tree/node.rs`),
//! `crc32fast` (log and snapshot checksums), rustls with `tokio-rustls`,
//! `rustls-pki-types`, `rustls-native-certs` and `x509-parser` (TLS without OpenSSL, see
//! the crate's `Cargo.toml`), and for the binary `tracing-subscriber` (logging) and
//! `mimalloc` (the allocator, see `src/bin/zk-server.rs`).

#![warn(missing_docs)]

pub mod acl;
pub mod config;
mod connect;
pub mod core;
pub mod digest;
pub mod ensemble;
pub mod fourlw;
pub mod journal;
pub mod latency;
mod net;
pub mod outstanding;
pub mod persist;
mod pipeline;
pub mod prep;
pub mod quota;
mod reads;
pub mod sasl;
mod server;
pub mod sessions;
pub mod storage;
pub mod tls;
pub mod tree;
pub mod txn;
pub mod watches;
pub mod zab;

pub use ensemble::{Ensemble, EnsembleBuilder, EnsembleSpec, PeerSpec};
pub use net::{Mode, Snapshot};
pub use sasl::SaslSettings;
pub use server::{ServerBuilder, ServerError, ServerHandle};
pub use tls::{ClientAuth, QuorumTls, StoreType, TlsSettings, TlsVersions};

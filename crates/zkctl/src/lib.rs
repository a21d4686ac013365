//! `zkctl`: a command-line tool for any ZooKeeper ensemble (Apache's or the bundled
//! server), built on this workspace's client, discovery and router crates.
//!
//! ```text
//! zkctl --server h1:2181,h2:2181 ls -R /services
//! ZK_HOSTS=h1:2181 zkctl --json get /config/app
//! zkctl create -p /a/b "payload"      zkctl delete -r /a
//! zkctl watch -R /services            # one line per event until Ctrl-C
//! zkctl acl set /a world:anyone:r digest:alice:<hash>:cdrwa
//! zkctl services list                 zkctl services show orders
//! zkctl routes get orders > rule.json # prints the version on stderr
//! zkctl routes diff orders rule.json  zkctl routes validate orders rule.json
//! zkctl routes put -v 3 orders rule.json   # exit 4 if someone changed it since v3
//! zkctl route orders -m GetOrder -H x-user-group=beta   # endpoint, route, subset, policy
//! zkctl ensemble                      # mode, zxid, connections, lag per member
//! zkctl console --allow-writes        # the web console on http://127.0.0.1:8080/
//! zkctl completions bash > /etc/bash_completion.d/zkctl
//! ```
//!
//! Connection: `--server HOST:PORT,...[/chroot]` (or `ZK_HOSTS`), `--chroot` (or
//! `ZK_CHROOT`), digest credentials with `--auth user:password` (or `ZK_AUTH`), TLS to
//! the servers' `secureClientPort` with `--tls` (the system's roots) or `--tls-ca FILE`,
//! and a client certificate for mutual TLS with `--tls-cert FILE --tls-key FILE` (PEM),
//! or all of it from a Java client's TLS properties file with `--tls-config FILE` (PEM or
//! PKCS#12 or JKS stores, as Kafka's `--zk-tls-config-file`),
//! SASL DIGEST-MD5 with `--sasl user:password` (or `ZK_SASL`) or a JAAS file's `Client`
//! section with `--jaas FILE` (or `ZK_JAAS`), and `--timeout` seconds for the session and each request. `ensemble` asks each host
//! with the `srvr` four-letter word over plain TCP.
//!
//! Output is text for humans; `--json` prints one JSON document per command (one per
//! line for `watch`), and failures as a JSON object on stderr. Notes for people (a rule's
//! version after `routes get`, "watching …") go to stderr, so stdout can be redirected.
//!
//! # Exit codes
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | any other failure (not authorized, invalid rule, unreadable file, …) |
//! | 2 | usage error (clap's own code for bad arguments, and ours for bad values) |
//! | 3 | not found: node, service or rule |
//! | 4 | conflict: node exists, bad version, node not empty |
//! | 5 | connection failure: no server reachable, connection lost, session expired; for `ensemble`, a member that does not answer |
//!
//! # Shape
//! [`cli`] holds the command line; one module per command family does the work
//! ([`nodes`], [`acl`], [`watch`], [`services`], [`routes`] with [`rule_check`] and
//! [`diff`], `route` in [`explain`], [`ensemble`], [`completions`], and the web console
//! in [`console`], which serves what those modules compute); [`connect`] turns
//! the global options into a session or a discovery service, [`output`] prints text or
//! JSON ([`table`] and [`timestamp`] format for humans), [`error`] maps failures to exit
//! codes.
//!
//! Dependencies: `clap` (derive) because a tool with a dozen commands needs consistent
//! parsing, `--help` on every command and usage errors with exit code 2 without
//! hand-written parsing; `clap_complete` to generate shell completions from that same
//! definition (`zkctl completions bash|zsh|fish`), so they cannot drift from the commands;
//! `serde_json` for `--json`; `axum` for the console (see [`console`]).

#![warn(missing_docs)]

pub mod acl;
pub mod cli;
pub mod completions;
pub mod connect;
pub mod console;
pub mod diff;
pub mod ensemble;
pub mod error;
pub mod explain;
pub mod nodes;
pub mod output;
pub mod routes;
pub mod rule_check;
pub mod services;
pub mod table;
pub mod timestamp;
pub mod watch;

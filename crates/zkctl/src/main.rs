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
//! zkctl completions bash > /etc/bash_completion.d/zkctl
//! ```
//!
//! Connection: `--server HOST:PORT,...[/chroot]` (or `ZK_HOSTS`), `--chroot` (or
//! `ZK_CHROOT`), digest credentials with `--auth user:password` (or `ZK_AUTH`), TLS to
//! the servers' `secureClientPort` with `--tls` (the system's roots) or `--tls-ca FILE`,
//! and a client certificate for mutual TLS with `--tls-cert FILE --tls-key FILE` (PEM),
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
//! [`diff`], `route` in [`explain`], [`ensemble`], [`completions`]); [`connect`] turns
//! the global options into a session or a discovery service, [`output`] prints text or
//! JSON ([`table`] and [`timestamp`] format for humans), [`error`] maps failures to exit
//! codes.
//!
//! Dependencies: `clap` (derive) because a tool with a dozen commands needs consistent
//! parsing, `--help` on every command and usage errors with exit code 2 without
//! hand-written parsing; `clap_complete` to generate shell completions from that same
//! definition (`zkctl completions bash|zsh|fish`), so they cannot drift from the commands;
//! `serde_json` for `--json`.

#![warn(missing_docs)]

pub mod acl;
pub mod cli;
pub mod completions;
pub mod connect;
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

use clap::Parser;

use zk_discovery::ServiceDiscovery;

use crate::cli::{Cli, Command, NodeCommand};
use crate::connect::Connection;
use crate::error::{CtlError, Result};
use crate::output::Output;

fn main() -> std::process::ExitCode {
    // Exits with 2 on a usage error and 0 for --help/--version, as clap does.
    let cli = Cli::parse();
    let out = Output { json: cli.json };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out.error(&CtlError::Other(format!("cannot start the runtime: {e}")));
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli, out)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            std::process::ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// Runs one command.
async fn run(cli: Cli, out: Output) -> Result<()> {
    let conn = Connection::from_cli(&cli);
    match cli.command {
        Command::Completions(args) => {
            completions::print(args.shell);
            Ok(())
        }
        Command::Services(cmd) => {
            with_discovery(&conn, async |d| services::run(d, out, cmd).await).await
        }
        Command::Routes(cmd) => {
            with_discovery(&conn, async |d| routes::run(d, out, cmd).await).await
        }
        Command::Route(args) => {
            with_discovery(&conn, async |d| explain::run(d, out, args).await).await
        }
        Command::Ensemble => ensemble::run(&conn, out).await,
        Command::Node(command) => run_node_command(&conn, out, command).await,
    }
}

/// Runs `command` with a discovery service, closed afterwards (see below for why).
async fn with_discovery(
    conn: &Connection,
    command: impl AsyncFnOnce(&ServiceDiscovery) -> Result<()>,
) -> Result<()> {
    let discovery = conn.discovery().await?;
    let result = command(&discovery).await;
    let _ = discovery.close().await;
    result
}

/// Runs a command on plain nodes, over one session.
async fn run_node_command(conn: &Connection, out: Output, command: NodeCommand) -> Result<()> {
    let client = conn.client().await?;
    let result = match command {
        NodeCommand::Ls(args) => nodes::ls(&client, out, args).await,
        NodeCommand::Get(args) => nodes::get(&client, out, args).await,
        NodeCommand::Set(args) => nodes::set(&client, out, args).await,
        NodeCommand::Create(args) => nodes::create(&client, out, args).await,
        NodeCommand::Delete(args) => nodes::delete(&client, out, args).await,
        NodeCommand::Stat(args) => nodes::stat(&client, out, args).await,
        NodeCommand::Watch(args) => watch::run(&client, out, args).await,
        NodeCommand::Acl(cmd) => acl::run(&client, out, cmd).await,
    };
    // Ends the session now rather than at its timeout: the server forgets it (and its
    // ephemeral nodes) at once. A failure to say goodbye changes nothing for the user.
    let _ = client.close().await;
    result
}

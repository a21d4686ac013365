//! The `zkctl` binary: parses the command line and runs one command of the [`zkctl`]
//! library, mapping its failure to an exit code.

use clap::Parser;

use zk_discovery::ServiceDiscovery;

use zkctl::cli::{Cli, Command, NodeCommand};
use zkctl::connect::Connection;
use zkctl::error::{CtlError, Result};
use zkctl::output::Output;
use zkctl::{acl, completions, console, ensemble, explain, nodes, routes, services, watch};

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
        Command::Console(args) => console::run(&conn, args).await,
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

//! The bundled ZooKeeper-compatible server.
//!
//! ```text
//! zk-server [-Dkey=value ...] zoo.cfg
//! zk-server [--port 2181] [--address 0.0.0.0] [--data-dir DIR] [--tick-time 2000]
//!           [--min-session-timeout MS] [--max-session-timeout MS] [--max-frame BYTES]
//!           [--snap-count N] [--4lw ruok,srvr,...] [--config zoo.cfg]
//! ```
//! Given the `zoo.cfg` an Apache 3.8 server would read (as its one argument, or with
//! `--config`), it runs as that server would: standalone, or as member `myid` of the
//! ensemble its `server.N` lines list. Without a data directory everything is kept in
//! memory (standalone only); with one, writes are logged and fsync'd before they are
//! acknowledged and recovered on restart.
//! `-Dkey=value` arguments stand for the JVM's system properties: `-Dzookeeper.<key>=v`
//! is `zoo.cfg`'s `<key>=v`, and `-Djava.security.auth.login.config=jaas.conf` names the
//! JAAS file whose `Server` section lists the SASL DIGEST-MD5 users (also settable in
//! `zoo.cfg` as zk-server's own `jaasLoginConfig=jaas.conf`). TLS comes from Apache's
//! keys too: `secureClientPort` with `ssl.keyStore.location` and `ssl.trustStore.location`
//! (PEM, PKCS#12 or JKS, with `ssl.keyStore.password`) and `ssl.clientAuth`, and `sslQuorum=true` with the `ssl.quorum.*` stores
//! between members (see the `config` and `tls` modules).
//! Logs one `zk-server ready` line with the bound address once it serves, and shuts down
//! cleanly on SIGTERM or Ctrl-C. `RUST_LOG` sets the log level (default `info`).
//!
//! The binary allocates with mimalloc rather than the platform's malloc: with glibc's, a
//! million-node fill left about 60 bytes per node of fragmentation (freed request buffers
//! scattered between long-lived nodes) and spent a third of its time in `malloc` and
//! `free`; with mimalloc the same fill was about a third faster and its resident memory
//! within a few bytes per node of what the tree asks for (measured with the server
//! benchmark's fill). Embedding the library leaves the choice of allocator to the program.

use zk_server::config::ServerConfig;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn usage() -> ! {
    eprintln!(
        "usage: zk-server [-Dkey=value ...] zoo.cfg\n\
         \x20      zk-server [--port N] [--address IP] [--data-dir DIR] [--tick-time MS]\n\
         \x20                [--min-session-timeout MS] [--max-session-timeout MS]\n\
         \x20                [--max-frame BYTES] [--snap-count N] [--4lw WORDS] [--config zoo.cfg]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        usage();
    }
    let config = match ServerConfig::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("zk-server: {e}");
            usage();
        }
    };
    for key in &config.unknown_keys {
        tracing::warn!(%key, "ignoring unknown configuration key");
    }
    for (key, why) in &config.ignored_keys {
        tracing::info!(%key, why, "ignoring configuration key");
    }
    let server = match config.builder() {
        Ok(b) => match b.start().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("zk-server: {e}");
                std::process::exit(1);
            }
        },
        Err(e) => {
            eprintln!("zk-server: {e}");
            std::process::exit(2);
        }
    };
    tokio::select! {
        _ = wait_for_signal() => {
            tracing::info!("shutting down");
            server.shutdown().await;
        }
        reason = server.failed() => {
            eprintln!("zk-server: {reason}");
            std::process::exit(1);
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

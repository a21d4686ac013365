//! A service that registers itself on startup, serves, and unregisters on SIGTERM or
//! Ctrl-C: its node is deleted at once, not after its session times out, so callers stop
//! sending to it while it still answers what is on its way.
//!
//! `cargo run --example register -- [ID] [VERSION]` (defaults: `greeter-<pid>`, `v1`).
//! With `ZK_HOSTS` unset it embeds a zk-server and prints the `ZK_HOSTS` value to give
//! `call` and `resolve`. `DRAIN_MS` (default 500) is how long it keeps serving after
//! unregistering: its callers' caches need that long, at most, to drop it.

use std::time::Duration;

use zk_discovery::ServiceDiscovery;
use zkmesh_examples::instance::Instance;
use zkmesh_examples::zookeeper::ZooKeeper;
use zkmesh_examples::BoxError;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    zkmesh_examples::init_logging("warn");
    let mut args = std::env::args().skip(1);
    let id = args
        .next()
        .unwrap_or_else(|| format!("greeter-{}", std::process::id()));
    let version = args.next().unwrap_or_else(|| "v1".to_owned());
    let drain = match std::env::var("DRAIN_MS") {
        Ok(ms) => Duration::from_millis(ms.parse().map_err(|e| format!("DRAIN_MS: {e}"))?),
        Err(_) => Duration::from_millis(500),
    };

    let zk = ZooKeeper::from_env().await?;
    if zk.is_embedded() {
        println!("ZK_HOSTS is unset: embedded zk-server; to call it, run");
        println!("  ZK_HOSTS={} cargo run --example call", zk.hosts());
    }
    let discovery = ServiceDiscovery::connect(zk.hosts()).await?;
    let instance = Instance::start(&discovery, "greeter", &id, &version).await?;
    println!(
        "registered /services/greeter/{id} ({version}), serving on {}",
        instance.addr()
    );
    println!("Ctrl-C or SIGTERM to stop");

    stop_signal().await?;
    instance.unregister().await?;
    println!(
        "unregistered; serving {} ms more for calls on their way",
        drain.as_millis()
    );
    tokio::time::sleep(drain).await;
    instance.shutdown().await?;
    discovery.close().await?;
    zk.shutdown().await;
    println!("stopped");
    Ok(())
}

/// Waits for Ctrl-C or, on Unix, SIGTERM (what service managers send).
async fn stop_signal() -> Result<(), BoxError> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}

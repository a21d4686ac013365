//! A tour of the client against a running ZooKeeper: `cargo run -p zk-client --example
//! tour -- 127.0.0.1:2181` (any ZooKeeper 3.5+, Apache's or the bundled zk-server).

use std::time::Duration;

use futures::StreamExt;
use zk_client::{AddWatchMode, Client, CreateMode, CreateOptions, Op};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "zk_client=info".into()),
        )
        .init();
    let connect = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2181".to_owned());

    let client = Client::builder()
        .session_timeout(Duration::from_secs(10))
        .connect(&connect)
        .await?;
    println!(
        "session {:#x} established with {connect}",
        client.session_id()
    );

    // A persistent recursive watch sees everything below /demo.
    let mut events = client
        .add_watch("/demo", AddWatchMode::PersistentRecursive)
        .await?;

    client
        .multi(&[
            Op::create("/demo", "", CreateOptions::persistent()),
            Op::create("/demo/services", "", CreateOptions::persistent()),
        ])
        .await?;
    let seq = CreateOptions::new(CreateMode::EphemeralSequential);
    for i in 0..3 {
        let (path, _) = client
            .create(
                "/demo/services/worker-",
                format!("worker {i}").as_bytes(),
                &seq,
            )
            .await?;
        println!("registered {path}");
    }
    let (children, stat) = client.get_children_with_stat("/demo/services").await?;
    println!(
        "{} children (cversion {}): {children:?}",
        stat.num_children, stat.cversion
    );

    let (_, stat, watcher) = client.get_and_watch_data("/demo").await?;
    client
        .set_data("/demo", b"configured", Some(stat.version))
        .await?;
    println!("one-shot watch: {:?}", watcher.await.event_type);

    for _ in 0..6 {
        match tokio::time::timeout(Duration::from_secs(2), events.next()).await {
            Ok(Some(Ok(ev))) => println!("recursive watch: {:?} {}", ev.event_type, ev.path),
            // Only a reader that falls thousands of events behind sees this.
            Ok(Some(Err(lagged))) => println!("recursive watch lagged ({lagged}): re-read"),
            _ => break,
        }
    }

    // Clean up: ephemerals vanish with the session; the persistent nodes we delete.
    for child in client.get_children("/demo/services").await? {
        client
            .delete(&format!("/demo/services/{child}"), None)
            .await?;
    }
    client
        .multi(&[
            Op::delete("/demo/services", None),
            Op::delete("/demo", None),
        ])
        .await?;
    println!("metrics: {:?}", client.metrics());
    client.close().await?;
    Ok(())
}

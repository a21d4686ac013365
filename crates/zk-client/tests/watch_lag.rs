//! A persistent watch whose reader stops reading costs bounded memory, however many events
//! go by, and the reader learns it lagged so it can re-read.
//!
//! The events come from the bundled server, in-process: a million pipelined setData calls
//! on a node under the watched path.

mod common;

use std::time::Instant;

use common::*;
use futures::StreamExt;
use zk_client::{AddWatchMode, Client, CreateOptions, EventType, Lagged};
use zk_server::ServerHandle;

const EVENTS: u64 = 1_000_000;
/// setData calls in flight at once.
const WINDOW: usize = 1024;

/// Resident memory of this process, from `/proc/self/statm` (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages in statm");
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_holds_memory_flat_while_a_million_events_go_by() {
    init_tracing();
    let server = ServerHandle::builder()
        .port(0)
        .start()
        .await
        .expect("start zk-server");
    let connect = server.connect_string();
    let watching = Client::connect(&connect).await.unwrap();
    let writer = Client::connect(&connect).await.unwrap();
    writer
        .create("/busy", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    writer
        .create("/busy/n", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    // Never read until every event has gone by.
    let mut stalled = watching
        .add_watch("/busy", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    let capacity = stalled.capacity();

    let started = Instant::now();
    let mut rss_samples = Vec::new();
    let mut most_queued = 0;
    let mut done = 0u64;
    let mut writes = futures::stream::iter(0..EVENTS)
        .map(|i| {
            let writer = writer.clone();
            async move { writer.set_data("/busy/n", &i.to_be_bytes(), None).await }
        })
        .buffer_unordered(WINDOW);
    while let Some(result) = writes.next().await {
        result.expect("setData");
        done += 1;
        if done % 100_000 == 0 {
            most_queued = most_queued.max(stalled.queued());
            rss_samples.push(rss_bytes());
        }
    }
    // The notifications reach the watching client independently of the writer's replies.
    wait_until("every event reached the watching client", || {
        watching.metrics().watch_events >= EVENTS
    })
    .await;
    most_queued = most_queued.max(stalled.queued());
    rss_samples.push(rss_bytes());
    tracing::info!(elapsed = ?started.elapsed(), ?rss_samples, most_queued, "done");

    // The queue never held more than its capacity and one lag marker.
    assert!(
        most_queued <= capacity + 1,
        "queued {most_queued} > capacity {capacity} + 1"
    );
    let dropped = EVENTS - capacity as u64;
    assert_eq!(watching.metrics().watch_events_dropped, dropped);
    // Memory stayed flat once warmed up: an unbounded queue grows by about 70 MB here.
    let (warm, end) = (rss_samples[0], rss_samples[rss_samples.len() - 1]);
    assert!(
        end <= warm + 16 * 1024 * 1024,
        "resident memory grew from {warm} to {end} bytes"
    );

    // Reading again: every event queued before the loss, then one marker for the loss.
    for _ in 0..capacity {
        let ev = next_event(&mut stalled, "queued event").await;
        assert_eq!(
            (ev.event_type, ev.path.as_str()),
            (EventType::NodeDataChanged, "/busy/n")
        );
    }
    assert_eq!(
        within("lag marker", stalled.changed()).await,
        Some(Err(Lagged { missed: dropped }))
    );
    // And the watch goes on.
    writer.set_data("/busy/n", b"after", None).await.unwrap();
    assert_eq!(
        next_event(&mut stalled, "event after the lag")
            .await
            .event_type,
        EventType::NodeDataChanged
    );
}

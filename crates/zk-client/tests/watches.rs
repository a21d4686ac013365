//! Each watch type fires on the right events and only as often as it should, against a
//! real Apache ZooKeeper 3.8; the ordering guarantee holds.

mod common;

use std::time::Duration;

use common::*;
use futures::{FutureExt, StreamExt};
use zk_client::{AddWatchMode, CreateOptions, Error, EventType, WatcherType};

const QUIET: Duration = Duration::from_millis(400);

#[tokio::test]
async fn data_watch_fires_once_on_change() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    c.create("/d", b"1", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, w) = c.get_and_watch_data("/d").await.unwrap();
    let (_, _, w2) = c.get_and_watch_data("/d").await.unwrap();
    c.set_data("/d", b"2", None).await.unwrap();
    let ev = within("data watch", w).await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (EventType::NodeDataChanged, "/d")
    );
    // A second watcher on the same path fires too, from the same server event.
    assert_eq!(
        within("second watcher", w2).await.event_type,
        EventType::NodeDataChanged
    );
    // One-shot: a later change reaches a new watcher only.
    let (_, _, w3) = c.get_and_watch_data("/d").await.unwrap();
    c.delete("/d", None).await.unwrap();
    assert_eq!(
        within("delete", w3).await.event_type,
        EventType::NodeDeleted
    );
}

#[tokio::test]
async fn data_watch_does_not_fire_for_children() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    c.create("/d", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, w) = c.get_and_watch_data("/d").await.unwrap();
    c.create("/d/c", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let mut w = Box::pin(w);
    never(QUIET, &mut w).await;
    c.set_data("/d", b"x", None).await.unwrap();
    assert_eq!(
        within("data change", w).await.event_type,
        EventType::NodeDataChanged
    );
}

#[tokio::test]
async fn exists_watch_on_a_missing_node_fires_on_creation() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    let (stat, w) = c.exists_and_watch("/later").await.unwrap();
    assert_eq!(stat, None);
    c.create("/later", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let ev = within("created", w).await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (EventType::NodeCreated, "/later")
    );
    let (stat, w) = c.exists_and_watch("/later").await.unwrap();
    assert!(stat.is_some());
    c.delete("/later", None).await.unwrap();
    assert_eq!(
        within("deleted", w).await.event_type,
        EventType::NodeDeleted
    );
}

#[tokio::test]
async fn child_watch_fires_on_membership_changes_only() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    c.create("/p", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    c.create("/p/a", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let (kids, _, w) = c.get_and_watch_children("/p").await.unwrap();
    assert_eq!(kids, ["a"]);
    let mut w = Box::pin(w);
    c.set_data("/p/a", b"x", None).await.unwrap();
    c.set_data("/p", b"x", None).await.unwrap();
    never(QUIET, &mut w).await;
    c.create("/p/b", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let ev = within("children changed", w).await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (EventType::NodeChildrenChanged, "/p")
    );

    let (_, _, w) = c.get_and_watch_children("/p").await.unwrap();
    c.delete("/p/a", None).await.unwrap();
    assert_eq!(
        within("child deleted", w).await.event_type,
        EventType::NodeChildrenChanged
    );
    let (_, _, w) = c.get_and_watch_children("/p/b").await.unwrap();
    c.delete("/p/b", None).await.unwrap();
    assert_eq!(
        within("watched node deleted", w).await.event_type,
        EventType::NodeDeleted
    );
}

#[tokio::test]
async fn failed_reads_leave_no_watch() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    assert_eq!(
        c.get_and_watch_data("/none").await.err(),
        Some(Error::NoNode)
    );
    assert_eq!(
        c.get_and_watch_children("/none").await.err(),
        Some(Error::NoNode)
    );
    assert_eq!(
        c.remove_watches("/none", WatcherType::Any, false).await,
        Err(Error::NoWatcher)
    );
}

#[tokio::test]
async fn persistent_watch_sees_every_event_on_the_node_and_its_children_list() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    let mut w = c.add_watch("/w", AddWatchMode::Persistent).await.unwrap();
    let other = client(zk.connect_string()).await;
    other
        .create("/w", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    other.set_data("/w", b"1", None).await.unwrap();
    other.set_data("/w", b"2", None).await.unwrap();
    other
        .create("/w/c", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    other.set_data("/w/c", b"ignored", None).await.unwrap();
    other
        .create("/w/c/g", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    other.delete("/w/c/g", None).await.unwrap();
    other.delete("/w/c", None).await.unwrap();
    other.delete("/w", None).await.unwrap();
    other
        .create("/w", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..7 {
        let ev = next_event(&mut w, "persistent event").await;
        got.push((ev.event_type, ev.path));
    }
    let expected = [
        (EventType::NodeCreated, "/w"),
        (EventType::NodeDataChanged, "/w"),
        (EventType::NodeDataChanged, "/w"),
        (EventType::NodeChildrenChanged, "/w"),
        (EventType::NodeChildrenChanged, "/w"),
        (EventType::NodeDeleted, "/w"),
        (EventType::NodeCreated, "/w"),
    ];
    let got_ref: Vec<(EventType, &str)> = got.iter().map(|(t, p)| (*t, p.as_str())).collect();
    assert_eq!(got_ref, expected);
    never(QUIET, w.next()).await;
}

#[tokio::test]
async fn persistent_recursive_watch_sees_descendants_but_no_child_events() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    c.create("/r", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let mut w = c
        .add_watch("/r", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    c.create("/r/a", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    c.create("/r/a/b", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    c.set_data("/r/a/b", b"x", None).await.unwrap();
    c.delete("/r/a/b", None).await.unwrap();
    c.create("/rx", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    for (t, p) in [
        (EventType::NodeCreated, "/r/a"),
        (EventType::NodeCreated, "/r/a/b"),
        (EventType::NodeDataChanged, "/r/a/b"),
        (EventType::NodeDeleted, "/r/a/b"),
    ] {
        let ev = next_event(&mut w, "recursive event").await;
        assert_eq!((ev.event_type, ev.path.as_str()), (t, p));
    }
    never(QUIET, w.next()).await;
}

#[tokio::test]
async fn remove_watches_tells_the_watchers_and_stops_events() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    c.create("/x", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, _, data_w) = c.get_and_watch_data("/x").await.unwrap();
    let (_, _, child_w) = c.get_and_watch_children("/x").await.unwrap();
    c.remove_watches("/x", WatcherType::Data, false)
        .await
        .unwrap();
    assert_eq!(
        data_w.now_or_never().unwrap().event_type,
        EventType::DataWatchRemoved
    );
    let mut child_w = Box::pin(child_w);
    c.set_data("/x", b"y", None).await.unwrap();
    never(QUIET, &mut child_w).await;
    c.remove_watches("/x", WatcherType::Children, false)
        .await
        .unwrap();
    assert_eq!(child_w.await.event_type, EventType::ChildWatchRemoved);

    let mut p = c.add_watch("/x", AddWatchMode::Persistent).await.unwrap();
    c.remove_watches("/x", WatcherType::Any, false)
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut p, "removal").await.event_type,
        EventType::PersistentWatchRemoved
    );
    assert_eq!(within("end of stream", p.next()).await, None);
    c.set_data("/x", b"z", None).await.unwrap();
    assert_eq!(
        c.remove_watches("/x", WatcherType::Any, false).await,
        Err(Error::NoWatcher)
    );
}

#[tokio::test]
async fn watch_event_arrives_before_any_later_reply_that_observes_the_change() {
    let zk = apache().await;
    let watcher = client(zk.connect_string()).await;
    let writer = client(zk.connect_string()).await;
    watcher
        .create("/o", b"0", &CreateOptions::persistent())
        .await
        .unwrap();
    for round in 1..=20u32 {
        let (_, stat, w) = watcher.get_and_watch_data("/o").await.unwrap();
        let mut w = Box::pin(w);
        writer
            .set_data("/o", round.to_string().as_bytes(), None)
            .await
            .unwrap();
        // Poll until this client observes the new version; by then the event must be in.
        loop {
            let (_, now) = watcher.get_data("/o").await.unwrap();
            if now.version > stat.version {
                let ev = (&mut w).now_or_never();
                assert!(
                    ev.is_some(),
                    "round {round}: reply showed the change before the event"
                );
                break;
            }
        }
    }
    // The same holds for the writer's own change.
    let (_, _, w) = watcher.get_and_watch_data("/o").await.unwrap();
    watcher.set_data("/o", b"self", None).await.unwrap();
    assert!(w.now_or_never().is_some());
}

#[tokio::test]
async fn one_shot_watch_on_a_persistently_watched_path_leaves_the_persistent_watch_intact() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    c.create("/p", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let mut persistent = c.add_watch("/p", AddWatchMode::Persistent).await.unwrap();
    let (_, _, once) = c.get_and_watch_data("/p").await.unwrap();
    let other = client(zk.connect_string()).await;
    for i in 0..3u8 {
        other.set_data("/p", &[i], None).await.unwrap();
    }
    assert_eq!(
        within("one-shot", once).await.event_type,
        EventType::NodeDataChanged
    );
    for _ in 0..3 {
        let ev = next_event(&mut persistent, "persistent").await;
        assert_eq!(ev.event_type, EventType::NodeDataChanged);
    }
}

#[tokio::test]
async fn dropping_a_persistent_watch_stops_it_on_the_server() {
    let zk = apache().await;
    let c = client(zk.connect_string()).await;
    c.create("/p", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let watch = c
        .add_watch("/p", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    drop(watch);
    // The next event finds nobody listening; the client then removes the server's watch.
    c.set_data("/p", b"x", None).await.unwrap();
    wait_until_async("server watch removed", || async {
        zk.four_letter(0, "wchs")
            .await
            .is_ok_and(|s| s.contains("Total watches:0"))
    })
    .await;
}

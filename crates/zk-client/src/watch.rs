//! The client-side watch registry, mirroring Apache's `ZKWatchManager`.
//!
//! Owns which watchers are registered on which server path and for what, which watchers an
//! incoming event triggers (one-shot ones are removed as they fire), and the lists that
//! SetWatches/SetWatches2 re-register after a reconnect. Watchers are opaque
//! [`WatcherId`]s; delivering to them is the driver's business. Paths here are full server
//! paths (chroot applied).

use std::collections::HashMap;

use zk_proto::{EventType, WatcherType};

/// Identifies one watcher (one future or stream handed to the application).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WatcherId(pub u64);

/// What a watcher was registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// getData: created/changed/deleted, once.
    Data,
    /// exists on a missing node: created (or changed/deleted), once.
    Exists,
    /// getChildren: children changed or node deleted, once.
    Child,
    /// addWatch PERSISTENT: data and child events on the node, every time.
    Persistent,
    /// addWatch PERSISTENT_RECURSIVE: data events on the node and all descendants.
    PersistentRecursive,
}

impl WatchKind {
    /// Whether the watcher survives firing.
    pub fn is_persistent(self) -> bool {
        matches!(self, Self::Persistent | Self::PersistentRecursive)
    }
}

/// One watcher triggered by an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Triggered {
    /// The watcher.
    pub watcher: WatcherId,
    /// Whether this is its last event (one-shot watchers).
    pub last: bool,
}

/// Watchers by kind and server path.
#[derive(Debug, Default)]
pub struct WatchRegistry {
    data: HashMap<String, Vec<WatcherId>>,
    exists: HashMap<String, Vec<WatcherId>>,
    child: HashMap<String, Vec<WatcherId>>,
    persistent: HashMap<String, Vec<WatcherId>>,
    recursive: HashMap<String, Vec<WatcherId>>,
}

/// The paths to re-register after a reconnect, per SetWatches2 list.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WatchLists {
    /// Data watches.
    pub data: Vec<String>,
    /// Exists watches.
    pub exists: Vec<String>,
    /// Child watches.
    pub child: Vec<String>,
    /// Persistent watches.
    pub persistent: Vec<String>,
    /// Persistent recursive watches.
    pub recursive: Vec<String>,
}

impl WatchLists {
    /// Whether every list is empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exists.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.recursive.is_empty()
    }
}

impl WatchRegistry {
    fn table(&mut self, kind: WatchKind) -> &mut HashMap<String, Vec<WatcherId>> {
        match kind {
            WatchKind::Data => &mut self.data,
            WatchKind::Exists => &mut self.exists,
            WatchKind::Child => &mut self.child,
            WatchKind::Persistent => &mut self.persistent,
            WatchKind::PersistentRecursive => &mut self.recursive,
        }
    }

    /// Registers `watcher` on `path`.
    pub fn add(&mut self, kind: WatchKind, path: &str, watcher: WatcherId) {
        let list = self.table(kind).entry(path.to_owned()).or_default();
        if !list.contains(&watcher) {
            list.push(watcher);
        }
    }

    /// Whether no watcher is registered.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exists.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.recursive.is_empty()
    }

    /// The watchers a server event on `path` triggers, as `ZKWatchManager.materialize`:
    /// created/changed go to data and exists watchers, children-changed to child watchers,
    /// deleted to all three; persistent watchers on the path see every type; recursive
    /// watchers on the path or an ancestor see all but children-changed. One-shot watchers
    /// are removed. Each watcher appears once.
    pub fn trigger(&mut self, event: EventType, path: &str) -> Vec<Triggered> {
        let mut out: Vec<Triggered> = Vec::new();
        let mut take = |table: &mut HashMap<String, Vec<WatcherId>>| {
            if let Some(ids) = table.remove(path) {
                out.extend(ids.into_iter().map(|watcher| Triggered {
                    watcher,
                    last: true,
                }));
            }
        };
        match event {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                take(&mut self.data);
                take(&mut self.exists);
            }
            EventType::NodeChildrenChanged => take(&mut self.child),
            EventType::NodeDeleted => {
                take(&mut self.data);
                take(&mut self.exists);
                take(&mut self.child);
            }
            _ => {}
        }
        if let Some(ids) = self.persistent.get(path) {
            out.extend(ids.iter().map(|&watcher| Triggered {
                watcher,
                last: false,
            }));
        }
        if event != EventType::NodeChildrenChanged && !self.recursive.is_empty() {
            let mut p = path;
            loop {
                if let Some(ids) = self.recursive.get(p) {
                    out.extend(ids.iter().map(|&watcher| Triggered {
                        watcher,
                        last: false,
                    }));
                }
                match zk_proto::path::parent(p) {
                    Some(parent) => p = parent,
                    None => break,
                }
            }
        }
        let mut seen = std::collections::HashSet::with_capacity(out.len());
        out.retain(|t| seen.insert(t.watcher));
        out
    }

    /// Removes the watchers of `watcher_type` on `path` (for removeWatches), as the Java
    /// client does: `Children` removes child watchers, `Data` data and exists watchers,
    /// `Any` every kind, persistent ones included; `Persistent`/`PersistentRecursive` remove
    /// that persistent kind. Returns each removed watcher with the event it gets.
    pub fn remove(&mut self, path: &str, watcher_type: WatcherType) -> Vec<(WatcherId, EventType)> {
        let mut out = Vec::new();
        let mut take = |table: &mut HashMap<String, Vec<WatcherId>>, ev: EventType| {
            if let Some(ids) = table.remove(path) {
                out.extend(ids.into_iter().map(|id| (id, ev)));
            }
        };
        match watcher_type {
            WatcherType::Children => take(&mut self.child, EventType::ChildWatchRemoved),
            WatcherType::Data => {
                take(&mut self.data, EventType::DataWatchRemoved);
                take(&mut self.exists, EventType::DataWatchRemoved);
            }
            WatcherType::Any => {
                take(&mut self.child, EventType::ChildWatchRemoved);
                take(&mut self.data, EventType::DataWatchRemoved);
                take(&mut self.exists, EventType::DataWatchRemoved);
                take(&mut self.persistent, EventType::PersistentWatchRemoved);
                take(&mut self.recursive, EventType::PersistentWatchRemoved);
            }
            WatcherType::Persistent => {
                take(&mut self.persistent, EventType::PersistentWatchRemoved)
            }
            WatcherType::PersistentRecursive => {
                take(&mut self.recursive, EventType::PersistentWatchRemoved)
            }
        }
        out
    }

    /// Whether any watcher of `watcher_type` is registered on `path`.
    pub fn contains(&self, path: &str, watcher_type: WatcherType) -> bool {
        let has = |t: &HashMap<String, Vec<WatcherId>>| t.contains_key(path);
        match watcher_type {
            WatcherType::Children => has(&self.child),
            WatcherType::Data => has(&self.data) || has(&self.exists),
            WatcherType::Any => {
                has(&self.child)
                    || has(&self.data)
                    || has(&self.exists)
                    || has(&self.persistent)
                    || has(&self.recursive)
            }
            WatcherType::Persistent => has(&self.persistent),
            WatcherType::PersistentRecursive => has(&self.recursive),
        }
    }

    /// Whether a one-shot watch of `kind` on `path` is already served by a persistent watch
    /// on the same path (so it must not be registered on the server, where it would replace
    /// the persistent one on a 3.6–3.8 server).
    pub fn covered_by_persistent(&self, kind: WatchKind, path: &str) -> bool {
        match kind {
            WatchKind::Data | WatchKind::Exists => {
                self.persistent.contains_key(path) || self.recursive.contains_key(path)
            }
            WatchKind::Child => self.persistent.contains_key(path),
            WatchKind::Persistent | WatchKind::PersistentRecursive => false,
        }
    }

    /// Whether a persistent or recursive watch is registered on `path`.
    pub fn has_persistent(&self, path: &str) -> bool {
        self.persistent.contains_key(path) || self.recursive.contains_key(path)
    }

    /// Every persistent and recursive watcher.
    pub fn persistent_watchers(&self) -> Vec<WatcherId> {
        let mut ids: Vec<WatcherId> = self
            .persistent
            .values()
            .chain(self.recursive.values())
            .flatten()
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Removes one watcher wherever it is; its kind and path if it was registered.
    pub fn remove_watcher(&mut self, watcher: WatcherId) -> Option<(WatchKind, String)> {
        for kind in [
            WatchKind::Data,
            WatchKind::Exists,
            WatchKind::Child,
            WatchKind::Persistent,
            WatchKind::PersistentRecursive,
        ] {
            let table = self.table(kind);
            let found = table
                .iter()
                .find(|(_, ids)| ids.contains(&watcher))
                .map(|(p, _)| p.clone());
            if let Some(path) = found {
                if let Some(ids) = table.get_mut(&path) {
                    ids.retain(|&w| w != watcher);
                    if ids.is_empty() {
                        table.remove(&path);
                    }
                }
                return Some((kind, path));
            }
        }
        None
    }

    /// Every path with a watcher, per list, for SetWatches2 after a reconnect. One-shot
    /// watches served by a persistent watch on the same path are left out.
    pub fn lists(&self) -> WatchLists {
        let keys = |t: &HashMap<String, Vec<WatcherId>>, kind: WatchKind| {
            t.keys()
                .filter(|p| !self.covered_by_persistent(kind, p))
                .cloned()
                .collect::<Vec<_>>()
        };
        WatchLists {
            data: keys(&self.data, WatchKind::Data),
            exists: keys(&self.exists, WatchKind::Exists),
            child: keys(&self.child, WatchKind::Child),
            persistent: keys(&self.persistent, WatchKind::Persistent),
            recursive: keys(&self.recursive, WatchKind::PersistentRecursive),
        }
    }

    /// Like [`WatchRegistry::lists`], for one path.
    pub fn lists_for(&self, path: &str) -> WatchLists {
        let one = |t: &HashMap<String, Vec<WatcherId>>, kind: WatchKind| {
            if t.contains_key(path) && !self.covered_by_persistent(kind, path) {
                vec![path.to_owned()]
            } else {
                Vec::new()
            }
        };
        WatchLists {
            data: one(&self.data, WatchKind::Data),
            exists: one(&self.exists, WatchKind::Exists),
            child: one(&self.child, WatchKind::Child),
            persistent: one(&self.persistent, WatchKind::Persistent),
            recursive: one(&self.recursive, WatchKind::PersistentRecursive),
        }
    }

    /// Removes and returns every watcher (the session ended).
    pub fn drain(&mut self) -> Vec<WatcherId> {
        let mut out = Vec::new();
        for t in [
            &mut self.data,
            &mut self.exists,
            &mut self.child,
            &mut self.persistent,
            &mut self.recursive,
        ] {
            out.extend(t.drain().flat_map(|(_, ids)| ids));
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(t: Vec<Triggered>) -> Vec<(u64, bool)> {
        let mut v: Vec<_> = t.into_iter().map(|t| (t.watcher.0, t.last)).collect();
        v.sort();
        v
    }

    #[test]
    fn one_shot_watchers_fire_once_for_their_event_types() {
        let mut r = WatchRegistry::default();
        r.add(WatchKind::Data, "/a", WatcherId(1));
        r.add(WatchKind::Child, "/a", WatcherId(2));
        assert_eq!(
            ids(r.trigger(EventType::NodeDataChanged, "/a")),
            vec![(1, true)]
        );
        assert_eq!(ids(r.trigger(EventType::NodeDataChanged, "/a")), vec![]);
        assert_eq!(
            ids(r.trigger(EventType::NodeDeleted, "/a")),
            vec![(2, true)]
        );
        assert!(r.is_empty());
    }

    #[test]
    fn deletion_reaches_data_exists_and_child_watchers() {
        let mut r = WatchRegistry::default();
        r.add(WatchKind::Data, "/a", WatcherId(1));
        r.add(WatchKind::Exists, "/a", WatcherId(2));
        r.add(WatchKind::Child, "/a", WatcherId(3));
        assert_eq!(
            ids(r.trigger(EventType::NodeDeleted, "/a")),
            vec![(1, true), (2, true), (3, true)]
        );
    }

    #[test]
    fn recursive_watchers_see_descendants_but_not_child_events() {
        let mut r = WatchRegistry::default();
        r.add(WatchKind::PersistentRecursive, "/w", WatcherId(7));
        r.add(WatchKind::Persistent, "/w", WatcherId(8));
        assert_eq!(
            ids(r.trigger(EventType::NodeCreated, "/w/c/g")),
            vec![(7, false)]
        );
        assert_eq!(
            ids(r.trigger(EventType::NodeChildrenChanged, "/w")),
            vec![(8, false)]
        );
        assert_eq!(ids(r.trigger(EventType::NodeCreated, "/wx")), vec![]);
        assert_eq!(
            ids(r.trigger(EventType::NodeDataChanged, "/w")),
            vec![(7, false), (8, false)]
        );
        assert!(!r.is_empty());
    }

    #[test]
    fn recursive_watch_on_root_sees_everything() {
        let mut r = WatchRegistry::default();
        r.add(WatchKind::PersistentRecursive, "/", WatcherId(1));
        assert_eq!(
            ids(r.trigger(EventType::NodeCreated, "/a/b")),
            vec![(1, false)]
        );
    }

    #[test]
    fn remove_by_type_follows_the_java_client() {
        let mut r = WatchRegistry::default();
        r.add(WatchKind::Data, "/a", WatcherId(1));
        r.add(WatchKind::Child, "/a", WatcherId(2));
        r.add(WatchKind::Persistent, "/a", WatcherId(3));
        assert_eq!(
            r.remove("/a", WatcherType::Children),
            vec![(WatcherId(2), EventType::ChildWatchRemoved)]
        );
        assert!(r.contains("/a", WatcherType::Data));
        let mut rest = r.remove("/a", WatcherType::Any);
        rest.sort_by_key(|x| x.0);
        assert_eq!(
            rest,
            vec![
                (WatcherId(1), EventType::DataWatchRemoved),
                (WatcherId(3), EventType::PersistentWatchRemoved)
            ]
        );
        assert!(r.is_empty());
    }
}

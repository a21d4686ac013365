//! Server-side watches, as Apache 3.8's `WatchManager`: two tables (data and child), each
//! mapping a path to the connections watching it and how.
//!
//! Owns registering, triggering (one-shot removal, persistent re-arming, recursive
//! ancestor matching, one event per connection per trigger) and removing watches. Does not
//! own delivery: it answers "which connections", the core sends the frames.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use zk_proto::EventType;

/// A connection, as the core numbers them.
pub type ConnId = u64;

/// How a connection watches a path in one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchMode {
    /// One-shot (getData/exists/getChildren).
    Standard,
    /// addWatch PERSISTENT: re-armed after firing.
    Persistent,
    /// addWatch PERSISTENT_RECURSIVE: re-armed, matches descendants, never child events.
    PersistentRecursive,
}

/// Which table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Data watches (getData, exists, persistent).
    Data,
    /// Child watches (getChildren, persistent).
    Child,
}

type Watchers = HashMap<String, HashMap<ConnId, WatchMode>>;

/// Both tables and a per-connection index for clean-up.
#[derive(Debug, Default)]
pub struct WatchManager {
    data: Watchers,
    child: Watchers,
    by_conn: HashMap<ConnId, HashSet<String>>,
    recursive: usize,
}

impl WatchManager {
    fn table(&mut self, table: Table) -> &mut Watchers {
        match table {
            Table::Data => &mut self.data,
            Table::Child => &mut self.child,
        }
    }

    /// Registers `conn` on `path` in `table`. As in 3.6–3.8, a (connection, path) pair has
    /// one mode per table: a later registration replaces the earlier one.
    pub fn add(&mut self, table: Table, path: &str, conn: ConnId, mode: WatchMode) {
        let previous = self
            .table(table)
            .entry(path.to_owned())
            .or_default()
            .insert(conn, mode);
        if previous == Some(WatchMode::PersistentRecursive) {
            self.recursive -= 1;
        }
        if mode == WatchMode::PersistentRecursive {
            self.recursive += 1;
        }
        self.by_conn
            .entry(conn)
            .or_default()
            .insert(path.to_owned());
    }

    /// addWatch: persistent watches go in both tables (as 3.6–3.8 do; recursive ones are
    /// filtered out of child events when triggering).
    pub fn add_persistent(&mut self, path: &str, conn: ConnId, recursive: bool) {
        let mode = if recursive {
            WatchMode::PersistentRecursive
        } else {
            WatchMode::Persistent
        };
        self.add(Table::Data, path, conn, mode);
        self.add(Table::Child, path, conn, mode);
    }

    /// The connections that an event of `event_type` on `path` notifies through `table`,
    /// removing one-shot watches that fire. Connections in `already` are not returned
    /// again (one event per connection per trigger), though their one-shot watches are
    /// still consumed.
    pub fn trigger(
        &mut self,
        table: Table,
        event_type: EventType,
        path: &str,
        already: &HashSet<ConnId>,
    ) -> Vec<ConnId> {
        let walk_ancestors = self.recursive > 0;
        let watchers = match table {
            Table::Data => &mut self.data,
            Table::Child => &mut self.child,
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut fired: Vec<(ConnId, String)> = Vec::new();
        let mut current = Some(path);
        let mut at_path = true;
        while let Some(p) = current {
            if let Some(entry) = watchers.get_mut(p) {
                let mut fired_once = Vec::new();
                for (&conn, &mode) in entry.iter() {
                    let notify = match mode {
                        WatchMode::PersistentRecursive => {
                            event_type != EventType::NodeChildrenChanged
                        }
                        WatchMode::Persistent => at_path,
                        WatchMode::Standard => {
                            if at_path {
                                fired_once.push(conn);
                            }
                            at_path
                        }
                    };
                    if notify && !already.contains(&conn) && seen.insert(conn) {
                        out.push(conn);
                    }
                }
                for conn in &fired_once {
                    entry.remove(conn);
                }
                if entry.is_empty() {
                    watchers.remove(p);
                }
                fired.extend(fired_once.into_iter().map(|c| (c, p.to_owned())));
            }
            if !walk_ancestors {
                break;
            }
            current = zk_proto::path::parent(p);
            at_path = false;
        }
        for (conn, p) in fired {
            self.forget_if_unwatched(conn, &p);
        }
        out.sort_unstable();
        out
    }

    /// Drops `path` from a connection's index once neither table holds it for them.
    fn forget_if_unwatched(&mut self, conn: ConnId, path: &str) {
        let held = self.data.get(path).is_some_and(|e| e.contains_key(&conn))
            || self.child.get(path).is_some_and(|e| e.contains_key(&conn));
        if !held {
            if let Some(paths) = self.by_conn.get_mut(&conn) {
                paths.remove(path);
                if paths.is_empty() {
                    self.by_conn.remove(&conn);
                }
            }
        }
    }

    /// Whether `conn` watches `path` in `table`.
    pub fn contains(&self, table: Table, path: &str, conn: ConnId) -> bool {
        let t = match table {
            Table::Data => &self.data,
            Table::Child => &self.child,
        };
        t.get(path).is_some_and(|e| e.contains_key(&conn))
    }

    /// Removes `conn`'s watch on `path` from `table`; whether there was one.
    pub fn remove(&mut self, table: Table, path: &str, conn: ConnId) -> bool {
        let t = self.table(table);
        let Some(entry) = t.get_mut(path) else {
            return false;
        };
        let removed = entry.remove(&conn);
        if entry.is_empty() {
            t.remove(path);
        }
        if removed == Some(WatchMode::PersistentRecursive) {
            self.recursive -= 1;
        }
        if removed.is_some() {
            self.forget_if_unwatched(conn, path);
        }
        removed.is_some()
    }

    /// Drops every watch of a connection (closed, or its session ended).
    pub fn remove_connection(&mut self, conn: ConnId) {
        let Some(paths) = self.by_conn.remove(&conn) else {
            return;
        };
        for path in paths {
            self.remove(Table::Data, &path, conn);
            self.remove(Table::Child, &path, conn);
        }
    }

    /// Total number of (connection, path, table) watches.
    pub fn count(&self) -> usize {
        self.data.values().map(HashMap::len).sum::<usize>()
            + self.child.values().map(HashMap::len).sum::<usize>()
    }

    /// Data-table watches by connection, sorted (for `wchs`, `wchc`, `wchp`). Apache's
    /// watch reports list the data table only: a getChildren watch is counted by `mntr`
    /// but invisible to them, and a persistent watch appears once.
    pub fn data_by_connection(&self) -> BTreeMap<ConnId, BTreeSet<&String>> {
        let mut out: BTreeMap<ConnId, BTreeSet<&String>> = BTreeMap::new();
        for (path, conns) in &self.data {
            for conn in conns.keys() {
                out.entry(*conn).or_default().insert(path);
            }
        }
        out
    }

    /// `wchs` figures: connections, paths and watches of the data table.
    pub fn data_summary(&self) -> (usize, usize, usize) {
        let watches = self.data.values().map(HashMap::len).sum();
        (self.data_by_connection().len(), self.data.len(), watches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> HashSet<ConnId> {
        HashSet::new()
    }

    #[test]
    fn standard_watch_fires_once() {
        let mut w = WatchManager::default();
        w.add(Table::Data, "/a", 1, WatchMode::Standard);
        assert_eq!(
            w.trigger(Table::Data, EventType::NodeDataChanged, "/a", &none()),
            vec![1]
        );
        assert!(w
            .trigger(Table::Data, EventType::NodeDataChanged, "/a", &none())
            .is_empty());
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn persistent_watch_rearms_and_recursive_matches_descendants() {
        let mut w = WatchManager::default();
        w.add_persistent("/w", 1, false);
        w.add_persistent("/w", 2, true);
        assert_eq!(
            w.trigger(Table::Data, EventType::NodeDataChanged, "/w", &none()),
            vec![1, 2]
        );
        assert_eq!(
            w.trigger(Table::Data, EventType::NodeCreated, "/w/c/g", &none()),
            vec![2]
        );
        assert_eq!(
            w.trigger(Table::Child, EventType::NodeChildrenChanged, "/w", &none()),
            vec![1]
        );
        assert!(w
            .trigger(
                Table::Child,
                EventType::NodeChildrenChanged,
                "/w/c",
                &none()
            )
            .is_empty());
        assert_eq!(w.count(), 4);
    }

    #[test]
    fn a_connection_already_notified_is_not_notified_twice() {
        let mut w = WatchManager::default();
        w.add(Table::Data, "/a", 1, WatchMode::Standard);
        w.add(Table::Child, "/a", 1, WatchMode::Standard);
        let first = w.trigger(Table::Data, EventType::NodeDeleted, "/a", &none());
        let already: HashSet<_> = first.iter().copied().collect();
        assert!(w
            .trigger(Table::Child, EventType::NodeDeleted, "/a", &already)
            .is_empty());
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn fired_and_removed_watches_leave_the_connection_index() {
        let mut w = WatchManager::default();
        w.add(Table::Data, "/a", 1, WatchMode::Standard);
        w.add(Table::Child, "/b", 1, WatchMode::Standard);
        w.trigger(Table::Data, EventType::NodeDataChanged, "/a", &none());
        w.remove(Table::Child, "/b", 1);
        assert!(w.data_by_connection().is_empty());
        assert!(w.by_conn.is_empty());
    }

    #[test]
    fn watch_reports_show_the_data_table_as_apache_does() {
        // Apache 3.8: `wchs` after `ls -w /a` reports no watch, `mntr` counts one; a
        // persistent (recursive or not) watch is one in `wchs` and two in `mntr`.
        let mut w = WatchManager::default();
        w.add(Table::Child, "/a", 1, WatchMode::Standard);
        assert_eq!(w.data_summary(), (0, 0, 0));
        assert_eq!(w.count(), 1);
        w.add_persistent("/b", 2, true);
        assert_eq!(w.data_summary(), (1, 1, 1));
        assert_eq!(w.count(), 3);
    }

    #[test]
    fn closing_a_connection_drops_its_watches() {
        let mut w = WatchManager::default();
        w.add(Table::Data, "/a", 1, WatchMode::Standard);
        w.add_persistent("/b", 1, true);
        w.add(Table::Data, "/a", 2, WatchMode::Standard);
        w.remove_connection(1);
        assert_eq!(w.count(), 1);
        assert_eq!(
            w.trigger(Table::Data, EventType::NodeCreated, "/b/x", &none()),
            Vec::<u64>::new()
        );
    }
}

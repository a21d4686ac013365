//! Changes prepared but not yet committed: Apache's `outstandingChanges`.
//!
//! The tree holds committed state only. A write is validated against the tree *plus*
//! every change prepared before it and still waiting for its quorum (or its fsync), so
//! pipelined writes see each other: a second create of the same path fails with
//! NODEEXISTS, a sequential create takes the next number, a version check sees the
//! version the previous setData will leave. Each record is dropped once the txn that
//! made it is applied to the tree, which then says the same thing.
//!
//! Owns the overlay only; [`crate::prep::View`] reads through it.

use std::collections::{HashMap, VecDeque};

use crate::prep::Rec;

/// The overlay of prepared changes, by path.
#[derive(Debug, Default)]
pub struct Outstanding {
    /// Path → (zxid of the latest change to it, the node after it; `None` = deleted).
    by_path: HashMap<String, (i64, Option<Rec>)>,
    /// The paths each prepared zxid changed, oldest first.
    order: VecDeque<(i64, Vec<String>)>,
}

impl Outstanding {
    /// The node at `path` as the latest prepared change left it; `None` if no prepared
    /// change touched it (read the tree), `Some(None)` if it was deleted.
    pub fn get(&self, path: &str) -> Option<&Option<Rec>> {
        self.by_path.get(path).map(|(_, rec)| rec)
    }

    /// Records what the txn with `zxid` will change.
    pub fn record(&mut self, zxid: i64, changes: HashMap<String, Option<Rec>>) {
        if changes.is_empty() {
            return;
        }
        let mut paths = Vec::with_capacity(changes.len());
        for (path, rec) in changes {
            paths.push(path.clone());
            self.by_path.insert(path, (zxid, rec));
        }
        self.order.push_back((zxid, paths));
    }

    /// The txns up to `zxid` are applied: their records are no longer needed, unless a
    /// later prepared change to the same path replaced them.
    pub fn committed(&mut self, zxid: i64) {
        while self.order.front().is_some_and(|(z, _)| *z <= zxid) {
            let Some((z, paths)) = self.order.pop_front() else {
                break;
            };
            for path in paths {
                if self
                    .by_path
                    .get(&path)
                    .is_some_and(|(latest, _)| *latest == z)
                {
                    self.by_path.remove(&path);
                }
            }
        }
    }

    /// Forgets everything (the prepared txns will never commit here).
    pub fn clear(&mut self) {
        self.by_path.clear();
        self.order.clear();
    }

    /// Whether nothing is outstanding.
    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::StoredStat;
    use std::sync::Arc;

    fn rec(version: i32) -> Rec {
        Rec {
            stat: StoredStat {
                version,
                ..Default::default()
            },
            acl: Arc::new(Vec::new()),
            num_children: 0,
            data_len: 0,
        }
    }

    #[test]
    fn a_record_lives_until_its_own_txn_commits() {
        let mut o = Outstanding::default();
        o.record(5, HashMap::from([("/a".to_owned(), Some(rec(1)))]));
        o.record(6, HashMap::from([("/a".to_owned(), Some(rec(2)))]));
        o.record(7, HashMap::from([("/b".to_owned(), None)]));
        o.committed(5);
        // /a was changed again by 6: the newer record stays.
        assert_eq!(
            o.get("/a").and_then(|r| r.as_ref()).map(|r| r.stat.version),
            Some(2)
        );
        o.committed(6);
        assert!(o.get("/a").is_none());
        assert!(
            matches!(o.get("/b"), Some(None)),
            "a prepared delete hides the node"
        );
        o.committed(7);
        assert!(o.is_empty());
    }
}

//! The recent applied txns every member keeps in memory (Apache's `committedLog`), from
//! which a leader synchronises a learner by DIFF, and the choice between DIFF, TRUNC and
//! SNAP ([`History::plan`], Apache's `LearnerHandler.syncFollower`).
//!
//! Owns the window and the rules; sends nothing.

use std::collections::VecDeque;

use super::message::epoch_of;
use crate::txn::{Txn, TxnHeader};

/// The newest applied txns, contiguous, ending at the tree's last zxid, bounded by count
/// and by bytes (a few big multis must not hold much more than intended).
#[derive(Debug, Default)]
pub struct History {
    /// The zxid of the state just before the first txn kept (the tree's zxid when the
    /// window began).
    base: i64,
    txns: VecDeque<(TxnHeader, Txn)>,
    limit: usize,
    /// Approximate bytes held, and the most allowed.
    bytes: usize,
    max_bytes: usize,
}

/// The most bytes of txns a history keeps by default.
pub const MAX_HISTORY_BYTES: usize = 32 * 1024 * 1024;

/// How a leader brings a learner whose last zxid is `p` up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPlan {
    /// The learner has a prefix of the leader's history: send the txns from this index of
    /// the window.
    Diff {
        /// Index of the first txn to send.
        from: usize,
    },
    /// The learner has txns nobody committed: cut them back to `to`, then send the txns
    /// from this index.
    Trunc {
        /// Where to cut.
        to: i64,
        /// Index of the first txn to send.
        from: usize,
    },
    /// The learner is too far behind, or diverged across an epoch: send the whole tree.
    Snap,
}

impl History {
    /// A window of at most `limit` txns, starting after a state at zxid `base`.
    pub fn new(base: i64, limit: usize) -> Self {
        Self {
            base,
            txns: VecDeque::new(),
            limit: limit.max(1),
            bytes: 0,
            max_bytes: MAX_HISTORY_BYTES,
        }
    }

    /// Changes how many txns are kept (dropping the oldest if needed).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(1);
        self.trim();
    }

    /// Changes how many bytes of txns are kept (dropping the oldest if needed).
    pub fn set_max_bytes(&mut self, max_bytes: usize) {
        self.max_bytes = max_bytes;
        self.trim();
    }

    fn trim(&mut self) {
        while self.txns.len() > self.limit || (self.bytes > self.max_bytes && !self.txns.is_empty())
        {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some((header, txn)) = self.txns.pop_front() {
            self.base = header.zxid;
            self.bytes = self.bytes.saturating_sub(txn.approximate_size());
        }
    }

    /// Records an applied txn.
    pub fn push(&mut self, header: TxnHeader, txn: Txn) {
        self.bytes += txn.approximate_size();
        self.txns.push_back((header, txn));
        self.trim();
    }

    /// Forgets everything; the next txn follows a state at `base`.
    pub fn reset(&mut self, base: i64) {
        self.base = base;
        self.txns.clear();
        self.bytes = 0;
    }

    /// The last zxid (the tree's).
    pub fn last(&self) -> i64 {
        self.txns.back().map_or(self.base, |(h, _)| h.zxid)
    }

    /// The txns from index `from`.
    pub fn from(&self, from: usize) -> impl Iterator<Item = &(TxnHeader, Txn)> {
        self.txns.iter().skip(from)
    }

    /// Number of txns kept.
    pub fn len(&self) -> usize {
        self.txns.len()
    }

    /// Whether no txn is kept.
    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    /// How to sync a learner whose last zxid is `p`.
    pub fn plan(&self, p: i64) -> SyncPlan {
        let last = self.last();
        if p == last {
            return SyncPlan::Diff {
                from: self.txns.len(),
            };
        }
        if p > last {
            // The learner logged txns after our last one: nobody committed them (we
            // would have them). Cut them.
            return SyncPlan::Trunc {
                to: last,
                from: self.txns.len(),
            };
        }
        if p == self.base {
            return SyncPlan::Diff { from: 0 };
        }
        if p < self.base {
            return SyncPlan::Snap;
        }
        // base < p < last: is p one of ours?
        let next = self.txns.partition_point(|(h, _)| h.zxid <= p);
        if next > 0 && self.txns[next - 1].0.zxid == p {
            return SyncPlan::Diff { from: next };
        }
        // p is not ours: the learner has txns we do not. Cutting back is safe only
        // within p's epoch; across epochs, send the tree (never TRUNC across an epoch).
        let prev = if next == 0 {
            self.base
        } else {
            self.txns[next - 1].0.zxid
        };
        match self.txns.get(next) {
            Some((h, _)) if epoch_of(h.zxid) == epoch_of(p) && epoch_of(prev) == epoch_of(p) => {
                SyncPlan::Trunc {
                    to: prev,
                    from: next,
                }
            }
            _ => SyncPlan::Snap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zab::message::zxid;

    fn history(zxids: &[i64], base: i64) -> History {
        let mut h = History::new(base, 100);
        for &z in zxids {
            h.push(
                TxnHeader {
                    session_id: 0,
                    cxid: 0,
                    zxid: z,
                    time: 0,
                },
                Txn::Error { err: 0 },
            );
        }
        h
    }

    #[test]
    fn a_learner_with_a_prefix_gets_a_diff() {
        let h = history(&[zxid(1, 1), zxid(1, 2), zxid(2, 1)], 0);
        assert_eq!(h.plan(zxid(2, 1)), SyncPlan::Diff { from: 3 });
        assert_eq!(h.plan(zxid(1, 2)), SyncPlan::Diff { from: 2 });
        assert_eq!(h.plan(0), SyncPlan::Diff { from: 0 });
    }

    #[test]
    fn a_learner_ahead_is_cut_back() {
        let h = history(&[zxid(1, 1), zxid(1, 2)], 0);
        assert_eq!(
            h.plan(zxid(1, 5)),
            SyncPlan::Trunc {
                to: zxid(1, 2),
                from: 2
            }
        );
    }

    #[test]
    fn diverging_across_an_epoch_or_falling_behind_the_window_means_a_snapshot() {
        // The learner logged (1,3), which the leader never had; the leader went on in
        // epoch 2.
        let h = history(&[zxid(1, 1), zxid(1, 2), zxid(2, 1)], 0);
        assert_eq!(h.plan(zxid(1, 3)), SyncPlan::Snap);
        let h = history(&[zxid(1, 5), zxid(1, 6)], zxid(1, 4));
        assert_eq!(h.plan(zxid(1, 2)), SyncPlan::Snap);
    }

    #[test]
    fn big_txns_are_bounded_by_bytes_too() {
        let mut h = History::new(0, 1000);
        h.set_max_bytes(10_000);
        for c in 1..=50 {
            h.push(
                TxnHeader {
                    session_id: 0,
                    cxid: 0,
                    zxid: zxid(1, c),
                    time: 0,
                },
                Txn::SetData {
                    path: "/big".into(),
                    data: Some(bytes::Bytes::from(vec![0u8; 1000])),
                    version: c as i32,
                },
            );
        }
        assert!(h.len() < 10, "{} txns kept", h.len());
        assert_eq!(h.last(), zxid(1, 50));
    }

    #[test]
    fn the_window_stays_bounded_and_moves_its_base() {
        let mut h = History::new(0, 2);
        for c in 1..=5 {
            h.push(
                TxnHeader {
                    session_id: 0,
                    cxid: 0,
                    zxid: zxid(1, c),
                    time: 0,
                },
                Txn::Error { err: 0 },
            );
        }
        assert_eq!(h.len(), 2);
        assert_eq!(h.plan(zxid(1, 3)), SyncPlan::Diff { from: 0 });
        assert_eq!(h.plan(zxid(1, 2)), SyncPlan::Snap);
    }
}

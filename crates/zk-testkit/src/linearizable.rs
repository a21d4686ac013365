//! A linearizability check for one ZooKeeper register (a znode written with `setData`
//! and read with `sync` + `getData`), using what ZooKeeper itself says about order.
//!
//! Every write that succeeded reports its zxid (the Stat's `mzxid`); every read reports
//! the `mzxid` of the value it saw. ZooKeeper orders writes by zxid, so the only
//! candidate linearization puts each write at its zxid and each read right after the
//! write it saw. The history is linearizable iff that order respects real time: an
//! operation that completed before another was invoked must not come after it. A write
//! whose reply was lost (the outcome unknown) is placed where a read saw its value, or
//! left out if no one did (it may not have happened, and nothing depends on it).
//!
//! Values must be unique per write. `O(n log n)`.

use std::collections::HashMap;
use std::time::Instant;

/// One operation on the register, as the client saw it.
#[derive(Debug, Clone)]
pub struct RegisterOp {
    /// Who ran it (for messages).
    pub client: usize,
    /// When it was invoked.
    pub invoked: Instant,
    /// When its reply arrived; `None` if the outcome is unknown (connection lost).
    pub completed: Option<Instant>,
    /// What it did.
    pub kind: RegisterKind,
}

/// A write or a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterKind {
    /// `setData(value)`; `zxid` is the reply's `mzxid` when it succeeded.
    Write {
        /// The value written (unique).
        value: Vec<u8>,
        /// The write's zxid, if it is known to have succeeded.
        zxid: Option<i64>,
    },
    /// `sync` + `getData`: the value seen and its `mzxid`.
    Read {
        /// The value read.
        value: Vec<u8>,
        /// The zxid of the write that set it.
        zxid: i64,
    },
}

/// Checks a history; `Err` describes the first violation found.
pub fn check(history: &[RegisterOp]) -> Result<(), String> {
    // Where each write sits: known zxids, then the zxids reads saw for unknown writes.
    let mut by_zxid: HashMap<i64, &[u8]> = HashMap::new();
    let mut by_value: HashMap<&[u8], i64> = HashMap::new();
    for op in history {
        if let RegisterKind::Write {
            value,
            zxid: Some(z),
        } = &op.kind
        {
            if let Some(other) = by_zxid.insert(*z, value) {
                return Err(format!(
                    "two writes at zxid {z:#x}: {other:?} and {value:?}"
                ));
            }
            by_value.insert(value, *z);
        }
    }
    for op in history {
        if let RegisterKind::Read { value, zxid } = &op.kind {
            match by_zxid.get(zxid) {
                Some(v) if *v != value.as_slice() => {
                    return Err(format!(
                        "client {} read {value:?} at zxid {zxid:#x}, where {v:?} was written",
                        op.client
                    ))
                }
                Some(_) => {}
                None => {
                    by_zxid.insert(*zxid, value);
                    by_value.entry(value).or_insert(*zxid);
                }
            }
        }
    }
    // Positions: (zxid, 0) for a write, (zxid, 1) for a read after it.
    let mut placed: Vec<(&RegisterOp, (i64, u8))> = Vec::new();
    for op in history {
        match &op.kind {
            RegisterKind::Write { value, zxid } => {
                let z = zxid.or_else(|| by_value.get(value.as_slice()).copied());
                if let Some(z) = z {
                    placed.push((op, (z, 0)));
                }
            }
            RegisterKind::Read { zxid, .. } => placed.push((op, (*zxid, 1))),
        }
    }
    // Sweep in time: at each invocation, everything completed before must be placed no
    // later than this operation.
    enum At {
        Invoke(usize),
        Complete(usize),
    }
    let mut events: Vec<(Instant, u8, At)> = Vec::new();
    for (i, (op, _)) in placed.iter().enumerate() {
        events.push((op.invoked, 0, At::Invoke(i)));
        if let Some(done) = op.completed {
            events.push((done, 1, At::Complete(i)));
        }
    }
    // At equal instants invocations go first: "completed before invoked" is strict.
    events.sort_by_key(|e| (e.0, e.1));
    let mut latest: Option<((i64, u8), usize)> = None;
    for (_, _, at) in events {
        match at {
            At::Complete(i) => {
                if latest.is_none_or(|(p, _)| placed[i].1 > p) {
                    latest = Some((placed[i].1, i));
                }
            }
            At::Invoke(i) => {
                if let Some((p, j)) = latest {
                    if placed[i].1 < p {
                        return Err(format!(
                            "not linearizable: {:?} (client {}) completed before {:?} (client {}) was invoked, yet comes after it in zxid order",
                            placed[j].0.kind, placed[j].0.client, placed[i].0.kind, placed[i].0.client
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    fn write(
        c: usize,
        base: Instant,
        (i, d): (u64, Option<u64>),
        v: &str,
        z: Option<i64>,
    ) -> RegisterOp {
        RegisterOp {
            client: c,
            invoked: at(base, i),
            completed: d.map(|d| at(base, d)),
            kind: RegisterKind::Write {
                value: v.into(),
                zxid: z,
            },
        }
    }

    fn read(c: usize, base: Instant, (i, d): (u64, u64), v: &str, z: i64) -> RegisterOp {
        RegisterOp {
            client: c,
            invoked: at(base, i),
            completed: Some(at(base, d)),
            kind: RegisterKind::Read {
                value: v.into(),
                zxid: z,
            },
        }
    }

    #[test]
    fn a_sequential_history_passes() {
        let t = Instant::now();
        let h = vec![
            write(0, t, (0, Some(10)), "a", Some(1)),
            read(1, t, (20, 30), "a", 1),
            write(1, t, (40, Some(50)), "b", Some(2)),
            read(0, t, (60, 70), "b", 2),
        ];
        assert_eq!(check(&h), Ok(()));
    }

    #[test]
    fn a_stale_read_after_a_completed_write_fails() {
        let t = Instant::now();
        let h = vec![
            write(0, t, (0, Some(10)), "a", Some(1)),
            write(0, t, (20, Some(30)), "b", Some(2)),
            read(1, t, (40, 50), "a", 1),
        ];
        assert!(check(&h).is_err());
    }

    #[test]
    fn concurrent_operations_may_go_either_way() {
        let t = Instant::now();
        let h = vec![
            write(0, t, (0, Some(100)), "a", Some(2)),
            read(1, t, (10, 20), "init", 1),
            read(2, t, (30, 40), "a", 2),
        ];
        assert_eq!(check(&h), Ok(()));
    }

    #[test]
    fn a_write_with_a_lost_reply_is_placed_where_it_was_seen() {
        let t = Instant::now();
        let h = vec![
            write(0, t, (0, None), "lost", None),
            read(1, t, (50, 60), "lost", 3),
            write(1, t, (70, Some(80)), "after", Some(4)),
            read(2, t, (90, 95), "after", 4),
        ];
        assert_eq!(check(&h), Ok(()));
        // A value nobody wrote at that zxid is caught.
        let bad = vec![
            write(0, t, (0, Some(5)), "a", Some(3)),
            read(1, t, (10, 20), "b", 3),
        ];
        assert!(check(&bad).is_err());
    }
}

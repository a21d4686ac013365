//! What a server needs of its disk, as one trait with two implementations: files
//! ([`crate::persist::FileStorage`]) and memory ([`MemStorage`], which the deterministic
//! simulation crashes at will).
//!
//! A server never calls the disk itself. It issues [`StoreJob`]s in order; a writer
//! (a thread, [`crate::journal`], or the simulation) runs them in that order and reports
//! each one done. Whatever must be durable before a message leaves — an ACK, an
//! ACKEPOCH, a NEWLEADER ack, a client reply — waits for the job's completion, so the
//! ordering rules of Zab (history before epoch before ack; fsync, not enqueue) hold by
//! construction.
//!
//! Owns the job vocabulary, the recovery rule shared by both implementations ([`replay`]:
//! zxids must follow each other) and the in-memory disk. Knows nothing of the protocol.

use bytes::{Buf, Bytes};

use crate::persist::PersistError;
use crate::tree::{Applied, DataTree, TreeSnapshot};
use crate::txn::{Txn, TxnHeader};
use crate::zab::history::History;
use crate::zab::message::{counter_of, epoch_of};
use zk_proto::Decode;

/// One thing to do to the disk, in order with every other.
#[derive(Debug, Clone)]
pub enum StoreJob {
    /// Append log records ([`crate::persist::encode_record`]); done once fsync'd.
    Append {
        /// The records.
        records: Bytes,
        /// zxid of the first record.
        first: i64,
        /// zxid of the last record.
        last: i64,
    },
    /// Persist the highest epoch promised to a leader (`acceptedEpoch`).
    AcceptedEpoch(u32),
    /// Persist the epoch whose NEWLEADER was acknowledged (`currentEpoch`).
    CurrentEpoch(u32),
    /// Roll the log here and write this tree as a snapshot (off the writer's path: the
    /// log still holds everything, so the job is done before the file is).
    Snapshot(TreeSnapshot),
    /// A SNAP sync: this tree replaces the whole history. Done once the snapshot is
    /// durable; the log before it is then removed.
    Reset(TreeSnapshot),
    /// A TRUNC sync: drop every txn after this zxid, then load what is left.
    Truncate(i64),
    /// Load the durable state again (memory may be ahead of the disk after a sync that
    /// was cut short).
    Reload,
}

impl StoreJob {
    /// Whether the job's completion carries a loaded state ([`Loaded`]).
    pub fn loads(&self) -> bool {
        matches!(self, StoreJob::Truncate(_) | StoreJob::Reload)
    }
}

/// A server's durable state, read back.
#[derive(Debug)]
pub struct Loaded {
    /// The tree after the newest snapshot and the log after it.
    pub tree: DataTree,
    /// Highest epoch promised.
    pub accepted_epoch: u32,
    /// Epoch of the last NEWLEADER acknowledged.
    pub current_epoch: u32,
    /// The newest txns replayed from the log (a member leading later can DIFF from
    /// them).
    pub history: History,
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The files could not be read or written.
    #[error(transparent)]
    Persist(#[from] PersistError),
    /// A TRUNC to a zxid older than every snapshot kept: the member must sync by
    /// snapshot instead.
    #[error("cannot truncate to {0:#x}: no snapshot that old is kept")]
    CannotTruncate(i64),
}

/// A disk.
pub trait Storage: Send {
    /// Appends log records; durable only after [`Storage::sync`].
    fn append(&mut self, records: &Bytes, first: i64, last: i64) -> Result<(), StorageError>;
    /// Makes every append so far durable.
    fn sync(&mut self) -> Result<(), StorageError>;
    /// Durably records the accepted epoch.
    fn set_accepted_epoch(&mut self, epoch: u32) -> Result<(), StorageError>;
    /// Durably records the current epoch.
    fn set_current_epoch(&mut self, epoch: u32) -> Result<(), StorageError>;
    /// Rolls the log and writes a snapshot (possibly finishing in the background).
    fn snapshot(&mut self, tree: TreeSnapshot) -> Result<(), StorageError>;
    /// Durably replaces the whole history with a snapshot.
    fn reset(&mut self, tree: &TreeSnapshot) -> Result<(), StorageError>;
    /// Durably drops every txn after `zxid`.
    fn truncate(&mut self, zxid: i64) -> Result<(), StorageError>;
    /// Reads the durable state.
    fn load(&mut self) -> Result<Loaded, StorageError>;
}

/// Runs one job; `Some` with the loaded state for [`StoreJob::loads`] jobs. Appends are
/// not synced here: the writer syncs before any other job and at the end of a batch.
pub fn run(storage: &mut dyn Storage, job: StoreJob) -> Result<Option<Loaded>, StorageError> {
    match job {
        StoreJob::Append {
            records,
            first,
            last,
        } => storage.append(&records, first, last)?,
        StoreJob::AcceptedEpoch(e) => storage.set_accepted_epoch(e)?,
        StoreJob::CurrentEpoch(e) => storage.set_current_epoch(e)?,
        StoreJob::Snapshot(tree) => storage.snapshot(tree)?,
        StoreJob::Reset(tree) => storage.reset(&tree)?,
        StoreJob::Truncate(zxid) => {
            storage.truncate(zxid)?;
            return Ok(Some(storage.load()?));
        }
        StoreJob::Reload => return Ok(Some(storage.load()?)),
    }
    Ok(None)
}

/// Whether `next` may follow `prev` in a log: the next counter of the same epoch, or
/// the first txn of a later epoch.
pub fn follows(prev: i64, next: i64) -> bool {
    next == prev + 1 || (epoch_of(next) > epoch_of(prev) && counter_of(next) == 1)
}

/// How many replayed txns [`Loaded::history`] keeps.
pub const HISTORY_KEPT: usize = 10_000;

/// Applies log records after the tree's zxid, checking that zxids follow each other.
/// Records the tree already has are skipped; the applied ones are kept in `history`.
pub fn replay(
    tree: &mut DataTree,
    records: impl IntoIterator<Item = (TxnHeader, Txn)>,
    history: &mut History,
) -> Result<usize, PersistError> {
    let mut applied = Applied::default();
    let mut count = 0;
    for (header, txn) in records {
        if header.zxid <= tree.last_zxid() {
            continue;
        }
        if !follows(tree.last_zxid(), header.zxid) {
            return Err(PersistError::Corrupt(format!(
                "txn {:#x} follows {:#x}; the log has a gap",
                header.zxid,
                tree.last_zxid()
            )));
        }
        applied.clear();
        tree.apply(&header, &txn, &mut applied)
            .map_err(|e| PersistError::Corrupt(e.to_string()))?;
        history.push(header, txn);
        count += 1;
    }
    Ok(count)
}

/// Splits encoded log records back into txns (the in-memory disk stores them decoded).
fn decode_records(mut bytes: &[u8]) -> Vec<(TxnHeader, Txn)> {
    let mut out = Vec::new();
    while bytes.len() >= 8 {
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let Some(mut payload) = bytes.get(8..8 + len) else {
            break;
        };
        if let (Ok(h), Ok(t)) = (TxnHeader::decode(&mut payload), Txn::decode(&mut payload)) {
            out.push((h, t));
        }
        bytes.advance(8 + len);
    }
    out
}

/// A disk in memory. Appends stay volatile until synced; [`MemStorage::crash`] loses
/// them, as a power cut loses what was written but never fsync'd.
#[derive(Debug, Default, Clone)]
pub struct MemStorage {
    accepted_epoch: u32,
    current_epoch: u32,
    /// Kept snapshots, oldest first.
    snapshots: Vec<TreeSnapshot>,
    /// Durable log records, in order.
    log: Vec<(TxnHeader, Txn)>,
    /// Written, not yet fsync'd.
    volatile: Vec<(TxnHeader, Txn)>,
}

impl MemStorage {
    /// An empty disk.
    pub fn new() -> Self {
        Self::default()
    }

    /// A crash: whatever was not fsync'd is gone, except the first `survivors` records
    /// (the disk happened to write them before the power went).
    pub fn crash(&mut self, survivors: usize) {
        let keep = survivors.min(self.volatile.len());
        let kept: Vec<_> = self.volatile.drain(..keep).collect();
        self.log.extend(kept);
        self.volatile.clear();
    }

    /// Records written but not yet durable.
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// Every durable txn (for the simulation's checks).
    pub fn durable_log(&self) -> &[(TxnHeader, Txn)] {
        &self.log
    }

    /// The durable epochs (accepted, current).
    pub fn epochs(&self) -> (u32, u32) {
        (self.accepted_epoch, self.current_epoch)
    }

    /// Whether the txn with `zxid` is durable here: in the durable log, or covered by a
    /// kept snapshot.
    pub fn has(&self, zxid: i64) -> bool {
        self.log.iter().any(|(h, _)| h.zxid == zxid)
            || self.snapshots.iter().any(|s| s.last_zxid() >= zxid)
    }

    /// The last durable zxid.
    pub fn last_zxid(&self) -> i64 {
        let snap = self.snapshots.last().map_or(0, TreeSnapshot::last_zxid);
        self.log.last().map_or(snap, |(h, _)| h.zxid.max(snap))
    }
}

impl Storage for MemStorage {
    fn append(&mut self, records: &Bytes, _first: i64, _last: i64) -> Result<(), StorageError> {
        self.volatile.extend(decode_records(records));
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        self.log.append(&mut self.volatile);
        Ok(())
    }

    fn set_accepted_epoch(&mut self, epoch: u32) -> Result<(), StorageError> {
        self.accepted_epoch = epoch;
        Ok(())
    }

    fn set_current_epoch(&mut self, epoch: u32) -> Result<(), StorageError> {
        self.current_epoch = epoch;
        Ok(())
    }

    fn snapshot(&mut self, tree: TreeSnapshot) -> Result<(), StorageError> {
        self.snapshots.push(tree);
        if self.snapshots.len() > 3 {
            self.snapshots.remove(0);
        }
        // Log before the oldest kept snapshot is no longer needed.
        let oldest = self.snapshots[0].last_zxid();
        self.log.retain(|(h, _)| h.zxid > oldest);
        Ok(())
    }

    fn reset(&mut self, tree: &TreeSnapshot) -> Result<(), StorageError> {
        self.snapshots = vec![tree.clone()];
        self.log.clear();
        self.volatile.clear();
        Ok(())
    }

    fn truncate(&mut self, zxid: i64) -> Result<(), StorageError> {
        self.sync()?;
        if self.snapshots.first().is_some_and(|s| s.last_zxid() > zxid) {
            return Err(StorageError::CannotTruncate(zxid));
        }
        self.snapshots.retain(|s| s.last_zxid() <= zxid);
        self.log.retain(|(h, _)| h.zxid <= zxid);
        Ok(())
    }

    fn load(&mut self) -> Result<Loaded, StorageError> {
        let mut tree = match self.snapshots.last() {
            Some(s) => DataTree::from_snapshot(s.clone()),
            None => DataTree::new(),
        };
        let mut history = History::new(tree.last_zxid(), HISTORY_KEPT);
        replay(&mut tree, self.log.iter().cloned(), &mut history)?;
        Ok(Loaded {
            tree,
            accepted_epoch: self.accepted_epoch,
            current_epoch: self.current_epoch,
            history,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::encode_record;
    use bytes::BytesMut;
    use zk_proto::Acl;

    fn record(zxid: i64, path: &str, parent_cversion: i32) -> Bytes {
        let mut out = BytesMut::new();
        encode_record(
            &mut out,
            &TxnHeader {
                session_id: 1,
                cxid: 1,
                zxid,
                time: 0,
            },
            &Txn::Create {
                path: path.into(),
                data: None,
                acl: Acl::open_unsafe(),
                ephemeral_owner: 0,
                parent_cversion,
            },
        );
        out.freeze()
    }

    #[test]
    fn zxids_follow_within_an_epoch_or_start_a_later_one() {
        use crate::zab::message::zxid;
        assert!(follows(zxid(1, 4), zxid(1, 5)));
        assert!(follows(zxid(1, 4), zxid(3, 1)));
        assert!(!follows(zxid(1, 4), zxid(1, 6)));
        assert!(!follows(zxid(3, 4), zxid(2, 1)));
        assert!(!follows(zxid(1, 4), zxid(2, 2)));
    }

    #[test]
    fn unsynced_appends_die_in_a_crash_and_truncate_cuts_the_tail() {
        let mut disk = MemStorage::new();
        disk.append(&record(1, "/a", 1), 1, 1).unwrap();
        disk.sync().unwrap();
        disk.append(&record(2, "/b", 2), 2, 2).unwrap();
        disk.crash(0);
        let loaded = disk.load().unwrap();
        assert_eq!(loaded.tree.last_zxid(), 1);
        assert!(loaded.tree.get("/b").is_none());
        disk.append(&record(2, "/c", 2), 2, 2).unwrap();
        disk.append(&record(3, "/d", 3), 3, 3).unwrap();
        disk.sync().unwrap();
        disk.truncate(2).unwrap();
        let loaded = disk.load().unwrap();
        assert_eq!(loaded.tree.last_zxid(), 2);
        assert!(loaded.tree.get("/c").is_some() && loaded.tree.get("/d").is_none());
    }

    #[test]
    fn truncating_below_every_snapshot_is_refused() {
        let mut disk = MemStorage::new();
        disk.append(&record(1, "/a", 1), 1, 1).unwrap();
        disk.append(&record(2, "/b", 2), 2, 2).unwrap();
        disk.sync().unwrap();
        let tree = disk.load().unwrap().tree;
        disk.snapshot(tree.snapshot()).unwrap();
        assert!(matches!(
            disk.truncate(1),
            Err(StorageError::CannotTruncate(1))
        ));
        assert_eq!(disk.load().unwrap().tree.last_zxid(), 2, "nothing was lost");
    }
}

//! Durability: a checksummed transaction log written and fsync'd before any reply that
//! depends on it, periodic snapshots, and recovery on restart.
//!
//! # Files (in `data_dir/zkmesh/`)
//! - `log.<zxid>`: records `u32 length | u32 crc32 | TxnHeader + Txn`, starting with the
//!   txn whose zxid names the file. A new segment starts at each snapshot.
//! - `snapshot.<zxid>`: `b"ZKMSNAP1" | last zxid | sessions | nodes | u32 crc32` — the
//!   whole tree as of that zxid, written to a temporary name, fsync'd, then renamed.
//!
//! # Writing
//! One writer thread owns the log. The core hands it the records of each batch of
//! requests; the thread writes everything queued, fsyncs once (group commit: concurrent
//! writers share an fsync) and publishes the highest durable zxid. The core releases a
//! reply only once the zxid it reflects is durable, so no client sees a change that a
//! crash could lose.
//!
//! # Recovery
//! The newest snapshot that passes its checksum is loaded, then the log records after it
//! are replayed. A record that is incomplete or fails its checksum marks a torn tail (a
//! crash mid-write): the file is cut there and later segments are removed — they can
//! only hold writes that were never acknowledged. A record that decodes but does not
//! apply means corruption, and the server refuses to start rather than serve wrong data.
//!
//! `crc32fast` is a dependency for the checksums: a well-kept, SIMD-accelerated CRC-32.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::sync::watch;
use zk_proto::codec::{read_i32, read_i64, read_vec};
use zk_proto::{Acl, Decode, Encode};

use crate::tree::{Applied, DataTree, StoredStat, TreeSnapshot};
use crate::txn::{Txn, TxnHeader};

const SNAPSHOT_MAGIC: &[u8; 8] = b"ZKMSNAP1";
/// Snapshots kept on disk (the newest first; older ones are fallbacks).
const SNAPSHOTS_KEPT: usize = 3;

/// Why the data directory could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// The log or a snapshot holds something that cannot be right.
    #[error("corrupt data directory: {0}")]
    Corrupt(String),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PersistError {
    let context = context.into();
    move |source| PersistError::Io { context, source }
}

/// Appends one log record for `header`/`txn` to `out`.
pub fn encode_record(out: &mut BytesMut, header: &TxnHeader, txn: &Txn) {
    let start = out.len();
    out.put_u32(0);
    out.put_u32(0);
    header.encode(out);
    txn.encode(out);
    let payload_len = out.len() - start - 8;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&(payload_len as u32).to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
}

/// Serializes a frozen tree as a snapshot (also the body of a SNAP sync).
pub fn encode_snapshot(tree: &TreeSnapshot) -> Bytes {
    let mut out = BytesMut::with_capacity(64 + tree.len() * 128);
    out.put_slice(SNAPSHOT_MAGIC);
    out.put_i64(tree.last_zxid());
    out.put_i32(tree.sessions().len() as i32);
    for (&id, &timeout) in tree.sessions() {
        out.put_i64(id);
        out.put_i32(timeout);
    }
    out.put_i32(tree.len() as i32);
    for (path, node) in tree.iter() {
        zk_proto::codec::write_string(&mut out, path);
        node.data.encode(&mut out);
        node.acl.as_ref().encode(&mut out);
        let s = &node.stat;
        for v in [s.czxid, s.mzxid, s.ctime, s.mtime] {
            out.put_i64(v);
        }
        for v in [s.version, s.cversion, s.aversion] {
            out.put_i32(v);
        }
        out.put_i64(s.ephemeral_owner);
        out.put_i64(s.pzxid);
    }
    let crc = crc32fast::hash(&out);
    out.put_u32(crc);
    out.freeze()
}

/// Reads a snapshot back into a tree.
pub fn decode_snapshot(bytes: &[u8]) -> Result<DataTree, PersistError> {
    let corrupt = |why: &str| PersistError::Corrupt(format!("snapshot: {why}"));
    if bytes.len() < SNAPSHOT_MAGIC.len() + 4 || &bytes[..8] != SNAPSHOT_MAGIC {
        return Err(corrupt("bad magic"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(corrupt("checksum mismatch"));
    }
    let mut buf = &body[8..];
    let decode = |buf: &mut &[u8]| -> zk_proto::DecodeResult<DataTree> {
        let last_zxid = read_i64(buf)?;
        let sessions: BTreeMap<i64, i32> = read_vec(buf, 12, |b| Ok((read_i64(b)?, read_i32(b)?)))?
            .into_iter()
            .collect();
        let nodes = read_vec(buf, 4 + 4 + 4 + 32 + 12 + 16, |b| {
            let path = String::decode(b)?;
            let data = Option::<Bytes>::decode(b)?;
            let acl = Vec::<Acl>::decode(b)?;
            let stat = StoredStat {
                czxid: read_i64(b)?,
                mzxid: read_i64(b)?,
                ctime: read_i64(b)?,
                mtime: read_i64(b)?,
                version: read_i32(b)?,
                cversion: read_i32(b)?,
                aversion: read_i32(b)?,
                ephemeral_owner: read_i64(b)?,
                pzxid: read_i64(b)?,
            };
            Ok((path, data, acl, stat))
        })?;
        DataTree::restore(last_zxid, sessions, nodes).map_err(|_| {
            zk_proto::DecodeError::InvalidValue {
                field: "snapshot tree",
                value: 0,
            }
        })
    };
    let tree = decode(&mut buf).map_err(|e| corrupt(&e.to_string()))?;
    if buf.has_remaining() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(tree)
}

fn zxid_of(name: &str, prefix: &str) -> Option<i64> {
    let hex = name.strip_prefix(prefix)?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(|z| z as i64)
}

fn file_name(prefix: &str, zxid: i64) -> String {
    format!("{prefix}{:016x}", zxid as u64)
}

/// Files of one kind in the directory, by zxid.
fn list(dir: &Path, prefix: &str) -> Result<Vec<(i64, PathBuf)>, PersistError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(format!("listing {}", dir.display())))? {
        let entry = entry.map_err(io("reading directory entry"))?;
        if let Some(zxid) = entry.file_name().to_str().and_then(|n| zxid_of(n, prefix)) {
            out.push((zxid, entry.path()));
        }
    }
    out.sort_by_key(|(z, _)| *z);
    Ok(out)
}

fn sync_dir(dir: &Path) -> Result<(), PersistError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing {}", dir.display())))
}

/// What recovery found.
#[derive(Debug)]
pub struct Recovered {
    /// The tree as of the last durable txn.
    pub tree: DataTree,
    /// Txns replayed from the log.
    pub replayed: usize,
    /// Bytes cut from a torn log tail (0 if the log ended cleanly).
    pub truncated_bytes: u64,
}

/// The zxid of the first record in `bytes` (length, checksum, then the TxnHeader:
/// session id, cxid, zxid).
fn first_zxid(bytes: &[u8]) -> Option<i64> {
    let at = 8 + 8 + 4;
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(i64::from_be_bytes)
}

/// Checks one record at `pos`: `Some(len)` of a record whose length fits and whose
/// checksum matches.
fn valid_record_at(bytes: &[u8], pos: usize) -> Option<usize> {
    let header = bytes.get(pos..pos + 8)?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let payload = bytes.get(pos + 8..pos.checked_add(8 + len)?)?;
    (len > 0 && crc32fast::hash(payload) == crc).then_some(len)
}

/// Loads the newest good snapshot and replays the log after it, cutting a torn tail.
///
/// Refuses to start (rather than serve a tree missing acknowledged writes) when snapshot
/// files exist but none is readable, when a record in the middle of the log is bad, or
/// when the replayed zxids do not follow each other.
pub fn recover(data_dir: &Path) -> Result<Recovered, PersistError> {
    let dir = data_dir.join("zkmesh");
    fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let snapshots = list(&dir, "snapshot.")?;
    let mut tree = None;
    for (zxid, path) in snapshots.iter().rev() {
        let bytes = fs::read(path).map_err(io(format!("reading {}", path.display())))?;
        match decode_snapshot(&bytes) {
            Ok(t) => {
                tracing::info!(
                    zxid = format_args!("{zxid:#x}"),
                    nodes = t.node_count(),
                    "loaded snapshot"
                );
                tree = Some(t);
                break;
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "skipping unusable snapshot")
            }
        }
    }
    let mut tree = match tree {
        Some(t) => t,
        None if snapshots.is_empty() => DataTree::default(),
        None => {
            return Err(PersistError::Corrupt(format!(
                "none of the {} snapshots in {} is readable",
                snapshots.len(),
                dir.display()
            )))
        }
    };
    let mut replayed = 0;
    let mut truncated_bytes = 0;
    let segments = list(&dir, "log.")?;
    let mut applied = Applied::default();
    for (i, (_, path)) in segments.iter().enumerate() {
        // A segment followed by one that starts at or before the next zxid we need holds
        // nothing we need: skip it without reading (it may predate the snapshot).
        if segments
            .get(i + 1)
            .is_some_and(|(next_start, _)| *next_start <= tree.last_zxid() + 1)
        {
            continue;
        }
        let last_segment = i + 1 == segments.len();
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io(format!("reading {}", path.display())))?;
        let mut pos = 0usize;
        while pos < bytes.len() {
            let Some(len) = valid_record_at(&bytes, pos) else {
                // Only the very end of the newest segment may be torn (a crash during the
                // last write); anything else is corruption.
                let later_valid =
                    (pos + 1..bytes.len()).any(|p| valid_record_at(&bytes, p).is_some());
                if !last_segment || later_valid {
                    return Err(PersistError::Corrupt(format!(
                        "{} has a bad record at byte {pos} followed by more log",
                        path.display()
                    )));
                }
                truncated_bytes = (bytes.len() - pos) as u64;
                tracing::warn!(
                    path = %path.display(),
                    at = pos,
                    cut = truncated_bytes,
                    "torn log tail: cutting it (those writes were never acknowledged)"
                );
                OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|f| {
                        f.set_len(pos as u64)?;
                        f.sync_all()
                    })
                    .map_err(io(format!("truncating {}", path.display())))?;
                break;
            };
            let mut p = &bytes[pos + 8..pos + 8 + len];
            let (h, txn) = match (TxnHeader::decode(&mut p), Txn::decode(&mut p)) {
                (Ok(h), Ok(t)) if !p.has_remaining() => (h, t),
                _ => {
                    return Err(PersistError::Corrupt(format!(
                        "{} at byte {pos}: record passes its checksum but does not decode",
                        path.display()
                    )))
                }
            };
            pos += 8 + len;
            if h.zxid <= tree.last_zxid() {
                continue;
            }
            if h.zxid != tree.last_zxid() + 1 {
                return Err(PersistError::Corrupt(format!(
                    "{}: txn {:#x} follows {:#x}; the log has a gap",
                    path.display(),
                    h.zxid,
                    tree.last_zxid()
                )));
            }
            applied.clear();
            tree.apply(&h, &txn, &mut applied)
                .map_err(|e| PersistError::Corrupt(format!("{}: {e}", path.display())))?;
            replayed += 1;
        }
    }
    tracing::info!(
        last_zxid = format_args!("{:#x}", tree.last_zxid()),
        replayed,
        sessions = tree.sessions().len(),
        "recovered data directory"
    );
    Ok(Recovered {
        tree,
        replayed,
        truncated_bytes,
    })
}

/// Messages to the writer thread.
#[derive(Debug)]
enum Job {
    /// Log records, the highest zxid among them.
    Records(Bytes, i64),
    /// A frozen tree: start a new segment after its zxid, write it in the background.
    Snapshot(TreeSnapshot),
}

/// The core's handle on the writer thread.
#[derive(Debug)]
pub struct Journal {
    jobs: mpsc::Sender<Job>,
    durable: watch::Receiver<i64>,
}

impl Journal {
    /// Starts the writer thread on `data_dir`, continuing after `last_zxid`.
    pub fn start(data_dir: &Path, last_zxid: i64) -> Result<Journal, PersistError> {
        let dir = data_dir.join("zkmesh");
        fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let (durable_tx, durable) = watch::channel(last_zxid);
        let mut writer = Writer { dir, segment: None };
        std::thread::Builder::new()
            .name("zk-server-log".into())
            .spawn(move || writer.run(rx, durable_tx))
            .map_err(io("starting the log writer thread"))?;
        Ok(Journal { jobs, durable })
    }

    /// Queues records; they become durable in order.
    pub fn append(&self, records: Bytes, last_zxid: i64) {
        let _ = self.jobs.send(Job::Records(records, last_zxid));
    }

    /// Queues a snapshot of a frozen tree: the log rolls over at this point, and the
    /// tree is encoded and written on a thread of its own.
    pub fn snapshot(&self, tree: TreeSnapshot) {
        let _ = self.jobs.send(Job::Snapshot(tree));
    }

    /// The highest durable zxid, updated by the writer.
    pub fn durable(&self) -> watch::Receiver<i64> {
        self.durable.clone()
    }
}

struct Writer {
    dir: PathBuf,
    segment: Option<File>,
}

impl Writer {
    fn run(&mut self, jobs: mpsc::Receiver<Job>, durable: watch::Sender<i64>) {
        while let Ok(first) = jobs.recv() {
            let mut batch = vec![first];
            // Group commit: everything queued meanwhile shares this fsync.
            batch.extend(jobs.try_iter());
            let mut high = None;
            for job in batch {
                match job {
                    Job::Records(bytes, zxid) => {
                        if let Err(e) = self.write(&bytes, zxid) {
                            // Without a durable log nothing may be acknowledged: stop
                            // publishing progress, so no further reply is released.
                            tracing::error!(error = %e, "transaction log write failed; writes are no longer acknowledged");
                            return;
                        }
                        high = Some(zxid);
                    }
                    Job::Snapshot(tree) => {
                        let zxid = tree.last_zxid();
                        if let Some(h) = high.take() {
                            if self.sync().is_err() {
                                return;
                            }
                            durable.send_replace(h);
                        }
                        // Later txns go to a new segment, so older segments only hold
                        // txns covered by this snapshot.
                        self.segment = None;
                        let dir = self.dir.clone();
                        std::thread::spawn(move || {
                            let bytes = encode_snapshot(&tree);
                            if let Err(e) = write_snapshot(&dir, &bytes, zxid) {
                                tracing::warn!(error = %e, "snapshot failed (the log still has everything)");
                            }
                        });
                    }
                }
            }
            if let Some(h) = high {
                if self.sync().is_err() {
                    tracing::error!(
                        "fsync of the transaction log failed; writes are no longer acknowledged"
                    );
                    return;
                }
                durable.send_replace(h);
            }
        }
    }

    fn write(&mut self, bytes: &[u8], _zxid: i64) -> std::io::Result<()> {
        if self.segment.is_none() {
            // A segment is named for the first record it holds: recovery relies on it.
            let first = first_zxid(bytes).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "empty log append")
            })?;
            let path = self.dir.join(file_name("log.", first));
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            File::open(&self.dir)?.sync_all()?;
            self.segment = Some(file);
        }
        match &mut self.segment {
            Some(f) => f.write_all(bytes),
            None => Ok(()),
        }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        match &self.segment {
            Some(f) => f.sync_data(),
            None => Ok(()),
        }
    }
}

/// Writes a snapshot atomically, then removes snapshots and log segments no longer needed.
fn write_snapshot(dir: &Path, bytes: &[u8], zxid: i64) -> Result<(), PersistError> {
    let name = file_name("snapshot.", zxid);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
    f.write_all(bytes).map_err(io("writing snapshot"))?;
    f.sync_all().map_err(io("syncing snapshot"))?;
    fs::rename(&tmp, dir.join(&name)).map_err(io("renaming snapshot"))?;
    sync_dir(dir)?;
    tracing::info!(
        zxid = format_args!("{zxid:#x}"),
        bytes = bytes.len(),
        "snapshot written"
    );
    // Keep a few snapshots; keep every log segment that a kept snapshot may need.
    let snapshots = list(dir, "snapshot.")?;
    if snapshots.len() > SNAPSHOTS_KEPT {
        let oldest_kept = snapshots[snapshots.len() - SNAPSHOTS_KEPT].0;
        for (z, path) in &snapshots[..snapshots.len() - SNAPSHOTS_KEPT] {
            let _ = fs::remove_file(path);
            tracing::debug!(zxid = format_args!("{z:#x}"), "removed old snapshot");
        }
        let segments = list(dir, "log.")?;
        // A segment is needed if the next one starts after the oldest kept snapshot.
        for pair in segments.windows(2) {
            let (start, path) = &pair[0];
            let next_start = pair[1].0;
            if next_start <= oldest_kept + 1 && *start <= oldest_kept {
                let _ = fs::remove_file(path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("zkmesh-persist-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn create(zxid: i64, path: &str, parent_cversion: i32) -> (TxnHeader, Txn) {
        (
            TxnHeader {
                session_id: 1,
                cxid: zxid as i32,
                zxid,
                time: 1000,
            },
            Txn::Create {
                path: path.into(),
                data: Some(Bytes::from(path.as_bytes().to_vec())),
                acl: Acl::open_unsafe(),
                ephemeral_owner: 0,
                parent_cversion,
            },
        )
    }

    fn write_log(dir: &Path, start: i64, txns: &[(TxnHeader, Txn)]) -> PathBuf {
        let z = dir.join("zkmesh");
        fs::create_dir_all(&z).unwrap();
        let mut out = BytesMut::new();
        for (h, t) in txns {
            encode_record(&mut out, h, t);
        }
        let path = z.join(file_name("log.", start));
        fs::write(&path, &out).unwrap();
        path
    }

    #[test]
    fn snapshot_round_trips_the_tree() {
        let mut tree = DataTree::new();
        let mut ev = Applied::default();
        for (i, p) in ["/a", "/a/b", "/c"].iter().enumerate() {
            let parent_cv = if *p == "/a/b" { 1 } else { i as i32 + 1 };
            let (h, t) = create(i as i64 + 1, p, parent_cv);
            tree.apply(&h, &t, &mut ev).unwrap();
        }
        let bytes = encode_snapshot(&tree.snapshot());
        let back = decode_snapshot(&bytes).unwrap();
        assert_eq!(back.last_zxid(), tree.last_zxid());
        for p in ["/", "/a", "/a/b", "/c", "/zookeeper/config"] {
            assert_eq!(
                back.get(p).unwrap().stat(),
                tree.get(p).unwrap().stat(),
                "{p}"
            );
            assert_eq!(back.get(p).unwrap().data, tree.get(p).unwrap().data);
        }
        let mut bad = bytes.to_vec();
        let mid = bad.len() / 2;
        bad[mid] ^= 1;
        assert!(decode_snapshot(&bad).is_err());
    }

    #[test]
    fn recovery_replays_the_log_and_cuts_a_torn_tail() {
        let dir = temp_dir("torn");
        let txns = vec![create(1, "/a", 1), create(2, "/b", 2), create(3, "/c", 3)];
        let path = write_log(&dir, 1, &txns);
        let clean_len = fs::metadata(&path).unwrap().len();
        // A crash mid-write leaves half a record.
        let mut partial = BytesMut::new();
        let (h, t) = create(4, "/d", 4);
        encode_record(&mut partial, &h, &t);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&partial[..partial.len() - 5]).unwrap();
        drop(f);
        let r = recover(&dir).unwrap();
        assert_eq!(r.replayed, 3);
        assert_eq!(r.truncated_bytes, partial.len() as u64 - 5);
        assert!(r.tree.get("/c").is_some() && r.tree.get("/d").is_none());
        assert_eq!(fs::metadata(&path).unwrap().len(), clean_len);
        // Recovering again finds a clean log.
        assert_eq!(recover(&dir).unwrap().truncated_bytes, 0);
    }

    #[test]
    fn a_bad_record_before_more_log_refuses_to_start() {
        let dir = temp_dir("crc");
        let txns = vec![create(1, "/a", 1), create(2, "/b", 2)];
        let path = write_log(&dir, 1, &txns);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        let later = write_log(&dir, 3, &[create(3, "/c", 3)]);
        assert!(matches!(recover(&dir), Err(PersistError::Corrupt(_))));
        assert!(later.exists(), "nothing is deleted when recovery refuses");
        // In the middle of the only segment, with valid records after it: the same.
        let dir = temp_dir("crc-middle");
        let path = write_log(
            &dir,
            1,
            &[create(1, "/a", 1), create(2, "/b", 2), create(3, "/c", 3)],
        );
        let mut bytes = fs::read(&path).unwrap();
        bytes[12] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(recover(&dir), Err(PersistError::Corrupt(_))));
    }

    #[test]
    fn unreadable_snapshots_or_a_gap_refuse_to_start() {
        let dir = temp_dir("badsnap");
        let z = dir.join("zkmesh");
        fs::create_dir_all(&z).unwrap();
        fs::write(z.join(file_name("snapshot.", 5)), b"garbage").unwrap();
        assert!(matches!(recover(&dir), Err(PersistError::Corrupt(_))));
        let dir = temp_dir("gap");
        write_log(&dir, 1, &[create(1, "/a", 1), create(3, "/c", 2)]);
        assert!(matches!(recover(&dir), Err(PersistError::Corrupt(_))));
    }

    #[test]
    fn journal_makes_records_durable_and_recovery_finds_them() {
        let dir = temp_dir("journal");
        let journal = Journal::start(&dir, 0).unwrap();
        let mut durable = journal.durable();
        let mut out = BytesMut::new();
        for (h, t) in [create(1, "/a", 1), create(2, "/b", 2)] {
            encode_record(&mut out, &h, &t);
        }
        journal.append(out.freeze(), 2);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(10),
                durable.wait_for(|z| *z >= 2),
            )
            .await
            .expect("durable in time")
            .expect("writer alive");
        });
        let r = recover(&dir).unwrap();
        assert!(r.tree.get("/a").is_some() && r.tree.get("/b").is_some());
    }

    #[test]
    fn a_failed_log_write_stops_acknowledging_writes() {
        let dir = temp_dir("failstop");
        let journal = Journal::start(&dir, 0).unwrap();
        let mut durable = journal.durable();
        let record = |zxid: i64, path: &str| {
            let mut out = BytesMut::new();
            let (h, t) = create(zxid, path, zxid as i32);
            encode_record(&mut out, &h, &t);
            out.freeze()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        journal.append(record(1, "/a"), 1);
        rt.block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(10),
                durable.wait_for(|z| *z >= 1),
            )
            .await
            .expect("durable in time")
            .expect("writer alive");
        });
        // A snapshot makes the next record open a new segment; with the data directory
        // gone, that open fails, as a full or broken disk would.
        journal.snapshot(DataTree::new().snapshot());
        // (The snapshot's own thread may still be writing into it: retry until gone.)
        while dir.exists() {
            let _ = fs::remove_dir_all(&dir);
        }
        journal.append(record(2, "/b"), 2);
        rt.block_on(async {
            let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
                while durable.changed().await.is_ok() {}
            })
            .await;
            assert!(closed.is_ok(), "the writer stops instead of carrying on");
        });
        assert_eq!(
            *durable.borrow(),
            1,
            "the failed record is never acknowledged"
        );
    }

    #[test]
    fn a_damaged_segment_already_covered_by_a_snapshot_is_not_read() {
        let dir = temp_dir("covered");
        let z = dir.join("zkmesh");
        let mut tree = DataTree::new();
        let mut ev = Applied::default();
        let first = vec![create(1, "/a", 1), create(2, "/b", 2)];
        for (h, t) in &first {
            tree.apply(h, t, &mut ev).unwrap();
        }
        let old = write_log(&dir, 1, &first);
        write_snapshot(&z, &encode_snapshot(&tree.snapshot()), 2).unwrap();
        write_log(&dir, 3, &[create(3, "/c", 3)]);
        let mut bytes = fs::read(&old).unwrap();
        bytes[10] ^= 0xff;
        fs::write(&old, &bytes).unwrap();
        let r = recover(&dir).unwrap();
        assert_eq!(r.replayed, 1);
        assert!(r.tree.get("/c").is_some() && r.tree.get("/a").is_some());
    }

    #[test]
    fn snapshots_bound_the_replay_and_old_files_are_pruned() {
        let dir = temp_dir("snap");
        let z = dir.join("zkmesh");
        fs::create_dir_all(&z).unwrap();
        let mut tree = DataTree::new();
        let mut ev = Applied::default();
        let mut zxid = 0;
        for round in 0..5 {
            let start = zxid + 1;
            let mut txns = Vec::new();
            for i in 0..3 {
                zxid += 1;
                let (h, t) = create(zxid, &format!("/n{round}-{i}"), zxid as i32);
                tree.apply(&h, &t, &mut ev).unwrap();
                txns.push((h, t));
            }
            write_log(&dir, start, &txns);
            write_snapshot(&z, &encode_snapshot(&tree.snapshot()), zxid).unwrap();
        }
        assert_eq!(list(&z, "snapshot.").unwrap().len(), SNAPSHOTS_KEPT);
        let r = recover(&dir).unwrap();
        assert_eq!(r.replayed, 0);
        assert_eq!(r.tree.last_zxid(), zxid);
        assert!(r.tree.get("/n4-2").is_some() && r.tree.get("/n0-0").is_some());
    }
}

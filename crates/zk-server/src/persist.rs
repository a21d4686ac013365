//! The files of a durable server: a checksummed transaction log, snapshots, the two
//! epoch files of an ensemble member, and recovery from them ([`FileStorage`]).
//!
//! # Files
//! In `dataDir/zkmesh/`: `snapshot.<gen>.<zxid>` (`b"ZKMSNAP1" | last zxid | sessions |
//! nodes | u32 crc32`: the whole tree as of that zxid, written to a temporary name,
//! fsync'd, then renamed), `acceptedEpoch` and `currentEpoch` (ASCII, replaced the same
//! way). In `dataLogDir/zkmesh/` (the data dir unless set): `log.<gen>.<zxid>`, records
//! `u32 length | u32 crc32 | TxnHeader + Txn`, named for their first record; a new
//! segment starts at each snapshot.
//!
//! The generation `gen` changes only when a SNAP sync replaces the whole history: files
//! of older generations are dead (and removed once the new snapshot is durable), so a
//! crash in the middle of a reset can never mix two histories. Names without a
//! generation (older zkmesh versions) count as generation 0.
//!
//! # Recovery
//! The newest snapshot of the newest generation that passes its checksum is loaded, then
//! the log records after it are replayed; zxids must follow each other
//! ([`crate::storage::follows`]). A record that is incomplete or fails its checksum at the
//! very end of the newest segment is a torn tail (a crash mid-write): it is cut — it was
//! never acknowledged. Anything else that does not read or apply means corruption, and
//! the server refuses to start rather than serve wrong data.
//!
//! `crc32fast` is a dependency for the checksums: a well-kept, SIMD-accelerated CRC-32.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use zk_proto::codec::{read_i32, read_i64, read_vec};
use zk_proto::{Acl, Decode, Encode};

use crate::storage::{self, Loaded, Storage, StorageError};
use crate::tree::{DataTree, StoredStat, TreeSnapshot};
use crate::txn::{Txn, TxnHeader};
use crate::zab::history::History;

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
        zk_proto::codec::write_string(&mut out, &path);
        zk_proto::codec::write_buffer(&mut out, node.data());
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

/// Checks one record at `pos`: `Some(len)` of a record whose length fits and whose
/// checksum matches.
fn valid_record_at(bytes: &[u8], pos: usize) -> Option<usize> {
    let header = bytes.get(pos..pos + 8)?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let payload = bytes.get(pos + 8..pos.checked_add(8 + len)?)?;
    (len > 0 && crc32fast::hash(payload) == crc).then_some(len)
}

/// A file of one kind: its generation, its zxid, its path.
#[derive(Debug, Clone)]
struct Named {
    gen: u32,
    zxid: i64,
    path: PathBuf,
}

/// `prefix<gen>.<zxid>` or the older `prefix<zxid>` (generation 0).
fn parse_name(name: &str, prefix: &str) -> Option<(u32, i64)> {
    let rest = name.strip_prefix(prefix)?;
    let (gen, hex) = match rest.split_once('.') {
        Some((g, z)) if g.len() == 8 => (u32::from_str_radix(g, 16).ok()?, z),
        Some(_) => return None,
        None => (0, rest),
    };
    if hex.len() != 16 {
        return None;
    }
    let zxid = u64::from_str_radix(hex, 16).ok()? as i64;
    Some((gen, zxid))
}

fn file_name(prefix: &str, gen: u32, zxid: i64) -> String {
    format!("{prefix}{gen:08x}.{:016x}", zxid as u64)
}

/// Files of one kind in `dir`, by (generation, zxid).
fn list(dir: &Path, prefix: &str) -> Result<Vec<Named>, PersistError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(format!("listing {}", dir.display())))? {
        let entry = entry.map_err(io("reading directory entry"))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".tmp") {
            continue;
        }
        if let Some((gen, zxid)) = parse_name(name, prefix) {
            out.push(Named {
                gen,
                zxid,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|n| (n.gen, n.zxid));
    Ok(out)
}

fn sync_dir(dir: &Path) -> Result<(), PersistError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing {}", dir.display())))
}

/// Writes `bytes` to `dir/name` atomically: a temporary file, fsync, rename, fsync of
/// the directory.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), PersistError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(io(format!("writing {}", tmp.display())))?;
    fs::rename(&tmp, dir.join(name)).map_err(io(format!("renaming {}", tmp.display())))?;
    sync_dir(dir)
}

/// What recovery found (besides the state itself).
#[derive(Debug)]
pub struct Recovered {
    /// The tree as of the last durable txn.
    pub tree: DataTree,
    /// Txns replayed from the log.
    pub replayed: usize,
    /// Bytes cut from a torn log tail (0 if the log ended cleanly).
    pub truncated_bytes: u64,
}

/// Loads a standalone server's data directory (see [`FileStorage::load`]).
pub fn recover(data_dir: &Path) -> Result<Recovered, PersistError> {
    let mut storage = FileStorage::open(data_dir, None)?;
    let (loaded, replayed, truncated_bytes) = storage.load_counted()?;
    Ok(Recovered {
        tree: loaded.tree,
        replayed,
        truncated_bytes,
    })
}

/// The disk of a durable server, in files (see the module docs).
#[derive(Debug)]
pub struct FileStorage {
    snap_dir: PathBuf,
    log_dir: PathBuf,
    gen: u32,
    segment: Option<File>,
    /// Held by whoever lists or removes files: the writer and background snapshot writers.
    files: Arc<Mutex<()>>,
    /// `forceSync`: false skips the log's fsync (unsafe; Apache's `forceSync=no`).
    force_sync: bool,
}

impl FileStorage {
    /// Opens (creating if needed) the directories under `data_dir` and `log_dir` (the
    /// data dir when `None`).
    pub fn open(data_dir: &Path, log_dir: Option<&Path>) -> Result<Self, PersistError> {
        let snap_dir = data_dir.join("zkmesh");
        let log_dir = log_dir.unwrap_or(data_dir).join("zkmesh");
        for dir in [&snap_dir, &log_dir] {
            fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        }
        let gen = list(&snap_dir, "snapshot.")?
            .iter()
            .chain(list(&log_dir, "log.")?.iter())
            .map(|n| n.gen)
            .max()
            .unwrap_or(0);
        Ok(Self {
            snap_dir,
            log_dir,
            gen,
            segment: None,
            files: Arc::new(Mutex::new(())),
            force_sync: true,
        })
    }

    /// Whether log appends are fsync'd (default true).
    pub fn set_force_sync(&mut self, force: bool) {
        self.force_sync = force;
    }

    fn read_epoch(&self, name: &str) -> Result<Option<u32>, PersistError> {
        let path = self.snap_dir.join(name);
        match fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map(Some).map_err(|_| {
                PersistError::Corrupt(format!("{} does not hold an epoch", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(format!("reading {}", path.display()))(e)),
        }
    }

    fn write_epoch(&self, name: &str, epoch: u32) -> Result<(), PersistError> {
        write_atomic(&self.snap_dir, name, format!("{epoch}").as_bytes())
    }

    /// Loads the state, also saying how many txns were replayed and how many torn
    /// bytes were cut.
    fn load_counted(&mut self) -> Result<(Loaded, usize, u64), PersistError> {
        let files = self.files.clone();
        let _files = files.lock().unwrap_or_else(|p| p.into_inner());
        self.segment = None;
        let gen = self.gen;
        let snapshots: Vec<Named> = list(&self.snap_dir, "snapshot.")?
            .into_iter()
            .filter(|n| n.gen == gen)
            .collect();
        let mut tree = None;
        for snap in snapshots.iter().rev() {
            let bytes =
                fs::read(&snap.path).map_err(io(format!("reading {}", snap.path.display())))?;
            match decode_snapshot(&bytes) {
                Ok(t) => {
                    tracing::info!(
                        zxid = format_args!("{:#x}", snap.zxid),
                        nodes = t.node_count(),
                        "loaded snapshot"
                    );
                    tree = Some(t);
                    break;
                }
                Err(e) => {
                    tracing::warn!(path = %snap.path.display(), error = %e, "skipping unusable snapshot")
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
                    self.snap_dir.display()
                )))
            }
        };
        let mut history = History::new(tree.last_zxid(), storage::HISTORY_KEPT);
        let mut replayed = 0;
        let mut truncated_bytes = 0;
        let segments: Vec<Named> = list(&self.log_dir, "log.")?
            .into_iter()
            .filter(|n| n.gen == gen)
            .collect();
        for (i, segment) in segments.iter().enumerate() {
            // A segment followed by one that starts at or before the next zxid we need
            // holds nothing we need: skip it without reading (it predates the snapshot).
            if segments
                .get(i + 1)
                .is_some_and(|next| next.zxid <= tree.last_zxid() + 1)
            {
                continue;
            }
            let last_segment = i + 1 == segments.len();
            let (records, torn) = read_segment(&segment.path, last_segment)?;
            truncated_bytes += torn;
            replayed += storage::replay(&mut tree, records, &mut history)
                .map_err(|e| PersistError::Corrupt(format!("{}: {e}", segment.path.display())))?;
        }
        let last_epoch = crate::zab::message::epoch_of(tree.last_zxid());
        let current_epoch = match self.read_epoch("currentEpoch")? {
            Some(e) => e,
            None => {
                // A member's first start (or a standalone data dir): derived from the
                // history, as Apache does.
                self.write_epoch("currentEpoch", last_epoch)?;
                last_epoch
            }
        };
        let accepted_epoch = match self.read_epoch("acceptedEpoch")? {
            Some(e) => e,
            None => {
                self.write_epoch("acceptedEpoch", current_epoch)?;
                current_epoch
            }
        };
        if accepted_epoch < current_epoch {
            return Err(PersistError::Corrupt(format!(
                "acceptedEpoch {accepted_epoch} is below currentEpoch {current_epoch}"
            )));
        }
        if last_epoch > current_epoch {
            // Epoch-e txns are only logged after NEWLEADER of e was acknowledged, which
            // first persisted currentEpoch = e (ZOOKEEPER-1653).
            return Err(PersistError::Corrupt(format!(
                "the log reaches epoch {last_epoch} but currentEpoch is {current_epoch}"
            )));
        }
        tracing::info!(
            last_zxid = format_args!("{:#x}", tree.last_zxid()),
            replayed,
            sessions = tree.sessions().len(),
            accepted_epoch,
            current_epoch,
            "recovered data directory"
        );
        Ok((
            Loaded {
                tree,
                accepted_epoch,
                current_epoch,
                history,
            },
            replayed,
            truncated_bytes,
        ))
    }

    fn open_segment(&mut self, first: i64) -> Result<&mut File, PersistError> {
        if self.segment.is_none() {
            // A segment is named for the first record it holds: recovery relies on it.
            let path = self.log_dir.join(file_name("log.", self.gen, first));
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io(format!("opening {}", path.display())))?;
            sync_dir(&self.log_dir)?;
            self.segment = Some(file);
        }
        self.segment
            .as_mut()
            .ok_or_else(|| PersistError::Corrupt("no log segment".into()))
    }
}

/// Reads a segment's records. A bad record is a torn tail only at the very end of the
/// newest segment, and is then cut from the file; anywhere else it is corruption.
fn read_segment(
    path: &Path,
    last_segment: bool,
) -> Result<(Vec<(TxnHeader, Txn)>, u64), PersistError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io(format!("reading {}", path.display())))?;
    let mut records = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let Some(len) = valid_record_at(&bytes, pos) else {
            let later_valid = (pos + 1..bytes.len()).any(|p| valid_record_at(&bytes, p).is_some());
            if !last_segment || later_valid {
                return Err(PersistError::Corrupt(format!(
                    "{} has a bad record at byte {pos} followed by more log",
                    path.display()
                )));
            }
            let cut = (bytes.len() - pos) as u64;
            tracing::warn!(
                path = %path.display(),
                at = pos,
                cut,
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
            return Ok((records, cut));
        };
        let mut p = &bytes[pos + 8..pos + 8 + len];
        match (TxnHeader::decode(&mut p), Txn::decode(&mut p)) {
            (Ok(h), Ok(t)) if !p.has_remaining() => records.push((h, t)),
            _ => {
                return Err(PersistError::Corrupt(format!(
                    "{} at byte {pos}: record passes its checksum but does not decode",
                    path.display()
                )))
            }
        }
        pos += 8 + len;
    }
    Ok((records, 0))
}

/// The byte offset in a segment's records after which every record's zxid exceeds
/// `zxid`, and whether any record there is kept.
fn cut_point(bytes: &[u8], zxid: i64) -> usize {
    let mut pos = 0usize;
    while let Some(len) = valid_record_at(bytes, pos) {
        let z = first_zxid(&bytes[pos..]).unwrap_or(i64::MAX);
        if z > zxid {
            break;
        }
        pos += 8 + len;
    }
    pos
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

impl Storage for FileStorage {
    fn append(&mut self, records: &Bytes, first: i64, _last: i64) -> Result<(), StorageError> {
        let file = self.open_segment(first)?;
        file.write_all(records)
            .map_err(io("writing the transaction log"))?;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        if !self.force_sync {
            return Ok(());
        }
        if let Some(f) = &self.segment {
            f.sync_data().map_err(io("syncing the transaction log"))?;
        }
        Ok(())
    }

    fn set_accepted_epoch(&mut self, epoch: u32) -> Result<(), StorageError> {
        Ok(self.write_epoch("acceptedEpoch", epoch)?)
    }

    fn set_current_epoch(&mut self, epoch: u32) -> Result<(), StorageError> {
        Ok(self.write_epoch("currentEpoch", epoch)?)
    }

    fn snapshot(&mut self, tree: TreeSnapshot) -> Result<(), StorageError> {
        // Later records go to a new segment, so older segments only hold txns a snapshot
        // covers once this one is written.
        self.segment = None;
        let (dir, log_dir, gen, files) = (
            self.snap_dir.clone(),
            self.log_dir.clone(),
            self.gen,
            self.files.clone(),
        );
        std::thread::Builder::new()
            .name("zk-server-snapshot".into())
            .spawn(move || {
                let bytes = encode_snapshot(&tree);
                let zxid = tree.last_zxid();
                let result = write_atomic(&dir, &file_name("snapshot.", gen, zxid), &bytes)
                    .and_then(|_| {
                        let _files = files.lock().unwrap_or_else(|p| p.into_inner());
                        prune(&dir, &log_dir, gen)
                    });
                match result {
                    Ok(()) => tracing::info!(
                        zxid = format_args!("{zxid:#x}"),
                        bytes = bytes.len(),
                        "snapshot written"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "snapshot failed (the log still has everything)")
                    }
                }
            })
            .map_err(io("starting a snapshot thread"))?;
        Ok(())
    }

    fn reset(&mut self, tree: &TreeSnapshot) -> Result<(), StorageError> {
        let files = self.files.clone();
        let _files = files.lock().unwrap_or_else(|p| p.into_inner());
        self.segment = None;
        let gen = self.gen + 1;
        let bytes = encode_snapshot(tree);
        write_atomic(
            &self.snap_dir,
            &file_name("snapshot.", gen, tree.last_zxid()),
            &bytes,
        )?;
        // The new history is durable: the old one is dead.
        self.gen = gen;
        for named in list(&self.snap_dir, "snapshot.")?
            .into_iter()
            .chain(list(&self.log_dir, "log.")?)
            .filter(|n| n.gen < gen)
        {
            let _ = fs::remove_file(&named.path);
        }
        tracing::info!(
            zxid = format_args!("{:#x}", tree.last_zxid()),
            generation = gen,
            "history replaced by a snapshot from the leader"
        );
        Ok(())
    }

    fn truncate(&mut self, zxid: i64) -> Result<(), StorageError> {
        let files = self.files.clone();
        let _files = files.lock().unwrap_or_else(|p| p.into_inner());
        self.segment = None;
        let gen = self.gen;
        let snapshots: Vec<Named> = list(&self.snap_dir, "snapshot.")?
            .into_iter()
            .filter(|n| n.gen == gen)
            .collect();
        if snapshots.first().is_some_and(|s| s.zxid > zxid) {
            return Err(StorageError::CannotTruncate(zxid));
        }
        for snap in snapshots.iter().filter(|s| s.zxid > zxid) {
            fs::remove_file(&snap.path).map_err(io(format!("removing {}", snap.path.display())))?;
        }
        for segment in list(&self.log_dir, "log.")?
            .into_iter()
            .filter(|n| n.gen == gen)
        {
            if segment.zxid > zxid {
                fs::remove_file(&segment.path)
                    .map_err(io(format!("removing {}", segment.path.display())))?;
                continue;
            }
            let bytes = fs::read(&segment.path)
                .map_err(io(format!("reading {}", segment.path.display())))?;
            let keep = cut_point(&bytes, zxid);
            if keep < bytes.len() {
                OpenOptions::new()
                    .write(true)
                    .open(&segment.path)
                    .and_then(|f| {
                        f.set_len(keep as u64)?;
                        f.sync_all()
                    })
                    .map_err(io(format!("truncating {}", segment.path.display())))?;
            }
        }
        sync_dir(&self.snap_dir)?;
        sync_dir(&self.log_dir)?;
        tracing::info!(zxid = format_args!("{zxid:#x}"), "log truncated");
        Ok(())
    }

    fn load(&mut self) -> Result<Loaded, StorageError> {
        Ok(self.load_counted()?.0)
    }
}

/// Keeps a few snapshots of generation `gen`, and every log segment a kept snapshot may
/// need.
fn prune(snap_dir: &Path, log_dir: &Path, gen: u32) -> Result<(), PersistError> {
    let snapshots: Vec<Named> = list(snap_dir, "snapshot.")?
        .into_iter()
        .filter(|n| n.gen == gen)
        .collect();
    if snapshots.len() <= SNAPSHOTS_KEPT {
        return Ok(());
    }
    let oldest_kept = snapshots[snapshots.len() - SNAPSHOTS_KEPT].zxid;
    for old in &snapshots[..snapshots.len() - SNAPSHOTS_KEPT] {
        let _ = fs::remove_file(&old.path);
        tracing::debug!(
            zxid = format_args!("{:#x}", old.zxid),
            "removed old snapshot"
        );
    }
    let segments: Vec<Named> = list(log_dir, "log.")?
        .into_iter()
        .filter(|n| n.gen == gen)
        .collect();
    // A segment is not needed if the next one starts at or before the oldest kept
    // snapshot's next zxid.
    for pair in segments.windows(2) {
        if pair[1].zxid <= oldest_kept + 1 && pair[0].zxid <= oldest_kept {
            let _ = fs::remove_file(&pair[0].path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Applied;

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

    fn records(txns: &[(TxnHeader, Txn)]) -> Bytes {
        let mut out = BytesMut::new();
        for (h, t) in txns {
            encode_record(&mut out, h, t);
        }
        out.freeze()
    }

    fn write_log(dir: &Path, start: i64, txns: &[(TxnHeader, Txn)]) -> PathBuf {
        let z = dir.join("zkmesh");
        fs::create_dir_all(&z).unwrap();
        let path = z.join(file_name("log.", 0, start));
        fs::write(&path, records(txns)).unwrap();
        path
    }

    fn append(storage: &mut FileStorage, txns: &[(TxnHeader, Txn)]) {
        let first = txns[0].0.zxid;
        let last = txns[txns.len() - 1].0.zxid;
        storage.append(&records(txns), first, last).unwrap();
        storage.sync().unwrap();
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
        let partial = records(&[create(4, "/d", 4)]);
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
        fs::write(z.join(file_name("snapshot.", 0, 5)), b"garbage").unwrap();
        assert!(matches!(recover(&dir), Err(PersistError::Corrupt(_))));
        let dir = temp_dir("gap");
        write_log(&dir, 1, &[create(1, "/a", 1), create(3, "/c", 2)]);
        assert!(matches!(recover(&dir), Err(PersistError::Corrupt(_))));
    }

    #[test]
    fn files_of_older_zkmesh_versions_still_load() {
        let dir = temp_dir("oldnames");
        let z = dir.join("zkmesh");
        fs::create_dir_all(&z).unwrap();
        fs::write(
            z.join("log.0000000000000001"),
            records(&[create(1, "/a", 1)]),
        )
        .unwrap();
        let r = recover(&dir).unwrap();
        assert!(r.tree.get("/a").is_some());
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
        write_atomic(
            &z,
            &file_name("snapshot.", 0, 2),
            &encode_snapshot(&tree.snapshot()),
        )
        .unwrap();
        write_log(&dir, 3, &[create(3, "/c", 3)]);
        let mut bytes = fs::read(&old).unwrap();
        bytes[10] ^= 0xff;
        fs::write(&old, &bytes).unwrap();
        let r = recover(&dir).unwrap();
        assert_eq!(r.replayed, 1);
        assert!(r.tree.get("/c").is_some() && r.tree.get("/a").is_some());
    }

    #[test]
    fn epochs_persist_and_an_inconsistent_pair_refuses_to_start() {
        let dir = temp_dir("epochs");
        let mut s = FileStorage::open(&dir, None).unwrap();
        let loaded = s.load().unwrap();
        assert_eq!((loaded.accepted_epoch, loaded.current_epoch), (0, 0));
        s.set_accepted_epoch(3).unwrap();
        s.set_current_epoch(2).unwrap();
        let loaded = FileStorage::open(&dir, None).unwrap().load().unwrap();
        assert_eq!((loaded.accepted_epoch, loaded.current_epoch), (3, 2));
        s.set_current_epoch(4).unwrap();
        assert!(FileStorage::open(&dir, None).unwrap().load().is_err());
    }

    #[test]
    fn truncate_cuts_the_log_and_refuses_below_the_oldest_snapshot() {
        use crate::zab::message::zxid;
        let dir = temp_dir("trunc");
        let logs = temp_dir("trunc-logs");
        let mut s = FileStorage::open(&dir, Some(&logs)).unwrap();
        s.set_current_epoch(2).unwrap();
        s.set_accepted_epoch(2).unwrap();
        append(
            &mut s,
            &[create(zxid(1, 1), "/a", 1), create(zxid(1, 2), "/b", 2)],
        );
        append(
            &mut s,
            &[create(zxid(2, 1), "/c", 3), create(zxid(2, 2), "/d", 4)],
        );
        s.truncate(zxid(1, 2)).unwrap();
        let loaded = s.load().unwrap();
        assert_eq!(loaded.tree.last_zxid(), zxid(1, 2));
        assert!(loaded.tree.get("/c").is_none());
        assert_eq!(loaded.history.len(), 2);
        // The log lives in its own directory.
        assert!(list(&logs.join("zkmesh"), "log.").unwrap().len() == 1);
        // A snapshot at (1,2), then truncating below it cannot work.
        s.snapshot(loaded.tree.snapshot()).unwrap();
        let snap_dir = dir.join("zkmesh");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while list(&snap_dir, "snapshot.").unwrap().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "snapshot written in time"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(matches!(
            s.truncate(zxid(1, 1)),
            Err(StorageError::CannotTruncate(_))
        ));
    }

    #[test]
    fn a_reset_replaces_the_history_in_a_new_generation() {
        let dir = temp_dir("reset");
        let mut s = FileStorage::open(&dir, None).unwrap();
        append(&mut s, &[create(1, "/mine", 1), create(2, "/mine2", 2)]);
        // The leader's tree: a different history up to zxid 5.
        let mut leader = DataTree::new();
        let mut ev = Applied::default();
        let (h, t) = create(5, "/theirs", 1);
        leader.apply(&h, &t, &mut ev).unwrap();
        s.reset(&leader.snapshot()).unwrap();
        append(&mut s, &[create(6, "/next", 2)]);
        let loaded = FileStorage::open(&dir, None).unwrap().load().unwrap();
        assert!(loaded.tree.get("/mine").is_none());
        assert!(loaded.tree.get("/theirs").is_some() && loaded.tree.get("/next").is_some());
        assert!(list(&dir.join("zkmesh"), "log.")
            .unwrap()
            .iter()
            .all(|n| n.gen == 1));
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
            write_atomic(
                &z,
                &file_name("snapshot.", 0, zxid),
                &encode_snapshot(&tree.snapshot()),
            )
            .unwrap();
            prune(&z, &z, 0).unwrap();
        }
        assert_eq!(list(&z, "snapshot.").unwrap().len(), SNAPSHOTS_KEPT);
        let r = recover(&dir).unwrap();
        assert_eq!(r.replayed, 0);
        assert_eq!(r.tree.last_zxid(), zxid);
        assert!(r.tree.get("/n4-2").is_some() && r.tree.get("/n0-0").is_some());
    }
}

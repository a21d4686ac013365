//! The writer thread: runs [`StoreJob`]s on a [`Storage`] in the order they were
//! submitted and reports each one done.
//!
//! Group commit: everything queued while the disk was busy is written, then fsync'd
//! once, so concurrent writers share an fsync. Appends are synced before any other job
//! runs (an epoch file or a snapshot never overtakes the log before it), and a job is
//! reported done only once it and everything before it are durable. The first failure
//! stops the thread: without a working disk nothing may be acknowledged (fail-stop, as
//! Apache).

use std::sync::mpsc as std_mpsc;

use tokio::sync::mpsc;

use crate::storage::{self, Loaded, Storage, StorageError, StoreJob};

/// What the writer reports.
#[derive(Debug)]
pub enum StoreEvent {
    /// Every job up to `seq` is done; `zxid` is the last durable log zxid.
    Stored {
        /// The last job done.
        seq: u64,
        /// The last durable zxid.
        zxid: i64,
    },
    /// A job that loads ([`StoreJob::loads`]) is done, with what it read (or why it
    /// could not truncate).
    Loaded {
        /// The job.
        seq: u64,
        /// The state read back.
        result: Result<Box<Loaded>, StorageError>,
    },
    /// The disk failed; the writer stopped.
    Failed(String),
}

/// The handle on a writer thread.
#[derive(Debug)]
pub struct Journal {
    jobs: std_mpsc::Sender<(u64, StoreJob)>,
    events: mpsc::UnboundedReceiver<StoreEvent>,
    next_seq: u64,
}

impl Journal {
    /// Starts a writer thread on `storage`, whose last durable zxid is `durable_zxid`.
    pub fn start(storage: Box<dyn Storage>, durable_zxid: i64) -> std::io::Result<Journal> {
        let (jobs, rx) = std_mpsc::channel();
        let (tx, events) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("zk-server-log".into())
            .spawn(move || write_loop(storage, rx, tx, durable_zxid))?;
        Ok(Journal {
            jobs,
            events,
            next_seq: 1,
        })
    }

    /// Queues a job; returns its sequence number (1, 2, …).
    pub fn submit(&mut self, job: StoreJob) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let _ = self.jobs.send((seq, job));
        seq
    }

    /// The next report; `None` once the writer is gone.
    pub async fn next_event(&mut self) -> Option<StoreEvent> {
        self.events.recv().await
    }
}

fn write_loop(
    mut storage: Box<dyn Storage>,
    jobs: std_mpsc::Receiver<(u64, StoreJob)>,
    events: mpsc::UnboundedSender<StoreEvent>,
    mut durable_zxid: i64,
) {
    let fail = |events: &mpsc::UnboundedSender<StoreEvent>, e: StorageError| {
        tracing::error!(error = %e, "disk write failed; nothing more is acknowledged");
        let _ = events.send(StoreEvent::Failed(e.to_string()));
    };
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter());
        let mut done = None;
        let mut unsynced: Option<i64> = None;
        for (seq, job) in batch {
            if let StoreJob::Append { last, .. } = &job {
                let last = *last;
                if let Err(e) = storage::run(storage.as_mut(), job) {
                    return fail(&events, e);
                }
                unsynced = Some(last);
                done = Some(seq);
                continue;
            }
            if let Some(zxid) = unsynced.take() {
                if let Err(e) = storage.sync() {
                    return fail(&events, e);
                }
                durable_zxid = zxid;
            }
            let loads = job.loads();
            let reset_zxid = match &job {
                StoreJob::Reset(tree) => Some(tree.last_zxid()),
                _ => None,
            };
            match storage::run(storage.as_mut(), job) {
                Ok(Some(loaded)) => {
                    durable_zxid = loaded.tree.last_zxid();
                    if let Some(seq) = done.take() {
                        let _ = events.send(StoreEvent::Stored {
                            seq,
                            zxid: durable_zxid,
                        });
                    }
                    let _ = events.send(StoreEvent::Loaded {
                        seq,
                        result: Ok(Box::new(loaded)),
                    });
                }
                Ok(None) => {
                    if let Some(z) = reset_zxid {
                        durable_zxid = z;
                    }
                    done = Some(seq);
                }
                Err(e @ StorageError::CannotTruncate(_)) if loads => {
                    if let Some(seq) = done.take() {
                        let _ = events.send(StoreEvent::Stored {
                            seq,
                            zxid: durable_zxid,
                        });
                    }
                    let _ = events.send(StoreEvent::Loaded {
                        seq,
                        result: Err(e),
                    });
                }
                Err(e) => return fail(&events, e),
            }
        }
        if let Some(zxid) = unsynced.take() {
            if let Err(e) = storage.sync() {
                return fail(&events, e);
            }
            durable_zxid = zxid;
        }
        if let Some(seq) = done {
            let _ = events.send(StoreEvent::Stored {
                seq,
                zxid: durable_zxid,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::{encode_record, FileStorage};
    use crate::storage::MemStorage;
    use crate::tree::DataTree;
    use crate::txn::{Txn, TxnHeader};
    use bytes::{Bytes, BytesMut};
    use std::time::Duration;
    use zk_proto::Acl;

    fn record(zxid: i64, path: &str) -> StoreJob {
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
                data: Some(Bytes::from_static(b"x")),
                acl: Acl::open_unsafe(),
                ephemeral_owner: 0,
                parent_cversion: zxid as i32,
            },
        );
        StoreJob::Append {
            records: out.freeze(),
            first: zxid,
            last: zxid,
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    async fn until_stored(journal: &mut Journal, seq: u64) -> i64 {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), journal.next_event())
                .await
                .expect("the writer answers in time")
            {
                Some(StoreEvent::Stored { seq: s, zxid }) if s >= seq => return zxid,
                Some(StoreEvent::Failed(e)) => panic!("writer failed: {e}"),
                Some(_) => {}
                None => panic!("writer gone"),
            }
        }
    }

    #[test]
    fn jobs_complete_in_order_and_loads_report_the_state() {
        runtime().block_on(async {
            let mut journal = Journal::start(Box::new(MemStorage::new()), 0).unwrap();
            journal.submit(record(1, "/a"));
            journal.submit(StoreJob::CurrentEpoch(1));
            let seq = journal.submit(record(2, "/b"));
            assert_eq!(until_stored(&mut journal, seq).await, 2);
            let seq = journal.submit(StoreJob::Truncate(1));
            loop {
                match journal.next_event().await {
                    Some(StoreEvent::Loaded { seq: s, result }) if s == seq => {
                        let loaded = result.expect("truncated");
                        assert_eq!(loaded.tree.last_zxid(), 1);
                        assert_eq!(loaded.current_epoch, 1);
                        break;
                    }
                    Some(StoreEvent::Failed(e)) => panic!("{e}"),
                    _ => {}
                }
            }
        });
    }

    #[test]
    fn a_failed_log_write_stops_acknowledging_writes() {
        let dir = std::env::temp_dir().join(format!("zkmesh-journal-fail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        runtime().block_on(async {
            let storage = FileStorage::open(&dir, None).unwrap();
            let mut journal = Journal::start(Box::new(storage), 0).unwrap();
            let seq = journal.submit(record(1, "/a"));
            assert_eq!(until_stored(&mut journal, seq).await, 1);
            // A snapshot makes the next record open a new segment; with the directory
            // gone, that open fails, as a full or broken disk would.
            let seq = journal.submit(StoreJob::Snapshot(DataTree::new().snapshot()));
            until_stored(&mut journal, seq).await;
            while dir.exists() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            journal.submit(record(2, "/b"));
            let mut failed = false;
            while let Some(event) = journal.next_event().await {
                match event {
                    StoreEvent::Stored { zxid, .. } => {
                        assert!(zxid < 2, "the failed record is never acknowledged")
                    }
                    StoreEvent::Failed(_) => failed = true,
                    StoreEvent::Loaded { .. } => {}
                }
            }
            assert!(failed, "the writer reports the failure, then stops");
        });
    }
}

//! The follower: connect to the elected leader, accept its epoch, synchronise, then log
//! and apply its broadcast — as Apache's `Learner`/`Follower` (§3.5 of
//! `zab-and-ensembles.md` for the order of durable steps).
//!
//! - LEADERINFO with a new epoch: persist it as accepted, *then* ACKEPOCH. An epoch below
//!   the accepted one means a stale leader: give up.
//! - DIFF: nothing to undo. TRUNC: cut the log and reload (if the cut is older than every
//!   snapshot kept, ask the next leader for a SNAP). SNAP: the tree is replaced in memory
//!   and on disk at once (a new file generation).
//! - PROPOSALs are logged as they come; COMMITs apply them in order. A proposal that does
//!   not follow the last one, or a commit of something never proposed, is fatal to the
//!   sync (look again) — never skipped.
//! - NEWLEADER: persist the current epoch after everything logged before it; the ack
//!   goes out once that is durable, and is the first ack sent (proposal acks follow).
//! - UPTODATE: serve clients.
//!
//! Owns the follower's handshake state; the log tail lives in [`Shared`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::member::{after, install, new_leader_zxid, LinkId, Shared, Step};
use super::message::{epoch_of, QuorumMsg, Sid};
use crate::core::{Now, Replicate};
use crate::storage::{follows, Loaded, StorageError, StoreJob};
use crate::tree::DataTree;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Dialling the leader.
    Connecting,
    /// FOLLOWERINFO sent.
    AwaitLeaderInfo,
    /// ACKEPOCH sent (or waiting for the accepted epoch to be durable first).
    AwaitSync,
    /// Receiving the sync.
    Syncing,
    /// NEWLEADER received.
    AwaitUpToDate,
    /// Serving.
    Broadcast,
}

/// A follower (see the module docs).
#[derive(Debug)]
pub(crate) struct Follower {
    leader: Sid,
    link: LinkId,
    stage: Stage,
    epoch: u32,
    connect_deadline: Instant,
    retry_at: Option<Instant>,
    last_heard: Instant,
    accepted_seq: Option<u64>,
    current_seq: Option<u64>,
    newleader_acked: bool,
    /// A TRUNC being applied: (job, the zxid it must leave); messages wait meanwhile.
    load: Option<(u64, i64)>,
    deferred: VecDeque<QuorumMsg>,
    acked: i64,
}

impl Follower {
    pub fn new(leader: Sid, shared: &mut Shared, now: Now) -> Follower {
        tracing::info!(sid = shared.config.sid, leader, "elected: following");
        let link = shared.new_link();
        shared
            .actions
            .push_back(super::member::Action::Connect(link, leader));
        Follower {
            leader,
            link,
            stage: Stage::Connecting,
            epoch: 0,
            connect_deadline: after(now, shared.config.init_timeout()),
            retry_at: None,
            last_heard: now.mono,
            accepted_seq: None,
            current_seq: None,
            newleader_acked: false,
            load: None,
            deferred: VecDeque::new(),
            acked: 0,
        }
    }

    pub fn leader(&self) -> Sid {
        self.leader
    }

    /// The handshake stage, as Apache's `zk_peer_state` names it.
    pub fn stage_name(&self) -> &'static str {
        match self.stage {
            Stage::Connecting | Stage::AwaitLeaderInfo | Stage::AwaitSync => "discovery",
            Stage::Syncing | Stage::AwaitUpToDate => "synchronization",
            Stage::Broadcast => "broadcast",
        }
    }

    pub fn next_deadline(&self, shared: &Shared) -> Instant {
        match (self.stage, self.retry_at) {
            (Stage::Connecting, Some(r)) => r.min(self.connect_deadline),
            (Stage::Connecting, None) => self.connect_deadline,
            _ => self.last_heard + self.timeout(shared) + Duration::from_millis(1),
        }
    }

    fn timeout(&self, shared: &Shared) -> Duration {
        if self.stage == Stage::Broadcast {
            shared.config.sync_timeout()
        } else {
            shared.config.init_timeout()
        }
    }

    pub fn close_all(&self, shared: &mut Shared) {
        shared.close(self.link);
    }

    pub fn link_up(&mut self, shared: &mut Shared, link: LinkId, now: Now) -> Step {
        if link != self.link || self.stage != Stage::Connecting {
            shared.close(link);
            return Step::Stay;
        }
        self.last_heard = now.mono;
        self.stage = Stage::AwaitLeaderInfo;
        shared.send(
            link,
            QuorumMsg::FollowerInfo {
                sid: shared.config.sid,
                accepted_epoch: shared.accepted_epoch,
            },
        );
        Step::Stay
    }

    pub fn link_down(&mut self, shared: &mut Shared, link: LinkId, now: Now) -> Step {
        if link != self.link {
            return Step::Stay;
        }
        let handshaking = matches!(self.stage, Stage::Connecting | Stage::AwaitLeaderInfo);
        if handshaking && now.mono < self.connect_deadline {
            // The leader may not lead yet (it may still be in its finalize wait, closing
            // learners as any looking member does): try again shortly, as Apache's
            // learner retries within initLimit.
            self.stage = Stage::Connecting;
            self.retry_at =
                Some(now.mono + (shared.config.tick() / 4).min(Duration::from_millis(100)));
            return Step::Stay;
        }
        Step::Leave(format!("lost the link to leader {}", self.leader))
    }

    pub fn tick(&mut self, shared: &mut Shared, now: Now) -> Step {
        if self.stage == Stage::Connecting {
            if now.mono >= self.connect_deadline {
                return Step::Leave(format!("could not reach leader {}", self.leader));
            }
            if self.retry_at.is_some_and(|r| now.mono >= r) {
                self.retry_at = None;
                self.link = shared.new_link();
                shared
                    .actions
                    .push_back(super::member::Action::Connect(self.link, self.leader));
            }
            return Step::Stay;
        }
        if now.mono.saturating_duration_since(self.last_heard) > self.timeout(shared) {
            return Step::Leave(format!("leader {} silent", self.leader));
        }
        Step::Stay
    }

    pub fn message(&mut self, shared: &mut Shared, link: LinkId, msg: QuorumMsg, now: Now) -> Step {
        if link != self.link {
            shared.close(link);
            return Step::Stay;
        }
        self.last_heard = now.mono;
        if self.load.is_some() {
            // A TRUNC is being applied: what follows it waits for the reload.
            self.deferred.push_back(msg);
            return Step::Stay;
        }
        self.process(shared, msg, now)
    }

    fn process(&mut self, shared: &mut Shared, msg: QuorumMsg, now: Now) -> Step {
        match (self.stage, msg) {
            (Stage::AwaitLeaderInfo, QuorumMsg::LeaderInfo { epoch }) => {
                if epoch < shared.accepted_epoch {
                    return Step::Leave(format!(
                        "leader {} proposes epoch {epoch}, below our accepted {}",
                        self.leader, shared.accepted_epoch
                    ));
                }
                self.epoch = epoch;
                self.stage = Stage::AwaitSync;
                if epoch > shared.accepted_epoch {
                    // Promise first, durably; ACKEPOCH once it is on disk.
                    shared.accepted_epoch = epoch;
                    self.accepted_seq = Some(shared.store(StoreJob::AcceptedEpoch(epoch)));
                } else {
                    self.ack_epoch(shared, None);
                }
                Step::Stay
            }
            (Stage::AwaitSync, QuorumMsg::Diff { .. }) if self.accepted_seq.is_none() => {
                self.stage = Stage::Syncing;
                Step::Stay
            }
            (Stage::AwaitSync, QuorumMsg::Trunc { zxid }) if self.accepted_seq.is_none() => {
                self.stage = Stage::Syncing;
                let seq = shared.store(StoreJob::Truncate(zxid));
                self.load = Some((seq, zxid));
                Step::Stay
            }
            (Stage::AwaitSync, QuorumMsg::Snap { tree }) if self.accepted_seq.is_none() => {
                self.stage = Stage::Syncing;
                let zxid = tree.last_zxid();
                let live = DataTree::from_snapshot(tree.clone());
                tracing::info!(
                    zxid = format_args!("{zxid:#x}"),
                    nodes = live.node_count(),
                    "synchronising by snapshot"
                );
                shared.core.replace_tree(live);
                shared.history.reset(zxid);
                shared.tail.clear();
                shared.snapshot_wanted = false;
                shared.store(StoreJob::Reset(tree));
                Step::Stay
            }
            (
                Stage::Syncing | Stage::AwaitUpToDate | Stage::Broadcast,
                QuorumMsg::Proposal { header, txn },
            ) => {
                let last = shared.last_logged();
                if !follows(last, header.zxid) {
                    return Step::Leave(format!(
                        "proposal {:#x} does not follow {last:#x}",
                        header.zxid
                    ));
                }
                shared.log(&header, &txn);
                shared.tail.push_back((header, txn));
                Step::Stay
            }
            (
                Stage::Syncing | Stage::AwaitUpToDate | Stage::Broadcast,
                QuorumMsg::Commit { zxid },
            ) => {
                if zxid <= shared.core.tree().last_zxid() {
                    return Step::Stay;
                }
                if shared.tail.front().is_none_or(|(h, _)| h.zxid > zxid) {
                    return Step::Leave(format!("COMMIT {zxid:#x} of a proposal we do not have"));
                }
                while shared.tail.front().is_some_and(|(h, _)| h.zxid <= zxid) {
                    if let Some((header, txn)) = shared.tail.pop_front() {
                        shared.apply(header, txn, now);
                    }
                }
                if self.stage == Stage::Broadcast {
                    shared.maybe_snapshot();
                }
                Step::Stay
            }
            (Stage::Syncing, QuorumMsg::NewLeader { zxid }) => {
                if epoch_of(zxid) != self.epoch {
                    return Step::Leave(format!(
                        "NEWLEADER of epoch {} while syncing epoch {}",
                        epoch_of(zxid),
                        self.epoch
                    ));
                }
                // History first (every job before this one), then the epoch, then the ack.
                self.stage = Stage::AwaitUpToDate;
                self.current_seq = Some(shared.store(StoreJob::CurrentEpoch(self.epoch)));
                Step::Stay
            }
            (Stage::AwaitUpToDate, QuorumMsg::UpToDate) if self.newleader_acked => {
                self.stage = Stage::Broadcast;
                shared.core.follow();
                tracing::info!(
                    sid = shared.config.sid,
                    leader = self.leader,
                    epoch = self.epoch,
                    zxid = format_args!("{:#x}", shared.core.tree().last_zxid()),
                    "in sync with the leader: serving"
                );
                Step::Following(self.epoch)
            }
            (_, QuorumMsg::Ping { .. }) => {
                let touches = shared.core.take_touches();
                shared.send(self.link, QuorumMsg::Ping { touches });
                Step::Stay
            }
            (Stage::Broadcast, QuorumMsg::RevalidateReply { session, valid }) => {
                shared.core.revalidated(session, valid, now);
                Step::Stay
            }
            (Stage::Broadcast, QuorumMsg::SyncReply { session, cxid }) => {
                shared.core.sync_done(session, cxid, now);
                Step::Stay
            }
            (stage, other) => Step::Leave(format!(
                "unexpected {} from leader {} in stage {stage:?}",
                other.name(),
                self.leader
            )),
        }
    }

    fn ack_epoch(&mut self, shared: &mut Shared, current_epoch: Option<u32>) {
        shared.send(
            self.link,
            QuorumMsg::AckEpoch {
                current_epoch,
                last_zxid: shared.core.tree().last_zxid(),
                snapshot_wanted: shared.snapshot_wanted,
            },
        );
    }

    pub fn stored(&mut self, shared: &mut Shared, seq: u64, _now: Now) -> Step {
        if self.accepted_seq.is_some_and(|s| s <= seq) {
            self.accepted_seq = None;
            let current = shared.current_epoch;
            self.ack_epoch(shared, Some(current));
        }
        if self.current_seq.is_some_and(|s| s <= seq) {
            self.current_seq = None;
            shared.current_epoch = self.epoch;
            shared.send(
                self.link,
                QuorumMsg::Ack {
                    zxid: new_leader_zxid(self.epoch),
                },
            );
            self.newleader_acked = true;
        }
        if self.newleader_acked && shared.durable > self.acked {
            self.acked = shared.durable;
            shared.send(self.link, QuorumMsg::Ack { zxid: self.acked });
        }
        Step::Stay
    }

    pub fn loaded(
        &mut self,
        shared: &mut Shared,
        seq: u64,
        result: Result<Box<Loaded>, StorageError>,
        now: Now,
    ) -> Step {
        let Some((expected_seq, zxid)) = self.load else {
            if let Ok(loaded) = result {
                install(shared, *loaded);
            }
            return Step::Stay;
        };
        if seq != expected_seq {
            return Step::Stay;
        }
        self.load = None;
        match result {
            Ok(loaded) => {
                let reached = loaded.tree.last_zxid();
                install(shared, *loaded);
                if reached != zxid {
                    shared.snapshot_wanted = true;
                    return Step::Leave(format!(
                        "TRUNC to {zxid:#x} left the log at {reached:#x}; asking for a snapshot"
                    ));
                }
            }
            Err(e) => {
                shared.snapshot_wanted = true;
                return Step::Leave(format!("{e}; asking for a snapshot"));
            }
        }
        while let Some(msg) = self.deferred.pop_front() {
            match self.process(shared, msg, now) {
                Step::Stay => {}
                other => return other,
            }
        }
        Step::Stay
    }

    /// Hands the core's client writes, syncs and revalidations to the leader.
    pub fn drain_core(&mut self, shared: &mut Shared, _now: Now) -> Step {
        while let Some(r) = shared.core.poll_replicate() {
            match r {
                Replicate::Forward(f) => shared.send(self.link, QuorumMsg::Request(f)),
                Replicate::Revalidate { session, timeout } => {
                    shared.send(self.link, QuorumMsg::Revalidate { session, timeout })
                }
                Replicate::Propose { .. } => {}
            }
        }
        Step::Stay
    }
}

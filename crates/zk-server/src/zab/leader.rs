//! The leader: discovery (a new epoch), synchronisation of each learner, and atomic
//! broadcast, as Apache's `Leader` and `LearnerHandler` (§3–4 of
//! `zab-and-ensembles.md`).
//!
//! Activation, each step bounded by `initLimit` ticks:
//! 1. **Discovery**: once a quorum (the leader included) has connected, the new epoch is
//!    one above every accepted epoch heard; the leader persists it, then sends
//!    LEADERINFO.
//! 2. **Epoch acks**: a quorum of ACKEPOCH; a learner whose (current epoch, last zxid) is
//!    ahead of the leader's makes it give up ("follower is ahead"). The leader then
//!    persists its current epoch.
//! 3. **Sync**: each learner gets DIFF, TRUNC or SNAP ([`History::plan`]), the txns it
//!    lacks, the proposals still outstanding, then NEWLEADER — and from then on every
//!    proposal and commit, so nothing falls between sync and broadcast.
//! 4. **NEWLEADER acks** from a quorum: the epoch is established; UPTODATE; serve.
//!
//! Broadcast: a txn the core prepared is logged and sent to every learner; it commits
//! once a quorum (the leader counting only after its own fsync) has it durable, in zxid
//! order. Acks and commits are cumulative (FIFO links make "everything up to z" exact).
//! A learner silent for `syncLimit` ticks, or sitting on a proposal that long, is
//! dropped; a leader without a quorum of live, synced learners steps down.
//!
//! Owns the learner table and the activation state; the log tail (outstanding
//! proposals) lives in [`Shared`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use super::history::SyncPlan;
use super::member::{after, new_leader_zxid, LinkId, Shared, Step};
use super::message::{counter_of, QuorumMsg, Sid};
use crate::core::{Now, Replicate};
use crate::storage::StoreJob;

/// Where a learner is in its handshake with us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Connected; FOLLOWERINFO not yet received.
    AwaitInfo,
    /// Known; LEADERINFO sent (or to be sent once the epoch is durable).
    AwaitEpochAck,
    /// ACKEPOCH received; waits for the leader to be ready to sync it.
    AwaitSync,
    /// Synced; NEWLEADER sent.
    AwaitNewLeaderAck,
    /// NEWLEADER acknowledged; UPTODATE follows at activation.
    AwaitUpToDate,
    /// In broadcast.
    Broadcast,
}

#[derive(Debug)]
struct Learner {
    sid: Option<Sid>,
    stage: Stage,
    info_sent: bool,
    /// Highest zxid it acknowledged durable.
    acked: i64,
    /// Its last zxid and whether it wants a snapshot, from ACKEPOCH.
    last_zxid: i64,
    snapshot_wanted: bool,
    /// Whether it gets every proposal and commit.
    forwarding: bool,
    last_heard: Instant,
}

/// Where the leader is in activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activation {
    /// Waiting for a quorum to connect (then persisting the new epoch).
    Discovery,
    /// Waiting for a quorum of ACKEPOCH (then persisting the current epoch).
    EpochAcks,
    /// Waiting for a quorum of NEWLEADER acks.
    NewLeaderAcks,
    /// Established.
    Broadcast,
}

/// A leader (see the module docs).
#[derive(Debug)]
pub(crate) struct Leader {
    activation: Activation,
    deadline: Instant,
    /// Ordered, so that what the leader sends is deterministic (the simulation replays).
    learners: BTreeMap<LinkId, Learner>,
    max_accepted: u32,
    epoch: Option<u32>,
    accepted_seq: Option<u64>,
    current_seq: Option<u64>,
    epoch_acked: BTreeSet<Sid>,
    newleader_acked: BTreeSet<Sid>,
    /// When each outstanding proposal (`Shared::tail`) was sent.
    proposed_at: VecDeque<Instant>,
    /// Forwarded syncs waiting for the commit of a zxid: (zxid, link, session, cxid).
    pending_syncs: VecDeque<(i64, LinkId, i64, i32)>,
    next_ping: Instant,
    proposal_sizes: (i64, i64, i64),
}

impl Leader {
    pub fn new(shared: &mut Shared, now: Now) -> Leader {
        tracing::info!(sid = shared.config.sid, "elected: leading");
        let mut leader = Leader {
            activation: Activation::Discovery,
            deadline: after(now, shared.config.init_timeout()),
            learners: BTreeMap::new(),
            max_accepted: shared.accepted_epoch,
            epoch: None,
            accepted_seq: None,
            current_seq: None,
            epoch_acked: BTreeSet::new(),
            newleader_acked: BTreeSet::new(),
            proposed_at: VecDeque::new(),
            pending_syncs: VecDeque::new(),
            next_ping: now.mono,
            proposal_sizes: (-1, -1, -1),
        };
        leader.check_discovery(shared);
        leader
    }

    pub fn next_deadline(&self) -> Instant {
        if self.activation == Activation::Broadcast {
            self.next_ping
        } else {
            self.deadline.min(self.next_ping)
        }
    }

    /// The activation stage, as Apache's `zk_peer_state` names it.
    pub fn stage_name(&self) -> &'static str {
        match self.activation {
            Activation::Discovery | Activation::EpochAcks => "discovery",
            Activation::NewLeaderAcks => "synchronization",
            Activation::Broadcast => "broadcast",
        }
    }

    /// Forwarded syncs waiting for a commit.
    pub fn pending_syncs(&self) -> usize {
        self.pending_syncs.len()
    }

    /// Proposal sizes in bytes: last, smallest, largest (-1 before the first).
    pub fn proposal_sizes(&self) -> (i64, i64, i64) {
        self.proposal_sizes
    }

    /// (followers in sync, learners connected, proposals outstanding).
    pub fn status(&self, _sync_timeout: Duration) -> (usize, usize, usize) {
        let synced = self
            .learners
            .values()
            .filter(|l| l.stage == Stage::Broadcast)
            .count();
        (synced, self.learners.len(), self.proposed_at.len())
    }

    pub fn accepted(&mut self, link: LinkId, now: Now) {
        self.learners.insert(
            link,
            Learner {
                sid: None,
                stage: Stage::AwaitInfo,
                info_sent: false,
                acked: 0,
                last_zxid: 0,
                snapshot_wanted: false,
                forwarding: false,
                last_heard: now.mono,
            },
        );
    }

    pub fn close_all(&self, shared: &mut Shared) {
        for &link in self.learners.keys() {
            shared.close(link);
        }
    }

    fn drop_learner(&mut self, shared: &mut Shared, link: LinkId, why: &str) {
        if let Some(l) = self.learners.remove(&link) {
            tracing::warn!(learner = ?l.sid, why, "dropping a learner");
        }
        shared.close(link);
    }

    pub fn link_down(&mut self, _shared: &mut Shared, link: LinkId, _now: Now) -> Step {
        if let Some(l) = self.learners.remove(&link) {
            tracing::info!(learner = ?l.sid, "learner disconnected");
        }
        Step::Stay
    }

    pub fn message(&mut self, shared: &mut Shared, link: LinkId, msg: QuorumMsg, now: Now) -> Step {
        let Some(learner) = self.learners.get_mut(&link) else {
            shared.close(link);
            return Step::Stay;
        };
        learner.last_heard = now.mono;
        let stage = learner.stage;
        match msg {
            QuorumMsg::FollowerInfo {
                sid,
                accepted_epoch,
            } if stage == Stage::AwaitInfo => {
                if sid == shared.config.sid || !shared.config.voters.contains(sid) {
                    tracing::warn!(sid, "a peer with an unknown id connected; closing");
                    self.drop_learner(shared, link, "unknown id");
                    return Step::Stay;
                }
                // A learner that reconnects replaces its older link.
                let stale: Vec<LinkId> = self
                    .learners
                    .iter()
                    .filter(|(l, x)| **l != link && x.sid == Some(sid))
                    .map(|(l, _)| *l)
                    .collect();
                for old in stale {
                    self.drop_learner(shared, old, "reconnected");
                }
                let Some(learner) = self.learners.get_mut(&link) else {
                    return Step::Stay;
                };
                learner.sid = Some(sid);
                learner.stage = Stage::AwaitEpochAck;
                if self.activation == Activation::Discovery {
                    self.max_accepted = self.max_accepted.max(accepted_epoch);
                    self.check_discovery(shared);
                } else if let Some(epoch) = self.epoch.filter(|_| self.accepted_seq.is_none()) {
                    learner.info_sent = true;
                    shared.send(link, QuorumMsg::LeaderInfo { epoch });
                }
                Step::Stay
            }
            QuorumMsg::AckEpoch {
                current_epoch,
                last_zxid,
                snapshot_wanted,
            } if stage == Stage::AwaitEpochAck && learner.info_sent => {
                let sid = learner.sid.unwrap_or_default();
                if self.activation != Activation::Broadcast {
                    let ours = (shared.current_epoch, shared.core.tree().last_zxid());
                    if current_epoch.is_some_and(|ce| (ce, last_zxid) > ours) {
                        return Step::Leave(format!(
                            "follower {sid} is ahead of the leader (epoch {current_epoch:?}, zxid {last_zxid:#x})"
                        ));
                    }
                }
                learner.last_zxid = last_zxid;
                learner.snapshot_wanted = snapshot_wanted;
                learner.stage = Stage::AwaitSync;
                self.epoch_acked.insert(sid);
                match self.activation {
                    Activation::EpochAcks => self.check_epoch_acks(shared),
                    Activation::NewLeaderAcks | Activation::Broadcast => {
                        self.sync_learner(shared, link)
                    }
                    Activation::Discovery => {}
                }
                Step::Stay
            }
            QuorumMsg::Ack { zxid } => self.ack(shared, link, zxid, now),
            QuorumMsg::Ping { touches } => {
                for (session, _) in touches {
                    shared.core.touch(session, now);
                }
                Step::Stay
            }
            QuorumMsg::Request(f) if stage == Stage::Broadcast => {
                let sid = learner.sid.unwrap_or_default();
                if f.opcode == zk_proto::OpCode::Sync.code() {
                    // Ordered after every proposal made so far: answered right after
                    // the commit of the last one (Apache's processSync).
                    match shared.tail.back() {
                        None => shared.send(
                            link,
                            QuorumMsg::SyncReply {
                                session: f.session,
                                cxid: f.cxid,
                            },
                        ),
                        Some((h, _)) => self
                            .pending_syncs
                            .push_back((h.zxid, link, f.session, f.cxid)),
                    }
                } else {
                    shared.core.forwarded(sid, f, now);
                }
                Step::Stay
            }
            QuorumMsg::Revalidate { session, timeout } if stage == Stage::Broadcast => {
                let sid = learner.sid.unwrap_or_default();
                let valid = shared.core.revalidate(session, timeout, sid, now);
                shared.send(link, QuorumMsg::RevalidateReply { session, valid });
                Step::Stay
            }
            other => {
                let why = format!("unexpected {} in stage {stage:?}", other.name());
                self.drop_learner(shared, link, &why);
                Step::Stay
            }
        }
    }

    /// Discovery: a quorum connected → choose and persist the new epoch.
    fn check_discovery(&mut self, shared: &mut Shared) {
        if self.activation != Activation::Discovery || self.epoch.is_some() {
            return;
        }
        let connected = self
            .learners
            .values()
            .filter(|l| l.stage == Stage::AwaitEpochAck)
            .filter_map(|l| l.sid)
            .chain([shared.config.sid]);
        if !shared.config.voters.is_quorum(connected) {
            return;
        }
        let epoch = self.max_accepted + 1;
        self.epoch = Some(epoch);
        shared.accepted_epoch = epoch;
        self.accepted_seq = Some(shared.store(StoreJob::AcceptedEpoch(epoch)));
        tracing::info!(sid = shared.config.sid, epoch, "proposing a new epoch");
    }

    fn check_epoch_acks(&mut self, shared: &mut Shared) {
        if self.activation != Activation::EpochAcks || self.current_seq.is_some() {
            return;
        }
        let acked = self.epoch_acked.iter().copied().chain([shared.config.sid]);
        if shared.config.voters.is_quorum(acked) {
            if let Some(epoch) = self.epoch {
                self.current_seq = Some(shared.store(StoreJob::CurrentEpoch(epoch)));
            }
        }
    }

    fn check_newleader_acks(&mut self, shared: &mut Shared, now: Now) -> Step {
        if self.activation != Activation::NewLeaderAcks {
            return Step::Stay;
        }
        let acked = self
            .newleader_acked
            .iter()
            .copied()
            .chain([shared.config.sid]);
        if !shared.config.voters.is_quorum(acked) {
            return Step::Stay;
        }
        let Some(epoch) = self.epoch else {
            return Step::Stay;
        };
        self.activation = Activation::Broadcast;
        shared.core.lead(super::message::zxid(epoch, 1), now);
        for (&link, l) in self.learners.iter_mut() {
            if l.stage == Stage::AwaitUpToDate {
                l.stage = Stage::Broadcast;
                shared.send(link, QuorumMsg::UpToDate);
            }
        }
        tracing::info!(
            sid = shared.config.sid,
            epoch,
            zxid = format_args!("{:#x}", shared.core.tree().last_zxid()),
            "leader established: serving"
        );
        Step::Established(epoch)
    }

    /// Brings one learner up to date and starts forwarding to it.
    fn sync_learner(&mut self, shared: &mut Shared, link: LinkId) {
        let (Some(epoch), Some(learner)) = (self.epoch, self.learners.get_mut(&link)) else {
            return;
        };
        let plan = if learner.snapshot_wanted {
            SyncPlan::Snap
        } else {
            shared.history.plan(learner.last_zxid)
        };
        tracing::info!(
            learner = ?learner.sid,
            learner_zxid = format_args!("{:#x}", learner.last_zxid),
            leader_zxid = format_args!("{:#x}", shared.core.tree().last_zxid()),
            ?plan,
            "synchronising a learner"
        );
        let from = match plan {
            SyncPlan::Diff { from } => {
                shared.send(
                    link,
                    QuorumMsg::Diff {
                        zxid: shared.core.tree().last_zxid(),
                    },
                );
                Some(from)
            }
            SyncPlan::Trunc { to, from } => {
                shared.send(link, QuorumMsg::Trunc { zxid: to });
                Some(from)
            }
            SyncPlan::Snap => {
                let tree = shared.core.tree().snapshot();
                shared.send(link, QuorumMsg::Snap { tree });
                None
            }
        };
        if let Some(from) = from {
            send_committed(shared, link, from);
        }
        // Proposals not yet committed follow; their commits come with the broadcast.
        let outstanding: Vec<_> = shared.tail.iter().cloned().collect();
        for (header, txn) in outstanding {
            shared.send(link, QuorumMsg::Proposal { header, txn });
        }
        shared.send(
            link,
            QuorumMsg::NewLeader {
                zxid: new_leader_zxid(epoch),
            },
        );
        learner.forwarding = true;
        learner.stage = Stage::AwaitNewLeaderAck;
    }

    fn ack(&mut self, shared: &mut Shared, link: LinkId, zxid: i64, now: Now) -> Step {
        let Some(learner) = self.learners.get_mut(&link) else {
            return Step::Stay;
        };
        if counter_of(zxid) == 0 {
            // The NEWLEADER ack carries `epoch << 32`; anything else with counter 0 (the
            // UPTODATE ack) is ignored, as Apache does.
            let expected = self.epoch.map(new_leader_zxid);
            if learner.stage == Stage::AwaitNewLeaderAck && Some(zxid) == expected {
                let sid = learner.sid.unwrap_or_default();
                if self.activation == Activation::Broadcast {
                    learner.stage = Stage::Broadcast;
                    shared.send(link, QuorumMsg::UpToDate);
                } else {
                    learner.stage = Stage::AwaitUpToDate;
                    self.newleader_acked.insert(sid);
                    return self.check_newleader_acks(shared, now);
                }
            }
            return Step::Stay;
        }
        if matches!(learner.stage, Stage::AwaitUpToDate | Stage::Broadcast) {
            learner.acked = learner.acked.max(zxid);
            self.try_commit(shared, now);
        }
        Step::Stay
    }

    pub fn stored(&mut self, shared: &mut Shared, seq: u64, now: Now) -> Step {
        if self.accepted_seq.is_some_and(|s| s <= seq) {
            self.accepted_seq = None;
            self.activation = Activation::EpochAcks;
            self.deadline = after(now, shared.config.init_timeout());
            if let Some(epoch) = self.epoch {
                for (&link, l) in self.learners.iter_mut() {
                    if l.stage == Stage::AwaitEpochAck && !l.info_sent {
                        l.info_sent = true;
                        shared.send(link, QuorumMsg::LeaderInfo { epoch });
                    }
                }
            }
            self.check_epoch_acks(shared);
        }
        if self.current_seq.is_some_and(|s| s <= seq) {
            self.current_seq = None;
            if let Some(epoch) = self.epoch {
                shared.current_epoch = epoch;
            }
            self.activation = Activation::NewLeaderAcks;
            self.deadline = after(now, shared.config.init_timeout());
            let waiting: Vec<LinkId> = self
                .learners
                .iter()
                .filter(|(_, l)| l.stage == Stage::AwaitSync)
                .map(|(k, _)| *k)
                .collect();
            for link in waiting {
                self.sync_learner(shared, link);
            }
            return self.check_newleader_acks(shared, now);
        }
        if self.activation == Activation::Broadcast {
            self.try_commit(shared, now);
        }
        Step::Stay
    }

    /// Commits outstanding proposals, in order, while a quorum has them durable.
    fn try_commit(&mut self, shared: &mut Shared, now: Now) {
        let mut last = None;
        while let Some((header, _)) = shared.tail.front() {
            let z = header.zxid;
            let ackers = self
                .learners
                .values()
                .filter(|l| matches!(l.stage, Stage::AwaitUpToDate | Stage::Broadcast))
                .filter(|l| l.acked >= z)
                .filter_map(|l| l.sid)
                .chain((shared.durable >= z).then_some(shared.config.sid));
            if !shared.config.voters.is_quorum(ackers) {
                break;
            }
            let Some((header, txn)) = shared.tail.pop_front() else {
                break;
            };
            self.proposed_at.pop_front();
            shared.apply(header, txn, now);
            last = Some(z);
        }
        let Some(z) = last else { return };
        // A forwarded sync is answered right after the commit of the last zxid proposed
        // when it arrived — not after later ones, which may hold the same session's next
        // writes: the commit is split at each waiting sync's zxid.
        let mut sent = None;
        while self.pending_syncs.front().is_some_and(|(w, ..)| *w <= z) {
            let Some((w, link, session, cxid)) = self.pending_syncs.pop_front() else {
                break;
            };
            if sent < Some(w) {
                self.broadcast_commit(shared, w);
                sent = Some(w);
            }
            shared.send(link, QuorumMsg::SyncReply { session, cxid });
        }
        if sent < Some(z) {
            self.broadcast_commit(shared, z);
        }
        shared.maybe_snapshot();
    }

    fn broadcast_commit(&self, shared: &mut Shared, zxid: i64) {
        for (&link, l) in &self.learners {
            if l.forwarding {
                shared.send(link, QuorumMsg::Commit { zxid });
            }
        }
    }

    /// Takes what the core prepared: each txn is logged and proposed.
    pub fn drain_core(&mut self, shared: &mut Shared, now: Now) -> Step {
        while let Some(r) = shared.core.poll_replicate() {
            let Replicate::Propose { header, txn } = r else {
                continue;
            };
            if counter_of(header.zxid) == u32::MAX {
                // The counter would roll over: a new epoch must start (ZOOKEEPER-1277).
                return Step::Leave("zxid counter exhausted; forcing a new epoch".into());
            }
            let size = shared.log(&header, &txn).1 as i64;
            let (_, min, max) = self.proposal_sizes;
            self.proposal_sizes = (
                size,
                if min < 0 { size } else { min.min(size) },
                max.max(size),
            );
            for (&link, l) in &self.learners {
                if l.forwarding {
                    shared.send(
                        link,
                        QuorumMsg::Proposal {
                            header,
                            txn: txn.clone(),
                        },
                    );
                }
            }
            shared.tail.push_back((header, txn));
            self.proposed_at.push_back(now.mono);
        }
        Step::Stay
    }

    pub fn tick(&mut self, shared: &mut Shared, now: Now) -> Step {
        if self.activation != Activation::Broadcast && now.mono >= self.deadline {
            return Step::Leave(format!(
                "no quorum within initLimit during {:?}",
                self.activation
            ));
        }
        if now.mono < self.next_ping {
            return Step::Stay;
        }
        self.next_ping = now.mono + shared.config.tick() / 2;
        let sync_timeout = shared.config.sync_timeout();
        let init_timeout = shared.config.init_timeout();
        let mut doomed = Vec::new();
        for (&link, l) in &self.learners {
            shared.send(
                link,
                QuorumMsg::Ping {
                    touches: Vec::new(),
                },
            );
            let silent = now.mono.saturating_duration_since(l.last_heard);
            let limit = if l.stage == Stage::Broadcast {
                sync_timeout
            } else {
                init_timeout + sync_timeout
            };
            if silent > limit {
                doomed.push((link, "silent too long"));
                continue;
            }
            // The oldest proposal this learner has not acknowledged.
            if matches!(l.stage, Stage::Broadcast | Stage::AwaitUpToDate) {
                let unacked = shared.tail.iter().position(|(h, _)| h.zxid > l.acked);
                if let Some(at) = unacked.and_then(|i| self.proposed_at.get(i)) {
                    if now.mono.saturating_duration_since(*at) > sync_timeout {
                        doomed.push((link, "transaction timeout"));
                    }
                }
            }
        }
        for (link, why) in doomed {
            self.drop_learner(shared, link, why);
        }
        if self.activation == Activation::Broadcast {
            let synced = self
                .learners
                .values()
                .filter(|l| l.stage == Stage::Broadcast)
                .filter_map(|l| l.sid)
                .chain([shared.config.sid]);
            if !shared.config.voters.is_quorum(synced) {
                return Step::Leave("not sufficient followers synced".into());
            }
        }
        Step::Stay
    }
}

/// Sends the committed txns from index `from` of the history as PROPOSAL + COMMIT.
fn send_committed(shared: &mut Shared, link: LinkId, from: usize) {
    let txns: Vec<_> = shared.history.from(from).cloned().collect();
    for (header, txn) in txns {
        let zxid = header.zxid;
        shared.send(link, QuorumMsg::Proposal { header, txn });
        shared.send(link, QuorumMsg::Commit { zxid });
    }
}

//! One ensemble member, whole and sans-IO: its client-facing [`ServerCore`], its
//! election, and — once elected — its leader or follower role, driven by [`Input`]s and
//! answered with [`Action`]s.
//!
//! The member owns the transitions between phases:
//!
//! ```text
//!   Draining ──(disk idle, logged tail applied)──▶ Looking ──(decided)──▶ Leading | Following
//!       ▲                                                                      │
//!       └──────────── lost quorum, lost leader, bad message, timeout ──────────┘
//! ```
//!
//! Leaving a role stops serving clients at once, then waits for every disk job already
//! issued to finish before it votes: the vote must carry the last *durable* zxid, and the
//! tree must equal what the disk would replay (ZOOKEEPER-4712, 2845). The txns logged but
//! not yet committed (the tail) are applied then, as Zab treats a new leader's whole log
//! as committed; a TRUNC or SNAP from the next leader removes the ones nobody committed.
//!
//! Must not do I/O or read a clock: time comes in with every input.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::election::{Election, ElectionTiming};
use super::follower::Follower;
use super::history::History;
use super::leader::Leader;
use super::message::{Notification, PeerState, QuorumMsg, Sid, Vote};
use super::quorum::Voters;
use crate::core::{CoreConfig, Now, Output, ServerCore};
use crate::storage::{Loaded, StorageError, StoreJob};
use crate::txn::{Txn, TxnHeader};
use crate::watches::ConnId;

/// A quorum-port connection, numbered by whoever opened it: the member numbers the
/// links it dials ([`OUTGOING_LINK`] set), the shell numbers the links it accepts.
pub type LinkId = u64;

/// Marks a link the member dialled.
pub const OUTGOING_LINK: LinkId = 1 << 63;

/// Settings of a member.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// This member's id.
    pub sid: Sid,
    /// Every voting member, this one included.
    pub voters: Voters,
    /// `initLimit`: ticks a leader waits for a quorum in each activation step, and a
    /// learner for the leader during sync.
    pub init_limit: u32,
    /// `syncLimit`: ticks a learner may stay silent (or leave a proposal un-acked) before
    /// the leader drops it, and the leader before a follower gives up on it.
    pub sync_limit: u32,
    /// Election timings.
    pub election: ElectionTiming,
    /// Txns kept in memory for DIFF syncs.
    pub history_kept: usize,
    /// The client-facing core's settings (its `tick_time` is the ensemble's tick).
    pub core: CoreConfig,
    /// Seeds the member's randomness (the snapshot trigger).
    pub seed: u64,
}

impl MemberConfig {
    /// The tick.
    pub fn tick(&self) -> Duration {
        self.core.tick_time
    }

    pub(crate) fn init_timeout(&self) -> Duration {
        self.tick() * self.init_limit
    }

    pub(crate) fn sync_timeout(&self) -> Duration {
        self.tick() * self.sync_limit
    }
}

/// Something that happened to a member.
#[derive(Debug)]
pub enum Input {
    /// Time passed (call at [`Member::next_deadline`] or any time).
    Tick,
    /// An election notification from another member (the transport checked who sent it).
    Election(Notification),
    /// A link this member asked for ([`Action::Connect`]) is up.
    LinkUp(LinkId),
    /// Another member connected to our quorum port.
    Accepted(LinkId),
    /// A message on a quorum link.
    Quorum(LinkId, QuorumMsg),
    /// A quorum link is gone (closed, reset, or it sent garbage).
    LinkDown(LinkId),
    /// Every disk job up to this sequence number is done.
    Stored(u64),
    /// A loading disk job ([`StoreJob::loads`]) is done.
    Loaded(u64, Result<Box<Loaded>, StorageError>),
    /// The disk failed: the member stops (fail-stop).
    StorageFailed(String),
    /// A client connected, with the ids its transport proved (`x509`).
    ClientAccept(ConnId, SocketAddr, Vec<zk_proto::Id>),
    /// A client sent a frame.
    ClientFrame(ConnId, Bytes),
    /// A client connection is gone.
    ClientClosed(ConnId),
}

/// Something the shell must do for a member.
#[derive(Debug)]
pub enum Action {
    /// Send an election notification (a newer one to the same peer may replace it).
    Elect(Sid, Notification),
    /// Dial `to`'s quorum port as link `link`; answer with [`Input::LinkUp`] or
    /// [`Input::LinkDown`].
    Connect(LinkId, Sid),
    /// Send on a quorum link, after everything sent on it before.
    Send(LinkId, QuorumMsg),
    /// Close a quorum link (after what was queued on it).
    Close(LinkId),
    /// Run a disk job; report [`Input::Stored`] (or [`Input::Loaded`]) in order.
    Store(u64, StoreJob),
    /// Something for a client connection.
    Client(Output),
    /// The member stopped for good (its disk failed).
    Stopped(String),
}

/// Where a member is.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Waiting for the disk to go idle before looking.
    Draining,
    /// Electing.
    Looking,
    /// Leading (any stage).
    Leading(Box<Leader>),
    /// Following (any stage).
    Following(Box<Follower>),
    /// Stopped for good.
    Stopped,
}

/// The state every role shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: MemberConfig,
    pub core: ServerCore,
    pub actions: VecDeque<Action>,
    pub history: History,
    /// The txns logged (or being logged) but not yet applied, in zxid order.
    pub tail: VecDeque<(TxnHeader, Txn)>,
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    /// Disk jobs issued / done (sequence numbers).
    pub store_issued: u64,
    pub store_done: u64,
    /// Append jobs not yet done: (sequence number, last zxid).
    pub appends: VecDeque<(u64, i64)>,
    /// The last zxid known durable in the log.
    pub durable: i64,
    /// A TRUNC could not be applied: ask the next leader for a SNAP.
    pub snapshot_wanted: bool,
    next_link: LinkId,
    rng: StdRng,
    /// Committed txns since the last snapshot, and the randomised threshold.
    since_snapshot: u64,
    snapshot_at: u64,
}

impl Shared {
    /// Issues a disk job; returns its sequence number.
    pub fn store(&mut self, job: StoreJob) -> u64 {
        self.store_issued += 1;
        let seq = self.store_issued;
        if let StoreJob::Append { last, .. } = &job {
            self.appends.push_back((seq, *last));
        }
        self.actions.push_back(Action::Store(seq, job));
        seq
    }

    /// Logs a txn (not yet durable; see [`Shared::durable`]); returns the job's sequence
    /// number and the record's size.
    pub fn log(&mut self, header: &TxnHeader, txn: &Txn) -> (u64, usize) {
        let mut records = BytesMut::new();
        crate::persist::encode_record(&mut records, header, txn);
        let size = records.len();
        let seq = self.store(StoreJob::Append {
            records: records.freeze(),
            first: header.zxid,
            last: header.zxid,
        });
        (seq, size)
    }

    /// Whether every disk job issued is done.
    pub fn disk_idle(&self) -> bool {
        self.store_done >= self.store_issued
    }

    pub fn send(&mut self, link: LinkId, msg: QuorumMsg) {
        self.actions.push_back(Action::Send(link, msg));
    }

    pub fn close(&mut self, link: LinkId) {
        self.actions.push_back(Action::Close(link));
    }

    /// A fresh id for a link this member dials.
    pub fn new_link(&mut self) -> LinkId {
        self.next_link += 1;
        OUTGOING_LINK | self.next_link
    }

    /// The last zxid in the log (durable or not): the tail's, else the tree's.
    pub fn last_logged(&self) -> i64 {
        self.tail
            .back()
            .map_or(self.core.tree().last_zxid(), |(h, _)| h.zxid)
    }

    /// Applies a committed txn: the core answers clients, the history keeps it.
    pub fn apply(&mut self, header: TxnHeader, txn: Txn, now: Now) {
        self.history.push(header, txn.clone());
        self.core.commit(header, txn, now);
        self.since_snapshot += 1;
    }

    /// Takes a snapshot once enough txns were committed (a per-member random threshold
    /// between snapCount/2 and snapCount, as Apache, so members do not snapshot together).
    pub fn maybe_snapshot(&mut self) {
        if self.since_snapshot >= self.snapshot_at {
            self.since_snapshot = 0;
            self.snapshot_at = self.next_snapshot_threshold();
            let tree = self.core.tree().snapshot();
            self.store(StoreJob::Snapshot(tree));
        }
    }

    fn next_snapshot_threshold(&mut self) -> u64 {
        let half = (self.config.core.snap_count / 2).max(1);
        half + self.rng.gen_range(0..half)
    }
}

/// One ensemble member (see the module docs).
#[derive(Debug)]
pub struct Member {
    pub(crate) shared: Shared,
    pub(crate) election: Election,
    pub(crate) phase: Phase,
    /// The epoch this member leads with, once established (for status and checks).
    pub(crate) established: Option<u32>,
    established_at: Option<Instant>,
    /// The ensemble's `conf` lines (see [`Member::set_conf`]).
    conf: String,
}

impl Member {
    /// A member starting from its durable state `loaded`; it looks for a leader at once.
    pub fn new(config: MemberConfig, loaded: Loaded, now: Now) -> Member {
        let mut core_config = config.core.clone();
        core_config.server_id = config.sid as u8;
        core_config.durable = false;
        let mut history = loaded.history;
        history.set_limit(config.history_kept);
        let mut core = ServerCore::new(core_config, loaded.tree, now);
        core.stop_serving();
        let election = Election::new(config.sid, config.voters.clone(), config.election, now.mono);
        let mut rng = StdRng::seed_from_u64(config.seed);
        let half = (config.core.snap_count / 2).max(1);
        let snapshot_at = half + rng.gen_range(0..half);
        let durable = core.tree().last_zxid();
        let mut member = Member {
            shared: Shared {
                config,
                core,
                actions: VecDeque::new(),
                history,
                tail: VecDeque::new(),
                accepted_epoch: loaded.accepted_epoch,
                current_epoch: loaded.current_epoch,
                store_issued: 0,
                store_done: 0,
                appends: VecDeque::new(),
                durable,
                snapshot_wanted: false,
                next_link: 0,
                rng,
                since_snapshot: 0,
                snapshot_at,
            },
            election,
            phase: Phase::Draining,
            established: None,
            established_at: None,
            conf: String::new(),
        };
        member.finish_draining(now);
        member
    }

    /// This member's id.
    pub fn sid(&self) -> Sid {
        self.shared.config.sid
    }

    /// The client-facing core (read-only: tree, sessions, counters).
    pub fn core(&self) -> &ServerCore {
        &self.shared.core
    }

    /// The client-facing core, for four-letter words and harness faults.
    pub fn core_mut(&mut self) -> &mut ServerCore {
        &mut self.shared.core
    }

    /// What the member is doing, as its votes would say (Looking while draining).
    pub fn state(&self) -> PeerState {
        match self.phase {
            Phase::Leading(_) => PeerState::Leading,
            Phase::Following(_) => PeerState::Following,
            _ => PeerState::Looking,
        }
    }

    /// Whether clients are served (an established leader, or a follower after UPTODATE).
    pub fn serving(&self) -> bool {
        self.shared.core.role() != crate::core::Role::NotServing
    }

    /// The epoch of the leadership this member holds, once a quorum acknowledged it.
    pub fn established_epoch(&self) -> Option<u32> {
        self.established
    }

    /// The leader this member follows or is, once decided.
    pub fn leader(&self) -> Option<Sid> {
        match &self.phase {
            Phase::Leading(_) => Some(self.sid()),
            Phase::Following(f) => Some(f.leader()),
            _ => None,
        }
    }

    /// The durable epochs in memory: (accepted, current).
    pub fn epochs(&self) -> (u32, u32) {
        (self.shared.accepted_epoch, self.shared.current_epoch)
    }

    /// The last zxid this member has logged (applied or not yet committed).
    pub fn last_logged(&self) -> i64 {
        self.shared.last_logged()
    }

    /// The last zxid this member has applied.
    pub fn last_zxid(&self) -> i64 {
        self.shared.core.tree().last_zxid()
    }

    /// Details for status words: (followers in sync, learners connected, pending
    /// proposals) when leading.
    pub fn leader_status(&self) -> Option<(usize, usize, usize)> {
        match &self.phase {
            Phase::Leading(l) => Some(l.status(self.shared.config.sync_timeout())),
            _ => None,
        }
    }

    /// The lines `conf` prints about the ensemble (`initLimit=`… `membership:`…).
    pub fn set_conf(&mut self, conf: String) {
        self.conf = conf;
        self.refresh_status(None);
    }

    /// Answers a four-letter word with the member's current status.
    pub fn four_letter(&mut self, word: &str, now: Now) -> String {
        self.refresh_status(Some(now));
        self.shared.core.four_letter(word, now)
    }

    /// Expires a session now (the harness's fault; only the leader expires sessions).
    pub fn expire_session(&mut self, session: i64, now: Now) -> bool {
        let expired = self.shared.core.expire_session(session, now);
        self.after(now);
        expired
    }

    /// Refreshes what the core's four-letter words say of the ensemble.
    fn refresh_status(&mut self, now: Option<Now>) {
        let (phase, stage) = match &self.phase {
            Phase::Leading(l) => ("leading", l.stage_name()),
            Phase::Following(f) => ("following", f.stage_name()),
            Phase::Stopped => ("stopped", "none"),
            _ => ("looking", "election"),
        };
        let leader = match (&self.phase, self.established) {
            (Phase::Leading(l), Some(_)) => {
                let (synced_followers, learners, _) = l.status(self.shared.config.sync_timeout());
                Some(crate::fourlw::LeaderStatus {
                    learners,
                    synced_followers,
                    pending_syncs: l.pending_syncs(),
                    uptime_ms: match (now, self.established_at) {
                        (Some(n), Some(at)) => n.mono.saturating_duration_since(at).as_millis(),
                        _ => 0,
                    },
                    proposal_sizes: l.proposal_sizes(),
                })
            }
            _ => None,
        };
        let zxid_floor = self.established.map_or(0, |e| super::message::zxid(e, 0));
        self.shared
            .core
            .set_quorum_status(Some(crate::fourlw::QuorumStatus {
                sid: self.sid(),
                peer_state: format!("{phase} - {stage}"),
                voters: self.shared.config.voters.len(),
                zxid_floor,
                leader,
                conf: self.conf.clone(),
            }));
    }

    /// Whether the member stopped for good.
    pub fn stopped(&self) -> bool {
        matches!(self.phase, Phase::Stopped)
    }

    /// The next thing the shell must do.
    pub fn poll_action(&mut self) -> Option<Action> {
        if let Some(a) = self.shared.actions.pop_front() {
            return Some(a);
        }
        self.shared.core.poll_output().map(Action::Client)
    }

    /// When the member next needs [`Input::Tick`].
    pub fn next_deadline(&self) -> Instant {
        let mut at = self.shared.core.next_deadline();
        if let Some(e) = self.election.next_deadline() {
            at = at.min(e);
        }
        match &self.phase {
            Phase::Leading(l) => at = at.min(l.next_deadline()),
            Phase::Following(f) => at = at.min(f.next_deadline(&self.shared)),
            _ => {}
        }
        at
    }

    /// Handles one input.
    pub fn handle(&mut self, input: Input, now: Now) {
        if matches!(self.phase, Phase::Stopped) {
            return;
        }
        match input {
            Input::Tick => self.tick(now),
            Input::Election(n) => {
                if !matches!(self.phase, Phase::Draining) {
                    self.election.receive(n, now.mono);
                }
            }
            Input::LinkUp(link) => self.on_link(link, None, now),
            Input::Accepted(link) => match &mut self.phase {
                Phase::Leading(l) => l.accepted(link, now),
                // Only a leader takes learners.
                _ => self.shared.close(link),
            },
            Input::Quorum(link, msg) => self.on_link(link, Some(msg), now),
            Input::LinkDown(link) => self.on_link_down(link, now),
            Input::Stored(seq) => self.on_stored(seq, now),
            Input::Loaded(seq, result) => self.on_loaded(seq, result, now),
            Input::StorageFailed(reason) => self.stop(reason),
            Input::ClientAccept(conn, remote, ids) => {
                self.shared.core.accept(conn, remote, ids, now)
            }
            Input::ClientFrame(conn, frame) => self.shared.core.receive(conn, frame, now),
            Input::ClientClosed(conn) => self.shared.core.disconnected(conn),
        }
        self.after(now);
    }

    /// Follow-up after any input: election decisions and sends, the core's replication.
    fn after(&mut self, now: Now) {
        for (to, n) in self.election.take_sends() {
            self.shared.actions.push_back(Action::Elect(to, n));
        }
        if let Some(vote) = self.election.decided() {
            self.decided(vote, now);
        }
        let step = match &mut self.phase {
            Phase::Leading(l) => l.drain_core(&mut self.shared, now),
            Phase::Following(f) => f.drain_core(&mut self.shared, now),
            _ => Step::Stay,
        };
        self.take_step(step, now);
    }

    fn decided(&mut self, vote: Vote, now: Now) {
        if vote.leader == self.sid() {
            self.phase = Phase::Leading(Box::new(Leader::new(&mut self.shared, now)));
        } else {
            self.phase =
                Phase::Following(Box::new(Follower::new(vote.leader, &mut self.shared, now)));
        }
    }

    fn tick(&mut self, now: Now) {
        self.election.tick(now.mono);
        self.shared.core.tick(now);
        let step = match &mut self.phase {
            Phase::Leading(l) => l.tick(&mut self.shared, now),
            Phase::Following(f) => f.tick(&mut self.shared, now),
            _ => Step::Stay,
        };
        self.take_step(step, now);
    }

    fn on_link(&mut self, link: LinkId, msg: Option<QuorumMsg>, now: Now) {
        let step = match (&mut self.phase, msg) {
            (Phase::Leading(l), Some(msg)) => l.message(&mut self.shared, link, msg, now),
            (Phase::Following(f), None) => f.link_up(&mut self.shared, link, now),
            (Phase::Following(f), Some(msg)) => f.message(&mut self.shared, link, msg, now),
            _ => {
                self.shared.close(link);
                Step::Stay
            }
        };
        self.take_step(step, now);
    }

    fn on_link_down(&mut self, link: LinkId, now: Now) {
        let step = match &mut self.phase {
            Phase::Leading(l) => l.link_down(&mut self.shared, link, now),
            Phase::Following(f) => f.link_down(&mut self.shared, link, now),
            _ => Step::Stay,
        };
        self.take_step(step, now);
    }

    fn on_stored(&mut self, seq: u64, now: Now) {
        self.shared.store_done = self.shared.store_done.max(seq);
        while self.shared.appends.front().is_some_and(|(s, _)| *s <= seq) {
            if let Some((_, zxid)) = self.shared.appends.pop_front() {
                self.shared.durable = self.shared.durable.max(zxid);
            }
        }
        let step = match &mut self.phase {
            Phase::Leading(l) => l.stored(&mut self.shared, seq, now),
            Phase::Following(f) => f.stored(&mut self.shared, seq, now),
            Phase::Draining => {
                self.finish_draining(now);
                Step::Stay
            }
            _ => Step::Stay,
        };
        self.take_step(step, now);
    }

    fn on_loaded(&mut self, seq: u64, result: Result<Box<Loaded>, StorageError>, now: Now) {
        self.shared.store_done = self.shared.store_done.max(seq);
        let step = match (&mut self.phase, result) {
            (Phase::Following(f), result) => f.loaded(&mut self.shared, seq, result, now),
            (_, Ok(loaded)) => {
                // A load finished after we left the sync that asked for it: it is still
                // what the disk holds.
                self.install(*loaded);
                Step::Stay
            }
            (_, Err(e)) => {
                tracing::warn!(error = %e, "a disk load failed after its sync was abandoned");
                Step::Stay
            }
        };
        if matches!(self.phase, Phase::Draining) {
            self.finish_draining(now);
        }
        self.take_step(step, now);
    }

    /// Replaces memory with a state read from disk.
    pub(crate) fn install(&mut self, loaded: Loaded) {
        install(&mut self.shared, loaded);
    }

    pub(crate) fn take_step(&mut self, step: Step, now: Now) {
        match step {
            Step::Stay => {}
            Step::Leave(reason) => self.leave(&reason, now),
            Step::Established(epoch) => {
                self.established = Some(epoch);
                self.established_at = Some(now.mono);
                let vote = Vote {
                    leader: self.sid(),
                    zxid: self.shared.core.tree().last_zxid(),
                    peer_epoch: epoch,
                };
                self.election.settle(PeerState::Leading, vote);
                self.refresh_status(Some(now));
            }
            Step::Following(epoch) => {
                let leader = self.leader().unwrap_or_default();
                let vote = Vote {
                    leader,
                    zxid: self.shared.core.tree().last_zxid(),
                    peer_epoch: epoch,
                };
                self.election.settle(PeerState::Following, vote);
                self.refresh_status(Some(now));
            }
        }
    }

    /// Leaves the current role: clients are dropped, links closed, and the member looks
    /// again once the disk is idle.
    fn leave(&mut self, reason: &str, now: Now) {
        tracing::warn!(
            sid = self.sid(),
            reason,
            "leaving the current role; looking again"
        );
        self.shared.core.stop_serving();
        match std::mem::replace(&mut self.phase, Phase::Draining) {
            Phase::Leading(l) => l.close_all(&mut self.shared),
            Phase::Following(f) => f.close_all(&mut self.shared),
            _ => {}
        }
        self.established = None;
        self.established_at = None;
        self.refresh_status(Some(now));
        self.finish_draining(now);
    }

    /// Once the disk is idle: apply the logged tail (memory = replay(disk)) and look.
    fn finish_draining(&mut self, now: Now) {
        if !matches!(self.phase, Phase::Draining) || !self.shared.disk_idle() {
            return;
        }
        while let Some((header, txn)) = self.shared.tail.pop_front() {
            if header.zxid > self.shared.core.tree().last_zxid() {
                self.shared.apply(header, txn, now);
            }
        }
        self.shared.durable = self.shared.core.tree().last_zxid();
        self.phase = Phase::Looking;
        let own = Vote {
            leader: self.sid(),
            zxid: self.shared.core.tree().last_zxid(),
            peer_epoch: self.shared.current_epoch,
        };
        self.election.start(own, now.mono);
        self.after(now);
    }

    fn stop(&mut self, reason: String) {
        tracing::error!(sid = self.sid(), %reason, "member stopping: its disk failed");
        self.shared.core.stop_serving();
        self.phase = Phase::Stopped;
        self.shared.actions.push_back(Action::Stopped(reason));
    }
}

/// Replaces memory with a state read from disk.
pub(crate) fn install(shared: &mut Shared, loaded: Loaded) {
    let last = loaded.tree.last_zxid();
    shared.history = loaded.history;
    shared.history.set_limit(shared.config.history_kept);
    shared.core.replace_tree(loaded.tree);
    shared.tail.clear();
    shared.durable = last;
}

/// What a role asks of the member after handling an input.
#[derive(Debug)]
pub(crate) enum Step {
    /// Nothing to change.
    Stay,
    /// Give up the role and look again.
    Leave(String),
    /// A leader's epoch is established (a quorum acknowledged NEWLEADER).
    Established(u32),
    /// A follower is in sync with a leader of this epoch.
    Following(u32),
}

/// A leader's NEWLEADER zxid for `epoch`.
pub(crate) fn new_leader_zxid(epoch: u32) -> i64 {
    super::message::zxid(epoch, 0)
}

/// A deadline `d` after `now`.
pub(crate) fn after(now: Now, d: Duration) -> Instant {
    now.mono + d
}

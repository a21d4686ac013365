//! Fast leader election (Apache's `FastLeaderElection`), sans-IO.
//!
//! A looking member votes for itself with its history — (current epoch, last durable
//! zxid, sid) — and adopts any better vote it hears ([`Vote::beats`]). Once a quorum of
//! the votes of its round equal its own, it waits `finalize_wait` for a better vote and,
//! hearing none, decides. A member that joins an established ensemble decides from the
//! votes of members already following or leading, and only for a leader that says itself
//! that it leads (`check_leader`), so a stale vote cannot re-elect a dead leader.
//!
//! Notifications may be lost, duplicated, delayed or reordered: the election converges
//! because votes are totally ordered and it re-sends on a doubling timeout. It is not the
//! safety mechanism — discovery checks the winner's history again (`leader`).
//!
//! Owns the round, the vote and the received votes. Outputs are notifications to send
//! ([`Election::take_sends`]) and a decision ([`Election::decided`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::message::{Notification, PeerState, Sid, Vote};
use super::quorum::Voters;

/// Election timings.
#[derive(Debug, Clone, Copy)]
pub struct ElectionTiming {
    /// How long a quorum's agreement must stand before deciding (Apache: 200 ms).
    pub finalize_wait: Duration,
    /// First re-send interval (Apache: 200 ms); doubles while nothing is heard.
    pub min_notification_interval: Duration,
    /// Cap of the re-send interval (Apache: 60 s).
    pub max_notification_interval: Duration,
}

impl Default for ElectionTiming {
    fn default() -> Self {
        Self {
            finalize_wait: Duration::from_millis(200),
            min_notification_interval: Duration::from_millis(200),
            max_notification_interval: Duration::from_secs(60),
        }
    }
}

/// The election state of one member.
#[derive(Debug)]
pub struct Election {
    me: Sid,
    voters: Voters,
    timing: ElectionTiming,
    state: PeerState,
    round: u64,
    vote: Vote,
    /// Our own history, as we voted for ourselves at the start of the round.
    own: Vote,
    /// Votes of this round (LOOKING members, and members that decided in this round).
    received: HashMap<Sid, Vote>,
    /// Votes of members already following or leading, whatever their round.
    outside: HashMap<Sid, (Vote, PeerState, u64)>,
    finalize_at: Option<Instant>,
    resend_at: Instant,
    resend_interval: Duration,
    sends: Vec<(Sid, Notification)>,
    decided: Option<Vote>,
}

impl Election {
    /// An election for member `me` among `voters`, not yet looking.
    pub fn new(me: Sid, voters: Voters, timing: ElectionTiming, now: Instant) -> Self {
        Self {
            me,
            voters,
            timing,
            state: PeerState::Looking,
            round: 0,
            vote: Vote {
                leader: me,
                zxid: 0,
                peer_epoch: 0,
            },
            own: Vote {
                leader: me,
                zxid: 0,
                peer_epoch: 0,
            },
            received: HashMap::new(),
            outside: HashMap::new(),
            finalize_at: None,
            resend_at: now,
            resend_interval: timing.min_notification_interval,
            sends: Vec::new(),
            decided: None,
        }
    }

    /// The current round.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// The current vote.
    pub fn vote(&self) -> Vote {
        self.vote
    }

    /// Starts a new round voting for ourselves with our history.
    pub fn start(&mut self, own: Vote, now: Instant) {
        self.state = PeerState::Looking;
        self.round += 1;
        self.vote = own;
        self.own = own;
        self.received.clear();
        self.outside.clear();
        self.finalize_at = None;
        self.decided = None;
        self.received.insert(self.me, own);
        self.resend_interval = self.timing.min_notification_interval;
        self.broadcast(now);
        tracing::info!(
            sid = self.me,
            round = self.round,
            zxid = format_args!("{:#x}", own.zxid),
            epoch = own.peer_epoch,
            "looking for a leader"
        );
        // A quorum of one decides alone.
        self.check_quorum(now);
    }

    /// The election is over for now: we lead or follow `vote` (after syncing, with the
    /// new epoch as its `peer_epoch`, so members that look later see the same vote from
    /// everyone).
    pub fn settle(&mut self, state: PeerState, vote: Vote) {
        self.state = state;
        self.vote = vote;
        self.finalize_at = None;
    }

    /// The decision, once (taken by the caller).
    pub fn decided(&mut self) -> Option<Vote> {
        self.decided.take()
    }

    /// Notifications to send.
    pub fn take_sends(&mut self) -> Vec<(Sid, Notification)> {
        std::mem::take(&mut self.sends)
    }

    /// When [`Election::tick`] must run next (only while looking).
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.state != PeerState::Looking {
            return None;
        }
        Some(match self.finalize_at {
            Some(f) => f.min(self.resend_at),
            None => self.resend_at,
        })
    }

    fn notification(&self) -> Notification {
        Notification {
            sender: self.me,
            state: self.state,
            vote: self.vote,
            round: self.round,
        }
    }

    fn broadcast(&mut self, now: Instant) {
        let n = self.notification();
        for &peer in self.voters.iter() {
            if peer != self.me {
                self.sends.push((peer, n));
            }
        }
        self.resend_at = now + self.resend_interval;
    }

    fn reply(&mut self, to: Sid) {
        let n = self.notification();
        self.sends.push((to, n));
    }

    /// Timers: re-send on silence (doubling), decide once the finalize wait is over.
    pub fn tick(&mut self, now: Instant) {
        if self.state != PeerState::Looking {
            return;
        }
        if let Some(at) = self.finalize_at {
            if now >= at {
                self.finalize_at = None;
                if self.quorum_agrees() {
                    self.decide(self.vote);
                    return;
                }
            }
        }
        if now >= self.resend_at {
            self.resend_interval =
                (self.resend_interval * 2).min(self.timing.max_notification_interval);
            self.broadcast(now);
        }
    }

    /// A notification from another member.
    pub fn receive(&mut self, n: Notification, now: Instant) {
        if !self.voters.contains(n.sender) || !self.voters.contains(n.vote.leader) {
            tracing::debug!(sender = n.sender, "ignoring a vote from or for a non-voter");
            return;
        }
        // Hearing anything resets the silence back-off.
        self.resend_interval = self.timing.min_notification_interval;
        if self.state != PeerState::Looking {
            // Settled members tell a looking member who leads (how a restarted member
            // joins without disturbing the ensemble).
            if n.state == PeerState::Looking {
                self.reply(n.sender);
            }
            return;
        }
        match n.state {
            PeerState::Looking => self.looking_vote(n, now),
            PeerState::Following | PeerState::Leading => self.settled_vote(n),
        }
    }

    fn looking_vote(&mut self, n: Notification, now: Instant) {
        if n.round > self.round {
            // A newer round: join it, keeping the better of our own history and theirs.
            self.round = n.round;
            self.received.clear();
            let own = self.own;
            self.vote = if n.vote.beats(&own) { n.vote } else { own };
            self.received.insert(self.me, self.vote);
            self.finalize_at = None;
            self.broadcast(now);
        } else if n.round < self.round {
            // A stale round: tell the sender where we are.
            self.reply(n.sender);
            return;
        } else if n.vote.beats(&self.vote) {
            self.vote = n.vote;
            self.received.insert(self.me, self.vote);
            self.finalize_at = None;
            self.broadcast(now);
        }
        self.received.insert(n.sender, n.vote);
        self.check_quorum(now);
    }

    fn check_quorum(&mut self, now: Instant) {
        if self.finalize_at.is_none() && self.quorum_agrees() {
            self.finalize_at = Some(now + self.timing.finalize_wait);
            if self.timing.finalize_wait.is_zero() {
                self.tick(now);
            }
        }
    }

    fn quorum_agrees(&self) -> bool {
        let agreeing = self
            .received
            .iter()
            .filter(|(_, v)| **v == self.vote)
            .map(|(s, _)| *s);
        self.voters.is_quorum(agreeing)
    }

    fn settled_vote(&mut self, n: Notification) {
        // Votes of members that already decided compare by leader and epoch only: their
        // zxids moved on since.
        let same = |a: &Vote, b: &Vote| a.leader == b.leader && a.peer_epoch == b.peer_epoch;
        self.outside.insert(n.sender, (n.vote, n.state, n.round));
        if n.round == self.round {
            self.received.insert(n.sender, n.vote);
            let agreeing = self
                .received
                .iter()
                .filter(|(_, v)| same(v, &n.vote))
                .map(|(s, _)| *s);
            if self.voters.is_quorum(agreeing) && self.check_leader(&n.vote, true) {
                self.decide(n.vote);
                return;
            }
        }
        let agreeing = self
            .outside
            .iter()
            .filter(|(_, (v, _, _))| same(v, &n.vote))
            .map(|(s, _)| *s);
        if self.voters.is_quorum(agreeing) && self.check_leader(&n.vote, false) {
            self.round = n.round;
            self.decide(n.vote);
        }
    }

    /// Apache's `checkLeader`: a leader other than us must have said itself that it
    /// leads; ourselves only within our own round.
    fn check_leader(&self, vote: &Vote, in_round: bool) -> bool {
        if vote.leader == self.me {
            return in_round;
        }
        self.outside
            .get(&vote.leader)
            .is_some_and(|(_, state, _)| *state == PeerState::Leading)
    }

    fn decide(&mut self, vote: Vote) {
        self.state = if vote.leader == self.me {
            PeerState::Leading
        } else {
            PeerState::Following
        };
        self.vote = vote;
        self.finalize_at = None;
        self.decided = Some(vote);
        tracing::info!(
            sid = self.me,
            leader = vote.leader,
            round = self.round,
            "election decided"
        );
    }
}

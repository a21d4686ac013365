//! The invariants, checked after every step of a simulated run (numbers refer to the
//! list in `zab-and-ensembles.md` §8):
//!
//! - (1) one leader per epoch; (2) durable epochs never go down, accepted ≥ current;
//! - (3) one txn per zxid, across every proposal sent and every log ever written;
//! - (4, 12) any two trees at the same zxid are identical (data, stats, sessions);
//! - (6) what a leader holds once established, and every txn it commits, is durable on a
//!   quorum of disks at that moment; everything a client saw acknowledged or read — and
//!   everything a serving member applied — is in the tree of every later leader;
//! - (7) no client sees a txn that is later lost (reads and acks of `/w` nodes and `/r`
//!   versions agree with the committed history: one value per `/r` version);
//! - (8) each client's replies never go back in zxid, across reconnects (in `client`);
//! - (11) every ephemeral's owner is a live session; sessions are in the tree digest.
//!
//! Plus, at the end of the calm phase: one established leader, every member serving the
//! same tree, every acknowledged node present, every client making progress (liveness).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use bytes::BytesMut;
use zk_proto::Encode;
use zk_server::tree::{DataTree, NodeKind};
use zk_server::txn::{Txn, TxnHeader};
use zk_server::zab::message::{QuorumMsg, Sid};

use super::world::World;

#[derive(Default)]
pub struct Checker {
    failure: Option<String>,
    leaders: BTreeMap<u32, Sid>,
    established: BTreeMap<usize, Option<u32>>,
    disk_epochs: BTreeMap<usize, (u32, u32)>,
    zxids: HashMap<i64, u64>,
    digests: HashMap<i64, u64>,
    checked_zxid: BTreeMap<usize, i64>,
    scanned_zxid: BTreeMap<usize, i64>,
    /// Per member, the highest durable log zxid already checked.
    disk_checked: BTreeMap<usize, i64>,
    /// `/w` nodes acknowledged, read, or seen in a serving member's tree.
    nodes: BTreeSet<String>,
    /// `/r` versions and their values.
    register: BTreeMap<i32, String>,
    pub steps: u64,
}

fn txn_hash(header: &TxnHeader, txn: &Txn) -> u64 {
    let mut buf = BytesMut::new();
    header.encode(&mut buf);
    txn.encode(&mut buf);
    let mut h = DefaultHasher::new();
    buf.hash(&mut h);
    h.finish()
}

impl Checker {
    pub fn fail(&mut self, why: String) {
        if self.failure.is_none() {
            self.failure = Some(why);
        }
    }

    pub fn epochs(&self) -> usize {
        self.leaders.len()
    }

    pub fn nodes_seen(&self) -> usize {
        self.nodes.len()
    }

    pub fn failed(&self) -> bool {
        self.failure.is_some()
    }

    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    pub fn on_send(&mut self, msg: &QuorumMsg) {
        if let QuorumMsg::Proposal { header, txn } = msg {
            self.zxid_is(header, txn, "proposal");
        }
    }

    fn zxid_is(&mut self, header: &TxnHeader, txn: &Txn, what: &str) {
        let h = txn_hash(header, txn);
        if let Some(&seen) = self.zxids.get(&header.zxid) {
            if seen != h {
                self.fail(format!(
                    "two different txns with zxid {:#x} ({what}): {txn:?}",
                    header.zxid
                ));
            }
        } else {
            self.zxids.insert(header.zxid, h);
        }
    }

    pub fn acked_node(&mut self, path: String, _zxid: i64) {
        self.nodes.insert(path);
    }

    pub fn register_version(&mut self, version: i32, value: &str, how: &str) {
        match self.register.get(&version) {
            Some(v) if v != value => self.fail(format!(
                "/r version {version} is {value:?} ({how}) but was {v:?} before: a lost or forked write"
            )),
            Some(_) => {}
            None => {
                self.register.insert(version, value.to_owned());
            }
        }
    }

    pub fn after_disk(&mut self, world: &World, i: usize) {
        let disk = &world.nodes[i].disk;
        let (accepted, current) = disk.epochs();
        if accepted < current {
            self.fail(format!(
                "member {}: acceptedEpoch {accepted} < currentEpoch {current}",
                i + 1
            ));
        }
        if let Some(&(a, c)) = self.disk_epochs.get(&i) {
            if accepted < a || current < c {
                self.fail(format!(
                    "member {}: durable epochs went back from ({a}, {c}) to ({accepted}, {current})",
                    i + 1
                ));
            }
        }
        self.disk_epochs.insert(i, (accepted, current));
        let checked = self.disk_checked.get(&i).copied().unwrap_or(0);
        let fresh: Vec<(TxnHeader, Txn)> = disk
            .durable_log()
            .iter()
            .filter(|(h, _)| h.zxid > checked)
            .cloned()
            .collect();
        for (h, t) in &fresh {
            self.zxid_is(h, t, "durable log");
        }
        if let Some((h, _)) = fresh.last() {
            self.disk_checked.insert(i, h.zxid);
        }
    }

    pub fn after_step(&mut self, world: &World, i: usize) {
        self.steps += 1;
        let Some(member) = world.nodes[i].member.as_ref() else {
            return;
        };
        let sid = member.sid();
        let established = member.established_epoch();
        if let Some(epoch) = established {
            match self.leaders.get(&epoch) {
                Some(&other) if other != sid => self.fail(format!(
                    "two leaders established epoch {epoch}: {other} and {sid}"
                )),
                _ => {
                    self.leaders.insert(epoch, sid);
                }
            }
            if self.established.get(&i).copied().flatten() != Some(epoch) {
                self.newly_established(member.core().tree(), sid, epoch);
            }
        }
        self.established.insert(i, established);
        let tree = member.core().tree();
        let zxid = tree.last_zxid();
        if established.is_some() && member.serving() && zxid > 0 {
            // What a leader holds once established, and everything it commits, must be
            // durable on a quorum of disks (leader log completeness).
            let holders = world.nodes.iter().filter(|n| n.disk.has(zxid)).count();
            if holders < world.nodes.len() / 2 + 1 {
                self.fail(format!(
                    "leader {sid} holds {zxid:#x} as committed, but only {holders} disks have it"
                ));
            }
        }
        if self.checked_zxid.get(&i) == Some(&zxid) {
            return;
        }
        self.checked_zxid.insert(i, zxid);
        let d = tree.digest();
        match self.digests.get(&zxid) {
            Some(&seen) if seen != d => self.fail(format!(
                "member {sid}: its tree at zxid {zxid:#x} differs from another member's"
            )),
            Some(_) => {}
            None => {
                self.digests.insert(zxid, d);
            }
        }
        // The full scans are sampled: every few dozen txns a member applies.
        let scanned = self.scanned_zxid.get(&i).copied().unwrap_or(0);
        if zxid.abs_diff(scanned) < 32 {
            return;
        }
        self.scanned_zxid.insert(i, zxid);
        for (path, node) in tree.iter() {
            if let NodeKind::Ephemeral(owner) = node.kind() {
                if !tree.sessions().contains_key(&owner) {
                    self.fail(format!(
                        "member {sid}: ephemeral {path} outlived session {owner:#x}"
                    ));
                }
            }
        }
        if member.serving() {
            // A serving member's tree holds committed txns only.
            if let Some(w) = tree.get("/w") {
                for child in w.children() {
                    self.nodes.insert(format!("/w/{child}"));
                }
            }
            if let Some(r) = tree.get("/r") {
                let value =
                    String::from_utf8_lossy(r.data.as_deref().unwrap_or_default()).into_owned();
                let version = r.stat.version;
                if version > 0 {
                    self.register_version(version, &value, "a serving member's tree");
                }
            }
        }
    }

    fn newly_established(&mut self, tree: &DataTree, sid: Sid, epoch: u32) {
        let missing: Vec<&String> = self
            .nodes
            .iter()
            .filter(|p| tree.get(p).is_none())
            .take(3)
            .collect();
        if !missing.is_empty() {
            self.fail(format!(
                "leader {sid} established epoch {epoch} without committed nodes {missing:?}"
            ));
        }
        let top = self.register.keys().next_back().copied().unwrap_or(0);
        let have = tree.get("/r").map_or(0, |n| n.stat.version);
        if have < top {
            self.fail(format!(
                "leader {sid} established epoch {epoch} with /r at version {have}, below committed {top}"
            ));
        }
    }

    /// Checks after the calm phase: the ensemble converged and kept everything.
    pub fn finish(&mut self, world: &World) {
        let members: Vec<_> = world
            .nodes
            .iter()
            .filter_map(|n| n.member.as_ref())
            .collect();
        if members.len() != world.nodes.len() {
            self.fail("a member is still down after the calm phase".into());
            return;
        }
        let leaders: Vec<Sid> = members
            .iter()
            .filter(|m| m.established_epoch().is_some())
            .map(|m| m.sid())
            .collect();
        if leaders.len() != 1 {
            self.fail(format!("after the calm phase the leaders are {leaders:?}"));
            return;
        }
        let serving: Vec<Sid> = members
            .iter()
            .filter(|m| !m.serving())
            .map(|m| m.sid())
            .collect();
        if !serving.is_empty() {
            self.fail(format!(
                "members {serving:?} are not serving after the calm phase"
            ));
            return;
        }
        let zxids: BTreeSet<i64> = members.iter().map(|m| m.last_zxid()).collect();
        if zxids.len() != 1 {
            self.fail(format!("members ended at different zxids {zxids:?}"));
            return;
        }
        for m in &members {
            let t = m.core().tree();
            for path in &self.nodes {
                if t.get(path).is_none() {
                    self.fail(format!(
                        "member {}: {path} was acknowledged or seen, then lost",
                        m.sid()
                    ));
                    return;
                }
            }
        }
        for c in &world.clients {
            if c.completed_calm == 0 {
                self.fail(format!(
                    "client {} made no progress after the faults ended ({})",
                    c.id,
                    c.describe()
                ));
                return;
            }
        }
    }
}

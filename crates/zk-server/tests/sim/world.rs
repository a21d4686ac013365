//! The simulated world: a virtual clock and one event queue; members (sans-IO
//! [`Member`]s), their disks ([`MemStorage`]), the network between them, and the clients.
//!
//! - **Quorum links** are TCP-like: FIFO and reliable while both ends live. A crashed
//!   process's links reset (the peer sees them close). Across a partition a link goes
//!   silent: what is sent waits (TCP retransmits) and arrives in order once the path
//!   heals — unless an end gave up on the link first, as members do after their
//!   timeouts.
//! - **Election notifications** are datagram-like: delayed at random (so reordered),
//!   sometimes dropped, sometimes duplicated.
//! - **Disks** run a member's jobs in order, each taking a random time. A crash keeps a
//!   random prefix of the jobs not yet reported done (written before the power went,
//!   never acknowledged) and loses the rest.
//!
//! Every random choice comes from one seeded RNG and events at the same instant run in
//! the order they were scheduled, so a seed replays exactly.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use zk_server::core::{CoreConfig, Now, Output};
use zk_server::storage::{self, MemStorage, Storage, StoreJob};
use zk_server::zab::election::ElectionTiming;
use zk_server::zab::member::{Action, Input, LinkId, Member, MemberConfig};
use zk_server::zab::message::{QuorumMsg, Sid};
use zk_server::zab::quorum::Voters;

use super::check::Checker;
use super::client::Client;

/// Settings of one simulated run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub members: usize,
    pub tick: Duration,
    /// How long faults are injected.
    pub chaos: Duration,
    /// How long the healed ensemble then has to converge.
    pub calm: Duration,
    pub clients: usize,
    /// Probability that an election notification is lost / duplicated.
    pub drop_election: f64,
    pub duplicate_election: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            members: 3,
            tick: Duration::from_millis(100),
            chaos: Duration::from_secs(12),
            calm: Duration::from_secs(8),
            clients: 3,
            drop_election: 0.05,
            duplicate_election: 0.03,
        }
    }
}

#[derive(Debug)]
pub enum Event {
    Tick(usize, u64),
    Input(usize, u64, Box<Input>),
    DiskDone(usize, u64, u64),
    Client(usize, super::client::ClientEvent),
    Fault,
    Restart(usize),
}

struct Scheduled {
    at: Duration,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// One member's process and disk.
pub struct Node {
    pub sid: Sid,
    pub member: Option<Member>,
    pub disk: MemStorage,
    /// Disk jobs issued and not yet done.
    pending: VecDeque<(u64, StoreJob)>,
    disk_free_at: Duration,
    /// Bumped at each crash: events for an older incarnation are dropped.
    pub incarnation: u64,
    tick_at: Option<Duration>,
    next_accept: LinkId,
}

/// A message waiting for a partition to heal: (to node, its incarnation, the input).
type Stalled = (usize, u64, Input);

/// Where a quorum link end leads.
#[derive(Debug, Clone, Copy)]
struct LinkEnd {
    node: usize,
    link: LinkId,
    incarnation: u64,
}

pub struct World {
    pub settings: Settings,
    pub rng: StdRng,
    start: Instant,
    pub now: Duration,
    wall0: i64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    pub nodes: Vec<Node>,
    links: BTreeMap<(usize, LinkId), LinkEnd>,
    /// Per direction (from node, link), when the last message arrives: keeps FIFO.
    link_clock: BTreeMap<(usize, LinkId), Duration>,
    /// Partition group of each node; nodes in different groups cannot talk.
    pub groups: Option<Vec<u8>>,
    /// Per sending link end, what waits for the partition to heal.
    stalled: BTreeMap<(usize, LinkId), VecDeque<Stalled>>,
    pub clients: Vec<Client>,
    /// (node, conn) → (client, connection generation).
    pub conns: BTreeMap<(usize, u64), (usize, u64)>,
    conn_clock: BTreeMap<(usize, u64), Duration>,
    next_conn: u64,
    pub checker: Checker,
    advertised_ok: Option<(usize, i64, u64, i64)>,
    /// (learner, epoch) → the leader's last logged zxid when it sent NEWLEADER.
    synced_history: BTreeMap<(usize, u32), i64>,
    pub trace: bool,
    pub chaos_over: bool,
    /// Clients stop issuing work (the end of the run settles).
    pub quiet: bool,
    pub max_down: usize,
}

fn latency(rng: &mut StdRng) -> Duration {
    Duration::from_micros(rng.gen_range(100..3_000))
}

impl World {
    pub fn new(seed: u64, settings: Settings) -> World {
        let mut rng = StdRng::seed_from_u64(seed);
        let members = settings.members;
        let nodes = (1..=members as u64)
            .map(|sid| Node {
                sid,
                member: None,
                disk: MemStorage::new(),
                pending: VecDeque::new(),
                disk_free_at: Duration::ZERO,
                incarnation: 0,
                tick_at: None,
                next_accept: 1,
            })
            .collect();
        let clients = (0..settings.clients).map(Client::new).collect();
        let wall0 = 1_700_000_000_000 + rng.gen_range(0..1_000_000);
        if std::env::var_os("ZK_SIM_TRACE").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("zk_server=info")
                .with_writer(std::io::stderr)
                .without_time()
                .try_init();
        }
        let mut world = World {
            settings,
            rng,
            start: Instant::now(),
            now: Duration::ZERO,
            wall0,
            queue: BinaryHeap::new(),
            seq: 0,
            nodes,
            links: BTreeMap::new(),
            link_clock: BTreeMap::new(),
            groups: None,
            stalled: BTreeMap::new(),
            clients,
            conns: BTreeMap::new(),
            conn_clock: BTreeMap::new(),
            next_conn: 1,
            checker: Checker::default(),
            advertised_ok: None,
            synced_history: BTreeMap::new(),
            trace: std::env::var_os("ZK_SIM_TRACE").is_some(),
            chaos_over: false,
            quiet: false,
            max_down: (members - 1) / 2,
        };
        for i in 0..members {
            world.start_member(i);
        }
        for c in 0..world.clients.len() {
            let at = Duration::from_millis(world.rng.gen_range(0..200));
            world.schedule(at, Event::Client(c, super::client::ClientEvent::Step));
        }
        world.schedule(Duration::from_millis(500), Event::Fault);
        world
    }

    pub fn now(&self) -> Now {
        Now {
            mono: self.start + self.now,
            wall_ms: self.wall0 + self.now.as_millis() as i64,
        }
    }

    pub fn schedule(&mut self, at: Duration, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            event,
        }));
    }

    pub fn config(&self, i: usize) -> MemberConfig {
        let tick = self.settings.tick;
        let core = CoreConfig {
            tick_time: tick,
            min_session_timeout: tick * 2,
            max_session_timeout: tick * 20,
            snap_count: 40,
            container_check_interval: Duration::from_secs(3600),
            ..CoreConfig::default()
        };
        MemberConfig {
            sid: self.nodes[i].sid,
            voters: Voters::new(self.nodes.iter().map(|n| n.sid)),
            init_limit: 10,
            sync_limit: 5,
            election: ElectionTiming {
                finalize_wait: tick / 2,
                min_notification_interval: tick,
                max_notification_interval: tick * 20,
            },
            history_kept: 30,
            core,
            seed: self.nodes[i].sid.wrapping_mul(7919) ^ self.seq,
        }
    }

    fn start_member(&mut self, i: usize) {
        let loaded = match self.nodes[i].disk.load() {
            Ok(l) => l,
            Err(e) => {
                self.checker
                    .fail(format!("member {} cannot load its disk: {e}", i + 1));
                return;
            }
        };
        let config = self.config(i);
        let member = Member::new(config, loaded, self.now());
        self.nodes[i].member = Some(member);
        self.nodes[i].tick_at = None;
        self.after_input(i);
    }

    pub fn reachable(&self, a: usize, b: usize) -> bool {
        match &self.groups {
            Some(g) => g[a] == g[b],
            None => true,
        }
    }

    /// A member advertises `zxid` as its history: its memory must be what its disk would
    /// replay (processConsistency; ZOOKEEPER-2845, 3642, 4882).
    fn check_advertised(&mut self, i: usize, zxid: i64, what: &str) {
        let Some(member) = &self.nodes[i].member else {
            return;
        };
        let tree = member.core().tree();
        let key = (
            i,
            tree.last_zxid(),
            tree.digest(),
            self.nodes[i].disk.last_zxid(),
        );
        if self.advertised_ok.as_ref() == Some(&key) {
            return;
        }
        let mut disk = self.nodes[i].disk.clone();
        let replayed = match disk.load() {
            Ok(l) => l.tree,
            Err(e) => {
                self.checker
                    .fail(format!("member {}: disk does not load: {e}", i + 1));
                return;
            }
        };
        if replayed.last_zxid() != zxid || replayed.digest() != tree.digest() {
            self.checker.fail(format!(
                "member {} advertises {zxid:#x} in {what}, but its disk replays to {:#x} (memory at {:#x})",
                i + 1,
                replayed.last_zxid(),
                tree.last_zxid()
            ));
        }
        self.advertised_ok = Some(key);
    }

    /// Member `i`'s disk just recorded `epoch` as current: the history its leader synced
    /// before NEWLEADER must already be there (ZOOKEEPER-4643: history, then epoch).
    fn check_epoch_after_history(&mut self, i: usize, epoch: u32) {
        let Some(&expected) = self.synced_history.get(&(i, epoch)) else {
            return;
        };
        let disk = &self.nodes[i].disk;
        if disk.last_zxid() < expected || (expected > 0 && !disk.has(expected)) {
            self.checker.fail(format!(
                "member {}: currentEpoch {epoch} is durable before the synced history up to {expected:#x} (disk at {:#x})",
                i + 1,
                disk.last_zxid()
            ));
        }
    }

    /// Whether every member is up at the same zxid.
    pub fn converged(&self) -> bool {
        let zxids: std::collections::BTreeSet<i64> = self
            .nodes
            .iter()
            .map(|n| n.member.as_ref().map_or(-1, |m| m.last_zxid()))
            .collect();
        zxids.len() == 1
    }

    /// Whether member `i` has disk jobs in flight.
    pub fn disk_busy(&self, i: usize) -> bool {
        !self.nodes[i].pending.is_empty()
    }

    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].member.is_some()
    }

    /// Runs until `until` (virtual time); false once an invariant failed.
    pub fn run_until(&mut self, until: Duration) -> bool {
        while let Some(Reverse(next)) = self.queue.peek() {
            if next.at > until || self.checker.failed() {
                break;
            }
            let Some(Reverse(s)) = self.queue.pop() else {
                break;
            };
            self.now = s.at;
            self.dispatch(s.event);
        }
        self.now = self.now.max(until);
        !self.checker.failed()
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Tick(i, inc) => {
                if self.nodes[i].incarnation != inc || self.nodes[i].tick_at != Some(self.now) {
                    return;
                }
                self.nodes[i].tick_at = None;
                self.deliver(i, Input::Tick);
            }
            Event::Input(i, inc, input) => {
                if self.nodes[i].incarnation == inc && self.is_up(i) {
                    self.deliver(i, *input);
                }
            }
            Event::DiskDone(i, inc, seq) => self.disk_done(i, inc, seq),
            Event::Client(c, e) => super::client::handle(self, c, e),
            Event::Fault => super::faults::inject(self),
            Event::Restart(i) => {
                if !self.is_up(i) {
                    if self.trace {
                        eprintln!("{:?} restart member {}", self.now, i + 1);
                    }
                    self.start_member(i);
                }
            }
        }
    }

    pub fn deliver(&mut self, i: usize, input: Input) {
        if self.trace {
            eprintln!("{:?} m{} <- {}", self.now, i + 1, describe(&input));
        }
        let now = self.now();
        let Some(member) = self.nodes[i].member.as_mut() else {
            return;
        };
        member.handle(input, now);
        self.after_input(i);
    }

    fn after_input(&mut self, i: usize) {
        loop {
            let action = match self.nodes[i].member.as_mut() {
                Some(m) => m.poll_action(),
                None => return,
            };
            let Some(action) = action else { break };
            self.act(i, action);
        }
        let inc = self.nodes[i].incarnation;
        if let Some(m) = &self.nodes[i].member {
            let deadline = m.next_deadline();
            let at = deadline
                .saturating_duration_since(self.start)
                .max(self.now + Duration::from_micros(50));
            if self.nodes[i].tick_at.is_none_or(|t| at < t) {
                self.nodes[i].tick_at = Some(at);
                self.schedule(at, Event::Tick(i, inc));
            }
        }
        let mut checker = std::mem::take(&mut self.checker);
        checker.after_step(self, i);
        self.checker = checker;
    }

    fn input_to(&mut self, i: usize, at: Duration, input: Input) {
        let inc = self.nodes[i].incarnation;
        self.schedule(at, Event::Input(i, inc, Box::new(input)));
    }

    fn act(&mut self, i: usize, action: Action) {
        let now = self.now;
        match action {
            Action::Elect(to, n) => {
                if n.vote.leader == self.nodes[i].sid
                    && n.state == zk_server::zab::message::PeerState::Looking
                {
                    self.check_advertised(i, n.vote.zxid, "its vote");
                }
                let Some(j) = self.index_of(to) else { return };
                if !self.reachable(i, j) || self.rng.gen_bool(self.settings.drop_election) {
                    return;
                }
                let at = now + latency(&mut self.rng) * 3;
                self.input_to(j, at, Input::Election(n));
                if self.rng.gen_bool(self.settings.duplicate_election) {
                    let later = at + latency(&mut self.rng) * 10;
                    self.input_to(j, later, Input::Election(n));
                }
            }
            Action::Connect(link, to) => {
                let Some(j) = self.index_of(to) else { return };
                if !self.is_up(j) || !self.reachable(i, j) {
                    // Refused, or a connect timeout when the path is cut.
                    let delay = if self.reachable(i, j) {
                        latency(&mut self.rng)
                    } else {
                        self.settings.tick * 3
                    };
                    self.input_to(i, now + delay, Input::LinkDown(link));
                    return;
                }
                let remote = self.nodes[j].next_accept;
                self.nodes[j].next_accept += 1;
                let (inc_i, inc_j) = (self.nodes[i].incarnation, self.nodes[j].incarnation);
                self.links.insert(
                    (i, link),
                    LinkEnd {
                        node: j,
                        link: remote,
                        incarnation: inc_j,
                    },
                );
                self.links.insert(
                    (j, remote),
                    LinkEnd {
                        node: i,
                        link,
                        incarnation: inc_i,
                    },
                );
                let l = latency(&mut self.rng);
                self.input_to(j, now + l, Input::Accepted(remote));
                self.link_clock.insert((j, remote), now + l * 2);
                self.link_clock.insert((i, link), now + l);
                self.input_to(i, now + l * 2, Input::LinkUp(link));
            }
            Action::Send(link, msg) => {
                self.checker.on_send(&msg);
                if let QuorumMsg::AckEpoch { last_zxid, .. } = &msg {
                    self.check_advertised(i, *last_zxid, "ACKEPOCH");
                }
                if let (QuorumMsg::NewLeader { zxid }, Some(end), Some(m)) =
                    (&msg, self.links.get(&(i, link)), &self.nodes[i].member)
                {
                    // Everything sent before NEWLEADER must be on the learner's disk before
                    // it records the epoch as its current one.
                    let epoch = zk_server::zab::message::epoch_of(*zxid);
                    self.synced_history
                        .insert((end.node, epoch), m.last_logged());
                }
                let Some(end) = self.links.get(&(i, link)).copied() else {
                    return;
                };
                self.link_send(i, link, end, Input::Quorum(end.link, msg));
            }
            Action::Close(link) => {
                if let Some(end) = self.links.remove(&(i, link)) {
                    self.links.remove(&(end.node, end.link));
                    self.link_send(i, link, end, Input::LinkDown(end.link));
                }
            }
            Action::Store(seq, job) => {
                // Most fsyncs are quick; some disks stall (a crash then finds much
                // written but not acknowledged).
                let took = match self.rng.gen_range(0..100) {
                    0..=79 => Duration::from_micros(self.rng.gen_range(50..2_000)),
                    80..=94 => Duration::from_millis(self.rng.gen_range(5..40)),
                    _ => Duration::from_millis(self.rng.gen_range(40..300)),
                };
                let at = self.nodes[i].disk_free_at.max(now) + took;
                self.nodes[i].disk_free_at = at;
                self.nodes[i].pending.push_back((seq, job));
                let inc = self.nodes[i].incarnation;
                self.schedule(at, Event::DiskDone(i, inc, seq));
            }
            Action::Client(Output::Send { conn, frame }) => {
                if let Some(&(c, gen)) = self.conns.get(&(i, conn)) {
                    let at = self.conn_fifo(i, conn);
                    self.schedule(
                        at,
                        Event::Client(c, super::client::ClientEvent::Frame(gen, frame)),
                    );
                }
            }
            Action::Client(Output::Close { conn }) => {
                if let Some((c, gen)) = self.conns.remove(&(i, conn)) {
                    let at = self.conn_fifo(i, conn);
                    self.schedule(
                        at,
                        Event::Client(c, super::client::ClientEvent::Closed(gen)),
                    );
                }
            }
            Action::Stopped(reason) => {
                self.checker
                    .fail(format!("member {} stopped: {reason}", i + 1));
            }
        }
    }

    /// Sends on a link end: now, or once a partition between the ends heals.
    fn link_send(&mut self, i: usize, link: LinkId, end: LinkEnd, input: Input) {
        if self.nodes[end.node].incarnation != end.incarnation {
            return;
        }
        let waiting = self.stalled.get(&(i, link)).is_some_and(|q| !q.is_empty());
        if waiting || !self.reachable(i, end.node) {
            self.stalled.entry((i, link)).or_default().push_back((
                end.node,
                end.incarnation,
                input,
            ));
            return;
        }
        let at = self.fifo_time(i, link);
        self.schedule(at, Event::Input(end.node, end.incarnation, Box::new(input)));
    }

    /// The partition is over: what waited on links is delivered, in order.
    pub fn heal(&mut self) {
        self.groups = None;
        let stalled = std::mem::take(&mut self.stalled);
        for ((i, link), queue) in stalled {
            if !self.is_up(i) {
                continue;
            }
            for (node, incarnation, input) in queue {
                let at = self.fifo_time(i, link);
                self.schedule(at, Event::Input(node, incarnation, Box::new(input)));
            }
        }
    }

    fn fifo_time(&mut self, i: usize, link: LinkId) -> Duration {
        let l = latency(&mut self.rng);
        let at = self
            .link_clock
            .get(&(i, link))
            .copied()
            .unwrap_or(self.now)
            .max(self.now + l);
        self.link_clock.insert((i, link), at);
        at
    }

    fn conn_fifo(&mut self, i: usize, conn: u64) -> Duration {
        let l = latency(&mut self.rng);
        let at = self
            .conn_clock
            .get(&(i, conn))
            .copied()
            .unwrap_or(self.now)
            .max(self.now + l);
        self.conn_clock.insert((i, conn), at);
        at
    }

    fn index_of(&self, sid: Sid) -> Option<usize> {
        self.nodes.iter().position(|n| n.sid == sid)
    }

    fn disk_done(&mut self, i: usize, inc: u64, seq: u64) {
        if self.nodes[i].incarnation != inc {
            return;
        }
        let Some((s, job)) = self.nodes[i].pending.pop_front() else {
            return;
        };
        if s != seq {
            self.checker
                .fail(format!("disk of member {} ran job {s} for {seq}", i + 1));
            return;
        }
        let loads = job.loads();
        let current = match &job {
            StoreJob::CurrentEpoch(e) => Some(*e),
            _ => None,
        };
        let result = storage::run(&mut self.nodes[i].disk, job);
        if let Some(epoch) = current {
            self.check_epoch_after_history(i, epoch);
        }
        let _ = Storage::sync(&mut self.nodes[i].disk);
        let mut checker = std::mem::take(&mut self.checker);
        checker.after_disk(self, i);
        self.checker = checker;
        let input = match result {
            Ok(Some(loaded)) => Input::Loaded(seq, Ok(Box::new(loaded))),
            Ok(None) => Input::Stored(seq),
            Err(e) if loads => Input::Loaded(seq, Err(e)),
            Err(e) => Input::StorageFailed(e.to_string()),
        };
        self.deliver(i, input);
    }

    /// A process crash: volatile state is gone, the disk keeps what it wrote.
    pub fn crash(&mut self, i: usize) {
        if self.trace {
            eprintln!("{:?} crash member {}", self.now, i + 1);
        }
        let node = &mut self.nodes[i];
        node.member = None;
        node.incarnation += 1;
        node.tick_at = None;
        // Jobs written before the power went but never reported: a random prefix.
        let pending: Vec<(u64, StoreJob)> = node.pending.drain(..).collect();
        let keep = self.rng.gen_range(0..=pending.len());
        for (_, job) in pending.into_iter().take(keep) {
            let current = match &job {
                StoreJob::CurrentEpoch(e) => Some(*e),
                _ => None,
            };
            let node = &mut self.nodes[i];
            let _ = storage::run(&mut node.disk, job);
            let _ = Storage::sync(&mut node.disk);
            if let Some(epoch) = current {
                self.check_epoch_after_history(i, epoch);
            }
        }
        let node = &mut self.nodes[i];
        node.disk.crash(0);
        node.disk_free_at = self.now;
        let mut checker = std::mem::take(&mut self.checker);
        checker.after_disk(self, i);
        self.checker = checker;
        // The kernel resets the dead process's connections.
        let ends: Vec<((usize, LinkId), LinkEnd)> = self
            .links
            .iter()
            .filter(|((n, _), _)| *n == i)
            .map(|(k, v)| (*k, *v))
            .collect();
        self.stalled.retain(|(n, _), _| *n != i);
        for ((_, link), end) in ends {
            self.links.remove(&(i, link));
            self.links.remove(&(end.node, end.link));
            if self.reachable(i, end.node) {
                let at = self.now + latency(&mut self.rng);
                self.schedule(
                    at,
                    Event::Input(
                        end.node,
                        end.incarnation,
                        Box::new(Input::LinkDown(end.link)),
                    ),
                );
            }
        }
        let conns: Vec<((usize, u64), (usize, u64))> = self
            .conns
            .iter()
            .filter(|((n, _), _)| *n == i)
            .map(|(k, v)| (*k, *v))
            .collect();
        for (key, (c, gen)) in conns {
            self.conns.remove(&key);
            let at = self.now + latency(&mut self.rng);
            self.schedule(
                at,
                Event::Client(c, super::client::ClientEvent::Closed(gen)),
            );
        }
    }

    /// A client opens a connection to member `i`: a fresh conn id, or `None` if refused.
    pub fn client_connect(&mut self, i: usize, client: usize, gen: u64, hello: Bytes) -> bool {
        if !self.is_up(i) {
            return false;
        }
        let conn = self.next_conn;
        self.next_conn += 1;
        self.conns.insert((i, conn), (client, gen));
        let addr: SocketAddr = format!("127.0.0.{}:{}", client + 10, 40000 + conn % 20000)
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 1)));
        let at = self.now + latency(&mut self.rng);
        self.input_to(i, at, Input::ClientAccept(conn, addr, Vec::new()));
        self.input_to(i, at, Input::ClientFrame(conn, hello));
        self.clients[client].conn = Some((i, conn));
        true
    }

    /// A client sends a frame (length prefix removed) on its connection.
    pub fn client_send(&mut self, i: usize, conn: u64, frame: Bytes) {
        let l = latency(&mut self.rng);
        let at = self
            .conn_clock
            .get(&(usize::MAX - i, conn))
            .copied()
            .unwrap_or(self.now)
            .max(self.now + l);
        self.conn_clock.insert((usize::MAX - i, conn), at);
        self.input_to(i, at, Input::ClientFrame(conn, frame));
    }

    /// A client closes its connection.
    pub fn client_close(&mut self, i: usize, conn: u64) {
        if self.conns.remove(&(i, conn)).is_some() {
            let at = self.now + latency(&mut self.rng);
            self.input_to(i, at, Input::ClientClosed(conn));
        }
    }
}

fn describe(input: &Input) -> String {
    match input {
        Input::Quorum(l, m) => match m {
            QuorumMsg::Proposal { header, .. } => {
                format!("link {l:#x} PROPOSAL {:#x}", header.zxid)
            }
            QuorumMsg::Commit { zxid } => format!("link {l:#x} COMMIT {zxid:#x}"),
            QuorumMsg::Ack { zxid } => format!("link {l:#x} ACK {zxid:#x}"),
            other => format!("link {l:#x} {}", other.name()),
        },
        Input::ClientFrame(c, f) => format!("client conn {c} frame {}B", f.len()),
        Input::Loaded(s, r) => format!("Loaded({s}, ok={})", r.is_ok()),
        other => format!("{other:?}").chars().take(160).collect(),
    }
}

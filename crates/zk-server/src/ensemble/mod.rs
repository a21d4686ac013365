//! The tokio shell of an ensemble member: the sockets between members, the task that
//! drives a [`crate::zab::member::Member`], and [`Ensemble`], an in-process ensemble for
//! tests.
//!
//! - [`transport`]: election connections (one-slot send queues, newest vote wins) and
//!   quorum links (framed, ordered, coalesced writes; a SNAP streamed in chunks off the
//!   member task). Bad bytes from a peer close that connection with a log line.
//! - `run` (private): the member task — every input, in order, into the member; every
//!   action out to the transport, the disk writer ([`crate::journal`]) or a client.
//! - [`harness`]: start N members on loopback, find the leader, kill, restart and isolate
//!   members.
//!
//! # Transport: plain TCP with our own framing, not gRPC
//! Measured (`cargo bench -p zk-server --bench peer_transport`, numbers in
//! `BENCHMARKS.md`): a leader streaming proposals and reading cumulative acks over one
//! framed TCP connection against the same exchange over a tonic bidirectional stream.
//! Framed TCP used about half the CPU per proposal (1.1–1.8 µs against 2.1–4.7 µs, both
//! ends counted, over several runs) and moved more proposals per second in all
//! but one run (best 1.4 M against 0.8 M). Besides, Zab needs exactly what a TCP
//! connection is (one ordered, reliable stream per learner whose loss ends the learner's
//! session), and a frame layout we own lets a snapshot be streamed in chunks and lets
//! writes be coalesced — which a request/response RPC layer would hide.

pub mod harness;
pub(crate) mod run;
pub mod transport;

use std::net::SocketAddr;
use std::time::Duration;

use crate::zab::election::ElectionTiming;
use crate::zab::message::Sid;

pub use harness::{Ensemble, EnsembleBuilder};

/// One `server.N` line: a voting member's id and addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// Its id (`N`, and its `myid`).
    pub sid: Sid,
    /// Host name or address of its quorum and election ports.
    pub host: String,
    /// Where learners connect to it when it leads.
    pub quorum_port: u16,
    /// Where other members send it election notifications.
    pub election_port: u16,
    /// Its client address, when the line gives one (`;[host:]port`).
    pub client: Option<SocketAddr>,
}

/// How one member is placed in its ensemble.
#[derive(Debug, Clone)]
pub struct EnsembleSpec {
    /// This member's id.
    pub sid: Sid,
    /// Every voting member, this one included.
    pub peers: Vec<PeerSpec>,
    /// `initLimit` in ticks.
    pub init_limit: u32,
    /// `syncLimit` in ticks.
    pub sync_limit: u32,
    /// Bind the quorum and election ports on every address (`quorumListenOnAllIPs`).
    pub listen_on_all_ips: bool,
    /// How long dialling a peer may take (`cnxTimeout`, default 5 s).
    pub connect_timeout: Duration,
    /// Election timings; `None` derives them from the tick (see [`EnsembleSpec::new`]).
    pub election: Option<ElectionTiming>,
    /// Txns kept in memory for DIFF syncs.
    pub history_kept: usize,
    /// TLS on the quorum and election ports (`sslQuorum`); `None`: plain TCP.
    pub quorum_tls: Option<crate::tls::QuorumTls>,
}

impl EnsembleSpec {
    /// A member `sid` of `peers`.
    pub fn new(sid: Sid, peers: Vec<PeerSpec>, init_limit: u32, sync_limit: u32) -> Self {
        Self {
            sid,
            peers,
            init_limit,
            sync_limit,
            listen_on_all_ips: false,
            connect_timeout: Duration::from_secs(5),
            election: None,
            history_kept: 10_000,
            quorum_tls: None,
        }
    }

    /// The election timings for a tick: Apache's 200 ms finalize wait and first re-send
    /// interval, but never more than a quarter of the tick, so that a short tick (tests,
    /// fast fail-over) gets a proportionally short election; re-sends back off to 60 s.
    pub fn election_timing(&self, tick: Duration) -> ElectionTiming {
        self.election.unwrap_or_else(|| {
            let short = (tick / 4).clamp(Duration::from_millis(10), Duration::from_millis(200));
            ElectionTiming {
                finalize_wait: short,
                min_notification_interval: short,
                max_notification_interval: Duration::from_secs(60),
            }
        })
    }

    /// This member's own line.
    pub fn me(&self) -> Option<&PeerSpec> {
        self.peers.iter().find(|p| p.sid == self.sid)
    }
}

//! Four-letter words: the plain-text admin commands a client may send instead of a
//! ConnectRequest (`echo ruok | nc host 2181`), with Apache's formats and allow-list.
//!
//! Owns the texts. The shell recognises a known word in the first four bytes of a new
//! connection, asks the core for the answer, writes it and closes.

use std::fmt::Write;

use crate::core::{Now, Role, ServerCore};

/// The version string reported by `srvr`, `stat`, `mntr` and `envi`.
pub const VERSION: &str = concat!(
    "3.8.0-zkmesh-",
    env!("CARGO_PKG_VERSION"),
    ", built on zkmesh"
);

/// Every word Apache knows.
pub const KNOWN: [&str; 18] = [
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srvr", "srst", "stat",
    "wchc", "wchp", "wchs", "mntr", "isro", "hash",
];

/// What four-letter words report of an ensemble member, kept current by the member.
#[derive(Debug, Clone, Default)]
pub struct QuorumStatus {
    /// This member's id.
    pub sid: u64,
    /// Apache's `zk_peer_state`: `leading - broadcast`, `following - synchronization`…
    pub peer_state: String,
    /// Number of voting members (`zk_quorum_size`).
    pub voters: usize,
    /// A leader's zxid before its first txn (`epoch << 32`); 0 otherwise.
    pub zxid_floor: i64,
    /// Leader-only figures.
    pub leader: Option<LeaderStatus>,
    /// `conf` lines of the ensemble: `initLimit=…` … `membership:` and `server.N=…`.
    pub conf: String,
}

/// Leader-only status.
#[derive(Debug, Clone, Default)]
pub struct LeaderStatus {
    /// Learners connected.
    pub learners: usize,
    /// Followers in sync (broadcasting).
    pub synced_followers: usize,
    /// Forwarded syncs waiting for a commit.
    pub pending_syncs: usize,
    /// Time since the epoch was established.
    pub uptime_ms: u128,
    /// Proposal sizes in bytes: last, smallest, largest (-1 before the first).
    pub proposal_sizes: (i64, i64, i64),
}

/// Whether the first four bytes of a connection are a four-letter word.
pub fn is_known(word: &[u8]) -> bool {
    KNOWN.iter().any(|k| k.as_bytes() == word)
}

impl ServerCore {
    /// The answer to four-letter `word`; the connection that asked is closed after it.
    pub fn four_letter(&mut self, word: &str, now: Now) -> String {
        let allowed = self
            .config
            .four_letter_words
            .iter()
            .any(|w| w == "*" || w == word);
        if !allowed {
            return format!("{word} is not executed because it is not in the whitelist.\n");
        }
        if self.role == Role::NotServing {
            // What Apache's member answers while electing or syncing (measured on 3.8.0).
            return match word {
                "ruok" => "imok".to_owned(),
                "isro" => "null".to_owned(),
                "envi" => self.envi(),
                "gtmk" => "0".to_owned(),
                "stmk" => String::new(),
                "hash" => "This ZooKeeper instance is not currently serving requests".to_owned(),
                _ => "This ZooKeeper instance is not currently serving requests\n".to_owned(),
            };
        }
        match word {
            "ruok" => "imok".to_owned(),
            "isro" => "rw".to_owned(),
            "srvr" => self.srvr(false),
            "stat" => self.srvr(true),
            "cons" => {
                let mut s = self.connection_lines();
                s.push('\n');
                s
            }
            "conf" => self.conf(),
            "mntr" => self.mntr(now),
            "wchs" => {
                let (conns, paths, watches) = self.watches.data_summary();
                format!("{conns} connections watching {paths} paths\nTotal watches:{watches}\n")
            }
            "wchc" => {
                let mut s = String::new();
                for (conn, paths) in self.watches.data_by_connection() {
                    let session = self.conns.get(&conn).and_then(|c| c.session()).unwrap_or(0);
                    let _ = writeln!(s, "0x{session:x}");
                    for p in paths {
                        let _ = writeln!(s, "\t{p}");
                    }
                }
                s
            }
            "wchp" => {
                let mut by_path: std::collections::BTreeMap<&String, Vec<i64>> = Default::default();
                for (conn, paths) in self.watches.data_by_connection() {
                    let session = self.conns.get(&conn).and_then(|c| c.session()).unwrap_or(0);
                    for p in paths {
                        by_path.entry(p).or_default().push(session);
                    }
                }
                let mut s = String::new();
                for (p, sessions) in by_path {
                    let _ = writeln!(s, "{p}");
                    for id in sessions {
                        let _ = writeln!(s, "\t0x{id:x}");
                    }
                }
                s
            }
            "dump" => {
                let mut s = String::from("SessionTracker dump:\n");
                let _ = writeln!(s, "Session Sets ({}):", self.tracker.len());
                s.push_str("ephemeral nodes dump:\n");
                let _ = writeln!(
                    s,
                    "Sessions with Ephemerals ({}):",
                    self.tree().all_ephemerals().len()
                );
                for (id, paths) in self.tree().all_ephemerals() {
                    let _ = writeln!(s, "0x{id:x}:");
                    for p in paths {
                        let _ = writeln!(s, "\t{p}");
                    }
                }
                s
            }
            "envi" => self.envi(),
            "dirs" => "datadir_size: 0\nlogdir_size: 0\n".to_owned(),
            "crst" => {
                for c in self.conns.values_mut() {
                    c.stats.received = 0;
                    c.stats.sent = 0;
                    c.stats.latency = Default::default();
                }
                "Connection stats reset.\n".to_owned()
            }
            "srst" => {
                self.stats.packets_received = 0;
                self.stats.packets_sent = 0;
                self.stats.latency = Default::default();
                "Server stats reset.\n".to_owned()
            }
            _ => format!("{word} is not supported by this server.\n"),
        }
    }

    fn envi(&self) -> String {
        format!(
            "Environment:\nzookeeper.version={VERSION}\nhost.name=localhost\nos.name={}\nos.arch={}\n",
            std::env::consts::OS,
            std::env::consts::ARCH
        )
    }

    /// Apache's `Mode:`: standalone, leader or follower.
    fn mode(&self) -> &'static str {
        match self.role {
            Role::Leader => "leader",
            Role::Follower => "follower",
            _ => "standalone",
        }
    }

    fn connection_lines(&self) -> String {
        let mut s = String::new();
        let mut conns: Vec<_> = self.conns.iter().collect();
        conns.sort_by_key(|(id, _)| **id);
        for (_, c) in conns {
            let _ = write!(
                s,
                " /{}[1](queued=0,recved={},sent={}",
                c.remote, c.stats.received, c.stats.sent
            );
            if let Some(session) = c.session() {
                let timeout = self.tracker.timeout(session).map_or(0, |t| t.as_millis());
                let _ = write!(
                    s,
                    ",sid=0x{session:x},lop={},est={},to={timeout},lcxid=0x{:x},lzxid=0x{:x},lresp=0,llat={},minlat={},avglat={},maxlat={}",
                    if c.stats.last_op.is_empty() { "NA" } else { c.stats.last_op },
                    c.stats.established_ms,
                    c.stats.last_cxid,
                    c.stats.last_zxid,
                    c.stats.latency.last(),
                    c.stats.latency.min(),
                    c.stats.latency.avg().round() as u64,
                    c.stats.latency.max()
                );
            }
            s.push_str(")\n");
        }
        s
    }

    fn srvr(&self, with_clients: bool) -> String {
        let mut s = format!("Zookeeper version: {VERSION}\n");
        if with_clients {
            s.push_str("Clients:\n");
            s.push_str(&self.connection_lines());
            s.push('\n');
        }
        let st = self.stats();
        let _ = write!(
            s,
            "Latency min/avg/max: {}/{}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{:x}\nMode: {}\nNode count: {}\n",
            st.latency.min(),
            st.latency.avg_text(),
            st.latency.max(),
            st.packets_received,
            st.packets_sent,
            self.connection_count(),
            self.outstanding_requests(),
            self.last_zxid(),
            self.mode(),
            self.tree().node_count()
        );
        if let Some(l) = self.quorum.as_ref().and_then(|q| q.leader.as_ref()) {
            let (last, min, max) = l.proposal_sizes;
            let _ = writeln!(s, "Proposal sizes last/min/max: {last}/{min}/{max}");
        }
        s
    }

    fn conf(&self) -> String {
        let c = &self.config;
        let mut s = format!(
            "clientPort=0\nsecureClientPort=-1\ndataDir=\ndataDirSize=0\ndataLogDir=\ndataLogSize=0\ntickTime={}\nmaxClientCnxns=0\nminSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog=-1\nserverId={}\n",
            c.tick_time.as_millis(),
            c.min_session_timeout.as_millis(),
            c.max_session_timeout.as_millis(),
            c.server_id
        );
        if let Some(q) = &self.quorum {
            s.push_str(&q.conf);
        }
        s
    }

    fn mntr(&self, now: Now) -> String {
        let st = self.stats();
        let tree = self.tree();
        let mut s = String::new();
        let mut kv = |k: &str, v: String| {
            let _ = writeln!(s, "{k}\t{v}");
        };
        kv("zk_version", VERSION.to_owned());
        kv("zk_server_state", self.mode().to_owned());
        if let Some(q) = &self.quorum {
            kv("zk_peer_state", q.peer_state.clone());
        }
        kv("zk_ephemerals_count", tree.ephemeral_count().to_string());
        kv(
            "zk_num_alive_connections",
            self.connection_count().to_string(),
        );
        kv("zk_avg_latency", st.latency.avg_text());
        kv(
            "zk_outstanding_requests",
            self.outstanding_requests().to_string(),
        );
        kv("zk_znode_count", tree.node_count().to_string());
        kv("zk_global_sessions", tree.sessions().len().to_string());
        kv("zk_packets_sent", st.packets_sent.to_string());
        kv("zk_packets_received", st.packets_received.to_string());
        kv("zk_watch_count", self.watch_count().to_string());
        kv("zk_auth_failed_count", "0".to_owned());
        kv("zk_min_latency", st.latency.min().to_string());
        kv("zk_max_latency", st.latency.max().to_string());
        kv(
            "zk_approximate_data_size",
            tree.approximate_data_size().to_string(),
        );
        kv("zk_local_sessions", "0".to_owned());
        kv(
            "zk_uptime",
            now.mono
                .saturating_duration_since(self.started)
                .as_millis()
                .to_string(),
        );
        kv("zk_sessions_expired", st.sessions_expired.to_string());
        kv("zk_bad_input", st.bad_input.to_string());
        if let Some(q) = &self.quorum {
            kv("zk_quorum_size", q.voters.to_string());
            if let Some(l) = &q.leader {
                let (last, min, max) = l.proposal_sizes;
                kv("zk_learners", l.learners.to_string());
                kv("zk_synced_followers", l.synced_followers.to_string());
                kv("zk_synced_non_voting_followers", "0".to_owned());
                kv("zk_synced_observers", "0".to_owned());
                kv("zk_pending_syncs", l.pending_syncs.to_string());
                kv("zk_leader_uptime", l.uptime_ms.to_string());
                kv("zk_last_proposal_size", last.to_string());
                kv("zk_min_proposal_size", min.to_string());
                kv("zk_max_proposal_size", max.to_string());
            }
        }
        s
    }
}

//! The ensemble's addresses from a connect string, visited in a shuffled order, with an
//! exponential back-off (with jitter) once every host has been tried.
//!
//! Owns parsing `h1:2181,h2:2181/chroot` and choosing where and when to connect next, and
//! which server to probe for writes while connected read-only. Does no I/O.

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;

use crate::error::{Error, Result};

/// Default client port.
pub const DEFAULT_PORT: u16 = 2181;

/// A parsed connect string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectString {
    /// `(host, port)` pairs in the order given.
    pub hosts: Vec<(String, u16)>,
    /// The chroot suffix, if any (e.g. `/app`).
    pub chroot: Option<String>,
}

impl ConnectString {
    /// Parses `host[:port][,host[:port]…][/chroot]`. IPv6 hosts go in brackets:
    /// `[::1]:2181`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::InvalidArgument(format!("connect string {s:?}: {why}"));
        let (hosts_part, chroot) = match s.find('/') {
            Some(i) => (&s[..i], Some(s[i..].to_owned())),
            None => (s, None),
        };
        let mut hosts = Vec::new();
        for item in hosts_part
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
        {
            let (host, port) = if let Some(rest) = item.strip_prefix('[') {
                let end = rest.find(']').ok_or_else(|| bad("unclosed '['"))?;
                let port = match rest[end + 1..].strip_prefix(':') {
                    Some(p) => p.parse().map_err(|_| bad("invalid port"))?,
                    None if rest[end + 1..].is_empty() => DEFAULT_PORT,
                    None => return Err(bad("junk after ']'")),
                };
                (rest[..end].to_owned(), port)
            } else {
                match item.rsplit_once(':') {
                    Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad("invalid port"))?),
                    None => (item.to_owned(), DEFAULT_PORT),
                }
            };
            if host.is_empty() {
                return Err(bad("empty host"));
            }
            hosts.push((host, port));
        }
        if hosts.is_empty() {
            return Err(bad("no hosts"));
        }
        Ok(Self { hosts, chroot })
    }
}

/// Picks the next host to try and how long to wait before trying it.
#[derive(Debug)]
pub struct HostPicker {
    hosts: Vec<(String, u16)>,
    next: usize,
    /// Where the next probe for a read-write server goes (its own rotation).
    next_probe: usize,
    /// A server to connect to next, ahead of the rotation (a read-write server found by a
    /// probe).
    preferred: Option<(String, u16)>,
    failures_in_row: u32,
    min_backoff: Duration,
    max_backoff: Duration,
}

impl HostPicker {
    /// A picker over `hosts`, shuffled so clients spread over the ensemble.
    pub fn new(
        mut hosts: Vec<(String, u16)>,
        min_backoff: Duration,
        max_backoff: Duration,
    ) -> Self {
        hosts.shuffle(&mut rand::thread_rng());
        Self {
            hosts,
            next: 0,
            next_probe: 0,
            preferred: None,
            failures_in_row: 0,
            min_backoff,
            max_backoff,
        }
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether there are no hosts (never true for a parsed connect string).
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// The next host, and the delay to wait before connecting to it: none while hosts of
    /// the current round are untried, then an exponentially growing, jittered delay once a
    /// whole round has failed.
    ///
    /// A server given to [`HostPicker::prefer`] comes first, without delay.
    pub fn next_attempt(&mut self) -> ((String, u16), Duration) {
        if let Some(host) = self.preferred.take() {
            return (host, Duration::ZERO);
        }
        let host = self.hosts[self.next % self.hosts.len()].clone();
        self.next = (self.next + 1) % self.hosts.len();
        let rounds = self.failures_in_row / self.hosts.len() as u32;
        let delay =
            if self.failures_in_row == 0 || self.failures_in_row % self.hosts.len() as u32 != 0 {
                Duration::ZERO
            } else {
                let base = self
                    .min_backoff
                    .saturating_mul(1u32 << rounds.min(16))
                    .min(self.max_backoff);
                // Jitter in [0.5, 1.5) so a crowd of clients does not reconnect in step.
                base.mul_f64(rand::thread_rng().gen_range(0.5..1.5))
            };
        (host, delay)
    }

    /// Connect to `host` next (a read-write server a probe found), ahead of the rotation.
    pub fn prefer(&mut self, host: (String, u16)) {
        self.preferred = Some(host);
    }

    /// The next server to ask whether it serves writes: the hosts in turn, `current` (the
    /// read-only server connected now) skipped; `None` when there is no other host.
    pub fn next_probe(&mut self, current: &(String, u16)) -> Option<(String, u16)> {
        for _ in 0..self.hosts.len() {
            let host = &self.hosts[self.next_probe % self.hosts.len()];
            self.next_probe = (self.next_probe + 1) % self.hosts.len();
            if host != current {
                return Some(host.clone());
            }
        }
        None
    }

    /// Records that the last attempt failed (connect error or lost before the handshake).
    pub fn failed(&mut self) {
        self.failures_in_row = self.failures_in_row.saturating_add(1);
    }

    /// Records a successful session establishment.
    pub fn connected(&mut self) {
        self.failures_in_row = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_ports_and_chroot() {
        let cs = ConnectString::parse("a:1,b,[::1]:3,[::2]/app/x").unwrap();
        assert_eq!(
            cs.hosts,
            vec![
                ("a".into(), 1),
                ("b".into(), 2181),
                ("::1".into(), 3),
                ("::2".into(), 2181)
            ]
        );
        assert_eq!(cs.chroot.as_deref(), Some("/app/x"));
        assert!(ConnectString::parse("").is_err());
        assert!(ConnectString::parse("a:notaport").is_err());
        assert!(ConnectString::parse("/chroot-only").is_err());
    }

    #[test]
    fn backs_off_only_after_a_full_round_fails() {
        let hosts = vec![("a".into(), 1), ("b".into(), 2)];
        let mut p = HostPicker::new(hosts, Duration::from_millis(100), Duration::from_secs(2));
        assert_eq!(p.next_attempt().1, Duration::ZERO);
        p.failed();
        assert_eq!(p.next_attempt().1, Duration::ZERO);
        p.failed();
        let d = p.next_attempt().1;
        assert!(
            d >= Duration::from_millis(100) && d < Duration::from_millis(300),
            "{d:?}"
        );
        for _ in 0..40 {
            p.failed();
        }
        p.failed();
        p.failed();
        assert!(p.next_attempt().1 <= Duration::from_secs(3));
        p.connected();
        assert_eq!(p.next_attempt().1, Duration::ZERO);
    }

    #[test]
    fn probes_visit_every_other_host_and_a_found_one_is_connected_to_next() {
        let hosts: Vec<(String, u16)> = vec![("a".into(), 1), ("b".into(), 2), ("c".into(), 3)];
        let mut p = HostPicker::new(hosts, Duration::from_millis(100), Duration::from_secs(2));
        let current = ("b".to_owned(), 2);
        let mut probed: Vec<_> = (0..4).map(|_| p.next_probe(&current).unwrap()).collect();
        assert!(!probed.contains(&current));
        assert_eq!(probed[0], probed[2], "a rotation over the two others");
        probed.truncate(2);
        probed.sort();
        assert_eq!(probed, [("a".to_owned(), 1), ("c".to_owned(), 3)]);

        // Even after a failed round, the found server is next and without delay.
        for _ in 0..3 {
            p.next_attempt();
            p.failed();
        }
        p.prefer(("c".into(), 3));
        assert_eq!(p.next_attempt(), (("c".to_owned(), 3), Duration::ZERO));
        assert_ne!(
            p.next_attempt().1,
            Duration::ZERO,
            "then the rotation resumes"
        );
    }

    #[test]
    fn a_single_host_has_nothing_to_probe() {
        let mut p = HostPicker::new(vec![("a".into(), 1)], Duration::ZERO, Duration::ZERO);
        assert_eq!(p.next_probe(&("a".to_owned(), 1)), None);
    }
}

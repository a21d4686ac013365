//! Request latency as the four-letter words report it (`srvr`/`stat` "Latency
//! min/avg/max", `mntr`'s `zk_*_latency`, `cons`' per-connection `minlat`…): whole
//! milliseconds from a request's arrival to its reply, as Apache counts them.
//!
//! Owns the arithmetic only; the core notes arrivals and replies.

use std::collections::VecDeque;
use std::time::Instant;

/// Smallest, largest and total latency over a count of replies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    min: u64,
    max: u64,
    total: u64,
    count: u64,
    /// The last one recorded.
    last: u64,
}

impl Latency {
    /// Adds one reply that took `ms`.
    pub fn record(&mut self, ms: u64) {
        self.min = if self.count == 0 {
            ms
        } else {
            self.min.min(ms)
        };
        self.max = self.max.max(ms);
        self.total = self.total.saturating_add(ms);
        self.count += 1;
        self.last = ms;
    }

    /// The smallest (0 before the first reply, as Apache).
    pub fn min(&self) -> u64 {
        self.min
    }

    /// The largest.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The last one.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The mean (0 before the first reply).
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total as f64 / self.count as f64
        }
    }

    /// The mean as Java prints a double (`0.0`, `0.25`), as Apache's `srvr` shows it.
    pub fn avg_text(&self) -> String {
        let avg = self.avg();
        if avg.fract() == 0.0 {
            format!("{avg:.1}")
        } else {
            format!("{avg}")
        }
    }
}

/// The requests a connection has received and not yet answered, oldest first, with when
/// each arrived: replies come in request order, so the reply to `xid` settles its entry
/// (and any older one that was answered some other way).
#[derive(Debug, Clone, Default)]
pub struct Arrivals {
    pending: VecDeque<(i32, Instant)>,
}

impl Arrivals {
    /// A request `xid` arrived at `at`.
    pub fn arrived(&mut self, xid: i32, at: Instant) {
        self.pending.push_back((xid, at));
    }

    /// The reply to `xid` goes out at `now`: how long it took, if `xid` was waiting.
    pub fn answered(&mut self, xid: i32, now: Instant) -> Option<u64> {
        let at = self.pending.iter().position(|(x, _)| *x == xid)?;
        let (_, since) = self.pending.drain(..=at).next_back()?;
        Some(now.saturating_duration_since(since).as_millis() as u64)
    }

    /// Requests waiting for a reply.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn latency_keeps_min_avg_max_and_prints_the_mean_as_java() {
        let mut l = Latency::default();
        assert_eq!((l.min(), l.avg_text(), l.max()), (0, "0.0".to_owned(), 0));
        l.record(3);
        l.record(1);
        l.record(4);
        l.record(0);
        assert_eq!((l.min(), l.max(), l.last()), (0, 4, 0));
        assert_eq!(l.avg_text(), "2.0");
        l.record(1);
        assert_eq!(l.avg_text(), "1.8");
    }

    #[test]
    fn a_reply_settles_its_request_and_older_unanswered_ones() {
        let t0 = Instant::now();
        let mut a = Arrivals::default();
        a.arrived(1, t0);
        a.arrived(2, t0);
        a.arrived(3, t0 + Duration::from_millis(5));
        assert_eq!(a.answered(2, t0 + Duration::from_millis(7)), Some(7));
        assert_eq!(a.len(), 1);
        // A reply to something never seen (a notification's xid) changes nothing.
        assert_eq!(a.answered(-1, t0), None);
        assert_eq!(a.answered(3, t0 + Duration::from_millis(6)), Some(1));
        assert!(a.is_empty());
    }

    /// The core times a durable write from its arrival to its fsync, and counts it as
    /// outstanding until then; `srvr` and `mntr` report both.
    #[test]
    fn srvr_reports_a_durable_writes_latency_and_outstanding_requests() {
        use crate::core::{CoreConfig, Now, ServerCore};
        use crate::tree::DataTree;
        use bytes::{Bytes, BytesMut};
        use zk_proto::{
            ops::CreateRequest, Acl, ConnectRequest, CreateMode, Encode, Request, RequestHeader,
        };

        let t0 = Instant::now();
        let at = |ms: u64| Now {
            mono: t0 + Duration::from_millis(ms),
            wall_ms: ms as i64,
        };
        let config = CoreConfig {
            durable: true,
            four_letter_words: vec!["*".into()],
            ..CoreConfig::default()
        };
        let mut core = ServerCore::new(config, DataTree::default(), at(0));
        let fsync_all = |core: &mut ServerCore, ms: u64| {
            while let Some((_, _, last)) = core.take_records() {
                core.durable(last, at(ms));
            }
        };
        core.accept(
            1,
            "127.0.0.1:5000".parse().expect("address"),
            Vec::new(),
            at(0),
        );
        let mut hello = BytesMut::new();
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout: 30_000,
            session_id: 0,
            password: vec![0; 16],
            read_only: Some(false),
        }
        .encode(&mut hello);
        core.receive(1, hello.freeze(), at(0));
        fsync_all(&mut core, 0);

        let create = Request::Create(CreateRequest {
            path: "/a".into(),
            data: Some(Bytes::from_static(b"x")),
            acl: Acl::open_unsafe(),
            flags: CreateMode::Persistent.flags(),
        });
        let mut frame = BytesMut::new();
        RequestHeader {
            xid: 1,
            opcode: create.opcode().code(),
        }
        .encode(&mut frame);
        create.encode_body(&mut frame);
        core.receive(1, frame.freeze(), at(10));
        let waiting = core.four_letter("srvr", at(12));
        assert!(waiting.contains("Outstanding: 1\n"), "{waiting}");

        fsync_all(&mut core, 17);
        let srvr = core.four_letter("srvr", at(20));
        assert!(srvr.contains("Latency min/avg/max: 7/7.0/7\n"), "{srvr}");
        assert!(srvr.contains("Outstanding: 0\n"), "{srvr}");
        let mntr = core.four_letter("mntr", at(20));
        assert!(mntr.contains("zk_max_latency\t7\n"), "{mntr}");
        assert!(core.four_letter("srst", at(21)).contains("reset"));
        assert!(core
            .four_letter("srvr", at(22))
            .contains("Latency min/avg/max: 0/0.0/0\n"));
    }
}

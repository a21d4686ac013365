//! Quota bookkeeping, as Apache ZooKeeper 3.8 keeps it: a path `/p` has a quota when
//! `/zookeeper/quota/p/zookeeper_limits` exists (clients such as zkCli's `setquota` write
//! it), and the server keeps `/zookeeper/quota/p/zookeeper_stats` equal to the number of
//! nodes and data bytes in the subtree of `/p`, updating its data (never its stat) on
//! every create, delete and setData below `/p`.
//!
//! Owns the set of quota'd paths and the stats text format. It does not apply txns (that
//! is `tree`), and, like Apache with its default `enforceQuota=false`, it never refuses a
//! write: exceeding a limit is only logged.

use std::collections::BTreeSet;

/// Where quota nodes live.
pub const QUOTA_ROOT: &str = "/zookeeper/quota";
/// The child holding a quota's limits.
pub const LIMIT_NODE: &str = "zookeeper_limits";
/// The child holding a quota's current counts.
pub const STAT_NODE: &str = "zookeeper_stats";

/// The quota'd path a node under `QUOTA_ROOT` belongs to: `/zookeeper/quota/a/b` → `/a/b`.
pub fn trim_quota_path(quota_node_parent: &str) -> Option<&str> {
    let rest = quota_node_parent.strip_prefix(QUOTA_ROOT)?;
    rest.starts_with('/').then_some(rest)
}

/// The stats node of quota'd path `path`.
pub fn stat_path(path: &str) -> String {
    format!("{QUOTA_ROOT}{path}/{STAT_NODE}")
}

/// The paths that have a quota.
#[derive(Debug, Default, Clone)]
pub struct QuotaPaths(BTreeSet<String>);

impl QuotaPaths {
    /// `path` got a limits node.
    pub fn add(&mut self, path: &str) {
        self.0.insert(path.to_owned());
    }

    /// `path` lost its limits node.
    pub fn remove(&mut self, path: &str) {
        self.0.remove(path);
    }

    /// Whether no path has a quota (the common case: one check per write).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The deepest quota'd path that is `path` or one of its ancestors, component-wise; a
    /// quota on `/` counts for nothing, as in Apache.
    pub fn max_prefix(&self, path: &str) -> Option<&str> {
        if self.0.is_empty() {
            return None;
        }
        let mut candidate = path;
        loop {
            if candidate == "/" || candidate.is_empty() {
                return None;
            }
            if let Some(p) = self.0.get(candidate) {
                return Some(p.as_str());
            }
            candidate = zk_proto::path::parent(candidate)?;
        }
    }
}

/// The `key=value` pairs of a stats or limits node (`count=3,bytes=7`, or the 3.8 form
/// with hard limits `count=3,bytes=-1=;byteHardLimit=-1;countHardLimit=-1`), in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsTrack {
    count: i64,
    bytes: i64,
    /// Other keys, sorted, kept as they were.
    extra: Vec<(String, i64)>,
}

impl StatsTrack {
    /// A track of `count` nodes and `bytes` bytes.
    pub fn new(count: i64, bytes: i64) -> Self {
        Self {
            count,
            bytes,
            extra: Vec::new(),
        }
    }

    /// Parses node data; unreadable pairs are skipped (count and bytes default to −1, as
    /// Apache's `StatsTrack` reports a missing key).
    pub fn parse(data: &[u8]) -> Self {
        let text = String::from_utf8_lossy(data);
        let mut track = StatsTrack::new(-1, -1);
        for pair in text.split([',', ';']).filter(|p| !p.is_empty()) {
            let mut kv = pair.split('=').filter(|s| !s.is_empty());
            let (Some(key), Some(value)) = (kv.next(), kv.next()) else {
                continue;
            };
            let Ok(value) = value.trim().parse::<i64>() else {
                continue;
            };
            match key.trim() {
                "count" => track.count = value,
                "bytes" => track.bytes = value,
                other => track.extra.push((other.to_owned(), value)),
            }
        }
        track.extra.sort();
        track
    }

    /// Adds to the counts (saturating: the stats node holds whatever a client wrote).
    pub fn add(&mut self, count: i64, bytes: i64) {
        self.count = self.count.saturating_add(count);
        self.bytes = self.bytes.saturating_add(bytes);
    }

    /// The text Apache writes: `count=N,bytes=M`, then `=;key=value…` for other keys.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!("count={},bytes={}", self.count, self.bytes);
        if !self.extra.is_empty() {
            s.push('=');
            for (k, v) in &self.extra {
                s.push_str(&format!(";{k}={v}"));
            }
        }
        s.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deepest_quota_ancestor_counts() {
        let mut q = QuotaPaths::default();
        q.add("/a");
        q.add("/a/b");
        assert_eq!(q.max_prefix("/a/b/c"), Some("/a/b"));
        assert_eq!(q.max_prefix("/a/bc"), Some("/a"));
        assert_eq!(q.max_prefix("/a"), Some("/a"));
        assert_eq!(q.max_prefix("/x"), None);
        q.add("/");
        assert_eq!(q.max_prefix("/x"), None, "a quota on / counts for nothing");
    }

    #[test]
    fn stats_text_round_trips_in_apaches_format() {
        let mut t = StatsTrack::parse(b"count=0,bytes=0");
        t.add(3, 7);
        assert_eq!(t.to_bytes(), b"count=3,bytes=7");
        let limits = StatsTrack::parse(b"count=3,bytes=-1=;byteHardLimit=-1;countHardLimit=-1");
        assert_eq!(
            limits.to_bytes(),
            b"count=3,bytes=-1=;byteHardLimit=-1;countHardLimit=-1"
        );
        assert_eq!(
            StatsTrack::parse(b"garbage").to_bytes(),
            b"count=-1,bytes=-1"
        );
        // Hostile values written by a client neither panic nor wrap; unreadable ones are
        // treated as missing (-1).
        let mut huge = StatsTrack::parse(b"count=9223372036854775807,bytes=\xff\xfe");
        huge.add(1, 1);
        assert_eq!(huge.to_bytes(), b"count=9223372036854775807,bytes=0");
    }

    #[test]
    fn quota_nodes_map_back_to_their_path() {
        assert_eq!(trim_quota_path("/zookeeper/quota/q"), Some("/q"));
        assert_eq!(trim_quota_path("/zookeeper/quota"), None);
        assert_eq!(trim_quota_path("/zookeeper/quotax/q"), None);
        assert_eq!(stat_path("/q"), "/zookeeper/quota/q/zookeeper_stats");
    }
}

//! The tree digest: a 64-bit fingerprint of every node (path, data, stat, ACL) and every
//! session, kept up to date as txns apply (Apache 3.6+'s `DataTree` digest does the
//! same job). Two trees at the same zxid must have the same digest; members compare
//! theirs to catch a divergence, and the simulation checks it after every step.
//!
//! The digest is a wrapping sum of per-item hashes, so an item can be taken out and put
//! back in O(1) whatever the order. The hash is fast, not cryptographic: it detects
//! accidents, not adversaries.

use zk_proto::Acl;

use crate::tree::Node;

const K: u64 = 0x517c_c1b7_2722_0a95;

fn mix(h: u64, v: u64) -> u64 {
    (h.rotate_left(5) ^ v).wrapping_mul(K)
}

fn bytes(mut h: u64, b: &[u8]) -> u64 {
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = mix(h, u64::from_le_bytes(w));
    }
    let rest = chunks.remainder();
    let mut w = [0u8; 8];
    w[..rest.len()].copy_from_slice(rest);
    mix(mix(h, u64::from_le_bytes(w)), b.len() as u64)
}

/// A final avalanche (murmur3's), so that sums of hashes do not cancel by accident.
fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The hash of one node at `path`.
pub fn node(path: &str, node: &Node) -> u64 {
    let mut h = bytes(1, path.as_bytes());
    h = match &node.data {
        Some(d) => bytes(h, d),
        None => mix(h, u64::MAX),
    };
    let s = &node.stat;
    for v in [
        s.czxid,
        s.mzxid,
        s.ctime,
        s.mtime,
        s.ephemeral_owner,
        s.pzxid,
    ] {
        h = mix(h, v as u64);
    }
    for v in [s.version, s.cversion, s.aversion] {
        h = mix(h, v as u32 as u64);
    }
    h = acl(h, &node.acl);
    finish(h)
}

fn acl(mut h: u64, acl: &[Acl]) -> u64 {
    for a in acl {
        h = mix(h, a.perms as u32 as u64);
        h = bytes(h, a.id.scheme.as_bytes());
        h = bytes(h, a.id.id.as_bytes());
    }
    h
}

/// The hash of one session.
pub fn session(id: i64, timeout: i32) -> u64 {
    finish(mix(mix(2, id as u64), timeout as u32 as u64))
}

//! What the data tree costs, without a network or a client in the way: memory per znode,
//! and the time of the tree operations behind each request.
//!
//! 1. Memory: a million creates of 100-byte values (paths like `/peer-bench/f-123456`)
//!    applied straight to a tree; prints the resident bytes per node beyond its data and
//!    name, and what the tree asked the allocator for (so that the allocator's own
//!    overhead can be told apart), and the time per create of that fill.
//! 2. Time per operation on that tree, for random nodes: a lookup, a setData, a setData
//!    while a frozen copy is alive (retaken every 1,000 writes, so most writes copy what
//!    they touch), and a create followed by a delete.
//!
//! `cargo run --release -p zk-server --example tree_costs [NODES]`

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use bytes::Bytes;
use zk_server::tree::{Applied, DataTree};
use zk_server::txn::{Txn, TxnHeader};

/// mimalloc, as the `zk-server` binary uses, counting live blocks and the bytes asked for.
struct Counting;

static LIVE_BLOCKS: AtomicUsize = AtomicUsize::new(0);
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BLOCKS.fetch_add(1, Relaxed);
        LIVE_BYTES.fetch_add(layout.size(), Relaxed);
        // SAFETY: forwarded unchanged to mimalloc.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BLOCKS.fetch_sub(1, Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
        // SAFETY: forwarded unchanged to mimalloc.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn rss() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    s.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0)
        * 4096
}

/// Applies txns with consecutive zxids.
struct Applier {
    tree: DataTree,
    out: Applied,
    zxid: i64,
}

impl Applier {
    fn apply(&mut self, txn: &Txn) {
        self.zxid += 1;
        self.out.clear();
        let header = TxnHeader {
            session_id: 1,
            cxid: 1,
            zxid: self.zxid,
            time: 1,
        };
        self.tree
            .apply(&header, txn, &mut self.out)
            .expect("a txn that applies");
    }
}

fn create(path: String, data: Option<Bytes>) -> Txn {
    Txn::Create {
        path,
        data,
        acl: zk_proto::Acl::open_unsafe(),
        ephemeral_owner: 0,
        parent_cversion: 1,
    }
}

fn path(i: usize) -> String {
    format!("/peer-bench/f-{i:06}")
}

/// A cheap, repeatable stream of node numbers below `n`.
fn random_nodes(n: usize) -> impl Iterator<Item = usize> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    std::iter::repeat_with(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    })
}

/// Runs `op` `count` times and prints its mean time.
fn time(label: &str, count: usize, mut op: impl FnMut(usize)) {
    let t0 = Instant::now();
    for i in 0..count {
        op(i);
    }
    let ns = t0.elapsed().as_nanos() as f64 / count as f64;
    println!("{label:<48} {ns:>8.0} ns");
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mut t = Applier {
        tree: DataTree::new(),
        out: Applied::default(),
        zxid: 0,
    };
    t.apply(&create("/peer-bench".into(), None));

    let before = rss();
    let (blocks_before, bytes_before) = (LIVE_BLOCKS.load(Relaxed), LIVE_BYTES.load(Relaxed));
    let value = vec![b'v'; 100];
    let mut name_bytes = 0;
    let fill = Instant::now();
    for i in 0..n {
        let path = path(i);
        name_bytes += path.len() - "/peer-bench/".len();
        // A fresh allocation per value, as a decoded request would give.
        t.apply(&create(path, Some(Bytes::from(value.clone()))));
    }
    let fill = fill.elapsed();
    let grown = rss() - before;
    let blocks = LIVE_BLOCKS.load(Relaxed) - blocks_before;
    let asked = LIVE_BYTES.load(Relaxed) - bytes_before;
    let per_node = |bytes: usize| bytes as f64 / n as f64;
    let beyond = |bytes: usize| per_node(bytes.saturating_sub(n * 100 + name_bytes));
    println!(
        "{n} znodes: {:.0} MiB resident, {:.0} bytes per node, {:.0} beyond its 100-byte value and {:.0}-byte name",
        grown as f64 / 1048576.0,
        per_node(grown),
        beyond(grown),
        per_node(name_bytes),
    );
    println!(
        "allocations per node: {:.2} blocks, {:.0} bytes asked for ({:.0} beyond value and name)",
        blocks as f64 / n as f64,
        per_node(asked),
        beyond(asked),
    );
    println!(
        "{:<48} {:>8.0} ns",
        "fill, per create",
        fill.as_nanos() as f64 / n as f64
    );
    println!();

    let count = n.min(1_000_000);
    let mut nodes = random_nodes(n);
    let mut found = 0;
    time("lookup of a random node", count, |_| {
        found += t.tree.get(&path(nodes.next().unwrap_or(0))).is_some() as usize;
    });
    assert_eq!(found, count);
    let set = |i: usize| Txn::SetData {
        path: path(i),
        data: Some(Bytes::from(value.clone())),
        version: 1,
    };
    time("setData of a random node", count, |_| {
        t.apply(&set(nodes.next().unwrap_or(0)))
    });
    let mut frozen = t.tree.snapshot();
    time("setData while a frozen copy is alive", count, |i| {
        if i % 1000 == 0 {
            frozen = t.tree.snapshot();
        }
        t.apply(&set(nodes.next().unwrap_or(0)));
    });
    drop(frozen);
    time("create + delete of a new node", count, |i| {
        let path = format!("/peer-bench/g-{i:06}");
        t.apply(&create(path.clone(), Some(Bytes::from(value.clone()))));
        t.apply(&Txn::Delete { path });
    });
}

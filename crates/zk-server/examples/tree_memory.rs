//! How much memory the data tree takes per znode: a million creates of 100-byte values
//! (paths like `/peer-bench/f-123456`), applied straight to a tree; prints resident bytes
//! per node beyond its data and name. `cargo run --release -p zk-server --example tree_memory`
use bytes::Bytes;
use zk_server::tree::{Applied, DataTree};
use zk_server::txn::{Txn, TxnHeader};

fn rss() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    s.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0)
        * 4096
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mut tree = DataTree::new();
    let mut out = Applied::default();
    let header = |zxid| TxnHeader {
        session_id: 1,
        cxid: 1,
        zxid,
        time: 1,
    };
    let acl = zk_proto::Acl::open_unsafe();
    tree.apply(
        &header(1),
        &Txn::Create {
            path: "/peer-bench".into(),
            data: None,
            acl: acl.clone(),
            ephemeral_owner: 0,
            parent_cversion: 1,
        },
        &mut out,
    )
    .unwrap();
    let before = rss();
    let value = vec![b'v'; 100];
    let mut name_bytes = 0;
    for i in 0..n {
        out.clear();
        let path = format!("/peer-bench/f-{i:06}");
        name_bytes += path.len() - "/peer-bench/".len();
        // A fresh allocation per value, as a decoded request would give.
        let data = Some(Bytes::from(value.clone()));
        tree.apply(
            &header(i as i64 + 2),
            &Txn::Create {
                path,
                data,
                acl: acl.clone(),
                ephemeral_owner: 0,
                parent_cversion: i as i32 + 1,
            },
            &mut out,
        )
        .unwrap();
    }
    let grown = rss() - before;
    println!("{n} znodes: {:.0} MiB resident, {:.0} bytes per node, {:.0} beyond its 100-byte value and {:.0}-byte name",
        grown as f64 / 1048576.0, grown as f64 / n as f64, (grown - n * 100 - name_bytes) as f64 / n as f64, name_bytes as f64 / n as f64);
}

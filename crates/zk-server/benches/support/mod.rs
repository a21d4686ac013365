//! What the server and ensemble benchmarks share: filling a server with znodes, and
//! reading a process's memory (resident set, and a JVM's live heap).

use futures::StreamExt;
use zk_client::{Client, CreateOptions, Op};

/// Creates `n` znodes of `value` under `/mem` (`/mem/n00000000` …) with multis of 1,000
/// creates, `in_flight` multis at a time.
pub async fn fill(c: &Client, n: usize, value: &[u8], in_flight: usize) {
    c.create("/mem", b"", &CreateOptions::persistent())
        .await
        .expect("create /mem");
    let mut pending = futures::stream::FuturesUnordered::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let ops: Vec<Op> = chunk
            .iter()
            .map(|i| {
                Op::create(
                    format!("/mem/n{i:08}"),
                    value.to_vec(),
                    CreateOptions::persistent(),
                )
            })
            .collect();
        let c = c.clone();
        pending.push(async move { c.multi(&ops).await.expect("multi") });
        if pending.len() >= in_flight {
            pending.next().await;
        }
    }
    while pending.next().await.is_some() {}
}

/// Resident memory of process `pid` in MiB (0 if it cannot be read).
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A JVM's live heap in MiB after a full GC (`jcmd PID GC.run`, then `GC.heap_info`):
/// what its data really takes, without garbage not yet collected.
pub fn live_heap_mib(pid: u32) -> Option<f64> {
    let jcmd = |args: &[&str]| {
        std::process::Command::new("jcmd")
            .arg(pid.to_string())
            .args(args)
            .output()
            .ok()
    };
    jcmd(&["GC.run"])?;
    let out = jcmd(&["GC.heap_info"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "... total 1048576K, used 123456K [..."
    let used = text
        .split("used ")
        .nth(1)?
        .split('K')
        .next()?
        .trim()
        .parse::<f64>()
        .ok()?;
    Some(used / 1024.0)
}

//! What the server and ensemble benchmarks share: running pipelined operations for a
//! while, filling a server with znodes, and reading a process's memory (resident set,
//! and a JVM's live heap).

use std::future::Future;
use std::time::{Duration, Instant};

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

/// Runs `op(task, i)` in `conc` tasks for `secs` (after a 300 ms warm-up), each task
/// awaiting its previous operation before the next: operations per second, and every
/// operation's latency in ns, sorted.
pub async fn timed<F, Fut>(conc: usize, secs: f64, op: F) -> (f64, Vec<u64>)
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let run = |d: Duration| {
        let deadline = Instant::now() + d;
        let tasks: Vec<_> = (0..conc)
            .map(|t| {
                let op = op.clone();
                tokio::spawn(async move {
                    let mut lat = Vec::with_capacity(1 << 14);
                    let mut i = 0;
                    while Instant::now() < deadline {
                        let s = Instant::now();
                        op(t, i).await;
                        lat.push(s.elapsed().as_nanos() as u64);
                        i += 1;
                    }
                    lat
                })
            })
            .collect::<Vec<_>>();
        async move {
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.expect("task"));
            }
            all
        }
    };
    run(Duration::from_millis(300)).await;
    let t0 = Instant::now();
    let mut lat = run(Duration::from_secs_f64(secs)).await;
    let wall = t0.elapsed().as_secs_f64();
    lat.sort_unstable();
    (lat.len() as f64 / wall, lat)
}

/// The `p` quantile (0–1) of sorted latencies, in µs.
pub fn quantile_us(sorted_ns: &[u64], p: f64) -> f64 {
    let n = sorted_ns.len();
    if n == 0 {
        return 0.0;
    }
    sorted_ns[((n as f64 * p) as usize).min(n - 1)] as f64 / 1000.0
}

//! Ensemble benchmark (not a test): a 3-member zk-server ensemble against a 3-member
//! Apache ZooKeeper 3.8 ensemble, all six members on loopback, started by the same script
//! from the same `zoo.cfg` files (tickTime 200, initLimit 10, syncLimit 5, fsync on), and
//! driven by the same client (zk-client) in the same run:
//!
//! 1. write (`setData`, 100 bytes) and read (`getData`) throughput at 1, 16 and 256
//!    requests in flight, through a follower (writes are forwarded to the leader and
//!    committed by a quorum; reads are local);
//! 2. fail-over: SIGKILL of the leader's process to the first acknowledged write, by a
//!    client that retries at once (several runs; the killed member is restarted between);
//! 3. memory per member holding 100 000 znodes of 100 bytes: resident memory of each
//!    process, and for Apache also its live heap after a full GC (`jcmd GC.heap_info`).
//!
//! Apache runs at its best: a 1 GiB heap, the default GC and full JIT.
//! `cargo bench -p zk-server --bench ensemble`; `ZK_BENCH_SECS` (default 2) seconds per
//! cell, `ZK_BENCH_FAILOVERS` (default 5) runs, `ZK_BENCH_ZNODES` (default 100000).

use std::time::{Duration, Instant};

use zk_client::{Client, CreateOptions};
use zk_testkit::ApacheZk;

mod support;
use support::{fill, live_heap_mib, quantile_us, rss_mib, timed};

const VALUE: [u8; 100] = [b'v'; 100];
const TICK: Duration = Duration::from_millis(200);

fn env<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

async fn start(bundled: bool) -> ApacheZk {
    let mut options = ApacheZk::options(3).tick_time(TICK).jvm_opts("-Xmx1g");
    if bundled {
        options = options.server_command(env!("CARGO_BIN_EXE_zk-server"));
    }
    options.start().await.expect("a 3-member ensemble")
}

async fn follower(zk: &ApacheZk) -> usize {
    let leader = zk.leader_index().await.expect("leader");
    (leader + 1) % zk.members()
}

/// ops/s and p99 µs of `conc` tasks running `write` or read for `secs`.
async fn measure(c: &Client, write: bool, conc: usize, secs: f64) -> (f64, f64) {
    let c = c.clone();
    let (ops, lat) = timed(conc, secs, move |t, _| {
        let c = c.clone();
        async move {
            let path = format!("/bench/r{}", t % 16);
            if write {
                c.set_data(&path, &VALUE, None).await.expect("set");
            } else {
                c.get_data(&path).await.expect("get");
            }
        }
    })
    .await;
    (ops, quantile_us(&lat, 0.99))
}

/// From SIGKILL of the leader to the first acknowledged write.
async fn failover(zk: &ApacheZk) -> Duration {
    let leader = zk.leader_index().await.expect("leader");
    let c = Client::builder()
        .session_timeout(Duration::from_secs(4))
        .connect(zk.connect_string())
        .await
        .expect("connect");
    c.set_data("/bench/r0", &VALUE, None)
        .await
        .expect("warm write");
    let t0 = Instant::now();
    zk.kill(leader).await.expect("SIGKILL");
    loop {
        if c.set_data("/bench/r0", &VALUE, None).await.is_ok() {
            break;
        }
        tokio::task::yield_now().await;
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no write within 60 s"
        );
    }
    let took = t0.elapsed();
    drop(c);
    zk.restart(leader).await.expect("restart");
    took
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

async fn run() {
    let secs: f64 = env("ZK_BENCH_SECS", 2.0);
    let runs: usize = env("ZK_BENCH_FAILOVERS", 5);
    let znodes: usize = env("ZK_BENCH_ZNODES", 100_000);
    println!("ensemble benchmark: 3 members each, loopback, tickTime 200, fsync on; zk-client through a follower; 100-byte values; {secs} s per cell");
    let bundled = start(true).await;
    let apache = start(false).await;
    let mut clients = Vec::new();
    for zk in [&bundled, &apache] {
        let f = follower(zk).await;
        let c = Client::connect(&zk.client_addr(f).to_string())
            .await
            .expect("connect");
        c.create("/bench", b"", &CreateOptions::persistent())
            .await
            .expect("/bench");
        for t in 0..16 {
            c.create(
                &format!("/bench/r{t}"),
                &VALUE,
                &CreateOptions::persistent(),
            )
            .await
            .expect("create");
        }
        clients.push(c);
    }
    // Warm up (the JVMs compile their hot paths under load).
    for c in &clients {
        measure(c, true, 16, secs).await;
        measure(c, false, 16, secs).await;
    }
    println!();
    println!("| op | in flight | zk-server ops/s | Apache ops/s | zk-server/Apache | p99 µs zk-server / Apache |");
    println!("|---|---:|---:|---:|---:|---:|");
    for write in [true, false] {
        for conc in [1, 16, 256] {
            let ours = measure(&clients[0], write, conc, secs).await;
            let theirs = measure(&clients[1], write, conc, secs).await;
            println!(
                "| {} | {conc} | {:.0} | {:.0} | {:.2} | {:.0} / {:.0} |",
                if write { "write" } else { "read" },
                ours.0,
                theirs.0,
                ours.0 / theirs.0.max(1.0),
                ours.1,
                theirs.1
            );
        }
    }
    drop(clients);

    println!();
    println!("| fail-over: SIGKILL of the leader to the first acknowledged write | runs | min ms | median ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    let mut medians = Vec::new();
    for (name, zk) in [("zk-server", &bundled), ("Apache ZooKeeper 3.8", &apache)] {
        let mut times = Vec::new();
        for _ in 0..runs {
            times.push(failover(zk).await.as_secs_f64() * 1000.0);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let median = times[times.len() / 2];
        medians.push(median);
        println!(
            "| {name} | {runs} | {:.0} | {median:.0} | {:.0} |",
            times[0],
            times[times.len() - 1]
        );
    }
    println!(
        "fail-over time zk-server/Apache (medians): {:.2}",
        medians[0] / medians[1].max(1.0)
    );

    println!();
    println!("| members holding {znodes} znodes of 100 bytes | resident MiB per member | live heap MiB per member |");
    println!("|---|---:|---:|");
    for (name, zk) in [
        ("zk-server", &bundled),
        ("Apache ZooKeeper 3.8 (-Xmx1g)", &apache),
    ] {
        let c = Client::connect(zk.connect_string()).await.expect("connect");
        fill(&c, znodes, &VALUE, 8).await;
        c.sync("/mem").await.expect("sync");
        let pids = zk.pids().unwrap_or_default();
        let rss: Vec<String> = pids.iter().map(|&p| format!("{:.0}", rss_mib(p))).collect();
        let heap: Vec<String> = pids
            .iter()
            .map(|&p| match (name.starts_with("Apache"), live_heap_mib(p)) {
                (true, Some(h)) => format!("{h:.0}"),
                _ => "—".to_owned(),
            })
            .collect();
        println!("| {name} | {} | {} |", rss.join(" / "), heap.join(" / "));
    }
}

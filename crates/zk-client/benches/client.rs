//! Client benchmark: pipelined get, set and create+delete at concurrency 1, 16 and 256 with
//! 100-byte values against a local Apache ZooKeeper, for zk-client and the crates.io
//! `zookeeper-client` crate in the same run. Prints throughput, p50/p99 latency and client
//! CPU per operation, with our/their ratios.
//!
//! `cargo bench -p zk-client --bench client` starts its own Apache ZooKeeper through
//! zk-testkit; set `ZK_BENCH_CONNECT=host:port` to use a running server instead, and
//! `ZK_BENCH_SECS` to change the measuring time per cell (default 2) and `ZK_BENCH_ROUNDS`
//! the rounds per cell (default 3). Each round measures both clients back to back, in
//! alternating order; every figure printed is the median over the rounds, and the CPU ratio
//! is the median of the rounds' own ratios (each pairs two runs a few seconds apart, so a
//! shared machine's slow drift cancels out of it).

use zk_testkit::ApacheZk;

mod support;

use support::{measure, median, Bench, Cell, Workload, CONCURRENCY};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async_main());
}

async fn async_main() {
    let secs: f64 = std::env::var("ZK_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let rounds: usize = std::env::var("ZK_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(3);
    let (_server, connect) = match std::env::var("ZK_BENCH_CONNECT") {
        Ok(c) => (None, c),
        Err(_) => {
            // Production-like JVM options: the test kit's defaults favour start-up time.
            let zk = ApacheZk::options(1)
                .jvm_opts("-Xmx1g")
                .start()
                .await
                .expect("start Apache ZooKeeper");
            let c = zk.connect_string().to_owned();
            (Some(zk), c)
        }
    };
    println!("client benchmark against the server at {connect}, {secs} s per cell, medians of {rounds} rounds, 100-byte values");
    println!("ours = zk-client, theirs = zookeeper-client 0.11 (crates.io); ratio = ours/theirs; CPU ratio = median of the rounds' ratios");
    println!();
    println!(
        "| workload | conc | ours ops/s | theirs ops/s | ratio | ours p50/p99 µs | theirs p50/p99 µs | ours CPU µs/op | theirs CPU µs/op | CPU ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let ours = Bench::connect(true, &connect).await;
    let theirs = Bench::connect(false, &connect).await;
    ours.ensure("/bench").await;
    ours.ensure("/bench/get").await;
    // The JVM compiles its hot paths during the first seconds of load: warm it up with
    // both clients before anything is measured, so neither side pays for it.
    for bench in [&ours, &theirs] {
        for workload in [Workload::Get, Workload::Set, Workload::CreateDelete] {
            measure(bench, workload, 16, secs / 3.0).await;
        }
    }
    for workload in [Workload::Get, Workload::Set, Workload::CreateDelete] {
        for concurrency in CONCURRENCY {
            // Medians over rounds in alternating order, to damp the noise of a shared
            // two-core machine where the server competes with the client for CPU.
            let mut cells: [Vec<Cell>; 2] = [Vec::new(), Vec::new()];
            let mut cpu_ratios = Vec::new();
            for round in 0..rounds {
                let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                for side in order {
                    let bench = if side == 0 { &ours } else { &theirs };
                    cells[side].push(measure(bench, workload, concurrency, secs).await);
                }
                let (o, t) = (cells[0][round], cells[1][round]);
                cpu_ratios.push(o.cpu_us_per_op / t.cpu_us_per_op);
            }
            let o = Cell::median(&cells[0]);
            let t = Cell::median(&cells[1]);
            println!(
                "| {} | {} | {:.0} | {:.0} | {:.2} | {:.0}/{:.0} | {:.0}/{:.0} | {:.1} | {:.1} | {:.2} |",
                workload.name(),
                concurrency,
                o.ops_per_sec,
                t.ops_per_sec,
                o.ops_per_sec / t.ops_per_sec,
                o.p50_us,
                o.p99_us,
                t.p50_us,
                t.p99_us,
                o.cpu_us_per_op,
                t.cpu_us_per_op,
                median(&mut cpu_ratios),
            );
        }
    }
    if let Bench::Ours(c) = &ours {
        let _ = c.close().await;
    }
}

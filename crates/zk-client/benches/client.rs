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

use std::time::{Duration, Instant};

use zk_testkit::{process_cpu_time, ApacheZk};

const VALUE: [u8; 100] = [b'v'; 100];
const CONCURRENCY: [usize; 3] = [1, 16, 256];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Workload {
    Get,
    Set,
    CreateDelete,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Get => "get",
            Workload::Set => "set",
            Workload::CreateDelete => "create+delete",
        }
    }
}

#[derive(Clone)]
enum Bench {
    Ours(zk_client::Client),
    Theirs(zookeeper_client::Client),
}

impl Bench {
    async fn connect(ours: bool, connect: &str) -> Bench {
        if ours {
            Bench::Ours(
                zk_client::Client::connect(connect)
                    .await
                    .expect("zk-client connect"),
            )
        } else {
            Bench::Theirs(
                zookeeper_client::Client::connect(connect)
                    .await
                    .expect("zookeeper-client connect"),
            )
        }
    }

    async fn create(&self, path: &str) {
        match self {
            Bench::Ours(c) => {
                c.create(path, &VALUE, &zk_client::CreateOptions::persistent())
                    .await
                    .expect("create");
            }
            Bench::Theirs(c) => {
                let opts = zookeeper_client::CreateMode::Persistent
                    .with_acls(zookeeper_client::Acls::anyone_all());
                c.create(path, &VALUE, &opts).await.expect("create");
            }
        }
    }

    async fn ensure(&self, path: &str) {
        let exists = match self {
            Bench::Ours(c) => c.exists(path).await.expect("exists").is_some(),
            Bench::Theirs(c) => c.check_stat(path).await.expect("exists").is_some(),
        };
        if !exists {
            self.create(path).await;
        }
    }

    async fn op(&self, workload: Workload, task: usize, i: u64) {
        match (self, workload) {
            (Bench::Ours(c), Workload::Get) => {
                c.get_data("/bench/get").await.expect("get");
            }
            (Bench::Theirs(c), Workload::Get) => {
                c.get_data("/bench/get").await.expect("get");
            }
            (Bench::Ours(c), Workload::Set) => {
                c.set_data(&format!("/bench/set-{task}"), &VALUE, None)
                    .await
                    .expect("set");
            }
            (Bench::Theirs(c), Workload::Set) => {
                c.set_data(&format!("/bench/set-{task}"), &VALUE, None)
                    .await
                    .expect("set");
            }
            (_, Workload::CreateDelete) => {
                let path = format!("/bench/cd-{task}-{i}");
                self.create(&path).await;
                match self {
                    Bench::Ours(c) => c.delete(&path, None).await.expect("delete"),
                    Bench::Theirs(c) => c.delete(&path, None).await.expect("delete"),
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Cell {
    ops_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_op: f64,
}

impl Cell {
    /// Each figure's median over `cells` (not one cell's figures).
    fn median(cells: &[Cell]) -> Cell {
        let of = |f: fn(&Cell) -> f64| median(&mut cells.iter().map(f).collect::<Vec<_>>());
        Cell {
            ops_per_sec: of(|c| c.ops_per_sec),
            p50_us: of(|c| c.p50_us),
            p99_us: of(|c| c.p99_us),
            cpu_us_per_op: of(|c| c.cpu_us_per_op),
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

async fn measure(bench: &Bench, workload: Workload, concurrency: usize, secs: f64) -> Cell {
    for task in 0..concurrency {
        bench.ensure(&format!("/bench/set-{task}")).await;
    }
    let run = |duration: Duration| {
        let deadline = Instant::now() + duration;
        let tasks: Vec<_> = (0..concurrency)
            .map(|task| {
                let bench = bench.clone();
                tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(64 * 1024);
                    let mut i = 0u64;
                    while Instant::now() < deadline {
                        let start = Instant::now();
                        bench.op(workload, task, i).await;
                        latencies.push(start.elapsed().as_nanos() as u64);
                        i += 1;
                    }
                    latencies
                })
            })
            .collect();
        async move {
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.expect("bench task"));
            }
            all
        }
    };
    run(Duration::from_millis(500)).await; // warm-up
    let cpu0 = process_cpu_time();
    let t0 = Instant::now();
    let mut latencies = run(Duration::from_secs_f64(secs)).await;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = (process_cpu_time() - cpu0).as_secs_f64();
    latencies.sort_unstable();
    let n = latencies.len().max(1);
    let pct = |p: f64| latencies[((n as f64 * p) as usize).min(n - 1)] as f64 / 1000.0;
    Cell {
        ops_per_sec: n as f64 / wall,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        cpu_us_per_op: cpu * 1e6 / n as f64,
    }
}

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

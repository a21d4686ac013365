//! What the client benchmarks share: the two clients behind one type, the workloads, and
//! one measuring loop (pipelined tasks for a fixed time, latencies and process CPU).

#![allow(dead_code)] // each benchmark uses its own part of this

use std::time::{Duration, Instant};

use zk_testkit::process_cpu_time;

pub const VALUE: [u8; 100] = [b'v'; 100];
pub const CONCURRENCY: [usize; 3] = [1, 16, 256];

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Workload {
    Get,
    Set,
    CreateDelete,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Get => "get",
            Workload::Set => "set",
            Workload::CreateDelete => "create+delete",
        }
    }
}

#[derive(Clone)]
pub enum Bench {
    Ours(zk_client::Client),
    Theirs(zookeeper_client::Client),
}

impl Bench {
    pub async fn connect(ours: bool, connect: &str) -> Bench {
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

    /// Connects over TLS, trusting the CA certificates of the PEM file `ca`.
    pub async fn connect_tls(ours: bool, connect: &str, ca: &std::path::Path) -> Bench {
        if ours {
            let tls = zk_client::TlsOptions::with_ca_pem_file(ca);
            Bench::Ours(
                zk_client::Client::builder()
                    .tls(tls)
                    .connect(connect)
                    .await
                    .expect("zk-client TLS connect"),
            )
        } else {
            let pem = std::fs::read_to_string(ca).expect("CA file");
            let tls = zookeeper_client::TlsOptions::new()
                .with_pem_ca(&pem)
                .expect("CA certificates");
            Bench::Theirs(
                zookeeper_client::Client::connector()
                    .with_tls(tls)
                    .secure_connect(connect)
                    .await
                    .expect("zookeeper-client TLS connect"),
            )
        }
    }

    pub async fn create(&self, path: &str) {
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

    pub async fn ensure(&self, path: &str) {
        let exists = match self {
            Bench::Ours(c) => c.exists(path).await.expect("exists").is_some(),
            Bench::Theirs(c) => c.check_stat(path).await.expect("exists").is_some(),
        };
        if !exists {
            self.create(path).await;
        }
    }

    pub async fn op(&self, workload: Workload, task: usize, i: u64) {
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
pub struct Cell {
    pub ops_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub cpu_us_per_op: f64,
}

impl Cell {
    /// Each figure's median over `cells` (not one cell's figures).
    pub fn median(cells: &[Cell]) -> Cell {
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
pub fn median(values: &mut [f64]) -> f64 {
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

pub async fn measure(bench: &Bench, workload: Workload, concurrency: usize, secs: f64) -> Cell {
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

//! Server benchmark: the same client (zk-client) and workloads as the client benchmark —
//! pipelined get, set and create+delete at concurrency 1, 16 and 256 with 100-byte values —
//! against zk-server (in memory and durable) and Apache ZooKeeper 3.8 (durable, its only
//! mode, and with `forceSync=no`) in the same run; then the memory of each server holding
//! 1,000,000 znodes of 100 bytes: resident memory of each process, and for Apache also its
//! live heap after a full GC (the JVM's resident memory counts garbage not yet collected).
//!
//! `cargo bench -p zk-server --bench server`; `ZK_BENCH_SECS` sets seconds per cell
//! (default 2), `ZK_BENCH_ZNODES` the node count for the memory test (default 1000000).
//! `ZK_BENCH_BASELINE=/path/to/zk-server` adds another build of the server (in memory),
//! measured in the same run, cell by cell, for a before-and-after comparison that the
//! machine's drift between two runs cannot blur.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use zk_client::{Client, CreateOptions};
use zk_testkit::ApacheZk;

mod support;
use support::{fill, live_heap_mib, quantile_us, rss_mib, timed};

const VALUE: [u8; 100] = [b'v'; 100];

#[derive(Clone, Copy, PartialEq)]
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

async fn op(c: &Client, w: Workload, task: usize, i: u64) {
    match w {
        Workload::Get => {
            c.get_data("/bench/get").await.expect("get");
        }
        Workload::Set => {
            c.set_data(&format!("/bench/set-{task}"), &VALUE, None)
                .await
                .expect("set");
        }
        Workload::CreateDelete => {
            let p = format!("/bench/cd-{task}-{i}");
            c.create(&p, &VALUE, &CreateOptions::persistent())
                .await
                .expect("create");
            c.delete(&p, None).await.expect("delete");
        }
    }
}

async fn ensure(c: &Client, path: &str) {
    if c.exists(path).await.expect("exists").is_none() {
        c.create(path, &VALUE, &CreateOptions::persistent())
            .await
            .expect("create");
    }
}

/// (ops/s, p50 µs, p99 µs)
async fn measure(c: &Client, w: Workload, conc: usize, secs: f64) -> (f64, f64, f64) {
    for t in 0..conc {
        ensure(c, &format!("/bench/set-{t}")).await;
    }
    let c = c.clone();
    let (ops, lat) = timed(conc, secs, move |t, i| {
        let c = c.clone();
        async move { op(&c, w, t, i).await }
    })
    .await;
    (ops, quantile_us(&lat, 0.5), quantile_us(&lat, 0.99))
}

struct Bundled {
    child: Child,
    addr: String,
    _dir: Option<TempDir>,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn bundled(binary: &str, durable: bool) -> Bundled {
    let dir = durable.then(|| {
        let d =
            std::env::temp_dir().join(format!("zk-bench-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&d).expect("temp dir");
        TempDir(d)
    });
    let mut cmd = Command::new(binary);
    cmd.args(["--address", "127.0.0.1", "--port", "0"])
        .env("RUST_LOG", "warn,zk_server::server=info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(d) = &dir {
        cmd.args(["--data-dir", d.0.to_str().expect("utf-8 path")]);
    }
    let mut child = cmd.spawn().expect("spawn zk-server");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines
            .next_line()
            .await
            .expect("log")
            .expect("zk-server exited");
        if let Some(a) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("addr="))
        {
            break a.to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Bundled {
        child,
        addr,
        _dir: dir,
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
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
    let secs: f64 = std::env::var("ZK_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let znodes: usize = std::env::var("ZK_BENCH_ZNODES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    println!("server benchmark: zk-client driving each server, {secs} s per cell, 100-byte values");
    println!();
    let baseline_bin = std::env::var("ZK_BENCH_BASELINE").ok();
    let (extra_head, extra_rule) = match &baseline_bin {
        Some(_) => (
            " baseline mem ops/s | mem/baseline | baseline p99 µs |",
            "---:|---:|---:|",
        ),
        None => ("", ""),
    };
    println!("| workload | conc | zk-server mem ops/s | zk-server durable ops/s | Apache ops/s | Apache forceSync=no ops/s | mem/Apache | durable/Apache | p99 µs mem / durable / Apache |{extra_head}");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|{extra_rule}");
    let ours = env!("CARGO_BIN_EXE_zk-server");
    let mem = bundled(ours, false).await;
    let dur = bundled(ours, true).await;
    let baseline = match &baseline_bin {
        Some(bin) => Some(bundled(bin, false).await),
        None => None,
    };
    // Apache at its best: a 1 GiB heap and the JVM's default GC and full JIT (the test
    // kit's defaults favour start-up time instead).
    let apache = ApacheZk::options(1)
        .jvm_opts("-Xmx1g")
        .start()
        .await
        .expect("Apache ZooKeeper");
    let apache_nosync = ApacheZk::options(1)
        .jvm_opts("-Xmx1g")
        .java_opts("-Dzookeeper.forceSync=no")
        .start()
        .await
        .expect("Apache ZooKeeper forceSync=no");
    let mut targets = vec![
        mem.addr.clone(),
        dur.addr.clone(),
        apache.connect_string().to_owned(),
        apache_nosync.connect_string().to_owned(),
    ];
    targets.extend(baseline.as_ref().map(|b| b.addr.clone()));
    let mut clients = Vec::new();
    for t in &targets {
        let c = Client::connect(t).await.expect("connect");
        ensure(&c, "/bench").await;
        ensure(&c, "/bench/get").await;
        clients.push(c);
    }
    // Warm up every server (the JVMs compile their hot paths under load).
    for c in &clients {
        for w in [Workload::Get, Workload::Set, Workload::CreateDelete] {
            measure(c, w, 16, secs / 2.0).await;
        }
    }
    for w in [Workload::Get, Workload::Set, Workload::CreateDelete] {
        for conc in [1, 16, 256] {
            let mut r = Vec::new();
            for c in &clients {
                r.push(measure(c, w, conc, secs).await);
            }
            let extra = r.get(4).map_or(String::new(), |b| {
                format!(" {:.0} | {:.2} | {:.0} |", b.0, r[0].0 / b.0, b.2)
            });
            println!(
                "| {} | {conc} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} / {:.0} / {:.0} |{extra}",
                w.name(),
                r[0].0,
                r[1].0,
                r[2].0,
                r[3].0,
                r[0].0 / r[2].0,
                r[1].0 / r[2].0,
                r[0].2,
                r[1].2,
                r[2].2
            );
        }
    }
    drop(clients);
    drop(apache);
    drop(apache_nosync);
    drop(dur);

    println!();
    println!(
        "| server | znodes | resident memory MiB | live heap after a full GC MiB | growth per znode, bytes | fill time s |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mem_pid = mem.child.id().unwrap_or(0);
    let before = rss_mib(mem_pid);
    let t0 = Instant::now();
    let c = Client::connect(&mem.addr).await.expect("connect");
    fill(&c, znodes, &VALUE, 16).await;
    let fill_time = t0.elapsed().as_secs_f64();
    let ours = rss_mib(mem_pid);
    let ours_per_node = (ours - before) * 1048576.0 / znodes as f64;
    println!(
        "| zk-server (in memory) | {znodes} | {ours:.0} | — | {ours_per_node:.0} (resident) | {fill_time:.1} |"
    );
    drop(c);
    drop(mem);
    if let Some(base) = baseline {
        let pid = base.child.id().unwrap_or(0);
        let before = rss_mib(pid);
        let t0 = Instant::now();
        let c = Client::connect(&base.addr).await.expect("connect");
        fill(&c, znodes, &VALUE, 16).await;
        let fill_time = t0.elapsed().as_secs_f64();
        let rss = rss_mib(pid);
        let per_node = (rss - before) * 1048576.0 / znodes as f64;
        println!(
            "| baseline zk-server (in memory) | {znodes} | {rss:.0} | — | {per_node:.0} (resident) | {fill_time:.1} |"
        );
    }
    let apache = ApacheZk::options(1)
        .jvm_opts("-Xmx6g")
        .java_opts("-Dzookeeper.forceSync=no")
        .start()
        .await
        .expect("Apache ZooKeeper");
    let pid = apache
        .pids()
        .ok()
        .and_then(|p| p.first().copied())
        .unwrap_or(0);
    let heap_before = live_heap_mib(pid).unwrap_or(0.0);
    let t0 = Instant::now();
    let c = Client::connect(apache.connect_string())
        .await
        .expect("connect");
    fill(&c, znodes, &VALUE, 16).await;
    let fill_time = t0.elapsed().as_secs_f64();
    let theirs = rss_mib(pid);
    let heap = live_heap_mib(pid);
    let heap_cell = heap.map_or("n/a (no jcmd)".to_owned(), |h| format!("{h:.0}"));
    let per_node = heap.map_or("n/a".to_owned(), |h| {
        format!(
            "{:.0} (live heap)",
            (h - heap_before) * 1048576.0 / znodes as f64
        )
    });
    println!(
        "| Apache ZooKeeper 3.8 (-Xmx6g) | {znodes} | {theirs:.0} | {heap_cell} | {per_node} | {fill_time:.1} |"
    );
    println!();
    println!(
        "memory zk-server/Apache: {:.2} of its resident memory{}",
        ours / theirs.max(1.0),
        heap.map_or(String::new(), |h| format!(
            ", {:.2} of its live heap",
            ours / h.max(1.0)
        ))
    );
}

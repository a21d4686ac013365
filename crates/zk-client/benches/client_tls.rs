//! What TLS costs the client: pipelined get and set at 1, 16 and 256 in flight with
//! 100-byte values, against Apache ZooKeeper 3.8's `secureClientPort` and zk-server's,
//! for zk-client over plain TCP, zk-client over TLS and the crates.io `zookeeper-client`
//! over TLS in the same run. Prints client CPU per operation and p50 latency, TLS's
//! overhead on our CPU per operation, and our TLS CPU against the peer's.
//!
//! Like with like: both clients use rustls with the same `ring` provider (installed as
//! the process default, which `zookeeper-client` uses) and negotiate TLS 1.3 with the
//! same server; each server runs in its own process, so the CPU measured is the client's.
//! Left out: handshake cost (sessions are long-lived; connects are not measured).
//!
//! `cargo bench -p zk-client --bench client_tls`; `ZK_BENCH_SECS` sets the measuring time
//! per cell (default 2), `ZK_BENCH_ROUNDS` the rounds per cell (default 3), medians
//! printed as in the `client` benchmark; `ZK_BENCH_SERVERS=apache` or `bundled` runs
//! against one server only.

mod support;

use support::{measure, median, Bench, Cell, Workload, CONCURRENCY};
use zk_testkit::{ApacheZk, ClientAuth, ServerTls, Servers, TestCa};

fn main() {
    // ring for both clients (zookeeper-client builds its TLS config from the default).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async_main());
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

async fn async_main() {
    let secs: f64 = env_or("ZK_BENCH_SECS", 2.0);
    let rounds: usize = env_or("ZK_BENCH_ROUNDS", 3usize).max(1);
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca = TestCa::new(dir.path(), "bench").expect("test CA");
    let cert = ca.issue("server", &["127.0.0.1"]).expect("certificate");
    println!(
        "client TLS benchmark, {secs} s per cell, medians of {rounds} rounds, 100-byte values"
    );
    println!("plain = zk-client over TCP; tls = zk-client over TLS; peer = zookeeper-client 0.11 over TLS");
    println!("overhead = tls CPU / plain CPU (goal <= 1.20 at 256); vs peer = tls CPU / peer CPU (goal <= 1.00)");
    let only: String = env_or("ZK_BENCH_SERVERS", String::new());
    for servers in [Servers::Apache, Servers::Bundled] {
        if !only.is_empty() && !format!("{servers:?}").eq_ignore_ascii_case(&only) {
            continue;
        }
        let zk = ApacheZk::options(1)
            .jvm_opts("-Xmx1g")
            .servers(servers)
            .expect("server binary")
            .tls(ServerTls {
                key_store: cert.key_store.clone(),
                trust_store: ca.cert_path(),
                client_auth: ClientAuth::None,
            })
            .start()
            .await
            .expect("start a TLS server");
        let plain_addr = zk.connect_string().to_owned();
        let tls_addr = format!("127.0.0.1:{}", zk.secure_port(0).expect("secure port"));
        let plain = Bench::connect(true, &plain_addr).await;
        let tls = Bench::connect_tls(true, &tls_addr, &ca.cert_path()).await;
        let peer = Bench::connect_tls(false, &tls_addr, &ca.cert_path()).await;
        plain.ensure("/bench").await;
        plain.ensure("/bench/get").await;
        println!();
        println!("### against {servers:?}");
        println!();
        println!("| workload | conc | plain CPU µs/op | tls CPU µs/op | peer CPU µs/op | overhead | vs peer | plain p50 µs | tls p50 µs | peer p50 µs |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let sides = [&plain, &tls, &peer];
        // Warm the server (the JVM's JIT) and every client before measuring.
        for bench in sides {
            for workload in [Workload::Get, Workload::Set] {
                measure(bench, workload, 16, secs / 3.0).await;
            }
        }
        for workload in [Workload::Get, Workload::Set] {
            for concurrency in CONCURRENCY {
                let mut cells: [Vec<Cell>; 3] = [Vec::new(), Vec::new(), Vec::new()];
                let (mut overhead, mut vs_peer) = (Vec::new(), Vec::new());
                for round in 0..rounds {
                    // Rotate the order so no side always runs first.
                    for k in 0..3 {
                        let side = (round + k) % 3;
                        cells[side].push(measure(sides[side], workload, concurrency, secs).await);
                    }
                    let cpu = |side: usize| cells[side][round].cpu_us_per_op;
                    overhead.push(cpu(1) / cpu(0));
                    vs_peer.push(cpu(1) / cpu(2));
                }
                let [p, t, q] = cells.map(|c| Cell::median(&c));
                println!(
                    "| {} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0} |",
                    workload.name(),
                    concurrency,
                    p.cpu_us_per_op,
                    t.cpu_us_per_op,
                    q.cpu_us_per_op,
                    median(&mut overhead),
                    median(&mut vs_peer),
                    p.p50_us,
                    t.p50_us,
                    q.p50_us,
                );
            }
        }
        for bench in [plain, tls] {
            if let Bench::Ours(c) = bench {
                let _ = c.close().await;
            }
        }
    }
}

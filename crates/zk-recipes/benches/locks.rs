//! Lock benchmark: zk-recipes' `InterProcessMutex` beside Apache Curator 5.4's, same
//! server, same run, one after the other (never both at once on the two cores):
//!
//! - uncontended: one client, lock+unlock in a loop (ops/s, p50/p99 of one pair);
//! - contended: four clients (sessions) taking turns for a few seconds (hand-overs/s, and
//!   p50/p99 of a hand-over: from a holder starting its release to the next holder's lock
//!   returning).
//!
//! Against zk-server and Apache ZooKeeper 3.8 (in memory: `forceSync=no` for Apache, the
//! bundled server's default in-memory mode), each started by the run. Curator runs in its
//! own JVM after a warm-up of the same length as ours. What it leaves out: the JVM's
//! start and JIT (excluded by the warm-up), and CPU per operation (the JVM's process CPU
//! includes its garbage collector and compiler threads, so it is not comparable here).
//!
//! `cargo bench -p zk-recipes --bench locks` (needs Java and Debian's Curator, as the
//! tests; about a minute).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zk_client::Client;
use zk_recipes::InterProcessMutex;
use zk_testkit::{ApacheZk, Servers};

const UNCONTENDED: usize = 2000;
const CONTENDERS: usize = 4;
const CONTENDED_MS: u64 = 4000;

#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    ops_per_s: f64,
    p50_us: u64,
    p99_us: u64,
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((q * sorted.len() as f64).floor() as usize).min(sorted.len() - 1);
    sorted[i]
}

fn figures(ops_per_s: f64, mut lat: Vec<u64>) -> Figures {
    lat.sort_unstable();
    Figures {
        ops_per_s,
        p50_us: quantile(&lat, 0.5),
        p99_us: quantile(&lat, 0.99),
    }
}

async fn rust_uncontended(hosts: &str, path: &str) -> Figures {
    let client = Client::connect(hosts).await.expect("connect");
    let mutex = InterProcessMutex::new(&client, path).expect("mutex");
    for _ in 0..UNCONTENDED / 2 {
        mutex
            .lock()
            .await
            .expect("lock")
            .release()
            .await
            .expect("release");
    }
    let mut lat = Vec::with_capacity(UNCONTENDED);
    let t0 = Instant::now();
    for _ in 0..UNCONTENDED {
        let s = Instant::now();
        mutex
            .lock()
            .await
            .expect("lock")
            .release()
            .await
            .expect("release");
        lat.push(s.elapsed().as_micros() as u64);
    }
    let ops = UNCONTENDED as f64 / t0.elapsed().as_secs_f64();
    let _ = client.close().await;
    figures(ops, lat)
}

async fn rust_contended(hosts: &str, path: &str) -> Figures {
    let origin = Instant::now();
    let released = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for _ in 0..CONTENDERS {
        clients.push(Client::connect(hosts).await.expect("connect"));
    }
    let tasks: Vec<_> = clients
        .iter()
        .map(|client| {
            let mutex = InterProcessMutex::new(client, path).expect("mutex");
            let (released, measuring, stop, lat) = (
                released.clone(),
                measuring.clone(),
                stop.clone(),
                lat.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let guard = mutex.lock().await.expect("lock");
                    let now = origin.elapsed().as_micros() as u64;
                    let before = released.load(Ordering::SeqCst);
                    if measuring.load(Ordering::Relaxed) && before != 0 {
                        if let Ok(mut l) = lat.lock() {
                            l.push(now.saturating_sub(before));
                        }
                    }
                    released.store(origin.elapsed().as_micros() as u64, Ordering::SeqCst);
                    guard.release().await.expect("release");
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(CONTENDED_MS / 2)).await;
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_millis(CONTENDED_MS)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    for c in clients {
        let _ = c.close().await;
    }
    let lat = std::mem::take(&mut *lat.lock().expect("latencies"));
    figures(lat.len() as f64 / elapsed, lat)
}

/// Compiles the Java side; its class path.
fn compile() -> String {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/CuratorLockBench.java");
    zk_testkit::java::compile(&source, zk_testkit::java::CURATOR_JARS)
        .expect("the Java side compiles (scripts/zk-apache.sh install brings Java and Curator)")
}

fn curator(classpath: &str, args: &[&str]) -> Figures {
    let out = std::process::Command::new("java")
        .arg("-cp")
        .arg(classpath)
        .arg("CuratorLockBench")
        .args(args)
        .output()
        .expect("java runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> f64 {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "no {name} in Curator's output: {text}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    };
    Figures {
        ops_per_s: field("ops_per_s"),
        p50_us: field("p50_us") as u64,
        p99_us: field("p99_us") as u64,
    }
}

fn row(server: &str, client: &str, u: Figures, c: Figures) {
    println!(
        "| {server} | {client} | {:.0} | {} | {} | {:.0} | {} | {} |",
        u.ops_per_s, u.p50_us, u.p99_us, c.ops_per_s, c.p50_us, c.p99_us
    );
}

#[tokio::main]
async fn main() {
    let classpath = compile();
    println!("| server | client | uncontended lock+unlock/s | p50 µs | p99 µs | contended ({CONTENDERS}) hand-overs/s | p50 µs | p99 µs |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (name, servers) in [
        ("zk-server", Servers::Bundled),
        ("Apache 3.8", Servers::Apache),
    ] {
        let zk = ApacheZk::options(1)
            .java_opts("-Dzookeeper.forceSync=no")
            .servers(servers)
            .expect("servers")
            .start()
            .await
            .expect("server");
        let hosts = zk.connect_string().to_owned();
        let n = UNCONTENDED.to_string();
        let (k, ms) = (CONTENDERS.to_string(), CONTENDED_MS.to_string());
        let cu = curator(&classpath, &["uncontended", &hosts, "/bench/curator-u", &n]);
        let cc = curator(
            &classpath,
            &["contended", &hosts, "/bench/curator-c", &k, &ms],
        );
        let ru = rust_uncontended(&hosts, "/bench/rust-u").await;
        let rc = rust_contended(&hosts, "/bench/rust-c").await;
        row(name, "zk-recipes", ru, rc);
        row(name, "Curator 5.4", cu, cc);
        println!(
            "| {name} | ratio zk-recipes/Curator | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            ru.ops_per_s / cu.ops_per_s,
            ru.p50_us as f64 / cu.p50_us.max(1) as f64,
            ru.p99_us as f64 / cu.p99_us.max(1) as f64,
            rc.ops_per_s / cc.ops_per_s,
            rc.p50_us as f64 / cc.p50_us.max(1) as f64,
            rc.p99_us as f64 / cc.p99_us.max(1) as f64,
        );
    }
}

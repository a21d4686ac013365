//! Discovery benchmark: how fast a registration, update or unregistration on one client
//! becomes visible in another client's cache (p50/p99 over 1,000 events), on zk-server and
//! on Apache ZooKeeper 3.8; the cost of `resolve`; and memory per cached instance with
//! 10,000 instances over 1,000 services.
//!
//! `cargo bench -p zk-discovery --bench discovery`

use std::time::{Duration, Instant};

use zk_discovery::{CacheEvent, ServiceDiscovery, ServiceInstance};
use zk_server::ServerHandle;
use zk_testkit::ApacheZk;

const EVENTS: usize = 1000;

async fn propagation(connect: &str) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let registrar = ServiceDiscovery::connect(connect).await.expect("registrar");
    let watcher = ServiceDiscovery::connect(connect).await.expect("watcher");
    let cache = watcher.cache("bench").await.expect("cache");
    let mut events = cache.events();
    let (mut reg, mut upd, mut unreg) = (Vec::new(), Vec::new(), Vec::new());
    // Warm-up (the JVM compiles its hot paths): the same cycle, not measured.
    for k in 0..200 {
        let r = registrar
            .register(ServiceInstance::new("bench", "10.0.0.1", 8000).with_id(format!("w{k}")))
            .await
            .expect("register");
        let mut i = r.instance();
        i.port = Some(1);
        r.update(i).await.expect("update");
        r.unregister().await.expect("unregister");
        for _ in 0..3 {
            let _ = tokio::time::timeout(Duration::from_secs(10), events.recv()).await;
        }
    }
    let wait = async |events: &mut tokio::sync::broadcast::Receiver<CacheEvent>| {
        tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("event in time")
            .expect("event")
    };
    for k in 0..EVENTS / 3 + 1 {
        let t = Instant::now();
        let r = registrar
            .register(ServiceInstance::new("bench", "10.0.0.1", 8000).with_id(format!("i{k}")))
            .await
            .expect("register");
        assert!(matches!(wait(&mut events).await, CacheEvent::Added(_)));
        reg.push(t.elapsed().as_secs_f64() * 1e6);
        let mut i = r.instance();
        i.port = Some(9000);
        let t = Instant::now();
        r.update(i).await.expect("update");
        assert!(matches!(wait(&mut events).await, CacheEvent::Updated(_)));
        upd.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        r.unregister().await.expect("unregister");
        assert!(matches!(wait(&mut events).await, CacheEvent::Removed(_)));
        unreg.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let _ = registrar.close().await;
    (reg, upd, unreg)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

fn rss_kib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
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
    println!("discovery benchmark: {EVENTS} changes, each timed from the registrar's call to the watcher's cache event");
    println!();
    println!("| server | register p50/p99 µs | update p50/p99 µs | unregister p50/p99 µs | all p50/p99 µs |");
    println!("|---|---:|---:|---:|---:|");
    let bundled = ServerHandle::builder()
        .port(0)
        .start()
        .await
        .expect("zk-server");
    // Durable servers fsync every write before replying: compare like with like.
    let data_dir =
        std::env::temp_dir().join(format!("zkmesh-discovery-bench-{}", std::process::id()));
    let durable = ServerHandle::builder()
        .port(0)
        .data_dir(&data_dir)
        .start()
        .await
        .expect("zk-server --data-dir");
    let apache = ApacheZk::options(1)
        .jvm_opts("-Xmx1g")
        .start()
        .await
        .expect("Apache");
    let apache_nosync = ApacheZk::options(1)
        .jvm_opts("-Xmx1g")
        .config("forceSync=no")
        .start()
        .await
        .expect("Apache forceSync=no");
    for (label, connect) in [
        ("zk-server (memory)", bundled.connect_string()),
        (
            "zk-server --data-dir (fsync per write)",
            durable.connect_string(),
        ),
        (
            "Apache ZooKeeper 3.8 (fsync per write)",
            apache.connect_string().to_owned(),
        ),
        (
            "Apache ZooKeeper 3.8, forceSync=no",
            apache_nosync.connect_string().to_owned(),
        ),
    ] {
        let (mut a, mut b, mut c) = propagation(&connect).await;
        let mut all: Vec<f64> = a.iter().chain(&b).chain(&c).copied().collect();
        println!(
            "| {label} | {:.0}/{:.0} | {:.0}/{:.0} | {:.0}/{:.0} | {:.0}/{:.0} |",
            pct(&mut a, 0.5),
            pct(&mut a, 0.99),
            pct(&mut b, 0.5),
            pct(&mut b, 0.99),
            pct(&mut c, 0.5),
            pct(&mut c, 0.99),
            pct(&mut all, 0.5),
            pct(&mut all, 0.99)
        );
    }
    drop(apache);
    drop(apache_nosync);
    drop(durable);
    let _ = std::fs::remove_dir_all(&data_dir);

    // resolve: the lock-free read every routed call makes.
    let d = ServiceDiscovery::connect(&bundled.connect_string())
        .await
        .expect("discovery");
    let cache = d.cache("bench").await.expect("cache");
    let n = 10_000_000u32;
    let t = Instant::now();
    let mut total = 0usize;
    for _ in 0..n {
        total += d.resolve("bench").map_or(0, |s| s.len());
    }
    let per_resolve = t.elapsed().as_nanos() as f64 / n as f64;
    let t = Instant::now();
    for _ in 0..n {
        total += cache.instances().len();
    }
    let per_snapshot = t.elapsed().as_nanos() as f64 / n as f64;
    std::hint::black_box(total);
    println!();
    println!("| read | ns per call |");
    println!("|---|---:|");
    println!("| `ServiceDiscovery::resolve(name)` | {per_resolve:.1} |");
    println!("| `ServiceCache::instances()` | {per_snapshot:.1} |");

    // Memory per cached instance: 10,000 instances over 1,000 services.
    let registrar = ServiceDiscovery::connect(&bundled.connect_string())
        .await
        .expect("registrar");
    let mut regs = Vec::new();
    for s in 0..1000 {
        for i in 0..10 {
            regs.push(
                registrar
                    .register(
                        ServiceInstance::new(format!("svc{s}"), "10.0.0.1", 8000)
                            .with_id(format!("i{i}"))
                            .with_payload(
                                serde_json::json!({"zone": "z1", "version": "1.0", "weight": 100}),
                            ),
                    )
                    .await
                    .expect("register"),
            );
        }
    }
    let before = rss_kib();
    let watcher = ServiceDiscovery::connect(&bundled.connect_string())
        .await
        .expect("watcher");
    let mut caches = Vec::new();
    for s in 0..1000 {
        caches.push(watcher.cache(&format!("svc{s}")).await.expect("cache"));
    }
    let cached: usize = caches.iter().map(|c| c.instances().len()).sum();
    let after = rss_kib();
    println!();
    println!(
        "memory: {cached} cached instances over {} services: {:.0} bytes per instance (process RSS growth, cache and watch bookkeeping included)",
        caches.len(),
        (after - before) * 1024.0 / cached as f64
    );
}

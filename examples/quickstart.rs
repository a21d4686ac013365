//! The zkmesh quick start, all in one process and without Java: a 3-member zk-server
//! ensemble, greeter instances (v1 and v2) that register themselves, a canary rule stored
//! in ZooKeeper, and calls routed through the tower layer while, step by step, an instance
//! stops, the ensemble's leader dies and the rule changes.
//!
//! `cargo run --release --example quickstart` (the README's first command runs this).
//! It exits with 1 if a call failed, or a step did not happen in time.
//!
//! With `--console [ADDR:PORT]` (default `127.0.0.1:8080`) it then keeps the ensemble,
//! the greeters and the rule, and serves the web console (`zkctl console`) on them until
//! Ctrl-C: the services, the rule and its split, the tree and the members, live.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zk_client::retry::ExponentialBackoff;
use zk_client::{Client, CreateOptions};
use zk_discovery::ServiceDiscovery;
use zk_router::{Router, RouterEvent};
use zk_server::ensemble::Ensemble;
use zkctl::connect::Connection;
use zkctl::console::{Console, ConsoleOptions};
use zkmesh_examples::greeter::{GreeterClient, HelloRequest};
use zkmesh_examples::instance::Instance;
use zkmesh_examples::routed::routed_greeter;
use zkmesh_examples::BoxError;

/// Concurrent callers, and the pause between one caller's calls: about 400 calls a
/// second, enough for clear shares and few enough to read.
const CALLERS: usize = 4;
const PAUSE: Duration = Duration::from_millis(10);
/// How long traffic runs in each step before its table is final.
const STEP: Duration = Duration::from_secs(3);
/// Longest wait for anything the quick start waits for.
const PATIENCE: Duration = Duration::from_secs(30);

const RULE: &str = r#"{"routes": [
  {"name": "beta users try v2",
   "match": {"headers": [{"name": "x-user-group", "exact": "beta"}]},
   "destinations": [{"subset": {"version": "v2"}}]},
  {"name": "everyone else: 90/10",
   "destinations": [{"subset": {"version": "v1"}, "weight": 90},
                    {"subset": {"version": "v2"}, "weight": 10}]}
]}"#;

const RULE_50_50: &str = r#"{"routes": [
  {"name": "beta users try v2",
   "match": {"headers": [{"name": "x-user-group", "exact": "beta"}]},
   "destinations": [{"subset": {"version": "v2"}}]},
  {"name": "everyone else: 50/50",
   "destinations": [{"subset": {"version": "v1"}, "weight": 50},
                    {"subset": {"version": "v2"}, "weight": 50}]}
]}"#;

#[tokio::main]
async fn main() {
    zkmesh_examples::init_logging("error");
    let console = match console_option(std::env::args().skip(1).collect()) {
        Ok(console) => console,
        Err(e) => {
            eprintln!("{e}\nusage: quickstart [--console [ADDR:PORT]]");
            std::process::exit(2);
        }
    };
    match run(console).await {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("quickstart failed: {e}");
            std::process::exit(1);
        }
    }
}

/// `--console [ADDR:PORT]`: where to serve the console afterwards, if anywhere.
fn console_option(args: Vec<String>) -> Result<Option<SocketAddr>, String> {
    match args.as_slice() {
        [] => Ok(None),
        [flag] if flag == "--console" => Ok(Some(SocketAddr::from(([127, 0, 0, 1], 8080)))),
        [flag, addr] if flag == "--console" => addr
            .parse()
            .map(Some)
            .map_err(|e| format!("--console {addr}: {e}")),
        other => Err(format!("unexpected arguments: {}", other.join(" "))),
    }
}

/// Runs every step; `Ok(false)` when a call failed.
async fn run(console: Option<SocketAddr>) -> Result<bool, BoxError> {
    let started = Instant::now();
    say(
        "1/7",
        "Starting a 3-member zk-server ensemble in this process",
    );
    let mut ensemble = Ensemble::builder().members(3).start().await?;
    ensemble.wait_serving(PATIENCE).await?;
    let leader = ensemble.leader().await?;
    let hosts = ensemble.connect_string();
    detail(&format!("serving on {hosts}"));
    detail(&format!("member {} leads, the others follow", leader + 1));

    say(
        "2/7",
        "Starting greeters; each registers itself in discovery",
    );
    let mut instances = BTreeMap::new();
    for (id, version) in [
        ("greeter-v1-a", "v1"),
        ("greeter-v1-b", "v1"),
        ("greeter-v2-a", "v2"),
    ] {
        // A session of its own, as a separate process would have.
        let discovery = ServiceDiscovery::connect(&hosts).await?;
        let instance = Instance::start(&discovery, "greeter", id, version).await?;
        detail(&format!(
            "{id} ({version}) at {} -> /services/greeter/{id}",
            instance.addr()
        ));
        instances.insert(id, (instance, discovery));
    }

    say("3/7", "Storing the rule at /routes/greeter");
    let admin = Client::connect(&hosts).await?;
    let retry = ExponentialBackoff::new(Duration::from_millis(50), 10);
    admin
        .create("/routes", b"", &CreateOptions::persistent())
        .await?;
    admin
        .create(
            "/routes/greeter",
            RULE.as_bytes(),
            &CreateOptions::persistent(),
        )
        .await?;
    detail("beta users (header x-user-group: beta) -> v2");
    detail("everyone else -> v1 90%, v2 10%");

    // The caller: its own discovery session and a router following the service and rule.
    let discovery = ServiceDiscovery::connect(&hosts).await?;
    let router = Router::watch(&discovery, "greeter", None).await?;
    wait_for(
        || endpoints(&router).len() == 3,
        "the caller to see 3 instances",
    )
    .await?;
    let client = routed_greeter(router.clone());
    let tally = Tally::default();
    let running = Arc::new(AtomicBool::new(true));
    let callers: Vec<_> = (0..CALLERS)
        .map(|i| {
            tokio::spawn(call_forever(
                client.clone(),
                i,
                tally.clone(),
                running.clone(),
            ))
        })
        .collect();
    let mut summary = Vec::new();

    say("4/7", "Routing calls: 1 in 5 from beta users");
    let window = tally.window();
    tally.show_live(STEP, &window, [90, 10]).await;
    summary.push(("steady state".to_owned(), None, window.failures()));

    say(
        "5/7",
        "Stopping greeter-v1-b (it unregisters first, as on SIGTERM)",
    );
    let window = tally.window();
    let (stopping, stopping_discovery) = instances
        .remove("greeter-v1-b")
        .ok_or("greeter-v1-b is not running")?;
    let t0 = Instant::now();
    stopping.unregister().await?;
    wait_for(
        || !endpoints(&router).iter().any(|e| e == "greeter-v1-b"),
        "the caller's cache to drop greeter-v1-b",
    )
    .await?;
    let adapted = t0.elapsed();
    detail(&format!(
        "the caller's cache dropped it after {}; it then stops",
        ms(adapted)
    ));
    stopping.shutdown().await?;
    stopping_discovery.close().await?;
    tally.show_live(STEP, &window, [90, 10]).await;
    summary.push((
        "an instance stops".to_owned(),
        Some(adapted),
        window.failures(),
    ));

    say(
        "6/7",
        &format!("Killing the ensemble's leader, member {}", leader + 1),
    );
    let window = tally.window();
    let t0 = Instant::now();
    ensemble.kill(leader).await;
    detail("calls go on from the caller's cache while the members elect");
    let new_leader = ensemble.leader().await?;
    let elected = t0.elapsed();
    detail(&format!(
        "member {} leads after {}",
        new_leader + 1,
        ms(elected)
    ));
    // The admin client was perhaps connected to the dead member: its calls may meet a
    // connection loss while it moves, so reads go through a retry loop.
    let registered = admin
        .retry(&retry)
        .get_children("/services/greeter")
        .await?;
    detail(&format!(
        "registrations kept: {} of {} (sessions moved to the other members)",
        registered.len(),
        instances.len()
    ));
    tally.show_live(STEP, &window, [90, 10]).await;
    summary.push((
        "the leader dies".to_owned(),
        Some(elected),
        window.failures(),
    ));
    let kept = registered.len() == instances.len();

    say("7/7", "Changing the rule: everyone else 50/50");
    let window = tally.window();
    let mut events = router.events();
    let t0 = Instant::now();
    // A conditional write: retried safely, it cannot overwrite another operator's change.
    let (_, stat) = admin.retry(&retry).get_data("/routes/greeter").await?;
    admin
        .retry(&retry)
        .set_data("/routes/greeter", RULE_50_50.as_bytes(), stat.version)
        .await?;
    let loaded = tokio::time::timeout(PATIENCE, async {
        loop {
            match events.recv().await {
                Ok(RouterEvent::RuleLoaded) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    let adapted = t0.elapsed();
    detail(&format!("the caller loaded it after {}", ms(adapted)));
    tally.show_live(STEP, &window, [50, 50]).await;
    summary.push((
        "the rule changes".to_owned(),
        Some(adapted),
        window.failures(),
    ));

    running.store(false, Ordering::Relaxed);
    for caller in callers {
        let _ = caller.await;
    }
    let (calls, failures) = tally.totals();
    println!();
    println!("Summary");
    println!(
        "  {:<22} {:>16} {:>14}",
        "step", "time to adapt", "failed calls"
    );
    for (step, adapted, failed) in &summary {
        let adapted = adapted.map_or("-".to_owned(), ms);
        println!("  {step:<22} {adapted:>16} {failed:>14}");
    }
    println!(
        "  {calls} calls, {failures} failed, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if let Some(e) = tally.first_error() {
        println!("  first failure: {e}");
    }
    if !kept {
        println!("  a registration was lost when the leader died");
    }
    if !loaded {
        println!("  the new rule was not loaded in time");
    }

    if let Some(listen) = console {
        // Back to three members, so the ensemble page shows a whole ensemble.
        ensemble.restart(leader).await?;
        serve_console(&hosts, listen).await?;
    }

    discovery.close().await?;
    for (_, (instance, discovery)) in instances {
        instance.shutdown().await?;
        discovery.close().await?;
    }
    admin.close().await?;
    ensemble.shutdown().await;
    Ok(failures == 0 && kept && loaded)
}

/// Serves the web console on the quick start's ensemble until Ctrl-C. Writes are
/// allowed: the data is this process's own and goes away with it.
async fn serve_console(hosts: &str, listen: SocketAddr) -> Result<(), BoxError> {
    let options = ConsoleOptions {
        listen,
        allow_writes: true,
        token: None,
    };
    let console = Console::start(&Connection::new(hosts), options).await?;
    println!();
    println!(
        "zkmesh console on http://{}/ (Ctrl-C to stop)",
        console.addr()
    );
    for page in ["services", "routes/greeter", "tree", "ensemble"] {
        println!("  http://{}/#/{page}", console.addr());
    }
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    console.stop().await;
    Ok(())
}

/// One caller: a call every [`PAUSE`], every fifth as a beta user, until told to stop.
async fn call_forever<S>(
    mut client: GreeterClient<S>,
    caller: usize,
    tally: Tally,
    running: Arc<AtomicBool>,
) where
    S: tonic::client::GrpcService<tonic::body::Body>,
    S::Error: Into<tonic::codegen::StdError>,
    S::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <S::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let mut n = caller;
    while running.load(Ordering::Relaxed) {
        n += 1;
        let beta = n % 5 == 0;
        let mut request = tonic::Request::new(HelloRequest {
            name: format!("caller {caller}"),
        });
        if beta {
            request.metadata_mut().insert(
                "x-user-group",
                tonic::metadata::MetadataValue::from_static("beta"),
            );
        }
        match client.say_hello(request).await {
            Ok(reply) => {
                let reply = reply.into_inner();
                tally.served(&reply.served_by, &reply.version, beta);
            }
            Err(e) => tally.failed(e.to_string()),
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// The ids of the router's current endpoints.
fn endpoints(router: &Router) -> Vec<String> {
    router
        .table()
        .endpoints()
        .iter()
        .map(|e| e.id.clone())
        .collect()
}

/// Polls `done` until it holds, up to [`PATIENCE`].
async fn wait_for(mut done: impl FnMut() -> bool, what: &str) -> Result<(), BoxError> {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// Counts of served and failed calls, in total and per window (one per step).
#[derive(Clone, Default)]
struct Tally(Arc<Mutex<Counts>>);

#[derive(Default)]
struct Counts {
    /// Per instance: (version, ordinary calls, beta calls), since the start.
    served: BTreeMap<String, (String, u64, u64)>,
    failures: u64,
    first_error: Option<String>,
}

/// What the tally said when a step began; a step's figures are the difference.
struct Window {
    tally: Tally,
    start: BTreeMap<String, (String, u64, u64)>,
    failures: u64,
}

impl Tally {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn served(&self, id: &str, version: &str, beta: bool) {
        let mut counts = self.lock();
        let entry = counts
            .served
            .entry(id.to_owned())
            .or_insert_with(|| (version.to_owned(), 0, 0));
        if beta {
            entry.2 += 1;
        } else {
            entry.1 += 1;
        }
    }

    fn failed(&self, error: String) {
        let mut counts = self.lock();
        counts.failures += 1;
        counts.first_error.get_or_insert(error);
    }

    fn totals(&self) -> (u64, u64) {
        let counts = self.lock();
        let served: u64 = counts.served.values().map(|(_, a, b)| a + b).sum();
        (served + counts.failures, counts.failures)
    }

    fn first_error(&self) -> Option<String> {
        self.lock().first_error.clone()
    }

    fn window(&self) -> Window {
        let counts = self.lock();
        Window {
            tally: self.clone(),
            start: counts.served.clone(),
            failures: counts.failures,
        }
    }

    /// Shows the window's table for `duration`: redrawn in place on a terminal, printed
    /// once at the end otherwise. `split` is the rule's v1/v2 split for ordinary users.
    async fn show_live(&self, duration: Duration, window: &Window, split: [u64; 2]) {
        let live = std::io::stdout().is_terminal();
        let end = Instant::now() + duration;
        let mut drawn = 0;
        loop {
            let last = Instant::now() >= end;
            if live || last {
                let lines = window.table(split);
                let mut out = std::io::stdout().lock();
                if drawn > 0 {
                    // Back to the table's first line, to draw over it.
                    let _ = write!(out, "\x1b[{drawn}A");
                }
                for line in &lines {
                    if live {
                        // Clears what a longer line drawn before left behind.
                        let _ = write!(out, "\x1b[2K");
                    }
                    let _ = writeln!(out, "{line}");
                }
                let _ = out.flush();
                drawn = lines.len();
            }
            if last {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Window {
    /// Calls that failed in this window.
    fn failures(&self) -> u64 {
        self.tally.lock().failures - self.failures
    }

    /// The window's table, each line under 80 columns.
    fn table(&self, split: [u64; 2]) -> Vec<String> {
        let counts = self.tally.lock();
        let mut lines = vec![format!(
            "    {:<14} {:<8} {:>10} {:>10} {:>8}",
            "instance", "version", "ordinary", "beta", "share"
        )];
        let mut per_version = [0u64; 2];
        let mut beta_v2 = 0;
        let mut rows = Vec::new();
        for (id, (version, ordinary, beta)) in &counts.served {
            let (o0, b0) = self.start.get(id).map_or((0, 0), |(_, o, b)| (*o, *b));
            let (ordinary, beta) = (ordinary - o0, beta - b0);
            if ordinary + beta == 0 {
                continue;
            }
            let v = usize::from(version == "v2");
            per_version[v] += ordinary;
            if v == 1 {
                beta_v2 += beta;
            }
            rows.push((id, version, ordinary, beta));
        }
        let ordinary_total: u64 = per_version.iter().sum();
        let beta_total: u64 = rows.iter().map(|r| r.3).sum();
        for (id, version, ordinary, beta) in rows {
            lines.push(format!(
                "    {id:<14} {version:<8} {ordinary:>10} {beta:>10} {:>8}",
                percent(ordinary, ordinary_total)
            ));
        }
        lines.push(format!(
            "    ordinary: v1 {} v2 {} (rule {}/{}); beta on v2: {}; failed: {}",
            percent(per_version[0], ordinary_total),
            percent(per_version[1], ordinary_total),
            split[0],
            split[1],
            percent(beta_v2, beta_total),
            counts.failures - self.failures,
        ));
        lines
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// A step's headline.
fn say(step: &str, what: &str) {
    println!();
    println!("[{step}] {what}");
}

/// A line under a step.
fn detail(what: &str) {
    println!("    {what}");
}

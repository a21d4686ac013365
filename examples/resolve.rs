//! Resolve-and-route without tower: what an application that does not use tower writes.
//! For each call it asks the router for an endpoint, calls it over a channel it keeps per
//! endpoint, and reports the outcome, which feeds load-aware policies and passive health
//! checking (an endpoint that keeps failing is ejected for a while).
//!
//! `cargo run --example resolve -- [CALLS]` (default 10). Reads `ZK_HOSTS`; with it unset,
//! it embeds a zk-server and starts two greeters of its own to route between.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use zk_discovery::ServiceDiscovery;
use zk_router::{RequestContext, Router};
use zkmesh_examples::greeter::{GreeterClient, HelloRequest};
use zkmesh_examples::instance::Instance;
use zkmesh_examples::zookeeper::ZooKeeper;
use zkmesh_examples::BoxError;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    zkmesh_examples::init_logging("warn");
    let calls: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().map_err(|e| format!("CALLS: {e}"))?,
        None => 10,
    };

    let zk = ZooKeeper::from_env().await?;
    let discovery = ServiceDiscovery::connect(zk.hosts()).await?;
    let mut own = Vec::new();
    if zk.is_embedded() {
        println!("ZK_HOSTS is unset: embedded zk-server with two greeters of its own");
        for id in ["greeter-local-a", "greeter-local-b"] {
            own.push(Instance::start(&discovery, "greeter", id, "v1").await?);
        }
    }
    let router = Router::watch(&discovery, "greeter", None).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while router.table().endpoints().is_empty() {
        if Instant::now() > deadline {
            return Err("no greeter registered within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // One channel per endpoint, made on first use (a channel multiplexes calls over one
    // HTTP/2 connection). Keyed by address, so a re-registered instance keeps its channel.
    let mut channels: HashMap<String, GreeterClient<Channel>> = HashMap::new();
    let mut failed = 0;
    for i in 0..calls {
        // 1. Resolve: which endpoint, under the rule and its policy.
        let picked = router.route(&RequestContext {
            method: "SayHello",
            ..Default::default()
        })?;
        let authority = picked.endpoint().authority();
        let client = match channels.get(&authority) {
            Some(client) => client.clone(),
            None => {
                let channel = Channel::from_shared(format!("http://{authority}"))?.connect_lazy();
                let client = GreeterClient::new(channel);
                channels.insert(authority.clone(), client.clone());
                client
            }
        };
        // 2. Call it, holding `picked` meanwhile (it counts as a request in flight).
        let request = HelloRequest {
            name: format!("call {i}"),
        };
        match client.clone().say_hello(request).await {
            Ok(reply) => {
                // 3. Report the outcome.
                picked.success();
                let reply = reply.into_inner();
                println!(
                    "{} (served by {} at {authority})",
                    reply.message, reply.served_by
                );
            }
            Err(e) => {
                picked.failure();
                failed += 1;
                println!("call {i} to {authority} failed: {e}");
            }
        }
    }

    for instance in own {
        instance.shutdown().await?;
    }
    discovery.close().await?;
    zk.shutdown().await;
    if failed > 0 {
        return Err(format!("{failed} of {calls} calls failed").into());
    }
    Ok(())
}

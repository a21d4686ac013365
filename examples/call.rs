//! A client that calls the greeter through zk-router's tower layer: instances come from
//! discovery, the rule from `/routes/greeter` (every instance when there is none), and
//! each call goes to the endpoint the rule and its policy pick.
//!
//! `cargo run --example call -- [CALLS] [USER_GROUP]` (defaults: 10 calls, no group;
//! `beta` sets the `x-user-group: beta` header a rule may match on). Reads `ZK_HOSTS`;
//! with it unset, it embeds a zk-server and starts one greeter of its own to call.

use std::time::{Duration, Instant};

use zk_discovery::ServiceDiscovery;
use zk_router::Router;
use zkmesh_examples::greeter::HelloRequest;
use zkmesh_examples::instance::Instance;
use zkmesh_examples::routed::routed_greeter;
use zkmesh_examples::zookeeper::ZooKeeper;
use zkmesh_examples::BoxError;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    zkmesh_examples::init_logging("warn");
    let mut args = std::env::args().skip(1);
    let calls: usize = match args.next() {
        Some(n) => n.parse().map_err(|e| format!("CALLS: {e}"))?,
        None => 10,
    };
    let group = args.next();

    let zk = ZooKeeper::from_env().await?;
    let discovery = ServiceDiscovery::connect(zk.hosts()).await?;
    let own = if zk.is_embedded() {
        println!("ZK_HOSTS is unset: embedded zk-server with a greeter of its own");
        Some(Instance::start(&discovery, "greeter", "greeter-local", "v1").await?)
    } else {
        None
    };

    let router = Router::watch(&discovery, "greeter", None).await?;
    wait_for_instances(&router).await?;
    let mut client = routed_greeter(router.clone());

    let mut failed = 0;
    for i in 0..calls {
        let mut request = tonic::Request::new(HelloRequest {
            name: format!("call {i}"),
        });
        if let Some(group) = &group {
            request
                .metadata_mut()
                .insert("x-user-group", group.parse()?);
        }
        match client.say_hello(request).await {
            Ok(reply) => {
                let reply = reply.into_inner();
                println!(
                    "{} (served by {} {})",
                    reply.message, reply.served_by, reply.version
                );
            }
            Err(e) => {
                failed += 1;
                println!("call {i} failed: {e}");
            }
        }
    }

    if let Some(instance) = own {
        instance.shutdown().await?;
    }
    discovery.close().await?;
    zk.shutdown().await;
    if failed > 0 {
        return Err(format!("{failed} of {calls} calls failed").into());
    }
    Ok(())
}

/// Waits (up to 30 s) for at least one registered instance.
async fn wait_for_instances(router: &Router) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut told = false;
    while router.table().endpoints().is_empty() {
        if !told {
            println!("waiting for a greeter to register (run the register example)");
            told = true;
        }
        if Instant::now() > deadline {
            return Err("no greeter registered within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

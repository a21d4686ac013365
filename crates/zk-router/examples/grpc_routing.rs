//! The zkmesh demo, all in one process and without Java: an embedded zk-server, three
//! gRPC (tonic) servers that register themselves with zk-discovery, a routing rule stored
//! in ZooKeeper, and a client whose calls are routed through the tower layer — then the
//! rule changes live and the traffic follows.
//!
//! `cargo run -p zk-router --example grpc_routing` (or `scripts/demo.sh`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::transport::{Channel, Server};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower::ServiceExt;
use zk_client::CreateOptions;
use zk_discovery::{ServiceDiscovery, ServiceInstance};
use zk_router::{http_route_key, Endpoint, RouteLayer, Router, RouterEvent, ServerErrors};

/// A gRPC server whose health service names it (`orders-1.0-a`…), so answers show who served.
async fn start_server(name: &str) -> Result<std::net::SocketAddr, Box<dyn std::error::Error>> {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("whoami", tonic_health::ServingStatus::Serving)
        .await;
    reporter
        .set_service_status(name, tonic_health::ServingStatus::Serving)
        .await;
    let incoming = tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse()?)?;
    let addr = incoming.local_addr()?;
    tokio::spawn(async move {
        let _keep = reporter;
        let _ = Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await;
    });
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();

    // 1. The bundled ZooKeeper-compatible server, embedded.
    let zk = zk_server::ServerHandle::builder().port(0).start().await?;
    println!("zk-server listening on {}", zk.connect_string());

    // 2. Three instances of the "orders" service register themselves.
    let discovery = ServiceDiscovery::connect(&zk.connect_string()).await?;
    for (name, version) in [
        ("orders-1.0-a", "1.0"),
        ("orders-1.0-b", "1.0"),
        ("orders-2.0-canary", "2.0"),
    ] {
        let addr = start_server(name).await?;
        discovery
            .register(
                ServiceInstance::new("orders", addr.ip().to_string(), addr.port())
                    .with_id(name)
                    .with_payload(serde_json::json!({ "version": version, "zone": "local" })),
            )
            .await?;
        println!("registered {name} (version {version}) at {addr}");
    }

    // 3. An operator stores a rule: beta users go to the canary, everyone else 90/10.
    let admin = discovery.client().client();
    admin
        .create("/routes", b"", &CreateOptions::persistent())
        .await?;
    let rule = br#"{"routes": [
        {"name": "beta users try the canary",
         "match": {"headers": [{"name": "x-user-group", "exact": "beta"}]},
         "destinations": [{"subset": {"version": "2.0"}}]},
        {"name": "everyone else: 90/10",
         "destinations": [{"subset": {"version": "1.0"}, "weight": 90},
                          {"subset": {"version": "2.0"}, "weight": 10}],
         "policy": {"type": "least_request"}}
    ]}"#;
    admin
        .create("/routes/orders", rule, &CreateOptions::persistent())
        .await?;
    println!("rule stored at /routes/orders");

    // 4. A client routes its calls through the tower layer: a tonic Channel per endpoint,
    //    wrapped to count the calls each endpoint receives.
    let router = Router::watch(&discovery, "orders", None).await?;
    let served: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    let counts = served.clone();
    let make = tower::service_fn(move |e: Arc<Endpoint>| {
        let counts = counts.clone();
        async move {
            let channel = Channel::from_shared(format!("http://{}", e.authority()))?.connect_lazy();
            let id = e.id.clone();
            Ok::<_, tonic::codegen::http::uri::InvalidUri>(channel.map_request(move |req| {
                if let Ok(mut c) = counts.lock() {
                    *c.entry(id.clone()).or_default() += 1;
                }
                req
            }))
        }
    });
    let routed = tower::ServiceBuilder::new()
        .layer(
            RouteLayer::new(router.clone(), http_route_key::<tonic::body::Body>)
                .classify(ServerErrors),
        )
        .service(make);
    let client = HealthClient::new(routed);

    let tally = |label: &'static str, beta: bool| {
        let mut client = client.clone();
        let served = served.clone();
        async move {
            if let Ok(mut s) = served.lock() {
                s.clear();
            }
            for _ in 0..200 {
                let mut req = tonic::Request::new(HealthCheckRequest {
                    service: "whoami".into(),
                });
                if beta {
                    req.metadata_mut()
                        .insert("x-user-group", "beta".parse().expect("ascii"));
                }
                if let Err(e) = client.check(req).await {
                    println!("call failed: {e}");
                }
            }
            let counts = served.lock().map(|s| s.clone()).unwrap_or_default();
            println!("{label}: {counts:?}");
        }
    };
    tally("200 calls from ordinary users", false).await;
    tally("200 calls from beta users", true).await;

    // 5. The rule changes live: drain the canary.
    let mut events = router.events();
    admin
        .set_data(
            "/routes/orders",
            br#"{"routes": [{"destinations": [{"subset": {"version": "1.0"}}]}]}"#,
            None,
        )
        .await?;
    if let Ok(Ok(RouterEvent::RuleLoaded)) =
        tokio::time::timeout(Duration::from_secs(5), events.recv()).await
    {
        println!("rule updated: canary drained");
    }
    tally("200 calls after the update", false).await;

    discovery.close().await?;
    zk.shutdown().await;
    Ok(())
}

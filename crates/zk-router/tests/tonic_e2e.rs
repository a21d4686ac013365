//! End to end through the tower layer: real tonic gRPC servers register themselves with
//! zk-discovery, a client's `RouteLayer` routes each call by the rule in ZooKeeper to a
//! per-endpoint tonic `Channel`, and the answers show which subset served them. Also
//! tower's own p2c balancer fed by our `Discover`.

use std::sync::Arc;
use std::time::Duration;

use tonic::transport::{Channel, Server};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use zk_client::CreateOptions;
use zk_discovery::{ServiceDiscovery, ServiceInstance};
use zk_router::{http_route_key, Endpoint, RouteLayer, Router, ServerErrors};
use zk_server::ServerHandle;

/// A gRPC server whose health service reports `version` as SERVING and nothing else, so a
/// check for a version name tells which server answered.
async fn grpc_server(version: &str) -> std::net::SocketAddr {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(version, tonic_health::ServingStatus::Serving)
        .await;
    let incoming =
        tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = incoming.local_addr().unwrap();
    tokio::spawn(async move {
        let _keep = reporter;
        Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await
            .unwrap();
    });
    addr
}

fn channel(e: &Endpoint) -> Channel {
    Channel::from_shared(format!("http://{}", e.authority()))
        .unwrap()
        .connect_lazy()
}

/// Whether the server that answered a check for `version` serves it.
macro_rules! answered_by {
    ($client:expr, $version:expr) => {
        $client
            .check(HealthCheckRequest {
                service: $version.into(),
            })
            .await
            .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32)
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_follow_the_rule_through_the_layer() {
    let zk = ServerHandle::builder().port(0).start().await.unwrap();
    let discovery = ServiceDiscovery::connect(&zk.connect_string())
        .await
        .unwrap();
    for version in ["v1", "v2"] {
        let addr = grpc_server(version).await;
        discovery
            .register(
                ServiceInstance::new("greeter", addr.ip().to_string(), addr.port())
                    .with_id(version)
                    .with_payload(serde_json::json!({ "version": version })),
            )
            .await
            .unwrap();
    }
    let admin = discovery.client().client();
    admin
        .create("/routes", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    admin
        .create(
            "/routes/greeter",
            br#"{"routes": [
                {"match": {"headers": [{"name": "x-group", "exact": "beta"}]},
                 "destinations": [{"subset": {"version": "v2"}}]},
                {"destinations": [{"subset": {"version": "v1"}}]}
            ]}"#,
            &CreateOptions::persistent(),
        )
        .await
        .unwrap();
    let router = Router::watch(&discovery, "greeter", None).await.unwrap();
    let make = tower::service_fn(|e: Arc<Endpoint>| async move {
        Ok::<_, std::convert::Infallible>(channel(&e))
    });
    let routed = tower::ServiceBuilder::new()
        .layer(
            RouteLayer::new(router.clone(), http_route_key::<tonic::body::Body>)
                .classify(ServerErrors),
        )
        .service(make);
    let mut client = HealthClient::new(routed);

    // Default callers: the v1 subset.
    for _ in 0..5 {
        assert!(answered_by!(client, "v1"));
    }
    // Beta callers (a header on the request): v2.
    for _ in 0..5 {
        let mut req = tonic::Request::new(HealthCheckRequest {
            service: "v2".into(),
        });
        req.metadata_mut()
            .insert("x-group", "beta".parse().unwrap());
        let status = client.check(req).await.unwrap().into_inner().status;
        assert_eq!(status, ServingStatus::Serving as i32);
    }
    // The rule changes live: everyone to v2.
    admin
        .set_data(
            "/routes/greeter",
            br#"{"routes": [{"destinations": [{"subset": {"version": "v2"}}]}]}"#,
            None,
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !answered_by!(client, "v2") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("rule change applied");
    let stats = router.stats();
    assert!(stats.requests >= 10 && stats.rules_loaded >= 2, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn towers_own_balancer_runs_on_our_discover() {
    let zk = ServerHandle::builder().port(0).start().await.unwrap();
    let discovery = ServiceDiscovery::connect(&zk.connect_string())
        .await
        .unwrap();
    let cache = discovery.cache("greeter").await.unwrap();
    let discover = zk_router::discover(cache, |i: &ServiceInstance| {
        Channel::from_shared(format!("http://{}:{}", i.address, i.port.unwrap_or(0)))
            .unwrap()
            .connect_lazy()
    });
    let balanced = tower::balance::p2c::Balance::new(tower::load::PendingRequestsDiscover::new(
        discover,
        tower::load::CompleteOnResponse::default(),
    ));
    let buffered = tower::buffer::Buffer::new(balanced, 64);
    // Instances registered after the balancer exists are picked up from the cache events.
    for version in ["v1", "v2"] {
        let addr = grpc_server(version).await;
        discovery
            .register(
                ServiceInstance::new("greeter", addr.ip().to_string(), addr.port())
                    .with_id(version),
            )
            .await
            .unwrap();
    }
    let mut client = HealthClient::new(buffered);
    let mut seen = std::collections::BTreeSet::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while seen.len() < 2 {
            for v in ["v1", "v2"] {
                if answered_by!(client, v) {
                    seen.insert(v);
                }
            }
        }
    })
    .await
    .expect("both instances served through tower's balancer");
}

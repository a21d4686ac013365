//! Response classification in the tower layer: an endpoint that answers, but answers with
//! server errors, is ejected when the layer classifies responses.

use std::sync::Arc;
use std::time::Duration;

use tower::{Layer, ServiceExt};
use zk_discovery::ServiceInstance;
use zk_router::policy::Rng;
use zk_router::{http_route_key, Endpoint, HealthPolicy, RouteLayer, Router, ServerErrors};

fn router() -> Router {
    let r = Router::with_rng("svc", Rng::new(3));
    r.set_health(Some(HealthPolicy {
        consecutive_failures: 2,
        base_ejection: Duration::from_secs(60),
        ..Default::default()
    }));
    r.set_endpoints(
        ["good", "bad"]
            .iter()
            .enumerate()
            .map(|(i, id)| {
                Arc::new(Endpoint::from_instance(
                    &ServiceInstance::new("svc", "10.0.0.1", 8000 + i as u16).with_id(*id),
                ))
            })
            .collect(),
    );
    r
}

/// Makes, per endpoint, a service answering 200 for "good" and `bad_reply` for "bad".
fn make(
    bad_reply: fn() -> http::Response<()>,
) -> impl tower::Service<
    Arc<Endpoint>,
    Response = tower::util::BoxCloneSyncService<
        http::Request<()>,
        http::Response<()>,
        std::convert::Infallible,
    >,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    tower::service_fn(move |e: Arc<Endpoint>| async move {
        let bad = e.id == "bad";
        Ok(tower::util::BoxCloneSyncService::new(tower::service_fn(
            move |_: http::Request<()>| async move {
                Ok::<_, std::convert::Infallible>(if bad {
                    bad_reply()
                } else {
                    http::Response::new(())
                })
            },
        )))
    })
}

async fn call_many(
    svc: impl tower::Service<
            http::Request<()>,
            Response = http::Response<()>,
            Error = zk_router::tower::BoxError,
        > + Clone,
    n: usize,
) {
    for _ in 0..n {
        let _ = svc.clone().oneshot(http::Request::new(())).await;
    }
}

fn service_unavailable() -> http::Response<()> {
    let mut r = http::Response::new(());
    *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    r
}

fn grpc_unavailable() -> http::Response<()> {
    let mut r = http::Response::new(());
    r.headers_mut()
        .insert("grpc-status", http::HeaderValue::from_static("14"));
    r
}

/// Routes ten calls through a layer classifying with [`ServerErrors`]; the router.
async fn ten_classified_calls(bad_reply: fn() -> http::Response<()>) -> Router {
    let r = router();
    let svc = RouteLayer::new(r.clone(), http_route_key)
        .classify(ServerErrors)
        .layer(make(bad_reply));
    call_many(svc, 10).await;
    r
}

fn bad_is_ejected(r: &Router) -> bool {
    r.table()
        .endpoints()
        .iter()
        .any(|e| e.id == "bad" && e.is_ejected())
}

#[tokio::test]
async fn server_errors_eject_an_endpoint_that_answers_5xx() {
    let r = ten_classified_calls(service_unavailable).await;
    assert!(bad_is_ejected(&r), "503s count as failures");
    assert!(r.stats().failed_requests >= 2);
}

#[tokio::test]
async fn server_errors_eject_an_endpoint_that_answers_grpc_unavailable() {
    let r = ten_classified_calls(grpc_unavailable).await;
    assert!(
        bad_is_ejected(&r),
        "trailers-only UNAVAILABLE counts as a failure"
    );
}

#[tokio::test]
async fn without_a_classifier_any_response_is_a_success() {
    let r = router();
    let svc = RouteLayer::new(r.clone(), http_route_key).layer(make(service_unavailable));
    call_many(svc, 10).await;
    assert!(r.table().endpoints().iter().all(|e| !e.is_ejected()));
    assert_eq!(r.stats().failed_requests, 0);
}

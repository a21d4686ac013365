//! tower integration: a [`RouteLayer`] that sends each request to the endpoint the router
//! picks, through a per-endpoint service made once and reused (a tonic `Channel`, an HTTP
//! connection pool…), with each outcome fed back to the balancer and passive health; and
//! [`discover`], a `tower::discover::Discover` fed by a zk-discovery cache, for users of
//! tower's own balancers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::Stream;
use tower::discover::Change;
use tower::{Layer, Service, ServiceExt};
use zk_discovery::{CacheEvent, ServiceCache, ServiceInstance};

use crate::endpoint::Endpoint;
use crate::matcher::RequestContext;
use crate::router::Router;

/// Errors of the routed service.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What routing needs from a request, owned (see [`http_route_key`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteKey {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Caller tags.
    pub caller_tags: Vec<String>,
    /// Caller id.
    pub caller_id: String,
}

/// The route key of an HTTP request: the path, its last segment as the method (the gRPC
/// method for `/package.Service/Method`), and every header.
pub fn http_route_key<B>(req: &http::Request<B>) -> RouteKey {
    let path = req.uri().path().to_owned();
    RouteKey {
        method: path.rsplit('/').next().unwrap_or_default().to_owned(),
        headers: req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        path,
        ..Default::default()
    }
}

/// Tells whether a response that arrived (`Ok`) is still a failure of the endpoint, for
/// passive health and the request counters. Errors (`Err`) always are.
pub trait Classify<R> {
    /// Whether `response` counts against the endpoint.
    fn is_failure(&self, response: &R) -> bool;
}

/// Every response counts as a success (the default: the router cannot see inside an
/// arbitrary response type).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyResponseSucceeds;

impl<R> Classify<R> for AnyResponseSucceeds {
    fn is_failure(&self, _: &R) -> bool {
        false
    }
}

/// HTTP and gRPC: a 5xx status, or a gRPC error status sent in the headers (a
/// "trailers-only" reply, which is how servers answer calls failing before any message:
/// unavailable, deadline exceeded, internal…) is a failure of the endpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerErrors;

impl<B> Classify<http::Response<B>> for ServerErrors {
    fn is_failure(&self, response: &http::Response<B>) -> bool {
        if response.status().is_server_error() {
            return true;
        }
        // gRPC codes that blame the server rather than the request.
        matches!(
            response.headers().get("grpc-status").map(|v| v.as_bytes()),
            Some(b"4" | b"8" | b"13" | b"14" | b"15")
        )
    }
}

/// Routes requests; see the module docs.
#[derive(Clone)]
pub struct RouteLayer<X, C = AnyResponseSucceeds> {
    router: Router,
    extract: X,
    classify: C,
}

impl<X> RouteLayer<X> {
    /// A layer routing with `router`, reading requests with `extract`. Every response
    /// counts as a success until [`RouteLayer::classify`] says otherwise.
    pub fn new(router: Router, extract: X) -> Self {
        Self {
            router,
            extract,
            classify: AnyResponseSucceeds,
        }
    }
}

impl<X, C> RouteLayer<X, C> {
    /// Classifies responses with `classify` (e.g. [`ServerErrors`] for HTTP and tonic), so
    /// an endpoint answering 5xx or gRPC `UNAVAILABLE` is ejected like one that refuses
    /// connections.
    pub fn classify<C2>(self, classify: C2) -> RouteLayer<X, C2> {
        RouteLayer {
            router: self.router,
            extract: self.extract,
            classify,
        }
    }
}

impl<M: Clone, X: Clone, C: Clone> Layer<M> for RouteLayer<X, C> {
    type Service = RouteService<M, X, C>;

    fn layer(&self, make: M) -> Self::Service {
        RouteService {
            router: self.router.clone(),
            extract: self.extract.clone(),
            classify: self.classify.clone(),
            make,
            services: Arc::default(),
        }
    }
}

/// The service [`RouteLayer`] builds: `M` makes the per-endpoint services.
pub struct RouteService<M, X, C = AnyResponseSucceeds> {
    router: Router,
    extract: X,
    classify: C,
    make: M,
    services: Arc<Mutex<ServiceCacheMap>>,
}

/// Per-endpoint services, and the table generation they were last pruned against.
#[derive(Default)]
struct ServiceCacheMap {
    generation: u64,
    map: HashMap<String, Box<dyn std::any::Any + Send>>,
}

impl<M: Clone, X: Clone, C: Clone> Clone for RouteService<M, X, C> {
    fn clone(&self) -> Self {
        Self {
            router: self.router.clone(),
            extract: self.extract.clone(),
            classify: self.classify.clone(),
            make: self.make.clone(),
            services: self.services.clone(),
        }
    }
}

impl<M, X, C, S, Req> Service<Req> for RouteService<M, X, C>
where
    X: Fn(&Req) -> RouteKey,
    C: Classify<S::Response> + Clone + Send + 'static,
    M: Service<Arc<Endpoint>, Response = S> + Clone + Send + 'static,
    M::Error: Into<BoxError>,
    M::Future: Send,
    S: Service<Req> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness is per endpoint: the call waits for the chosen one to be ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = (self.extract)(&req);
        let tags: Vec<&str> = key.caller_tags.iter().map(String::as_str).collect();
        let headers: Vec<(&str, &str)> = key
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let ctx = RequestContext {
            method: &key.method,
            path: &key.path,
            headers: &headers,
            caller_tags: &tags,
            caller_id: &key.caller_id,
        };
        let picked = match self.router.route(&ctx) {
            Ok(p) => p,
            Err(e) => {
                self.router.count_request(true);
                return Box::pin(async move { Err(Box::new(e) as BoxError) });
            }
        };
        let router = self.router.clone();
        let endpoint = picked.endpoint().clone();
        let cached = self.services.lock().ok().and_then(|mut cache| {
            // Endpoints that left the table take their services (and connections) along.
            let generation = self.router.generation();
            if cache.generation != generation {
                cache.generation = generation;
                let table = self.router.table();
                let live: std::collections::HashSet<&str> = table
                    .endpoints()
                    .iter()
                    .map(|e| e.service_key.as_str())
                    .collect();
                cache.map.retain(|k, _| live.contains(k.as_str()));
            }
            cache
                .map
                .get(&endpoint.service_key)
                .and_then(|s| s.downcast_ref::<S>().cloned())
        });
        let make = self.make.clone();
        let services = self.services.clone();
        let classify = self.classify.clone();
        Box::pin(async move {
            let svc = match cached {
                Some(s) => s,
                None => match make.oneshot(endpoint.clone()).await {
                    Ok(s) => {
                        if let Ok(mut cache) = services.lock() {
                            cache
                                .map
                                .insert(endpoint.service_key.clone(), Box::new(s.clone()));
                        }
                        s
                    }
                    Err(e) => {
                        // Could not even reach the endpoint: that counts against it.
                        picked.failure();
                        router.count_request(true);
                        return Err(e.into());
                    }
                },
            };
            match svc.oneshot(req).await {
                Ok(r) if classify.is_failure(&r) => {
                    picked.failure();
                    router.count_request(true);
                    Ok(r)
                }
                Ok(r) => {
                    picked.success();
                    router.count_request(false);
                    Ok(r)
                }
                Err(e) => {
                    picked.failure();
                    router.count_request(true);
                    Err(e.into())
                }
            }
        })
    }
}

/// A `tower::discover::Discover` of a service's instances: `Insert` for each instance
/// present and each one that appears or changes, `Remove` for each one that goes. `make`
/// builds the service for an instance (e.g. a lazily connecting tonic `Channel`).
pub fn discover<S, F>(cache: ServiceCache, make: F) -> Discover<S, F>
where
    F: Fn(&ServiceInstance) -> S,
{
    let snapshot = cache.instances();
    let pending = snapshot
        .instances()
        .iter()
        .map(|i| (Change::Insert(i.id.clone(), make(i)), Some(i.clone())))
        .collect();
    Discover {
        known: HashMap::new(),
        pending,
        events: tokio_stream_recv(cache.events()),
        make,
        cache,
    }
}

type EventStream = Pin<
    Box<dyn Stream<Item = Result<CacheEvent, tokio::sync::broadcast::error::RecvError>> + Send>,
>;

fn tokio_stream_recv(rx: tokio::sync::broadcast::Receiver<CacheEvent>) -> EventStream {
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await;
        match item {
            Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
            other => Some((other, rx)),
        }
    }))
}

/// A change not yet handed out, with the instance an insert stands for.
type PendingChange<S> = (Change<String, S>, Option<Arc<ServiceInstance>>);

/// See [`discover`].
pub struct Discover<S, F> {
    /// What the consumer was last told about each instance, to resync without churn.
    known: HashMap<String, Arc<ServiceInstance>>,
    /// Changes to hand out, each with the instance an insert stands for.
    pending: std::collections::VecDeque<PendingChange<S>>,
    events: EventStream,
    make: F,
    cache: ServiceCache,
}

impl<S, F> Stream for Discover<S, F>
where
    F: Fn(&ServiceInstance) -> S + Unpin,
    S: Unpin,
{
    type Item = Result<Change<String, S>, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some((change, instance)) = self.pending.pop_front() {
                match (&change, instance) {
                    (Change::Insert(id, _), Some(i)) => {
                        self.known.insert(id.clone(), i);
                    }
                    (Change::Remove(id), _) => {
                        self.known.remove(id);
                    }
                    (Change::Insert(..), None) => {}
                }
                return Poll::Ready(Some(Ok(change)));
            }
            match self.events.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Ok(CacheEvent::Added(i) | CacheEvent::Updated(i)))) => {
                    if self.known.get(&i.id).is_some_and(|k| **k == *i) {
                        continue; // already told (replayed after a resync)
                    }
                    let svc = (self.make)(&i);
                    self.pending
                        .push_back((Change::Insert(i.id.clone(), svc), Some(i)));
                }
                Poll::Ready(Some(Ok(CacheEvent::Removed(i)))) => {
                    self.pending.push_back((Change::Remove(i.id.clone()), None));
                }
                Poll::Ready(Some(Err(_))) => {
                    // Lagged behind the cache: resynchronise from its snapshot, telling
                    // only what differs from what the consumer already has (re-inserting
                    // an unchanged instance would replace its service and connections).
                    let snapshot = self.cache.instances();
                    let present: std::collections::HashSet<&str> =
                        snapshot.instances().iter().map(|i| i.id.as_str()).collect();
                    let gone: Vec<String> = self
                        .known
                        .keys()
                        .filter(|id| !present.contains(id.as_str()))
                        .cloned()
                        .collect();
                    for id in gone {
                        self.pending.push_back((Change::Remove(id), None));
                    }
                    for i in snapshot.instances() {
                        let unchanged = self.known.get(&i.id).is_some_and(|k| **k == **i);
                        if !unchanged {
                            let svc = (self.make)(i);
                            self.pending
                                .push_back((Change::Insert(i.id.clone(), svc), Some(i.clone())));
                        }
                    }
                }
            }
        }
    }
}

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

/// Routes requests; see the module docs.
#[derive(Clone)]
pub struct RouteLayer<X> {
    router: Router,
    extract: X,
}

impl<X> RouteLayer<X> {
    /// A layer routing with `router`, reading requests with `extract`.
    pub fn new(router: Router, extract: X) -> Self {
        Self { router, extract }
    }
}

impl<M: Clone, X: Clone> Layer<M> for RouteLayer<X> {
    type Service = RouteService<M, X>;

    fn layer(&self, make: M) -> Self::Service {
        RouteService {
            router: self.router.clone(),
            extract: self.extract.clone(),
            make,
            services: Arc::default(),
        }
    }
}

/// The service [`RouteLayer`] builds: `M` makes the per-endpoint services.
pub struct RouteService<M, X> {
    router: Router,
    extract: X,
    make: M,
    services: Arc<Mutex<ServiceCacheMap>>,
}

/// Per-endpoint services, and the table generation they were last pruned against.
#[derive(Default)]
struct ServiceCacheMap {
    generation: u64,
    map: HashMap<String, Box<dyn std::any::Any + Send>>,
}

impl<M: Clone, X: Clone> Clone for RouteService<M, X> {
    fn clone(&self) -> Self {
        Self {
            router: self.router.clone(),
            extract: self.extract.clone(),
            make: self.make.clone(),
            services: self.services.clone(),
        }
    }
}

impl<M, X, S, Req> Service<Req> for RouteService<M, X>
where
    X: Fn(&Req) -> RouteKey,
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
        let slot = format!("{}@{}", endpoint.id, endpoint.authority());
        let cached = self.services.lock().ok().and_then(|mut cache| {
            // Endpoints that left the table take their services (and connections) along.
            let generation = self.router.generation();
            if cache.generation != generation {
                cache.generation = generation;
                let live: std::collections::HashSet<String> = self
                    .router
                    .table()
                    .endpoints()
                    .iter()
                    .map(|e| format!("{}@{}", e.id, e.authority()))
                    .collect();
                cache.map.retain(|k, _| live.contains(k));
            }
            cache
                .map
                .get(&slot)
                .and_then(|s| s.downcast_ref::<S>().cloned())
        });
        let make = self.make.clone();
        let services = self.services.clone();
        Box::pin(async move {
            let svc = match cached {
                Some(s) => s,
                None => match make.oneshot(endpoint).await {
                    Ok(s) => {
                        if let Ok(mut cache) = services.lock() {
                            cache.map.insert(slot, Box::new(s.clone()));
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
    let initial: Vec<Change<String, S>> = cache
        .instances()
        .instances()
        .iter()
        .map(|i| Change::Insert(i.id.clone(), make(i)))
        .collect();
    Discover {
        known: initial
            .iter()
            .filter_map(|c| match c {
                Change::Insert(id, _) => Some(id.clone()),
                Change::Remove(_) => None,
            })
            .collect(),
        pending: initial.into(),
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

/// See [`discover`].
pub struct Discover<S, F> {
    known: std::collections::HashSet<String>,
    pending: std::collections::VecDeque<Change<String, S>>,
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
            if let Some(change) = self.pending.pop_front() {
                match &change {
                    Change::Insert(id, _) => {
                        let id = id.clone();
                        self.known.insert(id);
                    }
                    Change::Remove(id) => {
                        let id = id.clone();
                        self.known.remove(&id);
                    }
                }
                return Poll::Ready(Some(Ok(change)));
            }
            match self.events.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Ok(CacheEvent::Added(i) | CacheEvent::Updated(i)))) => {
                    let svc = (self.make)(&i);
                    self.pending.push_back(Change::Insert(i.id.clone(), svc));
                }
                Poll::Ready(Some(Ok(CacheEvent::Removed(i)))) => {
                    self.pending.push_back(Change::Remove(i.id.clone()));
                }
                Poll::Ready(Some(Err(_))) => {
                    // Lagged behind the cache: resynchronise from its snapshot.
                    let snapshot = self.cache.instances();
                    let present: std::collections::HashSet<&str> =
                        snapshot.instances().iter().map(|i| i.id.as_str()).collect();
                    let gone: Vec<String> = self
                        .known
                        .iter()
                        .filter(|id| !present.contains(id.as_str()))
                        .cloned()
                        .collect();
                    let changes: Vec<Change<String, S>> = gone
                        .into_iter()
                        .map(Change::Remove)
                        .chain(
                            snapshot
                                .instances()
                                .iter()
                                .map(|i| Change::Insert(i.id.clone(), (self.make)(i))),
                        )
                        .collect();
                    self.pending.extend(changes);
                }
            }
        }
    }
}

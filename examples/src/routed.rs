//! A greeter client whose calls zk-router routes: the tower layer picks an endpoint per
//! call under the service's rule, and a tonic channel per endpoint carries it.

use std::sync::Arc;

use futures::future::{ready, Ready};
use tonic::body::Body;
use tonic::transport::Channel;
use tower::util::ServiceFn;
use zk_router::{
    http_route_key, Endpoint, RouteKey, RouteLayer, RouteService, Router, ServerErrors,
};

use crate::greeter::GreeterClient;
use crate::BoxError;

/// Makes the channel to an endpoint (lazily connected: the first call connects).
type MakeChannel = fn(Arc<Endpoint>) -> Ready<Result<Channel, BoxError>>;

/// The routed transport: [`RouteService`] over one channel per endpoint, counting 5xx and
/// gRPC `UNAVAILABLE` answers as the endpoint's failures.
pub type Routed =
    RouteService<ServiceFn<MakeChannel>, fn(&http::Request<Body>) -> RouteKey, ServerErrors>;

/// A greeter client routed by `router`. Cheap to clone; clones share the channels.
pub fn routed_greeter(router: Router) -> GreeterClient<Routed> {
    let extract: fn(&http::Request<Body>) -> RouteKey = http_route_key::<Body>;
    let make: MakeChannel = channel_to;
    let layer = RouteLayer::new(router, extract).classify(ServerErrors);
    GreeterClient::new(tower::Layer::layer(&layer, tower::service_fn(make)))
}

fn channel_to(endpoint: Arc<Endpoint>) -> Ready<Result<Channel, BoxError>> {
    ready(
        Channel::from_shared(format!("http://{}", endpoint.authority()))
            .map(|c| c.connect_lazy())
            .map_err(BoxError::from),
    )
}

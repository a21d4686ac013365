//! A tiny gRPC service for the examples: `zkmesh.examples.Greeter/SayHello`, whose reply
//! names the instance that served it, so a caller can see where the router sent it.
//!
//! This is the code `tonic-build` would generate from
//! `service Greeter { rpc SayHello(HelloRequest) returns (HelloReply); }`, written out by
//! hand so that the examples build without `protoc`. An application would generate it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::NamedService;

/// The request: who is greeted.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    /// The caller's name.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// The reply: the greeting and the instance that served it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    /// The greeting.
    #[prost(string, tag = "1")]
    pub message: String,
    /// The serving instance's id (as registered in discovery).
    #[prost(string, tag = "2")]
    pub served_by: String,
    /// The serving instance's version.
    #[prost(string, tag = "3")]
    pub version: String,
}

const SAY_HELLO: &str = "/zkmesh.examples.Greeter/SayHello";

/// A client of the greeter over any tonic transport: a `Channel`, or a routed service.
#[derive(Debug, Clone)]
pub struct GreeterClient<T> {
    inner: tonic::client::Grpc<T>,
}

impl<T> GreeterClient<T>
where
    T: tonic::client::GrpcService<Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    /// A client sending its calls through `inner`.
    pub fn new(inner: T) -> Self {
        Self {
            inner: tonic::client::Grpc::new(inner),
        }
    }

    /// Calls `SayHello`.
    pub async fn say_hello(
        &mut self,
        request: impl tonic::IntoRequest<HelloRequest>,
    ) -> Result<tonic::Response<HelloReply>, tonic::Status> {
        self.inner
            .ready()
            .await
            .map_err(|e| tonic::Status::unavailable(format!("not ready: {}", e.into())))?;
        let path = http::uri::PathAndQuery::from_static(SAY_HELLO);
        let codec = tonic_prost::ProstCodec::default();
        self.inner.unary(request.into_request(), path, codec).await
    }
}

/// The greeter's server side: answers as instance `id` of version `version`.
#[derive(Debug, Clone)]
pub struct GreeterServer {
    id: String,
    version: String,
}

impl GreeterServer {
    /// A greeter answering as `id` of `version`.
    pub fn new(id: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            version: version.into(),
        }
    }
}

impl NamedService for GreeterServer {
    const NAME: &'static str = "zkmesh.examples.Greeter";
}

/// The one method, as tonic's server runs it.
struct SayHello(GreeterServer);

impl tonic::server::UnaryService<HelloRequest> for SayHello {
    type Response = HelloReply;
    type Future =
        Pin<Box<dyn Future<Output = Result<tonic::Response<HelloReply>, tonic::Status>> + Send>>;

    fn call(&mut self, request: tonic::Request<HelloRequest>) -> Self::Future {
        let reply = HelloReply {
            message: format!("Hello, {}!", request.into_inner().name),
            served_by: self.0.id.clone(),
            version: self.0.version.clone(),
        };
        Box::pin(async move { Ok(tonic::Response::new(reply)) })
    }
}

impl<B> tower::Service<http::Request<B>> for GreeterServer
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            if req.uri().path() != SAY_HELLO {
                return Ok(tonic::Status::unimplemented(req.uri().path().to_owned()).into_http());
            }
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(SayHello(this), req).await)
        })
    }
}

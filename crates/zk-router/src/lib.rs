//! Routing over ZooKeeper: rules operators store in the namespace (JSON, changed live),
//! matched per request, sending each request to a subset of a service's instances with a
//! load-balancing policy.
//!
//! ```no_run
//! use zk_discovery::ServiceDiscovery;
//! use zk_router::{RequestContext, Router};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let discovery = ServiceDiscovery::connect("127.0.0.1:2181").await?;
//! let router = Router::watch(&discovery, "orders", None).await?; // rule at /routes/orders
//! let picked = router.route(&RequestContext {
//!     method: "GetOrder",
//!     headers: &[("x-user-group", "beta")],
//!     ..Default::default()
//! })?;
//! println!("send to {}", picked.authority());
//! # Ok(()) }
//! ```
//!
//! # Shape
//! - [`rule`]: the JSON format (schema in `schema/route-rule.schema.json`) and validation
//!   that names the field at fault.
//! - [`matcher`]: conditions compiled once; [`RequestContext`] borrows the request.
//! - [`policy`]: one file per load-balancing policy behind one small trait.
//! - [`table`]: a rule compiled against the current endpoints, immutable.
//! - [`Router`]: swaps tables atomically on rule or instance changes; picks lock-free.
//!   The requests in flight per bounded-load destination live outside the tables (one
//!   counter per destination and one per endpoint in it), so they stay exact across swaps.
//! - [`tower`]: [`RouteLayer`] for outbound tower/tonic calls (with
//!   [`RouteLayer::classify`] and [`ServerErrors`] so 5xx and gRPC `UNAVAILABLE` count
//!   against the endpoint), and [`discover`] for tower's own balancers.
//!
//! Rules are followed with a persistent watch (ZooKeeper 3.6+), or with one-shot watches
//! on older servers or when the discovery's `CacheOptions::one_shot_watches` asks for it.
//!
//! Dependencies: `regex` (header and path patterns), `schemars` (the JSON Schema is
//! generated from the rule types, so the two cannot drift), `arc-swap` (table swaps that
//! readers never wait for).

#![warn(missing_docs)]

pub mod endpoint;
pub mod health;
mod load;
pub mod matcher;
pub mod policy;
mod router;
pub mod rule;
pub mod table;
pub mod tower;

/// Weight of an instance that says nothing about it.
pub const DEFAULT_WEIGHT: f64 = zk_discovery::instance::DEFAULT_WEIGHT;

pub use endpoint::{Endpoint, Picked};
pub use health::HealthPolicy;
pub use matcher::RequestContext;
pub use router::{default_rule_path, Router, RouterEvent, RouterStats};
pub use rule::{Rule, RuleError};
pub use table::{Explanation, RouteError, RouteTable, Step};
pub use tower::{
    discover, http_route_key, AnyResponseSucceeds, Classify, RouteKey, RouteLayer, RouteService,
    ServerErrors,
};

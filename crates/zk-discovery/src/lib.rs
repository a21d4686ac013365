//! Service discovery over ZooKeeper, in Apache Curator's layout so that Java services
//! (Curator's `ServiceDiscovery`, Spring Cloud Zookeeper, Dubbo's application registry) and
//! Rust ones see each other.
//!
//! ```no_run
//! use zk_discovery::{ServiceDiscovery, ServiceInstance};
//!
//! # async fn demo() -> zk_discovery::Result<()> {
//! let discovery = ServiceDiscovery::connect("127.0.0.1:2181").await?;
//! let me = ServiceInstance::new("orders", "10.0.0.5", 8080)
//!     .with_payload(serde_json::json!({"zone": "eu-1a", "version": "2.3.0"}));
//! let registration = discovery.register(me).await?;
//!
//! let payments = discovery.cache("payments").await?;
//! for instance in payments.instances().instances() {
//!     println!("{}:{:?}", instance.address, instance.port);
//! }
//! # let _ = registration;
//! # Ok(()) }
//! ```
//!
//! # Shape
//! - [`instance`]: Curator's `ServiceInstance` JSON, and the routing convention inside its
//!   payload; [`naming`]: `{base}/{name}/{id}`.
//! - [`registration`]: handles that keep instances registered across session expiries,
//!   from their current state, without the recurring Curator/Dubbo bugs.
//! - [`cache`]: per-service snapshots kept current by one persistent recursive watch,
//!   read lock-free, with change events, filters, removal hold-back and empty protection.
//! - [`ServiceDiscovery`]: the entry point.
//!
//! Dependencies: `serde`/`serde_json` for the JSON layout, `arc-swap` to publish snapshots
//! that readers load without locking, `dashmap` for the service → cache map read on every
//! `resolve`.

#![warn(missing_docs)]

pub mod cache;
mod discovery;
pub mod error;
pub mod instance;
pub mod naming;
pub mod registration;

pub use cache::{CacheEvent, CacheOptions, InstanceFilter, ServiceCache, Snapshot};
pub use discovery::{DiscoveryBuilder, ServiceDiscovery};
pub use error::{DiscoveryError, Result};
pub use instance::{RoutingMeta, ServiceInstance, ServiceType, UriSpec};
pub use registration::Registration;

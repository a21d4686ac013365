//! What the top-level examples share: where ZooKeeper is ([`zookeeper`]: `ZK_HOSTS`, or a
//! server embedded in the example), a small gRPC service to route to ([`greeter`]), and
//! an instance of it that registers itself in discovery and leaves cleanly
//! ([`instance`]).
//!
//! The examples themselves are the files next to this crate's `Cargo.toml`; run one with
//! `cargo run --example NAME` from the repository's root.
//!
//! Dependencies: `prost` and `tonic-prost` carry the greeter's messages (what
//! `tonic-build` output would use); nothing else beyond the workspace's crates.

#![warn(missing_docs)]

pub mod greeter;
pub mod instance;
pub mod routed;
pub mod zookeeper;

/// The error type of the examples: anything, shown to the user as it is.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Logs to stderr at `RUST_LOG`'s level, `default` when it is unset.
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

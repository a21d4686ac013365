//! The crate's error type.

/// What can go wrong registering or discovering services.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// ZooKeeper refused or failed the operation.
    #[error("zookeeper: {0}")]
    ZooKeeper(#[from] zk_client::Error),
    /// A service name or instance id cannot be a znode name.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidName {
        /// "service name" or "instance id".
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// An instance could not be serialized, or a node's data is not an instance.
    #[error("instance JSON: {0}")]
    Json(String),
    /// The registration was already removed.
    #[error("registration {0} is no longer active")]
    Unregistered(String),
    /// The discovery service was closed.
    #[error("service discovery closed")]
    Closed,
}

/// Result of discovery operations.
pub type Result<T, E = DiscoveryError> = std::result::Result<T, E>;

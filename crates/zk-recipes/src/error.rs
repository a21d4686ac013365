//! The crate's one error type.

use std::time::Duration;

/// Why a recipe operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// ZooKeeper refused or failed the operation (after the recipe's retries).
    #[error(transparent)]
    ZooKeeper(#[from] zk_client::Error),
    /// The session the recipe worked on ended (expired or closed): whatever it held in
    /// that session (a lock, a lease, leadership) is gone.
    #[error("the session ended ({0:?}): nothing held in it is held any more")]
    SessionEnded(zk_client::SessionState),
    /// The recipe's own node disappeared while it waited (deleted by someone else).
    #[error("our node {0} was deleted by someone else")]
    NodeLost(String),
    /// A node held data this recipe cannot read (another program's, or corrupt).
    #[error("{path} holds {len} bytes this recipe cannot read: {what}")]
    BadData {
        /// The node.
        path: String,
        /// Its data's length.
        len: usize,
        /// What was expected.
        what: &'static str,
    },
    /// An argument is out of range (a path, a lease count of zero…).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Waited as long as allowed.
    #[error("gave up after {0:?}")]
    Timeout(Duration),
    /// Too many concurrent changes: an optimistic update lost every attempt.
    #[error("{0} attempts lost to concurrent changes")]
    Contended(u32),
}

/// A recipe result.
pub type Result<T, E = RecipeError> = std::result::Result<T, E>;

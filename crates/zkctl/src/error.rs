//! The crate's one error type, and the exit code each failure maps to.
//!
//! Scripts branch on the exit code, so the mapping is part of the interface: see
//! [`ExitCode`] and the crate docs.

use zk_client::Error as ZkError;
use zk_discovery::DiscoveryError;

/// The exit codes `zkctl` ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything went as asked.
    Ok = 0,
    /// Any failure not listed below (refused credentials, invalid rule, I/O, …).
    Failure = 1,
    /// The command line is wrong (clap uses 2 for its own parse errors too).
    Usage = 2,
    /// The node, service or rule does not exist.
    NotFound = 3,
    /// The write lost a race or met existing state: node exists, bad version, not empty.
    Conflict = 4,
    /// No server could be reached, or the connection was lost mid-command.
    Connection = 5,
}

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// The arguments make no sense (beyond what clap can check).
    #[error("{0}")]
    Usage(String),
    /// Something named does not exist (besides ZooKeeper's own NoNode).
    #[error("{0}")]
    NotFound(String),
    /// Existing state conflicts with the request (besides ZooKeeper's own codes).
    #[error("{0}")]
    Conflict(String),
    /// A ZooKeeper operation failed; `what` says which.
    #[error("{what}: {source}")]
    Zk {
        /// The operation and its path, e.g. `get /a`.
        what: String,
        /// The client's error.
        #[source]
        source: ZkError,
    },
    /// A discovery operation failed.
    #[error("{what}: {source}")]
    Discovery {
        /// The operation.
        what: String,
        /// The discovery error.
        #[source]
        source: DiscoveryError,
    },
    /// A member of the ensemble could not be asked (four-letter words).
    #[error("{0}")]
    Unreachable(String),
    /// A local file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Anything else, already worded for the user (an invalid rule, …).
    #[error("{0}")]
    Other(String),
}

impl CtlError {
    /// A ZooKeeper failure of operation `what`.
    pub fn zk(what: impl Into<String>) -> impl FnOnce(ZkError) -> CtlError {
        let what = what.into();
        move |source| CtlError::Zk { what, source }
    }

    /// A discovery failure of operation `what`.
    pub fn discovery(what: impl Into<String>) -> impl FnOnce(DiscoveryError) -> CtlError {
        let what = what.into();
        move |source| CtlError::Discovery { what, source }
    }

    /// The exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CtlError::Usage(_) => ExitCode::Usage,
            CtlError::NotFound(_) => ExitCode::NotFound,
            CtlError::Conflict(_) => ExitCode::Conflict,
            CtlError::Zk { source, .. } => zk_exit_code(source),
            CtlError::Discovery { source, .. } => match source {
                DiscoveryError::ZooKeeper(e) => zk_exit_code(e),
                DiscoveryError::InvalidName { .. } => ExitCode::Usage,
                _ => ExitCode::Failure,
            },
            CtlError::Unreachable(_) => ExitCode::Connection,
            CtlError::Io { .. } | CtlError::Other(_) => ExitCode::Failure,
        }
    }

    /// A short machine-readable name of the exit code, for `--json` errors.
    pub fn kind(&self) -> &'static str {
        match self.exit_code() {
            ExitCode::Ok => "ok",
            ExitCode::Failure => "failure",
            ExitCode::Usage => "usage",
            ExitCode::NotFound => "not_found",
            ExitCode::Conflict => "conflict",
            ExitCode::Connection => "connection",
        }
    }
}

fn zk_exit_code(e: &ZkError) -> ExitCode {
    match e {
        ZkError::NoNode => ExitCode::NotFound,
        ZkError::NodeExists | ZkError::BadVersion | ZkError::NotEmpty => ExitCode::Conflict,
        ZkError::MaybeApplied { error } => zk_exit_code(error),
        ZkError::Connect(_)
        | ZkError::ConnectionLoss
        | ZkError::SessionExpired
        | ZkError::RequestTimeout
        | ZkError::OperationTimeout
        | ZkError::Closed
        // A TLS handshake that failed (untrusted, wrong name, refused) is a connection
        // that could not be made; a TLS file that cannot be used is a bad option.
        | ZkError::Tls { .. } => ExitCode::Connection,
        ZkError::TlsConfig(_) | ZkError::Jaas(_) => ExitCode::Usage,
        ZkError::InvalidPath { .. } | ZkError::InvalidArgument(_) | ZkError::InvalidAcl => {
            ExitCode::Usage
        }
        _ => ExitCode::Failure,
    }
}

/// Result of a command.
pub type Result<T, E = CtlError> = std::result::Result<T, E>;

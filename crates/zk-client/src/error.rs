//! The client's one error type: every server error code of `KeeperException.Code`, plus the
//! failures that only a client can have (connection loss, timeout, closed, invalid path,
//! undecodable reply).

use zk_proto::path::PathError;
use zk_proto::{DecodeError, ErrorCode};

/// Everything a client operation can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A multi op after the failing one (it was not evaluated).
    #[error("runtime inconsistency")]
    RuntimeInconsistency,
    /// Data inconsistency reported by the server.
    #[error("data inconsistency")]
    DataInconsistency,
    /// The connection was lost before the reply arrived; the request may or may not have
    /// been applied. The client never retries by itself; see [`crate::retry`].
    #[error("connection lost")]
    ConnectionLoss,
    /// The server could not decode the request.
    #[error("server could not decode the request (marshalling error)")]
    MarshallingError,
    /// The server does not implement the operation (unknown opcode, TTL disabled, standalone
    /// reconfig, …).
    #[error("operation not implemented by the server")]
    Unimplemented,
    /// The operation timed out (server-reported).
    #[error("operation timed out")]
    OperationTimeout,
    /// Invalid arguments (bad flags, bad TTL, deleting a system node, …).
    #[error("bad arguments")]
    BadArguments,
    /// Unknown session.
    #[error("unknown session")]
    UnknownSession,
    /// Reconfig: the new config has no quorum.
    #[error("new config has no quorum")]
    NewConfigNoQuorum,
    /// Another reconfig is in progress.
    #[error("reconfig in progress")]
    ReconfigInProgress,
    /// The node does not exist (or its parent, for create).
    #[error("node does not exist")]
    NoNode,
    /// The ACL does not allow the operation.
    #[error("not authorized")]
    NoAuth,
    /// The version did not match.
    #[error("bad version")]
    BadVersion,
    /// Ephemeral nodes cannot have children.
    #[error("ephemeral nodes cannot have children")]
    NoChildrenForEphemerals,
    /// The node already exists.
    #[error("node already exists")]
    NodeExists,
    /// The node has children.
    #[error("node has children")]
    NotEmpty,
    /// The session expired; this client will not reconnect. Build a new client for a new
    /// session.
    #[error("session expired")]
    SessionExpired,
    /// Invalid callback.
    #[error("invalid callback")]
    InvalidCallback,
    /// The ACL is invalid.
    #[error("invalid ACL")]
    InvalidAcl,
    /// Authentication failed; this client will not reconnect. The server refused the
    /// credentials of an `addAuth`, or the SASL exchange
    /// ([`ClientBuilder::sasl`](crate::ClientBuilder::sasl)) failed: wrong credentials, a
    /// server that requires SASL refusing the client, or a server whose answers do not
    /// verify. The session state becomes [`SessionState::AuthFailed`](crate::SessionState).
    #[error("authentication failed")]
    AuthFailed,
    /// The session moved to another server.
    #[error("session moved")]
    SessionMoved,
    /// A write was sent to a read-only server.
    #[error("server is read-only")]
    NotReadOnly,
    /// Ephemeral create on a local session.
    #[error("ephemeral on local session")]
    EphemeralOnLocalSession,
    /// No such watch.
    #[error("no such watcher")]
    NoWatcher,
    /// The request did not complete within the client's request timeout.
    #[error("request timed out")]
    RequestTimeout,
    /// Reconfig is disabled on the server.
    #[error("reconfig disabled")]
    ReconfigDisabled,
    /// The server requires SASL authentication.
    #[error("session closed: SASL authentication required")]
    SessionClosedRequireSaslAuth,
    /// A hard quota was exceeded.
    #[error("quota exceeded")]
    QuotaExceeded,
    /// The server throttled the request; retry with back-off.
    #[error("request throttled")]
    Throttled,
    /// A server error code this client does not know.
    #[error("server error code {0}")]
    UnknownCode(i32),
    /// The client was closed.
    #[error("client closed")]
    Closed,
    /// A path failed Apache's path rules; nothing was sent.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path given.
        path: String,
        /// What is wrong with it.
        reason: PathError,
    },
    /// An argument was refused before sending (e.g. a TTL out of range).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A reply could not be decoded; the connection is dropped.
    #[error("malformed reply: {0}")]
    Marshalling(#[from] DecodeError),
    /// A multi failed atomically: op `index` failed with `error`, nothing was applied.
    #[error("multi op {index} failed: {error}")]
    MultiFailed {
        /// Index of the first failing op.
        index: usize,
        /// Its error.
        error: Box<Error>,
    },
    /// Connecting failed: no server could be reached in time.
    #[error("could not connect: {0}")]
    Connect(String),
    /// The TLS configuration could not be loaded (a PEM file missing or without a
    /// certificate, a key that does not fit the certificate, an empty system trust store).
    /// Nothing was sent.
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    /// A TLS connection to `server` failed (in the handshake, or refused by the server
    /// right after it): [`ClientBuilder::connect`](crate::ClientBuilder::connect) returns
    /// it when no session could be established and a TLS connection failed meanwhile.
    /// The client itself keeps retrying with its reconnect back-off, as for any failed
    /// connect.
    #[error("TLS with {server}: {kind}: {detail}")]
    Tls {
        /// `host:port` of the server.
        server: String,
        /// Why, in a word.
        kind: crate::tls::TlsFailure,
        /// rustls's explanation.
        detail: String,
    },
    /// A JAAS login configuration file cannot be used (see [`crate::sasl`]); it names the
    /// file and line.
    #[error("{0}")]
    Jaas(crate::sasl::JaasError),
    /// A retried write failed after an earlier attempt of it ended with its outcome unknown
    /// (connection loss or a timeout): that attempt may have been applied, and the retry's
    /// failure (`error`) may be its doing — e.g. `BadVersion` for a conditional setData,
    /// `NodeExists` for a create. Re-read to decide. Only [`crate::retry`] returns it.
    #[error("the write may have been applied by an attempt whose reply was lost; the retry failed: {error}")]
    MaybeApplied {
        /// Why the last attempt failed.
        error: Box<Error>,
    },
}

impl Error {
    /// The error for a non-zero server error code.
    pub fn from_code(code: i32) -> Error {
        use ErrorCode as C;
        match ErrorCode::from_code(code) {
            Some(C::RuntimeInconsistency) => Error::RuntimeInconsistency,
            Some(C::DataInconsistency) => Error::DataInconsistency,
            Some(C::ConnectionLoss) => Error::ConnectionLoss,
            Some(C::MarshallingError) => Error::MarshallingError,
            Some(C::Unimplemented) => Error::Unimplemented,
            Some(C::OperationTimeout) => Error::OperationTimeout,
            Some(C::BadArguments) => Error::BadArguments,
            Some(C::UnknownSession) => Error::UnknownSession,
            Some(C::NewConfigNoQuorum) => Error::NewConfigNoQuorum,
            Some(C::ReconfigInProgress) => Error::ReconfigInProgress,
            Some(C::NoNode) => Error::NoNode,
            Some(C::NoAuth) => Error::NoAuth,
            Some(C::BadVersion) => Error::BadVersion,
            Some(C::NoChildrenForEphemerals) => Error::NoChildrenForEphemerals,
            Some(C::NodeExists) => Error::NodeExists,
            Some(C::NotEmpty) => Error::NotEmpty,
            Some(C::SessionExpired) => Error::SessionExpired,
            Some(C::InvalidCallback) => Error::InvalidCallback,
            Some(C::InvalidAcl) => Error::InvalidAcl,
            Some(C::AuthFailed) => Error::AuthFailed,
            Some(C::SessionMoved) => Error::SessionMoved,
            Some(C::NotReadOnly) => Error::NotReadOnly,
            Some(C::EphemeralOnLocalSession) => Error::EphemeralOnLocalSession,
            Some(C::NoWatcher) => Error::NoWatcher,
            Some(C::RequestTimeout) => Error::RequestTimeout,
            Some(C::ReconfigDisabled) => Error::ReconfigDisabled,
            Some(C::SessionClosedRequireSaslAuth) => Error::SessionClosedRequireSaslAuth,
            Some(C::QuotaExceeded) => Error::QuotaExceeded,
            Some(C::ThrottledOp) => Error::Throttled,
            Some(_) | None => Error::UnknownCode(code),
        }
    }

    /// The ZooKeeper error code, where this error has one.
    pub fn code(&self) -> Option<ErrorCode> {
        use ErrorCode as C;
        Some(match self {
            Error::RuntimeInconsistency => C::RuntimeInconsistency,
            Error::DataInconsistency => C::DataInconsistency,
            Error::ConnectionLoss => C::ConnectionLoss,
            Error::MarshallingError | Error::Marshalling(_) => C::MarshallingError,
            Error::Unimplemented => C::Unimplemented,
            Error::OperationTimeout => C::OperationTimeout,
            Error::BadArguments | Error::InvalidPath { .. } | Error::InvalidArgument(_) => {
                C::BadArguments
            }
            Error::UnknownSession => C::UnknownSession,
            Error::NewConfigNoQuorum => C::NewConfigNoQuorum,
            Error::ReconfigInProgress => C::ReconfigInProgress,
            Error::NoNode => C::NoNode,
            Error::NoAuth => C::NoAuth,
            Error::BadVersion => C::BadVersion,
            Error::NoChildrenForEphemerals => C::NoChildrenForEphemerals,
            Error::NodeExists => C::NodeExists,
            Error::NotEmpty => C::NotEmpty,
            Error::SessionExpired => C::SessionExpired,
            Error::InvalidCallback => C::InvalidCallback,
            Error::InvalidAcl => C::InvalidAcl,
            Error::AuthFailed => C::AuthFailed,
            Error::SessionMoved => C::SessionMoved,
            Error::NotReadOnly => C::NotReadOnly,
            Error::EphemeralOnLocalSession => C::EphemeralOnLocalSession,
            Error::NoWatcher => C::NoWatcher,
            Error::RequestTimeout => C::RequestTimeout,
            Error::ReconfigDisabled => C::ReconfigDisabled,
            Error::SessionClosedRequireSaslAuth => C::SessionClosedRequireSaslAuth,
            Error::QuotaExceeded => C::QuotaExceeded,
            Error::Throttled => C::ThrottledOp,
            Error::MultiFailed { error, .. } => return error.code(),
            // What is unresolved is the lost attempt's outcome, as after a connection loss.
            Error::MaybeApplied { .. } => C::ConnectionLoss,
            Error::UnknownCode(_)
            | Error::Closed
            | Error::Connect(_)
            | Error::TlsConfig(_)
            | Error::Tls { .. }
            | Error::Jaas(_) => return None,
        })
    }

    /// Whether the session is gone for good (expired, auth failed or closed): the client
    /// will not reconnect and every later call fails the same way.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Error::SessionExpired | Error::AuthFailed | Error::Closed
        )
    }
}

/// Result of a client operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn error_is_send_sync() {
        assert_send_sync::<Error>();
    }

    #[test]
    fn every_server_code_maps_back_to_itself() {
        for code in ErrorCode::ALL {
            if matches!(
                code,
                ErrorCode::Ok | ErrorCode::SystemError | ErrorCode::ApiError
            ) {
                continue;
            }
            assert_eq!(Error::from_code(code.code()).code(), Some(code), "{code:?}");
        }
        assert_eq!(Error::from_code(-9999), Error::UnknownCode(-9999));
    }
}

//! `KeeperException.Code`: the error codes carried in `ReplyHeader.err`, `MultiHeader.err`
//! and `ErrorResponse.err`, with their wire numbers.

/// A ZooKeeper error code (`KeeperException.Code`). `Ok` is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Success.
    Ok = 0,
    /// Range marker; never sent.
    SystemError = -1,
    /// A multi op after the failing one (not evaluated).
    RuntimeInconsistency = -2,
    /// Data inconsistency.
    DataInconsistency = -3,
    /// Client-side: the connection was lost.
    ConnectionLoss = -4,
    /// The request could not be (de)serialized.
    MarshallingError = -5,
    /// The operation is not implemented by the server.
    Unimplemented = -6,
    /// Client-side: the operation timed out.
    OperationTimeout = -7,
    /// Invalid arguments (path, flags, TTL, …).
    BadArguments = -8,
    /// Unknown session (internal).
    UnknownSession = -12,
    /// Reconfig: no quorum for the new config.
    NewConfigNoQuorum = -13,
    /// Reconfig in progress.
    ReconfigInProgress = -14,
    /// Range marker; never sent.
    ApiError = -100,
    /// The node (or the parent, for create) does not exist.
    NoNode = -101,
    /// The ACL check failed.
    NoAuth = -102,
    /// Version mismatch.
    BadVersion = -103,
    /// Ephemeral nodes cannot have children.
    NoChildrenForEphemerals = -108,
    /// The node already exists.
    NodeExists = -110,
    /// The node has children.
    NotEmpty = -111,
    /// The session has expired.
    SessionExpired = -112,
    /// Client-side: invalid callback.
    InvalidCallback = -113,
    /// Invalid ACL.
    InvalidAcl = -114,
    /// Authentication failed.
    AuthFailed = -115,
    /// The session moved to another server.
    SessionMoved = -118,
    /// A write was sent to a read-only server.
    NotReadOnly = -119,
    /// Ephemeral create on a local session.
    EphemeralOnLocalSession = -120,
    /// No such watch (checkWatches/removeWatches).
    NoWatcher = -121,
    /// Client-side: request timeout.
    RequestTimeout = -122,
    /// Reconfig is disabled.
    ReconfigDisabled = -123,
    /// The server requires SASL authentication.
    SessionClosedRequireSaslAuth = -124,
    /// A hard quota was exceeded.
    QuotaExceeded = -125,
    /// The request was throttled.
    ThrottledOp = -127,
}

impl ErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: [ErrorCode; 32] = [
        Self::Ok,
        Self::SystemError,
        Self::RuntimeInconsistency,
        Self::DataInconsistency,
        Self::ConnectionLoss,
        Self::MarshallingError,
        Self::Unimplemented,
        Self::OperationTimeout,
        Self::BadArguments,
        Self::UnknownSession,
        Self::NewConfigNoQuorum,
        Self::ReconfigInProgress,
        Self::ApiError,
        Self::NoNode,
        Self::NoAuth,
        Self::BadVersion,
        Self::NoChildrenForEphemerals,
        Self::NodeExists,
        Self::NotEmpty,
        Self::SessionExpired,
        Self::InvalidCallback,
        Self::InvalidAcl,
        Self::AuthFailed,
        Self::SessionMoved,
        Self::NotReadOnly,
        Self::EphemeralOnLocalSession,
        Self::NoWatcher,
        Self::RequestTimeout,
        Self::ReconfigDisabled,
        Self::SessionClosedRequireSaslAuth,
        Self::QuotaExceeded,
        Self::ThrottledOp,
    ];

    /// The wire number.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The code with wire number `code`, or `None` for a number Apache does not define.
    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_gaps_are_unknown() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
        }
        for gap in [-9, -10, -11, -15, -99, -104, -109, -116, -126, 1] {
            assert_eq!(ErrorCode::from_code(gap), None);
        }
        assert_eq!(ErrorCode::NoNode.code(), -101);
        assert_eq!(ErrorCode::ThrottledOp.code(), -127);
    }
}

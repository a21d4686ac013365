//! Failures as the API reports them: a status and a JSON body `{"error": "…"}` that says
//! what went wrong in words, never a stack trace. Owns the mapping from the crate's
//! errors (and ZooKeeper's codes) to HTTP statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use zk_client::Error as ZkError;
use zk_discovery::DiscoveryError;

use crate::error::CtlError;

/// A failed request: its status and what to tell the caller.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// More fields for the body (a rule check's errors, the version now stored).
    extra: Option<Value>,
}

impl ApiError {
    /// A failure with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            extra: None,
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 403: not allowed here.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// Adds the fields of `extra` (an object) to the body.
    pub fn with(mut self, extra: Value) -> Self {
        self.extra = Some(extra);
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// The status for a ZooKeeper error: the caller's mistakes are 4xx, an unreachable
/// ensemble is 503, anything else the ensemble said is 502 (it is upstream of us).
fn zk_status(e: &ZkError) -> StatusCode {
    match e {
        ZkError::NoNode => StatusCode::NOT_FOUND,
        ZkError::NodeExists | ZkError::BadVersion | ZkError::NotEmpty => StatusCode::CONFLICT,
        ZkError::NoAuth | ZkError::AuthFailed => StatusCode::FORBIDDEN,
        ZkError::InvalidPath { .. }
        | ZkError::InvalidArgument(_)
        | ZkError::InvalidAcl
        | ZkError::BadArguments => StatusCode::BAD_REQUEST,
        ZkError::MaybeApplied { error } => zk_status(error),
        ZkError::Connect(_)
        | ZkError::ConnectionLoss
        | ZkError::SessionExpired
        | ZkError::RequestTimeout
        | ZkError::OperationTimeout
        | ZkError::Closed => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    }
}

impl From<ZkError> for ApiError {
    fn from(e: ZkError) -> Self {
        Self::new(zk_status(&e), e.to_string())
    }
}

impl From<CtlError> for ApiError {
    fn from(e: CtlError) -> Self {
        let status = match &e {
            CtlError::Usage(_) => StatusCode::BAD_REQUEST,
            CtlError::NotFound(_) => StatusCode::NOT_FOUND,
            CtlError::Conflict(_) => StatusCode::CONFLICT,
            CtlError::Zk { source, .. } => zk_status(source),
            CtlError::Discovery { source, .. } => match source {
                DiscoveryError::ZooKeeper(z) => zk_status(z),
                DiscoveryError::InvalidName { .. } => StatusCode::BAD_REQUEST,
                _ => StatusCode::BAD_GATEWAY,
            },
            CtlError::Unreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
            CtlError::Io { .. } | CtlError::Other(_) => StatusCode::BAD_GATEWAY,
        };
        Self::new(status, e.to_string())
    }
}

impl From<DiscoveryError> for ApiError {
    fn from(e: DiscoveryError) -> Self {
        CtlError::discovery("discovery")(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, error = %self.message, "console request failed");
        } else {
            tracing::debug!(status = %self.status, error = %self.message, "console request refused");
        }
        let mut body = json!({"error": self.message});
        if let (Some(Value::Object(extra)), Some(map)) = (self.extra, body.as_object_mut()) {
            map.extend(extra);
        }
        (self.status, axum::Json(body)).into_response()
    }
}

/// A JSON request body, parsed by us so that a bad one gets a 400 that says why.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the request body is not what was expected: {e}"))
    })
}

/// Anything not served: 404 in JSON.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("nothing at {}", uri.path()))
}

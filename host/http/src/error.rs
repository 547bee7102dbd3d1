//! The API's error body: `{"error": {"code": "...", "message": "..."}}`
//! with a stable `code` per failure.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An HTTP error with a stable code.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

/// The JSON error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error's code and message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable code, e.g. `not_found`, `invalid_json`.
    pub code: String,
    /// Explanation.
    pub message: String,
}

impl ApiError {
    /// An error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} with id `{id}`"),
        )
    }

    /// 409 with a code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 500 `internal` (details logged, not shown).
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        if e.is_unique_violation() {
            return ApiError::conflict("conflict", "a record with the same unique key exists");
        }
        // The database's own text (queries, values, server details) stays
        // in the log.
        tracing::error!(error = %e, "database error");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database is unavailable; retry later",
        )
    }
}

impl From<crate::pipeline::PipelineError> for ApiError {
    fn from(e: crate::pipeline::PipelineError) -> Self {
        match e {
            crate::pipeline::PipelineError::Store(s) => s.into(),
        }
    }
}

impl From<crate::lifecycle::LifecycleError> for ApiError {
    fn from(e: crate::lifecycle::LifecycleError) -> Self {
        use crate::lifecycle::LifecycleError;
        match e {
            LifecycleError::NotFound { what, id } => ApiError::not_found(what, &id),
            LifecycleError::Invalid { code, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            LifecycleError::Conflict { code, message } => ApiError::conflict(code, message),
            LifecycleError::Store(s) => s.into(),
            LifecycleError::Internal(m) => ApiError::internal(&m),
        }
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// The code and message of an error answer that carried no JSON body of
/// its own (a refusal from a layer rather than a handler).
fn generic(status: StatusCode) -> (&'static str, String) {
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "route_not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "body_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "refused",
    };
    let reason = status.canonical_reason().unwrap_or("error");
    (code, format!("{} {reason}", status.as_u16()))
}

/// Headers an error answer keeps when its body is replaced.
const KEPT: [axum::http::HeaderName; 4] = [
    axum::http::header::CONNECTION,
    axum::http::header::RETRY_AFTER,
    axum::http::header::WWW_AUTHENTICATE,
    axum::http::header::ALLOW,
];

/// Middleware: every error answer has the JSON error body; one that
/// comes without it (from a layer or an extractor outside Accord's
/// handlers) gets a generic code for its status.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // The dashboard's pages answer their errors in HTML, with the code
    // in `x-accord-error`; everything else speaks JSON.
    let typed = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json")
                || (v.as_bytes().starts_with(b"text/html")
                    && response.headers().contains_key("x-accord-error"))
        });
    if typed {
        return response;
    }
    let (code, message) = generic(status);
    let mut fresh = ApiError::new(status, code, message).into_response();
    for name in KEPT {
        if let Some(value) = response.headers().get(&name) {
            fresh.headers_mut().insert(name, value.clone());
        }
    }
    fresh
}

/// The answer to a handler that panicked: 500 `internal`.
pub fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal(&"a request handler panicked").into_response()
}

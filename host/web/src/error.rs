//! A page that could not be shown: an HTML page with the status, the same
//! stable code the JSON API would give, and a sentence for the person.
//! A refused action changed nothing, and the page says what to do.

use accord_core::lifecycle::LifecycleError;
use accord_core::store::StoreError;
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// Why a page or an action failed.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct PageError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable code, as in the JSON API.
    pub code: &'static str,
    /// What the person is told.
    pub message: String,
}

/// What a handler returns.
pub type PageResult<T> = Result<T, PageError>;

impl PageError {
    /// A page or object that does not exist, or that the viewer may not see.
    pub fn not_found(what: &str) -> Self {
        PageError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("no such {what}, or it is not yours to see"),
        }
    }

    /// A refused input (422) with its code.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        PageError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code,
            message: message.into(),
        }
    }

    /// A form without this session's CSRF token (403).
    pub fn csrf() -> Self {
        PageError {
            status: StatusCode::FORBIDDEN,
            code: "csrf_mismatch",
            message: "this form is stale or did not come from this dashboard; reload the page and try again"
                .to_string(),
        }
    }

    /// An action the viewer's token does not allow (403).
    pub fn forbidden(message: impl Into<String>) -> Self {
        PageError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: message.into(),
        }
    }

    /// A fault of the host: logged here, the page gives no detail.
    pub fn internal(e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, "dashboard page failed");
        PageError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "something failed on the server; it was logged".to_string(),
        }
    }
}

impl From<LifecycleError> for PageError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::NotFound { what, .. } => PageError::not_found(what),
            LifecycleError::Invalid { code, message } => PageError::invalid(code, message),
            LifecycleError::Conflict { code, message } => PageError {
                status: StatusCode::CONFLICT,
                code,
                message,
            },
            LifecycleError::Store(e) => PageError::internal(&e),
            LifecycleError::Internal(e) => PageError::internal(&e),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError::internal(&e)
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError::internal(&e)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or("Error"),
            code: self.code,
            message: &self.message,
        };
        let body = page.render().unwrap_or_else(|_| self.message.clone());
        let mut response = (self.status, Html(body)).into_response();
        response
            .headers_mut()
            .insert("x-accord-error", HeaderValue::from_static(self.code));
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// A page shown again with why an action was refused (`status` with its
/// `code`, in the `x-accord-error` header as on every error page).
pub fn refused(status: StatusCode, code: &'static str, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    response
        .headers_mut()
        .insert("x-accord-error", HeaderValue::from_static(code));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The dashboard's unknown routes.
pub async fn not_found() -> PageError {
    PageError::not_found("page")
}

/// A known route asked with another method.
pub async fn method_not_allowed() -> PageError {
    PageError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        message: "this page does not accept that method".to_string(),
    }
}

//! The static files the pages use, embedded in the binary so the README's
//! one command serves everything. Names carry their version, so they are
//! cached for a year.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An embedded file: its name, media type and bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "htmx-2.0.11.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/htmx-2.0.11.min.js"),
    ),
    (
        "accord-1.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/accord-1.js"),
    ),
    (
        "accord-1.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/accord-1.css"),
    ),
];

/// `GET /ui/assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, media_type, bytes)) => {
            let mut response = (StatusCode::OK, *bytes).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            response
        }
        None => crate::error::PageError::not_found("asset").into_response(),
    }
}

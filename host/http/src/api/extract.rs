//! Extractors whose failures are [`ApiError`]s (JSON bodies with a stable
//! code) instead of axum's plain-text rejections, and which refuse text
//! no database can store (a NUL character) before a handler sees it.

use crate::error::ApiError;
use crate::text::{self, MAX_ID_BYTES, MAX_TEXT_BYTES};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A JSON request body. Any content type is accepted. A body that does
/// not parse is a 400 `invalid_json` carrying the parser's message (line
/// and column); a field of the wrong type is a 400 `invalid_field` naming
/// the field (its path) and the type it must have; a missing or unknown
/// field is a 400 `invalid_json` naming it; a string holding a NUL
/// character, anywhere, is a 422 `invalid_text` naming where. Of
/// duplicate keys the last one counts.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

/// Like [`JsonBody`], but text is left to the handler to check (an
/// import refuses an item with a NUL character alone, not the request).
#[derive(Debug, Clone)]
pub struct UncheckedTextJsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let value = json_value(req, state).await?;
        if let Some(path) = nul_path(&value, &mut String::new()) {
            return Err(nul_error(&path));
        }
        typed(value).map(JsonBody)
    }
}

impl<S, T> FromRequest<S> for UncheckedTextJsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        typed(json_value(req, state).await?).map(UncheckedTextJsonBody)
    }
}

/// The 422 `invalid_text` for a NUL character at `path`.
pub fn nul_error(path: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_text",
        format!("`{path}` contains a NUL character (U+0000), which Accord does not store"),
    )
}

/// Reads the body as JSON.
async fn json_value<S: Send + Sync>(req: Request, state: &S) -> Result<Value, ApiError> {
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(|e| crate::body::body_error(&e, super::API_BODY_LIMIT))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("invalid JSON body: {e}")))
}

/// Decodes `value` as `T`, naming the field that does not fit.
fn typed<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let wrong_value = ["invalid type", "invalid value", "invalid length"]
            .iter()
            .any(|p| inner.starts_with(p));
        if wrong_value && path != "." {
            ApiError::bad_request(
                "invalid_field",
                format!("`{path}`: {}", text::echo(&inner, 300)),
            )
        } else if path == "." {
            ApiError::bad_request(
                "invalid_json",
                format!("invalid JSON body: {}", text::echo(&inner, 300)),
            )
        } else {
            ApiError::bad_request(
                "invalid_json",
                format!("invalid JSON body at `{path}`: {}", text::echo(&inner, 300)),
            )
        }
    })
}

/// The path of the first string (or key) in `value` holding a NUL.
pub fn nul_path(value: &Value, path: &mut String) -> Option<String> {
    match value {
        Value::String(s) if text::has_nul(s) => Some(if path.is_empty() {
            ".".into()
        } else {
            path.clone()
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = nul_path(v, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&text::echo(k, 64));
            let found = if text::has_nul(k) {
                Some(path.clone())
            } else {
                nul_path(v, path)
            };
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

/// Path parameters; a segment that does not decode, holds a NUL
/// character or is over [`MAX_ID_BYTES`] is a 400 `invalid_path`.
#[derive(Debug, Clone)]
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))?;
        for (name, value) in &raw {
            if text::has_nul(value) {
                return Err(ApiError::bad_request(
                    "invalid_path",
                    format!("`{name}` contains a NUL character (U+0000)"),
                ));
            }
            if value.len() > MAX_ID_BYTES {
                return Err(ApiError::bad_request(
                    "invalid_path",
                    format!("`{name}` is over {MAX_ID_BYTES} bytes, longer than any id"),
                ));
            }
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))
    }
}

/// A query string; one that does not fit, or a value holding a NUL
/// character or over [`MAX_TEXT_BYTES`], is a 400 `invalid_query`.
#[derive(Debug, Clone)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let pairs = axum::extract::Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
        for (name, value) in &pairs.0 {
            let name = text::echo(name, 64);
            if text::has_nul(&name) || text::has_nul(value) {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!(
                        "`{}` contains a NUL character (U+0000)",
                        name.replace('\0', "")
                    ),
                ));
            }
            if value.len() > MAX_TEXT_BYTES {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("`{name}` is over {MAX_TEXT_BYTES} bytes"),
                ));
            }
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

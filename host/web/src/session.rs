//! Sign-in, sign-out and who is looking ([`Viewing`]). A session is a
//! cookie (`HttpOnly`, `SameSite=Strict`, `Secure` behind TLS) naming a
//! row of `dashboard_sessions`; every form echoes the session's CSRF
//! token, and every POST must also come from this dashboard's own origin.
//! With no token configured, the dashboard is open (local use) and each
//! page says so.

use crate::error::{PageError, PageResult};
use crate::view::Chrome;
use accord_core::app::App;
use accord_core::clock::random_u64;
use accord_core::lifecycle::sessions::{self, Viewer};
use askama::Template;
use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::{Arc, OnceLock};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "accord_session";

/// The viewer of a page, with the CSRF token its forms echo.
#[derive(Debug, Clone)]
pub struct Viewing {
    /// Who is looking.
    pub viewer: Viewer,
    /// The token every form of the page carries.
    pub csrf: String,
}

impl Viewing {
    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, given: &str) -> PageResult<()> {
        if bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes())) && !given.is_empty() {
            Ok(())
        } else {
            Err(PageError::csrf())
        }
    }

    /// Refuses (404, as for a missing one) a workspace the viewer may not see.
    pub fn require_workspace(&self, workspace_id: &str) -> PageResult<()> {
        if self.viewer.may_see(workspace_id) {
            Ok(())
        } else {
            Err(PageError::not_found("workspace"))
        }
    }

    /// The page chrome for this viewer.
    pub fn chrome(&self, title: impl Into<String>) -> Chrome {
        Chrome::new(&self.viewer, &self.csrf, title.into())
    }
}

/// The CSRF token of open access: random per process. A page of another
/// site cannot read it, which is all a CSRF token needs.
fn open_csrf() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| (0..4).map(|_| format!("{:016x}", random_u64())).collect())
}

/// The value of cookie `name` in the request, if sent.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Whether the request came through TLS (a proxy in front says so).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// Where to go after signing in: a dashboard path, never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if (n == "/ui" || n.starts_with("/ui/") || n.starts_with("/ui?"))
                && !n.contains('\\') =>
        {
            n
        }
        _ => "/ui",
    }
}

/// What a page answers when nobody is signed in: the sign-in page for a
/// browser, a 401 with `HX-Redirect` for a script's request.
pub struct SignInFirst {
    next: String,
    script: bool,
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let target = format!("/ui/sign-in?next={}", encode(&self.next));
        if self.script {
            let mut r = PageError {
                status: StatusCode::UNAUTHORIZED,
                code: "unauthorized",
                message: "sign in first".to_string(),
            }
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&target) {
                r.headers_mut().insert("hx-redirect", v);
            }
            r
        } else {
            Redirect::to(&target).into_response()
        }
    }
}

/// Percent-encodes a path for a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl FromRequestParts<Arc<App>> for Viewing {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        if sessions::open_access(app) {
            return Ok(Viewing {
                viewer: Viewer::Open,
                csrf: open_csrf().to_string(),
            });
        }
        let resumed = match cookie(&parts.headers, SESSION_COOKIE) {
            Some(secret) => sessions::resume(app, secret)
                .await
                .map_err(|e| PageError::from(e).into_response())?,
            None => None,
        };
        match resumed {
            Some(s) => Ok(Viewing {
                viewer: s.viewer,
                csrf: s.csrf,
            }),
            None => Err(SignInFirst {
                // Nested under `/ui`, the request's URI lost its prefix.
                next: parts
                    .extensions
                    .get::<axum::extract::OriginalUri>()
                    .map_or(&parts.uri, |o| &o.0)
                    .path_and_query()
                    .map_or("/ui", |p| p.as_str())
                    .to_string(),
                script: parts.headers.contains_key("hx-request")
                    || parts
                        .headers
                        .get(header::ACCEPT)
                        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream")),
            }
            .into_response()),
        }
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    next: &'a str,
    error: Option<&'a str>,
    open_access: bool,
}

/// Query of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
}

/// `GET /ui/sign-in`.
pub async fn sign_in_page(
    State(app): State<Arc<App>>,
    Query(q): Query<SignInQuery>,
) -> PageResult<Response> {
    let page = SignInPage {
        next: safe_next(q.next.as_deref()),
        error: None,
        open_access: sessions::open_access(&app),
    };
    Ok(Html(page.render()?).into_response())
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    token: String,
    next: Option<String>,
}

/// `POST /ui/sign-in`: opens a session and goes on to `next`; a token
/// that opens nothing shows the form again with why (422).
pub async fn sign_in(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> PageResult<Response> {
    let next = safe_next(form.next.as_deref());
    match sessions::sign_in(&app, &form.token).await {
        Ok(signed) => {
            let cookie = format!(
                "{SESSION_COOKIE}={}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{}",
                signed.secret,
                sessions::SESSION_TTL_MS / 1000,
                if over_tls(&headers) { "; Secure" } else { "" }
            );
            let mut response = Redirect::to(next).into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&cookie).map_err(|e| PageError::internal(&e))?,
            );
            Ok(response)
        }
        Err(accord_core::lifecycle::LifecycleError::Invalid { message, .. }) => {
            let page = SignInPage {
                next,
                error: Some(&message),
                open_access: sessions::open_access(&app),
            };
            Ok(crate::error::refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_token",
                page.render()?,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// A form that carries only the CSRF token (a form without it is
/// refused as `csrf_mismatch`, not as an unreadable form).
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
}

/// `POST /ui/sign-out`: ends the session and clears the cookie.
pub async fn sign_out(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> PageResult<Response> {
    viewing.check_csrf(&form.csrf)?;
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        sessions::sign_out(&app, secret).await?;
    }
    let mut response = Redirect::to("/ui/sign-in").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("accord_session=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// Middleware: a POST must come from this dashboard's own pages (the
/// browser's `Sec-Fetch-Site`, or `Origin` against `Host`), so another
/// site cannot submit a form here even before a session exists.
pub async fn same_origin_posts(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.method() != axum::http::Method::GET
        && req.method() != axum::http::Method::HEAD
        && cross_site(req.headers())
    {
        return PageError {
            status: StatusCode::FORBIDDEN,
            code: "cross_site_request",
            message: "this form was sent from another site".to_string(),
        }
        .into_response();
    }
    next.run(req).await
}

/// Whether the browser says the request came from another site.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    origin == "null" || !origin_host.eq_ignore_ascii_case(host)
}

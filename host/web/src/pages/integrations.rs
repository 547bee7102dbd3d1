//! A workspace's integrations: its notification endpoints (Slack incoming
//! webhooks, Standard Webhooks endpoints), created here with the signing
//! secret shown once, tested with a signed sample, disabled, enabled and
//! deleted; an endpoint's deliveries with their attempts; the workspace's
//! dead letters with Retry. Everything goes through
//! [`accord_core::lifecycle::integrations`], as the JSON API does.

use super::conn;
use crate::error::{PageError, PageResult, refused};
use crate::session::Viewing;
use crate::view::{self, Chrome, encode};
use accord_core::app::App;
use accord_core::lifecycle::LifecycleError;
use accord_core::lifecycle::integrations::{self as lifecycle, EndpointRequest};
use accord_core::notify::TestSend;
use accord_core::store::accounts;
use accord_core::store::deliveries::{DeadDelivery, DeliveryView};
use accord_core::store::endpoints::Endpoint;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;

/// Rows of a list page (deliveries, dead letters).
const PAGE: i64 = 50;

/// What the dashboard records as the source of its changes.
const SOURCE: &str = "dashboard";

/// An endpoint URL for the screen: scheme and host, and the first path
/// segment when more follow (a route prefix such as `/services`). The
/// rest is elided because it is often the secret itself (a Slack
/// webhook's path, an n8n webhook id, a token in the query), and
/// credentials are never shown.
pub fn redacted_url(url: &str) -> String {
    let (prefix, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if tail.is_empty() || tail == "/" {
        return format!("{prefix}{host}");
    }
    let path = tail.strip_prefix('/').unwrap_or("");
    match path.split_once('/') {
        Some((first, _)) if !first.is_empty() && !first.contains(['?', '#']) => {
            format!("{prefix}{host}/{first}/…")
        }
        _ => format!("{prefix}{host}/…"),
    }
}

/// One endpoint, for people.
#[derive(Debug, Clone)]
pub struct EndpointLine {
    /// Id.
    pub id: String,
    /// Its workspace.
    pub workspace_id: String,
    /// `slack` or `webhook`.
    pub kind: String,
    /// What kind of receiver, in words.
    pub kind_label: &'static str,
    /// Its name, or a stand-in.
    pub name: String,
    /// The URL, redacted ([`redacted_url`]).
    pub url: String,
    /// Whether it gets deliveries.
    pub enabled: bool,
    /// Created, for people.
    pub created: String,
    /// Created, ISO 8601.
    pub created_iso: String,
    /// Deleted, for people (a deleted endpoint is kept for its history).
    pub deleted: Option<String>,
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "slack" => "Slack incoming webhook",
        "webhook" => "Standard Webhooks endpoint",
        _ => "unknown kind",
    }
}

impl From<&Endpoint> for EndpointLine {
    fn from(e: &Endpoint) -> Self {
        EndpointLine {
            id: e.id.clone(),
            workspace_id: e.workspace_id.clone(),
            kind: e.kind.clone(),
            kind_label: kind_label(&e.kind),
            name: e
                .name
                .clone()
                .unwrap_or_else(|| format!("Unnamed {} endpoint", e.kind)),
            url: redacted_url(&e.url),
            enabled: e.is_enabled(),
            created: view::when(Some(e.created_at)),
            created_iso: view::iso(Some(e.created_at)),
            deleted: e.deleted_at.map(|at| view::when(Some(at))),
        }
    }
}

/// One dead letter, for people.
#[derive(Debug, Clone)]
pub struct DeadLine {
    /// The delivery's id.
    pub id: String,
    /// Its endpoint.
    pub endpoint_id: String,
    /// Its endpoint's name.
    pub endpoint_name: String,
    /// The event it carried.
    pub event_type: String,
    /// The event's dedupe key.
    pub dedupe_key: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last error and HTTP status.
    pub last_error: String,
    /// When it was given up, for people.
    pub dead_at: String,
}

/// One delivery of an endpoint, for people.
#[derive(Debug, Clone)]
pub struct DeliveryLine {
    /// Id.
    pub id: String,
    /// The event it carries.
    pub event_type: String,
    /// The event's dedupe key.
    pub dedupe_key: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (pending only).
    pub next_attempt: String,
    /// The last error and HTTP status, if any.
    pub last_error: String,
    /// When it was delivered.
    pub delivered: String,
    /// When it was created.
    pub created: String,
    /// Whether it can be retried (dead, endpoint not deleted).
    pub retry: bool,
}

fn error_text(error: Option<&str>, status: Option<i64>) -> String {
    match (error, status) {
        (Some(e), Some(s)) if !e.contains(&s.to_string()) => format!("{e} (HTTP {s})"),
        (Some(e), _) => e.to_string(),
        (None, Some(s)) => format!("HTTP {s}"),
        (None, None) => String::new(),
    }
}

fn delivery_line(d: &DeliveryView, endpoint_deleted: bool, now: i64) -> DeliveryLine {
    DeliveryLine {
        id: d.id.clone(),
        event_type: d.event_type.clone(),
        dedupe_key: d.dedupe_key.clone(),
        status: d.status.clone(),
        attempts: d.attempts,
        next_attempt: if d.status == "pending" {
            format!(
                "{} ({})",
                view::when(Some(d.next_attempt_at)),
                view::relative(Some(d.next_attempt_at), now)
            )
        } else {
            String::new()
        },
        last_error: error_text(d.last_error.as_deref(), d.last_status_code),
        delivered: d
            .delivered_at
            .map(|at| view::when(Some(at)))
            .unwrap_or_default(),
        created: view::when(Some(d.created_at)),
        retry: d.status == "dead" && !endpoint_deleted,
    }
}

fn dead_line(d: &DeadDelivery, endpoints: &[EndpointLine]) -> DeadLine {
    DeadLine {
        id: d.id.clone(),
        endpoint_id: d.endpoint_id.clone(),
        endpoint_name: endpoints
            .iter()
            .find(|e| e.id == d.endpoint_id)
            .map_or_else(|| d.endpoint_id.clone(), |e| e.name.clone()),
        event_type: d.event_type.clone(),
        dedupe_key: d.dedupe_key.clone(),
        attempts: d.attempts,
        last_error: error_text(d.last_error.as_deref(), d.last_status_code),
        dead_at: view::when(Some(d.dead_at)),
    }
}

/// A refused action: its stable code and why.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Stable code, as in the JSON API.
    pub code: &'static str,
    /// The sentence.
    pub message: String,
}

/// A just-created endpoint and, for a webhook endpoint, its secret.
#[derive(Debug, Clone)]
pub struct Created {
    /// The endpoint's name.
    pub name: String,
    /// Its id.
    pub id: String,
    /// The signing secret, shown this once.
    pub secret: Option<String>,
}

/// What the create form held, kept after a refusal.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CreateForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// `slack` or `webhook`.
    #[serde(default)]
    pub kind: String,
    /// Where to POST.
    #[serde(default)]
    pub url: String,
    /// A label.
    #[serde(default)]
    pub name: String,
}

/// A form that carries the CSRF token and where to go back to.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ActionForm {
    /// The session's CSRF token (absent: refused as a mismatch).
    #[serde(default)]
    pub csrf: String,
    /// `endpoint` to come back to the endpoint's page, else the list.
    #[serde(default)]
    pub back: String,
}

/// Query of the list pages.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    /// The page of deliveries or dead letters after this cursor.
    pub cursor: Option<String>,
    /// What the action before the redirect did (`enabled`, `deleted`, …).
    pub done: Option<String>,
}

/// The sentence of a finished action, by the `done` code of its redirect.
fn done_notice(done: Option<&str>) -> Option<String> {
    let text = match done? {
        "enabled" => {
            "Enabled: new events get a delivery to this endpoint, and the deliveries that waited are being sent."
        }
        "disabled" => {
            "Disabled: new events get no delivery to this endpoint; its pending deliveries wait until it is enabled again."
        }
        "deleted" => {
            "Deleted: the endpoint gets nothing more, its pending deliveries were given up, and its history stays readable."
        }
        "retried" => "Retried: the delivery is pending again, due now with a fresh retry schedule.",
        _ => return None,
    };
    Some(text.to_string())
}

#[derive(Template)]
#[template(path = "integrations.html")]
struct IntegrationsPage {
    chrome: Chrome,
    workspace_id: String,
    workspace_name: String,
    endpoints: Vec<EndpointLine>,
    dead: Vec<DeadLine>,
    dead_next: Option<String>,
    created: Option<Created>,
    alert: Option<Refusal>,
    notice: Option<String>,
    draft: CreateForm,
}

/// What the list page shows beyond its rows.
#[derive(Default)]
struct ListExtras {
    cursor: Option<String>,
    created: Option<Created>,
    alert: Option<Refusal>,
    notice: Option<String>,
    draft: CreateForm,
}

async fn render_list(
    app: &App,
    viewing: &Viewing,
    workspace_id: &str,
    extras: ListExtras,
) -> PageResult<String> {
    viewing.require_workspace(workspace_id)?;
    let workspace = {
        let mut c = conn(app).await?;
        accounts::workspace(&mut c, workspace_id)
            .await?
            .ok_or_else(|| PageError::not_found("workspace"))?
    };
    let endpoints: Vec<EndpointLine> = lifecycle::list(app, workspace_id)
        .await?
        .iter()
        .map(EndpointLine::from)
        .collect();
    let dead =
        lifecycle::dead_letters(app, workspace_id, extras.cursor.as_deref(), Some(PAGE)).await?;
    let page = IntegrationsPage {
        chrome: viewing
            .chrome(format!("Integrations · {}", workspace.name))
            .in_workspace(workspace_id, "integrations"),
        workspace_id: workspace_id.to_string(),
        workspace_name: workspace.name,
        dead: dead
            .items
            .iter()
            .map(|d| dead_line(d, &endpoints))
            .collect(),
        dead_next: dead.next_cursor.map(|c| {
            format!(
                "/ui/workspaces/{workspace_id}/integrations?cursor={}#dead-letters",
                encode(&c)
            )
        }),
        endpoints,
        created: extras.created,
        alert: extras.alert,
        notice: extras.notice,
        draft: CreateForm {
            csrf: String::new(),
            ..extras.draft
        },
    };
    Ok(page.render()?)
}

/// The answer that carries a signing secret: never stored by a cache.
fn no_store(html: String) -> Response {
    let mut response = Html(html).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A lifecycle refusal (422, 409) as an alert on the page shown again;
/// other errors as the error page.
fn refusal(e: LifecycleError) -> Result<(StatusCode, Refusal), PageError> {
    match e {
        LifecycleError::Invalid { code, message } => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Refusal { code, message }))
        }
        LifecycleError::Conflict { code, message } => {
            Ok((StatusCode::CONFLICT, Refusal { code, message }))
        }
        e => Err(e.into()),
    }
}

/// `GET /ui/workspaces/{id}/integrations`.
pub async fn integrations(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(workspace_id): Path<String>,
    Query(q): Query<ListQuery>,
) -> PageResult<Html<String>> {
    let extras = ListExtras {
        cursor: q.cursor,
        notice: done_notice(q.done.as_deref()),
        ..ListExtras::default()
    };
    Ok(Html(
        render_list(&app, &viewing, &workspace_id, extras).await?,
    ))
}

/// `POST /ui/workspaces/{id}/integrations`: creates an endpoint and shows
/// the list with its signing secret, this once (a reload is a GET and
/// shows it no more); a refusal shows the form again with the reason.
pub async fn create(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(workspace_id): Path<String>,
    Form(form): Form<CreateForm>,
) -> PageResult<Response> {
    viewing.check_csrf(&form.csrf)?;
    viewing.require_workspace(&workspace_id)?;
    let name = form.name.trim();
    let request = EndpointRequest {
        kind: &form.kind,
        url: &form.url,
        name: (!name.is_empty()).then_some(name),
        enabled: None,
    };
    match lifecycle::create(&app, &workspace_id, &request, SOURCE).await {
        Ok(created) => {
            let line = EndpointLine::from(&created.endpoint);
            let extras = ListExtras {
                created: Some(Created {
                    name: line.name,
                    id: line.id,
                    secret: created.signing_secret,
                }),
                ..ListExtras::default()
            };
            Ok(no_store(
                render_list(&app, &viewing, &workspace_id, extras).await?,
            ))
        }
        Err(e) => {
            let (status, alert) = refusal(e)?;
            let code = alert.code;
            let extras = ListExtras {
                alert: Some(alert),
                draft: form,
                ..ListExtras::default()
            };
            let html = render_list(&app, &viewing, &workspace_id, extras).await?;
            Ok(refused(status, code, html))
        }
    }
}

#[derive(Template)]
#[template(path = "endpoint.html")]
struct EndpointPage {
    chrome: Chrome,
    endpoint: EndpointLine,
    deliveries: Vec<DeliveryLine>,
    next: Option<String>,
    test: Option<TestView>,
    alert: Option<Refusal>,
    notice: Option<String>,
}

/// A test send's answer, for people.
#[derive(Debug, Clone)]
pub struct TestView {
    /// Whether the endpoint answered 2xx.
    pub ok: bool,
    /// The sentence.
    pub summary: String,
    /// The `webhook-id` sent.
    pub webhook_id: String,
    /// The body sent, pretty JSON.
    pub payload: String,
}

impl From<TestSend> for TestView {
    fn from(t: TestSend) -> Self {
        let status = t
            .status_code
            .map_or_else(|| "no answer".to_string(), |s| format!("HTTP {s}"));
        let summary = if t.ok {
            format!(
                "The endpoint accepted the signed sample: {status} in {} ms.",
                t.latency_ms
            )
        } else {
            format!(
                "The endpoint did not accept the sample ({status}, after {} ms): {}",
                t.latency_ms,
                t.error.as_deref().unwrap_or("no reason given")
            )
        };
        TestView {
            ok: t.ok,
            summary,
            webhook_id: t.webhook_id,
            payload: serde_json::to_string_pretty(&t.payload).unwrap_or_default(),
        }
    }
}

/// What the endpoint page shows beyond its rows.
#[derive(Default)]
struct EndpointExtras {
    cursor: Option<String>,
    test: Option<TestView>,
    alert: Option<Refusal>,
    notice: Option<String>,
}

/// The endpoint `id` if the viewer may see its workspace (else 404, as
/// for a missing one).
async fn load_endpoint(app: &App, viewing: &Viewing, id: &str) -> PageResult<Endpoint> {
    match lifecycle::get(app, id).await {
        Ok(e) if viewing.viewer.may_see(&e.workspace_id) => Ok(e),
        Ok(_) | Err(LifecycleError::NotFound { .. }) => Err(PageError::not_found("endpoint")),
        Err(e) => Err(e.into()),
    }
}

async fn render_endpoint(
    app: &App,
    viewing: &Viewing,
    id: &str,
    extras: EndpointExtras,
) -> PageResult<String> {
    let endpoint = load_endpoint(app, viewing, id).await?;
    let page = lifecycle::deliveries(app, id, extras.cursor.as_deref(), Some(PAGE)).await?;
    let now = app.clock.now_ms();
    let line = EndpointLine::from(&endpoint);
    let page = EndpointPage {
        chrome: viewing
            .chrome(format!("{} · Integrations", line.name))
            .in_workspace(&endpoint.workspace_id, "integrations"),
        deliveries: page
            .items
            .iter()
            .map(|d| delivery_line(d, endpoint.is_deleted(), now))
            .collect(),
        next: page
            .next_cursor
            .map(|c| format!("/ui/endpoints/{id}?cursor={}#deliveries", encode(&c))),
        endpoint: line,
        test: extras.test,
        alert: extras.alert,
        notice: extras.notice,
    };
    Ok(page.render()?)
}

/// `GET /ui/endpoints/{id}`: the endpoint, its actions and deliveries.
pub async fn endpoint(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> PageResult<Html<String>> {
    let extras = EndpointExtras {
        cursor: q.cursor,
        notice: done_notice(q.done.as_deref()),
        ..EndpointExtras::default()
    };
    Ok(Html(render_endpoint(&app, &viewing, &id, extras).await?))
}

/// The endpoint page again with a refusal.
async fn refused_endpoint(
    app: &App,
    viewing: &Viewing,
    id: &str,
    e: LifecycleError,
) -> PageResult<Response> {
    let (status, alert) = refusal(e)?;
    let code = alert.code;
    let extras = EndpointExtras {
        alert: Some(alert),
        ..EndpointExtras::default()
    };
    let html = render_endpoint(app, viewing, id, extras).await?;
    Ok(refused(status, code, html))
}

/// `POST /ui/endpoints/{id}/test`: sends a signed sample now and shows
/// what the endpoint answered (nothing is stored).
pub async fn test(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> PageResult<Response> {
    viewing.check_csrf(&form.csrf)?;
    load_endpoint(&app, &viewing, &id).await?;
    match lifecycle::send_test(&app, &id).await {
        Ok(sent) => {
            let extras = EndpointExtras {
                test: Some(TestView::from(sent)),
                ..EndpointExtras::default()
            };
            Ok(Html(render_endpoint(&app, &viewing, &id, extras).await?).into_response())
        }
        Err(e) => refused_endpoint(&app, &viewing, &id, e).await,
    }
}

async fn switch(
    app: &App,
    viewing: &Viewing,
    id: &str,
    form: &ActionForm,
    enabled: bool,
) -> PageResult<Response> {
    viewing.check_csrf(&form.csrf)?;
    load_endpoint(app, viewing, id).await?;
    match lifecycle::set_enabled(app, id, enabled, SOURCE).await {
        Ok(_) => {
            let done = if enabled { "enabled" } else { "disabled" };
            Ok(Redirect::to(&format!("/ui/endpoints/{id}?done={done}")).into_response())
        }
        Err(e) => refused_endpoint(app, viewing, id, e).await,
    }
}

/// `POST /ui/endpoints/{id}/enable`.
pub async fn enable(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> PageResult<Response> {
    switch(&app, &viewing, &id, &form, true).await
}

/// `POST /ui/endpoints/{id}/disable`.
pub async fn disable(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> PageResult<Response> {
    switch(&app, &viewing, &id, &form, false).await
}

#[derive(Template)]
#[template(path = "endpoint_delete.html")]
struct DeletePage {
    chrome: Chrome,
    endpoint: EndpointLine,
    pending: i64,
}

/// `GET /ui/endpoints/{id}/delete`: the confirmation step, saying what
/// deleting does.
pub async fn confirm_delete(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
) -> PageResult<Html<String>> {
    let endpoint = load_endpoint(&app, &viewing, &id).await?;
    if endpoint.is_deleted() {
        return Err(PageError::not_found("endpoint"));
    }
    let first = lifecycle::deliveries(&app, &id, None, Some(lifecycle::MAX_PAGE)).await?;
    let pending = first.items.iter().filter(|d| d.status == "pending").count() as i64;
    let line = EndpointLine::from(&endpoint);
    let page = DeletePage {
        chrome: viewing
            .chrome(format!("Delete {}", line.name))
            .in_workspace(&endpoint.workspace_id, "integrations"),
        endpoint: line,
        pending,
    };
    Ok(Html(page.render()?))
}

/// `POST /ui/endpoints/{id}/delete`: deletes softly and goes back to the
/// list.
pub async fn delete(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> PageResult<Response> {
    viewing.check_csrf(&form.csrf)?;
    let endpoint = load_endpoint(&app, &viewing, &id).await?;
    lifecycle::delete(&app, &id, SOURCE).await?;
    Ok(Redirect::to(&format!(
        "/ui/workspaces/{}/integrations?done=deleted",
        endpoint.workspace_id
    ))
    .into_response())
}

/// `POST /ui/deliveries/{id}/retry`: puts a dead delivery back in the
/// queue and goes back to where the button was; a refusal (`not_dead`,
/// `endpoint_deleted`) shows that page again with the reason.
pub async fn retry(
    State(app): State<Arc<App>>,
    viewing: Viewing,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> PageResult<Response> {
    viewing.check_csrf(&form.csrf)?;
    let delivery = match lifecycle::delivery(&app, &id).await {
        Ok(d) if viewing.viewer.may_see(&d.workspace_id) => d,
        Ok(_) | Err(LifecycleError::NotFound { .. }) => {
            return Err(PageError::not_found("delivery"));
        }
        Err(e) => return Err(e.into()),
    };
    let to_endpoint = form.back == "endpoint";
    match lifecycle::retry(&app, &id, SOURCE).await {
        Ok(_) if to_endpoint => Ok(Redirect::to(&format!(
            "/ui/endpoints/{}?done=retried#deliveries",
            delivery.endpoint_id
        ))
        .into_response()),
        Ok(_) => Ok(Redirect::to(&format!(
            "/ui/workspaces/{}/integrations?done=retried#dead-letters",
            delivery.workspace_id
        ))
        .into_response()),
        Err(e) if to_endpoint => refused_endpoint(&app, &viewing, &delivery.endpoint_id, e).await,
        Err(e) => {
            let (status, alert) = refusal(e)?;
            let code = alert.code;
            let extras = ListExtras {
                alert: Some(alert),
                ..ListExtras::default()
            };
            let html = render_list(&app, &viewing, &delivery.workspace_id, extras).await?;
            Ok(refused(status, code, html))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redacted_url;

    #[test]
    fn urls_are_shown_without_their_secret_parts() {
        assert_eq!(
            redacted_url("https://hooks.slack.com/services/T0/B0/xyz"),
            "https://hooks.slack.com/services/…"
        );
        assert_eq!(
            redacted_url("https://user:pw@n8n.example.com/webhook?token=1"),
            "https://n8n.example.com/…"
        );
        assert_eq!(
            redacted_url("https://n8n.example.com/webhook/0b9e/accord"),
            "https://n8n.example.com/webhook/…"
        );
        assert_eq!(
            redacted_url("http://127.0.0.1:9/hook"),
            "http://127.0.0.1:9/…"
        );
        assert_eq!(redacted_url("https://example.com/"), "https://example.com");
        assert_eq!(
            redacted_url("https://example.com?k=v"),
            "https://example.com/…"
        );
    }
}

//! The simulator's HTTP surface: Unipile's paths and payloads, the
//! `X-API-KEY` check, fault injection and the call log.

use super::Shared;
use super::multipart;
use super::state::{CallRecord, SimFailure};
use axum::body::Body;
use axum::extract::{Extension, MatchedPath, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Largest request body the simulator reads.
const MAX_BODY: usize = 2 << 20;

impl IntoResponse for SimFailure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.body())).into_response();
        // The call log records the error type without re-reading the body.
        response.extensions_mut().insert(FailureKind(self.kind));
        response
    }
}

/// The error type of a failed answer, for the call log.
#[derive(Debug, Clone)]
struct FailureKind(String);

/// What the gate read from a request, for the handlers.
#[derive(Debug, Clone, Default)]
struct Info {
    query: HashMap<String, String>,
    form: Option<Vec<(String, String)>>,
    json: Option<Value>,
}

impl Info {
    fn form_value(&self, name: &str) -> Option<&str> {
        self.form
            .as_ref()?
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn form_values(&self, name: &str) -> Vec<String> {
        self.form
            .iter()
            .flatten()
            .filter(|(k, _)| k == name || k == &format!("{name}[]"))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

type Answer = Result<(StatusCode, Json<Value>), SimFailure>;

/// The router, with the gate on every Unipile route.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/accounts", get(accounts))
        .route("/api/v1/users/relations", get(relations))
        .route("/api/v1/users/invite", post(invite))
        .route("/api/v1/users/invite/sent", get(sent_invites))
        .route("/api/v1/users/{identifier}", get(profile))
        .route("/api/v1/chats", post(start_chat))
        .route("/api/v1/chats/{chat_id}/messages", post(chat_message))
        .route(
            "/api/v1/chat_attendees/{attendee_id}/messages",
            get(attendee_messages),
        )
        .route_layer(middleware::from_fn_with_state(shared.clone(), gate))
        .fallback(not_found)
        .with_state(shared)
}

/// Authenticates, applies faults and account states, logs the call.
async fn gate(State(sim): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| path.clone(), |m| m.as_str().to_string());
    let query: HashMap<String, String> = Query::try_from_uri(req.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    let cursor = query.get("cursor").cloned();
    let (parts, body) = req.into_parts();
    let now = sim.clock.now_ms();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        let failure = SimFailure::other(
            413,
            "payload_too_large",
            "Payload too large",
            "body too large",
        );
        sim.record(call(&method, &path, &route, None, now, failure.status));
        return failure.into_response();
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let form = multipart::parse(&content_type, &bytes);
    let json = content_type
        .starts_with("application/json")
        .then(|| serde_json::from_slice::<Value>(&bytes).ok())
        .flatten();
    let key_ok = parts
        .headers
        .get("x-api-key")
        .is_some_and(|v| v.as_bytes() == sim.api_key.as_bytes());
    let chat_id = (route == "/api/v1/chats/{chat_id}/messages")
        .then(|| path.split('/').nth(4).map(str::to_string))
        .flatten();
    let (early, target) = {
        let mut world = sim.world();
        let addressed = json
            .as_ref()
            .and_then(|j| j.get("provider_id"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                form.as_ref()
                    .and_then(|f| f.iter().find(|(k, _)| k.starts_with("attendees_ids")))
                    .map(|(_, v)| v.clone())
            });
        let target = match (&chat_id, addressed) {
            (Some(chat), _) => world.chat_person(chat),
            (None, Some(who)) => Some(world.person(&who).map_or(who, |p| p.provider_id)),
            (None, None) => None,
        };
        let account = query
            .get("account_id")
            .cloned()
            .or_else(|| {
                json.as_ref()
                    .and_then(|j| j.get("account_id"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .or_else(|| {
                form.as_ref()
                    .and_then(|f| f.iter().find(|(k, _)| k == "account_id"))
                    .map(|(_, v)| v.clone())
            })
            .or_else(|| chat_id.as_deref().and_then(|c| world.chat_account(c)));
        let early = if !key_ok {
            Some((
                SimFailure::known(
                    "missing_credentials",
                    "the X-API-KEY header is missing or wrong",
                ),
                false,
            ))
        } else if let Some(fault) = world.take_fault(&method, &path, &route) {
            Some(fault)
        } else {
            account
                .as_deref()
                .filter(|_| route != "/api/v1/accounts")
                .and_then(|a| world.check_account(a).err())
                .map(|failure| (failure, false))
        };
        ((early, account), target)
    };
    let (early, account) = early;
    let response = match early {
        Some((failure, false)) => failure.into_response(),
        Some((failure, true)) => {
            // A timeout after acting: the world changes, the answer is lost.
            let mut req = Request::from_parts(parts, Body::from(bytes));
            req.extensions_mut().insert(Info { query, form, json });
            drop(next.run(req).await);
            failure.into_response()
        }
        None => {
            let mut req = Request::from_parts(parts, Body::from(bytes));
            req.extensions_mut().insert(Info { query, form, json });
            next.run(req).await
        }
    };
    let status = response.status().as_u16();
    let error_type = response
        .extensions()
        .get::<FailureKind>()
        .map(|k| k.0.clone());
    sim.record(CallRecord {
        cursor,
        target,
        error_type,
        ..call(&method, &path, &route, account, now, status)
    });
    response
}

impl Shared {
    fn record(&self, call: CallRecord) {
        self.world().record_call(call);
    }
}

/// A call-log row.
fn call(
    method: &str,
    path: &str,
    route: &str,
    account_id: Option<String>,
    at_ms: i64,
    status: u16,
) -> CallRecord {
    CallRecord {
        method: method.to_string(),
        path: path.to_string(),
        route: route.to_string(),
        account_id,
        at_ms,
        status,
        cursor: None,
        target: None,
        error_type: None,
    }
}

async fn not_found(State(sim): State<Arc<Shared>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().as_str().to_string();
    sim.record(call(&method, &path, &path, None, sim.clock.now_ms(), 404));
    SimFailure::other(
        404,
        "resource_not_found",
        "Resource not found",
        format!("no route {method} {path}"),
    )
    .into_response()
}

fn required<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, SimFailure> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SimFailure::bad_request(format!("`{name}` is required")))
}

fn limit(info: &Info) -> Result<usize, SimFailure> {
    match info.query.get("limit") {
        None => Ok(100),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=1000).contains(l))
            .ok_or_else(|| SimFailure::bad_request("`limit` must be 1 to 1000")),
    }
}

fn ok(value: Value) -> Answer {
    Ok((StatusCode::OK, Json(value)))
}

async fn accounts(State(sim): State<Arc<Shared>>) -> Answer {
    ok(sim.world().list_accounts())
}

async fn relations(State(sim): State<Arc<Shared>>, Extension(info): Extension<Info>) -> Answer {
    let account = required(
        info.query.get("account_id").map(String::as_str),
        "account_id",
    )?;
    let limit = limit(&info)?;
    let cursor = info.query.get("cursor").map(String::as_str);
    ok(sim.world().list_relations(account, cursor, limit)?)
}

async fn sent_invites(State(sim): State<Arc<Shared>>, Extension(info): Extension<Info>) -> Answer {
    let account = required(
        info.query.get("account_id").map(String::as_str),
        "account_id",
    )?;
    let limit = limit(&info)?;
    let cursor = info.query.get("cursor").map(String::as_str);
    ok(sim.world().list_sent_invites(account, cursor, limit)?)
}

async fn attendee_messages(
    State(sim): State<Arc<Shared>>,
    Path(attendee): Path<String>,
    Extension(info): Extension<Info>,
) -> Answer {
    let account = required(
        info.query.get("account_id").map(String::as_str),
        "account_id",
    )?;
    let limit = limit(&info)?;
    ok(sim
        .world()
        .list_attendee_messages(account, &attendee, limit)?)
}

async fn profile(
    State(sim): State<Arc<Shared>>,
    Path(identifier): Path<String>,
    Extension(info): Extension<Info>,
) -> Answer {
    let account = required(
        info.query.get("account_id").map(String::as_str),
        "account_id",
    )?;
    let sales_navigator = info
        .query
        .get("linkedin_api")
        .is_some_and(|v| v == "sales_navigator");
    ok(sim
        .world()
        .get_profile(account, &identifier, sales_navigator)?)
}

async fn invite(State(sim): State<Arc<Shared>>, Extension(info): Extension<Info>) -> Answer {
    let Some(body) = info.json.as_ref() else {
        return Err(SimFailure::bad_request("expected an application/json body"));
    };
    let field = |name: &str| body.get(name).and_then(Value::as_str);
    let account = required(field("account_id"), "account_id")?;
    let provider_id = required(field("provider_id"), "provider_id")?;
    let message = match body.get("message") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(SimFailure::bad_request("`message` must be a string")),
    };
    let now = sim.clock.now_ms();
    ok(sim
        .world()
        .send_invite(account, provider_id, message, now)?)
}

async fn start_chat(State(sim): State<Arc<Shared>>, Extension(info): Extension<Info>) -> Answer {
    if info.form.is_none() {
        return Err(SimFailure::bad_request(
            "expected a multipart/form-data body",
        ));
    }
    let account = required(info.form_value("account_id"), "account_id")?;
    let attendees = info.form_values("attendees_ids");
    let text = info.form_value("text").unwrap_or("");
    let now = sim.clock.now_ms();
    let value = sim.world().start_chat(account, &attendees, text, now)?;
    Ok((StatusCode::CREATED, Json(value)))
}

async fn chat_message(
    State(sim): State<Arc<Shared>>,
    Path(chat_id): Path<String>,
    Extension(info): Extension<Info>,
) -> Answer {
    if info.form.is_none() {
        return Err(SimFailure::bad_request(
            "expected a multipart/form-data body",
        ));
    }
    let text = info.form_value("text").unwrap_or("");
    let now = sim.clock.now_ms();
    let value = sim.world().send_in_chat(&chat_id, text, now)?;
    Ok((StatusCode::CREATED, Json(value)))
}

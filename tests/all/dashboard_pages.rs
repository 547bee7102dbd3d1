//! The dashboard's Integrations and Policies pages over real HTTP, as a
//! browser without scripts drives them: sign in with a token (the admin
//! token configured, so nothing is open), keep the session cookie, echo
//! the CSRF token of the page in every form. An endpoint is created with
//! its signing secret shown once, tested against a loopback receiver,
//! failed to a dead letter and retried from the page, disabled and
//! deleted; a shadow policy is uploaded through the page, and its shadow
//! report, the decision log and a decision read back; a workspace token's
//! session stays in its own scope; forms without the CSRF token change
//! nothing.

use crate::notify::{Receiver, verify};
use crate::on_both_databases;
use crate::policy_tokens::{issue, module, new_workspace};
use crate::rig::{RIG_ADMIN_TOKEN, Rig};
use crate::world::{Kind, World};
use accord::clock::{DAY_MS, HOUR_MS, MINUTE_MS, SharedClock};
use accord::notify::Notifier;
use accord::policy::Slot;
use accord::simulator::PersonSpec;
use accord::store::deliveries::BACKOFF_MS;
use serde_json::json;

on_both_databases!(
    integrations_through_the_pages,
    a_shadow_policy_through_the_pages,
    a_workspace_session_stays_in_its_scope,
);

const ADMIN: &str = "dash-admin-token";
const API: &str = "dash-api-token";

/// An answer: status, body, and the headers a test reads.
struct Page {
    status: u16,
    body: String,
    error: Option<String>,
    location: Option<String>,
    cache_control: Option<String>,
}

impl Page {
    #[track_caller]
    fn ok(&self) -> &str {
        assert_eq!(self.status, 200, "{}", self.body);
        &self.body
    }

    /// A refusal: its status and the stable code, in the header and on
    /// the page.
    #[track_caller]
    fn refused(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.error.as_deref(), Some(code), "{}", self.body);
        assert!(self.body.contains(code), "{}", self.body);
        assert!(self.body.starts_with("<!doctype html>"), "{}", self.body);
    }

    /// A redirect's target.
    #[track_caller]
    fn redirected(&self) -> &str {
        assert_eq!(self.status, 303, "{}", self.body);
        self.location.as_deref().unwrap()
    }
}

/// A signed-in browser: the session cookie and the page's CSRF token.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl Browser {
    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Signs in with `token` through the sign-in form.
    async fn sign_in(base: &str, token: &str) -> Browser {
        let http = Browser::client();
        let resp = http
            .post(format!("{base}/ui/sign-in"))
            .form(&[("token", token), ("next", "/ui")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303, "{token} signs in");
        let cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("accord_session="))
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_string();
        let mut browser = Browser {
            base: base.to_string(),
            http,
            cookie,
            csrf: String::new(),
        };
        let home = browser.get("/ui").await;
        let body = if home.status == 303 {
            let to = home.location.clone().unwrap();
            browser.get(&to).await.ok().to_string()
        } else {
            home.ok().to_string()
        };
        browser.csrf = attr(&body, "name=\"csrf\" value")
            .into_iter()
            .next()
            .unwrap();
        browser
    }

    async fn read(resp: reqwest::Response) -> Page {
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (error, location, cache_control) = (
            header("x-accord-error"),
            header("location"),
            header("cache-control"),
        );
        Page {
            status: resp.status().as_u16(),
            error,
            location,
            cache_control,
            body: resp.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        Browser::read(resp).await
    }

    /// Posts a form with this page's CSRF token and `fields`.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts exactly `fields`.
    async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(fields)
            .send()
            .await
            .unwrap();
        Browser::read(resp).await
    }

    /// Posts a multipart form: `fields`, and `file` as `file` when given.
    async fn post_multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<Vec<u8>>,
    ) -> Page {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        if let Some(bytes) = file {
            let part = reqwest::multipart::Part::bytes(bytes)
                .file_name("candidate.wasm")
                .mime_str("application/wasm")
                .unwrap();
            form = form.part("file", part);
        }
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .multipart(form)
            .send()
            .await
            .unwrap();
        Browser::read(resp).await
    }
}

/// The values of attribute `name` (or of any `prefix="…"`) in `html`, in
/// order.
fn attr(html: &str, prefix: &str) -> Vec<String> {
    let needle = format!("{prefix}=\"");
    html.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            unescape(&rest[..rest.find('"').unwrap()])
        })
        .collect()
}

/// The href of the page's "Older" link, if any.
fn older(html: &str) -> Option<String> {
    let at = html.find("rel=\"next\" id=\"next-page\"")?;
    let start = html[..at].rfind("href=\"")? + "href=\"".len();
    Some(unescape(&html[start..start + html[start..].find('"')?]))
}

/// An attribute's text as a browser reads it (the entities the
/// templates' escaping writes).
fn unescape(s: &str) -> String {
    s.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// The text between `<tag …data-count="name">` and the next `<`.
fn count(html: &str, name: &str) -> String {
    let needle = format!("data-count=\"{name}\">");
    let at = html
        .find(&needle)
        .unwrap_or_else(|| panic!("{needle}: {html}"))
        + needle.len();
    html[at..at + html[at..].find('<').unwrap()].to_string()
}

/// Serves `w`'s host on loopback: its base URL.
async fn serve(w: &World) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = accord::http::router(w.app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

/// A prospect with member id `member`, enrolled in the running campaign,
/// accepts: an accept webhook through the inbox (an outbox row, so a
/// delivery to each enabled endpoint).
async fn accept(w: &World, enrollment: &str, member: &str) {
    let prospect = w.prospect(None, Some(member), None);
    w.enroll(&w.campaign, enrollment, prospect).await;
    let slug = format!("slug-{}", member.to_lowercase());
    w.webhook(&w.new_relation(member, &slug)).await;
}

async fn count_rows(w: &World, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql)
        .fetch_one(w.app.db.pool())
        .await
        .unwrap();
    n
}

async fn integrations_through_the_pages(kind: Kind) {
    let w = World::configured(kind, |c| {
        c.admin_token = Some(ADMIN.into());
        c.api_token = Some(API.into());
    })
    .await;
    let base = serve(&w).await;
    let ws = w.workspace.id.clone();
    let list = format!("/ui/workspaces/{ws}/integrations");

    // Tokens are configured: nothing is open without signing in.
    let anonymous = Browser::client()
        .get(format!("{base}{list}"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 303);
    assert!(
        anonymous.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/ui/sign-in?next=")
    );
    // The API token's session manages endpoints, not the policies.
    let b = Browser::sign_in(&base, API).await;
    b.get("/ui/policies").await.refused(403, "forbidden");
    assert!(b.get(&list).await.ok().contains("No endpoint yet"));

    // Without (or with another) CSRF token: refused, nothing stored.
    let rx = Receiver::start().await;
    let url = rx.url("/hooks/secret-path-1");
    let fields = [("kind", "webhook"), ("url", url.as_str()), ("name", "CRM")];
    b.post_raw(&list, &fields)
        .await
        .refused(403, "csrf_mismatch");
    let mut forged = vec![("csrf", "0123456789abcdef")];
    forged.extend_from_slice(&fields);
    b.post_raw(&list, &forged)
        .await
        .refused(403, "csrf_mismatch");
    let endpoints = "SELECT COUNT(*) FROM notification_endpoints";
    assert_eq!(count_rows(&w, endpoints).await, 0);

    // A refused input: the form again with the reason, nothing stored.
    let bad = b
        .post(
            &list,
            &[("kind", "webhook"), ("url", "ftp://x"), ("name", "CRM")],
        )
        .await;
    bad.refused(422, "invalid_url");
    assert!(
        bad.body.contains("data-alert=\"invalid_url\""),
        "{}",
        bad.body
    );
    assert!(
        bad.body.contains("value=\"ftp://x\""),
        "the form keeps its input"
    );
    assert_eq!(count_rows(&w, endpoints).await, 0);

    // Created: the signing secret on this answer only, not cached.
    let created = b.post(&list, &fields).await;
    let html = created.ok().to_string();
    assert_eq!(created.cache_control.as_deref(), Some("no-store"));
    let secret = attr(&html, "readonly value").into_iter().next().unwrap();
    assert!(secret.starts_with("whsec_"), "{html}");
    assert!(html.contains("won't be shown again"), "{html}");
    let id = attr(&html, "data-created").into_iter().next().unwrap();
    assert!(
        !html.contains("secret-path-1"),
        "the URL's path is redacted: {html}"
    );
    let reload = b.get(&list).await;
    assert!(!reload.ok().contains(&secret), "shown once");
    assert!(!reload.body.contains("data-secret"));
    assert_eq!(attr(&reload.body, "data-endpoint"), vec![id.clone()]);
    let endpoint = format!("/ui/endpoints/{id}");
    assert!(!b.get(&endpoint).await.ok().contains(&secret));

    // Test: a signed sample reaches the receiver; the page says so.
    let tested = b.post(&format!("{endpoint}/test"), &[]).await;
    assert!(tested.ok().contains("data-ok=\"true\""), "{}", tested.body);
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/hooks/secret-path-1");
    assert!(verify(&secret, &reqs[0]), "signed with the secret shown");
    // A failing receiver: the page tells the status.
    rx.fail_next(1);
    let tested = b.post(&format!("{endpoint}/test"), &[]).await;
    assert!(tested.ok().contains("data-ok=\"false\""), "{}", tested.body);
    assert!(tested.body.contains("HTTP 500"), "{}", tested.body);

    // An accept's delivery fails every attempt: dead, listed, retried.
    rx.fail_next(usize::MAX);
    accept(&w, "e-dead", "ACoAAAmemberDead").await;
    let clock: SharedClock = w.clock.clone();
    let notifier = Notifier::new(w.app.db.clone(), clock).unwrap();
    for wait in std::iter::once(0).chain(BACKOFF_MS) {
        w.clock.advance(wait);
        assert_eq!(notifier.deliver_due(10).await.unwrap().claimed, 1);
    }
    // The retries took longer than a session lasts: signed out, so
    // signed in again.
    assert_eq!(b.get(&endpoint).await.status, 303);
    let b = Browser::sign_in(&base, API).await;
    let page = b.get(&endpoint).await;
    let delivery = attr(page.ok(), "data-delivery").into_iter().next().unwrap();
    assert!(page.body.contains("data-status=\"dead\""), "{}", page.body);
    assert!(page.body.contains("data-attempts>8<"), "{}", page.body);
    let dead = b.get(&list).await;
    assert_eq!(attr(dead.ok(), "data-dead"), vec![delivery.clone()]);
    assert!(dead.body.contains("HTTP 500"), "{}", dead.body);
    rx.fail_next(0);
    let retry = format!("/ui/deliveries/{delivery}/retry");
    b.post_raw(&retry, &[]).await.refused(403, "csrf_mismatch");
    assert_eq!(attr(b.get(&list).await.ok(), "data-dead").len(), 1);
    let to = b.post(&retry, &[]).await.redirected().to_string();
    assert!(to.starts_with(&format!("{list}?done=retried")), "{to}");
    let after = b.get(&to).await;
    assert!(after.ok().contains("id=\"notice\""), "{}", after.body);
    assert!(attr(&after.body, "data-dead").is_empty(), "{}", after.body);
    let sent = notifier.deliver_due(10).await.unwrap();
    assert_eq!((sent.claimed, sent.delivered), (1, 1));
    let page = b.get(&endpoint).await;
    assert!(
        page.ok().contains("data-status=\"delivered\""),
        "{}",
        page.body
    );
    // Retrying a delivered one is refused on the page, nothing changed.
    let again = b.post(&retry, &[("back", "endpoint")]).await;
    again.refused(409, "not_dead");
    assert!(again.body.contains("data-status=\"delivered\""));

    // Disabled: a new accept gets no delivery; enabled again.
    let to = b.post(&format!("{endpoint}/disable"), &[]).await;
    let page = b.get(to.redirected()).await;
    assert!(
        page.ok().contains("data-status=\"disabled\""),
        "{}",
        page.body
    );
    accept(&w, "e-off", "ACoAAAmemberOff").await;
    assert_eq!(attr(b.get(&endpoint).await.ok(), "data-delivery").len(), 1);
    let to = b.post(&format!("{endpoint}/enable"), &[]).await;
    let page = b.get(to.redirected()).await;
    assert!(
        page.ok().contains("data-status=\"enabled\""),
        "{}",
        page.body
    );

    // Deleted after a confirmation step; kept readable, refused after.
    let confirm = b.get(&format!("{endpoint}/delete")).await;
    assert!(
        confirm.ok().contains("id=\"confirm-delete\""),
        "{}",
        confirm.body
    );
    b.post_raw(&format!("{endpoint}/delete"), &[])
        .await
        .refused(403, "csrf_mismatch");
    assert_eq!(attr(b.get(&list).await.ok(), "data-endpoint").len(), 1);
    let to = b.post(&format!("{endpoint}/delete"), &[]).await;
    let listed = b.get(to.redirected()).await;
    assert!(
        attr(listed.ok(), "data-endpoint").is_empty(),
        "{}",
        listed.body
    );
    let page = b.get(&endpoint).await;
    assert!(
        page.ok().contains("data-status=\"deleted\""),
        "{}",
        page.body
    );
    b.post(&format!("{endpoint}/enable"), &[])
        .await
        .refused(409, "endpoint_deleted");
    let events = "SELECT COUNT(*) FROM linkedin_events WHERE kind LIKE 'notification_%' AND source = 'dashboard'";
    // Created, retried, disabled, enabled, deleted: each audited once.
    assert_eq!(count_rows(&w, events).await, 5);

    // Another workspace's endpoint, or a missing one: the same 404.
    let other = b.get("/ui/endpoints/no-such-endpoint").await;
    other.refused(404, "not_found");
}

/// Three prospects who accept an hour or two after their invites (a
/// follow-up each), two of them named so the hostile pre-flight guest
/// answers otherwise (`says-paused`: a skip; `far-future`: a time the host
/// refuses); a day passes.
async fn traffic(rig: &Rig) {
    for (id, first, last, after) in [
        ("e-one", "Ada", "One", HOUR_MS),
        ("says-paused", "Cy", "Three", HOUR_MS),
        ("far-future", "Bea", "Two", 2 * HOUR_MS),
    ] {
        rig.enroll(id, PersonSpec::new(first, last).accepts_after(after))
            .await;
    }
    rig.run_for(DAY_MS, 10 * MINUTE_MS).await;
}

async fn a_shadow_policy_through_the_pages(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let b = Browser::sign_in(&rig.base, RIG_ADMIN_TOKEN).await;
    let hostile = module("hostile_preflight");

    // Without the CSRF token: refused, nothing stored or bound.
    let fields = [
        ("slot", "preflight"),
        ("mode", "shadow"),
        ("name", "candidate"),
        ("version", "v2"),
    ];
    b.post_multipart("/ui/policies/upload", &fields, Some(hostile.clone()))
        .await
        .refused(403, "csrf_mismatch");
    let stored = "SELECT COUNT(*) FROM policy_modules";
    assert_eq!(rig.count(stored, "").await, 0);
    // Not a module: refused on the page, nothing stored.
    let mut with_csrf = vec![("csrf", b.csrf.as_str())];
    with_csrf.extend_from_slice(&fields);
    let refused = b
        .post_multipart(
            "/ui/policies/upload",
            &with_csrf,
            Some(b"not wasm".to_vec()),
        )
        .await;
    refused.refused(422, "invalid_policy");
    assert_eq!(rig.count(stored, "").await, 0);

    // Uploaded in shadow: the page shows it beside the active default.
    let up = b
        .post_multipart("/ui/policies/upload", &with_csrf, Some(hostile.clone()))
        .await;
    let html = up.ok().to_string();
    assert!(html.contains("id=\"notice\""), "{html}");
    let shadow_sha = rig
        .w
        .app
        .policies
        .bound(
            &accord::policy::Scope::Global,
            Slot::Preflight,
            accord::policy::Mode::Shadow,
        )
        .unwrap()
        .sha256()
        .to_string();
    assert!(
        html.contains(&format!(
            "data-module=\"{shadow_sha}\" data-role=\"shadow\""
        )),
        "{html}"
    );
    assert!(html.contains("candidate v2"), "labels shown: {html}");
    assert!(html.contains(&shadow_sha[..12]), "short sha: {html}");
    let history = b.get("/ui/policies").await;
    assert!(
        history.ok().contains("data-action=\"assign\""),
        "{}",
        history.body
    );
    assert!(
        history.body.contains("data-actor>admin<"),
        "{}",
        history.body
    );

    // Traffic: the shadow decides beside the active default.
    let app = &rig.w.app;
    let mut worker = app
        .pipeline
        .decisions()
        .shadow()
        .worker(
            app.db.clone(),
            app.policies.runtime().clone(),
            rig.w.clock.clone(),
        )
        .unwrap();
    traffic(&rig).await;
    assert_eq!(
        worker.drain().await.unwrap(),
        3,
        "one shadow call per pre-flight"
    );
    // A day passed: the session ended, so signed in again.
    let b = Browser::sign_in(&rig.base, RIG_ADMIN_TOKEN).await;

    // Its report: three calls, one agreement, two disagreements.
    let report = b.get("/ui/policies/preflight/shadow").await;
    let html = report.ok().to_string();
    assert!(
        html.contains(&format!("data-sha256=\"{shadow_sha}\"")),
        "{html}"
    );
    assert_eq!(count(&html, "calls"), "3");
    assert_eq!(count(&html, "agreement"), "33.3 %");
    assert_eq!(count(&html, "disagreements"), "2");
    assert_eq!(attr(&html, "data-agrees").len(), 3, "{html}");

    // The decision log, filtered to the shadow's decisions.
    let log = b
        .get(&format!(
            "/ui/policies/decisions?slot=preflight&mode=shadow&module={shadow_sha}"
        ))
        .await;
    let ids = attr(log.ok(), "data-decision");
    assert_eq!(ids.len(), 3, "{}", log.body);
    assert_eq!(attr(&log.body, "data-mode"), vec!["shadow"; 3]);
    let active = b
        .get("/ui/policies/decisions?slot=preflight&mode=active")
        .await;
    assert_eq!(attr(active.ok(), "data-decision").len(), 3);
    let all = attr(b.get("/ui/policies/decisions").await.ok(), "data-decision");
    assert!(all.len() > 6, "every slot's: {all:?}");
    // Pages of two through the keyset cursor: the same decisions, once.
    let mut walked = Vec::new();
    let mut next = Some("/ui/policies/decisions?limit=2".to_string());
    while let Some(path) = next {
        let page = b.get(&path).await;
        let ids = attr(page.ok(), "data-decision");
        assert!(ids.len() <= 2, "{ids:?}");
        walked.extend(ids);
        assert!(walked.len() <= all.len(), "pages repeat: {walked:?}");
        next = older(&page.body);
    }
    assert_eq!(walked, all);
    b.get("/ui/policies/decisions?since=yesterday")
        .await
        .refused(422, "invalid_time");
    // One decision: input and output side by side, pretty JSON.
    let one = b.get(&format!("/ui/policies/decisions/{}", ids[0])).await;
    let html = one.ok().to_string();
    assert!(html.contains("id=\"decision-input\">{\n"), "{html}");
    assert!(html.contains("id=\"decision-output\">"), "{html}");
    assert!(
        html.contains("Active decision"),
        "a shadow names its active one: {html}"
    );

    // Replay of the same candidate over the logged active pre-flights.
    let replayed = b
        .post_multipart(
            "/ui/policies/preflight/replay",
            &[("csrf", b.csrf.as_str())],
            Some(hostile.clone()),
        )
        .await;
    let html = replayed.ok().to_string();
    assert_eq!(count(&html, "replayed"), "3");
    assert_eq!(count(&html, "agreement"), "33.3 %");
    assert!(html.contains("id=\"replay-groups\""), "{html}");

    // Promoted, then rolled back to the built-in default.
    let promoted = b.post("/ui/policies/preflight/promote", &[]).await;
    assert!(promoted.ok().contains("Promoted"), "{}", promoted.body);
    assert_eq!(
        rig.w.app.policies.active(Slot::Preflight).sha256(),
        shadow_sha
    );
    b.post("/ui/policies/preflight/promote", &[])
        .await
        .refused(409, "no_shadow_module");
    let back = b.post("/ui/policies/preflight/rollback", &[]).await;
    assert!(back.ok().contains("Rolled back"), "{}", back.body);
    assert_ne!(
        rig.w.app.policies.active(Slot::Preflight).sha256(),
        shadow_sha
    );
}

async fn a_workspace_session_stays_in_its_scope(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let own = rig.w.workspace.id.clone();
    let other = new_workspace(&rig, "Other team").await;
    let missing = "0190c0de-0000-7000-8000-00000000beef";
    let (s, theirs) = rig
        .api(
            "POST",
            &format!("/api/workspaces/{other}/endpoints"),
            Some(json!({"kind": "slack", "url": "https://hooks.slack.com/services/T0/B0/x"})),
        )
        .await;
    assert_eq!(s, 201, "{theirs}");
    let theirs = theirs["id"].as_str().unwrap().to_string();
    let (_, token) = issue(&rig, &own, "team-a").await;
    let b = Browser::sign_in(&rig.base, &token).await;

    // Integrations: its own workspace only; another's reads as missing.
    b.get(&format!("/ui/workspaces/{own}/integrations"))
        .await
        .ok();
    for path in [
        format!("/ui/workspaces/{other}/integrations"),
        format!("/ui/workspaces/{missing}/integrations"),
        format!("/ui/endpoints/{theirs}"),
        format!("/ui/endpoints/{theirs}/delete"),
    ] {
        b.get(&path).await.refused(404, "not_found");
    }
    for action in ["test", "disable", "delete"] {
        b.post(&format!("/ui/endpoints/{theirs}/{action}"), &[])
            .await
            .refused(404, "not_found");
    }
    let created = b
        .post(
            &format!("/ui/workspaces/{other}/integrations"),
            &[
                ("kind", "slack"),
                ("url", "https://hooks.slack.com/services/T1/B1/y"),
            ],
        )
        .await;
    created.refused(404, "not_found");
    let (_, listed) = rig
        .api("GET", &format!("/api/workspaces/{other}/endpoints"), None)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["enabled"], 1, "untouched: {listed}");

    // Policies: its own scope; another workspace's is 404 like a missing
    // one, the global scope 403, the decision log the admin's.
    let to = b.get("/ui/policies").await;
    assert_eq!(to.redirected(), format!("/ui/policies?workspace={own}"));
    b.get(&format!("/ui/policies?workspace={own}")).await.ok();
    for path in [
        format!("/ui/policies?workspace={other}"),
        format!("/ui/policies?workspace={missing}"),
        format!("/ui/policies/routing/shadow?workspace={other}"),
        format!("/ui/policies/routing/replay?workspace={other}"),
    ] {
        b.get(&path).await.refused(404, "not_found");
    }
    b.get("/ui/policies/routing/shadow")
        .await
        .refused(403, "forbidden");
    b.get("/ui/policies/decisions")
        .await
        .refused(403, "forbidden");
    let routing = module("hostile_routing");
    let upload = |scope: String| {
        let b = &b;
        let routing = routing.clone();
        async move {
            b.post_multipart(
                &format!("/ui/policies/upload{scope}"),
                &[
                    ("csrf", b.csrf.as_str()),
                    ("slot", "routing"),
                    ("mode", "shadow"),
                ],
                Some(routing),
            )
            .await
        }
    };
    upload(String::new()).await.refused(403, "forbidden");
    upload(format!("?workspace={other}"))
        .await
        .refused(404, "not_found");
    for change in ["promote", "rollback", "unassign"] {
        b.post(&format!("/ui/policies/routing/{change}"), &[])
            .await
            .refused(403, "forbidden");
        b.post(
            &format!("/ui/policies/routing/{change}?workspace={other}"),
            &[],
        )
        .await
        .refused(404, "not_found");
    }
    let history = "SELECT COUNT(*) FROM policy_binding_history";
    assert_eq!(rig.count(history, "").await, 0, "nothing changed");

    // Its own scope: uploaded under the token's name.
    let up = upload(format!("?workspace={own}")).await;
    assert!(up.ok().contains("id=\"notice\""), "{}", up.body);
    assert!(up.body.contains("data-actor>team-a<"), "{}", up.body);
    assert!(
        rig.w
            .app
            .policies
            .bound(
                &accord::policy::Scope::Workspace(own.clone()),
                Slot::Routing,
                accord::policy::Mode::Shadow
            )
            .is_some()
    );
    assert!(
        rig.w
            .app
            .policies
            .bound(
                &accord::policy::Scope::Workspace(other.clone()),
                Slot::Routing,
                accord::policy::Mode::Shadow
            )
            .is_none()
    );
    let report = b
        .get(&format!("/ui/policies/routing/shadow?workspace={own}"))
        .await;
    assert_eq!(count(report.ok(), "calls"), "0");
}

//! The dashboard's doors over real HTTP: sign-in with the API's tokens
//! into a session cookie, sign-out, CSRF on every form, the same-origin
//! guard, a workspace token's session kept to its own workspace (another
//! workspace's pages are 404 like missing ones) and ended when the token
//! is revoked, open access with its banner, and the campaign forms (the
//! amber alert on an empty campaign, a CSV import with a bad row, start
//! and pause) checked against what the JSON API then reads. State is made
//! through the API only.

use crate::on_both_databases;
use crate::world::{Kind, T0, postgres_url};
use accord::app::{App, AppConfig};
use accord::clock::ManualClock;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use std::sync::Arc;

on_both_databases!(
    sign_in_and_out,
    a_workspace_session_sees_its_own_workspace_only,
    forms_need_the_session_token_and_this_origin,
    campaign_forms_drive_the_lifecycle,
);

const ADMIN: &str = "admin-token-of-the-dashboard-tests";

struct Host {
    app: Arc<App>,
    base: String,
    /// No redirects followed, no cookie jar: each test says what it sends.
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Host {
    async fn start(kind: Kind, admin: bool) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let mut config = match kind {
            Kind::Sqlite => {
                AppConfig::new(format!("sqlite://{}/t.db?mode=rwc", dir.path().display()))
            }
            Kind::Postgres => {
                let mut c = AppConfig::new(postgres_url().unwrap());
                c.database_schema = Some(crate::support::fresh_schema());
                c
            }
        };
        config.admin_token = admin.then(|| ADMIN.to_string());
        let app = App::start_with_provider(config, ManualClock::new(T0), None)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = accord::http::router(app.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Host {
            app,
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            _dir: dir,
        }
    }

    /// A JSON API call (the admin token opens `/api` and `/admin`).
    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A page, with the session cookie when given: status, headers, body.
    async fn get(
        &self,
        cookie: Option<&str>,
        path: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, headers, resp.text().await.unwrap())
    }

    /// A form post (same origin, as a browser sends it).
    async fn post(
        &self,
        cookie: Option<&str>,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("sec-fetch-site", "same-origin")
            .form(form);
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, headers, resp.text().await.unwrap())
    }

    /// Signs in with `token`: the cookie to send back.
    async fn sign_in(&self, token: &str) -> String {
        let (status, headers, body) = self
            .post(None, "/ui/sign-in", &[("token", token), ("next", "/ui")])
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        let set = headers[SET_COOKIE].to_str().unwrap().to_string();
        set.split(';').next().unwrap().to_string()
    }

    async fn sessions(&self) -> i64 {
        let mut c = self.app.db.acquire().await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM dashboard_sessions")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        n
    }

    /// A workspace with an account and an empty draft campaign.
    async fn workspace(&self, tag: &str) -> (String, String) {
        let (_, w) = self
            .api(
                "POST",
                "/api/workspaces",
                Some(json!({"name": format!("Team {tag}")})),
            )
            .await;
        let ws = w["id"].as_str().unwrap().to_string();
        let (_, a) = self
            .api(
                "POST",
                &format!("/api/workspaces/{ws}/accounts"),
                Some(json!({"provider_account_id": format!("acct-{tag}"), "display_name": "Sales", "time_zone": "Europe/Paris"})),
            )
            .await;
        let (status, k) = self
            .api(
                "POST",
                &format!("/api/workspaces/{ws}/campaigns"),
                Some(json!({
                    "name": format!("Campaign {tag}"),
                    "linkedin_account_id": a["id"],
                    "steps": [
                        {"type": "send_invite"},
                        {"type": "wait_accept", "days": 7},
                        {"type": "send_message", "text": "Thanks for connecting!"},
                    ],
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{k}");
        (ws, k["id"].as_str().unwrap().to_string())
    }
}

/// The CSRF token a page's forms carry.
fn csrf(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf field")
        + 19;
    page[at..].split('"').next().unwrap().to_string()
}

fn error_code(headers: &reqwest::header::HeaderMap) -> &str {
    headers
        .get("x-accord-error")
        .map_or("", |v| v.to_str().unwrap())
}

async fn sign_in_and_out(kind: Kind) {
    let host = Host::start(kind, true).await;
    // Nobody signed in: the sign-in page, remembering where to go back.
    let (status, headers, _) = host.get(None, "/ui/workspaces/x?y=1").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[LOCATION],
        "/ui/sign-in?next=/ui/workspaces/x%3Fy%3D1"
    );
    let (status, headers, _) = host.get(None, "/").await;
    assert_eq!(
        (status, &headers[LOCATION]),
        (StatusCode::SEE_OTHER, &"/ui".parse().unwrap())
    );
    // A token that opens nothing: the form again, the reason, no session.
    let (status, _, body) = host
        .post(None, "/ui/sign-in", &[("token", "not-a-token")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("id=\"sign-in-error\""), "{body}");
    assert_eq!(host.sessions().await, 0);
    // An open redirect is not offered: `next` elsewhere goes home.
    let (status, headers, _) = host
        .post(
            None,
            "/ui/sign-in",
            &[("token", ADMIN), ("next", "//evil.example/ui")],
        )
        .await;
    assert_eq!(
        (status, headers[LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/ui")
    );
    let set = headers[SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    // Behind TLS the cookie is Secure.
    let resp = host
        .http
        .post(format!("{}/ui/sign-in", host.base))
        .header("x-forwarded-proto", "https")
        .form(&[("token", ADMIN)])
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
    // Signed in: the workspace list; no banner of open access.
    let (ws, _) = host.workspace("a").await;
    let cookie = host.sign_in(ADMIN).await;
    let (status, _, page) = host.get(Some(&cookie), "/ui").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("/ui/workspaces/{ws}")), "{page}");
    assert!(!page.contains("No tokens are configured"));
    // Sign-out needs the session's token; then the cookie opens nothing.
    let (status, headers, _) = host
        .post(Some(&cookie), "/ui/sign-out", &[("csrf", "wrong")])
        .await;
    assert_eq!(
        (status, error_code(&headers)),
        (StatusCode::FORBIDDEN, "csrf_mismatch")
    );
    let before = host.sessions().await;
    let (status, headers, _) = host
        .post(Some(&cookie), "/ui/sign-out", &[("csrf", &csrf(&page))])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(host.sessions().await, before - 1);
    let (status, _, _) = host.get(Some(&cookie), "/ui").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

async fn a_workspace_session_sees_its_own_workspace_only(kind: Kind) {
    let host = Host::start(kind, true).await;
    let (a, _) = host.workspace("a").await;
    let (b, b_campaign) = host.workspace("b").await;
    let (_, issued) = host
        .api(
            "POST",
            &format!("/admin/workspaces/{a}/tokens"),
            Some(json!({"name": "team-a"})),
        )
        .await;
    let token = issued["token"].as_str().unwrap();
    let cookie = host.sign_in(token).await;
    // Its home is its workspace.
    let (status, headers, _) = host.get(Some(&cookie), "/ui").await;
    assert_eq!(
        (status, headers[LOCATION].to_str().unwrap()),
        (
            StatusCode::SEE_OTHER,
            format!("/ui/workspaces/{a}").as_str()
        )
    );
    let (status, _, page) = host
        .get(Some(&cookie), &format!("/ui/workspaces/{a}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("team-a"), "the header names the token");
    // Every page of B answers as a missing one does.
    let (_, _, missing) = host
        .get(
            Some(&cookie),
            "/ui/workspaces/0190c0de-0000-7000-8000-00000000dead",
        )
        .await;
    for path in [
        format!("/ui/workspaces/{b}"),
        format!("/ui/workspaces/{b}/counts"),
        format!("/ui/workspaces/{b}/late-accepts"),
        format!("/ui/workspaces/{b}/bridge-misses"),
        format!("/ui/workspaces/{b}/orphan-webhooks"),
        format!("/ui/campaigns/{b_campaign}"),
    ] {
        let (status, headers, body) = host.get(Some(&cookie), &path).await;
        assert_eq!(
            (status, error_code(&headers)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
        assert_eq!(
            body.replace("campaign", "workspace"),
            missing.replace("campaign", "workspace"),
            "{path}"
        );
    }
    // Nor can it act on B: B's campaign is still a draft.
    let (_, _, own) = host
        .get(Some(&cookie), &format!("/ui/workspaces/{a}"))
        .await;
    let (status, _, _) = host
        .post(
            Some(&cookie),
            &format!("/ui/campaigns/{b_campaign}/stop"),
            &[("csrf", &csrf(&own))],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, k) = host
        .api("GET", &format!("/api/campaigns/{b_campaign}"), None)
        .await;
    assert_eq!(k["status"], "draft");
    // Revoking the token ends the session at its next request.
    let (status, _) = host
        .api(
            "DELETE",
            &format!(
                "/admin/workspaces/{a}/tokens/{}",
                issued["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");
    let (status, headers, _) = host
        .get(Some(&cookie), &format!("/ui/workspaces/{a}"))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers[LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/ui/sign-in")
    );
    assert_eq!(host.sessions().await, 0, "the ended session is deleted");
}

async fn forms_need_the_session_token_and_this_origin(kind: Kind) {
    // Open access (no token): no sign-in, a banner, and still CSRF.
    let host = Host::start(kind, false).await;
    let (ws, campaign) = host.workspace("a").await;
    let (status, _, page) = host.get(None, &format!("/ui/workspaces/{ws}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("No tokens are configured"),
        "the banner says so"
    );
    let (_, _, page) = host.get(None, &format!("/ui/campaigns/{campaign}")).await;
    let token = csrf(&page);
    let path = format!("/ui/campaigns/{campaign}/stop");
    let (status, headers, _) = host.post(None, &path, &[("csrf", "")]).await;
    assert_eq!(
        (status, error_code(&headers)),
        (StatusCode::FORBIDDEN, "csrf_mismatch")
    );
    // Another site's form is refused before anything is read.
    for (header, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "http://evil.example"),
    ] {
        let resp = host
            .http
            .post(format!("{}{path}", host.base))
            .header(header, value)
            .form(&[("csrf", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{header}");
        assert_eq!(resp.headers()["x-accord-error"], "cross_site_request");
    }
    let (_, k) = host
        .api("GET", &format!("/api/campaigns/{campaign}"), None)
        .await;
    assert_eq!(k["status"], "draft", "nothing changed");
    // The right token from this origin stops it.
    let (status, _, _) = host.post(None, &path, &[("csrf", &token)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, k) = host
        .api("GET", &format!("/api/campaigns/{campaign}"), None)
        .await;
    assert_eq!(k["status"], "stopped");
    // An unknown page is an HTML 404 with its code, not the API's JSON.
    let (status, headers, body) = host.get(None, "/ui/no-such-page").await;
    assert_eq!(
        (status, error_code(&headers)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(body.contains("data-code=\"not_found\""));
}

async fn campaign_forms_drive_the_lifecycle(kind: Kind) {
    let host = Host::start(kind, true).await;
    let cookie = host.sign_in(ADMIN).await;
    let (_, campaign) = host.workspace("a").await;
    let page_path = format!("/ui/campaigns/{campaign}");
    let (_, _, page) = host.get(Some(&cookie), &page_path).await;
    assert!(
        page.contains("data-alert=\"no_prospects_with_linkedin_url\""),
        "an empty campaign is flagged"
    );
    let token = csrf(&page);
    // Start refused: the amber alert with its Import contacts action.
    let (status, _, page) = host
        .post(
            Some(&cookie),
            &format!("{page_path}/start"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        page.contains("data-alert=\"no_prospects_with_linkedin_url\"")
            && page.contains("id=\"import-contacts\"")
    );
    // A CSV with a bad row: the good ones imported, each row reported.
    let csv = "full_name,profile_url\n\
               Ada Lovelace,https://www.linkedin.com/in/ada-lovelace\n\
               No Url,\n\
               Grace Hopper,https://www.linkedin.com/in/grace-hopper\n\
               Bad,https://www.linkedin.com/in/bad,extra\n";
    let form = reqwest::multipart::Form::new()
        .text("csrf", token.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("p.csv"),
        );
    let resp = host
        .http
        .post(format!("{}{page_path}/import", host.base))
        .header(COOKIE, &cookie)
        .header("sec-fetch-site", "same-origin")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.unwrap();
    let report = &page[page.find("id=\"import-report\"").expect("a report")..];
    let outcomes: Vec<(&str, &str)> = report
        .split("<tr data-outcome=\"")
        .skip(1)
        .map(|row| {
            let outcome = row.split('"').next().unwrap();
            let line = row.split("class=\"num\">").nth(1).unwrap();
            (line.split('<').next().unwrap(), outcome)
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("2", "imported"),
            ("3", "rejected"),
            ("4", "imported"),
            ("5", "unreadable")
        ],
        "{report}"
    );
    assert!(report.contains("missing_identifier") && report.contains("malformed_row"));
    let (status, stats) = host
        .api("GET", &format!("/api/campaigns/{campaign}/stats"), None)
        .await;
    assert_eq!(stats["enrolled"], 2, "{status}: {stats}");
    // Now it starts, pauses and resumes, as the API reads it.
    for (action, status) in [
        ("start", "running"),
        ("pause", "paused"),
        ("resume", "running"),
    ] {
        let (code, headers, _) = host
            .post(
                Some(&cookie),
                &format!("{page_path}/{action}"),
                &[("csrf", &token)],
            )
            .await;
        assert_eq!(code, StatusCode::SEE_OTHER, "{action}");
        assert_eq!(headers[LOCATION].to_str().unwrap(), page_path);
        let (_, k) = host
            .api("GET", &format!("/api/campaigns/{campaign}"), None)
            .await;
        assert_eq!(k["status"], status);
    }
    // A move its state forbids is refused on the page, with its code.
    let (status, _, page) = host
        .post(
            Some(&cookie),
            &format!("{page_path}/start"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("data-alert=\"invalid_transition\""));
    // The table lists them, filtered and searched.
    let (_, _, page) = host
        .get(Some(&cookie), &format!("{page_path}?q=grace"))
        .await;
    assert!(
        page.contains("Grace Hopper") && !page.contains("Ada Lovelace"),
        "{page}"
    );
    let (status, headers, _) = host
        .get(Some(&cookie), &format!("{page_path}?status=bogus"))
        .await;
    assert_eq!(
        (status, error_code(&headers)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_status")
    );
}

//! The decision log through the real path: traffic (invites, accepts,
//! follow-ups) logs every resolve, route and pre-flight with the state it
//! caused, readable through `/admin/decisions`; with the log off nothing
//! is logged; a shadow module runs beside the active one and changes no
//! table but the log, and its report groups its disagreements; a full
//! shadow queue drops and counts; the retention tick prunes once per
//! period.

use crate::on_both_databases;
use crate::rig::*;
use crate::support::test_guest;
use crate::world::Kind;
use accord::clock::{DAY_MS, HOUR_MS, MINUTE_MS};
use accord::simulator::PersonSpec;
use serde_json::{Value, json};
use sqlx::{Column, Row};

/// Three prospects who accept an hour or two after their invites (a
/// follow-up each), two of them named so the hostile pre-flight guest
/// answers otherwise (`says-paused`: a skip; `far-future`: a time the
/// host refuses); a day passes.
async fn traffic(rig: &Rig) {
    rig.enroll(
        "e-one",
        PersonSpec::new("Ada", "One").accepts_after(HOUR_MS),
    )
    .await;
    rig.enroll(
        "says-paused",
        PersonSpec::new("Cy", "Three").accepts_after(HOUR_MS),
    )
    .await;
    rig.enroll(
        "far-future",
        PersonSpec::new("Bea", "Two").accepts_after(2 * HOUR_MS),
    )
    .await;
    rig.run_for(DAY_MS, 10 * MINUTE_MS).await;
}

/// Every decision the admin API lists for `query`, walking the pages.
async fn all_decisions(rig: &Rig, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/admin/decisions?limit=2&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (s, page) = rig.api("GET", &path, None).await;
        assert_eq!(s, 200, "{page}");
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

async fn decisions_are_logged_with_the_state_they_caused(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    traffic(&rig).await;
    assert_eq!(rig.sim.invites(&rig.w.account.provider_account_id).len(), 3);

    let all = all_decisions(&rig, "").await;
    let ids: std::collections::HashSet<&str> =
        all.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), all.len(), "pages never repeat a decision");
    let of = |call: &str, enrollment: &str| -> Vec<&Value> {
        all.iter()
            .filter(|d| d["call"] == call && d["enrollment_id"] == enrollment)
            .collect()
    };
    for e in ["e-one", "says-paused", "far-future"] {
        let resolve = of("resolve", e);
        // The accept is seen twice (the webhook, the relations poll): two
        // resolves, one naming its inbox row; the later one finds it
        // stamped already.
        assert_eq!(resolve.len(), 2, "{resolve:#?}");
        assert!(
            resolve
                .iter()
                .all(|r| r["mode"] == "active" && r["slot"] == "match")
        );
        assert_eq!(
            resolve.iter().filter(|r| r["inbox_id"].is_string()).count(),
            1,
            "{resolve:#?}"
        );
        assert!(
            resolve[0]["summary"]
                .as_str()
                .unwrap()
                .starts_with("matched:"),
            "{}",
            resolve[0]
        );
        let input: Value = serde_json::from_str(resolve[0]["input"].as_str().unwrap()).unwrap();
        assert_eq!(input["call"], "resolve", "the fixtures' envelope");
        // Each signal is routed; only the first one's stamp took.
        assert_eq!(of("route", e).len(), 2);
        let preflight = of("preflight", e);
        assert_eq!(preflight.len(), 1, "{all:#?}");
        assert_eq!(preflight[0]["summary"], "enqueue");
        // The job it enqueued is named, and it is the follow-up's job.
        let job: (String,) = sqlx::query_as(
            "SELECT id FROM campaign_send_jobs WHERE enrollment_id = $1 AND action = 'send_message'",
        )
        .bind(e)
        .fetch_one(rig.w.app.db.pool())
        .await
        .unwrap();
        assert_eq!(preflight[0]["job_id"], job.0.as_str());
        assert!(preflight[0]["fuel"].as_i64().unwrap() > 0);
    }

    // Filters, one decision, refusals.
    let preflights = all_decisions(&rig, "slot=preflight&mode=active").await;
    assert!(preflights.iter().all(|d| d["call"] == "preflight"));
    assert_eq!(preflights.len(), 3);
    let mine = all_decisions(&rig, "enrollment=e-one").await;
    assert_eq!(mine.len(), 5, "{mine:#?}");
    let module = mine[0]["module_sha256"].as_str().unwrap();
    assert!(
        all_decisions(&rig, &format!("module={module}"))
            .await
            .iter()
            .all(|d| d["module_sha256"] == module)
    );
    let at = mine[0]["decided_at"].as_i64().unwrap();
    assert!(
        all_decisions(&rig, &format!("since={}", at + 1))
            .await
            .iter()
            .all(|d| d["decided_at"].as_i64().unwrap() > at)
    );
    let (s, none) = rig
        .api("GET", "/admin/decisions?until=2000-01-01T00:00:00Z", None)
        .await;
    assert_eq!((s, none["items"].as_array().unwrap().len()), (200, 0));
    let id = mine[0]["id"].as_str().unwrap();
    let (s, one) = rig
        .api("GET", &format!("/admin/decisions/{id}"), None)
        .await;
    assert_eq!((s, &one), (200, &mine[0]));
    for (path, status, code) in [
        ("/admin/decisions/nope", 404, "not_found"),
        ("/admin/decisions?limit=0", 422, "invalid_limit"),
        ("/admin/decisions?limit=501", 422, "invalid_limit"),
        ("/admin/decisions?cursor=garbage", 422, "invalid_cursor"),
        ("/admin/decisions?since=yesterday", 422, "invalid_time"),
        ("/admin/decisions?mode=canary", 422, "invalid_mode"),
        ("/admin/decisions?slot=magic", 400, "invalid_slot"),
    ] {
        let (s, e) = rig.api("GET", path, None).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {e}"
        );
    }
    let resp = rig
        .http
        .get(format!("{}/admin/decisions", rig.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401, "the admin token is needed");
}

async fn with_the_log_off_nothing_is_logged(kind: Kind) {
    let rig = Rig::configured(kind, |c| c.decision_log.enabled = false, |_| {}).await;
    traffic(&rig).await;
    let sent = rig
        .count(
            "SELECT COUNT(*) FROM campaign_send_jobs WHERE status = 'succeeded' AND action = $1",
            "send_message",
        )
        .await;
    assert_eq!(sent, 3, "the follow-ups went out");
    let logged = rig
        .count("SELECT COUNT(*) FROM policy_decisions WHERE mode <> $1", "")
        .await;
    assert_eq!(logged, 0);
}

/// Every row of every table but the decision log and the policies' own
/// configuration, as text with generated ids blanked, sorted: what two
/// runs of the same traffic must share.
async fn state_of(rig: &Rig) -> Vec<(String, Vec<String>)> {
    let pool = rig.w.app.db.pool();
    let tables: Vec<(String,)> = match rig.w.app.db.backend() {
        accord::store::Backend::Sqlite => sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name",
        ),
        accord::store::Backend::Postgres => sqlx::query_as(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name NOT LIKE '_sqlx%' ORDER BY 1",
        ),
    }
    .fetch_all(pool)
    .await
    .unwrap();
    let mut state = Vec::new();
    for (table,) in tables {
        // The log differs by design; the shadow's upload and binding are
        // the one thing the two runs were told to do differently.
        if table.starts_with("policy_") {
            continue;
        }
        let rows = sqlx::query(accord::store::sql(format!("SELECT * FROM {table}")))
            .fetch_all(pool)
            .await
            .unwrap();
        let mut dump: Vec<String> = rows
            .iter()
            .map(|row| {
                let cells: Vec<String> = (0..row.columns().len())
                    .map(|i| {
                        let name = row.columns()[i].name().to_string();
                        // An account's spacing carries random jitter.
                        if JITTERED.contains(&name.as_str()) {
                            return format!("{name}=<jitter>");
                        }
                        let value = row
                            .try_get::<Option<i64>, _>(i)
                            .map(|v| format!("{v:?}"))
                            .or_else(|_| {
                                row.try_get::<Option<String>, _>(i)
                                    .map(|v| format!("{v:?}"))
                            })
                            .unwrap_or_else(|_| "?".to_string());
                        format!("{name}={}", blank_ids(&value))
                    })
                    .collect();
                cells.join(" ")
            })
            .collect();
        dump.sort();
        state.push((table, dump));
    }
    state
}

/// Columns that hold a random draw (the spacing jitter), not state.
const JITTERED: [&str; 2] = ["next_action_at", "next_poll_at"];

/// `text` with every generated id (a UUID's 8-4-4-4-12 hex shape) as `<id>`.
fn blank_ids(text: &str) -> String {
    let is_id = |w: &[u8]| {
        w.len() == 36
            && w.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            })
    };
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if i + 36 <= bytes.len() && is_id(&bytes[i..i + 36]) {
            out.push_str("<id>");
            i += 36;
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8().max(1);
        }
    }
    out
}

async fn a_shadow_changes_nothing_and_reports_its_disagreements(kind: Kind) {
    let plain = Rig::new(kind, |_| {}).await;
    let shadowed = Rig::new(kind, |_| {}).await;
    // The same world in both: the second only gets a shadow pre-flight.
    let hostile = std::fs::read(test_guest("hostile_preflight")).unwrap();
    let resp = shadowed
        .http
        .put(format!(
            "{}/admin/policies/preflight?mode=shadow&name=candidate",
            shadowed.base
        ))
        .bearer_auth(RIG_ADMIN_TOKEN)
        .header("content-type", "application/wasm")
        .body(hostile)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let shadow_sha = resp.json::<Value>().await.unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let app = &shadowed.w.app;
    let mut worker = app
        .pipeline
        .decisions()
        .shadow()
        .worker(
            app.db.clone(),
            app.policies.runtime().clone(),
            shadowed.w.clock.clone(),
        )
        .unwrap();
    traffic(&plain).await;
    traffic(&shadowed).await;
    assert_eq!(
        worker.drain().await.unwrap(),
        3,
        "one shadow call per pre-flight"
    );

    // What the provider received is the same, and so is every table but
    // the decision log.
    for rig in [&plain, &shadowed] {
        assert_eq!(rig.sim.invites(&rig.w.account.provider_account_id).len(), 3);
    }
    let (a, b) = (state_of(&plain).await, state_of(&shadowed).await);
    assert_eq!(a.len(), b.len());
    let differ: Vec<String> = a
        .iter()
        .zip(&b)
        .filter(|((_, x), (_, y))| x != y)
        .map(|((table, x), (_, y))| format!("{table}:\n{x:#?}\n{y:#?}"))
        .collect();
    assert!(differ.is_empty(), "{}", differ.join("\n"));

    // The report: three calls, one agreement (`e-one`: enqueue now), two
    // disagreements (`says-paused`: a skip; `far-future`: a time the host
    // refuses, so an error and the fail-safe skip), with sample ids.
    let (s, report) = shadowed
        .api("GET", "/admin/policies/preflight/shadow", None)
        .await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["module_sha256"], shadow_sha.as_str());
    assert_eq!(
        (
            &report["calls"],
            &report["agreements"],
            &report["disagreements"]
        ),
        (&json!(3), &json!(1), &json!(2)),
        "{report}"
    );
    assert_eq!(report["errors"], 1);
    let groups = report["groups"].as_array().unwrap();
    let group = |shadow: &str| {
        groups
            .iter()
            .find(|g| g["shadow_summary"] == shadow)
            .unwrap_or_else(|| panic!("no group for {shadow}: {report}"))
    };
    assert_eq!(group("enqueue")["agrees"], 1);
    assert_eq!(group("skip:policy_error")["errors"], 1);
    let differ = group("skip:campaign_paused");
    assert_eq!(
        (
            &differ["active_summary"],
            &differ["agrees"],
            &differ["errors"]
        ),
        (&json!("enqueue"), &json!(0), &json!(0)),
        "{report}"
    );
    let sample = differ["first_id"].as_str().unwrap();
    let (s, d) = shadowed
        .api("GET", &format!("/admin/decisions/{sample}"), None)
        .await;
    assert_eq!(
        (s, &d["mode"], &d["enrollment_id"]),
        (200, &json!("shadow"), &json!("says-paused"))
    );
    let (_, active) = shadowed
        .api(
            "GET",
            &format!("/admin/decisions/{}", d["active_id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        active["input"], d["input"],
        "the shadow ran on the active input"
    );
    let metrics = app.metrics.render();
    assert!(
        metrics.contains("accord_policy_shadow_total{slot=\"preflight\",agrees=\"false\"}"),
        "{metrics}"
    );
    // A workspace's report counts only that workspace's shadow decisions:
    // the global shadow decided for this one.
    let ws = &shadowed.w.workspace.id;
    let (_, scoped) = shadowed
        .api(
            "GET",
            &format!("/admin/policies/preflight/shadow?workspace={ws}&module={shadow_sha}"),
            None,
        )
        .await;
    assert_eq!(scoped["calls"], 3, "{scoped}");
    let (s, e) = shadowed
        .api("GET", "/admin/policies/nope/shadow", None)
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("invalid_slot"))
    );
}

async fn a_full_shadow_queue_drops_and_counts(kind: Kind) {
    let rig = Rig::configured(kind, |c| c.decision_log.shadow_queue = 1, |_| {}).await;
    let hostile = std::fs::read(test_guest("hostile_preflight")).unwrap();
    let resp = rig
        .http
        .put(format!("{}/admin/policies/preflight?mode=shadow", rig.base))
        .bearer_auth(RIG_ADMIN_TOKEN)
        .body(hostile)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // No worker runs: the first call waits in the queue, the others drop.
    traffic(&rig).await;
    let (_, report) = rig
        .api("GET", "/admin/policies/preflight/shadow", None)
        .await;
    assert_eq!(
        (&report["calls"], &report["dropped"]),
        (&json!(0), &json!(2)),
        "{report}"
    );
    let sent = rig
        .count(
            "SELECT COUNT(*) FROM campaign_send_jobs WHERE status = 'succeeded' AND action = $1",
            "send_message",
        )
        .await;
    assert_eq!(sent, 3, "ingest and sends never waited for the shadow");
}

async fn the_retention_tick_prunes_once_per_period(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    traffic(&rig).await;
    let logged = rig
        .count(
            "SELECT COUNT(*) FROM policy_decisions WHERE mode = $1",
            "active",
        )
        .await;
    assert!(logged >= 6, "{logged}");
    let retention = |days: u64| {
        accord::decisions::retention::Retention::new(
            rig.w.app.db.clone(),
            rig.w.clock.clone(),
            std::time::Duration::from_secs(days * 24 * 3600),
        )
    };
    // Nothing is old enough yet; the tick ran and is not due for an hour.
    assert_eq!(retention(14).run_due().await.unwrap(), Some(0));
    assert_eq!(retention(14).run_due().await.unwrap(), None);
    rig.w.clock.advance(15 * DAY_MS);
    assert_eq!(
        retention(14).run_due().await.unwrap(),
        Some(logged as u64),
        "everything is 15 days old"
    );
    let left = rig
        .count("SELECT COUNT(*) FROM policy_decisions WHERE mode <> $1", "")
        .await;
    assert_eq!(left, 0);
}

on_both_databases!(
    decisions_are_logged_with_the_state_they_caused,
    with_the_log_off_nothing_is_logged,
    a_shadow_changes_nothing_and_reports_its_disagreements,
    a_full_shadow_queue_drops_and_counts,
    the_retention_tick_prunes_once_per_period,
);

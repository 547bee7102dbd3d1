//! The dashboard in a real browser (headless Chromium through ChromeDriver,
//! see [`crate::browser`]), on a real host served on loopback with the
//! Unipile simulator as its provider and a manual clock ([`Rig`]). Each
//! scenario arranges its state by driving the product (the API, the
//! simulated LinkedIn and its webhooks, the engine, the clock), then reads
//! and clicks the pages as a person would, and asserts on what they show.
//! Each saves screenshots in `target/browser-screenshots/` (the README's
//! come from there, copied to `docs/screenshots/`).
//!
//! SQLite only: the pages read through the same store functions the API
//! tests run on both databases.

use crate::browser::{self, Browser};
use crate::builders::{Cast, Story, call, draft_campaign};
use crate::rig::{RIG_ADMIN_TOKEN, Rig};
use crate::world::{Kind, T0};
use accord::clock::{DAY_MS, HOUR_MS, MINUTE_MS};
use accord::domain::Named;
use accord::simulator::{PersonSpec, WebhookFate};
use serde_json::json;

/// A rig whose heals and relations polling stay out of the way: what the
/// pages show changes only when a scenario makes it change.
async fn quiet_rig() -> Rig {
    Rig::new(Kind::Sqlite, |c| {
        c.heals_enabled = false;
        c.poll_relations_every_ms = 30 * DAY_MS;
    })
    .await
}

/// Sign in (a wrong token first), see the workspace's counters, then
/// LinkedIn accepts: the simulator posts the `new_relation` webhook to
/// the host and the open overview's accept counter moves without a
/// reload; a late accept moves the Late accepts tile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_and_watch_accepts_arrive_live() {
    if browser::skipped() {
        return;
    }
    let rig = quiet_rig().await;
    let waiting = Cast::new(&rig, "e-waiting", "Ada", "Lovelace");
    let late = Cast::new(&rig, "e-late", "Grace", "Hopper");
    // Grace was invited on Oct 1 and her wait ran out on Oct 8; Ada was
    // invited yesterday and is still waiting.
    Story::new(&rig)
        .unanswered(&late)
        .invited(&waiting)
        .until(T0)
        .await;
    let account = rig.w.account.provider_account_id.clone();
    let ws = rig.w.workspace.id.clone();

    let b = Browser::open(&rig.base, "live").await;
    b.goto(&format!("/ui/workspaces/{ws}")).await;
    assert!(
        b.path().await.starts_with("/ui/sign-in?next="),
        "a page asks for a sign-in first: {}",
        b.path().await
    );
    b.fill("#token", "not-a-token").await;
    b.click_and_load("main form button[type=submit]").await;
    b.find("#sign-in-error").await;
    assert_eq!(
        b.attr("#token", "aria-invalid").await.as_deref(),
        Some("true")
    );
    b.submit_token(RIG_ADMIN_TOKEN).await;
    assert_eq!(
        b.path().await,
        format!("/ui/workspaces/{ws}"),
        "on to the page asked for"
    );
    b.wait_text("h1", "Acme").await;
    b.wait_text("[data-counter=accepted]", "0").await;
    b.wait_text("[data-tile='Late accepts']", "0").await;
    b.wait_text("[data-tile='Bridge misses']", "0").await;
    b.wait_text(
        &format!(
            "tr[data-campaign='{}'] [data-count=accepted]",
            rig.w.campaign.id
        ),
        "0",
    )
    .await;
    // The live stream is open before anything changes.
    b.find("section[data-live].connected").await;
    b.screenshot("before").await;

    // Ada accepts on LinkedIn; the simulator posts the webhook.
    assert!(rig.sim.accept_now(&account, &waiting.person.provider_id));
    rig.w.clock.advance(5_000); // the webhook follows within seconds
    rig.settle().await;
    assert!(
        waiting
            .enrollment(&rig)
            .await
            .linkedin_accepted_at
            .is_some()
    );
    b.wait_text("[data-counter=accepted]", "1").await;
    b.wait_text(
        &format!(
            "tr[data-campaign='{}'] [data-count=accepted]",
            rig.w.campaign.id
        ),
        "1",
    )
    .await;
    b.wait_text("[data-tile='Late accepts']", "0").await;

    // Grace accepts nine days after her invite: a late accept.
    assert!(rig.sim.accept_now(&account, &late.person.provider_id));
    rig.w.clock.advance(5_000);
    rig.settle().await;
    assert!(
        late.enrollment(&rig)
            .await
            .late_accept_observed_at
            .is_some()
    );
    b.wait_text("[data-tile='Late accepts']", "1").await;
    b.wait_text("[data-counter=accepted]", "2").await;
    assert_eq!(
        b.js("return document.querySelector('[data-live-updated]') !== null")
            .await,
        json!(true),
        "the counts came over the live stream, not a reload"
    );
    b.screenshot("overview").await;

    // Why is this one late? The tile opens the list.
    b.click_and_load("a:has(> [data-tile='Late accepts'])")
        .await;
    assert_eq!(b.path().await, format!("/ui/workspaces/{ws}/late-accepts"));
    let row = format!(
        "#late-accepts tr[data-prospect='{}']",
        late.enrollment(&rig).await.prospect_id
    );
    b.wait_contains(&row, "Grace Hopper").await;
    b.wait_contains(&row, "Q4 founders").await;
    assert_eq!(
        b.count("#late-accepts tbody tr").await,
        1,
        "Ada was in time"
    );
    b.screenshot("late-accepts").await;
    b.close().await;
}

/// The webhook of an accept is lost; the prospect's page still says
/// invited; Resync asks LinkedIn, stamps the accept and says so, and the
/// page then shows the accept and when the follow-up goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_stamps_an_accept_whose_webhook_was_lost() {
    if browser::skipped() {
        return;
    }
    let rig = quiet_rig().await;
    rig.enroll(
        "e-lost",
        PersonSpec::new("Linus", "Torvalds")
            .accepts_after(10 * MINUTE_MS)
            .relation_webhook(WebhookFate::Drop),
    )
    .await;
    rig.run_for(20 * MINUTE_MS, 10_000).await; // invited, accepted, webhook lost
    let e = rig.enrollment("e-lost").await;
    assert!(e.linkedin_accepted_at.is_none(), "{e:?}");
    assert_eq!(e.linkedin_status, "invited");

    let b = Browser::open(&rig.base, "resync").await;
    b.sign_in(RIG_ADMIN_TOKEN).await;
    b.goto(&format!("/ui/prospects/{}", e.prospect_id)).await;
    b.wait_text("h1", "Linus Torvalds").await;
    b.wait_text("[data-linkedin-status]", "invited").await;
    b.wait_text("[data-accepted]", "not yet").await;
    assert_eq!(b.count("#resync-result [data-resync]").await, 0);

    b.click("#resync-button").await;
    b.find("#resync-result [data-resync]").await;
    assert_eq!(
        b.attr("#resync-result [data-resync]", "data-resync")
            .await
            .as_deref(),
        Some("stamped"),
        "{}",
        b.text("#resync-result").await
    );
    b.wait_contains("#resync-result", "Stamped").await;
    assert!(
        b.path().await.starts_with("/ui/prospects/"),
        "htmx answered in place"
    );
    b.screenshot("clicked").await;

    let e = rig.enrollment("e-lost").await;
    assert_eq!(e.accept_source.as_deref(), Some("manual_resync"));
    b.goto(&format!("/ui/prospects/{}", e.prospect_id)).await;
    b.wait_text("[data-linkedin-status]", "connected").await;
    b.wait_contains("[data-accepted]", "via manual_resync")
        .await;
    let next = b
        .wait_contains("[data-next-run]", "step 3 (send_message)")
        .await;
    assert!(next.contains(" at 2026-10-"), "{next}");
    assert!(
        b.count("ol.timeline li[data-kind=event]").await >= 2,
        "the timeline shows the invite and the accept"
    );
    b.screenshot("prospect").await;
    b.close().await;
}

/// Pause and resume a running campaign from its page; an empty campaign
/// shows the amber alert, refuses to start with it, and its Import
/// contacts action leads to the import form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_the_amber_alert_of_an_empty_campaign() {
    if browser::skipped() {
        return;
    }
    let rig = quiet_rig().await;
    rig.enroll("e-one", PersonSpec::new("Margaret", "Hamilton"))
        .await;
    rig.settle().await;
    let running = rig.w.campaign.id.clone();
    let empty = draft_campaign(&rig, json!({"name": "Spring founders"})).await;

    let b = Browser::open(&rig.base, "campaign").await;
    b.sign_in(RIG_ADMIN_TOKEN).await;
    b.goto(&format!("/ui/campaigns/{running}")).await;
    b.wait_text("#campaign-status", "running").await;
    assert_eq!(
        b.count("[data-alert]").await,
        0,
        "no alert when it can send"
    );
    b.click_and_load("[data-action=pause]").await;
    b.wait_text("#campaign-status", "paused").await;
    assert_eq!(
        crate::builders::stored_campaign(&rig, &running)
            .await
            .status
            .as_str(),
        "paused"
    );
    assert_eq!(b.count("[data-action=pause]").await, 0);
    b.screenshot("paused").await;
    b.click_and_load("[data-action=resume]").await;
    b.wait_text("#campaign-status", "running").await;
    assert_eq!(
        crate::builders::stored_campaign(&rig, &running)
            .await
            .status
            .as_str(),
        "running"
    );

    b.goto(&format!("/ui/campaigns/{}", empty.id)).await;
    b.wait_text("#campaign-status", "draft").await;
    b.wait_contains(
        "[data-alert=no_prospects_with_linkedin_url]",
        "No prospects yet",
    )
    .await;
    b.click_and_load("[data-action=start]").await;
    b.wait_contains("[data-alert=no_prospects_with_linkedin_url]", "LinkedIn")
        .await;
    b.wait_text("#campaign-status", "draft").await;
    assert_eq!(
        crate::builders::stored_campaign(&rig, &empty.id)
            .await
            .status
            .as_str(),
        "draft",
        "the refused start changed nothing"
    );
    b.screenshot("amber-alert").await;
    b.click("#import-contacts").await;
    b.until("the Import contacts action leads to the form", async || {
        b.path().await.ends_with("#import")
    })
    .await;
    b.find("#csv-file").await;
    b.close().await;
}

/// A CSV with a bad row, uploaded on the empty campaign's page: the
/// report names each row's outcome, the good rows are enrolled, the
/// alert is gone and the campaign starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_import_reports_a_bad_row() {
    if browser::skipped() {
        return;
    }
    let rig = quiet_rig().await;
    let empty = draft_campaign(&rig, json!({"name": "Spring founders"})).await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("contacts.csv");
    std::fs::write(
        &csv,
        "full_name,profile_url\n\
         Ada Lovelace,https://www.linkedin.com/in/ada-lovelace\n\
         Nobody Known,\n\
         Alan Turing,https://www.linkedin.com/in/alan-turing\n",
    )
    .unwrap();

    let b = Browser::open(&rig.base, "import").await;
    b.sign_in(RIG_ADMIN_TOKEN).await;
    b.goto(&format!("/ui/campaigns/{}", empty.id)).await;
    b.find("[data-alert=no_prospects_with_linkedin_url]").await;
    b.fill("#csv-file", &csv.display().to_string()).await;
    b.click_and_load("#import button[type=submit]").await;
    b.wait_contains("#notice", "Imported 2 prospects").await;
    let outcomes = b
        .js("return [...document.querySelectorAll('#import-report tr[data-outcome]')].map(r => [r.cells[0].innerText, r.dataset.outcome, r.cells[2].innerText])")
        .await;
    let rows: Vec<(String, String, String)> = serde_json::from_value(outcomes).unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0].1, "imported", "{rows:?}");
    assert_eq!(
        (rows[1].0.as_str(), rows[1].1.as_str()),
        ("3", "rejected"),
        "the row without an identifier, by its line: {rows:?}"
    );
    assert!(!rows[1].2.is_empty(), "a code says why: {rows:?}");
    assert_eq!(rows[2].1, "imported", "{rows:?}");
    assert_eq!(b.count("[data-alert]").await, 0, "the alert is gone");
    b.screenshot("report").await;

    let enrolled = rig
        .count(
            "SELECT COUNT(*) FROM enrollments WHERE campaign_id = $1",
            Box::leak(empty.id.clone().into_boxed_str()),
        )
        .await;
    assert_eq!(enrolled, 2);
    b.click_and_load("[data-action=start]").await;
    b.wait_text("#campaign-status", "running").await;
    b.close().await;
}

/// A team's workspace token opens its own workspace, and another
/// workspace's pages answer 404 exactly like missing ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_token_cannot_open_another_workspace() {
    if browser::skipped() {
        return;
    }
    let rig = quiet_rig().await;
    let own = rig.w.workspace.id.clone();
    let issued = call(
        &rig,
        "POST",
        &format!("/admin/workspaces/{own}/tokens"),
        Some(json!({"name": "browser test"})),
    )
    .await;
    let token = issued["token"].as_str().unwrap().to_string();
    let other = call(
        &rig,
        "POST",
        "/api/workspaces",
        Some(json!({"name": "Other team"})),
    )
    .await;
    let other = other["id"].as_str().unwrap().to_string();
    let account = call(
        &rig,
        "POST",
        &format!("/api/workspaces/{other}/accounts"),
        Some(json!({"provider_account_id": "other-team-account", "display_name": "Other", "time_zone": "UTC"})),
    )
    .await;
    let their_campaign = call(
        &rig,
        "POST",
        &format!("/api/workspaces/{other}/campaigns"),
        Some(json!({
            "name": "Theirs", "linkedin_account_id": account["id"], "time_zone": "UTC",
            "window": crate::builders::every_day(), "steps": crate::builders::worked_example(),
        })),
    )
    .await;
    let their_campaign = their_campaign["id"].as_str().unwrap().to_string();

    let b = Browser::open(&rig.base, "token").await;
    b.sign_in(&token).await;
    assert_eq!(
        b.path().await,
        format!("/ui/workspaces/{own}"),
        "a workspace token goes straight to its workspace"
    );
    b.wait_text("h1", "Acme").await;
    assert_eq!(
        b.count("nav.tabs a[href='/ui']").await,
        0,
        "no list of all workspaces"
    );
    b.goto(&format!("/ui/campaigns/{}", rig.w.campaign.id))
        .await;
    b.wait_text("#campaign-status", "running").await;

    for path in [
        format!("/ui/workspaces/{other}"),
        format!("/ui/campaigns/{their_campaign}"),
        format!("/ui/workspaces/{other}/live"),
        "/ui/workspaces/no-such-workspace".to_string(),
    ] {
        b.goto(&path).await;
        b.wait_text("h1", "404 Not Found").await;
        assert_eq!(
            b.text("[data-code]").await,
            "not_found",
            "{path}: the answer of a missing page"
        );
        assert!(
            !b.text("main").await.contains("Other team"),
            "{path}: nothing of the other workspace shows"
        );
    }
    b.goto(&format!("/ui/workspaces/{other}")).await;
    b.wait_text("h1", "404 Not Found").await;
    b.screenshot("not-found").await;
    b.close().await;
}

/// Create an endpoint on the Integrations page (its signing secret shown
/// once), let its receiver fail every delivery of an accept until it is
/// dead-lettered, then retry it from the page: it is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_dead_letter_is_retried_from_the_page() {
    if browser::skipped() {
        return;
    }
    let rig = quiet_rig().await;
    let receiver = crate::notify::Receiver::start().await;
    receiver.fail_next(usize::MAX);
    let ws = rig.w.workspace.id.clone();

    let b = Browser::open(&rig.base, "integrations").await;
    b.sign_in(RIG_ADMIN_TOKEN).await;
    b.goto(&format!("/ui/workspaces/{ws}/integrations")).await;
    b.wait_text("h1", "Integrations").await;
    b.click("#kind-webhook").await;
    b.fill("#endpoint-url", &receiver.url("/crm")).await;
    b.fill("#endpoint-name", "CRM sync").await;
    b.click_and_load("#new-endpoint button[type=submit]").await;
    let secret = b
        .attr("#created [data-secret]", "value")
        .await
        .unwrap_or_default();
    assert!(
        secret.starts_with("whsec_"),
        "the secret, shown once: {secret:?}"
    );
    let endpoint = b
        .attr("#endpoints tr[data-endpoint]", "data-endpoint")
        .await
        .expect("the endpoint is listed");
    b.screenshot("created").await;

    // An accept: its notification goes to the endpoint, which fails it
    // on every attempt of the schedule.
    rig.enroll(
        "e-notified",
        PersonSpec::new("Katherine", "Johnson").accepts_after(10 * MINUTE_MS),
    )
    .await;
    rig.run_for(20 * MINUTE_MS, 10_000).await;
    assert!(
        rig.enrollment("e-notified")
            .await
            .linkedin_accepted_at
            .is_some()
    );
    let clock: accord::clock::SharedClock = rig.w.clock.clone();
    let notifier = accord::notify::Notifier::new(rig.w.app.db.clone(), clock).unwrap();
    let mut dead = 0;
    for _ in 0..12 {
        dead += notifier.deliver_due(10).await.unwrap().dead;
        if dead > 0 {
            break;
        }
        rig.w.clock.advance(25 * HOUR_MS);
    }
    assert_eq!(dead, 1, "dead-lettered after its last retry");
    assert_eq!(receiver.requests().len(), 8, "eight attempts");

    // Eight simulated days passed: the session ended.
    b.sign_in(RIG_ADMIN_TOKEN).await;
    b.goto(&format!("/ui/workspaces/{ws}/integrations")).await;
    let row = "#dead-letter-table tr[data-dead]";
    b.wait_contains(row, "linkedin.invite_accepted").await;
    b.wait_contains(row, "500").await;
    assert_eq!(b.count(row).await, 1);
    b.js("document.getElementById('dead-letters').scrollIntoView(); return true")
        .await;
    b.screenshot("dead-letter").await;

    receiver.fail_next(0);
    b.click_and_load(&format!("{row} button[type=submit]"))
        .await;
    b.wait_contains("#dead-letters", "No dead letters").await;
    assert_eq!(notifier.deliver_due(10).await.unwrap().delivered, 1);
    assert_eq!(receiver.requests().len(), 9);
    // The retry started a fresh schedule: its first attempt went through.
    b.goto(&format!("/ui/endpoints/{endpoint}")).await;
    b.find("#delivery-table tr[data-status=delivered]").await;
    b.wait_text(
        "#delivery-table tr[data-status=delivered] [data-attempts]",
        "1",
    )
    .await;
    b.screenshot("delivered").await;
    b.close().await;
}

/// Upload a candidate pre-flight module in shadow through the Policies
/// page's form (the file chooser); accepts happen; its shadow report
/// shows how it decided beside the active default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_policy_is_uploaded_and_its_report_read() {
    if browser::skipped() {
        return;
    }
    let rig = Rig::new(Kind::Sqlite, |_| {}).await;
    // ChromeDriver takes a file to upload by its canonical path.
    let module = std::fs::canonicalize(crate::support::test_guest("hostile_preflight"))
        .expect("the guest is built");

    let b = Browser::open(&rig.base, "policies").await;
    b.sign_in(RIG_ADMIN_TOKEN).await;
    b.goto("/ui/policies").await;
    b.wait_text("h1", "Policies").await;
    b.find("section[data-slot=preflight] [data-role=active]")
        .await;
    assert_eq!(
        b.count("section[data-slot=preflight] [data-role=shadow]")
            .await,
        0
    );
    b.js("document.getElementById('upload-slot').value = 'preflight'; return true")
        .await;
    b.click("#mode-shadow").await;
    b.fill("#upload-file", &module.display().to_string()).await;
    b.fill("#upload-name", "candidate").await;
    b.fill("#upload-version", "v2").await;
    b.click_and_load("#upload-form button[type=submit]").await;
    b.find("#notice").await;
    b.wait_contains(
        "section[data-slot=preflight] [data-role=shadow]",
        "candidate v2",
    )
    .await;
    b.screenshot("uploaded").await;

    // Traffic: three accepts, each pre-flight decided by the default and,
    // beside it, by the shadow (it answers "paused" for `says-paused`).
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
    for (id, first, last, after) in [
        ("e-one", "Ada", "One", HOUR_MS),
        ("says-paused", "Cy", "Three", HOUR_MS),
        ("far-future", "Bea", "Two", 2 * HOUR_MS),
    ] {
        rig.enroll(id, PersonSpec::new(first, last).accepts_after(after))
            .await;
    }
    rig.run_for(DAY_MS, 10 * MINUTE_MS).await;
    assert_eq!(
        worker.drain().await.unwrap(),
        3,
        "a shadow call per pre-flight"
    );

    // A simulated day passed: the session ended.
    b.sign_in(RIG_ADMIN_TOKEN).await;
    b.goto("/ui/policies/preflight/shadow").await;
    b.wait_contains("h1", "Shadow report").await;
    b.wait_text("[data-count=calls]", "3").await;
    b.wait_text("[data-count=disagreements]", "2").await;
    assert_eq!(b.count("#shadow-groups tr[data-agrees=false]").await, 2);
    assert_eq!(b.count("#shadow-groups tr[data-agrees=true]").await, 1);
    b.screenshot("shadow-report").await;
    b.close().await;
}

//! Match keys per module, re-keyed by a background job, through the real
//! path (admin API uploads, API imports, webhooks): a workspace's own
//! match module gets its own key space while the other workspace's keys
//! stay; the module decides only once its job is done (a signal meanwhile
//! is matched by the old module with its keys); a job stopped after one
//! page resumes from its cursor on a new host; a prospect imported during
//! the job is matched by the new module after the switch; the rekey-jobs
//! listing shows the progress; an unused key space is deleted.

use crate::on_both_databases;
use crate::rig::*;
use crate::support::test_guest;
use crate::world::{Kind, new_relation_of};
use accord::lifecycle::rekey_jobs::{self, RekeyConfig};
use accord::policy::Slot;
use serde_json::{Value, json};

/// A second workspace with an account and a running campaign: (workspace
/// id, provider account id, campaign id).
async fn team_b(rig: &Rig) -> (String, String, String) {
    let (s, ws) = rig
        .api("POST", "/api/workspaces", Some(json!({"name": "Team B"})))
        .await;
    assert_eq!(s, 201, "{ws}");
    let ws = ws["id"].as_str().unwrap().to_string();
    let (s, account) = rig
        .api(
            "POST",
            &format!("/api/workspaces/{ws}/accounts"),
            Some(json!({"provider_account_id": "acc-team-b", "display_name": "B", "time_zone": "UTC"})),
        )
        .await;
    assert_eq!(s, 201, "{account}");
    let (s, campaign) = rig
        .api(
            "POST",
            &format!("/api/workspaces/{ws}/campaigns"),
            Some(json!({
                "name": "B", "linkedin_account_id": account["id"], "time_zone": "UTC",
                "window": crate::builders::every_day(), "steps": crate::builders::worked_example(),
            })),
        )
        .await;
    assert_eq!(s, 201, "{campaign}");
    let campaign = campaign["id"].as_str().unwrap().to_string();
    (ws, "acc-team-b".into(), campaign)
}

/// Imports prospects by profile URL (`slugs`).
async fn import(rig: &Rig, campaign: &str, slugs: &[&str]) {
    let items: Vec<Value> = slugs
        .iter()
        .map(|slug| json!({"full_name": "Ada Prospect", "profile_url": format!("https://www.linkedin.com/in/{slug}")}))
        .collect();
    let (s, report) = rig
        .api(
            "POST",
            &format!("/api/campaigns/{campaign}/prospects"),
            Some(json!({ "prospects": items })),
        )
        .await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["imported"].as_u64(), Some(slugs.len() as u64));
}

/// (key space, key) of the prospects of `workspace`.
async fn keys_of(rig: &Rig, workspace: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT k.key_space, k.key FROM match_keys k JOIN prospects p ON p.id = k.prospect_id \
         WHERE p.workspace_id = $1 ORDER BY k.key_space, k.key",
    )
    .bind(workspace)
    .fetch_all(rig.w.app.db.pool())
    .await
    .unwrap()
}

async fn spaces(rig: &Rig) -> Vec<String> {
    sqlx::query_as::<_, (String,)>("SELECT DISTINCT key_space FROM match_keys ORDER BY key_space")
        .fetch_all(rig.w.app.db.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|(s,)| s)
        .collect()
}

async fn accepted(rig: &Rig, campaign: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM enrollments WHERE campaign_id = $1 \
         AND linkedin_accepted_at IS NOT NULL",
    )
    .bind(campaign)
    .fetch_one(rig.w.app.db.pool())
    .await
    .unwrap();
    n
}

async fn a_match_module_decides_once_its_background_rekey_is_done(kind: Kind) {
    let rig = Rig::configured(
        kind,
        |c| {
            c.rekey = RekeyConfig {
                page: 1,
                inline_pages: 0,
            }
        },
        |_| {},
    )
    .await;
    let a = rig.w.workspace.id.clone();
    let (b, b_account, b_campaign) = team_b(&rig).await;
    import(&rig, &rig.w.campaign.id, &["team-a-one"]).await;
    import(
        &rig,
        &b_campaign,
        &["team-b-one", "team-b-two", "team-b-three"],
    )
    .await;
    let (_, started) = rig
        .api("POST", &format!("/api/campaigns/{b_campaign}/start"), None)
        .await;
    assert_eq!(started["status"], "running", "{started}");
    let builtin = rig.w.app.policies.active(Slot::Match).sha256().to_string();
    let a_keys = keys_of(&rig, &a).await;
    assert!(a_keys.iter().all(|(s, _)| *s == builtin), "{a_keys:?}");

    // Team B's own module: the answer says it is re-keying; the built-in
    // module still decides for team B.
    let hostile = std::fs::read(test_guest("hostile_match")).unwrap();
    let resp = rig
        .http
        .put(format!("{}/admin/policies/match?workspace={b}", rig.base))
        .bearer_auth(RIG_ADMIN_TOKEN)
        .body(hostile)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let swap: Value = resp.json().await.unwrap();
    assert_eq!(swap["status"], "rekeying", "{swap}");
    assert_eq!(swap["sha256"], builtin.as_str(), "{swap}");
    let job = swap["rekey_job"].clone();
    let hostile_sha = job["module_sha256"].as_str().unwrap().to_string();
    assert_eq!(
        (job["total"].as_i64(), job["done"].as_i64()),
        (Some(3), Some(0)),
        "{job}"
    );
    assert_eq!(
        rig.w.app.policies.for_workspace(&b, Slot::Match).sha256(),
        builtin
    );

    // A signal during the job: the old module, with the old keys, finds
    // no one for a stranger (the new one would take everyone).
    rig.w
        .webhook(&new_relation_of(
            &b_account,
            "ACoAAAstrangerstranger",
            "a-stranger",
        ))
        .await;
    assert_eq!(accepted(&rig, &b_campaign).await, 0);

    // One page, then the host stops: the cursor is recorded.
    let jobs = rekey_jobs::run_pending(rig.w.app.policy_host(), Some(1))
        .await
        .unwrap();
    assert_eq!(
        (jobs.len(), jobs[0].done, jobs[0].status.as_str()),
        (1, 1, "running")
    );
    assert!(!jobs[0].cursor.is_empty());
    let (s, listed) = rig
        .api(
            "GET",
            &format!("/admin/policies/rekey-jobs?workspace={b}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{listed}");
    assert_eq!(
        (
            listed[0]["status"].as_str(),
            listed[0]["done"].as_i64(),
            listed[0]["total"].as_i64()
        ),
        (Some("running"), Some(1), Some(3)),
        "{listed}"
    );
    let (_, global) = rig
        .api("GET", "/admin/policies/rekey-jobs?workspace=global", None)
        .await;
    assert_eq!(global, json!([]), "no global job");

    // Imported during the job: keyed into the new module's space too.
    import(&rig, &b_campaign, &["team-b-four"]).await;
    let during = keys_of(&rig, &b).await;
    assert!(
        during
            .iter()
            .filter(|(s, k)| *s == hostile_sha && k == "hostile")
            .count()
            >= 2,
        "{during:?}"
    );

    // A new host on the same database resumes from the cursor and
    // switches; the serving host follows (the broadcast's sync).
    let again = accord::app::App::start(rig.w.app.config.clone(), rig.w.clock.clone())
        .await
        .unwrap();
    let done = rekey_jobs::run_pending(again.policy_host(), None)
        .await
        .unwrap();
    assert_eq!(done[0].status, "done", "{done:?}");
    assert!(done[0].done >= 3, "{done:?}");
    rig.w.app.reload_policies().await.unwrap();
    assert_eq!(
        rig.w.app.policies.for_workspace(&b, Slot::Match).sha256(),
        hostile_sha
    );

    // Team B's keys are the new module's only; team A's are untouched.
    let b_keys = keys_of(&rig, &b).await;
    assert_eq!(b_keys.len(), 4, "{b_keys:?}");
    assert!(
        b_keys
            .iter()
            .all(|(s, k)| *s == hostile_sha && k == "hostile")
    );
    assert_eq!(keys_of(&rig, &a).await, a_keys);

    // The new module decides: the stranger's accept takes every candidate,
    // the prospect imported during the job included.
    rig.w
        .webhook(&new_relation_of(
            &b_account,
            "ACoAAAstranger2stranger2",
            "a-stranger-2",
        ))
        .await;
    assert_eq!(accepted(&rig, &b_campaign).await, 4);

    // Back to the global module: a job again; once done, the module's
    // space is used by nothing and is deleted.
    let (s, swap) = rig
        .api(
            "DELETE",
            &format!("/admin/policies/match?workspace={b}"),
            None,
        )
        .await;
    assert_eq!(
        (s, swap["status"].as_str()),
        (200, Some("rekeying")),
        "{swap}"
    );
    rekey_jobs::run_pending(rig.w.app.policy_host(), None)
        .await
        .unwrap();
    assert_eq!(
        rig.w.app.policies.for_workspace(&b, Slot::Match).sha256(),
        builtin
    );
    assert_eq!(spaces(&rig).await, vec![builtin.clone()]);
    let (_, listed) = rig.api("GET", "/admin/policies/rekey-jobs", None).await;
    let statuses: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["action"].as_str().unwrap(), j["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        vec![("unassign", "done"), ("assign", "done")],
        "{listed}"
    );
}

on_both_databases!(a_match_module_decides_once_its_background_rekey_is_done);

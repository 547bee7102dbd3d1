//! Policies per workspace through the admin API: two workspaces on one
//! host decide the same signal with different match modules; a shadow
//! module changes nothing until promoted; rollback walks back through the
//! history; every change is in the history; refusals change nothing.

use crate::on_both_databases;
use crate::rig::*;
use crate::support::test_guest;
use crate::world::{Kind, new_relation_of};
use serde_json::{Value, json};

/// A second workspace with a connected account and a running campaign,
/// made through the API: (workspace id, provider account id, campaign id).
async fn second_workspace(rig: &Rig) -> (String, String, String) {
    let (s, ws) = rig
        .api("POST", "/api/workspaces", Some(json!({"name": "Team B"})))
        .await;
    assert_eq!(s, 201, "{ws}");
    let ws = ws["id"].as_str().unwrap().to_string();
    let provider_account = "acc-team-b".to_string();
    let (s, account) = rig
        .api(
            "POST",
            &format!("/api/workspaces/{ws}/accounts"),
            Some(json!({
                "provider_account_id": provider_account, "display_name": "B",
                "time_zone": "UTC",
            })),
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
    (ws, provider_account, campaign)
}

/// Imports one prospect by member id into `campaign` and starts it if it
/// is a draft (the world's campaign runs already).
async fn import_and_start(rig: &Rig, campaign: &str, member: &str) {
    let (s, report) = rig
        .api(
            "POST",
            &format!("/api/campaigns/{campaign}/prospects"),
            Some(json!({"prospects": [{"full_name": "Ada Prospect", "member_id": member}]})),
        )
        .await;
    assert_eq!((s, report["imported"].as_u64()), (200, Some(1)), "{report}");
    let (_, current) = rig
        .api("GET", &format!("/api/campaigns/{campaign}"), None)
        .await;
    if current["status"] == "draft" {
        let (s, started) = rig
            .api("POST", &format!("/api/campaigns/{campaign}/start"), None)
            .await;
        assert_eq!(s, 200, "{started}");
    }
}

/// (accept strategy, accepted?) of the only enrollment of `campaign`.
async fn accept_of(rig: &Rig, campaign: &str) -> (Option<String>, bool) {
    let (s, stats) = rig
        .api("GET", &format!("/api/campaigns/{campaign}/stats"), None)
        .await;
    assert_eq!(s, 200, "{stats}");
    let row: (Option<String>, Option<i64>) = sqlx::query_as(
        "SELECT accept_strategy, linkedin_accepted_at FROM enrollments WHERE campaign_id = $1",
    )
    .bind(campaign)
    .fetch_one(rig.w.app.db.pool())
    .await
    .unwrap();
    (row.0, row.1.is_some())
}

/// The match keys of the prospects of `workspace`, in the key space of
/// the module that decides for it (a shadow's space is filled beside it).
async fn keys_of(rig: &Rig, workspace: &str) -> Vec<String> {
    let space = rig
        .w
        .app
        .policies
        .for_workspace(workspace, accord::policy::Slot::Match)
        .sha256()
        .to_string();
    sqlx::query_as::<_, (String,)>(
        "SELECT k.key FROM match_keys k JOIN prospects p ON p.id = k.prospect_id \
         WHERE p.workspace_id = $1 AND k.key_space = $2 ORDER BY k.key",
    )
    .bind(workspace)
    .bind(space)
    .fetch_all(rig.w.app.db.pool())
    .await
    .unwrap()
    .into_iter()
    .map(|(k,)| k)
    .collect()
}

async fn two_workspaces_decide_one_signal_with_their_own_match_module(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let a = rig.w.workspace.id.clone();
    let (b, b_account, b_campaign) = second_workspace(&rig).await;
    import_and_start(&rig, &rig.w.campaign.id, "ACoAAAteamAteamAteamA").await;
    import_and_start(&rig, &b_campaign, "ACoAAAteamBteamBteamB").await;
    let a_keys = keys_of(&rig, &a).await;

    // Team B's own match module: it keys every prospect `hostile` and
    // attributes any signal to every candidate.
    let hostile = std::fs::read(test_guest("hostile_match")).unwrap();
    let (s, swap) = rig
        .put_module(
            &format!("/admin/policies/match?workspace={b}&name=catch-all&version=1.0"),
            hostile,
        )
        .await;
    assert_eq!(s, 200, "{swap}");
    assert_eq!(swap["workspace_id"], b.as_str());
    assert_eq!(swap["rekeyed"], 1, "only team B's prospect: {swap}");
    assert_eq!(keys_of(&rig, &b).await, vec!["hostile".to_string()]);
    assert_eq!(keys_of(&rig, &a).await, a_keys, "team A's keys untouched");

    // The same signal (a stranger accepting) on each team's account.
    let stranger = ("ACoAAAstrangerstranger", "a-stranger");
    rig.w
        .webhook(&new_relation_of(
            &rig.w.account.provider_account_id,
            stranger.0,
            stranger.1,
        ))
        .await;
    rig.w
        .webhook(&new_relation_of(&b_account, stranger.0, stranger.1))
        .await;
    assert_eq!(
        accept_of(&rig, &rig.w.campaign.id).await,
        (None, false),
        "the default finds no one in team A"
    );
    assert_eq!(
        accept_of(&rig, &b_campaign).await,
        (Some("hostile".to_string()), true),
        "team B's module attributes it"
    );

    // The listing shows the global defaults and team B's binding; the
    // module's metadata is stored.
    let (_, list) = rig.api("GET", "/admin/policies", None).await;
    let scoped: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["workspace_id"] == b.as_str())
        .collect();
    assert_eq!(scoped.len(), 1, "{list}");
    assert_eq!(scoped[0]["mode"], "active");
    let (_, modules) = rig.api("GET", "/admin/policies/modules", None).await;
    assert_eq!(modules[0]["name"], "catch-all", "{modules}");
    assert_eq!(modules[0]["version_label"], "1.0");
    assert_eq!(modules[0]["uploaded_by"], "admin");

    // A second host on the same database decides as the first.
    let again = accord::app::App::start(rig.w.app.config.clone(), rig.w.clock.clone())
        .await
        .unwrap();
    assert_eq!(
        again
            .policies
            .for_workspace(&b, accord::policy::Slot::Match)
            .sha256(),
        swap["sha256"].as_str().unwrap()
    );
    assert_ne!(
        again
            .policies
            .for_workspace(&a, accord::policy::Slot::Match)
            .sha256(),
        swap["sha256"].as_str().unwrap()
    );
}

async fn shadow_promote_rollback_and_history(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let (b, b_account, b_campaign) = second_workspace(&rig).await;
    import_and_start(&rig, &b_campaign, "ACoAAAteamBteamBteamB").await;
    let default_keys = keys_of(&rig, &b).await;
    let hostile = std::fs::read(test_guest("hostile_match")).unwrap();

    // Refusals change nothing.
    let (s, e) = rig
        .put_module("/admin/policies/match?workspace=nope", hostile.clone())
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{e}"
    );
    let (s, e) = rig
        .put_module(
            &format!("/admin/policies/match?workspace={b}&mode=canary"),
            hostile.clone(),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("invalid_mode")),
        "{e}"
    );
    let (s, e) = rig
        .api(
            "POST",
            &format!("/admin/policies/match/promote?workspace={b}"),
            None,
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("no_shadow_module")),
        "{e}"
    );
    let (s, e) = rig
        .api(
            "POST",
            &format!("/admin/policies/match/rollback?workspace={b}"),
            None,
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("nothing_to_roll_back")),
        "{e}"
    );
    let (_, history) = rig.api("GET", "/admin/policies/history", None).await;
    assert_eq!(history, json!([]));

    // A shadow module decides nothing: keys and outcomes stay the default's.
    let (s, swap) = rig
        .put_module(
            &format!("/admin/policies/match?workspace={b}&mode=shadow"),
            hostile,
        )
        .await;
    assert_eq!(s, 200, "{swap}");
    assert_eq!(
        (swap["mode"].as_str(), swap["rekeyed"].as_u64()),
        (Some("shadow"), Some(0))
    );
    let hostile_sha = swap["sha256"].as_str().unwrap().to_string();
    assert_eq!(keys_of(&rig, &b).await, default_keys);
    rig.w
        .webhook(&new_relation_of(
            &b_account,
            "ACoAAAstrangerstranger",
            "a-stranger",
        ))
        .await;
    assert_eq!(accept_of(&rig, &b_campaign).await, (None, false));

    // Promoted, it decides: the scope is re-keyed.
    let (s, swap) = rig
        .api(
            "POST",
            &format!("/admin/policies/match/promote?workspace={b}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{swap}");
    assert_eq!(swap["sha256"], hostile_sha.as_str());
    // The shadow's job filled its space: the promote keys only what is
    // missing there (nothing).
    assert_eq!(
        (swap["status"].as_str(), swap["rekeyed"].as_u64()),
        (Some("done"), Some(0)),
        "{swap}"
    );
    assert_eq!(swap["rekey_job"]["action"], "promote", "{swap}");
    assert_eq!(keys_of(&rig, &b).await, vec!["hostile".to_string()]);
    let (_, list) = rig.api("GET", "/admin/policies", None).await;
    assert!(
        !list
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["mode"] == "shadow"),
        "the shadow binding is gone: {list}"
    );

    // Rolled back: team B has no module of its own again, its prospects
    // are keyed by the global default; a second rollback has nowhere to go.
    let (s, swap) = rig
        .api(
            "POST",
            &format!("/admin/policies/match/rollback?workspace={b}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{swap}");
    assert_eq!(swap["previous_sha256"], hostile_sha.as_str());
    assert_eq!(keys_of(&rig, &b).await, default_keys);
    let (s, e) = rig
        .api(
            "POST",
            &format!("/admin/policies/match/rollback?workspace={b}"),
            None,
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("nothing_to_roll_back")),
        "{e}"
    );

    // The history: who, when, from, to, newest first.
    let (_, history) = rig
        .api(
            "GET",
            &format!("/admin/policies/history?workspace={b}&slot=match"),
            None,
        )
        .await;
    let actions: Vec<(&str, &str, Option<&str>, Option<&str>)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["action"].as_str().unwrap(),
                h["mode"].as_str().unwrap(),
                h["from_sha256"].as_str(),
                h["to_sha256"].as_str(),
            )
        })
        .collect();
    let h = Some(hostile_sha.as_str());
    assert!(
        actions.contains(&("assign", "shadow", None, h))
            && actions.contains(&("promote", "shadow", h, None))
            && actions.contains(&("promote", "active", None, h))
            && actions.contains(&("rollback", "active", h, None))
            && actions.len() == 4,
        "{history}"
    );
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["actor"] == "admin")
    );
    let (s, e) = rig
        .api("GET", "/admin/policies/history?limit=0", None)
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("invalid_limit")),
        "{e}"
    );
}

on_both_databases!(
    two_workspaces_decide_one_signal_with_their_own_match_module,
    shadow_promote_rollback_and_history
);

/// PostgreSQL: another instance follows a workspace's binding as soon as
/// it is told (LISTEN/NOTIFY), and its unassignment as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_follows_a_workspace_binding_within_a_second() {
    if crate::world::postgres_url().is_none() {
        eprintln!("skipped: ACCORD_TEST_POSTGRES_URL is unset");
        return;
    }
    let rig = Rig::new(Kind::Postgres, |_| {}).await;
    let (b, _, _) = second_workspace(&rig).await;
    let other = accord::app::App::start(rig.w.app.config.clone(), rig.w.clock.clone())
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = accord::workers::spawn_workers(&other, stopped);
    let deciding = || {
        other
            .policies
            .for_workspace(&b, accord::policy::Slot::Match)
            .sha256()
            .to_string()
    };
    let builtin = deciding();
    // The listener connects in the background: give it a moment before
    // the first notification, as a deployment's instances have.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let hostile = std::fs::read(test_guest("hostile_match")).unwrap();
    let (s, swap) = rig
        .put_module(&format!("/admin/policies/match?workspace={b}"), hostile)
        .await;
    assert_eq!(s, 200, "{swap}");
    let hostile_sha = swap["sha256"].as_str().unwrap().to_string();
    let followed = |want: String| {
        let deciding = &deciding;
        async move {
            // A second in production; the test's debug build compiles a
            // module several times slower, on a machine running other
            // tests: 5 s (0.6 s measured under load).
            let start = tokio::time::Instant::now();
            let deadline = start + std::time::Duration::from_secs(5);
            while deciding() != want {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the other instance still decides with {}, not {want}",
                    deciding()
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    followed(hostile_sha).await;
    let (s, swap) = rig
        .api(
            "DELETE",
            &format!("/admin/policies/match?workspace={b}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{swap}");
    followed(builtin).await;
    let _ = stop.send(true);
    for w in workers {
        let _ = w.await;
    }
}

//! A prospect's match keys through the real path: imported over the API,
//! invited by the engine through the simulator, re-keyed by match policies
//! swapped over the admin API; the accept that only the invite target can
//! attribute still matches, by the invite bridge, and is followed up once.

use crate::on_both_databases;
use crate::rig::*;
use crate::support::test_guest;
use crate::world::Kind;
use accord::clock::{HOUR_MS, MINUTE_MS};
use accord::simulator::PersonSpec;

/// The match keys of the prospect with this profile URL.
async fn keys_of(rig: &Rig, profile_url: &str) -> Vec<String> {
    sqlx::query_as::<_, (String,)>(
        "SELECT k.key FROM match_keys k JOIN prospects p ON p.id = k.prospect_id \
         WHERE p.profile_url = $1 ORDER BY k.key",
    )
    .bind(profile_url)
    .fetch_all(rig.w.app.db.pool())
    .await
    .unwrap()
    .into_iter()
    .map(|(k,)| k)
    .collect()
}

/// Activates `bytes` in the match slot over the admin API (`None`: back
/// to the built-in default); returns the swap's report.
async fn swap_match(rig: &Rig, bytes: Option<Vec<u8>>) -> serde_json::Value {
    let url = format!("{}/admin/policies/match", rig.base);
    let request = match bytes {
        Some(bytes) => rig
            .http
            .put(url)
            .header("content-type", "application/wasm")
            .body(bytes),
        None => rig.http.delete(url),
    };
    let resp = request.bearer_auth(RIG_ADMIN_TOKEN).send().await.unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn an_accept_matches_by_the_invite_bridge_after_a_match_policy_swap(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    rig.w.clock.set(OCT1_10AM);
    let julien = rig
        .sim
        .add_person(PersonSpec::new("Julien", "Crepieux").slug("julien-crepieux"));
    let account = rig.w.account.provider_account_id.clone();

    // Imported by profile URL: no invite yet, so no invite-bridge key.
    let (status, report) = rig
        .api(
            "POST",
            &format!("/api/campaigns/{}/prospects", rig.w.campaign.id),
            Some(serde_json::json!({"prospects": [{
                "full_name": "Julien Crepieux", "profile_url": julien.profile_url(),
            }]})),
        )
        .await;
    assert_eq!(
        (status, report["imported"].as_u64()),
        (200, Some(1)),
        "{report}"
    );
    let bridge_key = format!("pid:{}", julien.provider_id);
    let imported = keys_of(&rig, &julien.profile_url()).await;
    assert!(!imported.contains(&bridge_key), "{imported:?}");

    // The engine invites him: the provider got the invite, and the target
    // became a key.
    rig.minutes(5).await;
    let invites = rig.sim.invites(&account);
    assert_eq!(invites.len(), 1, "one invite: {invites:?}");
    assert!(
        keys_of(&rig, &julien.profile_url())
            .await
            .contains(&bridge_key)
    );

    // Another match module, then the default again: two re-keys, each from
    // the prospect and his invite.
    rig.minutes(30).await;
    let hostile = swap_match(
        &rig,
        Some(std::fs::read(test_guest("hostile_match")).unwrap()),
    )
    .await;
    assert_eq!(hostile["rekeyed"], 1, "{hostile}");
    let reset = swap_match(&rig, None).await;
    assert_eq!(reset["rekeyed"], 1, "{reset}");
    let rekeyed = keys_of(&rig, &julien.profile_url()).await;
    assert!(rekeyed.contains(&bridge_key), "{rekeyed:?}");

    // He changes his vanity URL, then accepts: only the invite target
    // attributes the accept.
    rig.run_for(2 * HOUR_MS, 10 * MINUTE_MS).await;
    assert!(rig.sim.change_slug(&julien.provider_id, "julien-c-2026"));
    assert!(rig.sim.accept_now(&account, &julien.provider_id));
    rig.run_for(10 * MINUTE_MS, MINUTE_MS).await;
    let (strategy,): (Option<String>,) = sqlx::query_as(
        "SELECT e.accept_strategy FROM enrollments e JOIN prospects p ON p.id = e.prospect_id \
         WHERE p.profile_url = $1",
    )
    .bind(julien.profile_url())
    .fetch_one(rig.w.app.db.pool())
    .await
    .unwrap();
    assert_eq!(strategy.as_deref(), Some("invite-bridge"));
    rig.run_for(2 * HOUR_MS, 10 * MINUTE_MS).await;
    assert_eq!(rig.sent_messages(&julien).len(), 1, "one follow-up");
}

on_both_databases!(an_accept_matches_by_the_invite_bridge_after_a_match_policy_swap);

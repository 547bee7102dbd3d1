//! Limits per module through the admin API: a module uploaded with
//! declared limits decides under them on the host (an accept's pre-flight
//! through the real pipeline), the listing shows its kind and each limit's
//! source, a host started later applies the same ones, and declarations
//! outside the host's bounds, or other than the stored one, are refused and
//! change nothing.

use crate::builders::{Cast, Story};
use crate::on_both_databases;
use crate::rig::Rig;
use crate::support::test_guest;
use crate::world::{Kind, T0};
use accord::policy::Slot;
use serde_json::Value;

/// The listing's entry for `sha256`.
async fn listed(rig: &Rig, sha256: &str) -> Value {
    let (s, modules) = rig.api("GET", "/admin/policies/modules", None).await;
    assert_eq!(s, 200, "{modules}");
    modules
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["sha256"] == sha256)
        .cloned()
        .unwrap_or_else(|| panic!("{sha256} not listed: {modules}"))
}

/// Rows of the tables an upload writes.
async fn upload_rows(rig: &Rig) -> (i64, i64, i64) {
    let count = |sql: &'static str| rig.count(sql, "");
    (
        count("SELECT COUNT(*) FROM policy_modules WHERE $1 = ''").await,
        count("SELECT COUNT(*) FROM policy_bindings WHERE $1 = ''").await,
        count("SELECT COUNT(*) FROM policy_binding_history WHERE $1 = ''").await,
    )
}

async fn a_declared_limit_is_what_the_hosts_decisions_run_under(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let hostile = std::fs::read(test_guest("hostile_preflight")).unwrap();

    // Refusals first: each names the limit and changes nothing.
    let before = upload_rows(&rig).await;
    for (query, code, limit) in [
        ("memory_mib=100000", "limits_out_of_bounds", "memory_bytes"),
        ("fuel=5", "limits_out_of_bounds", "fuel"),
        ("deadline_ms=600000", "limits_out_of_bounds", "deadline_ms"),
        ("output_kib=0", "limits_out_of_bounds", "max_output_bytes"),
    ] {
        let (s, body) = rig
            .put_module(
                &format!("/admin/policies/preflight?{query}"),
                hostile.clone(),
            )
            .await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (422, Some(code)),
            "{query}: {body}"
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains(limit),
            "{query}: {body}"
        );
    }
    let (s, body) = rig
        .put_module("/admin/policies/preflight?fuel=lots", hostile.clone())
        .await;
    assert_eq!(s, 400, "a malformed number is a bad query: {body}");
    assert_eq!(body["error"]["code"], "invalid_query", "{body}");
    assert_eq!(upload_rows(&rig).await, before, "refusals store nothing");

    // Someone the engine invites while the default pre-flight decides.
    let cast = Cast::new(&rig, "limited", "Limited", "Person");
    Story::new(&rig).invited(&cast).until(T0).await;

    // 1 MiB cannot hold this Rust guest's initial memory (its 1 MiB stack
    // and its data): every decision it makes fails with the memory limit.
    let (s, swap) = rig
        .put_module(
            "/admin/policies/preflight?memory_mib=1&fuel=20000&name=tight",
            hostile.clone(),
        )
        .await;
    assert_eq!(s, 200, "{swap}");
    let sha256 = swap["sha256"].as_str().unwrap().to_string();
    let module = listed(&rig, &sha256).await;
    let limits = &module["limits"];
    assert_eq!(limits["kind"], "compiled", "{module}");
    assert_eq!(limits["declared"]["memory_bytes"], 1 << 20, "{module}");
    assert_eq!(limits["declared"]["fuel"], 20_000);
    assert!(limits["declared"]["deadline_ms"].is_null());
    assert_eq!(limits["effective"]["memory_bytes"], 1 << 20);
    assert_eq!(limits["effective"]["fuel"], 20_000);
    assert_eq!(
        limits["effective"]["deadline_ms"], 500,
        "the kind's default"
    );
    assert_eq!(limits["sources"]["memory_bytes"], "declared");
    assert_eq!(limits["sources"]["deadline_ms"], "kind_default");
    assert_eq!(module["name"], "tight");

    // The same bytes with other limits: refused, nothing changes; without
    // limits: the stored declaration is kept.
    let rows = upload_rows(&rig).await;
    let (s, body) = rig
        .put_module("/admin/policies/preflight?memory_mib=64", hostile.clone())
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("limits_differ")),
        "{body}"
    );
    assert_eq!(upload_rows(&rig).await, rows);
    let (s, again) = rig
        .put_module("/admin/policies/preflight", hostile.clone())
        .await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["sha256"], sha256.as_str());
    assert_eq!(
        rig.w
            .app
            .policies
            .active(Slot::Preflight)
            .limits()
            .effective
            .memory_bytes,
        1 << 20
    );

    // The accept, on the simulated LinkedIn, is stamped; its pre-flight
    // fails on the module's own memory limit and the slot's fail-safe
    // holds the follow-up.
    assert!(
        rig.sim
            .accept_now(&rig.w.account.provider_account_id, &cast.person.provider_id)
    );
    rig.w.clock.advance(5_000);
    rig.settle().await;
    assert!(cast.enrollment(&rig).await.linkedin_accepted_at.is_some());
    let failures: Vec<(Option<String>, String)> = sqlx::query_as(
        "SELECT error_kind, module_sha256 FROM policy_decisions WHERE slot = 'preflight' AND mode = 'active'",
    )
    .fetch_all(rig.w.app.db.pool())
    .await
    .unwrap();
    assert!(!failures.is_empty(), "a pre-flight was decided");
    for (error, module) in &failures {
        assert_eq!(module, &sha256);
        assert_eq!(error.as_deref(), Some("memory_limit"));
    }
    rig.minutes(10).await;
    assert!(
        rig.sent_messages(&cast.person).is_empty(),
        "the fail-safe sent nothing"
    );

    // A host started later on the same database runs it under the same
    // limits.
    let other = accord::app::App::start(rig.w.app.config.clone(), rig.w.clock.clone())
        .await
        .unwrap();
    let active = other.policies.active(Slot::Preflight);
    assert_eq!(active.sha256(), sha256);
    assert_eq!(active.limits().declared.memory_bytes, Some(1 << 20));
    assert_eq!(active.limits().effective.fuel, 20_000);
}

on_both_databases!(a_declared_limit_is_what_the_hosts_decisions_run_under);

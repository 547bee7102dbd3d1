//! Shared test support: building the test guests, sample inputs.
#![allow(dead_code)]

use accord::policy::{Limits, PolicyModule, PolicyRuntime, Slot, builtin};
use accord_policy_core::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds `tests/guests` once per test run and returns the path of
/// `<name>.wasm` (e.g. `hostile_match`).
pub fn test_guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let target = root().join("target").join("guests");
        build_wasm(&root().join("tests").join("guests"), &target, &["--quiet"])
            .map(|_| target.join("wasm32-wasip2").join("release"))
            .map_err(|e| format!("building tests/guests failed:\n{e}"))
    });
    match dir {
        Ok(dir) => dir.join(format!("{name}.wasm")),
        Err(e) => panic!("{e}"),
    }
}

/// `cargo build --release --target wasm32-wasip2` of the crate or
/// workspace in `dir`, into `target_dir`, as a policy author runs it:
/// the test run's own cargo settings (its target dir, its rustflags, which
/// would replace the crate's `.cargo/config.toml` flags) are removed.
/// Returns cargo's stderr, or it as the error when the build fails.
pub fn build_wasm(dir: &Path, target_dir: &Path, extra: &[&str]) -> Result<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(dir)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .args(extra)
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(stderr)
    } else {
        Err(stderr)
    }
}

/// A runtime with default limits but a smaller fuel budget (hostile loops
/// end sooner) and no disk cache.
pub fn runtime() -> PolicyRuntime {
    PolicyRuntime::new(
        Limits {
            fuel: 5_000_000,
            max_concurrent: 32,
            ..Limits::default()
        },
        None,
    )
    .expect("runtime")
}

/// Loads a built-in default module.
pub fn default_module(rt: &PolicyRuntime, slot: Slot) -> Arc<PolicyModule> {
    let (bytes, origin) = builtin::for_slot(slot);
    rt.load(bytes, origin, Some(slot))
        .expect("default module loads")
}

/// Loads a test guest.
pub fn guest_module(rt: &PolicyRuntime, name: &str, slot: Slot) -> Arc<PolicyModule> {
    rt.load_file(&test_guest(name), Some(slot))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub const ACCOUNT: &str = "SDF4tGaPSPSzNe1D1xsOs";
pub const MEMBER: &str = "ACoAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM";

/// The new_relation signal of unipile.md, with `full_name` as given (the
/// hostile match guest reads its mode from it).
pub fn signal(full_name: &str) -> AcceptSignal {
    AcceptSignal {
        source: SignalSource::Webhook,
        linkedin_account_id: ACCOUNT.into(),
        member_id: Some(MEMBER.into()),
        public_identifier: Some("julien-crepieux".into()),
        profile_url: Some("https://www.linkedin.com/in/julien-crepieux/".into()),
        full_name: Some(full_name.into()),
        observed_at: 1_791_650_000_000,
    }
}

/// An enrollment waiting on its accept, invited at MEMBER.
pub fn enrollment(id: &str) -> Enrollment {
    Enrollment {
        enrollment_id: id.into(),
        campaign_id: "c1".into(),
        identity: ProspectIdentity {
            profile_url: Some("https://www.linkedin.com/in/julien-crepieux".into()),
            ..ProspectIdentity::default()
        },
        invite: Some(InviteInfo {
            provider_id: MEMBER.into(),
            sent_at: 1_791_000_000_000,
        }),
        campaign_status: CampaignStatus::Running,
        linkedin_status: LinkedinStatus::Invited,
        step_index: 1,
        workflow_state: WorkflowState::WaitingAccept,
        accepted_at: None,
        replied_at: None,
        late_accept_observed_at: None,
        late_accept_followup_sent_at: None,
    }
}

/// The seeds' worked-example workflow: invite → wait_accept 7 d → if
/// accepted message → wait 3 d → message.
pub fn campaign() -> Campaign {
    Campaign {
        campaign_id: "c1".into(),
        status: CampaignStatus::Running,
        steps: vec![
            CampaignStep::SendInvite,
            CampaignStep::WaitAccept { days: 7 },
            CampaignStep::Condition {
                if_accepted: 3,
                otherwise: None,
            },
            CampaignStep::SendMessage,
            CampaignStep::Wait { days: 3 },
            CampaignStep::SendMessage,
        ],
    }
}

/// Routing input for an enrollment with the given id (the hostile routing
/// guest's mode).
pub fn routing_input(enrollment_id: &str) -> RoutingInput {
    RoutingInput {
        signal: signal("x"),
        enrollment: enrollment(enrollment_id),
        campaign: campaign(),
        now: 1_791_650_000_000,
    }
}

/// Pre-flight input for the late auto-fire of step 3.
pub fn preflight_input(enrollment_id: &str) -> PreflightInput {
    PreflightInput {
        source: DispatchSource::LateAutoFire,
        enrollment_id: enrollment_id.into(),
        campaign_id: "c1".into(),
        step_index: 3,
        step: CampaignStep::SendMessage,
        account_status: AccountStatus::Connected,
        campaign_status: CampaignStatus::Running,
        linkedin_status: LinkedinStatus::Connected,
        already_sent_at: None,
        replied_at: None,
        active_job_exists: false,
        now: 1_791_650_000_000,
    }
}

/// Fresh, migrated databases to run a store test on: SQLite (a file in
/// the returned temporary directory) always, and PostgreSQL (a new schema
/// `t_<uuid>` per call) when `ACCORD_TEST_POSTGRES_URL` is set. Keep the
/// `TempDir` alive as long as the `Db`.
pub async fn test_dbs() -> Vec<(&'static str, accord::store::Db, tempfile::TempDir)> {
    let mut dbs = Vec::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let db = accord::store::Db::connect(&url).await.expect("sqlite");
    db.migrate().await.expect("sqlite migrations");
    dbs.push(("sqlite", db, dir));
    if let Ok(url) = std::env::var("ACCORD_TEST_POSTGRES_URL")
        && !url.is_empty()
    {
        let schema = fresh_schema();
        let db = accord::store::Db::connect_in_schema(&url, Some(&schema))
            .await
            .expect("postgres");
        db.migrate().await.expect("postgres migrations");
        dbs.push(("postgres", db, tempfile::tempdir().expect("tempdir")));
    }
    dbs
}

/// A new PostgreSQL schema name for one test, `t_<uuidv7>`. The first call
/// of a run drops the schemas earlier runs left more than an hour ago
/// (their UUIDv7 names carry their creation time), so the test database
/// does not grow run after run; a concurrent run's schemas are younger.
pub fn fresh_schema() -> String {
    static CLEANED: std::sync::Once = std::sync::Once::new();
    CLEANED.call_once(|| {
        if let Ok(url) = std::env::var("ACCORD_TEST_POSTGRES_URL")
            && !url.is_empty()
        {
            // Its own runtime on its own thread: callers may be inside one.
            let cleanup = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(drop_stale_schemas(&url));
            });
            let _ = cleanup.join();
        }
    });
    format!("t_{}", uuid::Uuid::now_v7().simple())
}

async fn drop_stale_schemas(url: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let Ok(mut conn) = sqlx::AnyConnection::connect(url).await else {
        return;
    };
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT CAST(nspname AS TEXT) FROM pg_namespace WHERE nspname LIKE 't\\_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    let hour_ago = jiff::Timestamp::now().as_millisecond() - 3_600_000;
    for (name,) in names {
        let created = name
            .strip_prefix("t_")
            .filter(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| i64::from_str_radix(&hex[..12], 16).ok());
        if created.is_some_and(|ms| ms < hour_ago) {
            let drop = format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE");
            let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                .execute(&mut conn)
                .await;
        }
    }
}

//! Seeding shared by the benchmarks.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod heal_data;

use accord::app::App;
use accord::clock::{DAY_MS, new_id};
use accord::domain::StepDef;
use accord::store::Tx;
use accord::store::accounts::{self, Account, Workspace};
use accord::store::campaigns::{self, Campaign};
use accord::store::enrollments::{self, EnrollmentRow};
use accord::store::prospects::{self, Prospect};
use accord_policy_core::CampaignStatus;

/// A workspace, a connected account (`provider_account_id`, spacing,
/// daily caps) and a running campaign (invite → wait_accept 14 d → if
/// accepted message) whose window is open all day.
pub async fn seed_campaign(
    app: &App,
    provider_account_id: &str,
    spacing_ms: i64,
    daily_cap: i64,
) -> (Account, Campaign) {
    let now = jiff::Timestamp::now().as_millisecond();
    let mut tx = app.db.begin().await.unwrap();
    let ws = Workspace {
        id: new_id(),
        name: "bench".into(),
        created_at: now,
    };
    accounts::insert_workspace(&mut tx, &ws).await.unwrap();
    let account = Account {
        id: new_id(),
        workspace_id: ws.id.clone(),
        provider_account_id: provider_account_id.into(),
        own_member_id: None,
        display_name: "Bench".into(),
        status: "connected".into(),
        time_zone: "UTC".into(),
        warmup_started_at: now - 90 * DAY_MS,
        daily_invite_cap: daily_cap,
        weekly_invite_cap: daily_cap * 7,
        daily_message_cap: daily_cap,
        weekly_message_cap: daily_cap * 7,
        min_spacing_ms: spacing_ms,
        next_action_at: 0,
        status_changed_at: now,
        created_at: now,
    };
    accounts::insert_account(&mut tx, &account).await.unwrap();
    let campaign = Campaign {
        id: new_id(),
        workspace_id: ws.id.clone(),
        linkedin_account_id: account.id.clone(),
        name: "Bench".into(),
        status: CampaignStatus::Running,
        steps: vec![
            StepDef::SendInvite { note: None },
            StepDef::WaitAccept { days: 14 },
            StepDef::Condition {
                if_accepted: 3,
                otherwise: None,
            },
            StepDef::SendMessage { text: "hi".into() },
        ],
        window_start_minute: 0,
        window_end_minute: 1440,
        window_days: "1,2,3,4,5,6,7".into(),
        time_zone: "UTC".into(),
        created_at: now,
        updated_at: now,
    };
    campaigns::insert(&mut tx, &campaign).await.unwrap();
    tx.commit().await.unwrap();
    (account, campaign)
}

/// A prospect invited at `provider_id` and waiting on its accept; returns
/// the enrollment id.
pub async fn enroll_waiting(
    app: &App,
    tx: &mut Tx,
    account: &Account,
    campaign: &Campaign,
    name: &str,
    provider_id: &str,
) -> String {
    let now = jiff::Timestamp::now().as_millisecond();
    let p = Prospect {
        id: new_id(),
        workspace_id: account.workspace_id.clone(),
        full_name: Some(name.into()),
        profile_url: Some(format!(
            "https://www.linkedin.com/in/{}",
            name.to_lowercase().replace(' ', "-")
        )),
        member_id: None,
        sales_nav_lead_url: None,
        public_identifier: None,
        created_at: now,
    };
    prospects::insert(tx, &p).await.unwrap();
    let keys = app
        .policies
        .prospect_keys(&p.identity(Some(provider_id.to_string())));
    prospects::set_keys(tx, &keys.module_sha256, &p.id, &keys.value)
        .await
        .unwrap();
    let e = EnrollmentRow::pending(&new_id(), &campaign.id, &p.id, &account.id, now);
    enrollments::insert(tx, &e).await.unwrap();
    enrollments::record_invite(tx, &e.id, provider_id, now - DAY_MS, now)
        .await
        .unwrap();
    let waiting = accord::workflow::enter(&campaign.steps, 1, now, false);
    enrollments::set_position(tx, &e.id, &waiting, now)
        .await
        .unwrap();
    e.id
}

/// Schemas this bench run created on PostgreSQL.
static SCHEMAS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A new PostgreSQL schema name for one bench phase, remembered so that
/// [`drop_bench_schemas`] can remove it at the end of the run.
pub fn bench_schema() -> String {
    let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
    SCHEMAS.lock().unwrap().push(schema.clone());
    schema
}

/// Drops the schemas [`bench_schema`] handed out: a bench's data is of no
/// use once its numbers are printed.
pub async fn drop_bench_schemas(url: &str) {
    let schemas = std::mem::take(&mut *SCHEMAS.lock().unwrap());
    if schemas.is_empty() {
        return;
    }
    let db = accord::store::Db::connect(url).await.unwrap();
    for schema in schemas {
        let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        sqlx::query(sqlx::AssertSqlSafe(drop))
            .execute(db.pool())
            .await
            .unwrap();
    }
}

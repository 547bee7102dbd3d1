//! A small world for pipeline tests: a host on a fresh database (SQLite,
//! or PostgreSQL in its own schema), a manual clock, one workspace, one
//! connected account and one running campaign of the seeds' worked example.
#![allow(dead_code)]

use accord::app::{App, AppConfig};
use accord::clock::{DAY_MS, ManualClock, new_id};
use accord::domain::StepDef;
use accord::store::accounts::{self, Account, Workspace};
use accord::store::campaigns::{self, Campaign};
use accord::store::enrollments::{self, EnrollmentRow};
use accord::store::prospects::{self, Prospect};
use accord_policy_core::CampaignStatus;
use std::sync::Arc;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A SQLite file.
    Sqlite,
    /// PostgreSQL (skipped when ACCORD_TEST_POSTGRES_URL is unset).
    Postgres,
}

/// Generates `sqlite` and `postgres` tests for an `async fn(Kind)`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::world::Kind::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::world::postgres_url().is_none() {
                    eprintln!("skipped: ACCORD_TEST_POSTGRES_URL is unset");
                    return;
                }
                super::$name($crate::world::Kind::Postgres).await
            }
        }
    )+};
}

/// The PostgreSQL URL of the test run, if any.
pub fn postgres_url() -> Option<String> {
    std::env::var("ACCORD_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// 2026-10-10 14:30:00 UTC: the seeds' worked example's late accept.
pub const T0: i64 = 1_791_642_600_000;

/// The member id of unipile.md's new_relation example.
pub const JULIEN: &str = "ACoAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM";

/// The test world.
pub struct World {
    /// The host.
    pub app: Arc<App>,
    /// Its clock.
    pub clock: Arc<ManualClock>,
    /// The workspace.
    pub workspace: Workspace,
    /// A connected account.
    pub account: Account,
    /// A running campaign: invite → wait_accept 7 d → if accepted message →
    /// wait 3 d → message; window 09:00-17:00 UTC every day.
    pub campaign: Campaign,
    _dir: tempfile::TempDir,
}

impl World {
    /// A fresh world.
    pub async fn new(kind: Kind) -> World {
        World::configured(kind, |_| {}).await
    }

    /// A fresh world whose webhooks all wait for the inbox processor (no
    /// write-through on SQLite): for tests of the processor's batches.
    pub async fn processor_only(kind: Kind) -> World {
        World::configured(kind, |c| c.inbox_write_through = false).await
    }

    /// A fresh world with `tweak` applied to its configuration.
    pub async fn configured(kind: Kind, tweak: impl FnOnce(&mut AppConfig)) -> World {
        let dir = tempfile::tempdir().unwrap();
        let mut config = match kind {
            Kind::Sqlite => AppConfig::new(format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("w.db").display()
            )),
            Kind::Postgres => {
                let mut c = AppConfig::new(postgres_url().unwrap());
                c.database_schema = Some(crate::support::fresh_schema());
                c
            }
        };
        config.webhook_secret = Some("s3cret-header-value".into());
        tweak(&mut config);
        let clock = ManualClock::new(T0);
        let app = App::start(config, clock.clone()).await.unwrap();
        let mut c = app.db.pool().acquire().await.unwrap();
        let workspace = Workspace {
            id: new_id(),
            name: "Acme".into(),
            created_at: T0,
        };
        accounts::insert_workspace(&mut c, &workspace)
            .await
            .unwrap();
        let account = Account {
            id: new_id(),
            workspace_id: workspace.id.clone(),
            provider_account_id: "SDF4tGaPSPSzNe1D1xsOs".into(),
            own_member_id: Some("ACoAAOwnOwnOwnOwn".into()),
            display_name: "Sales – Anna".into(),
            status: "connected".into(),
            time_zone: "UTC".into(),
            warmup_started_at: T0 - 60 * DAY_MS,
            daily_invite_cap: 20,
            weekly_invite_cap: 100,
            daily_message_cap: 50,
            weekly_message_cap: 200,
            min_spacing_ms: 90_000,
            next_action_at: 0,
            status_changed_at: T0,
            created_at: T0,
        };
        accounts::insert_account(&mut c, &account).await.unwrap();
        let campaign = Campaign {
            id: new_id(),
            workspace_id: workspace.id.clone(),
            linkedin_account_id: account.id.clone(),
            name: "Q4 founders".into(),
            status: CampaignStatus::Running,
            steps: vec![
                StepDef::SendInvite { note: None },
                StepDef::WaitAccept { days: 7 },
                StepDef::Condition {
                    if_accepted: 3,
                    otherwise: None,
                },
                StepDef::SendMessage {
                    text: "Thanks for connecting!".into(),
                },
                StepDef::Wait { days: 3 },
                StepDef::SendMessage {
                    text: "Following up".into(),
                },
            ],
            window_start_minute: 9 * 60,
            window_end_minute: 17 * 60,
            window_days: "1,2,3,4,5,6,7".into(),
            time_zone: "UTC".into(),
            created_at: T0,
            updated_at: T0,
        };
        campaigns::insert(&mut c, &campaign).await.unwrap();
        drop(c);
        World {
            app,
            clock,
            workspace,
            account,
            campaign,
            _dir: dir,
        }
    }

    /// Another running campaign on the same account.
    pub async fn second_campaign(&self) -> Campaign {
        let mut c = self.app.db.pool().acquire().await.unwrap();
        let campaign = Campaign {
            id: new_id(),
            name: "Second".into(),
            ..self.campaign.clone()
        };
        campaigns::insert(&mut c, &campaign).await.unwrap();
        campaign
    }

    /// Imports a prospect with its match keys and enrolls it in
    /// `campaign` with id `enrollment_id`, pending (the engine starts its
    /// workflow once the campaign runs), through the store's statements
    /// the API's import uses; an id of the test's choosing, where the
    /// import would make one.
    pub async fn enroll(
        &self,
        campaign: &Campaign,
        enrollment_id: &str,
        prospect: Prospect,
    ) -> EnrollmentRow {
        let mut c = self.app.db.pool().acquire().await.unwrap();
        prospects::insert(&mut c, &prospect).await.unwrap();
        let keys = self.app.policies.prospect_keys(&prospect.identity(None));
        prospects::set_keys(&mut c, &keys.module_sha256, &prospect.id, &keys.value)
            .await
            .unwrap();
        let row = EnrollmentRow::pending(
            enrollment_id,
            &campaign.id,
            &prospect.id,
            &campaign.linkedin_account_id,
            accord::clock::Clock::now_ms(&*self.clock),
        );
        assert!(enrollments::insert(&mut c, &row).await.unwrap());
        enrollments::get(&mut c, enrollment_id, "")
            .await
            .unwrap()
            .unwrap()
    }

    /// A prospect of this workspace with the given identifiers.
    pub fn prospect(
        &self,
        profile_url: Option<&str>,
        member_id: Option<&str>,
        sales_nav: Option<&str>,
    ) -> Prospect {
        Prospect {
            id: new_id(),
            workspace_id: self.workspace.id.clone(),
            full_name: Some("Julien Crépieux".into()),
            profile_url: profile_url.map(str::to_string),
            member_id: member_id.map(str::to_string),
            sales_nav_lead_url: sales_nav.map(str::to_string),
            public_identifier: None,
            created_at: T0,
        }
    }

    /// Runs SQL against the world's database.
    pub async fn exec(&self, sql: &'static str, binds: &[&str]) {
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(*b);
        }
        q.execute(self.app.db.pool()).await.unwrap();
    }

    /// Reloads an enrollment.
    pub async fn enrollment(&self, id: &str) -> EnrollmentRow {
        let mut c = self.app.db.pool().acquire().await.unwrap();
        enrollments::get(&mut c, id, "").await.unwrap().unwrap()
    }

    /// A count query returning one integer.
    pub async fn count(&self, sql: &'static str, bind: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql)
            .bind(bind)
            .fetch_one(self.app.db.pool())
            .await
            .unwrap();
        n
    }

    /// The new_relation payload of unipile.md for `member`.
    pub fn new_relation(&self, member: &str, slug: &str) -> String {
        new_relation_of(&self.account.provider_account_id, member, slug)
    }

    /// Stores a webhook in the inbox and processes the inbox.
    pub async fn webhook(&self, body: &str) {
        self.app.inbox.receive(body.as_bytes()).await.unwrap();
        while self.app.inbox.process_pending(100).await.unwrap() > 0 {}
    }
}

/// The new_relation payload of unipile.md for `member`, of `account` (a
/// provider account id).
pub fn new_relation_of(account: &str, member: &str, slug: &str) -> String {
    serde_json::json!({
            "event": "new_relation", "account_id": account, "account_type": "LINKEDIN",
            "webhook_name": "", "user_full_name": "Julien Crépieux", "user_provider_id": member,
            "user_public_identifier": slug, "user_profile_url": format!("https://www.linkedin.com/in/{slug}/"),
            "user_picture_url": "https://media.licdn.com/x"
        })
        .to_string()
}

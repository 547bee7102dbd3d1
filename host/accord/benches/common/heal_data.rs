//! A large, realistic enrollment table for the heal ticks' selection: the
//! heal benchmark and the plan test (`tests/all/heal_scale.rs`) load it.
//! A million rows cannot be driven through the API in a bench's time, so
//! this writes the rows the product would have written, in bulk, with
//! the same invariants the schema checks.
//!
//! The mix, per 100 enrollments (`i % 100`): 10 not yet invited; 52
//! invited and waiting on their accept; 2 late accepts (their wait timed
//! out), one in ten of them still without a follow-up; 3 timed out with
//! no accept; 25 accepted over the last 60 days, a fifth of them replied,
//! six in seven with their follow-up sent, some of the rest behind an
//! open unrecoverable skip; 5 stopped; 3 skipped by the campaign's
//! condition. Dates spread over the last 30 to 60 days.

use accord::app::App;
use accord::clock::{DAY_MS, HOUR_MS, Millis};
use accord::store::campaigns::Campaign;

/// Enrollments written per statement.
const CHUNK: usize = 500;

/// What [`seed`] wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct Seeded {
    pub enrollments: usize,
    pub jobs: usize,
    pub skips: usize,
    /// Late accepts still owed a follow-up (the late heal's candidates).
    pub late_unsent: usize,
    /// Accepts 1–14 days old, unreplied, without a follow-up sent and not
    /// behind an open unrecoverable skip (the stuck heal's candidates).
    pub stuck: usize,
}

/// Writes `n` enrollments spread over `campaigns` (running, open all
/// day), with their prospects, send jobs and skips, as of `now`.
pub async fn seed(app: &App, campaigns: &[Campaign], n: usize, now: Millis) -> Seeded {
    let mut seeded = Seeded::default();
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK).min(n);
        let mut prospects = Vec::with_capacity(CHUNK);
        let mut enrollments = Vec::with_capacity(CHUNK);
        let mut jobs = Vec::new();
        let mut skips = Vec::new();
        for i in start..end {
            let c = &campaigns[i % campaigns.len()];
            let row = Row::of(i, now);
            let p = format!("hp-{i:08}");
            let e = format!("he-{i:08}");
            prospects.push(format!(
                "('{p}', '{ws}', 'Person {i}', 'https://www.linkedin.com/in/person-{i}', {created})",
                ws = c.workspace_id,
                created = row.created,
            ));
            enrollments.push(format!(
                "('{e}', '{c}', '{p}', '{a}', '{status}', '{state}', {step}, {next}, {invited_id}, {invited}, \
                 {accepted}, {source}, {replied}, {late}, {late_sent}, {followup_sent}, {created}, {updated})",
                c = c.id,
                a = c.linkedin_account_id,
                status = row.status,
                state = row.state,
                step = row.step,
                next = sql_opt(row.next_run_at),
                invited_id = row
                    .invited_at
                    .map_or("NULL".into(), |_| format!("'ACoAA{i:08}'")),
                invited = sql_opt(row.invited_at),
                accepted = sql_opt(row.accepted_at),
                source = row.accepted_at.map_or("NULL", |_| "'new_relation'"),
                replied = sql_opt(row.replied_at),
                late = sql_opt(row.late_observed_at),
                late_sent = sql_opt(row.late_sent_at),
                followup_sent = sql_opt(row.message_sent_at),
                created = row.created,
                updated = row.updated,
            ));
            if let Some(at) = row.invited_at {
                jobs.push(job(&format!("hj-i-{i:08}"), &e, c, 0, "send_invite", at));
            }
            if let Some(at) = row.message_sent_at {
                jobs.push(job(&format!("hj-m-{i:08}"), &e, c, 3, "send_message", at));
            }
            if row.skipped {
                skips.push(format!(
                    "('hs-{i:08}', '{e}', '{c}', 3, 'heal_stuck', 'prospect_unreachable', 0, 'bench', {at})",
                    c = c.id,
                    at = row.updated,
                ));
            }
            seeded.enrollments += 1;
            if row.late_observed_at.is_some() && row.late_sent_at.is_none() {
                seeded.late_unsent += 1;
            }
            if row
                .accepted_at
                .is_some_and(|a| a >= now - 14 * DAY_MS && a <= now - DAY_MS)
                && row.replied_at.is_none()
                && row.message_sent_at.is_none()
                && !row.skipped
            {
                seeded.stuck += 1;
            }
        }
        seeded.jobs += jobs.len();
        seeded.skips += skips.len();
        let mut tx = app.db.begin().await.unwrap();
        insert(
            &mut tx,
            "prospects (id, workspace_id, full_name, profile_url, created_at)",
            &prospects,
        )
        .await;
        insert(
            &mut tx,
            "enrollments (id, campaign_id, prospect_id, linkedin_account_id, linkedin_status, workflow_state, \
             step_index, next_run_at, invited_provider_id, invited_at, linkedin_accepted_at, accept_source, \
             linkedin_replied_at, late_accept_observed_at, late_accept_followup_sent_at, followup_sent_at, created_at, \
             updated_at)",
            &enrollments,
        )
        .await;
        insert(
            &mut tx,
            "campaign_send_jobs (id, enrollment_id, campaign_id, linkedin_account_id, step_index, action, source, \
             status, run_at, attempts, created_at, updated_at, completed_at)",
            &jobs,
        )
        .await;
        insert(
            &mut tx,
            "skips (id, enrollment_id, campaign_id, step_index, source, reason, recoverable, detail, created_at)",
            &skips,
        )
        .await;
        tx.commit().await.unwrap();
        start = end;
    }
    seeded
}

/// One enrollment's state and dates.
struct Row {
    status: &'static str,
    state: &'static str,
    step: i64,
    next_run_at: Option<Millis>,
    invited_at: Option<Millis>,
    accepted_at: Option<Millis>,
    replied_at: Option<Millis>,
    late_observed_at: Option<Millis>,
    late_sent_at: Option<Millis>,
    message_sent_at: Option<Millis>,
    skipped: bool,
    created: Millis,
    updated: Millis,
}

impl Row {
    fn of(i: usize, now: Millis) -> Row {
        let n = i as i64;
        // Spread within the day too, so no two rows share a time.
        let jitter = (n * 7_919) % DAY_MS;
        let days = |d: i64| now - d * DAY_MS - jitter;
        let created = days(30 + n % 30);
        let mut r = Row {
            status: "not_invited",
            state: "pending",
            step: 0,
            next_run_at: Some(created + HOUR_MS),
            invited_at: None,
            accepted_at: None,
            replied_at: None,
            late_observed_at: None,
            late_sent_at: None,
            message_sent_at: None,
            skipped: false,
            created,
            updated: created,
        };
        let invited = days(n % 30);
        match i % 100 {
            0..10 => {}
            10..62 => {
                r.status = "invited";
                r.state = "waiting_accept";
                r.step = 1;
                r.invited_at = Some(invited);
                r.next_run_at = Some(invited + 14 * DAY_MS);
                r.updated = invited;
            }
            62..64 => {
                let observed = days(n % 60);
                r.status = "connected";
                r.state = "timed_out";
                r.step = 1;
                r.next_run_at = None;
                r.invited_at = Some(observed - 15 * DAY_MS);
                r.accepted_at = Some(observed);
                r.late_observed_at = Some(observed);
                r.updated = observed;
                if i % 1_000 >= 100 {
                    r.late_sent_at = Some(observed + HOUR_MS);
                    r.message_sent_at = Some(observed + HOUR_MS);
                    r.updated = observed + HOUR_MS;
                }
            }
            64..67 => {
                r.status = "invited";
                r.state = "timed_out";
                r.step = 1;
                r.next_run_at = None;
                r.invited_at = Some(invited - 15 * DAY_MS);
                r.updated = invited - DAY_MS;
            }
            67..92 => {
                let accepted = days(n % 60);
                r.status = "connected";
                r.state = "completed";
                r.step = 3;
                r.next_run_at = None;
                r.invited_at = Some(accepted - 3 * DAY_MS);
                r.accepted_at = Some(accepted);
                r.updated = accepted;
                if !i.is_multiple_of(7) {
                    r.message_sent_at = Some(accepted + HOUR_MS);
                    r.updated = accepted + HOUR_MS;
                } else {
                    r.state = "active";
                    r.skipped = i.is_multiple_of(3);
                }
                if i.is_multiple_of(5) {
                    r.status = "replied";
                    r.replied_at = Some(accepted + 2 * DAY_MS);
                    r.updated = accepted + 2 * DAY_MS;
                }
            }
            92..97 => {
                r.state = "stopped";
                r.next_run_at = None;
            }
            _ => {
                r.status = "condition_skipped";
                r.state = "condition_skipped";
                r.next_run_at = None;
            }
        }
        r
    }
}

/// A succeeded send job.
fn job(id: &str, enrollment: &str, c: &Campaign, step: i64, action: &str, at: Millis) -> String {
    format!(
        "('{id}', '{enrollment}', '{campaign}', '{account}', {step}, '{action}', 'workflow', 'succeeded', \
         {at}, 1, {at}, {at}, {at})",
        campaign = c.id,
        account = c.linkedin_account_id,
    )
}

fn sql_opt(v: Option<Millis>) -> String {
    v.map_or("NULL".into(), |v| v.to_string())
}

async fn insert(tx: &mut accord::store::Tx, table: &str, rows: &[String]) {
    if rows.is_empty() {
        return;
    }
    let statement = format!("INSERT INTO {table} VALUES {}", rows.join(", "));
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .execute(&mut **tx)
        .await
        .unwrap();
}

/// Refreshes the planner's statistics of every table, as autovacuum (or
/// SQLite's `ANALYZE`) would after such growth.
pub async fn analyze(app: &App) {
    sqlx::query("ANALYZE").execute(app.db.pool()).await.unwrap();
}

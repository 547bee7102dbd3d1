//! Enrollments: a prospect in one campaign, with its stamps and position.

use super::StoreError;
use crate::clock::Millis;
use crate::domain::Named;
use crate::workflow::Landing;
use accord_policy_core::{
    CampaignStatus, Enrollment, InviteInfo, LinkedinStatus, ProspectIdentity, SignalSource,
    WorkflowState,
};
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// An enrollment row.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct EnrollmentRow {
    /// Id.
    pub id: String,
    /// Campaign.
    pub campaign_id: String,
    /// Prospect.
    pub prospect_id: String,
    /// The campaign's LinkedIn account.
    pub linkedin_account_id: String,
    /// Relationship state.
    pub linkedin_status: String,
    /// Workflow state.
    pub workflow_state: String,
    /// Current step.
    pub step_index: i64,
    /// When the current step is due.
    pub next_run_at: Option<i64>,
    /// Where the invite went.
    pub invited_provider_id: Option<String>,
    /// When it was sent.
    pub invited_at: Option<i64>,
    /// The accept stamp.
    pub linkedin_accepted_at: Option<i64>,
    /// Which path stamped it.
    pub accept_source: Option<String>,
    /// Which match strategy attributed it.
    pub accept_strategy: Option<String>,
    /// The reply stamp.
    pub linkedin_replied_at: Option<i64>,
    /// A late accept's observation.
    pub late_accept_observed_at: Option<i64>,
    /// When the late follow-up was sent.
    pub late_accept_followup_sent_at: Option<i64>,
    /// When the first follow-up message was sent (any step, any source).
    pub followup_sent_at: Option<i64>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

impl EnrollmentRow {
    /// A new enrollment of `prospect_id` in `campaign_id`: not invited,
    /// its workflow pending at step 0.
    pub fn pending(
        id: &str,
        campaign_id: &str,
        prospect_id: &str,
        linkedin_account_id: &str,
        now: Millis,
    ) -> Self {
        EnrollmentRow {
            id: id.to_string(),
            campaign_id: campaign_id.to_string(),
            prospect_id: prospect_id.to_string(),
            linkedin_account_id: linkedin_account_id.to_string(),
            linkedin_status: LinkedinStatus::NotInvited.as_str().to_string(),
            workflow_state: WorkflowState::Pending.as_str().to_string(),
            step_index: 0,
            next_run_at: None,
            invited_provider_id: None,
            invited_at: None,
            linkedin_accepted_at: None,
            accept_source: None,
            accept_strategy: None,
            linkedin_replied_at: None,
            late_accept_observed_at: None,
            late_accept_followup_sent_at: None,
            followup_sent_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The relationship state.
    pub fn linkedin_status(&self) -> Result<LinkedinStatus, StoreError> {
        LinkedinStatus::parse(&self.linkedin_status)
            .ok_or_else(|| corrupt(format!("linkedin_status {}", self.linkedin_status)))
    }

    /// The workflow state.
    pub fn workflow_state(&self) -> Result<WorkflowState, StoreError> {
        WorkflowState::parse(&self.workflow_state)
            .ok_or_else(|| corrupt(format!("workflow_state {}", self.workflow_state)))
    }

    /// The enrollment as the policies see it.
    pub fn to_policy(
        &self,
        campaign_status: CampaignStatus,
        identity: ProspectIdentity,
    ) -> Result<Enrollment, StoreError> {
        Ok(Enrollment {
            enrollment_id: self.id.clone(),
            campaign_id: self.campaign_id.clone(),
            identity,
            invite: match (&self.invited_provider_id, self.invited_at) {
                (Some(provider_id), Some(sent_at)) => Some(InviteInfo {
                    provider_id: provider_id.clone(),
                    sent_at,
                }),
                _ => None,
            },
            campaign_status,
            linkedin_status: self.linkedin_status()?,
            step_index: u32::try_from(self.step_index)
                .map_err(|_| corrupt(format!("step_index {}", self.step_index)))?,
            workflow_state: self.workflow_state()?,
            accepted_at: self.linkedin_accepted_at,
            replied_at: self.linkedin_replied_at,
            late_accept_observed_at: self.late_accept_observed_at,
            late_accept_followup_sent_at: self.late_accept_followup_sent_at,
        })
    }
}

fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt {
        table: "enrollments",
        reason,
    }
}

/// The enrollment columns as [`EnrollmentRow`] reads them (table alias `e`).
pub const COLUMNS: &str = "e.id, e.campaign_id, e.prospect_id, e.linkedin_account_id, e.linkedin_status, \
    e.workflow_state, e.step_index, e.next_run_at, e.invited_provider_id, e.invited_at, e.linkedin_accepted_at, \
    e.accept_source, e.accept_strategy, e.linkedin_replied_at, e.late_accept_observed_at, \
    e.late_accept_followup_sent_at, e.followup_sent_at, e.created_at, e.updated_at";

/// Inserts an enrollment; returns false when the prospect is already in
/// the campaign.
pub async fn insert(c: &mut AnyConnection, e: &EnrollmentRow) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "INSERT INTO enrollments (id, campaign_id, prospect_id, linkedin_account_id, linkedin_status, workflow_state, \
         step_index, next_run_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&e.id)
    .bind(&e.campaign_id)
    .bind(&e.prospect_id)
    .bind(&e.linkedin_account_id)
    .bind(&e.linkedin_status)
    .bind(&e.workflow_state)
    .bind(e.step_index)
    .bind(e.next_run_at)
    .bind(e.created_at)
    .bind(e.updated_at)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// An enrollment by id; `lock` adds FOR UPDATE on PostgreSQL.
pub async fn get(
    c: &mut AnyConnection,
    id: &str,
    lock: &str,
) -> Result<Option<EnrollmentRow>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM enrollments e WHERE e.id = $1{lock}"
    )))
    .bind(id)
    .fetch_optional(c)
    .await?)
}

/// The enrollments `ids` as they are now, by id (`lock`: see [`get`];
/// locked in that order, as every page lock is). Rows gone are missing.
pub async fn get_many(
    c: &mut AnyConnection,
    ids: &[&str],
    lock: &str,
) -> Result<Vec<EnrollmentRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let statement = format!(
        "SELECT {COLUMNS} FROM enrollments e WHERE e.id IN ({}) ORDER BY e.id{lock}",
        super::placeholders(1, ids.len())
    );
    let mut q = sqlx::query_as(super::sql(statement));
    for id in ids {
        q = q.bind(*id);
    }
    Ok(q.fetch_all(c).await?)
}

/// The enrollments of a prospect.
pub async fn of_prospect(
    c: &mut AnyConnection,
    prospect_id: &str,
) -> Result<Vec<EnrollmentRow>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM enrollments e WHERE e.prospect_id = $1 ORDER BY e.created_at"
    )))
    .bind(prospect_id)
    .fetch_all(c)
    .await?)
}

/// What an accept stamp writes besides the stamp itself.
#[derive(Debug, Clone, Copy)]
pub struct AcceptStamp<'a> {
    /// When the prospect accepted, ms.
    pub accepted_at: Millis,
    /// The signal's path.
    pub source: SignalSource,
    /// The match strategy.
    pub strategy: &'a str,
    /// The workflow's new position, when the accept moves it.
    pub landing: Option<&'a Landing>,
    /// Records the accept as late at this time (if not already).
    pub late_observed_at: Option<Millis>,
}

/// The accept stamp: sets `linkedin_accepted_at` only when it is null and
/// flips the status in the same write (the CHECK constraint ties the two),
/// with the route's position change and late observation. Returns the
/// row as stamped, or `None` when it was stamped already (or is gone).
pub async fn stamp_accept(
    c: &mut AnyConnection,
    id: &str,
    stamp: &AcceptStamp<'_>,
    now: Millis,
) -> Result<Option<EnrollmentRow>, StoreError> {
    Ok(stamp_accepts(c, &[(id, *stamp)], now).await?.pop())
}

/// Columns of one row of [`stamp_accepts`]' VALUES list.
const STAMP_COLUMNS: usize = 9;

/// Several accept stamps in one statement (`UPDATE … FROM (VALUES …)`),
/// each exactly as [`stamp_accept`]: only rows whose accept is still null
/// change. Returns the rows this call stamped, in no particular order;
/// an id missing from the answer was stamped already (or is gone). The
/// ids must be distinct.
pub async fn stamp_accepts(
    c: &mut AnyConnection,
    stamps: &[(&str, AcceptStamp<'_>)],
    now: Millis,
) -> Result<Vec<EnrollmentRow>, StoreError> {
    let returning = COLUMNS.replace("e.", "");
    let mut stamped = Vec::with_capacity(stamps.len());
    let postgres = super::arrays::is_postgres(c);
    for chunk in stamps.chunks(IN_CHUNK / STAMP_COLUMNS) {
        let source = if postgres {
            super::arrays::unnest(
                2,
                &[
                    "text", "bigint", "text", "text", "bigint", "bigint", "text", "bigint",
                    "bigint",
                ],
            )
        } else {
            let values = super::values_rows(
                chunk.len(),
                2,
                "(?, CAST(? AS BIGINT), ?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT), ?, \
                 CAST(? AS BIGINT), CAST(? AS BIGINT))",
            );
            format!("(VALUES {values}) AS v")
        };
        let statement = format!(
            "UPDATE enrollments SET linkedin_accepted_at = v.column2, accept_source = v.column3, \
             accept_strategy = v.column4, \
             linkedin_status = CASE WHEN linkedin_status = 'replied' THEN 'replied' ELSE 'connected' END, \
             step_index = CASE WHEN v.column5 = 1 THEN v.column6 ELSE step_index END, \
             workflow_state = CASE WHEN v.column5 = 1 THEN v.column7 ELSE workflow_state END, \
             next_run_at = CASE WHEN v.column5 = 1 THEN v.column8 ELSE next_run_at END, \
             late_accept_observed_at = COALESCE(late_accept_observed_at, v.column9), updated_at = $1 \
             FROM {source} \
             WHERE enrollments.id = v.column1 AND enrollments.linkedin_accepted_at IS NULL RETURNING {returning}"
        );
        let q = sqlx::query_as(super::sql_for(c, statement)).bind(now);
        let q = if postgres {
            stamp_arrays(q, chunk)
        } else {
            chunk.iter().fold(q, |q, (id, stamp)| {
                let landing = stamp.landing;
                q.bind(*id)
                    .bind(stamp.accepted_at)
                    .bind(stamp.source.as_str())
                    .bind(stamp.strategy)
                    .bind(i64::from(landing.is_some()))
                    .bind(landing.map_or(0, |l| i64::from(l.step_index)))
                    .bind(landing.map_or("", |l| l.state.as_str()))
                    .bind(landing.and_then(|l| l.next_run_at))
                    .bind(stamp.late_observed_at)
            })
        };
        let rows: Vec<EnrollmentRow> = q.fetch_all(&mut *c).await?;
        stamped.extend(rows);
    }
    Ok(stamped)
}

/// [`stamp_accepts`]' rows on PostgreSQL, a column per array.
fn stamp_arrays<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>,
    stamps: &[(&str, AcceptStamp<'_>)],
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments> {
    use super::arrays::{int_array, text_array};
    let ints =
        |f: &dyn Fn(&AcceptStamp<'_>) -> Option<i64>| int_array(stamps.iter().map(|(_, s)| f(s)));
    q.bind(text_array(stamps.iter().map(|(id, _)| Some(*id))))
        .bind(ints(&|s| Some(s.accepted_at)))
        .bind(text_array(
            stamps.iter().map(|(_, s)| Some(s.source.as_str())),
        ))
        .bind(text_array(stamps.iter().map(|(_, s)| Some(s.strategy))))
        .bind(ints(&|s| Some(i64::from(s.landing.is_some()))))
        .bind(ints(&|s| {
            Some(s.landing.map_or(0, |l| i64::from(l.step_index)))
        }))
        .bind(text_array(stamps.iter().map(|(_, s)| {
            Some(s.landing.map_or("", |l| l.state.as_str()))
        })))
        .bind(ints(&|s| s.landing.and_then(|l| l.next_run_at)))
        .bind(ints(&|s| s.late_observed_at))
}

/// The reply stamp: a reply proves the accept, so both stamps are set in
/// one write (the accept only if missing) and automation stops. Returns
/// whether this call recorded the reply.
pub async fn stamp_reply(
    c: &mut AnyConnection,
    id: &str,
    replied_at: Millis,
    strategy: &str,
    now: Millis,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE enrollments SET linkedin_accepted_at = COALESCE(linkedin_accepted_at, $1), \
         accept_source = COALESCE(accept_source, 'reply_inferred'), accept_strategy = COALESCE(accept_strategy, $2), \
         linkedin_replied_at = $1, linkedin_status = 'replied', workflow_state = 'stopped', next_run_at = NULL, \
         updated_at = $3 WHERE id = $4 AND linkedin_replied_at IS NULL",
    )
    .bind(replied_at)
    .bind(strategy)
    .bind(now)
    .bind(id)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Moves an enrollment to a new workflow position; returns the row as it
/// now is (`None` if it vanished).
pub async fn set_position(
    c: &mut AnyConnection,
    id: &str,
    landing: &Landing,
    now: Millis,
) -> Result<Option<EnrollmentRow>, StoreError> {
    let condition_skipped = landing.state == WorkflowState::ConditionSkipped;
    let returning = COLUMNS.replace("e.", "");
    Ok(sqlx::query_as(super::sql(format!(
        "UPDATE enrollments SET step_index = $1, workflow_state = $2, next_run_at = $3, updated_at = $4, \
         linkedin_status = CASE WHEN $5 = 1 AND linkedin_accepted_at IS NULL THEN 'condition_skipped' ELSE linkedin_status END \
         WHERE id = $6 RETURNING {returning}"
    )))
    .bind(i64::from(landing.step_index))
    .bind(landing.state.as_str())
    .bind(landing.next_run_at)
    .bind(now)
    .bind(i64::from(condition_skipped))
    .bind(id)
    .fetch_optional(c)
    .await?)
}

/// Live counters of a campaign, computed from the rows (no cache).
#[derive(Debug, Clone, Default, Serialize, FromRow, utoipa::ToSchema)]
pub struct CampaignStats {
    /// Enrollments.
    pub enrolled: i64,
    /// Invites sent.
    pub invited: i64,
    /// Enrollments with `linkedin_accepted_at` set.
    pub accepted: i64,
    /// Enrollments that replied.
    pub replied: i64,
    /// Accepts observed after the workflow moved on.
    pub late_accepts: i64,
    /// Late accepts whose follow-up went out.
    pub late_followups_sent: i64,
    /// Enrollments whose first follow-up message went out (any step, any
    /// source).
    pub followups_sent: i64,
    /// Routed to a condition's false branch.
    pub condition_skipped: i64,
}

/// The campaign's counters, from one index-only range of
/// `enrollments_campaign_counts`: accepted and replied are read off
/// `linkedin_status`, which the schema's CHECK constraints tie to the
/// accept and reply stamps.
pub async fn stats(c: &mut AnyConnection, campaign_id: &str) -> Result<CampaignStats, StoreError> {
    Ok(sqlx::query_as(
        "SELECT COUNT(*) AS enrolled, \
         COALESCE(SUM(CASE WHEN invited_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS invited, \
         COALESCE(SUM(CASE WHEN linkedin_status IN ('connected', 'replied') THEN 1 ELSE 0 END), 0) AS accepted, \
         COALESCE(SUM(CASE WHEN linkedin_status = 'replied' THEN 1 ELSE 0 END), 0) AS replied, \
         COALESCE(SUM(CASE WHEN late_accept_observed_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS late_accepts, \
         COALESCE(SUM(CASE WHEN late_accept_followup_sent_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS late_followups_sent, \
         COALESCE(SUM(CASE WHEN followup_sent_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS followups_sent, \
         COALESCE(SUM(CASE WHEN workflow_state = 'condition_skipped' THEN 1 ELSE 0 END), 0) AS condition_skipped \
         FROM enrollments WHERE campaign_id = $1",
    )
    .bind(campaign_id)
    .fetch_one(c)
    .await?)
}

/// The LinkedIn identifiers of one enrolled prospect.
#[derive(Debug, Clone, FromRow)]
pub struct EnrolledIdentity {
    /// The enrollment.
    pub enrollment_id: String,
    /// The prospect.
    pub prospect_id: String,
    /// Profile URL as imported.
    pub profile_url: Option<String>,
    /// Provider member id.
    pub member_id: Option<String>,
    /// Sales Navigator lead URL.
    pub sales_nav_lead_url: Option<String>,
    /// Vanity slug.
    pub public_identifier: Option<String>,
}

/// The identifiers of a campaign's enrolled prospects, a page at a time
/// (keyset on the enrollment id: pass the last id seen, `""` first).
pub async fn identities_of_campaign(
    c: &mut AnyConnection,
    campaign_id: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<EnrolledIdentity>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT e.id AS enrollment_id, p.id AS prospect_id, p.profile_url, p.member_id, p.sales_nav_lead_url, \
         p.public_identifier FROM enrollments e JOIN prospects p ON p.id = e.prospect_id \
         WHERE e.campaign_id = $1 AND e.id > $2 ORDER BY e.id LIMIT $3",
    )
    .bind(campaign_id)
    .bind(after)
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// Stamps the enrollment's first follow-up message as sent (the first send
/// wins), in the send's transaction: the stuck heal reads this stamp.
pub async fn stamp_followup(
    c: &mut AnyConnection,
    id: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE enrollments SET followup_sent_at = $1 WHERE id = $2 AND followup_sent_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(c)
    .await?;
    Ok(())
}

/// Stamps a late accept's follow-up as sent (once: the first send wins).
pub async fn stamp_late_followup(
    c: &mut AnyConnection,
    id: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE enrollments SET late_accept_followup_sent_at = $1, updated_at = $1 \
         WHERE id = $2 AND late_accept_followup_sent_at IS NULL AND late_accept_observed_at IS NOT NULL",
    )
    .bind(now)
    .bind(id)
    .execute(c)
    .await?;
    Ok(())
}

/// Records the invite sent for an enrollment: its target and time, and
/// the status `invited` unless the accept is already stamped.
pub async fn record_invite(
    c: &mut AnyConnection,
    id: &str,
    provider_id: &str,
    invited_at: Millis,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE enrollments SET invited_provider_id = $1, invited_at = $2, updated_at = $3, \
         linkedin_status = CASE WHEN linkedin_status IN ('not_invited', 'unreachable') THEN 'invited' ELSE linkedin_status END \
         WHERE id = $4",
    )
    .bind(provider_id)
    .bind(invited_at)
    .bind(now)
    .bind(id)
    .execute(c)
    .await?;
    Ok(())
}

/// A match candidate: the enrollment with its campaign's status and its
/// prospect's identifiers, in one row.
#[derive(Debug, Clone, FromRow)]
pub struct CandidateRow {
    /// The enrollment.
    #[sqlx(flatten)]
    pub enrollment: EnrollmentRow,
    /// Its campaign's status.
    pub campaign_status: String,
    /// The prospect's profile URL.
    pub p_profile_url: Option<String>,
    /// The prospect's member id.
    pub p_member_id: Option<String>,
    /// The prospect's Sales Navigator lead URL.
    pub p_sales_nav_lead_url: Option<String>,
    /// The prospect's vanity slug.
    pub p_public_identifier: Option<String>,
    /// The prospect's name.
    pub p_full_name: Option<String>,
    /// 1 when the enrollment has a pending or processing job.
    pub has_active_job: i64,
}

impl CandidateRow {
    /// The candidate as the match policy sees it.
    pub fn to_policy(&self) -> Result<Enrollment, StoreError> {
        let status = CampaignStatus::parse(&self.campaign_status)
            .ok_or_else(|| corrupt(format!("campaign status {}", self.campaign_status)))?;
        let identity = ProspectIdentity {
            profile_url: self.p_profile_url.clone(),
            member_id: self.p_member_id.clone(),
            sales_nav_lead_url: self.p_sales_nav_lead_url.clone(),
            public_identifier: self.p_public_identifier.clone(),
            invited_provider_id: self.enrollment.invited_provider_id.clone(),
        };
        self.enrollment.to_policy(status, identity)
    }
}

/// One signal's candidate look-up: the account it arrived on and the
/// match policy's keys for it.
#[derive(Debug, Clone, Copy)]
pub struct CandidateQuery<'a> {
    /// The LinkedIn account (our id) the signal names.
    pub account_id: &'a str,
    /// The keys the match policy derived from the signal.
    pub keys: &'a [String],
    /// The key space they are looked up in: the sha256 of the match
    /// module that derived them (each module keys prospects its own way).
    pub key_space: &'a str,
}

/// Most prospects one key, and most candidates one signal, bring in: a
/// key that names everyone (a hostile or careless policy) costs a bounded
/// read, not a scan of the account.
pub const MAX_CANDIDATES: usize = 200;

/// Values per `IN` list: far under both databases' bound-variable limits.
const IN_CHUNK: usize = 500;

/// The match candidates of several signals at once, with everything the
/// policy needs: one look-up of all their keys, one read of all the
/// enrollments they name (two index look-ups with literal lists, a shape
/// no planner turns into a scan once statistics exist: see
/// [`super::Db::refresh_statistics`]). The active-job flag is a scalar
/// sub-query with `LIMIT 1`, one index probe per candidate: as `EXISTS`,
/// PostgreSQL hashed every active job of the database. Returns
/// one list per query, oldest enrollment first, each at most
/// [`MAX_CANDIDATES`] long. `lock` is
/// [`super::Db::for_update_of_enrollments`] inside a write transaction:
/// the rows read are the rows stamped.
pub async fn candidate_views(
    c: &mut AnyConnection,
    queries: &[CandidateQuery<'_>],
    lock: &str,
) -> Result<Vec<Vec<CandidateRow>>, StoreError> {
    let mut out = vec![Vec::new(); queries.len()];
    let by_key = prospects_by_key(c, queries).await?;
    // Each query's prospects, in key order, deduplicated and bounded.
    let wanted: Vec<Vec<&str>> = queries
        .iter()
        .map(|q| {
            let mut seen = std::collections::HashSet::new();
            q.keys
                .iter()
                .filter_map(|k| by_key.get(&(q.key_space, k.as_str())))
                .flatten()
                .map(String::as_str)
                .filter(|p| seen.insert(*p))
                .take(MAX_CANDIDATES)
                .collect()
        })
        .collect();
    let mut prospects: Vec<&str> = wanted.iter().flatten().copied().collect();
    prospects.sort_unstable();
    prospects.dedup();
    if prospects.is_empty() {
        return Ok(out);
    }
    let mut accounts: Vec<&str> = queries.iter().map(|q| q.account_id).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let mut rows: Vec<CandidateRow> = Vec::new();
    let postgres = super::arrays::is_postgres(c);
    for chunk in prospects.chunks(IN_CHUNK) {
        let (in_accounts, next) = super::arrays::in_texts(postgres, 1, accounts.len());
        let (in_prospects, _) = super::arrays::in_texts(postgres, next, chunk.len());
        let statement = format!(
            "SELECT {COLUMNS}, c.status AS campaign_status, p.profile_url AS p_profile_url, p.member_id AS p_member_id, \
             p.sales_nav_lead_url AS p_sales_nav_lead_url, p.public_identifier AS p_public_identifier, \
             p.full_name AS p_full_name, CAST(COALESCE((SELECT 1 FROM campaign_send_jobs j \
             WHERE j.enrollment_id = e.id AND j.status IN ('pending', 'processing') LIMIT 1), 0) AS BIGINT) AS has_active_job \
             FROM enrollments e JOIN campaigns c ON c.id = e.campaign_id JOIN prospects p ON p.id = e.prospect_id \
             WHERE e.linkedin_account_id {in_accounts} AND e.prospect_id {in_prospects}{lock}"
        );
        let q = sqlx::query_as(super::sql_for(c, statement));
        let q = super::arrays::bind_texts(q, postgres, &accounts);
        let q = super::arrays::bind_texts(q, postgres, chunk);
        let found: Vec<CandidateRow> = q.fetch_all(&mut *c).await?;
        rows.extend(found);
    }
    rows.sort_by(|a, b| {
        (a.enrollment.created_at, &a.enrollment.id)
            .cmp(&(b.enrollment.created_at, &b.enrollment.id))
    });
    for ((query, wanted), list) in queries.iter().zip(&wanted).zip(&mut out) {
        list.extend(
            rows.iter()
                .filter(|r| {
                    r.enrollment.linkedin_account_id == query.account_id
                        && wanted.contains(&r.enrollment.prospect_id.as_str())
                })
                .take(MAX_CANDIDATES)
                .cloned(),
        );
    }
    Ok(out)
}

/// The prospects each (key space, key) names (at most [`MAX_CANDIDATES`]
/// per key).
async fn prospects_by_key<'q>(
    c: &mut AnyConnection,
    queries: &[CandidateQuery<'q>],
) -> Result<std::collections::HashMap<(&'q str, &'q str), Vec<String>>, StoreError> {
    let mut keys: Vec<(&'q str, &'q str)> = queries
        .iter()
        .flat_map(|q| q.keys.iter().map(|k| (q.key_space, k.as_str())))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut by_key: std::collections::HashMap<(&'q str, &'q str), Vec<String>> = Default::default();
    let postgres = super::arrays::is_postgres(c);
    // Nearly always one space (every workspace on the global module).
    for space in keys.chunk_by(|a, b| a.0 == b.0) {
        let space_name = space[0].0;
        let texts: Vec<&str> = space.iter().map(|(_, k)| *k).collect();
        for chunk in texts.chunks(IN_CHUNK) {
            let (in_keys, _) = super::arrays::in_texts(postgres, 2, chunk.len());
            let statement = format!(
                "SELECT key, prospect_id FROM (SELECT key, prospect_id, \
                 ROW_NUMBER() OVER (PARTITION BY key ORDER BY prospect_id) AS n \
                 FROM match_keys WHERE key_space = $1 AND key {in_keys}) AS k WHERE n <= {MAX_CANDIDATES}"
            );
            let q = sqlx::query_as(super::sql_for(c, statement)).bind(space_name);
            let q = super::arrays::bind_texts(q, postgres, chunk);
            let found: Vec<(String, String)> = q.fetch_all(&mut *c).await?;
            for (key, prospect) in found {
                // The key as the query holds it, so the map borrows no row.
                let Ok(at) = chunk.binary_search(&key.as_str()) else {
                    continue;
                };
                by_key
                    .entry((space_name, chunk[at]))
                    .or_default()
                    .push(prospect);
            }
        }
    }
    Ok(by_key)
}

/// Enrollments whose workflow starts (their campaign runs).
pub(crate) const WORKFLOW_STARTING: &str = "FROM enrollments e JOIN campaigns c ON c.id = e.campaign_id \
     WHERE c.status = 'running' AND e.workflow_state = 'pending'";

/// Enrollments whose wait is over at `$1` (their campaign runs).
pub(crate) const WORKFLOW_DUE: &str = "FROM enrollments e JOIN campaigns c ON c.id = e.campaign_id \
     WHERE c.status = 'running' AND e.workflow_state IN ('waiting_accept', 'active') AND e.next_run_at <= $1";

/// Enrollments the workflow clock moves now, oldest due first, at most
/// `limit`: pending ones of running campaigns, and those waiting on a step
/// that fell due. Two selections, each read through its own partial index
/// (an OR of the two is a scan of every enrollment), merged in one order.
pub async fn due_for_workflow(
    c: &mut AnyConnection,
    now: Millis,
    limit: i64,
) -> Result<Vec<EnrollmentRow>, StoreError> {
    let cols = COLUMNS;
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT * FROM (SELECT {cols} {WORKFLOW_STARTING} ORDER BY e.next_run_at, e.id LIMIT $2) pending \
         UNION ALL \
         SELECT * FROM (SELECT {cols} {WORKFLOW_DUE} ORDER BY e.next_run_at, e.id LIMIT $2) waiting \
         ORDER BY next_run_at, id LIMIT $2"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// The provider refused the enrollment's action for good: its workflow
/// stops, and a prospect never reached is marked unreachable.
pub async fn stop_refused(c: &mut AnyConnection, id: &str, now: Millis) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE enrollments SET workflow_state = 'stopped', next_run_at = NULL, updated_at = $1, \
         linkedin_status = CASE WHEN linkedin_accepted_at IS NULL THEN 'unreachable' ELSE linkedin_status END \
         WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(c)
    .await?;
    Ok(())
}

/// The campaign's accepts by path (`accept_source`; `None` if unrecorded).
pub async fn accepts_by_path(
    c: &mut AnyConnection,
    campaign_id: &str,
) -> Result<Vec<(Option<String>, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT accept_source, COUNT(*) FROM enrollments WHERE campaign_id = $1 \
         AND linkedin_accepted_at IS NOT NULL GROUP BY accept_source",
    )
    .bind(campaign_id)
    .fetch_all(c)
    .await?)
}

/// The campaign's accepted enrollments.
pub async fn accepted_ids(
    c: &mut AnyConnection,
    campaign_id: &str,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM enrollments WHERE campaign_id = $1 AND linkedin_accepted_at IS NOT NULL",
    )
    .bind(campaign_id)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// An accepted enrollment as the simulation's checker reads it.
#[derive(Debug, Clone, FromRow)]
pub struct AcceptedStamp {
    /// The account's id at the provider.
    pub provider_account_id: String,
    /// The enrollment.
    pub enrollment_id: String,
    /// The path that stamped it.
    pub accept_source: Option<String>,
    /// Set if the accept came late.
    pub late_accept_observed_at: Option<i64>,
    /// When the `accept_stamped` event was recorded.
    pub stamped_at: Option<i64>,
    /// The invite's target.
    pub invited_provider_id: Option<String>,
    /// The prospect's member id.
    pub member_id: Option<String>,
    /// The prospect's Sales Navigator lead URL.
    pub sales_nav_lead_url: Option<String>,
    /// The prospect's profile URL.
    pub profile_url: Option<String>,
}

/// Every accepted enrollment, with its prospect's identifiers and when its
/// stamp was recorded.
pub async fn accepted_stamps(c: &mut AnyConnection) -> Result<Vec<AcceptedStamp>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT a.provider_account_id, e.id AS enrollment_id, e.accept_source, e.late_accept_observed_at, \
         (SELECT MIN(v.occurred_at) FROM linkedin_events v WHERE v.enrollment_id = e.id AND v.kind = 'accept_stamped') AS stamped_at, \
         e.invited_provider_id, p.member_id, p.sales_nav_lead_url, p.profile_url \
         FROM enrollments e JOIN linkedin_accounts a ON a.id = e.linkedin_account_id \
         JOIN prospects p ON p.id = e.prospect_id WHERE e.linkedin_accepted_at IS NOT NULL",
    )
    .fetch_all(c)
    .await?)
}

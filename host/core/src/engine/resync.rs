//! Manual resync of one prospect: one provider look-up with one of the
//! prospect's accounts, and the accept stamped through the pipeline if the
//! prospect is connected.
//!
//! A click records a request (`resync_requests`, at most one open per
//! prospect, so clicks on any instance join it). A request is served when
//! one of the prospect's connected accounts may act: its slot is taken and
//! its spacing charged before the call, like every other provider call of
//! the account. A click whose account is free is served at once and
//! answered with the result; otherwise the request waits in the queue and
//! the engine serves it at the account's next free slot, ahead of jobs. A
//! click within the account's spacing after a look-up gets that look-up's
//! answer.

use super::{Engine, EngineError, slot};
use crate::clock::{Millis, new_id};
use crate::store::{accounts, enrollments, prospects, sql};
use accord_policy_core::linkedin::{ProfileRef, parse_profile_url};
use accord_policy_core::{AcceptSignal, SignalSource};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Where a resync request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResyncStatus {
    /// Waiting for one of the prospect's accounts to be allowed a call.
    Queued,
    /// The provider is being asked.
    Checking,
    /// The provider answered.
    Done,
    /// The provider could not be asked (`error` says why); a new click
    /// makes a new request.
    Failed,
}

impl ResyncStatus {
    fn parse(s: &str) -> Self {
        match s {
            "queued" => ResyncStatus::Queued,
            "checking" => ResyncStatus::Checking,
            "done" => ResyncStatus::Done,
            _ => ResyncStatus::Failed,
        }
    }
}

/// A resync request and, once the provider answered, what it found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResyncOutcome {
    /// The request (shared by every click that joined it).
    pub request_id: String,
    /// The prospect.
    pub prospect_id: String,
    /// Where the request stands.
    pub status: ResyncStatus,
    /// Whether this click joined an earlier click's request (or got the
    /// answer of a look-up made within the account's spacing).
    pub coalesced: bool,
    /// Clicks the request gathered while open.
    pub clicks: i64,
    /// When the first click came, ms.
    pub requested_at: Millis,
    /// Queued: the earliest time one of the prospect's accounts may act, ms.
    pub not_before: Option<Millis>,
    /// The account that asked (once checking).
    pub linkedin_account_id: Option<String>,
    /// Done: whether the provider says the prospect is a connection.
    pub connected: Option<bool>,
    /// Done: the enrollments this resync stamped.
    pub stamped: Vec<String>,
    /// Done or failed: when the provider was asked, ms.
    pub checked_at: Option<Millis>,
    /// Failed: why.
    pub error: Option<String>,
}

/// Why a resync could not run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResyncError {
    /// No such prospect.
    #[error("no prospect with id `{0}`")]
    NotFound(String),
    /// The prospect is in no campaign, so no account to ask with.
    #[error("the prospect is not enrolled in any campaign")]
    NotEnrolled,
    /// None of the prospect's accounts is connected.
    #[error("none of the prospect's LinkedIn accounts is connected")]
    NoConnectedAccount,
    /// The provider failed.
    #[error("the provider could not be asked: {0}")]
    Provider(String),
    /// Storage or pipeline failure.
    #[error("{0}")]
    Internal(String),
}

impl From<EngineError> for ResyncError {
    fn from(e: EngineError) -> Self {
        ResyncError::Internal(e.to_string())
    }
}

impl From<crate::store::StoreError> for ResyncError {
    fn from(e: crate::store::StoreError) -> Self {
        ResyncError::Internal(e.to_string())
    }
}

impl From<sqlx::Error> for ResyncError {
    fn from(e: sqlx::Error) -> Self {
        ResyncError::Internal(e.to_string())
    }
}

#[derive(Debug, sqlx::FromRow)]
struct RequestRow {
    id: String,
    prospect_id: String,
    status: String,
    clicks: i64,
    requested_at: i64,
    linkedin_account_id: Option<String>,
    checked_at: Option<i64>,
    connected: Option<i64>,
    stamped: Option<String>,
    error: Option<String>,
}

const COLUMNS: &str = "r.id, r.prospect_id, r.status, r.clicks, r.requested_at, r.linkedin_account_id, \
    r.checked_at, r.connected, r.stamped, r.error";

impl RequestRow {
    fn outcome(self, coalesced: bool, not_before: Option<Millis>) -> ResyncOutcome {
        let status = ResyncStatus::parse(&self.status);
        ResyncOutcome {
            request_id: self.id,
            prospect_id: self.prospect_id,
            status,
            coalesced,
            clicks: self.clicks,
            requested_at: self.requested_at,
            not_before: not_before.filter(|_| status == ResyncStatus::Queued),
            linkedin_account_id: self.linkedin_account_id,
            connected: self.connected.map(|c| c == 1),
            stamped: self
                .stamped
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default(),
            checked_at: self.checked_at,
            error: self.error,
        }
    }
}

/// Requests this process is asking the provider about; clicks that join
/// one wait for its answer (dropping the sender wakes them).
type Inflight = Arc<Mutex<HashMap<String, watch::Sender<bool>>>>;

/// Removes its request from the in-flight map when the look-up ends,
/// however it ends.
struct InflightGuard {
    map: Inflight,
    id: String,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// Coalescing resync.
pub struct Resyncer {
    engine: Engine,
    inflight: Inflight,
}

impl Resyncer {
    /// A resyncer on `engine`'s provider and pipeline.
    pub fn new(engine: Engine) -> Self {
        Resyncer {
            engine,
            inflight: Arc::default(),
        }
    }

    /// A click on Resync: joins the prospect's open request or opens one,
    /// and serves it now if one of its accounts may act. Answers the
    /// request's state: `done` with the result, or `queued` (or `checking`
    /// on another instance) to be served later. A failed look-up is
    /// [`ResyncError::Provider`].
    pub async fn resync(&self, prospect_id: &str) -> Result<ResyncOutcome, ResyncError> {
        let now = self.engine.clock.now_ms();
        let mut c = self.engine.db.pool().acquire().await?;
        if prospects::get(&mut c, prospect_id).await?.is_none() {
            return Err(ResyncError::NotFound(prospect_id.to_string()));
        }
        if enrollments::of_prospect(&mut c, prospect_id)
            .await?
            .is_empty()
        {
            return Err(ResyncError::NotEnrolled);
        }
        let Some(not_before) = not_before(&mut c, prospect_id, now).await? else {
            return Err(ResyncError::NoConnectedAccount);
        };
        drop(c);
        // A click that finds no open request may race a look-up finishing
        // on another click: it then reads that answer instead of asking again.
        let mut opened = None;
        for _ in 0..3 {
            if let Some(row) = self.recent_answer(prospect_id, now).await? {
                return Ok(row.outcome(true, None));
            }
            if let Some(found) = self.open(prospect_id, now).await? {
                opened = Some(found);
                break;
            }
        }
        let Some((id, coalesced)) = opened else {
            return Err(ResyncError::Internal(format!(
                "no resync request could be opened for prospect `{prospect_id}`"
            )));
        };
        serve(&self.engine, &id, Some(&self.inflight)).await?;
        let mut row = self.load(&id).await?;
        if row.status == "checking" {
            let waiting = self
                .inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&id)
                .map(watch::Sender::subscribe);
            if let Some(mut rx) = waiting {
                let _ = rx.wait_for(|done| *done).await;
            }
            // Read again whether or not there was a look-up to wait for:
            // one that ended between the read above and the wait has left
            // the in-flight map, and its answer is only in the row.
            row = self.load(&id).await?;
        }
        if row.status == "failed" {
            return Err(ResyncError::Provider(row.error.unwrap_or_default()));
        }
        Ok(row.outcome(coalesced, Some(not_before)))
    }

    /// The prospect's latest resync request, if any.
    pub async fn latest(&self, prospect_id: &str) -> Result<Option<ResyncOutcome>, ResyncError> {
        let now = self.engine.clock.now_ms();
        let mut c = self.engine.db.pool().acquire().await?;
        let row: Option<RequestRow> = sqlx::query_as(sql(format!(
            "SELECT {COLUMNS} FROM resync_requests r WHERE r.prospect_id = $1 \
             ORDER BY r.requested_at DESC, r.id DESC LIMIT 1"
        )))
        .bind(prospect_id)
        .fetch_optional(&mut *c)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let not_before = not_before(&mut c, prospect_id, now).await?;
        Ok(Some(row.outcome(false, not_before)))
    }

    /// A look-up of this prospect done within its account's spacing.
    async fn recent_answer(
        &self,
        prospect_id: &str,
        now: Millis,
    ) -> Result<Option<RequestRow>, ResyncError> {
        Ok(sqlx::query_as(sql(format!(
            "SELECT {COLUMNS} FROM resync_requests r JOIN linkedin_accounts a ON a.id = r.linkedin_account_id \
             WHERE r.prospect_id = $1 AND r.status = 'done' AND r.checked_at + a.min_spacing_ms > $2 \
             ORDER BY r.checked_at DESC LIMIT 1"
        )))
        .bind(prospect_id)
        .bind(now)
        .fetch_optional(self.engine.db.pool())
        .await?)
    }

    /// The prospect's open request, joined (one more click) or opened; `None`
    /// when neither (a look-up just finished: its answer is the one to read).
    async fn open(
        &self,
        prospect_id: &str,
        now: Millis,
    ) -> Result<Option<(String, bool)>, ResyncError> {
        let id = new_id();
        let mut tx = self.engine.db.begin().await?;
        // Not while a look-up done within the spacing answers for it.
        let inserted = sqlx::query(
            "INSERT INTO resync_requests (id, prospect_id, status, clicks, requested_at) \
             SELECT $1, $2, 'queued', 1, $3 WHERE NOT EXISTS (SELECT 1 FROM resync_requests r \
             JOIN linkedin_accounts a ON a.id = r.linkedin_account_id WHERE r.prospect_id = $2 \
             AND r.status = 'done' AND r.checked_at + a.min_spacing_ms > $3) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(prospect_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            tx.commit().await?;
            return Ok(Some((id, false)));
        }
        let joined: Option<(String,)> = sqlx::query_as(
            "UPDATE resync_requests SET clicks = clicks + 1 \
             WHERE prospect_id = $1 AND status IN ('queued', 'checking') RETURNING id",
        )
        .bind(prospect_id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(joined.map(|(id,)| (id, true)))
    }

    async fn load(&self, id: &str) -> Result<RequestRow, ResyncError> {
        let row: Option<RequestRow> = sqlx::query_as(sql(format!(
            "SELECT {COLUMNS} FROM resync_requests r WHERE r.id = $1"
        )))
        .bind(id)
        .fetch_optional(self.engine.db.pool())
        .await?;
        row.ok_or_else(|| ResyncError::Internal(format!("resync request `{id}` vanished")))
    }
}

/// The earliest time one of the prospect's connected accounts may act
/// (not before `now`), or `None` if none is connected.
async fn not_before(
    c: &mut sqlx::AnyConnection,
    prospect_id: &str,
    now: Millis,
) -> Result<Option<Millis>, ResyncError> {
    let (earliest,): (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(a.next_action_at) FROM linkedin_accounts a WHERE a.status = 'connected' \
         AND a.id IN (SELECT e.linkedin_account_id FROM enrollments e WHERE e.prospect_id = $1)",
    )
    .bind(prospect_id)
    .fetch_one(c)
    .await?;
    Ok(earliest.map(|t| t.max(now)))
}

impl Engine {
    /// Serves queued resync requests whose accounts may act now, oldest
    /// first (and requests whose checker died). Each takes a slot of its
    /// account, so run before the job claim they go first.
    pub(crate) async fn serve_resyncs(&self) -> Result<usize, EngineError> {
        let now = self.clock.now_ms();
        let due: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM resync_requests WHERE status = 'queued' \
             OR (status = 'checking' AND checking_until < $1) ORDER BY requested_at, id LIMIT 100",
        )
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        let mut served = 0;
        for (id,) in due {
            if serve(self, &id, None).await? {
                served += 1;
            }
        }
        Ok(served)
    }
}

/// Serves request `id` if it is queued (or its checker died) and one of
/// its prospect's connected accounts has a free slot: takes the slot
/// (charging the spacing) and the request in one transaction, asks the
/// provider, stamps through the pipeline, records the answer. Returns
/// whether it asked.
async fn serve(
    engine: &Engine,
    id: &str,
    inflight: Option<&Inflight>,
) -> Result<bool, EngineError> {
    let now = engine.clock.now_ms();
    let mut tx = engine.db.begin().await?;
    let request: Option<(String, String, Option<i64>)> = sqlx::query_as(sql(format!(
        "SELECT prospect_id, status, checking_until FROM resync_requests WHERE id = $1{}",
        engine.db.for_update()
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((prospect_id, status, checking_until)) = request else {
        return Ok(false);
    };
    let free = status == "queued"
        || (status == "checking" && checking_until.is_some_and(|until| until < now));
    if !free {
        return Ok(false);
    }
    // Unlocked: taking a slot is one conditional update of its own.
    let candidates: Vec<(String, i64)> = sqlx::query_as(
        "SELECT a.id, a.next_action_at FROM linkedin_accounts a WHERE a.status = 'connected' \
         AND a.id IN (SELECT e.linkedin_account_id FROM enrollments e WHERE e.prospect_id = $1) \
         ORDER BY a.next_action_at, a.id",
    )
    .bind(&prospect_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut chosen = None;
    for (account_id, _) in candidates {
        if slot::take(&mut tx, &account_id, now, engine.config.spacing_jitter_ms).await? {
            chosen = Some(account_id);
            break;
        }
    }
    let Some(account_id) = chosen else {
        return Ok(false); // no slot yet: it stays queued
    };
    sqlx::query(
        "UPDATE resync_requests SET status = 'checking', checker = $1, checking_until = $2, \
         linkedin_account_id = $3 WHERE id = $4",
    )
    .bind(&engine.worker_id)
    .bind(now + engine.config.lease_ms)
    .bind(&account_id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    // Registered before the commit: a click that reads `checking` finds it.
    let _guard = inflight.map(|map| {
        let (sender, _) = watch::channel(false);
        map.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), sender);
        InflightGuard {
            map: map.clone(),
            id: id.to_string(),
        }
    });
    tx.commit().await?;

    let answer = check(engine, &prospect_id, &account_id, now).await;
    let checked_at = engine.clock.now_ms();
    let mut tx = engine.db.begin().await?;
    match answer {
        Ok((connected, stamped)) => {
            sqlx::query(
                "UPDATE resync_requests SET status = 'done', connected = $1, stamped = $2, checked_at = $3, \
                 checker = NULL, checking_until = NULL WHERE id = $4 AND status = 'checking' AND checker = $5",
            )
            .bind(i64::from(connected))
            .bind(serde_json::to_string(&stamped).unwrap_or_else(|_| "[]".into()))
            .bind(checked_at)
            .bind(id)
            .bind(&engine.worker_id)
            .execute(&mut *tx)
            .await?;
        }
        Err(error) => {
            tracing::warn!(request = id, prospect = %prospect_id, account = %account_id, %error, "resync failed");
            sqlx::query(
                "UPDATE resync_requests SET status = 'failed', error = $1, checked_at = $2, \
                 checker = NULL, checking_until = NULL WHERE id = $3 AND status = 'checking' AND checker = $4",
            )
            .bind(error)
            .bind(checked_at)
            .bind(id)
            .bind(&engine.worker_id)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

/// Asks the provider about the prospect with `account_id` and stamps the
/// accept if connected: (connected, enrollments stamped), or why not.
async fn check(
    engine: &Engine,
    prospect_id: &str,
    account_id: &str,
    now: Millis,
) -> Result<(bool, Vec<String>), String> {
    let internal = |e: &dyn std::fmt::Display| format!("internal error: {e}");
    let mut c = engine.db.pool().acquire().await.map_err(|e| internal(&e))?;
    let prospect = prospects::get(&mut c, prospect_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| format!("prospect `{prospect_id}` is gone"))?;
    let account = accounts::account(&mut c, account_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| format!("account `{account_id}` is gone"))?;
    let invited = enrollments::of_prospect(&mut c, prospect_id)
        .await
        .map_err(|e| internal(&e))?
        .into_iter()
        .filter(|e| e.linkedin_account_id == account_id)
        .find_map(|e| e.invited_provider_id);
    drop(c);
    let (identifier, sales_nav) = identifier(&prospect, invited.as_deref());
    let profile = engine
        .provider
        .get_profile(&account.provider_account_id, &identifier, sales_nav)
        .await
        .map_err(|e| e.to_string())?;
    let connected = profile.is_relationship == Some(true)
        || matches!(
            profile.network_distance.as_deref(),
            Some("DISTANCE_1" | "FIRST_DEGREE")
        );
    if !connected {
        return Ok((false, Vec::new()));
    }
    let signal = AcceptSignal {
        source: SignalSource::ManualResync,
        linkedin_account_id: account.provider_account_id.clone(),
        member_id: Some(profile.provider_id.clone()),
        public_identifier: profile.public_identifier.clone(),
        profile_url: prospect.profile_url.clone(),
        full_name: prospect.full_name.clone(),
        observed_at: now,
    };
    let outcome = engine
        .pipeline
        .accept_signal(&signal)
        .await
        .map_err(|e| internal(&e))?;
    let stamped = outcome
        .matches
        .into_iter()
        .filter(|m| m.stamp == crate::pipeline::StampOutcome::Stamped)
        .map(|m| m.enrollment_id)
        .collect();
    Ok((true, stamped))
}

fn identifier(p: &prospects::Prospect, invited: Option<&str>) -> (String, bool) {
    if let Some(id) = invited.or(p.member_id.as_deref()) {
        return (id.to_string(), id.starts_with("ACw"));
    }
    if let Some(Some(ProfileRef::ProviderId(id))) =
        p.sales_nav_lead_url.as_deref().map(parse_profile_url)
    {
        return (id, true);
    }
    match p.profile_url.as_deref().and_then(parse_profile_url) {
        Some(ProfileRef::Slug(s)) => (s, false),
        Some(ProfileRef::ProviderId(id)) => (id.clone(), id.starts_with("ACw")),
        None => (p.public_identifier.clone().unwrap_or_default(), false),
    }
}

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
use crate::store::resyncs::{self, ResyncRequest};
use crate::store::{accounts, enrollments, prospects};
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

/// What a click is answered: the request as stored, whether this click
/// joined it, and (while queued) when it may be served.
fn outcome(row: ResyncRequest, coalesced: bool, not_before: Option<Millis>) -> ResyncOutcome {
    let status = ResyncStatus::parse(&row.status);
    ResyncOutcome {
        request_id: row.id,
        prospect_id: row.prospect_id,
        status,
        coalesced,
        clicks: row.clicks,
        requested_at: row.requested_at,
        not_before: not_before.filter(|_| status == ResyncStatus::Queued),
        linkedin_account_id: row.linkedin_account_id,
        connected: row.connected.map(|c| c == 1),
        stamped: row
            .stamped
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
        checked_at: row.checked_at,
        error: row.error,
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
        let mut c = self.engine.db.acquire().await?;
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
                return Ok(outcome(row, true, None));
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
        Ok(outcome(row, coalesced, Some(not_before)))
    }

    /// The prospect's latest resync request, if any.
    pub async fn latest(&self, prospect_id: &str) -> Result<Option<ResyncOutcome>, ResyncError> {
        let now = self.engine.clock.now_ms();
        let mut c = self.engine.db.acquire().await?;
        let Some(row) = resyncs::latest(&mut c, prospect_id).await? else {
            return Ok(None);
        };
        let not_before = not_before(&mut c, prospect_id, now).await?;
        Ok(Some(outcome(row, false, not_before)))
    }

    /// A look-up of this prospect done within its account's spacing.
    async fn recent_answer(
        &self,
        prospect_id: &str,
        now: Millis,
    ) -> Result<Option<ResyncRequest>, ResyncError> {
        let mut c = self.engine.db.acquire().await?;
        Ok(resyncs::recent_answer(&mut c, prospect_id, now).await?)
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
        if resyncs::open(&mut tx, &id, prospect_id, now).await? {
            tx.commit().await?;
            return Ok(Some((id, false)));
        }
        let joined = resyncs::join(&mut tx, prospect_id).await?;
        tx.commit().await?;
        Ok(joined.map(|id| (id, true)))
    }

    async fn load(&self, id: &str) -> Result<ResyncRequest, ResyncError> {
        let mut c = self.engine.db.acquire().await?;
        let row = resyncs::get(&mut c, id).await?;
        row.ok_or_else(|| ResyncError::Internal(format!("resync request `{id}` vanished")))
    }
}

/// The earliest time one of the prospect's connected accounts may act
/// (not before `now`), or `None` if none is connected.
async fn not_before(
    c: &mut crate::store::Connection,
    prospect_id: &str,
    now: Millis,
) -> Result<Option<Millis>, ResyncError> {
    let accounts = resyncs::connected_accounts(c, prospect_id).await?;
    Ok(accounts.first().map(|(_, slot)| (*slot).max(now)))
}

impl Engine {
    /// Serves queued resync requests whose accounts may act now, oldest
    /// first (and requests whose checker died). Each takes a slot of its
    /// account, so run before the job claim they go first.
    pub(crate) async fn serve_resyncs(&self) -> Result<usize, EngineError> {
        let now = self.clock.now_ms();
        let due = {
            let mut c = self.db.acquire().await?;
            resyncs::due(&mut c, now, 100).await?
        };
        let mut served = 0;
        for id in due {
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
    let request = resyncs::lock(&mut tx, id).await?;
    let Some((prospect_id, status, checking_until)) = request else {
        return Ok(false);
    };
    let free = status == "queued"
        || (status == "checking" && checking_until.is_some_and(|until| until < now));
    if !free {
        return Ok(false);
    }
    // Unlocked: taking a slot is one conditional update of its own.
    let candidates = resyncs::connected_accounts(&mut tx, &prospect_id).await?;
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
    resyncs::start_checking(
        &mut tx,
        id,
        &engine.worker_id,
        now + engine.config.lease_ms,
        &account_id,
    )
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
            resyncs::finish_done(
                &mut tx,
                id,
                &engine.worker_id,
                connected,
                &stamped,
                checked_at,
            )
            .await?;
        }
        Err(error) => {
            tracing::warn!(request = id, prospect = %prospect_id, account = %account_id, %error, "resync failed");
            resyncs::finish_failed(&mut tx, id, &engine.worker_id, &error, checked_at).await?;
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
    let mut c = engine.db.acquire().await.map_err(|e| internal(&e))?;
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

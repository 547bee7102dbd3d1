//! Manual resync of one prospect: one provider look-up, and the accept
//! stamped through the pipeline if the prospect is connected. Clicks
//! within the account's spacing window share one provider call.

use super::{Engine, EngineError};
use crate::clock::Millis;
use crate::provider::ProviderError;
use crate::store::{accounts, enrollments, prospects};
use accord_policy_core::linkedin::{ProfileRef, parse_profile_url};
use accord_policy_core::{AcceptSignal, SignalSource};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// What a resync found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResyncOutcome {
    /// The prospect.
    pub prospect_id: String,
    /// Whether the provider says the prospect is a connection.
    pub connected: bool,
    /// Enrollments this resync stamped.
    pub stamped: Vec<String>,
    /// Whether this click shared an earlier click's provider call.
    pub coalesced: bool,
    /// When the provider was asked, ms.
    pub checked_at: Millis,
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
    /// The provider failed.
    #[error("the provider could not be asked: {0}")]
    Provider(#[from] ProviderError),
    /// Storage or pipeline failure.
    #[error("{0}")]
    Internal(String),
}

impl From<EngineError> for ResyncError {
    fn from(e: EngineError) -> Self {
        ResyncError::Internal(e.to_string())
    }
}

type Shared = Arc<OnceCell<Result<ResyncOutcome, ResyncError>>>;

/// Coalescing resync.
pub struct Resyncer {
    engine: Engine,
    recent: Mutex<HashMap<String, (Millis, Millis, Shared)>>,
}

impl Resyncer {
    /// A resyncer on `engine`'s provider and pipeline.
    pub fn new(engine: Engine) -> Self {
        Resyncer {
            engine,
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// Re-checks one prospect. A click while another is in flight, or
    /// within the account's spacing after it, gets that click's answer.
    pub async fn resync(&self, prospect_id: &str) -> Result<ResyncOutcome, ResyncError> {
        let now = self.engine.clock.now_ms();
        let (cell, coalesced) = {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent.retain(|_, (at, window, _)| now < *at + *window);
            match recent.get(prospect_id) {
                Some((_, _, cell)) => (cell.clone(), true),
                None => {
                    let cell: Shared = Arc::new(OnceCell::new());
                    let window = self.spacing_hint();
                    recent.insert(prospect_id.to_string(), (now, window, cell.clone()));
                    (cell, false)
                }
            }
        };
        let result = cell
            .get_or_init(|| self.check(prospect_id, now))
            .await
            .clone();
        result.map(|mut outcome| {
            outcome.coalesced = coalesced;
            outcome
        })
    }

    fn spacing_hint(&self) -> Millis {
        // Refined per account in `check`; this bounds the map's memory.
        self.engine.config.spacing_jitter_ms.max(60_000) * 3
    }

    async fn check(&self, prospect_id: &str, now: Millis) -> Result<ResyncOutcome, ResyncError> {
        let mut c = self
            .engine
            .db
            .pool()
            .acquire()
            .await
            .map_err(|e| ResyncError::Internal(e.to_string()))?;
        let prospect = prospects::get(&mut c, prospect_id)
            .await
            .map_err(|e| ResyncError::Internal(e.to_string()))?;
        let prospect = prospect.ok_or_else(|| ResyncError::NotFound(prospect_id.to_string()))?;
        let enrolled = enrollments::of_prospect(&mut c, prospect_id)
            .await
            .map_err(|e| ResyncError::Internal(e.to_string()))?;
        let first = enrolled.first().ok_or(ResyncError::NotEnrolled)?;
        let account = accounts::account(&mut c, &first.linkedin_account_id)
            .await
            .map_err(|e| ResyncError::Internal(e.to_string()))?
            .ok_or(ResyncError::NotEnrolled)?;
        drop(c);
        let (identifier, sales_nav) = identifier(&prospect, first.invited_provider_id.as_deref());
        let profile = self
            .engine
            .provider
            .get_profile(&account.provider_account_id, &identifier, sales_nav)
            .await?;
        let connected = profile.is_relationship == Some(true)
            || matches!(
                profile.network_distance.as_deref(),
                Some("DISTANCE_1" | "FIRST_DEGREE")
            );
        let mut stamped = Vec::new();
        if connected {
            let signal = AcceptSignal {
                source: SignalSource::ManualResync,
                linkedin_account_id: account.provider_account_id.clone(),
                member_id: Some(profile.provider_id.clone()),
                public_identifier: profile.public_identifier.clone(),
                profile_url: prospect.profile_url.clone(),
                full_name: prospect.full_name.clone(),
                observed_at: now,
            };
            let outcome = self
                .engine
                .pipeline
                .accept_signal(&signal)
                .await
                .map_err(|e| ResyncError::Internal(e.to_string()))?;
            stamped = outcome
                .matches
                .into_iter()
                .filter(|m| m.stamp == crate::pipeline::StampOutcome::Stamped)
                .map(|m| m.enrollment_id)
                .collect();
        }
        // Keep the answer for the account's spacing window.
        let window = account.min_spacing_ms.max(1);
        if let Some(entry) = self
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(prospect_id)
        {
            entry.1 = window;
        }
        Ok(ResyncOutcome {
            prospect_id: prospect_id.to_string(),
            connected,
            stamped,
            coalesced: false,
            checked_at: now,
        })
    }
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

//! Campaigns.

use super::StoreError;
use crate::clock::Millis;
use crate::domain::{Named, StepDef};
use crate::window::SendingWindow;
use accord_policy_core::CampaignStatus;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// A campaign row.
#[derive(Debug, Clone, FromRow)]
pub struct CampaignRow {
    /// Id.
    pub id: String,
    /// Workspace.
    pub workspace_id: String,
    /// The LinkedIn account it sends from.
    pub linkedin_account_id: String,
    /// Name.
    pub name: String,
    /// Status name.
    pub status: String,
    /// Steps as JSON.
    pub steps: String,
    /// Window start, minutes after local midnight.
    pub window_start_minute: i64,
    /// Window end, minutes after local midnight.
    pub window_end_minute: i64,
    /// ISO weekdays, comma-separated.
    pub window_days: String,
    /// IANA time zone of the window.
    pub time_zone: String,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// A campaign, decoded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Campaign {
    /// Id.
    pub id: String,
    /// Workspace.
    pub workspace_id: String,
    /// The LinkedIn account it sends from.
    pub linkedin_account_id: String,
    /// Name.
    pub name: String,
    /// Status.
    #[schema(value_type = String)]
    pub status: CampaignStatus,
    /// The workflow.
    pub steps: Vec<StepDef>,
    /// Window start, minutes after local midnight.
    pub window_start_minute: i64,
    /// Window end, minutes after local midnight.
    pub window_end_minute: i64,
    /// ISO weekdays (1 = Monday), comma-separated.
    pub window_days: String,
    /// IANA time zone of the window.
    pub time_zone: String,
    /// Creation time, ms.
    pub created_at: i64,
    /// Last change, ms.
    pub updated_at: i64,
}

impl Campaign {
    /// The sending window.
    pub fn window(&self) -> Result<SendingWindow, StoreError> {
        SendingWindow::new(
            &self.time_zone,
            self.window_start_minute,
            self.window_end_minute,
            &self.window_days,
        )
        .map_err(|e| StoreError::Corrupt {
            table: "campaigns",
            reason: e.to_string(),
        })
    }
}

impl TryFrom<CampaignRow> for Campaign {
    type Error = StoreError;

    fn try_from(r: CampaignRow) -> Result<Self, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            table: "campaigns",
            reason,
        };
        Ok(Campaign {
            status: CampaignStatus::parse(&r.status)
                .ok_or_else(|| corrupt(format!("status {}", r.status)))?,
            steps: serde_json::from_str(&r.steps).map_err(|e| corrupt(format!("steps: {e}")))?,
            id: r.id,
            workspace_id: r.workspace_id,
            linkedin_account_id: r.linkedin_account_id,
            name: r.name,
            window_start_minute: r.window_start_minute,
            window_end_minute: r.window_end_minute,
            window_days: r.window_days,
            time_zone: r.time_zone,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const COLUMNS: &str = "id, workspace_id, linkedin_account_id, name, status, steps, window_start_minute, \
    window_end_minute, window_days, time_zone, created_at, updated_at";

/// Inserts a campaign.
pub async fn insert(c: &mut AnyConnection, k: &Campaign) -> Result<(), StoreError> {
    let steps = serde_json::to_string(&k.steps).map_err(|e| StoreError::Corrupt {
        table: "campaigns",
        reason: e.to_string(),
    })?;
    sqlx::query(super::sql(format!("INSERT INTO campaigns ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")))
        .bind(&k.id)
        .bind(&k.workspace_id)
        .bind(&k.linkedin_account_id)
        .bind(&k.name)
        .bind(k.status.as_str())
        .bind(steps)
        .bind(k.window_start_minute)
        .bind(k.window_end_minute)
        .bind(&k.window_days)
        .bind(&k.time_zone)
        .bind(k.created_at)
        .bind(k.updated_at)
        .execute(c)
        .await?;
    Ok(())
}

/// A campaign by id.
pub async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<Campaign>, StoreError> {
    let row: Option<CampaignRow> = sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM campaigns WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(c)
    .await?;
    row.map(Campaign::try_from).transpose()
}

/// Several campaigns by id, in one round trip (the ones that exist, in no
/// particular order).
pub async fn get_many(c: &mut AnyConnection, ids: &[&str]) -> Result<Vec<Campaign>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let statement = format!(
        "SELECT {COLUMNS} FROM campaigns WHERE id IN ({})",
        super::placeholders(1, ids.len())
    );
    let mut q = sqlx::query_as(super::sql_for(c, statement));
    for id in ids {
        q = q.bind(*id);
    }
    let rows: Vec<CampaignRow> = q.fetch_all(c).await?;
    rows.into_iter().map(Campaign::try_from).collect()
}

/// The campaigns of a workspace.
pub async fn of_workspace(
    c: &mut AnyConnection,
    workspace_id: &str,
) -> Result<Vec<Campaign>, StoreError> {
    let rows: Vec<CampaignRow> = sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM campaigns WHERE workspace_id = $1 ORDER BY created_at"
    )))
    .bind(workspace_id)
    .fetch_all(c)
    .await?;
    rows.into_iter().map(Campaign::try_from).collect()
}

/// Moves a campaign from one of `from` to `to`; returns whether it moved.
pub async fn transition(
    c: &mut AnyConnection,
    id: &str,
    from: &[CampaignStatus],
    to: CampaignStatus,
    now: Millis,
) -> Result<bool, StoreError> {
    let list = super::placeholders(4, from.len());
    let mut q = sqlx::query(super::sql(format!(
        "UPDATE campaigns SET status = $1, updated_at = $2 WHERE id = $3 AND status IN ({list})"
    )))
    .bind(to.as_str())
    .bind(now)
    .bind(id);
    for s in from {
        q = q.bind(s.as_str());
    }
    Ok(q.execute(c).await?.rows_affected() == 1)
}

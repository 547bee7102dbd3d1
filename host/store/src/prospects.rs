//! Prospects and their match keys.

use super::StoreError;
use accord_policy_core::ProspectIdentity;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// A person to reach.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Prospect {
    /// Id.
    pub id: String,
    /// Workspace.
    pub workspace_id: String,
    /// Display name.
    pub full_name: Option<String>,
    /// Profile URL as imported.
    pub profile_url: Option<String>,
    /// Provider member id (`ACo…`).
    pub member_id: Option<String>,
    /// Sales Navigator lead URL.
    pub sales_nav_lead_url: Option<String>,
    /// Vanity slug.
    pub public_identifier: Option<String>,
    /// Creation time, ms.
    pub created_at: i64,
}

impl Prospect {
    /// The identity the match policy sees, with one invite target (see
    /// `accord_core::pipeline::keys` for a prospect with several).
    pub fn identity(&self, invited_provider_id: Option<String>) -> ProspectIdentity {
        ProspectIdentity {
            profile_url: self.profile_url.clone(),
            member_id: self.member_id.clone(),
            sales_nav_lead_url: self.sales_nav_lead_url.clone(),
            public_identifier: self.public_identifier.clone(),
            invited_provider_id,
        }
    }
}

const COLUMNS: &str = "id, workspace_id, full_name, profile_url, member_id, sales_nav_lead_url, public_identifier, created_at";

/// Inserts a prospect.
pub async fn insert(c: &mut AnyConnection, p: &Prospect) -> Result<(), StoreError> {
    sqlx::query(super::sql(format!(
        "INSERT INTO prospects ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )))
    .bind(&p.id)
    .bind(&p.workspace_id)
    .bind(&p.full_name)
    .bind(&p.profile_url)
    .bind(&p.member_id)
    .bind(&p.sales_nav_lead_url)
    .bind(&p.public_identifier)
    .bind(p.created_at)
    .execute(c)
    .await?;
    Ok(())
}

/// A prospect by id.
pub async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<Prospect>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM prospects WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(c)
    .await?)
}

/// Replaces a prospect's match keys.
pub async fn set_keys(
    c: &mut AnyConnection,
    prospect_id: &str,
    keys: &[String],
    policy_sha256: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM match_keys WHERE prospect_id = $1")
        .bind(prospect_id)
        .execute(&mut *c)
        .await?;
    for key in keys {
        sqlx::query(
            "INSERT INTO match_keys (prospect_id, key, policy_sha256) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(prospect_id)
        .bind(key)
        .bind(policy_sha256)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// The provider ids invites of a prospect went to (its invite-bridge
/// keys), in order, each once.
pub async fn invite_targets(
    c: &mut AnyConnection,
    prospect_id: &str,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT invited_provider_id FROM enrollments \
         WHERE prospect_id = $1 AND invited_provider_id IS NOT NULL ORDER BY invited_provider_id",
    )
    .bind(prospect_id)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// A page of the prospects one match module keys (those of `workspace`,
/// or with `None` those of every workspace without a match module of its
/// own), in id order after `after`, for re-keying: each with the provider
/// ids invites of it went to (its invite-bridge keys), as
/// [`invite_targets`] gives them.
pub async fn page_for_keys(
    c: &mut AnyConnection,
    workspace: Option<&str>,
    after: &str,
    limit: i64,
) -> Result<Vec<(Prospect, Vec<String>)>, StoreError> {
    // Global: the prospects of workspaces without a match module of their
    // own, whose keys the global module decides.
    let page: Vec<Prospect> = sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM prospects WHERE id > $1 AND (workspace_id = $3 OR ($3 IS NULL \
         AND workspace_id NOT IN (SELECT scope FROM policy_bindings WHERE slot = 'match' AND mode = 'active'))) \
         ORDER BY id LIMIT $2"
    )))
    .bind(after)
    .bind(limit)
    .bind(workspace)
    .fetch_all(&mut *c)
    .await?;
    let Some(last) = page.last() else {
        return Ok(Vec::new());
    };
    let invited: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT prospect_id, invited_provider_id FROM enrollments \
         WHERE prospect_id > $1 AND prospect_id <= $2 AND invited_provider_id IS NOT NULL \
         ORDER BY prospect_id, invited_provider_id",
    )
    .bind(after)
    .bind(&last.id)
    .fetch_all(&mut *c)
    .await?;
    let mut targets: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    for (prospect_id, target) in invited {
        targets.entry(prospect_id).or_default().push(target);
    }
    Ok(page
        .into_iter()
        .map(|p| {
            let invited = targets.remove(&p.id).unwrap_or_default();
            (p, invited)
        })
        .collect())
}

/// Adds keys to a prospect's, stamped with `policy_sha256` (a key it
/// already has takes the new stamp): while a match policy is swapped,
/// the old and new policies' keys live side by side.
pub async fn add_keys(
    c: &mut AnyConnection,
    prospect_id: &str,
    keys: &[String],
    policy_sha256: &str,
) -> Result<(), StoreError> {
    for key in keys {
        sqlx::query(
            "INSERT INTO match_keys (prospect_id, key, policy_sha256) VALUES ($1, $2, $3) \
             ON CONFLICT (prospect_id, key) DO UPDATE SET policy_sha256 = excluded.policy_sha256",
        )
        .bind(prospect_id)
        .bind(key)
        .bind(policy_sha256)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// Of the prospects with ids in (`after`, `last`], those with at least one
/// key from the policy `policy_sha256`.
pub async fn keyed_by(
    c: &mut AnyConnection,
    after: &str,
    last: &str,
    policy_sha256: &str,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT prospect_id FROM match_keys \
         WHERE prospect_id > $1 AND prospect_id <= $2 AND policy_sha256 = $3",
    )
    .bind(after)
    .bind(last)
    .bind(policy_sha256)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Deletes, for the prospects with ids in (`after`, `last`] that have keys
/// from the policy `policy_sha256`, every key from another policy.
pub async fn drop_superseded_keys(
    c: &mut AnyConnection,
    after: &str,
    last: &str,
    policy_sha256: &str,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM match_keys WHERE prospect_id > $1 AND prospect_id <= $2 \
         AND policy_sha256 <> $3 AND prospect_id IN (SELECT prospect_id FROM match_keys \
         WHERE prospect_id > $1 AND prospect_id <= $2 AND policy_sha256 = $3)",
    )
    .bind(after)
    .bind(last)
    .bind(policy_sha256)
    .execute(c)
    .await?;
    Ok(done.rows_affected())
}

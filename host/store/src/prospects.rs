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

/// Replaces a prospect's match keys in one key space (a match module's
/// sha256); its keys in other spaces stay.
pub async fn set_keys(
    c: &mut AnyConnection,
    key_space: &str,
    prospect_id: &str,
    keys: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM match_keys WHERE key_space = $1 AND prospect_id = $2")
        .bind(key_space)
        .bind(prospect_id)
        .execute(&mut *c)
        .await?;
    let rows: Vec<(&str, &str)> = keys.iter().map(|k| (prospect_id, k.as_str())).collect();
    insert_keys(c, key_space, &rows).await
}

/// Keys per multi-row insert (three parameters each on SQLite).
const KEYS_PER_INSERT: usize = 300;

/// Inserts (prospect, key) rows into a key space; a row already there
/// stays.
pub async fn insert_keys(
    c: &mut AnyConnection,
    key_space: &str,
    rows: &[(&str, &str)],
) -> Result<(), StoreError> {
    let postgres = super::arrays::is_postgres(c);
    for chunk in rows.chunks(KEYS_PER_INSERT) {
        let shape = super::arrays::shape(postgres, chunk.len());
        let values = super::arrays::insert_rows(shape, 2, "($1, ?, ?)", &["text", "text"]);
        let values = match shape {
            // The space is one parameter, not a column of the arrays.
            super::arrays::Shape::Arrays => {
                "SELECT CAST($1 AS TEXT), column1, column2 FROM ".to_string()
                    + &super::arrays::unnest(2, &["text", "text"])
            }
            super::arrays::Shape::Values(_) => values,
        };
        let statement = format!(
            "INSERT INTO match_keys (key_space, prospect_id, key) {values} ON CONFLICT DO NOTHING"
        );
        let q = sqlx::query(super::sql_for(c, statement)).bind(key_space);
        let q = if postgres {
            q.bind(super::arrays::text_array(chunk.iter().map(|r| Some(r.0))))
                .bind(super::arrays::text_array(chunk.iter().map(|r| Some(r.1))))
        } else {
            chunk.iter().fold(q, |q, (p, k)| q.bind(*p).bind(*k))
        };
        q.execute(&mut *c).await?;
    }
    Ok(())
}

/// Deletes the keys of these prospects from a key space.
pub async fn delete_keys(
    c: &mut AnyConnection,
    key_space: &str,
    prospect_ids: &[&str],
) -> Result<(), StoreError> {
    let postgres = super::arrays::is_postgres(c);
    for chunk in prospect_ids.chunks(KEYS_PER_INSERT) {
        let (in_ids, _) = super::arrays::in_texts(postgres, 2, chunk.len());
        let statement =
            format!("DELETE FROM match_keys WHERE key_space = $1 AND prospect_id {in_ids}");
        let q = sqlx::query(super::sql_for(c, statement)).bind(key_space);
        let q = if postgres {
            q.bind(super::arrays::text_array(chunk.iter().copied().map(Some)))
        } else {
            chunk.iter().fold(q, |q, p| q.bind(*p))
        };
        q.execute(&mut *c).await?;
    }
    Ok(())
}

/// Copies a prospect's keys from one key space into another (a prospect
/// the new module fails on keeps the keys the old module gave it: stale
/// keys can still find it, none never would).
pub async fn copy_keys(
    c: &mut AnyConnection,
    from_space: &str,
    to_space: &str,
    prospect_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO match_keys (key_space, prospect_id, key) \
         SELECT $1, prospect_id, key FROM match_keys WHERE key_space = $2 AND prospect_id = $3 \
         ON CONFLICT DO NOTHING",
    )
    .bind(to_space)
    .bind(from_space)
    .bind(prospect_id)
    .execute(c)
    .await?;
    Ok(())
}

/// The key spaces that hold keys.
pub async fn key_spaces(c: &mut AnyConnection) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT key_space FROM match_keys ORDER BY key_space")
            .fetch_all(c)
            .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Deletes a key space's keys of the next `limit` prospects after
/// `after` (of `workspace`, or of every workspace), one probe of the
/// primary key each; returns the last prospect id of the page (`None`:
/// no prospect left).
pub async fn drop_space_page(
    c: &mut AnyConnection,
    key_space: &str,
    workspace: Option<&str>,
    after: &str,
    limit: i64,
) -> Result<Option<String>, StoreError> {
    let last: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM (SELECT id FROM prospects WHERE id > $1 AND ($3 IS NULL OR workspace_id = $3) \
         ORDER BY id LIMIT $2) AS page ORDER BY id DESC LIMIT 1",
    )
    .bind(after)
    .bind(limit)
    .bind(workspace)
    .fetch_optional(&mut *c)
    .await?;
    let Some((last,)) = last else {
        return Ok(None);
    };
    sqlx::query(
        "DELETE FROM match_keys WHERE key_space = $1 AND prospect_id IN (SELECT id FROM prospects \
         WHERE id > $2 AND id <= $3 AND ($4 IS NULL OR workspace_id = $4))",
    )
    .bind(key_space)
    .bind(after)
    .bind(&last)
    .bind(workspace)
    .execute(c)
    .await?;
    Ok(Some(last))
}

/// How many prospects one match module keys (see [`page_for_keys`]).
pub async fn count_for_keys(
    c: &mut AnyConnection,
    workspace: Option<&str>,
) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as(super::sql(format!(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM prospects WHERE {IN_SCOPE}"
    )))
    .bind(workspace)
    .fetch_one(c)
    .await?;
    Ok(n)
}

/// Whether some prospect one match module keys (see [`page_for_keys`])
/// has no key in `key_space`.
pub async fn space_has_gap(
    c: &mut AnyConnection,
    workspace: Option<&str>,
    key_space: &str,
) -> Result<bool, StoreError> {
    let row: Option<(String,)> = sqlx::query_as(super::sql(format!(
        "SELECT id FROM prospects WHERE {IN_SCOPE} AND NOT EXISTS \
         (SELECT 1 FROM match_keys k WHERE k.key_space = $2 AND k.prospect_id = prospects.id) LIMIT 1"
    )))
    .bind(workspace)
    .bind(key_space)
    .fetch_optional(c)
    .await?;
    Ok(row.is_some())
}

/// The prospects of a scope: `$1` a workspace's, or with `NULL` those of
/// every workspace without a match module of its own (whose keys the
/// global module decides).
const IN_SCOPE: &str = "(workspace_id = $1 OR ($1 IS NULL AND workspace_id NOT IN \
     (SELECT scope FROM policy_bindings WHERE slot = 'match' AND mode = 'active')))";

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
/// own), in id order after `after`, for re-keying; with `missing_from`,
/// only those without a key in that key space. Each comes with the
/// provider ids invites of it went to (its invite-bridge keys), as
/// [`invite_targets`] gives them.
pub async fn page_for_keys(
    c: &mut AnyConnection,
    workspace: Option<&str>,
    after: &str,
    limit: i64,
    missing_from: Option<&str>,
) -> Result<Vec<(Prospect, Vec<String>)>, StoreError> {
    // A probe per prospect of the key's primary key, written as a scalar
    // subquery so no plan can replace it: PostgreSQL turned `NOT EXISTS`
    // into an anti join over the whole space when its statistics still
    // thought the new space empty (measured: 147 s for one page of 500).
    let missing = if missing_from.is_some() {
        " AND (SELECT 1 FROM match_keys k WHERE k.prospect_id = prospects.id AND k.key_space = $4 LIMIT 1) IS NULL"
    } else {
        " AND CAST($4 AS TEXT) IS NULL"
    };
    let page: Vec<Prospect> = sqlx::query_as(super::sql(format!(
        "SELECT {COLUMNS} FROM prospects WHERE {IN_SCOPE} AND id > $2{missing} ORDER BY id LIMIT $3"
    )))
    .bind(workspace)
    .bind(after)
    .bind(limit)
    .bind(missing_from)
    .fetch_all(&mut *c)
    .await?;
    let (Some(first), Some(last)) = (page.first(), page.last()) else {
        return Ok(Vec::new());
    };
    let invited: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT prospect_id, invited_provider_id FROM enrollments \
         WHERE prospect_id >= $1 AND prospect_id <= $2 AND invited_provider_id IS NOT NULL \
         ORDER BY prospect_id, invited_provider_id",
    )
    .bind(&first.id)
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

//! Workspace tokens: issue (the secret is returned once and only its
//! sha256 is stored), list, revoke, and the look-up that tells which
//! workspace a presented token opens (and its name, who acts with it).

use super::{LifecycleError, required_text};
use crate::app::App;
use crate::clock::{new_id, random_u64};
use crate::store::events::{self, NewEvent};
use crate::store::tokens::{self, WorkspaceToken};
use crate::store::{StoreError, accounts};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// How every workspace token begins, so people (and secret scanners)
/// recognise one, and the API looks up only bearers that may be one.
pub const TOKEN_PREFIX: &str = "acc_ws_";

/// A token just issued, with its secret: the only time it is shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// Id (to list or revoke it).
    pub id: String,
    /// The workspace it opens.
    pub workspace_id: String,
    /// Its label.
    pub name: String,
    /// The secret, `acc_ws_` and 64 hex digits: send it as
    /// `Authorization: Bearer <token>`. Not stored, not shown again.
    pub token: String,
    /// Creation time, ms.
    pub created_at: i64,
}

/// The hex sha256 of a secret: what is stored and looked up.
pub fn token_sha256(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A fresh secret from the process's randomness (256 bits drawn, at
/// least 240 of them random), so a seeded run replays it too.
fn new_secret() -> String {
    let mut secret = String::from(TOKEN_PREFIX);
    for _ in 0..4 {
        secret.push_str(&format!("{:016x}", random_u64()));
    }
    secret
}

/// The workspace `id`, or `not_found` (`workspace`).
async fn require_workspace(
    c: &mut crate::store::Connection,
    id: &str,
) -> Result<(), LifecycleError> {
    match accounts::workspace(c, id).await? {
        Some(_) => Ok(()),
        None => Err(LifecycleError::not_found("workspace", id)),
    }
}

/// Issues a token for a workspace (`invalid_name`: 1 to 200 characters;
/// `not_found` for the workspace), with a `workspace_token_created`
/// audit event in the same transaction. `source` names the edge.
pub async fn issue(
    app: &App,
    workspace_id: &str,
    name: &str,
    source: &'static str,
) -> Result<IssuedToken, LifecycleError> {
    let name = required_text("invalid_name", "name", name, 200)?;
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    require_workspace(&mut tx, workspace_id).await?;
    let secret = new_secret();
    let token = WorkspaceToken {
        id: new_id(),
        workspace_id: workspace_id.to_string(),
        name,
        created_at: now,
        revoked_at: None,
    };
    tokens::insert(&mut tx, &token, &token_sha256(&secret)).await?;
    let event = NewEvent {
        workspace_id,
        kind: "workspace_token_created",
        source: Some(source),
        detail: Some(serde_json::json!({"token_id": token.id, "name": token.name})),
        ..NewEvent::default()
    };
    events::record(&mut tx, event, now).await?;
    tx.commit().await?;
    Ok(IssuedToken {
        id: token.id,
        workspace_id: token.workspace_id,
        name: token.name,
        token: secret,
        created_at: token.created_at,
    })
}

/// A workspace's tokens, revoked ones included, oldest first (`not_found`
/// for the workspace).
pub async fn list(app: &App, workspace_id: &str) -> Result<Vec<WorkspaceToken>, LifecycleError> {
    let mut c = app.db.acquire().await?;
    require_workspace(&mut c, workspace_id).await?;
    Ok(tokens::of_workspace(&mut c, workspace_id).await?)
}

/// Revokes a token of a workspace; revoking it again changes nothing
/// (`not_found` for the workspace, or `workspace token` for a token that
/// is not one of the workspace's). The first revocation records a
/// `workspace_token_revoked` audit event in its transaction.
pub async fn revoke(
    app: &App,
    workspace_id: &str,
    token_id: &str,
    source: &'static str,
) -> Result<(), LifecycleError> {
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    require_workspace(&mut tx, workspace_id).await?;
    let Some(token) = tokens::get(&mut tx, workspace_id, token_id).await? else {
        return Err(LifecycleError::not_found("workspace token", token_id));
    };
    if tokens::revoke(&mut tx, workspace_id, token_id, now).await? {
        let event = NewEvent {
            workspace_id,
            kind: "workspace_token_revoked",
            source: Some(source),
            detail: Some(serde_json::json!({"token_id": token.id, "name": token.name})),
            ..NewEvent::default()
        };
        events::record(&mut tx, event, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The active token presented (its workspace is the one it opens, its
/// name who acts), or `None` (not a workspace token, unknown, or
/// revoked). The secret is looked up by its sha256, so the look-up's
/// timing tells nothing about a stored secret.
pub async fn authenticate(
    app: &App,
    presented: &str,
) -> Result<Option<WorkspaceToken>, StoreError> {
    if !presented.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let mut c = app.db.acquire().await?;
    tokens::active_by_sha256(&mut c, &token_sha256(presented)).await
}

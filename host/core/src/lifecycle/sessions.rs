//! Dashboard sessions: sign in with one of the API's tokens, be known by
//! a cookie until sign-out or expiry, and lose the session as soon as the
//! token that opened it no longer opens anything (a rotated admin or API
//! token, a revoked workspace token).

use super::LifecycleError;
use crate::app::App;
use crate::clock::random_u64;
use crate::store::StoreError;
use crate::store::sessions::{self, SessionRow};
use crate::store::tokens;
use sha2::{Digest, Sha256};

/// How long a session lasts after sign-in.
pub const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;

/// Expired sessions deleted at each sign-in (the rest at the next ones).
const EXPIRED_PER_SIGN_IN: i64 = 100;

/// Who is looking at the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// No token is configured (local use): everything is open to anyone
    /// who reaches the address, and the dashboard says so.
    Open,
    /// Signed in with the admin token: every workspace, and the policies.
    Admin,
    /// Signed in with the API token: every workspace, not the policies.
    Api,
    /// Signed in with a workspace token: that workspace only.
    Workspace {
        /// The workspace it opens.
        workspace_id: String,
        /// The token's name (who acts).
        token_name: String,
    },
}

impl Viewer {
    /// Whether the viewer may see (and act on) `workspace_id`'s objects.
    pub fn may_see(&self, workspace_id: &str) -> bool {
        match self {
            Viewer::Open | Viewer::Admin | Viewer::Api => true,
            Viewer::Workspace {
                workspace_id: own, ..
            } => own == workspace_id,
        }
    }

    /// The one workspace the viewer is bound to, if any.
    pub fn workspace(&self) -> Option<&str> {
        match self {
            Viewer::Workspace { workspace_id, .. } => Some(workspace_id),
            _ => None,
        }
    }

    /// Whether the viewer may open the policy pages (as the admin API:
    /// the admin token, or a workspace token for its own scope).
    pub fn may_manage_policies(&self) -> bool {
        !matches!(self, Viewer::Api)
    }

    /// Who acts, for audit rows and the policy history.
    pub fn actor(&self) -> &str {
        match self {
            Viewer::Open => "dashboard",
            Viewer::Admin => "admin",
            Viewer::Api => "api",
            Viewer::Workspace { token_name, .. } => token_name,
        }
    }

    /// A short label for the page header.
    pub fn label(&self) -> String {
        match self {
            Viewer::Open => "open access (no tokens configured)".to_string(),
            Viewer::Admin => "admin".to_string(),
            Viewer::Api => "API token".to_string(),
            Viewer::Workspace {
                workspace_id,
                token_name,
            } => format!("{token_name} ({workspace_id})"),
        }
    }
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who it is.
    pub viewer: Viewer,
    /// The token every form of this session must echo.
    pub csrf: String,
    /// When it ends, ms.
    pub expires_at: i64,
}

/// A session just opened, with the cookie's secret (never stored).
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The cookie's value.
    pub secret: String,
    /// The session.
    pub session: Session,
}

/// Whether the host runs without any token (local use): the dashboard is
/// then open to everyone and needs no sign-in.
pub fn open_access(app: &App) -> bool {
    app.config.admin_token.is_none() && app.config.api_token.is_none()
}

/// The hex sha256 of a secret.
fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// 256 bits from the process's randomness, in hex (a seeded run replays it).
fn random_hex() -> String {
    (0..4).map(|_| format!("{:016x}", random_u64())).collect()
}

/// Opens a session for `presented`, one of the API's tokens
/// (`invalid_token` when it opens nothing; nothing is written then).
pub async fn sign_in(app: &App, presented: &str) -> Result<SignedIn, LifecycleError> {
    let presented = presented.trim();
    let refused = || {
        LifecycleError::invalid(
            "invalid_token",
            "that token opens nothing here: use the admin token, the API token or an active workspace token",
        )
    };
    if presented.is_empty() || presented.len() > 512 {
        return Err(refused());
    }
    let token_sha256 = sha256_hex(presented);
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let viewer = if configured_sha256(app.config.admin_token.as_deref()).as_deref()
        == Some(token_sha256.as_str())
    {
        Viewer::Admin
    } else if configured_sha256(app.config.api_token.as_deref()).as_deref()
        == Some(token_sha256.as_str())
    {
        Viewer::Api
    } else {
        match tokens::active_by_sha256(&mut tx, &token_sha256).await? {
            Some(t) => Viewer::Workspace {
                workspace_id: t.workspace_id,
                token_name: t.name,
            },
            None => return Err(refused()),
        }
    };
    sessions::delete_expired(&mut tx, now, EXPIRED_PER_SIGN_IN).await?;
    let secret = random_hex();
    let row = SessionRow {
        id_sha256: sha256_hex(&secret),
        kind: match viewer {
            Viewer::Admin | Viewer::Open => "admin",
            Viewer::Api => "api",
            Viewer::Workspace { .. } => "workspace",
        }
        .to_string(),
        workspace_id: viewer.workspace().map(str::to_string),
        token_sha256,
        csrf: random_hex(),
        created_at: now,
        expires_at: now + SESSION_TTL_MS,
    };
    sessions::insert(&mut tx, &row).await?;
    tx.commit().await?;
    tracing::info!(viewer = %viewer.label(), "dashboard sign-in");
    Ok(SignedIn {
        secret,
        session: Session {
            viewer,
            csrf: row.csrf,
            expires_at: row.expires_at,
        },
    })
}

/// The sha256 of a configured token, if one is configured.
fn configured_sha256(token: Option<&str>) -> Option<String> {
    token.map(sha256_hex)
}

/// The live session the cookie's `secret` opens, or `None` (unknown,
/// expired, or its token no longer opens anything: then it is deleted).
pub async fn resume(app: &App, secret: &str) -> Result<Option<Session>, StoreError> {
    if secret.is_empty() || secret.len() > 128 {
        return Ok(None);
    }
    let id_sha256 = sha256_hex(secret);
    let mut c = app.db.acquire().await?;
    let Some(row) = sessions::live(&mut c, &id_sha256, app.clock.now_ms()).await? else {
        return Ok(None);
    };
    let viewer = match row.kind.as_str() {
        "admin"
            if configured_sha256(app.config.admin_token.as_deref()).as_deref()
                == Some(row.token_sha256.as_str()) =>
        {
            Some(Viewer::Admin)
        }
        "api"
            if configured_sha256(app.config.api_token.as_deref()).as_deref()
                == Some(row.token_sha256.as_str()) =>
        {
            Some(Viewer::Api)
        }
        "workspace" => tokens::active_by_sha256(&mut c, &row.token_sha256)
            .await?
            .filter(|t| row.workspace_id.as_deref() == Some(t.workspace_id.as_str()))
            .map(|t| Viewer::Workspace {
                workspace_id: t.workspace_id,
                token_name: t.name,
            }),
        _ => None,
    };
    match viewer {
        Some(viewer) => Ok(Some(Session {
            viewer,
            csrf: row.csrf,
            expires_at: row.expires_at,
        })),
        None => {
            sessions::delete(&mut c, &id_sha256).await?;
            Ok(None)
        }
    }
}

/// Ends the session of `secret` (an unknown one changes nothing).
pub async fn sign_out(app: &App, secret: &str) -> Result<(), StoreError> {
    let mut c = app.db.acquire().await?;
    sessions::delete(&mut c, &sha256_hex(secret)).await
}

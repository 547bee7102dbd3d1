//! Who is calling: the admin token, the API token (or an open API), or a
//! workspace token. The API's authentication layer identifies the caller
//! once per request and hands it to the handlers as the [`Caller`]
//! extractor; every handler that names an object checks it with
//! [`Caller::may_see`] (through the `load_*` helpers of [`crate::api`]),
//! so another workspace's object answers exactly like a missing one. The
//! policy routes also know who acts ([`Actor`]), for their history.

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::lifecycle::tokens;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The admin token: everything.
    Admin,
    /// The configured API token, or anyone when none is configured: all
    /// of `/api`.
    ApiToken,
    /// A workspace token: that workspace's objects only.
    Workspace(String),
}

/// The workspaces a list may show a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListScope<'a> {
    /// Every workspace, or the one asked for.
    All(Option<&'a str>),
    /// Only this workspace.
    Only(&'a str),
    /// Nothing: the caller asked for a workspace it may not see.
    Nothing,
}

impl Caller {
    /// Whether the caller may see (and act on) the objects of `workspace_id`.
    pub fn may_see(&self, workspace_id: &str) -> bool {
        match self {
            Caller::Admin | Caller::ApiToken => true,
            Caller::Workspace(own) => own == workspace_id,
        }
    }

    /// The one workspace the caller is bound to, if it is bound to one.
    pub fn workspace(&self) -> Option<&str> {
        match self {
            Caller::Workspace(own) => Some(own),
            Caller::Admin | Caller::ApiToken => None,
        }
    }

    /// What a list filtered on `requested` (a workspace id, or none) may
    /// show this caller: a workspace token sees its own workspace only,
    /// and asking for another one shows the same nothing as asking for a
    /// workspace that does not exist.
    pub fn list_scope<'a>(&'a self, requested: Option<&'a str>) -> ListScope<'a> {
        match (self.workspace(), requested) {
            (None, requested) => ListScope::All(requested),
            (Some(own), None) => ListScope::Only(own),
            (Some(own), Some(asked)) if asked == own => ListScope::Only(own),
            (Some(_), Some(_)) => ListScope::Nothing,
        }
    }

    /// Refuses a workspace token (403 `forbidden_for_workspace_token`) on
    /// a route that is about no existing object, such as creating a
    /// workspace: a 404 would make no sense there, and no object exists
    /// whose existence could leak.
    pub fn forbid_workspace_token(&self) -> ApiResult<()> {
        match self {
            Caller::Workspace(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_for_workspace_token",
                "a workspace token cannot do this; use the API or admin token",
            )),
            Caller::Admin | Caller::ApiToken => Ok(()),
        }
    }

    /// Who the request's bearer token says the caller is: the admin
    /// token, the configured API token, or an active workspace token;
    /// `None` for anything else (no token, a wrong one, a revoked one).
    /// The configured tokens are compared in constant time; a workspace
    /// token is looked up by its sha256.
    pub async fn identify(app: &App, headers: &HeaderMap) -> ApiResult<Option<Caller>> {
        let Some(given) = bearer(headers) else {
            return Ok(None);
        };
        if token_matches(given, app.config.admin_token.as_deref()) {
            return Ok(Some(Caller::Admin));
        }
        if token_matches(given, app.config.api_token.as_deref()) {
            return Ok(Some(Caller::ApiToken));
        }
        Ok(tokens::authenticate(app, given)
            .await?
            .map(|t| Caller::Workspace(t.workspace_id)))
    }

    /// The caller of a route open to the admin token and to workspace
    /// tokens (the policy routes), with who acts: the admin token is
    /// `admin`, a workspace token acts under its name. `None` for anything
    /// else, the API token included.
    pub async fn identify_admin_or_workspace(
        app: &App,
        headers: &HeaderMap,
    ) -> ApiResult<Option<(Caller, Actor)>> {
        let Some(given) = bearer(headers) else {
            return Ok(None);
        };
        if token_matches(given, app.config.admin_token.as_deref()) {
            return Ok(Some((Caller::Admin, Actor(ADMIN_ACTOR.to_string()))));
        }
        Ok(tokens::authenticate(app, given)
            .await?
            .map(|t| (Caller::Workspace(t.workspace_id), Actor(t.name))))
    }
}

/// How the admin token is named where a change records who made it.
pub const ADMIN_ACTOR: &str = "admin";

/// Who made a change, as the policy history (`actor`) and a module's
/// `uploaded_by` record it: [`ADMIN_ACTOR`] or a workspace token's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

/// Reads who acts from the request, as the layer of the route stored it;
/// a route without that layer is a wiring bug (500, logged).
impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .ok_or_else(|| ApiError::internal(&"a route reads the actor but sets none"))
    }
}

/// Reads the caller the authentication layer stored in the request; a
/// route without that layer is a wiring bug (500, logged).
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::internal(&"a route reads the caller but is not authenticated"))
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme in any
/// case); `None` without one, or for an empty token.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
}

/// Whether `given` is the configured token. The comparison is
/// constant-time over the sha256 of both values (so neither the content
/// nor the length of the token leaks); an unset or empty configured token
/// matches nothing.
pub(crate) fn token_matches(given: &str, configured: Option<&str>) -> bool {
    let Some(configured) = configured.filter(|t| !t.is_empty()) else {
        return false;
    };
    Sha256::digest(given.as_bytes())
        .as_slice()
        .ct_eq(Sha256::digest(configured.as_bytes()).as_slice())
        .into()
}

#[cfg(test)]
mod tests {
    use super::{Caller, ListScope};

    #[test]
    fn a_workspace_token_sees_its_own_workspace_only() {
        let a = Caller::Workspace("a".into());
        assert!(a.may_see("a"));
        assert!(!a.may_see("b"));
        assert!(Caller::Admin.may_see("b") && Caller::ApiToken.may_see("b"));
        assert_eq!(a.list_scope(None), ListScope::Only("a"));
        assert_eq!(a.list_scope(Some("a")), ListScope::Only("a"));
        assert_eq!(a.list_scope(Some("b")), ListScope::Nothing);
        assert_eq!(
            Caller::Admin.list_scope(Some("b")),
            ListScope::All(Some("b"))
        );
        assert!(a.forbid_workspace_token().is_err());
        assert!(Caller::ApiToken.forbid_workspace_token().is_ok());
    }
}

//! Policy modules (content-addressed, with their metadata), their
//! bindings to a scope and slot in a mode, and the history of every
//! binding change. The primary key of `policy_bindings` allows one active
//! and one shadow module per scope and slot.

use super::StoreError;
use crate::clock::{Millis, new_id};
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

/// The scope of the global bindings (a workspace's scope is its id).
pub const GLOBAL: &str = "";

/// A module to store.
#[derive(Debug, Clone, Default)]
pub struct NewModule<'a> {
    /// Hex sha256 of the bytes: the module's identity.
    pub sha256: &'a str,
    /// Its slot.
    pub slot: &'a str,
    /// Where it came from (`upload`, `builtin:…`).
    pub origin: &'a str,
    /// The component's bytes.
    pub bytes: &'a [u8],
    /// A name given at upload.
    pub name: Option<&'a str>,
    /// A version label given at upload.
    pub version_label: Option<&'a str>,
    /// Notes given at upload.
    pub notes: Option<&'a str>,
    /// Who uploaded it (the token's name).
    pub uploaded_by: Option<&'a str>,
    /// The contract version it implements.
    pub contract_version: &'a str,
    /// `compiled`, `python` or `javascript`, read from the component.
    pub kind: &'a str,
    /// The limits its uploader declared (`None`: its kind's default).
    pub limits: StoredLimits,
    /// The scope it is uploaded for (`""` global, else a workspace's id).
    pub upload_scope: &'a str,
    /// How long it took to compile and validate, ms (`None`: not yet).
    pub compile_ms: Option<i64>,
}

/// The limits declared for a module at its first upload; `None`: its
/// kind's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct StoredLimits {
    /// Fuel per call.
    pub fuel_limit: Option<i64>,
    /// Linear memory cap per call, bytes.
    pub memory_limit_bytes: Option<i64>,
    /// Wall-clock deadline per call, ms.
    pub deadline_limit_ms: Option<i64>,
    /// Output size cap, bytes.
    pub output_limit_bytes: Option<i64>,
}

/// A stored module's bytes and what its loading needs.
#[derive(Debug, Clone, FromRow)]
pub struct StoredModule {
    /// Its slot.
    pub slot: String,
    /// Where it came from.
    pub origin: String,
    /// The component's bytes.
    pub bytes: Vec<u8>,
    /// The limits declared at its first upload.
    #[sqlx(flatten)]
    pub limits: StoredLimits,
}

/// A module's compile status (`compile_status` in `policy_modules`).
pub mod status {
    /// Stored; the compile worker has yet to validate it.
    pub const COMPILING: &str = "compiling";
    /// Validated: it may be bound.
    pub const READY: &str = "ready";
    /// Refused by the loader (its message in `compile_error`).
    pub const FAILED: &str = "failed";
}

/// A stored module's metadata.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct ModuleInfo {
    /// Hex sha256: the module's identity.
    pub sha256: String,
    /// `match`, `routing` or `preflight`.
    pub slot: String,
    /// Where it came from.
    pub origin: String,
    /// Name given at upload.
    pub name: Option<String>,
    /// Version label given at upload.
    pub version_label: Option<String>,
    /// Notes given at upload.
    pub notes: Option<String>,
    /// Who uploaded it.
    pub uploaded_by: Option<String>,
    /// Size in bytes.
    pub size_bytes: i64,
    /// The contract version it implements.
    pub contract_version: String,
    /// When it was first uploaded, ms.
    pub uploaded_at: i64,
    /// `compiled`, `python` or `javascript` (`None`: stored before kinds
    /// were recorded).
    pub kind: Option<String>,
    /// The limits declared at its first upload.
    #[sqlx(flatten)]
    #[serde(skip)]
    pub limits: StoredLimits,
    /// `compiling` (not yet assignable), `ready` or `failed`.
    pub status: String,
    /// Why it failed: the loader's message.
    pub error: Option<String>,
    /// How long compiling and validating it took, ms.
    pub compile_ms: Option<i64>,
}

/// A module bound to a scope and slot in a mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct Binding {
    /// `""` for global, else the workspace's id.
    pub scope: String,
    /// The slot.
    pub slot: String,
    /// `active` or `shadow`.
    pub mode: String,
    /// The module.
    pub sha256: String,
    /// When it was bound, ms.
    pub assigned_at: i64,
    /// Who bound it.
    pub assigned_by: Option<String>,
}

/// One change of a binding.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct BindingChange {
    /// Id (time-ordered).
    pub id: String,
    /// `""` for global, else the workspace's id.
    pub scope: String,
    /// The slot.
    pub slot: String,
    /// `active` or `shadow`.
    pub mode: String,
    /// `assign`, `promote`, `rollback` or `unassign`.
    pub action: String,
    /// The module bound before (`None`: none).
    pub from_sha256: Option<String>,
    /// The module bound after (`None`: none).
    pub to_sha256: Option<String>,
    /// Who changed it.
    pub actor: Option<String>,
    /// When, ms.
    pub at: i64,
}

/// Stores a module validated within its upload, `ready`, with its
/// metadata (idempotent on its sha256: the first upload's metadata stays;
/// a copy still `compiling` is ready now, and the compile worker skips it).
pub async fn store_module(
    c: &mut AnyConnection,
    m: &NewModule<'_>,
    now: Millis,
) -> Result<(), StoreError> {
    insert_module(c, m, status::READY, now).await?;
    sqlx::query(
        "UPDATE policy_modules SET compile_status = 'ready', compile_error = NULL, compile_ms = $1, \
         compiled_at = $2 WHERE sha256 = $3 AND compile_status = 'compiling'",
    )
    .bind(m.compile_ms)
    .bind(now)
    .bind(m.sha256)
    .execute(c)
    .await?;
    Ok(())
}

/// Stores a module to compile in the background, `compiling`, unless its
/// bytes are stored already; returns whether it is new.
pub async fn submit_module(
    c: &mut AnyConnection,
    m: &NewModule<'_>,
    now: Millis,
) -> Result<bool, StoreError> {
    insert_module(c, m, status::COMPILING, now).await
}

async fn insert_module(
    c: &mut AnyConnection,
    m: &NewModule<'_>,
    compile_status: &str,
    now: Millis,
) -> Result<bool, StoreError> {
    let compiled_at = (compile_status == status::READY).then_some(now);
    let r = sqlx::query(
        "INSERT INTO policy_modules (sha256, slot, origin, bytes, created_at, name, version_label, notes, \
         uploaded_by, size_bytes, contract_version, kind, fuel_limit, memory_limit_bytes, deadline_limit_ms, \
         output_limit_bytes, compile_status, compile_ms, compiled_at, upload_scope) VALUES ($1, $2, $3, $4, $5, \
         $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) ON CONFLICT DO NOTHING",
    )
    .bind(m.sha256)
    .bind(m.slot)
    .bind(m.origin)
    .bind(m.bytes.to_vec())
    .bind(now)
    .bind(m.name)
    .bind(m.version_label)
    .bind(m.notes)
    .bind(m.uploaded_by)
    .bind(m.bytes.len() as i64)
    .bind(m.contract_version)
    .bind(m.kind)
    .bind(m.limits.fuel_limit)
    .bind(m.limits.memory_limit_bytes)
    .bind(m.limits.deadline_limit_ms)
    .bind(m.limits.output_limit_bytes)
    .bind(compile_status)
    .bind(m.compile_ms)
    .bind(compiled_at)
    .bind(m.upload_scope)
    .execute(&mut *c)
    .await?;
    let new = r.rows_affected() == 1;
    sqlx::query(
        "INSERT INTO policy_module_uploads (sha256, scope, uploaded_at, uploaded_by) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(m.sha256)
    .bind(m.upload_scope)
    .bind(now)
    .bind(m.uploaded_by)
    .execute(c)
    .await?;
    Ok(new)
}

/// The columns of a [`ModuleInfo`] of `policy_modules m`.
const INFO: &str = "m.sha256, m.slot, m.origin, m.name, m.version_label, m.notes, m.uploaded_by, \
     m.size_bytes, m.contract_version, m.created_at AS uploaded_at, m.kind, m.fuel_limit, \
     m.memory_limit_bytes, m.deadline_limit_ms, m.output_limit_bytes, m.compile_status AS status, \
     m.compile_error AS error, m.compile_ms";

/// A stored module's metadata and compile status.
pub async fn module(c: &mut AnyConnection, sha256: &str) -> Result<Option<ModuleInfo>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {INFO} FROM policy_modules m WHERE m.sha256 = $1"
    )))
    .bind(sha256)
    .fetch_optional(c)
    .await?)
}

/// The modules still to compile, oldest first: (sha256, slot).
pub async fn compiling(
    c: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT sha256, slot FROM policy_modules WHERE compile_status = 'compiling' \
         ORDER BY created_at, sha256 LIMIT $1",
    )
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// Records a compile's outcome (`ready`, or `failed` with the loader's
/// message) of a module still `compiling`; whether it was.
pub async fn finish_compile(
    c: &mut AnyConnection,
    sha256: &str,
    outcome: Result<(), &str>,
    compile_ms: i64,
    now: Millis,
) -> Result<bool, StoreError> {
    let (compile_status, error) = match outcome {
        Ok(()) => (status::READY, None),
        Err(e) => (status::FAILED, Some(e)),
    };
    let r = sqlx::query(
        "UPDATE policy_modules SET compile_status = $1, compile_error = $2, compile_ms = $3, \
         compiled_at = $4 WHERE sha256 = $5 AND compile_status = 'compiling'",
    )
    .bind(compile_status)
    .bind(error)
    .bind(compile_ms)
    .bind(now)
    .bind(sha256)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The `ready` modules bound nowhere, newest first, at most `limit`: what
/// an instance precompiles at start so that binding them is instant.
pub async fn ready_unbound(
    c: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT m.sha256, m.slot FROM policy_modules m WHERE m.compile_status = 'ready' \
         AND m.origin = 'upload' AND NOT EXISTS (SELECT 1 FROM policy_bindings b WHERE b.sha256 = m.sha256) \
         ORDER BY m.created_at DESC, m.sha256 LIMIT $1",
    )
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// Every stored module's metadata, newest first.
pub async fn modules(c: &mut AnyConnection) -> Result<Vec<ModuleInfo>, StoreError> {
    Ok(sqlx::query_as(super::sql(format!(
        "SELECT {INFO} FROM policy_modules m ORDER BY m.created_at DESC, m.sha256"
    )))
    .fetch_all(c)
    .await?)
}

/// The modules uploaded for `scope` or ever bound in it (its history
/// names each one it was given), newest first.
/// A module is stored once, with its first upload's labels: those (name,
/// version label, notes, uploaded by) are shown only when that first
/// upload was for `scope` (for a module stored before uploads recorded
/// their scope, its first binding's), so the same bytes uploaded by
/// another workspace first do not show that workspace's labels.
pub async fn modules_of_scope(
    c: &mut AnyConnection,
    scope: &str,
) -> Result<Vec<ModuleInfo>, StoreError> {
    of_scope(c, scope, None).await
}

/// One module as [`modules_of_scope`] shows it to `scope`: `None` when it
/// was neither uploaded for `scope` nor bound in it.
pub async fn module_of_scope(
    c: &mut AnyConnection,
    scope: &str,
    sha256: &str,
) -> Result<Option<ModuleInfo>, StoreError> {
    Ok(of_scope(c, scope, Some(sha256)).await?.pop())
}

async fn of_scope(
    c: &mut AnyConnection,
    scope: &str,
    sha256: Option<&str>,
) -> Result<Vec<ModuleInfo>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT sha256, slot, origin, \
         CASE WHEN first_scope = $1 THEN name END AS name, \
         CASE WHEN first_scope = $1 THEN version_label END AS version_label, \
         CASE WHEN first_scope = $1 THEN notes END AS notes, \
         CASE WHEN first_scope = $1 THEN uploaded_by END AS uploaded_by, \
         size_bytes, contract_version, uploaded_at, kind, fuel_limit, memory_limit_bytes, deadline_limit_ms, \
         output_limit_bytes, status, error, compile_ms FROM ( \
           SELECT m.sha256, m.slot, m.origin, m.name, m.version_label, m.notes, m.uploaded_by, \
           m.size_bytes, m.contract_version, m.created_at AS uploaded_at, m.kind, m.fuel_limit, \
           m.memory_limit_bytes, m.deadline_limit_ms, m.output_limit_bytes, \
           m.compile_status AS status, m.compile_error AS error, m.compile_ms, \
           COALESCE(m.upload_scope, (SELECT f.scope FROM policy_binding_history f \
            WHERE f.to_sha256 = m.sha256 AND f.action = 'assign' ORDER BY f.at, f.id LIMIT 1)) AS first_scope \
           FROM policy_modules m WHERE ($2 IS NULL OR m.sha256 = $2) AND ( \
             m.sha256 IN (SELECT h.to_sha256 FROM policy_binding_history h WHERE h.scope = $1) \
             OR m.sha256 IN (SELECT u.sha256 FROM policy_module_uploads u WHERE u.scope = $1)) \
         ) scoped ORDER BY uploaded_at DESC, sha256",
    )
    .bind(scope)
    .bind(sha256)
    .fetch_all(c)
    .await?)
}

/// A stored module's bytes, slot, origin and declared limits.
pub async fn module_bytes(
    c: &mut AnyConnection,
    sha256: &str,
) -> Result<Option<StoredModule>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT slot, origin, bytes, fuel_limit, memory_limit_bytes, deadline_limit_ms, output_limit_bytes \
         FROM policy_modules WHERE sha256 = $1",
    )
    .bind(sha256)
    .fetch_optional(c)
    .await?)
}

/// Records the kind of a module stored before kinds were (the host reads
/// it from the bytes once).
pub async fn set_kind(c: &mut AnyConnection, sha256: &str, kind: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE policy_modules SET kind = $1 WHERE sha256 = $2 AND kind IS NULL")
        .bind(kind)
        .bind(sha256)
        .execute(c)
        .await?;
    Ok(())
}

/// Every binding.
pub async fn bindings(c: &mut AnyConnection) -> Result<Vec<Binding>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT scope, slot, mode, sha256, assigned_at, assigned_by FROM policy_bindings \
         ORDER BY scope, slot, mode",
    )
    .fetch_all(c)
    .await?)
}

/// The binding of (scope, slot, mode), if any.
pub async fn binding(
    c: &mut AnyConnection,
    scope: &str,
    slot: &str,
    mode: &str,
) -> Result<Option<Binding>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT scope, slot, mode, sha256, assigned_at, assigned_by FROM policy_bindings \
         WHERE scope = $1 AND slot = $2 AND mode = $3",
    )
    .bind(scope)
    .bind(slot)
    .bind(mode)
    .fetch_optional(c)
    .await?)
}

/// Binds `sha256` to (scope, slot, mode), replacing what was bound.
pub async fn bind(c: &mut AnyConnection, b: &Binding) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO policy_bindings (scope, slot, mode, sha256, assigned_at, assigned_by) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scope, slot, mode) DO UPDATE SET \
         sha256 = excluded.sha256, assigned_at = excluded.assigned_at, assigned_by = excluded.assigned_by",
    )
    .bind(&b.scope)
    .bind(&b.slot)
    .bind(&b.mode)
    .bind(&b.sha256)
    .bind(b.assigned_at)
    .bind(&b.assigned_by)
    .execute(c)
    .await?;
    Ok(())
}

/// Removes the binding of (scope, slot, mode); whether there was one.
pub async fn unbind(
    c: &mut AnyConnection,
    scope: &str,
    slot: &str,
    mode: &str,
) -> Result<bool, StoreError> {
    let r = sqlx::query("DELETE FROM policy_bindings WHERE scope = $1 AND slot = $2 AND mode = $3")
        .bind(scope)
        .bind(slot)
        .bind(mode)
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Records a binding change (its id is assigned here).
#[allow(clippy::too_many_arguments)]
pub async fn record_change(
    c: &mut AnyConnection,
    scope: &str,
    slot: &str,
    mode: &str,
    action: &str,
    from_sha256: Option<&str>,
    to_sha256: Option<&str>,
    actor: Option<&str>,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO policy_binding_history (id, scope, slot, mode, action, from_sha256, to_sha256, actor, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id())
    .bind(scope)
    .bind(slot)
    .bind(mode)
    .bind(action)
    .bind(from_sha256)
    .bind(to_sha256)
    .bind(actor)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// The binding history, newest first, optionally of one scope and slot.
pub async fn history(
    c: &mut AnyConnection,
    scope: Option<&str>,
    slot: Option<&str>,
    limit: i64,
) -> Result<Vec<BindingChange>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, scope, slot, mode, action, from_sha256, to_sha256, actor, at FROM policy_binding_history \
         WHERE ($1 IS NULL OR scope = $1) AND ($2 IS NULL OR slot = $2) ORDER BY at DESC, id DESC LIMIT $3",
    )
    .bind(scope)
    .bind(slot)
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// What a rollback of the active module of (scope, slot) goes back to:
/// the module the active binding held before the latest change (other
/// than a rollback) that made `current` active, so repeated rollbacks walk
/// back through the history. `None`: no such change; `Some(None)`: back
/// to no binding of the scope's own.
pub async fn rollback_target(
    c: &mut AnyConnection,
    scope: &str,
    slot: &str,
    current: Option<&str>,
) -> Result<Option<Option<String>>, StoreError> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT from_sha256 FROM policy_binding_history WHERE scope = $1 AND slot = $2 \
         AND mode = 'active' AND action <> 'rollback' \
         AND (to_sha256 = $3 OR ($3 IS NULL AND to_sha256 IS NULL)) ORDER BY at DESC, id DESC LIMIT 1",
    )
    .bind(scope)
    .bind(slot)
    .bind(current)
    .fetch_optional(c)
    .await?;
    Ok(row.map(|(from,)| from))
}

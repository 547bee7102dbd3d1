//! Re-key jobs: when a match module is to decide for a scope, its keys
//! are computed for every prospect of the scope into its own key space,
//! a page per transaction, and only then does it decide (one transaction
//! binds it and ends the job; the instances follow by the policy
//! broadcast). Until then the module that decided before keeps deciding
//! with its own keys, complete. The job's row holds its cursor, so after
//! a restart any instance resumes it; a lease makes one instance work a
//! job at a time. A shadow match module's job only fills its space, so
//! that a promote switches at once. Key spaces no binding and no running
//! job uses are deleted, in pages, after each switch.
//!
//! A job runs in two phases: `fill` keys every prospect of the scope (in
//! id order, the cursor the last id done), then `sweep` keys those still
//! without a key in the space (imported by an instance that had not yet
//! loaded the job's module, or moved into the global scope meanwhile).

pub use super::policy_ground::RekeyConfig;
use super::policy_ground::{self as lifecycle, HoldsPolicies, PolicyHost, PolicyLifecycleError};
use crate::clock::{Millis, new_id};
use crate::pipeline::rekey;
use crate::policy::{Mode, PolicyModule, Scope, Slot};
use crate::store::broadcast::{Broadcaster, POLICIES_CHANNEL};
use crate::store::rekey_jobs::{self, RekeyJob};
use crate::store::{StoreError, leases, prospects};
use std::sync::{Arc, OnceLock};

/// How long a job's lease holds without renewal (renewed every page).
const LEASE_TTL: Millis = 60_000;

/// Keys per page of an unused key space's deletion.
const DROP_PAGE: i64 = 1_000;

/// This process, as the holder of job leases.
fn holder() -> &'static str {
    static HOLDER: OnceLock<String> = OnceLock::new();
    HOLDER.get_or_init(new_id)
}

/// What a new job is for.
pub(super) struct NewJob<'a> {
    pub scope: &'a Scope,
    pub module: &'a Arc<PolicyModule>,
    pub mode: Mode,
    pub action: &'a str,
    pub bind: Option<&'a str>,
    pub refuse: bool,
    pub actor: Option<&'a str>,
    /// Only the prospects missing from the space (a promote: the shadow's
    /// space was kept complete).
    pub sweep_only: bool,
}

/// Starts a job (cancelling the scope's running job of the same mode,
/// which it supersedes) in one transaction, and stages its module so that
/// prospects imported meanwhile are keyed by it too.
pub(super) async fn start(app: PolicyHost<'_>, new: NewJob<'_>) -> Result<RekeyJob, StoreError> {
    let now = app.clock.now_ms();
    let from = match new.mode {
        Mode::Active => Some(
            app.decisions
                .module_for_scope(new.scope, Slot::Match)
                .sha256()
                .to_string(),
        ),
        // A shadow's space copies nothing: a promote then finds the
        // prospects it fails on missing, and counts them.
        Mode::Shadow => None,
    };
    let mut tx = app.db.begin().await?;
    rekey_jobs::cancel_running(&mut tx, new.scope.key(), new.mode.as_str(), now).await?;
    let total = prospects::count_for_keys(&mut tx, new.scope.workspace()).await?;
    let job = RekeyJob {
        id: new_id(),
        scope: new.scope.key().to_string(),
        module_sha256: new.module.sha256().to_string(),
        from_sha256: from,
        mode: new.mode.as_str().to_string(),
        action: new.action.to_string(),
        bind_sha256: new.bind.map(str::to_string),
        refuse: i64::from(new.refuse),
        actor: new.actor.map(str::to_string),
        status: "running".into(),
        phase: if new.sweep_only { "sweep" } else { "fill" }.into(),
        cursor: String::new(),
        done: 0,
        failures: 0,
        total,
        first_failure: None,
        error: None,
        created_at: now,
        updated_at: now,
        finished_at: None,
    };
    rekey_jobs::insert(&mut tx, &job).await?;
    tx.commit().await?;
    app.decisions.registry().stage(new.module.clone());
    broadcast(app).await;
    tracing::info!(
        job_id = job.id,
        scope = job.scope,
        module_sha256 = job.module_sha256,
        mode = job.mode,
        total,
        "re-key job started"
    );
    Ok(job)
}

async fn broadcast(app: PolicyHost<'_>) {
    if let Err(e) = Broadcaster::for_db(app.db)
        .send(POLICIES_CHANNEL, Slot::Match.as_str())
        .await
    {
        tracing::warn!(error = %e, "re-key broadcast failed; other instances pick it up on restart");
    }
}

/// Works the job for at most `max_pages` pages (`None`: to its end),
/// under its lease; returns it as it stands then. `None` while another
/// task or instance holds it.
pub async fn run(
    app: PolicyHost<'_>,
    job_id: &str,
    max_pages: Option<u64>,
) -> Result<Option<RekeyJob>, PolicyLifecycleError> {
    let lease_name = format!("rekey:{job_id}");
    let now = app.clock.now_ms();
    let Some(mut lease) = leases::acquire(app.db, &lease_name, holder(), now, LEASE_TTL).await?
    else {
        return Ok(None);
    };
    let result = work(app, job_id, max_pages, &mut lease).await;
    if let Err(e) = lease.release(app.db, app.clock.now_ms()).await {
        tracing::warn!(error = %e, job_id, "re-key lease not released; it expires");
    }
    result.map(Some)
}

async fn work(
    app: PolicyHost<'_>,
    job_id: &str,
    max_pages: Option<u64>,
    lease: &mut leases::Lease,
) -> Result<RekeyJob, PolicyLifecycleError> {
    let load = async || -> Result<RekeyJob, PolicyLifecycleError> {
        let mut c = app.db.acquire().await?;
        rekey_jobs::get(&mut c, job_id)
            .await?
            .ok_or_else(|| PolicyLifecycleError::Internal(format!("re-key job {job_id} vanished")))
    };
    let mut job = load().await?;
    if job.status != "running" {
        return Ok(job);
    }
    let module = lifecycle::stored(app, &job.module_sha256, Slot::Match).await?;
    app.decisions.registry().stage(module.clone());
    let scope = Scope::from_key(&job.scope);
    let mut pages = 0u64;
    loop {
        if max_pages.is_some_and(|m| pages >= m) {
            return Ok(job);
        }
        if !lease.keep(app.db, app.clock.now_ms()).await? {
            return Ok(job);
        }
        let sweep = job.phase == "sweep";
        let mut tx = app.db.begin().await?;
        let page = prospects::page_for_keys(
            &mut tx,
            scope.workspace(),
            &job.cursor,
            app.rekey.page,
            sweep.then_some(job.module_sha256.as_str()),
        )
        .await?;
        let Some((last, _)) = page.last() else {
            tx.rollback().await?;
            if sweep {
                return complete(app, job, &module).await;
            }
            // The fill is done: sweep the stragglers from the start.
            let mut tx = app.db.begin().await?;
            let now = app.clock.now_ms();
            if !rekey_jobs::advance(&mut tx, &job.id, "sweep", "", 0, 0, None, now).await? {
                tx.rollback().await?;
                return load().await;
            }
            tx.commit().await?;
            job = load().await?;
            continue;
        };
        let last = last.id.clone();
        let now = app.clock.now_ms();
        let report = rekey::key_page(
            &mut tx,
            app.decisions,
            &module,
            job.from_sha256.as_deref(),
            &page,
            !sweep,
            now,
        )
        .await?;
        let advanced = rekey_jobs::advance(
            &mut tx,
            &job.id,
            &job.phase,
            &last,
            report.keyed,
            report.failures,
            report.first_failure.as_deref(),
            now,
        )
        .await?;
        // A job cancelled meanwhile, or a lease taken over, writes nothing.
        if !advanced || !lease.fence(&mut tx).await? {
            tx.rollback().await?;
            return load().await;
        }
        tx.commit().await?;
        pages += 1;
        job = load().await?;
    }
}

/// The refusal a job's counts call for, if any: a module that fails on
/// most prospects would leave most of them matched by stale keys only.
fn refusal(job: &RekeyJob) -> Option<String> {
    if job.refuse == 0 || job.failures * 2 <= job.total {
        return None;
    }
    let mut message = format!(
        "the match module fails on {} of {} prospects' keys",
        job.failures, job.total
    );
    if let Some(first) = &job.first_failure {
        message.push_str(&format!(" (first: {first})"));
    }
    Some(message)
}

/// The job's space is complete: in one transaction, binds the module
/// (active jobs) and ends the job; then installs the change on this
/// instance, tells the others, and deletes the key spaces left unused.
async fn complete(
    app: PolicyHost<'_>,
    job: RekeyJob,
    module: &Arc<PolicyModule>,
) -> Result<RekeyJob, PolicyLifecycleError> {
    let scope = Scope::from_key(&job.scope);
    let now = app.clock.now_ms();
    // A workspace going back to the global module, whose module changed
    // meanwhile: its keys are of the wrong space, so a new job follows.
    if job.mode == "active"
        && job.bind_sha256.is_none()
        && job.action != "startup"
        && scope.workspace().is_some()
        && app.decisions.registry().active(Slot::Match).sha256() != job.module_sha256
    {
        let mut tx = app.db.begin().await?;
        rekey_jobs::finish(
            &mut tx,
            &job.id,
            "cancelled",
            Some("the global match module changed; a new job follows"),
            now,
        )
        .await?;
        tx.commit().await?;
        let global = app.decisions.registry().active(Slot::Match);
        let next = start(
            app,
            NewJob {
                scope: &scope,
                module: &global,
                mode: Mode::Active,
                action: &job.action,
                bind: None,
                refuse: false,
                actor: job.actor.as_deref(),
                sweep_only: false,
            },
        )
        .await?;
        return Ok(next);
    }
    let mut tx = app.db.begin().await?;
    if let Some(message) = refusal(&job) {
        rekey_jobs::finish(&mut tx, &job.id, "failed", Some(&message), now).await?;
        tx.commit().await?;
        tracing::warn!(job_id = job.id, message, "re-key job refused its module");
        gc(app).await?;
        let mut c = app.db.acquire().await?;
        return Ok(rekey_jobs::get(&mut c, &job.id).await?.unwrap_or(job));
    }
    let mut switched = false;
    if job.mode == "active" && job.action != "startup" {
        let bind = match &job.bind_sha256 {
            Some(sha) if sha == module.sha256() => Some(module.clone()),
            Some(sha) => Some(lifecycle::stored(app, sha, Slot::Match).await?),
            None => None,
        };
        let actor = job.actor.as_deref();
        if job.action == "promote" {
            lifecycle::rebind(
                &mut tx,
                &scope,
                Slot::Match,
                Mode::Shadow,
                None,
                "promote",
                actor,
                now,
            )
            .await?;
        }
        lifecycle::rebind(
            &mut tx,
            &scope,
            Slot::Match,
            Mode::Active,
            bind.as_ref(),
            &job.action,
            actor,
            now,
        )
        .await?;
        switched = true;
    }
    if !rekey_jobs::finish(&mut tx, &job.id, "done", None, now).await? {
        // Cancelled meanwhile by a newer change: that one decides.
        tx.rollback().await?;
        let mut c = app.db.acquire().await?;
        return Ok(rekey_jobs::get(&mut c, &job.id).await?.unwrap_or(job));
    }
    tx.commit().await?;
    if switched {
        let bind = match &job.bind_sha256 {
            Some(sha) if sha == module.sha256() => Some(module.clone()),
            Some(sha) => Some(lifecycle::stored(app, sha, Slot::Match).await?),
            None => None,
        };
        if job.action == "promote" {
            app.decisions
                .registry()
                .bind(&scope, Slot::Match, Mode::Shadow, None);
        }
        lifecycle::install_module(app, &scope, Slot::Match, Mode::Active, bind).await?;
    }
    tracing::info!(
        job_id = job.id,
        scope = job.scope,
        module_sha256 = job.module_sha256,
        done = job.done,
        failures = job.failures,
        "re-key job done"
    );
    if switched {
        drop_left_behind(app, &job, &scope).await?;
    }
    // Every key changed: the planner's picture of match_keys is stale.
    app.db.refresh_statistics_soon();
    restage(app).await?;
    gc(app).await?;
    let mut c = app.db.acquire().await?;
    Ok(rekey_jobs::get(&mut c, &job.id).await?.unwrap_or(job))
}

/// After a workspace's switch, its prospects' keys in the space of the
/// module that decided before (still used by other workspaces, else the
/// whole space goes) are deleted, unless that module is its shadow.
async fn drop_left_behind(
    app: PolicyHost<'_>,
    job: &RekeyJob,
    scope: &Scope,
) -> Result<(), StoreError> {
    let (Some(workspace), Some(from)) = (scope.workspace(), job.from_sha256.as_deref()) else {
        return Ok(());
    };
    let shadow = app
        .decisions
        .registry()
        .shadow_for(workspace, Slot::Match)
        .map(|m| m.sha256().to_string());
    if from == job.module_sha256 || shadow.as_deref() == Some(from) {
        return Ok(());
    }
    drop_space(app, from, Some(workspace)).await
}

/// Deletes a key space's keys (of one workspace's prospects, or of all),
/// a page of prospects per transaction.
async fn drop_space(
    app: PolicyHost<'_>,
    space: &str,
    workspace: Option<&str>,
) -> Result<(), StoreError> {
    let mut after = String::new();
    loop {
        let mut tx = app.db.begin().await?;
        let last = prospects::drop_space_page(&mut tx, space, workspace, &after, DROP_PAGE).await?;
        tx.commit().await?;
        match last {
            Some(last) => after = last,
            None => return Ok(()),
        }
    }
}

/// Stages the modules of the running jobs only.
async fn restage(app: PolicyHost<'_>) -> Result<(), PolicyLifecycleError> {
    let running = {
        let mut c = app.db.acquire().await?;
        rekey_jobs::running(&mut c).await?
    };
    let mut modules = Vec::new();
    for job in running {
        modules.push(lifecycle::stored(app, &job.module_sha256, Slot::Match).await?);
    }
    app.decisions.registry().set_staged(modules);
    Ok(())
}

/// Deletes, in pages, the key spaces no match binding, no running job and
/// not the global active module (the built-in one when none is bound)
/// uses. Returns the spaces deleted.
pub async fn gc(app: PolicyHost<'_>) -> Result<u64, StoreError> {
    let mut c = app.db.acquire().await?;
    let spaces = prospects::key_spaces(&mut c).await?;
    let mut used: std::collections::HashSet<String> = crate::store::policies::bindings(&mut c)
        .await?
        .into_iter()
        .filter(|b| b.slot == Slot::Match.as_str())
        .map(|b| b.sha256)
        .collect();
    used.extend(
        rekey_jobs::running(&mut c)
            .await?
            .into_iter()
            .map(|j| j.module_sha256),
    );
    used.insert(
        app.decisions
            .registry()
            .active(Slot::Match)
            .sha256()
            .to_string(),
    );
    drop(c);
    let mut dropped = 0;
    for space in spaces.iter().filter(|s| !used.contains(*s)) {
        drop_space(app, space, None).await?;
        dropped += 1;
        tracing::info!(key_space = space, "unused key space deleted");
    }
    Ok(dropped)
}

/// Works every running job to its end (`max_pages` per job: a test's
/// interrupted job); returns them as they stand then.
pub async fn run_pending(
    app: PolicyHost<'_>,
    max_pages: Option<u64>,
) -> Result<Vec<RekeyJob>, PolicyLifecycleError> {
    let running = {
        let mut c = app.db.acquire().await?;
        rekey_jobs::running(&mut c).await?
    };
    let mut out = Vec::new();
    for job in running {
        if let Some(job) = run(app, &job.id, max_pages).await? {
            out.push(job);
        }
    }
    Ok(out)
}

/// At start: when no module is bound globally, the built-in match module
/// of this build decides, and its key space must hold every prospect of
/// the global scope; a new build whose built-in differs finds it empty.
/// Its keys are then computed before the host serves (the old built-in
/// is not stored, so it cannot decide meanwhile).
pub async fn startup(app: PolicyHost<'_>) -> Result<Option<RekeyJob>, PolicyLifecycleError> {
    let global = {
        let mut c = app.db.acquire().await?;
        crate::store::policies::binding(&mut c, "", Slot::Match.as_str(), Mode::Active.as_str())
            .await?
    };
    if global.is_some() {
        return Ok(None);
    }
    let module = app.decisions.registry().active(Slot::Match);
    let gap = {
        let mut c = app.db.acquire().await?;
        prospects::space_has_gap(&mut c, None, module.sha256()).await?
            && rekey_jobs::running_of(&mut c, "", Mode::Active.as_str())
                .await?
                .is_none()
    };
    if !gap {
        return Ok(None);
    }
    let job = start(
        app,
        NewJob {
            scope: &Scope::Global,
            module: &module,
            mode: Mode::Active,
            action: "startup",
            bind: None,
            refuse: false,
            actor: None,
            sweep_only: true,
        },
    )
    .await?;
    run(app, &job.id, None).await
}

/// The background worker: works every running job, then waits a second
/// (a job started here is worked by the request that started it first).
pub async fn worker<H: HoldsPolicies>(
    app: Arc<H>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = run_pending(app.policy_host(), None).await {
            tracing::warn!(error = %e, "re-key jobs stopped; retried in a second");
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

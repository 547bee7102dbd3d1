//! The OpenAPI document of the whole HTTP surface, served at
//! `GET /openapi.json`.

use super::{admin, api, error, health, webhooks};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The OpenAPI description of Accord's HTTP API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Accord",
        description = "Detects LinkedIn invite accepts, stamps them once, and dispatches follow-ups safely. \
                       Errors are `{\"error\": {\"code\", \"message\"}}` with a stable `code`."
    ),
    paths(
        webhooks::unipile,
        health::healthz,
        health::readyz,
        health::metrics,
        openapi_json,
        api::workspaces::create_workspace,
        api::workspaces::get_workspace,
        api::workspaces::create_account,
        api::workspaces::list_accounts,
        api::workspaces::get_account,
        api::workspaces::set_account_status,
        api::campaigns::create_campaign,
        api::campaigns::list_campaigns,
        api::campaigns::get_campaign,
        api::campaigns::start_campaign,
        api::campaigns::pause_campaign,
        api::campaigns::resume_campaign,
        api::campaigns::stop_campaign,
        api::campaigns::campaign_stats,
        api::prospects::import_prospects,
        api::prospects::get_prospect,
        api::prospects::resync_prospect,
        api::prospects::get_resync,
        api::prospects::list_traces,
        api::dashboard::list_workspaces,
        api::dashboard::workspace_overview,
        api::dashboard::campaign_prospects,
        api::dashboard::late_accepts,
        api::dashboard::bridge_misses,
        api::dashboard::prospect_timeline,
        api::integrations::create_endpoint,
        api::integrations::list_endpoints,
        api::integrations::get_endpoint,
        api::integrations::disable_endpoint,
        api::integrations::enable_endpoint,
        api::integrations::delete_endpoint,
        api::integrations::test_endpoint,
        api::integrations::list_deliveries,
        api::integrations::list_dead_letters,
        api::integrations::get_delivery,
        api::integrations::retry_delivery,
        admin::policies::list_policies,
        admin::policies::upload_policy,
        admin::policies::unassign_policy,
        admin::policies::promote_policy,
        admin::policies::rollback_policy,
        admin::policies::list_modules,
        admin::policies::submit_module,
        admin::policies::get_module,
        admin::policies::list_history,
        admin::policies::list_rekey_jobs,
        admin::replay_inbox,
        admin::list_held_jobs,
        admin::give_verdict,
        admin::decisions::list_decisions,
        admin::decisions::get_decision,
        admin::decisions::shadow_report,
        admin::decisions::replay,
        admin::tokens::create_token,
        admin::tokens::list_tokens,
        admin::tokens::revoke_token,
    ),
    components(schemas(
        error::ErrorBody,
        error::ErrorDetail,
        crate::store::accounts::Workspace,
        crate::store::accounts::Account,
        crate::store::campaigns::Campaign,
        crate::store::prospects::Prospect,
        crate::store::enrollments::EnrollmentRow,
        crate::store::enrollments::CampaignStats,
        crate::store::events::Event,
        crate::store::jobs::Job,
        crate::store::skips::SkipRow,
        crate::store::traces::Trace,
        crate::domain::StepDef,
        api::workspaces::NewWorkspace,
        api::workspaces::NewAccount,
        api::workspaces::StatusChange,
        crate::lifecycle::campaigns::NewCampaign,
        crate::lifecycle::campaigns::WindowSpec,
        crate::lifecycle::campaigns::CampaignTransition,
        crate::lifecycle::campaigns::ResumeSweep,
        crate::lifecycle::stats::CampaignStatsView,
        crate::lifecycle::stats::CampaignCounts,
        crate::lifecycle::prospects::ProspectInput,
        crate::lifecycle::prospects::ImportRequest,
        crate::lifecycle::prospects::ImportReport,
        crate::lifecycle::prospects::RejectedItem,
        api::prospects::ProspectDetail,
        crate::engine::ResyncOutcome,
        crate::engine::ResyncStatus,
        api::prospects::EnrollmentDetail,
        api::prospects::ScheduledRun,
        crate::store::accounts::WorkspaceSummary,
        crate::store::enrollment_pages::ProspectRow,
        crate::lifecycle::workspaces::WorkspacePage,
        crate::lifecycle::overview::WorkspaceOverview,
        crate::lifecycle::overview::Tiles,
        crate::lifecycle::account_health::AccountHealth,
        crate::lifecycle::account_health::Warmup,
        crate::lifecycle::account_health::ActionUsage,
        crate::lifecycle::account_health::NextAction,
        crate::lifecycle::account_health::Breaker,
        crate::lifecycle::prospect_table::ProspectPage,
        crate::lifecycle::prospect_table::ProspectTableRow,
        crate::lifecycle::prospect_table::NextRun,
        crate::lifecycle::lists::TraceView,
        crate::lifecycle::lists::LateAcceptItem,
        crate::lifecycle::lists::LateAcceptPage,
        crate::lifecycle::lists::BridgeMissPage,
        crate::lifecycle::timeline::TimelineItem,
        crate::lifecycle::timeline::ProspectTimeline,
        api::integrations::NewEndpointBody,
        crate::store::endpoints::Endpoint,
        crate::store::endpoints::CreatedEndpoint,
        crate::store::deliveries::DeliveryView,
        crate::store::deliveries::DeadDelivery,
        crate::lifecycle::integrations::DeliveryPage,
        crate::lifecycle::integrations::DeadLetterPage,
        crate::notify::TestSend,
        admin::policies::ActivePolicy,
        crate::store::policies::ModuleInfo,
        crate::lifecycle::policies::ModuleView,
        crate::store::policies::BindingChange,
        crate::store::rekey_jobs::RekeyJob,
        crate::lifecycle::policies::PolicySwap,
        admin::Verdict,
        admin::VerdictBody,
        admin::tokens::NewWorkspaceToken,
        crate::store::decisions::DecisionRow,
        crate::store::decisions::ShadowGroup,
        crate::lifecycle::decisions::DecisionPage,
        crate::lifecycle::decisions::ShadowReport,
        crate::lifecycle::decisions::PolicyReplayReport,
        crate::lifecycle::decisions::PolicyReplayGroup,
        crate::lifecycle::decisions::PolicyReplayError,
        crate::lifecycle::tokens::IssuedToken,
        crate::store::tokens::WorkspaceToken,
        crate::ingest::inbox::ReplayReport,
        crate::ingest::inbox::Receipt,
        health::Health,
        health::Check,
    )),
    modifiers(&BearerSchemes),
    tags(
        (name = "workspaces", description = "Workspaces"),
        (name = "accounts", description = "LinkedIn accounts and their status"),
        (name = "campaigns", description = "Campaigns, their lifecycle and live stats"),
        (name = "prospects", description = "Prospect import and the prospect page"),
        (name = "traces", description = "Decisions worth explaining"),
        (name = "dashboard", description = "The dashboard's reads: workspaces, a workspace's overview (campaign counters, tiles, account health), a campaign's prospects table, late accepts, bridge misses, a prospect's timeline"),
        (name = "integrations", description = "Notification endpoints (Slack, Standard Webhooks for n8n or Zapier), test sends, deliveries and dead letters"),
        (name = "admin", description = "Policies per scope (upload, promote, rollback, history, shadow report, replay; admin token, or a workspace token for its own scope), the decision log, inbox replay, held sends, workspace tokens (admin token)"),
        (name = "webhooks", description = "Provider webhooks"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer schemes: `api_token` (`/api/*`), `admin_token`
/// (`/admin/*`) and `workspace_token` (`/admin/policies*` besides the
/// admin token).
struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, description) in [
            (
                "api_token",
                "The API token (`ACCORD_API_TOKEN`), the admin token, or a workspace token \
                 (`acc_ws_…`, issued by `POST /admin/workspaces/{id}/tokens`). A workspace \
                 token opens its own workspace only: another workspace's object answers \
                 404 as a missing one would, lists show its own workspace's rows, and \
                 creating a workspace is 403 `forbidden_for_workspace_token`.",
            ),
            ("admin_token", "The admin token (`ACCORD_ADMIN_TOKEN`)."),
            (
                "workspace_token",
                "A workspace token (`acc_ws_…`) on the policy routes: it acts on its own \
                 workspace's scope only (`?workspace=<its id>`). Another workspace's scope \
                 answers 404 `not_found` as an unknown workspace does; a change of the \
                 global scope is 403 `forbidden_for_workspace_token`; the lists show the \
                 global active modules, its own bindings, its own history and the modules \
                 bound in its scope. Changes are recorded under the token's name.",
            ),
        ] {
            let scheme = HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(description))
                .build();
            components.add_security_scheme(name, SecurityScheme::Http(scheme));
        }
    }
}

/// The OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "This document (OpenAPI 3.1)")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

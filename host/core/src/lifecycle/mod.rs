//! The lifecycles every edge calls (the HTTP API, the CLI, the demo, the
//! simulation, and next the dashboard): each validates, changes state in
//! one transaction per step, and says why it refused with a
//! [`LifecycleError`] carrying a stable code. An edge parses its input,
//! calls one of these and maps the error; it owns no state machine.

pub mod account_health;
pub mod campaigns;
mod compile_queue;
pub mod csv_import;
pub mod decisions;
pub mod integrations;
pub mod lists;
pub mod module_compile;
pub mod overview;
pub mod pages;
pub mod policies;
mod policy_ground;
pub mod prospect_table;
pub mod prospects;
pub mod rekey_jobs;
pub mod sessions;
pub mod stats;
pub mod timeline;
pub mod tokens;
pub mod workspaces;

use crate::pipeline::PipelineError;
use crate::store::StoreError;

/// Why a lifecycle step refused or failed. A refusal changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The record named does not exist.
    #[error("no {what} with id `{id}`")]
    NotFound {
        /// What was looked for (`campaign`, `workspace`, …).
        what: &'static str,
        /// The id given.
        id: String,
    },
    /// The input breaks a rule; `code` names it (`invalid_steps`, …).
    #[error("{message}")]
    Invalid {
        /// Stable code.
        code: &'static str,
        /// Explanation naming the field.
        message: String,
    },
    /// The record's state forbids the step now; `code` names why
    /// (`invalid_transition`, `no_prospects_with_linkedin_url`, …).
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// The database failed; nothing was committed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fault of the host itself (logged; the caller sees no detail).
    #[error("internal error: {0}")]
    Internal(String),
}

impl LifecycleError {
    /// An [`LifecycleError::Invalid`].
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        LifecycleError::Invalid {
            code,
            message: message.into(),
        }
    }

    /// A [`LifecycleError::Conflict`].
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        LifecycleError::Conflict {
            code,
            message: message.into(),
        }
    }

    /// A [`LifecycleError::NotFound`].
    pub fn not_found(what: &'static str, id: &str) -> Self {
        LifecycleError::NotFound {
            what,
            id: id.to_string(),
        }
    }
}

impl From<PipelineError> for LifecycleError {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::Store(s) => LifecycleError::Store(s),
        }
    }
}

/// A required text field, trimmed, 1 to `max` characters.
pub fn required_text(
    code: &'static str,
    field: &str,
    value: &str,
    max: usize,
) -> Result<String, LifecycleError> {
    let value = value.trim();
    let n = value.chars().count();
    if n == 0 || n > max {
        return Err(LifecycleError::invalid(
            code,
            format!("`{field}` must be 1 to {max} characters, got {n}"),
        ));
    }
    Ok(value.to_string())
}

/// An optional text field, trimmed; empty means absent.
pub fn optional_text(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// An IANA time zone name, trimmed.
pub fn time_zone(tz: &str) -> Result<String, LifecycleError> {
    let tz = tz.trim();
    if tz.is_empty() || jiff::tz::TimeZone::get(tz).is_err() {
        return Err(LifecycleError::invalid(
            "invalid_time_zone",
            format!("`time_zone` must be an IANA time zone such as Europe/Paris, got `{tz}`"),
        ));
    }
    Ok(tz.to_string())
}

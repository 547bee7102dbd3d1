//! What every answer must be: never a 5xx; every refusal the JSON error
//! body `{"error": {"code", "message"}}` with a documented code and the
//! status that code is documented with.

use serde_json::Value;

/// The error codes the fuzzed routes may answer, with their statuses:
/// the README's error section and the OpenAPI document name each one
/// (`codes_are_documented` checks that they do). The layers' generic
/// fallbacks (`bad_request`, `refused`, …) are not here: an answer with
/// one of them is a refusal nobody wrote a code for.
pub const CODES: &[(&str, &[u16])] = &[
    ("invalid_json", &[400]),
    ("invalid_field", &[400]),
    ("invalid_text", &[400, 422]),
    ("invalid_path", &[400]),
    ("invalid_query", &[400]),
    ("invalid_payload", &[400]),
    ("missing_field", &[400]),
    ("invalid_body", &[400]),
    ("malformed_request", &[400]),
    ("headers_too_large", &[431]),
    ("uri_too_long", &[414]),
    ("payload_too_large", &[413]),
    ("body_timeout", &[408]),
    ("unauthorized", &[401]),
    ("admin_disabled", &[403]),
    ("not_found", &[404]),
    ("route_not_found", &[404]),
    ("method_not_allowed", &[405]),
    ("account_exists", &[409]),
    ("campaign_closed", &[409]),
    ("invalid_transition", &[409]),
    ("no_prospects_with_linkedin_url", &[409]),
    ("invalid_name", &[422]),
    ("invalid_provider_account_id", &[422]),
    ("invalid_own_member_id", &[422]),
    ("invalid_display_name", &[422]),
    ("invalid_time_zone", &[422]),
    ("invalid_daily_invite_cap", &[422]),
    ("invalid_weekly_invite_cap", &[422]),
    ("invalid_daily_message_cap", &[422]),
    ("invalid_weekly_message_cap", &[422]),
    ("invalid_min_spacing_seconds", &[422]),
    ("invalid_status", &[422]),
    ("invalid_linkedin_account_id", &[422]),
    ("invalid_steps", &[422]),
    ("invalid_window", &[422]),
    ("invalid_prospects", &[422]),
    ("invalid_limit", &[422]),
];

/// Per-item rejection codes of an import.
pub const ITEM_CODES: &[&str] = &[
    "invalid_text",
    "field_too_long",
    "missing_identifier",
    "invalid_profile_url",
    "duplicate_prospect",
];

/// An answer as the fuzzer saw it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn summary(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(400).collect();
        format!("{} {:?} {body}", self.status, self.content_type)
    }
}

/// Checks the rules every answer follows; returns the error code of a
/// refusal (`None` for a success).
pub fn answer(a: &Answer) -> Result<Option<String>, String> {
    if a.status >= 500 {
        return Err(format!("a {} answer", a.status));
    }
    if a.status < 400 {
        return Ok(None);
    }
    let json = a
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"));
    if !json {
        return Err(format!(
            "a {} refusal with content type {:?}",
            a.status, a.content_type
        ));
    }
    let Some(body) = a.json() else {
        return Err(format!("a {} refusal whose body is not JSON", a.status));
    };
    let shape = body.as_object().filter(|o| o.len() == 1).and_then(|o| {
        let e = o.get("error")?.as_object().filter(|e| e.len() == 2)?;
        Some((e.get("code")?.as_str()?, e.get("message")?.as_str()?))
    });
    let Some((code, message)) = shape else {
        return Err(format!(
            "a {} refusal not shaped {{\"error\": {{\"code\", \"message\"}}}}",
            a.status
        ));
    };
    if message.trim().is_empty() {
        return Err(format!("`{code}` with an empty message"));
    }
    match CODES.iter().find(|(c, _)| *c == code) {
        None => Err(format!("undocumented code `{code}` ({})", a.status)),
        Some((_, statuses)) if !statuses.contains(&a.status) => Err(format!(
            "`{code}` with status {}, documented as {statuses:?}",
            a.status
        )),
        Some(_) => Ok(Some(code.to_string())),
    }
}

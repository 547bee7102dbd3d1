//! Slack incoming-webhook messages: one readable line per outbox event.

use serde_json::Value;

/// The event type of an accept notification.
pub const INVITE_ACCEPTED: &str = "linkedin.invite_accepted";

/// The Slack message body (`{"text": …}`) for an outbox row.
pub fn message(event_type: &str, dedupe_key: &str, payload: &str) -> Value {
    serde_json::json!({ "text": text(event_type, dedupe_key, payload) })
}

/// The message text. An accept names the prospect, campaign and account,
/// how it was observed and the profile URL; fields missing from the
/// payload are left out. Other events get a generic line.
pub fn text(event_type: &str, dedupe_key: &str, payload: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(payload).ok();
    let data = parsed.as_ref().map(|p| p.get("data").unwrap_or(p));
    match data {
        Some(data) if event_type == INVITE_ACCEPTED => accepted(data),
        Some(_) if event_type == super::TEST_EVENT_TYPE => {
            "🔔 Test notification from Accord: this channel receives Accord's events.".to_string()
        }
        _ => format!(
            "Accord event `{}` ({})",
            escape(event_type),
            escape(dedupe_key)
        ),
    }
}

fn accepted(data: &Value) -> String {
    let field = |name: &str| {
        data.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let prospect = field("prospect_name")
        .or(field("profile_url"))
        .or(field("prospect_id"))
        .unwrap_or("A prospect");
    let mut line = format!("✅ {} accepted your LinkedIn invite", escape(prospect));
    let mut context = Vec::new();
    if let Some(campaign) = field("campaign_name").or(field("campaign_id")) {
        context.push(format!("campaign “{}”", escape(campaign)));
    }
    if let Some(account) = field("account_name").or(field("provider_account_id")) {
        context.push(format!("account “{}”", escape(account)));
    }
    if !context.is_empty() {
        line.push_str(&format!(" ({})", context.join(", ")));
    }
    let via: Vec<String> = [field("source"), field("strategy")]
        .into_iter()
        .flatten()
        .map(|s| escape(&s.replace('_', " ")))
        .collect();
    if !via.is_empty() {
        line.push_str(&format!(" via {}", via.join(" / ")));
    }
    if let Some(url) =
        field("profile_url").filter(|u| u.starts_with("https://") || u.starts_with("http://"))
    {
        line.push('\n');
        line.push_str(&escape(url));
    }
    line
}

/// Escapes the three characters Slack's mrkdwn reserves.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_line() {
        let payload = serde_json::json!({
            "type": INVITE_ACCEPTED,
            "data": {
                "prospect_name": "Julien Crépieux",
                "campaign_name": "Q4 founders",
                "account_name": "Sales – Anna",
                "profile_url": "https://www.linkedin.com/in/julien-crepieux/",
                "source": "webhook",
                "strategy": "invite-bridge"
            }
        });
        assert_eq!(
            text(INVITE_ACCEPTED, "k", &payload.to_string()),
            "✅ Julien Crépieux accepted your LinkedIn invite (campaign “Q4 founders”, account “Sales – Anna”) \
             via webhook / invite-bridge\nhttps://www.linkedin.com/in/julien-crepieux/"
        );
    }

    #[test]
    fn tolerates_missing_fields_and_escapes() {
        let payload = serde_json::json!({ "data": { "prospect_name": "<b>&" } });
        assert_eq!(
            text(INVITE_ACCEPTED, "k", &payload.to_string()),
            "✅ &lt;b&gt;&amp; accepted your LinkedIn invite"
        );
        assert_eq!(
            text(INVITE_ACCEPTED, "k", "not json"),
            "Accord event `linkedin.invite_accepted` (k)"
        );
        assert_eq!(text("x.y", "k2", "{}"), "Accord event `x.y` (k2)");
    }
}

//! What every page shows around its content ([`Chrome`]) and how values
//! are written for people (times in UTC, durations, empty values).

use accord_core::lifecycle::sessions::Viewer;

/// The page around the content: title, who is signed in, the banner of
/// open access, the CSRF token, and the workspace navigation.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The page's title.
    pub title: String,
    /// Who is looking, for the header.
    pub viewer_label: String,
    /// No token is configured: the banner says anyone can see this.
    pub open_access: bool,
    /// Whether a sign-out button makes sense.
    pub signed_in: bool,
    /// The token the page's forms echo.
    pub csrf: String,
    /// The workspace the page belongs to, for the navigation.
    pub workspace_id: Option<String>,
    /// Which navigation entry is current.
    pub section: &'static str,
    /// Whether the viewer may open the policy pages.
    pub policies: bool,
    /// Whether the viewer sees every workspace (a link back to the list).
    pub all_workspaces: bool,
}

impl Chrome {
    /// The chrome of a page `viewer` looks at, whose forms carry `csrf`.
    pub fn new(viewer: &Viewer, csrf: &str, title: String) -> Self {
        Chrome {
            title,
            viewer_label: viewer.label(),
            open_access: *viewer == Viewer::Open,
            signed_in: *viewer != Viewer::Open,
            csrf: csrf.to_string(),
            workspace_id: viewer.workspace().map(str::to_string),
            section: "",
            policies: viewer.may_manage_policies(),
            all_workspaces: viewer.workspace().is_none(),
        }
    }

    /// In workspace `id`, at navigation entry `section`.
    pub fn in_workspace(mut self, id: &str, section: &'static str) -> Self {
        self.workspace_id = Some(id.to_string());
        self.section = section;
        self
    }

    /// Whether `section` is the current navigation entry (for `aria-current`).
    pub fn current(&self, section: &str) -> bool {
        self.section == section
    }
}

/// A time in ms as `2026-12-03 13:45:07 UTC`, or `—`.
pub fn when(ms: Option<i64>) -> String {
    ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(
            || "—".to_string(),
            |t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
}

/// A time in ms as ISO 8601 for `<time datetime=…>`, or empty.
pub fn iso(ms: Option<i64>) -> String {
    ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(String::new, |t| t.to_string())
}

/// How far `ms` is from `now_ms`, for people: `in 3 h 5 min`, `12 min ago`.
pub fn relative(ms: Option<i64>, now_ms: i64) -> String {
    let Some(ms) = ms else {
        return String::new();
    };
    let delta = ms - now_ms;
    let span = duration(delta.unsigned_abs());
    if delta >= 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// A duration in ms, rounded for people.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Percent-encodes a value for a query string (filters, cursors, ids).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An optional text, or `—`.
pub fn or_dash(s: Option<&str>) -> String {
    s.filter(|s| !s.is_empty())
        .map_or_else(|| "—".to_string(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_for_people() {
        assert_eq!(when(Some(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(when(None), "—");
        assert_eq!(relative(Some(90_000), 0), "in 1 min");
        assert_eq!(relative(Some(0), 7_500_000), "2 h 5 min ago");
        assert_eq!(duration(200_000_000), "2 d 7 h");
    }
}

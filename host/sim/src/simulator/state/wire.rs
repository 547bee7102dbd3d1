//! Unipile's wire conventions the answers share: the error body, time
//! stamps, `created_at` units and cursor pagination. Plain functions and
//! data, kept apart so every answer writes them one way.

use crate::clock::Millis;
use crate::provider::error::known_error;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// An error answer, in Unipile's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimFailure {
    /// HTTP status.
    pub status: u16,
    /// `type` without `errors/`.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Detail.
    pub detail: String,
}

impl SimFailure {
    /// A catalogued error (status and title from the catalogue).
    pub fn known(kind: &str, detail: impl Into<String>) -> Self {
        let (status, title) =
            known_error(kind).map_or((422, "Unprocessable entity"), |k| (k.status, k.title));
        SimFailure {
            status,
            kind: kind.trim_start_matches("errors/").to_string(),
            title: title.to_string(),
            detail: detail.into(),
        }
    }

    /// An error outside the catalogue.
    pub fn other(status: u16, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        SimFailure {
            status,
            kind: kind.to_string(),
            title: title.to_string(),
            detail: detail.into(),
        }
    }

    /// 400 `invalid_parameters`.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::other(400, "invalid_parameters", "Invalid parameters", detail)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({
            "status": self.status,
            "type": format!("errors/{}", self.kind),
            "title": self.title,
            "detail": self.detail,
        })
    }
}

/// The first catalogued error type answered with `status`.
pub fn known_kind_for_status(status: u16) -> Option<&'static str> {
    crate::provider::KNOWN_ERRORS
        .iter()
        .find(|e| e.status == status)
        .map(|e| e.kind)
}

/// How `created_at` of relations is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CreatedAtUnit {
    /// Milliseconds (as in a live capture).
    #[default]
    Millis,
    /// Seconds (as in the documentation examples).
    Seconds,
}

/// RFC 3339 with milliseconds, UTC (`2026-07-06T09:43:27.002Z`).
pub fn iso_ms(ms: Millis) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => "1970-01-01T00:00:00.000Z".into(),
    }
}

fn encode_cursor(created_at: Millis, seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created_at}:{seq}"))
}

fn decode_cursor(cursor: &str) -> Option<(Millis, u64)> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (a, b) = text.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// A page of `(created_at, seq, item)` newest first, after `cursor`.
pub(super) fn paginate<T>(
    mut rows: Vec<(Millis, u64, T)>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<T>, Option<String>), SimFailure> {
    rows.sort_by_key(|r| std::cmp::Reverse((r.0, r.1)));
    if let Some(c) = cursor.filter(|c| !c.is_empty()) {
        let key = decode_cursor(c).ok_or_else(|| SimFailure::bad_request("invalid cursor"))?;
        rows.retain(|r| (r.0, r.1) < key);
    }
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|r| encode_cursor(r.0, r.1))
    } else {
        None
    };
    Ok((rows.into_iter().map(|r| r.2).collect(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_with_milliseconds() {
        assert_eq!(iso_ms(1_783_331_007_002), "2026-07-06T09:43:27.002Z");
    }

    #[test]
    fn pages_are_stable_newest_first() {
        let rows: Vec<(Millis, u64, u32)> = (0..7)
            .map(|i| (1000 + i64::from(i / 2), u64::from(i), i))
            .collect();
        let (a, c) = paginate(rows.clone(), None, 3).unwrap_or_default();
        assert_eq!(a, vec![6, 5, 4]);
        let (b, c) = paginate(rows.clone(), c.as_deref(), 3).unwrap_or_default();
        assert_eq!(b, vec![3, 2, 1]);
        let (d, c) = paginate(rows, c.as_deref(), 3).unwrap_or_default();
        assert_eq!((d, c), (vec![0], None));
    }
}

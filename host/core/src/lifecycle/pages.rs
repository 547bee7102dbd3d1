//! The paging parameters every dashboard read shares: a `limit` in
//! bounds and an opaque `cursor` that only a page of the same list gave.

use super::LifecycleError;

/// Rows a page holds unless asked otherwise.
pub const DEFAULT_PAGE: i64 = 50;

/// Most rows one page holds.
pub const MAX_PAGE: i64 = 500;

/// Longest cursor accepted (an id is at most 200 bytes, plus its prefix).
const MAX_CURSOR_BYTES: usize = 256;

/// `limit`, or [`DEFAULT_PAGE`] (`invalid_limit` outside 1 to [`MAX_PAGE`]).
pub fn limit(limit: Option<i64>) -> Result<i64, LifecycleError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(LifecycleError::invalid(
            "invalid_limit",
            format!("`limit` must be 1 to {MAX_PAGE}, got {limit}"),
        ));
    }
    Ok(limit)
}

/// The `invalid_cursor` refusal.
pub fn bad_cursor() -> LifecycleError {
    LifecycleError::invalid(
        "invalid_cursor",
        "`cursor` must be a `next_cursor` this endpoint returned",
    )
}

/// The id inside a cursor `<prefix><id>` (`invalid_cursor` otherwise).
pub fn id_cursor<'a>(cursor: &'a str, prefix: &str) -> Result<&'a str, LifecycleError> {
    cursor
        .strip_prefix(prefix)
        .filter(|id| valid_id(id) && cursor.len() <= MAX_CURSOR_BYTES)
        .ok_or_else(bad_cursor)
}

/// The `(time, id)` inside a cursor `<time>.<id>` (`invalid_cursor`
/// otherwise).
pub fn time_cursor(cursor: &str) -> Result<(i64, &str), LifecycleError> {
    let (at, id) = cursor.split_once('.').ok_or_else(bad_cursor)?;
    let at: i64 = at.parse().map_err(|_| bad_cursor())?;
    if !valid_id(id) || cursor.len() > MAX_CURSOR_BYTES || at < 0 {
        return Err(bad_cursor());
    }
    Ok((at, id))
}

/// Whether `id` could be a stored id: 1 to 200 bytes, no control
/// characters (so a cursor never carries what a row could not).
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= crate::text::MAX_ID_BYTES && !id.chars().any(char::is_control)
}

/// The next page's cursor: `make(last)` when the page is full.
pub fn next<T>(items: &[T], limit: i64, make: impl Fn(&T) -> String) -> Option<String> {
    (items.len() as i64 == limit)
        .then(|| items.last().map(make))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_only_in_their_own_shape() {
        assert_eq!(id_cursor("e.abc", "e.").ok(), Some("abc"));
        assert!(id_cursor("abc", "e.").is_err());
        assert!(id_cursor("e.", "e.").is_err());
        assert_eq!(time_cursor("12.x").ok(), Some((12, "x")));
        assert!(time_cursor("x.y").is_err());
        assert!(time_cursor("-1.y").is_err());
        assert!(time_cursor("12.").is_err());
        assert!(limit(Some(0)).is_err() && limit(Some(501)).is_err());
        assert_eq!(limit(None).ok(), Some(DEFAULT_PAGE));
    }
}

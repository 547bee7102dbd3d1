//! Bounds on text that comes from outside (webhooks, the API, imports):
//! how long an id may be, which characters no database can store, and
//! how much of a hostile value an answer echoes.

use accord_policy_core::linkedin::ProfileRef;

/// The longest id Accord stores or looks up, in bytes: provider ids
/// (`account_id`, `message_id`, `user_provider_id`, member ids), profile
/// slugs and the ids in API paths. Real ones are under 64 bytes; the
/// bound leaves a match policy room to prefix one into a key of at most
/// 256 bytes (the sandbox's limit on a key).
pub const MAX_ID_BYTES: usize = 200;

/// The longest free text Accord stores from a webhook or an import
/// (names, profile URLs, timestamps), in bytes.
pub const MAX_TEXT_BYTES: usize = 2048;

/// The longest stored or echoed event name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// Whether `s` holds a NUL character, which PostgreSQL cannot store in
/// text (SQLite can, so it is refused on both for one behaviour).
pub fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

/// Whether a profile reference holds a NUL character: a `%00` in a
/// profile URL or public identifier, decoded when it is keyed.
pub fn ref_has_nul(r: &ProfileRef) -> bool {
    match r {
        ProfileRef::Slug(s) | ProfileRef::ProviderId(s) => has_nul(s),
    }
}

/// `s` cut to at most `max` bytes (on a character boundary), with `…`
/// when something was cut: what an answer echoes of a value.
pub fn echo(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The length in bytes of what a profile reference contributes to a
/// match key (a normalised slug or a provider id).
pub fn ref_len(r: &ProfileRef) -> usize {
    match r {
        ProfileRef::Slug(s) | ProfileRef::ProviderId(s) => s.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_cut_on_character_boundaries() {
        assert_eq!(echo("abc", 3), "abc");
        assert_eq!(echo("abcd", 3), "abc…");
        assert_eq!(echo("ééé", 3), "é…");
    }
}

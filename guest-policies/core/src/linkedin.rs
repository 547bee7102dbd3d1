//! LinkedIn identifier handling: provider ids, Sales Navigator lead ids and
//! profile URL slugs.

/// The kind of a provider member id, from its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A classic member id, `ACo…`.
    Classic,
    /// A Sales Navigator id, `ACw…`.
    SalesNavigator,
}

/// Whether `s` looks like a provider member id (`ACo…` or `ACw…`).
pub fn id_kind(s: &str) -> Option<IdKind> {
    if s.len() < 12 || !s.bytes().all(is_base64url) {
        return None;
    }
    match &s[..3] {
        "ACo" => Some(IdKind::Classic),
        "ACw" => Some(IdKind::SalesNavigator),
        _ => None,
    }
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn base64url_value(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => u32::from(b - b'A'),
        b'a'..=b'z' => u32::from(b - b'a') + 26,
        b'0'..=b'9' => u32::from(b - b'0') + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    })
}

/// The numeric member id inside an `ACo…`/`ACw…` id: base64url-decode the
/// first 12 characters and read bytes 2..8 as a big-endian number. Classic
/// and Sales Navigator ids of one person share it (observed, not documented
/// by the provider).
pub fn decode_member_number(id: &str) -> Option<u64> {
    id_kind(id)?;
    let mut bytes = [0u8; 9];
    for (quad, out) in id.as_bytes()[..12].chunks(4).zip(bytes.chunks_mut(3)) {
        let mut acc = 0u32;
        for &c in quad {
            acc = (acc << 6) | base64url_value(c)?;
        }
        out[0] = (acc >> 16) as u8;
        out[1] = (acc >> 8) as u8;
        out[2] = acc as u8;
    }
    let number = bytes[2..8]
        .iter()
        .fold(0u64, |n, &b| (n << 8) | u64::from(b));
    (number != 0).then_some(number)
}

/// What a LinkedIn URL points at, once normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileRef {
    /// A vanity slug, lowercased and percent-decoded.
    Slug(String),
    /// A provider id found in the URL (case kept: ids are case-sensitive).
    ProviderId(String),
}

/// Normalises a profile or Sales Navigator URL: any scheme or none, any
/// `*.linkedin.com` host (country subdomains such as `uk.`), trailing slash,
/// query string and fragment, percent-encoding, `/in/` and legacy `/pub/`
/// paths, `/sales/lead/<id>,…` and `/sales/people/<id>,…`.
pub fn parse_profile_url(url: &str) -> Option<ProfileRef> {
    let url = url.trim();
    let without_scheme =
        url.split_once("://").map_or(
            url,
            |(scheme, rest)| if scheme.contains('/') { url } else { rest },
        );
    let (host, path) = without_scheme.split_once('/')?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    if host != "linkedin.com" && !host.ends_with(".linkedin.com") {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["in", slug, ..] => normalize_slug(slug),
        ["pub", name, rest @ ..] => legacy_pub_slug(name, rest),
        ["sales", "lead" | "people", lead, ..] => {
            // Exports often percent-encode the commas (`%2CNAME_SEARCH%2C…`).
            let lead = percent_decode(lead);
            let id = lead.split(',').next().unwrap_or(&lead);
            id_kind(id).map(|_| ProfileRef::ProviderId(id.to_string()))
        }
        _ => None,
    }
}

/// A slug as LinkedIn compares them: percent-decoded and lowercased; a
/// provider id in slug position is kept as an id.
pub fn normalize_slug(raw: &str) -> Option<ProfileRef> {
    let decoded = percent_decode(raw.trim().trim_matches('/'));
    if decoded.is_empty() {
        return None;
    }
    if id_kind(&decoded).is_some() {
        return Some(ProfileRef::ProviderId(decoded));
    }
    Some(ProfileRef::Slug(decoded.to_lowercase()))
}

/// `/pub/first-last/1a/2b3/4c5` is the legacy form of `/in/first-last-4c52b31a`.
fn legacy_pub_slug(name: &str, rest: &[&str]) -> Option<ProfileRef> {
    let mut slug = percent_decode(name);
    if !rest.is_empty() {
        slug.push('-');
        for part in rest.iter().rev() {
            slug.push_str(part);
        }
    }
    normalize_slug(&slug)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_documented_examples() {
        assert_eq!(decode_member_number("ACwAAAAdaooBxyz"), Some(1_927_818));
        assert_eq!(decode_member_number("ACoAABRqAmsKabc"), Some(342_491_755));
        assert_eq!(decode_member_number("not-an-id"), None);
    }

    #[test]
    fn normalises_urls() {
        let slug = |s: &str| Some(ProfileRef::Slug(s.to_string()));
        assert_eq!(
            parse_profile_url("https://www.linkedin.com/in/Julien-Crepieux/"),
            slug("julien-crepieux")
        );
        assert_eq!(
            parse_profile_url("uk.linkedin.com/in/julien-crepieux?trk=x#y"),
            slug("julien-crepieux")
        );
        assert_eq!(
            parse_profile_url("https://www.linkedin.com/in/j%C3%BCrgen-m%C3%BCller"),
            slug("jürgen-müller")
        );
        assert_eq!(
            parse_profile_url("http://linkedin.com/pub/john-doe/12/345/678"),
            slug("john-doe-67834512")
        );
        assert_eq!(
            parse_profile_url("https://www.linkedin.com/sales/lead/ACwAAAAdaooB123,NAME_SEARCH,xx"),
            Some(ProfileRef::ProviderId("ACwAAAAdaooB123".into()))
        );
        assert_eq!(parse_profile_url("https://example.com/in/x"), None);
    }
}

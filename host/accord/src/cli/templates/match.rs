//! An Accord match policy: which enrollments an accept signal belongs to.
//!
//! Matching never scans: the host stores `prospect_keys` for every
//! prospect, looks a signal up by its `signal_keys`, and asks `resolve` to
//! pick among the enrollments that share a key with it. It starts as
//! Accord's default strategy: invite bridge, member id, Sales Navigator
//! decode, public identifier, tried in that order.

wit_bindgen::generate!({ path: "wit", world: "match-policy" });

use accord::policy::host::{Level, log};
use accord::policy::types::{AcceptSignal, Enrollment, ProspectIdentity};
use exports::accord::policy::match_strategy::{Guest, MatchOutcome, Matched};

struct Policy;

impl Guest for Policy {
    fn prospect_keys(identity: ProspectIdentity) -> Vec<String> {
        Ids::of_identity(&identity).keys()
    }

    fn signal_keys(signal: AcceptSignal) -> Vec<String> {
        Ids::of_signal(&signal).keys()
    }

    fn resolve(signal: AcceptSignal, candidates: Vec<Enrollment>) -> MatchOutcome {
        let outcome = resolve(&signal, &candidates);
        if outcome.matches.is_empty() {
            log(Level::Info, "no strategy matched any candidate");
        }
        outcome
    }
}

export!(Policy);

/// Key prefixes: one key space for prospects and signals. Changing them
/// is safe: uploading a match policy re-keys every prospect.
const PROVIDER_ID: &str = "pid:";
const MEMBER_NUMBER: &str = "num:";
const SLUG: &str = "slug:";

/// Every candidate that matches by the first strategy that applies.
fn resolve(signal: &AcceptSignal, candidates: &[Enrollment]) -> MatchOutcome {
    let seen = Ids::of_signal(signal);
    let mut outcome = MatchOutcome {
        matches: Vec::new(),
        trace: Vec::new(),
    };
    for candidate in candidates {
        let id = &candidate.enrollment_id;
        if outcome.matches.iter().any(|m| &m.enrollment_id == id) {
            continue;
        }
        match strategy(&seen, candidate) {
            Some(strategy) => {
                outcome.trace.push(format!("{id}: matched by {strategy}"));
                outcome.matches.push(Matched {
                    enrollment_id: id.clone(),
                    strategy: strategy.to_string(),
                });
            }
            None => outcome
                .trace
                .push(format!("{id}: shares a key but no strategy matched")),
        }
    }
    if candidates.is_empty() {
        outcome
            .trace
            .push("no candidates share a key with the signal".to_string());
    }
    outcome
}

/// The first strategy by which `candidate` is the member the signal saw.
fn strategy(seen: &Ids, candidate: &Enrollment) -> Option<&'static str> {
    let identity = &candidate.identity;
    let seen_id = |id: &str| seen.provider_ids.iter().any(|s| s == id.trim());
    // Invite bridge: the invite we sent went to the signal's member.
    let invited = candidate.invite.as_ref().map(|i| i.provider_id.as_str());
    let invited = invited
        .into_iter()
        .chain(identity.invited_provider_id.as_deref());
    if invited
        .into_iter()
        .any(|id| seen.provider_ids.iter().any(|s| s == id))
    {
        return Some("invite-bridge");
    }
    // Member id: the prospect's stored id (or the id in its URL) is the signal's.
    let direct = identity.member_id.as_deref().is_some_and(seen_id)
        || identity.profile_url.as_deref().is_some_and(|url| {
            matches!(parse_profile_url(url), Some(ProfileRef::ProviderId(id)) if seen_id(&id))
        });
    if direct {
        return Some("member-id");
    }
    // Sales Navigator decode: a Sales Navigator id and a classic id of the
    // same member carry the same member number.
    let all = Ids::of_identity(identity);
    if all.numbers.iter().any(|n| seen.numbers.contains(n)) {
        return Some("sales-nav-decode");
    }
    if all.slugs.iter().any(|s| seen.slugs.contains(s)) {
        return Some("public-identifier");
    }
    None
}

/// The identifiers of one side of a match, normalised.
#[derive(Default)]
struct Ids {
    provider_ids: Vec<String>,
    numbers: Vec<u64>,
    slugs: Vec<String>,
}

impl Ids {
    fn of_identity(identity: &ProspectIdentity) -> Self {
        let mut ids = Self::default();
        if let Some(id) = &identity.member_id {
            ids.add_provider_id(id);
        }
        if let Some(url) = &identity.sales_nav_lead_url {
            // A bare lead id is accepted too; anything else that is not a
            // LinkedIn URL (another site, a whole URL) is no key at all.
            let bare_id = || normalize_slug(url).filter(|r| matches!(r, ProfileRef::ProviderId(_)));
            ids.add_ref(parse_profile_url(url).or_else(bare_id));
        }
        if let Some(url) = &identity.profile_url {
            ids.add_ref(parse_profile_url(url));
        }
        if let Some(slug) = &identity.public_identifier {
            ids.add_ref(normalize_slug(slug));
        }
        if let Some(id) = &identity.invited_provider_id {
            ids.add_provider_id(id);
        }
        ids
    }

    fn of_signal(signal: &AcceptSignal) -> Self {
        let mut ids = Self::default();
        if let Some(id) = &signal.member_id {
            ids.add_provider_id(id);
        }
        if let Some(slug) = &signal.public_identifier {
            ids.add_ref(normalize_slug(slug));
        }
        if let Some(url) = &signal.profile_url {
            ids.add_ref(parse_profile_url(url));
        }
        ids
    }

    fn add_provider_id(&mut self, id: &str) {
        let id = id.trim();
        if id.is_empty() {
            return;
        }
        if let Some(n) = decode_member_number(id) {
            push_unique(&mut self.numbers, n);
        }
        push_unique(&mut self.provider_ids, id.to_string());
    }

    fn add_ref(&mut self, r: Option<ProfileRef>) {
        match r {
            Some(ProfileRef::Slug(s)) => push_unique(&mut self.slugs, s),
            Some(ProfileRef::ProviderId(id)) => self.add_provider_id(&id),
            None => {}
        }
    }

    /// At most 16 keys of 1 to 256 bytes each reach the host's index.
    fn keys(&self) -> Vec<String> {
        let ids = self
            .provider_ids
            .iter()
            .map(|id| format!("{PROVIDER_ID}{id}"));
        let numbers = self.numbers.iter().map(|n| format!("{MEMBER_NUMBER}{n}"));
        let slugs = self.slugs.iter().map(|s| format!("{SLUG}{s}"));
        ids.chain(numbers).chain(slugs).collect()
    }
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// What a LinkedIn URL or slug points at, once normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ProfileRef {
    /// A vanity slug, lowercased and percent-decoded.
    Slug(String),
    /// A provider id (case kept: ids are case-sensitive).
    ProviderId(String),
}

/// Whether `s` looks like a provider member id: `ACo…` (classic) or
/// `ACw…` (Sales Navigator), base64url, at least 12 characters.
fn is_member_id(s: &str) -> bool {
    s.len() >= 12
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && (s.starts_with("ACo") || s.starts_with("ACw"))
}

/// The member number inside an `ACo…`/`ACw…` id: base64url-decode the
/// first 12 characters and read bytes 2..8 as a big-endian number. Classic
/// and Sales Navigator ids of one person share it (observed, not
/// documented by the provider).
fn decode_member_number(id: &str) -> Option<u64> {
    if !is_member_id(id) {
        return None;
    }
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

/// Normalises a profile or Sales Navigator URL: any scheme or none, any
/// `*.linkedin.com` host, trailing slash, query and fragment,
/// percent-encoding, `/in/` and legacy `/pub/` paths, `/sales/lead/<id>,…`
/// and `/sales/people/<id>,…`.
fn parse_profile_url(url: &str) -> Option<ProfileRef> {
    let url = url.trim();
    let without_scheme = match url.split_once("://") {
        Some((scheme, rest)) if !scheme.contains('/') => rest,
        _ => url,
    };
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
            is_member_id(id).then(|| ProfileRef::ProviderId(id.to_string()))
        }
        _ => None,
    }
}

/// A slug as LinkedIn compares them: percent-decoded and lowercased; a
/// provider id in a slug's place is kept as an id.
fn normalize_slug(raw: &str) -> Option<ProfileRef> {
    let decoded = percent_decode(raw.trim().trim_matches('/'));
    if decoded.is_empty() {
        return None;
    }
    if is_member_id(&decoded) {
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
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
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

//! Structure-aware webhook bodies: every event kind Unipile sends
//! (`new_relation`, `message_received` and the other messaging events,
//! `AccountStatus`, unknown ones), each field clean or hostile, with the
//! answer the documented rules give for it (the oracle): a wrong type or
//! a NUL in a field Accord reads is a 400 naming it, a value over its
//! bound is stored and answered `refused`, anything in a field Accord
//! does not read is tolerated.

use super::json::{J, nested};
use super::mutate::{HUGE_NUMBERS, hostile_value};
use super::rng::Rng;
use super::world::{MAIN_ACCOUNT, MEMBERS, SLUGS, World};

/// Bytes an id may have (README: ids are bounded at 200 bytes).
pub const ID_BOUND: usize = 200;
/// Bytes other text may have.
pub const TEXT_BOUND: usize = 2048;

/// What the fields written so far make of the delivery.
#[derive(Debug, Default, Clone)]
pub struct Oracle {
    /// The body is not JSON serde reads (a lone surrogate, nesting past
    /// the parser's limit).
    pub json_error: bool,
    /// Codes of the refusals the fields call for (the first field read
    /// decides which one is answered).
    pub errors: Vec<&'static str>,
    /// A value is over its bound: stored and answered `refused`.
    pub over: bool,
}

impl Oracle {
    fn error(&mut self, code: &'static str) {
        if !self.errors.contains(&code) {
            self.errors.push(code);
        }
    }
}

/// How a field is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// An id; a required one must be a non-blank string.
    Id { required: bool },
    /// Free text (names, timestamps).
    Text,
    /// A profile URL: text, and the slug or id in it an id.
    Url,
    /// A public identifier: text, and once normalised an id.
    Slug,
    /// A flag: boolean or number.
    Flag,
    /// `AccountStatus.message`: required, any string up to the id bound.
    Status,
}

impl Field {
    fn bound(self) -> usize {
        match self {
            Field::Id { .. } | Field::Status => ID_BOUND,
            _ => TEXT_BOUND,
        }
    }

    fn required(self) -> bool {
        matches!(self, Field::Id { required: true } | Field::Status)
    }
}

/// Text made of `n` bytes of `c` (ASCII).
fn fill(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

/// A string of at most `max` bytes from `arbitrary`.
fn arbitrary_text(rng: &mut Rng, max: usize) -> String {
    let budget = rng.range(1, 80);
    let mut s: String = rng.arbitrary(budget);
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

/// A value for a field Accord reads: `clean` most of the time when the
/// document is `hostile`, always when it is not; the oracle learns what
/// the value calls for. `None` leaves the field out.
pub fn field(
    rng: &mut Rng,
    o: &mut Oracle,
    kind: Field,
    clean: String,
    hostile: bool,
) -> Option<J> {
    if kind == Field::Flag {
        return flag_field(rng, o, hostile);
    }
    if !hostile || rng.chance(0.7) {
        o.over |= over_bound(kind, &clean);
        return Some(J::Str(clean));
    }
    let value = hostile_field(rng, o, kind, clean)?;
    // Whatever made the value (a padded id at the bound, an appended
    // character), its length is judged as Accord judges it.
    if let J::Str(s) = &value {
        o.over |= over_bound(kind, s);
    }
    Some(value)
}

/// Whether Accord refuses `s` in a field of this kind as over its bound:
/// the text's bytes, and for a URL or public identifier the profile in
/// it once parsed (README: ids are bounded).
fn over_bound(kind: Field, s: &str) -> bool {
    use accord_policy_core::linkedin::{normalize_slug, parse_profile_url};
    if s.len() > kind.bound() {
        return true;
    }
    let profile = match kind {
        Field::Url => parse_profile_url(s),
        Field::Slug => normalize_slug(s),
        _ => None,
    };
    profile.is_some_and(|r| accord::text::ref_len(&r) > ID_BOUND)
}

/// A hostile value for a field (see [`field`]); `None` leaves it out.
fn hostile_field(rng: &mut Rng, o: &mut Oracle, kind: Field, clean: String) -> Option<J> {
    let bound = kind.bound();
    Some(match rng.below(16) {
        0 | 1 => {
            if kind.required() {
                o.error("missing_field");
            }
            if rng.chance(0.5) {
                return None;
            }
            J::Null
        }
        2 => {
            if matches!(kind, Field::Id { required: true }) {
                o.error("missing_field");
            }
            J::s(rng.pick(&["", " ", "\t\n", "   "]).to_string())
        }
        3 => {
            o.error("invalid_text");
            let at = rng.below(clean.len() + 1);
            let at = (0..=at)
                .rev()
                .find(|i| clean.is_char_boundary(*i))
                .unwrap_or(0);
            let mut s = clean;
            s.insert(at, '\u{0}');
            J::Str(s)
        }
        // At the bound exactly: accepted as it is.
        4 => J::Str(match kind {
            Field::Url => format!("https://www.linkedin.com/in/{}", fill('a', ID_BOUND)),
            Field::Slug => fill('b', ID_BOUND),
            _ => fill('A', bound),
        }),
        // Over the bound: stored and refused (judged by the caller).
        5 | 6 => J::Str(match kind {
            Field::Url if rng.chance(0.5) => format!(
                "https://www.linkedin.com/in/{}/",
                fill('a', rng.range(ID_BOUND + 1, 1500))
            ),
            Field::Slug if rng.chance(0.5) => fill('b', rng.range(ID_BOUND + 1, TEXT_BOUND)),
            _ => fill('A', rng.range(bound + 1, bound * 3)),
        }),
        7 | 8 => {
            o.error("invalid_field");
            match rng.below(5) {
                0 => J::n(rng.u64() % 100_000),
                1 => J::Bool(rng.chance(0.5)),
                2 => J::Arr(vec![J::Str(clean)]),
                3 => J::obj(vec![("value", J::Str(clean))]),
                _ => J::Num(rng.pick(&HUGE_NUMBERS[2..]).to_string()),
            }
        }
        9 => J::Str(format!(
            "{clean}{}",
            rng.pick(&[
                "é", "🎉", "\u{202e}", "\u{200b}", "\u{0301}", "中文", "\u{1}", "\n", "\u{7f}"
            ])
        )),
        10 => J::Raw(format!("{}\\ud800", rng.pick(&["", "a", "\\n"]))),
        // An escaped surrogate pair: valid JSON, an emoji.
        11 => J::Raw("x\\ud83d\\ude00".into()),
        12 => {
            let s = arbitrary_text(rng, 100);
            if s.contains('\u{0}') {
                o.error("invalid_text");
            } else if matches!(kind, Field::Id { required: true }) && s.trim().is_empty() {
                o.error("missing_field");
            }
            J::Str(s)
        }
        13 if matches!(kind, Field::Url | Field::Slug) => {
            // Percent-encoded bytes in a slug, decoded when it is keyed: a
            // `%00` is a NUL (refused), the others are text.
            let odd = *rng.pick(&[
                "%00",
                "%ff",
                "%2F",
                "%C3%A9",
                "%",
                "%0",
                "%E2%80%AE",
                "%00%00",
            ]);
            if odd.contains("%00") {
                o.error("invalid_text");
            }
            let s = format!("{}{odd}{}", rng.pick(SLUGS), rng.pick(&["", "x", "-2"]));
            J::Str(match kind {
                Field::Url => format!("https://www.linkedin.com/in/{s}/"),
                _ => s,
            })
        }
        14 => J::Str(format!("  {clean}  ")),
        _ => J::Str(clean),
    })
}

/// A flag: a boolean, or a number (0 is false); any other type is
/// refused.
fn flag_field(rng: &mut Rng, o: &mut Oracle, hostile: bool) -> Option<J> {
    if !hostile || rng.chance(0.6) {
        return Some(J::Bool(rng.chance(0.2)));
    }
    Some(match rng.below(9) {
        0 => J::n(1),
        1 => J::n(
            rng.pick(&["2", "-1", "0.5", "0", "1e999", "-0"])
                .to_string(),
        ),
        2 => J::Null,
        3 => return None,
        4 => {
            o.error("invalid_field");
            J::s(rng.pick(&["true", "0", ""]).to_string())
        }
        5 => {
            o.error("invalid_field");
            J::Arr(vec![J::Bool(true)])
        }
        6 => {
            o.error("invalid_field");
            J::obj(vec![])
        }
        _ => J::Bool(rng.chance(0.5)),
    })
}

/// A nested object Accord reads (`sender`, `account_info`), its members
/// judged by `inner`: an object (what `inner` found counts), or
/// (hostile) null, absent or a wrong type (it does not).
fn object(
    rng: &mut Rng,
    o: &mut Oracle,
    inner: Oracle,
    members: Vec<(&str, Option<J>)>,
    hostile: bool,
) -> Option<J> {
    if hostile && rng.chance(0.15) {
        return match rng.below(4) {
            0 => None,
            1 => Some(J::Null),
            _ => {
                o.error("invalid_field");
                Some(match rng.below(3) {
                    0 => J::s("x"),
                    1 => J::Arr(vec![]),
                    _ => J::n(1),
                })
            }
        };
    }
    for code in inner.errors {
        o.error(code);
    }
    o.over |= inner.over;
    Some(J::Obj(
        members
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .collect(),
    ))
}

/// A value for a field Accord does not read: anything goes.
fn unread(rng: &mut Rng, clean: J, hostile: bool) -> J {
    if !hostile || rng.chance(0.8) {
        return clean;
    }
    hostile_value(rng)
}

/// Keys Accord reads at the top level: never used for decoys' content or
/// extra fields (they would change what is read).
const READ_KEYS: &[&str] = &[
    "event",
    "AccountStatus",
    "account_id",
    "user_provider_id",
    "user_full_name",
    "user_public_identifier",
    "user_profile_url",
    "message_id",
    "account_info",
    "sender",
    "timestamp",
    "is_sender",
    "is_group",
];

/// A member id for an accept or a reply: an imported one (matches) or a
/// fresh one (a bridge miss).
fn member(rng: &mut Rng, w: &mut World) -> String {
    let roll = rng.below(100);
    if roll < 30 {
        rng.pick(MEMBERS).to_string()
    } else if roll < 65 && w.members.len() > 0 {
        rng.pick(w.members.all()).clone()
    } else {
        let fresh = w.unique("");
        format!(
            "ACoAAX{}",
            fresh.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        )
    }
}

fn account(rng: &mut Rng, w: &mut World) -> String {
    match rng.below(10) {
        0..=5 => MAIN_ACCOUNT.to_string(),
        6 | 7 => rng.pick(w.provider_accounts.all()).clone(),
        _ => w.unique("unknown-acct-"),
    }
}

const NAMES: &[&str] = &[
    "Julien Crépieux",
    "Anna Berg",
    "李伟",
    "José Núñez",
    "Zoë O'Kafor",
    "",
    "Ole \"Big\" Hansen",
    "محمد",
];

/// A timestamp, well formed or not (Accord falls back to the receipt time).
fn timestamp(rng: &mut Rng) -> String {
    rng.pick(&[
        "2026-07-06T09:43:27.002Z",
        "2026-10-10T14:30:00Z",
        "not a time",
        "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2026-13-45T99:99:99Z",
        "-000001-01-01T00:00:00Z",
        "",
    ])
    .to_string()
}

/// A webhook body and what its answer must be.
pub struct Webhook {
    pub doc: J,
    pub oracle: Oracle,
    /// Which kind it is (for counts).
    pub kind: &'static str,
}

/// A new webhook of any kind; `hostile` documents get hostile values in
/// some fields, decoys and extra members.
pub fn generate(rng: &mut Rng, w: &mut World) -> Webhook {
    let hostile = rng.chance(0.6);
    let mut o = Oracle::default();
    let h = hostile;
    let (kind, mut members): (&'static str, Vec<(String, Option<J>)>) =
        match rng.weighted(&[30, 30, 12, 10, 8]) {
            0 => {
                let slug = rng.pick(SLUGS).to_string();
                let member = member(rng, w);
                let account = account(rng, w);
                let name = rng.pick(NAMES).to_string();
                let members = vec![
                    ("event", Some(J::s("new_relation"))),
                    (
                        "account_id",
                        field(rng, &mut o, Field::Id { required: true }, account, h),
                    ),
                    ("account_type", Some(unread(rng, J::s("LINKEDIN"), h))),
                    ("webhook_name", Some(unread(rng, J::s(""), h))),
                    ("user_full_name", field(rng, &mut o, Field::Text, name, h)),
                    (
                        "user_provider_id",
                        field(rng, &mut o, Field::Id { required: true }, member, h),
                    ),
                    (
                        "user_public_identifier",
                        field(rng, &mut o, Field::Slug, slug.clone(), h),
                    ),
                    (
                        "user_profile_url",
                        field(
                            rng,
                            &mut o,
                            Field::Url,
                            format!("https://www.linkedin.com/in/{slug}/"),
                            h,
                        ),
                    ),
                    (
                        "user_picture_url",
                        Some(unread(rng, J::s("https://media.licdn.com/x"), h)),
                    ),
                ];
                ("new_relation", flat(members))
            }
            1 => {
                let event = if rng.chance(0.85) {
                    "message_received"
                } else {
                    // The other messaging events: only their name is read.
                    rng.pick(&[
                        "message_read",
                        "message_reaction",
                        "message_edited",
                        "message_deleted",
                        "message_delivered",
                    ])
                };
                let reads = event == "message_received";
                // What the fields of the other events call for is never read:
                // whatever they hold, the delivery is stored and ignored.
                let mut unread_oracle = Oracle::default();
                let o = if reads { &mut o } else { &mut unread_oracle };
                let message_id = if rng.chance(0.1) && !w.message_ids.is_empty() {
                    let i = rng.below(w.message_ids.len());
                    w.message_ids[i].clone()
                } else {
                    let id = w.unique("msg-");
                    w.remember_message_id(id.clone());
                    id
                };
                let own = "ACoAAOwnOwnOwnOwn".to_string();
                let sender_id = if rng.chance(0.1) {
                    own.clone()
                } else {
                    member(rng, w)
                };
                let slug = rng.pick(SLUGS).to_string();
                let account = account(rng, w);
                let account_info = {
                    let mut inner = Oracle::default();
                    let user_id = field(rng, &mut inner, Field::Id { required: false }, own, h);
                    let m = vec![
                        ("type", Some(J::s("LINKEDIN"))),
                        ("feature", Some(J::s("classic"))),
                        ("user_id", user_id),
                    ];
                    object(rng, o, inner, m, h)
                };
                let sender = {
                    let mut inner = Oracle::default();
                    let i = &mut inner;
                    let name = rng.pick(NAMES).to_string();
                    let url = format!("https://www.linkedin.com/in/{slug}");
                    let specifics = J::obj(vec![
                        ("provider", J::s("LINKEDIN")),
                        ("member_urn", J::s("urn:li:member:1")),
                        ("network_distance", J::s("DISTANCE_1")),
                    ]);
                    let m = vec![
                        ("attendee_id", Some(unread(rng, J::s("att-1"), h))),
                        (
                            "attendee_provider_id",
                            field(rng, i, Field::Id { required: false }, sender_id, h),
                        ),
                        ("attendee_name", field(rng, i, Field::Text, name, h)),
                        ("attendee_profile_url", field(rng, i, Field::Url, url, h)),
                        ("attendee_specifics", Some(unread(rng, specifics, h))),
                        (
                            "attendee_public_identifier",
                            field(rng, i, Field::Slug, slug, h),
                        ),
                    ];
                    object(rng, o, inner, m, h)
                };
                let time = timestamp(rng);
                let mut members = vec![
                    ("event", Some(J::s(event))),
                    (
                        "account_id",
                        field(rng, o, Field::Id { required: true }, account, h),
                    ),
                    ("account_type", Some(J::s("LINKEDIN"))),
                    ("account_info", account_info),
                    ("webhook_name", Some(J::s("wh"))),
                    ("chat_id", Some(unread(rng, J::s("chat-1"), h))),
                    (
                        "message_id",
                        field(rng, o, Field::Id { required: true }, message_id, h),
                    ),
                    (
                        "message",
                        Some(unread(rng, J::s("Thanks for connecting!"), h)),
                    ),
                    ("timestamp", field(rng, o, Field::Text, time, h)),
                    ("is_sender", field(rng, o, Field::Flag, String::new(), h)),
                    ("sender", sender),
                    ("attendees", Some(J::Arr(vec![]))),
                    ("attachments", Some(unread(rng, J::Arr(vec![]), h))),
                    ("provider_chat_id", Some(J::s("2-abc"))),
                    ("provider_message_id", Some(J::s("2-def"))),
                    ("message_type", Some(J::s("MESSAGE"))),
                    ("is_group", field(rng, o, Field::Flag, String::new(), h)),
                    (
                        "folder",
                        Some(J::Arr(vec![J::s("INBOX"), J::s("INBOX_LINKEDIN_CLASSIC")])),
                    ),
                    ("subject", Some(J::Null)),
                    ("quoted", Some(J::Null)),
                    ("reply_to", Some(J::Null)),
                    ("is_event", Some(J::n(0))),
                    ("chat_pinned", Some(J::n(0))),
                    ("event_type", Some(J::Null)),
                ];
                if event == "message_reaction" {
                    members.push(("reaction", Some(J::s("👍"))));
                }
                ("message", flat(members))
            }
            2 => {
                let account = account(rng, w);
                let message = rng
                    .pick(&[
                        "OK",
                        "CREDENTIALS",
                        "ERROR",
                        "STOPPED",
                        "CONNECTING",
                        "DELETED",
                        "CREATION_SUCCESS",
                        "RECONNECTED",
                        "SYNC_SUCCESS",
                        "PERMISSIONS",
                        "SOMETHING_NEW",
                        "",
                    ])
                    .to_string();
                let inner = vec![
                    (
                        "account_id",
                        field(rng, &mut o, Field::Id { required: true }, account, h),
                    ),
                    ("account_type", Some(J::s("LINKEDIN"))),
                    ("message", field(rng, &mut o, Field::Status, message, h)),
                ];
                let status = if h && rng.chance(0.1) {
                    o.error("invalid_field");
                    Some(
                        rng.pick(&[J::Null, J::s("OK"), J::Arr(vec![]), J::n(3)])
                            .clone(),
                    )
                } else {
                    Some(J::Obj(
                        flat(inner)
                            .into_iter()
                            .filter_map(|(k, v)| Some((k, v?)))
                            .collect(),
                    ))
                };
                let mut members = vec![("AccountStatus", status)];
                if rng.chance(0.1) {
                    // Another event name beside it: the status still counts.
                    members.push(("event", Some(J::s("new_relation"))));
                }
                ("account_status", flat(members))
            }
            3 => {
                // An event Accord does not know, or none: stored, ignored.
                let name = match rng.below(8) {
                    0 => None,
                    1 => Some(J::Null),
                    2 => Some(J::s(fill('e', rng.range(65, 6000)))),
                    3 => Some(J::s(arbitrary_text(rng, 100))),
                    4 => Some(J::s("New_Relation")),
                    5 => Some(J::s(" new_relation")),
                    6 => Some(J::s("unknown")),
                    _ => Some(J::s(
                        rng.pick(&["user_updated", "mail_received", "users.new"])
                            .to_string(),
                    )),
                };
                if let Some(J::Str(s)) = &name
                    && s.contains('\u{0}')
                {
                    o.error("invalid_text");
                }
                let mut members = vec![("event", name)];
                members.push(("account_id", Some(J::s(account(rng, w)))));
                if rng.chance(0.5) {
                    members.push(("message_id", Some(hostile_value(rng))));
                }
                ("unknown", flat(members))
            }
            _ => {
                // A known event whose name or key field is of the wrong type.
                let (key, value, code) = match rng.below(3) {
                    0 => ("event", J::n(5), "invalid_field"),
                    1 => ("event", J::s("new\u{0}relation"), "invalid_text"),
                    _ => ("event", J::Arr(vec![J::s("new_relation")]), "invalid_field"),
                };
                o.error(code);
                let members = vec![
                    (key, Some(value)),
                    ("account_id", Some(J::s(MAIN_ACCOUNT))),
                    ("user_provider_id", Some(J::s(MEMBERS[0]))),
                ];
                ("wrong_event", flat(members))
            }
        };
    if hostile {
        decorate(rng, &mut members);
    }
    let doc = J::Obj(
        members
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect(),
    );
    // Whether it is JSON at all (a lone surrogate, a number out of
    // range, nesting past the parser's limit) is serde_json's to say:
    // the host reads it with the same parser.
    o.json_error = serde_json::from_slice::<serde_json::Value>(&doc.bytes(false)).is_err();
    Webhook {
        doc,
        oracle: o,
        kind,
    }
}

fn flat(members: Vec<(&str, Option<J>)>) -> Vec<(String, Option<J>)> {
    members
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Changes that keep what Accord reads: members in another order, a
/// decoy before a member with the same key (the last one counts), extra
/// members Accord ignores, some deeply nested.
fn decorate(rng: &mut Rng, members: &mut Vec<(String, Option<J>)>) {
    if rng.chance(0.3) {
        for i in (1..members.len()).rev() {
            let j = rng.below(i + 1);
            members.swap(i, j);
        }
    }
    if rng.chance(0.25) && !members.is_empty() {
        let i = rng.below(members.len());
        if members[i].1.is_some() {
            let key = members[i].0.clone();
            members.insert(i, (key, Some(hostile_value(rng))));
        }
    }
    for _ in 0..rng.below(3) {
        let key = if rng.chance(0.5) {
            arbitrary_text(rng, 40)
        } else {
            rng.pick(&[
                "extra",
                "user_picture_url",
                "__proto__",
                "",
                "é",
                "constructor",
            ])
            .to_string()
        };
        if READ_KEYS.contains(&key.as_str()) {
            continue;
        }
        let value = if rng.chance(0.2) {
            // Deep, but under the parser's limit.
            nested(rng.range(20, 100), J::s("deep"), rng.chance(0.5))
        } else {
            hostile_value(rng)
        };
        members.push((key, Some(value)));
    }
}

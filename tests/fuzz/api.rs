//! The API's requests that change state: workspaces, accounts and their
//! status, campaigns, the prospect import (JSON, and CSV sent to it) and
//! campaign actions, each clean or with faults whose answers the README
//! and the OpenAPI document give.

use super::json::J;
use super::mutate::hostile_value;
use super::rng::Rng;
use super::world::World;
use super::{Action, Expect, Faults, Route, Sent, encode};
use serde_json::Value;

/// Stages of [`Faults`].
const AUTH: u8 = 0;
const PATH: u8 = 1;
const PARSE: u8 = 2;
const NUL: u8 = 3;
const TYPES: u8 = 4;
const HANDLER: u8 = 10;

/// The API token header, right most of the time.
pub fn auth(rng: &mut Rng, w: &World, f: &mut Faults) -> Vec<(&'static str, String)> {
    let mut headers = Vec::new();
    match rng.below(100) {
        0 => f.add(AUTH, 401, "unauthorized"),
        1 => {
            f.add(AUTH, 401, "unauthorized");
            headers.push(("authorization", "Bearer wrong-token".to_string()));
        }
        2 => {
            f.add(AUTH, 401, "unauthorized");
            headers.push(("authorization", format!("Basic {}", w.api_token)));
        }
        3 => {
            f.add(AUTH, 401, "unauthorized");
            headers.push(("authorization", format!("Bearer {}x", w.api_token)));
        }
        // The scheme is case-insensitive and spaces around are ignored.
        4 => headers.push(("authorization", format!(" bearer   {} ", w.api_token))),
        _ => headers.push(("authorization", format!("Bearer {}", w.api_token))),
    }
    headers.push(("content-type", content_type(rng)));
    headers
}

/// Any content type: the API reads JSON whatever the header says.
pub fn content_type(rng: &mut Rng) -> String {
    rng.pick(&[
        "application/json",
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "text/csv",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "",
    ])
    .to_string()
}

/// Where a path id points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Known(String),
    Unknown,
    Bad,
}

/// A path segment: a known id, an unknown one, or one the edge refuses
/// (a NUL, over 200 bytes, not UTF-8).
pub fn path_id(rng: &mut Rng, w: &mut World, known: &[String], f: &mut Faults) -> (String, Target) {
    let roll = rng.below(100);
    if roll < 80 && !known.is_empty() {
        let id = rng.pick(known).clone();
        return (encode(id.as_bytes()), Target::Known(id));
    }
    if roll < 92 {
        let id = match rng.below(4) {
            0 => "é".repeat(50),
            1 => "x".repeat(200),
            2 => "..".to_string(),
            _ => w.unique("nope-"),
        };
        return (encode(id.as_bytes()), Target::Unknown);
    }
    f.add(PATH, 400, "invalid_path");
    let raw: Vec<u8> = match rng.below(5) {
        0 => b"a\0b".to_vec(),
        1 => vec![b'A'; rng.range(201, 400)],
        2 => vec![0xff, 0xfe],
        3 => "é".repeat(101).into_bytes(),
        _ => {
            let mut id = known.first().cloned().unwrap_or_default().into_bytes();
            id.push(0);
            id
        }
    };
    (encode(&raw), Target::Bad)
}

/// Adds the faults the body's JSON calls for: not JSON at all; a NUL
/// anywhere (refused before the fields are read, unless `items_alone`).
fn body_faults(body: &[u8], f: &mut Faults, items_alone: bool) {
    match serde_json::from_slice::<Value>(body) {
        Err(_) => f.add(PARSE, 400, "invalid_json"),
        Ok(v) if !items_alone && has_nul(&v) => f.add(NUL, 422, "invalid_text"),
        Ok(_) => {}
    }
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\u{0}'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\u{0}') || has_nul(v)),
        _ => false,
    }
}

/// How a text field is bounded.
#[derive(Debug, Clone, Copy)]
enum Bound {
    /// Free text: characters.
    Chars(usize),
    /// An id: bytes (a webhook's bound on the ids it carries).
    Bytes(usize),
}

/// `clean` padded to exactly `bound`: `é` (two bytes) then `a`.
fn at_bound(clean: &str, bound: Bound) -> String {
    let mut s = clean.to_string();
    match bound {
        Bound::Chars(max) => s.extend(std::iter::repeat_n(
            'é',
            max.saturating_sub(clean.chars().count()),
        )),
        Bound::Bytes(max) => {
            while s.len() + 2 <= max {
                s.push('é');
            }
            while s.len() < max {
                s.push('a');
            }
        }
    }
    s
}

/// A text field the handler trims and bounds: clean, or a fault at
/// `stage` with `code`.
fn text(
    rng: &mut Rng,
    f: &mut Faults,
    clean: String,
    bound: Bound,
    stage: u8,
    code: &'static str,
    hostile: bool,
) -> Option<J> {
    if !hostile || rng.chance(0.75) {
        return Some(J::Str(clean));
    }
    Some(match rng.below(9) {
        0 => {
            f.add(stage, 422, code);
            J::s(rng.pick(&["", "  ", "\t\n"]).to_string())
        }
        1 => {
            f.add(stage, 422, code);
            J::Str(match bound {
                Bound::Chars(max) => "n".repeat(rng.range(max + 1, max * 3)),
                // Fewer characters than the bound, more bytes.
                Bound::Bytes(max) => "é".repeat(rng.range(max / 2 + 1, max)),
            })
        }
        2 => J::Str(at_bound(&clean, bound)),
        3 => {
            f.add(NUL, 422, "invalid_text");
            J::Str(format!("{clean}\u{0}"))
        }
        4 => {
            f.add(TYPES, 400, "invalid_field");
            rng.pick(&[
                J::n(5),
                J::Bool(true),
                J::Arr(vec![]),
                J::obj(vec![]),
                J::Null,
            ])
            .clone()
        }
        5 => {
            f.add(TYPES, 400, "invalid_json");
            return None;
        }
        6 => J::Str(format!("  {clean}  ")),
        7 => J::Str(format!("{clean} 🎉\u{202e}")),
        _ => J::Str(clean),
    })
}

/// A number field bounded to `lo..=hi` by the handler.
fn number(
    rng: &mut Rng,
    f: &mut Faults,
    clean: i64,
    (lo, hi): (i64, i64),
    stage: u8,
    code: &'static str,
    hostile: bool,
) -> Option<J> {
    if !hostile || rng.chance(0.75) {
        return Some(J::n(clean));
    }
    Some(match rng.below(8) {
        0 => {
            f.add(stage, 422, code);
            J::n(lo - 1)
        }
        1 => {
            f.add(stage, 422, code);
            J::n(hi + 1)
        }
        2 => J::n(lo),
        3 => J::n(hi),
        4 => {
            f.add(TYPES, 400, "invalid_field");
            rng.pick(&[J::n("1.5"), J::s("20"), J::Bool(false), J::Arr(vec![])])
                .clone()
        }
        5 => {
            // Out of i64's range, or not an integer.
            f.add(TYPES, 400, "invalid_field");
            J::n(rng.pick(&[
                "18446744073709551615",
                "18446744073709551616",
                "-9223372036854775809",
                "123456789012345678901234567890123456789",
                "1e308",
                "-0.0",
            ]))
        }
        6 => return None,
        _ => J::Null,
    })
}

/// Members Accord does not know: refused (`deny_unknown_fields`).
fn unknown_member(rng: &mut Rng, f: &mut Faults, members: &mut Vec<(String, J)>, hostile: bool) {
    if hostile && rng.chance(0.08) {
        f.add(TYPES, 400, "invalid_json");
        members.push((
            rng.pick(&["extra", "id", "NAME", "name ", "__proto__"])
                .to_string(),
            hostile_value(rng),
        ));
    }
}

fn doc(members: Vec<(&str, Option<J>)>) -> Vec<(String, J)> {
    members
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v?)))
        .collect()
}

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Etc/GMT+12",
];
const BAD_ZONES: &[&str] = &[
    "Mars/Olympus",
    "",
    "UTC+25",
    "europe/nowhere",
    "../../etc/passwd",
];
const STATUSES: &[&str] = &["connected", "disconnected", "restricted", "connecting"];

/// The parts of a request that changes state.
struct Parts {
    family: &'static str,
    target: String,
    members: Vec<(String, J)>,
    route: Route,
    /// An import: text is checked per item, not for the whole request.
    items_alone: bool,
    ok: u16,
    /// An import's per-item rejections, when the request has no fault.
    rejected: Option<Vec<(usize, &'static str)>>,
}

/// A member id nobody used, shaped like LinkedIn's (`ACoAA…`): its
/// member number (characters 5 to 10) is unique, so no two collide when
/// the match policy keys them.
pub fn member_id(w: &mut World) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    w.counter += 1;
    let n = w.counter;
    let digits: String = (0..5)
        .rev()
        .map(|i| B64[((n >> (6 * i)) & 63) as usize] as char)
        .collect();
    format!("ACoAA{digits}AAfz{:x}", w.seed)
}

/// A request that changes state, with its faults.
pub fn generate(rng: &mut Rng, w: &mut World) -> Sent {
    let mut f = Faults::default();
    let headers = auth(rng, w, &mut f);
    let hostile = rng.chance(0.5);
    let parts = match rng.weighted(&[10, 12, 8, 14, 30, 16, 4]) {
        0 => {
            let name = text(
                rng,
                &mut f,
                w.unique("Workspace "),
                Bound::Chars(200),
                HANDLER,
                "invalid_name",
                hostile,
            );
            Parts {
                family: "api-workspace",
                target: "/api/workspaces".into(),
                members: doc(vec![("name", name)]),
                route: Route::CreateWorkspace,
                items_alone: false,
                ok: 201,
                rejected: None,
            }
        }
        1 => account(rng, w, &mut f, hostile),
        2 => account_status(rng, w, &mut f, hostile),
        3 => campaign(rng, w, &mut f, hostile),
        4 => import(rng, w, &mut f, hostile),
        5 => return action(rng, w, f, headers),
        _ => return csv(rng, w, f, headers),
    };
    let mut body = J::Obj(parts.members).bytes(rng.chance(0.3));
    body_faults(&body, &mut f, parts.items_alone);
    let mut expect = f.expect(parts.ok);
    if f.is_empty() {
        expect.rejected = parts.rejected;
    }
    let mut route = parts.route;
    if rng.chance(0.2) {
        super::mutate::bytes(rng, &mut body, b"{\"name\":\"x\"}", 1 << 20);
        expect = Expect::any();
        // Items may be cut, merged or repeated: which were imported is
        // no longer known, only how many.
        if let Route::Import { members, .. } = &mut route {
            members.clear();
        }
    }
    Sent {
        family: parts.family,
        note: String::new(),
        method: "POST",
        target: parts.target,
        headers,
        body,
        expect,
        route,
    }
}

fn account(rng: &mut Rng, w: &mut World, f: &mut Faults, hostile: bool) -> Parts {
    let workspaces = w.workspaces.all().to_vec();
    let (seg, target) = path_id(rng, w, &workspaces, f);
    let provider = if hostile && rng.chance(0.1) && w.provider_accounts.len() > 0 {
        f.add(HANDLER + 20, 409, "account_exists");
        Some(J::Str(rng.pick(w.provider_accounts.all()).clone()))
    } else {
        let fresh = w.unique("fuzz-acct-");
        let code = "invalid_provider_account_id";
        text(rng, f, fresh, Bound::Bytes(200), HANDLER, code, hostile)
    };
    let own = if rng.chance(0.5) {
        let clean = member_id(w);
        Some(match rng.below(if hostile { 8 } else { 4 }) {
            0..=3 => J::Str(clean),
            4 => {
                f.add(HANDLER + 1, 422, "invalid_own_member_id");
                J::Str(format!("{clean}{}", "b".repeat(200)))
            }
            5 => J::Str(at_bound(&clean, Bound::Bytes(200))),
            6 => J::s(rng.pick(&["", "  "]).to_string()),
            _ => {
                f.add(TYPES, 400, "invalid_field");
                J::n(7)
            }
        })
    } else {
        None
    };
    let display = text(
        rng,
        f,
        "Sales – Fuzz".into(),
        Bound::Chars(200),
        HANDLER + 2,
        "invalid_display_name",
        hostile,
    );
    let zone = if hostile && rng.chance(0.1) {
        f.add(HANDLER + 3, 422, "invalid_time_zone");
        J::s(rng.pick(BAD_ZONES).to_string())
    } else {
        J::s(rng.pick(ZONES).to_string())
    };
    let mut members = vec![
        ("provider_account_id", provider),
        ("display_name", display),
        ("time_zone", Some(zone)),
        ("own_member_id", own),
    ];
    let caps = [
        ("daily_invite_cap", "invalid_daily_invite_cap", 20),
        ("weekly_invite_cap", "invalid_weekly_invite_cap", 100),
        ("daily_message_cap", "invalid_daily_message_cap", 50),
        ("weekly_message_cap", "invalid_weekly_message_cap", 200),
    ];
    for (i, (name, code, clean)) in caps.into_iter().enumerate() {
        if rng.chance(0.5) {
            let v = number(
                rng,
                f,
                clean,
                (0, 100_000),
                HANDLER + 4 + i as u8,
                code,
                hostile,
            );
            members.push((name, v));
        }
    }
    if rng.chance(0.5) {
        let v = number(
            rng,
            f,
            90,
            (0, 86_400),
            HANDLER + 8,
            "invalid_min_spacing_seconds",
            hostile,
        );
        members.push(("min_spacing_seconds", v));
    }
    if rng.chance(0.5) {
        let status = if hostile && rng.chance(0.2) {
            f.add(HANDLER + 9, 422, "invalid_status");
            J::s(rng.pick(&["bogus", "", "CONNECTED", "deleted"]).to_string())
        } else {
            J::s(rng.pick(STATUSES).to_string())
        };
        members.push(("status", Some(status)));
    }
    if target == Target::Unknown {
        f.add(HANDLER + 15, 404, "not_found");
    }
    let mut members = doc(members);
    unknown_member(rng, f, &mut members, hostile);
    Parts {
        family: "api-account",
        target: format!("/api/workspaces/{seg}/accounts"),
        members,
        route: Route::CreateAccount,
        items_alone: false,
        ok: 201,
        rejected: None,
    }
}

fn account_status(rng: &mut Rng, w: &mut World, f: &mut Faults, hostile: bool) -> Parts {
    let accounts: Vec<String> = w.accounts.all().iter().map(|(a, _)| a.clone()).collect();
    let (seg, target) = path_id(rng, w, &accounts, f);
    let status = match rng.below(if hostile { 10 } else { 5 }) {
        0..=4 => Some(J::s(rng.pick(STATUSES).to_string())),
        5 => Some(J::Str(format!(" {} ", rng.pick(STATUSES)))),
        6 => {
            f.add(HANDLER, 422, "invalid_status");
            Some(J::s(
                rng.pick(&["bogus", "", "OK", "Connected", "connected\u{1}"])
                    .to_string(),
            ))
        }
        7 => {
            f.add(NUL, 422, "invalid_text");
            Some(J::s("connected\u{0}"))
        }
        8 => {
            f.add(TYPES, 400, "invalid_field");
            Some(rng.pick(&[J::n(1), J::Null, J::Arr(vec![])]).clone())
        }
        _ => {
            f.add(TYPES, 400, "invalid_json");
            None
        }
    };
    if target == Target::Unknown {
        f.add(HANDLER + 1, 404, "not_found");
    }
    let mut members = doc(vec![("status", status)]);
    unknown_member(rng, f, &mut members, hostile);
    Parts {
        family: "api-account-status",
        target: format!("/api/accounts/{seg}/status"),
        members,
        route: Route::Other,
        items_alone: false,
        ok: 200,
        rejected: None,
    }
}

fn action(
    rng: &mut Rng,
    w: &mut World,
    mut f: Faults,
    headers: Vec<(&'static str, String)>,
) -> Sent {
    let action = *rng.pick(&Action::ALL);
    // The first campaign keeps running: accepts keep matching.
    let campaigns: Vec<String> = w.campaigns.all().iter().skip(1).cloned().collect();
    let (seg, target) = path_id(rng, w, &campaigns, &mut f);
    match &target {
        Target::Unknown => f.add(HANDLER, 404, "not_found"),
        Target::Known(id) => {
            if let Some(c) = w.campaign.get(id) {
                if !action.from().contains(&c.status) {
                    f.add(HANDLER + 1, 409, "invalid_transition");
                } else if matches!(action, Action::Start | Action::Resume) && !c.usable {
                    f.add(HANDLER + 2, 409, "no_prospects_with_linkedin_url");
                }
            }
        }
        Target::Bad => {}
    }
    let campaign = match target {
        Target::Known(id) => id,
        _ => String::new(),
    };
    // Actions read no body: whatever comes is ignored.
    let body = if rng.chance(0.1) {
        hostile_value(rng).bytes(false)
    } else {
        Vec::new()
    };
    Sent {
        family: "api-action",
        note: String::new(),
        method: "POST",
        target: format!("/api/campaigns/{seg}/{}", action.name()),
        headers,
        body,
        expect: f.expect(200),
        route: Route::Action { campaign, action },
    }
}

/// A step list: valid, or with one fault.
fn steps(rng: &mut Rng, f: &mut Faults, hostile: bool) -> J {
    let invite = |note: Option<String>| {
        let mut m = vec![("type", J::s("send_invite"))];
        if let Some(n) = note {
            m.push(("note", J::Str(n)));
        }
        J::obj(m)
    };
    let wait_days = rng.range(1, 366);
    let mut steps = vec![
        invite(rng.chance(0.5).then(|| "Hi!".to_string())),
        J::obj(vec![
            ("type", J::s("wait_accept")),
            ("days", J::n(wait_days)),
        ]),
        J::obj(vec![("type", J::s("condition")), ("if_accepted", J::n(3))]),
        J::obj(vec![
            ("type", J::s("send_message")),
            ("text", J::s("Thanks for connecting!")),
        ]),
        J::obj(vec![("type", J::s("wait")), ("days", J::n(3))]),
        J::obj(vec![
            ("type", J::s("send_message")),
            ("text", J::s("Following up")),
        ]),
    ];
    if !hostile || rng.chance(0.6) {
        if rng.chance(0.3) {
            steps.truncate(1);
        }
        return J::Arr(steps);
    }
    let bad = |f: &mut Faults| f.add(HANDLER + 1, 422, "invalid_steps");
    match rng.below(12) {
        0 => {
            bad(f);
            steps.clear();
        }
        1 => {
            bad(f);
            steps = vec![steps[0].clone(); 51];
        }
        2 => steps = vec![steps[0].clone(); 50],
        3 => {
            bad(f);
            steps.push(J::obj(vec![("type", J::s("fly"))]));
        }
        4 => {
            bad(f);
            steps[2] = J::obj(vec![("type", J::s("condition")), ("if_accepted", J::n(1))]);
        }
        5 => {
            bad(f);
            steps[0] = invite(Some("n".repeat(301)));
        }
        6 => steps[0] = invite(Some("é".repeat(300))),
        7 => {
            bad(f);
            steps[3] = J::obj(vec![("type", J::s("send_message")), ("text", J::s(""))]);
        }
        8 => {
            bad(f);
            let days = rng
                .pick(&[
                    J::n(0),
                    J::n(366),
                    J::n(-1),
                    J::s("3"),
                    J::n("1.5"),
                    J::n("4294967296"),
                ])
                .clone();
            steps[4] = J::obj(vec![("type", J::s("wait")), ("days", days)]);
        }
        9 => {
            bad(f);
            steps[4] = J::obj(vec![
                ("type", J::s("wait")),
                ("days", J::n(3)),
                ("extra", J::n(1)),
            ]);
        }
        10 => {
            f.add(TYPES, 400, "invalid_field");
            return rng
                .pick(&[J::obj(vec![]), J::s("steps"), J::n(1), J::Null])
                .clone();
        }
        _ => {
            bad(f);
            steps[3] = J::obj(vec![
                ("type", J::s("send_message")),
                ("text", J::s("m".repeat(8001))),
            ]);
        }
    }
    J::Arr(steps)
}

fn campaign(rng: &mut Rng, w: &mut World, f: &mut Faults, hostile: bool) -> Parts {
    let pairs = w.accounts.all().to_vec();
    let (account, workspace) = rng.pick(&pairs).clone();
    let (seg, target) = path_id(rng, w, std::slice::from_ref(&workspace), f);
    let name = text(
        rng,
        f,
        w.unique("Campaign "),
        Bound::Chars(200),
        HANDLER,
        "invalid_name",
        hostile,
    );
    let steps = steps(rng, f, hostile);
    if target == Target::Unknown {
        f.add(HANDLER + 2, 404, "not_found");
    }
    let account = if hostile && rng.chance(0.1) {
        // Another workspace's account, or none.
        f.add(HANDLER + 3, 422, "invalid_linkedin_account_id");
        match pairs.iter().find(|(_, ws)| *ws != workspace) {
            Some((other, _)) if rng.chance(0.5) => other.clone(),
            _ => w.unique("no-such-account-"),
        }
    } else {
        account
    };
    let mut members = vec![
        ("name", name),
        ("linkedin_account_id", Some(J::Str(account))),
        ("steps", Some(steps)),
    ];
    if rng.chance(0.4) {
        let zone = if hostile && rng.chance(0.2) {
            f.add(HANDLER + 4, 422, "invalid_time_zone");
            rng.pick(BAD_ZONES).to_string()
        } else {
            rng.pick(ZONES).to_string()
        };
        members.push(("time_zone", Some(J::Str(zone))));
    }
    if rng.chance(0.5) {
        members.push(("window", Some(window(rng, f, hostile))));
    }
    let mut members = doc(members);
    unknown_member(rng, f, &mut members, hostile);
    Parts {
        family: "api-campaign",
        target: format!("/api/workspaces/{seg}/campaigns"),
        members,
        route: Route::CreateCampaign,
        items_alone: false,
        ok: 201,
        rejected: None,
    }
}

/// A sending window: valid, or with one fault.
fn window(rng: &mut Rng, f: &mut Faults, hostile: bool) -> J {
    let (mut start, mut end) = (9 * 60, 17 * 60);
    let mut days = J::Arr((1..=5).map(J::n).collect());
    let mut extra = None;
    if hostile && rng.chance(0.4) {
        let bad = |f: &mut Faults| f.add(HANDLER + 5, 422, "invalid_window");
        match rng.below(7) {
            0 => {
                bad(f);
                start = 1440;
            }
            1 => {
                bad(f);
                end = start;
            }
            2 => {
                bad(f);
                days = J::Arr(vec![J::n(*rng.pick(&[0, 8, -1]))]);
            }
            3 => {
                bad(f);
                days = J::Arr(vec![]);
            }
            4 => {
                f.add(TYPES, 400, "invalid_field");
                days = J::Arr(vec![J::s("1")]);
            }
            5 => {
                f.add(TYPES, 400, "invalid_json");
                extra = Some(("tz", J::s("UTC")));
            }
            _ => {
                (start, end) = (0, 1440);
                days = J::Arr((1..=7).chain(1..=7).map(J::n).collect());
            }
        }
    }
    let mut members = vec![
        ("start_minute", J::n(start)),
        ("end_minute", J::n(end)),
        ("days", days),
    ];
    members.extend(extra);
    J::obj(members)
}

/// One hostile import item: its member id when it is imported, or the
/// rejection it calls for.
fn item(
    rng: &mut Rng,
    w: &mut World,
    earlier: &[Option<String>],
    enrolled: &[String],
) -> (J, Result<Option<String>, &'static str>) {
    let (clean_doc, member, slug) = item_clean(w);
    let with = |key: &str, value: J| {
        let J::Obj(mut m) = clean_doc.clone() else {
            return J::Null;
        };
        m.retain(|(k, _)| k != key);
        m.push((key.to_string(), value));
        J::Obj(m)
    };
    let url = |s: String| J::Str(format!("https://www.linkedin.com/in/{s}"));
    match rng.below(21) {
        0 => (with("full_name", J::s("Bad\u{0}Name")), Err("invalid_text")),
        1 => (with("member_id", J::s("ACoAA\u{0}x")), Err("invalid_text")),
        2 => {
            let long = format!("ACoAA{}", "b".repeat(rng.range(196, 400)));
            (with("member_id", J::Str(long)), Err("field_too_long"))
        }
        3 => {
            let long = "f".repeat(rng.range(2049, 4000));
            (with("full_name", J::Str(long)), Err("field_too_long"))
        }
        4 => {
            let long = "d".repeat(rng.range(201, 600));
            (
                with("public_identifier", J::Str(long)),
                Err("field_too_long"),
            )
        }
        5 => {
            let long = "c".repeat(rng.range(201, 1000));
            (with("profile_url", url(long)), Err("field_too_long"))
        }
        6 => (
            J::obj(vec![("full_name", J::s("Nobody"))]),
            Err("missing_identifier"),
        ),
        7 => (J::obj(vec![]), Err("missing_identifier")),
        8 => (
            J::obj(vec![("member_id", J::s("   "))]),
            Err("missing_identifier"),
        ),
        9 => {
            let bad = rng.pick(&[
                "https://example.com/in/x",
                "not a url",
                "https://www.linkedin.com/company/acme",
            ]);
            (
                with("profile_url", J::s(bad.to_string())),
                Err("invalid_profile_url"),
            )
        }
        10 => match earlier.iter().flatten().next() {
            Some(m) => (
                J::obj(vec![("member_id", J::s(m.clone()))]),
                Err("duplicate_prospect"),
            ),
            None => (clean_doc, Ok(Some(member))),
        },
        11 => match enrolled.first() {
            Some(m) => (
                J::obj(vec![("member_id", J::s(m.clone()))]),
                Err("duplicate_prospect"),
            ),
            None => (clean_doc, Ok(Some(member))),
        },
        // Exactly at the bounds: imported.
        12 => {
            let at = format!("{member}{}", "b".repeat(200 - member.len()));
            (with("member_id", J::Str(at.clone())), Ok(Some(at)))
        }
        13 => (with("full_name", J::s("é".repeat(1024))), Ok(Some(member))),
        14 => (
            with(
                "profile_url",
                url(format!("{slug}{}", "a".repeat(200 - slug.len()))),
            ),
            Ok(Some(member)),
        ),
        15 => {
            let only = J::obj(vec![
                ("member_id", J::s(member.clone())),
                ("full_name", J::Null),
                ("profile_url", J::Null),
            ]);
            (only, Ok(Some(member)))
        }
        17 => {
            // `%00` is a NUL once the slug is decoded to be keyed.
            let (key, value) = match rng.below(3) {
                0 => ("profile_url", url(format!("{slug}%00"))),
                1 => ("public_identifier", J::Str(format!("a%00{slug}"))),
                _ => ("sales_nav_lead_url", url(format!("%00{slug}"))),
            };
            (with(key, value), Err("invalid_text"))
        }
        16 => {
            // A Sales Navigator URL only: imported, with no member id.
            let lead = format!("ACwAA{}", &member[5..]);
            let only = J::obj(vec![(
                "sales_nav_lead_url",
                J::Str(format!(
                    "https://www.linkedin.com/sales/lead/{lead},NAME_SEARCH,x"
                )),
            )]);
            (only, Ok(None))
        }
        _ => (clean_doc, Ok(Some(member))),
    }
}

/// A clean import item with a member id and a profile URL nobody used;
/// returns it, its member id and its slug.
pub fn item_clean(w: &mut World) -> (J, String, String) {
    let member = member_id(w);
    let slug = w.unique("fz-");
    let j = J::obj(vec![
        ("full_name", J::s("Fuzz Prospect")),
        ("member_id", J::s(member.clone())),
        (
            "profile_url",
            J::Str(format!("https://www.linkedin.com/in/{slug}/")),
        ),
    ]);
    (j, member, slug)
}

fn import(rng: &mut Rng, w: &mut World, f: &mut Faults, hostile: bool) -> Parts {
    let campaigns = w.campaigns.all().to_vec();
    let (seg, target) = path_id(rng, w, &campaigns, f);
    let model = match &target {
        Target::Known(id) => w.campaign.get(id).cloned(),
        _ => None,
    };
    let enrolled: Vec<String> = model
        .as_ref()
        .map(|c| c.members.iter().cloned().collect())
        .unwrap_or_default();
    let n = match rng.below(100) {
        0 if hostile => 0,
        1 if hostile => 5001,
        2..=5 => rng.range(20, 200),
        _ => rng.range(1, 8),
    };
    let mut items = Vec::with_capacity(n);
    let mut members: Vec<Option<String>> = Vec::with_capacity(n);
    let mut rejected = Vec::new();
    for i in 0..n {
        if n > 5000 {
            // Over the item limit: refused before any is read.
            items.push(J::obj(vec![("member_id", J::Str(format!("ACoAAbulk{i}")))]));
            members.push(None);
            continue;
        }
        let (j, outcome) = if hostile && rng.chance(0.4) {
            item(rng, w, &members, &enrolled)
        } else {
            let (j, m, _) = item_clean(w);
            (j, Ok(Some(m)))
        };
        match outcome {
            Ok(member) => members.push(member),
            Err(code) => {
                rejected.push((i, code));
                members.push(None);
            }
        }
        items.push(j);
    }
    if hostile && rng.chance(0.1) && !items.is_empty() {
        let i = rng.below(items.len());
        let (code, bad) = match rng.below(4) {
            0 => ("invalid_field", J::obj(vec![("member_id", J::n(5))])),
            1 => ("invalid_field", J::s("ACoAAitem")),
            2 => (
                "invalid_json",
                J::obj(vec![
                    ("member_id", J::s("ACoAAx1234567890")),
                    ("linkedin", J::s("x")),
                ]),
            ),
            _ => ("invalid_field", J::obj(vec![("full_name", J::Arr(vec![]))])),
        };
        f.add(TYPES, 400, code);
        items[i] = bad;
    }
    let list = if hostile && rng.chance(0.05) {
        f.add(TYPES, 400, "invalid_field");
        rng.pick(&[J::obj(vec![]), J::s("a,b"), J::n(1)]).clone()
    } else {
        J::Arr(items)
    };
    if n == 0 || n > 5000 {
        f.add(HANDLER, 422, "invalid_prospects");
    }
    match (&target, &model) {
        (Target::Unknown, _) => f.add(HANDLER + 1, 404, "not_found"),
        (Target::Known(_), Some(c)) if matches!(c.status, "stopped" | "completed") => {
            f.add(HANDLER + 2, 409, "campaign_closed")
        }
        _ => {}
    }
    let mut doc_members = vec![("prospects".to_string(), list)];
    unknown_member(rng, f, &mut doc_members, hostile);
    let campaign = match target {
        Target::Known(id) => id,
        _ => String::new(),
    };
    Parts {
        family: "api-import",
        target: format!("/api/campaigns/{seg}/prospects"),
        members: doc_members,
        route: Route::Import { campaign, members },
        items_alone: true,
        ok: 200,
        rejected: Some(rejected),
    }
}

/// CSV sent to the import: Accord imports JSON only, so it is refused
/// as `invalid_json` whatever its content type says.
fn csv(
    rng: &mut Rng,
    w: &mut World,
    mut f: Faults,
    mut headers: Vec<(&'static str, String)>,
) -> Sent {
    let campaigns = w.campaigns.all().to_vec();
    let (seg, _) = path_id(rng, w, &campaigns, &mut f);
    headers.retain(|(k, _)| *k != "content-type");
    let content_type = rng.pick(&["text/csv", "text/csv; charset=utf-8", "application/json"]);
    headers.push(("content-type", content_type.to_string()));
    let mut body = String::from("full_name,member_id,profile_url\n");
    for _ in 0..rng.range(0, 6) {
        let (_, member, slug) = item_clean(w);
        let name = rng.pick(&["Fuzz", "\"Quoted, Name\"", "Nul\u{0}Name", "", "é🎉"]);
        body.push_str(&format!(
            "{name},{member},https://www.linkedin.com/in/{slug}/\n"
        ));
    }
    let mut body = body.into_bytes();
    if rng.chance(0.3) {
        super::mutate::bytes(rng, &mut body, b"a,b\n1,2\n", 1 << 20);
    }
    body_faults(&body, &mut f, true);
    let expect = if f.is_empty() {
        // Mutated into JSON: whatever the rules say.
        Expect::any()
    } else {
        f.expect(400)
    };
    Sent {
        family: "api-import-csv",
        note: String::new(),
        method: "POST",
        target: format!("/api/campaigns/{seg}/prospects"),
        headers,
        body,
        expect,
        route: Route::Import {
            campaign: String::new(),
            members: Vec::new(),
        },
    }
}

//! Mutations: of a body's bytes (flips, interesting bytes, deletions,
//! duplications, insertions of tokens, truncation, splicing with another
//! input, invalid UTF-8, NULs) and of a JSON tree (a node's type swapped,
//! deep nesting, huge numbers, repeated keys, NULs, long strings).

use super::json::{J, nested};
use super::rng::Rng;

/// Tokens worth inserting into JSON text.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "\\",
    "null",
    "true",
    "false",
    "0",
    "-0",
    "1e999",
    "-1e999",
    "1.5e-400",
    "18446744073709551616",
    "-9223372036854775809",
    "123456789012345678901234567890",
    "\\u0000",
    "\\ud800",
    "\\udc00",
    "\\ud83d\\ude00",
    "\\x41",
    "\\",
    "\"event\"",
    "\"new_relation\"",
    "\"message_received\"",
    "\"AccountStatus\"",
    "\"account_id\"",
    "\"user_provider_id\"",
    "\"message_id\"",
    "\"sender\"",
    "\"prospects\"",
    "\"name\"",
    "\"steps\"",
    "%00",
    "%ff",
    "%2F",
    "\u{feff}",
    "\u{202e}",
    "\u{0301}",
    "🎉",
    "\r\n",
    "\t",
    " ",
    "/*",
    "//",
    "NaN",
    "Infinity",
    "'",
];

/// Bytes worth writing over another.
const INTERESTING: &[u8] = &[
    0x00, 0xff, 0xfe, 0xc0, 0xc1, 0xed, 0xf4, 0xf5, 0x80, 0xbf, b'"', b'\\', b'{', b'}', b'[',
    b']', b':', b',', b'0', b'-', b'e', b' ', b'\n', 0x7f, 0x1f,
];

/// Invalid or odd UTF-8 sequences.
const BAD_UTF8: &[&[u8]] = &[
    b"\xff",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xe2\x82",
    b"\xef\xbb\xbf",
    b"\x00",
];

/// Applies 1 to 4 byte-level mutations to `body`; `other` is another
/// input to splice with. Keeps the body under `cap` bytes.
pub fn bytes(rng: &mut Rng, body: &mut Vec<u8>, other: &[u8], cap: usize) {
    for _ in 0..rng.range(1, 5) {
        let len = body.len();
        let at = rng.below(len + 1);
        match rng.below(12) {
            0 if len > 0 => {
                let i = rng.below(len);
                body[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                body[i] = *rng.pick(INTERESTING);
            }
            2 if len > 0 => {
                let end = (at + rng.range(1, 16)).min(len);
                body.drain(at.min(end)..end);
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + rng.range(1, 64)).min(len);
                let chunk = body[start..end].to_vec();
                let at = rng.below(body.len() + 1);
                body.splice(at..at, chunk);
            }
            4 => {
                let token = rng.pick(TOKENS).as_bytes().to_vec();
                body.splice(at..at, token);
            }
            5 => body.truncate(at),
            6 if !other.is_empty() => {
                let from = rng.below(other.len());
                body.truncate(at);
                body.extend_from_slice(&other[from..]);
            }
            7 => {
                let seq = rng.pick(BAD_UTF8).to_vec();
                body.splice(at..at, seq);
            }
            8 => {
                let n = rng.range(1, 8);
                let random = rng.bytes(n);
                body.splice(at..at, random);
            }
            9 if len > 1 => {
                // Swap two ranges' first bytes: reorders tokens.
                let (a, b) = (rng.below(len), rng.below(len));
                body.swap(a, b);
            }
            10 => {
                // A whitespace run.
                let n = rng.range(1, 64);
                let ws = vec![*rng.pick(b" \n\t\r"); n];
                body.splice(at..at, ws);
            }
            _ => {
                // Repeat the last member of an object: a repeated key.
                if let Some(comma) = body.iter().rposition(|b| *b == b',') {
                    let end = body.iter().rposition(|b| *b == b'}').unwrap_or(len);
                    if comma < end {
                        let member = body[comma..end].to_vec();
                        body.splice(end..end, member);
                    }
                }
            }
        }
        if body.len() > cap {
            body.truncate(cap);
        }
    }
}

/// A hostile stand-in for a value of any type.
pub fn hostile_value(rng: &mut Rng) -> J {
    match rng.below(14) {
        0 => J::Null,
        1 => J::Bool(rng.chance(0.5)),
        2 => J::Num(rng.pick(HUGE_NUMBERS).to_string()),
        3 => J::n(rng.u64() as i64),
        4 => J::s(""),
        5 => J::s("a\u{0}b"),
        6 => J::s("x".repeat(rng.range(200, 6000))),
        7 => J::Arr(vec![]),
        8 => J::Obj(vec![]),
        9 => nested(rng.range(1, 200), J::Null, rng.chance(0.5)),
        10 => {
            let budget = rng.range(1, 64);
            J::s(rng.arbitrary::<String>(budget))
        }
        11 => J::Arr((0..rng.range(1, 8)).map(|_| J::n(rng.below(9))).collect()),
        12 => J::obj(vec![("x", J::s("y")), ("x", J::n(1))]),
        _ => J::s(" \t\n "),
    }
}

/// Numbers a parser may choke on.
pub const HUGE_NUMBERS: &[&str] = &[
    "1e999",
    "-1e999",
    "1e308",
    "1.7976931348623157e309",
    "5e-324",
    "1e-400",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "123456789012345678901234567890123456789",
    "-0",
    "0.0000000000000000000000000000001",
    "1E+2",
];

/// One structural mutation of `doc`: a node's type swapped, nested,
/// repeated, emptied or replaced by hostile text.
pub fn tree(rng: &mut Rng, doc: &mut J) {
    let n = doc.count();
    let pick = rng.below(n);
    let Some(node) = doc.nth_mut(pick) else {
        return;
    };
    match rng.below(7) {
        0 | 1 => *node = hostile_value(rng),
        2 => {
            let inner = std::mem::replace(node, J::Null);
            *node = nested(rng.range(1, 140), inner, rng.chance(0.5));
        }
        3 => {
            if let J::Obj(members) = node
                && !members.is_empty()
            {
                let i = rng.below(members.len());
                let (k, _) = members[i].clone();
                let decoy = hostile_value(rng);
                let at = rng.below(members.len() + 1);
                members.insert(at, (k, decoy));
            } else {
                *node = hostile_value(rng);
            }
        }
        4 => {
            if let J::Obj(members) = node
                && !members.is_empty()
            {
                let i = rng.below(members.len());
                members.remove(i);
            }
        }
        5 => {
            if let J::Str(s) = node {
                let at = rng.below(s.len() + 1);
                let at = (0..=at).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
                let piece = *rng.pick(&["\u{0}", "\u{1}", "%00", "\u{202e}", "\u{fffd}"]);
                s.insert_str(at, piece);
            } else {
                *node = J::Raw(
                    rng.pick(&["\\ud800", "\\x", "\\u00", "\\udc00x"])
                        .to_string(),
                );
            }
        }
        _ => {
            if let J::Obj(members) = node {
                let budget = rng.range(1, 24);
                let key = rng.arbitrary::<String>(budget);
                members.push((key, hostile_value(rng)));
            } else if let J::Arr(items) = node {
                items.push(hostile_value(rng));
            } else {
                *node = J::Arr(vec![std::mem::replace(node, J::Null)]);
            }
        }
    }
}

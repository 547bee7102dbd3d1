//! A seeded fuzzer of Accord's HTTP edge that runs on stable Rust: it
//! drives the real router (`accord::http::router`, every layer `accord
//! serve` has but the socket) on SQLite or PostgreSQL with webhooks of
//! every kind, the API's JSON bodies, the prospect import (JSON, and CSV
//! sent to it) and campaign actions, generated from the documented
//! shapes and mutated (bytes flipped, cut, spliced; types swapped; deep
//! nesting, huge numbers, repeated keys, invalid UTF-8, NULs, long
//! strings), plus the hostile corpus mutated. For every input: no panic,
//! no 5xx, every refusal the JSON error body with a documented code, and
//! the answer the documented rules give where the input is known; at the
//! end the tables hold exactly what the accepted requests added and the
//! inbox exactly the deliveries answered 200 as new.
//!
//! Used by `tests/all/fuzz.rs` (a short run on both databases) and
//! `host/examples/fuzz_edge.rs` (the long recorded runs, docs/FUZZING.md).

pub mod api;
pub mod check;
pub mod corpus;
pub mod json;
pub mod mutate;
pub mod other;
pub mod raw;
pub mod rng;
pub mod run;
pub mod webhook;
pub mod world;

pub use run::{Database, Options, run_blocking};

/// One request the fuzzer sends, and what it knows of the answer.
#[derive(Debug, Clone)]
pub struct Sent {
    /// What generated it (for the report's counts).
    pub family: &'static str,
    /// More about where it came from (a corpus file's name).
    pub note: String,
    pub method: &'static str,
    /// Path and query, percent-encoded.
    pub target: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub expect: Expect,
    pub route: Route,
}

/// What an answer must be, as far as the generator knows (an empty list
/// allows anything the general rules allow).
#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub statuses: Vec<u16>,
    /// Codes a refusal may carry.
    pub codes: Vec<&'static str>,
    /// A webhook answered 200: whether it is refused.
    pub refused: Option<bool>,
    /// A webhook answered 200: whether it is a duplicate.
    pub duplicate: Option<bool>,
    /// An import answered 200: its per-item rejections, exactly.
    pub rejected: Option<Vec<(usize, &'static str)>>,
}

impl Expect {
    pub fn any() -> Expect {
        Expect::default()
    }

    pub fn status(status: u16) -> Expect {
        Expect {
            statuses: vec![status],
            ..Expect::default()
        }
    }

    pub fn refusal(status: u16, code: &'static str) -> Expect {
        Expect {
            statuses: vec![status],
            codes: vec![code],
            ..Expect::default()
        }
    }
}

/// What a request does if it is accepted: how the model learns from it.
#[derive(Debug, Clone)]
pub enum Route {
    Webhook,
    CreateWorkspace,
    CreateAccount,
    CreateCampaign,
    /// `members[i]`: the member id of item `i`, if it has one.
    Import {
        campaign: String,
        members: Vec<Option<String>>,
    },
    Action {
        campaign: String,
        action: Action,
    },
    /// Reads and requests that change nothing the model counts.
    Other,
}

/// A campaign action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Pause,
    Resume,
    Stop,
}

impl Action {
    pub const ALL: [Action; 4] = [Action::Start, Action::Pause, Action::Resume, Action::Stop];

    pub fn name(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Stop => "stop",
        }
    }

    /// The statuses it moves a campaign from (README: the lifecycle).
    pub fn from(self) -> &'static [&'static str] {
        match self {
            Action::Start => &["draft"],
            Action::Pause => &["running"],
            Action::Resume => &["paused"],
            Action::Stop => &["draft", "running", "paused"],
        }
    }

    pub fn to(self) -> &'static str {
        match self {
            Action::Start | Action::Resume => "running",
            Action::Pause => "paused",
            Action::Stop => "stopped",
        }
    }
}

/// Faults put into a request, each at the stage that detects it: the
/// answer is the earliest stage's refusal (any of that stage's codes),
/// or `ok` when there is none.
#[derive(Debug, Clone, Default)]
pub struct Faults(Vec<(u8, u16, &'static str)>);

impl Faults {
    /// Stages: 0 the API token, 1 the path, 2 the body's JSON (NULs
    /// first on the API), 3 its types, 10.. the handler's checks in
    /// order.
    pub fn add(&mut self, stage: u8, status: u16, code: &'static str) {
        self.0.push((stage, status, code));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn expect(&self, ok: u16) -> Expect {
        let Some(first) = self.0.iter().map(|f| f.0).min() else {
            return Expect::status(ok);
        };
        let mut e = Expect::default();
        for (stage, status, code) in &self.0 {
            if *stage == first {
                if !e.statuses.contains(status) {
                    e.statuses.push(*status);
                }
                if !e.codes.contains(code) {
                    e.codes.push(code);
                }
            }
        }
        e
    }
}

/// Percent-encodes a path segment or query value (every byte but the
/// unreserved ones).
pub fn encode(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len() * 3);
    for &b in raw {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

//! The hostile corpus (tests/corpus/hostile) as seeds: sent as they are
//! (their answers pinned in `expected.txt`) or mutated.

use super::api::{auth, content_type};
use super::json::J;
use super::rng::Rng;
use super::world::World;
use super::{Expect, Faults, Route, Sent};
use serde_json::Value;
use std::path::Path;

/// One corpus file.
#[derive(Debug, Clone)]
pub struct Seed {
    pub name: String,
    pub body: Vec<u8>,
    /// Its pinned answer: status and code.
    pub expect: Option<(u16, Option<String>)>,
}

/// The corpus's bodies, by where they are sent.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    pub webhooks: Vec<Seed>,
    pub workspaces: Vec<Seed>,
    pub accounts: Vec<Seed>,
    pub imports: Vec<Seed>,
}

impl Corpus {
    /// Reads the corpus under `root` (tests/corpus/hostile).
    pub fn load(root: &Path) -> std::io::Result<Corpus> {
        let expected = std::fs::read_to_string(root.join("expected.txt"))?;
        let pinned = |name: &str| {
            expected.lines().find_map(|line| {
                let mut parts = line.split(' ');
                if parts.next()? != name {
                    return None;
                }
                let status = parts.next()?.parse().ok()?;
                let code = parts.next().filter(|c| *c != "-").map(str::to_string);
                Some((status, code))
            })
        };
        let dir = |sub: &str| -> std::io::Result<Vec<Seed>> {
            let mut seeds = Vec::new();
            let mut paths: Vec<_> = std::fs::read_dir(root.join(sub))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            paths.sort();
            for path in paths {
                let name = format!(
                    "{sub}/{}",
                    path.file_name().unwrap_or_default().to_string_lossy()
                );
                seeds.push(Seed {
                    expect: pinned(&name),
                    body: std::fs::read(&path)?,
                    name,
                });
            }
            Ok(seeds)
        };
        Ok(Corpus {
            webhooks: dir("webhook")?,
            workspaces: dir("api-workspaces")?,
            accounts: dir("api-accounts")?,
            imports: dir("api-import")?,
        })
    }

    /// Every body, for splicing.
    pub fn any<'a>(&'a self, rng: &mut Rng) -> &'a [u8] {
        let all = [
            &self.webhooks,
            &self.workspaces,
            &self.accounts,
            &self.imports,
        ];
        let set = rng.pick(&all);
        if set.is_empty() {
            return b"{}";
        }
        &rng.pick(set).body
    }
}

/// A serde value as the fuzzer's tree.
pub fn tree(v: &Value) -> J {
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => J::n(n),
        Value::String(s) => J::Str(s.clone()),
        Value::Array(items) => J::Arr(items.iter().map(tree).collect()),
        Value::Object(m) => J::Obj(m.iter().map(|(k, v)| (k.clone(), tree(v))).collect()),
    }
}

/// A corpus file, as it is (its pinned answer expected) or mutated.
pub fn generate(rng: &mut Rng, w: &mut World, corpus: &Corpus, secret: &str) -> Sent {
    let (family, set, target, route) = match rng.weighted(&[60, 15, 10, 15]) {
        0 => (
            "corpus-webhook",
            &corpus.webhooks,
            "/webhooks/unipile".to_string(),
            Route::Webhook,
        ),
        1 => (
            "corpus-workspaces",
            &corpus.workspaces,
            "/api/workspaces".to_string(),
            Route::CreateWorkspace,
        ),
        2 => {
            let workspace = w.workspaces.get(0).cloned().unwrap_or_default();
            (
                "corpus-accounts",
                &corpus.accounts,
                format!("/api/workspaces/{workspace}/accounts"),
                Route::CreateAccount,
            )
        }
        _ => {
            let campaign = w.campaigns.get(0).cloned().unwrap_or_default();
            (
                "corpus-import",
                &corpus.imports,
                format!("/api/campaigns/{campaign}/prospects"),
                Route::Import {
                    campaign,
                    members: Vec::new(),
                },
            )
        }
    };
    let seed = if set.is_empty() {
        Seed {
            name: "empty".into(),
            body: b"{}".to_vec(),
            expect: None,
        }
    } else {
        rng.pick(set).clone()
    };
    let mut body = seed.body.clone();
    let mut expect = match &seed.expect {
        Some((status, Some(code))) => Expect {
            statuses: vec![*status],
            codes: vec![code_of(code)],
            ..Expect::default()
        },
        // An account is created once: sent again, its id exists.
        Some((201, None)) if matches!(route, Route::CreateAccount) => Expect {
            statuses: vec![201, 409],
            codes: vec!["account_exists"],
            ..Expect::default()
        },
        Some((status, None)) => Expect::status(*status),
        None => Expect::any(),
    };
    if rng.chance(0.75) {
        expect = Expect::any();
        if rng.chance(0.4)
            && let Ok(v) = serde_json::from_slice::<Value>(&body)
        {
            let mut doc = tree(&v);
            for _ in 0..rng.range(1, 4) {
                super::mutate::tree(rng, &mut doc);
            }
            body = doc.bytes(rng.chance(0.3));
        }
        if rng.chance(0.7) {
            let other = corpus.any(rng).to_vec();
            super::mutate::bytes(rng, &mut body, &other, 256 << 10);
        }
    }
    let headers = match route {
        Route::Webhook => vec![
            ("unipile-auth", secret.to_string()),
            ("content-type", content_type(rng)),
        ],
        // The corpus tests the bodies: the token is right.
        _ => auth_ok(rng, w),
    };
    Sent {
        family,
        note: format!(" {}", seed.name),
        method: "POST",
        target,
        headers,
        body,
        expect,
        route,
    }
}

/// The API token, right.
fn auth_ok(rng: &mut Rng, w: &World) -> Vec<(&'static str, String)> {
    loop {
        let mut f = Faults::default();
        let headers = auth(rng, w, &mut f);
        if f.is_empty() {
            return headers;
        }
    }
}

/// A code from the corpus's manifest as a static string (one the
/// checks know; an unknown one is kept as `?` and fails the check).
fn code_of(code: &str) -> &'static str {
    super::check::CODES
        .iter()
        .map(|(c, _)| *c)
        .find(|c| *c == code)
        .unwrap_or("?")
}

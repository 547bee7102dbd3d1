//! Reads, odd routes and methods: the API's GETs with known, unknown and
//! hostile ids and queries, health and metrics, unknown routes, methods a
//! route does not take, and the admin API (off here).

use super::api::{Target, auth, path_id};
use super::rng::Rng;
use super::world::World;
use super::{Expect, Faults, Route, Sent, encode};

/// A read or an odd request.
pub fn generate(rng: &mut Rng, w: &mut World) -> Sent {
    let mut f = Faults::default();
    let headers = auth(rng, w, &mut f);
    let workspaces = w.workspaces.all().to_vec();
    let accounts: Vec<String> = w.accounts.all().iter().map(|(a, _)| a.clone()).collect();
    let campaigns = w.campaigns.all().to_vec();
    let (family, method, target, expect) = match rng.below(13) {
        0..=6 => {
            let (template, known): (&str, &[String]) = match rng.below(7) {
                0 => ("/api/workspaces/{}", &workspaces),
                1 => ("/api/workspaces/{}/accounts", &workspaces),
                2 => ("/api/workspaces/{}/campaigns", &workspaces),
                3 => ("/api/accounts/{}", &accounts),
                4 => ("/api/campaigns/{}", &campaigns),
                5 => ("/api/campaigns/{}/stats", &campaigns),
                _ => ("/api/prospects/{}", &[]),
            };
            let (seg, target) = path_id(rng, w, known, &mut f);
            if target == Target::Unknown {
                f.add(10, 404, "not_found");
            }
            ("read", "GET", template.replace("{}", &seg), f.expect(200))
        }
        7 | 8 => {
            let (query, sure) = traces_query(rng, &mut f);
            let expect = if sure { f.expect(200) } else { Expect::any() };
            ("read-traces", "GET", format!("/api/traces{query}"), expect)
        }
        9 => {
            let path = *rng.pick(&["/healthz", "/readyz", "/metrics", "/openapi.json"]);
            ("health", "GET", path.to_string(), Expect::status(200))
        }
        10 => {
            let path = rng.pick(&[
                "/",
                "/nothing",
                "/api",
                "/api/",
                "/webhooks",
                "/webhooks/unipile/",
                "/api/workspaces/a/b/c",
                "/API/workspaces",
                "/%00",
                "/admin/nothing",
                "//api/workspaces",
            ]);
            // `/` sends a person to the dashboard; the rest are unknown.
            let expect = if *path == "/" {
                Expect::status(303)
            } else {
                Expect::refusal(404, "route_not_found")
            };
            ("route", "GET", path.to_string(), expect)
        }
        11 => {
            // A method the route does not take.
            let (method, path) = *rng.pick(&[
                ("DELETE", "/api/workspaces"),
                ("PUT", "/api/traces"),
                ("POST", "/healthz"),
                ("PATCH", "/api/campaigns/x"),
                ("GET", "/webhooks/unipile"),
                ("DELETE", "/webhooks/unipile"),
                ("GET", "/api/campaigns/x/start"),
                ("OPTIONS", "/api/workspaces"),
            ]);
            let expect = Expect {
                statuses: vec![405, 401],
                codes: vec!["method_not_allowed", "unauthorized"],
                ..Expect::default()
            };
            ("method", method, path.to_string(), expect)
        }
        _ => {
            // The admin API: off without its token.
            let (method, path) = *rng.pick(&[
                ("GET", "/admin/policies"),
                ("PUT", "/admin/policies/match"),
                ("DELETE", "/admin/policies/routing"),
                ("POST", "/admin/inbox/replay"),
                ("GET", "/admin/jobs/held"),
                ("POST", "/admin/jobs/x/verdict"),
            ]);
            (
                "admin",
                method,
                path.to_string(),
                Expect::refusal(403, "admin_disabled"),
            )
        }
    };
    Sent {
        family,
        note: String::new(),
        method,
        target,
        headers,
        body: Vec::new(),
        expect,
        route: Route::Other,
    }
}

/// A read of a known or unknown id, or of the traces (no state changes).
pub fn read(rng: &mut Rng, w: &mut World) -> Sent {
    loop {
        let sent = generate(rng, w);
        if sent.method == "GET" && matches!(sent.family, "read" | "read-traces" | "health") {
            return sent;
        }
    }
}

/// A query for `/api/traces` and its faults; false when its answer is
/// not pinned (an empty or repeated parameter).
fn traces_query(rng: &mut Rng, f: &mut Faults) -> (String, bool) {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut unsure = false;
    if rng.chance(0.6) {
        let limit = match rng.below(12) {
            0 => {
                f.add(10, 422, "invalid_limit");
                "0".to_string()
            }
            1 => {
                f.add(10, 422, "invalid_limit");
                "501".to_string()
            }
            2 => {
                f.add(10, 422, "invalid_limit");
                "-1".to_string()
            }
            3 => {
                f.add(2, 400, "invalid_query");
                rng.pick(&["abc", "1.5", "99999999999999999999", "1e3", "0x10"])
                    .to_string()
            }
            4 => {
                unsure = true;
                String::new()
            }
            5 => "500".to_string(),
            _ => rng.range(1, 500).to_string(),
        };
        pairs.push(("limit".into(), limit));
    }
    for key in ["kind", "workspace_id"] {
        if rng.chance(0.4) {
            let value = match rng.below(8) {
                0 => {
                    f.add(2, 400, "invalid_query");
                    "a\u{0}b".to_string()
                }
                1 => {
                    f.add(2, 400, "invalid_query");
                    "k".repeat(rng.range(2049, 5000))
                }
                2 => "k".repeat(2048),
                3 => "é🎉".to_string(),
                4 => String::new(),
                5 => "bridge_miss_all_strategies".into(),
                6 => "webhook_refused".into(),
                _ => "orphan_webhook".into(),
            };
            pairs.push((key.into(), value));
        }
    }
    if rng.chance(0.05) && !pairs.is_empty() {
        // The same parameter twice.
        let first = pairs[0].clone();
        pairs.push(first);
        unsure = true;
    }
    if rng.chance(0.05) {
        pairs.push(("unknown".into(), "1".into()));
    }
    if pairs.is_empty() {
        return (String::new(), true);
    }
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k.as_bytes()), encode(v.as_bytes())))
        .collect();
    (format!("?{}", query.join("&")), !unsure)
}

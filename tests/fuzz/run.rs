//! The run: a host on a fresh database, set up through its own API, then
//! `inputs` requests through the full router, each checked, and the
//! database compared with the model at intervals and at the end.

use super::check::{self, Answer, ITEM_CODES};
use super::corpus::Corpus;
use super::rng::Rng;
use super::webhook::{self, Oracle};
use super::world::{CampaignModel, MAIN_ACCOUNT, MEMBERS, SLUGS, World};
use super::{Expect, Route, Sent, api, mutate, other};
use accord::app::{App, AppConfig};
use accord::clock::ManualClock;
use axum::Router;
use axum::body::Body;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// The webhook secret of the fuzzed host.
pub const SECRET: &str = "fuzz-webhook-secret";

/// The database a run uses.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// PostgreSQL, in a new schema of this name.
    Postgres { url: String, schema: String },
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub inputs: u64,
    pub database: Database,
    /// Compare the database with the model every this many inputs.
    pub check_every: u64,
    /// Where to write each failing input (as a corpus `raw/*.http` file).
    pub save_failures: Option<PathBuf>,
    /// Stop after this many failures.
    pub max_failures: usize,
    /// Print progress on stderr.
    pub progress: bool,
    /// The repository root (for the corpus).
    pub root: PathBuf,
}

/// One problem found.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The input's index (`None`: found by a check of the database).
    pub index: Option<u64>,
    pub problem: String,
    pub request: String,
    pub answer: String,
}

/// What a run did and found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seed: u64,
    pub database: &'static str,
    pub inputs: u64,
    pub wall: Duration,
    pub families: BTreeMap<&'static str, u64>,
    /// Answers by status and code.
    pub answers: BTreeMap<String, u64>,
    pub webhooks_new: u64,
    pub webhooks_refused: u64,
    pub webhooks_duplicate: u64,
    pub imported: u64,
    pub rows: BTreeMap<&'static str, i64>,
    /// Consistency checks of the database run.
    pub checks: u64,
    pub panics: u64,
    pub slowest: Duration,
    pub slowest_input: String,
    pub failures: Vec<Failure>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.panics == 0
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rate = self.inputs as f64 / self.wall.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "fuzz_edge: seed {} on {}: {} inputs in {:.1} s ({rate:.0}/s): {}",
            self.seed,
            self.database,
            self.inputs,
            self.wall.as_secs_f64(),
            if self.passed() { "PASSED" } else { "FAILED" }
        )?;
        writeln!(
            f,
            "  panics {}, 5xx {}, failures {}, database checks {}",
            self.panics,
            self.answers
                .iter()
                .filter(|(k, _)| k.starts_with('5'))
                .map(|(_, n)| n)
                .sum::<u64>(),
            self.failures.len(),
            self.checks
        )?;
        writeln!(
            f,
            "  webhooks stored as new {} (of them refused {}), duplicates {}; prospects imported {}",
            self.webhooks_new, self.webhooks_refused, self.webhooks_duplicate, self.imported
        )?;
        let rows: Vec<String> = self.rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
        writeln!(
            f,
            "  rows at the end (as the model counts): {}",
            rows.join(", ")
        )?;
        writeln!(
            f,
            "  slowest answer {:.1} ms ({})",
            self.slowest.as_secs_f64() * 1000.0,
            self.slowest_input
        )?;
        let families: Vec<String> = self
            .families
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        writeln!(f, "  inputs: {}", families.join(", "))?;
        let answers: Vec<String> = self
            .answers
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        writeln!(f, "  answers: {}", answers.join(", "))?;
        for failure in self.failures.iter().take(20) {
            writeln!(
                f,
                "  FAILURE at input {}: {}\n    request: {}\n    answer: {}",
                failure.index.map_or("-".into(), |i| i.to_string()),
                failure.problem,
                failure.request,
                failure.answer
            )?;
        }
        Ok(())
    }
}

/// Panics on the fuzzer's runtime threads.
static PANICS: AtomicU64 = AtomicU64::new(0);

/// Counts panics on threads whose name starts with `accord-fuzz` (the
/// runtime [`run_blocking`] builds: the host's tasks run there), and
/// prints them as usual.
fn count_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("accord-fuzz"))
            {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// Runs on a runtime of its own (two workers named `accord-fuzz`).
pub fn run_blocking(options: &Options) -> Result<Report, String> {
    count_panics();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("accord-fuzz")
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let before = PANICS.load(Ordering::SeqCst);
    let mut report = runtime.block_on(run(options))?;
    report.panics = PANICS.load(Ordering::SeqCst) - before;
    Ok(report)
}

/// The fuzzed host and what is known of it.
struct Host {
    app: Arc<App>,
    /// The real listener's address (`raw` inputs).
    addr: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    clock: Arc<ManualClock>,
    router: Router,
    world: World,
    report: Report,
    options: Options,
    _dir: tempfile::TempDir,
}

/// Runs the fuzzer; `Err` when the host could not be set up.
pub async fn run(options: &Options) -> Result<Report, String> {
    let corpus = Corpus::load(&options.root.join("tests/corpus/hostile"))
        .map_err(|e| format!("corpus: {e}"))?;
    let mut host = Host::start(options).await?;
    let start = Instant::now();
    let mut last_progress = Instant::now();
    let mut index = 0;
    while index < options.inputs && host.report.failures.len() < options.max_failures {
        let mut rng = Rng::for_input(options.seed, index);
        if rng.chance(0.04) {
            // Over the socket, the HTTP layer's framing fuzzed too.
            let base = if rng.chance(0.8) {
                webhook_input(&mut rng, &mut host.world, &corpus)
            } else {
                other::read(&mut rng, &mut host.world)
            };
            let raw = super::raw::generate(&mut rng, &base, &host.addr);
            host.send_raw(index, &base, &raw).await;
            *host.report.families.entry("raw").or_default() += 1;
        } else {
            let sent = input(&mut rng, &mut host.world, &corpus);
            host.send(Some(index), &sent).await;
            *host.report.families.entry(sent.family).or_default() += 1;
        }
        host.report.inputs += 1;
        index += 1;
        // Time moves on (7 s per input: a million inputs are 81 days).
        host.clock.advance(7_000);
        if options.check_every > 0 && index % options.check_every == 0 {
            host.consistency(false).await;
        }
        if options.progress && last_progress.elapsed() > Duration::from_secs(10) {
            last_progress = Instant::now();
            eprintln!(
                "[fuzz] {index}/{} inputs, {:.0}/s, {} failures, {} webhooks stored",
                options.inputs,
                index as f64 / start.elapsed().as_secs_f64(),
                host.report.failures.len(),
                host.world.inbox.len()
            );
        }
    }
    host.consistency(true).await;
    host.report.wall = start.elapsed();
    host.report.rows = host.world.rows.clone();
    host.report
        .rows
        .insert("webhook_inbox", host.world.inbox.len() as i64);
    Ok(host.report)
}

/// The next input: a generated webhook (most), the API's requests, the
/// corpus mutated, a read or an odd route.
fn input(rng: &mut Rng, w: &mut World, corpus: &Corpus) -> Sent {
    match rng.weighted(&[52, 28, 10, 10]) {
        0 => webhook_input(rng, w, corpus),
        1 => api::generate(rng, w),
        2 => super::corpus::generate(rng, w, corpus, SECRET),
        _ => other::generate(rng, w),
    }
}

/// What the oracle's verdict means for the answer.
fn expect_of(o: &Oracle) -> Expect {
    if o.json_error {
        return Expect::refusal(400, "invalid_json");
    }
    let mut e = Expect::default();
    if !o.errors.is_empty() {
        e.statuses.push(400);
        e.codes.extend(&o.errors);
    } else {
        e.statuses.push(200);
        e.refused = Some(o.over);
    }
    e
}

fn webhook_input(rng: &mut Rng, w: &mut World, corpus: &Corpus) -> Sent {
    let mut headers = vec![("content-type", api::content_type(rng))];
    if rng.chance(0.05) && !w.delivered.is_empty() {
        // A delivery again, byte for byte: a duplicate (an account
        // status is never deduplicated).
        let i = rng.below(w.delivered.len());
        let (body, account_status) = w.delivered[i].clone();
        headers.push(("unipile-auth", SECRET.to_string()));
        return Sent {
            family: "webhook-again",
            note: String::new(),
            method: "POST",
            target: "/webhooks/unipile".into(),
            headers,
            body,
            expect: Expect {
                statuses: vec![200],
                duplicate: Some(!account_status),
                ..Expect::default()
            },
            route: Route::Webhook,
        };
    }
    let generated = webhook::generate(rng, w);
    let mut family = match generated.kind {
        "new_relation" => "webhook-relation",
        "message" => "webhook-message",
        "account_status" => "webhook-status",
        "unknown" => "webhook-unknown",
        _ => "webhook-wrong-event",
    };
    let mut body = generated.doc.bytes(rng.chance(0.3));
    let mut expect = expect_of(&generated.oracle);
    if rng.chance(0.2) {
        let mut doc = generated.doc.clone();
        for _ in 0..rng.range(1, 4) {
            mutate::tree(rng, &mut doc);
        }
        body = doc.bytes(rng.chance(0.3));
        expect = Expect::any();
        family = "webhook-tree-mutated";
    }
    if rng.chance(0.2) {
        let other = if rng.chance(0.5) && !w.delivered.is_empty() {
            let i = rng.below(w.delivered.len());
            w.delivered[i].0.clone()
        } else {
            corpus.any(rng).to_vec()
        };
        mutate::bytes(rng, &mut body, &other, 256 << 10);
        expect = Expect::any();
        family = "webhook-byte-mutated";
    }
    if rng.chance(0.002) {
        // Over the webhook limit (1 MiB): refused before it is read.
        let pad = format!(",\"pad\":\"{}\"}}", "p".repeat((1 << 20) + rng.below(4096)));
        body.truncate(body.len().saturating_sub(1));
        body.extend_from_slice(pad.as_bytes());
        expect = Expect::refusal(413, "payload_too_large");
        family = "webhook-oversize";
    } else if rng.chance(0.03) {
        let wrong = match rng.below(4) {
            0 => None,
            1 => Some(String::new()),
            2 => Some(format!("{SECRET}x")),
            _ => Some(SECRET[..SECRET.len() - 1].to_string()),
        };
        if let Some(v) = wrong {
            headers.push(("unipile-auth", v));
        }
        expect = Expect::refusal(401, "unauthorized");
        family = "webhook-unauthorized";
    }
    if !headers.iter().any(|(k, _)| *k == "unipile-auth") && family != "webhook-unauthorized" {
        headers.push(("unipile-auth", SECRET.to_string()));
    }
    Sent {
        family,
        note: String::new(),
        method: "POST",
        target: "/webhooks/unipile".into(),
        headers,
        body,
        expect,
        route: Route::Webhook,
    }
}

impl Host {
    async fn start(options: &Options) -> Result<Host, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (mut config, database) = match &options.database {
            Database::Sqlite => (
                AppConfig::new(format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("fuzz.db").display()
                )),
                "sqlite",
            ),
            Database::Postgres { url, schema } => {
                let mut c = AppConfig::new(url.clone());
                c.database_schema = Some(schema.clone());
                (c, "postgres")
            }
        };
        let world = World::new(options.seed);
        config.webhook_secret = Some(SECRET.into());
        config.api_token = Some(world.api_token.clone());
        // Short bounds: a raw request whose body never comes is answered
        // (or cut off) within them.
        config.edge = accord::http::server::EdgeConfig {
            header_read_timeout: Duration::from_secs(2),
            body_read_timeout: Duration::from_secs(2),
            max_connections: 512,
        };
        let clock = ManualClock::new(1_791_642_600_000);
        let app = App::start(config, clock.clone())
            .await
            .map_err(|e| format!("start: {e}"))?;
        let router = accord::http::router(app.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("listen: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("listen: {e}"))?
            .to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(accord::http::server::serve(
            listener,
            app.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        let mut host = Host {
            app,
            addr,
            _stop: stop,
            clock,
            router,
            world,
            report: Report {
                seed: options.seed,
                database,
                ..Report::default()
            },
            options: options.clone(),
            _dir: dir,
        };
        host.set_up().await?;
        Ok(host)
    }

    /// Two workspaces, three accounts (one is unipile.md's), a running
    /// campaign with eight prospects: made through the API.
    async fn set_up(&mut self) -> Result<(), String> {
        let workspace = self
            .must(
                "/api/workspaces",
                json!({"name": "Fuzz"}),
                Route::CreateWorkspace,
            )
            .await?;
        let accounts = [
            (MAIN_ACCOUNT, json!("ACoAAOwnOwnOwnOwn")),
            ("fuzz-second-account", Value::Null),
        ];
        for (provider, own) in accounts {
            let body = json!({"provider_account_id": provider, "display_name": "Sales – Anna",
                "time_zone": "UTC", "own_member_id": own});
            self.must(
                &format!("/api/workspaces/{workspace}/accounts"),
                body,
                Route::CreateAccount,
            )
            .await?;
        }
        let other = self
            .must(
                "/api/workspaces",
                json!({"name": "Other"}),
                Route::CreateWorkspace,
            )
            .await?;
        let body = json!({"provider_account_id": "fuzz-other-account", "display_name": "Other", "time_zone": "Europe/Paris"});
        self.must(
            &format!("/api/workspaces/{other}/accounts"),
            body,
            Route::CreateAccount,
        )
        .await?;
        let main = self
            .world
            .accounts
            .get(0)
            .map(|(id, _)| id.clone())
            .unwrap_or_default();
        let body = json!({
            "name": "Q4 founders", "linkedin_account_id": main,
            "steps": [
                {"type": "send_invite"}, {"type": "wait_accept", "days": 7},
                {"type": "condition", "if_accepted": 3},
                {"type": "send_message", "text": "Thanks for connecting!"},
                {"type": "wait", "days": 3}, {"type": "send_message", "text": "Following up"},
            ],
            "window": {"start_minute": 0, "end_minute": 1440, "days": [1, 2, 3, 4, 5, 6, 7]},
        });
        let campaign = self
            .must(
                &format!("/api/workspaces/{workspace}/campaigns"),
                body,
                Route::CreateCampaign,
            )
            .await?;
        let items: Vec<Value> = MEMBERS
            .iter()
            .zip(SLUGS)
            .map(|(m, s)| json!({"full_name": s, "member_id": m, "profile_url": format!("https://www.linkedin.com/in/{s}/")}))
            .collect();
        let route = Route::Import {
            campaign: campaign.clone(),
            members: MEMBERS.iter().map(|m| Some(m.to_string())).collect(),
        };
        self.must(
            &format!("/api/campaigns/{campaign}/prospects"),
            json!({"prospects": items}),
            route,
        )
        .await?;
        let route = Route::Action {
            campaign: campaign.clone(),
            action: super::Action::Start,
        };
        self.must(
            &format!("/api/campaigns/{campaign}/start"),
            json!({}),
            route,
        )
        .await?;
        self.world.workspaces.pin();
        self.world.accounts.pin();
        self.world.provider_accounts.pin();
        self.world.campaigns.pin();
        Ok(())
    }

    /// A set-up request that must succeed; returns the id it created.
    async fn must(&mut self, path: &str, body: Value, route: Route) -> Result<String, String> {
        let sent = Sent {
            family: "set-up",
            note: String::new(),
            method: "POST",
            target: path.to_string(),
            headers: vec![
                ("authorization", format!("Bearer {}", self.world.api_token)),
                ("content-type", "application/json".into()),
            ],
            body: body.to_string().into_bytes(),
            expect: Expect::any(),
            route,
        };
        let answer = self.send(None, &sent).await;
        match answer {
            Some(a) if a.status < 300 => Ok(a
                .json()
                .and_then(|v| v["id"].as_str().map(str::to_string))
                .unwrap_or_default()),
            Some(a) => Err(format!("set-up {path}: {}", a.summary())),
            None => Err(format!("set-up {path}: no answer")),
        }
    }

    /// Sends one request, checks its answer and learns from it.
    async fn send(&mut self, index: Option<u64>, sent: &Sent) -> Option<Answer> {
        let started = Instant::now();
        let answer = match exchange(&self.router, sent).await {
            Ok(a) => a,
            Err(problem) => {
                self.fail(index, sent, None, problem);
                return None;
            }
        };
        let took = started.elapsed();
        if took > self.report.slowest {
            self.report.slowest = took;
            self.report.slowest_input = format!("{} {}", sent.family, index.unwrap_or(0));
        }
        let code = match check::answer(&answer) {
            Ok(code) => code,
            Err(problem) => {
                self.fail(index, sent, Some(&answer), problem);
                None
            }
        };
        *self
            .report
            .answers
            .entry(format!(
                "{} {}",
                answer.status,
                code.as_deref().unwrap_or("-")
            ))
            .or_default() += 1;
        let mut problems = expected(sent, &answer, code.as_deref());
        problems.extend(self.learn(sent, &answer));
        for problem in problems {
            self.fail(index, sent, Some(&answer), problem);
        }
        Some(answer)
    }

    /// Sends a raw request to the listener and checks every answer; a
    /// webhook's receipt (the request may hold several) is learnt from.
    async fn send_raw(&mut self, index: u64, base: &Sent, raw: &super::raw::Raw) {
        let mut sent = base.clone();
        sent.family = "raw";
        sent.body = raw.bytes.clone();
        let answers = match super::raw::exchange(&self.addr, &raw.bytes).await {
            Ok(answers) => answers,
            Err(problem) => {
                self.fail(Some(index), &sent, None, problem);
                return;
            }
        };
        if answers.is_empty() {
            *self.report.answers.entry("0 -".into()).or_default() += 1;
            if !raw.mutated {
                let problem = "a well-formed request got no answer".to_string();
                self.fail(Some(index), &sent, None, problem);
            }
        }
        for (i, answer) in answers.iter().enumerate() {
            let code = match check::answer(answer) {
                Ok(code) => code,
                Err(problem) => {
                    self.fail(Some(index), &sent, Some(answer), problem);
                    None
                }
            };
            *self
                .report
                .answers
                .entry(format!(
                    "{} {}",
                    answer.status,
                    code.as_deref().unwrap_or("-")
                ))
                .or_default() += 1;
            let mut problems = Vec::new();
            if i == 0 && !raw.mutated {
                problems.extend(expected(base, answer, code.as_deref()));
            }
            let receipt = answer
                .json()
                .is_some_and(|j| j.get("inbox_id").is_some() && j.get("duplicate").is_some());
            if answer.status == 200 && receipt {
                let mut webhook = sent.clone();
                webhook.route = Route::Webhook;
                problems.extend(self.learn(&webhook, answer));
            }
            for problem in problems {
                self.fail(Some(index), &sent, Some(answer), problem);
            }
        }
    }

    /// Updates the model from an accepted request; returns what does not
    /// add up.
    fn learn(&mut self, sent: &Sent, a: &Answer) -> Vec<String> {
        let mut problems = Vec::new();
        let w = &mut self.world;
        let json = a.json().unwrap_or(Value::Null);
        let id = json["id"].as_str().unwrap_or_default().to_string();
        match (&sent.route, a.status) {
            (Route::Webhook, 200) => {
                let duplicate = json["duplicate"].as_bool();
                let refused = json["refused"].as_bool();
                let event = json["event"].as_str();
                let (Some(duplicate), Some(refused), Some(event)) = (duplicate, refused, event)
                else {
                    return vec![format!("a webhook receipt without its fields: {json}")];
                };
                if event.len() > 64 + '…'.len_utf8() {
                    problems.push(format!("the echoed event name is {} bytes", event.len()));
                }
                if duplicate {
                    self.report.webhooks_duplicate += 1;
                } else {
                    match json["inbox_id"].as_str() {
                        Some(id) if w.inbox.insert(id.to_string()) => {}
                        other => problems.push(format!("a new delivery with inbox id {other:?}")),
                    }
                    self.report.webhooks_new += 1;
                    if refused {
                        self.report.webhooks_refused += 1;
                    }
                }
                // A status change is applied each time it comes, unless it
                // was refused (deduplicated on its body then).
                if sent.family != "raw" {
                    w.remember_delivery(sent.body.clone(), event == "AccountStatus" && !refused);
                }
            }
            (Route::CreateWorkspace, 201) => {
                w.workspaces.push(id);
                w.add_rows("workspaces", 1);
            }
            (Route::CreateAccount, 201) => {
                let workspace = json["workspace_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                w.accounts.push((id, workspace));
                if let Some(p) = json["provider_account_id"].as_str() {
                    w.provider_accounts.push(p.to_string());
                }
                w.add_rows("linkedin_accounts", 1);
            }
            (Route::CreateCampaign, 201) => {
                if json["status"] != "draft" {
                    problems.push(format!("a new campaign that is {}", json["status"]));
                }
                w.campaign.insert(
                    id.clone(),
                    CampaignModel {
                        status: "draft",
                        usable: false,
                        members: Default::default(),
                    },
                );
                w.campaigns.push(id);
                w.add_rows("campaigns", 1);
            }
            (Route::Import { campaign, members }, 200) => {
                let imported = json["imported"].as_i64().unwrap_or(-1);
                let enrolled = json["enrolled"].as_i64().unwrap_or(-1);
                let rejected: Vec<usize> = json["rejected"]
                    .as_array()
                    .map(|r| {
                        r.iter()
                            .filter_map(|x| x["index"].as_u64())
                            .map(|i| i as usize)
                            .collect()
                    })
                    .unwrap_or_default();
                if imported < 0 || enrolled != imported {
                    problems.push(format!("imported {imported}, enrolled {enrolled}"));
                }
                self.report.imported += imported.max(0) as u64;
                w.add_rows("prospects", imported.max(0));
                w.add_rows("enrollments", enrolled.max(0));
                if let Some(model) = w.campaign.get_mut(campaign) {
                    for (i, member) in members.iter().enumerate() {
                        if let Some(m) = member
                            && !rejected.contains(&i)
                        {
                            w.members.push(m.clone());
                            if model.members.len() >= 16 {
                                model.members.pop_front();
                            }
                            model.members.push_back(m.clone());
                        }
                    }
                    // An item is imported only with an identifier, and
                    // only when each it has is valid: any imported item
                    // lets the campaign start (whether its items are
                    // known, or the body was mutated or from the corpus).
                    if imported > 0 {
                        model.usable = true;
                    }
                }
            }
            (Route::Action { campaign, action }, status) => {
                if let Some(model) = w.campaign.get_mut(campaign) {
                    let allowed = action.from().contains(&model.status);
                    if status == 200 {
                        if !allowed {
                            problems.push(format!(
                                "{} of a campaign that is {} succeeded",
                                action.name(),
                                model.status
                            ));
                        }
                        model.status = action.to();
                    }
                }
            }
            _ => {}
        }
        problems
    }

    fn fail(&mut self, index: Option<u64>, sent: &Sent, answer: Option<&Answer>, problem: String) {
        let request = render(sent, 1500);
        let answer = answer.map_or("(none)".into(), Answer::summary);
        eprintln!(
            "[fuzz] FAILURE at input {}: {problem}\n  request: {request}\n  answer: {answer}",
            index.map_or("-".into(), |i| i.to_string())
        );
        if let (Some(dir), Some(i)) = (&self.options.save_failures, index) {
            let _ = std::fs::create_dir_all(dir);
            let _ = std::fs::write(
                dir.join(format!("seed{}-input{i}.http", self.options.seed)),
                raw(sent),
            );
        }
        self.report.failures.push(Failure {
            index,
            problem,
            request,
            answer,
        });
    }

    /// Compares the database with the model: each table's rows, each
    /// campaign's status; at the end, after the inbox is drained, the
    /// inbox ids and that every stored delivery was processed.
    async fn consistency(&mut self, end: bool) {
        self.report.checks += 1;
        let mut problems = Vec::new();
        if end {
            problems.extend(self.drain().await);
        }
        let pool = self.app.db.pool().clone();
        let mut tables: Vec<(&'static str, i64)> =
            self.world.rows.iter().map(|(t, n)| (*t, *n)).collect();
        tables.push(("webhook_inbox", self.world.inbox.len() as i64));
        for (table, want) in tables {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            match sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(sql))
                .fetch_one(&pool)
                .await
            {
                Ok((n,)) if n == want => {}
                Ok((n,)) => problems.push(format!(
                    "{table} holds {n} rows, the accepted requests added {want}"
                )),
                Err(e) => problems.push(format!("counting {table}: {e}")),
            }
        }
        match sqlx::query_as::<_, (String, String)>("SELECT id, status FROM campaigns")
            .fetch_all(&pool)
            .await
        {
            Ok(rows) => {
                for (id, status) in rows {
                    match self.world.campaign.get(&id) {
                        Some(m) if m.status == status => {}
                        Some(m) => problems.push(format!(
                            "campaign {id} is {status}, the answers made it {}",
                            m.status
                        )),
                        None => problems.push(format!("campaign {id} was never answered 201")),
                    }
                }
            }
            Err(e) => problems.push(format!("reading campaigns: {e}")),
        }
        if end {
            match sqlx::query_as::<_, (String,)>("SELECT id FROM webhook_inbox")
                .fetch_all(&pool)
                .await
            {
                Ok(ids) => {
                    let ids: HashSet<String> = ids.into_iter().map(|(id,)| id).collect();
                    if ids != self.world.inbox {
                        let extra = ids.difference(&self.world.inbox).count();
                        let missing = self.world.inbox.difference(&ids).count();
                        problems.push(format!(
                            "the inbox has {extra} rows never answered as new and lacks {missing} that were"
                        ));
                    }
                }
                Err(e) => problems.push(format!("reading the inbox: {e}")),
            }
        }
        for problem in problems {
            let index = self.report.inputs;
            eprintln!("[fuzz] FAILURE after {index} inputs: {problem}");
            self.report.failures.push(Failure {
                index: None,
                problem: format!("after {index} inputs: {problem}"),
                request: String::new(),
                answer: String::new(),
            });
        }
    }

    /// Processes whatever is pending; reports every stored delivery that
    /// is not processed (failed, or pending after a minute).
    async fn drain(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.app.inbox.process_pending(1000).await {
                Ok(0) => {}
                Ok(_) => continue,
                Err(e) => problems.push(format!("processing the inbox: {e}")),
            }
            let pending: Result<(i64,), _> = sqlx::query_as(
                "SELECT COUNT(*) FROM webhook_inbox WHERE status = 'pending' AND attempts = 0",
            )
            .fetch_one(self.app.db.pool())
            .await;
            if matches!(pending, Ok((0,))) || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stuck: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT id, status, error, body FROM webhook_inbox WHERE status IN ('pending', 'failed')",
        )
        .fetch_all(self.app.db.pool())
        .await
        .unwrap_or_default();
        for (id, status, error, body) in stuck.iter().take(20) {
            let body: String = body.chars().take(600).collect();
            problems.push(format!(
                "delivery {id} was answered 200 but is {status} ({}): {body}",
                error.as_deref().unwrap_or("no error recorded")
            ));
        }
        if stuck.len() > 20 {
            problems.push(format!(
                "… and {} more deliveries not processed",
                stuck.len() - 20
            ));
        }
        problems
    }
}

/// What the generator expected of the answer, checked.
fn expected(sent: &Sent, a: &Answer, code: Option<&str>) -> Vec<String> {
    let e = &sent.expect;
    let mut problems = Vec::new();
    if !e.statuses.is_empty() && !e.statuses.contains(&a.status) {
        problems.push(format!(
            "expected status {:?} ({:?}), got {}",
            e.statuses, e.codes, a.status
        ));
        return problems;
    }
    if let Some(code) = code
        && !e.codes.is_empty()
        && !e.codes.contains(&code)
    {
        problems.push(format!("expected code {:?}, got `{code}`", e.codes));
    }
    let json = a.json().unwrap_or(Value::Null);
    if a.status == 200 && matches!(sent.route, Route::Webhook) {
        if let Some(refused) = e.refused
            && json["refused"].as_bool() != Some(refused)
        {
            problems.push(format!("expected refused: {refused}"));
        }
        if let Some(duplicate) = e.duplicate
            && json["duplicate"].as_bool() != Some(duplicate)
        {
            problems.push(format!("expected duplicate: {duplicate}"));
        }
    }
    if a.status == 200
        && let Route::Import { members, .. } = &sent.route
    {
        let rejected: Vec<(usize, String)> = json["rejected"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|x| {
                        let index = x["index"].as_u64().map_or(usize::MAX, |i| i as usize);
                        (index, x["code"].as_str().unwrap_or_default().to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (index, code) in &rejected {
            if !ITEM_CODES.contains(&code.as_str()) {
                problems.push(format!(
                    "item {index} rejected with an undocumented code `{code}`"
                ));
            }
        }
        if !members.is_empty() {
            let imported = json["imported"].as_u64().unwrap_or(u64::MAX);
            if imported as usize + rejected.len() != members.len() {
                problems.push(format!(
                    "{} items: {imported} imported and {} rejected",
                    members.len(),
                    rejected.len()
                ));
            }
        }
        if let Some(want) = &e.rejected {
            let got: Vec<(usize, &str)> = rejected.iter().map(|(i, c)| (*i, c.as_str())).collect();
            if got != *want {
                problems.push(format!("expected item rejections {want:?}, got {got:?}"));
            }
        }
    }
    problems
}

/// Sends `sent` through the router and reads the whole answer (within
/// 30 s: a hang is a failure too).
async fn exchange(router: &Router, sent: &Sent) -> Result<Answer, String> {
    let mut request = axum::http::Request::builder()
        .method(sent.method)
        .uri(&sent.target);
    for (name, value) in &sent.headers {
        request = request.header(*name, value);
    }
    request = request.header("content-length", sent.body.len());
    let request = request
        .body(Body::from(sent.body.clone()))
        .map_err(|e| format!("the request cannot be built: {e}"))?;
    let call = async {
        let response = router
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| format!("the router failed: {e}"))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| format!("the answer's body broke off: {e}"))?;
        Ok(Answer {
            status,
            content_type,
            body: body.to_vec(),
        })
    };
    tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .map_err(|_| "no answer within 30 s".to_string())?
}

/// The request, readable (cut to `max` characters of body).
fn render(sent: &Sent, max: usize) -> String {
    let body = String::from_utf8_lossy(&sent.body);
    let mut out = format!(
        "[{}{}] {} {}",
        sent.family, sent.note, sent.method, sent.target
    );
    for (k, v) in &sent.headers {
        let _ = write!(out, " | {k}: {}", v.chars().take(80).collect::<String>());
    }
    let _ = write!(
        out,
        " | body ({} bytes): {}",
        sent.body.len(),
        body.chars().take(max).collect::<String>()
    );
    out
}

/// The request as a corpus `raw/*.http` file (`{host}` and `{secret}`
/// stand for the listener's address and the webhook secret).
fn raw(sent: &Sent) -> Vec<u8> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {{host}}\r\n",
        sent.method, sent.target
    );
    for (k, v) in &sent.headers {
        let v = v.replace(SECRET, "{secret}");
        let _ = write!(head, "{k}: {v}\r\n");
    }
    let _ = write!(
        head,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        sent.body.len()
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(&sent.body);
    out
}

//! `accord demo`: the whole product on a simulated LinkedIn, in simulated
//! time, in well under a minute.
//!
//! Everything is real except LinkedIn and the clock: a fresh SQLite file,
//! the host with its built-in policies and its HTTP router on loopback
//! (webhook secret, API token), the Unipile simulator posting webhooks to
//! it, the real Unipile client calling the simulator, the engine and its
//! ticks, the inbox, and the notifier delivering signed notifications to a
//! local receiver. One [`ManualClock`] drives them all from a Monday 08:00.
//!
//! The workspace, the account and the campaign (invite → wait_accept 7 d →
//! if accepted message → wait 3 d → message, window 09:00-17:00 on
//! weekdays) are created through the JSON API. The prospects are simulated
//! people whose behaviours exercise every accept path: webhook, relations
//! polling after a dropped webhook, a reply that arrives before the
//! webhook, an invite answered `already_connected`, a manual resync, and
//! late accepts that auto-fire their follow-up. The story is printed as it
//! happens from the audit log; a final table sums it up, and the run fails
//! (non-zero exit) when a path did not happen, so it doubles as a smoke
//! test.

pub(crate) mod api;
pub mod cast;
pub(crate) mod receiver;
mod story;

use crate::app::{App, AppConfig};
use crate::clock::{Clock, DAY_MS, HOUR_MS, MINUTE_MS, ManualClock, Millis, SharedClock};
use crate::engine::{Engine, Ticks};
use crate::notify::Notifier;
use crate::provider::LinkedinProvider;
use crate::provider::unipile::UnipileClient;
use crate::simulator::{PersonSpec, SimConfig, SimHandle, SimPerson, Simulator};
use crate::store::endpoints::{self, EndpointKind, NewEndpoint};
use crate::window::SendingWindow;
use anyhow::{Context, bail};
use api::{Api, field};
use cast::{Member, Role};
use clap::Args;
use jiff::tz::TimeZone;
use receiver::Receiver;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use story::{Story, Who};

/// The account's time zone.
const TIME_ZONE: &str = "Europe/Paris";
/// Invites per day: 36 prospects take two days.
const DAILY_INVITE_CAP: i64 = 20;
/// The simulator's API key.
const SIM_KEY: &str = "demo-unipile-key";
/// The accept paths, as stored in `enrollments.accept_source`.
pub const PATHS: [&str; 5] = [
    "webhook",
    "polling",
    "reply_inferred",
    "engine_already_connected",
    "manual_resync",
];

/// `accord demo` settings.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// The SQLite file to create (it must not exist); default: `demo.db`
    /// in a new temporary directory, kept for inspection.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Simulated days to run (10 to 60; a late accept needs the 7-day
    /// wait_accept to time out first).
    #[arg(long, default_value_t = 12)]
    pub days: u32,
    /// Prospects to import (8 to 200).
    #[arg(long, default_value_t = 36)]
    pub prospects: usize,
    /// Print only the final table, not the story.
    #[arg(long)]
    pub quiet: bool,
    /// Draw every id and random number from this seed: the same seed
    /// prints the same story and the same event-log digest.
    #[arg(long)]
    pub seed: Option<u64>,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            db: None,
            days: 12,
            prospects: 36,
            quiet: false,
            seed: None,
        }
    }
}

/// What the demo observed, for the final table and the checks.
#[derive(Debug, Clone, Default)]
pub struct DemoReport {
    /// The SQLite file.
    pub database: PathBuf,
    /// Simulated days run.
    pub days: u32,
    /// Prospects imported.
    pub prospects: usize,
    /// `invite_sent` events.
    pub invites_sent: i64,
    /// Invite actions (sent, or answered `already_connected`) per local
    /// day, `Mon 1 Jun` → n: what the daily cap counts.
    pub invites_per_day: BTreeMap<String, i64>,
    /// Invites and messages sent outside the sending window (must be 0).
    pub sent_outside_window: i64,
    /// Accepted enrollments per path (`accept_source`).
    pub accepts_by_path: BTreeMap<String, i64>,
    /// Accepted enrollments.
    pub accepted: i64,
    /// Accepts observed after wait_accept timed out.
    pub late_accepts: i64,
    /// Late accepts whose auto-fired follow-up went out.
    pub late_followups_sent: i64,
    /// Most late follow-ups sent to one enrollment (must be ≤ 1).
    pub max_late_followups_per_enrollment: i64,
    /// Follow-up #1 messages (in time).
    pub followups_first: i64,
    /// Follow-up #2 messages (after the 3-day wait).
    pub followups_second: i64,
    /// Late follow-up messages.
    pub followups_late: i64,
    /// Prospects who replied.
    pub replies: i64,
    /// Messages or invites the provider refused (must be 0).
    pub refused: i64,
    /// Notifications the receiver got.
    pub notifications_delivered: usize,
    /// Distinct notification ids (`webhook-id`).
    pub notifications_distinct: usize,
    /// Accepted enrollments notified exactly once, with a valid signature.
    pub accepted_notified_once: i64,
    /// `bridge_miss_all_strategies` traces.
    pub bridge_misses: i64,
    /// `orphan_webhook` traces.
    pub orphan_signals: i64,
    /// sha256 of the audit log (`linkedin_events`, in id order): the same
    /// seed gives the same digest.
    pub event_digest: String,
    /// The manual resync's answer.
    pub resync: Option<Value>,
    /// `GET /api/campaigns/{id}/stats`.
    pub stats: Value,
    /// Wall time of the whole run.
    pub wall: Duration,
    /// What did not happen as it should; empty when the story is complete.
    pub failures: Vec<String>,
}

impl DemoReport {
    /// Whether every path happened and every count is consistent.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// Accepts through `path`.
    pub fn accepts(&self, path: &str) -> i64 {
        self.accepts_by_path.get(path).copied().unwrap_or(0)
    }

    /// Prints the final table.
    pub fn print(&self) {
        let s = &self.stats;
        let n = |k: &str| s[k].as_i64().unwrap_or(0);
        let per_day: Vec<String> = self
            .invites_per_day
            .iter()
            .map(|(d, k)| format!("{d}: {k}"))
            .collect();
        println!();
        println!(
            "══ Accord demo: {} simulated days, {} prospects ══",
            self.days, self.prospects
        );
        let row = |label: &str, value: i64, note: String| {
            let line = format!("  {label:<34}{value:>5}   {note}");
            println!("{}", line.trim_end());
        };
        let actions: i64 = self.invites_per_day.values().sum();
        row(
            "invites sent",
            self.invites_sent,
            format!(
                "+{} answered already_connected; per day (cap {DAILY_INVITE_CAP}): {}",
                actions - self.invites_sent,
                per_day.join(" · "),
            ),
        );
        row(
            "sent outside the window",
            self.sent_outside_window,
            format!("window 09:00-17:00 Mon-Fri {TIME_ZONE}"),
        );
        row("accepts", self.accepted, String::new());
        for path in PATHS {
            row(&format!("  via {path}"), self.accepts(path), String::new());
        }
        row(
            "late accepts (auto-fired)",
            self.late_accepts,
            format!(
                "{} late follow-ups sent, at most {} per prospect",
                self.late_followups_sent, self.max_late_followups_per_enrollment
            ),
        );
        row(
            "follow-ups sent",
            self.followups_first + self.followups_second + self.followups_late,
            format!(
                "#1: {} · #2: {} · late: {}",
                self.followups_first, self.followups_second, self.followups_late
            ),
        );
        row("replies (automation stopped)", self.replies, String::new());
        row(
            "notifications delivered",
            self.notifications_delivered as i64,
            format!(
                "{} distinct; {} of {} accepts notified exactly once, signatures ok",
                self.notifications_distinct, self.accepted_notified_once, self.accepted
            ),
        );
        row(
            "bridge misses",
            self.bridge_misses,
            "signals no strategy attributed (traced)".into(),
        );
        row(
            "orphan signals",
            self.orphan_signals,
            "before any campaign ran (traced)".into(),
        );
        row("refused by the provider", self.refused, String::new());
        let jobs: Vec<String> = s["jobs"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("{k} {}", v.as_i64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        println!("  GET /api/campaigns/{{id}}/stats:");
        println!(
            "    enrolled {} · invited {} · accepted {} · replied {} · late accepts {} · late follow-ups sent {} · condition skipped {}",
            n("enrolled"),
            n("invited"),
            n("accepted"),
            n("replied"),
            n("late_accepts"),
            n("late_followups_sent"),
            n("condition_skipped")
        );
        println!(
            "    bridge misses {} · orphan webhooks {} · open recoverable skips {} · jobs: {}",
            n("bridge_misses"),
            n("orphan_webhooks"),
            n("open_recoverable_skips"),
            jobs.join(", ")
        );
        println!("  event log  sha256:{}", self.event_digest);
        // Where and how long vary from run to run: stderr keeps stdout
        // byte-identical for a seed.
        eprintln!("  database   {} (kept)", self.database.display());
        eprintln!("  wall time  {:.1} s", self.wall.as_secs_f64());
        if self.ok() {
            println!("  story      complete: every accept path happened, every count adds up");
        } else {
            println!("  story      INCOMPLETE:");
            for f in &self.failures {
                println!("    ✗ {f}");
            }
        }
    }
}

/// `accord demo`: runs the demo, prints the table; exit code 1 when the
/// story did not happen.
pub async fn cli(args: DemoArgs) -> anyhow::Result<i32> {
    if let Some(seed) = args.seed {
        crate::clock::seed_process(seed)?;
    }
    let report = run(&args).await?;
    report.print();
    Ok(if report.ok() { 0 } else { 1 })
}

/// The running pieces.
struct Demo {
    clock: Arc<ManualClock>,
    tz: TimeZone,
    app: Arc<App>,
    engine: Engine,
    ticks: Ticks,
    notifier: Notifier,
    sim: SimHandle,
    sim_account: String,
    receiver: Receiver,
    api: Api,
    story: Story,
    who: HashMap<String, Who>,
    cast: Vec<(Member, SimPerson)>,
    outsider: SimPerson,
    scenes: Scenes,
    resync: Option<Value>,
    campaign_id: String,
}

/// Which scripted scenes have played.
#[derive(Debug, Default)]
struct Scenes {
    reply_before_webhook: bool,
    resync_click: bool,
    outsider: bool,
}

/// Runs the demo and returns what it observed (printing the story unless
/// `quiet`; the table is printed by [`DemoReport::print`]).
pub async fn run(args: &DemoArgs) -> anyhow::Result<DemoReport> {
    let wall = Instant::now();
    if !(10..=60).contains(&args.days) {
        bail!(
            "--days must be 10 to 60 (a late accept needs the 7-day wait_accept to time out), got {}",
            args.days
        );
    }
    if !(cast::MIN_PROSPECTS..=200).contains(&args.prospects) {
        bail!(
            "--prospects must be {} to 200 (fewer cannot show every path), got {}",
            cast::MIN_PROSPECTS,
            args.prospects
        );
    }
    let database = match &args.db {
        Some(path) if path.exists() => bail!(
            "--db {}: the file exists; the demo needs a fresh file",
            path.display()
        ),
        Some(path) => path.clone(),
        None => tempfile::Builder::new()
            .prefix("accord-demo-")
            .tempdir()?
            .keep()
            .join("demo.db"),
    };
    let tz = TimeZone::get(TIME_ZONE)?;
    let start = jiff::civil::date(2026, 6, 1)
        .at(8, 0, 0, 0)
        .to_zoned(tz.clone())?
        .timestamp()
        .as_millisecond();
    let mut demo = Demo::start(args, &database, tz, start).await?;
    demo.setup(args, start).await?;
    let end = start + i64::from(args.days) * DAY_MS;
    while demo.clock.now_ms() < end {
        let next = demo.next_wake().await?.min(end);
        demo.clock.set(next);
        demo.step().await?;
        demo.scenes().await?;
    }
    let mut report = demo.report(args, &database).await?;
    report.event_digest = event_digest(&demo.app.db).await?;
    demo.app.db.pool().close().await;
    demo.sim.shutdown().await;
    report.wall = wall.elapsed();
    Ok(report)
}

/// sha256 over every audit row, in id order (seeded ids are in creation
/// order), each column written out.
async fn event_digest(db: &crate::store::Db) -> anyhow::Result<String> {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for line in audit_log_lines(db).await? {
        hash.update(format!("{line}\n").as_bytes());
    }
    Ok(hex::encode(hash.finalize()))
}

/// Every audit row in id order, each column written out: what the demo's
/// and the simulation's digests hash.
pub(crate) async fn audit_log_lines(db: &crate::store::Db) -> anyhow::Result<Vec<String>> {
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
        i64,
    );
    let rows: Vec<Row> =
        sqlx::query_as(
            "SELECT id, kind, enrollment_id, source, strategy, detail, occurred_at FROM linkedin_events ORDER BY id",
        )
        .fetch_all(db.pool())
        .await?;
    Ok(rows.into_iter().map(|row| format!("{row:?}")).collect())
}

impl Demo {
    /// Starts the host, the simulator, the receiver, on one manual clock.
    async fn start(
        args: &DemoArgs,
        database: &std::path::Path,
        tz: TimeZone,
        start: Millis,
    ) -> anyhow::Result<Demo> {
        let clock = ManualClock::new(start);
        let shared: SharedClock = clock.clone();
        let webhook_secret = format!("whk-{}", uuid::Uuid::new_v4().simple());
        let api_token = format!("tok-{}", uuid::Uuid::new_v4().simple());

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let host = format!("http://{}", listener.local_addr()?);
        let sim = Simulator::start(SimConfig::new(SIM_KEY, shared.clone()).webhook(
            &format!("{host}/webhooks/unipile"),
            "Unipile-Auth",
            &webhook_secret,
        ))
        .await?;
        let sim_account = sim.add_account().id;
        let provider: Arc<dyn LinkedinProvider> = Arc::new(UnipileClient::new(
            &sim.base_url(),
            SIM_KEY,
            Duration::from_secs(10),
        )?);
        let mut config = AppConfig::new(format!("sqlite://{}?mode=rwc", database.display()));
        config.webhook_secret = Some(webhook_secret);
        config.api_token = Some(api_token.clone());
        config.unipile = Some((sim.base_url(), SIM_KEY.to_string()));
        // A seasoned account: no warm-up ramp, the daily cap is the cap.
        config.engine.ramp = Vec::new();
        let app = App::start_with_provider(config, shared.clone(), Some(provider)).await?;
        let router = crate::http::router(app.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!(error = %e, "demo host server stopped");
            }
        });
        let engine = app
            .engine
            .clone()
            .context("the host has no engine: no provider configured")?;
        let ticks = Ticks::new(engine.clone());
        let notifier = Notifier::new(app.db.clone(), shared.clone())?;
        let receiver = Receiver::start(shared).await?;
        let api = Api::new(&host, &api_token)?;
        let story = Story::new(tz.clone(), args.quiet, DAILY_INVITE_CAP, start);
        story.note(&format!(
            "Accord demo: the whole product against a simulated LinkedIn, in simulated time\n  \
             clock      manual, from {} for {} days; built-in policies",
            story.fmt(start, "%A %-d %B %Y %H:%M %Z"),
            args.days
        ));
        // Paths and ports differ from run to run: on stderr, so the story on
        // stdout is the same for a seed.
        if !args.quiet {
            eprintln!(
                "  database   {} (fresh SQLite file)\n  \
                 host       {host} (POST /webhooks/unipile with a secret header; /api with a bearer token)\n  \
                 simulator  {} (Unipile-compatible REST; posts webhooks to the host over loopback)\n  \
                 receiver   {} (an n8n-style endpoint; Standard Webhooks signatures checked)",
                database.display(),
                sim.base_url(),
                receiver.url(),
            );
        }
        let outsider = sim.add_person(PersonSpec::new(cast::OUTSIDER.0, cast::OUTSIDER.1));
        Ok(Demo {
            clock,
            tz,
            app,
            engine,
            ticks,
            notifier,
            sim,
            sim_account,
            receiver,
            api,
            story,
            who: HashMap::new(),
            cast: Vec::new(),
            outsider,
            scenes: Scenes::default(),
            resync: None,
            campaign_id: String::new(),
        })
    }

    /// The simulated world, then the workspace, account, endpoint and
    /// campaign through the API, and the prospects.
    async fn setup(&mut self, args: &DemoArgs, start: Millis) -> anyhow::Result<()> {
        let account = self.sim_account.clone();
        for (i, (first, last)) in cast::NETWORK.iter().enumerate() {
            let p = self.sim.add_person(PersonSpec::new(first, last));
            self.sim.connect(
                &account,
                &p.provider_id,
                start - (20 + 9 * i as i64) * DAY_MS,
            );
        }
        for member in cast::cast(args.prospects) {
            let person = self.sim.add_person(member.spec.clone());
            if member.role == Role::AlreadyConnected {
                self.sim
                    .connect(&account, &person.provider_id, start - 75 * DAY_MS);
            }
            self.cast.push((member, person));
        }
        let now = self.clock.now_ms();

        let ws = self
            .api
            .post("/api/workspaces", &json!({"name": "Acme Robotics"}))
            .await?;
        let ws = field(&ws, "id")?;
        self.story
            .say(now, &format!("API  POST /api/workspaces → workspace {ws}"));
        let sim_account = self
            .sim
            .accounts()
            .into_iter()
            .find(|a| a.id == account)
            .context("the simulator lost its account")?;
        let acc = self
            .api
            .post(
                &format!("/api/workspaces/{ws}/accounts"),
                &json!({
                    "provider_account_id": account,
                    "display_name": "Anna Schmidt (Sales)",
                    "time_zone": TIME_ZONE,
                    "own_member_id": sim_account.own_member_id,
                    "daily_invite_cap": DAILY_INVITE_CAP,
                    "weekly_invite_cap": 100,
                    "daily_message_cap": 50,
                    "min_spacing_seconds": 90,
                }),
            )
            .await?;
        let account_id = field(&acc, "id")?;
        self.story.say(
            now,
            &format!(
                "API  POST /api/workspaces/{{id}}/accounts → LinkedIn account {account_id} \
                 ({DAILY_INVITE_CAP} invites/day, 90 s spacing, {TIME_ZONE})"
            ),
        );
        let mut c = self.app.db.pool().acquire().await?;
        let endpoint = endpoints::insert(
            &mut c,
            &NewEndpoint {
                workspace_id: &ws,
                kind: EndpointKind::Webhook,
                url: &self.receiver.url(),
                secret: None,
                enabled: true,
            },
            now,
        )
        .await?;
        drop(c);
        let secret = endpoint
            .secret
            .context("a webhook endpoint always gets a signing secret")?;
        self.receiver.set_secret(&secret);
        self.story.say(
            now,
            "notification endpoint registered: the demo's receiver, signed with a generated whsec_ secret",
        );

        // The account's first relations poll sets the baseline.
        self.ticks.run_due().await?;
        self.flush().await?;

        let campaign = self
            .api
            .post(
                &format!("/api/workspaces/{ws}/campaigns"),
                &json!({
                    "name": "Founders outreach",
                    "linkedin_account_id": account_id,
                    "steps": [
                        {"type": "send_invite", "note": "Hi! I'm building tools for engineering teams and would love to connect."},
                        {"type": "wait_accept", "days": 7},
                        {"type": "condition", "if_accepted": 3},
                        {"type": "send_message", "text": "Thanks for connecting! Would a 15-minute call next week work?"},
                        {"type": "wait", "days": 3},
                        {"type": "send_message", "text": "Following up on my note: happy to share a short demo whenever suits."},
                    ],
                    "window": {"start_minute": 9 * 60, "end_minute": 17 * 60, "days": [1, 2, 3, 4, 5]},
                }),
            )
            .await?;
        let campaign_id = field(&campaign, "id")?;
        self.story.say(
            now,
            &format!(
                "API  POST /api/workspaces/{{id}}/campaigns → campaign {campaign_id}: \
                 invite → wait_accept 7 d → if accepted message → wait 3 d → message; 09:00-17:00 Mon-Fri"
            ),
        );
        let prospects: Vec<Value> = self
            .cast
            .iter()
            .map(|(_, p)| json!({"full_name": p.full_name(), "profile_url": p.profile_url()}))
            .collect();
        let import = self
            .api
            .post(
                &format!("/api/campaigns/{campaign_id}/prospects"),
                &json!({ "prospects": prospects }),
            )
            .await?;
        let mut mix: BTreeMap<&str, usize> = BTreeMap::new();
        for (m, _) in &self.cast {
            *mix.entry(m.role.label()).or_default() += 1;
        }
        let mix: Vec<String> = mix.iter().map(|(k, v)| format!("{v} {k}")).collect();
        let mix = mix.join(" · ");
        self.story.say(
            now,
            &format!(
                "API  POST /api/campaigns/{{id}}/prospects → imported {}, enrolled {}: {}",
                import["imported"], import["enrolled"], mix
            ),
        );
        self.api
            .post(&format!("/api/campaigns/{campaign_id}/start"), &json!({}))
            .await?;
        self.story
            .say(now, "API  POST /api/campaigns/{id}/start → running");

        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT e.id, p.id, p.profile_url FROM enrollments e JOIN prospects p ON p.id = e.prospect_id \
             WHERE e.campaign_id = $1",
        )
        .bind(&campaign_id)
        .fetch_all(self.app.db.pool())
        .await?;
        for (enrollment_id, prospect_id, url) in rows {
            let Some((_, person)) = self.cast.iter().find(|(_, p)| Some(p.profile_url()) == url)
            else {
                continue;
            };
            self.who.insert(
                enrollment_id,
                Who {
                    name: person.full_name(),
                    prospect_id,
                    provider_id: person.provider_id.clone(),
                },
            );
        }
        if self.who.len() != self.cast.len() {
            bail!(
                "enrolled {} of {} prospects: {import}",
                self.who.len(),
                self.cast.len()
            );
        }
        self.campaign_id = campaign_id;
        Ok(())
    }
}

impl Demo {
    /// The next moment something is due: a simulator event, a job, a
    /// workflow step, a relations poll, a notification retry; at most 5
    /// minutes ahead on weekdays 08:00-18:00, 30 minutes otherwise.
    async fn next_wake(&self) -> anyhow::Result<Millis> {
        let now = self.clock.now_ms();
        let local = jiff::Timestamp::from_millisecond(now)?.to_zoned(self.tz.clone());
        let busy = local.weekday().to_monday_one_offset() <= 5 && (8..18).contains(&local.hour());
        let mut next = now + if busy { 5 * MINUTE_MS } else { 30 * MINUTE_MS };
        let (due,): (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(t) FROM ( \
               SELECT CASE WHEN j.run_at > a.next_action_at THEN j.run_at ELSE a.next_action_at END AS t \
                 FROM campaign_send_jobs j JOIN linkedin_accounts a ON a.id = j.linkedin_account_id WHERE j.status = 'pending' \
               UNION ALL SELECT next_run_at AS t FROM enrollments \
                 WHERE next_run_at IS NOT NULL AND workflow_state IN ('waiting_accept', 'active') \
               UNION ALL SELECT CASE WHEN next_poll_at > next_action_at THEN next_poll_at ELSE next_action_at END AS t \
                 FROM linkedin_accounts WHERE status = 'connected' \
               UNION ALL SELECT next_attempt_at AS t FROM outbox_deliveries WHERE status = 'pending' \
             ) due WHERE t > $1",
        )
        .bind(now)
        .fetch_one(self.app.db.pool())
        .await?;
        for t in [due, self.sim.next_due_ms()].into_iter().flatten() {
            if t > now {
                next = next.min(t);
            }
        }
        Ok(next)
    }

    /// Lets everything due now happen: simulator events and webhooks, the
    /// inbox, the engine, until quiet.
    async fn settle(&self) -> anyhow::Result<()> {
        for _ in 0..20 {
            let report = self.sim.tick().await;
            let inbox = self.app.inbox.process_pending(500).await?;
            let ran = self.engine.run_once().await?;
            let quiet = report.accepted + report.replies + report.delivered + report.failed == 0;
            if inbox == 0 && ran == 0 && quiet {
                break;
            }
        }
        Ok(())
    }

    /// One step at the clock's now: settle, the ticks (heals, skip-retry,
    /// relations polling), settle again, deliver notifications, narrate.
    async fn step(&mut self) -> anyhow::Result<()> {
        self.settle().await?;
        self.ticks.run_due().await?;
        self.settle().await?;
        self.notifier.deliver_due(64).await?;
        self.flush().await
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        let now = self.clock.now_ms();
        let truth: HashMap<String, Millis> = self
            .sim
            .invites(&self.sim_account)
            .into_iter()
            .filter_map(|i| Some((i.provider_id, i.accepted_at_ms?)))
            .collect();
        self.story
            .flush(&self.app.db, &self.receiver, &self.who, &truth, now)
            .await
    }

    /// When a cast member of `role` was invited.
    fn invited_at(&self, role: Role) -> Option<(SimPerson, Millis)> {
        let (_, person) = self.cast.iter().find(|(m, _)| m.role == role)?;
        let invite = self
            .sim
            .invites(&self.sim_account)
            .into_iter()
            .find(|i| i.provider_id == person.provider_id)?;
        Some((person.clone(), invite.sent_at_ms))
    }

    /// The scripted scenes, each played once when its moment comes: a
    /// reply before the webhook, a Resync click after a dropped webhook
    /// (before polling gets there), an outsider connecting.
    async fn scenes(&mut self) -> anyhow::Result<()> {
        let now = self.clock.now_ms();
        let local = jiff::Timestamp::from_millisecond(now)?.to_zoned(self.tz.clone());
        let (weekday, hour) = (local.weekday().to_monday_one_offset(), local.hour());
        if weekday > 5 {
            return Ok(());
        }
        let account = self.sim_account.clone();
        if !self.scenes.reply_before_webhook
            && (10..16).contains(&hour)
            && let Some((person, invited)) = self.invited_at(Role::ReplyBeforeWebhook)
            && now - invited >= 20 * HOUR_MS
        {
            self.scenes.reply_before_webhook = true;
            self.story.say(
                now,
                &format!(
                    "LinkedIn: {} accepts and replies within a minute; LinkedIn's new_relation webhook is 4 h late",
                    person.full_name()
                ),
            );
            self.sim.accept_now(&account, &person.provider_id);
            // The reply (40 s) and its message_received webhook (1 s later)
            // land before any relations poll could run.
            self.clock.advance(45_000);
            self.settle().await?;
            self.notifier.deliver_due(64).await?;
            self.flush().await?;
        }
        let now = self.clock.now_ms();
        if !self.scenes.resync_click
            && (14..17).contains(&hour)
            && let Some((person, invited)) = self.invited_at(Role::ResyncClick)
            && now - invited >= 20 * HOUR_MS
        {
            self.scenes.resync_click = true;
            let prospect_id = self
                .who
                .values()
                .find(|w| w.provider_id == person.provider_id)
                .map(|w| w.prospect_id.clone())
                .context("the resync prospect is not enrolled")?;
            self.story.say(
                now,
                &format!(
                    "LinkedIn: {} accepts; the new_relation webhook is lost on the way",
                    person.full_name()
                ),
            );
            self.sim.accept_now(&account, &person.provider_id);
            let path = format!("/api/prospects/{prospect_id}/resync");
            let mut outcome = self.api.post(&path, &json!({})).await?;
            let queued = outcome["status"] != "done";
            // Behind the account's spacing the click is queued: the engine
            // serves it at the account's next free slot.
            for _ in 0..60 {
                if outcome["status"] != "queued" && outcome["status"] != "checking" {
                    break;
                }
                self.clock.advance(5_000);
                self.settle().await?;
                outcome = self.api.get(&path).await?;
            }
            self.story.say(
                now,
                &format!(
                    "the user clicks Resync on {}'s page: API  POST /api/prospects/{{id}}/resync → {}connected {}, stamped {} enrollment(s)",
                    person.full_name(),
                    if queued { "queued behind the account's spacing, then " } else { "" },
                    outcome["connected"],
                    outcome["stamped"].as_array().map_or(0, Vec::len)
                ),
            );
            self.resync = Some(outcome);
            self.settle().await?;
            self.notifier.deliver_due(64).await?;
            self.flush().await?;
        }
        if !self.scenes.outsider && weekday == 3 && hour >= 11 {
            self.scenes.outsider = true;
            self.story.say(
                now,
                &format!(
                    "LinkedIn: {} (no prospect of any campaign) connects with the account",
                    self.outsider.full_name()
                ),
            );
            self.sim.accept_now(&account, &self.outsider.provider_id);
        }
        Ok(())
    }

    /// Counts, cross-checks, and the campaign stats through the API.
    async fn report(
        &mut self,
        args: &DemoArgs,
        database: &std::path::Path,
    ) -> anyhow::Result<DemoReport> {
        self.flush().await?;
        let db = self.app.db.pool();
        let campaign = self.campaign_id.clone();
        let stats = self
            .api
            .get(&format!("/api/campaigns/{campaign}/stats"))
            .await?;
        let mut r = DemoReport {
            database: database.to_path_buf(),
            days: args.days,
            prospects: args.prospects,
            bridge_misses: stats["bridge_misses"].as_i64().unwrap_or(0),
            orphan_signals: stats["orphan_webhooks"].as_i64().unwrap_or(0),
            resync: self.resync.clone(),
            stats,
            ..DemoReport::default()
        };
        let window = SendingWindow::new(TIME_ZONE, 9 * 60, 17 * 60, "1,2,3,4,5")?;

        let invites: Vec<(i64,)> = sqlx::query_as(
            "SELECT claimed_at FROM campaign_send_jobs WHERE campaign_id = $1 AND action = 'send_invite' \
             AND claimed_at IS NOT NULL AND status IN ('processing', 'succeeded', 'failed') ORDER BY claimed_at",
        )
        .bind(&campaign)
        .fetch_all(db)
        .await?;
        for (at,) in &invites {
            let day = self.story.fmt(*at, "%a %-d %b");
            *r.invites_per_day.entry(day).or_default() += 1;
        }
        let sent: Vec<(String, Option<String>, String, i64)> = sqlx::query_as(
            "SELECT kind, enrollment_id, detail, occurred_at FROM linkedin_events \
             WHERE kind IN ('invite_sent', 'message_sent') ORDER BY occurred_at",
        )
        .fetch_all(db)
        .await?;
        let mut late_per_enrollment: HashMap<String, i64> = HashMap::new();
        for (kind, enrollment, detail, at) in &sent {
            if !window.is_open(*at) {
                r.sent_outside_window += 1;
            }
            if kind == "invite_sent" {
                r.invites_sent += 1;
                continue;
            }
            let detail: Value = serde_json::from_str(detail).unwrap_or_default();
            match (
                detail["source"].as_str().unwrap_or(""),
                detail["step_index"].as_i64(),
            ) {
                ("late_auto_fire" | "heal_late", _) => {
                    r.followups_late += 1;
                    *late_per_enrollment
                        .entry(enrollment.clone().unwrap_or_default())
                        .or_default() += 1;
                }
                (_, Some(3)) => r.followups_first += 1,
                _ => r.followups_second += 1,
            }
        }
        r.max_late_followups_per_enrollment =
            late_per_enrollment.values().copied().max().unwrap_or(0);

        let paths: Vec<(Option<String>, i64)> = sqlx::query_as(
            "SELECT accept_source, COUNT(*) FROM enrollments WHERE campaign_id = $1 \
             AND linkedin_accepted_at IS NOT NULL GROUP BY accept_source",
        )
        .bind(&campaign)
        .fetch_all(db)
        .await?;
        for (path, n) in paths {
            r.accepted += n;
            r.accepts_by_path
                .insert(path.unwrap_or_else(|| "?".into()), n);
        }
        let (late, late_sent, replies): (i64, i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN late_accept_observed_at IS NOT NULL THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN late_accept_followup_sent_at IS NOT NULL THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN linkedin_replied_at IS NOT NULL THEN 1 ELSE 0 END), 0) \
             FROM enrollments WHERE campaign_id = $1",
        )
        .bind(&campaign)
        .fetch_one(db)
        .await?;
        (r.late_accepts, r.late_followups_sent, r.replies) = (late, late_sent, replies);
        let (refused,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM linkedin_events WHERE kind IN ('message_refused_no_connection', 'action_refused')",
        )
        .fetch_one(db)
        .await?;
        r.refused = refused;

        // Notifications: each accepted enrollment exactly once, signed.
        let received = self.receiver.received();
        r.notifications_delivered = received.len();
        let mut by_id: HashMap<&str, (usize, bool)> = HashMap::new();
        for d in &received {
            let e = by_id.entry(d.id.as_str()).or_insert((0, true));
            e.0 += 1;
            e.1 &= d.signature_ok && d.event_type == "linkedin.invite_accepted";
        }
        r.notifications_distinct = by_id.len();
        let accepted: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM enrollments WHERE campaign_id = $1 AND linkedin_accepted_at IS NOT NULL",
        )
        .bind(&campaign)
        .fetch_all(db)
        .await?;
        for (id,) in &accepted {
            let key = crate::store::outbox::accept_key(&self.sim_account, id);
            if by_id.get(key.as_str()) == Some(&(1, true)) {
                r.accepted_notified_once += 1;
            }
        }

        let mut f = Vec::new();
        if r.invites_sent == 0 {
            f.push("no invite was sent".into());
        }
        for (day, n) in &r.invites_per_day {
            if *n > DAILY_INVITE_CAP {
                f.push(format!(
                    "{n} invites on {day}, over the cap of {DAILY_INVITE_CAP}"
                ));
            }
        }
        if r.invites_per_day.len() < 2 && args.prospects > DAILY_INVITE_CAP as usize {
            f.push("the daily cap did not spread the invites over several days".into());
        }
        if r.sent_outside_window > 0 {
            f.push(format!(
                "{} invites or messages went out outside the window",
                r.sent_outside_window
            ));
        }
        for path in PATHS {
            if r.accepts(path) == 0 {
                f.push(format!("no accept was detected via {path}"));
            }
        }
        if r.late_accepts == 0 {
            f.push("no late accept".into());
        }
        if r.late_followups_sent == 0 || r.followups_late == 0 {
            f.push("no late accept auto-fired its follow-up".into());
        }
        if r.max_late_followups_per_enrollment > 1 {
            f.push(format!(
                "a late accept got {} follow-ups (at most one)",
                r.max_late_followups_per_enrollment
            ));
        }
        if r.followups_late != r.late_followups_sent {
            f.push(format!(
                "{} late follow-up messages but {} stamped as sent",
                r.followups_late, r.late_followups_sent
            ));
        }
        if r.followups_first == 0 || r.followups_second == 0 {
            f.push("the in-time follow-ups (#1 and #2) did not both go out".into());
        }
        if r.replies == 0 {
            f.push("no reply was received".into());
        }
        if r.refused > 0 {
            f.push(format!("the provider refused {} actions", r.refused));
        }
        if r.accepted_notified_once != r.accepted
            || r.notifications_distinct as i64 != r.accepted
            || r.notifications_delivered != r.notifications_distinct
        {
            f.push(format!(
                "notifications: {} delivered, {} distinct, {} of {} accepts notified exactly once",
                r.notifications_delivered,
                r.notifications_distinct,
                r.accepted_notified_once,
                r.accepted
            ));
        }
        if r.bridge_misses == 0 {
            f.push("the outsider's connection left no bridge-miss trace".into());
        }
        if r.stats["accepted"].as_i64() != Some(r.accepted) {
            f.push(format!(
                "the stats API says {} accepted, the enrollments {}",
                r.stats["accepted"], r.accepted
            ));
        }
        if !self.scenes.reply_before_webhook || !self.scenes.resync_click {
            f.push("a scripted scene did not find its moment".into());
        }
        r.failures = f;
        Ok(r)
    }
}

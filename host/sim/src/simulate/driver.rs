//! The run: builds the world on the simulator and the host(s), moves the
//! clock from one due instant to the next while the timeline of world
//! events and faults plays, crashes and rebuilds hosts, then hands the
//! evidence to the checker.

use super::RunArgs;
use super::checker::{self, Evidence, Stamp};
use super::faults::{self, Fault, FaultMode};
use super::host::Host;
use super::report::Report;
use super::world::{self, Behaviour, OutageKind, Rng, WorldSpec};
use crate::app::AppConfig;
use crate::clock::{Clock, DAY_MS, HOUR_MS, MINUTE_MS, ManualClock, Millis, SharedClock};
use crate::demo::api::{Api, field};
use crate::demo::receiver::Receiver;
use crate::engine::EngineConfig;
use crate::provider::LinkedinProvider;
use crate::provider::unipile::UnipileClient;
use crate::sabotage::Sabotage;
use crate::simulator::{
    PersonSpec, SimConfig, SimHandle, SimPerson, Simulator, WebhookFate, WebhookKind,
};
use crate::store::endpoints::{self, EndpointKind, NewEndpoint};
use anyhow::{Context as _, bail};
use serde_json::json;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SIM_KEY: &str = "simulate-unipile-key";
const WEBHOOK_SECRET: &str = "simulate-webhook-secret";
const API_TOKEN: &str = "simulate-api-token";
/// The clock never moves by less than this between steps: the accounts'
/// spacing is at least a minute, and their caps allow far fewer actions a
/// day than 2-minute steps can carry.
const MIN_STEP_MS: Millis = 2 * MINUTE_MS;
/// Nor moves by more.
const MAX_STEP_MS: Millis = 10 * MINUTE_MS;
/// Accepts later than this before the end are too recent to judge.
const GRACE_MS: Millis = 2 * HOUR_MS;

/// Something that happens at a set time.
#[derive(Debug, Clone)]
enum Event {
    Outage(usize, OutageKind),
    Recover(usize),
    Pause(usize, usize),
    Resume(usize, usize),
    MessageWebhooksDefault,
    Fault(Fault),
}

struct Run {
    clock: Arc<ManualClock>,
    shared: SharedClock,
    sim: SimHandle,
    provider: Arc<dyn LinkedinProvider>,
    config: AppConfig,
    hosts: Vec<Option<Host>>,
    receiver: Receiver,
    api: Api,
    campaign_ids: Vec<Vec<String>>,
    people: Vec<SimPerson>,
    rng: Rng,
    report: Report,
}

/// Runs the simulation.
pub async fn run(args: &RunArgs) -> anyhow::Result<Report> {
    let wall = Instant::now();
    if !(2..=60).contains(&args.days) {
        bail!("--days must be 2 to 60, got {}", args.days);
    }
    if args.accounts == 0 || args.prospects < args.accounts {
        bail!("--accounts must be at least 1 and --prospects at least --accounts");
    }
    if !(1..=8).contains(&args.instances) {
        bail!("--instances must be 1 to 8, got {}", args.instances);
    }
    let mode = if args.faults == "none" {
        FaultMode::None
    } else {
        FaultMode::Default
    };
    let start = world::START.parse::<jiff::Timestamp>()?.as_millisecond();
    let mut rng = Rng::new(args.seed);
    let spec = world::generate(&mut rng, start, args.days, args.accounts, args.prospects);
    let mut timeline = timeline(&spec);
    let mut fault_rng = Rng::new(args.seed ^ 0x5EED_FA17);
    for (at, fault) in faults::plan(&mut fault_rng, spec.start, spec.end, mode) {
        if let Fault::MessageWebhooks(_, lasts) = &fault {
            timeline.push((at + lasts, Event::MessageWebhooksDefault));
        }
        timeline.push((at, Event::Fault(fault)));
    }
    if args.sabotage == Some(crate::sabotage::Gate::Dedupe) {
        // Sends whose answer is lost, early and often: the guard's work.
        for d in 0..i64::from(args.days) {
            for h in [10, 12, 14, 16] {
                let at = spec.start + d * DAY_MS + h * HOUR_MS;
                timeline.push((at, Event::Fault(Fault::Timeout(faults::CHAT, true))));
            }
        }
    }
    timeline.sort_by_key(|(t, _)| *t);

    let mut run = Run::start(args, &spec, rng).await?;
    run.report.seed = args.seed;
    run.report.days = args.days;
    run.report.accounts = args.accounts;
    run.report.prospects = args.prospects;
    run.report.instances = args.instances;
    run.report.faults = args.faults.clone();
    run.report.sabotage = args.sabotage.map(|g| g.to_string());
    run.report.database = match &run.config.database_schema {
        Some(schema) => format!("{} (schema {schema})", run.config.database_url),
        None => run.config.database_url.clone(),
    };
    run.report.backend = if run.config.database_url.starts_with("sqlite") {
        "sqlite".into()
    } else {
        "postgres".into()
    };
    world_counts(&spec, &mut run.report);
    run.setup(&spec, mode, &mut fault_rng).await?;

    let mut next_event = 0;
    while run.clock.now_ms() < spec.end {
        let now = run.clock.now_ms();
        while next_event < timeline.len() && timeline[next_event].0 <= now {
            let event = timeline[next_event].1.clone();
            next_event += 1;
            run.apply(&spec, event).await?;
        }
        run.step().await?;
        run.report.steps += 1;
        let mut next = run.next_due().await?;
        if let Some((t, _)) = timeline.get(next_event) {
            next = next.min(*t);
        }
        let now = run.clock.now_ms();
        run.clock.set(
            next.clamp(now + MIN_STEP_MS, now + MAX_STEP_MS)
                .min(spec.end.max(now + 1)),
        );
    }
    run.step().await?;
    let mut report = run.finish(&spec).await?;
    report.wall_s = wall.elapsed().as_secs_f64();
    Ok(report)
}

/// World events on the timeline: outages and campaign pauses.
fn timeline(spec: &WorldSpec) -> Vec<(Millis, Event)> {
    let mut out = Vec::new();
    for (a, account) in spec.accounts.iter().enumerate() {
        for o in &account.outages {
            out.push((o.from, Event::Outage(a, o.kind)));
            out.push((o.until, Event::Recover(a)));
        }
        for (c, campaign) in account.campaigns.iter().enumerate() {
            if let Some((from, until)) = campaign.pause {
                out.push((from, Event::Pause(a, c)));
                out.push((until, Event::Resume(a, c)));
            }
        }
    }
    out
}

fn world_counts(spec: &WorldSpec, report: &mut Report) {
    let mut w: BTreeMap<String, u64> = BTreeMap::new();
    for p in &spec.prospects {
        *w.entry(p.behaviour.as_str().into()).or_default() += 1;
        *w.entry(format!("by_{}", p.id_kind.as_str())).or_default() += 1;
    }
    for a in &spec.accounts {
        *w.entry(
            if a.warmed {
                "accounts_warmed"
            } else {
                "accounts_new"
            }
            .into(),
        )
        .or_default() += 1;
        for c in &a.campaigns {
            *w.entry(format!("campaigns_{:?}", c.kind).to_lowercase())
                .or_default() += 1;
        }
        *w.entry("campaign_pauses".into()).or_default() +=
            a.campaigns.iter().filter(|c| c.pause.is_some()).count() as u64;
        for o in &a.outages {
            let k = match o.kind {
                OutageKind::Disconnect => "account_disconnects",
                OutageKind::Restrict => "account_restrictions",
            };
            *w.entry(k.into()).or_default() += 1;
        }
    }
    report.world = w;
}

impl Run {
    async fn start(args: &RunArgs, spec: &WorldSpec, rng: Rng) -> anyhow::Result<Run> {
        let clock = ManualClock::new(spec.start - 30 * DAY_MS);
        let shared: SharedClock = clock.clone();
        let first = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let host_url = format!("http://{}", first.local_addr()?);
        let sim = Simulator::start(SimConfig::new(SIM_KEY, shared.clone()).webhook(
            &format!("{host_url}/webhooks/unipile"),
            "Unipile-Auth",
            WEBHOOK_SECRET,
        ))
        .await?;
        let provider: Arc<dyn LinkedinProvider> = Arc::new(UnipileClient::new(
            &sim.base_url(),
            SIM_KEY,
            Duration::from_secs(30),
        )?);
        let (url, schema) =
            match &args.database {
                Some(url) if url.starts_with("postgres") => (
                    url.clone(),
                    Some(args.database_schema.clone().unwrap_or_else(|| {
                        format!("accord_sim_{}", uuid::Uuid::new_v4().simple())
                    })),
                ),
                Some(url) => (url.clone(), None),
                None => {
                    let dir = tempfile::Builder::new()
                        .prefix("accord-simulate-")
                        .tempdir()?
                        .keep();
                    (
                        format!("sqlite://{}?mode=rwc", dir.join("simulate.db").display()),
                        None,
                    )
                }
            };
        // The run is one sequential driver: on SQLite, one connection
        // keeps its page cache for the whole run (see `Db::connect_with`).
        let connections = url.starts_with("sqlite").then_some(1);
        let mut config = AppConfig::new(url);
        config.database_connections = connections;
        config.database_schema = schema;
        config.webhook_secret = Some(WEBHOOK_SECRET.into());
        config.api_token = Some(API_TOKEN.into());
        config.unipile = Some((sim.base_url(), SIM_KEY.to_string()));
        config.engine = EngineConfig {
            sabotage: args.sabotage.map_or(Sabotage::NONE, Sabotage::off),
            ..EngineConfig::default()
        };
        let mut hosts = vec![Some(
            Host::start(config.clone(), shared.clone(), provider.clone(), first).await?,
        )];
        for _ in 1..args.instances {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            hosts.push(Some(
                Host::start(config.clone(), shared.clone(), provider.clone(), listener).await?,
            ));
        }
        let receiver = Receiver::start(shared.clone()).await?;
        let api = Api::new(&host_url, API_TOKEN)?;
        Ok(Run {
            clock,
            shared,
            sim,
            provider,
            config,
            hosts,
            receiver,
            api,
            campaign_ids: Vec::new(),
            people: Vec::new(),
            rng,
            report: Report::default(),
        })
    }

    fn host(&self, i: usize) -> anyhow::Result<&Host> {
        self.hosts
            .get(i)
            .and_then(Option::as_ref)
            .context("a host is missing")
    }

    /// The simulated people, then the workspace, accounts, campaigns and
    /// prospects through the API, and the campaigns started.
    async fn setup(
        &mut self,
        spec: &WorldSpec,
        mode: FaultMode,
        fault_rng: &mut Rng,
    ) -> anyhow::Result<()> {
        for a in &spec.accounts {
            self.sim.add_account_with_id(&a.provider_id);
        }
        for p in &spec.prospects {
            let mut fate = faults::relation_fate(fault_rng, mode);
            if p.behaviour == Behaviour::ReplyBeforeSignal {
                // The reply lands hours before LinkedIn's accept webhook.
                fate = Some(WebhookFate::Deliver {
                    delay_ms: fault_rng.range(3 * HOUR_MS, 7 * HOUR_MS),
                });
            }
            let person = self.sim.add_person(PersonSpec {
                first_name: p.first_name.clone(),
                last_name: p.last_name.clone(),
                public_identifier: Some(p.slug.clone()),
                accept_after_ms: p.accept_after_ms,
                reply_after_accept: p
                    .reply_after_accept_ms
                    .map(|d| (d, "Thanks for the invite! Happy to chat.".to_string())),
                reply_to_messages: p
                    .reply_to_messages_ms
                    .map(|d| (d, "Sounds good, let's talk.".to_string())),
                relation_webhook: fate,
                ..PersonSpec::default()
            });
            if p.behaviour == Behaviour::AlreadyConnected {
                self.sim.connect(
                    &spec.accounts[p.account].provider_id,
                    &person.provider_id,
                    spec.start - 60 * DAY_MS,
                );
            }
            self.people.push(person);
        }
        let ws = self
            .api
            .post("/api/workspaces", &json!({"name": "Simulated agency"}))
            .await?;
        let ws = field(&ws, "id")?;
        let now = self.clock.now_ms();
        let mut c = self.host(0)?.app.db.acquire().await?;
        let endpoint = endpoints::insert(
            &mut c,
            &NewEndpoint {
                workspace_id: &ws,
                kind: EndpointKind::Webhook,
                url: &self.receiver.url(),
                name: Some("simulation receiver"),
                secret: None,
                enabled: true,
            },
            now,
        )
        .await?;
        drop(c);
        self.receiver.set_secret(
            &endpoint
                .secret
                .context("a webhook endpoint always gets a signing secret")?,
        );
        // Warmed-up accounts were connected a month ago; new ones today.
        let sims = self.sim.accounts();
        let mut account_ids = vec![String::new(); spec.accounts.len()];
        for warmed in [true, false] {
            if !warmed {
                self.clock.set(spec.start);
            }
            for (a, account) in spec.accounts.iter().enumerate() {
                if account.warmed != warmed {
                    continue;
                }
                let own = sims
                    .iter()
                    .find(|s| s.id == account.provider_id)
                    .map(|s| s.own_member_id.clone());
                let created = self
                    .api
                    .post(
                        &format!("/api/workspaces/{ws}/accounts"),
                        &json!({
                            "provider_account_id": account.provider_id,
                            "display_name": format!("Sender {a}"),
                            "time_zone": account.time_zone,
                            "own_member_id": own,
                            "daily_invite_cap": account.daily_invite_cap,
                            "weekly_invite_cap": account.weekly_invite_cap,
                            "daily_message_cap": account.daily_message_cap,
                            "weekly_message_cap": account.weekly_message_cap,
                            "min_spacing_seconds": account.min_spacing_ms / 1000,
                        }),
                    )
                    .await?;
                account_ids[a] = field(&created, "id")?;
            }
        }
        // The accounts' first relations poll sets their baseline.
        self.step().await?;
        for (a, account) in spec.accounts.iter().enumerate() {
            let mut ids = Vec::new();
            for campaign in &account.campaigns {
                let created = self
                    .api
                    .post(
                        &format!("/api/workspaces/{ws}/campaigns"),
                        &json!({
                            "name": campaign.name,
                            "linkedin_account_id": account_ids[a],
                            "steps": campaign.steps(),
                            "window": {
                                "start_minute": campaign.window.start_minute,
                                "end_minute": campaign.window.end_minute,
                                "days": campaign.window.days,
                            },
                        }),
                    )
                    .await?;
                ids.push(field(&created, "id")?);
            }
            self.campaign_ids.push(ids);
        }
        let mut rows: BTreeMap<(usize, usize), Vec<serde_json::Value>> = BTreeMap::new();
        for (i, p) in spec.prospects.iter().enumerate() {
            let variant = self.rng.below(4);
            rows.entry((p.account, p.campaign))
                .or_default()
                .push(world::import_row(p, &self.people[i], variant));
        }
        for ((a, c), rows) in rows {
            for chunk in rows.chunks(500) {
                let import = self
                    .api
                    .post(
                        &format!("/api/campaigns/{}/prospects", self.campaign_ids[a][c]),
                        &json!({ "prospects": chunk }),
                    )
                    .await?;
                if let Some(rejected) = import["rejected"].as_array()
                    && !rejected.is_empty()
                {
                    bail!("the import rejected prospects: {rejected:?}");
                }
            }
        }
        for (i, p) in spec.prospects.iter().enumerate() {
            if p.id_kind == world::IdKind::SlugChanged {
                let new_slug = format!("{}-x", p.slug);
                self.sim.change_slug(&self.people[i].provider_id, &new_slug);
                self.people[i].public_identifier = new_slug;
            }
        }
        for ids in &self.campaign_ids {
            for id in ids {
                self.api
                    .post(&format!("/api/campaigns/{id}/start"), &json!({}))
                    .await?;
            }
        }
        Ok(())
    }

    /// Plays one timeline event.
    async fn apply(&mut self, spec: &WorldSpec, event: Event) -> anyhow::Result<()> {
        match event {
            Event::Outage(a, OutageKind::Disconnect) => {
                self.sim.disconnect_account(&spec.accounts[a].provider_id);
            }
            Event::Outage(a, OutageKind::Restrict) => {
                self.sim.restrict_account(&spec.accounts[a].provider_id);
            }
            Event::Recover(a) => {
                self.sim.reconnect_account(&spec.accounts[a].provider_id);
            }
            Event::Pause(a, c) => {
                let id = &self.campaign_ids[a][c];
                self.api
                    .post(&format!("/api/campaigns/{id}/pause"), &json!({}))
                    .await?;
            }
            Event::Resume(a, c) => {
                let id = &self.campaign_ids[a][c];
                self.api
                    .post(&format!("/api/campaigns/{id}/resume"), &json!({}))
                    .await?;
            }
            Event::MessageWebhooksDefault => self.sim.set_webhook_fate(
                WebhookKind::MessageReceived,
                WebhookFate::Deliver { delay_ms: 1_000 },
            ),
            Event::Fault(fault) => {
                *self
                    .report
                    .faults_injected
                    .entry(fault.label())
                    .or_default() += 1;
                match fault {
                    Fault::Throttle(n) => self.sim.fail_next(n, 429, None),
                    Fault::ServerErrors(status, n) => self.sim.fail_next(n, status, None),
                    Fault::Timeout(route, after) => self.sim.time_out_next(1, Some(route), after),
                    Fault::Refuse(kind, route) => self.sim.fail_next_with(1, kind, Some(route)),
                    Fault::MessageWebhooks(fate, _) => {
                        self.sim
                            .set_webhook_fate(WebhookKind::MessageReceived, fate);
                    }
                    Fault::Crash(point) => {
                        let i = self.rng.below(self.hosts.len() as u64) as usize;
                        self.host(i)?.switch.arm(point);
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs `op` on every host at once; a host whose crash strikes is
    /// dropped mid-flight and rebuilt on the same database and address.
    /// Returns the sum of what the surviving hosts returned.
    async fn on_hosts<F, Fut>(&mut self, op: F) -> anyhow::Result<usize>
    where
        F: Fn(&Host) -> Fut,
        Fut: Future<Output = anyhow::Result<usize>> + Send + 'static,
    {
        let mut tasks = Vec::with_capacity(self.hosts.len());
        for i in 0..self.hosts.len() {
            let host = self.host(i)?;
            let switch = host.switch.clone();
            let fut = op(host);
            tasks.push(tokio::spawn(async move {
                tokio::select! {
                    biased;
                    () = switch.fired() => None,
                    r = fut => Some(r),
                }
            }));
        }
        let mut total = 0;
        for (i, task) in tasks.into_iter().enumerate() {
            match task.await? {
                Some(r) => total += r?,
                None => self.rebuild(i).await?,
            }
        }
        Ok(total)
    }

    /// The crash: everything of host `i` is dropped; a new instance starts
    /// on the same database, as a restarted process would.
    async fn rebuild(&mut self, i: usize) -> anyhow::Result<()> {
        self.report.crashes += 1;
        let old = self.hosts[i].take().context("a host is missing")?;
        let addr: SocketAddr = old.addr;
        old.stop().await;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let host = Host::start(
            self.config.clone(),
            self.shared.clone(),
            self.provider.clone(),
            listener,
        )
        .await?;
        self.hosts[i] = Some(host);
        Ok(())
    }

    /// Lets everything due now happen, until quiet: the simulator's events
    /// and webhooks, the inbox, the engine; the ticks; then again; then the
    /// notifications.
    async fn step(&mut self) -> anyhow::Result<()> {
        self.settle().await?;
        self.on_hosts(|h| {
            let ticks = h.ticks.clone();
            async move { Ok(ticks.run_due().await?.len()) }
        })
        .await?;
        self.settle().await?;
        self.on_hosts(|h| {
            let notifier = h.notifier.clone();
            async move {
                notifier.deliver_due(256).await?;
                Ok(0)
            }
        })
        .await?;
        Ok(())
    }

    async fn settle(&mut self) -> anyhow::Result<()> {
        for _ in 0..20 {
            let sim = self.sim.tick().await;
            let ran = self
                .on_hosts(|h| {
                    let app = h.app.clone();
                    let engine = h.engine.clone();
                    async move {
                        let inbox = app.inbox.process_pending(500).await?;
                        let ran = engine.run_once().await?;
                        Ok(inbox + ran)
                    }
                })
                .await?;
            if ran == 0 && sim.accepted + sim.replies + sim.delivered + sim.failed == 0 {
                break;
            }
        }
        Ok(())
    }

    /// The next instant something is due: a job (after its account's
    /// spacing), a workflow wait, a relations poll, a notification retry,
    /// a simulator event.
    async fn next_due(&self) -> anyhow::Result<Millis> {
        let now = self.clock.now_ms();
        let due = {
            let mut c = self.host(0)?.app.db.acquire().await?;
            crate::store::wakeups::next_after(&mut c, now).await?
        };
        let mut next = now + MAX_STEP_MS;
        for t in [due, self.sim.next_due_ms()].into_iter().flatten() {
            if t > now {
                next = next.min(t);
            }
        }
        Ok(next)
    }

    /// Reads the evidence and checks it.
    async fn finish(mut self, spec: &WorldSpec) -> anyhow::Result<Report> {
        let rows = {
            let mut c = self.host(0)?.app.db.acquire().await?;
            crate::store::enrollments::accepted_stamps(&mut c).await?
        };
        let mut stamps = Vec::with_capacity(rows.len());
        for row in rows {
            // The person as LinkedIn knows them: the invite's target, else
            // whatever identifier the prospect was imported with.
            let identifiers = [
                row.invited_provider_id,
                row.member_id,
                row.sales_nav_lead_url,
                row.profile_url,
            ];
            let person = identifiers
                .into_iter()
                .flatten()
                .find_map(|id| self.sim.person(&linkedin_key(&id)))
                .map(|p| p.provider_id);
            let (Some(person), Some(stamped_at)) = (person, row.stamped_at) else {
                continue;
            };
            stamps.push(Stamp {
                account: row.provider_account_id,
                person,
                enrollment_id: row.enrollment_id,
                source: row.accept_source.unwrap_or_else(|| "?".into()),
                stamped_at,
                late: row.late_accept_observed_at.is_some(),
            });
        }
        let digest = super::digest::of_run(&self.sim, &self.host(0)?.app.db).await?;
        let ramp = self.config.engine.ramp.clone();
        let evidence = Evidence {
            world: spec,
            people: &self.people,
            sim: &self.sim,
            stamps,
            notifications: self.receiver.received(),
            ramp: &ramp,
            grace_ms: GRACE_MS,
        };
        let mut report = std::mem::take(&mut self.report);
        checker::check(&evidence, &mut report);
        report.digest = digest;
        for host in self.hosts.into_iter().flatten() {
            host.stop().await;
        }
        self.sim.shutdown().await;
        Ok(report)
    }
}

/// The slug or provider id in an identifier (a URL, or the id itself).
fn linkedin_key(identifier: &str) -> String {
    use accord_policy_core::linkedin::{ProfileRef, parse_profile_url};
    match parse_profile_url(identifier) {
        Some(ProfileRef::Slug(slug)) => slug,
        Some(ProfileRef::ProviderId(id)) => id,
        None => identifier.to_string(),
    }
}

//! Bringing the demo up: the host, the simulator and the receiver on one
//! manual clock, then the simulated network, the workspace, account,
//! endpoint and campaign through the API, and the enrolled cast.

use super::Demo;
use super::api::{Api, field};
use super::args::{DAILY_INVITE_CAP, DemoArgs, TIME_ZONE};
use super::cast::{self, Role};
use super::receiver::Receiver;
use super::scenes::Scenes;
use super::story::{Story, Who};
use crate::app::{App, AppConfig};
use crate::clock::{Clock, DAY_MS, ManualClock, Millis, SharedClock};
use crate::engine::Ticks;
use crate::notify::Notifier;
use crate::provider::LinkedinProvider;
use crate::provider::unipile::UnipileClient;
use crate::simulator::{PersonSpec, SimConfig, Simulator};
use crate::store::endpoints::{self, EndpointKind, NewEndpoint};
use anyhow::{Context, bail};
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// The simulator's API key.
const SIM_KEY: &str = "demo-unipile-key";

impl Demo {
    /// Starts the host, the simulator, the receiver, on one manual clock.
    pub(super) async fn start(
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
            api_token,
        })
    }

    /// The simulated world, then the workspace, account, endpoint and
    /// campaign through the API, and the prospects.
    pub(super) async fn setup(&mut self, args: &DemoArgs, start: Millis) -> anyhow::Result<()> {
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
        let mut c = self.app.db.acquire().await?;
        let endpoint = endpoints::insert(
            &mut c,
            &NewEndpoint {
                workspace_id: &ws,
                kind: EndpointKind::Webhook,
                url: &self.receiver.url(),
                name: Some("demo receiver"),
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

        let enrolled = {
            let mut c = self.app.db.acquire().await?;
            let all = self.cast.len() as i64 + 1;
            crate::store::enrollments::identities_of_campaign(&mut c, &campaign_id, "", all).await?
        };
        for e in enrolled {
            let url = e.profile_url;
            let Some((_, person)) = self.cast.iter().find(|(_, p)| Some(p.profile_url()) == url)
            else {
                continue;
            };
            self.who.insert(
                e.enrollment_id,
                Who {
                    name: person.full_name(),
                    prospect_id: e.prospect_id,
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

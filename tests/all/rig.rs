//! A host wired to the Unipile simulator over loopback, on one manual
//! clock: webhooks travel over HTTP to the host's router, the engine calls
//! the simulator through the real client.
#![allow(dead_code)]

use crate::world::{Kind, T0, World};
use accord::app::AppConfig;
use accord::clock::{Clock, MINUTE_MS};
use accord::engine::{Engine, EngineConfig, Ticks};
use accord::provider::LinkedinProvider;
use accord::provider::unipile::UnipileClient;
use accord::simulator::{PersonSpec, SimConfig, SimHandle, SimPerson, Simulator};
use accord::store::campaigns::Campaign;
use accord::store::prospects::Prospect;
use std::sync::Arc;

/// The rig.
pub struct Rig {
    /// The world (host, clock, workspace, account, campaign).
    pub w: World,
    /// The simulator.
    pub sim: SimHandle,
    /// The host's engine.
    pub engine: Engine,
    /// The host's ticks.
    pub ticks: Ticks,
    /// The host's base URL (its API, admin API and webhooks).
    pub base: String,
    /// A client for the host's HTTP API.
    pub http: reqwest::Client,
    /// Stops the host's compile worker (uploaded modules compile off the
    /// request path, as under `accord serve`) when dropped.
    pub compile_stop: tokio::sync::watch::Sender<bool>,
}

/// The admin token of a rig's host.
pub const RIG_ADMIN_TOKEN: &str = "rig-admin-token";

impl Rig {
    /// A rig with the given engine settings (tests shorten nothing: the
    /// clock is manual).
    pub async fn new(kind: Kind, tune: impl FnOnce(&mut EngineConfig)) -> Rig {
        Rig::configured(kind, |_| {}, tune).await
    }

    /// A rig whose webhooks all wait for the inbox processor (no
    /// write-through on SQLite), like [`World::processor_only`].
    pub async fn processor_only(kind: Kind) -> Rig {
        Rig::configured(kind, |c| c.inbox_write_through = false, |_| {}).await
    }

    /// A rig with `tweak` applied to the host's configuration and `tune`
    /// to its engine settings.
    pub async fn configured(
        kind: Kind,
        tweak: impl FnOnce(&mut AppConfig),
        tune: impl FnOnce(&mut EngineConfig),
    ) -> Rig {
        let mut w = World::configured(kind, tweak).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let host = format!("{base}/webhooks/unipile");
        let sim_config = SimConfig::new("sim-key", w.clock.clone()).webhook(
            &host,
            "Unipile-Auth",
            "s3cret-header-value",
        );
        let sim = Simulator::start(sim_config).await.unwrap();
        sim.add_account_with_id(&w.account.provider_account_id);
        let client: Arc<dyn LinkedinProvider> = Arc::new(
            UnipileClient::new(
                &sim.base_url(),
                "sim-key",
                std::time::Duration::from_secs(5),
            )
            .unwrap(),
        );
        let mut config = w.app.config.clone();
        config.admin_token = Some(RIG_ADMIN_TOKEN.into());
        tune(&mut config.engine);
        w.app = accord::app::App::start_with_provider(config, w.clock.clone(), Some(client))
            .await
            .unwrap();
        let router = accord::http::router(w.app.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        let (compile_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(accord::lifecycle::module_compile::worker(
            w.app.clone(),
            w.app.config.module_compile,
            stopped,
        ));
        let engine = w.app.engine.clone().unwrap();
        let ticks = Ticks::new(engine.clone());
        Rig {
            w,
            sim,
            engine,
            ticks,
            base,
            http: reqwest::Client::new(),
            compile_stop,
        }
    }

    /// Calls the host's HTTP API (the admin token on `/admin` paths):
    /// the status and the JSON body.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if path.starts_with("/admin") {
            req = req.bearer_auth(RIG_ADMIN_TOKEN);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text:?}"));
        (status, body)
    }

    /// `PUT path` on the admin API with a module as the body: (status, answer).
    pub async fn put_module(&self, path: &str, bytes: Vec<u8>) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .put(format!("{}{path}", self.base))
            .header("content-type", "application/wasm")
            .bearer_auth(RIG_ADMIN_TOKEN)
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// The enrollment as stored.
    pub async fn enrollment(&self, id: &str) -> accord::store::enrollments::EnrollmentRow {
        let mut c = self.w.app.db.pool().acquire().await.unwrap();
        accord::store::enrollments::get(&mut c, id, "")
            .await
            .unwrap()
            .unwrap()
    }

    /// Now on the shared clock.
    pub fn now(&self) -> i64 {
        self.w.clock.now_ms()
    }

    /// A simulated person, enrolled in the main campaign by profile URL.
    pub async fn enroll(&self, enrollment_id: &str, spec: PersonSpec) -> SimPerson {
        self.enroll_in(&self.w.campaign, enrollment_id, spec).await
    }

    /// A simulated person, enrolled in `campaign` by profile URL.
    pub async fn enroll_in(
        &self,
        campaign: &Campaign,
        enrollment_id: &str,
        spec: PersonSpec,
    ) -> SimPerson {
        let person = self.sim.add_person(spec);
        let prospect = Prospect {
            workspace_id: campaign.workspace_id.clone(),
            full_name: Some(person.full_name()),
            ..self.w.prospect(Some(&person.profile_url()), None, None)
        };
        self.w.enroll(campaign, enrollment_id, prospect).await;
        person
    }

    /// Lets everything due now happen: simulator events and webhooks, the
    /// inbox, the engine (repeatedly, until quiet).
    pub async fn settle(&self) {
        for _ in 0..20 {
            let report = self.sim.tick().await;
            let inbox = self.w.app.inbox.process_pending(500).await.unwrap();
            let ran = self.engine.run_once().await.unwrap();
            let quiet = report.accepted + report.replies + report.delivered + report.failed == 0;
            if inbox == 0 && ran == 0 && quiet {
                break;
            }
        }
    }

    /// Moves the clock in `step` increments up to `total`, settling at
    /// each step, running the ticks too.
    pub async fn run_for(&self, total: i64, step: i64) {
        let end = self.now() + total;
        while self.now() < end {
            self.w.clock.advance(step.min(end - self.now()));
            self.settle().await;
            self.ticks.run_due().await.unwrap();
            self.settle().await;
        }
    }

    /// Advances one minute at a time for `minutes`.
    pub async fn minutes(&self, minutes: i64) {
        self.run_for(minutes * MINUTE_MS, MINUTE_MS).await;
    }

    /// Messages the account sent to `person`.
    pub fn sent_messages(&self, person: &SimPerson) -> Vec<accord::simulator::SimMessage> {
        self.sim
            .messages(&self.w.account.provider_account_id, &person.provider_id)
            .into_iter()
            .filter(|m| m.from_self)
            .collect()
    }

    /// SQL count helper.
    pub async fn count(&self, sql: &'static str, bind: &str) -> i64 {
        self.w.count(sql, bind).await
    }
}

/// Oct 1 2026 10:00 UTC, a Thursday.
pub const OCT1_10AM: i64 = T0 - 9 * 86_400_000 - 4 * 3_600_000 - 30 * 60_000;

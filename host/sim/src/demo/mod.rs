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
//!
//! The entry ([`run`]) reads in order of the files: `args` (settings),
//! `setup` (bringing it up), `event_loop` (how time moves), `scenes` (the
//! scripted moments), `score` (counting and checking), `report` (the
//! table), `digest` (the audit-log hash).

pub(crate) mod api;
mod args;
pub mod cast;
mod digest;
mod event_loop;
pub(crate) mod receiver;
mod report;
mod scenes;
mod score;
mod setup;
mod story;

pub use args::DemoArgs;
pub(crate) use digest::audit_log_lines;
pub use report::{DemoReport, PATHS};

use crate::app::App;
use crate::clock::{Clock, DAY_MS, ManualClock};
use crate::engine::{Engine, Ticks};
use crate::notify::Notifier;
use crate::simulator::{SimHandle, SimPerson};
use api::Api;
use args::TIME_ZONE;
use cast::Member;
use digest::event_digest;
use jiff::tz::TimeZone;
use receiver::Receiver;
use scenes::Scenes;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use story::{Story, Who};

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
    api_token: String,
}

/// Runs the demo and returns what it observed (printing the story unless
/// `quiet`; the table is printed by [`DemoReport::print`]).
pub async fn run(args: &DemoArgs) -> anyhow::Result<DemoReport> {
    let (report, told) = tell(args).await?;
    told.close().await;
    Ok(report)
}

/// The demo's host once the story is told, still open on the demo's
/// database with the simulated LinkedIn still answering: `accord demo
/// --serve` serves its dashboard and API. Its clock stands where the
/// story ended (see [`Told::app`]).
pub struct Told {
    demo: Demo,
}

impl Told {
    /// The host. Its clock is the story's manual clock, stopped at the
    /// story's end: every "now" the pages show (a follow-up due "in 3 h",
    /// an accept "2 d ago") is the same instant as the last stamp, so the
    /// month reads as it stood. Nothing drives the engine any more (the
    /// story did, step by step), so nothing is sent while someone looks;
    /// a webhook posted meanwhile is still stored and processed.
    pub fn app(&self) -> &Arc<App> {
        &self.demo.app
    }

    /// The bearer token of the demo's API, which also signs in to the
    /// dashboard.
    pub fn api_token(&self) -> &str {
        &self.demo.api_token
    }

    /// Closes the database and stops the simulator.
    pub async fn close(self) {
        self.demo.app.db.close().await;
        self.demo.sim.shutdown().await;
    }
}

/// Runs the demo and keeps its host open: what it observed, and the host.
pub async fn tell(args: &DemoArgs) -> anyhow::Result<(DemoReport, Told)> {
    let wall = Instant::now();
    args.check()?;
    let database = args.database()?;
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
    report.wall = wall.elapsed();
    Ok((report, Told { demo }))
}

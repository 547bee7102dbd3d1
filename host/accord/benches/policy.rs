//! Policy decision cost: one isolated decision (a fresh store from the
//! pooled `InstancePre`) per call, against the same logic compiled
//! natively, in the same run; then throughput with 1 and 2 threads, with
//! and without keeping pooled memory resident.
//!
//! Run: `cargo bench --bench policy` (prints a Markdown table).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use accord::policy::{Limits, PolicyModule, PolicyRuntime, Slot, builtin};
use accord_policy_core::*;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SAMPLES: usize = 20_000;
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(2);

fn main() {
    let inputs = Inputs::new();
    println!("| slot | native median | wasm median | wasm p99 | ratio (median) | fuel/call |");
    println!("|---|---|---|---|---|---|");
    let rt = Arc::new(PolicyRuntime::new(Limits::default(), None).unwrap());
    for slot in Slot::ALL {
        let module = load(&rt, slot);
        let native = native_median(slot, &inputs);
        let (median, p99, fuel) = wasm_latency(&rt, &module, &inputs);
        println!(
            "| {slot} | {:.2} µs | {:.2} µs | {:.2} µs | {:.0}x | {fuel} |",
            micros(native),
            micros(median),
            micros(p99),
            median.as_secs_f64() / native.as_secs_f64()
        );
    }
    println!();
    println!("| keep resident | threads | slot | decisions/s |");
    println!("|---|---|---|---|");
    for keep in [0usize, 2 << 20] {
        let limits = Limits {
            keep_resident_bytes: keep,
            ..Limits::default()
        };
        let rt = Arc::new(PolicyRuntime::new(limits, None).unwrap());
        for slot in Slot::ALL {
            let module = load(&rt, slot);
            for threads in [1, 2] {
                let rate = throughput(&rt, &module, &inputs, threads);
                println!("| {} MiB | {threads} | {slot} | {rate:.0} |", keep >> 20);
            }
        }
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn load(rt: &PolicyRuntime, slot: Slot) -> Arc<PolicyModule> {
    let (bytes, origin) = builtin::for_slot(slot);
    rt.load(bytes, origin, Some(slot)).unwrap()
}

/// Representative inputs: a webhook resolved against three candidates, a
/// late accept after a timed-out wait, a late auto-fire pre-flight.
#[derive(Clone)]
struct Inputs {
    signal: AcceptSignal,
    candidates: Vec<Enrollment>,
    routing: RoutingInput,
    preflight: PreflightInput,
}

impl Inputs {
    fn new() -> Self {
        let member = "ACoAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM";
        let signal = AcceptSignal {
            source: SignalSource::Webhook,
            linkedin_account_id: "SDF4tGaPSPSzNe1D1xsOs".into(),
            member_id: Some(member.into()),
            public_identifier: Some("julien-crepieux".into()),
            profile_url: Some("https://www.linkedin.com/in/julien-crepieux/".into()),
            full_name: Some("Julien Crépieux".into()),
            observed_at: 1_791_650_000_000,
        };
        let enrollment = |id: &str, invite: Option<&str>| Enrollment {
            enrollment_id: id.into(),
            campaign_id: format!("campaign-{id}"),
            identity: ProspectIdentity {
                profile_url: Some("https://uk.linkedin.com/in/Julien-Crepieux?trk=x".into()),
                ..ProspectIdentity::default()
            },
            invite: invite.map(|p| InviteInfo {
                provider_id: p.into(),
                sent_at: 1_791_000_000_000,
            }),
            campaign_status: CampaignStatus::Running,
            linkedin_status: LinkedinStatus::Invited,
            step_index: 1,
            workflow_state: WorkflowState::WaitingAccept,
            accepted_at: None,
            replied_at: None,
            late_accept_observed_at: None,
            late_accept_followup_sent_at: None,
        };
        let candidates = vec![
            enrollment("e1", Some(member)),
            enrollment("e2", None),
            enrollment("e3", Some("ACoAABRqAmsKabcdefghij")),
        ];
        let mut late = enrollment("e1", Some(member));
        late.workflow_state = WorkflowState::TimedOut;
        late.step_index = 2;
        let campaign = Campaign {
            campaign_id: "c1".into(),
            status: CampaignStatus::Running,
            steps: vec![
                CampaignStep::SendInvite,
                CampaignStep::WaitAccept { days: 7 },
                CampaignStep::Condition {
                    if_accepted: 3,
                    otherwise: None,
                },
                CampaignStep::SendMessage,
                CampaignStep::Wait { days: 3 },
                CampaignStep::SendMessage,
            ],
        };
        let routing = RoutingInput {
            signal: signal.clone(),
            enrollment: late,
            campaign,
            now: 1_791_650_000_000,
        };
        let preflight = PreflightInput {
            source: DispatchSource::LateAutoFire,
            enrollment_id: "e1".into(),
            campaign_id: "c1".into(),
            step_index: 3,
            step: CampaignStep::SendMessage,
            account_status: AccountStatus::Connected,
            campaign_status: CampaignStatus::Running,
            linkedin_status: LinkedinStatus::Connected,
            already_sent_at: None,
            replied_at: None,
            active_job_exists: false,
            now: 1_791_650_000_000,
        };
        Inputs {
            signal,
            candidates,
            routing,
            preflight,
        }
    }
}

fn native_once(slot: Slot, i: &Inputs) {
    match slot {
        Slot::Match => {
            black_box(defaults::resolve(
                black_box(&i.signal),
                black_box(&i.candidates),
            ));
        }
        Slot::Routing => {
            black_box(defaults::route(black_box(&i.routing)));
        }
        Slot::Preflight => {
            black_box(defaults::preflight(black_box(&i.preflight)));
        }
    }
}

/// Median of 200 batches of 1,000 native calls, per call.
fn native_median(slot: Slot, i: &Inputs) -> Duration {
    let mut batches: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..1000 {
                native_once(slot, i);
            }
            t.elapsed() / 1000
        })
        .collect();
    batches.sort();
    batches[batches.len() / 2]
}

/// One isolated decision; returns its fuel.
fn wasm_once(rt: &PolicyRuntime, m: &PolicyModule, i: &Inputs) -> u64 {
    let (error, fuel) = match m.slot() {
        Slot::Match => {
            let d = rt.resolve(m, &i.signal, &i.candidates);
            (d.error, d.stats.fuel_used)
        }
        Slot::Routing => {
            let d = rt.route(m, &i.routing);
            (d.error, d.stats.fuel_used)
        }
        Slot::Preflight => {
            let d = rt.preflight(m, &i.preflight);
            (d.error, d.stats.fuel_used)
        }
    };
    assert!(error.is_none(), "{error:?}");
    fuel
}

fn wasm_latency(rt: &PolicyRuntime, m: &PolicyModule, i: &Inputs) -> (Duration, Duration, u64) {
    for _ in 0..2_000 {
        wasm_once(rt, m, i);
    }
    let mut fuel = 0;
    let mut samples: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let t = Instant::now();
            fuel = wasm_once(rt, m, i);
            t.elapsed()
        })
        .collect();
    samples.sort();
    (samples[SAMPLES / 2], samples[SAMPLES * 99 / 100], fuel)
}

fn throughput(rt: &Arc<PolicyRuntime>, m: &Arc<PolicyModule>, i: &Inputs, threads: usize) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (rt, m, i) = (rt.clone(), m.clone(), i.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while start.elapsed() < THROUGHPUT_WINDOW {
                    wasm_once(&rt, &m, &i);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

//! Policy decision cost: one isolated decision (a fresh store from the
//! pooled `InstancePre`) per call, against the same logic compiled
//! natively, in the same run; then throughput with 1 and 2 threads, with
//! and without keeping pooled memory resident. Then the Python and
//! JavaScript ports of the defaults (`scripts/build-language-policies`):
//! compile and cached-load times, and the isolated decision under each
//! setting of the pooled memory's reset, beside the Rust default.
//!
//! Run: `cargo bench --bench policy` (prints Markdown tables);
//! `ACCORD_BENCH_LANGUAGE_POLICIES=DIR` names the ports' folder (default
//! `target/language-policies`), `ACCORD_BENCH_SECTIONS=ports` runs only them,
//! `ACCORD_BENCH_PORTS=python|javascript` only one language's.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use accord::policy::{Limits, PolicyModule, PolicyRuntime, Slot, builtin};
use accord_policy_core::*;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SAMPLES: usize = 20_000;
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(2);

fn main() {
    let inputs = Inputs::new();
    let only_ports = std::env::var("ACCORD_BENCH_SECTIONS").is_ok_and(|s| s == "ports");
    if !only_ports {
        rust_defaults(&inputs);
    }
    language_ports(&inputs);
}

fn rust_defaults(inputs: &Inputs) {
    let inputs = inputs.clone();
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

/// Samples per language-port latency row (a decision costs milliseconds).
const PORT_SAMPLES: usize = 400;

/// The pooled memory's reset settings compared for the ports: bytes kept
/// resident per slot, and whether `PAGEMAP_SCAN` finds the dirty pages.
const PORT_SETTINGS: [(&str, usize, bool); 4] = [
    ("keep 2 MiB", 2 << 20, false),
    ("keep 2 MiB + pagemap", 2 << 20, true),
    ("keep 32 MiB", 32 << 20, false),
    ("keep 32 MiB + pagemap", 32 << 20, true),
];

fn ports_dir() -> PathBuf {
    std::env::var_os("ACCORD_BENCH_LANGUAGE_POLICIES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/language-policies")
        })
}

fn language_ports(inputs: &Inputs) {
    let dir = ports_dir();
    if !dir.join("python/match.wasm").exists() || !dir.join("javascript/match.wasm").exists() {
        println!(
            "\n(no language ports under {}: run scripts/build-language-policies --install)",
            dir.display()
        );
        return;
    }
    // `ACCORD_BENCH_PORTS=python` (or `javascript`) times one language,
    // e.g. under a profiler.
    let only = std::env::var("ACCORD_BENCH_PORTS").ok();
    let languages: Vec<&str> = ["python", "javascript"]
        .into_iter()
        .filter(|l| only.as_deref().is_none_or(|o| o == *l))
        .collect();
    let cache = tempfile::tempdir().unwrap();
    let base = Limits {
        max_concurrent: 4,
        ..Limits::default()
    };

    println!("\n| language | slot | size | compile | cached load |");
    println!("|---|---|---|---|---|");
    for &language in &languages {
        for slot in Slot::ALL {
            let path = dir.join(language).join(format!("{slot}.wasm"));
            let bytes = std::fs::read(&path).unwrap();
            let cold = PolicyRuntime::new(base, Some(cache.path().into())).unwrap();
            let t = Instant::now();
            cold.load(&bytes, "bench", Some(slot)).unwrap();
            let compile = t.elapsed();
            let warm = PolicyRuntime::new(base, Some(cache.path().into())).unwrap();
            let t = Instant::now();
            warm.load(&bytes, "bench", Some(slot)).unwrap();
            let cached = t.elapsed();
            println!(
                "| {language} | {slot} | {:.1} MB | {:.1} s | {:.0} ms |",
                bytes.len() as f64 / 1e6,
                compile.as_secs_f64(),
                cached.as_secs_f64() * 1e3
            );
        }
    }

    println!("\n| setting | module | slot | median | p99 | fuel/call | peak memory |");
    println!("|---|---|---|---|---|---|---|");
    for (label, keep, pagemap) in PORT_SETTINGS {
        let limits = Limits {
            keep_resident_bytes: keep,
            pagemap_scan: pagemap,
            ..base
        };
        let rt = PolicyRuntime::new(limits, Some(cache.path().into())).unwrap();
        for slot in Slot::ALL {
            let mut modules = vec![("rust", load(&rt, slot))];
            for &language in &languages {
                let path = dir.join(language).join(format!("{slot}.wasm"));
                modules.push((language, rt.load_file(&path, Some(slot)).unwrap()));
            }
            for (name, module) in modules {
                let (median, p99, fuel, peak) = port_latency(&rt, &module, inputs);
                println!(
                    "| {label} | {name} | {slot} | {:.3} ms | {:.3} ms | {fuel} | {:.1} MiB |",
                    median.as_secs_f64() * 1e3,
                    p99.as_secs_f64() * 1e3,
                    peak as f64 / (1 << 20) as f64
                );
            }
        }
    }
}

/// Median and p99 of [`PORT_SAMPLES`] isolated decisions after 40
/// unmeasured ones, with the last call's fuel and peak memory.
fn port_latency(
    rt: &PolicyRuntime,
    m: &PolicyModule,
    i: &Inputs,
) -> (Duration, Duration, u64, usize) {
    for _ in 0..40 {
        wasm_stats(rt, m, i);
    }
    let mut last = (0, 0);
    let mut samples: Vec<Duration> = (0..PORT_SAMPLES)
        .map(|_| {
            let t = Instant::now();
            last = wasm_stats(rt, m, i);
            t.elapsed()
        })
        .collect();
    samples.sort();
    (
        samples[PORT_SAMPLES / 2],
        samples[PORT_SAMPLES * 99 / 100],
        last.0,
        last.1,
    )
}

/// One isolated decision; returns its fuel and peak memory.
fn wasm_stats(rt: &PolicyRuntime, m: &PolicyModule, i: &Inputs) -> (u64, usize) {
    let (error, stats) = match m.slot() {
        Slot::Match => {
            let d = rt.resolve(m, &i.signal, &i.candidates);
            (d.error, d.stats)
        }
        Slot::Routing => {
            let d = rt.route(m, &i.routing);
            (d.error, d.stats)
        }
        Slot::Preflight => {
            let d = rt.preflight(m, &i.preflight);
            (d.error, d.stats)
        }
    };
    assert!(error.is_none(), "{}: {error:?}", m.origin());
    (stats.fuel_used, stats.peak_memory_bytes)
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

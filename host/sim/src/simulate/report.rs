//! What a simulation run reports: every count, the violations per
//! invariant, the latencies, as a readable table and as JSON.

use serde::Serialize;
use std::collections::BTreeMap;

/// The invariants the checker counts violations of, in report order.
pub const INVARIANTS: [&str; 12] = [
    "daily_cap_exceeded",
    "weekly_cap_exceeded",
    "ramp_exceeded",
    "outside_window",
    "spacing_too_short",
    "message_to_non_connection",
    "retry_after_no_connection",
    "duplicate_followup",
    "accept_never_stamped",
    "accept_notified_zero_times",
    "accept_notified_twice",
    "accept_stamped_without_accept",
];

/// Median and p99 of a set of durations, in seconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: usize,
    /// Median, s.
    pub median_s: Option<f64>,
    /// 99th percentile, s.
    pub p99_s: Option<f64>,
}

impl Latency {
    /// From samples in milliseconds.
    pub fn of(mut samples: Vec<i64>) -> Self {
        samples.sort_unstable();
        let at = |q: f64| -> Option<f64> {
            if samples.is_empty() {
                return None;
            }
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            Some(samples[i.min(samples.len() - 1)] as f64 / 1000.0)
        };
        Latency {
            count: samples.len(),
            median_s: at(0.5),
            p99_s: at(0.99),
        }
    }

    fn show(&self) -> String {
        let f = |v: Option<f64>| v.map_or("-".to_string(), human);
        format!(
            "n={:<5} median {:>8}  p99 {:>8}",
            self.count,
            f(self.median_s),
            f(self.p99_s)
        )
    }
}

fn human(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// The latencies of one accept path.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PathLatency {
    /// From LinkedIn's accept to Accord's stamp.
    pub accept_to_stamp: Latency,
    /// From LinkedIn's accept to the first follow-up LinkedIn received.
    pub accept_to_followup: Latency,
}

/// The whole report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Simulated days.
    pub days: u32,
    /// Accounts.
    pub accounts: usize,
    /// Prospects.
    pub prospects: usize,
    /// Host instances.
    pub instances: usize,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The database (a SQLite file is kept for inspection).
    pub database: String,
    /// `default` or `none`.
    pub faults: String,
    /// The guard switched off, if any.
    pub sabotage: Option<String>,
    /// Wall time, s.
    pub wall_s: f64,
    /// Steps of the simulated clock.
    pub steps: u64,
    /// The world as drawn (prospects per behaviour, per identifier kind…).
    pub world: BTreeMap<String, u64>,
    /// What the provider's log holds (calls, invites, messages, accepts…).
    pub provider: BTreeMap<String, u64>,
    /// Faults injected, by kind.
    pub faults_injected: BTreeMap<String, u64>,
    /// Host crashes and rebuilds.
    pub crashes: u64,
    /// Violations per invariant (every invariant listed, 0 included).
    pub violations: BTreeMap<String, u64>,
    /// A few violations spelled out.
    pub examples: Vec<String>,
    /// Latencies per accept path (Accord's `accept_source`).
    pub latency_by_path: BTreeMap<String, PathLatency>,
    /// Late accepts: from LinkedIn's accept to the follow-up.
    pub late_accept_followup: Latency,
    /// Accepts too close to the end to be held to the invariants.
    pub accepts_too_recent: u64,
    /// sha256 of the provider's log and Accord's audit log: one seed, one
    /// digest.
    pub digest: String,
}

impl Report {
    /// Total violations.
    pub fn total_violations(&self) -> u64 {
        self.violations.values().sum()
    }

    /// Counts one violation, keeping the first examples.
    pub fn violation(&mut self, invariant: &str, example: impl FnOnce() -> String) {
        *self.violations.entry(invariant.to_string()).or_default() += 1;
        if self.examples.len() < 20 {
            self.examples.push(format!("{invariant}: {}", example()));
        }
    }

    /// Where it ran and how long it took: all that differs between two
    /// runs of one seed (the CLI prints it on stderr).
    pub fn run_line(&self) -> String {
        format!("  wall {:.1} s; database {}", self.wall_s, self.database)
    }

    /// The readable table: the same for one seed, byte for byte.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(s.trim_end());
            out.push('\n');
        };
        line(format!(
            "══ accord simulate run: {} days, {} accounts, {} prospects, seed {}, {} ×{}, faults {}{} ══",
            self.days,
            self.accounts,
            self.prospects,
            self.seed,
            self.backend,
            self.instances,
            self.faults,
            self.sabotage
                .as_ref()
                .map_or(String::new(), |g| format!(", SABOTAGE {g}")),
        ));
        line(format!(
            "  {} clock steps, {} host crashes",
            self.steps, self.crashes
        ));
        let join = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(" · ")
        };
        line(format!("  world      {}", join(&self.world)));
        line(format!("  provider   {}", join(&self.provider)));
        line(format!("  faults     {}", join(&self.faults_injected)));
        line("  invariants (read from the provider's log)".into());
        for name in INVARIANTS {
            let n = self.violations.get(name).copied().unwrap_or(0);
            let mark = if n == 0 { "ok" } else { "VIOLATED" };
            line(format!("    {name:<32}{n:>6}   {mark}"));
        }
        line("  latency per accept path".into());
        for (path, l) in &self.latency_by_path {
            line(format!(
                "    {path:<26} accept→stamp {}   accept→follow-up {}",
                l.accept_to_stamp.show(),
                l.accept_to_followup.show()
            ));
        }
        line(format!(
            "    {:<26} accept→follow-up {}",
            "late accepts",
            self.late_accept_followup.show()
        ));
        if self.accepts_too_recent > 0 {
            line(format!(
                "  {} accepts in the last hours not held to the stamp/notification invariants",
                self.accepts_too_recent
            ));
        }
        for e in &self.examples {
            line(format!("  ✗ {e}"));
        }
        line(format!("  digest     sha256:{}", self.digest));
        let total = self.total_violations();
        line(if total == 0 {
            "  result     no violation".into()
        } else {
            format!("  result     {total} VIOLATIONS")
        });
        out
    }
}

//! What the demo observed and the final table it prints. The counting
//! and the checks that fill it are in `score`; this is the shape of the
//! result and how it reads.

use super::args::{DAILY_INVITE_CAP, TIME_ZONE};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The accept paths, as stored in `enrollments.accept_source`.
pub const PATHS: [&str; 5] = [
    "webhook",
    "polling",
    "reply_inferred",
    "engine_already_connected",
    "manual_resync",
];

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

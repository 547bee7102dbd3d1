//! The demo's narrator: reads what the host recorded since the last step
//! (`linkedin_events`, `traces`, and the deliveries the receiver got) and
//! prints one readable line per meaningful event, in simulated local time.

use super::receiver::Receiver;
use crate::clock::Millis;
use crate::store::events::{self, Event};
use crate::store::traces;
use crate::store::{Db, inbox, jobs};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Who an enrollment is.
#[derive(Debug, Clone)]
pub struct Who {
    /// Display name.
    pub name: String,
    /// The prospect id.
    pub prospect_id: String,
    /// The simulator's classic provider id.
    pub provider_id: String,
}

/// The narrator's state.
pub struct Story {
    tz: TimeZone,
    quiet: bool,
    daily_invite_cap: i64,
    cursor: Millis,
    seen: HashSet<String>,
    delivered: usize,
    day: Option<Date>,
    invites_today: (Option<Date>, i64),
    cap_waiting: i64,
}

/// One line to print.
struct Line {
    at: Millis,
    /// Order among lines of the same instant: the accept, then what it
    /// caused (late accept, reply), the notification, then the rest.
    rank: u8,
    text: String,
}

fn line(at: Millis, rank: u8, text: String) -> Line {
    Line { at, rank, text }
}

impl Story {
    /// A narrator printing in `tz` (nothing when `quiet`).
    pub fn new(tz: TimeZone, quiet: bool, daily_invite_cap: i64, start: Millis) -> Story {
        Story {
            tz,
            quiet,
            daily_invite_cap,
            cursor: start,
            seen: HashSet::new(),
            delivered: 0,
            day: None,
            invites_today: (None, 0),
            cap_waiting: 0,
        }
    }

    /// The local date of `ms`.
    pub fn date(&self, ms: Millis) -> Option<Date> {
        Timestamp::from_millisecond(ms)
            .ok()
            .map(|t| t.to_zoned(self.tz.clone()).date())
    }

    /// `Mon 09:03`.
    pub fn hm(&self, ms: Millis) -> String {
        self.fmt(ms, "%a %H:%M")
    }

    /// `09:03:07`.
    pub fn hms(&self, ms: Millis) -> String {
        self.fmt(ms, "%H:%M:%S")
    }

    /// `ms` in local time with a strftime format.
    pub fn fmt(&self, ms: Millis, format: &str) -> String {
        Timestamp::from_millisecond(ms)
            .map(|t| t.to_zoned(self.tz.clone()).strftime(format).to_string())
            .unwrap_or_else(|_| ms.to_string())
    }

    /// Prints one line stamped `at` (with a day header when the day changes).
    pub fn say(&mut self, at: Millis, text: &str) {
        if self.quiet {
            return;
        }
        let date = self.date(at);
        if date != self.day {
            self.day = date;
            let window = match date.map(|d| d.weekday().to_monday_one_offset()) {
                Some(6 | 7) => "  (weekend: the window is closed, polling goes on)",
                _ => "",
            };
            println!("── {}{window}", self.fmt(at, "%A %-d %B %Y"));
        }
        println!("{}  {text}", self.hm(at));
    }

    /// Prints a line without a time (setup, tables).
    pub fn note(&self, text: &str) {
        if !self.quiet {
            println!("{text}");
        }
    }

    /// Reads and prints everything recorded since the last call, up to
    /// `now`. `truth` is when each person really accepted on (simulated)
    /// LinkedIn, by provider id, to show how fast each path noticed.
    pub async fn flush(
        &mut self,
        db: &Db,
        receiver: &Receiver,
        who: &HashMap<String, Who>,
        truth: &HashMap<String, Millis>,
        now: Millis,
    ) -> anyhow::Result<()> {
        let mut c = db.acquire().await?;
        let events = events::since(&mut c, self.cursor).await?;
        let traces = traces::since(&mut c, self.cursor).await?;
        let mut lines = Vec::new();
        let mut started = 0;
        let mut started_at = now;
        for e in events {
            if !self.seen.insert(e.id.clone()) {
                continue;
            }
            if e.kind == "workflow_started" {
                started += 1;
                started_at = started_at.min(e.occurred_at);
                continue;
            }
            if let Some(text) = self.event_line(&e, who, truth) {
                let rank = match e.kind.as_str() {
                    "accept_stamped" => 0,
                    "late_accept_observed" | "reply_received" => 1,
                    _ => 3,
                };
                lines.push(line(e.occurred_at, rank, text));
            }
        }
        if started > 0 {
            let queued = jobs::count_waiting(&mut c, "send_invite", "window").await?;
            lines.push(line(
                started_at,
                3,
                format!(
                    "{started} enrollments started: {} invites queued for the sending window (09:00-17:00 {})",
                    queued,
                    self.tz.iana_name().unwrap_or("local")
                ),
            ));
        }
        let mut orphans = Vec::new();
        for t in traces {
            if !self.seen.insert(t.id.clone()) {
                continue;
            }
            let signal: Value = t
                .signal
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            let name = signal["full_name"]
                .as_str()
                .unwrap_or("someone")
                .to_string();
            match t.kind.as_str() {
                "orphan_webhook" => orphans.push((t.created_at, name)),
                "bridge_miss_all_strategies" => lines.push(line(
                    t.created_at,
                    3,
                    format!(
                        "new relation {name} (seen by {}) matches no enrollment: bridge miss traced, nothing sent",
                        signal["source"].as_str().unwrap_or("?")
                    ),
                )),
                other => lines.push(line(t.created_at, 3, format!("trace {other} ({name})"))),
            }
        }
        if let Some((at, _)) = orphans.first() {
            let names: Vec<&str> = orphans.iter().map(|(_, n)| n.as_str()).collect();
            lines.push(line(
                *at,
                3,
                format!(
                    "first relations poll (the baseline): {} existing connections ({}); no campaign running yet, traced as orphan signals",
                    orphans.len(),
                    names.join(", ")
                ),
            ));
        }
        // Webhooks that arrived after their accept was already stamped.
        let late = inbox::processed_since(&mut c, "new_relation", self.cursor).await?;
        for (outcome, at) in late {
            let outcome: Value = outcome
                .as_deref()
                .and_then(|o| serde_json::from_str(o).ok())
                .unwrap_or_default();
            for m in outcome["matches"].as_array().into_iter().flatten() {
                let Some(w) = m["enrollment_id"].as_str().and_then(|id| who.get(id)) else {
                    continue;
                };
                if m["stamp"] == "already_stamped"
                    && self.seen.insert(format!("late-webhook:{}", w.prospect_id))
                {
                    let lag = truth.get(&w.provider_id).map_or(String::new(), |t| {
                        format!(" {} after the accept", delta(at - t))
                    });
                    lines.push(line(
                        at,
                        3,
                        format!(
                            "the new_relation webhook for {} finally arrives{lag}: already stamped, nothing changes (no second notification)",
                            w.name
                        ),
                    ));
                }
            }
        }
        let received = receiver.received();
        for r in received.iter().skip(self.delivered) {
            lines.push(line(
                r.at_ms,
                2,
                format!(
                    "notification delivered → n8n endpoint (Standard Webhooks, signature {}): {} accepted via {}",
                    if r.signature_ok { "ok" } else { "BAD" },
                    r.prospect_name,
                    r.source
                ),
            ));
        }
        self.delivered = received.len();
        let waiting = jobs::count_waiting(&mut c, "send_invite", "cap").await?;
        if waiting > 0 && self.cap_waiting == 0 {
            lines.push(line(
                now,
                3,
                format!(
                    "daily invite cap reached ({}/{} today): {waiting} invites wait for tomorrow's window",
                    self.invites_today.1, self.daily_invite_cap
                ),
            ));
        }
        self.cap_waiting = waiting;
        lines.sort_by_key(|l| (l.at, l.rank));
        for line in lines {
            self.say(line.at, &line.text);
        }
        self.cursor = now;
        Ok(())
    }

    fn count_invite(&mut self, at: Millis) -> i64 {
        let date = self.date(at);
        if self.invites_today.0 != date {
            self.invites_today = (date, 0);
        }
        self.invites_today.1 += 1;
        self.invites_today.1
    }

    fn event_line(
        &mut self,
        e: &Event,
        who: &HashMap<String, Who>,
        truth: &HashMap<String, Millis>,
    ) -> Option<String> {
        let person = e.enrollment_id.as_ref().and_then(|id| who.get(id));
        let name = person.map_or("?", |w| w.name.as_str()).to_string();
        let accepted_on_linkedin = person.and_then(|w| truth.get(&w.provider_id)).copied();
        let detail: Value = serde_json::from_str(&e.detail).unwrap_or_default();
        let source = e.source.as_deref().unwrap_or("?");
        let strategy = e.strategy.as_deref().unwrap_or("?");
        let cap = self.daily_invite_cap;
        Some(match e.kind.as_str() {
            "invite_sent" => {
                let k = self.count_invite(e.occurred_at);
                format!("invite sent → {name} ({k}/{cap} today)")
            }
            "accept_stamped" => {
                let accepted = accepted_on_linkedin
                    .or_else(|| detail["accepted_at"].as_i64())
                    .unwrap_or(e.occurred_at);
                let lag = delta(e.occurred_at - accepted);
                match source {
                    "webhook" => format!(
                        "accept detected via webhook ({strategy}) → {name}  [accepted {}, stamped {lag} later]",
                        self.hms(accepted),
                    ),
                    "polling" => format!(
                        "accept detected via relations polling ({strategy}) → {name}  [the webhook was dropped; accepted {}, caught {lag} later]",
                        self.hms(accepted),
                    ),
                    "reply_inferred" => format!(
                        "accept inferred from the reply ({strategy}) → {name}  [accepted {}, stamped {lag} later; the new_relation webhook is still on its way]",
                        self.hms(accepted),
                    ),
                    "engine_already_connected" => {
                        let k = self.count_invite(e.occurred_at);
                        format!(
                            "invite answered already_connected ({k}/{cap} today) → accept stamped by the engine ({strategy}) → {name}"
                        )
                    }
                    "manual_resync" => {
                        format!("accept detected via manual resync ({strategy}) → {name}")
                    }
                    other => format!("accept detected via {other} ({strategy}) → {name}"),
                }
            }
            "late_accept_observed" => format!(
                "late accept (the 7-day wait_accept had timed out) → {name}: follow-up auto-fired"
            ),
            "job_enqueued" => {
                let wait = detail["wait_reason"].as_str()?;
                let run_at = detail["run_at"].as_i64().unwrap_or(e.occurred_at);
                let which = match (source, detail["step_index"].as_i64()) {
                    ("late_auto_fire" | "heal_late", _) => "late follow-up",
                    (_, Some(5)) => "follow-up #2",
                    _ => "follow-up #1",
                };
                let wait = if wait == "window" {
                    "the window is closed"
                } else {
                    wait
                };
                format!("{which} queued → {name}: {wait}, runs {}", self.hm(run_at))
            }
            "message_sent" => {
                let step = detail["step_index"].as_i64().unwrap_or(-1);
                match detail["source"].as_str().unwrap_or("?") {
                    "late_auto_fire" | "heal_late" => {
                        format!(
                            "late follow-up sent → {name} (one message; the workflow stays put)"
                        )
                    }
                    _ if step == 5 => format!("follow-up #2 sent → {name} (after the 3-day wait)"),
                    _ if step == 3 => format!("follow-up #1 sent → {name}"),
                    other => format!("message sent → {name} (step {step}, {other})"),
                }
            }
            "wait_accept_timed_out" => format!(
                "wait_accept timed out after 7 days → {name} (condition: not accepted, workflow ends)"
            ),
            "reply_received" => {
                let cancelled = detail["jobs_cancelled"].as_i64().unwrap_or(0);
                let mut text =
                    format!("reply received ← {name}: automation stopped for this prospect");
                if cancelled > 0 {
                    text.push_str(&format!(", {cancelled} queued message cancelled"));
                }
                text
            }
            "dispatch_skipped" => format!(
                "follow-up not enqueued → {name}: {} ({})",
                detail["reason"].as_str().unwrap_or("?"),
                if detail["recoverable"].as_bool() == Some(true) {
                    "recoverable, retried hourly"
                } else {
                    "final"
                }
            ),
            "message_refused_no_connection" | "action_refused" => {
                format!(
                    "{} → {name}: {}",
                    e.kind,
                    detail["type"].as_str().unwrap_or("?")
                )
            }
            "accept_stamp_only" | "accept_ignored" => format!(
                "accept routed {} → {name}: {}",
                e.kind.trim_start_matches("accept_"),
                detail["reason"].as_str().unwrap_or("?")
            ),
            "provider_transient_error"
            | "circuit_breaker_opened"
            | "account_limited"
            | "account_status_changed" => format!("{} ({name}): {detail}", e.kind),
            // API calls are narrated where they are made; the rest is plumbing.
            _ => return None,
        })
    }
}

/// A short duration: `3 s`, `12 min`, `2 h 05 min`, `1 d 4 h`.
pub fn delta(ms: Millis) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

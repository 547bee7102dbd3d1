//! Scoring the run: counts read back from the database and the receiver,
//! cross-checked against each other and the API's stats, and the list of
//! what did not happen. Apart from the table, which only prints them.

use super::Demo;
use super::args::{DAILY_INVITE_CAP, DemoArgs, TIME_ZONE};
use super::report::{DemoReport, PATHS};
use crate::store::{enrollments, events, jobs};
use crate::window::SendingWindow;
use serde_json::Value;
use std::collections::HashMap;

impl Demo {
    /// Counts, cross-checks, and the campaign stats through the API.
    pub(super) async fn report(
        &mut self,
        args: &DemoArgs,
        database: &std::path::Path,
    ) -> anyhow::Result<DemoReport> {
        self.flush().await?;
        let mut c = self.app.db.acquire().await?;
        let db = &mut *c;
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

        let invites = jobs::invite_attempt_times(db, &campaign).await?;
        for at in &invites {
            let day = self.story.fmt(*at, "%a %-d %b");
            *r.invites_per_day.entry(day).or_default() += 1;
        }
        let sent = events::sends(db).await?;
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

        let paths = enrollments::accepts_by_path(db, &campaign).await?;
        for (path, n) in paths {
            r.accepted += n;
            r.accepts_by_path
                .insert(path.unwrap_or_else(|| "?".into()), n);
        }
        let counted = enrollments::stats(db, &campaign).await?;
        (r.late_accepts, r.late_followups_sent, r.replies) = (
            counted.late_accepts,
            counted.late_followups_sent,
            counted.replied,
        );
        r.refused = events::count_refused(db).await?;

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
        let accepted = enrollments::accepted_ids(db, &campaign).await?;
        for id in &accepted {
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

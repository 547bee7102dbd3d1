//! How simulated time moves: the next moment anything is due, and one
//! step at it (simulator, inbox, engine, ticks, notifications, narration).
//! The entry's loop only alternates these with the scenes.

use super::Demo;
use crate::clock::{Clock, MINUTE_MS, Millis};
use std::collections::HashMap;

impl Demo {
    /// The next moment something is due: a simulator event, a job, a
    /// workflow step, a relations poll, a notification retry; at most 5
    /// minutes ahead on weekdays 08:00-18:00, 30 minutes otherwise.
    pub(super) async fn next_wake(&self) -> anyhow::Result<Millis> {
        let now = self.clock.now_ms();
        let local = jiff::Timestamp::from_millisecond(now)?.to_zoned(self.tz.clone());
        let busy = local.weekday().to_monday_one_offset() <= 5 && (8..18).contains(&local.hour());
        let mut next = now + if busy { 5 * MINUTE_MS } else { 30 * MINUTE_MS };
        let due = {
            let mut c = self.app.db.acquire().await?;
            crate::store::wakeups::next_action_after(&mut c, now).await?
        };
        for t in [due, self.sim.next_due_ms()].into_iter().flatten() {
            if t > now {
                next = next.min(t);
            }
        }
        Ok(next)
    }

    /// Lets everything due now happen: simulator events and webhooks, the
    /// inbox, the engine, until quiet.
    pub(super) async fn settle(&self) -> anyhow::Result<()> {
        for _ in 0..20 {
            let report = self.sim.tick().await;
            let inbox = self.app.inbox.process_pending(500).await?;
            let ran = self.engine.run_once().await?;
            let quiet = report.accepted + report.replies + report.delivered + report.failed == 0;
            if inbox == 0 && ran == 0 && quiet {
                break;
            }
        }
        Ok(())
    }

    /// One step at the clock's now: settle, the ticks (heals, skip-retry,
    /// relations polling), settle again, deliver notifications, narrate.
    pub(super) async fn step(&mut self) -> anyhow::Result<()> {
        self.settle().await?;
        self.ticks.run_due().await?;
        self.settle().await?;
        self.notifier.deliver_due(64).await?;
        self.flush().await
    }

    pub(super) async fn flush(&mut self) -> anyhow::Result<()> {
        let now = self.clock.now_ms();
        let truth: HashMap<String, Millis> = self
            .sim
            .invites(&self.sim_account)
            .into_iter()
            .filter_map(|i| Some((i.provider_id, i.accepted_at_ms?)))
            .collect();
        self.story
            .flush(&self.app.db, &self.receiver, &self.who, &truth, now)
            .await
    }
}

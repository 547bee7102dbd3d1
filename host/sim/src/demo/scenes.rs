//! The scripted scenes that need the host's timing to show a path: a
//! reply before the webhook, a Resync click after a lost webhook, an
//! outsider connecting. Each plays once, when its moment comes.

use super::Demo;
use super::cast::Role;
use crate::clock::{Clock, HOUR_MS, Millis};
use crate::simulator::SimPerson;
use anyhow::Context;
use serde_json::json;

/// Which scripted scenes have played.
#[derive(Debug, Default)]
pub(super) struct Scenes {
    pub(super) reply_before_webhook: bool,
    pub(super) resync_click: bool,
    pub(super) outsider: bool,
}

impl Demo {
    /// When a cast member of `role` was invited.
    fn invited_at(&self, role: Role) -> Option<(SimPerson, Millis)> {
        let (_, person) = self.cast.iter().find(|(m, _)| m.role == role)?;
        let invite = self
            .sim
            .invites(&self.sim_account)
            .into_iter()
            .find(|i| i.provider_id == person.provider_id)?;
        Some((person.clone(), invite.sent_at_ms))
    }

    /// The scripted scenes, each played once when its moment comes: a
    /// reply before the webhook, a Resync click after a dropped webhook
    /// (before polling gets there), an outsider connecting.
    pub(super) async fn scenes(&mut self) -> anyhow::Result<()> {
        let now = self.clock.now_ms();
        let local = jiff::Timestamp::from_millisecond(now)?.to_zoned(self.tz.clone());
        let (weekday, hour) = (local.weekday().to_monday_one_offset(), local.hour());
        if weekday > 5 {
            return Ok(());
        }
        let account = self.sim_account.clone();
        if !self.scenes.reply_before_webhook
            && (10..16).contains(&hour)
            && let Some((person, invited)) = self.invited_at(Role::ReplyBeforeWebhook)
            && now - invited >= 20 * HOUR_MS
        {
            self.scenes.reply_before_webhook = true;
            self.story.say(
                now,
                &format!(
                    "LinkedIn: {} accepts and replies within a minute; LinkedIn's new_relation webhook is 4 h late",
                    person.full_name()
                ),
            );
            self.sim.accept_now(&account, &person.provider_id);
            // The reply (40 s) and its message_received webhook (1 s later)
            // land before any relations poll could run.
            self.clock.advance(45_000);
            self.settle().await?;
            self.notifier.deliver_due(64).await?;
            self.flush().await?;
        }
        let now = self.clock.now_ms();
        if !self.scenes.resync_click
            && (14..17).contains(&hour)
            && let Some((person, invited)) = self.invited_at(Role::ResyncClick)
            && now - invited >= 20 * HOUR_MS
        {
            self.scenes.resync_click = true;
            let prospect_id = self
                .who
                .values()
                .find(|w| w.provider_id == person.provider_id)
                .map(|w| w.prospect_id.clone())
                .context("the resync prospect is not enrolled")?;
            self.story.say(
                now,
                &format!(
                    "LinkedIn: {} accepts; the new_relation webhook is lost on the way",
                    person.full_name()
                ),
            );
            self.sim.accept_now(&account, &person.provider_id);
            let path = format!("/api/prospects/{prospect_id}/resync");
            let mut outcome = self.api.post(&path, &json!({})).await?;
            let queued = outcome["status"] != "done";
            // Behind the account's spacing the click is queued: the engine
            // serves it at the account's next free slot.
            for _ in 0..60 {
                if outcome["status"] != "queued" && outcome["status"] != "checking" {
                    break;
                }
                self.clock.advance(5_000);
                self.settle().await?;
                outcome = self.api.get(&path).await?;
            }
            self.story.say(
                now,
                &format!(
                    "the user clicks Resync on {}'s page: API  POST /api/prospects/{{id}}/resync → {}connected {}, stamped {} enrollment(s)",
                    person.full_name(),
                    if queued { "queued behind the account's spacing, then " } else { "" },
                    outcome["connected"],
                    outcome["stamped"].as_array().map_or(0, Vec::len)
                ),
            );
            self.resync = Some(outcome);
            self.settle().await?;
            self.notifier.deliver_due(64).await?;
            self.flush().await?;
        }
        if !self.scenes.outsider && weekday == 3 && hour >= 11 {
            self.scenes.outsider = true;
            self.story.say(
                now,
                &format!(
                    "LinkedIn: {} (no prospect of any campaign) connects with the account",
                    self.outsider.full_name()
                ),
            );
            self.sim.accept_now(&account, &self.outsider.provider_id);
        }
        Ok(())
    }
}

//! Relations polling, the fallback for dropped or late `new_relation`
//! webhooks: every 30 minutes per account (jittered), the relations list
//! is read newest first down to the newest relation already seen (the
//! watermark, `last_relation_at`); each newer relation is an accept signal
//! at its real `created_at`.
//!
//! Account safety: each page is one provider call in its own slot of the
//! account's spacing (taken and charged before the call, on the same
//! `next_action_at` as every other call), so a backlog never bursts: the
//! pass keeps its cursor and goes on at the account's next free slot. The
//! watermark moves only when a pass has read everything down to it; a
//! failed page abandons the pass, which starts again from the top at the
//! next poll (re-reading is harmless: accepts are idempotent). Polling
//! runs under a lease, so of several instances one polls.
//!
//! An account's first poll takes a baseline: the relations it has then
//! are connections made before Accord acted for it, not accepts, so the
//! poll only records the newest one's time and signals nothing. If the
//! account already acted through Accord before that poll, the watermark
//! starts just before its first action instead, and the pass reads
//! everything since as usual.

use super::ticks::TickReport;
use super::{Engine, EngineError, lease, slot};
use crate::clock::{MINUTE_MS, Millis};
use crate::provider::Relation;
use crate::store::polling::{self, PassUpdate, PollState};
use crate::window::jitter;
use accord_policy_core::{AcceptSignal, SignalSource};

const LEASE: &str = "tick:poll_relations";
const LEASE_TTL: Millis = 10 * MINUTE_MS;
/// Relations per page once a pass goes on from its cursor.
const PAGE: u32 = 100;
/// Relations on a pass's first page. Between two polls an account rarely
/// gains more than a few relations, and a full first page moved and
/// parsed a hundred to find them; a pass whose first page is all newer
/// than the watermark goes on from its cursor with full pages.
const FIRST_PAGE: u32 = 10;

/// What one page did to the pass.
enum Step {
    /// The pass goes on at the next slot from this cursor.
    More { cursor: String, newest: Option<i64> },
    /// The pass read down to the watermark: it moves to `watermark`.
    Done { watermark: i64 },
    /// The pass is abandoned; the watermark stays.
    Failed,
}

impl Engine {
    /// Relations polling: one page for every connected account whose poll
    /// is due (or whose pass is under way) and whose spacing allows a
    /// call now. Does nothing when another instance holds the lease.
    pub async fn poll_relations(&self) -> Result<TickReport, EngineError> {
        let mut report = TickReport {
            name: "poll_relations",
            ..TickReport::default()
        };
        let now = self.clock.now_ms();
        let due = {
            let mut c = self.db.acquire().await?;
            polling::due(&mut c, now).await?
        };
        if due.is_empty() {
            return Ok(report);
        }
        let Some(mut held) =
            lease::acquire(&self.db, LEASE, &self.worker_id, now, LEASE_TTL).await?
        else {
            return Ok(report); // another instance polls
        };
        for id in due {
            let now = self.clock.now_ms();
            // Renewed per account: a slow provider must not let the lease
            // lapse unnoticed while another instance takes over.
            if !held.keep(&self.db, now).await? {
                break;
            }
            if let Some(signals) = self.poll_account(&id, now).await? {
                report.rows += 1;
                report.signals += signals;
            }
        }
        held.release(&self.db, self.clock.now_ms()).await?;
        Ok(report)
    }

    /// One page of `id`'s relations, if its slot is free now; the number of
    /// matches its signals found.
    async fn poll_account(&self, id: &str, now: Millis) -> Result<Option<usize>, EngineError> {
        let extra = slot::extra(id, now, self.config.spacing_jitter_ms);
        let next_poll = now
            + self.config.poll_relations_every_ms
            + jitter(&format!("{id}{now}"), self.config.poll_jitter_ms);
        let state = {
            let mut w = self.db.sole_write().await?;
            polling::take_poll_slot(&mut w, id, now, extra, next_poll).await?
        };
        let Some(mut state) = state else {
            return Ok(None); // not due any more, or the engine or resync took the slot first
        };
        if state.last_relation_at.is_none() {
            // The slot is this poll's: no action of the account can come
            // between it and the page's baseline.
            let mut tx = self.db.begin().await?;
            state.last_relation_at = self.first_action_watermark(&mut tx, id).await?;
            tx.commit().await?;
        }

        let limit = if state.relations_cursor.is_some() {
            PAGE
        } else {
            FIRST_PAGE
        };
        let page = self
            .provider
            .list_relations(
                &state.provider_account_id,
                state.relations_cursor.as_deref(),
                limit,
            )
            .await;
        let mut signals = 0;
        let step = match (page, state.last_relation_at) {
            (Err(e), _) => {
                tracing::warn!(account = %id, error = %e, cursor = ?state.relations_cursor,
                    "relations polling failed; the watermark stays, the next poll reads again");
                Step::Failed
            }
            (Ok(page), None) => {
                // The baseline: existing connections are not accepts.
                let newest = page.items.iter().filter_map(|r| r.created_at_ms).max();
                Step::Done {
                    watermark: newest.unwrap_or(0),
                }
            }
            (Ok(page), Some(watermark)) => {
                let mut newest = state.relations_pass_newest;
                let mut reached = false;
                for relation in page.items {
                    // A relation without a time cannot be placed: it is
                    // signalled (idempotent) and never moves the watermark.
                    if let Some(created) = relation.created_at_ms {
                        if created <= watermark {
                            reached = true;
                            break;
                        }
                        newest = Some(newest.map_or(created, |n| n.max(created)));
                    }
                    let signal = signal(&state.provider_account_id, relation, now);
                    signals += self.pipeline.accept_signal(&signal).await?.matches.len();
                }
                match page.cursor {
                    Some(cursor) if !reached => Step::More { cursor, newest },
                    _ => Step::Done {
                        watermark: newest.map_or(watermark, |n| n.max(watermark)),
                    },
                }
            }
        };
        self.record_step(id, &state, step, now).await?;
        Ok(Some(signals))
    }

    /// The watermark of an account never polled: just before its first
    /// action through Accord (relations since may be accepts), or `None`
    /// (a baseline) if it has not acted yet.
    async fn first_action_watermark(
        &self,
        tx: &mut crate::store::Tx,
        id: &str,
    ) -> Result<Option<i64>, EngineError> {
        let first = polling::first_action_at(tx, id).await?;
        let watermark = first.map(|f| f - 1);
        if let Some(w) = watermark {
            polling::set_watermark(tx, id, w).await?;
        }
        Ok(watermark)
    }

    /// Records a page's outcome, unless another poller moved the pass on
    /// meanwhile (a lease lost mid-call): then its write wins. The slot's
    /// take scheduled the next poll as for a pass that ends here; a pass
    /// that goes on is due again at once (its next slot paces it).
    async fn record_step(
        &self,
        id: &str,
        before: &PollState,
        step: Step,
        taken_at: Millis,
    ) -> Result<(), EngineError> {
        let update = match step {
            Step::More { cursor, newest } => PassUpdate {
                watermark: before.last_relation_at,
                cursor: Some(cursor),
                newest,
                next_poll_at: Some(taken_at),
            },
            Step::Done { watermark } => PassUpdate {
                watermark: Some(watermark),
                cursor: None,
                newest: None,
                next_poll_at: None,
            },
            Step::Failed => PassUpdate {
                watermark: before.last_relation_at,
                cursor: None,
                newest: None,
                next_poll_at: None,
            },
        };
        if update.changes_nothing(before) {
            return Ok(());
        }
        let mut w = self.db.sole_write().await?;
        polling::record_pass(&mut w, id, before, &update).await?;
        Ok(())
    }
}

fn signal(provider_account_id: &str, relation: Relation, now: Millis) -> AcceptSignal {
    AcceptSignal {
        source: SignalSource::Polling,
        linkedin_account_id: provider_account_id.to_string(),
        observed_at: relation.created_at_ms.unwrap_or(now),
        member_id: Some(relation.member_id),
        public_identifier: relation.public_identifier,
        profile_url: relation.public_profile_url,
        full_name: match (relation.first_name, relation.last_name) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (f, l) => f.or(l),
        },
    }
}

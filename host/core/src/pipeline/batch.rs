//! What the signals of one transaction share.

use super::{Pipeline, PipelineError};
use crate::store::accounts::{self, Account};
use crate::store::{StoreError, Tx};
use std::collections::HashMap;

/// Look-ups made once per transaction, and the wake-ups owed after it
/// commits. Only rows the pipeline never changes are cached (accounts
/// are dropped when an account-status webhook changes one); campaigns are
/// remembered by the [`Pipeline`] itself, across transactions.
#[derive(Debug, Default)]
pub struct Batch {
    /// Provider account id → the account and whether its workspace has a
    /// running campaign.
    accounts: HashMap<String, Option<(Account, bool)>>,
    /// An outbox row was written: wake the notifier.
    pub(crate) wake_outbox: bool,
    /// A job was enqueued or became runnable: wake the job workers.
    pub(crate) wake_jobs: bool,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch::default()
    }

    /// Forgets the cached accounts (one changed status).
    pub fn forget_accounts(&mut self) {
        self.accounts.clear();
    }

    /// Asks the job workers to look again after commit.
    pub fn wake_jobs(&mut self) {
        self.wake_jobs = true;
    }

    /// The accounts these provider ids name, each with whether its
    /// workspace has a running campaign, in order; the ones not cached yet
    /// are read in one round trip (an id that names no account is
    /// remembered as such).
    pub(crate) async fn accounts(
        &mut self,
        tx: &mut Tx,
        provider_account_ids: &[&str],
    ) -> Result<Vec<Option<(Account, bool)>>, StoreError> {
        let missing = uncached(provider_account_ids, &self.accounts);
        if !missing.is_empty() {
            let found = accounts::accounts_for_signals(tx, &missing).await?;
            for id in missing {
                self.accounts.insert(id.to_string(), None);
            }
            for (account, running) in found {
                let id = account.provider_account_id.clone();
                self.accounts.insert(id, Some((account, running)));
            }
        }
        Ok(cached(provider_account_ids, &self.accounts))
    }
}

/// The distinct keys `cache` does not hold yet.
fn uncached<'k, V>(keys: &[&'k str], cache: &HashMap<String, V>) -> Vec<&'k str> {
    let mut missing: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| !cache.contains_key(*k))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    missing
}

/// What `cache` holds for each key, in order (`None` when nothing).
fn cached<V: Clone>(keys: &[&str], cache: &HashMap<String, Option<V>>) -> Vec<Option<V>> {
    keys.iter()
        .map(|k| cache.get(*k).cloned().flatten())
        .collect()
}

impl Pipeline {
    /// Fires the batch's wake-ups (its transaction has committed).
    pub(crate) fn after_commit(&self, batch: &Batch) {
        if batch.wake_outbox {
            self.wakers.outbox.notify_one();
        }
        if batch.wake_jobs {
            self.wakers.wake_jobs();
        }
    }

    /// Begins a transaction for a batch of signals.
    pub async fn begin(&self) -> Result<Tx, PipelineError> {
        Ok(self.db.begin().await?)
    }

    /// Commits a batch's transaction, then fires its wake-ups.
    pub async fn commit(&self, tx: Tx, batch: &Batch) -> Result<(), PipelineError> {
        tx.commit().await?;
        self.after_commit(batch);
        Ok(())
    }
}

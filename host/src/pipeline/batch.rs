//! What the signals of one transaction share.

use super::{Pipeline, PipelineError};
use crate::store::accounts::{self, Account};
use crate::store::campaigns::{self, Campaign};
use crate::store::{StoreError, Tx};
use std::collections::HashMap;

/// Look-ups made once per transaction, and the wake-ups owed after it
/// commits. Only rows the pipeline never changes are cached (accounts
/// are dropped when an account-status webhook changes one).
#[derive(Debug, Default)]
pub struct Batch {
    /// Provider account id → the account and whether its workspace has a
    /// running campaign.
    accounts: HashMap<String, Option<(Account, bool)>>,
    /// Campaign id → campaign.
    campaigns: HashMap<String, Campaign>,
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

    /// Loads the accounts these provider ids name that are not cached
    /// yet, in one round trip (ids that name no account are remembered as
    /// such).
    pub(crate) async fn load_accounts(
        &mut self,
        tx: &mut Tx,
        provider_account_ids: &[&str],
    ) -> Result<(), StoreError> {
        let mut missing: Vec<&str> = provider_account_ids
            .iter()
            .copied()
            .filter(|id| !self.accounts.contains_key(*id))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        for id in &missing {
            self.accounts.insert((*id).to_string(), None);
        }
        for (account, running) in accounts::accounts_for_signals(tx, &missing).await? {
            let id = account.provider_account_id.clone();
            self.accounts.insert(id, Some((account, running)));
        }
        Ok(())
    }

    /// Loads the campaigns of these ids that are not cached yet, in one
    /// round trip.
    pub(crate) async fn load_campaigns(
        &mut self,
        tx: &mut Tx,
        ids: &[&str],
    ) -> Result<(), StoreError> {
        let mut missing: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !self.campaigns.contains_key(*id))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        for campaign in campaigns::get_many(tx, &missing).await? {
            self.campaigns.insert(campaign.id.clone(), campaign);
        }
        Ok(())
    }

    /// The account a signal names, and whether its workspace has a running
    /// campaign.
    pub(crate) async fn account(
        &mut self,
        tx: &mut Tx,
        provider_account_id: &str,
    ) -> Result<Option<(Account, bool)>, StoreError> {
        if let Some(hit) = self.accounts.get(provider_account_id) {
            return Ok(hit.clone());
        }
        let found = accounts::account_for_signal(tx, provider_account_id).await?;
        self.accounts
            .insert(provider_account_id.to_string(), found.clone());
        Ok(found)
    }

    /// A campaign by id.
    pub(crate) async fn campaign(
        &mut self,
        tx: &mut Tx,
        id: &str,
    ) -> Result<Option<Campaign>, StoreError> {
        if let Some(hit) = self.campaigns.get(id) {
            return Ok(Some(hit.clone()));
        }
        let found = campaigns::get(tx, id).await?;
        if let Some(c) = &found {
            self.campaigns.insert(id.to_string(), c.clone());
        }
        Ok(found)
    }
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

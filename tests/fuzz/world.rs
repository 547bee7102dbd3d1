//! What the fuzzer knows of the host's state, learnt from its answers
//! only: the ids it created (so later inputs aim at real workspaces,
//! accounts, campaigns and prospects), and the model the end checks
//! compare the database with (how many rows each accepted request
//! added, each campaign's status, the inbox rows answered as new).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// The provider account id of the account set up first (unipile.md's).
pub const MAIN_ACCOUNT: &str = "SDF4tGaPSPSzNe1D1xsOs";

/// Member ids imported into the first campaign at set-up, so accept
/// webhooks match, stamp and enqueue follow-ups.
pub const MEMBERS: &[&str] = &[
    "ACoAAAh_Ffqss54sqAGQOD8u7sl5of04y9_3AwyM",
    "ACoAABRqAmsKabcdefghijklmnop",
    "ACoAACp1aAbbbbbbbbbbbbbbbbbb",
    "ACoAADD2bBccccccccccccccccccc",
    "ACoAAE4cCcddddddddddddddddddd",
    "ACoAAF5dDdeeeeeeeeeeeeeeeeeee",
    "ACoAAG6eEeffffffffffffffffffff",
    "ACoAAH7fFfgggggggggggggggggggg",
];

/// Their profile slugs.
pub const SLUGS: &[&str] = &[
    "julien-crepieux",
    "anna-berg",
    "li-wei",
    "jose-nunez",
    "zoe-okafor",
    "ole-hansen",
    "amelie-dubois",
    "sam-taylor",
];

/// A bounded list: the first `keep` entries stay, later ones rotate.
#[derive(Debug, Default, Clone)]
pub struct Pool<T> {
    items: Vec<T>,
    keep: usize,
    next: usize,
}

impl<T: Clone> Pool<T> {
    pub const CAP: usize = 64;

    pub fn push(&mut self, item: T) {
        if self.items.len() < Self::CAP {
            self.items.push(item);
        } else {
            let span = Self::CAP - self.keep;
            let at = self.keep + self.next % span.max(1);
            self.items[at] = item;
            self.next += 1;
        }
    }

    /// Fixes the entries pushed so far: they never rotate out.
    pub fn pin(&mut self) {
        self.keep = self.items.len();
    }

    pub fn all(&self) -> &[T] {
        &self.items
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        self.items.get(i)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }
}

/// A campaign as the model knows it.
#[derive(Debug, Clone)]
pub struct CampaignModel {
    pub status: &'static str,
    /// An imported prospect has a member id: start and resume succeed.
    pub usable: bool,
    /// Member ids imported into it (the last few): importing one again is
    /// a `duplicate_prospect`.
    pub members: VecDeque<String>,
}

/// The fuzzer's view of the host.
#[derive(Debug, Default)]
pub struct World {
    pub seed: u64,
    /// Source of unique names (provider ids, member ids, message ids).
    pub counter: u64,
    pub api_token: String,
    pub provider_accounts: Pool<String>,
    pub workspaces: Pool<String>,
    /// (account id, its workspace).
    pub accounts: Pool<(String, String)>,
    /// Campaign ids; the first (set-up, running) is never stopped by an
    /// action, so accept webhooks keep finding a running campaign.
    pub campaigns: Pool<String>,
    pub campaign: HashMap<String, CampaignModel>,
    /// Member ids the fuzzer imported: accepts and replies from them
    /// match, stamp and enqueue.
    pub members: Pool<String>,
    /// Webhook bodies answered 200, and whether each was an account
    /// status change (never deduplicated), for exact re-deliveries.
    pub delivered: VecDeque<(Vec<u8>, bool)>,
    pub message_ids: VecDeque<String>,
    /// Rows each table must hold: what the set-up and every accepted
    /// request added.
    pub rows: BTreeMap<&'static str, i64>,
    /// Inbox ids answered 200 as new.
    pub inbox: HashSet<String>,
}

impl World {
    pub fn new(seed: u64) -> World {
        World {
            seed,
            api_token: format!("fuzz-token-{seed}"),
            ..World::default()
        }
    }

    /// A name nobody used before in this run (nor in another run with
    /// another seed).
    pub fn unique(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{:x}z{}", self.seed, self.counter)
    }

    pub fn add_rows(&mut self, table: &'static str, n: i64) {
        *self.rows.entry(table).or_default() += n;
    }

    pub fn remember_delivery(&mut self, body: Vec<u8>, account_status: bool) {
        if body.len() > 64 << 10 {
            return;
        }
        if self.delivered.len() >= 64 {
            self.delivered.pop_front();
        }
        self.delivered.push_back((body, account_status));
    }

    pub fn remember_message_id(&mut self, id: String) {
        if self.message_ids.len() >= 32 {
            self.message_ids.pop_front();
        }
        self.message_ids.push_back(id);
    }
}

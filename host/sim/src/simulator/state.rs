//! The simulator's world: accounts, people, relations, invites, chats, the
//! schedule of what happens next (accepts, replies, webhook deliveries),
//! fault knobs and the call log. Plain synchronous data behind one mutex;
//! time is whatever the caller passes as `now`.

use crate::clock::Millis;
use crate::provider::error::known_error;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::collections::HashMap;

// ----------------------------------------------------------- public types

/// An account of the simulated Unipile workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimAccount {
    /// The Unipile account id.
    pub id: String,
    /// The account owner's own member id (`ACo…`).
    pub own_member_id: String,
    /// The owner's vanity slug.
    pub public_identifier: String,
    /// The owner's name.
    pub name: String,
}

/// A LinkedIn member of the simulated world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPerson {
    /// The numeric member id both provider ids encode.
    pub number: u64,
    /// Classic provider id, `ACo…`.
    pub provider_id: String,
    /// Sales Navigator id, `ACw…` (same member number).
    pub sales_navigator_id: String,
    /// Vanity slug.
    pub public_identifier: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
}

impl SimPerson {
    /// `https://www.linkedin.com/in/<slug>/`.
    pub fn profile_url(&self) -> String {
        format!("https://www.linkedin.com/in/{}/", self.public_identifier)
    }

    /// A Sales Navigator lead URL for this person.
    pub fn sales_navigator_lead_url(&self) -> String {
        format!(
            "https://www.linkedin.com/sales/lead/{},NAME_SEARCH,{}",
            self.sales_navigator_id,
            &self.provider_id[self.provider_id.len() - 4..]
        )
    }

    /// First and last name.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// What happens to one webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFate {
    /// Delivered once, `delay_ms` after the event.
    Deliver {
        /// Delay of simulated time.
        delay_ms: Millis,
    },
    /// Never delivered.
    Drop,
    /// Delivered twice: after `delay_ms`, and again `gap_ms` later.
    Duplicate {
        /// Delay of the first delivery.
        delay_ms: Millis,
        /// Gap between the two.
        gap_ms: Millis,
    },
}

/// The webhook sources the simulator emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookKind {
    /// `new_relation` (source `users`).
    NewRelation,
    /// `message_received` (source `messaging`), inbound replies and echoes.
    MessageReceived,
    /// `{"AccountStatus": …}`.
    AccountStatus,
}

impl WebhookKind {
    /// The event name.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookKind::NewRelation => "new_relation",
            WebhookKind::MessageReceived => "message_received",
            WebhookKind::AccountStatus => "AccountStatus",
        }
    }
}

/// The scriptable behaviour of a new person.
#[derive(Debug, Clone, Default)]
pub struct PersonSpec {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Vanity slug; derived from the names when `None`.
    pub public_identifier: Option<String>,
    /// Headline.
    pub headline: Option<String>,
    /// Accepts an invite this long after it is sent; never when `None`.
    pub accept_after_ms: Option<Millis>,
    /// Replies this long after accepting, with this text.
    pub reply_after_accept: Option<(Millis, String)>,
    /// Answers each message we send, this long after it, with this text.
    pub reply_to_messages: Option<(Millis, String)>,
    /// Overrides the default fate of this person's `new_relation` webhook.
    pub relation_webhook: Option<WebhookFate>,
}

impl PersonSpec {
    /// A person who never accepts.
    pub fn new(first_name: &str, last_name: &str) -> Self {
        PersonSpec {
            first_name: first_name.to_string(),
            last_name: last_name.to_string(),
            ..PersonSpec::default()
        }
    }

    /// Sets the vanity slug.
    pub fn slug(mut self, slug: &str) -> Self {
        self.public_identifier = Some(slug.to_string());
        self
    }

    /// Accepts invites `delay_ms` after they are sent.
    pub fn accepts_after(mut self, delay_ms: Millis) -> Self {
        self.accept_after_ms = Some(delay_ms);
        self
    }

    /// Replies `delay_ms` after accepting.
    pub fn replies_after_accept(mut self, delay_ms: Millis, text: &str) -> Self {
        self.reply_after_accept = Some((delay_ms, text.to_string()));
        self
    }

    /// Answers each of our messages `delay_ms` later.
    pub fn replies_to_messages(mut self, delay_ms: Millis, text: &str) -> Self {
        self.reply_to_messages = Some((delay_ms, text.to_string()));
        self
    }

    /// The fate of this person's `new_relation` webhook.
    pub fn relation_webhook(mut self, fate: WebhookFate) -> Self {
        self.relation_webhook = Some(fate);
        self
    }
}

/// An action a forced error applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimAction {
    /// `POST /api/v1/users/invite`.
    Invite,
    /// `POST /api/v1/chats` and `POST /api/v1/chats/{id}/messages`.
    Message,
    /// `GET /api/v1/users/{identifier}`.
    Profile,
}

/// How `created_at` of relations is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CreatedAtUnit {
    /// Milliseconds (as in a live capture).
    #[default]
    Millis,
    /// Seconds (as in the documentation examples).
    Seconds,
}

/// The connection state of a simulated account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    /// Running.
    Ok,
    /// Credentials lost: every call answers 401 `disconnected_account`.
    Disconnected,
    /// Restricted by LinkedIn: every call answers 403 `account_restricted`.
    Restricted,
}

/// One request the simulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// HTTP method.
    pub method: String,
    /// The concrete path.
    pub path: String,
    /// The route template (`/api/v1/users/{identifier}`).
    pub route: String,
    /// The account named by the call (query, JSON or form), if any.
    pub account_id: Option<String>,
    /// Simulated time of the call.
    pub at_ms: Millis,
    /// The status answered.
    pub status: u16,
    /// The `cursor` query parameter (which page of a list was asked for).
    pub cursor: Option<String>,
    /// The person the call addressed (invite, message), as a classic
    /// provider id when the simulator knows them.
    pub target: Option<String>,
    /// The error `type` (without `errors/`) when the call failed.
    pub error_type: Option<String>,
}

/// One webhook delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    /// The delivery (one event; a duplicate is another delivery).
    pub delivery_id: u64,
    /// The webhook source.
    pub kind: WebhookKind,
    /// The account the event concerns.
    pub account_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Simulated time of the attempt.
    pub at_ms: Millis,
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    /// The transport error, if it did not.
    pub error: Option<String>,
    /// The body sent.
    pub body: Value,
}

/// An invite the simulator holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimInvite {
    /// Invitation id.
    pub id: String,
    /// Sending account.
    pub account_id: String,
    /// Invitee's classic id.
    pub provider_id: String,
    /// The note.
    pub message: Option<String>,
    /// When sent.
    pub sent_at_ms: Millis,
    /// When accepted.
    pub accepted_at_ms: Option<Millis>,
}

/// A message in a simulated chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimMessage {
    /// Chat id.
    pub chat_id: String,
    /// Message id.
    pub message_id: String,
    /// Sent by the account (not the prospect).
    pub from_self: bool,
    /// Text.
    pub text: String,
    /// When.
    pub at_ms: Millis,
}

/// The first catalogued error type answered with `status`.
pub fn known_kind_for_status(status: u16) -> Option<&'static str> {
    crate::provider::KNOWN_ERRORS
        .iter()
        .find(|e| e.status == status)
        .map(|e| e.kind)
}

/// Retry delays after a failed webhook delivery (5 retries, growing).
pub const WEBHOOK_RETRY_DELAYS_MS: [Millis; 5] = [30_000, 60_000, 120_000, 300_000, 600_000];

// ------------------------------------------------------------ errors out

/// An error answer, in Unipile's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimFailure {
    /// HTTP status.
    pub status: u16,
    /// `type` without `errors/`.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Detail.
    pub detail: String,
}

impl SimFailure {
    /// A catalogued error (status and title from the catalogue).
    pub fn known(kind: &str, detail: impl Into<String>) -> Self {
        let (status, title) =
            known_error(kind).map_or((422, "Unprocessable entity"), |k| (k.status, k.title));
        SimFailure {
            status,
            kind: kind.trim_start_matches("errors/").to_string(),
            title: title.to_string(),
            detail: detail.into(),
        }
    }

    /// An error outside the catalogue.
    pub fn other(status: u16, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        SimFailure {
            status,
            kind: kind.to_string(),
            title: title.to_string(),
            detail: detail.into(),
        }
    }

    /// 400 `invalid_parameters`.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::other(400, "invalid_parameters", "Invalid parameters", detail)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({
            "status": self.status,
            "type": format!("errors/{}", self.kind),
            "title": self.title,
            "detail": self.detail,
        })
    }
}

// --------------------------------------------------------- internal model

#[derive(Debug, Clone)]
struct Account {
    public: SimAccount,
    own_number: u64,
    state: AccountState,
    weekly_invite_quota: u32,
    created_at: Millis,
}

#[derive(Debug, Clone)]
struct Person {
    public: SimPerson,
    headline: String,
    accept_after_ms: Option<Millis>,
    reply_after_accept: Option<(Millis, String)>,
    reply_to_messages: Option<(Millis, String)>,
    relation_webhook: Option<WebhookFate>,
}

#[derive(Debug, Clone)]
struct RelationRec {
    person: usize,
    created_at: Millis,
    seq: u64,
}

#[derive(Debug, Clone)]
struct Invite {
    public: SimInvite,
    person: usize,
    seq: u64,
}

#[derive(Debug, Clone)]
struct Chat {
    id: String,
    provider_chat_id: String,
    account_id: String,
    person: usize,
    messages: Vec<SimMessage>,
}

#[derive(Debug, Clone)]
enum Action {
    Accept {
        invite_id: String,
    },
    Reply {
        account_id: String,
        person: usize,
        text: String,
    },
}

#[derive(Debug, Clone)]
struct Scheduled {
    due: Millis,
    seq: u64,
    action: Action,
}

#[derive(Debug, Clone)]
struct Delivery {
    id: u64,
    kind: WebhookKind,
    account_id: String,
    body: Value,
    due: Millis,
    attempts: u32,
}

#[derive(Debug, Clone)]
struct Fault {
    /// Matching calls still let through before the fault applies.
    pass: u32,
    remaining: u32,
    failure: SimFailure,
    /// The call is carried out before the failure is answered (a timeout
    /// after acting): the caller cannot tell it happened.
    acts: bool,
    /// `None`: any path; else a route template or concrete path, optionally
    /// prefixed by a method (`POST /api/v1/users/invite`).
    scope: Option<String>,
}

#[derive(Debug, Clone)]
struct Forced {
    action: SimAction,
    person: Option<usize>,
    kind: String,
}

/// A webhook due for an attempt, handed to the sender.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// Delivery id.
    pub id: u64,
    /// Source.
    pub kind: WebhookKind,
    /// The account.
    pub account_id: String,
    /// Body.
    pub body: Value,
    /// The attempt this is (1-based).
    pub attempt: u32,
}

/// The whole simulated world.
#[derive(Debug)]
pub struct SimWorld {
    accounts: Vec<Account>,
    people: Vec<Person>,
    index: HashMap<String, usize>,
    relations: HashMap<String, Vec<RelationRec>>,
    invites: Vec<Invite>,
    chats: Vec<Chat>,
    scheduled: Vec<Scheduled>,
    outbox: Vec<Delivery>,
    attempts: Vec<DeliveryAttempt>,
    faults: Vec<Fault>,
    forced: Vec<Forced>,
    calls: Vec<CallRecord>,
    fates: HashMap<WebhookKind, WebhookFate>,
    created_at_unit: CreatedAtUnit,
    webhook_name: String,
    seq: u64,
}

/// What a tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimTickReport {
    /// Invites accepted.
    pub accepted: usize,
    /// Replies received.
    pub replies: usize,
    /// Webhook deliveries answered 200.
    pub delivered: usize,
    /// Webhook attempts that failed (retried or given up).
    pub failed: usize,
}

// ------------------------------------------------------------- ids, names

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn token(seed: u64, len: usize) -> String {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = splitmix(state);
            ALNUM[(state % ALNUM.len() as u64) as usize] as char
        })
        .collect()
}

/// A provider id for a member number: type prefix (0x002A classic, 0x002C
/// Sales Navigator), the number big-endian in bytes 2..8, then 22 bytes
/// that depend on the number and the kind, base64url without padding.
pub fn encode_member_id(sales_navigator: bool, number: u64) -> String {
    let mut bytes = [0u8; 30];
    bytes[1] = if sales_navigator { 0x2C } else { 0x2A };
    bytes[2..8].copy_from_slice(&number.to_be_bytes()[2..8]);
    let mut state = number ^ if sales_navigator { 0x5A1E5 } else { 0xC1A55 };
    for b in bytes[8..].iter_mut() {
        state = splitmix(state);
        *b = (state >> 24) as u8;
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

fn slugify(first: &str, last: &str) -> String {
    let mut out = String::new();
    for c in format!("{first} {last}")
        .chars()
        .flat_map(char::to_lowercase)
    {
        let c = match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            c => c,
        };
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "member".into() } else { out }
}

/// RFC 3339 with milliseconds, UTC (`2026-07-06T09:43:27.002Z`).
pub fn iso_ms(ms: Millis) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => "1970-01-01T00:00:00.000Z".into(),
    }
}

fn encode_cursor(created_at: Millis, seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created_at}:{seq}"))
}

fn decode_cursor(cursor: &str) -> Option<(Millis, u64)> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (a, b) = text.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// A page of `(created_at, seq, item)` newest first, after `cursor`.
fn paginate<T>(
    mut rows: Vec<(Millis, u64, T)>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<T>, Option<String>), SimFailure> {
    rows.sort_by_key(|r| std::cmp::Reverse((r.0, r.1)));
    if let Some(c) = cursor.filter(|c| !c.is_empty()) {
        let key = decode_cursor(c).ok_or_else(|| SimFailure::bad_request("invalid cursor"))?;
        rows.retain(|r| (r.0, r.1) < key);
    }
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|r| encode_cursor(r.0, r.1))
    } else {
        None
    };
    Ok((rows.into_iter().map(|r| r.2).collect(), next))
}

// ------------------------------------------------------------------ world

impl SimWorld {
    /// An empty world; webhooks carry `webhook_name`.
    pub fn new(webhook_name: &str) -> Self {
        let fates = HashMap::from([
            (
                WebhookKind::NewRelation,
                WebhookFate::Deliver { delay_ms: 3_000 },
            ),
            (
                WebhookKind::MessageReceived,
                WebhookFate::Deliver { delay_ms: 1_000 },
            ),
            (
                WebhookKind::AccountStatus,
                WebhookFate::Deliver { delay_ms: 0 },
            ),
        ]);
        SimWorld {
            accounts: Vec::new(),
            people: Vec::new(),
            index: HashMap::new(),
            relations: HashMap::new(),
            invites: Vec::new(),
            chats: Vec::new(),
            scheduled: Vec::new(),
            outbox: Vec::new(),
            attempts: Vec::new(),
            faults: Vec::new(),
            forced: Vec::new(),
            calls: Vec::new(),
            fates,
            created_at_unit: CreatedAtUnit::Millis,
            webhook_name: webhook_name.to_string(),
            seq: 0,
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    // ------------------------------------------------------ scripting

    /// Adds an account (with its owner as a person); `id` is generated when
    /// `None`.
    pub fn add_account(&mut self, id: Option<&str>, now: Millis) -> SimAccount {
        let seq = self.next_seq();
        let id = id.map_or_else(|| token(seq ^ 0xACC0, 21), str::to_string);
        let owner = self.add_person(
            PersonSpec::new("Owner", &format!("Account {}", self.accounts.len() + 1)),
            now,
        );
        let public = SimAccount {
            id: id.clone(),
            own_member_id: owner.provider_id.clone(),
            public_identifier: owner.public_identifier.clone(),
            name: owner.full_name(),
        };
        self.accounts.push(Account {
            public: public.clone(),
            own_number: owner.number,
            state: AccountState::Ok,
            weekly_invite_quota: 200,
            created_at: now,
        });
        public
    }

    /// Adds a person.
    pub fn add_person(&mut self, spec: PersonSpec, _now: Millis) -> SimPerson {
        let seq = self.next_seq();
        let number = 100_000_000 + seq * 7_919 + (splitmix(seq) % 7_000);
        let base = spec
            .public_identifier
            .clone()
            .unwrap_or_else(|| slugify(&spec.first_name, &spec.last_name));
        let mut slug = base.clone();
        let mut n = 1;
        while self.index.contains_key(&slug.to_lowercase()) {
            n += 1;
            slug = format!("{base}-{n}");
        }
        let public = SimPerson {
            number,
            provider_id: encode_member_id(false, number),
            sales_navigator_id: encode_member_id(true, number),
            public_identifier: slug.clone(),
            first_name: spec.first_name.clone(),
            last_name: spec.last_name.clone(),
        };
        let idx = self.people.len();
        self.index.insert(public.provider_id.clone(), idx);
        self.index.insert(public.sales_navigator_id.clone(), idx);
        self.index.insert(slug.to_lowercase(), idx);
        self.people.push(Person {
            headline: spec
                .headline
                .clone()
                .unwrap_or_else(|| format!("Head of Things at Company {}", seq % 97)),
            public: public.clone(),
            accept_after_ms: spec.accept_after_ms,
            reply_after_accept: spec.reply_after_accept,
            reply_to_messages: spec.reply_to_messages,
            relation_webhook: spec.relation_webhook,
        });
        public
    }

    /// The person changes their vanity slug; the old one still resolves
    /// (LinkedIn redirects it), payloads carry the new one.
    pub fn change_slug(&mut self, identifier: &str, new_slug: &str) -> bool {
        let Some(p) = self.find_person(identifier) else {
            return false;
        };
        self.index.insert(new_slug.to_lowercase(), p);
        self.people[p].public.public_identifier = new_slug.to_string();
        true
    }

    /// A person by provider id (either kind) or slug.
    pub fn person(&self, identifier: &str) -> Option<SimPerson> {
        self.find_person(identifier)
            .map(|i| self.people[i].public.clone())
    }

    fn find_person(&self, identifier: &str) -> Option<usize> {
        self.index
            .get(identifier)
            .or_else(|| self.index.get(&identifier.to_lowercase()))
            .copied()
    }

    fn person_mut(&mut self, identifier: &str) -> Option<&mut Person> {
        let i = self.find_person(identifier)?;
        self.people.get_mut(i)
    }

    /// Changes when a person accepts future invites (`None`: never).
    pub fn set_accept_delay(&mut self, person: &str, delay: Option<Millis>) -> bool {
        self.person_mut(person)
            .map(|p| p.accept_after_ms = delay)
            .is_some()
    }

    /// Changes a person's reply after accepting.
    pub fn set_reply_after_accept(
        &mut self,
        person: &str,
        reply: Option<(Millis, String)>,
    ) -> bool {
        self.person_mut(person)
            .map(|p| p.reply_after_accept = reply)
            .is_some()
    }

    /// Changes a person's answer to our messages.
    pub fn set_reply_to_messages(&mut self, person: &str, reply: Option<(Millis, String)>) -> bool {
        self.person_mut(person)
            .map(|p| p.reply_to_messages = reply)
            .is_some()
    }

    /// Overrides the fate of a person's `new_relation` webhooks.
    pub fn set_relation_webhook(&mut self, person: &str, fate: Option<WebhookFate>) -> bool {
        self.person_mut(person)
            .map(|p| p.relation_webhook = fate)
            .is_some()
    }

    /// The default fate of a webhook source.
    pub fn set_fate(&mut self, kind: WebhookKind, fate: WebhookFate) {
        self.fates.insert(kind, fate);
    }

    /// How relations' `created_at` is written.
    pub fn set_created_at_unit(&mut self, unit: CreatedAtUnit) {
        self.created_at_unit = unit;
    }

    /// Sets an account's weekly invite quota (default 200).
    pub fn set_invite_quota(&mut self, account: &str, weekly: u32) -> bool {
        self.account_mut(account)
            .map(|a| a.weekly_invite_quota = weekly.max(1))
            .is_some()
    }

    /// Makes two people connected as of `created_at` (no webhook).
    pub fn connect(&mut self, account: &str, person: &str, created_at: Millis) -> bool {
        let (Some(_), Some(p)) = (self.account(account), self.find_person(person)) else {
            return false;
        };
        if self.is_relation(account, p) {
            return true;
        }
        let seq = self.next_seq();
        self.relations
            .entry(account.to_string())
            .or_default()
            .push(RelationRec {
                person: p,
                created_at,
                seq,
            });
        true
    }

    /// The person accepts the account's pending invite now, or connects
    /// without one; a `new_relation` webhook follows. False if unknown or
    /// already connected.
    pub fn accept_now(&mut self, account: &str, person: &str, now: Millis) -> bool {
        let Some(p) = self.find_person(person) else {
            return false;
        };
        if self.account(account).is_none() || self.is_relation(account, p) {
            return false;
        }
        let invite = self
            .invites
            .iter()
            .find(|i| {
                i.public.account_id == account && i.person == p && i.public.accepted_at_ms.is_none()
            })
            .map(|i| i.public.id.clone());
        match invite {
            Some(invite_id) => self.accept(&invite_id, now),
            None => {
                self.make_relation(account, p, now);
                true
            }
        }
    }

    /// The person writes to the account now (a `message_received` webhook).
    pub fn receive_message(
        &mut self,
        account: &str,
        person: &str,
        text: &str,
        now: Millis,
    ) -> bool {
        let Some(p) = self.find_person(person) else {
            return false;
        };
        if self.account(account).is_none() {
            return false;
        }
        self.inbound(account, p, text, now);
        true
    }

    /// Changes an account's state, emitting the `AccountStatus` webhook
    /// (`CREDENTIALS` on disconnect, `OK` on reconnect, `ERROR` on
    /// restriction).
    pub fn set_account_state(&mut self, account: &str, state: AccountState, now: Millis) -> bool {
        let Some(a) = self.account_mut(account) else {
            return false;
        };
        if a.state == state {
            return true;
        }
        a.state = state;
        let message = match state {
            AccountState::Ok => "OK",
            AccountState::Disconnected => "CREDENTIALS",
            AccountState::Restricted => "ERROR",
        };
        let body = json!({"AccountStatus": {
            "account_id": account,
            "account_type": "LINKEDIN",
            "message": message,
        }});
        self.emit(WebhookKind::AccountStatus, account, body, None, now);
        true
    }

    /// The next `n` calls (matching `scope`, if given) answer `failure`.
    pub fn add_fault(&mut self, n: u32, failure: SimFailure, scope: Option<&str>) {
        self.push_fault(0, n, failure, scope, false);
    }

    /// Like [`SimWorld::add_fault`], but the call is carried out first and
    /// its answer replaced by the failure (a timeout after acting).
    pub fn add_fault_after_acting(&mut self, n: u32, failure: SimFailure, scope: Option<&str>) {
        self.push_fault(0, n, failure, scope, true);
    }

    /// After `pass` matching calls are answered normally, the next `n`
    /// answer `failure` (e.g. page 2 of a list fails, page 1 does not).
    pub fn add_fault_after(&mut self, pass: u32, n: u32, failure: SimFailure, scope: Option<&str>) {
        self.push_fault(pass, n, failure, scope, false);
    }

    fn push_fault(
        &mut self,
        pass: u32,
        n: u32,
        failure: SimFailure,
        scope: Option<&str>,
        acts: bool,
    ) {
        if n > 0 {
            self.faults.push(Fault {
                pass,
                remaining: n,
                failure,
                acts,
                scope: scope.map(str::to_string),
            });
        }
    }

    /// Removes every pending fault.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// `action` towards `person` (or anyone, when `None`) answers the
    /// catalogued error `kind` until cleared. False if the person is unknown.
    pub fn force_error(&mut self, action: SimAction, person: Option<&str>, kind: &str) -> bool {
        let person = match person {
            Some(p) => match self.find_person(p) {
                Some(i) => Some(i),
                None => return false,
            },
            None => None,
        };
        self.forced.push(Forced {
            action,
            person,
            kind: kind.trim_start_matches("errors/").to_string(),
        });
        true
    }

    /// Removes every forced error.
    pub fn clear_forced(&mut self) {
        self.forced.clear();
    }

    // ------------------------------------------------------- reading

    /// The accounts.
    pub fn accounts(&self) -> Vec<SimAccount> {
        self.accounts.iter().map(|a| a.public.clone()).collect()
    }

    /// An account's state.
    pub fn account_state(&self, account: &str) -> Option<AccountState> {
        self.account(account).map(|a| a.state)
    }

    /// An account's relations: (classic id, created_at ms), newest first.
    pub fn relations_of(&self, account: &str) -> Vec<(String, Millis)> {
        let mut rows: Vec<_> = self
            .relations
            .get(account)
            .map(|r| r.iter().collect())
            .unwrap_or_default();
        rows.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.seq)));
        rows.into_iter()
            .map(|r| {
                (
                    self.people[r.person].public.provider_id.clone(),
                    r.created_at,
                )
            })
            .collect()
    }

    /// Every invite the account sent, oldest first.
    pub fn invites_of(&self, account: &str) -> Vec<SimInvite> {
        self.invites
            .iter()
            .filter(|i| i.public.account_id == account)
            .map(|i| i.public.clone())
            .collect()
    }

    /// The messages between an account and a person, in order.
    pub fn messages_with(&self, account: &str, person: &str) -> Vec<SimMessage> {
        let Some(p) = self.find_person(person) else {
            return Vec::new();
        };
        self.chats
            .iter()
            .filter(|c| c.account_id == account && c.person == p)
            .flat_map(|c| c.messages.iter().cloned())
            .collect()
    }

    /// The call log.
    pub fn calls(&self) -> &[CallRecord] {
        &self.calls
    }

    /// Forgets the call log.
    pub fn clear_calls(&mut self) {
        self.calls.clear();
    }

    /// Every webhook delivery attempt so far.
    pub fn attempts(&self) -> &[DeliveryAttempt] {
        &self.attempts
    }

    /// Webhook deliveries not yet acknowledged nor given up.
    pub fn pending_deliveries(&self) -> usize {
        self.outbox.len()
    }

    /// When the next scheduled thing is due (accept, reply or delivery).
    pub fn next_due(&self) -> Option<Millis> {
        self.scheduled
            .iter()
            .map(|s| s.due)
            .chain(self.outbox.iter().map(|d| d.due))
            .min()
    }

    // ------------------------------------------------------ requests

    /// Records a call.
    pub fn record_call(&mut self, call: CallRecord) {
        self.calls.push(call);
    }

    /// Takes one unit of the first fault matching the call: the failure,
    /// and whether the call is carried out before it is answered.
    pub fn take_fault(
        &mut self,
        method: &str,
        path: &str,
        route: &str,
    ) -> Option<(SimFailure, bool)> {
        let pos = self.faults.iter().position(|f| match &f.scope {
            None => true,
            Some(scope) => {
                let (m, p) = match scope.split_once(' ') {
                    Some((m, p)) => (Some(m), p),
                    None => (None, scope.as_str()),
                };
                m.is_none_or(|m| m.eq_ignore_ascii_case(method)) && (p == path || p == route)
            }
        })?;
        let fault = &mut self.faults[pos];
        if fault.pass > 0 {
            fault.pass -= 1;
            return None;
        }
        fault.remaining -= 1;
        let taken = (fault.failure.clone(), fault.acts);
        if fault.remaining == 0 {
            self.faults.remove(pos);
        }
        Some(taken)
    }

    /// The classic provider id of the person a chat is with.
    pub fn chat_person(&self, chat_id: &str) -> Option<String> {
        self.chats
            .iter()
            .find(|c| c.id == chat_id)
            .map(|c| self.people[c.person].public.provider_id.clone())
    }

    /// The account of a chat.
    pub fn chat_account(&self, chat_id: &str) -> Option<String> {
        self.chats
            .iter()
            .find(|c| c.id == chat_id)
            .map(|c| c.account_id.clone())
    }

    fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.public.id == id)
    }

    fn account_mut(&mut self, id: &str) -> Option<&mut Account> {
        self.accounts.iter_mut().find(|a| a.public.id == id)
    }

    /// Refuses calls for an unknown, disconnected or restricted account.
    pub fn check_account(&self, account: &str) -> Result<(), SimFailure> {
        match self.account(account).map(|a| a.state) {
            None => Err(SimFailure::known(
                "invalid_account",
                format!("no account `{account}` in this workspace"),
            )),
            Some(AccountState::Ok) => Ok(()),
            Some(AccountState::Disconnected) => Err(SimFailure::known(
                "disconnected_account",
                "the account's credentials must be refreshed",
            )),
            Some(AccountState::Restricted) => Err(SimFailure::known(
                "account_restricted",
                "LinkedIn restricted this account",
            )),
        }
    }

    fn forced_error(&self, action: SimAction, person: Option<usize>) -> Result<(), SimFailure> {
        match self
            .forced
            .iter()
            .find(|f| f.action == action && (f.person.is_none() || f.person == person))
        {
            Some(f) => Err(SimFailure::known(&f.kind, "forced by the simulator")),
            None => Ok(()),
        }
    }

    fn is_relation(&self, account: &str, person: usize) -> bool {
        self.relations
            .get(account)
            .is_some_and(|r| r.iter().any(|r| r.person == person))
    }

    /// `GET /api/v1/accounts`.
    pub fn list_accounts(&self) -> Value {
        let items: Vec<Value> = self
            .accounts
            .iter()
            .map(|a| {
                let status = match a.state {
                    AccountState::Ok => "OK",
                    AccountState::Disconnected => "CREDENTIALS",
                    AccountState::Restricted => "ERROR",
                };
                json!({
                    "object": "Account",
                    "id": a.public.id,
                    "type": "LINKEDIN",
                    "name": a.public.name,
                    "created_at": iso_ms(a.created_at),
                    "connection_params": {"im": {
                        "id": a.public.own_member_id,
                        "publicIdentifier": a.public.public_identifier,
                        "username": a.public.name,
                        "premiumId": null,
                        "member_number": a.own_number,
                    }},
                    "sources": [{"id": format!("{}_MESSAGING", a.public.id), "status": status}],
                    "groups": [],
                })
            })
            .collect();
        json!({"object": "AccountList", "items": items, "cursor": null})
    }

    /// `GET /api/v1/users/relations`.
    pub fn list_relations(
        &self,
        account: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Value, SimFailure> {
        self.check_account(account)?;
        let rows = self
            .relations
            .get(account)
            .map(|r| r.iter().map(|r| (r.created_at, r.seq, r.person)).collect())
            .unwrap_or_default();
        let (items, cursor) = paginate(rows, cursor, limit)?;
        let items: Vec<Value> = items
            .into_iter()
            .map(|p| {
                let created_at = self
                    .relations
                    .get(account)
                    .and_then(|r| r.iter().find(|r| r.person == p))
                    .map_or(0, |r| r.created_at);
                let created_at = match self.created_at_unit {
                    CreatedAtUnit::Millis => created_at,
                    CreatedAtUnit::Seconds => created_at / 1000,
                };
                let person = &self.people[p];
                let id = &person.public.provider_id;
                json!({
                    "object": "UserRelation",
                    "connection_urn": format!("urn:li:fsd_connection:{id}"),
                    "created_at": created_at,
                    "first_name": person.public.first_name,
                    "last_name": person.public.last_name,
                    "member_id": id,
                    "member_urn": format!("urn:li:fsd_profile:{id}"),
                    "headline": person.headline,
                    "public_identifier": person.public.public_identifier,
                    "public_profile_url": person.public.profile_url(),
                    "profile_picture_url": format!("https://media.licdn.com/dms/image/{}", token(person.public.number, 16)),
                })
            })
            .collect();
        Ok(json!({"object": "UserRelationsList", "items": items, "cursor": cursor}))
    }

    /// `GET /api/v1/users/invite/sent`.
    pub fn list_sent_invites(
        &self,
        account: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Value, SimFailure> {
        self.check_account(account)?;
        let rows = self
            .invites
            .iter()
            .enumerate()
            .filter(|(_, i)| i.public.account_id == account && i.public.accepted_at_ms.is_none())
            .map(|(n, i)| (i.public.sent_at_ms, i.seq, n))
            .collect();
        let (items, cursor) = paginate(rows, cursor, limit)?;
        let items: Vec<Value> = items
            .into_iter()
            .map(|n| {
                let invite = &self.invites[n];
                let person = &self.people[invite.person];
                json!({
                    "object": "UserInvitation",
                    "id": invite.public.id,
                    "date": iso_ms(invite.public.sent_at_ms),
                    "parsed_datetime": iso_ms(invite.public.sent_at_ms),
                    "invitation_text": invite.public.message,
                    "invited_user": person.public.full_name(),
                    "invited_user_id": person.public.provider_id,
                    "invited_user_public_id": person.public.public_identifier,
                    "invited_user_description": person.headline,
                    "specifics": {"provider": "LINKEDIN"},
                })
            })
            .collect();
        Ok(json!({"object": "InvitationList", "items": items, "cursor": cursor}))
    }

    /// `GET /api/v1/chat_attendees/{attendee}/messages`: the messages of
    /// the account's chats with that person, newest first.
    pub fn list_attendee_messages(
        &self,
        account: &str,
        attendee: &str,
        limit: usize,
    ) -> Result<Value, SimFailure> {
        self.check_account(account)?;
        let Some(p) = self.find_person(attendee) else {
            return Err(SimFailure::other(
                404,
                "resource_not_found",
                "Resource not found",
                format!("no attendee `{attendee}`"),
            ));
        };
        let mut messages: Vec<&SimMessage> = self
            .chats
            .iter()
            .filter(|c| c.account_id == account && c.person == p)
            .flat_map(|c| c.messages.iter())
            .collect();
        messages.sort_by_key(|m| std::cmp::Reverse(m.at_ms));
        let items: Vec<Value> = messages
            .into_iter()
            .take(limit)
            .map(|m| {
                json!({
                    "object": "Message",
                    "id": m.message_id,
                    "chat_id": m.chat_id,
                    "text": m.text,
                    "is_sender": i64::from(m.from_self),
                    "timestamp": iso_ms(m.at_ms),
                })
            })
            .collect();
        Ok(json!({"object": "MessageList", "items": items, "cursor": null}))
    }

    /// `GET /api/v1/users/{identifier}`.
    pub fn get_profile(
        &self,
        account: &str,
        identifier: &str,
        sales_navigator: bool,
    ) -> Result<Value, SimFailure> {
        self.check_account(account)?;
        let person = self.find_person(identifier);
        self.forced_error(SimAction::Profile, person)?;
        let Some(p) = person else {
            return Err(SimFailure::known(
                "invalid_recipient",
                format!("no LinkedIn member `{identifier}`"),
            ));
        };
        if identifier.starts_with("ACw") && !sales_navigator {
            return Err(SimFailure::known(
                "invalid_recipient",
                "a Sales Navigator id needs linkedin_api=sales_navigator",
            ));
        }
        let own = self.account(account).map(|a| a.own_number) == Some(self.people[p].public.number);
        let connected = self.is_relation(account, p);
        let pending = self.invites.iter().any(|i| {
            i.public.account_id == account && i.person == p && i.public.accepted_at_ms.is_none()
        });
        let person = &self.people[p];
        Ok(json!({
            "object": "UserProfile",
            "provider": "LINKEDIN",
            "provider_id": person.public.provider_id,
            "public_identifier": person.public.public_identifier,
            "first_name": person.public.first_name,
            "last_name": person.public.last_name,
            "headline": person.headline,
            "member_urn": format!("urn:li:member:{}", person.public.number),
            "is_self": own,
            "is_relationship": connected,
            "network_distance": if own { "SELF" } else if connected { "FIRST_DEGREE" } else { "SECOND_DEGREE" },
            "invitation": if pending { json!({"type": "SENT", "status": "PENDING"}) } else { Value::Null },
            "public_profile_url": person.public.profile_url(),
        }))
    }

    /// `POST /api/v1/users/invite`.
    pub fn send_invite(
        &mut self,
        account: &str,
        provider_id: &str,
        message: Option<&str>,
        now: Millis,
    ) -> Result<Value, SimFailure> {
        self.check_account(account)?;
        let person = self.find_person(provider_id);
        self.forced_error(SimAction::Invite, person)?;
        if let Some(m) = message {
            let chars = m.chars().count();
            if chars > crate::provider::MAX_INVITE_NOTE_CHARS {
                return Err(SimFailure::known(
                    "too_many_characters",
                    format!("the message has {chars} characters, at most 300 are allowed"),
                ));
            }
        }
        let Some(p) = person.filter(|_| !provider_id.starts_with("ACw")) else {
            return Err(SimFailure::known(
                "invalid_recipient",
                format!("`{provider_id}` is not a classic provider id of a LinkedIn member"),
            ));
        };
        let Some(acc) = self.account(account) else {
            return Err(SimFailure::known("invalid_account", "unknown account"));
        };
        if acc.own_number == self.people[p].public.number {
            return Err(SimFailure::known(
                "cannot_invite_attendee",
                "an account cannot invite itself",
            ));
        }
        let quota = acc.weekly_invite_quota;
        if self.is_relation(account, p) {
            return Err(SimFailure::known(
                "already_connected",
                "the recipient is already a 1st-degree connection",
            ));
        }
        if self.invites.iter().any(|i| {
            i.public.account_id == account && i.person == p && i.public.accepted_at_ms.is_none()
        }) {
            return Err(SimFailure::known(
                "already_invited_recently",
                "an invitation to this recipient is pending",
            ));
        }
        let week_ago = now - 7 * crate::clock::DAY_MS;
        let used = self
            .invites
            .iter()
            .filter(|i| i.public.account_id == account && i.public.sent_at_ms > week_ago)
            .count() as u64;
        if used >= u64::from(quota) {
            return Err(SimFailure::known(
                "limit_exceeded",
                "the weekly invitation limit is reached",
            ));
        }
        let seq = self.next_seq();
        let id = format!(
            "{}",
            7_300_000_000_000_000_000u64 + splitmix(seq) % 99_999_999_999_999
        );
        self.invites.push(Invite {
            public: SimInvite {
                id: id.clone(),
                account_id: account.to_string(),
                provider_id: self.people[p].public.provider_id.clone(),
                message: message.filter(|m| !m.is_empty()).map(str::to_string),
                sent_at_ms: now,
                accepted_at_ms: None,
            },
            person: p,
            seq,
        });
        if let Some(delay) = self.people[p].accept_after_ms {
            self.schedule(
                now + delay.max(0),
                Action::Accept {
                    invite_id: id.clone(),
                },
            );
        }
        let percent = (used + 1) * 100 / u64::from(quota);
        let usage = if percent >= 50 {
            json!(percent)
        } else {
            Value::Null
        };
        Ok(json!({"object": "UserInvitationSent", "invitation_id": id, "usage": usage}))
    }

    /// `POST /api/v1/chats`.
    pub fn start_chat(
        &mut self,
        account: &str,
        attendees: &[String],
        text: &str,
        now: Millis,
    ) -> Result<Value, SimFailure> {
        self.check_account(account)?;
        let [attendee] = attendees else {
            return Err(SimFailure::bad_request(
                "exactly one attendees_ids value is expected",
            ));
        };
        let person = self.find_person(attendee);
        self.forced_error(SimAction::Message, person)?;
        let Some(p) = person else {
            return Err(SimFailure::known(
                "invalid_recipient",
                format!("no LinkedIn member `{attendee}`"),
            ));
        };
        if text.trim().is_empty() {
            return Err(SimFailure::known("invalid_message", "the text is empty"));
        }
        if !self.is_relation(account, p) {
            return Err(SimFailure::known(
                "no_connection_with_recipient",
                "the recipient is not a 1st-degree connection",
            ));
        }
        let (chat_id, message_id) = self.outbound(account, p, text, now);
        Ok(json!({"object": "ChatStarted", "chat_id": chat_id, "message_id": message_id}))
    }

    /// `POST /api/v1/chats/{chat_id}/messages`.
    pub fn send_in_chat(
        &mut self,
        chat_id: &str,
        text: &str,
        now: Millis,
    ) -> Result<Value, SimFailure> {
        let Some(chat) = self.chats.iter().find(|c| c.id == chat_id) else {
            return Err(SimFailure::other(
                404,
                "resource_not_found",
                "Resource not found",
                format!("no chat `{chat_id}`"),
            ));
        };
        let (account, p) = (chat.account_id.clone(), chat.person);
        self.check_account(&account)?;
        self.forced_error(SimAction::Message, Some(p))?;
        if text.trim().is_empty() {
            return Err(SimFailure::known("invalid_message", "the text is empty"));
        }
        if !self.is_relation(&account, p) {
            return Err(SimFailure::known(
                "no_connection_with_recipient",
                "the recipient is not a 1st-degree connection",
            ));
        }
        let (_, message_id) = self.outbound(&account, p, text, now);
        Ok(json!({"object": "MessageSent", "message_id": message_id}))
    }

    // ------------------------------------------------------ behaviour

    fn schedule(&mut self, due: Millis, action: Action) {
        let seq = self.next_seq();
        self.scheduled.push(Scheduled { due, seq, action });
    }

    fn make_relation(&mut self, account: &str, p: usize, now: Millis) {
        let seq = self.next_seq();
        self.relations
            .entry(account.to_string())
            .or_default()
            .push(RelationRec {
                person: p,
                created_at: now,
                seq,
            });
        let person = &self.people[p].public;
        let body = json!({
            "event": "new_relation",
            "account_id": account,
            "account_type": "LINKEDIN",
            "webhook_name": self.webhook_name,
            "user_full_name": person.full_name(),
            "user_provider_id": person.provider_id,
            "user_public_identifier": person.public_identifier,
            "user_profile_url": person.profile_url(),
            "user_picture_url": format!("https://media.licdn.com/dms/image/{}", token(person.number, 16)),
        });
        let fate = self.people[p].relation_webhook;
        self.emit(WebhookKind::NewRelation, account, body, fate, now);
        if let Some((delay, text)) = self.people[p].reply_after_accept.clone() {
            self.schedule(
                now + delay.max(0),
                Action::Reply {
                    account_id: account.to_string(),
                    person: p,
                    text,
                },
            );
        }
    }

    fn accept(&mut self, invite_id: &str, now: Millis) -> bool {
        let Some(invite) = self
            .invites
            .iter_mut()
            .find(|i| i.public.id == invite_id && i.public.accepted_at_ms.is_none())
        else {
            return false;
        };
        invite.public.accepted_at_ms = Some(now);
        let (account, p) = (invite.public.account_id.clone(), invite.person);
        if self.is_relation(&account, p) {
            return false;
        }
        self.make_relation(&account, p, now);
        true
    }

    fn chat_for(&mut self, account: &str, p: usize) -> usize {
        if let Some(i) = self
            .chats
            .iter()
            .position(|c| c.account_id == account && c.person == p)
        {
            return i;
        }
        let seq = self.next_seq();
        self.chats.push(Chat {
            id: token(seq ^ 0xC4A7, 22),
            provider_chat_id: format!("2-{}", URL_SAFE_NO_PAD.encode(token(seq ^ 0x9C, 24))),
            account_id: account.to_string(),
            person: p,
            messages: Vec::new(),
        });
        self.chats.len() - 1
    }

    /// Adds a message to the chat and emits its `message_received`.
    fn add_message(
        &mut self,
        account: &str,
        p: usize,
        text: &str,
        from_self: bool,
        now: Millis,
    ) -> (String, String) {
        let c = self.chat_for(account, p);
        let seq = self.next_seq();
        let message_id = token(seq ^ 0x3E55, 22);
        let provider_message_id = format!("2-{}", URL_SAFE_NO_PAD.encode(token(seq ^ 0x77, 30)));
        let chat_id = self.chats[c].id.clone();
        self.chats[c].messages.push(SimMessage {
            chat_id: chat_id.clone(),
            message_id: message_id.clone(),
            from_self,
            text: text.to_string(),
            at_ms: now,
        });
        let own_number = self.account(account).map_or(0, |a| a.own_number);
        let own_id = self
            .account(account)
            .map_or_else(String::new, |a| a.public.own_member_id.clone());
        let (sender_id, sender_name, sender_number) = if from_self {
            (
                own_id.clone(),
                self.account(account)
                    .map_or_else(String::new, |a| a.public.name.clone()),
                own_number,
            )
        } else {
            let person = &self.people[p].public;
            (
                person.provider_id.clone(),
                person.full_name(),
                person.number,
            )
        };
        let body = json!({
            "event": "message_received",
            "account_id": account,
            "account_type": "LINKEDIN",
            "account_info": {"type": "LINKEDIN", "feature": "classic", "user_id": own_id},
            "webhook_name": self.webhook_name,
            "chat_id": chat_id,
            "message_id": message_id,
            "message": text,
            "timestamp": iso_ms(now),
            "is_sender": from_self,
            "sender": {
                "attendee_id": token(sender_number ^ 0xA77E, 22),
                "attendee_provider_id": sender_id,
                "attendee_name": sender_name,
                "attendee_profile_url": format!("https://www.linkedin.com/in/{sender_id}"),
                "attendee_specifics": {
                    "provider": "LINKEDIN",
                    "member_urn": format!("urn:li:member:{sender_number}"),
                    "network_distance": if from_self { "SELF" } else { "DISTANCE_1" },
                },
                "attendee_public_identifier": null,
            },
            "attendees": [],
            "attachments": [],
            "provider_chat_id": self.chats[c].provider_chat_id,
            "provider_message_id": provider_message_id,
            "message_type": "MESSAGE",
            "is_group": false,
            "folder": ["INBOX", "INBOX_LINKEDIN_CLASSIC"],
            "subject": null,
            "quoted": null,
            "reply_to": null,
            "is_event": 0,
            "chat_pinned": 0,
            "event_type": null,
        });
        self.emit(WebhookKind::MessageReceived, account, body, None, now);
        (chat_id, message_id)
    }

    fn outbound(&mut self, account: &str, p: usize, text: &str, now: Millis) -> (String, String) {
        let ids = self.add_message(account, p, text, true, now);
        if let Some((delay, reply)) = self.people[p].reply_to_messages.clone() {
            self.schedule(
                now + delay.max(0),
                Action::Reply {
                    account_id: account.to_string(),
                    person: p,
                    text: reply,
                },
            );
        }
        ids
    }

    fn inbound(&mut self, account: &str, p: usize, text: &str, now: Millis) {
        self.add_message(account, p, text, false, now);
    }

    fn emit(
        &mut self,
        kind: WebhookKind,
        account: &str,
        body: Value,
        fate: Option<WebhookFate>,
        now: Millis,
    ) {
        let fate = fate
            .or_else(|| self.fates.get(&kind).copied())
            .unwrap_or(WebhookFate::Deliver { delay_ms: 0 });
        let dues = match fate {
            WebhookFate::Drop => vec![],
            WebhookFate::Deliver { delay_ms } => vec![now + delay_ms.max(0)],
            WebhookFate::Duplicate { delay_ms, gap_ms } => {
                vec![now + delay_ms.max(0), now + delay_ms.max(0) + gap_ms.max(0)]
            }
        };
        for due in dues {
            let id = self.next_seq();
            self.outbox.push(Delivery {
                id,
                kind,
                account_id: account.to_string(),
                body: body.clone(),
                due,
                attempts: 0,
            });
        }
    }

    /// Performs the accepts and replies due at `now`, then hands out the
    /// webhook deliveries due (events of a disconnected or restricted
    /// account wait for its reconnection, except its status changes).
    pub fn run_due(&mut self, now: Millis, report: &mut SimTickReport) -> Vec<DueDelivery> {
        loop {
            let mut due: Vec<Scheduled> = Vec::new();
            self.scheduled.retain(|s| {
                if s.due <= now {
                    due.push(s.clone());
                    false
                } else {
                    true
                }
            });
            if due.is_empty() {
                break;
            }
            due.sort_by_key(|s| (s.due, s.seq));
            for s in due {
                match s.action {
                    Action::Accept { invite_id } => {
                        if self.accept(&invite_id, s.due) {
                            report.accepted += 1;
                        }
                    }
                    Action::Reply {
                        account_id,
                        person,
                        text,
                    } => {
                        self.inbound(&account_id, person, &text, s.due);
                        report.replies += 1;
                    }
                }
            }
        }
        let mut out: Vec<DueDelivery> = self
            .outbox
            .iter()
            .filter(|d| d.due <= now)
            .filter(|d| {
                d.kind == WebhookKind::AccountStatus
                    || self.account(&d.account_id).map(|a| a.state) == Some(AccountState::Ok)
            })
            .map(|d| DueDelivery {
                id: d.id,
                kind: d.kind,
                account_id: d.account_id.clone(),
                body: d.body.clone(),
                attempt: d.attempts + 1,
            })
            .collect();
        out.sort_by_key(|d| {
            let due = self
                .outbox
                .iter()
                .find(|o| o.id == d.id)
                .map_or(0, |o| o.due);
            (due, d.id)
        });
        out
    }

    /// Records the outcome of a delivery attempt; a failure is retried
    /// after a growing delay, at most 5 times.
    pub fn delivery_done(
        &mut self,
        delivery: &DueDelivery,
        status: Option<u16>,
        error: Option<String>,
        now: Millis,
        report: &mut SimTickReport,
    ) {
        self.attempts.push(DeliveryAttempt {
            delivery_id: delivery.id,
            kind: delivery.kind,
            account_id: delivery.account_id.clone(),
            attempt: delivery.attempt,
            at_ms: now,
            status,
            error,
            body: delivery.body.clone(),
        });
        let Some(pos) = self.outbox.iter().position(|d| d.id == delivery.id) else {
            return;
        };
        if status == Some(200) {
            report.delivered += 1;
            self.outbox.remove(pos);
            return;
        }
        report.failed += 1;
        let d = &mut self.outbox[pos];
        d.attempts = delivery.attempt;
        match WEBHOOK_RETRY_DELAYS_MS.get(d.attempts as usize - 1) {
            Some(delay) => d.due = now + delay,
            None => {
                self.outbox.remove(pos);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_decode_to_the_same_member_number() {
        let classic = encode_member_id(false, 342_491_755);
        let sales = encode_member_id(true, 342_491_755);
        assert!(classic.starts_with("ACoAABRqAms"), "{classic}");
        assert!(sales.starts_with("ACw"), "{sales}");
        assert_eq!(classic.len(), 40);
        assert_eq!(crate::provider::member_number(&classic), Some(342_491_755));
        assert_eq!(crate::provider::member_number(&sales), Some(342_491_755));
        assert_ne!(classic[12..], sales[12..]);
    }

    #[test]
    fn names_and_times() {
        assert_eq!(slugify("Julien", "Crépieux"), "julien-crepieux");
        assert_eq!(iso_ms(1_783_331_007_002), "2026-07-06T09:43:27.002Z");
    }

    #[test]
    fn pages_are_stable_newest_first() {
        let rows: Vec<(Millis, u64, u32)> = (0..7)
            .map(|i| (1000 + i64::from(i / 2), u64::from(i), i))
            .collect();
        let (a, c) = paginate(rows.clone(), None, 3).unwrap_or_default();
        assert_eq!(a, vec![6, 5, 4]);
        let (b, c) = paginate(rows.clone(), c.as_deref(), 3).unwrap_or_default();
        assert_eq!(b, vec![3, 2, 1]);
        let (d, c) = paginate(rows, c.as_deref(), 3).unwrap_or_default();
        assert_eq!((d, c), (vec![0], None));
    }
}

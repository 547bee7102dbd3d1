//! The simulated world, drawn from the seed before anything runs:
//! accounts (time zones, caps, warm-up), their campaigns (step lists,
//! windows, pauses), their outages, and the prospects with the identifier
//! they are imported by and how they behave.

use crate::clock::{DAY_MS, HOUR_MS, MINUTE_MS, Millis};
use rand_core::{Rng as _, SeedableRng};
use serde_json::{Value, json};

/// The simulation's only source of randomness.
pub struct Rng(rand_pcg::Pcg64Mcg);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Rng(rand_pcg::Pcg64Mcg::seed_from_u64(seed))
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.0.next_u64() % n }
    }

    /// Uniform in `lo..hi` (`lo` when empty).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            lo + self.below((hi - lo) as u64) as i64
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The accounts' time zones: two change to winter time on 25 October 2026
/// and two on 1 November, both inside a run starting 19 October.
pub const ZONES: [&str; 6] = [
    "Europe/Paris",
    "America/New_York",
    "Europe/London",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Asia/Kolkata",
];

/// Monday 19 October 2026, 00:00 UTC: the simulation's start.
pub const START: &str = "2026-10-19T00:00:00Z";

/// A campaign's sending window.
#[derive(Debug, Clone)]
pub struct WindowSpec {
    /// Local minute the window opens.
    pub start_minute: i64,
    /// Local minute it closes.
    pub end_minute: i64,
    /// ISO weekdays.
    pub days: Vec<u8>,
}

impl WindowSpec {
    /// `"1,2,3"`.
    pub fn days_csv(&self) -> String {
        self.days
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The shapes of campaign the world uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignKind {
    /// invite + note → wait_accept 7 d → if accepted: message → wait 3 d → message.
    Nurture,
    /// invite → wait_accept 4 d → if accepted: message.
    Quick,
    /// invite → wait_accept 1 d → message whether accepted or not (the
    /// envelope must hold the message back from non-connections).
    Anyway,
}

/// One campaign.
#[derive(Debug, Clone)]
pub struct CampaignSpec {
    /// Its shape.
    pub kind: CampaignKind,
    /// Its name.
    pub name: String,
    /// The invite note.
    pub note: Option<String>,
    /// The message texts, unique to this campaign.
    pub texts: Vec<String>,
    /// The wait_accept days.
    pub wait_accept_days: i64,
    /// The window.
    pub window: WindowSpec,
    /// Paused at, resumed at.
    pub pause: Option<(Millis, Millis)>,
}

impl CampaignSpec {
    /// The steps as the API takes them.
    pub fn steps(&self) -> Value {
        let invite = json!({"type": "send_invite", "note": self.note});
        let wait = json!({"type": "wait_accept", "days": self.wait_accept_days});
        let message = |i: usize| json!({"type": "send_message", "text": self.texts[i]});
        match self.kind {
            CampaignKind::Nurture => json!([
                invite, wait, {"type": "condition", "if_accepted": 3}, message(0),
                {"type": "wait", "days": 3}, message(1)
            ]),
            CampaignKind::Quick => {
                json!([invite, wait, {"type": "condition", "if_accepted": 3}, message(0)])
            }
            CampaignKind::Anyway => json!([
                invite, wait, {"type": "condition", "if_accepted": 3, "otherwise": 3}, message(0)
            ]),
        }
    }
}

/// An account outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageKind {
    /// Credentials lost, then reconnected.
    Disconnect,
    /// LinkedIn restricts the account for a while.
    Restrict,
}

/// One outage of one account.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    /// What.
    pub kind: OutageKind,
    /// From.
    pub from: Millis,
    /// Until.
    pub until: Millis,
}

/// One LinkedIn account.
#[derive(Debug, Clone)]
pub struct AccountSpec {
    /// The simulator's account id.
    pub provider_id: String,
    /// IANA time zone.
    pub time_zone: String,
    /// Created 30 days before the start (warm-up over) or at the start.
    pub warmed: bool,
    /// When Accord saw it first: its warm-up starts then.
    pub created_at: Millis,
    /// Caps.
    pub daily_invite_cap: i64,
    /// Caps.
    pub weekly_invite_cap: i64,
    /// Caps.
    pub daily_message_cap: i64,
    /// Caps.
    pub weekly_message_cap: i64,
    /// Spacing between actions.
    pub min_spacing_ms: Millis,
    /// Its campaigns.
    pub campaigns: Vec<CampaignSpec>,
    /// Its outages.
    pub outages: Vec<Outage>,
}

/// How a prospect is given to Accord.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// The classic member id (`ACo…`).
    MemberId,
    /// A Sales Navigator lead URL (`ACw…`).
    SalesNav,
    /// The canonical profile URL.
    ProfileUrl,
    /// A profile URL needing normalisation (scheme, host, case, query).
    MessyUrl,
    /// The profile URL of a slug the person changed after the import.
    SlugChanged,
}

impl IdKind {
    /// Its name in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::MemberId => "member_id",
            IdKind::SalesNav => "sales_nav_lead_url",
            IdKind::ProfileUrl => "profile_url",
            IdKind::MessyUrl => "profile_url_to_normalise",
            IdKind::SlugChanged => "slug_changed",
        }
    }
}

/// How a prospect behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Accepts before wait_accept runs out.
    AcceptInTime,
    /// Accepts after wait_accept timed out.
    AcceptLate,
    /// Never accepts.
    Never,
    /// Accepts and replies within minutes, while the accept webhook is
    /// hours late.
    ReplyBeforeSignal,
    /// Already a connection before the campaign.
    AlreadyConnected,
}

impl Behaviour {
    /// Its name in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Behaviour::AcceptInTime => "accept_in_time",
            Behaviour::AcceptLate => "accept_late",
            Behaviour::Never => "never_accepts",
            Behaviour::ReplyBeforeSignal => "reply_before_accept_signal",
            Behaviour::AlreadyConnected => "already_connected",
        }
    }
}

/// One prospect.
#[derive(Debug, Clone)]
pub struct ProspectSpec {
    /// Index into the accounts.
    pub account: usize,
    /// Index into the account's campaigns.
    pub campaign: usize,
    /// The slug at import.
    pub slug: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// How it is imported.
    pub id_kind: IdKind,
    /// How it behaves.
    pub behaviour: Behaviour,
    /// Accepts this long after the invite.
    pub accept_after_ms: Option<Millis>,
    /// Replies this long after accepting.
    pub reply_after_accept_ms: Option<Millis>,
    /// Answers our messages this long after each.
    pub reply_to_messages_ms: Option<Millis>,
}

/// The whole world.
#[derive(Debug, Clone)]
pub struct WorldSpec {
    /// The first simulated instant.
    pub start: Millis,
    /// The last.
    pub end: Millis,
    /// Accounts.
    pub accounts: Vec<AccountSpec>,
    /// Prospects.
    pub prospects: Vec<ProspectSpec>,
}

const FIRST: [&str; 12] = [
    "Julien", "Selva", "Amira", "Noah", "Ines", "Kenji", "Olga", "Maya", "Tomas", "Lea", "Ravi",
    "Zoe",
];
const LAST: [&str; 12] = [
    "Martin", "Kumar", "Haddad", "Schmidt", "Rossi", "Tanaka", "Novak", "Silva", "Dubois", "Berg",
    "Okafor", "Chen",
];

/// Draws the world. `days` ≥ 2.
pub fn generate(
    rng: &mut Rng,
    start: Millis,
    days: u32,
    accounts: usize,
    prospects: usize,
) -> WorldSpec {
    let end = start + i64::from(days) * DAY_MS;
    let mut list = Vec::with_capacity(accounts);
    for a in 0..accounts {
        let warmed = a % 3 != 2;
        let time_zone = ZONES[a % ZONES.len()].to_string();
        let n_campaigns = 2 + rng.below(2) as usize;
        let mut campaigns = Vec::new();
        for c in 0..n_campaigns {
            let kind = match (c, a % 2) {
                (0, _) => CampaignKind::Nurture,
                (1, 0) => CampaignKind::Anyway,
                _ => CampaignKind::Quick,
            };
            let window = match rng.below(3) {
                0 => WindowSpec {
                    start_minute: 9 * 60,
                    end_minute: 17 * 60,
                    days: vec![1, 2, 3, 4, 5],
                },
                1 => WindowSpec {
                    start_minute: 8 * 60,
                    end_minute: 18 * 60 + 30,
                    days: vec![1, 2, 3, 4, 5, 6],
                },
                _ => WindowSpec {
                    start_minute: 10 * 60,
                    end_minute: 16 * 60,
                    days: vec![1, 2, 3, 4],
                },
            };
            let tag = format!("a{a}c{c}");
            let wait_accept_days = match kind {
                CampaignKind::Nurture => 7,
                CampaignKind::Quick => 4,
                CampaignKind::Anyway => 1,
            };
            let pause = rng.chance(0.25).then(|| {
                let at = start + rng.range(DAY_MS, (end - start).max(2 * DAY_MS) - DAY_MS);
                (at, at + rng.range(2 * HOUR_MS, 2 * DAY_MS))
            });
            campaigns.push(CampaignSpec {
                kind,
                name: format!("Campaign {tag}"),
                note: (kind != CampaignKind::Quick)
                    .then(|| format!("Hi! We work on similar problems ({tag}); happy to connect.")),
                texts: vec![
                    format!("Thanks for connecting! Would a short call next week work? ({tag}/1)"),
                    format!("Following up with a short demo whenever suits. ({tag}/2)"),
                ],
                wait_accept_days,
                window,
                pause,
            });
        }
        let mut outages = Vec::new();
        // Outages end a day before the end, so every accept can be seen.
        let latest = end - 2 * DAY_MS;
        if latest > start + DAY_MS && rng.chance(0.3) {
            let from = start + rng.range(HOUR_MS, latest - start);
            outages.push(Outage {
                kind: OutageKind::Disconnect,
                from,
                until: (from + rng.range(30 * MINUTE_MS, 20 * HOUR_MS)).min(latest),
            });
        }
        if latest > start + DAY_MS && rng.chance(0.08) {
            let from = start + rng.range(HOUR_MS, latest - start);
            outages.push(Outage {
                kind: OutageKind::Restrict,
                from,
                until: (from + rng.range(6 * HOUR_MS, 30 * HOUR_MS)).min(latest),
            });
        }
        outages.sort_by_key(|o| o.from);
        // Overlapping outages merge into the first kind.
        let mut merged: Vec<Outage> = Vec::new();
        for o in outages {
            match merged.last_mut() {
                Some(last) if o.from <= last.until => last.until = last.until.max(o.until),
                _ => merged.push(o),
            }
        }
        list.push(AccountSpec {
            provider_id: format!("sim-acc-{a:04}"),
            time_zone,
            warmed,
            created_at: if warmed { start - 30 * DAY_MS } else { start },
            daily_invite_cap: rng.range(15, 31),
            weekly_invite_cap: rng.range(80, 121),
            daily_message_cap: rng.range(40, 61),
            weekly_message_cap: rng.range(200, 301),
            min_spacing_ms: rng.range(60, 181) * 1_000,
            campaigns,
            outages: merged,
        });
    }
    let mut people = Vec::with_capacity(prospects);
    for i in 0..prospects {
        let account = i % accounts.max(1);
        let campaign = rng.below(list[account].campaigns.len() as u64) as usize;
        let wait_days = list[account].campaigns[campaign].wait_accept_days;
        let id_kind = match rng.below(20) {
            0..=5 => IdKind::ProfileUrl,
            6..=9 => IdKind::MessyUrl,
            10..=13 => IdKind::MemberId,
            14..=17 => IdKind::SalesNav,
            _ => IdKind::SlugChanged,
        };
        let behaviour = match rng.below(100) {
            0..=34 => Behaviour::AcceptInTime,
            35..=49 => Behaviour::AcceptLate,
            50..=84 => Behaviour::Never,
            85..=92 => Behaviour::ReplyBeforeSignal,
            _ => Behaviour::AlreadyConnected,
        };
        let accept_after_ms = match behaviour {
            Behaviour::AcceptInTime => {
                Some(rng.range(20 * MINUTE_MS, wait_days * DAY_MS - 2 * HOUR_MS))
            }
            Behaviour::ReplyBeforeSignal => {
                Some(rng.range(HOUR_MS, wait_days * DAY_MS / 2 + HOUR_MS))
            }
            Behaviour::AcceptLate => Some(rng.range(
                wait_days * DAY_MS + 2 * HOUR_MS,
                wait_days * DAY_MS + 4 * DAY_MS,
            )),
            _ => None,
        };
        let reply_after_accept_ms = match behaviour {
            Behaviour::ReplyBeforeSignal => Some(rng.range(MINUTE_MS, 10 * MINUTE_MS)),
            _ => None,
        };
        let reply_to_messages_ms = rng
            .chance(0.15)
            .then(|| rng.range(30 * MINUTE_MS, 2 * DAY_MS));
        let first = rng.pick(&FIRST).to_string();
        let last = rng.pick(&LAST).to_string();
        people.push(ProspectSpec {
            account,
            campaign,
            slug: format!("{}-{}-{i:05}", first.to_lowercase(), last.to_lowercase()),
            first_name: first,
            last_name: last,
            id_kind,
            behaviour,
            accept_after_ms,
            reply_after_accept_ms,
            reply_to_messages_ms,
        });
    }
    WorldSpec {
        start,
        end,
        accounts: list,
        prospects: people,
    }
}

/// The identifier fields of a prospect's import row, by its kind (the
/// messy URL's variant drawn from `variant`).
pub fn import_row(p: &ProspectSpec, person: &crate::simulator::SimPerson, variant: u64) -> Value {
    let name = format!("{} {}", p.first_name, p.last_name);
    match p.id_kind {
        IdKind::MemberId => json!({"full_name": name, "member_id": person.provider_id}),
        IdKind::SalesNav => {
            json!({"full_name": name, "sales_nav_lead_url": person.sales_navigator_lead_url()})
        }
        IdKind::ProfileUrl | IdKind::SlugChanged => {
            json!({"full_name": name, "profile_url": format!("https://www.linkedin.com/in/{}/", p.slug)})
        }
        IdKind::MessyUrl => {
            let url = match variant % 4 {
                0 => format!("http://linkedin.com/in/{}", p.slug),
                1 => format!(
                    "https://uk.linkedin.com/in/{}/?trk=public_profile",
                    p.slug.to_uppercase()
                ),
                2 => format!("linkedin.com/in/{}#experience", p.slug),
                _ => format!(
                    "https://www.linkedin.com/in/{}?originalSubdomain=fr",
                    p.slug
                ),
            };
            json!({"full_name": name, "profile_url": url})
        }
    }
}

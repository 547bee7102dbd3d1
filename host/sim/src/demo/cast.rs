//! The demo's cast: simulated LinkedIn members with scripted behaviours,
//! chosen so that every accept path shows up.

use crate::clock::{DAY_MS, HOUR_MS, MINUTE_MS, Millis};
use crate::simulator::{PersonSpec, WebhookFate};

/// What a prospect does once invited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts within 1-3 days; the `new_relation` webhook arrives seconds
    /// later.
    Prompt,
    /// Accepts within a day or two, but the webhook is dropped: relations
    /// polling catches it.
    Dropped,
    /// Accepts (webhook delivered), then replies hours later: the reply
    /// stops the automation.
    RepliesLater,
    /// Accepts and replies within a minute while the webhook is delayed by
    /// hours: the accept is inferred from the reply (a scripted scene).
    ReplyBeforeWebhook,
    /// Accepts, the webhook is dropped, and a user clicks Resync before
    /// polling gets there (a scripted scene).
    ResyncClick,
    /// A 1st-degree connection for months already: the invite is answered
    /// `already_connected`.
    AlreadyConnected,
    /// Accepts only after the 7-day wait_accept timed out: the late accept
    /// auto-fires the follow-up.
    Late,
    /// Never accepts.
    Never,
}

impl Role {
    /// A short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Role::Prompt => "accept within 1-3 days",
            Role::Dropped => "accept with the webhook dropped",
            Role::RepliesLater => "accept then reply",
            Role::ReplyBeforeWebhook => "reply before the webhook",
            Role::ResyncClick => "accept, then a Resync click",
            Role::AlreadyConnected => "already connected",
            Role::Late => "accept after the 7-day timeout",
            Role::Never => "never accept",
        }
    }
}

/// One member of the cast.
#[derive(Debug, Clone)]
pub struct Member {
    /// First name.
    pub first: &'static str,
    /// Last name.
    pub last: String,
    /// Behaviour.
    pub role: Role,
    /// The simulator's script for this person.
    pub spec: PersonSpec,
}

/// People enough for the default cast; beyond them, numbered names.
const NAMES: [(&str, &str); 48] = [
    ("Ada", "Lovelace"),
    ("Grace", "Hopper"),
    ("Alan", "Turing"),
    ("Hedy", "Lamarr"),
    ("Katherine", "Johnson"),
    ("Claude", "Shannon"),
    ("Margaret", "Hamilton"),
    ("John", "von Neumann"),
    ("Barbara", "Liskov"),
    ("Edsger", "Dijkstra"),
    ("Frances", "Allen"),
    ("Donald", "Knuth"),
    ("Radia", "Perlman"),
    ("Tim", "Berners-Lee"),
    ("Karen", "Sparck Jones"),
    ("Dennis", "Ritchie"),
    ("Adele", "Goldberg"),
    ("Ken", "Thompson"),
    ("Sophie", "Wilson"),
    ("Niklaus", "Wirth"),
    ("Shafi", "Goldwasser"),
    ("Leslie", "Lamport"),
    ("Jean", "Sammet"),
    ("John", "McCarthy"),
    ("Mary", "Keller"),
    ("Vint", "Cerf"),
    ("Annie", "Easley"),
    ("Tony", "Hoare"),
    ("Evelyn", "Granville"),
    ("Robin", "Milner"),
    ("Dorothy", "Vaughan"),
    ("Alan", "Kay"),
    ("Lynn", "Conway"),
    ("Ivan", "Sutherland"),
    ("Joan", "Clarke"),
    ("Whitfield", "Diffie"),
    ("Ida", "Rhodes"),
    ("Ralph", "Merkle"),
    ("Kathleen", "Booth"),
    ("Butler", "Lampson"),
    ("Elizabeth", "Feinler"),
    ("Charles", "Babbage"),
    ("Mary", "Jackson"),
    ("Seymour", "Cray"),
    ("Betty", "Holberton"),
    ("Konrad", "Zuse"),
    ("Jean", "Bartik"),
    ("Maurice", "Wilkes"),
];

/// The smallest cast that still shows every path.
pub const MIN_PROSPECTS: usize = 8;

/// A deterministic spread in `[0, range)`.
fn spread(i: usize, salt: u64, range: Millis) -> Millis {
    let mut x = (i as u64).wrapping_add(salt.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x % range.max(1) as u64) as Millis
}

/// The roles of a cast of `n`: one of each scripted scene, then polling,
/// late, replying and never-accepting prospects in proportion, the rest
/// prompt accepters; interleaved so the import order mixes them.
fn roles(n: usize) -> Vec<Role> {
    let share = |d: usize| (n / d).max(1);
    let mut roles = vec![
        Role::AlreadyConnected,
        Role::ReplyBeforeWebhook,
        Role::ResyncClick,
    ];
    roles.extend(std::iter::repeat_n(Role::Dropped, share(12)));
    roles.extend(std::iter::repeat_n(Role::Late, share(12)));
    roles.extend(std::iter::repeat_n(Role::RepliesLater, share(12)));
    roles.extend(std::iter::repeat_n(Role::Never, share(6)));
    roles.truncate(n);
    while roles.len() < n {
        roles.push(Role::Prompt);
    }
    // A fixed shuffle (the same cast every run).
    let mut keyed: Vec<(Millis, Role)> = roles
        .into_iter()
        .enumerate()
        .map(|(i, r)| (spread(i, 7, 1 << 40), r))
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, r)| r).collect()
}

/// The cast of `n` prospects (n ≥ [`MIN_PROSPECTS`]).
pub fn cast(n: usize) -> Vec<Member> {
    let mut late_seen = 0;
    roles(n)
        .into_iter()
        .enumerate()
        .map(|(i, role)| {
            let (first, last) = match NAMES.get(i) {
                Some((f, l)) => (*f, (*l).to_string()),
                None => ("Prospect", format!("No {}", i + 1)),
            };
            let base = PersonSpec::new(first, &last);
            let webhook_delay = 2_000 + spread(i, 3, 6_000);
            let spec = match role {
                Role::Prompt => base
                    .accepts_after(DAY_MS + spread(i, 11, 2 * DAY_MS))
                    .relation_webhook(WebhookFate::Deliver {
                        delay_ms: webhook_delay,
                    }),
                Role::Dropped => base
                    .accepts_after(5 * HOUR_MS + spread(i, 13, DAY_MS))
                    .relation_webhook(WebhookFate::Drop),
                Role::RepliesLater => base
                    .accepts_after(DAY_MS + spread(i, 17, DAY_MS))
                    .relation_webhook(WebhookFate::Deliver {
                        delay_ms: webhook_delay,
                    })
                    .replies_after_accept(
                        3 * HOUR_MS + spread(i, 19, 20 * HOUR_MS),
                        "Thanks for reaching out! Let's talk next week.",
                    ),
                Role::ReplyBeforeWebhook => base
                    .relation_webhook(WebhookFate::Deliver {
                        delay_ms: 4 * HOUR_MS,
                    })
                    .replies_after_accept(
                        40_000,
                        "Hi! Happy to connect - what did you have in mind?",
                    ),
                Role::ResyncClick => base.relation_webhook(WebhookFate::Drop),
                Role::AlreadyConnected | Role::Never => base,
                Role::Late => {
                    // After the 7-day timeout: night (queued for the window)
                    // and day (sent at once) accepts.
                    let after = [20 * HOUR_MS, 26 * HOUR_MS, 30 * HOUR_MS][late_seen % 3];
                    late_seen += 1;
                    base.accepts_after(7 * DAY_MS + after + spread(i, 23, 90 * MINUTE_MS))
                        .relation_webhook(WebhookFate::Deliver {
                            delay_ms: webhook_delay,
                        })
                }
            };
            Member {
                first,
                last,
                role,
                spec,
            }
        })
        .collect()
}

/// Members of the account's network before the campaign (not prospects),
/// and one who connects later outside any campaign (a bridge miss).
pub const NETWORK: [(&str, &str); 2] = [("Bjarne", "Stroustrup"), ("Guido", "van Rossum")];

/// Connects during the campaign without an invite: no enrollment matches.
pub const OUTSIDER: (&str, &str) = ("Linus", "Torvalds");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_cast_even_for_small_casts() {
        for n in [MIN_PROSPECTS, 12, 36, 60] {
            let c = cast(n);
            assert_eq!(c.len(), n);
            for role in [
                Role::Prompt,
                Role::Dropped,
                Role::RepliesLater,
                Role::ReplyBeforeWebhook,
                Role::ResyncClick,
                Role::AlreadyConnected,
                Role::Late,
                Role::Never,
            ] {
                assert!(c.iter().any(|m| m.role == role), "{n}: {role:?}");
            }
        }
    }
}

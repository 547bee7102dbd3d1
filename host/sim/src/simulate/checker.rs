//! The checker: reads what LinkedIn received (the simulator's calls,
//! invites, chats and relations) and what the notification receiver got,
//! and counts violations of the safety invariants. Accord's own tables are
//! read for one thing only: when (and by which path) it stamped an accept,
//! which is Accord's fact by definition.

use super::report::{Latency, PathLatency, Report};
use super::world::WorldSpec;
use crate::clock::{DAY_MS, Millis};
use crate::demo::receiver::Received;
use crate::engine::gates::{local_day, ramped_cap};
use crate::simulator::{CallRecord, SimHandle, SimPerson};
use crate::window::SendingWindow;
use std::collections::{HashMap, HashSet, VecDeque};

/// One accept Accord stamped.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// The simulator's account id.
    pub account: String,
    /// The person's classic provider id (the invite target).
    pub person: String,
    /// The enrollment.
    pub enrollment_id: String,
    /// `accept_source`.
    pub source: String,
    /// When the stamp was written.
    pub stamped_at: Millis,
    /// Observed after wait_accept timed out.
    pub late: bool,
}

/// What the checker reads.
pub struct Evidence<'a> {
    /// The world as drawn.
    pub world: &'a WorldSpec,
    /// The simulated person of each prospect, by index.
    pub people: &'a [SimPerson],
    /// The provider.
    pub sim: &'a SimHandle,
    /// Accord's stamps.
    pub stamps: Vec<Stamp>,
    /// The notification receiver's log.
    pub notifications: Vec<Received>,
    /// The warm-up ramp the engine was given.
    pub ramp: &'a [f64],
    /// Accepts later than `end - grace_ms` are not held to the stamp and
    /// notification invariants.
    pub grace_ms: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Action {
    Invite,
    Message,
}

const MESSAGE_ROUTES: [&str; 2] = ["/api/v1/chats", "/api/v1/chats/{chat_id}/messages"];

/// Counts every violation into `report`.
pub fn check(ev: &Evidence<'_>, report: &mut Report) {
    for name in super::report::INVARIANTS {
        report.violations.entry(name.to_string()).or_insert(0);
    }
    let world = ev.world;
    let by_person: HashMap<(&str, &str), usize> = world
        .prospects
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                (
                    world.accounts[p.account].provider_id.as_str(),
                    ev.people[i].provider_id.as_str(),
                ),
                i,
            )
        })
        .collect();
    let stamps: HashMap<(&str, &str), &Stamp> = ev
        .stamps
        .iter()
        .map(|s| ((s.account.as_str(), s.person.as_str()), s))
        .collect();
    let mut relations: HashMap<(String, String), Millis> = HashMap::new();
    let mut latencies: HashMap<String, (Vec<i64>, Vec<i64>)> = HashMap::new();
    let mut late = Vec::new();
    let (mut invites_sent, mut messages_sent, mut accepts, mut replies) = (0u64, 0u64, 0u64, 0u64);
    for (a, account) in world.accounts.iter().enumerate() {
        let acc = account.provider_id.as_str();
        for (person, at) in ev.sim.relations(acc) {
            relations.insert((acc.to_string(), person), at);
        }
        let mut actions: Vec<(Millis, Action, usize)> = Vec::new();
        let invites = ev.sim.invites(acc);
        for invite in &invites {
            if let Some(&i) = by_person.get(&(acc, invite.provider_id.as_str())) {
                actions.push((invite.sent_at_ms, Action::Invite, i));
            }
        }
        invites_sent += invites.len() as u64;
        let mut first_followup: HashMap<usize, Vec<Millis>> = HashMap::new();
        for (i, p) in world.prospects.iter().enumerate() {
            if p.account != a {
                continue;
            }
            let messages = ev.sim.messages(acc, &ev.people[i].provider_id);
            let mut seen: HashMap<&str, u32> = HashMap::new();
            for m in &messages {
                if !m.from_self {
                    replies += 1;
                    continue;
                }
                messages_sent += 1;
                actions.push((m.at_ms, Action::Message, i));
                first_followup.entry(i).or_default().push(m.at_ms);
                let n = seen.entry(m.text.as_str()).or_default();
                *n += 1;
                if *n > 1 {
                    report.violation("duplicate_followup", || {
                        format!(
                            "{acc} sent {:?} to {} a {} time",
                            m.text, ev.people[i].provider_id, n
                        )
                    });
                }
            }
        }
        actions.sort_by_key(|(t, k, i)| (*t, *k == Action::Message, *i));
        envelope(ev, report, a, &actions);
        // Accepts LinkedIn made, against Accord's stamps.
        for invite in &invites {
            let Some(accepted_at) = invite.accepted_at_ms else {
                continue;
            };
            accepts += 1;
            if accepted_at > world.end - ev.grace_ms {
                report.accepts_too_recent += 1;
                continue;
            }
            let Some(stamp) = stamps.get(&(acc, invite.provider_id.as_str())) else {
                report.violation("accept_never_stamped", || {
                    format!(
                        "{} accepted {acc}'s invite at {accepted_at} and was never stamped",
                        invite.provider_id
                    )
                });
                continue;
            };
            let entry = latencies.entry(stamp.source.clone()).or_default();
            entry.0.push((stamp.stamped_at - accepted_at).max(0));
            let followup = by_person
                .get(&(acc, invite.provider_id.as_str()))
                .and_then(|i| first_followup.get(i))
                .and_then(|ts| ts.iter().copied().filter(|t| *t >= accepted_at).min());
            if let Some(t) = followup {
                entry.1.push(t - accepted_at);
                if stamp.late {
                    late.push(t - accepted_at);
                }
            }
        }
    }
    report.provider.insert("invites_sent".into(), invites_sent);
    report
        .provider
        .insert("messages_sent".into(), messages_sent);
    report.provider.insert("accepts".into(), accepts);
    report.provider.insert("replies".into(), replies);
    let calls = ev.sim.calls();
    calls_log(ev, report, &calls, &relations);
    notifications(ev, report, &relations);
    for (path, (stamp, followup)) in latencies {
        report.latency_by_path.insert(
            path,
            PathLatency {
                accept_to_stamp: Latency::of(stamp),
                accept_to_followup: Latency::of(followup),
            },
        );
    }
    report.late_accept_followup = Latency::of(late);
}

/// Caps, ramp, windows and spacing over one account's actions, in time
/// order.
fn envelope(ev: &Evidence<'_>, report: &mut Report, a: usize, actions: &[(Millis, Action, usize)]) {
    let account = &ev.world.accounts[a];
    let acc = account.provider_id.as_str();
    let windows: Vec<Option<SendingWindow>> = account
        .campaigns
        .iter()
        .map(|c| {
            SendingWindow::new(
                &account.time_zone,
                c.window.start_minute,
                c.window.end_minute,
                &c.window.days_csv(),
            )
            .ok()
        })
        .collect();
    let mut per_day: HashMap<(Action, Millis), i64> = HashMap::new();
    let mut week: HashMap<Action, VecDeque<Millis>> = HashMap::new();
    let mut last: Option<Millis> = None;
    for &(at, action, i) in actions {
        let (daily, weekly) = match action {
            Action::Invite => (account.daily_invite_cap, account.weekly_invite_cap),
            Action::Message => (account.daily_message_cap, account.weekly_message_cap),
        };
        let (day, _) = local_day(&account.time_zone, at);
        let today = per_day.entry((action, day)).or_default();
        *today += 1;
        let ramped = ramped_cap(daily, account.created_at, at, ev.ramp);
        if *today > daily {
            let n = *today;
            report.violation("daily_cap_exceeded", || {
                format!("{acc}: {action:?} #{n} of the local day at {at}, cap {daily}")
            });
        } else if *today > ramped {
            let n = *today;
            report.violation("ramp_exceeded", || {
                format!("{acc}: {action:?} #{n} of the local day at {at}, ramped cap {ramped}")
            });
        }
        let q = week.entry(action).or_default();
        while q.front().is_some_and(|t| *t < at - 7 * DAY_MS) {
            q.pop_front();
        }
        q.push_back(at);
        if q.len() as i64 > weekly {
            let n = q.len();
            report.violation("weekly_cap_exceeded", || {
                format!("{acc}: {action:?} #{n} in 7 days at {at}, cap {weekly}")
            });
        }
        let campaign = ev.world.prospects[i].campaign;
        if let Some(Some(w)) = windows.get(campaign)
            && !w.is_open(at)
        {
            report.violation("outside_window", || {
                format!(
                    "{acc}: {action:?} at {at} outside campaign {}'s window ({})",
                    account.campaigns[campaign].name, account.time_zone
                )
            });
        }
        if let Some(prev) = last
            && at - prev < account.min_spacing_ms
        {
            report.violation("spacing_too_short", || {
                format!(
                    "{acc}: actions {} s apart, spacing {} s",
                    (at - prev) / 1000,
                    account.min_spacing_ms / 1000
                )
            });
        }
        last = Some(at);
    }
}

/// Message attempts to non-connections, and retries after LinkedIn said
/// there is no connection; plus the call mix.
fn calls_log(
    ev: &Evidence<'_>,
    report: &mut Report,
    calls: &[CallRecord],
    relations: &HashMap<(String, String), Millis>,
) {
    let mut refused: HashSet<(String, String)> = HashSet::new();
    let mut by_status: HashMap<u16, u64> = HashMap::new();
    for c in calls {
        *by_status.entry(c.status).or_default() += 1;
        if !c.method.eq_ignore_ascii_case("POST") || !MESSAGE_ROUTES.contains(&c.route.as_str()) {
            continue;
        }
        let (Some(acc), Some(target)) = (&c.account_id, &c.target) else {
            continue;
        };
        let key = (acc.clone(), target.clone());
        if refused.contains(&key) {
            report.violation("retry_after_no_connection", || {
                format!(
                    "{acc} messaged {target} again at {} after no_connection_with_recipient",
                    c.at_ms
                )
            });
        }
        let connected = relations.get(&key).is_some_and(|t| *t <= c.at_ms);
        if !connected {
            report.violation("message_to_non_connection", || {
                format!(
                    "{acc} messaged {target} at {} without a connection",
                    c.at_ms
                )
            });
        }
        if c.error_type.as_deref() == Some("no_connection_with_recipient") {
            refused.insert(key);
        }
    }
    report.provider.insert("calls".into(), calls.len() as u64);
    let mut statuses: Vec<_> = by_status.into_iter().collect();
    statuses.sort_unstable();
    for (status, n) in statuses {
        if status >= 400 {
            report.provider.insert(format!("answered_{status}"), n);
        }
    }
    let _ = ev;
}

/// Each stamped accept notified exactly once; each stamp backed by a
/// relation LinkedIn has.
fn notifications(
    ev: &Evidence<'_>,
    report: &mut Report,
    relations: &HashMap<(String, String), Millis>,
) {
    let mut received: HashMap<&str, u64> = HashMap::new();
    for n in &ev.notifications {
        if n.signature_ok {
            *received.entry(n.id.as_str()).or_default() += 1;
        }
    }
    report.provider.insert(
        "notifications_received".into(),
        ev.notifications.len() as u64,
    );
    for s in &ev.stamps {
        if !relations.contains_key(&(s.account.clone(), s.person.clone())) {
            report.violation("accept_stamped_without_accept", || {
                format!(
                    "{} stamped for {} with no relation at LinkedIn",
                    s.enrollment_id, s.person
                )
            });
        }
        if s.stamped_at > ev.world.end - ev.grace_ms {
            continue;
        }
        let key = crate::store::outbox::accept_key(&s.account, &s.enrollment_id);
        match received.get(key.as_str()).copied().unwrap_or(0) {
            0 => report.violation("accept_notified_zero_times", || {
                format!("{} ({}) never notified", s.enrollment_id, s.source)
            }),
            1 => {}
            n => report.violation("accept_notified_twice", || {
                format!("{} notified {n} times", s.enrollment_id)
            }),
        }
    }
}

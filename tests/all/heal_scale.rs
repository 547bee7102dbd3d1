//! The heal ticks at scale: each heal's selection reads the rows it can
//! pick through an index, never by scanning the enrollments, and picks
//! exactly its candidates (late accepts owed a follow-up; accepts 1–14
//! days old, unreplied, never followed up, not blocked by an open
//! unrecoverable skip), at most 200 a run. The table is the heal
//! benchmark's mix, written in bulk (`host/accord/benches/common/heal_data.rs`).

use crate::bench_common as common;
use crate::on_both_databases;
use crate::rig::Rig;
use crate::world::Kind;
use accord::clock::Clock;
use accord::engine::Tick;

/// Large enough that PostgreSQL's planner prefers an index it has, small
/// enough to write in seconds.
const ENROLLMENTS: usize = 40_000;

/// The partial indexes that hold only a heal's candidates (the late
/// heal's older `enrollments_late` too).
const CANDIDATE_INDEXES: [&str; 2] = ["enrollments_late", "enrollments_owed_followup"];

on_both_databases!(heal_selections_use_their_indexes);

async fn heal_selections_use_their_indexes(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let app = &rig.w.app;
    let mut campaigns = Vec::new();
    for a in 0..2 {
        let (_, campaign) =
            common::seed_campaign(app, &format!("heal-scale-{a}"), 60_000, 100).await;
        campaigns.push(campaign);
    }
    let now = rig.w.clock.now_ms();
    let seeded = common::heal_data::seed(app, &campaigns, ENROLLMENTS, now).await;
    common::heal_data::analyze(app).await;
    assert!(seeded.late_unsent > 0 && seeded.stuck > 0, "{seeded:?}");

    for (tick, candidates) in [
        (Tick::HealLate, seeded.late_unsent),
        (Tick::HealStuck, seeded.stuck),
    ] {
        let picked = rig.ticks.selection(tick).await.unwrap();
        assert_eq!(picked, candidates.min(200), "{}: {seeded:?}", tick.name());
        let plan = rig.ticks.explain_selection(tick).await.unwrap().unwrap();
        // How the plan reads the enrollments: PostgreSQL's scan nodes on
        // the table (a bitmap heap scan's index is on its child line),
        // SQLite's `SCAN e`/`SEARCH e` lines.
        let reads: Vec<&str> = plan
            .lines()
            .filter(|l| match kind {
                Kind::Postgres => {
                    l.contains("Scan")
                        && l.contains(" on enrollments")
                        && !l.contains("Bitmap Heap")
                }
                Kind::Sqlite => l.starts_with("SCAN e") || l.starts_with("SEARCH e "),
            })
            .collect();
        assert!(
            !reads.is_empty(),
            "{}: no read of the enrollments?\n{plan}",
            tick.name()
        );
        for read in reads {
            // Only a partial index of the heal's candidates bounds the
            // read; another index (by campaign, say) reads every row.
            assert!(
                CANDIDATE_INDEXES.iter().any(|i| read.contains(i)),
                "{} reads the enrollments without its index:\n{plan}",
                tick.name()
            );
        }
    }
}

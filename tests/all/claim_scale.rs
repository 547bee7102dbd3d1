//! The claim at scale: each ready campaign's due jobs are read through
//! the campaigns' due index, a few per campaign, never by walking the
//! queue. On PostgreSQL a correlated `IN` was planned as a filter on every
//! queued job (its subquery ran once per job and campaign: seconds a claim
//! at 10,000 jobs); the plan is held to the index on both databases.

use crate::bench_common as common;
use crate::on_both_databases;
use crate::rig::Rig;
use crate::world::Kind;
use accord::clock::Clock;
use accord::simulator::encode_member_id;
use accord::store::claims::{self, PER_CAMPAIGN};
use accord::store::jobs::{self, NewJob};

/// Large enough that PostgreSQL's planner prefers an index it has, small
/// enough to write in seconds.
const CAMPAIGNS: usize = 60;
const DUE_PER_CAMPAIGN: usize = 300;
const BATCH: i64 = 256;

on_both_databases!(the_claim_reads_each_campaign_through_its_index);

async fn the_claim_reads_each_campaign_through_its_index(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let app = &rig.w.app;
    let now = rig.w.clock.now_ms();
    for a in 0..CAMPAIGNS {
        let (account, campaign) =
            common::seed_campaign(app, &format!("claim-scale-{a}"), 0, 100).await;
        let mut tx = app.db.begin().await.unwrap();
        let enrollment = common::enroll_waiting(
            app,
            &mut tx,
            &account,
            &campaign,
            &format!("Claim {a}"),
            &encode_member_id(false, 600_000_000 + a as u64),
        )
        .await;
        // One enrollment's steps stand in for a backlog: one active job
        // per (enrollment, step), all due, the oldest first.
        let due: Vec<NewJob> = (0..DUE_PER_CAMPAIGN)
            .map(|i| NewJob {
                enrollment_id: &enrollment,
                campaign_id: &campaign.id,
                linkedin_account_id: &account.id,
                step_index: i as u32,
                action: "send_message",
                source: "claim_scale",
                run_at: now - 1 - i as i64,
                wait_reason: None,
            })
            .collect();
        jobs::enqueue_many(&mut tx, &due, now).await.unwrap();
        tx.commit().await.unwrap();
    }
    common::heal_data::analyze(app).await;

    let mut c = app.db.acquire().await.unwrap();
    let picked = claims::candidates(&mut c, now, BATCH).await.unwrap();
    let per_campaign = PER_CAMPAIGN as usize;
    assert_eq!(picked.len(), (CAMPAIGNS * per_campaign).min(BATCH as usize));
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for job in &picked {
        *counts.entry(job.campaign_id.as_str()).or_default() += 1;
    }
    assert!(counts.values().all(|&n| n <= per_campaign), "{counts:?}");
    assert!(
        picked.windows(2).all(|w| w[0].run_at <= w[1].run_at),
        "oldest due first"
    );

    let plan = claims::explain_candidates(&mut c, now, BATCH)
        .await
        .unwrap();
    match kind {
        Kind::Postgres => {
            assert!(!plan.contains("SubPlan"), "a subquery per row:\n{plan}");
            assert!(
                !plan.contains("Seq Scan on campaign_send_jobs"),
                "the queue walked:\n{plan}"
            );
            assert!(
                plan.contains("campaign_send_jobs_campaign_waits"),
                "the campaigns' due index unused:\n{plan}"
            );
        }
        Kind::Sqlite => {
            let reads: Vec<&str> = plan
                .lines()
                .filter(|l| l.starts_with("SCAN j") || l.starts_with("SCAN dj"))
                .collect();
            assert!(reads.is_empty(), "the queue walked:\n{plan}");
            assert!(
                plan.lines().any(|l| l.starts_with("SEARCH dj")
                    && l.contains("campaign_send_jobs_campaign_waits")),
                "the campaigns' due index unused:\n{plan}"
            );
        }
    }
}

//! `accord demo` in-process with a small cast: every accept path happens
//! and the counts are consistent (each accepted prospect notified once, at
//! most one follow-up per late accept, caps and windows held).

use accord::demo::{DemoArgs, PATHS, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_happens_and_the_counts_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let prospects = 12;
    let args = DemoArgs {
        db: Some(dir.path().join("demo.db")),
        days: 10,
        prospects,
        quiet: true,
        seed: None,
    };
    let r = run(&args).await.unwrap();
    assert!(r.ok(), "the story is incomplete: {:#?}", r.failures);

    for path in PATHS {
        assert!(r.accepts(path) >= 1, "no accept via {path}: {r:#?}");
    }
    assert_eq!(r.accepts_by_path.values().sum::<i64>(), r.accepted);
    assert_eq!(r.stats["accepted"].as_i64(), Some(r.accepted));
    assert_eq!(r.stats["enrolled"].as_i64(), Some(prospects as i64));

    // Each accepted prospect is notified exactly once, signed.
    assert_eq!(r.notifications_delivered as i64, r.accepted);
    assert_eq!(r.notifications_distinct as i64, r.accepted);
    assert_eq!(r.accepted_notified_once, r.accepted);

    // Late accepts auto-fire exactly one follow-up each.
    assert!(r.late_accepts >= 1);
    assert!(r.late_followups_sent >= 1);
    assert!(r.late_followups_sent <= r.late_accepts);
    assert_eq!(r.followups_late, r.late_followups_sent);
    assert!(r.max_late_followups_per_enrollment <= 1);
    assert_eq!(r.stats["late_accepts"].as_i64(), Some(r.late_accepts));

    // In-time follow-ups never outnumber the accepts (two steps each).
    assert!(r.followups_first >= 1 && r.followups_first <= r.accepted);
    assert!(r.followups_second <= r.followups_first);

    // The envelope: one invite action per prospect, under the cap, in the window.
    assert_eq!(
        r.invites_per_day.values().sum::<i64>(),
        prospects as i64,
        "{:?}",
        r.invites_per_day
    );
    assert!(r.invites_per_day.values().all(|n| *n <= 20));
    assert_eq!(r.sent_outside_window, 0);
    assert_eq!(r.refused, 0);

    // The manual resync found the connection; the outsider was traced.
    let resync = r.resync.clone().expect("the resync scene ran");
    assert_eq!(resync["connected"], true);
    assert_eq!(resync["stamped"].as_array().map(Vec::len), Some(1));
    assert!(r.bridge_misses >= 1);
    assert!(dir.path().join("demo.db").exists());
}

#[tokio::test]
async fn refuses_settings_that_cannot_tell_the_story() {
    let dir = tempfile::tempdir().unwrap();
    let short = DemoArgs {
        db: Some(dir.path().join("a.db")),
        days: 5,
        ..DemoArgs::default()
    };
    let e = run(&short).await.unwrap_err().to_string();
    assert!(e.contains("--days"), "{e}");
    let few = DemoArgs {
        db: Some(dir.path().join("b.db")),
        prospects: 3,
        ..DemoArgs::default()
    };
    let e = run(&few).await.unwrap_err().to_string();
    assert!(e.contains("--prospects"), "{e}");
    let existing = dir.path().join("taken.db");
    std::fs::write(&existing, b"not fresh").unwrap();
    let taken = DemoArgs {
        db: Some(existing),
        ..DemoArgs::default()
    };
    let e = run(&taken).await.unwrap_err().to_string();
    assert!(e.contains("fresh"), "{e}");
}

/// The binary, twice with one seed: the same story and event-log digest
/// byte for byte; another seed, another digest.
#[test]
fn a_seed_replays_the_demo_byte_for_byte() {
    let run = |seed: &str| {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(["demo", "--days", "10", "--prospects", "10", "--seed", seed])
            .arg("--db")
            .arg(dir.path().join("demo.db"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let digest = |story: &str| {
        story
            .lines()
            .find_map(|l| l.trim().strip_prefix("event log  sha256:"))
            .map(str::to_string)
            .expect("a digest line")
    };
    let first = run("7");
    assert_eq!(first, run("7"), "the same seed, the same story");
    assert_ne!(digest(&first), digest(&run("8")));
}

/// `accord demo --serve` as a newcomer runs it: the story, then the
/// dashboard on the demo's database at the printed address, signed in
/// with the printed token; Ctrl-C (SIGINT) stops it. Unless browser tests
/// are skipped, a headless Chromium then tours the month (these are the
/// README's screenshots).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serve_keeps_serving_the_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let mut child = Served(
        std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
            .args(["demo", "--days", "12", "--prospects", "12", "--seed", "3"])
            .args(["--quiet", "--serve", "--listen", "127.0.0.1:0"])
            .arg("--db")
            .arg(&db)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let (lines, printed) = std::sync::mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut story = Vec::new();
    let (url, token) = loop {
        let line = printed
            .recv_timeout(std::time::Duration::from_secs(300))
            .unwrap_or_else(|e| panic!("no dashboard address printed ({e}): {story:#?}"));
        story.push(line.clone());
        if let Some(url) = line.strip_prefix("Dashboard: ") {
            let token_line = printed
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap();
            let token = token_line
                .split_once("token: ")
                .map(|(_, t)| t.trim().to_string())
                .unwrap_or_else(|| panic!("no token in {token_line:?}"));
            break (url.trim().to_string(), token);
        }
    };
    assert!(
        story.iter().any(|l| l.contains("event log  sha256:")),
        "the story's table came first: {story:#?}"
    );
    let base = url.strip_suffix("/ui").expect("the address ends in /ui");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Signed out: the sign-in page.
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.headers());
    // The printed token signs in; the workspace list shows the demo's.
    let r = http
        .post(format!("{base}/ui/sign-in"))
        .form(&[("token", token.as_str()), ("next", "/ui")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let page = |path: String| {
        let http = http.clone();
        let cookie = cookie.clone();
        async move {
            let r = http
                .get(format!("{base}{path}"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, home) = page("/ui".to_string()).await;
    assert_eq!(status, 200, "{home}");
    assert!(home.contains("Acme Robotics"), "{home}");
    let workspace = home
        .split("href=\"/ui/workspaces/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to the workspace")
        .to_string();
    let (status, overview) = page(format!("/ui/workspaces/{workspace}")).await;
    assert_eq!(status, 200, "{overview}");
    assert!(overview.contains("Founders outreach"), "{overview}");
    let accepted = overview
        .split("data-counter=\"accepted\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .and_then(|n| n.trim().parse::<i64>().ok())
        .expect("the accept counter");
    assert!(accepted >= 5, "a month of accepts shows: {accepted}");

    // A prospect whose accept came late: the page shows when the
    // follow-up went, from the demo's own data.
    let late = {
        use sqlx::Row;
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&format!("sqlite://{}?mode=ro", db.display()))
            .await
            .unwrap();
        let row = sqlx::query(
            "SELECT prospect_id FROM enrollments WHERE late_accept_observed_at IS NOT NULL ORDER BY late_accept_observed_at LIMIT 1",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        let id: String = row.get(0);
        pool.close().await;
        id
    };
    let (status, prospect) = page(format!("/ui/prospects/{late}")).await;
    assert_eq!(status, 200, "{prospect}");
    assert!(prospect.contains("data-accepted"), "{prospect}");

    // Idle keep-alive connections would hold the shutdown for its grace.
    drop(http);
    if !crate::browser::skipped() {
        tour(base, &token, &workspace, &late).await;
    }
    child.interrupt();
}

/// The demo's month in Chromium: the screenshots the README shows.
async fn tour(base: &str, token: &str, workspace: &str, late_prospect: &str) {
    let b = crate::browser::Browser::open(base, "demo").await;
    b.sign_in(token).await;
    b.goto(&format!("/ui/workspaces/{workspace}")).await;
    b.wait_text("h1", "Acme Robotics").await;
    b.find("section[data-live].connected").await;
    b.screenshot("overview").await;
    let campaign = b
        .attr("tr[data-campaign]", "data-campaign")
        .await
        .expect("a campaign row");
    b.goto(&format!("/ui/campaigns/{campaign}")).await;
    b.wait_text("#campaign-status", "running").await;
    b.screenshot("campaign").await;
    b.goto(&format!("/ui/prospects/{late_prospect}")).await;
    b.wait_contains("[data-accepted]", "via").await;
    b.screenshot("prospect").await;
    b.close().await;
}

/// The served demo; stopped on drop if the test ends early.
struct Served(std::process::Child);

impl Served {
    /// Ctrl-C, as a person stops it: it exits cleanly.
    fn interrupt(&mut self) {
        let pid = self.0.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.0.wait().unwrap();
        assert!(status.success(), "Ctrl-C stops it cleanly: {status}");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

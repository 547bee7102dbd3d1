//! A real browser for the dashboard's tests: Debian's Chromium, headless,
//! driven through ChromeDriver (WebDriver) by fantoccini.
//!
//! One ChromeDriver serves the whole test run (started on a free port by
//! the first test that needs it, stopped when the test process exits);
//! each test opens its own browser session with a fresh profile, closed
//! when the test ends. Waits poll the page until a condition holds or a
//! timeout passes, never for a fixed time. A test that fails saves the
//! page's screenshot beside the others, in `target/browser-screenshots/`.
//!
//! Chromium or ChromeDriver missing is a failure, not a skip, so CI can
//! never pass without running these: `./scripts/test` installs both.
//! `ACCORD_SKIP_BROWSER_TESTS=1` skips them on purpose (a developer's
//! machine without them).
#![allow(dead_code)]

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's ChromeDriver (package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a wait polls before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);

/// Whether the browser tests are skipped on purpose
/// (`ACCORD_SKIP_BROWSER_TESTS=1`); says so when they are.
pub fn skipped() -> bool {
    let skip = std::env::var("ACCORD_SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1");
    if skip {
        eprintln!("skipped: ACCORD_SKIP_BROWSER_TESTS=1");
    }
    skip
}

/// Where the scenarios' screenshots go.
pub fn screenshot_dir() -> PathBuf {
    crate::support::root()
        .join("target")
        .join("browser-screenshots")
}

/// The run's ChromeDriver: its URL.
fn driver() -> &'static str {
    static DRIVER: OnceLock<Result<String, String>> = OnceLock::new();
    match DRIVER.get_or_init(start_driver) {
        Ok(url) => url,
        Err(e) => panic!("{e}"),
    }
}

/// Starts ChromeDriver on a free port, in a process group of its own
/// under a watchdog shell that stops the group (ChromeDriver and any
/// browser it started) once this test process is gone.
fn start_driver() -> Result<String, String> {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        if !Path::new(path).exists() {
            return Err(format!(
                "{path} is missing: the dashboard's browser tests need Debian's `{package}`. \
                 Run ./scripts/test (it installs chromium and chromium-driver), \
                 or set ACCORD_SKIP_BROWSER_TESTS=1 to skip these tests on purpose."
            ));
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port for chromedriver: {e}"))?
        .port();
    let watchdog = r#"setsid "$1" --port="$2" --silent </dev/null >/dev/null 2>&1 &
d=$!
trap 'kill -TERM -- "-$d" 2>/dev/null; kill -TERM "$d" 2>/dev/null' EXIT
while kill -0 "$3" 2>/dev/null; do sleep 1; done"#;
    Command::new("sh")
        .args(["-c", watchdog, "sh", CHROMEDRIVER])
        .arg(port.to_string())
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {CHROMEDRIVER}: {e}"))?;
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        if started.elapsed() > WAIT {
            return Err(format!("{CHROMEDRIVER} did not listen on {address}"));
        }
        std::thread::sleep(POLL);
    }
    Ok(format!("http://{address}"))
}

/// One headless Chromium session on a dashboard at `base`.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    /// The host's base URL, `http://127.0.0.1:PORT`.
    pub base: String,
    scenario: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Opens Chromium (headless, a fresh profile) for `scenario`, whose
    /// name the screenshots carry.
    pub async fn open(base: &str, scenario: &str) -> Browser {
        let profile = tempfile::tempdir().expect("a profile directory");
        let args = [
            "--headless".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            // Without these Chromium calls home, and this machine's closed
            // network refuses its connections (and slows it down).
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--window-size=1280,1000".to_string(),
            "--hide-scrollbars".to_string(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_string(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        caps.insert("pageLoadStrategy".to_string(), json!("normal"));
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(driver())
            .await
            .unwrap_or_else(|e| panic!("no Chromium session through {CHROMEDRIVER}: {e}"));
        Browser {
            client,
            base: base.trim_end_matches('/').to_string(),
            scenario: scenario.to_string(),
            _profile: profile,
        }
    }

    /// Opens `path` of the dashboard (`/ui/...`).
    pub async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// The path (and fragment) of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("the current URL");
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path = format!("{path}?{q}");
        }
        if let Some(f) = url.fragment() {
            path = format!("{path}#{f}");
        }
        path
    }

    /// Signs in with `token` on the sign-in page; returns once the
    /// dashboard shows a page that is not the sign-in page.
    pub async fn sign_in(&self, token: &str) {
        self.goto("/ui/sign-in").await;
        self.submit_token(token).await;
    }

    /// Submits `token` in the sign-in form on the page; returns once the
    /// dashboard shows a page that is not the sign-in page.
    pub async fn submit_token(&self, token: &str) {
        self.fill("#token", token).await;
        self.click("main form button[type=submit]").await;
        self.until("the sign-in to go through", async || {
            !self.path().await.starts_with("/ui/sign-in")
        })
        .await;
    }

    /// Polls `ready` until it holds; fails the test (with a screenshot)
    /// after [`WAIT`].
    pub async fn until(&self, what: &str, mut ready: impl AsyncFnMut() -> bool) {
        let started = Instant::now();
        loop {
            if ready().await {
                return;
            }
            if started.elapsed() > WAIT {
                self.fail(&format!("waited {WAIT:?} for {what}")).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The element `css`, once the page has it.
    pub async fn find(&self, css: &str) -> Element {
        let started = Instant::now();
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                return e;
            }
            if started.elapsed() > WAIT {
                self.fail(&format!("no element `{css}`")).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// How many elements match `css` now.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |all| all.len())
    }

    /// The visible text of `css` (trimmed), once the page has it.
    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        e.text().await.unwrap_or_default().trim().to_string()
    }

    /// Waits until the text of `css` is `expected`.
    pub async fn wait_text(&self, css: &str, expected: &str) {
        let mut last = String::new();
        let started = Instant::now();
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                last = e.text().await.unwrap_or_default().trim().to_string();
                if last == expected {
                    return;
                }
            }
            if started.elapsed() > WAIT {
                self.fail(&format!("`{css}` never read {expected:?} (last: {last:?})"))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the text of `css` contains `part`; returns the text.
    pub async fn wait_contains(&self, css: &str, part: &str) -> String {
        let mut last = String::new();
        let started = Instant::now();
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                last = e.text().await.unwrap_or_default().trim().to_string();
                if last.contains(part) {
                    return last;
                }
            }
            if started.elapsed() > WAIT {
                self.fail(&format!(
                    "`{css}` never contained {part:?} (last: {last:?})"
                ))
                .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The attribute `name` of `css`.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.find(css).await.attr(name).await.unwrap_or_default()
    }

    /// Clicks `css`.
    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        if let Err(err) = e.click().await {
            self.fail(&format!("cannot click `{css}`: {err}")).await;
        }
    }

    /// Clicks `css`, which loads a new page, and waits for it (the old
    /// page's body goes stale).
    pub async fn click_and_load(&self, css: &str) {
        let old = self.find("body").await;
        self.click(css).await;
        self.until(&format!("the page `{css}` loads"), async || {
            // A stale element answers with an error.
            old.text().await.is_err()
        })
        .await;
        self.find("body").await;
    }

    /// Types `value` into `css` (a file input takes a path).
    pub async fn fill(&self, css: &str, value: &str) {
        let e = self.find(css).await;
        if let Err(err) = e.send_keys(value).await {
            self.fail(&format!("cannot type into `{css}`: {err}")).await;
        }
    }

    /// Runs `script` in the page and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Saves the page as `target/browser-screenshots/<scenario>-<name>.png`
    /// and returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        let path = dir.join(format!("{}-{name}.png", self.scenario));
        std::fs::write(&path, &png).expect("the screenshot is saved");
        assert!(png.starts_with(b"\x89PNG"), "a PNG: {}", path.display());
        path
    }

    /// Fails the test, saving what the browser shows first.
    pub async fn fail(&self, why: &str) -> ! {
        let shot = match self.client.screenshot().await {
            Ok(png) => {
                let dir = screenshot_dir();
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(format!("FAILED-{}.png", self.scenario));
                let _ = std::fs::write(&path, png);
                path.display().to_string()
            }
            Err(e) => format!("no screenshot: {e}"),
        };
        let url = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        let source = self.client.source().await.unwrap_or_default();
        let tail: String = source
            .chars()
            .rev()
            .take(3000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        panic!(
            "{}: {why}\n  at {url}\n  screenshot: {shot}\n  page (end):\n{tail}",
            self.scenario
        );
    }

    /// Ends the browser session.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

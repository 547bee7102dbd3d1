//! `accord policy upload | promote | rollback | list`: the admin API's
//! policy routes from the command line, against a running host.
//!
//! `upload` sends the module to `POST /admin/policies/modules`, which
//! compiles it off the request path, polls `GET
//! /admin/policies/modules/{sha256}` until it is ready (printing its
//! progress on stderr), then binds it with `PUT
//! /admin/policies/{slot}?module=<sha256>`; a host without that route
//! gets the module as the body of the `PUT`, compiled within the request.
//!
//! `--token` is the admin token (every scope) or a workspace token (its
//! own workspace's scope only: `--workspace <its id>`); without it, the
//! `ACCORD_ADMIN_TOKEN` environment variable. Exit status: 0 done; 1 the
//! host refused (its error `code` and message are printed); 2 the request
//! got no answer from the API (cannot connect, unreadable module,
//! unusable URL, an answer that is not the API's), as for clap's usage
//! errors.

use crate::policy::Slot;
use clap::{Args, Subcommand};
use serde::Deserialize;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// How long the host may take to answer: an active match module re-keys
/// its scope's prospects before the answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often an upload asks whether its module is compiled.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// How often the wait prints that it is still compiling.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The policy routes of a running host.
#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Upload a module to a running host, wait until it is compiled and
    /// bind it to a scope (`POST /admin/policies/modules`, then `PUT
    /// /admin/policies/{slot}?module=`).
    Upload(UploadArgs),
    /// Make a scope's shadow module its active one
    /// (`POST /admin/policies/{slot}/promote`).
    Promote(ScopeArgs),
    /// Go back to a scope's previous active module
    /// (`POST /admin/policies/{slot}/rollback`).
    Rollback(ScopeArgs),
    /// List the bound modules: the global active one of each slot, then
    /// every binding the token may see (`GET /admin/policies`).
    List(ListArgs),
}

/// Where the host is and who calls it.
#[derive(Debug, Clone, Args)]
pub struct HostArgs {
    /// The host's base URL, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    pub url: String,
    /// The admin token, or a workspace token (its own workspace only).
    #[arg(long, env = "ACCORD_ADMIN_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// `accord policy upload`.
#[derive(Debug, Clone, Args)]
pub struct UploadArgs {
    /// The slot: match, routing or preflight.
    pub slot: Slot,
    /// The policy component (`.wasm`).
    pub module: PathBuf,
    /// The host.
    #[command(flatten)]
    pub host: HostArgs,
    /// The workspace whose scope it binds; absent: the global scope.
    #[arg(long)]
    pub workspace: Option<String>,
    /// `active` (the default) or `shadow`.
    #[arg(long, value_parser = ["active", "shadow"])]
    pub mode: Option<String>,
    /// A name for the module.
    #[arg(long)]
    pub name: Option<String>,
    /// A version label.
    #[arg(long)]
    pub version: Option<String>,
    /// Notes.
    #[arg(long)]
    pub notes: Option<String>,
    /// Limits declared for the module (the rest: its kind's defaults),
    /// fixed at its first upload.
    #[command(flatten)]
    pub limits: super::limits::LimitArgs,
    /// Longest wait for the host to compile the module, seconds.
    #[arg(long, default_value_t = 600)]
    pub wait_secs: u64,
}

/// `accord policy promote | rollback`.
#[derive(Debug, Clone, Args)]
pub struct ScopeArgs {
    /// The slot: match, routing or preflight.
    pub slot: Slot,
    /// The host.
    #[command(flatten)]
    pub host: HostArgs,
    /// The workspace whose scope it is; absent: the global scope.
    #[arg(long)]
    pub workspace: Option<String>,
}

/// `accord policy list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// The host.
    #[command(flatten)]
    pub host: HostArgs,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Why a remote policy command did not get its answer.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The host answered with an error: its HTTP status, stable code and
    /// message.
    #[error("{status} {code}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The API's stable error code, e.g. `unauthorized`.
        code: String,
        /// The API's message.
        message: String,
    },
    /// The host could not be reached, or did not answer in time.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// Why, with its causes (reqwest's own text names none).
        reason: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// `--url` is not an http(s) URL.
    #[error("--url `{0}` is not an http:// or https:// URL")]
    BadUrl(String),
    /// The module file could not be read.
    #[error("{path}: {source}")]
    Module {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The answer is not what the API sends (another server, a proxy).
    #[error("unexpected answer from {url} (status {status}): {reason}")]
    Unexpected {
        /// The URL called.
        url: String,
        /// HTTP status.
        status: u16,
        /// What was wrong with it.
        reason: String,
    },
    /// The module was still compiling when the wait ended.
    #[error(
        "module {sha256} is still compiling after {waited_secs} s; bind it later with `PUT /admin/policies/{{slot}}?module={sha256}`"
    )]
    StillCompiling {
        /// The module.
        sha256: String,
        /// How long the command waited.
        waited_secs: u64,
    },
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl RemoteError {
    /// The process exit status: 1 when the host refused, 2 when the
    /// request got no answer from the API.
    pub fn exit_code(&self) -> i32 {
        match self {
            RemoteError::Refused { .. } | RemoteError::StillCompiling { .. } => 1,
            _ => 2,
        }
    }
}

/// A policy change as the API reports it (the fields printed).
#[derive(Debug, Clone, Deserialize)]
pub struct Swap {
    /// The slot.
    pub slot: String,
    /// The workspace; `None`: global.
    pub workspace_id: Option<String>,
    /// `active` or `shadow`.
    pub mode: String,
    /// What the scope has now in this mode.
    pub sha256: Option<String>,
    /// Its origin.
    pub origin: Option<String>,
    /// What it replaced.
    pub previous_sha256: Option<String>,
    /// Prospects re-keyed (match, active).
    #[serde(default)]
    pub rekeyed: u64,
    /// Prospects the module failed on.
    #[serde(default)]
    pub rekey_failures: u64,
}

/// A stored module as `GET /admin/policies/modules/{sha256}` shows it
/// (the fields read).
#[derive(Debug, Clone, Deserialize)]
pub struct Module {
    /// Its identity.
    pub sha256: String,
    /// `compiling`, `ready` or `failed`.
    pub status: String,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// How long compiling it took, ms.
    #[serde(default)]
    pub compile_ms: Option<i64>,
}

/// A binding as `GET /admin/policies` lists it (the fields printed).
#[derive(Debug, Clone, Deserialize)]
pub struct Bound {
    /// The slot.
    pub slot: String,
    /// The workspace; `None`: global.
    pub workspace_id: Option<String>,
    /// `active` or `shadow`.
    pub mode: String,
    /// The module.
    pub sha256: String,
    /// Its origin.
    pub origin: String,
    /// Whether it is the built-in default.
    #[serde(default)]
    pub builtin: bool,
}

/// Runs a remote command on its own runtime (the binary is otherwise
/// synchronous for the author tools).
pub fn execute(cmd: RemoteCommand) -> Result<i32, RemoteError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RemoteError::Runtime)?;
    let mut out = std::io::stdout().lock();
    let mut progress = std::io::stderr().lock();
    runtime.block_on(run_with_progress(cmd, &mut out, &mut progress))?;
    Ok(0)
}

/// Runs a remote command, printing its result to `out`.
pub async fn run(cmd: RemoteCommand, out: &mut dyn Write) -> Result<(), RemoteError> {
    run_with_progress(cmd, out, &mut std::io::sink()).await
}

/// Runs a remote command, printing its result to `out` and how a long
/// one goes (an upload's compile) to `progress`.
pub async fn run_with_progress(
    cmd: RemoteCommand,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> Result<(), RemoteError> {
    match cmd {
        RemoteCommand::Upload(a) => {
            let swap = upload(&a, progress).await?;
            writeln!(out, "{}", describe_swap("uploaded", &swap))?;
        }
        RemoteCommand::Promote(a) => {
            let swap = scoped_post(&a, "promote").await?;
            writeln!(out, "{}", describe_swap("promoted", &swap))?;
        }
        RemoteCommand::Rollback(a) => {
            let swap = scoped_post(&a, "rollback").await?;
            writeln!(out, "{}", describe_swap("rolled back", &swap))?;
        }
        RemoteCommand::List(a) => {
            let client = Client::new(&a.host)?;
            let path = "/admin/policies";
            let req = client.request(reqwest::Method::GET, path, &[]);
            let listed: serde_json::Value = client.send(req, path).await?;
            if a.json {
                let text = serde_json::to_string_pretty(&listed).unwrap_or_default();
                writeln!(out, "{text}")?;
            } else {
                let bound: Vec<Bound> =
                    serde_json::from_value(listed).map_err(|e| RemoteError::Unexpected {
                        url: client.url(path),
                        status: 200,
                        reason: format!("not a list of bindings: {e}"),
                    })?;
                write!(out, "{}", table(&bound))?;
            }
        }
    }
    Ok(())
}

/// Uploads the module to compile on the host, waits until it is ready,
/// and binds it; a host without the upload route gets it as a `PUT`'s
/// body.
async fn upload(a: &UploadArgs, progress: &mut dyn Write) -> Result<Swap, RemoteError> {
    let bytes = std::fs::read(&a.module).map_err(|source| RemoteError::Module {
        path: a.module.display().to_string(),
        source,
    })?;
    let client = Client::new(&a.host)?;
    let labels = [
        ("name", a.name.as_deref()),
        ("version", a.version.as_deref()),
        ("notes", a.notes.as_deref()),
    ];
    let path = "/admin/policies/modules";
    let mut query = vec![
        ("slot", Some(a.slot.as_str())),
        ("workspace", a.workspace.as_deref()),
    ];
    query.extend(labels);
    let req = client
        .request(reqwest::Method::POST, path, &query)
        .query(&a.limits.query())
        .header(reqwest::header::CONTENT_TYPE, "application/wasm")
        .body(bytes.clone());
    let bind_path = format!("/admin/policies/{}", a.slot.as_str());
    let scope = [
        ("workspace", a.workspace.as_deref()),
        ("mode", a.mode.as_deref()),
    ];
    let module: Module = match client.send(req, path).await {
        Ok(module) => module,
        // A host from before the upload route: POST on the module list
        // is not allowed there.
        Err(RemoteError::Unexpected { status: 405, .. }) => {
            writeln!(progress, "this host compiles within the upload; uploading…")?;
            let mut query = scope.to_vec();
            query.extend(labels);
            let req = client
                .request(reqwest::Method::PUT, &bind_path, &query)
                .query(&a.limits.query())
                .header(reqwest::header::CONTENT_TYPE, "application/wasm")
                .body(bytes);
            return client.send(req, &bind_path).await;
        }
        Err(e) => return Err(e),
    };
    let module = wait_compiled(&client, module, a.wait_secs, progress).await?;
    match module.status.as_str() {
        "ready" => writeln!(
            progress,
            "{}: ready{}; binding…",
            module.sha256,
            module
                .compile_ms
                .map(|ms| format!(" (compiled in {:.1} s)", ms as f64 / 1000.0))
                .unwrap_or_default()
        )?,
        // The bind answers 422 `module_failed` with the loader's message.
        _ => writeln!(
            progress,
            "{}: failed: {}",
            module.sha256,
            module.error.as_deref().unwrap_or("")
        )?,
    }
    let mut query = scope.to_vec();
    query.push(("module", Some(module.sha256.as_str())));
    let req = client.request(reqwest::Method::PUT, &bind_path, &query);
    client.send(req, &bind_path).await
}

/// Polls the module until it is no longer `compiling`, or `wait_secs`
/// have passed.
async fn wait_compiled(
    client: &Client,
    mut module: Module,
    wait_secs: u64,
    progress: &mut dyn Write,
) -> Result<Module, RemoteError> {
    let started = tokio::time::Instant::now();
    let deadline = started + Duration::from_secs(wait_secs);
    let mut said = started;
    if module.status == "compiling" {
        writeln!(progress, "uploaded {}: compiling…", module.sha256)?;
    }
    let path = format!("/admin/policies/modules/{}", module.sha256);
    while module.status == "compiling" {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(RemoteError::StillCompiling {
                sha256: module.sha256,
                waited_secs: wait_secs,
            });
        }
        if now.duration_since(said) >= PROGRESS_EVERY {
            said = now;
            writeln!(
                progress,
                "{}: still compiling ({} s)…",
                module.sha256,
                now.duration_since(started).as_secs()
            )?;
        }
        tokio::time::sleep(POLL_EVERY).await;
        let req = client.request(reqwest::Method::GET, &path, &[]);
        module = client.send(req, &path).await?;
    }
    Ok(module)
}

/// `POST /admin/policies/{slot}/{action}?workspace=…`.
async fn scoped_post(a: &ScopeArgs, action: &str) -> Result<Swap, RemoteError> {
    let client = Client::new(&a.host)?;
    let path = format!("/admin/policies/{}/{action}", a.slot.as_str());
    let query = [("workspace", a.workspace.as_deref())];
    let req = client.request(reqwest::Method::POST, &path, &query);
    client.send(req, &path).await
}

/// One line about a change: what decides now and what it replaced.
pub fn describe_swap(verb: &str, s: &Swap) -> String {
    let scope = scope_name(s.workspace_id.as_deref());
    let now = s.sha256.as_deref().map_or("none".to_string(), |sha| {
        format!("{sha} ({})", s.origin.as_deref().unwrap_or("?"))
    });
    let was = s.previous_sha256.as_deref().unwrap_or("none");
    let mut line = format!(
        "{verb}: {} {scope} {}: now {now}, was {was}",
        s.slot, s.mode
    );
    if s.rekeyed > 0 || s.rekey_failures > 0 {
        line.push_str(&format!(
            "; {} prospects re-keyed, {} failed",
            s.rekeyed, s.rekey_failures
        ));
    }
    line
}

fn scope_name(workspace: Option<&str>) -> String {
    workspace.map_or("global".to_string(), |w| format!("workspace {w}"))
}

/// The bindings as a table: slot, scope, mode, module (12 hex digits),
/// origin.
pub fn table(bound: &[Bound]) -> String {
    let rows: Vec<[String; 5]> = bound
        .iter()
        .map(|b| {
            let origin = if b.builtin {
                format!("{} (built-in)", b.origin)
            } else {
                b.origin.clone()
            };
            [
                b.slot.clone(),
                b.workspace_id.clone().unwrap_or_else(|| "global".into()),
                b.mode.clone(),
                b.sha256.chars().take(12).collect(),
                origin,
            ]
        })
        .collect();
    let header = ["SLOT", "SCOPE", "MODE", "SHA256", "ORIGIN"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// [`RemoteError::Unreachable`], its reason the error and its causes.
fn unreachable(url: &str, source: reqwest::Error) -> RemoteError {
    let mut reason = source.to_string();
    let mut cause = std::error::Error::source(&source);
    while let Some(c) = cause {
        reason.push_str(&format!(": {c}"));
        cause = c.source();
    }
    RemoteError::Unreachable {
        url: url.to_string(),
        reason,
        source,
    }
}

/// An HTTP client for one host and token.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(host: &HostArgs) -> Result<Client, RemoteError> {
        let base = host.url.trim().trim_end_matches('/').to_string();
        let scheme_ok = base.starts_with("http://") || base.starts_with("https://");
        if !scheme_ok || reqwest::Url::parse(&base).is_err() {
            return Err(RemoteError::BadUrl(host.url.clone()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|source| unreachable(&base, source))?;
        Ok(Client {
            http,
            base,
            token: host.token.clone(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the bearer token and the query's given parameters.
    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, Option<&str>)],
    ) -> reqwest::RequestBuilder {
        let given: Vec<(&str, &str)> = query
            .iter()
            .filter_map(|(k, v)| v.map(|v| (*k, v)))
            .collect();
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .query(&given)
    }

    /// Sends `req`: the answer's JSON as `T`, or the API's refusal.
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        path: &str,
    ) -> Result<T, RemoteError> {
        let url = self.url(path);
        let resp = req
            .send()
            .await
            .map_err(|source| unreachable(&url, source))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|source| unreachable(&url, source))?;
        let unexpected = |reason: String| RemoteError::Unexpected {
            url: url.clone(),
            status,
            reason,
        };
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|e| unexpected(e.to_string()));
        }
        #[derive(Deserialize)]
        struct Body {
            error: Detail,
        }
        #[derive(Deserialize)]
        struct Detail {
            code: String,
            message: String,
        }
        match serde_json::from_str::<Body>(&text) {
            Ok(Body { error }) => Err(RemoteError::Refused {
                status,
                code: error.code,
                message: error.message,
            }),
            Err(_) => Err(unexpected(format!(
                "not the API's error body: {}",
                text.chars().take(200).collect::<String>()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Bound, Swap, describe_swap, table};

    #[test]
    fn the_table_aligns_its_columns() {
        let bound = [
            Bound {
                slot: "match".into(),
                workspace_id: None,
                mode: "active".into(),
                sha256: "0123456789abcdef".into(),
                origin: "builtin:match".into(),
                builtin: true,
            },
            Bound {
                slot: "routing".into(),
                workspace_id: Some("ws-1".into()),
                mode: "shadow".into(),
                sha256: "fedcba9876543210".into(),
                origin: "upload".into(),
                builtin: false,
            },
        ];
        let text = table(&bound);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("SLOT     SCOPE   MODE    SHA256"),
            "{text}"
        );
        assert!(lines[1].contains("global") && lines[1].contains("(built-in)"));
        assert!(lines[2].contains("ws-1") && lines[2].contains("fedcba987654"));
        assert!(!lines[2].contains("fedcba9876543"), "12 hex digits");
    }

    #[test]
    fn a_swap_reads_as_one_line() {
        let swap = Swap {
            slot: "match".into(),
            workspace_id: Some("ws-1".into()),
            mode: "active".into(),
            sha256: Some("aa".into()),
            origin: Some("upload".into()),
            previous_sha256: None,
            rekeyed: 3,
            rekey_failures: 0,
        };
        assert_eq!(
            describe_swap("promoted", &swap),
            "promoted: match workspace ws-1 active: now aa (upload), was none; \
             3 prospects re-keyed, 0 failed"
        );
    }
}

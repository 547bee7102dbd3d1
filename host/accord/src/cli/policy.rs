//! `accord policy run | test | check | new`: the policy author's tools
//! (`new` lives in [`super::policy_new`]); `upload | promote | rollback |
//! list` call a running host ([`super::policy_remote`]).

pub use super::cache::CacheArgs;
use super::cache::{CompileReport, compile_line};
pub use super::limits::LimitArgs;
use crate::policy::{
    Decision, Limits, LoadError, PolicyModule, PolicyRuntime, ResolvedLimits, Slot, TraceLine,
};
use accord_policy_core::fixture::{Fixture, MatchCall, MatchResult, match_pattern};
use accord_policy_core::{PreflightInput, RoutingInput};
use clap::Subcommand;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Policy author tooling, and the policy routes of a running host.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run one decision and print it as JSON with fuel, wall time and peak memory.
    Run {
        /// The policy component (`.wasm`).
        module: PathBuf,
        /// The slot's input as JSON (`-` for stdin).
        #[arg(long)]
        input: PathBuf,
        /// The slot (match, routing, preflight); inferred from the exports if omitted.
        #[arg(long)]
        slot: Option<Slot>,
        /// Limits declared for the module (the rest: its kind's defaults).
        #[command(flatten)]
        limits: LimitArgs,
        /// The compiled-module cache.
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Run every fixture of a folder; exit 1 if any fails.
    Test {
        /// The policy component (`.wasm`).
        module: PathBuf,
        /// A folder of fixture files (`*.json`).
        fixtures: PathBuf,
        /// The slot; inferred from the exports if omitted.
        #[arg(long)]
        slot: Option<Slot>,
        /// Limits declared for the module (the rest: its kind's defaults).
        #[command(flatten)]
        limits: LimitArgs,
        /// The compiled-module cache.
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Validate a module: exit 0 if it implements a slot's world, 1 with the reason otherwise.
    Check {
        /// The policy component (`.wasm`).
        module: PathBuf,
        /// The slot it must implement; inferred if omitted.
        #[arg(long)]
        slot: Option<Slot>,
        /// Limits to declare for it (shown with the defaults of its kind).
        #[command(flatten)]
        limits: LimitArgs,
        /// The compiled-module cache.
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Run a candidate over the decisions logged in a host's database and
    /// compare: `N same, M different, K errors`, the differences grouped.
    Replay(super::replay::ReplayArgs),
    /// Turn logged decisions into fixtures (`DIR/<decision id>.json`) that
    /// `accord policy test` runs.
    Fixtures(super::fixtures::FixturesArgs),
    /// Write a new policy crate that starts from the slot's default and
    /// passes its fixtures: `accord policy new preflight my-policy`.
    New(super::policy_new::NewArgs),
    /// The admin API's policy routes against a running host.
    #[command(flatten)]
    Remote(super::policy_remote::RemoteCommand),
}

/// Why an author command could not do its job (distinct from a failing
/// fixture, which is a normal outcome with exit status 1).
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The module was refused.
    #[error("{path}: {source}")]
    Load {
        /// The module file.
        path: String,
        /// Why.
        #[source]
        source: LoadError,
    },
    /// The input could not be read or parsed.
    #[error("{0}")]
    Input(String),
    /// `policy replay` or `policy fixtures` could not read the log.
    #[error(transparent)]
    Log(#[from] Box<super::decision_db::LogError>),
    /// `policy new` could not write its crate.
    #[error(transparent)]
    Scaffold(#[from] super::policy_new::ScaffoldError),
    /// A command against a running host did not get its answer.
    #[error(transparent)]
    Remote(#[from] super::policy_remote::RemoteError),
}

impl ToolError {
    /// The process exit status: 1 when a host refused a remote command,
    /// 2 for everything else (as clap's usage errors).
    pub fn exit_code(&self) -> i32 {
        match self {
            ToolError::Remote(e) => e.exit_code(),
            _ => 2,
        }
    }
}

/// Runs a policy subcommand; returns the process exit status.
pub fn execute(cmd: PolicyCommand) -> Result<i32, ToolError> {
    match cmd {
        PolicyCommand::Replay(args) => Ok(super::replay::execute(args).map_err(Box::new)?),
        PolicyCommand::Fixtures(args) => Ok(super::fixtures::execute(args).map_err(Box::new)?),
        PolicyCommand::Check {
            module,
            slot,
            limits,
            cache,
        } => {
            let declared = match limits.declared() {
                Ok(declared) => declared,
                Err(e) => {
                    eprintln!("invalid: {}: limits: {e}", module.display());
                    return Ok(1);
                }
            };
            let runtime = runtime(
                &cache,
                Limits {
                    max_concurrent: 1,
                    ..limits.maxima()
                },
            )?;
            match runtime.load_file_declared(&module, slot, declared) {
                Ok(m) => {
                    println!(
                        "ok: {} implements the {} slot ({}), sha256 {}",
                        module.display(),
                        m.slot(),
                        m.slot().export_name(),
                        m.sha256()
                    );
                    println!(
                        "kind: {}; limits: {}",
                        m.limits().kind,
                        m.limits().describe()
                    );
                    println!("{}", compile_line(m.compile_stats(), runtime.cache_dir()));
                    Ok(0)
                }
                Err(e) => {
                    eprintln!("invalid: {}: {e}", module.display());
                    Ok(1)
                }
            }
        }
        PolicyCommand::Run {
            module,
            input,
            slot,
            limits,
            cache,
        } => {
            let runtime = runtime(&cache, limits.maxima())?;
            let module = load(&runtime, &module, slot, &limits)?;
            let text = read_input(&input)?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| ToolError::Input(format!("{}: not JSON: {e}", input.display())))?;
            let mut report = run_one(&runtime, &module, value).map_err(ToolError::Input)?;
            report.compile = Some(CompileReport::new(
                module.compile_stats(),
                runtime.cache_dir(),
            ));
            let failed = report.error.is_some();
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            Ok(i32::from(failed))
        }
        PolicyCommand::Test {
            module,
            fixtures,
            slot,
            limits,
            cache,
        } => {
            let runtime = runtime(&cache, limits.maxima())?;
            let module = load(&runtime, &module, slot, &limits)?;
            // Before the results, so the last line stays the summary.
            println!(
                "{}",
                compile_line(module.compile_stats(), runtime.cache_dir())
            );
            let report = test_fixtures(&runtime, &module, &fixtures)?;
            print!("{report}");
            Ok(i32::from(report.failed() > 0))
        }
        PolicyCommand::New(args) => Ok(super::policy_new::execute(&args)?),
        PolicyCommand::Remote(cmd) => Ok(super::policy_remote::execute(cmd)?),
    }
}

fn runtime(cache: &CacheArgs, limits: Limits) -> Result<PolicyRuntime, ToolError> {
    cache.runtime(limits).map_err(|source| ToolError::Load {
        path: "runtime".into(),
        source,
    })
}

fn load(
    runtime: &PolicyRuntime,
    path: &Path,
    slot: Option<Slot>,
    limits: &LimitArgs,
) -> Result<std::sync::Arc<PolicyModule>, ToolError> {
    let declared = limits
        .declared()
        .map_err(|e| ToolError::Input(format!("limits: {e}")))?;
    runtime
        .load_file_declared(path, slot, declared)
        .map_err(|source| ToolError::Load {
            path: path.display().to_string(),
            source,
        })
}

fn read_input(path: &Path) -> Result<String, ToolError> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| ToolError::Input(format!("stdin: {e}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|e| ToolError::Input(format!("{}: {e}", path.display())))
}

/// What `policy run` prints.
#[derive(Debug, Serialize)]
pub struct RunReport {
    /// The slot.
    pub slot: Slot,
    /// sha256 of the module.
    pub module_sha256: String,
    /// The decision (the fail-safe default when `error` is set).
    pub decision: serde_json::Value,
    /// The policy's failure, if any.
    pub error: Option<ErrorReport>,
    /// Trace lines.
    pub trace: Vec<TraceLine>,
    /// Fuel used.
    pub fuel_used: u64,
    /// Wall time of the call, microseconds.
    pub wall_time_us: f64,
    /// Peak linear memory, bytes.
    pub peak_memory_bytes: usize,
    /// The module's kind and the limits the call ran under.
    pub limits: ResolvedLimits,
    /// Whether `policy run` compiled the module or read it from the cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile: Option<CompileReport>,
}

/// A policy failure as `policy run` prints it.
#[derive(Debug, Serialize)]
pub struct ErrorReport {
    /// Stable kind, e.g. `fuel_exhausted`.
    pub kind: &'static str,
    /// Human text.
    pub message: String,
}

/// Runs one JSON input through a module of any slot.
pub fn run_one(
    runtime: &PolicyRuntime,
    module: &PolicyModule,
    input: serde_json::Value,
) -> Result<RunReport, String> {
    let parse_err =
        |e: serde_json::Error| format!("the input does not fit the {} slot: {e}", module.slot());
    match module.slot() {
        Slot::Match => match serde_json::from_value::<MatchCall>(input).map_err(parse_err)? {
            MatchCall::ProspectKeys { identity } => Ok(report(
                module,
                runtime.prospect_keys(module, &identity),
                |keys| MatchResult::Keys { keys },
            )),
            MatchCall::SignalKeys { signal } => Ok(report(
                module,
                runtime.signal_keys(module, &signal),
                |keys| MatchResult::Keys { keys },
            )),
            MatchCall::Resolve { signal, candidates } => Ok(report(
                module,
                runtime.resolve(module, &signal, &candidates),
                |outcome| MatchResult::Matches {
                    matches: outcome.matches,
                },
            )),
        },
        Slot::Routing => {
            let input: RoutingInput = serde_json::from_value(input).map_err(parse_err)?;
            Ok(report(module, runtime.route(module, &input), |r| r))
        }
        Slot::Preflight => {
            let input: PreflightInput = serde_json::from_value(input).map_err(parse_err)?;
            Ok(report(module, runtime.preflight(module, &input), |d| d))
        }
    }
}

fn report<T, U: Serialize>(
    module: &PolicyModule,
    d: Decision<T>,
    shape: impl FnOnce(T) -> U,
) -> RunReport {
    RunReport {
        slot: module.slot(),
        module_sha256: module.sha256().to_string(),
        decision: serde_json::to_value(shape(d.value)).unwrap_or(serde_json::Value::Null),
        error: d.error.map(|e| ErrorReport {
            kind: e.kind(),
            message: e.to_string(),
        }),
        trace: d.trace,
        fuel_used: d.stats.fuel_used,
        wall_time_us: d.stats.elapsed.as_secs_f64() * 1e6,
        peak_memory_bytes: d.stats.peak_memory_bytes,
        limits: *module.limits(),
        compile: None,
    }
}

/// What `policy test` found: one result per fixture file, in file-name
/// order. Its `Display` is what the command prints.
#[derive(Debug)]
pub struct TestReport {
    /// Each fixture's name (its file stem) and outcome: the fuel used, or
    /// why it failed.
    pub results: Vec<(String, Result<u64, String>)>,
}

impl TestReport {
    /// How many fixtures passed.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|(_, r)| r.is_ok()).count()
    }

    /// How many fixtures failed.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }
}

impl std::fmt::Display for TestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, result) in &self.results {
            match result {
                Ok(fuel) => writeln!(f, "ok    {name} (fuel {fuel})")?,
                Err(why) => {
                    writeln!(f, "FAIL  {name}")?;
                    for line in why.lines() {
                        writeln!(f, "      {line}")?;
                    }
                }
            }
        }
        writeln!(f, "{} passed, {} failed", self.passed(), self.failed())
    }
}

/// `accord policy test`: loads `module` (as `slot`, or the slot its
/// exports name) and runs every `*.json` fixture of `dir` through it.
pub fn test(
    module: &Path,
    dir: &Path,
    slot: Option<Slot>,
    limits: &LimitArgs,
) -> Result<TestReport, ToolError> {
    let no_cache = CacheArgs {
        cache_dir: None,
        no_cache: true,
    };
    let runtime = runtime(&no_cache, limits.maxima())?;
    let module = load(&runtime, module, slot, limits)?;
    test_fixtures(&runtime, &module, dir)
}

/// Runs every `*.json` fixture of `dir` through a module already loaded
/// in `runtime` (the test suite shares one runtime and its compiles).
pub fn test_fixtures(
    runtime: &PolicyRuntime,
    module: &PolicyModule,
    dir: &Path,
) -> Result<TestReport, ToolError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ToolError::Input(format!("{}: {e}", dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ToolError::Input(format!(
            "{}: no *.json fixtures",
            dir.display()
        )));
    }
    let results = files
        .iter()
        .map(|file| {
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, check_fixture(runtime, module, file))
        })
        .collect();
    Ok(TestReport { results })
}

fn check_fixture(
    runtime: &PolicyRuntime,
    module: &PolicyModule,
    file: &Path,
) -> Result<u64, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
    let fixture: Fixture =
        serde_json::from_str(&text).map_err(|e| format!("not a fixture: {e}"))?;
    let report = run_one(runtime, module, fixture.input)?;
    if let Some(e) = &report.error {
        return Err(format!("the policy failed: {} ({})", e.message, e.kind));
    }
    match_pattern(&fixture.expected, &report.decision).map_err(|mismatch| {
        let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
        format!(
            "{mismatch}\n--- expected\n{}\n+++ decision\n{}",
            pretty(&fixture.expected),
            pretty(&report.decision)
        )
    })?;
    Ok(report.fuel_used)
}

//! `accord policy new`: each slot's starter crate builds for wasm32-wasip2
//! as an author would build it and passes its fixtures, run by the code of
//! `accord policy test`; so do the Python and JavaScript projects, built
//! with componentize-py and componentize-js.

use crate::support::*;
use accord::cli::policy::{LimitArgs, TestReport, test, test_fixtures};
use accord::cli::policy_new::{Lang, Scaffold, ScaffoldError, scaffold, scaffold_lang};
use accord::policy::Slot;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The one target dir of every scaffold build: the crates share the
/// compile of wit-bindgen and its macro, and a rerun only compiles them.
fn target_dir() -> PathBuf {
    root().join("target").join("scaffolds")
}

/// A fresh folder inside the repository's target dir, so each scaffold is
/// built inside another cargo workspace, as it is when an author runs
/// `cargo run -- policy new …` from an Accord checkout.
fn workdir() -> tempfile::TempDir {
    let base = target_dir().join("work");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::Builder::new()
        .prefix("new-")
        .tempdir_in(base)
        .unwrap()
}

/// Builds the crate in `dir` and returns the seconds it took. `--locked`:
/// the scaffold's lock must be complete, so a build needs no registry
/// index (only the crates, which the repository's guests share).
fn build(dir: &Path) -> f64 {
    let started = Instant::now();
    let stderr = build_wasm(dir, &target_dir(), &["--locked"])
        .unwrap_or_else(|e| panic!("building {}:\n{e}", dir.display()));
    let took = started.elapsed().as_secs_f64();
    assert!(
        !stderr.lines().any(|l| l.starts_with("warning")),
        "the scaffold builds with warnings:\n{stderr}"
    );
    eprintln!("built {} in {took:.1} s", dir.display());
    took
}

/// Where the shared target dir holds the module an author finds at
/// `scaffold.wasm()` in the crate's own `target/`.
fn built(scaffold: &Scaffold) -> PathBuf {
    let wasm = scaffold.wasm();
    target_dir().join(wasm.strip_prefix("target").unwrap())
}

fn run_fixtures(wasm: &Path, fixtures: &Path, slot: Slot) -> TestReport {
    test(wasm, fixtures, Some(slot), &LimitArgs::default())
        .unwrap_or_else(|e| panic!("{}: {e}", wasm.display()))
}

fn tree(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap();
                files.push(relative.display().to_string());
            }
        }
    }
    files.sort();
    files
}

fn accord(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .output()
        .expect("accord runs")
}

#[test]
fn each_slot_scaffold_builds_and_passes_its_fixtures() {
    for slot in Slot::ALL {
        let work = workdir();
        let dir = work.path().join(format!("my-{slot}-policy"));
        let scaffold = scaffold(slot, &dir).unwrap();
        assert_eq!(scaffold.crate_name, format!("my-{slot}-policy"));
        let fixtures = tree(&dir.join("fixtures"));
        assert_eq!(fixtures.len(), 2, "{fixtures:?}");
        let mut expected = vec![
            ".cargo/config.toml",
            ".gitignore",
            "Cargo.lock",
            "Cargo.toml",
            "README.md",
            "src/lib.rs",
            "wit/policy.wit",
        ];
        let fixtures: Vec<String> = fixtures.iter().map(|f| format!("fixtures/{f}")).collect();
        expected.extend(fixtures.iter().map(String::as_str));
        expected.sort();
        assert_eq!(tree(&dir), expected);

        build(&dir);
        let wasm = built(&scaffold);
        let report = run_fixtures(&wasm, &dir.join(scaffold.fixtures()), slot);
        assert_eq!(
            (report.passed(), report.failed()),
            (2, 0),
            "{slot}:\n{report}"
        );

        // The template is the default logic, not only something that
        // passes two cases: it decides every fixture of the built-in
        // default policy as the default does.
        let defaults = root()
            .join("guest-policies")
            .join(format!("{slot}-default"))
            .join("fixtures");
        let report = run_fixtures(&wasm, &defaults, slot);
        assert_eq!(report.failed(), 0, "{slot}:\n{report}");
        assert!(report.passed() >= 30, "{slot}: {}", report.passed());
    }
}

#[test]
fn a_scaffold_whose_decisions_change_fails_its_fixtures() {
    let work = workdir();
    let dir = work.path().join("flipped-preflight");
    let scaffold = scaffold(Slot::Preflight, &dir).unwrap();
    let lib = dir.join("src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    let call = "        preflight(&input)\n";
    assert_eq!(
        text.matches(call).count(),
        1,
        "the export calls `preflight`"
    );
    let flipped = text.replace(call, "        opposite(preflight(&input), &input)\n")
        + r#"
fn opposite(decision: PreflightDecision, input: &PreflightInput) -> PreflightDecision {
    match decision {
        PreflightDecision::Enqueue(_) => skip(SkipReason::CampaignPaused, true, "flipped"),
        PreflightDecision::Skip(_) => PreflightDecision::Enqueue(Enqueue {
            step_index: input.step_index,
            not_before: input.now,
        }),
    }
}
"#;
    std::fs::write(&lib, flipped).unwrap();
    build(&dir);

    let report = run_fixtures(&built(&scaffold), &dir.join("fixtures"), Slot::Preflight);
    assert_eq!((report.passed(), report.failed()), (0, 2), "{report}");
    let text = report.to_string();
    assert!(
        text.contains("FAIL  campaign-paused")
            && text.contains("$.decision: expected \"skip\", got \"enqueue\""),
        "{text}"
    );
    assert!(text.ends_with("0 passed, 2 failed\n"), "{text}");
}

#[test]
fn a_folder_that_holds_anything_is_refused_and_left_untouched() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("taken");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let err = scaffold(Slot::Routing, &dir).unwrap_err();
    assert!(matches!(err, ScaffoldError::NotEmpty(_)), "{err}");
    assert_eq!(tree(&dir), ["notes.txt"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );

    // The binary says why and exits non-zero.
    let out = accord(&["policy", "new", "routing", &dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not empty") && stderr.contains("nothing was written"),
        "{stderr}"
    );
    assert_eq!(tree(&dir), ["notes.txt"]);

    // A file is not a folder.
    let file = work.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = scaffold(Slot::Match, &file).unwrap_err();
    assert!(matches!(err, ScaffoldError::NotAFolder(_)), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");

    // An empty folder is used as it is.
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    scaffold(Slot::Match, &empty).unwrap();
    assert!(empty.join("src/lib.rs").exists());
}

#[test]
fn the_command_refuses_an_unknown_slot_and_prints_what_to_run_next() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("my-policy");
    let out = accord(&["policy", "new", "greeting", &dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid value 'greeting'")
            && stderr.contains("[possible values: match, routing, preflight]"),
        "{stderr}"
    );
    assert!(!dir.exists());

    let out = accord(&["policy", "new", "preflight", &dir.display().to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let wasm = "target/wasm32-wasip2/release/my_policy.wasm";
    for line in [
        format!("cd {}", dir.display()),
        "cargo build --release --target wasm32-wasip2".to_string(),
        format!("accord policy check {wasm}"),
        format!("accord policy test {wasm} fixtures/"),
    ] {
        assert!(stdout.contains(&line), "no `{line}` in:\n{stdout}");
    }
    assert!(dir.join("README.md").exists());
}

/// The scaffold is built with exactly what the repository's own guests
/// are built with: the contract, wit-bindgen's version and features, and
/// the locked packages; a change to one of them shows here.
#[test]
fn the_scaffold_uses_the_repository_contract_and_guest_dependencies() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("pinned");
    scaffold(Slot::Match, &dir).unwrap();
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();

    assert_eq!(
        read(dir.join("wit/policy.wit")),
        read(root().join("wit/policy.wit"))
    );

    let dependency = |manifest: String| {
        manifest
            .lines()
            .find(|l| l.starts_with("wit-bindgen = "))
            .map(str::to_string)
    };
    assert_eq!(
        dependency(read(dir.join("Cargo.toml"))),
        dependency(read(root().join("guest-policies/Cargo.toml")))
    );

    // Registry packages only: the guests' own packages have no `source`.
    let registry = |lock: String| -> Vec<String> {
        lock.split("\n[[package]]\n")
            .skip(1)
            .filter(|p| p.contains("\nsource = \"registry+"))
            .map(|p| p.trim_end().to_string())
            .collect()
    };
    assert_eq!(
        registry(read(dir.join("Cargo.lock"))),
        registry(read(root().join("tests/guests/Cargo.lock")))
    );

    assert_eq!(
        read(dir.join(".cargo/config.toml"))
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        read(root().join("guest-policies/.cargo/config.toml"))
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
    );
}

/// Runs `program args` in `dir` (with the pinned Python tool on PATH) and
/// returns its output, or panics with it.
fn run_in(dir: &Path, program: &str, args: &[&str]) -> String {
    let venv_bin = root().join("target/lang-tools/venv/bin");
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{program} {args:?} in {}: {}\n{text}",
        dir.display(),
        out.status
    );
    text
}

/// Loads a scaffold's module and runs its own fixtures and every fixture
/// of the slot's Rust default through it.
fn passes_its_and_the_default_fixtures(wasm: &Path, dir: &Path, slot: Slot, what: &str) {
    let rt = accord::policy::PolicyRuntime::new(LimitArgs::default().maxima(), None).unwrap();
    // A deadline a debug build on a busy machine does not reach.
    let declared = accord::policy::DeclaredLimits {
        deadline_ms: Some(10_000),
        ..Default::default()
    };
    let module = rt
        .load_file_declared(wasm, Some(slot), declared)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let report = test_fixtures(&rt, &module, &dir.join("fixtures")).unwrap();
    assert_eq!(
        (report.passed(), report.failed()),
        (2, 0),
        "{what}:\n{report}"
    );
    let defaults = root()
        .join("guest-policies")
        .join(format!("{slot}-default"))
        .join("fixtures");
    let report = test_fixtures(&rt, &module, &defaults).unwrap();
    assert_eq!(report.failed(), 0, "{what}:\n{report}");
    assert!(report.passed() >= 30, "{what}: {}", report.passed());
}

/// `policy new --lang python`: the project builds with its own script and
/// the pinned componentize-py, and passes `accord policy test`. (One slot
/// is built here: a Python module takes ~15 s to build and longer to
/// compile; the policy file of every slot is the port that
/// policy_languages runs against all fixtures, and each slot's build
/// script is checked by the unit tests.)
#[test]
fn a_python_scaffold_builds_with_componentize_py_and_passes_its_fixtures() {
    if crate::policy_languages::language_modules().is_none() {
        return;
    }
    let slot = Slot::Match;
    let work = workdir();
    let dir = work.path().join("my-python-policy");
    let scaffold = scaffold_lang(slot, Lang::Python, &dir).unwrap();
    assert_eq!(
        tree(&dir),
        [
            ".gitignore",
            "README.md",
            "build.sh",
            "fixtures/priority-invite-bridge-over-member-id-and-slug.json",
            "fixtures/signal-keys-new-relation-webhook.json",
            "policy.py",
            "pyproject.toml",
            "requirements.txt",
            "wit/policy.wit",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("requirements.txt")).unwrap(),
        std::fs::read_to_string(root().join("guest-policies/python/requirements.txt")).unwrap()
    );
    let started = Instant::now();
    run_in(&dir, "./build.sh", &[]);
    eprintln!(
        "built {} in {:.1} s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    // The typed bindings an editor reads.
    assert!(
        dir.join("bindings/wit_world/exports/match_strategy.py")
            .exists()
    );
    passes_its_and_the_default_fixtures(&dir.join(scaffold.wasm()), &dir, slot, "python");
}

/// `policy new --lang javascript`: `npm ci` installs the pinned tools from
/// the project's lock, `npm run build` builds it, `npm run check`
/// type-checks it against the generated declarations (and fails on a
/// mistyped enum value), and it passes `accord policy test`.
#[test]
fn a_javascript_scaffold_builds_with_componentize_js_type_checks_and_passes_its_fixtures() {
    if crate::policy_languages::language_modules().is_none() {
        return;
    }
    let slot = Slot::Preflight;
    let work = workdir();
    let dir = work.path().join("my-js-policy");
    let scaffold = scaffold_lang(slot, Lang::Javascript, &dir).unwrap();
    assert_eq!(
        tree(&dir),
        [
            ".gitignore",
            "README.md",
            "build.mjs",
            "fixtures/campaign-paused.json",
            "fixtures/in-time-advance-enqueues-now.json",
            "jsconfig.json",
            "package-lock.json",
            "package.json",
            "policy.js",
            "wit/policy.wit",
        ]
    );
    // scripts/test's own `npm ci` filled npm's cache: no registry needed.
    run_in(
        &dir,
        "npm",
        &[
            "ci",
            "--prefer-offline",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ],
    );
    let started = Instant::now();
    run_in(&dir, "npm", &["run", "build"]);
    eprintln!(
        "built {} in {:.1} s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    run_in(&dir, "npm", &["run", "check"]);
    passes_its_and_the_default_fixtures(&dir.join(scaffold.wasm()), &dir, slot, "javascript");

    // The declarations type-check: a skip reason the contract lacks is
    // a compile error.
    let policy = dir.join("policy.js");
    let text = std::fs::read_to_string(&policy).unwrap();
    assert!(text.contains("skip('campaign-paused'"), "{text}");
    std::fs::write(
        &policy,
        text.replace("skip('campaign-paused'", "skip('campaign-on-hold'"),
    )
    .unwrap();
    let out = Command::new("npm")
        .args(["run", "check"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "a mistyped reason type-checks:\n{stdout}"
    );
    assert!(stdout.contains("campaign-on-hold"), "{stdout}");
}

#[test]
fn the_command_writes_a_project_in_the_language_asked_for() {
    let work = tempfile::tempdir().unwrap();
    for (lang, build, file) in [
        ("python", "./build.sh", "policy.py"),
        ("javascript", "npm run build", "policy.js"),
    ] {
        let dir = work.path().join(format!("{lang}-policy"));
        let out = accord(&[
            "policy",
            "new",
            "routing",
            &dir.display().to_string(),
            "--lang",
            lang,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        for line in [
            build.to_string(),
            "accord policy check policy.wasm".to_string(),
            "accord policy test policy.wasm fixtures/".to_string(),
        ] {
            assert!(stdout.contains(&line), "{lang}: no `{line}` in:\n{stdout}");
        }
        assert!(dir.join(file).exists(), "{lang}");
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(readme.contains(build), "{lang}: {readme}");
    }
    let out = accord(&["policy", "new", "routing", "x", "--lang", "cobol"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[possible values: rust, python, javascript]"),
        "{stderr}"
    );
}

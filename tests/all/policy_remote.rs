//! `accord policy upload | promote | rollback | list` against a real host
//! over HTTP: the commands as parsed from their arguments, then the built
//! binary for its exit status (1 when the host refuses, 2 when there is
//! no answer) and `ACCORD_ADMIN_TOKEN` in place of `--token`.

use crate::on_both_databases;
use crate::policy_tokens::{issue, module};
use crate::rig::{RIG_ADMIN_TOKEN, Rig};
use crate::world::Kind;
use accord::cli::policy::PolicyCommand;
use accord::cli::policy_remote::{RemoteCommand, RemoteError, run};
use accord::cli::{Cli, Command};
use accord::policy::Slot;
use clap::Parser;
use serde_json::Value;
use std::process::Output;

on_both_databases!(upload_list_promote_rollback_from_the_command_line);

/// The remote command `args` (after `accord policy`) parse to.
fn parse(args: &[&str]) -> RemoteCommand {
    let argv = ["accord", "policy"].iter().chain(args);
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Policy(PolicyCommand::Remote(cmd)),
            ..
        }) => cmd,
        Ok(other) => panic!("{args:?} parsed to {other:?}"),
        Err(e) => panic!("{args:?}: {e}"),
    }
}

/// Runs `accord policy <args>`: what it printed, or why it failed.
async fn cli(args: &[&str]) -> Result<String, RemoteError> {
    let mut out = Vec::new();
    run(parse(args), &mut out).await?;
    Ok(String::from_utf8(out).unwrap())
}

/// A refusal's (status, code, exit status).
fn refused(got: Result<String, RemoteError>) -> (u16, String, i32) {
    let e = match got {
        Ok(out) => panic!("not refused: {out}"),
        Err(e) => e,
    };
    let exit = e.exit_code();
    match e {
        RemoteError::Refused { status, code, .. } => (status, code, exit),
        other => panic!("not a refusal: {other:?}"),
    }
}

/// Writes a module to a file the CLI reads.
fn module_file(dir: &tempfile::TempDir, name: &str) -> String {
    let path = dir.path().join(format!("{name}.wasm"));
    std::fs::write(&path, module(name)).unwrap();
    path.display().to_string()
}

async fn upload_list_promote_rollback_from_the_command_line(kind: Kind) {
    let rig = Rig::new(kind, |_| {}).await;
    let a = rig.w.workspace.id.clone();
    let (_, a_token) = issue(&rig, &a, "Team A CLI").await;
    let dir = tempfile::tempdir().unwrap();
    let wasm = module_file(&dir, "hostile_routing");
    let url = rig.base.as_str();
    let builtin = rig.w.app.policies.for_workspace(&a, Slot::Routing);
    let builtin = builtin.sha256().to_string();

    // A shadow module in A's scope, with the workspace token.
    let printed = cli(&[
        "upload",
        "routing",
        &wasm,
        "--url",
        url,
        "--token",
        &a_token,
        "--workspace",
        &a,
        "--mode",
        "shadow",
        "--name",
        "candidate",
        "--version",
        "3",
        "--notes",
        "from the CLI",
    ])
    .await
    .unwrap();
    assert!(
        printed.starts_with(&format!("uploaded: routing workspace {a} shadow: now ")),
        "{printed}"
    );
    let (_, modules) = rig.api("GET", "/admin/policies/modules", None).await;
    let sha = modules[0]["sha256"].as_str().unwrap().to_string();
    assert_eq!(
        (
            modules[0]["name"].as_str(),
            modules[0]["version_label"].as_str(),
            modules[0]["notes"].as_str(),
            modules[0]["uploaded_by"].as_str(),
        ),
        (
            Some("candidate"),
            Some("3"),
            Some("from the CLI"),
            Some("Team A CLI")
        )
    );
    assert!(printed.contains(&sha), "{printed}");

    // The list shows it: a table, and the API's JSON with --json.
    let table = cli(&["list", "--url", url, "--token", RIG_ADMIN_TOKEN])
        .await
        .unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("SLOT"), "{table}");
    assert_eq!(lines.len(), 1 + Slot::ALL.len() + 1, "{table}");
    let row = lines
        .iter()
        .find(|l| l.contains(a.as_str()))
        .unwrap_or_else(|| panic!("no row of {a}:\n{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        ["routing", a.as_str(), "shadow", &sha[..12], "upload"]
    );
    let json = cli(&["list", "--url", url, "--token", &a_token, "--json"])
        .await
        .unwrap();
    let (_, api) = rig.api("GET", "/admin/policies", None).await;
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json, api,
        "the workspace token sees what the admin sees here"
    );

    // Promote, then roll back (the admin token this time).
    let scope = ["--url", url, "--token", RIG_ADMIN_TOKEN, "--workspace", &a];
    let promoted = cli(&[&["promote", "routing"][..], &scope[..]].concat())
        .await
        .unwrap();
    assert_eq!(
        promoted.trim_end(),
        format!("promoted: routing workspace {a} active: now {sha} (upload), was {builtin}")
    );
    assert_eq!(
        rig.w.app.policies.for_workspace(&a, Slot::Routing).sha256(),
        sha
    );
    let rolled = cli(&[&["rollback", "routing"][..], &scope[..]].concat())
        .await
        .unwrap();
    assert!(
        rolled.starts_with(&format!(
            "rolled back: routing workspace {a} active: now {builtin}"
        )),
        "{rolled}"
    );
    assert_eq!(
        rig.w.app.policies.for_workspace(&a, Slot::Routing).sha256(),
        builtin
    );

    // Refusals: the API's code and message, exit status 1.
    let wrong = cli(&["list", "--url", url, "--token", "wrong-token"]).await;
    assert_eq!(refused(wrong), (401, "unauthorized".to_string(), 1));
    let again = cli(&[&["rollback", "routing"][..], &scope[..]].concat()).await;
    assert_eq!(refused(again), (409, "nothing_to_roll_back".to_string(), 1));
    let global = cli(&["promote", "routing", "--url", url, "--token", &a_token]).await;
    assert_eq!(
        refused(global),
        (403, "forbidden_for_workspace_token".to_string(), 1)
    );
    let (_, history) = rig
        .api(
            "GET",
            &format!("/admin/policies/history?workspace={a}"),
            None,
        )
        .await;
    let actors: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors.len(), 4, "{history}");
    assert_eq!(actors.iter().filter(|a| **a == "admin").count(), 3);
    assert!(actors.contains(&"Team A CLI"));
}

/// Runs the built binary with `args` and `env`.
fn binary(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_accord"));
    cmd.args(args).env_remove("ACCORD_ADMIN_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("accord runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_1_when_refused_and_2_without_an_answer() {
    let rig = Rig::new(Kind::Sqlite, |_| {}).await;
    let base = rig.base.clone();
    let run = |args: Vec<String>, env: Vec<(&'static str, &'static str)>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            binary(&args, &env)
        })
    };
    let args = |rest: &[&str]| -> Vec<String> {
        ["policy", "list", "--url", base.as_str()]
            .iter()
            .chain(rest)
            .map(|s| s.to_string())
            .collect()
    };
    let text = |o: &Output| {
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };

    // A wrong token: the host's code and message, exit 1.
    let out = run(args(&["--token", "wrong"]), vec![]).await.unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("401 unauthorized: missing or wrong"), "{err}");

    // The token from ACCORD_ADMIN_TOKEN.
    let env = vec![("ACCORD_ADMIN_TOKEN", RIG_ADMIN_TOKEN)];
    let out = run(args(&[]), env).await.unwrap();
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(stdout.starts_with("SLOT"), "{stdout}");
    assert_eq!(stdout.lines().count(), 1 + Slot::ALL.len(), "{stdout}");

    // No token at all: clap's usage error, exit 2.
    let out = run(args(&[]), vec![]).await.unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);

    // Nobody listening, a URL that is not one, a module that is not there: 2.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    for (argv, says) in [
        (
            vec!["policy", "list", "--url", &closed, "--token", "t"],
            "cannot reach",
        ),
        (
            vec!["policy", "list", "--url", "ftp://x", "--token", "t"],
            "is not an http",
        ),
        (
            vec![
                "policy",
                "upload",
                "match",
                "/nonexistent/x.wasm",
                "--url",
                base.as_str(),
                "--token",
                RIG_ADMIN_TOKEN,
            ],
            "/nonexistent/x.wasm",
        ),
    ] {
        let argv: Vec<String> = argv.into_iter().map(String::from).collect();
        let out = run(argv.clone(), vec![]).await.unwrap();
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{argv:?}: {err}");
        assert!(err.contains(says), "{argv:?}: {err}");
    }
}

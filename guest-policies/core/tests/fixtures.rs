//! Runs every JSON fixture of the three default policies through the native
//! default logic and checks each decision against its `expected` pattern.
//!
//! `cargo test -p accord-policy-core --features fixtures`

use std::path::{Path, PathBuf};

use accord_policy_core::fixture::{Fixture, match_pattern, run_default};

/// (slot, fixture folder relative to the guest-policies workspace).
const SLOTS: [(&str, &str); 3] = [
    ("match", "match-default/fixtures"),
    ("routing", "routing-default/fixtures"),
    ("preflight", "preflight-default/fixtures"),
];

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("core/ has a parent folder")
        .to_path_buf()
}

fn fixture_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// Runs one fixture file; `Err` carries the reason it failed.
fn run_one(slot: &str, path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let fixture: Fixture =
        serde_json::from_str(&text).map_err(|e| format!("not a fixture: {e}"))?;
    if fixture.description.trim().is_empty() {
        return Err("the fixture has no description".to_string());
    }
    let actual = run_default(slot, fixture.input).map_err(|e| format!("run failed: {e}"))?;
    match_pattern(&fixture.expected, &actual).map_err(|e| format!("{e}\n      actual: {actual}"))
}

#[test]
fn default_policies_pass_their_fixtures() {
    let root = workspace_dir();
    let mut failures = Vec::new();
    let mut total = 0;
    for (slot, folder) in SLOTS {
        let files = fixture_files(&root.join(folder));
        assert!(!files.is_empty(), "no fixtures in {folder}");
        for path in files {
            total += 1;
            if let Err(message) = run_one(slot, &path) {
                let name = path
                    .strip_prefix(&root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                failures.push(format!("  {name}: {message}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{total} fixtures passed");
}

//! Builds the default policies (`guest-policies/`) for wasm32-wasip2 and
//! puts them in OUT_DIR, where `builtin` embeds them.
//!
//! The guests are their own cargo workspace with a size-optimised profile;
//! they build into `target/guests` (a separate lock, so this nested cargo
//! never waits on the outer one). Cargo skips them when nothing changed.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const GUESTS: [&str; 3] = [
    "accord_match_default",
    "accord_routing_default",
    "accord_preflight_default",
];

fn main() {
    if let Err(e) = run() {
        println!("cargo::error={e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir
        .ancestors()
        .nth(2)
        .ok_or("host/policy/ is not two levels below the repository")?
        .to_path_buf();
    let out_dir = PathBuf::from(env("OUT_DIR")?);
    let guests = root.join("guest-policies");
    for watched in [
        "wit",
        "guest-policies/Cargo.toml",
        "guest-policies/.cargo/config.toml",
        "guest-policies/core/src",
        "guest-policies/core/Cargo.toml",
        "guest-policies/match-default/src",
        "guest-policies/match-default/Cargo.toml",
        "guest-policies/routing-default/src",
        "guest-policies/routing-default/Cargo.toml",
        "guest-policies/preflight-default/src",
        "guest-policies/preflight-default/Cargo.toml",
    ] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }
    ensure_target()?;
    let target_dir = root.join("target").join("guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&guests)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir);
    // The outer build's flags and wrappers are for the host, not the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_PROFILE_RELEASE_DEBUG",
        "CARGO_LLVM_COV",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo for the guests: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the default policies in {} failed ({status})",
            guests.display()
        ));
    }
    for guest in GUESTS {
        let built = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{guest}.wasm"));
        copy(&built, &out_dir.join(format!("{guest}.wasm")))?;
    }
    Ok(())
}

/// Installs the wasm32-wasip2 standard library with rustup when missing.
fn ensure_target() -> Result<(), String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run {rustc}: {e}"))?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    if Path::new(&sysroot)
        .join("lib/rustlib")
        .join(TARGET)
        .exists()
    {
        return Ok(());
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map_err(|e| format!("the {TARGET} target is missing and rustup cannot be run: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("rustup target add {TARGET} failed ({status})"))
    }
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copy {} → {}: {e}", from.display(), to.display()))
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

//! The contract's promise: a module built against a published contract
//! version keeps loading and deciding on later hosts. The defaults built
//! from `accord:policy@0.1.0` as first published (Rust, and the Python and
//! JavaScript ports) are kept built in tests/data/contract-0.1.0 (never
//! rebuilt: see its README) and each must still load through the host's
//! loader and pass every fixture of its slot.
//!
//! These tests never skip: the modules are files of the repository, so
//! they need neither the Python nor the JavaScript tools.

use crate::support::*;
use accord::cli::policy::test_fixtures;
use accord::policy::{Limits, PolicyRuntime, Slot};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The folder of the 0.1.0 modules: `<language>/<slot>.wasm`, or
/// `.wasm.zst` (zstd) for the 12–18 MB Python and JavaScript ones.
fn data() -> PathBuf {
    root().join("tests").join("data").join("contract-0.1.0")
}

/// The sha256 of each module as built for 0.1.0 (decompressed), so that
/// a rebuilt file, which would no longer be the old module, fails here.
const BUILT: [(&str, Slot, &str); 9] = [
    (
        "rust",
        Slot::Match,
        "ae79cabd6ae77b4d83893c7eef221f6e7c65db4c0691ae983e02121d575247ba",
    ),
    (
        "rust",
        Slot::Routing,
        "cecf5716b33651a5a6949572b9f081eac52b2b3518a87ce61e696711cc3d0f99",
    ),
    (
        "rust",
        Slot::Preflight,
        "a3d69744f7f5d3df297db898deb4a8599245b8350cc7018b77a3e0044a70de85",
    ),
    (
        "python",
        Slot::Match,
        "5fa22143489f6992ac520f2a0ca0b17a6391361323a1d911bbc67a1b2e0eff1d",
    ),
    (
        "python",
        Slot::Routing,
        "3c1fbafd996800ef0bee73dfd1fb8717fd6571dc5c7629aab03fcf4d1d5115a1",
    ),
    (
        "python",
        Slot::Preflight,
        "841673828fcadeff5f46bf24501991178aeda4e1af050f50a4386d4da7420ef1",
    ),
    (
        "javascript",
        Slot::Match,
        "35c063eaa7345e5f64fb1987ac1e205b695f556c8fe15dc2b5c4a5021fff508f",
    ),
    (
        "javascript",
        Slot::Routing,
        "860fee035890418666c3d040e1c2f1316c298522b5a464010830d1ef54d0dad1",
    ),
    (
        "javascript",
        Slot::Preflight,
        "b39be94f4eba9686fbb07170f8cba10eb394d01c13577552fc1b5fb3b1982a99",
    ),
];

/// The module's bytes, decompressed if stored compressed.
fn module_bytes(language: &str, slot: Slot) -> Vec<u8> {
    let plain = data().join(language).join(format!("{slot}.wasm"));
    if plain.exists() {
        return std::fs::read(&plain).unwrap_or_else(|e| panic!("{}: {e}", plain.display()));
    }
    let packed = data().join(language).join(format!("{slot}.wasm.zst"));
    let file = std::fs::File::open(&packed).unwrap_or_else(|e| panic!("{}: {e}", packed.display()));
    let mut decoder = ruzstd::decoding::StreamingDecoder::new(std::io::BufReader::new(file))
        .unwrap_or_else(|e| panic!("{}: {e}", packed.display()));
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut decoder, &mut bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", packed.display()));
    bytes
}

/// One runtime for these tests: the server's default limits with a
/// deadline a busy 2-core machine does not reach, and the compiled-module
/// cache the language tests use (keyed by sha256, so a rerun reads the
/// 12–18 MB modules back instead of compiling them again).
fn rt() -> &'static PolicyRuntime {
    static RUNTIME: OnceLock<PolicyRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        PolicyRuntime::new(
            Limits {
                deadline_ms: 10_000,
                max_concurrent: 8,
                ..Limits::default()
            },
            Some(root().join("target").join("policy-cache-tests")),
        )
        .expect("runtime")
    })
}

fn fixtures(slot: Slot) -> PathBuf {
    root()
        .join("guest-policies")
        .join(format!("{slot}-default"))
        .join("fixtures")
}

/// Loads each 0.1.0 module of `language` as its slot and runs every
/// fixture of that slot's default against it.
fn passes_every_fixture(language: &str) {
    let mut failures = Vec::new();
    for (lang, slot, sha256) in BUILT {
        if lang != language {
            continue;
        }
        let bytes = module_bytes(language, slot);
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            sha256,
            "tests/data/contract-0.1.0/{language}/{slot} is not the module built for 0.1.0 \
             (these files must never be rebuilt; see the README there)"
        );
        let origin = format!("contract-0.1.0/{language}/{slot}");
        // A deadline a busy 2-core machine running a debug build does not
        // reach (the kinds' defaults are for release builds).
        let declared = accord::policy::DeclaredLimits {
            deadline_ms: Some(10_000),
            ..Default::default()
        };
        let module = rt()
            .load_declared(&bytes, &origin, Some(slot), declared)
            .unwrap_or_else(|e| panic!("{origin} no longer loads: {e}"));
        let report = test_fixtures(rt(), &module, &fixtures(slot))
            .unwrap_or_else(|e| panic!("{origin}: {e}"));
        assert!(
            report.passed() >= 30,
            "{origin}: too few fixtures\n{report}"
        );
        if report.failed() > 0 {
            failures.push(format!("{origin}:\n{report}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rust_modules_built_for_0_1_0_pass_every_fixture() {
    passes_every_fixture("rust");
}

#[test]
fn python_modules_built_for_0_1_0_pass_every_fixture() {
    passes_every_fixture("python");
}

#[test]
fn javascript_modules_built_for_0_1_0_pass_every_fixture() {
    passes_every_fixture("javascript");
}

/// The author's command accepts an old module as it is, file to verdict.
#[test]
fn accord_policy_test_passes_a_0_1_0_module() {
    let module = data().join("rust").join("preflight.wasm");
    let out = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["policy", "test", "--no-cache"])
        .arg(&module)
        .arg(fixtures(Slot::Preflight))
        .output()
        .expect("accord runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.ends_with("passed, 0 failed")),
        "{text}"
    );
}

//! Validation at load time, and the compiled-artifact disk cache.

use crate::support::*;
use accord::policy::{Limits, LoadError, PolicyRuntime, Slot, builtin};

#[test]
fn garbage_bytes_are_not_wasm() {
    let rt = runtime();
    let err = rt
        .load(b"this is not a policy at all", "garbage", None)
        .unwrap_err();
    assert!(matches!(err, LoadError::NotWasm(_)), "{err}");
    assert!(err.to_string().contains("\\0asm"), "{err}");
}

#[test]
fn a_core_module_is_refused_with_a_hint() {
    let rt = runtime();
    // The smallest valid core module: magic + version 1.
    let err = rt.load(b"\0asm\x01\0\0\0", "core", None).unwrap_err();
    assert!(matches!(err, LoadError::CoreModule), "{err}");
    assert!(err.to_string().contains("wasm32-wasip2"), "{err}");
}

#[test]
fn a_truncated_component_does_not_compile() {
    let rt = runtime();
    let bytes = &builtin::MATCH[..builtin::MATCH.len() / 2];
    let err = rt.load(bytes, "truncated", None).unwrap_err();
    assert!(matches!(err, LoadError::Compile(_)), "{err}");
}

#[test]
fn the_wrong_world_is_refused_naming_both() {
    let rt = runtime();
    let err = rt
        .load(builtin::MATCH, "match", Some(Slot::Preflight))
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LoadError::WrongWorld { .. }), "{text}");
    assert!(
        text.contains("accord:policy/match-strategy@0.1.0"),
        "{text}"
    );
    assert!(
        text.contains("accord:policy/dispatch-preflight@0.1.0"),
        "{text}"
    );
}

#[test]
fn another_contract_version_is_refused() {
    let rt = runtime();
    let err = rt
        .load_file(&test_guest("future_contract"), None)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, LoadError::IncompatibleVersion { .. }),
        "{text}"
    );
    assert!(text.contains("@0.2.0") && text.contains("@0.1.0"), "{text}");
}

#[test]
fn a_mistyped_export_is_refused_naming_the_function_and_both_types() {
    // Version 0.1.0, every name right, `prospect-keys` returning `string`:
    // it used to load, then fail every call at instantiation.
    let rt = runtime();
    let err = rt
        .load_file(&test_guest("mistyped_match"), None)
        .expect_err("a mistyped export is refused at load");
    let text = err.to_string();
    assert!(matches!(err, LoadError::ExportType { .. }), "{text}");
    assert!(
        text.contains("`prospect-keys`")
            && text.contains("accord:policy/match-strategy@0.1.0")
            && text.contains("`string`")
            && text.contains("`list<string>`"),
        "{text}"
    );
}

#[test]
fn the_slot_is_inferred_from_exports() {
    let rt = runtime();
    for slot in Slot::ALL {
        let (bytes, origin) = builtin::for_slot(slot);
        assert_eq!(rt.load(bytes, origin, None).unwrap().slot(), slot);
    }
}

#[test]
fn compiled_modules_are_cached_on_disk_and_a_corrupt_entry_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_concurrent: 4,
        ..Limits::default()
    };
    let rt = PolicyRuntime::new(limits, Some(dir.path().to_path_buf())).unwrap();
    let first = rt.load(builtin::ROUTING, "routing", None).unwrap();
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1);
    let name = entries[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with(first.sha256()) && name.ends_with(".cwasm"),
        "{name}"
    );

    // A restart (a new runtime) reads the artifact instead of compiling.
    let rt2 = PolicyRuntime::new(limits, Some(dir.path().to_path_buf())).unwrap();
    let again = rt2.load(builtin::ROUTING, "routing", None).unwrap();
    assert_eq!(again.sha256(), first.sha256());
    assert_eq!(
        rt2.route(&again, &routing_input("e1")).value,
        accord_policy_core::Route::Advance
    );

    // A corrupt artifact is discarded and rebuilt.
    // (Replace the file rather than overwrite it: the loaded component
    // maps it, and truncating a mapped file under it would be SIGBUS.)
    std::fs::remove_file(&entries[0]).unwrap();
    std::fs::write(&entries[0], b"corrupt").unwrap();
    let rebuilt = rt2.load(builtin::ROUTING, "routing", None).unwrap();
    assert_eq!(
        rt2.route(&rebuilt, &routing_input("e1")).value,
        accord_policy_core::Route::Advance
    );
    assert!(std::fs::metadata(&entries[0]).unwrap().len() > 1000);
}

//! Whether a component fits the contract, checked once at load: a
//! component, one slot's world at this contract version, the contract's
//! export types, and no import the host does not provide.

use crate::error::LoadError;
use crate::slot::{CONTRACT_VERSION, Slot};
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};

/// A component, not a core module nor something else: refused before
/// compiling, with an error that says how to build one.
pub(super) fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm(format!(
            "the file does not start with the \\0asm magic ({} bytes)",
            bytes.len()
        )));
    }
    // Core modules are version 1 (01 00 00 00); components have layer 1.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(LoadError::CoreModule);
    }
    Ok(())
}

/// The slot `component` implements: `wanted` if given, else the one
/// interface of this contract version it exports.
pub(super) fn check_exports(
    engine: &Engine,
    component: &Component,
    wanted: Option<Slot>,
) -> Result<Slot, LoadError> {
    let ty = component.component_type();
    let mut found = Vec::new();
    let mut other_versions = Vec::new();
    for (name, item) in ty.exports(engine) {
        if !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
            continue;
        }
        let Some((interface, version)) = parse_accord_name(name) else {
            continue;
        };
        match Slot::from_interface(interface) {
            Some(slot) if version == CONTRACT_VERSION => found.push(slot),
            Some(_) => other_versions.push(name.to_string()),
            None => {}
        }
    }
    let expected = match wanted {
        Some(slot) => format!(
            "a component exporting {} (world {})",
            slot.export_name(),
            slot.world()
        ),
        None => format!(
            "a component exporting one of {}",
            Slot::ALL.map(|s| s.export_name()).join(", ")
        ),
    };
    if found.is_empty() {
        if let Some(version) = other_versions.first() {
            return Err(LoadError::IncompatibleVersion {
                expected: wanted.map_or_else(
                    || format!("accord:policy@{}", CONTRACT_VERSION),
                    |s| s.export_name(),
                ),
                found: version.clone(),
            });
        }
        let exports: Vec<&str> = ty.exports(engine).map(|(n, _)| n).collect();
        return Err(LoadError::WrongWorld {
            expected,
            found: format!("the module exports [{}]", exports.join(", ")),
        });
    }
    match wanted {
        Some(slot) if found.contains(&slot) => Ok(slot),
        Some(_) => Err(LoadError::WrongWorld {
            expected,
            found: format!(
                "the module implements {}",
                found
                    .iter()
                    .map(|s| s.export_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
        None if found.len() == 1 => Ok(found[0]),
        None => Err(LoadError::AmbiguousSlot(format!(
            "the module exports several slots ({}); pass --slot",
            found
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Every function of the slot's interface must have the contract's full
/// type, the one it has in `reference` (the built-in module). The bindings
/// look functions up by name and check their types only when
/// instantiating, so without this a module with one mistyped export
/// loaded, became active and failed every call.
pub(super) fn check_export_types(
    engine: &Engine,
    component: &Component,
    reference: &Component,
    slot: Slot,
) -> Result<(), LoadError> {
    let interface = slot.export_name();
    let expected = exported_functions(engine, reference, &interface);
    let found = exported_functions(engine, component, &interface);
    for (name, want) in &expected {
        let Some((_, have)) = found.iter().find(|(n, _)| n == name) else {
            return Err(LoadError::ExportType {
                function: name.clone(),
                interface,
                found: "no such function".into(),
                expected: format!("`{}`", signature(want)),
            });
        };
        if let Some((found, expected)) = signature_difference(have, want) {
            return Err(LoadError::ExportType {
                function: name.clone(),
                interface,
                found,
                expected,
            });
        }
    }
    Ok(())
}

/// Only what the host links: WASI and `accord:policy/host` of this
/// contract version.
pub(super) fn check_imports(engine: &Engine, component: &Component) -> Result<(), LoadError> {
    for (name, _) in component.component_type().imports(engine) {
        if name.starts_with("wasi:") {
            continue;
        }
        match parse_accord_name(name) {
            Some((_, version)) if version == CONTRACT_VERSION => {}
            Some(_) => {
                return Err(LoadError::IncompatibleVersion {
                    expected: format!("accord:policy/host@{}", CONTRACT_VERSION),
                    found: name.to_string(),
                });
            }
            None => {
                return Err(LoadError::Incompatible(format!(
                    "it imports `{name}`, which the host does not provide; a policy may import only \
                     accord:policy/host@{} and WASI",
                    CONTRACT_VERSION
                )));
            }
        }
    }
    Ok(())
}

/// The functions `component` exports in `interface`, by name.
fn exported_functions(
    engine: &Engine,
    component: &Component,
    interface: &str,
) -> Vec<(String, ComponentFunc)> {
    let ty = component.component_type();
    let Some(export) = ty.get_export(engine, interface) else {
        return Vec::new();
    };
    let ComponentItem::ComponentInstance(instance) = export.ty else {
        return Vec::new();
    };
    instance
        .exports(engine)
        .filter_map(|(name, item)| match item.ty {
            ComponentItem::ComponentFunc(f) => Some((name.to_string(), f)),
            _ => None,
        })
        .collect()
}

/// The first part where `have` differs from `want`, described in WIT as
/// (module's, contract's); `None` when the types are the same.
fn signature_difference(have: &ComponentFunc, want: &ComponentFunc) -> Option<(String, String)> {
    let (have_params, want_params): (Vec<_>, Vec<_>) =
        (have.params().collect(), want.params().collect());
    let (have_results, want_results): (Vec<_>, Vec<_>) =
        (have.results().collect(), want.results().collect());
    if have_params.len() != want_params.len() || have_results.len() != want_results.len() {
        return Some((
            format!("type `{}`", signature(have)),
            format!("`{}`", signature(want)),
        ));
    }
    for ((name, have), (_, want)) in have_params.iter().zip(&want_params) {
        if have != want {
            return Some((
                format!("parameter `{name}` of type `{}`", wit_type(have)),
                format!("`{}`", wit_type(want)),
            ));
        }
    }
    for (have, want) in have_results.iter().zip(&want_results) {
        if have != want {
            return Some((
                format!("result type `{}`", wit_type(have)),
                format!("`{}`", wit_type(want)),
            ));
        }
    }
    None
}

/// A function type in WIT syntax.
fn signature(f: &ComponentFunc) -> String {
    let params: Vec<String> = f
        .params()
        .map(|(name, ty)| format!("{name}: {}", wit_type(&ty)))
        .collect();
    let results: Vec<String> = f.results().map(|ty| wit_type(&ty)).collect();
    match results.as_slice() {
        [] => format!("func({})", params.join(", ")),
        [one] => format!("func({}) -> {one}", params.join(", ")),
        many => format!("func({}) -> ({})", params.join(", "), many.join(", ")),
    }
}

/// A value type in WIT syntax (records, variants and enums spelled out:
/// component types are structural and carry no names).
fn wit_type(ty: &Type) -> String {
    let list = |items: Vec<String>| items.join(", ");
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", wit_type(&l.ty())),
        Type::Option(o) => format!("option<{}>", wit_type(&o.ty())),
        Type::Result(r) => {
            let side = |t: Option<Type>| t.map_or_else(|| "_".to_string(), |t| wit_type(&t));
            format!("result<{}, {}>", side(r.ok()), side(r.err()))
        }
        Type::Tuple(t) => format!("tuple<{}>", list(t.types().map(|t| wit_type(&t)).collect())),
        Type::Record(r) => format!(
            "record {{ {} }}",
            list(
                r.fields()
                    .map(|f| format!("{}: {}", f.name, wit_type(&f.ty)))
                    .collect()
            )
        ),
        Type::Variant(v) => format!(
            "variant {{ {} }}",
            list(
                v.cases()
                    .map(|c| match &c.ty {
                        Some(t) => format!("{}({})", c.name, wit_type(t)),
                        None => c.name.to_string(),
                    })
                    .collect()
            )
        ),
        Type::Enum(e) => format!(
            "enum {{ {} }}",
            list(e.names().map(str::to_string).collect())
        ),
        Type::Flags(f) => format!(
            "flags {{ {} }}",
            list(f.names().map(str::to_string).collect())
        ),
        other => format!("{other:?}"),
    }
}

/// `accord:policy/match-strategy@0.1.0` → (`match-strategy`, `0.1.0`).
fn parse_accord_name(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("accord:policy/")?;
    Some(rest.split_once('@').unwrap_or((rest, "")))
}

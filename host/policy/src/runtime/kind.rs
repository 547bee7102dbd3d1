//! What a module is built from, read from the component's own custom
//! sections: its limits' defaults depend on it (`module_limits`).

use crate::module_limits::ModuleKind;
use wasmparser::{ComponentName, KnownCustom, Parser, Payload};

/// The module's kind: JavaScript when a `producers` section names the
/// language or componentize-js (which writes both); Python when a core
/// module is CPython's (componentize-py names it `libpython3.x.so` and
/// writes no producer of its own); compiled code otherwise. Unparseable
/// bytes are not our concern here: the loader has refused them already.
pub fn infer(bytes: &[u8]) -> ModuleKind {
    for payload in Parser::new(0).parse_all(bytes) {
        let section = match payload {
            Ok(Payload::CustomSection(section)) => section,
            Ok(_) => continue,
            Err(_) => break,
        };
        match section.as_known() {
            KnownCustom::Producers(producers) => {
                for field in producers.into_iter().flatten() {
                    for value in field.values.into_iter().flatten() {
                        match (field.name, value.name) {
                            ("language", "JavaScript") | ("processed-by", "ComponentizeJS") => {
                                return ModuleKind::Javascript;
                            }
                            ("language", "Python") | ("processed-by", "componentize-py") => {
                                return ModuleKind::Python;
                            }
                            _ => {}
                        }
                    }
                }
            }
            KnownCustom::ComponentName(names) => {
                for name in names.into_iter().flatten() {
                    let ComponentName::CoreModules(modules) = name else {
                        continue;
                    };
                    if modules
                        .into_iter()
                        .flatten()
                        .any(|m| m.name.starts_with("libpython"))
                    {
                        return ModuleKind::Python;
                    }
                }
            }
            _ => {}
        }
    }
    ModuleKind::Compiled
}

//! The default policies, built from `guest-policies/` by `build.rs` and
//! embedded in the binary.

use crate::slot::Slot;

/// The default match strategy component.
pub const MATCH: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/accord_match_default.wasm"));
/// The default late-accept routing component.
pub const ROUTING: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/accord_routing_default.wasm"));
/// The default dispatch pre-flight component.
pub const PREFLIGHT: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/accord_preflight_default.wasm"));

/// The embedded default for a slot, with its label.
pub fn for_slot(slot: Slot) -> (&'static [u8], &'static str) {
    match slot {
        Slot::Match => (MATCH, "builtin:match-default"),
        Slot::Routing => (ROUTING, "builtin:routing-default"),
        Slot::Preflight => (PREFLIGHT, "builtin:preflight-default"),
    }
}

//! Host bindings of `accord:policy@0.1.0`, one module per world.
//!
//! Kept in its own small module: `bindgen!` expansion is the slowest part of
//! an incremental build. The routing and pre-flight worlds reuse the match
//! world's `types` and `host` modules so the three share one set of types.
//! When a new contract version arrives it gets a sibling module, and its
//! conversions forward the old worlds to the latest (see `convert`).
#![allow(missing_docs, clippy::all)]

/// The `match-policy` world.
pub mod match_world {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "match-policy",
    });
}

/// The `routing-policy` world.
pub mod routing_world {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "routing-policy",
        with: {
            "accord:policy/types": super::match_world::accord::policy::types,
            "accord:policy/host": super::match_world::accord::policy::host,
        },
    });
}

/// The `preflight-policy` world.
pub mod preflight_world {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "preflight-policy",
        with: {
            "accord:policy/types": super::match_world::accord::policy::types,
            "accord:policy/host": super::match_world::accord::policy::host,
        },
    });
}

pub use match_world::accord::policy::host as wit_host;
pub use match_world::accord::policy::types as wit;
pub use match_world::exports::accord::policy::match_strategy as wit_match;
pub use preflight_world::exports::accord::policy::dispatch_preflight as wit_preflight;
pub use routing_world::exports::accord::policy::late_accept_routing as wit_routing;

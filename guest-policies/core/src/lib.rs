//! Accord's policy contract as plain Rust types, and the logic of the three
//! default policies.
//!
//! The default guests (`match-default`, `routing-default`,
//! `preflight-default`) are thin wit-bindgen shells around [`defaults`]; the
//! host uses [`types`] as its own view of the contract and as the JSON
//! format of `accord policy run` inputs and fixtures. Compiling the same
//! logic natively also gives the benchmarks their baseline. Both sides
//! convert between [`types`] and their generated bindings with one
//! description, [`wit_conversions!`].

pub mod convert;
pub mod defaults;
pub mod linkedin;
pub mod types;

pub use types::*;
#[cfg(feature = "fixtures")]
pub mod fixture;

//! Accord's test doubles and showcases, kept out of the production
//! library: the Unipile-compatible [`simulator`], the month-long
//! [`simulate`] run checked against the provider's log, and the [`demo`].

pub mod demo;
pub mod simulate;
pub mod simulator;

// The core's modules under their own names, as the core itself reads them.
use accord_core::{app, clock, engine, notify, provider, sabotage, store, window};
/// The HTTP edge the demo and the simulation serve.
use accord_http as http;

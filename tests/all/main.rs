//! Accord's integration tests: one binary, a module per feature.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod api;
mod builders;
mod crash;
mod demo;
mod edge;
mod engine;
mod fuzz;
mod heal;
mod heal_scale;
mod hostile;
mod inbox_instances;
mod match_keys;
mod migrations;
mod notify;
mod pipeline;
mod policy_cli;
mod policy_hostile;
mod policy_load;
mod policy_new;
mod policy_sandbox;
mod policy_scopes;
mod policy_swap;
mod policy_tokens;
mod polling;
mod provider;
mod resync;
mod rig;
mod send_safety;
mod simulate;
mod sqlite_settings;
mod support;
mod ticks;
mod webhooks_http;
mod workspace_tokens;
mod world;

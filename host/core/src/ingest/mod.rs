//! The edge's first stop: webhooks parsed, deduplicated into the inbox,
//! and processed from there (replayable, idempotent).

pub mod inbox;
mod process;
pub mod unipile;
pub mod writer;

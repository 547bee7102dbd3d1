//! Accord's vocabulary, without I/O: the injectable clock and the
//! process's ids and randomness, the domain's named types, text bounds,
//! the sending window and the workflow's step machine. Every other crate
//! of the host speaks these words.

pub mod clock;
pub mod domain;
pub mod text;
pub mod window;
pub mod workflow;

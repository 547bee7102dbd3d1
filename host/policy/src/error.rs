//! Typed errors of the policy host.

use super::slot::{CONTRACT_VERSION, Slot};

/// Why a module was refused at load time. Nothing is activated.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly binary: {0}; expected a component built for wasm32-wasip2")]
    NotWasm(String),
    /// A core module where a component was expected.
    #[error(
        "this is a core WebAssembly module, not a component; build the policy for \
         wasm32-wasip2 (cargo build --target wasm32-wasip2) so it implements a world of \
         accord:policy@{}",
        CONTRACT_VERSION
    )]
    CoreModule,
    /// wasmtime could not compile the component.
    #[error("the component does not compile: {0}")]
    Compile(String),
    /// The component exports no policy world, or another slot's.
    #[error("wrong world: {found}; expected {expected}")]
    WrongWorld {
        /// What the slot needs.
        expected: String,
        /// What the module exports.
        found: String,
    },
    /// The component implements another version of the contract.
    #[error(
        "incompatible contract version: the module exports {found}, this host implements {expected}"
    )]
    IncompatibleVersion {
        /// What this host implements.
        expected: String,
        /// What the module exports.
        found: String,
    },
    /// The component's imports or export signatures do not fit the host.
    #[error("incompatible module: {0}")]
    Incompatible(String),
    /// An exported function has the contract's name but another type.
    #[error(
        "incompatible export: `{function}` in {interface} has {found}, the contract requires {expected}"
    )]
    ExportType {
        /// The function, e.g. `prospect-keys`.
        function: String,
        /// The interface exporting it, with its version.
        interface: String,
        /// The differing part of the module's signature.
        found: String,
        /// The same part of the contract's signature.
        expected: String,
    },
    /// The slot could not be inferred and was not given.
    #[error("cannot tell the slot: {0}")]
    AmbiguousSlot(String),
    /// Reading the module or the compile cache failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The runtime could not be configured.
    #[error("invalid policy runtime configuration: {0}")]
    Config(String),
}

/// Why one decision failed. The caller still gets the slot's fail-safe
/// default; this says what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The guest trapped (a panic, `unreachable`, a stack overflow, …).
    #[error("trap: {message}{}", panic.as_ref().map(|p| format!(" (guest panic: {p})")).unwrap_or_default())]
    Trap {
        /// The trap as wasmtime reports it.
        message: String,
        /// The guest's own message, when it printed one: a Rust panic's,
        /// or a Python or JavaScript exception's that nothing caught.
        panic: Option<String>,
    },
    /// The guest used all its fuel (an endless or too long computation).
    #[error("fuel exhausted: the decision used more than {limit} units of fuel")]
    FuelExhausted {
        /// The per-call fuel.
        limit: u64,
    },
    /// The decision ran past its wall-clock deadline (time spent in host
    /// calls, which fuel does not count, or a busy host).
    #[error("deadline exceeded: the decision ran longer than {limit_ms} ms")]
    DeadlineExceeded {
        /// The deadline.
        limit_ms: u64,
    },
    /// The guest tried to wait (a sleep, a timer, a blocking poll).
    #[error(
        "the policy tried to wait ({0}); a policy may not wait: it gets no clock and decides at once"
    )]
    Wait(String),
    /// The guest tried to grow its memory past the cap.
    #[error("memory limit: the guest asked for {requested} bytes, the limit is {limit}")]
    MemoryLimit {
        /// The bytes asked for.
        requested: usize,
        /// The cap.
        limit: usize,
    },
    /// The guest passed more bytes to the host in one call (a `log`
    /// message, or its answer) than the per-call transfer cap; refused
    /// before they were copied.
    #[error(
        "transfer too large: the policy passed more than {limit} bytes to the host in one call (a log message or its answer)"
    )]
    TransferTooLarge {
        /// The cap.
        limit: usize,
    },
    /// The input is larger than the configured cap (the call was not made).
    #[error("input too large: {size} bytes, the limit is {limit}")]
    InputTooLarge {
        /// Approximate encoded size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The output is larger than the configured cap.
    #[error("output too large: {size} bytes, the limit is {limit}")]
    OutputTooLarge {
        /// Approximate encoded size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The output breaks the contract (an unknown enrollment id, a
    /// follow-up step that is not a message, …).
    #[error("invalid output: {0}")]
    InvalidOutput(String),
    /// The module could not be instantiated for this call.
    #[error("instantiation failed: {0}")]
    Instantiate(String),
    /// The module is for another slot than the one called.
    #[error("the module implements the {actual} slot, not {called}")]
    WrongSlot {
        /// The slot called.
        called: Slot,
        /// The module's slot.
        actual: Slot,
    },
}

impl PolicyError {
    /// A stable short name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            PolicyError::Trap { .. } => "trap",
            PolicyError::FuelExhausted { .. } => "fuel_exhausted",
            PolicyError::DeadlineExceeded { .. } => "deadline",
            PolicyError::Wait(_) => "wait",
            PolicyError::MemoryLimit { .. } => "memory_limit",
            PolicyError::TransferTooLarge { .. } => "transfer_too_large",
            PolicyError::InputTooLarge { .. } => "input_too_large",
            PolicyError::OutputTooLarge { .. } => "output_too_large",
            PolicyError::InvalidOutput(_) => "invalid_output",
            PolicyError::Instantiate(_) => "instantiate",
            PolicyError::WrongSlot { .. } => "wrong_slot",
        }
    }
}

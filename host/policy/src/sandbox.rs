//! The per-call sandbox: limits, the store's state, a WASI context that
//! grants nothing, clocks and polls that never wait, and the `log` import.

use super::bindings::wit_host;
use super::decision::TraceLine;
use super::error::PolicyError;
use super::slot::CONTRACT_VERSION;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use wasmtime::component::{HasData, HasSelf, Linker, Resource, ResourceTable, WasmStr};
use wasmtime::{ResourceLimiter, StoreContextMut, Trap};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::bindings::io::poll as async_poll;
use wasmtime_wasi::p2::bindings::sync::io::poll as sync_poll;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// The host-wide limits. Fuel, memory, deadline and output are the
/// maxima each module's own limits are bounded by
/// ([`crate::ResolvedLimits`]); the rest hold for every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most fuel a module's call may get (roughly one unit per wasm
    /// instruction).
    pub fuel: u64,
    /// Largest linear memory a module's call may get, bytes; also the
    /// size of each pooled memory slot.
    pub memory_bytes: usize,
    /// Input size cap, bytes (approximate encoded size).
    pub max_input_bytes: usize,
    /// Largest output cap a module may get, bytes (approximate encoded
    /// size).
    pub max_output_bytes: usize,
    /// Wasm stack cap, bytes (deep recursion traps past it).
    pub max_wasm_stack: usize,
    /// Decisions that may run at once (pooling allocator slots).
    pub max_concurrent: u32,
    /// Bytes of each pooled linear memory kept resident between calls
    /// (avoids page faults on the next instantiation).
    pub keep_resident_bytes: usize,
    /// Longest wall-clock deadline a module's call may get, milliseconds:
    /// fuel counts the guest's instructions, not the time its host calls
    /// take, so each decision also stops (trap, fail-safe) once its
    /// deadline has passed.
    pub deadline_ms: u64,
    /// Most bytes the guest may pass to the host in one call (a `log`
    /// message, or the decision it returns), refused before they are
    /// copied. Each call gets four times its module's output cap, up to
    /// this: the check counts each list element at its size in host
    /// memory.
    pub max_transfer_bytes: usize,
    /// Whether a pooled memory is reset by finding its dirty pages with
    /// Linux's `PAGEMAP_SCAN` (6.7 and later; ignored elsewhere), so only
    /// those are restored and the kept-resident part never faults again.
    pub pagemap_scan: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Room above every kind's default (module_limits.rs) for a
            // module that declares more.
            fuel: 200_000_000,
            memory_bytes: 128 << 20,
            max_input_bytes: 1 << 20,
            max_output_bytes: 256 << 10,
            max_wasm_stack: 512 << 10,
            max_concurrent: 256,
            keep_resident_bytes: 2 << 20,
            deadline_ms: 2_000,
            max_transfer_bytes: 1 << 20,
            pagemap_scan: true,
        }
    }
}

/// Trace lines one call may add through `log`; the rest are dropped.
const MAX_LOG_LINES: usize = 64;
/// Bytes per trace line; longer lines are cut.
const MAX_LOG_LINE: usize = 1024;
/// Fuel each `log` call costs the guest, besides one per byte of a kept
/// line: about what the host spends on a call, so a stream of dropped
/// lines ends on the guest's own budget.
const LOG_CALL_FUEL: u64 = 1_000;
/// Largest `get-random-bytes` answer: the host allocates it whole.
const MAX_RANDOM_BYTES: u64 = 64 << 10;
/// Resource handles a call may hold at once (WASI streams, pollables): a
/// policy needs a few; each is host memory.
pub(crate) const MAX_HANDLES: usize = 1024;
/// Bytes of guest stderr kept (for panic messages).
const STDERR_CAPACITY: usize = 8 << 10;

/// Everything one `Store` owns. Dropped with the store after one call.
pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) trace: Vec<TraceLine>,
    dropped_lines: usize,
    /// Part of the answer the host dropped (see `Decision::dropped`).
    pub(crate) dropped: Option<PolicyError>,
    pub(crate) stderr: MemoryOutputPipe,
}

impl CallState {
    /// The state of one call whose memory may grow to `memory_bytes`.
    pub(crate) fn new(memory_bytes: usize) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        CallState {
            wasi: deny_all_wasi(stderr.clone()),
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                limit: memory_bytes,
                peak: 0,
                refused: None,
            },
            trace: Vec::new(),
            dropped_lines: 0,
            dropped: None,
            stderr,
        }
    }

    /// The trace, with a note if lines were dropped.
    pub(crate) fn take_trace(&mut self) -> Vec<TraceLine> {
        let mut trace = std::mem::take(&mut self.trace);
        if self.dropped_lines > 0 {
            trace.push(TraceLine {
                level: "warn".into(),
                message: format!("host: {} further log lines dropped", self.dropped_lines),
            });
        }
        trace
    }
}

/// Links what a policy may import: WASI (granting nothing, see
/// [`deny_all_wasi`]) with its monotonic clock and `wasi:io/poll`
/// replaced by versions that never wait, and `accord:policy/host`.
pub(crate) fn link(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    // Replace wasmtime-wasi's clock and poll: its timers wait in real time
    // inside a host call, where neither fuel nor the epoch deadline reach.
    linker.allow_shadowing(true);
    monotonic_clock::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    sync_poll::add_to_linker::<CallState, NoWait>(linker, |s| NoWaitTable(&mut s.table))?;
    linker.allow_shadowing(false);
    linker
        .instance(&format!("accord:policy/host@{}", CONTRACT_VERSION))?
        .func_wrap("log", log)?;
    Ok(())
}

/// Why the host refused to let a guest wait. Returned from the host call,
/// it traps the guest; the runtime reports it as [`PolicyError::Wait`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum WaitRefused {
    /// A timer on the monotonic clock (`std::thread::sleep` and the like).
    #[error("a sleep or timer of {} ms", nanos / 1_000_000)]
    Timer {
        /// How long the guest asked to wait.
        nanos: u64,
    },
    /// A poll or block on something that is not ready yet.
    #[error("`{0}` on a pollable that is not ready")]
    Pollable(&'static str),
}

/// The monotonic clock a policy sees: frozen at 0, and a timer for any
/// later instant is refused rather than waited on. A zero timer (a
/// non-blocking poll) is ready at once.
impl monotonic_clock::Host for CallState {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(0)
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(1_000_000_000)
    }

    fn subscribe_instant(
        &mut self,
        when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        // `now` is always 0, so an instant is also the wait until it.
        self.timer(when)
    }

    fn subscribe_duration(
        &mut self,
        duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.timer(duration)
    }
}

impl CallState {
    fn timer(&mut self, nanos: u64) -> wasmtime::Result<Resource<DynPollable>> {
        if nanos > 0 {
            return Err(wasmtime::Error::new(WaitRefused::Timer { nanos }));
        }
        let ready = self.table.push(Ready)?;
        subscribe(&mut self.table, ready)
    }
}

/// A pollable that is always ready.
struct Ready;

#[wasmtime_wasi::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

/// `wasi:io/poll` over the store's resource table, never waiting: each
/// poll looks once, and a guest that would have to wait traps instead.
struct NoWait;

impl HasData for NoWait {
    type Data<'a> = NoWaitTable<'a>;
}

struct NoWaitTable<'a>(&'a mut ResourceTable);

impl sync_poll::Host for NoWaitTable<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        now_or_refuse("poll", async_poll::Host::poll(&mut *self.0, pollables))?
    }
}

impl sync_poll::HostPollable for NoWaitTable<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        now_or_refuse(
            "ready",
            async_poll::HostPollable::ready(&mut *self.0, pollable),
        )?
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        now_or_refuse(
            "block",
            async_poll::HostPollable::block(&mut *self.0, pollable),
        )?
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(&mut *self.0, pollable)
    }
}

/// Polls `future` once: its value if it is ready, a [`WaitRefused`]
/// otherwise. Every pollable a policy can make (a zero timer, stdio) is
/// ready at once, so this only refuses what would have waited.
fn now_or_refuse<T>(what: &'static str, future: impl Future<Output = T>) -> wasmtime::Result<T> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => Ok(value),
        Poll::Pending => Err(wasmtime::Error::new(WaitRefused::Pollable(what))),
    }
}

/// A WASI context that grants nothing: no preopened directories, no
/// environment or arguments, no network, stdin empty, stdout discarded,
/// stderr captured (for panic messages). Clocks are frozen at the epoch and
/// randomness is all zeros: a policy cannot observe time or entropy, so its
/// decisions depend on its input alone.
fn deny_all_wasi(stderr: MemoryOutputPipe) -> WasiCtx {
    let mut builder = WasiCtx::builder();
    builder
        .stderr(stderr)
        .wall_clock(FrozenClock)
        .monotonic_clock(FrozenClock)
        .max_random_size(MAX_RANDOM_BYTES)
        .secure_random(ZeroRng)
        .insecure_random(ZeroRng)
        .insecure_random_seed(0)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    builder.build()
}

struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

struct ZeroRng;

impl rand_core::TryRng for ZeroRng {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(0)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.fill(0);
        Ok(())
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// `accord:policy/host.log`. Defined by hand rather than through the
/// bindings: they copy the whole message into a `String` before the host
/// sees it, while here the message stays in guest memory ([`WasmStr`]),
/// only a kept line's first [`MAX_LOG_LINE`] bytes are copied, and each
/// call is charged to the guest's fuel.
fn log(
    mut cx: StoreContextMut<'_, CallState>,
    (level, message): (wit_host::Level, WasmStr),
) -> wasmtime::Result<()> {
    if cx.data().trace.len() >= MAX_LOG_LINES {
        // A dropped line is never read: it costs the host the call alone.
        charge(&mut cx, LOG_CALL_FUEL)?;
        cx.data_mut().dropped_lines += 1;
        return Ok(());
    }
    // Validating the message reads all of it (at most the store's
    // per-call transfer cap), so its bytes are charged too.
    let (len, message) = {
        let text = message.to_str(&cx)?;
        (text.len(), kept_prefix(&text))
    };
    charge(&mut cx, LOG_CALL_FUEL.saturating_add(len as u64))?;
    let level = match level {
        wit_host::Level::Trace => "trace",
        wit_host::Level::Debug => "debug",
        wit_host::Level::Info => "info",
        wit_host::Level::Warn => "warn",
        wit_host::Level::Error => "error",
    };
    cx.data_mut().trace.push(TraceLine {
        level: level.into(),
        message,
    });
    Ok(())
}

/// A new string of the first [`MAX_LOG_LINE`] bytes of `text` (cut on a
/// char boundary, `…` appended when cut), so a kept line holds no more
/// than it shows.
fn kept_prefix(text: &str) -> String {
    if text.len() <= MAX_LOG_LINE {
        return text.to_string();
    }
    let mut cut = MAX_LOG_LINE;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut kept = String::with_capacity(cut + '…'.len_utf8());
    kept.push_str(&text[..cut]);
    kept.push('…');
    kept
}

/// Takes `fuel` from the guest's budget; out of fuel is the same trap as
/// running out in wasm code.
fn charge(cx: &mut StoreContextMut<'_, CallState>, fuel: u64) -> wasmtime::Result<()> {
    let left = cx.get_fuel()?;
    if left < fuel {
        cx.set_fuel(0)?;
        return Err(Trap::OutOfFuel.into());
    }
    cx.set_fuel(left - fuel)
}

/// Caps linear memory and remembers the peak and any refused growth, so a
/// memory failure is reported as such rather than as a bare trap.
pub(crate) struct MemoryLimiter {
    limit: usize,
    pub(crate) peak: usize,
    pub(crate) refused: Option<usize>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = Some(desired);
            return Err(wasmtime::Error::msg(format!(
                "memory limit: growing to {desired} bytes exceeds {}",
                self.limit
            )));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

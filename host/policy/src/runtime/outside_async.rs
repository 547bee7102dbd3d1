//! Running guest calls off the async scheduler, where wasmtime-wasi's
//! synchronous bindings may block.

thread_local! {
    /// Set while this thread runs outside the async scheduler's reach
    /// (inside [`outside_async`]): nested calls need no hand-off.
    static OUTSIDE_ASYNC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `calls`, a run of policy decisions, with one hand-off of the
/// async worker thread for all of them instead of one per decision (see
/// [`outside_async`]). The pipeline wraps each phase of a batch in it:
/// the hand-off wakes a thread, and costs more than a routing decision.
pub fn calls_together<R: Send>(calls: impl FnOnce() -> R + Send) -> R {
    outside_async(calls)
}

/// Runs a guest call where wasmtime-wasi's synchronous bindings may block
/// on their own: they `block_on` an ambient tokio runtime for every WASI
/// call (a guest panic writing to stderr, say), which panics on a thread
/// that is driving async tasks. On a multi-threaded runtime the call runs
/// under `block_in_place`; on a current-thread runtime on a scoped thread;
/// outside tokio, or already inside one of these, directly.
pub(super) fn outside_async<R: Send>(call: impl FnOnce() -> R + Send) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if OUTSIDE_ASYNC.get() {
        return call();
    }
    let marked = move || {
        let _outside = OutsideAsync::enter();
        call()
    };
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Err(_) => marked(),
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(marked),
        Ok(_) => std::thread::scope(|scope| match scope.spawn(marked).join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
    }
}

/// Marks the thread as outside the scheduler until dropped (also when a
/// call unwinds, so a worker thread is never left marked).
struct OutsideAsync;

impl OutsideAsync {
    fn enter() -> Self {
        OUTSIDE_ASYNC.set(true);
        OutsideAsync
    }
}

impl Drop for OutsideAsync {
    fn drop(&mut self) {
        OUTSIDE_ASYNC.set(false);
    }
}

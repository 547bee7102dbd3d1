//! This instance's queue of uploads to compile: how many at once, and the
//! wake-up the compile worker (`module_compile`) waits on.

use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;

/// How many uploads this instance compiles at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileConfig {
    /// Modules compiled at once, each on a blocking thread (default 1: a
    /// large component takes a core for tens of seconds). 0: this
    /// instance compiles none (another instance does; binding a ready
    /// module here then compiles it within the request).
    pub concurrency: usize,
}

impl Default for CompileConfig {
    fn default() -> Self {
        CompileConfig { concurrency: 1 }
    }
}

/// This instance's compile queue: the worker's wake-up, and the ready
/// modules another instance compiled, to compile here too.
#[derive(Debug, Default)]
pub struct ModuleCompiler {
    pub(super) wake: Notify,
    heard: Mutex<VecDeque<String>>,
}

impl ModuleCompiler {
    /// An idle queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// A module was stored `compiling`: the worker looks now rather than
    /// at its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Another instance compiled `sha256`: compile it here too.
    pub fn heard_ready(&self, sha256: &str) {
        self.lock().push_back(sha256.to_string());
        self.wake.notify_one();
    }

    pub(super) fn next_heard(&self) -> Option<String> {
        self.lock().pop_front()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        // A poisoned lock only means a panic mid-push: the queue is whole.
        self.heard.lock().unwrap_or_else(|p| p.into_inner())
    }
}

//! The one clock. Every tick, window, cap and timestamp reads it, so tests
//! drive 30 days of schedule in seconds with a [`ManualClock`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> Millis;
}

/// The shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        jiff::Timestamp::now().as_millisecond()
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `ms`.
    pub fn new(ms: Millis) -> Arc<Self> {
        Arc::new(ManualClock(AtomicI64::new(ms)))
    }

    /// Moves the clock forward (or back) by `ms`.
    pub fn advance(&self, ms: Millis) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, ms: Millis) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// Milliseconds in a minute, hour and day.
pub const MINUTE_MS: Millis = 60_000;
/// Milliseconds in an hour.
pub const HOUR_MS: Millis = 60 * MINUTE_MS;
/// Milliseconds in a day.
pub const DAY_MS: Millis = 24 * HOUR_MS;

/// A new UUIDv7 id as a string.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

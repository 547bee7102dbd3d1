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

/// The process's source of ids and randomness: UUIDv7 and OS entropy in
/// production; a seeded sequence once [`seed_process`] was called (by
/// `accord demo --seed` or `accord simulate run --seed` at start), so the
/// same seed replays a run byte for byte. It is process-wide rather than
/// carried by each handle because ids are drawn deep in the store, where
/// no handle reaches; every host instance of the process shares it.
static SEEDED: std::sync::OnceLock<std::sync::Mutex<SplitMix>> = std::sync::OnceLock::new();

/// Why [`seed_process`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the process's id source was already seeded with another seed")]
pub struct AlreadySeeded;

/// Makes every later id and random number of this process come from
/// `seed`. Seeding twice with the same seed is allowed (a no-op).
pub fn seed_process(seed: u64) -> Result<(), AlreadySeeded> {
    let fresh = SEEDED.get_or_init(|| std::sync::Mutex::new(SplitMix::new(seed)));
    let state = fresh.lock().unwrap_or_else(|p| p.into_inner());
    if state.seed == seed {
        Ok(())
    } else {
        Err(AlreadySeeded)
    }
}

/// Whether ids come from a seed.
pub fn is_seeded() -> bool {
    SEEDED.get().is_some()
}

/// A new id as a string: a UUIDv7, or its seeded stand-in (still v7-shaped,
/// ordered by creation, unique in the process).
pub fn new_id() -> String {
    match SEEDED.get() {
        Some(seeded) => seeded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_id()
            .to_string(),
        None => uuid::Uuid::now_v7().to_string(),
    }
}

/// A random number from the process's source.
pub fn random_u64() -> u64 {
    match SEEDED.get() {
        Some(seeded) => seeded.lock().unwrap_or_else(|p| p.into_inner()).next(),
        None => uuid::Uuid::new_v4().as_u64_pair().0,
    }
}

/// splitmix64: small, fast, and good enough for ids and jitter.
#[derive(Debug)]
struct SplitMix {
    seed: u64,
    state: u64,
    issued: u64,
}

impl SplitMix {
    fn new(seed: u64) -> Self {
        SplitMix {
            seed,
            state: seed,
            issued: 0,
        }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A v7 layout whose time field counts ids issued (from 2026-01-01),
    /// so seeded ids sort in creation order as real ones sort in time.
    fn next_id(&mut self) -> uuid::Uuid {
        self.issued += 1;
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&self.next().to_le_bytes());
        random[8..].copy_from_slice(&self.next().to_le_bytes()[..2]);
        uuid::Builder::from_unix_timestamp_millis(1_767_225_600_000 + self.issued, &random)
            .into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix;

    #[test]
    fn a_seed_gives_the_same_ordered_unique_ids() {
        let ids = |seed| {
            let mut s = SplitMix::new(seed);
            (0..1000)
                .map(|_| s.next_id().to_string())
                .collect::<Vec<_>>()
        };
        let a = ids(7);
        assert_eq!(a, ids(7));
        assert_ne!(a, ids(8));
        let mut sorted = a.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, a, "unique and in creation order");
        assert!(a.iter().all(|id| id.as_bytes()[14] == b'7'), "v7-shaped");
    }
}

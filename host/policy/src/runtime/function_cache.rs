//! Compiled functions kept by their Cranelift cache key (wasmtime's
//! incremental compilation). A Python or JavaScript module embeds its
//! language's whole runtime (libpython, StarlingMonkey): two such modules
//! differ in a handful of functions out of tens of thousands, so a second
//! one compiles only those and reads the rest back.
//!
//! The key is a sha256 of the function's Cranelift IR, the target and
//! every codegen flag, and a stored entry carries Cranelift's version
//! marker (a stale one is recompiled), so one cache serves every engine of
//! the process whatever its limits.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use wasmtime::CacheStore;

/// The bytes of compiled functions kept in memory, process-wide: room for
/// both interpreted languages' runtimes with their policies.
pub const FUNCTION_CACHE_BYTES: usize = 256 << 20;

/// The process's cache of compiled functions, shared by every runtime.
pub fn shared() -> Arc<FunctionCache> {
    static SHARED: OnceLock<Arc<FunctionCache>> = OnceLock::new();
    SHARED
        .get_or_init(|| Arc::new(FunctionCache::new(FUNCTION_CACHE_BYTES)))
        .clone()
}

/// What the process's cache holds and how often it answered.
pub fn function_cache_stats() -> FunctionCacheStats {
    shared().stats()
}

/// Compiled functions by key, at most `capacity` bytes; the oldest leave
/// first when a new one does not fit.
#[derive(Debug)]
pub struct FunctionCache {
    capacity: usize,
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    entries: HashMap<Vec<u8>, Arc<[u8]>>,
    order: VecDeque<Vec<u8>>,
    bytes: usize,
    hits: u64,
    misses: u64,
}

/// What a cache holds and how often it answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionCacheStats {
    /// Functions held.
    pub entries: usize,
    /// Their bytes.
    pub bytes: usize,
    /// Lookups answered.
    pub hits: u64,
    /// Lookups that compiled.
    pub misses: u64,
}

impl FunctionCache {
    /// An empty cache of at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        FunctionCache {
            capacity,
            kept: Mutex::default(),
        }
    }

    /// What it holds now.
    pub fn stats(&self) -> FunctionCacheStats {
        let kept = self.lock();
        FunctionCacheStats {
            entries: kept.entries.len(),
            bytes: kept.bytes,
            hits: kept.hits,
            misses: kept.misses,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        // A poisoned lock only means a panic between two field updates:
        // at worst a byte count off, never a wrong entry.
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let mut kept = self.lock();
        match kept.entries.get(key).cloned() {
            Some(value) => {
                kept.hits += 1;
                metrics::counter!("accord_policy_function_cache_hits_total").increment(1);
                // The trait lends bytes tied to `self`, not to the lock: a
                // copy, far cheaper than the compile it saves.
                Some(Cow::Owned(value.to_vec()))
            }
            None => {
                kept.misses += 1;
                metrics::counter!("accord_policy_function_cache_misses_total").increment(1);
                None
            }
        }
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        if value.len() > self.capacity {
            return false;
        }
        let mut kept = self.lock();
        if kept.entries.contains_key(key) {
            return true;
        }
        while kept.bytes + value.len() > self.capacity {
            let Some(oldest) = kept.order.pop_front() else {
                break;
            };
            if let Some(gone) = kept.entries.remove(&oldest) {
                kept.bytes -= gone.len();
            }
        }
        kept.bytes += value.len();
        kept.order.push_back(key.to_vec());
        kept.entries.insert(key.to_vec(), value.into());
        metrics::gauge!("accord_policy_function_cache_bytes").set(kept.bytes as f64);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_leave_when_a_new_one_does_not_fit() {
        let cache = FunctionCache::new(10);
        assert!(cache.insert(b"a", vec![1; 4]));
        assert!(cache.insert(b"b", vec![2; 4]));
        assert!(cache.insert(b"c", vec![3; 4]));
        assert!(cache.get(b"a").is_none());
        assert_eq!(cache.get(b"b").as_deref(), Some(&[2u8; 4][..]));
        assert_eq!(cache.get(b"c").as_deref(), Some(&[3u8; 4][..]));
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.bytes), (2, 8));
        assert_eq!((stats.hits, stats.misses), (2, 1));
    }

    #[test]
    fn an_entry_larger_than_the_cache_is_refused() {
        let cache = FunctionCache::new(4);
        assert!(!cache.insert(b"a", vec![0; 5]));
        assert_eq!(cache.stats().entries, 0);
    }
}

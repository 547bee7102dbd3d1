//! The engine's settings: a pooling allocator sized by the limits, fuel,
//! and an epoch ticker that gives every call its wall-clock deadline.

use crate::error::LoadError;
use crate::sandbox::Limits;
use sha2::{Digest, Sha256};
use std::time::Duration;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// The engine every module is compiled for and every call runs on; its
/// functions compiled once per process ([`super::function_cache`]).
pub(super) fn engine_config(limits: &Limits) -> Result<Config, LoadError> {
    let instances = limits.max_concurrent.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances * 8)
        .total_memories(instances * 2)
        .total_tables(instances * 4)
        .max_memory_size(limits.memory_bytes)
        // Keeping the first pages of each slot resident avoids page faults
        // on the next instantiation (measured: docs/BENCHMARKS.md, policy).
        .linear_memory_keep_resident(limits.keep_resident_bytes)
        .table_keep_resident(64 << 10)
        .pagemap_scan(if limits.pagemap_scan {
            Enabled::Auto
        } else {
            Enabled::No
        });
    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(limits.max_wasm_stack)
        .enable_incremental_compilation(super::function_cache::shared())
        .map_err(|e| LoadError::Config(format!("{e:#}")))?;
    Ok(config)
}

/// How often the engine's epoch advances: the deadline's granularity.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Epoch ticks until a call's deadline (at least one: a store without a
/// deadline is interrupted at once). The call traps between
/// `deadline - EPOCH_TICK` and the deadline.
pub(super) fn deadline_ticks(deadline_ms: u64) -> u64 {
    deadline_ms.div_ceil(EPOCH_TICK.as_millis() as u64).max(1)
}

/// One thread per engine advances its epoch every [`EPOCH_TICK`]; it ends
/// once the engine is dropped (it holds only a weak reference).
pub(super) fn start_epoch_ticker(engine: &Engine) -> Result<(), LoadError> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("accord-policy-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
            }
        })
        .map(drop)
        .map_err(|e| LoadError::Config(format!("cannot start the epoch ticker: {e}")))
}

/// A stable tag of everything that makes a compiled artifact (in)valid for
/// this engine.
pub(super) fn engine_tag(engine: &Engine) -> String {
    struct ShaHasher(Sha256);
    impl std::hash::Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = ShaHasher(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
    hex::encode(&hasher.0.finalize()[..8])
}

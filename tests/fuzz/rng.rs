//! The fuzzer's only source of randomness: a PCG stream per input, drawn
//! from the run's seed and the input's index, so input `i` of seed `s` is
//! the same choices whatever ran before it; arbitrary text comes from
//! `arbitrary` over the same stream.

use arbitrary::{Arbitrary, Unstructured};
use rand_core::{Rng as _, SeedableRng};

pub struct Rng(rand_pcg::Pcg64Mcg);

impl Rng {
    /// The stream of input `index` of the run seeded `seed`.
    pub fn for_input(seed: u64, index: u64) -> Rng {
        // SplitMix64 of the pair: neighbouring indices get unrelated streams.
        let mut z = seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng(rand_pcg::Pcg64Mcg::seed_from_u64(z ^ (z >> 31)))
    }

    pub fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.u64() % n as u64) as usize
        }
    }

    /// Uniform in `lo..hi` (`lo` when empty).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            lo
        } else {
            lo + self.below(hi - lo)
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index into `weights`, each chosen in proportion to its weight.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut x = self.below(total as usize) as u32;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }

    /// An arbitrary value built from `budget` random bytes.
    pub fn arbitrary<T: for<'a> Arbitrary<'a> + Default>(&mut self, budget: usize) -> T {
        let data = self.bytes(budget);
        T::arbitrary(&mut Unstructured::new(&data)).unwrap_or_default()
    }
}

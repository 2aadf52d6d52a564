//! The one small PRNG of the tests and benchmarks: splitmix64.
//!
//! Not part of the memory manager: it lives here because this `no_std`
//! crate is the one every user links (its own tests, `bench-host`, the
//! kernel's benchmarks and stress suites), so that a workload is written
//! against one generator. Deterministic: the same seed gives the same
//! sequence on every target. Not for anything that needs unpredictability.
//!
//! splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
//! generators", 2014; the seeder of xoshiro): a Weyl sequence (add a fixed
//! odd constant) put through a 64-bit finaliser ([`mix`]). Every seed,
//! zero included, gives a full-period stream of 2^64 values, and streams
//! from nearby seeds are unrelated, so one stream per thread or CPU is
//! just a seed apiece ([`Rng::stream`]).

/// splitmix64 generator. See the module docs.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// The sequence of `seed` (any value, zero included).
    pub const fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Stream `index` of `seed`: one per thread or CPU, each a different
    /// sequence. The first value of the raw sequence is skipped.
    pub fn stream(seed: u64, index: usize) -> Self {
        let mut r = Rng(seed ^ (index as u64).wrapping_add(1).wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply and shift (no division;
    /// the bias is below `n / 2^64`).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0, "Rng::below(0)");
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// True with probability `1 / n` (`n > 0`).
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// The splitmix64 finaliser: a bijection of `u64` whose every output bit
/// depends on every input bit. Also usable on its own, e.g. to derive a
/// page's expected contents from a token.
pub const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The reference splitmix64 sequence for seed 0 (the first outputs of
    /// the published C code), so a change of the generator shows.
    #[test]
    fn reference_values() {
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn deterministic_per_seed_and_stream() {
        let take = |mut r: Rng| [r.next_u64(), r.next_u64(), r.next_u64()];
        assert_eq!(take(Rng::new(7)), take(Rng::new(7)));
        assert_ne!(take(Rng::new(7)), take(Rng::new(8)));
        assert_eq!(take(Rng::stream(7, 3)), take(Rng::stream(7, 3)));
        assert_ne!(take(Rng::stream(7, 3)), take(Rng::stream(7, 4)));
        assert_ne!(take(Rng::stream(7, usize::MAX)), take(Rng::stream(7, 0)));
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = Rng::new(1);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let v = r.below(7);
            assert!(v < 7);
            seen[v] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(r.below(1), 0);
        assert!(r.one_in(1));
    }
}

//! Random: a seedable pseudo-random generator (SplitMix64, Steele, Lea and
//! Flood, OOPSLA 2014: 64 bits of state, one addition and a mix per
//! number). Its state is one atomic word, so a generator needs no lock even
//! when shared: each draw advances the state by compare-and-swap, and two
//! maatines drawing at once get different numbers, never a torn state.
//! `Relaxed` suffices: the word is the whole state and publishes nothing else.

use maat_sync::annotate::atomic::{AtomicU64, Ordering};

use maat_gc::{Gc, Trace};

use super::{Ctx, kind};

/// The generator's increment (the golden ratio's 64-bit fraction).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// A Maat `Random`.
#[derive(Trace)]
pub struct Random {
    state: AtomicU64,
}

impl Random {
    /// A generator seeded with `seed` (the same seed gives the same numbers).
    pub fn alloc<'gc>(ctx: &Ctx<'_, 'gc>, seed: u64) -> Gc<'gc, Random> {
        ctx.mc.alloc_kind(Random { state: AtomicU64::new(seed) }, kind::RANDOM)
    }

    /// Starts the sequence again from `seed`.
    pub fn reseed(&self, seed: u64) {
        self.state.store(seed, Ordering::Relaxed);
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        let old = self.state.fetch_add(GAMMA, Ordering::Relaxed);
        let mut z = old.wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)` with 53 random bits.
    pub fn next_float(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An integer in `[low, high]` (`low <= high`), without modulo bias.
    pub fn int_in(&self, low: i64, high: i64) -> i64 {
        let span = high.abs_diff(low).wrapping_add(1);
        if span == 0 {
            return self.next_u64() as i64;
        }
        // Lemire's rejection: multiply, and reject the biased low part.
        let threshold = span.wrapping_neg() % span;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(span);
            if (m as u64) >= threshold {
                return low.wrapping_add((m >> 64) as i64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator(seed: u64) -> Random {
        Random { state: AtomicU64::new(seed) }
    }

    #[test]
    fn the_same_seed_gives_the_same_numbers_in_range() {
        let (a, b) = (generator(42), generator(42));
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let f = a.next_float();
            b.next_float();
            assert!((0.0..1.0).contains(&f));
            let i = a.int_in(-3, 3);
            b.int_in(-3, 3);
            assert!((-3..=3).contains(&i));
        }
        let c = generator(7);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            seen[(c.int_in(-3, 3) + 3) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s), "every value of a small range comes up");
    }
}

//! Adaptive spinning shared by the object lock and the variable lock.
//!
//! A lock keeps one byte, its *spin estimate*: a moving average (weight 1/8)
//! of how many spin iterations recent successful spins needed. A spinner tries
//! up to `SPIN_FLOOR + 2 * estimate` iterations (at most `SPIN_CEILING`, about
//! 20 µs), each one attempt followed by exponentially more pause hints (1, 2,
//! 4, … capped at 32) so that waiters read the contended cache line less and
//! less often; then it yields its time slice a few times (the holder may be
//! preempted when threads outnumber cores) before the caller parks. Success
//! feeds the iteration count into the average; failure feeds zero, so on a
//! lock whose holders keep it long the estimate decays and waiters park
//! sooner. The byte is only a hint: every access is Relaxed and a lost update
//! is harmless.

use crate::shim::{self, AtomicU8, Ordering};

#[cfg(not(loom))]
const SPIN_FLOOR: u32 = 4;
#[cfg(not(loom))]
const SPIN_CEILING: u32 = 64;
#[cfg(not(loom))]
const MAX_BACKOFF_SHIFT: u32 = 5;
#[cfg(not(loom))]
const YIELDS: u32 = 6;
// Under loom one iteration suffices to model "spin, then park".
#[cfg(loom)]
const SPIN_FLOOR: u32 = 1;
#[cfg(loom)]
const SPIN_CEILING: u32 = 1;
#[cfg(loom)]
const MAX_BACKOFF_SHIFT: u32 = 0;
#[cfg(loom)]
const YIELDS: u32 = 0;

/// What one spin attempt found.
pub(crate) enum Attempt {
    /// The lock was taken by this attempt.
    Acquired,
    /// Still held: keep spinning.
    Busy,
    /// Spinning is pointless (a waiter is parked): give up now.
    Stop,
}

/// Spins on `attempt` within the budget set by `estimate`, then updates it.
/// Returns whether the lock was acquired.
// Under loom the backoff and the yields are cut to nothing (see the
// constants), which clippy reads as a useless `min` and an empty range.
#[cfg_attr(loom, allow(clippy::unnecessary_min_or_max, clippy::reversed_empty_ranges))]
pub(crate) fn spin(estimate: &AtomicU8, mut attempt: impl FnMut() -> Attempt) -> bool {
    let current = u32::from(estimate.load(Ordering::Relaxed));
    let limit = (SPIN_FLOOR + 2 * current).min(SPIN_CEILING);
    for i in 0..limit {
        match attempt() {
            Attempt::Acquired => {
                adapt(estimate, current, i);
                return true;
            }
            Attempt::Stop => break,
            Attempt::Busy => {}
        }
        // Exponential backoff: fewer reads of a contended cache line.
        for _ in 0..(1u32 << i.min(MAX_BACKOFF_SHIFT)) {
            shim::spin_hint();
        }
    }
    adapt(estimate, current, 0);
    // The holder may have been preempted (more runnable threads than cores):
    // offer the core a few times before parking.
    for _ in 0..YIELDS {
        shim::yield_thread();
        match attempt() {
            Attempt::Acquired => return true,
            Attempt::Stop => return false,
            Attempt::Busy => {}
        }
    }
    false
}

fn adapt(estimate: &AtomicU8, current: u32, sample: u32) {
    // estimate += (sample - estimate) / 8, in integers that stay in 0..=255.
    let next = (current * 7 + sample.min(255)) / 8;
    if next != current {
        estimate.store(next as u8, Ordering::Relaxed);
    }
}

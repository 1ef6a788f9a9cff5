//! The adaptive spin-then-park object lock.
//!
//! An [`AdaptiveLock`] is two bytes that live inside the object they protect:
//! a state byte and a spin estimate. It allocates nothing; waiters park in
//! parking_lot_core's global table keyed by the state byte's address.
//!
//! # State machine (the state byte)
//!
//! ```text
//!   bits: LOCKED (1)  PARKED (2)
//!
//!   0                 free, nobody parked
//!   LOCKED            held, nobody parked
//!   LOCKED|PARKED     held, at least one thread parked (or about to park)
//!   PARKED            free, threads parked; one of them has been woken
//!
//!   lock fast path    0 --CAS(Acquire)--> LOCKED
//!   lock slow path    spin on !LOCKED while !PARKED, then set PARKED and park
//!                     (validated under the queue lock: state == LOCKED|PARKED)
//!   unlock fast path  LOCKED --CAS(Release)--> 0
//!   unlock slow path  under the queue lock, wake the oldest waiter and
//!                       - barge:   store 0 or PARKED (more waiters), Release
//!                       - handoff: leave LOCKED set (the waiter was starving);
//!                                  the waiter returns owning the lock
//! ```
//!
//! Only the holder clears LOCKED, and while LOCKED|PARKED is set nobody but
//! the holder writes the byte (a would-be waiter finds PARKED already set), so
//! the unlock slow path may use a plain store.
//!
//! # Adaptation and fairness
//!
//! A thread spins only while no thread is parked (spinning then could only
//! steal the lock from a parked waiter and burn CPU), for a budget that adapts
//! to whether recent spins on this lock succeeded (see [`crate::spin`]).
//! A woken waiter that finds the lock taken again (a barging thread won) keeps
//! its stopwatch; once it has waited [`STARVATION_BOUND`] it parks as
//! *starving*, and the next unlock hands the lock straight to it.

use core::marker::PhantomData;
use std::time::Duration;

use crate::shim::{self, AtomicU8, Ordering, Stopwatch};
use crate::spin::{self, Attempt};

const LOCKED: u8 = 1;
const PARKED: u8 = 2;

/// Park tokens: what a waiter tells the unlocker about itself.
const WAITER_NORMAL: usize = 0;
const WAITER_STARVING: usize = 1;
/// Unpark tokens: what the unlocker tells the woken waiter.
const TOKEN_RETRY: usize = 0;
const TOKEN_HANDOFF: usize = 1;

/// How long a waiter may lose races to barging threads before the lock is
/// handed to it directly.
pub const STARVATION_BOUND: Duration = Duration::from_millis(1);

/// An adaptive spin-then-park mutual-exclusion lock of two bytes.
///
/// It protects no data of its own: it is embedded next to the data it guards
/// (an object's fields) and the caller holds an [`AdaptiveGuard`] while it
/// touches them. The only way to unlock is to drop the guard, so unlocking a
/// lock one does not hold cannot be written.
///
/// ```
/// use maat_sync::AdaptiveLock;
///
/// let lock = AdaptiveLock::new();
/// {
///     let _guard = lock.lock();
///     assert!(lock.is_locked());
///     assert!(lock.try_lock().is_none());
/// }
/// assert!(!lock.is_locked());
/// ```
#[derive(Debug, Default)]
pub struct AdaptiveLock {
    state: AtomicU8,
    /// The adaptive spin budget (see [`crate::spin`]).
    spin_estimate: AtomicU8,
}

/// Proof that the current thread holds an [`AdaptiveLock`]; dropping it
/// unlocks. Not `Send`: the lock is released by the thread that took it.
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct AdaptiveGuard<'a> {
    lock: &'a AdaptiveLock,
    _not_send: PhantomData<*const ()>,
}

impl AdaptiveLock {
    /// A new, unlocked lock. An all-zero lock is a valid unlocked lock.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self { state: AtomicU8::new(0), spin_estimate: AtomicU8::new(0) }
    }

    /// A new, unlocked lock.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self { state: AtomicU8::new(0), spin_estimate: AtomicU8::new(0) }
    }

    /// Acquires the lock, spinning briefly and then parking the OS thread.
    #[inline]
    pub fn lock(&self) -> AdaptiveGuard<'_> {
        // Acquire: the critical section must see the previous holder's writes,
        // which its Release unlock published.
        if self.state.compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_slow();
        }
        self.guard()
    }

    /// Acquires the lock if it is free right now.
    #[inline]
    pub fn try_lock(&self) -> Option<AdaptiveGuard<'_>> {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & LOCKED == 0 {
            // Acquire: as in `lock`.
            match self.state.compare_exchange_weak(state, state | LOCKED, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Some(self.guard()),
                Err(s) => state = s,
            }
        }
        None
    }

    /// Whether some thread holds the lock. A snapshot: it may change at once.
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// Acquires the lock only when `needed`; otherwise returns a guard that
    /// does nothing. This is the lock-elision helper every object operation
    /// goes through: `needed` is [`ThreadMode::needs_lock`](crate::ThreadMode::needs_lock).
    #[inline]
    pub fn lock_if(&self, needed: bool) -> MaybeGuard<'_> {
        MaybeGuard(if needed { Some(self.lock()) } else { None })
    }

    fn guard(&self) -> AdaptiveGuard<'_> {
        AdaptiveGuard { lock: self, _not_send: PhantomData }
    }

    fn key(&self) -> usize {
        core::ptr::from_ref(&self.state) as usize
    }

    #[cold]
    fn lock_slow(&self) {
        let stopwatch = Stopwatch::start();
        loop {
            if self.spin() {
                return;
            }
            match self.mark_parked() {
                Marked::Acquired => return,
                Marked::Retry => continue,
                Marked::Parked => {}
            }
            // Starving once it has waited (spinning, parked, losing races)
            // for the bound in all.
            let token = if stopwatch.reached(STARVATION_BOUND) { WAITER_STARVING } else { WAITER_NORMAL };
            let validate = || self.state.load(Ordering::Relaxed) == LOCKED | PARKED;
            if shim::park(self.key(), validate, token) == Some(TOKEN_HANDOFF) {
                // The unlocker left LOCKED set for us; the queue lock's
                // release/acquire orders its critical section before ours.
                return;
            }
        }
    }

    /// Spins while the lock is held and nobody is parked; true once acquired.
    fn spin(&self) -> bool {
        spin::spin(&self.spin_estimate, || {
            let state = self.state.load(Ordering::Relaxed);
            if state & PARKED != 0 {
                Attempt::Stop
            } else if state & LOCKED == 0
                && self.state.compare_exchange_weak(state, state | LOCKED, Ordering::Acquire, Ordering::Relaxed).is_ok()
            {
                Attempt::Acquired
            } else {
                Attempt::Busy
            }
        })
    }

    /// Sets PARKED before parking, or takes the lock if it was released.
    fn mark_parked(&self) -> Marked {
        let state = self.state.load(Ordering::Relaxed);
        if state & LOCKED == 0 {
            let acquired =
                self.state.compare_exchange_weak(state, state | LOCKED, Ordering::Acquire, Ordering::Relaxed).is_ok();
            return if acquired { Marked::Acquired } else { Marked::Retry };
        }
        if state & PARKED == 0
            && self.state.compare_exchange_weak(state, state | PARKED, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return Marked::Retry;
        }
        Marked::Parked
    }

    #[inline]
    fn unlock(&self) {
        // Release: publishes the critical section to the next acquirer.
        if self.state.compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed).is_err() {
            self.unlock_slow();
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        shim::unpark_one(self.key(), |woken, more| {
            let parked = if more { PARKED } else { 0 };
            if woken == Some(WAITER_STARVING) {
                // Handoff: LOCKED stays set and ownership moves to the waiter.
                self.state.store(LOCKED | parked, Ordering::Relaxed);
                #[cfg(loom)]
                crate::model_counters::HANDOFFS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                TOKEN_HANDOFF
            } else {
                // Release: as in the fast path; the woken thread retries.
                self.state.store(parked, Ordering::Release);
                TOKEN_RETRY
            }
        });
    }
}

enum Marked {
    Acquired,
    Retry,
    Parked,
}

impl Drop for AdaptiveGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

/// The result of [`AdaptiveLock::lock_if`]: either a real guard or an elided
/// one that does nothing.
#[must_use = "the lock (if taken) is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct MaybeGuard<'a>(Option<AdaptiveGuard<'a>>);

impl<'a> From<AdaptiveGuard<'a>> for MaybeGuard<'a> {
    /// A taken lock's guard, as the result of a decision to lock.
    #[inline]
    fn from(guard: AdaptiveGuard<'a>) -> Self {
        MaybeGuard(Some(guard))
    }
}

impl MaybeGuard<'_> {
    /// Whether the lock was elided (no lock taken).
    #[inline]
    pub fn is_elided(&self) -> bool {
        self.0.is_none()
    }
}

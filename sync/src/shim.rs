//! The seam between maat-sync and the platform: atomics, the slow-path mutex
//! and condition variable, address-keyed parking, spinning and the waiter
//! stopwatch.
//!
//! Normal builds use `core` atomics, `parking_lot` and `parking_lot_core`.
//! Under `cfg(loom)` every item is replaced by a loom-modelled equivalent so
//! that the lock word, the park/unpark protocol, the safe-point barrier and the
//! variable-lock table are model-checked with exactly the code that ships.
//! Nothing outside this module names a platform primitive directly.

#[cfg(not(loom))]
pub(crate) use crate::annotate::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};

pub(crate) use park::{park, unpark_one};
pub(crate) use sync::{Condvar, Mutex, MutexGuard};
pub(crate) use time::Stopwatch;

/// One step of a spin-wait: a CPU pause hint. Under loom nothing: every spin
/// loop in maat-sync is bounded, and the atomic load in each iteration is
/// already a point where the model checker may switch threads.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

/// Offers the rest of the OS thread's time slice to other threads.
#[inline]
pub(crate) fn yield_thread() {
    #[cfg(not(loom))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Blocks the calling OS thread until [`unpark_thread`] is called for it
/// (spurious returns are allowed; callers re-check their condition).
pub(crate) use thread::{Thread, current_thread, park_thread};

#[cfg(not(loom))]
mod thread {
    pub(crate) use std::thread::{Thread, current as current_thread, park as park_thread};
}

#[cfg(loom)]
mod thread {
    pub(crate) use loom::thread::{Thread, current as current_thread, park as park_thread};
}

#[cfg(not(loom))]
mod sync {
    use crate::annotate::{atomic_only, happens_after, happens_before};
    pub(crate) use crate::mutex::{Mutex, MutexGuard};

    /// A condition variable with the `std` calling convention, so that the
    /// loom build can share the callers' code.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) const fn new() -> Self {
            Self(parking_lot::Condvar::new())
        }

        /// Unlocks, waits, locks again: an unlock and a lock of the mutex
        /// to the race detectors (`annotate.rs`).
        pub(crate) fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            atomic_only(&self.0);
            happens_before(guard.mutex());
            self.0.wait(&mut guard.inner);
            happens_after(guard.mutex());
            guard
        }

        pub(crate) fn notify_all(&self) {
            atomic_only(&self.0);
            self.0.notify_all();
        }

        pub(crate) fn notify_one(&self) {
            atomic_only(&self.0);
            self.0.notify_one();
        }
    }
}

#[cfg(loom)]
mod sync {
    pub(crate) use loom::sync::MutexGuard;

    /// loom's mutex with parking_lot's infallible `lock`.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().expect("no panics inside maat-sync critical sections")
        }
    }

    #[derive(Debug, Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(guard).expect("no panics inside maat-sync critical sections")
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
    }
}

#[cfg(not(loom))]
mod park {
    use core::cell::Cell;
    use parking_lot_core::{FilterOp, ParkResult, ParkToken, UnparkToken};

    /// Parks the calling thread in the queue keyed by `key` unless `validate`
    /// (run under the queue's lock) returns false. Returns the unpark token, or
    /// `None` when validation failed.
    pub(crate) fn park(key: usize, validate: impl FnOnce() -> bool, token: usize) -> Option<usize> {
        // SAFETY: keys are addresses of maat-sync lock words owned by the
        // caller, so no other parking_lot user shares the queue; `validate`
        // only performs atomic loads: it neither panics nor re-enters
        // parking_lot.
        let result = unsafe { parking_lot_core::park(key, validate, || {}, |_, _| {}, ParkToken(token), None) };
        match result {
            ParkResult::Unparked(UnparkToken(t)) => {
                // The unparker's `happens_before` on the key: a lock handed
                // over through the token is acquired here, with no atomic
                // of the lock's own for the race detectors to see.
                crate::annotate::happens_after(key as *const u8);
                Some(t)
            }
            ParkResult::Invalid | ParkResult::TimedOut => None,
        }
    }

    /// Unparks the oldest thread parked on `key`. `decide` runs under the
    /// queue's lock with the woken thread's park token (`None` when no thread
    /// was parked) and whether more threads stay parked; its result is the
    /// unpark token handed to the woken thread.
    pub(crate) fn unpark_one(key: usize, decide: impl FnOnce(Option<usize>, bool) -> usize) {
        let woken: Cell<Option<usize>> = Cell::new(None);
        let filter = |ParkToken(t)| {
            if woken.get().is_some() {
                FilterOp::Stop
            } else {
                woken.set(Some(t));
                FilterOp::Unpark
            }
        };
        // What the unparker did happens before the woken thread goes on
        // (see `park`).
        crate::annotate::happens_before(key as *const u8);
        // SAFETY: as in `park`; `filter` and `decide` only touch the lock
        // word and local cells: they neither panic nor re-enter parking_lot.
        unsafe {
            parking_lot_core::unpark_filter(key, filter, |r| UnparkToken(decide(woken.get(), r.have_more_threads)));
        }
    }
}

/// A model of parking_lot_core's address-keyed queues for loom: one global
/// FIFO queue under a loom mutex; `validate` and `decide` run under it, as in
/// parking_lot_core's bucket lock.
#[cfg(loom)]
mod park {
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::{Arc, Mutex};

    struct Parked {
        key: usize,
        token: usize,
        thread: loom::thread::Thread,
        /// 0 while parked, `unpark token + 1` once woken.
        woken: Arc<AtomicUsize>,
    }

    loom::lazy_static! {
        static ref QUEUE: Mutex<Vec<Parked>> = Mutex::new(Vec::new());
    }

    pub(crate) fn park(key: usize, validate: impl FnOnce() -> bool, token: usize) -> Option<usize> {
        let woken = Arc::new(AtomicUsize::new(0));
        {
            let mut queue = QUEUE.lock().unwrap();
            if !validate() {
                return None;
            }
            let thread = loom::thread::current();
            queue.push(Parked { key, token, thread, woken: woken.clone() });
        }
        loop {
            let w = woken.load(Ordering::Acquire);
            if w != 0 {
                return Some(w - 1);
            }
            loom::thread::park();
        }
    }

    pub(crate) fn unpark_one(key: usize, decide: impl FnOnce(Option<usize>, bool) -> usize) {
        let mut queue = QUEUE.lock().unwrap();
        let parked = queue.iter().position(|p| p.key == key).map(|i| queue.remove(i));
        let more = queue.iter().any(|p| p.key == key);
        let token = decide(parked.as_ref().map(|p| p.token), more);
        drop(queue);
        if let Some(p) = parked {
            p.woken.store(token + 1, Ordering::Release);
            p.thread.unpark();
        }
    }
}

#[cfg(not(loom))]
mod time {
    use std::time::{Duration, Instant};

    /// Measures how long a waiter has been waiting.
    pub(crate) struct Stopwatch(Instant);

    impl Stopwatch {
        pub(crate) fn start() -> Self {
            Self(Instant::now())
        }

        /// Whether at least `bound` has passed since `start`.
        pub(crate) fn reached(&self, bound: Duration) -> bool {
            self.0.elapsed() >= bound
        }
    }
}

/// Under loom time does not pass, so the stopwatch counts checks instead: the
/// first check reports "not yet", every later one "reached". A waiter that
/// loses the race after one wake-up therefore becomes starving on its next
/// wait, which lets the models reach both the barging and the handoff paths.
#[cfg(loom)]
mod time {
    use core::cell::Cell;
    use std::time::Duration;

    pub(crate) struct Stopwatch(Cell<u32>);

    impl Stopwatch {
        pub(crate) fn start() -> Self {
            Self(Cell::new(0))
        }

        pub(crate) fn reached(&self, _bound: Duration) -> bool {
            self.0.set(self.0.get() + 1);
            self.0.get() > 1
        }
    }
}

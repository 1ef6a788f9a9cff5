//! The runtime-wide thread-mode flag and the lock-elision decision.
//!
//! # Protocol
//!
//! The runtime is *multi-threaded* (MT) when more than one OS thread can run
//! Maat code at once, and *single-threaded* (ST) otherwise. The flag changes
//! only through [`StoppedWorld::set_thread_mode`](crate::StoppedWorld::set_thread_mode),
//! that is while every other participant thread is stopped at a safe point or
//! outside Maat code (see [`crate::safepoint`]). Hence:
//!
//! - no object operation runs concurrently with a change of the flag, so an
//!   operation reads the same value from start to end;
//! - the change is published by the safe-point barrier itself: the stopping
//!   thread writes the flag before it releases the barrier's mutex, and every
//!   other thread acquires that mutex before it resumes. That release/acquire
//!   pair orders the write (and every write made by any thread before it
//!   stopped) before everything a resumed thread does.
//!
//! Because the barrier already provides the ordering, the flag itself is read
//! with `Relaxed`, which is a plain load on every platform: the cost of the
//! elision check is one load and one branch.

use crate::shim::{AtomicBool, Ordering};

/// Whether more than one OS thread can run Maat code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// One OS thread runs Maat code: shared objects need no lock.
    Single,
    /// Several OS threads run Maat code: shared mutable objects lock.
    Multi,
}

/// How an object can be reached, as far as locking is concerned. The GC's
/// object header maps its shared and frozen bits to this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sharing {
    /// Reachable only from its owner maatine: never locked.
    Unshared,
    /// Possibly reachable from several maatines: locked in MT mode.
    Shared,
    /// Deeply immutable: never locked; mutation is an error.
    Frozen,
}

/// The runtime-wide thread-mode flag. Starts single-threaded.
#[derive(Debug)]
pub struct ThreadMode {
    multi: AtomicBool,
}

impl ThreadMode {
    pub(crate) fn new() -> Self {
        Self { multi: AtomicBool::new(false) }
    }

    /// The current mode.
    #[inline]
    pub fn get(&self) -> Mode {
        if self.is_multi() { Mode::Multi } else { Mode::Single }
    }

    /// Whether the runtime is multi-threaded.
    #[inline]
    pub fn is_multi(&self) -> bool {
        // Relaxed: the flag never changes while an object operation runs, and
        // its last change was published by the safe-point barrier (module doc).
        self.multi.load(Ordering::Relaxed)
    }

    /// Whether an operation on an object with this sharing state must take the
    /// object's lock: only shared objects in MT mode do.
    #[inline]
    pub fn needs_lock(&self, sharing: Sharing) -> bool {
        matches!(sharing, Sharing::Shared) && self.is_multi()
    }

    /// Called by the safe-point barrier only, with every other participant
    /// stopped; the barrier's mutex release publishes the store.
    pub(crate) fn set(&self, mode: Mode) {
        self.multi.store(mode == Mode::Multi, Ordering::Relaxed);
    }
}

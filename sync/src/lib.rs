//! # maat-sync
//!
//! The synchronization layer of the Maat runtime, beneath the collector and
//! the VM:
//!
//! - [`AdaptiveLock`]: the two-byte spin-then-park lock embedded in every
//!   mutable object, with [`AdaptiveLock::lock_if`] for lock elision;
//! - [`World`], [`Participant`], [`StoppedWorld`]: safe points and the
//!   runtime-wide [`ThreadMode`] flag that decides whether shared objects
//!   lock at all;
//! - [`VarLock`], [`VarLockTable`]: re-entrant read-modify-write locks on
//!   variables, held by maatines across Maat code, waited for through a
//!   [`Parker`], with exact deadlock detection;
//! - [`VarCell`]: a variable's value with its lock, updated either in a
//!   section under the lock or lock-free by compare-and-swap;
//! - [`ParkCell`], [`Idle`]: how a suspended maatine and an idle worker
//!   thread wait without losing a wake-up;
//! - [`Mutex`], [`RwLock`]: the blocking locks every crate of the runtime
//!   uses for state outside objects;
//! - [`annotate`]: the atomics every crate uses, and the happens-before
//!   announcements that let valgrind's race detectors check the runtime
//!   (built with `--cfg maat_valgrind`; `scripts/races`).
//!
//! The elision rule every object operation follows:
//!
//! ```
//! use maat_sync::{AdaptiveLock, Sharing, World, Mode};
//!
//! let world = World::new();
//! let me = world.register();
//! let lock = AdaptiveLock::new();
//!
//! // Single-threaded: even a shared object needs no lock.
//! assert!(lock.lock_if(world.mode().needs_lock(Sharing::Shared)).is_elided());
//!
//! me.stop_world().set_thread_mode(Mode::Multi);
//! assert!(!lock.lock_if(world.mode().needs_lock(Sharing::Shared)).is_elided());
//! assert!(lock.lock_if(world.mode().needs_lock(Sharing::Unshared)).is_elided());
//! assert!(lock.lock_if(world.mode().needs_lock(Sharing::Frozen)).is_elided());
//! ```
//!
//! Everything that touches an atomic or parks goes through the private `shim`
//! module, which swaps in loom's types under `cfg(loom)`; the models live in
//! `sync/tests/loom.rs`.

pub mod annotate;
mod id;
mod lock;
mod mode;
mod mutex;
mod park;
pub mod safepoint;
mod shim;
mod spin;
mod varcell;
mod varlock;
pub mod waitgraph;
pub mod wakeup;

pub use id::MaatineId;
pub use lock::{AdaptiveGuard, AdaptiveLock, MaybeGuard, STARVATION_BOUND};
pub use mode::{Mode, Sharing, ThreadMode};
pub use mutex::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use park::{Parker, ThreadParker, Wait};
pub use safepoint::{Participant, StoppedWorld, World};
pub use varcell::{SEALED, Update, VarCell};
pub use varlock::{LockRequest, LockStatus, NotHolder, VarLock};
pub use waitgraph::{Deadlock, VarLockTable, WaitLink};
pub use wakeup::{Idle, ParkCell};

/// Counters that let loom models assert that a rare path was explored.
#[cfg(loom)]
#[doc(hidden)]
pub mod model_counters {
    use std::sync::atomic::AtomicUsize;

    /// Unlocks of an [`AdaptiveLock`](crate::AdaptiveLock) that handed the
    /// lock to a starving waiter, summed over all explored executions.
    pub static HANDOFFS: AtomicUsize = AtomicUsize::new(0);
    /// Releases of a [`VarLock`](crate::VarLock) that handed it to a starving
    /// waiter, summed over all explored executions.
    pub static VAR_HANDOFFS: AtomicUsize = AtomicUsize::new(0);
}

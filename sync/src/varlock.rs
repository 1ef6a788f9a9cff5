//! Variable (RMW) locks: the lock of a global or upvalue slot, held by a
//! maatine across arbitrary Maat code for `x = x + f()`.
//!
//! # The word
//!
//! ```text
//!   word  = WAITERS (bit 63) | holder maatine id (bits 0..62, 0 = free)
//!   depth = re-entrant acquisitions beyond the first, written only by the
//!           holder; HANDOFF while the lock was handed to a queued waiter
//!           that has not yet resumed
//!
//!   0                    free, no queue
//!   id                   held by `id`, no queue
//!   WAITERS | id         held by `id`, waiters queued in the table
//!   WAITERS              free, waiters queued (one was woken to retry)
//! ```
//!
//! Fast paths touch only the word: acquire `0 -> me` (in multi-threaded mode
//! after a short adaptive spin, see [`crate::spin`]), release `me -> 0`.
//! Whenever WAITERS is set, both acquiring and releasing go through the
//! table's mutex, so the table always knows the holder of every lock that has
//! a queue: that is what makes its deadlock detection exact (see
//! [`crate::waitgraph`]).
//!
//! # Thread mode
//!
//! The lock is never elided because the runtime is single-threaded: a safe
//! point can fall inside `x = x + f()`, so another maatine on the same OS
//! thread must still be excluded. In single-threaded mode only one OS thread
//! touches any word, so the fast paths use a plain load and store instead of
//! a compare-and-swap. Only an unshared variable (the caller's decision) skips
//! the lock altogether.
//!
//! # Re-entrancy
//!
//! The holder may lock again (`x = x + f()` where `f` itself updates `x`);
//! each lock needs its unlock. Atomicity is against *other* maatines: within
//! one maatine evaluation stays sequential, so in that example the outer
//! assignment, having read `x` before calling `f`, overwrites `f`'s update,
//! exactly as a single-threaded program would.

use core::fmt;

use crate::id::MaatineId;
use crate::mode::ThreadMode;
use crate::park::Parker;
use crate::shim::{AtomicU8, AtomicU32, AtomicU64, Ordering, Stopwatch};
use crate::spin::{self, Attempt};
use crate::waitgraph::{Deadlock, VarLockTable};

pub(crate) const WAITERS: u64 = 1 << 63;
pub(crate) const HOLDER: u64 = WAITERS - 1;
pub(crate) const HANDOFF: u32 = u32::MAX;

/// The lock of one variable slot: 16 bytes, no allocation.
#[derive(Debug, Default)]
pub struct VarLock {
    pub(crate) word: AtomicU64,
    pub(crate) depth: AtomicU32,
    /// The adaptive spin budget (see [`crate::spin`]).
    spin_estimate: AtomicU8,
}

/// One maatine's attempt to lock a variable, kept across retries so that its
/// waiting time counts toward the starvation bound.
#[derive(Debug)]
pub struct LockRequest {
    pub(crate) me: MaatineId,
    pub(crate) name: std::sync::Arc<str>,
    pub(crate) stopwatch: Option<StopwatchSlot>,
}

/// Opaque holder of the waiting time of a [`LockRequest`].
pub(crate) struct StopwatchSlot(pub(crate) Stopwatch);

impl fmt::Debug for StopwatchSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Stopwatch")
    }
}

impl LockRequest {
    /// A request by maatine `me` for the variable called `name` (the name is
    /// what a deadlock report shows).
    pub fn new(me: MaatineId, name: impl Into<std::sync::Arc<str>>) -> Self {
        Self { me, name: name.into(), stopwatch: None }
    }

    /// The requesting maatine.
    pub fn maatine(&self) -> MaatineId {
        self.me
    }
}

/// The outcome of [`VarLock::lock`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockStatus {
    /// The caller holds the lock.
    Acquired,
    /// The caller is queued and its parker chose [`Wait::Suspend`](crate::Wait::Suspend):
    /// repeat the same call with the same request once the waker has run.
    Suspended,
}

/// Unlocking a variable lock the caller does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotHolder {
    /// Who tried to unlock.
    pub caller: MaatineId,
    /// Who holds the lock, if anyone.
    pub holder: Option<MaatineId>,
}

impl fmt::Display for NotHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.holder {
            Some(h) => write!(f, "{} unlocked a variable lock held by {h}", self.caller),
            None => write!(f, "{} unlocked a variable lock that is not held", self.caller),
        }
    }
}

impl std::error::Error for NotHolder {}

impl VarLock {
    /// A new, free lock. An all-zero lock is a valid free lock.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self { word: AtomicU64::new(0), depth: AtomicU32::new(0), spin_estimate: AtomicU8::new(0) }
    }

    /// A new, free lock.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self { word: AtomicU64::new(0), depth: AtomicU32::new(0), spin_estimate: AtomicU8::new(0) }
    }

    /// The current holder. A snapshot unless the caller is the holder.
    pub fn holder(&self) -> Option<MaatineId> {
        MaatineId::new(self.word.load(Ordering::Relaxed) & HOLDER)
    }

    /// Locks the variable for `request`'s maatine, waiting through `parker`
    /// while another maatine holds it. Returns an error instead of waiting when
    /// the wait would close a cycle of maatines waiting for each other.
    #[inline]
    pub fn lock<P: Parker>(
        &self,
        table: &VarLockTable,
        mode: &ThreadMode,
        request: &mut LockRequest,
        parker: &P,
    ) -> Result<LockStatus, Deadlock> {
        loop {
            if self.try_lock(mode, request.me) || (mode.is_multi() && self.spin(request.me)) {
                request.stopwatch = None;
                return Ok(LockStatus::Acquired);
            }
            let starving = request
                .stopwatch
                .get_or_insert_with(|| StopwatchSlot(Stopwatch::start()))
                .0
                .reached(crate::STARVATION_BOUND);
            if table.acquire_or_enqueue(self, mode, request, starving, parker.waker())? {
                request.stopwatch = None;
                return Ok(LockStatus::Acquired);
            }
            if parker.wait() == crate::Wait::Suspend {
                return Ok(LockStatus::Suspended);
            }
        }
    }

    /// Locks the variable if it is free or already held by `me`; never waits.
    #[inline]
    pub fn try_lock(&self, mode: &ThreadMode, me: MaatineId) -> bool {
        self.try_lock_as(mode.is_multi(), me)
    }

    /// [`VarLock::try_lock`] on a lock no other OS thread can reach yet
    /// (the variable of one maatine): plain loads and stores. Taking it
    /// still matters: the variable may become shared while it is held, and
    /// from then on the word tells other maatines who holds it.
    #[inline]
    pub fn try_lock_local(&self, me: MaatineId) -> bool {
        self.try_lock_as(false, me)
    }

    #[inline]
    fn try_lock_as(&self, multi: bool, me: MaatineId) -> bool {
        let word = self.word.load(Ordering::Relaxed);
        if word == 0 {
            return self.claim_free(multi, me);
        }
        word & HOLDER == me.get() && self.reenter()
    }

    #[inline]
    fn claim_free(&self, multi: bool, me: MaatineId) -> bool {
        if multi {
            // Acquire: see the previous holder's writes (its Release unlock).
            self.word.compare_exchange(0, me.get(), Ordering::Acquire, Ordering::Relaxed).is_ok()
        } else {
            // One OS thread: nobody else can touch the word in between; the
            // mode switch itself orders this against other threads.
            self.word.store(me.get(), Ordering::Relaxed);
            true
        }
    }

    /// Multi-threaded mode: spins while another OS thread's maatine holds the
    /// lock and nobody is queued (with one OS thread the holder cannot run
    /// while we spin, so single-threaded mode goes straight to the queue).
    fn spin(&self, me: MaatineId) -> bool {
        spin::spin(&self.spin_estimate, || {
            let word = self.word.load(Ordering::Relaxed);
            if word & WAITERS != 0 {
                Attempt::Stop
            } else if word == 0
                && self.word.compare_exchange_weak(0, me.get(), Ordering::Acquire, Ordering::Relaxed).is_ok()
            {
                Attempt::Acquired
            } else {
                Attempt::Busy
            }
        })
    }

    /// The holder locks again, or claims a lock handed to it while it waited.
    fn reenter(&self) -> bool {
        let depth = self.depth.load(Ordering::Relaxed);
        if depth == HANDOFF {
            // Acquire fence: pairs with the Release store of the word that
            // handed us the lock, ordering the previous holder's writes first.
            core::sync::atomic::fence(Ordering::Acquire);
            self.depth.store(0, Ordering::Relaxed);
        } else {
            assert!(depth < HANDOFF - 1, "variable lock re-entered 4 billion times");
            self.depth.store(depth + 1, Ordering::Relaxed);
        }
        true
    }

    /// Releases one acquisition by `me`. Waiters are woken when the last
    /// re-entrant acquisition is released.
    #[inline]
    pub fn unlock(&self, table: &VarLockTable, mode: &ThreadMode, me: MaatineId) -> Result<(), NotHolder> {
        let Some(word) = self.release_depth(me)? else { return Ok(()) };
        if word & WAITERS == 0 && self.release_fast(mode.is_multi(), me) {
            return Ok(());
        }
        table.release(self, me);
        Ok(())
    }

    /// [`VarLock::unlock`] of a lock taken with [`VarLock::try_lock_local`]
    /// whose variable is still reachable by one maatine only: nobody can
    /// have queued for it, so it needs no table.
    #[inline]
    pub fn unlock_local(&self, me: MaatineId) -> Result<(), NotHolder> {
        if let Some(word) = self.release_depth(me)? {
            debug_assert!(word & WAITERS == 0, "a local variable lock has no waiters");
            self.release_fast(false, me);
        }
        Ok(())
    }

    /// Whether `me` holds the lock exactly once: its next unlock releases it.
    #[inline]
    pub fn held_once_by(&self, me: MaatineId) -> bool {
        self.word.load(Ordering::Relaxed) & HOLDER == me.get() && self.depth.load(Ordering::Relaxed) == 0
    }

    /// Checks that `me` holds the lock and drops one re-entrant
    /// acquisition: `None` when that was not the last one, otherwise the
    /// word to release.
    #[inline]
    fn release_depth(&self, me: MaatineId) -> Result<Option<u64>, NotHolder> {
        let word = self.word.load(Ordering::Relaxed);
        let depth = self.depth.load(Ordering::Relaxed);
        if word & HOLDER != me.get() || depth == HANDOFF {
            return Err(NotHolder { caller: me, holder: MaatineId::new(word & HOLDER) });
        }
        if depth > 0 {
            self.depth.store(depth - 1, Ordering::Relaxed);
            return Ok(None);
        }
        Ok(Some(word))
    }

    #[inline]
    fn release_fast(&self, multi: bool, me: MaatineId) -> bool {
        if multi {
            // Release: publish the critical section. Fails if a waiter set
            // WAITERS meanwhile; the table then takes over.
            self.word.compare_exchange(me.get(), 0, Ordering::Release, Ordering::Relaxed).is_ok()
        } else {
            self.word.store(0, Ordering::Release);
            true
        }
    }

    pub(crate) fn key(&self) -> usize {
        core::ptr::from_ref(self) as usize
    }
}

//! Variable cells: one variable's 8-byte value and its [`VarLock`], with the
//! protocol that lets a read-modify-write of the variable run either as a
//! section under the lock (`x = x + f()`, any Maat code in between) or as one
//! compare-and-swap (`x = x + 1`, a pure function of the old value), and
//! never lose an update between the two.
//!
//! # The states
//!
//! ```text
//!   open     bits = the value                 held = (stale)
//!   sealed   bits = SEALED                    held = the value
//!
//!   open   --seal-->   sealed   the lock's holder, at its outermost begin:
//!                               held = bits, then CAS bits: value -> SEALED
//!                               (retried with the new value if an update
//!                               came in between)
//!   sealed --unseal--> open     the holder, at its outermost end, before it
//!                               unlocks: bits = held
//! ```
//!
//! Who does what:
//!
//! - **read** (anyone, never waits): `bits`, or `held` when `bits` is
//!   `SEALED`;
//! - **update** (anyone, lock-free): while open, CAS `bits` from the value it
//!   read to the function of it; a failed CAS retries on the value it saw, a
//!   sealed cell refuses (the caller then begins a section and waits for the
//!   lock like any other);
//! - **seal, store, unseal**: only the lock's holder, so at most one section
//!   is open, and while it is, `bits` does not change: an update's CAS fails
//!   on `SEALED`, a second section waits for the lock.
//!
//! So a section sees no write but its own between its read and its write,
//! and an update is one atomic step that either comes entirely before a
//! section's seal or entirely after its unseal: no update is lost.
//!
//! A cell may instead be a **published** one: nothing writes it but
//! [`VarCell::publish`], whose calls a lock of the caller's orders. It stays
//! open, and a read of it is the one load of `bits`.
//!
//! `SEALED` is `u64::MAX`; the cell's user must never store it (the VM's
//! values are NaN-boxed and never have these bits).
//!
//! # Orderings
//!
//! - Seal: the value is read with Acquire and copied into `held` with
//!   Release before the CAS that seals (Release), so a reader that sees
//!   `SEALED` (Acquire) reads that value of `held` or a later one, and
//!   one that saw an earlier section's `SEALED` and reads this copy sees
//!   what the value's writer published. The CAS is also Acquire: the
//!   sealer sees every update's writes before it, as a lock acquisition
//!   would.
//! - Store in a section: `held` Release, read Acquire: publishes what the
//!   stored value refers to.
//! - Unseal: `bits` Release, before the unlock's own Release.
//! - Update: the CAS is AcqRel, so an update orders against the updates and
//!   sections before and after it exactly as a section under the lock
//!   would; its first load may be Relaxed because the value it read is only
//!   trusted once the CAS confirms it.
//!
//! # Owner cells
//!
//! A variable that one maatine alone can reach (`shared == false`) follows
//! the same state machine with plain loads and stores, and its sections take
//! the lock with [`VarLock::try_lock_local`]: the variable may become shared
//! in the middle of a section (the section's code passes a closure over it
//! to a new maatine), and from that moment on the sealed value and the held
//! lock make other maatines wait, as they would for a section begun shared.
//! What makes the transition safe is the sharing itself: it publishes the
//! cell (with Release) before any other thread can reach it.

use crate::id::MaatineId;
use crate::mode::ThreadMode;
use crate::park::Parker;
use crate::shim::{AtomicU64, Ordering, spin_hint, yield_thread};
use crate::varlock::{LockRequest, LockStatus, NotHolder, VarLock};
use crate::waitgraph::{Deadlock, VarLockTable};

/// The bits of a sealed cell's `bits` word; never a value.
pub const SEALED: u64 = u64::MAX;

/// One variable: its value and its lock (32 bytes).
#[derive(Debug)]
pub struct VarCell {
    lock: VarLock,
    bits: AtomicU64,
    held: AtomicU64,
}

/// How a lock-free [`VarCell::update`] went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// Done, after this many failed compare-and-swaps (other updates that
    /// came in between).
    Done {
        /// Failed attempts before the one that succeeded.
        retries: u32,
    },
    /// Not done: the function refused the value, or another maatine's
    /// section holds the variable (begin a section instead).
    Refused,
}

impl VarCell {
    /// A cell holding `bits` (anything but [`SEALED`]).
    #[cfg(not(loom))]
    pub const fn new(bits: u64) -> Self {
        Self { lock: VarLock::new(), bits: AtomicU64::new(bits), held: AtomicU64::new(0) }
    }

    /// A cell holding `bits` (anything but [`SEALED`]).
    #[cfg(loom)]
    pub fn new(bits: u64) -> Self {
        Self { lock: VarLock::new(), bits: AtomicU64::new(bits), held: AtomicU64::new(0) }
    }

    /// Gives up `me`'s request for the variable's lock, which it will never
    /// retry ([`VarLockTable::abandon`]).
    pub fn abandon(&self, table: &VarLockTable, mode: &ThreadMode, me: MaatineId) {
        table.abandon(&self.lock, mode, me);
    }

    /// The maatine whose section holds the variable, if any (a snapshot).
    pub fn holder(&self) -> Option<MaatineId> {
        self.lock.holder()
    }

    /// The value: one or two atomic loads, never a wait. It is the value of
    /// some moment between the call and its return.
    #[inline]
    pub fn load(&self) -> u64 {
        // Acquire: see what the writer of the value published (pairs with
        // the Release of every store of `bits` and `held`).
        let bits = self.bits.load(Ordering::Acquire);
        if bits == SEALED { self.held.load(Ordering::Acquire) } else { bits }
    }

    /// Begins a section for `request`'s maatine: takes the lock (waiting
    /// through `parker`, or reporting a deadlock instead), and seals the
    /// value at the outermost section. `shared`: whether other maatines
    /// may reach the variable.
    pub fn begin<P: Parker>(
        &self,
        table: &VarLockTable,
        mode: &ThreadMode,
        request: &mut LockRequest,
        parker: &P,
        shared: bool,
    ) -> Result<LockStatus, Deadlock> {
        if !shared {
            self.begin_local(request.maatine());
            return Ok(LockStatus::Acquired);
        }
        let status = self.lock.lock(table, mode, request, parker)?;
        if status == LockStatus::Acquired {
            self.seal();
        }
        Ok(status)
    }

    /// Begins a section if that needs no waiting (the lock is free or
    /// already `me`'s); `false` otherwise, and nothing changed.
    #[inline]
    pub fn try_begin(&self, mode: &ThreadMode, me: MaatineId, shared: bool) -> bool {
        if !shared {
            self.begin_local(me);
            return true;
        }
        let locked = self.lock.try_lock(mode, me);
        if locked {
            self.seal();
        }
        locked
    }

    fn begin_local(&self, me: MaatineId) {
        let locked = self.lock.try_lock_local(me);
        debug_assert!(locked, "only the owner takes the lock of an unshared variable");
        let bits = self.bits.load(Ordering::Relaxed);
        if bits != SEALED {
            self.held.store(bits, Ordering::Relaxed);
            self.bits.store(SEALED, Ordering::Relaxed);
        }
    }

    /// The lock's holder seals the value, unless its outer section did.
    fn seal(&self) {
        // Acquire (here and on a failed CAS): the value copied into `held`
        // below must carry what its writer published with it, since a
        // reader may take it from `held`.
        let mut bits = self.bits.load(Ordering::Acquire);
        // Held by us: only our own outer section can have sealed it.
        while bits != SEALED {
            // Release: a reader that saw the previous section's SEALED may
            // read `held` now, before this seal's CAS, and find this copy
            // of the value; it must see what the value refers to. (With a
            // Relaxed store, it read the previous writer's objects without
            // a happens-before edge: the loom model
            // `a_version_is_published_whole_and_later_reads_see_the_commit`
            // found it.)
            self.held.store(bits, Ordering::Release);
            // AcqRel: Release publishes `held` to readers that see SEALED;
            // Acquire orders every update before the seal before this
            // section. Weak: a spurious failure just goes round again.
            match self.bits.compare_exchange_weak(bits, SEALED, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => bits = now,
            }
        }
    }

    /// Ends `me`'s section: unseals at the outermost end, then unlocks.
    /// `shared`: as now (the variable may have become shared since the
    /// section began).
    pub fn end(&self, table: &VarLockTable, mode: &ThreadMode, me: MaatineId, shared: bool) -> Result<(), NotHolder> {
        if self.lock.held_once_by(me) && self.bits.load(Ordering::Relaxed) == SEALED {
            // Sealed by this section: nobody else writes `bits` now.
            // Release: publishes the section's last store with the value.
            self.bits.store(self.held.load(Ordering::Relaxed), Ordering::Release);
        }
        if shared { self.lock.unlock(table, mode, me) } else { self.lock.unlock_local(me) }
    }

    /// Stores `bits` in `me`'s open section (or in an unshared cell outside
    /// any section) and returns the value it replaces.
    #[inline]
    pub fn replace(&self, me: MaatineId, bits: u64, shared: bool) -> Result<u64, NotHolder> {
        debug_assert_ne!(bits, SEALED, "SEALED is not a value");
        let now = self.bits.load(Ordering::Relaxed);
        if now == SEALED && self.lock.holder() == Some(me) {
            // Only the holder writes `held` while sealed. Release: publishes
            // what the value refers to (readers load it with Acquire).
            let old = self.held.load(Ordering::Relaxed);
            self.held.store(bits, Ordering::Release);
            return Ok(old);
        }
        if shared || now == SEALED {
            return Err(NotHolder { caller: me, holder: self.lock.holder() });
        }
        self.bits.store(bits, Ordering::Release);
        Ok(now)
    }

    /// Stores `bits` in a cell that nothing but this call writes, and whose
    /// calls a lock outside the cell orders one after the other (a versioned
    /// root's current version, stored under its writers' section): one
    /// Release store, which [`VarCell::load`]'s Acquire pairs with, and no
    /// section of its own, so that a cell that many threads read is written
    /// once per value. Returns the value it replaces.
    ///
    /// With another writer (a section, an update, a `replace`, or a second
    /// `publish` not ordered after this one) a value may be lost: the
    /// caller's lock is what makes this store the only one.
    #[inline]
    pub fn publish(&self, bits: u64) -> u64 {
        debug_assert_ne!(bits, SEALED, "SEALED is not a value");
        // Relaxed: the caller's lock orders this call after the one before,
        // whose store it reads (that lock's Acquire made it visible).
        let old = self.bits.load(Ordering::Relaxed);
        debug_assert_ne!(old, SEALED, "a published cell is never sealed");
        // Release: publishes what the value refers to.
        self.bits.store(bits, Ordering::Release);
        old
    }

    /// Replaces the value `v` with `f(v)` as one atomic step, without the
    /// lock, unless `f` refuses (`None`) or another maatine's section holds
    /// the variable. `f` may be called several times (once per attempt) and
    /// must be a pure function of the value; inside `me`'s own section it
    /// updates the section's value.
    #[inline(always)]
    pub fn update(
        &self,
        mode: &ThreadMode,
        me: MaatineId,
        shared: bool,
        mut f: impl FnMut(u64) -> Option<u64>,
    ) -> Update {
        let mut bits = self.bits.load(Ordering::Relaxed);
        if bits == SEALED {
            return self.update_sealed(me, f);
        }
        // Unshared, or one OS thread: one writer at a time (the owner, or
        // this thread, on which no other maatine runs between the load and
        // the store), so a plain store is the atomic step.
        let plain = !shared || !mode.is_multi();
        let mut retries = 0;
        // One call of `f` in the loop, so that it is inlined here.
        loop {
            let Some(new) = f(bits) else { return Update::Refused };
            debug_assert_ne!(new, SEALED, "SEALED is not a value");
            if plain {
                self.bits.store(new, Ordering::Release);
                return Update::Done { retries };
            }
            // AcqRel: see the module doc. Relaxed on failure: the value seen
            // is discarded (the backoff reloads it).
            match self.bits.compare_exchange_weak(bits, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Update::Done { retries },
                Err(_) => {
                    retries += 1;
                    backoff(retries);
                    // Relaxed: as the first load, a guess the CAS confirms.
                    bits = self.bits.load(Ordering::Relaxed);
                    if bits == SEALED {
                        return Update::Refused;
                    }
                }
            }
        }
    }

    /// An update of a sealed cell: only inside `me`'s own section.
    fn update_sealed(&self, me: MaatineId, mut f: impl FnMut(u64) -> Option<u64>) -> Update {
        if self.lock.holder() != Some(me) {
            return Update::Refused;
        }
        let Some(new) = f(self.held.load(Ordering::Relaxed)) else { return Update::Refused };
        self.held.store(new, Ordering::Release);
        Update::Done { retries: 0 }
    }
}

/// Bounded exponential backoff after the `retries`-th failed CAS of one
/// update: 128, 256, ... up to 2048 spin hints (a hint is about 23 ns on the
/// EPYC machines of docs/sync.md, so at most about 50 µs), and from the third
/// failure on, an offer of the OS thread's time slice as well.
///
/// A failed CAS means another OS thread wrote the line just now; retrying at
/// once keeps the line moving between the cores on every update, which is
/// slower than a mutex. Waiting lets the winner run a burst of updates with
/// the line in its own cache. Repeated failures mean the winner is running
/// a long burst: with more OS threads than cores, spinning would keep a
/// runnable thread (perhaps the winner) off a core, so the loser yields.
/// The bound keeps the loser's wait short, and it is not starved: each wait
/// ends in a new attempt, and the winner leaves the line whenever its own
/// loop does anything else.
#[inline(never)]
fn backoff(retries: u32) {
    for _ in 0..(64u32 << retries.min(5)) {
        spin_hint();
    }
    if retries > 2 {
        yield_thread();
    }
}

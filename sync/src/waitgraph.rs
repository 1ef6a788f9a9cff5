//! The runtime's variable-lock table: wait queues for contended variable
//! locks and the wait-for graph that detects deadlocks.
//!
//! # Invariants (under the table's mutex)
//!
//! 1. A lock has a queue here iff its word has WAITERS set.
//! 2. While WAITERS is set, the word changes only under this mutex (the fast
//!    paths need WAITERS clear), so `Queue::holder` is exactly the word's
//!    holder.
//! 3. `waits_on[m] = k` iff maatine `m` is in the queue of lock `k`. A queued
//!    maatine runs no Maat code until it is dequeued (woken), so it releases
//!    nothing while it waits.
//!
//! # Deadlock detection
//!
//! The wait-for graph has an edge waiter -> lock -> holder. Each maatine waits
//! for at most one lock, so from the lock a maatine is about to wait for, the
//! path through holders and the locks they wait for is unique. If it comes back
//! to the requester, every maatine on it is queued (3) behind a lock whose
//! holder is exact (2) and can therefore never be released: a true deadlock,
//! never a false alarm. The requester that would close the cycle is refused
//! with a [`Deadlock`] naming every maatine and variable on the cycle; it is
//! not queued, so once it unwinds (releasing its own locks) the others
//! proceed.
//!
//! # Abandoned requests
//!
//! A maatine that will never retry a lock request (it was stopped while it
//! waited: interrupted, or over a limit) gives it up with
//! [`VarLockTable::abandon`]. Still queued, it leaves the queue (and the last
//! waiter to leave clears WAITERS, keeping invariant 1). Already woken, it
//! passes the wake-up on: a release wakes one waiter to retry and the
//! others wait for it, so a woken waiter that never retries would leave
//! them queued behind a free lock forever. A lock handed to it is released
//! as its holder would.
//!
//! # Fairness
//!
//! Releasing a lock that has waiters wakes the oldest one. Normally the lock
//! becomes free and the woken maatine competes with others (barging keeps
//! throughput high). A waiter that has waited longer than
//! [`STARVATION_BOUND`](crate::STARVATION_BOUND) is queued as starving, and a
//! release hands the lock to a starving head waiter directly.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::task::Waker;

use crate::id::MaatineId;
use crate::mode::ThreadMode;
use crate::shim::{Mutex, Ordering};
use crate::varlock::{HANDOFF, HOLDER, LockRequest, VarLock, WAITERS};

/// Wait queues and the wait-for graph of one runtime's variable locks.
#[derive(Debug, Default)]
pub struct VarLockTable {
    state: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    queues: HashMap<usize, Queue>,
    waits_on: HashMap<MaatineId, usize>,
}

#[derive(Debug)]
struct Queue {
    holder: Option<MaatineId>,
    name: Arc<str>,
    waiters: VecDeque<Waiter>,
}

#[derive(Debug)]
struct Waiter {
    id: MaatineId,
    waker: Waker,
    starving: bool,
}

/// One edge of a deadlock cycle: `waiter` waits for `variable`, which
/// `holder` holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitLink {
    /// The waiting maatine.
    pub waiter: MaatineId,
    /// The variable it waits for.
    pub variable: Arc<str>,
    /// The maatine holding that variable.
    pub holder: MaatineId,
}

/// A wait that would never end: the cycle of maatines waiting for each other,
/// starting with the maatine whose request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deadlock {
    /// The cycle; the last link's holder is the first link's waiter.
    pub cycle: Vec<WaitLink>,
}

impl fmt::Display for Deadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadlock: ")?;
        for (i, link) in self.cycle.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} waits for `{}` held by {}", link.waiter, link.variable, link.holder)?;
        }
        Ok(())
    }
}

impl std::error::Error for Deadlock {}

impl VarLockTable {
    /// An empty table; one per runtime (maatine ids are per runtime).
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of maatines queued on some variable lock.
    pub fn waiting(&self) -> usize {
        self.state.lock().waits_on.len()
    }

    /// Slow path of [`VarLock::lock`]: takes the lock if it is free, otherwise
    /// queues the requester (returns `Ok(false)`) unless that closes a cycle.
    pub(crate) fn acquire_or_enqueue(
        &self,
        lock: &VarLock,
        mode: &ThreadMode,
        request: &LockRequest,
        starving: bool,
        waker: Waker,
    ) -> Result<bool, Deadlock> {
        let me = request.me;
        let key = lock.key();
        let mut table = self.state.lock();
        let holder = loop {
            let word = lock.word.load(Ordering::Relaxed);
            let holder = word & HOLDER;
            if holder == 0 || holder == me.get() {
                if lock.try_lock(mode, me) || table.claim_queued(lock, word, me) {
                    return Ok(true);
                }
                continue;
            }
            let holder = MaatineId::new(holder).expect("holder bits are a valid id");
            // Checked before WAITERS is set: a cycle consists of queued
            // maatines only, which cannot release anything concurrently.
            if let Some(cycle) = table.cycle_through(me, key, holder, &request.name) {
                return Err(Deadlock { cycle });
            }
            if word & WAITERS != 0
                || lock.word.compare_exchange(word, word | WAITERS, Ordering::Relaxed, Ordering::Relaxed).is_ok()
            {
                break holder;
            }
        };
        let queue = table.queues.entry(key).or_insert_with(|| Queue {
            holder: Some(holder),
            name: Arc::clone(&request.name),
            waiters: VecDeque::new(),
        });
        queue.waiters.push_back(Waiter { id: me, waker, starving });
        table.waits_on.insert(me, key);
        Ok(false)
    }

    /// Gives up `me`'s request for `lock`, which it will never retry (see
    /// "Abandoned requests" above). Harmless when `me` holds the lock
    /// normally or never asked for it.
    pub fn abandon(&self, lock: &VarLock, mode: &ThreadMode, me: MaatineId) {
        let key = lock.key();
        let mut table = self.state.lock();
        if table.waits_on.get(&me) == Some(&key) {
            table.waits_on.remove(&me);
            // Invariant 3: it is in this lock's queue.
            let queue = table.queues.get_mut(&key).expect("a queued maatine's lock has a queue");
            queue.waiters.retain(|w| w.id != me);
            if queue.waiters.is_empty() {
                table.queues.remove(&key);
                // Invariant 1: no queue, no WAITERS. Relaxed: under the
                // mutex (invariant 2); clearing the flag publishes nothing,
                // it only lets the holder's fast release through.
                lock.word.fetch_and(!WAITERS, Ordering::Relaxed);
            }
            return;
        }
        let word = lock.word.load(Ordering::Relaxed);
        if word & HOLDER == me.get() && lock.depth.load(Ordering::Relaxed) == HANDOFF {
            // Handed to it while it waited: claim the lock (its Acquire
            // fence, in `reenter`), then release it as a holder would.
            drop(table);
            let claimed = lock.try_lock(mode, me);
            debug_assert!(claimed, "a lock handed to `me` is `me`'s");
            lock.unlock(self, mode, me).expect("the lock was handed to `me`");
            return;
        }
        if word == WAITERS {
            // Free, with waiters: it was woken to retry (or another was);
            // wake the next instead. A spare wake-up only makes a waiter
            // retry and queue again.
            self.wake_next(table, lock, key);
        }
    }

    /// Wakes the oldest waiter of `lock` (free, WAITERS set) to retry,
    /// leaving the lock free; clears WAITERS if it was the last one.
    fn wake_next(&self, mut table: crate::shim::MutexGuard<'_, Table>, lock: &VarLock, key: usize) {
        let queue = table.queues.get_mut(&key).expect("a lock with WAITERS set has a queue");
        let next = queue.waiters.pop_front().expect("queues are removed when they empty");
        if queue.waiters.is_empty() {
            table.queues.remove(&key);
            // Relaxed: as in `abandon`; the word is free.
            lock.word.fetch_and(!WAITERS, Ordering::Relaxed);
        }
        table.waits_on.remove(&next.id);
        drop(table);
        next.waker.wake();
    }

    /// Slow path of [`VarLock::unlock`]: the holder saw WAITERS, so wake the
    /// oldest waiter and either free the lock or hand it over.
    pub(crate) fn release(&self, lock: &VarLock, me: MaatineId) {
        let key = lock.key();
        let mut table = self.state.lock();
        debug_assert_eq!(lock.word.load(Ordering::Relaxed) & HOLDER, me.get());
        // Invariant 1. Every waiter may have abandoned its request since the
        // holder saw WAITERS: no queue, WAITERS clear, a plain release.
        let Some(queue) = table.queues.get_mut(&key) else {
            // Release: publishes the critical section to the next acquirer.
            lock.word.store(0, Ordering::Release);
            return;
        };
        let next = queue.waiters.pop_front().expect("queues are removed when they empty");
        let more = !queue.waiters.is_empty();
        let flag = if more { WAITERS } else { 0 };
        if next.starving {
            lock.depth.store(HANDOFF, Ordering::Relaxed);
            #[cfg(loom)]
            crate::model_counters::VAR_HANDOFFS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            queue.holder = Some(next.id);
            // Release: the new holder's Acquire fence orders our writes first.
            lock.word.store(next.id.get() | flag, Ordering::Release);
        } else {
            queue.holder = None;
            // Release: publishes the critical section to the next acquirer.
            lock.word.store(flag, Ordering::Release);
        }
        if !more {
            table.queues.remove(&key);
        }
        table.waits_on.remove(&next.id);
        drop(table);
        next.waker.wake();
    }
}

impl Table {
    /// Takes a free lock whose word has WAITERS set (the fast path refuses
    /// those); keeps the queue's holder exact.
    fn claim_queued(&mut self, lock: &VarLock, word: u64, me: MaatineId) -> bool {
        if word != WAITERS {
            return false;
        }
        // Acquire: see the previous holder's writes (its Release store).
        let claimed = lock.word.compare_exchange(word, word | me.get(), Ordering::Acquire, Ordering::Relaxed).is_ok();
        if claimed && let Some(queue) = self.queues.get_mut(&lock.key()) {
            queue.holder = Some(me);
        }
        claimed
    }

    /// The cycle that `me` waiting for lock `key` (held by `holder`) would
    /// close, if any.
    fn cycle_through(&self, me: MaatineId, key: usize, holder: MaatineId, name: &Arc<str>) -> Option<Vec<WaitLink>> {
        let variable = self.queues.get(&key).map_or_else(|| Arc::clone(name), |q| Arc::clone(&q.name));
        let mut cycle = vec![WaitLink { waiter: me, variable, holder }];
        let mut current = holder;
        while current != me {
            let next_key = self.waits_on.get(&current)?;
            let queue = self.queues.get(next_key)?;
            let next = queue.holder?;
            cycle.push(WaitLink { waiter: current, variable: Arc::clone(&queue.name), holder: next });
            if cycle.len() > self.waits_on.len() + 1 {
                return None;
            }
            current = next;
        }
        Some(cycle)
    }
}

//! Synchronization counters, per maatine: object operations that took their
//! lock or elided it, and, when the runtime counts contention (`--stats`),
//! what each variable and each shared object cost its users.
//!
//! Each maatine counts in its own cells (it runs on one OS thread at a
//! time), so counting adds no atomic instruction and no shared cache line;
//! the scheduler sums a maatine's counts when it finishes
//! (`ContentionTotals::add`). When contention is not counted the variable
//! counters are an empty slice and the object map is absent: a record is one
//! failed bounds check, or one test of an `Option`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use maat_sync::{AdaptiveLock, MaybeGuard};

/// One maatine's counters.
#[derive(Debug, Default)]
pub struct SyncStats {
    taken: Cell<u64>,
    elided: Cell<u64>,
    /// One per global variable, then one for all captured variables; empty
    /// when contention is not counted.
    vars: Box<[Cell<VarStats>]>,
    /// Shared objects whose lock this maatine took, by address (an object
    /// freed and another made at its address share an entry).
    objects: Option<RefCell<HashMap<usize, ObjectStats>>>,
}

/// What one variable cost, summed over maatines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VarStats {
    /// Read-modify-write sections and plain writes (each takes the
    /// variable's lock, or its owner's plain equivalent).
    pub sections: u64,
    /// Updates (`x += k`) done as one compare-and-swap, without the lock.
    pub updates: u64,
    /// Failed compare-and-swaps in those updates (another thread's update
    /// came in between).
    pub retries: u64,
    /// Sections that found the variable held by another maatine (including
    /// updates that found it so and became sections).
    pub contended: u64,
    /// Sections whose maatine was parked until the variable was released.
    pub waits: u64,
    /// Time spent parked.
    pub waited: Duration,
    /// The longest of those waits.
    pub longest: Duration,
}

/// What one shared object's lock cost, summed over maatines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectStats {
    /// The object's type (`Array`, `Map`, `Instance`, ...).
    pub kind: &'static str,
    /// Operations that took its lock.
    pub taken: u64,
    /// Of those, operations that found it held.
    pub contended: u64,
    /// Time spent getting it when it was held (spinning or parked).
    pub waited: Duration,
    /// The longest of those waits.
    pub longest: Duration,
}

impl VarStats {
    fn merge(&mut self, other: &VarStats) {
        self.sections += other.sections;
        self.updates += other.updates;
        self.retries += other.retries;
        self.contended += other.contended;
        self.waits += other.waits;
        self.waited += other.waited;
        self.longest = self.longest.max(other.longest);
    }
}

impl ObjectStats {
    fn merge(&mut self, other: &ObjectStats) {
        self.taken += other.taken;
        self.contended += other.contended;
        self.waited += other.waited;
        self.longest = self.longest.max(other.longest);
    }
}

fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

impl SyncStats {
    /// Counters that also count contention, for a program with `globals`
    /// global variables.
    pub fn counting(globals: usize) -> Self {
        let vars = (0..=globals).map(|_| Cell::default()).collect();
        Self { vars, objects: Some(RefCell::default()), ..Self::default() }
    }

    /// Operations that took the object's lock.
    pub fn taken(&self) -> u64 {
        self.taken.get()
    }

    /// Operations that elided it.
    pub fn elided(&self) -> u64 {
        self.elided.get()
    }

    /// Whether contention is counted.
    #[inline]
    pub fn counts(&self) -> bool {
        !self.vars.is_empty()
    }

    /// The index of global `g` in the variable counters.
    pub fn global(g: u32) -> usize {
        g as usize
    }

    /// The index that stands for every captured variable: after the
    /// globals.
    pub fn captured(&self) -> usize {
        self.vars.len().saturating_sub(1)
    }

    /// Adds `change` to variable `var`'s counts, if they are kept. Out of
    /// line, and reached only when contention is counted: inlined into the
    /// interpreter's fast loop, growing `VarStats` by one field cost every
    /// Are-We-Fast-Yet program 0.4–2.8% more instructions.
    #[cold]
    #[inline(never)]
    fn count(&self, var: usize, change: VarStats) {
        if let Some(c) = self.vars.get(var) {
            let mut v = c.get();
            v.merge(&change);
            c.set(v);
        }
    }

    /// Counts a lock-free update of variable `var` that took `retries`
    /// failed attempts.
    #[inline]
    pub fn updated(&self, var: usize, retries: u32) {
        if self.counts() {
            self.count(var, VarStats { updates: 1, retries: u64::from(retries), ..VarStats::default() });
        }
    }

    /// Counts a section of variable `var`; `contended`: it found another
    /// maatine holding it; `waited`: how long it was parked for it, if it
    /// was.
    pub fn section(&self, var: usize, contended: bool, waited: Option<Duration>) {
        let waits = u64::from(waited.is_some());
        let waited = waited.unwrap_or_default();
        self.count(
            var,
            VarStats {
                sections: 1,
                contended: u64::from(contended),
                waits,
                waited,
                longest: waited,
                ..VarStats::default()
            },
        );
    }

    /// Takes `lock` if `needed`, counting the operation (and, when
    /// contention is counted, what the object `object` names, by address
    /// and type, cost). Inlined into every object operation: the counting
    /// of contention is out of line.
    #[inline(always)]
    pub(crate) fn lock_if<'l>(
        &self,
        lock: &'l AdaptiveLock,
        needed: bool,
        object: impl FnOnce() -> (usize, &'static str),
    ) -> MaybeGuard<'l> {
        if !needed {
            bump(&self.elided);
            return lock.lock_if(false);
        }
        bump(&self.taken);
        match &self.objects {
            None => lock.lock_if(true),
            Some(objects) => Self::lock_counted(objects, lock, object()),
        }
    }

    /// Takes `lock`, counting whether it was held and how long it took.
    #[inline(never)]
    fn lock_counted<'l>(
        objects: &RefCell<HashMap<usize, ObjectStats>>,
        lock: &'l AdaptiveLock,
        (address, kind): (usize, &'static str),
    ) -> MaybeGuard<'l> {
        let (guard, waited) = match lock.try_lock() {
            Some(guard) => (guard, None),
            None => {
                let start = Instant::now();
                let guard = lock.lock();
                (guard, Some(start.elapsed()))
            }
        };
        let mut objects = objects.borrow_mut();
        let entry = objects.entry(address).or_insert(ObjectStats { kind, ..ObjectStats::default() });
        let (contended, waited) = (u64::from(waited.is_some()), waited.unwrap_or_default());
        entry.merge(&ObjectStats { kind, taken: 1, contended, waited, longest: waited });
        guard.into()
    }
}

/// Contention summed over the maatines that finished.
#[derive(Debug, Default)]
pub(crate) struct ContentionTotals {
    pub(crate) vars: Vec<VarStats>,
    pub(crate) objects: HashMap<usize, ObjectStats>,
}

impl ContentionTotals {
    /// Adds a finished maatine's counts.
    pub(crate) fn add(&mut self, stats: &SyncStats) {
        if self.vars.len() < stats.vars.len() {
            self.vars.resize(stats.vars.len(), VarStats::default());
        }
        for (total, c) in self.vars.iter_mut().zip(stats.vars.iter()) {
            total.merge(&c.get());
        }
        let Some(objects) = &stats.objects else { return };
        for (&address, o) in objects.borrow().iter() {
            self.objects.entry(address).or_insert(ObjectStats { kind: o.kind, ..ObjectStats::default() }).merge(o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_add_up_and_the_longest_is_kept_across_maatines() {
        let ms = Duration::from_millis;
        let (first, second) = (SyncStats::counting(1), SyncStats::counting(1));
        first.section(0, true, Some(ms(2)));
        first.section(0, true, Some(ms(5)));
        first.section(0, false, None);
        second.section(0, true, Some(ms(3)));
        let mut totals = ContentionTotals::default();
        totals.add(&first);
        totals.add(&second);
        let v = totals.vars[0];
        assert_eq!((v.sections, v.contended, v.waits), (4, 3, 3));
        assert_eq!((v.waited, v.longest), (ms(10), ms(5)), "the sum, and the longest single wait");
        assert_eq!(totals.vars[1], VarStats::default(), "another variable's counts are its own");
    }
}

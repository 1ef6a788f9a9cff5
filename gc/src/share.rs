//! Sharing and freezing: the one-way transitions that take objects out of
//! their heap's local collection.
//!
//! `share(v)` marks `v` and the not-yet-shared subgraph reachable from it
//! `SHARED`, stopping at objects already shared or frozen: each object is
//! marked at most once in its life (amortized O(1) per object). `freeze(v)`
//! marks the subgraph `FROZEN` (deeply immutable), stopping at frozen
//! objects. Both keep **Invariant S**: everything reachable from a shared
//! object is shared or frozen, and everything reachable from a frozen object
//! is frozen.
//!
//! Ordering: each flag is set with a Release RMW, and a reader loads it with
//! Acquire. The embedder publishes the shared value *after* `share` returns
//! (with a Release store of its own, e.g. into a global slot), so a thread
//! that receives the reference also sees every mark.

use core::ptr::NonNull;

use crate::any::GcAny;
use crate::collector::Collector;
use crate::header::{Flags, Header, SHARED_WHITE};
use crate::ptr::{Gc, Mutation};
use crate::trace::Tracer;

impl<'gc> Mutation<'gc> {
    /// Marks `gc` and everything reachable from it shared (see
    /// [`crate::share`]). Returns how many objects became shared.
    pub fn share(&self, gc: impl Into<GcAny<'gc>>) -> usize {
        self.collector.make_global(gc.into().header_ptr(), Flags::SHARED)
    }

    /// Marks `gc` and everything reachable from it frozen (deeply
    /// immutable). Returns how many objects became frozen. Writing to a
    /// frozen object is refused by [`Gc::try_write`].
    pub fn freeze(&self, gc: impl Into<GcAny<'gc>>) -> usize {
        self.collector.make_global(gc.into().header_ptr(), Flags::FROZEN)
    }
}

impl<'gc, T: 'gc> Gc<'gc, T> {
    /// Whether the object may be reachable from several maatines.
    pub fn is_shared(this: Self) -> bool {
        this.header().flags().contains(Flags::SHARED)
    }

    /// Whether the object is deeply immutable.
    pub fn is_frozen(this: Self) -> bool {
        this.header().flags().contains(Flags::FROZEN)
    }
}

/// The references the object behind `h` holds.
pub(crate) fn children(h: NonNull<Header>) -> Vec<NonNull<Header>> {
    let mut t = Tracer::listing();
    // SAFETY: callers pass live objects only.
    unsafe { (h.as_ref().vtable().trace)(h, &mut t) };
    t.take_listed()
}

impl Collector {
    /// Sets `flag` on the subgraph from `start` (see the module doc).
    pub(crate) fn make_global(&self, start: NonNull<Header>, flag: Flags) -> usize {
        let stop = if flag == Flags::SHARED { Flags::SHARED | Flags::FROZEN } else { Flags::FROZEN };
        let mut stack = vec![start];
        let mut marked = 0;
        while let Some(h) = stack.pop() {
            // SAFETY: reachable from a live handle within a mutation: live.
            let header = unsafe { h.as_ref() };
            if header.flags().intersects(stop) {
                continue;
            }
            if !header.is_global() {
                // Leaves the local colour domain (see `header`).
                header.set_white(SHARED_WHITE);
            }
            header.insert_flags(flag);
            marked += 1;
            stack.extend(children(h));
        }
        self.count_global(flag, marked);
        marked
    }
}

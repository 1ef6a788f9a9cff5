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
    /// Sets `flag` on the subgraph from `start` (see the module doc). Sharing
    /// an object this heap holds after a transfer (`SENT`) makes it plainly
    /// shared.
    pub(crate) fn make_global(&self, start: NonNull<Header>, flag: Flags) -> usize {
        let me = self.id();
        let marked = self.walk(start, |header| {
            let flags = header.flags();
            if flags.contains(Flags::FROZEN) {
                return false;
            }
            if flag == Flags::SHARED && flags.contains(Flags::SHARED) {
                let held = flags.contains(Flags::SENT) && header.owner() == me;
                if held {
                    header.clear_sent();
                }
                return held;
            }
            self.leave_local(header);
            header.insert_flags(flag);
            true
        });
        self.count_global(flag, marked);
        // Insertion barrier: `start` (global now) is about to be stored or
        // handed somewhere a heap that contributed may find it; and the
        // objects that became global, all reachable from it, are traced
        // from it (they may refer to global objects only this heap's
        // unshared objects held until now).
        self.shade_if_marking(start);
        marked
    }

    /// Visits the subgraph from `start` depth first, descending into the
    /// children of the objects `visit` returns true for (it changes their
    /// state, so nothing is visited twice); returns how many those were.
    pub(crate) fn walk(&self, start: NonNull<Header>, mut visit: impl FnMut(&Header) -> bool) -> usize {
        // SAFETY: `start` is reachable from a live handle within a
        // mutation: live.
        let header = unsafe { start.as_ref() };
        if header.vtable().leaf {
            // No children: no stack (a string shared as it is created).
            return visit(header) as usize;
        }
        let mut stack = vec![start];
        let mut visited = 0;
        while let Some(h) = stack.pop() {
            // SAFETY: reachable from a live handle within a mutation: live.
            if visit(unsafe { h.as_ref() }) {
                visited += 1;
                stack.extend(children(h));
            }
        }
        visited
    }

    /// An unshared object becomes global: it leaves the local colour domain
    /// (see `header`), and its bytes leave this heap's pacing (which only
    /// counts what local collections can free) for the space's shared
    /// pacing. During a shared marking it becomes white: it is not shaded
    /// here, since the walk that makes a subgraph global shades its start
    /// once all of it is global (see `make_global`), so a concurrent marker
    /// never traces an object whose children are still another heap's
    /// unshared objects. Between markings it takes the last marking's mark,
    /// as if that marking had reached it: then a global object outside a
    /// marking has the mark exactly when it is not garbage waiting for a
    /// sweep (what [`crate::weak`] relies on).
    pub(crate) fn leave_local(&self, header: &Header) {
        if !header.is_global() {
            let cycle = &self.space().inner.cycle;
            if cycle.marking() {
                header.set_white(SHARED_WHITE);
            } else {
                header.set_mark(cycle.mark());
            }
            let vtable = header.vtable();
            // SAFETY: a live object (the caller holds it).
            let owned = unsafe { (vtable.heap_size)(NonNull::from(header)) };
            self.total.set(self.total.get().saturating_sub(vtable.size() + owned));
            self.space().add_global_bytes(vtable.size());
        }
    }
}

//! Sharing and freezing: the one-way transitions that take objects out of
//! their heap's local collection.
//!
//! `share(v)` marks `v` and the not-yet-shared subgraph reachable from it
//! `SHARED`, stopping at objects already shared or frozen: each object is
//! marked at most once in its life (amortized O(1) per object). `freeze(v)`
//! marks the subgraph `FROZEN` (deeply immutable), stopping at frozen
//! objects. Both keep **Invariant S**: everything reachable from a shared
//! object is shared or frozen, and everything reachable from a frozen object
//! is frozen. `freeze_alone(v)` (unsafe) freezes `v` without the walk, for a
//! new object whose caller vouches that its parts are frozen.
//!
//! Freezing an object that is already shared must not let a reader, which
//! takes no lock on a frozen object, see the flag while another thread is
//! still writing the object: its flag is set inside the object's
//! [`Trace::exclude_writers`](crate::Trace::exclude_writers), which holds off
//! the writers (the VM's objects take their lock, and their writers refuse a
//! frozen object once they hold it). An unshared object only its owner
//! reaches needs none of that.
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

    /// Marks `gc` alone frozen, without visiting what it refers to: for a
    /// new object made of frozen parts (a persistent collection's node
    /// copied from a frozen one, where a walk would read the header of
    /// every part only to find it frozen).
    ///
    /// # Safety
    ///
    /// Everything `gc` refers to is frozen (Invariant S: a reader of a
    /// frozen object takes no lock on anything it reaches from it).
    pub unsafe fn freeze_alone(&self, gc: impl Into<GcAny<'gc>>) {
        let start = gc.into().header_ptr();
        // SAFETY: `start` is reachable from a live handle within a
        // mutation: live.
        let header = unsafe { start.as_ref() };
        if self.collector.make_one_global(header, header.flags(), Flags::FROZEN) {
            self.collector.count_global(Flags::FROZEN, 1);
            // As `make_global` does for its start: a concurrent marking
            // traces it (its parts are global already).
            self.collector.shade_if_marking(start);
        }
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

/// The most references a walk's buffers keep between walks (see
/// `Collector::walk`): 32 KiB each.
const WALK_BUFFER_MAX: usize = 4096;

impl Collector {
    /// Sets `flag` on the subgraph from `start` (see the module doc). Sharing
    /// an object this heap holds after a transfer (`SENT`) makes it plainly
    /// shared.
    pub(crate) fn make_global(&self, start: NonNull<Header>, flag: Flags) -> usize {
        let me = self.id();
        let marked = self.walk(start, |header| {
            // One read of the flags decides (a walk visits every child).
            let flags = header.flags();
            if flag == Flags::SHARED && flags.contains(Flags::SHARED | Flags::SENT) {
                let held = header.owner() == me && !flags.contains(Flags::FROZEN);
                if held {
                    header.clear_sent();
                }
                return held;
            }
            self.make_one_global(header, flags, flag)
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

    /// Sets `flag` on `header`'s object alone, whose flags the caller read
    /// as `flags`; whether it did (false for an object that already has it,
    /// or is frozen). The walk of `make_global` descends from the objects
    /// it did it for.
    pub(crate) fn make_one_global(&self, header: &Header, flags: Flags, flag: Flags) -> bool {
        if flags.contains(Flags::FROZEN) || flags.contains(flag) {
            return false;
        }
        if flag == Flags::FROZEN && header.is_global() {
            // Shared, so other threads may be writing it: the flag is set
            // with them excluded (see `Trace::exclude_writers`).
            let set = &mut || header.insert_flags(flag);
            // SAFETY: reachable from a live handle within a mutation: live.
            unsafe { (header.vtable().exclude_writers)(NonNull::from(header), set) };
        } else {
            self.leave_local(header);
            header.insert_flags(flag);
        }
        true
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
        // The heap's buffers (a walk within `visit` finds them taken, and
        // makes its own).
        let [mut stack, listed] = self.walk_buffers.take();
        stack.push(start);
        // One listing tracer for the whole walk: each object's children are
        // listed into its buffer and moved onto the stack (no allocation per
        // object).
        let mut listing = Tracer::listing_into(listed);
        let mut visited = 0;
        while let Some(h) = stack.pop() {
            // SAFETY: reachable from a live handle within a mutation: live.
            let header = unsafe { h.as_ref() };
            if visit(header) {
                visited += 1;
                // SAFETY: as above.
                unsafe { (header.vtable().trace)(h, &mut listing) };
                listing.move_listed(&mut stack);
            }
        }
        // Both are empty now. Kept for the next walk unless a wide graph
        // grew them (a heap would keep that memory for good).
        let listed = listing.take_listed();
        if stack.capacity().max(listed.capacity()) <= WALK_BUFFER_MAX {
            self.walk_buffers.set([stack, listed]);
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
            // A live object (the caller holds it): its bytes move from the
            // heap's count to the space's.
            let bytes = header.held_bytes();
            self.total.set(self.total.get().saturating_sub(bytes));
            self.space().add_global_bytes(bytes);
        }
    }
}

/// loom model of freezing an object that is already shared while another
/// thread writes it: the freezer sets `FROZEN` under the object's lock (its
/// `exclude_writers`) and then reads the object without the lock, as every
/// reader of a frozen object does; the writer decides on one reading of the
/// flags to lock, and checks the flag again once it holds the lock (the VM's
/// `Ctx::store_guard`). The unlocked read must never overlap the write (loom
/// reports any such overlap on the data's `UnsafeCell`), and no write may
/// land after the freeze. Without the second check the model fails.
#[cfg(all(test, loom))]
mod loom_model {
    use crate::header::loom_model::VTABLE;
    use crate::header::{Flags, Header, WHITE0};
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use maat_sync::AdaptiveLock;

    struct Obj {
        header: Header,
        lock: AdaptiveLock,
        data: UnsafeCell<usize>,
    }

    fn frozen(o: &Obj) -> bool {
        o.header.flags().contains(Flags::FROZEN)
    }

    /// One store, as the VM's objects do it in multi-threaded mode: whether
    /// it stored.
    fn store(o: &Obj, check_again: bool) -> bool {
        if frozen(o) {
            return false;
        }
        let _guard = o.lock.lock();
        if check_again && frozen(o) {
            return false;
        }
        // SAFETY: the lock is held and the object was not frozen under it.
        o.data.with_mut(|d| unsafe { *d += 1 });
        true
    }

    fn freeze_while_storing(check_again: bool) {
        loom::model(move || {
            let obj = Arc::new(Obj {
                header: Header::new(&VTABLE, WHITE0, 0, 1),
                lock: AdaptiveLock::new(),
                data: UnsafeCell::new(0),
            });
            obj.header.insert_flags(Flags::SHARED);
            let o = obj.clone();
            let writer = loom::thread::spawn(move || store(&o, check_again));
            {
                let _guard = obj.lock.lock();
                obj.header.insert_flags(Flags::FROZEN);
            }
            // SAFETY: what the model checks: no write overlaps this read.
            let seen = obj.data.with(|d| unsafe { *d });
            let stored = writer.join().unwrap();
            // SAFETY: the writer has finished.
            let last = obj.data.with(|d| unsafe { *d });
            assert_eq!(seen, last, "a store landed after the freeze");
            assert_eq!(last, usize::from(stored));
        });
    }

    #[test]
    fn a_frozen_object_is_never_written_while_read_without_its_lock() {
        freeze_while_storing(true);
    }

    #[test]
    #[should_panic(expected = "Causality violation")]
    fn the_model_fails_when_the_writer_does_not_check_again() {
        freeze_while_storing(false);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::WALK_BUFFER_MAX;
    use crate::{Config, Gc, Heap, Root, Trace, Tracer};

    /// A node with any number of children.
    struct Fan<'gc>(Vec<Gc<'gc, Fan<'gc>>>);

    // SAFETY: traces every child.
    unsafe impl Trace for Fan<'_> {
        fn trace(&self, t: &mut Tracer) {
            self.0.trace(t);
        }
    }

    struct Nothing;
    impl Root for Nothing {
        type Of<'gc> = ();
    }

    /// Freezes a new node with `n` leaves.
    fn freeze_fan(heap: &Heap<Nothing>, n: usize) {
        heap.mutate(|mc, _| {
            let leaves = (0..n).map(|_| mc.alloc(Fan(Vec::new()))).collect();
            assert_eq!(mc.freeze(mc.alloc(Fan(leaves))), n + 1);
        });
    }

    /// The capacities of the walk buffers the heap keeps.
    fn kept(heap: &Heap<Nothing>) -> (usize, usize) {
        let buffers = &heap.collector().walk_buffers;
        let [stack, listed] = buffers.take();
        let capacities = (stack.capacity(), listed.capacity());
        buffers.set([stack, listed]);
        capacities
    }

    #[test]
    fn a_walk_keeps_its_buffers_for_the_next_unless_a_wide_graph_grew_them() {
        let heap = Heap::<Nothing>::new(Config::default(), |_| ());
        freeze_fan(&heap, 3);
        let (stack, listed) = kept(&heap);
        assert!(stack >= 3 && listed >= 3, "kept after a small walk: {stack}, {listed}");
        freeze_fan(&heap, 10);
        assert!(kept(&heap).0 >= 10, "the same buffers, grown");
        freeze_fan(&heap, WALK_BUFFER_MAX + 1);
        assert_eq!(kept(&heap), (0, 0), "a wide walk's buffers are not kept");
        freeze_fan(&heap, 3);
        assert!(kept(&heap).0 >= 3, "the next walk keeps new ones");
    }
}

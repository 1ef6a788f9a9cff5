//! The object header every GC object starts with, and the colour rules.
//!
//! # Layout
//!
//! ```text
//!   GcBox<T> = Header (24 bytes) + T
//!   Header   = next: intrusive link of the heap's object list
//!              vtable: trace, drop + free, size, type name of T
//!              colour (1 byte), age (1 byte), flags (1 byte), kind (1 byte)
//!              owner: id of the heap (maatine) that allocated it; for a
//!                     SENT object, the heap that holds it now (0 in transit)
//! ```
//!
//! # Colours (Lua's white flip)
//!
//! | bits | colour | meaning |
//! | --- | --- | --- |
//! | `WHITE0` or `WHITE1` | white | not reached yet in this cycle (or, with the *other* white during sweep, dead) |
//! | none | gray | reached, children not yet traced; on the gray stack or the grayagain list |
//! | `BLACK` | black | reached and traced |
//!
//! The rule the collector keeps while marking (the tri-colour invariant): **no
//! black object points to a white one**. Allocation colours new objects with
//! the current white (black, and old, while a generational major collection
//! sweeps: see [`crate::generational`]); the backward write barrier turns a
//! black container that receives a store gray again. The atomic phase flips the current white, so
//! every object still white with the old white is garbage and the sweep frees
//! it, repainting the survivors with the new white.
//!
//! # Ages (generational mode, as Lua 5.4)
//!
//! `NEW` (nursery-1: allocated this cycle), `SURVIVAL` (nursery-2: survived
//! one minor collection), `OLD1` (old for one cycle), `OLD` (really old),
//! `TOUCHED1` (old and written this cycle), `TOUCHED2` (old and written in
//! the previous cycle). Lua's `OLD0` (made old by a forward barrier) does not
//! exist here: every barrier is backward. In incremental mode every object
//! stays `NEW`.
//!
//! # Flags
//!
//! `SHARED` and `FROZEN` only ever go from 0 to 1. They are the only header
//! bits another thread may read while the owner runs, so they live in their
//! own atomic byte: setting them never races with the owner's colour updates.
//!
//! `SENT` (always with `SHARED`) marks an object whose ownership was
//! transferred to another heap (see [`crate::transfer`]): the owner field then
//! names the heap that holds it. It is the one flag that may go back to 0,
//! and only by its holder, when it shares the object for real.
//!
//! | flags | state | who may use it |
//! | --- | --- | --- |
//! | none | unshared | its heap's maatine |
//! | `SHARED` | shared | anyone (synchronized by the embedder) |
//! | `SHARED \| SENT` | transferred | the holder named by `owner` |
//! | `FROZEN` (± `SHARED`) | frozen | anyone, read only |
//!
//! # Colours of global objects (the shared collection's)
//!
//! A shared or frozen object is *global*: its colour belongs to the shared
//! collection, not to its heap's. Local collections neither colour nor
//! traverse nor free it. Each shared cycle has its *mark*, `BLACK` and
//! `MARK1` in turn (see [`crate::shared`]); during that cycle's marking:
//!
//! | colour | meaning |
//! | --- | --- |
//! | the cycle's mark | reached, and traced completely (or a leaf) |
//! | none (gray) | reached, waiting in the shared gray queue or traced in part |
//! | anything else | not reached yet: white (`SHARED_WHITE`, given when it became global during this marking, or the previous cycle's mark) |
//!
//! Shading (white to gray, or to the mark for a leaf) is a CAS, since
//! barriers of several threads may shade one object: only the winner queues
//! it. The survivors of a sweep keep the mark, which means white again once
//! the next cycle flips it: nothing is repainted. Gray never outlives a
//! marking. An object that becomes global between markings takes the last
//! cycle's mark, as if reached: so between markings a global object without
//! the mark is garbage awaiting its sweep (see [`crate::weak`]).

use crate::shim::{AtomicU8, AtomicU32, Ordering};
use core::alloc::Layout;
use core::cell::Cell;
use core::ptr::NonNull;

use bitflags::bitflags;

use crate::trace::Tracer;

/// Colour bits.
pub(crate) const WHITE0: u8 = 1 << 0;
/// The colour of shared and frozen objects between shared collections.
pub(crate) const SHARED_WHITE: u8 = WHITE0;
pub(crate) const WHITE1: u8 = 1 << 1;
pub(crate) const BLACK: u8 = 1 << 2;
/// The shared collection's mark in every other cycle (`BLACK` in the rest).
pub(crate) const MARK1: u8 = 1 << 3;
pub(crate) const WHITES: u8 = WHITE0 | WHITE1;
/// The colour a freed object's header is left with (no live object has
/// it): a page's sweep passes over a freed block still counted in its page
/// (see [`crate::pool`]), and in debug builds the tracer refuses to meet a
/// freed object.
pub(crate) const FREED: u8 = 0xF0;
/// The bit of the age byte that says the object is on one of its heap's
/// lists (objects, LSO, pending): every object but those that live in a
/// page alone (see "Lists and pages" in [`crate::collector`]).
const LISTED: u8 = 1 << 7;

/// An object's generation (generational mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Age {
    /// Nursery-1: allocated in the current cycle.
    New = 0,
    /// Nursery-2: survived one minor collection.
    Survival = 1,
    /// Old for one cycle: traversed once more by the next minor collection,
    /// since it may still point to young objects.
    Old1 = 2,
    /// Really old.
    Old = 3,
    /// Old and written in the current cycle.
    Touched1 = 4,
    /// Old and written in the previous cycle.
    Touched2 = 5,
}

impl Age {
    fn from_u8(v: u8) -> Age {
        match v {
            0 => Age::New,
            1 => Age::Survival,
            2 => Age::Old1,
            3 => Age::Old,
            4 => Age::Touched1,
            _ => Age::Touched2,
        }
    }

    /// The age an object surviving a minor collection moves to (Lua's
    /// `nextage`); touched objects are advanced by the grayagain list instead.
    pub(crate) fn next(self) -> Age {
        match self {
            Age::New => Age::Survival,
            Age::Survival => Age::Old1,
            Age::Old1 | Age::Old => Age::Old,
            touched => touched,
        }
    }

    /// Whether the object counts as old (survives minor collections unmarked).
    pub fn is_old(self) -> bool {
        self > Age::Survival
    }
}

bitflags! {
    /// Sharing and lifecycle flags, each set at most once.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Flags: u8 {
        /// Possibly reachable from several maatines.
        const SHARED = 1 << 0;
        /// Deeply immutable.
        const FROZEN = 1 << 1;
        /// Transferred to the heap named by the owner field (with `SHARED`).
        const SENT = 1 << 2;
    }
}

/// Per-type operations, one static table per `T`.
pub(crate) struct VTable {
    /// Traces the value's references.
    pub(crate) trace: unsafe fn(NonNull<Header>, &mut Tracer),
    /// Traces part of them (see `Trace::trace_part`).
    pub(crate) trace_part: unsafe fn(NonNull<Header>, &mut Tracer, usize) -> Option<usize>,
    /// Bytes the value owns outside the box (see `Trace::heap_size`).
    pub(crate) heap_size: unsafe fn(NonNull<Header>) -> usize,
    /// Runs a closure with the value's writers excluded (see
    /// `Trace::exclude_writers`).
    pub(crate) exclude_writers: unsafe fn(NonNull<Header>, &mut dyn FnMut()),
    /// Drops the value in place (the box's memory is released apart: see
    /// [`crate::pool`]).
    pub(crate) drop_value: unsafe fn(NonNull<Header>),
    /// Layout of the box, as allocated: of all of it, or of its fixed part
    /// if it has a tail.
    pub(crate) layout: Layout,
    /// Bytes of the box past `layout` (a [`crate::tailed`] object's items).
    pub(crate) tail_bytes: Option<unsafe fn(NonNull<Header>) -> usize>,
    /// Rust type name, for the verifier and debugging.
    pub(crate) name: fn() -> &'static str,
    /// The type holds no references (`!Trace::NEEDS_TRACE`): marking makes
    /// it black at once, with nothing to traverse.
    pub(crate) leaf: bool,
    /// The value has no drop glue and the box no tail: dropping it does
    /// nothing and it owns nothing outside its box (a type that owns memory
    /// frees it when dropped), so freeing it calls neither `drop_value` nor
    /// `heap_size` (see [`VTable::owned`], [`VTable::drop`]).
    pub(crate) plain: bool,
}

impl VTable {
    /// Size of the whole box in bytes.
    pub(crate) fn size(&self) -> usize {
        self.layout.size()
    }

    /// Bytes the value owns outside its box (its `Trace::heap_size`).
    ///
    /// # Safety
    /// `h` heads a live box of this vtable's type.
    #[inline]
    pub(crate) unsafe fn owned(&self, h: NonNull<Header>) -> usize {
        // SAFETY: by the caller's contract.
        if self.plain { 0 } else { unsafe { (self.heap_size)(h) } }
    }

    /// Drops the value in place.
    ///
    /// # Safety
    /// As `drop_value`: `h` heads a live, unreachable box of this vtable's
    /// type, whose value is dropped exactly once.
    #[inline]
    pub(crate) unsafe fn drop(&self, h: NonNull<Header>) {
        if !self.plain {
            // SAFETY: by the caller's contract.
            unsafe { (self.drop_value)(h) };
        }
    }
}

/// The header at the start of every GC allocation.
#[repr(C)]
pub(crate) struct Header {
    next: Cell<Option<NonNull<Header>>>,
    vtable: &'static VTable,
    colour: AtomicU8,
    age: AtomicU8,
    flags: AtomicU8,
    kind: u8,
    owner: AtomicU32,
}

// SAFETY: `next` (the only non-atomic field that changes) is read and written
// only by the heap that owns the object's list: its owner maatine's thread,
// or a collector running while that heap is stopped at a safe point. Colour
// and age are written by one collector at a time (the owner's local one for
// unshared objects, the shared one for shared objects) and are atomics so
// that other threads may read them; the flags are set with release RMWs.
unsafe impl Sync for Header {}
// SAFETY: as above; a heap moves between threads only as a whole.
unsafe impl Send for Header {}

/// A header followed by the value it describes.
#[repr(C)]
pub(crate) struct GcBox<T> {
    pub(crate) header: Header,
    pub(crate) value: T,
}

impl Header {
    pub(crate) fn new(vtable: &'static VTable, colour: u8, kind: u8, owner: u32) -> Self {
        Header {
            next: Cell::new(None),
            vtable,
            colour: AtomicU8::new(colour),
            age: AtomicU8::new(Age::New as u8),
            flags: AtomicU8::new(0),
            kind,
            owner: AtomicU32::new(owner),
        }
    }

    pub(crate) fn next(&self) -> Option<NonNull<Header>> {
        self.next.get()
    }

    pub(crate) fn next_link(&self) -> &Cell<Option<NonNull<Header>>> {
        &self.next
    }

    pub(crate) fn vtable(&self) -> &'static VTable {
        self.vtable
    }

    /// The bytes this object holds: its box and the buffers it owns (what a
    /// global object counts in its space's global bytes). The caller has
    /// the object's contents still (a live object, or one being freed).
    /// The layout the box was allocated with (and is freed with).
    pub(crate) fn box_layout(&self) -> Layout {
        let Some(tail_bytes) = self.vtable.tail_bytes else { return self.vtable.layout };
        // SAFETY: this header heads a live box of the vtable's type.
        let size = self.vtable.layout.size() + unsafe { tail_bytes(NonNull::from(self)) };
        Layout::from_size_align(size, self.vtable.layout.align()).expect("a box's layout is valid")
    }

    pub(crate) fn held_bytes(&self) -> usize {
        // SAFETY: as the caller guarantees, the contents are there.
        self.vtable.size() + unsafe { self.vtable.owned(NonNull::from(self)) }
    }

    pub(crate) fn kind(&self) -> u8 {
        self.kind
    }

    pub(crate) fn owner(&self) -> u32 {
        // Relaxed: the owner of an unshared object never changes; the holder
        // of a SENT object is set before the object is published to it (the
        // embedder's channel or join publishes with Release/Acquire), and a
        // stale read by anyone else only decides an error message.
        self.owner.load(Ordering::Relaxed)
    }

    pub(crate) fn set_owner(&self, owner: u32) {
        // Relaxed: see `owner`.
        self.owner.store(owner, Ordering::Relaxed);
    }

    pub(crate) fn colour(&self) -> u8 {
        self.colour.load(Ordering::Relaxed)
    }

    pub(crate) fn is_white(&self) -> bool {
        self.colour.load(Ordering::Relaxed) & WHITES != 0
    }

    pub(crate) fn is_black(&self) -> bool {
        self.colour.load(Ordering::Relaxed) & BLACK != 0
    }

    pub(crate) fn is_gray(&self) -> bool {
        self.colour.load(Ordering::Relaxed) == 0
    }

    pub(crate) fn set_gray(&self) {
        self.colour.store(0, Ordering::Relaxed);
    }

    pub(crate) fn set_black(&self) {
        self.colour.store(BLACK, Ordering::Relaxed);
    }

    /// Paints the object with `white` (one of `WHITE0`, `WHITE1`).
    pub(crate) fn set_white(&self, white: u8) {
        self.colour.store(white, Ordering::Relaxed);
    }

    /// Marks a header whose object is being freed, see [`FREED`].
    pub(crate) fn set_freed(&self) {
        self.colour.store(FREED, Ordering::Relaxed);
    }

    /// Paints a global object with the shared cycle's `mark`.
    pub(crate) fn set_mark(&self, mark: u8) {
        self.colour.store(mark, Ordering::Relaxed);
    }

    /// Shades a global object for the shared marking whose mark is `mark`:
    /// a white one becomes gray, or marked at once if it is a leaf. Returns
    /// whether this call made it gray, so that the caller queues it (exactly
    /// one caller does, however many threads shade it at once).
    ///
    /// Relaxed: the CAS only elects who queues the object; the queue's
    /// mutex orders the hand-over, and the object's contents are read under
    /// its own synchronization (see `Trace`).
    #[inline]
    pub(crate) fn shade(&self, mark: u8) -> bool {
        let to = if self.vtable.leaf { mark } else { 0 };
        let mut colour = self.colour.load(Ordering::Relaxed);
        loop {
            if colour == 0 || colour == mark {
                return false;
            }
            match self.colour.compare_exchange_weak(colour, to, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return to == 0,
                Err(now) => colour = now,
            }
        }
    }

    /// Shared or frozen: outside local collection, in the shared domain.
    #[inline]
    pub(crate) fn is_global(&self) -> bool {
        // Relaxed suffices for the owner's own collector: only the owner sets
        // these bits on its unshared objects, so it reads its own writes.
        self.flags.load(Ordering::Relaxed) & (Flags::SHARED.bits() | Flags::FROZEN.bits()) != 0
    }

    pub(crate) fn age(&self) -> Age {
        Age::from_u8(self.age.load(Ordering::Relaxed) & !LISTED)
    }

    pub(crate) fn set_age(&self, age: Age) {
        // A load and a store: only the owner's collector writes the byte.
        let listed = self.age.load(Ordering::Relaxed) & LISTED;
        self.age.store(age as u8 | listed, Ordering::Relaxed);
    }

    /// Whether the object is on one of its heap's lists.
    pub(crate) fn is_listed(&self) -> bool {
        self.age.load(Ordering::Relaxed) & LISTED != 0
    }

    /// The object joins one of its heap's lists, for as long as it lives.
    pub(crate) fn set_listed(&self) {
        self.age.store(self.age.load(Ordering::Relaxed) | LISTED, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn flags(&self) -> Flags {
        // Acquire: a thread that sees SHARED set also sees the marks of the
        // subgraph published before it (see `share`).
        Flags::from_bits_truncate(self.flags.load(Ordering::Acquire))
    }

    pub(crate) fn insert_flags(&self, flags: Flags) {
        // Release: pairs with the Acquire in `flags`.
        self.flags.fetch_or(flags.bits(), Ordering::Release);
    }

    /// Clears `SENT` (its holder shares the object for real). Release, so
    /// that whoever later sees the object as plainly shared also sees what
    /// the holder wrote before; every other bit stays.
    pub(crate) fn clear_sent(&self) {
        self.flags.fetch_and(!Flags::SENT.bits(), Ordering::Release);
    }
}

/// loom model of publishing a shared subgraph: the sharer marks a child and
/// its parent shared (as `share` does, children before the reader can reach
/// them) and then publishes the parent with a Release store (as the VM's
/// global slot does); a reader that acquires the published pointer, or sees
/// the parent's mark, must see the child's too, in every interleaving.
#[cfg(all(test, loom))]
pub(crate) mod loom_model {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicUsize;

    unsafe fn no_trace(_: NonNull<Header>, _: &mut Tracer) {}
    unsafe fn no_trace_part(_: NonNull<Header>, _: &mut Tracer, _: usize) -> Option<usize> {
        None
    }
    unsafe fn no_heap_size(_: NonNull<Header>) -> usize {
        0
    }
    unsafe fn no_drop(_: NonNull<Header>) {}
    unsafe fn no_writers(_: NonNull<Header>, f: &mut dyn FnMut()) {
        f();
    }
    fn name() -> &'static str {
        "model"
    }
    /// The vtable of the models' objects (never traced nor freed).
    pub(crate) static VTABLE: VTable = VTable {
        trace: no_trace,
        trace_part: no_trace_part,
        heap_size: no_heap_size,
        exclude_writers: no_writers,
        drop_value: no_drop,
        layout: Layout::new::<Header>(),
        tail_bytes: None,
        name,
        leaf: false,
        plain: true,
    };

    #[test]
    fn shared_marks_are_visible_to_whoever_receives_the_reference() {
        loom::model(|| {
            let parent = Arc::new(Header::new(&VTABLE, WHITE0, 0, 1));
            let child = Arc::new(Header::new(&VTABLE, WHITE0, 0, 1));
            let slot = Arc::new(AtomicUsize::new(0));
            let (p, c, s) = (parent.clone(), child.clone(), slot.clone());
            let sharer = loom::thread::spawn(move || {
                c.insert_flags(Flags::SHARED);
                p.insert_flags(Flags::SHARED);
                s.store(1, Ordering::Release);
            });
            if slot.load(Ordering::Acquire) == 1 {
                assert!(parent.flags().contains(Flags::SHARED));
                assert!(child.flags().contains(Flags::SHARED));
                assert!(parent.is_global() && child.is_global());
            }
            // Whoever sees the parent's mark (Acquire) sees the child's, which
            // `share` set first (Release): the flags' own orderings suffice.
            if parent.flags().contains(Flags::SHARED) {
                assert!(child.flags().contains(Flags::SHARED));
            }
            sharer.join().unwrap();
        });
    }

    /// Barriers of two threads shade one white global object while a third
    /// may trace it whole and mark it (a mutator's `trace_now`): exactly one
    /// shader queues it unless the marker got there first, and the object
    /// ends marked once the queued entry is traced; it never goes back to
    /// white.
    #[test]
    fn concurrent_shading_queues_an_object_at_most_once() {
        loom::model(|| {
            let obj = Arc::new(Header::new(&VTABLE, WHITE0, 0, 1));
            let queued = Arc::new(AtomicUsize::new(0));
            let shaders: Vec<_> = (0..2)
                .map(|_| {
                    let (o, q) = (obj.clone(), queued.clone());
                    loom::thread::spawn(move || {
                        if o.shade(MARK1) {
                            q.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            let marked_first = obj.colour() == WHITE0;
            if marked_first {
                obj.set_mark(MARK1);
            }
            shaders.into_iter().for_each(|t| t.join().unwrap());
            let queued = queued.load(Ordering::Relaxed);
            assert!(queued <= 1, "queued twice");
            assert!(obj.colour() == MARK1 || (obj.colour() == 0 && queued == 1), "lost: {:#b}", obj.colour());
            // The queued entry is traced: the object ends marked.
            obj.set_mark(MARK1);
            assert!(!obj.shade(MARK1), "a marked object is never queued again");
        });
    }
}

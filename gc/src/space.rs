//! The runtime-wide part of the collector: the heaps of one runtime, the
//! objects adopted from heaps that ended, global roots, and the state of the
//! shared collection (whose cycle is in [`crate::shared`]).
//!
//! The space's mutex guards its members, the adopted list and the global
//! roots. A member's collector and root are dereferenced under it only by
//! the heap's own thread (joining, leaving) or by a shared collection's
//! stopped-world phases, whose contract is that no heap is in use then.

use core::marker::PhantomData;
use core::ptr::NonNull;
use maat_sync::annotate::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use maat_sync::{Mutex, MutexGuard};
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use crate::collector::{Collector, Ended};
use crate::header::Header;
use crate::heap::Root;
use crate::ptr::Mutation;
use crate::shared::SharedCycle;
use crate::stats::Stats;
use crate::trace::{Trace, Tracer};

/// The heaps of one runtime and what they share. Cheap to clone.
#[derive(Clone, Default)]
pub struct Space {
    pub(crate) inner: Arc<SpaceInner>,
}

pub(crate) struct SpaceInner {
    /// Unique among the process's spaces (see [`Space::id`]).
    id: u64,
    state: Mutex<SpaceState>,
    /// The shared collection's marking state.
    pub(crate) cycle: SharedCycle,
    /// Bytes of global objects (shared, frozen, transferred, adopted): what
    /// the shared collection has to trace and may free.
    global_bytes: AtomicUsize,
    /// `global_bytes` after the last shared collection.
    global_bytes_after: AtomicUsize,
    /// Heaps with a lazy sweep of the last shared collection still to do.
    lazy_sweeps: AtomicUsize,
    /// Whether `SpaceState::adopted_unswept` may hold objects: a hint that
    /// spares the heaps' safe points the mutex when it does not.
    pub(crate) adopted_unswept: AtomicBool,
}

#[derive(Default)]
pub(crate) struct SpaceState {
    /// Registered heaps, by their collector's address (ahash: one join and
    /// one leave per maatine, where SipHash cost a tenth of a spawn).
    pub(crate) members: HashMap<NonNull<Collector>, Member, ahash::RandomState>,
    /// Global objects of heaps that ended.
    pub(crate) adopted: Option<NonNull<Header>>,
    /// Adopted objects the last shared collection has not yet swept (it
    /// leaves them to the heaps' safe points, a part at a time; the next
    /// start sweeps what is left before it flips the mark).
    pub(crate) adopted_unswept: Option<NonNull<Header>>,
    pub(crate) adopted_bytes: usize,
    /// Heaps that left but have not handed their global objects over yet
    /// (`Space::leave`). A stopped world's phase waits until there is none
    /// ([`Space::state_with_no_heap_ending`]): a start must sweep the
    /// pending lazy sweeps before it flips the mark, and an ended heap's
    /// joins the space's then.
    pub(crate) ending: usize,
    pub(crate) globals: Vec<Weak<GlobalSlot>>,
    pub(crate) stats: Stats,
}

/// A registered heap: where its collector and root live.
pub(crate) struct Member {
    pub(crate) collector: NonNull<Collector>,
    pub(crate) root: NonNull<()>,
    pub(crate) trace_root: unsafe fn(NonNull<()>, &mut Tracer),
}

// SAFETY: the raw pointers in the state (members' collectors and roots, the
// adopted list) are dereferenced only under the state mutex, either by the
// heap's own thread (registration, ending) or by `collect_shared`, whose
// contract is that no heap of the space is in use meanwhile.
unsafe impl Send for SpaceInner {}
// SAFETY: as above; all access goes through the mutex.
unsafe impl Sync for SpaceInner {}

impl Default for SpaceInner {
    fn default() -> Self {
        /// The next space's id.
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        SpaceInner {
            // Relaxed: only uniqueness matters.
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            state: Mutex::default(),
            cycle: SharedCycle::default(),
            global_bytes: AtomicUsize::new(0),
            global_bytes_after: AtomicUsize::new(0),
            lazy_sweeps: AtomicUsize::new(0),
            adopted_unswept: AtomicBool::new(false),
        }
    }
}

impl Space {
    /// An empty space.
    pub fn new() -> Self {
        Space::default()
    }

    /// An id no other space of this process has, for tables that hold
    /// objects of several spaces (see [`crate::weak`]).
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, SpaceState> {
        self.inner.state.lock()
    }

    /// Number of heaps in the space.
    pub fn heaps(&self) -> usize {
        self.state().members.len()
    }

    /// Statistics of shared collections and adopted objects.
    pub fn stats(&self) -> Stats {
        self.state().stats.clone()
    }

    /// Bytes held by objects adopted from heaps that ended: their boxes and
    /// buffers as measured by the last shared collection, plus the boxes of
    /// objects adopted since.
    pub fn adopted_bytes(&self) -> usize {
        self.state().adopted_bytes
    }

    /// Bytes of global objects (shared, frozen or transferred, their own
    /// boxes): what a shared collection traces and may free.
    pub fn global_bytes(&self) -> usize {
        // Relaxed: a pacing figure; exact values are read at stopped-world
        // points, where the world's barrier orders every earlier update.
        self.inner.global_bytes.load(Ordering::Relaxed)
    }

    /// Whether global objects have grown enough since the last shared
    /// collection to run another: past `pause` percent of what survived it,
    /// and past `floor` bytes (so that a small program never collects).
    pub fn shared_collection_due(&self, pause: usize, floor: usize) -> bool {
        // Relaxed: see `global_bytes`.
        let after = self.inner.global_bytes_after.load(Ordering::Relaxed);
        self.global_bytes() > floor.max(after / 100 * pause)
    }

    /// A shared collection freed objects of `bytes`: the pacing counts
    /// what survived it.
    pub(crate) fn collected(&self, freed_bytes: usize) {
        // Relaxed: see `global_bytes`.
        let live = saturating_sub(&self.inner.global_bytes, freed_bytes);
        self.inner.global_bytes_after.store(live, Ordering::Relaxed);
    }

    /// Objects of `bytes` freed by a heap's lazy sweep.
    pub(crate) fn sub_global_bytes(&self, bytes: usize) {
        // Relaxed: counters, see `global_bytes`.
        saturating_sub(&self.inner.global_bytes, bytes);
        saturating_sub(&self.inner.global_bytes_after, bytes);
    }

    /// How many heaps have not yet finished their lazy sweep of the last
    /// shared collection. The next one's start finishes them in its stopped
    /// world, so a scheduler that waits for this to reach zero (for the
    /// heaps that run; a parked one does not sweep) keeps that work out of
    /// the pause. A hint: it may be stale by the time it is used.
    pub fn lazy_sweeps_pending(&self) -> usize {
        // Relaxed: a pacing hint, as `global_bytes`.
        self.inner.lazy_sweeps.load(Ordering::Relaxed)
    }

    pub(crate) fn lazy_sweep_started(&self) {
        // Relaxed: a counter, see `lazy_sweeps_pending`.
        self.inner.lazy_sweeps.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn lazy_sweep_done(&self) {
        // Relaxed: as above. Saturating: a miscount only moves a start
        // (it waits the most, or finishes the sweeps in its stopped world
        // as it would without the count), never its correctness.
        let _ =
            self.inner.lazy_sweeps.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(1)));
    }

    /// A global object's buffers grew (or shrank, negative `bytes`).
    pub(crate) fn resize_global_bytes(&self, bytes: isize) {
        match usize::try_from(bytes) {
            Ok(grown) => self.add_global_bytes(grown),
            Err(_) => self.sub_global_bytes(bytes.unsigned_abs()),
        }
    }

    pub(crate) fn add_global_bytes(&self, bytes: usize) {
        // Relaxed: a counter, see `global_bytes`.
        self.inner.global_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Registers a heap (during a shared marking, one more heap to
    /// contribute).
    pub(crate) fn join(&self, member: Member) {
        let mut state = self.state();
        state.members.insert(member.collector, member);
        self.inner.cycle.joined();
    }

    /// Ends a heap: it stops being a member, then `end` (which drops its
    /// root and frees its unshared objects) runs outside the space's mutex,
    /// and the global objects it returns are adopted, in constant time:
    /// the LSO joins the adopted objects, the pending lazy sweep the
    /// adopted objects the last shared collection left unswept (judged by
    /// the same mark: no start can come between, see `ending`). The bytes
    /// counted are the boxes only: an object's buffers may be resized by
    /// another thread's maatine meanwhile; the next shared collection
    /// measures them (see `sweep_adopted`).
    pub(crate) fn leave(&self, collector: NonNull<Collector>, end: impl FnOnce() -> Ended) {
        {
            let mut state = self.state();
            state.members.remove(&collector);
            // SAFETY: the heap's own thread ends it; the collector is alive.
            self.inner.cycle.left(unsafe { collector.as_ref() });
            state.ending += 1;
        }
        let Ended { lso, pending } = end();
        let unswept = !pending.is_empty();
        let mut state = self.state();
        let state = &mut *state;
        state.adopted_bytes += lso.prepend_to(&mut state.adopted) + pending.prepend_to(&mut state.adopted_unswept);
        if unswept {
            // Relaxed: a hint, as in `sweep_adopted_part`.
            self.inner.adopted_unswept.store(true, Ordering::Relaxed);
            self.lazy_sweep_done();
        }
        state.ending -= 1;
    }

    /// The space's state once no heap is between leaving and handing over
    /// its objects (see `SpaceState::ending`), for a stopped world's phase.
    pub(crate) fn state_with_no_heap_ending(&self) -> MutexGuard<'_, SpaceState> {
        let mut state = self.state();
        while state.ending > 0 {
            // Rare, and short: a heap ends on a running thread, which a
            // stopped world waits for; only a heap dropped outside the
            // world can be caught here, walking its own objects.
            drop(state);
            std::thread::yield_now();
            state = self.state();
        }
        state
    }

    fn register_global(&self, slot: &Arc<GlobalSlot>) {
        self.state().globals.push(Arc::downgrade(slot));
    }
}

impl Drop for SpaceInner {
    fn drop(&mut self) {
        let state = self.state.get_mut();
        for list in [state.adopted.take(), state.adopted_unswept.take()] {
            let mut next = list;
            while let Some(h) = next {
                // SAFETY: no heap is left, so nothing can reach adopted
                // objects.
                let header = unsafe { h.as_ref() };
                next = header.next();
                // SAFETY: freed exactly once, here.
                unsafe { crate::collector::destroy(h) };
            }
        }
    }
}

/// A global root: a value of root type `R` kept alive by every shared
/// collection of its space until the handle (and its clones) are dropped.
/// Send and Sync, so it can be handed to other maatines' threads.
pub struct Global<R: Root> {
    slot: Arc<GlobalSlot>,
    _root: PhantomData<fn() -> R>,
}

impl<R: Root> Clone for Global<R> {
    fn clone(&self) -> Self {
        Global { slot: Arc::clone(&self.slot), _root: PhantomData }
    }
}

pub(crate) struct GlobalSlot {
    space: Weak<SpaceInner>,
    pub(crate) value: NonNull<()>,
    pub(crate) trace: unsafe fn(NonNull<()>, &mut Tracer),
    drop: unsafe fn(NonNull<()>),
}

// SAFETY: the slot's value is only read (traced by a shared collection, or
// re-branded by `Mutation::global`, whose contract covers the thread-safety
// of the objects it reaches); it is dropped once, by the last handle.
unsafe impl Send for GlobalSlot {}
// SAFETY: as above.
unsafe impl Sync for GlobalSlot {}

impl Drop for GlobalSlot {
    fn drop(&mut self) {
        // SAFETY: the value was boxed by `make_global` and is dropped once.
        unsafe { (self.drop)(self.value) };
    }
}

unsafe fn trace_value<R: Root>(value: NonNull<()>, t: &mut Tracer) {
    // SAFETY: `value` is the slot's boxed `R::Of<'static>`.
    unsafe { value.cast::<R::Of<'static>>().as_ref() }.trace(t);
}

unsafe fn drop_value<R: Root>(value: NonNull<()>) {
    // SAFETY: `value` came from `Box::into_raw` in `make_global`.
    drop(unsafe { Box::from_raw(value.cast::<R::Of<'static>>().as_ptr()) });
}

impl<'gc> Mutation<'gc> {
    /// Shares every object `value` refers to and makes it a global root of
    /// this heap's space.
    pub fn make_global<R: Root>(&self, value: R::Of<'gc>) -> Global<R> {
        let mut refs = Tracer::listing();
        value.trace(&mut refs);
        for h in refs.take_listed() {
            self.collector.make_global(h, crate::header::Flags::SHARED);
        }
        // SAFETY: only the brand changes; the value is re-branded again on
        // every access (see `global`).
        let value = unsafe { crate::heap::rebrand_owned::<R>(value) };
        let value = NonNull::from(Box::leak(Box::new(value))).cast::<()>();
        let space = self.collector.space();
        let slot = Arc::new(GlobalSlot {
            space: Arc::downgrade(&space.inner),
            value,
            trace: trace_value::<R>,
            drop: drop_value::<R>,
        });
        space.register_global(&slot);
        Global { slot, _root: PhantomData }
    }

    /// The value of a global root, for this mutation.
    ///
    /// # Safety
    ///
    /// The objects reachable from the global may be in use by other threads
    /// at the same time: the caller must only touch them in ways that are
    /// thread-safe for their types (the VM's objects synchronize themselves
    /// with maat-sync locks).
    ///
    /// # Panics
    ///
    /// If the global belongs to another space.
    pub unsafe fn global<R: Root>(&self, global: &Global<R>) -> R::Of<'gc>
    where
        R::Of<'gc>: Copy,
    {
        let same = global.slot.space.upgrade().is_some_and(|s| Arc::ptr_eq(&s, &self.collector.space().inner));
        assert!(same, "a global root used from a heap of another space");
        // SAFETY: the slot holds the value while `global` lives; the copy is
        // re-branded to this mutation. The objects it refers to are shared and
        // kept alive by shared collections, which never run during a mutation.
        unsafe { *global.slot.value.cast::<R::Of<'gc>>().as_ptr() }
    }
}

/// The function a member uses to trace its boxed root of type `R`.
pub(crate) fn root_tracer<R: Root>() -> unsafe fn(NonNull<()>, &mut Tracer) {
    trace_value::<R>
}

/// Subtracts `bytes` from a counter, stopping at 0; the new value.
/// (The counts are kept exact, box and buffers, but a figure must never
/// wrap round to a huge one that would read as out of memory.)
fn saturating_sub(counter: &AtomicUsize, bytes: usize) -> usize {
    // Relaxed: counters, see `Space::global_bytes`.
    let old = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(bytes)));
    old.unwrap_or_else(|n| n).saturating_sub(bytes)
}

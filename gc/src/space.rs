//! The runtime-wide part of the collector: the heaps of one runtime, the
//! objects adopted from heaps that ended, global roots, and the shared
//! collection.
//!
//! # Shared collection (first version: at a global safe point)
//!
//! While no heap of the space mutates or collects:
//!
//! 1. *local contribution*: each heap completes a full local collection with
//!    a reporting tracer, which records every shared or frozen object its
//!    root and its reachable unshared objects refer to (and frees its local
//!    garbage, moving objects shared since its last sweep to its LSO);
//! 2. *shared mark*: from those objects and the global roots, every reachable
//!    shared or frozen object is marked black (by Invariant S nothing else is
//!    reachable from them);
//! 3. *shared sweep*: every heap's LSO and the adopted list are swept: white
//!    objects are freed, black ones repainted `SHARED_WHITE`.
//!
//! Steps 1 and 3 run in parallel over the heaps (rayon): each heap's part
//! touches only that heap. The whole collection is one pause, measured in the
//! space's statistics.
//!
//! A *lazy* collection (`collect_shared_lazily`) does steps 1 and 2 and the
//! adopted list, and hands each heap's LSO to that heap (its `pending` list,
//! detached whole): the heap sweeps it in bounded parts at its own safe
//! points, putting survivors back on a fresh LSO, which meanwhile receives
//! the objects that become global (in `SHARED_WHITE`, so never confused with
//! the survivors, which stay black until swept). A pending sweep is finished
//! before the heap ends and before the next shared collection marks.
//! The interface already lets each heap do step 1 on its own (it only needs
//! its own heap), which is where a handshake-based version will split it.

use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use rayon::prelude::*;

use crate::collector::Collector;
use crate::header::{BLACK, Header, SHARED_WHITE};
use crate::heap::Root;
use crate::ptr::Mutation;
use crate::stats::{CollectionKind, Stats};
use crate::trace::{Trace, Tracer};

/// The heaps of one runtime and what they share. Cheap to clone.
#[derive(Clone, Default)]
pub struct Space {
    pub(crate) inner: Arc<SpaceInner>,
}

#[derive(Default)]
pub(crate) struct SpaceInner {
    state: Mutex<SpaceState>,
    /// Bytes of global objects (shared, frozen, transferred, adopted): what
    /// the shared collection has to trace and may free.
    global_bytes: AtomicUsize,
    /// `global_bytes` after the last shared collection.
    global_bytes_after: AtomicUsize,
}

#[derive(Default)]
struct SpaceState {
    /// Registered heaps, by their collector's address.
    members: HashMap<NonNull<Collector>, Member>,
    /// Global objects of heaps that ended.
    adopted: Option<NonNull<Header>>,
    adopted_bytes: usize,
    globals: Vec<Weak<GlobalSlot>>,
    stats: Stats,
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

impl Space {
    /// An empty space.
    pub fn new() -> Self {
        Space::default()
    }

    fn state(&self) -> MutexGuard<'_, SpaceState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of heaps in the space.
    pub fn heaps(&self) -> usize {
        self.state().members.len()
    }

    /// Statistics of shared collections and adopted objects.
    pub fn stats(&self) -> Stats {
        self.state().stats.clone()
    }

    /// Bytes held by objects adopted from heaps that ended.
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

    /// Objects of `bytes` freed by a heap's lazy sweep.
    pub(crate) fn sub_global_bytes(&self, bytes: usize) {
        // Relaxed: counters, see `global_bytes`.
        self.inner.global_bytes.fetch_sub(bytes, Ordering::Relaxed);
        let _ = self
            .inner
            .global_bytes_after
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |after| Some(after.saturating_sub(bytes)));
    }

    pub(crate) fn add_global_bytes(&self, bytes: usize) {
        // Relaxed: a counter, see `global_bytes`.
        self.inner.global_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Runs a shared collection (see [`crate::space`]); afterwards every
    /// unreachable shared object has been freed.
    ///
    /// # Safety
    ///
    /// No heap of this space may be inside a mutation or a collection, or
    /// start one, until this returns: every thread that uses them must be
    /// stopped outside mutations, for instance stopped at a maat-sync safe
    /// point (`Participant::stop_world`) placed between mutations. Each
    /// heap's part runs on a rayon thread and may drop that heap's garbage
    /// there, so the objects of every heap must be safe to drop on any thread
    /// (as the VM's are).
    pub unsafe fn collect_shared(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.collect(false) }
    }

    /// A shared collection whose sweep of each heap's LSO happens later, at
    /// that heap's own safe points (`Heap::collect_debt` sweeps a bounded
    /// part each time; ending a heap or the next shared collection finishes
    /// it): the pause is the marking alone. Sweeping while other heaps run
    /// is sound because the objects it frees were unreachable from every
    /// root when marking ended, and nothing can reach them again: a heap only
    /// obtains a global object by reading it from a reachable one.
    ///
    /// # Safety
    ///
    /// As for [`Space::collect_shared`].
    pub unsafe fn collect_shared_lazily(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.collect(true) }
    }

    /// # Safety
    /// As for `collect_shared`.
    unsafe fn collect(&self, lazy: bool) {
        let started = Instant::now();
        let mut state = self.state();
        let list: Vec<&Member> = state.members.values().collect();
        let members = Members(&list);
        // A lazy sweep still pending keeps survivors black: finish it before
        // marking again.
        (0..members.0.len()).into_par_iter().for_each(|i| members.finish_pending(i));
        let mut tracer = Tracer::shared();
        // Step 1 in parallel: each heap's contribution touches only that heap.
        let found: Vec<Vec<Found>> = (0..members.0.len()).into_par_iter().map(|i| members.contribute(i)).collect();
        found.into_iter().flatten().for_each(|Found(h)| tracer.mark(h));
        state.globals.retain(|g| g.strong_count() > 0);
        for global in state.globals.iter().filter_map(Weak::upgrade) {
            // SAFETY: the slot holds its value until it is dropped.
            unsafe { (global.trace)(global.value, &mut tracer) };
        }
        while let Some(gray) = tracer.pop_gray() {
            tracer.traverse(gray);
        }
        let (freed, freed_bytes) = state.sweep(lazy);
        let live = self.inner.global_bytes.fetch_sub(freed_bytes, Ordering::Relaxed) - freed_bytes;
        self.inner.global_bytes_after.store(live, Ordering::Relaxed);
        let pause = started.elapsed();
        state.stats.pauses.record(pause);
        state.stats.objects_freed += freed;
        state.stats.count(CollectionKind::Full);
    }

    /// Registers a heap.
    pub(crate) fn join(&self, member: Member) {
        self.state().members.insert(member.collector, member);
    }

    /// Ends a heap under the space lock: runs `end` (which drops its root and
    /// frees its unshared objects) and adopts the global objects it returns.
    pub(crate) fn leave(&self, collector: NonNull<Collector>, end: impl FnOnce() -> Option<NonNull<Header>>) {
        let mut state = self.state();
        state.members.remove(&collector);
        let mut next = end();
        while let Some(h) = next {
            // SAFETY: the ended heap's global objects are live and now ours.
            let header = unsafe { h.as_ref() };
            next = header.next();
            header.next_link().set(state.adopted);
            state.adopted = Some(h);
            state.adopted_bytes += header.vtable().size;
        }
    }

    fn register_global(&self, slot: &Arc<GlobalSlot>) {
        self.state().globals.push(Arc::downgrade(slot));
    }
}

/// The registered heaps, shared with the rayon tasks of a shared collection.
struct Members<'a>(&'a [&'a Member]);

// SAFETY: during a shared collection each member is handled by exactly one
// task (indices are disjoint), and no other thread uses any heap of the space
// (the contract of `collect_shared`).
unsafe impl Sync for Members<'_> {}

/// A global object a heap's contribution found.
struct Found(NonNull<Header>);

// SAFETY: only a pointer handed from a contributing task to the collecting
// thread, which alone marks it afterwards.
unsafe impl Send for Found {}

impl Members<'_> {
    /// Heap `i`'s contribution: a full local collection reporting the global
    /// objects it reaches.
    fn contribute(&self, i: usize) -> Vec<Found> {
        let member = self.0[i];
        // SAFETY: no heap is in use (caller's contract); members stay
        // registered (collector and root alive) while the state is locked.
        let (collector, root, trace_root) = unsafe { (member.collector.as_ref(), member.root, member.trace_root) };
        // SAFETY: `root` is the member's boxed root, traced by its own fn.
        let found = collector.collect_full_reporting(&|t| unsafe { trace_root(root, t) });
        found.into_iter().map(Found).collect()
    }

    /// Finishes heap `i`'s pending lazy sweep.
    fn finish_pending(&self, i: usize) {
        // SAFETY: as in `contribute`.
        unsafe { self.0[i].collector.as_ref() }.sweep_pending(usize::MAX);
    }

    /// Sweeps heap `i`'s LSO, or with `lazy` hands it to the heap's own
    /// lazy sweep; returns the number of objects and of their boxes' bytes
    /// freed now.
    fn sweep(&self, i: usize, lazy: bool) -> (u64, usize) {
        // SAFETY: as in `contribute`.
        let collector = unsafe { self.0[i].collector.as_ref() };
        if lazy {
            collector.detach_lso();
            return (0, 0);
        }
        let mut bytes = 0;
        let freed = sweep_shared_list(collector.lso(), |h| {
            // SAFETY: live until freed just below.
            bytes += unsafe { h.as_ref() }.vtable().size;
            collector.free(h);
        });
        (freed, bytes)
    }
}

impl SpaceState {
    /// Sweeps every LSO (in parallel; with `lazy`, leaves them to their
    /// heaps) and the adopted list; returns the number of objects and of
    /// their boxes' bytes freed.
    fn sweep(&mut self, lazy: bool) -> (u64, usize) {
        let list: Vec<&Member> = self.members.values().collect();
        let members = Members(&list);
        let (mut freed, lso_bytes) = (0..members.0.len())
            .into_par_iter()
            .map(|i| members.sweep(i, lazy))
            .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        let adopted = Cell::new(self.adopted);
        let mut bytes = 0;
        freed += sweep_shared_list(&adopted, |h| {
            // SAFETY: adopted objects are live until freed here.
            let vtable = unsafe { h.as_ref() }.vtable();
            bytes += vtable.size;
            // SAFETY: unlinked and unreachable: freed exactly once.
            unsafe { (vtable.free)(h) };
        });
        self.adopted = adopted.get();
        self.adopted_bytes -= bytes;
        self.stats.bytes_freed += bytes as u64;
        (freed, lso_bytes + bytes)
    }
}

/// Frees the white objects of a list, repainting the black ones.
fn sweep_shared_list(head: &Cell<Option<NonNull<Header>>>, mut free: impl FnMut(NonNull<Header>)) -> u64 {
    let mut link = head;
    let mut freed = 0;
    while let Some(obj) = link.get() {
        // SAFETY: objects on the list are live until freed here.
        let h = unsafe { obj.as_ref() };
        if h.colour() == BLACK {
            h.set_white(SHARED_WHITE);
            link = h.next_link();
        } else {
            link.set(h.next());
            free(obj);
            freed += 1;
        }
    }
    freed
}

impl Drop for SpaceInner {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        let mut next = state.adopted.take();
        while let Some(h) = next {
            // SAFETY: no heap is left, so nothing can reach adopted objects.
            let header = unsafe { h.as_ref() };
            next = header.next();
            // SAFETY: freed exactly once, here.
            unsafe { (header.vtable().free)(h) };
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

struct GlobalSlot {
    space: Weak<SpaceInner>,
    value: NonNull<()>,
    trace: unsafe fn(NonNull<()>, &mut Tracer),
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

//! A heap: one maatine's objects, its root, and its collector.
//!
//! A [`Heap`] owns a root value (the maatine's registers, frames and
//! everything else it keeps) and every object allocated through it. All
//! access goes through [`Heap::mutate`] / [`Heap::mutate_root`]; collection
//! runs between those calls, at the embedder's safe points
//! ([`Heap::collect_debt`], [`Heap::step`], [`Heap::collect`]).
//! [`Heap::end`] ends a heap and keeps its memory, a [`Shell`] that
//! [`Shell::restart`] starts another heap in.
//!
//! ```
//! use maat_gc::{Gc, Heap, Config, RefLock, Root};
//!
//! struct Nodes;
//! impl Root for Nodes {
//!     type Of<'gc> = Gc<'gc, RefLock<Vec<Gc<'gc, u64>>>>;
//! }
//!
//! let mut heap = Heap::<Nodes>::new(Config::default(), |mc| mc.alloc(RefLock::new(Vec::new())));
//! heap.mutate(|mc, list| {
//!     let n = mc.alloc(42u64);
//!     Gc::write(mc, *list).borrow_mut().push(n);
//! });
//! heap.collect();
//! assert_eq!(heap.mutate(|_, list| *list.borrow()[0]), 42);
//! ```

use core::marker::PhantomData;
use core::mem::{ManuallyDrop, MaybeUninit};
use core::ptr::NonNull;
use maat_sync::annotate::atomic::{AtomicU32, Ordering};

use crate::collector::{Collector, Mode, Params, Phase};
use crate::ptr::Mutation;
use crate::space::{Member, Space, root_tracer};
use crate::stats::Stats;
use crate::trace::Trace;

/// Names the root type of a heap for every brand `'gc`.
///
/// ```
/// use maat_gc::{Gc, Root};
/// struct Frames;
/// impl Root for Frames {
///     type Of<'gc> = Vec<Gc<'gc, String>>;
/// }
/// ```
pub trait Root: 'static {
    /// The root value, holding handles branded `'gc`.
    type Of<'gc>: Trace;
}

/// How a heap is set up.
#[derive(Clone, Copy, Debug, Default)]
pub struct Config {
    /// Pacing parameters.
    pub params: Params,
    /// Maximum bytes in use; `None` for no limit.
    pub max_heap: Option<usize>,
    /// Collect fully at every safe point (for tests).
    pub torture: bool,
    /// Print one line per completed collection to stderr.
    pub trace: bool,
    /// Incremental (the default) or generational collection.
    pub mode: Mode,
}

/// Heap ids are unique in the process; 0 is never used.
static NEXT_HEAP_ID: AtomicU32 = AtomicU32::new(1);

/// A garbage-collected heap with root `R`.
pub struct Heap<R: Root> {
    /// The collector and the root, in one allocation (a maatine's heap is
    /// made with every spawn, in an ended one's [`Shell`] where the runtime
    /// keeps one); the space holds the addresses of both.
    parts: NonNull<Parts<R>>,
    _owns: PhantomData<Box<Parts<R>>>,
}

/// What a heap allocates for itself. Only raw pointers to its two fields
/// are made (never a reference to the whole), so that the root can be
/// borrowed mutably while the collector is borrowed. Both fields are
/// written by [`Shell::restart`] and dropped by `Heap::retire` (the root
/// first, before the collector frees the objects it refers to); in a
/// [`Shell`] both are dead.
struct Parts<R: Root> {
    collector: MaybeUninit<Collector>,
    root: MaybeUninit<R::Of<'static>>,
}

impl<R: Root> Parts<R> {
    /// The collector's address (a field pointer: no reference to the whole).
    fn collector(parts: NonNull<Self>) -> NonNull<Collector> {
        // SAFETY: a field of a live allocation, so not null; only its
        // address is taken.
        unsafe { NonNull::new_unchecked((&raw mut (*parts.as_ptr()).collector).cast()) }
    }

    /// The root's address (a field pointer: no reference to the whole).
    fn root(parts: NonNull<Self>) -> NonNull<R::Of<'static>> {
        // SAFETY: as in `collector`.
        unsafe { NonNull::new_unchecked((&raw mut (*parts.as_ptr()).root).cast()) }
    }
}

impl<R: Root> Heap<R> {
    /// A new heap in a space of its own, whose root `make_root` builds (it
    /// may allocate).
    pub fn new(config: Config, make_root: impl for<'gc> FnOnce(&Mutation<'gc>) -> R::Of<'gc>) -> Self {
        Heap::new_in(&Space::new(), config, make_root)
    }

    /// A new heap in `space`, sharing objects with the space's other heaps.
    pub fn new_in(
        space: &Space,
        config: Config,
        make_root: impl for<'gc> FnOnce(&Mutation<'gc>) -> R::Of<'gc>,
    ) -> Self {
        Shell::new().restart(space, config, make_root)
    }

    /// Switches between incremental and generational collection; entering
    /// generational mode runs a major collection.
    pub fn set_mode(&mut self, mode: Mode) {
        self.collector().set_mode(mode, &|t| self.root_ref().trace(t));
    }

    /// How the heap collects now (a bad major collection switches a
    /// generational heap to incremental mode until a good marking).
    pub fn mode(&self) -> Mode {
        self.collector().mode.get()
    }

    /// The space this heap belongs to.
    pub fn space(&self) -> &Space {
        self.collector().space()
    }

    /// The heap's id (the owner id written in its objects' headers).
    pub fn id(&self) -> u32 {
        self.collector().id()
    }

    /// Runs `f` with the root and an allocation context. No collection happens
    /// inside; call [`Heap::collect_debt`] between mutations.
    pub fn mutate<T>(&self, f: impl for<'gc> FnOnce(&Mutation<'gc>, &R::Of<'gc>) -> T) -> T {
        let mc = Mutation::new(self.collector());
        // SAFETY: the root is re-branded with this borrow's lifetime; handles
        // cannot outlive `f` (higher-ranked), so none survive a collection.
        let root = unsafe { Parts::root(self.parts).cast::<R::Of<'_>>().as_ref() };
        f(&mc, root)
    }

    /// Like [`Heap::mutate`], with the root mutable: it may be replaced or
    /// changed without barriers (the collector re-traces it before a cycle
    /// ends).
    pub fn mutate_root<T>(&mut self, f: impl for<'gc> FnOnce(&Mutation<'gc>, &mut R::Of<'gc>) -> T) -> T {
        let mc = Mutation::new(self.collector());
        // SAFETY: as in `mutate`, with a unique borrow.
        let root = unsafe { Parts::root(self.parts).cast::<R::Of<'_>>().as_mut() };
        f(&mc, root)
    }

    /// A safe point: pays the allocation debt with incremental steps (a full
    /// collection in torture mode). If the heap is over its maximum size, it
    /// collects fully; if it is still over, allocations with
    /// [`Mutation::try_alloc`] fail until it is not. A mutation can therefore
    /// exceed the maximum by what it allocates between two safe points.
    ///
    /// Returns the collector work done, in the pacing's unit: bytes of
    /// objects traversed, with each object a sweep visits charged as a
    /// quarter of its size up to 32 bytes (32 in the lazy sweeps of global
    /// objects, whose objects are cold), and a full collection as the
    /// heap's bytes; about 1 to 3 ns each, and 0 when there was nothing to
    /// do. A scheduler charges it to the mutator's time slice, so that a
    /// slice with long safe points ends sooner: the same count on every
    /// run, unlike a clock.
    pub fn collect_debt(&mut self) -> usize {
        self.collector().collect_debt(&|t| self.root_ref().trace(t))
    }

    /// One incremental step, whatever the debt.
    pub fn step(&mut self) {
        self.collector().step(&|t| self.root_ref().trace(t));
    }

    /// A full collection: afterwards every object unreachable from the root
    /// has been freed.
    pub fn collect(&mut self) {
        self.collector().collect_full(&|t| self.root_ref().trace(t));
    }

    /// Where the incremental cycle stands.
    pub fn phase(&self) -> Phase {
        self.collector().phase()
    }

    /// Bytes in use: live and not yet collected objects, plus reported extra
    /// memory.
    pub fn total_bytes(&self) -> usize {
        self.collector().total()
    }

    /// Allocation debt in bytes: positive when steps are due.
    pub fn debt(&self) -> isize {
        self.collector().debt()
    }

    /// The pacing parameters.
    pub fn params(&self) -> Params {
        self.collector().params()
    }

    /// Changes the pacing parameters.
    pub fn set_params(&mut self, params: Params) {
        self.collector().set_params(params);
    }

    /// Changes the maximum heap size.
    pub fn set_max_heap(&mut self, limit: Option<usize>) {
        self.collector().set_limit(limit);
    }

    /// Turns torture mode (a full collection at every safe point) on or off.
    pub fn set_torture(&mut self, on: bool) {
        self.collector().set_torture(on);
    }

    /// Turns the per-collection trace line on or off.
    pub fn set_trace(&mut self, on: bool) {
        self.collector().set_trace(on);
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> Stats {
        self.collector().stats()
    }

    /// Adds this heap's statistics to `total` (without copying them first).
    pub fn add_stats_to(&self, total: &mut Stats) {
        self.collector().add_stats_to(total);
    }

    /// Forgets the pauses recorded so far (to measure a phase of a program).
    pub fn reset_pauses(&mut self) {
        self.collector().reset_pauses();
    }

    pub(crate) fn collector(&self) -> &Collector {
        // SAFETY: the collector lives as long as the heap (in `parts`), and
        // is only ever borrowed shared (its state is in cells).
        unsafe { Parts::collector(self.parts).as_ref() }
    }

    pub(crate) fn root_ref(&self) -> &R::Of<'_> {
        // SAFETY: re-branded with this borrow's lifetime, as in `mutate`.
        unsafe { Parts::root(self.parts).cast::<R::Of<'_>>().as_ref() }
    }
}

impl<R: Root> Heap<R> {
    /// Ends the heap as dropping it would (its root dropped, its local
    /// objects freed, its global ones adopted by its space) and keeps its
    /// memory for another heap: [`Shell::restart`]. A runtime that starts
    /// and ends a heap with every lightweight thread keeps the shells of
    /// ended ones and calls the allocator only when it has none spare.
    pub fn end(self) -> Shell<R> {
        let parts = ManuallyDrop::new(self).parts;
        // SAFETY: the heap is live (it was not dropped: `ManuallyDrop`),
        // and nothing uses it after this.
        unsafe { Self::retire(parts) };
        // SAFETY: `parts` came from the shell's box in `restart`; `retire`
        // left both its fields dead, which `MaybeUninit` allows.
        Shell { parts: unsafe { Box::from_raw(parts.as_ptr().cast()) } }
    }

    /// Drops the root, frees the objects, leaves the space and drops the
    /// collector: afterwards `parts` holds no live value.
    ///
    /// # Safety
    /// `parts` is a live heap's, and nothing uses the heap afterwards.
    unsafe fn retire(parts: NonNull<Parts<R>>) {
        let (root, collector) = (Parts::root(parts), Parts::collector(parts));
        // SAFETY: the collector is live until the drop at the end.
        let c = unsafe { collector.as_ref() };
        c.space().leave(collector, || {
            // SAFETY: the root was written in `restart` and is dropped once,
            // here, before the objects it references are freed.
            unsafe { root.as_ptr().drop_in_place() };
            c.dissolve()
        });
        // SAFETY: the space forgot the heap in `leave`, so nothing refers to
        // the collector any more; it is dropped once, here.
        unsafe { collector.as_ptr().drop_in_place() };
    }
}

impl<R: Root> Drop for Heap<R> {
    fn drop(&mut self) {
        // SAFETY: the heap is live and is being dropped.
        unsafe { Self::retire(self.parts) };
        // SAFETY: as in `end`; the box frees the memory without dropping
        // the dead fields.
        drop(unsafe { Box::<MaybeUninit<Parts<R>>>::from_raw(self.parts.as_ptr().cast()) });
    }
}

/// A heap's memory between two heaps: what [`Heap::end`] leaves, and what
/// [`Shell::restart`] starts a heap in. It holds no live value, so it may
/// be kept and moved freely (a runtime keeps spare ones).
pub struct Shell<R: Root> {
    parts: Box<MaybeUninit<Parts<R>>>,
}

// SAFETY: a shell holds memory only, no value of any type.
unsafe impl<R: Root> Send for Shell<R> {}

impl<R: Root> Default for Shell<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Root> Shell<R> {
    /// Memory for one heap, from the allocator.
    pub fn new() -> Self {
        Shell { parts: Box::new_uninit() }
    }

    /// A new heap in this memory, in `space`, whose root `make_root` builds
    /// (it may allocate). It has a new id: nothing of the heap that ended
    /// here carries over.
    pub fn restart(
        self,
        space: &Space,
        config: Config,
        make_root: impl for<'gc> FnOnce(&Mutation<'gc>) -> R::Of<'gc>,
    ) -> Heap<R> {
        let id = NEXT_HEAP_ID.fetch_add(1, Ordering::Relaxed);
        let parts: NonNull<Parts<R>> = NonNull::from(Box::leak(self.parts)).cast();
        let (collector, root) = (Parts::collector(parts), Parts::root(parts));
        // SAFETY: the field is ours and dead (a new or an ended shell).
        unsafe { collector.as_ptr().write(Collector::new(id, space.clone())) };
        // Not a `Heap` until the root is written: if `make_root` panics,
        // `parts` leaks (there is no root to drop).
        // SAFETY: the collector is initialized and lives as long as `parts`.
        let c: &Collector = unsafe { collector.as_ref() };
        c.set_params(config.params);
        c.set_limit(config.max_heap);
        c.set_torture(config.torture);
        c.set_trace(config.trace);
        let made = make_root(&Mutation::new(c));
        // SAFETY: only the brand changes. The root is only ever handed out
        // again re-branded with the lifetime of a borrow of the heap.
        let made = unsafe { rebrand_owned::<R>(made) };
        // SAFETY: the root field is ours and dead until this write.
        unsafe { root.as_ptr().write(made) };
        space.join(Member { collector, root: root.cast(), trace_root: root_tracer::<R>() });
        let mut heap = Heap { parts, _owns: PhantomData };
        heap.set_mode(config.mode);
        heap
    }
}

/// Changes the brand of an owned root to `'static` for storage.
///
/// # Safety
/// The result must only be used re-branded with a lifetime no longer than a
/// borrow of the heap that owns the objects it refers to.
pub(crate) unsafe fn rebrand_owned<'gc, R: Root>(root: R::Of<'gc>) -> R::Of<'static> {
    let root = ManuallyDrop::new(root);
    // SAFETY: lifetimes do not change layout; the original is not dropped.
    unsafe { core::ptr::read((&*root as *const R::Of<'gc>).cast::<R::Of<'static>>()) }
}

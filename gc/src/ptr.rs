//! Typed handles: [`Gc`], the [`Mutation`] context they are branded with,
//! and the interior-mutability wrappers that force a write barrier.
//!
//! # What the types make impossible
//!
//! - Keeping a `Gc` across a collection: every `Gc<'gc, T>` carries the brand
//!   `'gc` of one [`Heap::mutate`](crate::Heap::mutate) call, which is
//!   higher-ranked (`for<'gc>`), so neither the handle nor anything holding it
//!   can leave the closure. Collections run only between mutations.
//! - Mixing two heaps' handles: `'gc` is invariant, so a handle from one
//!   mutation cannot be stored into an object of another.
//! - Storing a `Gc` into an object without a write barrier: the only way to
//!   get write access to a [`Lock`] or [`RefLock`] inside a GC object is
//!   [`Gc::write`], which runs the barrier first.
//! - Sending a `Gc` to another thread: it is neither `Send` nor `Sync`.
//!
//! `gc/tests/compile_fail/` proves each of these with trybuild.

use core::cell::{Cell, Ref, RefCell};
use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;

use crate::collector::Collector;
use crate::header::{GcBox, Header};
use crate::tailed::{Head, Tailed};
use crate::trace::{Trace, Tracer};

/// Makes `'gc` invariant and the holder `!Send + !Sync`.
pub(crate) type Brand<'gc> = PhantomData<(Cell<&'gc ()>, *const ())>;

/// The context of one mutation of a heap: allocates, and runs write
/// barriers. Only ever seen as `&Mutation<'gc>` inside
/// [`Heap::mutate`](crate::Heap::mutate).
pub struct Mutation<'gc> {
    pub(crate) collector: &'gc Collector,
    _brand: Brand<'gc>,
}

impl<'gc> Mutation<'gc> {
    pub(crate) fn new(collector: &'gc Collector) -> Self {
        Mutation { collector, _brand: PhantomData }
    }

    /// Allocates `value` in this heap. Never fails: it ignores the heap limit
    /// (use [`Mutation::try_alloc`] where running out must be an error).
    pub fn alloc<T: Trace + 'gc>(&self, value: T) -> Gc<'gc, T> {
        self.alloc_kind(value, 0)
    }

    /// Allocates `value`, tagging it with an object kind the embedder can read
    /// back with [`Gc::kind`] (the VM uses it for dispatch).
    pub fn alloc_kind<T: Trace + 'gc>(&self, value: T, kind: u8) -> Gc<'gc, T> {
        Gc::from_box(self.collector.allocate(value, kind))
    }

    /// Allocates an object of `head` and a tail of `len` items, item `i`
    /// made by `item(i)`, in one box, tagged with `kind` as
    /// [`Mutation::alloc_kind`] does (see [`crate::tailed`]).
    pub fn alloc_tailed<H: Head + 'gc>(
        &self,
        head: H,
        len: usize,
        item: impl FnMut(usize) -> H::Item,
        kind: u8,
    ) -> Gc<'gc, Tailed<H>> {
        Gc::from_box(self.collector.allocate_tailed(head, len, item, kind))
    }

    /// Allocates `value` unless the heap is out of memory: the heap is over
    /// its configured maximum and a full collection could not bring it under.
    pub fn try_alloc<T: Trace + 'gc>(&self, value: T) -> Result<Gc<'gc, T>, OutOfMemory> {
        self.collector.check_limit()?;
        Ok(self.alloc(value))
    }

    /// Accounts `bytes` of memory outside GC boxes (a buffer the embedder
    /// manages), so that pacing and the heap limit see it. The bytes stay
    /// counted until [`Mutation::report_freed`] reports them released: the
    /// collector frees boxes only and cannot know about them.
    pub fn report_allocated(&self, bytes: usize) {
        self.collector.account_extra(bytes as isize);
    }

    /// `Err` while the heap is out of memory: over its maximum even after the
    /// full collection at the last safe point. Allocation with
    /// [`Mutation::alloc`] still works (the limit is the embedder's policy);
    /// an embedder checks this before allocating on a program's behalf.
    pub fn check_limit(&self) -> Result<(), OutOfMemory> {
        self.collector.check_limit()
    }

    /// Whether the heap owes collection work: the mutator should reach a
    /// safe point ([`Heap::collect_debt`](crate::Heap::collect_debt)) soon.
    /// A mutator that allocates much between safe points checks this after
    /// allocating (as Lua checks its debt after each allocating
    /// instruction), so that each safe point pays for about one step's
    /// worth of allocation: steps stay short and the heap does not
    /// overshoot.
    pub fn collection_due(&self) -> bool {
        self.collector.debt.get() > 0
    }

    /// A snapshot of this heap's statistics.
    pub fn stats(&self) -> crate::Stats {
        self.collector.stats()
    }

    /// The counterpart of [`Mutation::report_allocated`].
    pub fn report_freed(&self, bytes: usize) {
        self.collector.account_extra(-(bytes as isize));
    }

    /// The buffers `obj` owns (its `Trace::heap_size`) went from `before`
    /// to `after` bytes: counted in this heap's bytes while `obj` is its
    /// own, in the space's global bytes once it is global (where the heap
    /// limit and the shared collections' pacing see them too). Every change
    /// of an object's `heap_size` must be reported so, for the counts to
    /// stay exact when the object is freed.
    pub fn report_resized(&self, obj: crate::GcAny<'gc>, before: usize, after: usize) {
        let delta = after as isize - before as isize;
        // SAFETY: the caller holds `obj` within this mutation: it is live.
        if unsafe { obj.header_ptr().as_ref() }.is_global() {
            self.collector.space().resize_global_bytes(delta);
        } else {
            self.collector.account_extra(delta);
        }
    }
}

/// Allocation refused: the heap is over its maximum size even after a full
/// collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory {
    /// Bytes in use when the request was refused.
    pub in_use: usize,
    /// The configured maximum.
    pub limit: usize,
}

impl fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "out of memory: {} bytes in use, heap limit {} bytes", self.in_use, self.limit)
    }
}

impl std::error::Error for OutOfMemory {}

/// A pointer to a GC object, valid for one mutation (`'gc`). Copy.
pub struct Gc<'gc, T: 'gc> {
    ptr: NonNull<GcBox<T>>,
    _brand: Brand<'gc>,
}

impl<T> Clone for Gc<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Gc<'_, T> {}

impl<'gc, T: 'gc> Gc<'gc, T> {
    pub(crate) fn from_box(ptr: NonNull<GcBox<T>>) -> Self {
        Gc { ptr, _brand: PhantomData }
    }

    pub(crate) fn header_ptr(self) -> NonNull<Header> {
        self.ptr.cast()
    }

    pub(crate) fn header(self) -> &'gc Header {
        // SAFETY: a Gc handed out within a mutation points to a live object:
        // it was reachable (or freshly allocated) when the mutation began, and
        // nothing is freed until the mutation ends.
        unsafe { &self.ptr.as_ref().header }
    }

    /// The object, for the rest of the mutation (`Deref` gives the same
    /// object for the lifetime of the handle variable only).
    pub fn get(this: Self) -> &'gc T {
        // SAFETY: as in `header`.
        unsafe { &this.ptr.as_ref().value }
    }

    /// Whether two handles point to the same object.
    pub fn ptr_eq(a: Self, b: Self) -> bool {
        a.ptr == b.ptr
    }

    /// The object's address, for hashing and identity.
    pub fn as_ptr(self) -> *const T {
        // SAFETY: the field projection stays inside the live box.
        unsafe { &raw const (*self.ptr.as_ptr()).value }
    }

    /// The kind tag given at allocation ([`Mutation::alloc_kind`]).
    pub fn kind(self) -> u8 {
        self.header().kind()
    }

    /// Runs the write barrier for `gc` and grants write access to its
    /// [`Lock`] and [`RefLock`] fields until the mutation ends.
    ///
    /// The barrier is *backward* (as Lua's for tables): if the collector has
    /// already traced `gc` in this cycle, `gc` becomes gray again and is traced
    /// once more before the cycle ends, so any reference stored into it now is
    /// seen. One call covers any number of stores.
    ///
    /// If `gc` is shared, whatever is stored into it must be shared too
    /// ([`Mutation::share`]) to keep Invariant S; [`Heap::verify`](crate::Heap::verify)
    /// checks it.
    ///
    /// # Panics
    ///
    /// If `gc` is frozen; see [`Gc::try_write`].
    pub fn write(mc: &Mutation<'gc>, gc: Self) -> &'gc Write<T> {
        match Self::try_write(mc, gc) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        }
    }

    /// Write access for replacing one reference held by `gc` with `value`
    /// *in place*, with a forward barrier: instead of tracing `gc` again
    /// (which for a container of a million elements is a long pause), the
    /// collector marks `value` if `gc` was already traced. In generational
    /// mode it is the backward barrier.
    ///
    /// # Safety
    ///
    /// Until the next [`Gc::write`] on `gc` in this mutation, the caller may
    /// only store `value` into a slot of `gc` that already existed (for
    /// example `vec[i] = value`): no insertion, removal, reordering or other
    /// store. Large containers are traced in parts, and only the backward
    /// barrier makes the collector start such an object over. The reference
    /// the slot held before must be passed to
    /// [`Mutation::deletion_barrier`](crate::Mutation::deletion_barrier) (a shared collection marking while
    /// heaps run needs it when `gc` is global).
    ///
    /// # Panics
    ///
    /// If `gc` is frozen.
    pub unsafe fn write_forward<U: 'gc>(mc: &Mutation<'gc>, gc: Self, value: Gc<'gc, U>) -> &'gc Write<T> {
        assert!(!Gc::is_frozen(gc), "frozen object: cannot write to a frozen {}", core::any::type_name::<T>());
        mc.collector.barrier_forward(gc.header_ptr(), value.header_ptr());
        // SAFETY: `Write<T>` is a transparent wrapper of `T`.
        unsafe { &*(Gc::get(gc) as *const T as *const Write<T>) }
    }

    /// [`Gc::write`], or an error if the object is frozen.
    pub fn try_write(mc: &Mutation<'gc>, gc: Self) -> Result<&'gc Write<T>, Frozen> {
        if Gc::is_frozen(gc) {
            return Err(Frozen { type_name: core::any::type_name::<T>() });
        }
        mc.collector.barrier_back(gc.header_ptr());
        // SAFETY: `Write<T>` is a transparent wrapper of `T`.
        Ok(unsafe { &*(Gc::get(gc) as *const T as *const Write<T>) })
    }
}

/// A write to a frozen object was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frozen {
    /// The Rust type of the frozen object.
    pub type_name: &'static str,
}

impl fmt::Display for Frozen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "frozen object: cannot write to a frozen {}", self.type_name)
    }
}

impl std::error::Error for Frozen {}

impl<'gc, T: 'gc> Deref for Gc<'gc, T> {
    type Target = T;

    fn deref(&self) -> &T {
        Gc::get(*self)
    }
}

impl<'gc, T: fmt::Debug + 'gc> fmt::Debug for Gc<'gc, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Gc").field(&Gc::get(*self)).finish()
    }
}

// SAFETY: marks the object; its own trace runs when it is traversed.
unsafe impl<T> Trace for Gc<'_, T> {
    #[inline]
    fn trace(&self, t: &mut Tracer) {
        t.mark(self.header_ptr());
    }
}

/// Write access to an object whose barrier has run; see [`Gc::write`].
#[repr(transparent)]
pub struct Write<T>(T);

impl<T> Write<T> {
    /// Write access to a part of this object, typically a field:
    /// `Gc::write(mc, node).project(|n| &n.children)`.
    ///
    /// # Panics
    ///
    /// If `part` returns a reference that is not inside this object (for
    /// instance through a `Deref` into another object): the barrier ran for
    /// this object only.
    pub fn project<U>(&self, part: impl FnOnce(&T) -> &U) -> &Write<U> {
        let whole = &self.0 as *const T as usize;
        let field = part(&self.0) as *const U;
        let start = field as usize;
        assert!(
            start >= whole && start + size_of::<U>() <= whole + size_of::<T>(),
            "Write::project must stay inside the object whose barrier ran"
        );
        // SAFETY: `field` points inside this object (checked above), which the
        // barrier covers; `Write<U>` is a transparent wrapper of `U`.
        unsafe { &*(field as *const Write<U>) }
    }
}

impl<T> Deref for Write<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A `Cell` that can hold GC references: read freely, written only through
/// [`Gc::write`] on the object that contains it (or as part of a root).
#[derive(Default)]
#[repr(transparent)]
pub struct Lock<T>(Cell<T>);

impl<T: Copy> Lock<T> {
    /// A new lock holding `value`.
    pub fn new(value: T) -> Self {
        Lock(Cell::new(value))
    }

    /// The current value.
    pub fn get(&self) -> T {
        self.0.get()
    }

    /// Sets the value of a lock the caller owns outright (a root, or an
    /// object under construction that no other object references yet).
    pub fn set_unbarriered(&mut self, value: T) {
        self.0.set(value);
    }
}

impl<T: Copy> Write<Lock<T>> {
    /// Sets the value (the container's barrier has run).
    pub fn set(&self, value: T) {
        self.0.0.set(value);
    }
}

// SAFETY: traces the current value; collections run between mutations, so
// nothing writes the cell while it is traced. Not synchronized: a `Lock`
// inside a global object must only be written by the threads of a space
// whose heaps run on one thread (see `Tracer::is_concurrent`).
unsafe impl<T: Trace + Copy> Trace for Lock<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    fn trace(&self, t: &mut Tracer) {
        self.0.get().trace(t);
    }
}

/// A `RefCell` that can hold GC references: borrowed freely, borrowed
/// mutably only through [`Gc::write`] on the object that contains it.
#[derive(Default)]
#[repr(transparent)]
pub struct RefLock<T>(RefCell<T>);

impl<T> RefLock<T> {
    /// A new lock holding `value`.
    pub fn new(value: T) -> Self {
        RefLock(RefCell::new(value))
    }

    /// Borrows the value. Panics if it is mutably borrowed.
    pub fn borrow(&self) -> Ref<'_, T> {
        self.0.borrow()
    }

    /// Mutable access to a lock the caller owns outright (a root).
    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }
}

impl<T> Write<RefLock<T>> {
    /// Borrows the value mutably (the container's barrier has run). Panics if
    /// it is borrowed.
    pub fn borrow_mut(&self) -> core::cell::RefMut<'_, T> {
        self.0.0.borrow_mut()
    }
}

// SAFETY: traces the current value; collections run between mutations, so no
// borrow is outstanding while it is traced. Not synchronized: as for `Lock`.
unsafe impl<T: Trace> Trace for RefLock<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    fn trace(&self, t: &mut Tracer) {
        self.0.borrow().trace(t);
    }

    fn trace_part(&self, t: &mut Tracer, from: usize) -> Option<usize> {
        self.0.borrow().trace_part(t, from)
    }

    fn heap_size(&self) -> usize {
        self.0.borrow().heap_size()
    }
}

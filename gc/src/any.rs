//! Untyped handles, for dynamically typed values.
//!
//! A VM's value can hold any kind of object. [`GcAny`] is a [`Gc`] whose
//! type was erased; the embedder tags every allocation with a kind
//! ([`Mutation::alloc_kind`](crate::Mutation::alloc_kind)) and downcasts by
//! it. `as_raw`/`from_raw` let a value representation keep the pointer in
//! its own bits (NaN boxing) and get the handle back within the same
//! mutation.

use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::header::{Flags, Header};
use crate::ptr::{Brand, Gc};
use crate::trace::{Trace, Tracer};

/// A handle to a GC object of any type, valid for one mutation. Copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GcAny<'gc> {
    ptr: NonNull<Header>,
    _brand: Brand<'gc>,
}

impl<'gc> GcAny<'gc> {
    pub(crate) fn header(self) -> &'gc Header {
        // SAFETY: as for `Gc`: a handle within its mutation points to a live
        // object.
        unsafe { self.ptr.as_ref() }
    }

    pub(crate) fn header_ptr(self) -> NonNull<Header> {
        self.ptr
    }

    /// The kind tag given at allocation.
    pub fn kind(self) -> u8 {
        self.header().kind()
    }

    /// How the object can be reached, with one read of its flags (the
    /// lock-elision decision of every object operation).
    #[inline]
    pub fn sharing(self) -> maat_sync::Sharing {
        sharing_of(self.header().flags())
    }

    /// [`GcAny::sharing`], from the same one read of the flags that says
    /// the object was not transferred to a heap ([`GcAny::holder`]); `None`
    /// if it was (then its holder decides who may use it). An operation's
    /// fast path decides everything on this one read.
    #[inline(always)]
    pub fn sharing_unless_sent(self) -> Option<maat_sync::Sharing> {
        let flags = self.header().flags();
        (!flags.contains(Flags::SENT)).then(|| sharing_of(flags))
    }

    /// Whether the object may be reachable from several maatines.
    pub fn is_shared(self) -> bool {
        self.header().flags().contains(Flags::SHARED)
    }

    /// Whether the object is deeply immutable.
    pub fn is_frozen(self) -> bool {
        self.header().flags().contains(Flags::FROZEN)
    }

    /// The typed handle.
    ///
    /// # Safety
    ///
    /// The object was allocated as a `T` (the embedder checks its kind).
    pub unsafe fn downcast<T: 'gc>(self) -> Gc<'gc, T> {
        Gc::from_box(self.ptr.cast())
    }

    /// Starts loading the `line`th 64-byte cache line of the object's box
    /// (line 0 holds its header), and reads nothing: a hint for a VM that
    /// will need that part of the object soon, say an item its header does
    /// not yet tell it the place of. A line past the box's end is harmless.
    #[inline(always)]
    pub fn prefetch(self, line: usize) {
        crate::pool::prefetch(self.ptr.as_ptr().cast_const().cast::<u8>().wrapping_add(line * 64));
    }

    /// The object's address, to keep in a value's own bits. Never null.
    pub fn as_raw(self) -> NonNull<()> {
        self.ptr.cast()
    }

    /// The handle back from [`GcAny::as_raw`].
    ///
    /// # Safety
    ///
    /// `raw` came from `as_raw` of a handle of this mutation (or of a value
    /// kept in a traced place since, so that the object is still alive).
    pub unsafe fn from_raw(raw: NonNull<()>) -> GcAny<'gc> {
        GcAny { ptr: raw.cast(), _brand: PhantomData }
    }
}

/// The sharing state that `flags` say.
#[inline(always)]
fn sharing_of(flags: Flags) -> maat_sync::Sharing {
    if flags.contains(Flags::FROZEN) {
        maat_sync::Sharing::Frozen
    } else if flags.contains(Flags::SHARED) {
        maat_sync::Sharing::Shared
    } else {
        maat_sync::Sharing::Unshared
    }
}

impl<'gc> crate::Mutation<'gc> {
    /// The backward barrier for an object that keeps its own interior
    /// mutability (an `UnsafeCell` behind its own lock) instead of
    /// [`Lock`](crate::Lock)/[`RefLock`](crate::RefLock): call it before
    /// storing references into `obj` or rearranging them (what
    /// [`Gc::write`](crate::Gc::write) does for the safe wrappers).
    pub fn backward_barrier(&self, obj: GcAny<'gc>) {
        self.collector.barrier_back(obj.header_ptr());
    }

    /// The forward barrier for such an object: call it before storing
    /// `value` into a slot of `container` in place, or appending it, without
    /// moving the references already there (what
    /// [`Gc::write_forward`](crate::Gc::write_forward) does), and report the
    /// reference it replaces with
    /// [`Mutation::deletion_barrier`](crate::Mutation::deletion_barrier). A
    /// trace in parts resumes at positions, so it still reaches every item.
    /// Taking the last references away (a pop) needs only the deletion
    /// barrier. Any other change needs
    /// [`Mutation::backward_barrier`](crate::Mutation::backward_barrier) first.
    pub fn forward_barrier(&self, container: GcAny<'gc>, value: GcAny<'gc>) {
        self.collector.barrier_forward(container.header_ptr(), value.header_ptr());
    }

    /// The deletion barrier: `removed` was overwritten in, or taken out of,
    /// `container` without moving its other references (a slot replaced,
    /// the last element popped, a map entry replaced or deleted). While a
    /// shared collection marks, a reference removed from a global container
    /// is shaded: a heap that already contributed may hold it now (see
    /// [`crate::shared`]). Call it for every reference such a change
    /// removes, whether the object is global or not (it checks).
    #[inline]
    pub fn deletion_barrier(&self, container: GcAny<'gc>, removed: GcAny<'gc>) {
        if container.header().is_global() {
            self.collector.shade_if_marking(removed.header_ptr());
        }
    }

    /// `gc` is handed to another heap outside any global container's
    /// barriers (through a channel's queue, as a maatine's result or
    /// arguments held outside the GC): while a shared collection marks, a
    /// global `gc` is shaded. [`Mutation::share`](crate::Mutation::share) and
    /// [`Mutation::transfer`](crate::Mutation::transfer) already do it.
    #[inline]
    pub fn hand_off(&self, gc: GcAny<'gc>) {
        self.collector.shade_if_marking(gc.header_ptr());
    }
}

impl<'gc, T: 'gc> From<Gc<'gc, T>> for GcAny<'gc> {
    fn from(gc: Gc<'gc, T>) -> Self {
        GcAny { ptr: gc.header_ptr(), _brand: PhantomData }
    }
}

// SAFETY: marks the object; its own trace runs when it is traversed.
unsafe impl Trace for GcAny<'_> {
    #[inline]
    fn trace(&self, t: &mut Tracer) {
        t.mark(self.ptr);
    }
}

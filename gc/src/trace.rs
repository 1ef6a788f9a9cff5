//! How the collector finds references: the [`Trace`] trait and the
//! [`Tracer`] that marks what it is shown.
//!
//! Roots are never found by scanning memory. A heap's roots are exactly its
//! root value (traced through `Trace`) and, between mutations, nothing else:
//! [`Gc`](crate::Gc) pointers are branded with the lifetime of one mutation
//! and cannot be kept across the points where collection runs. An object's
//! references are exactly what its `Trace` impl reports.

use core::ptr::NonNull;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::BuildHasher;

use crate::header::Header;

/// Enumerates the GC references a value holds.
///
/// # Safety
///
/// `trace` must report every [`Gc`](crate::Gc) reachable from `self` without
/// passing through another GC object: a reference it misses may be freed
/// while still in use. It must not allocate or mutate GC objects. When the
/// tracer [`is_concurrent`](Tracer::is_concurrent) (a shared collection
/// started with [`Space::start_shared_collection`](crate::Space::start_shared_collection)
/// marking while heaps run), another thread may be writing the value: a type
/// whose values can be global in such a space must then synchronize with
/// its writers (take the lock they take). If
/// `NEEDS_TRACE` is false the type must hold no `Gc` at all. A `Drop` impl of
/// a traced type must not dereference the `Gc`s it holds: objects of one
/// sweep are freed in no particular order. A type whose global values
/// other threads write under a lock must implement
/// [`exclude_writers`](Trace::exclude_writers) by taking that lock, and its
/// writers must refuse a value they find frozen once they hold it.
///
/// A `Gc` stored inside a GC object must be written through
/// [`Gc::write`](crate::Gc::write) (and so sit in a [`Lock`](crate::Lock) or
/// [`RefLock`](crate::RefLock)), never through `Cell` or `RefCell`: the write
/// barrier is what keeps incremental marking correct, which is why this crate
/// does not implement `Trace` for `Cell` and `RefCell`.
pub unsafe trait Trace {
    /// Whether values of this type can hold GC references; when false the
    /// collector never calls `trace` (a leaf: strings, numbers).
    const NEEDS_TRACE: bool = true;

    /// Reports each directly held reference to `tracer`.
    fn trace(&self, tracer: &mut Tracer);

    /// Reports part of the references, from position `from` (0 at first), and
    /// returns where to resume, or `None` when done. Large containers
    /// implement it (slices and `Vec` do, in chunks of
    /// [`Tracer::PART`] elements) so that traversing one object never makes
    /// one long pause. The collector only resumes while the object is
    /// unchanged: any write to it goes through the barrier, after which it is
    /// traced again in full.
    fn trace_part(&self, tracer: &mut Tracer, from: usize) -> Option<usize> {
        debug_assert_eq!(from, 0, "only containers that trace in parts resume");
        self.trace(tracer);
        None
    }

    /// Bytes the value owns outside its GC box (a `Vec`'s buffer, a
    /// string's text), so that pacing and the heap limit see the real
    /// footprint. Read when the object is allocated and when it is freed; an
    /// object whose buffers grow in between reports the growth with
    /// [`Mutation::report_allocated`](crate::Mutation::report_allocated).
    /// Not read for a type without drop glue: such a value owns nothing
    /// outside its box, since owned memory is freed by a drop.
    fn heap_size(&self) -> usize {
        0
    }

    /// Runs `f` while no other thread is writing the value. Freezing an
    /// object that is already global sets its `FROZEN` flag inside `f`:
    /// readers of a frozen object take no lock, so no write may be under way
    /// when they first see the flag, and none may start after it (a writer
    /// checks the flag again once it holds the lock this takes). The default
    /// runs `f` at once: right for types no thread writes once they are
    /// global (strings, closures) and for those whose writes are atomic.
    fn exclude_writers(&self, f: &mut dyn FnMut()) {
        f();
    }
}

/// Receives references while the collector traverses an object.
pub struct Tracer {
    gray: Vec<NonNull<Header>>,
    /// Black objects traced in part, with where to resume.
    pending: Vec<(NonNull<Header>, usize)>,
    /// Bytes of objects traversed, the unit of collector work.
    work: usize,
    /// Objects traversed since the last `take_traversed`.
    traversed: usize,
    mode: Mode,
    /// Shared or frozen objects met by a reporting local tracer.
    found: Vec<NonNull<Header>>,
}

/// How a shared tracer colours: the cycle's mark, and whether mutators run
/// meanwhile.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct SharedMarking {
    pub(crate) mark: u8,
    pub(crate) concurrent: bool,
}

/// Which objects a tracer marks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A heap's local collection: marks unshared objects, stops at shared and
    /// frozen ones.
    Local,
    /// Local, and records every shared or frozen object it meets (the heap's
    /// contribution to a shared collection).
    LocalReporting,
    /// The shared collection: marks objects reachable from shared roots,
    /// which are all shared or frozen (Invariant S).
    Shared(SharedMarking),
    /// Records what it is shown, colouring nothing (the verifier, `share`).
    List,
}

/// An object waiting to be traversed, and from where.
#[derive(Clone, Copy)]
pub(crate) struct Gray {
    pub(crate) header: NonNull<Header>,
    pub(crate) from: usize,
}

impl Gray {
    /// The whole object, from the start.
    pub(crate) fn whole(header: NonNull<Header>) -> Self {
        Gray { header, from: 0 }
    }
}

/// Collector work charged per reference marked, in bytes.
const REFERENCE_COST: usize = 8;

impl Tracer {
    /// Elements of a slice traced per part (see [`Trace::trace_part`]).
    pub const PART: usize = 512;

    pub(crate) fn new() -> Self {
        Tracer { gray: Vec::new(), pending: Vec::new(), work: 0, traversed: 0, mode: Mode::Local, found: Vec::new() }
    }

    /// A tracer for the shared collection.
    pub(crate) fn shared(marking: SharedMarking) -> Self {
        Tracer { mode: Mode::Shared(marking), ..Tracer::new() }
    }

    /// Whether this tracer runs while mutators may write the objects it
    /// traces (a heap's part of a shared marking, at its own safe point):
    /// then a type that can be shared must synchronize its `trace` with its
    /// writers (the VM's objects take their lock). Otherwise nothing writes
    /// them meanwhile.
    pub fn is_concurrent(&self) -> bool {
        matches!(self.mode, Mode::Shared(SharedMarking { concurrent: true, .. }))
    }

    /// A tracer that records the references it is shown without marking.
    pub(crate) fn listing() -> Self {
        Tracer::listing_into(Vec::new())
    }

    /// A listing tracer that records into `buffer` (empty), which
    /// [`Tracer::take_listed`] gives back.
    pub(crate) fn listing_into(buffer: Vec<NonNull<Header>>) -> Self {
        debug_assert!(buffer.is_empty(), "a listing starts empty");
        Tracer { mode: Mode::List, gray: buffer, ..Tracer::new() }
    }

    /// The references recorded by a listing tracer, emptied.
    pub(crate) fn take_listed(&mut self) -> Vec<NonNull<Header>> {
        core::mem::take(&mut self.gray)
    }

    /// Moves the references recorded by a listing tracer onto `out`,
    /// keeping the tracer's buffer for the next listing.
    pub(crate) fn move_listed(&mut self, out: &mut Vec<NonNull<Header>>) {
        out.append(&mut self.gray);
    }

    /// Makes a local tracer record the shared and frozen objects it meets.
    pub(crate) fn set_reporting(&mut self, on: bool) {
        self.mode = if on { Mode::LocalReporting } else { Mode::Local };
    }

    /// The shared and frozen objects met while reporting, emptied.
    pub(crate) fn take_found(&mut self) -> Vec<NonNull<Header>> {
        core::mem::take(&mut self.found)
    }

    /// Marks the object behind `header` reachable: white becomes gray and
    /// waits on the gray stack to be traversed, or, for an object without
    /// references (a leaf), black at once (as Lua marks strings): a leaf costs
    /// the reference to it, not its size, so marking keeps ahead of a mutator
    /// whose new leaves the forward barrier marks. A local tracer stops at
    /// shared and frozen objects (their colour belongs to the shared
    /// collection).
    #[inline]
    pub(crate) fn mark(&mut self, header: NonNull<Header>) {
        // SAFETY: every header handed to the tracer belongs to a live object:
        // it comes from a Gc that was reachable when its holder was traced.
        let h = unsafe { header.as_ref() };
        #[cfg(debug_assertions)]
        assert_ne!(
            h.colour(),
            crate::header::FREED,
            "traced a freed object: something kept a reference the collector did not trace"
        );
        self.work += REFERENCE_COST;
        match self.mode {
            Mode::List => self.gray.push(header),
            Mode::Shared(marking) => {
                if h.shade(marking.mark) {
                    self.gray.push(header);
                }
            }
            // The colour first: most references a local marking meets are
            // already marked, and one load decides.
            Mode::Local => {
                if h.is_white() && !h.is_global() {
                    self.reach(header, h);
                }
            }
            // Every global object is reported, whatever its colour (which
            // belongs to the shared collection).
            Mode::LocalReporting => {
                if h.is_global() {
                    self.found.push(header);
                } else if h.is_white() {
                    self.reach(header, h);
                }
            }
        }
    }

    /// A white object this tracer colours was reached.
    #[inline]
    fn reach(&mut self, header: NonNull<Header>, h: &Header) {
        if h.vtable().leaf {
            h.set_black();
            self.traversed += 1;
        } else {
            h.set_gray();
            self.gray.push(header);
        }
    }

    /// Adds an object to traverse (from a shared queue).
    pub(crate) fn queue(&mut self, gray: Gray) {
        match gray.from {
            0 => self.gray.push(gray.header),
            from => self.pending.push((gray.header, from)),
        }
    }

    /// Takes the next object to traverse: new gray objects first, then the
    /// rest of objects traced in part.
    pub(crate) fn pop_gray(&mut self) -> Option<Gray> {
        match self.gray.pop() {
            Some(header) => Some(Gray::whole(header)),
            None => self.pending.pop().map(|(header, from)| Gray { header, from }),
        }
    }

    /// Whether `h` waits to be traversed (in whole or in part).
    pub(crate) fn is_gray_queued(&self, h: NonNull<Header>) -> bool {
        self.gray.contains(&h) || self.pending.iter().any(|&(p, _)| p == h)
    }

    pub(crate) fn has_gray(&self) -> bool {
        !self.gray.is_empty() || !self.pending.is_empty()
    }

    /// Traverses (part of) an object: blackens it on its first part, traces
    /// children, counts work, and queues the rest if it traces in parts. A
    /// local tracer skips objects that became shared or frozen while gray.
    pub(crate) fn traverse(&mut self, gray: Gray) {
        if let Mode::Shared(marking) = self.mode {
            return self.traverse_shared(gray, marking.mark);
        }
        // SAFETY: gray objects are live (they were reached this cycle).
        let h = unsafe { gray.header.as_ref() };
        if h.is_global() {
            return;
        }
        let vtable = h.vtable();
        if gray.from == 0 {
            h.set_black();
            self.work += vtable.size();
            self.traversed += 1;
        }
        // SAFETY: the vtable belongs to this object's type.
        if let Some(next) = unsafe { (vtable.trace_part)(gray.header, self, gray.from) } {
            self.pending.push((gray.header, next));
        }
    }

    /// Traverses (part of) a global object for the shared marking. It stays
    /// gray until its last part: a mutator that rearranges a gray object
    /// traces it whole first (see `shared`), and one another thread already
    /// marked is skipped.
    fn traverse_shared(&mut self, gray: Gray, mark: u8) {
        // SAFETY: gray objects are live: nothing is freed while marking.
        let h = unsafe { gray.header.as_ref() };
        if h.colour() == mark {
            return;
        }
        if gray.from == 0 {
            self.work += h.vtable().size();
            self.traversed += 1;
        }
        // SAFETY: the vtable belongs to this object's type.
        match unsafe { (h.vtable().trace_part)(gray.header, self, gray.from) } {
            Some(next) => self.pending.push((gray.header, next)),
            None => h.set_mark(mark),
        }
    }

    /// Traverses a global object whole, now, and marks it (the barrier of
    /// a mutator about to change it while a shared marking runs).
    pub(crate) fn traverse_whole(&mut self, header: NonNull<Header>, mark: u8) {
        // SAFETY: the caller holds a handle to it: live.
        let h = unsafe { header.as_ref() };
        self.work += h.vtable().size();
        // SAFETY: the vtable belongs to this object's type.
        unsafe { (h.vtable().trace)(header, self) };
        h.set_mark(mark);
    }

    /// Everything still to traverse, emptied (a shared step hands it back
    /// to the space's queue).
    pub(crate) fn take_grays(&mut self) -> impl Iterator<Item = Gray> + '_ {
        let pending = self.pending.drain(..).map(|(header, from)| Gray { header, from });
        self.gray.drain(..).map(Gray::whole).chain(pending)
    }

    /// Work done since the last call, in bytes traversed.
    pub(crate) fn take_work(&mut self) -> usize {
        core::mem::take(&mut self.work)
    }

    /// Objects traversed since the last call (the size of a marking).
    pub(crate) fn take_traversed(&mut self) -> usize {
        core::mem::take(&mut self.traversed)
    }

    /// Forgets every gray object (a new cycle starts from the roots).
    pub(crate) fn clear(&mut self) {
        self.gray.clear();
        self.pending.clear();
        self.found.clear();
        self.work = 0;
        self.traversed = 0;
    }
}

macro_rules! leaf {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: the type holds no Gc.
        unsafe impl Trace for $t {
            const NEEDS_TRACE: bool = false;
            #[inline]
            fn trace(&self, _: &mut Tracer) {}
        }
    )*};
}

leaf!((), bool, char, u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, str);

// SAFETY: a String holds no Gc.
unsafe impl Trace for String {
    const NEEDS_TRACE: bool = false;
    fn trace(&self, _: &mut Tracer) {}
    fn heap_size(&self) -> usize {
        self.capacity()
    }
}
leaf!(std::rc::Rc<str>, std::sync::Arc<str>);
leaf!(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU32, std::sync::atomic::AtomicBool);
// (The same types in normal builds; the annotating ones under `maat_valgrind`.)
#[cfg(maat_valgrind)]
leaf!(
    maat_sync::annotate::atomic::AtomicU64,
    maat_sync::annotate::atomic::AtomicU32,
    maat_sync::annotate::atomic::AtomicBool
);

// SAFETY: traces the boxed value.
unsafe impl<T: Trace + ?Sized> Trace for Box<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    #[inline]
    fn trace(&self, t: &mut Tracer) {
        (**self).trace(t);
    }

    fn heap_size(&self) -> usize {
        size_of_val::<T>(self) + (**self).heap_size()
    }

    fn trace_part(&self, t: &mut Tracer, from: usize) -> Option<usize> {
        (**self).trace_part(t, from)
    }
}

// SAFETY: traces the value if present.
unsafe impl<T: Trace> Trace for Option<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    #[inline]
    fn trace(&self, t: &mut Tracer) {
        if let Some(v) = self {
            v.trace(t);
        }
    }
}

// SAFETY: traces every element (in parts of `Tracer::PART` elements).
unsafe impl<T: Trace> Trace for [T] {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    #[inline]
    fn trace(&self, t: &mut Tracer) {
        if T::NEEDS_TRACE {
            self.iter().for_each(|v| v.trace(t));
        }
    }

    fn trace_part(&self, t: &mut Tracer, from: usize) -> Option<usize> {
        if !T::NEEDS_TRACE {
            return None;
        }
        let end = from.saturating_add(Tracer::PART).min(self.len());
        self.get(from..end).unwrap_or_default().iter().for_each(|v| v.trace(t));
        (end < self.len()).then_some(end)
    }
}

// SAFETY: traces every element.
unsafe impl<T: Trace, const N: usize> Trace for [T; N] {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    #[inline]
    fn trace(&self, t: &mut Tracer) {
        self.as_slice().trace(t);
    }
}

// SAFETY: traces every element.
unsafe impl<T: Trace> Trace for Vec<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    #[inline]
    fn trace(&self, t: &mut Tracer) {
        self.as_slice().trace(t);
    }

    fn trace_part(&self, t: &mut Tracer, from: usize) -> Option<usize> {
        self.as_slice().trace_part(t, from)
    }

    fn heap_size(&self) -> usize {
        self.capacity() * size_of::<T>()
    }
}

// SAFETY: traces every element.
unsafe impl<T: Trace> Trace for VecDeque<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    fn trace(&self, t: &mut Tracer) {
        if T::NEEDS_TRACE {
            self.iter().for_each(|v| v.trace(t));
        }
    }
}

// SAFETY: traces every key and value.
unsafe impl<K: Trace, V: Trace, S: BuildHasher> Trace for HashMap<K, V, S> {
    const NEEDS_TRACE: bool = K::NEEDS_TRACE || V::NEEDS_TRACE;
    fn trace(&self, t: &mut Tracer) {
        if Self::NEEDS_TRACE {
            self.iter().for_each(|(k, v)| (k.trace(t), v.trace(t)).1);
        }
    }
}

// SAFETY: traces every key and value.
unsafe impl<K: Trace, V: Trace> Trace for BTreeMap<K, V> {
    const NEEDS_TRACE: bool = K::NEEDS_TRACE || V::NEEDS_TRACE;
    fn trace(&self, t: &mut Tracer) {
        if Self::NEEDS_TRACE {
            self.iter().for_each(|(k, v)| (k.trace(t), v.trace(t)).1);
        }
    }
}

macro_rules! tuple {
    ($($name:ident),+) => {
        // SAFETY: traces every field.
        unsafe impl<$($name: Trace),+> Trace for ($($name,)+) {
            const NEEDS_TRACE: bool = false $(|| $name::NEEDS_TRACE)+;
            #[allow(non_snake_case)]
            #[inline]
            fn trace(&self, t: &mut Tracer) {
                let ($($name,)+) = self;
                $($name.trace(t);)+
            }
        }
    };
}

tuple!(A);
tuple!(A, B);
tuple!(A, B, C);
tuple!(A, B, C, D);
tuple!(A, B, C, D, E);

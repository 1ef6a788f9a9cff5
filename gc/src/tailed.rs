//! Objects with a tail: a fixed head followed, in the same box, by a run of
//! items whose number is chosen when the object is allocated (an instance
//! and its fields: one allocation, and a field one load away from its
//! object).
//!
//! # Layout
//!
//! ```text
//!   GcBox<Tailed<H>> = Header | head: H | len | items: [H::Item; len]
//! ```
//!
//! The vtable's layout is the fixed part (the box with no items); its
//! `tail_bytes` gives the rest, worked out from `len`, so a box is freed with
//! the layout it was allocated with (`Header::box_layout`). The tail's bytes
//! count as the object's [`Trace::heap_size`], so that every count of an
//! object's footprint (the vtable's size plus its heap size) includes them.
//!
//! # Invariant
//!
//! A `Tailed<H>` lives only in a box made by [`Mutation::alloc_tailed`],
//! with its `len` items written after it: its fields are private and nothing
//! else makes one, and no safe code can move one out of its box (the handles
//! give shared references only). [`Tailed::items`] relies on it.
//!
//! [`Mutation::alloc_tailed`]: crate::Mutation::alloc_tailed

use core::alloc::Layout;
use core::mem::offset_of;
use core::ptr::NonNull;

use crate::header::{GcBox, Header, VTable};
use crate::trace::{Trace, Tracer};

/// The head of a tailed object: the type of its items, and how they are
/// traced.
///
/// # Safety
///
/// `trace` reports every reference the head and the items hold, as
/// [`Trace::trace`] must; and the head's `Drop`, if it has one, touches no
/// `Gc` (a sweep frees objects in no order, as `#[trace(unsafe_drop)]`
/// says for derived types).
pub unsafe trait Head: Sized {
    /// What the tail holds. Items are never dropped (`alloc_tailed` refuses
    /// types that need it).
    type Item;

    /// Whether the head or the items can hold references (as
    /// [`Trace::NEEDS_TRACE`]).
    const NEEDS_TRACE: bool = true;

    /// Reports the references of the head and of `items`, its tail.
    fn trace(&self, items: &[Self::Item], tracer: &mut Tracer);

    /// Runs `f` while no other thread writes the object (as
    /// [`Trace::exclude_writers`]).
    fn exclude_writers(&self, f: &mut dyn FnMut()) {
        f();
    }
}

/// An object of head `H` and a tail of items (see the module).
#[repr(C)]
pub struct Tailed<H: Head> {
    head: H,
    len: usize,
    items: [H::Item; 0],
}

impl<H: Head> Tailed<H> {
    /// The head.
    #[inline(always)]
    pub fn head(&self) -> &H {
        &self.head
    }

    /// The items, as many as the object was allocated with.
    #[inline(always)]
    pub fn items(&self) -> &[H::Item] {
        // SAFETY: `len` items follow the head in the box, written by
        // `Collector::allocate_tailed` before the object was handed out
        // (module invariant), and live as long as the object.
        unsafe { core::slice::from_raw_parts(self.items.as_ptr(), self.len) }
    }
}

// SAFETY: traces the head and every item, as the head's contract says.
unsafe impl<H: Head> Trace for Tailed<H> {
    const NEEDS_TRACE: bool = H::NEEDS_TRACE;

    fn trace(&self, tracer: &mut Tracer) {
        self.head.trace(self.items(), tracer);
    }

    fn heap_size(&self) -> usize {
        box_layout::<H>(self.len).size() - Layout::new::<GcBox<Tailed<H>>>().size()
    }

    fn exclude_writers(&self, f: &mut dyn FnMut()) {
        self.head.exclude_writers(f);
    }
}

/// The layout of a box of `Tailed<H>` with `len` items.
pub(crate) fn box_layout<H: Head>(len: usize) -> Layout {
    let fixed = Layout::new::<GcBox<Tailed<H>>>();
    let start = offset_of!(GcBox<Tailed<H>>, value) + offset_of!(Tailed<H>, items);
    let size = len
        .checked_mul(size_of::<H::Item>())
        .and_then(|tail| tail.checked_add(start))
        .expect("a tailed object's size overflows");
    Layout::from_size_align(size.max(fixed.size()), fixed.align())
        .expect("a tailed object's layout is valid")
        .pad_to_align()
}

/// Bytes past the fixed part of the box `h` heads.
///
/// # Safety
/// `h` heads a live box of `Tailed<H>`.
unsafe fn tail_bytes<H: Head>(h: NonNull<Header>) -> usize {
    // SAFETY: by the caller's contract.
    unsafe { h.cast::<GcBox<Tailed<H>>>().as_ref() }.value.heap_size()
}

/// Writes a `Tailed<H>` with `len` items made by `item` into `ptr`, fresh
/// memory of [`box_layout`]`::<H>(len)`, after its header.
///
/// # Safety
/// `ptr` is valid for writes of that layout.
pub(crate) unsafe fn write<H: Head>(
    ptr: NonNull<GcBox<Tailed<H>>>,
    header: Header,
    head: H,
    len: usize,
    mut item: impl FnMut(usize) -> H::Item,
) {
    const { assert!(!core::mem::needs_drop::<H::Item>(), "a tail's items are never dropped") };
    // SAFETY: the box's memory is valid for the fixed part and `len` items
    // (the caller's contract); the items start at the tail's offset.
    unsafe {
        ptr.write(GcBox { header, value: Tailed { head, len, items: [] } });
        let items = (&raw mut (*ptr.as_ptr()).value.items).cast::<H::Item>();
        for i in 0..len {
            items.add(i).write(item(i));
        }
    }
}

/// The vtable of `Tailed<H>`: `T`'s, with the tail's size.
pub(crate) fn vtable<H: Head>() -> &'static VTable {
    struct Of<H>(core::marker::PhantomData<H>);
    impl<H: Head> Of<H> {
        const VTABLE: VTable =
            VTable { tail_bytes: Some(tail_bytes::<H>), plain: false, ..crate::collector::vtable_of::<Tailed<H>>() };
    }
    &Of::<H>::VTABLE
}

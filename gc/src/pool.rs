//! The block pool: a heap's freed boxes, kept by size class and handed
//! back to its next allocations of the same class.
//!
//! A collector frees objects in bursts (a sweep step frees a few hundred at
//! a time) while its mutator allocates steadily. The system allocator's
//! per-thread caches hold only a few blocks of a size, so most of a burst
//! would go through its slow paths twice: once to free, once to allocate
//! again. The pool makes both a push or a pop on a free list.
//!
//! # Classes
//!
//! Small boxes (up to [`MAX_SMALL`] bytes) have a class per size, in steps
//! of [`GRAIN`]: a block is exactly its box. Large ones (up to
//! [`MAX_POOLED`]) have a class per [`LARGE_STEP`] bytes, and their blocks
//! are the size of their class, rounded up from the box's: so any box of a
//! class can take any of its blocks. Their free lists are made the first
//! time the pool keeps a large block (a maatine's heap that never frees one
//! stays a word larger, not a list head per class). Strings are the large
//! boxes most programs make: after a collection had freed many 1 KiB
//! strings, glibc took up to a millisecond for the next one when each went
//! back to it (docs/gc.md).
//!
//! # Invariants
//!
//! - Every box's block has the layout [`block_layout`] gives for the box's
//!   layout (`Layout::new` of its `GcBox`, kept in its vtable): it is
//!   allocated with it, by [`Pool::alloc`], and released with it, to the
//!   pool or by [`release`], the only two ways a block is given back.
//! - A block on a free list is a box's memory no longer in use, of its
//!   list's class ([`class_layout`]), owned by the pool alone; its first
//!   word links the list.
//! - The pool belongs to one heap and is used by whoever runs that heap's
//!   collector: its thread, or a collector running while the heap is stopped
//!   (the same rule as the rest of the collector's state). It holds at most
//!   the cap its caller gives; dropping it returns every block.

use core::alloc::Layout;
use core::cell::{Cell, OnceCell};
use core::ptr::NonNull;
use std::alloc::{alloc, dealloc, handle_alloc_error};

/// Small classes step by this many bytes (the alignment of every header).
const GRAIN: usize = 8;
/// The largest small box.
const MAX_SMALL: usize = 256;
const SMALL: usize = MAX_SMALL / GRAIN;
/// Large classes step by this many bytes.
const LARGE_STEP: usize = 64;
/// Larger boxes are not pooled.
const MAX_POOLED: usize = 4096;
const LARGE: usize = (MAX_POOLED - MAX_SMALL) / LARGE_STEP;

/// The free list for blocks of `layout`, if they are pooled: small classes
/// first, then large ones.
#[inline(always)]
fn class(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if layout.align() != GRAIN || size % GRAIN != 0 || size > MAX_POOLED {
        return None;
    }
    Some(if size <= MAX_SMALL { size / GRAIN - 1 } else { SMALL + (size - MAX_SMALL).div_ceil(LARGE_STEP) - 1 })
}

/// The size of the blocks of class `c`.
#[inline(always)]
fn class_size(c: usize) -> usize {
    if c < SMALL { (c + 1) * GRAIN } else { MAX_SMALL + (c - SMALL + 1) * LARGE_STEP }
}

/// The layout of the blocks of class `c`.
fn class_layout(c: usize) -> Layout {
    Layout::from_size_align(class_size(c), GRAIN).expect("a size class is a valid layout")
}

/// The layout of the block of a box of `layout`: its class', or its own if
/// it is not pooled.
pub(crate) fn block_layout(layout: Layout) -> Layout {
    class(layout).map_or(layout, class_layout)
}

/// A free block: its first word links the next one of its class.
struct Block {
    next: Option<NonNull<Block>>,
}

type Heads<const N: usize> = [Cell<Option<NonNull<Block>>>; N];

/// A heap's free lists by size class.
pub(crate) struct Pool {
    small: Heads<SMALL>,
    /// Made when the first large block is kept.
    large: OnceCell<Box<Heads<LARGE>>>,
    /// Bytes on the free lists.
    bytes: Cell<usize>,
}

impl Pool {
    pub(crate) fn new() -> Self {
        Pool { small: [const { Cell::new(None) }; SMALL], large: OnceCell::new(), bytes: Cell::new(0) }
    }

    /// The free list of class `c`, if it exists yet.
    #[inline(always)]
    fn head(&self, c: usize) -> Option<&Cell<Option<NonNull<Block>>>> {
        if c < SMALL { Some(&self.small[c]) } else { self.large.get().map(|large| &large[c - SMALL]) }
    }

    /// Memory for a box of `layout`: a pooled block of its class, or a new
    /// one from the global allocator.
    pub(crate) fn alloc(&self, layout: Layout) -> NonNull<u8> {
        let c = class(layout);
        if let Some(c) = c
            && let Some(head) = self.head(c)
            && let Some(block) = head.get()
        {
            // SAFETY: a block on a free list is unused memory the pool owns,
            // and its first word is its link (module invariants).
            let next = unsafe { block.as_ref() }.next;
            head.set(next);
            if let Some(next) = next {
                prefetch(next);
            }
            self.bytes.set(self.bytes.get() - class_size(c));
            return block.cast();
        }
        let block = c.map_or(layout, class_layout);
        // SAFETY: a box's layout has a non-zero size (it holds a header).
        NonNull::new(unsafe { alloc(block) }).unwrap_or_else(|| handle_alloc_error(block))
    }

    /// Takes back the memory of a box of `layout` whose value was dropped:
    /// onto its free list while the pool holds less than `cap` bytes, else
    /// to the global allocator.
    ///
    /// # Safety
    /// `block` came from [`Pool::alloc`] (of any heap's pool) for a box of
    /// `layout`, holds no live value, and is not used again.
    pub(crate) unsafe fn free(&self, block: NonNull<u8>, layout: Layout, cap: usize) {
        match class(layout) {
            Some(c) if self.bytes.get() + class_size(c) <= cap => {
                let head = if c < SMALL {
                    &self.small[c]
                } else {
                    &self.large.get_or_init(|| Box::new([const { Cell::new(None) }; LARGE]))[c - SMALL]
                };
                let block = block.cast::<Block>();
                // SAFETY: the caller gives up the block, at least one word
                // long and aligned to `GRAIN`; the pool now owns it.
                unsafe { block.write(Block { next: head.get() }) };
                head.set(Some(block));
                self.bytes.set(self.bytes.get() + class_size(c));
            }
            // SAFETY: by the caller's contract.
            _ => unsafe { release(block, layout) },
        }
    }
}

/// Starts loading `block`'s line into the cache: the next allocation of
/// its class reads its link and writes its header, and a block that a sweep
/// freed long ago is usually cold.
#[inline(always)]
fn prefetch(block: NonNull<Block>) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults and reads nothing the
    // program sees, whatever the address; SSE is part of x86-64's baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(block.as_ptr().cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = block;
}

/// Returns the memory of a box of `layout` to the global allocator.
///
/// # Safety
/// As [`Pool::free`].
pub(crate) unsafe fn release(block: NonNull<u8>, layout: Layout) {
    // SAFETY: allocated with the box's block layout (module invariants),
    // unused.
    unsafe { dealloc(block.as_ptr(), block_layout(layout)) };
}

impl Drop for Pool {
    fn drop(&mut self) {
        // (A maatine's heap is dropped at every join: most lists are empty.)
        if self.bytes.get() == 0 {
            return;
        }
        let large = self.large.get().into_iter().flat_map(|large| large.iter());
        for (c, head) in self.small.iter().chain(large).enumerate() {
            let mut next = head.get();
            if next.is_none() {
                continue;
            }
            let layout = class_layout(c);
            while let Some(block) = next {
                // SAFETY: pooled blocks are owned by the pool, linked by
                // their first word, and allocated with their class' layout.
                next = unsafe { block.as_ref() }.next;
                // SAFETY: as above; each block is on one list once.
                unsafe { release(block.cast(), layout) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn box_layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn a_freed_block_is_reused_by_its_class_only() {
        let pool = Pool::new();
        let small = box_layout(56, 8);
        let other = box_layout(64, 8);
        let a = pool.alloc(small);
        // SAFETY: allocated with `small` just above, unused.
        unsafe { pool.free(a, small, usize::MAX) };
        assert_eq!(pool.bytes.get(), 56);
        let b = pool.alloc(other);
        assert_ne!(a, b, "another class does not take the block");
        assert_eq!(pool.alloc(small), a, "its class does");
        assert_eq!(pool.bytes.get(), 0);
        // SAFETY: each block was allocated with its layout and is unused.
        unsafe {
            pool.free(a, small, usize::MAX);
            pool.free(b, other, usize::MAX);
        }
    }

    #[test]
    fn a_large_class_takes_boxes_of_several_sizes() {
        let pool = Pool::new();
        let (a_box, b_box, other) = (box_layout(264, 8), box_layout(320, 8), box_layout(328, 8));
        assert_eq!(block_layout(a_box), b_box, "a large box's block is its class' size");
        let a = pool.alloc(a_box);
        // SAFETY: allocated for `a_box` just above, unused.
        unsafe { pool.free(a, a_box, usize::MAX) };
        assert_eq!(pool.bytes.get(), 320, "the pool counts the block, not the box");
        let c = pool.alloc(other);
        assert_ne!(c, a, "the next class does not take it");
        let b = pool.alloc(b_box);
        assert_eq!(b, a, "a box of another size of its class does");
        assert_eq!(pool.bytes.get(), 0);
        // SAFETY: each block was allocated for its box's layout and is
        // unused; dropping the pool returns those it keeps.
        unsafe {
            pool.free(b, b_box, usize::MAX);
            pool.free(c, other, usize::MAX);
        }
        assert_eq!(pool.bytes.get(), 320 + 384);
    }

    #[test]
    fn the_cap_and_large_or_overaligned_boxes_go_to_the_allocator() {
        let pool = Pool::new();
        for layout in [box_layout(MAX_POOLED + GRAIN, 8), box_layout(64, 16)] {
            let a = pool.alloc(layout);
            // SAFETY: allocated with `layout` just above, unused.
            unsafe { pool.free(a, layout, usize::MAX) };
            assert_eq!(pool.bytes.get(), 0, "{layout:?} is not pooled");
        }
        let small = box_layout(32, 8);
        let (a, b) = (pool.alloc(small), pool.alloc(small));
        // SAFETY: allocated with `small` just above, unused.
        unsafe {
            pool.free(a, small, 40);
            pool.free(b, small, 40);
        }
        assert_eq!(pool.bytes.get(), 32, "the second block is over the cap");
    }
}

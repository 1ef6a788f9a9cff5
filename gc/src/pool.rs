//! The block pool: a heap's freed small boxes, kept by size class and handed
//! back to its next allocations of the same class.
//!
//! A collector frees objects in bursts (a sweep step frees a few hundred at
//! a time) while its mutator allocates steadily. The system allocator's
//! per-thread caches hold only a few blocks of a size, so most of a burst
//! would go through its slow paths twice: once to free, once to allocate
//! again. The pool makes both a push or a pop on a free list.
//!
//! # Invariants
//!
//! - Every box is allocated with its type's layout (`Layout::new` of its
//!   `GcBox`, kept in its vtable), and released with the same layout: to the
//!   pool, or to the global allocator.
//! - A block on a free list is a box's memory no longer in use, of its
//!   list's class ([`GRAIN`] × (index + 1) bytes, aligned to [`GRAIN`]),
//!   owned by the pool alone; its first word links the list.
//! - The pool belongs to one heap and is used by whoever runs that heap's
//!   collector: its thread, or a collector running while the heap is stopped
//!   (the same rule as the rest of the collector's state). It holds at most
//!   the cap its caller gives; dropping it returns every block.

use core::alloc::Layout;
use core::cell::Cell;
use core::ptr::NonNull;
use std::alloc::{alloc, dealloc, handle_alloc_error};

/// Size classes step by this many bytes (the alignment of every header).
const GRAIN: usize = 8;
/// Larger boxes are not pooled.
const MAX_POOLED: usize = 256;
const CLASSES: usize = MAX_POOLED / GRAIN;

/// The free list for blocks of `layout`, if they are pooled.
fn class(layout: Layout) -> Option<usize> {
    let size = layout.size();
    (layout.align() == GRAIN && size <= MAX_POOLED && size % GRAIN == 0).then(|| size / GRAIN - 1)
}

/// The layout of the blocks of class `c`.
fn class_layout(c: usize) -> Layout {
    Layout::from_size_align((c + 1) * GRAIN, GRAIN).expect("a size class is a valid layout")
}

/// A free block: its first word links the next one of its class.
struct Block {
    next: Option<NonNull<Block>>,
}

/// A heap's free lists by size class.
pub(crate) struct Pool {
    heads: [Cell<Option<NonNull<Block>>>; CLASSES],
    /// Bytes on the free lists.
    bytes: Cell<usize>,
}

impl Pool {
    pub(crate) fn new() -> Self {
        Pool { heads: [const { Cell::new(None) }; CLASSES], bytes: Cell::new(0) }
    }

    /// Memory for a box of `layout`: a pooled block of its class, or a new
    /// one from the global allocator.
    pub(crate) fn alloc(&self, layout: Layout) -> NonNull<u8> {
        if let Some(c) = class(layout)
            && let Some(block) = self.heads[c].get()
        {
            // SAFETY: a block on a free list is unused memory the pool owns,
            // and its first word is its link (module invariants).
            let next = unsafe { block.as_ref() }.next;
            self.heads[c].set(next);
            if let Some(next) = next {
                prefetch(next);
            }
            self.bytes.set(self.bytes.get() - layout.size());
            return block.cast();
        }
        // SAFETY: a box's layout has a non-zero size (it holds a header).
        NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout))
    }

    /// Takes back the memory of a box of `layout` whose value was dropped:
    /// onto its free list while the pool holds less than `cap` bytes, else
    /// to the global allocator.
    ///
    /// # Safety
    /// `block` came from [`Pool::alloc`] (of any heap's pool) or the global
    /// allocator with `layout`, holds no live value, and is not used again.
    pub(crate) unsafe fn free(&self, block: NonNull<u8>, layout: Layout, cap: usize) {
        match class(layout) {
            Some(c) if self.bytes.get() + layout.size() <= cap => {
                let block = block.cast::<Block>();
                // SAFETY: the caller gives up the block, at least one word
                // long and aligned to `GRAIN`; the pool now owns it.
                unsafe { block.write(Block { next: self.heads[c].get() }) };
                self.heads[c].set(Some(block));
                self.bytes.set(self.bytes.get() + layout.size());
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

/// Returns a box's memory to the global allocator.
///
/// # Safety
/// As [`Pool::free`].
pub(crate) unsafe fn release(block: NonNull<u8>, layout: Layout) {
    // SAFETY: allocated with `layout` (module invariants), unused.
    unsafe { dealloc(block.as_ptr(), layout) };
}

impl Drop for Pool {
    fn drop(&mut self) {
        for (c, head) in self.heads.iter().enumerate() {
            let layout = class_layout(c);
            let mut next = head.get();
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
    fn the_cap_and_large_or_overaligned_boxes_go_to_the_allocator() {
        let pool = Pool::new();
        for layout in [box_layout(512, 8), box_layout(64, 16)] {
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

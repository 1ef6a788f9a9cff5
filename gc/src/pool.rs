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
//! of [`GRAIN`]: a block is exactly its box. A pool past its first
//! [`TINY`] bytes carves them, in address order, from a region it holds
//! alone (see [`crate::depot`]): a heap's
//! small objects lie densely together, and marking and sweeping them touch
//! fewer lines and pages than blocks scattered among the system
//! allocator's. Large ones (up to [`MAX_POOLED`]) have a class per
//! [`LARGE_STEP`] bytes, and their blocks come from the system allocator,
//! at the size of their class, rounded up from the box's: so any box of a
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
//! - A small block is carved from a region, or, for a heap's first few
//!   KiB, allocated alone by the system allocator; either way it never
//!   returns to the system allocator: what no pool keeps goes to the depot.
//!   A large block comes from the system allocator and returns to it.
//! - A block on a free list is a box's memory no longer in use, of its
//!   list's class ([`class_layout`]), owned by the pool alone; its first
//!   word links the list. So is the rest of the pool's region, not yet
//!   carved, and so is a block on the spill (a small block freed over the
//!   cap), until [`Pool::give_spilled`] hands its chain to the depot.
//! - The pool belongs to one heap and is used by whoever runs that heap's
//!   collector: its thread, or a collector running while the heap is stopped
//!   (the same rule as the rest of the collector's state). Its free lists
//!   hold at most the cap its caller gives, and its spill only until the
//!   walk that filled it settles; dropping it gives back every block.

use core::alloc::Layout;
use core::cell::{Cell, OnceCell};
use core::ptr::NonNull;
use std::alloc::{alloc, dealloc, handle_alloc_error};

use crate::depot::{self, MAX_REGION, MIN_REGION};

/// Small classes step by this many bytes (the alignment of every header).
const GRAIN: usize = 8;
/// The largest small box.
const MAX_SMALL: usize = 256;
/// The number of small classes.
pub(crate) const SMALL: usize = MAX_SMALL / GRAIN;
// `carve` takes any small box from a new region without checking its size.
const _: () = assert!(MIN_REGION >= MAX_SMALL, "every region holds the largest small box");
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
pub(crate) struct Block {
    pub(crate) next: Option<NonNull<Block>>,
}

/// A pool takes blocks from the depot in batches of about the bytes it has
/// taken so far, between these two: a maatine's heap that allocates a few
/// objects takes a few blocks, not a large heap's share.
const MIN_BATCH: usize = 256;
const MAX_BATCH: usize = 16 * 1024;
/// A pool takes its first region once it has taken this many bytes of
/// small blocks; before that, the blocks the depot does not have come from
/// the system allocator one by one, so that a heap that allocates a few
/// objects holds no region it barely uses.
const TINY: usize = 4 * 1024;

type Heads<const N: usize> = [Cell<Option<NonNull<Block>>>; N];

/// The region a pool carves from.
struct Carver {
    /// The next uncarved byte.
    fresh: Cell<NonNull<u8>>,
    /// Bytes not carved yet.
    left: Cell<usize>,
    /// The size of the next region the pool makes.
    grow: Cell<usize>,
}

/// A heap's free lists by size class.
pub(crate) struct Pool {
    small: Heads<SMALL>,
    /// Made when the first large block is kept.
    large: OnceCell<Box<Heads<LARGE>>>,
    /// Bytes on the free lists.
    bytes: Cell<usize>,
    /// The region, made with the first one (a maatine's heap is made at
    /// every spawn, and a larger one cost glibc's slower paths: 20,000
    /// spawns ran 12 M more instructions with four more words here).
    region: OnceCell<Box<Carver>>,
    /// Bytes of small blocks the pool has taken: from the depot, the system
    /// allocator and its regions.
    taken: Cell<usize>,
    /// Small blocks freed over the cap, waiting for [`Pool::give_spilled`]:
    /// made the first time the pool spills.
    spill: OnceCell<Box<Spill>>,
}

/// Small blocks freed over a pool's cap during one walk of the collector,
/// by class, given to the depot together at the end of the walk: one lock
/// of a class' list per walk, not one per block (a sweep of binary-trees at
/// depth 18 freed a million blocks a cycle over the cap, 4% of the run in
/// the depot's locks).
struct Spill {
    /// Each class' chain.
    chains: [Cell<Option<Ends>>; SMALL],
    /// Bit `c` is set while class `c`'s chain is not empty, so that a walk
    /// that spilled nothing settles without looking at every chain (a
    /// walk settles every 65 objects swept: scanning the 32 chains instead
    /// ran 2.5% more instructions on binary-trees at depth 16).
    classes: Cell<u32>,
}
const _: () = assert!(SMALL <= u32::BITS as usize, "a bit for each small class");

/// The first block of a chain and its last.
type Ends = (NonNull<Block>, NonNull<Block>);

impl Pool {
    pub(crate) fn new() -> Self {
        Pool {
            small: [const { Cell::new(None) }; SMALL],
            large: OnceCell::new(),
            bytes: Cell::new(0),
            region: OnceCell::new(),
            taken: Cell::new(0),
            spill: OnceCell::new(),
        }
    }

    /// The free list of class `c`, if it exists yet.
    #[inline(always)]
    fn head(&self, c: usize) -> Option<&Cell<Option<NonNull<Block>>>> {
        if c < SMALL { Some(&self.small[c]) } else { self.large.get().map(|large| &large[c - SMALL]) }
    }

    /// Memory for a box of `layout`: a pooled block of its class, or a new
    /// one: carved if it is small and the heap not tiny, else from the
    /// global allocator.
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
                prefetch(next.as_ptr().cast_const().cast());
            }
            self.bytes.set(self.bytes.get() - class_size(c));
            return block.cast();
        }
        if let Some(c) = c
            && c < SMALL
        {
            return self.carve(c);
        }
        system_alloc(c.map_or(layout, class_layout))
    }

    /// Takes back the memory of a box of `layout` whose value was dropped:
    /// onto its free list while the pool holds less than `cap` bytes; else
    /// a small block to the spill, which [`Pool::give_spilled`] gives to
    /// the depot, and a large one to the global allocator.
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
                // SAFETY: the caller gives up the block, of class `c`.
                unsafe { self.keep(head, block, c) };
            }
            // SAFETY: the caller gives up the block, of small class `c`.
            Some(c) if c < SMALL => unsafe { self.spill(block.cast(), c) },
            // SAFETY: by the caller's contract.
            _ => unsafe { release(block, layout) },
        }
    }

    /// Adds `block`, of small class `c`, to the spill.
    ///
    /// # Safety
    /// `block` is unused memory of class `c`, which the caller gives up.
    unsafe fn spill(&self, block: NonNull<Block>, c: usize) {
        let spill = self
            .spill
            .get_or_init(|| Box::new(Spill { chains: [const { Cell::new(None) }; SMALL], classes: Cell::new(0) }));
        let chain = &spill.chains[c];
        let (next, last) = match chain.get() {
            Some((first, last)) => (Some(first), last),
            None => (None, block),
        };
        // SAFETY: by the caller's contract, the pool now owns the block.
        unsafe { block.write(Block { next }) };
        chain.set(Some((block, last)));
        spill.classes.set(spill.classes.get() | 1 << c);
    }

    /// Gives the spill to the depot, a chain per class.
    pub(crate) fn give_spilled(&self) {
        let Some(spill) = self.spill.get() else { return };
        let mut classes = spill.classes.replace(0);
        while classes != 0 {
            let c = classes.trailing_zeros() as usize;
            classes &= classes - 1;
            if let Some((first, last)) = spill.chains[c].take() {
                // SAFETY: the spill owns its chains' blocks, of class `c`,
                // linked from `first` to `last`; it gives them up.
                unsafe { depot::give(c, first, last) };
            }
        }
    }

    /// Puts `block`, of class `c`, on its free list `head`.
    ///
    /// # Safety
    /// `block` is unused memory of class `c`, at least one word long and
    /// aligned to `GRAIN`, which the caller gives up to the pool.
    unsafe fn keep(&self, head: &Cell<Option<NonNull<Block>>>, block: NonNull<u8>, c: usize) {
        let block = block.cast::<Block>();
        // SAFETY: by the caller's contract, the pool now owns the block.
        unsafe { block.write(Block { next: head.get() }) };
        head.set(Some(block));
        self.bytes.set(self.bytes.get() + class_size(c));
    }

    /// A new small block of class `c`, its free list being empty: carved
    /// from the region; or, once the region is used up, taken from the
    /// depot (with more of its class for the list), or from the system
    /// allocator while the pool is [`TINY`], or carved from a new region.
    #[inline(never)]
    fn carve(&self, c: usize) -> NonNull<u8> {
        let size = class_size(c);
        if self.left() < size {
            let batch = self.taken.get().clamp(MIN_BATCH, MAX_BATCH) / size;
            if let Some((block, n)) = depot::take(c, batch) {
                // SAFETY: the depot handed over `n` linked blocks of class
                // `c`: the pool owns them now (module invariants).
                self.small[c].set(unsafe { block.as_ref() }.next);
                self.bytes.set(self.bytes.get() + (n - 1) * size);
                self.taken.set(self.taken.get() + n * size);
                return block.cast();
            }
            if self.taken.get() < TINY {
                self.taken.set(self.taken.get() + size);
                return system_alloc(class_layout(c));
            }
            self.next_region();
        }
        let region = self.region.get().expect("a region was made");
        let block = region.fresh.get();
        // SAFETY: the region has `left >= size` bytes from `fresh`.
        region.fresh.set(unsafe { block.add(size) });
        region.left.set(region.left.get() - size);
        block
    }

    /// Bytes of the region not carved yet.
    fn left(&self) -> usize {
        self.region.get().map_or(0, |region| region.left.get())
    }

    /// Replaces the region, whose rest (smaller than any box that asked)
    /// becomes a block on its class' list.
    fn next_region(&self) {
        self.carve_rest(usize::MAX);
        let len = self.region.get().map_or(MIN_REGION, |carver| carver.grow.get());
        let region = depot::region(len);
        self.taken.set(self.taken.get() + region.len);
        let carver = self.region.get_or_init(|| {
            Box::new(Carver { fresh: Cell::new(region.start), left: Cell::new(0), grow: Cell::new(len) })
        });
        carver.fresh.set(region.start);
        carver.left.set(region.len);
        carver.grow.set((len * 2).min(MAX_REGION));
    }

    /// Cuts the rest of the region into blocks on their classes' lists, the
    /// largest first, if it is shorter than `under` bytes.
    fn carve_rest(&self, under: usize) {
        let Some(region) = self.region.get().filter(|region| region.left.get() < under) else { return };
        while region.left.get() > 0 {
            let size = region.left.get().min(MAX_SMALL);
            let (c, block) = (size / GRAIN - 1, region.fresh.get());
            // SAFETY: the rest of the region is unused memory the pool owns,
            // a multiple of `GRAIN` long (every carve is) and aligned to it.
            unsafe {
                self.keep(&self.small[c], block, c);
                region.fresh.set(block.add(size));
            }
            region.left.set(region.left.get() - size);
        }
    }
}

/// Starts loading the cache line of `at` (an object's, or a free block's
/// that the next allocation of its class reads and writes: a block a sweep
/// freed long ago is usually cold). A hint: it reads nothing.
#[inline(always)]
pub(crate) fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults and reads nothing the
    // program sees, whatever the address; SSE is part of x86-64's baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// New memory of `layout` from the global allocator (which aborts the
/// process when it has none).
///
/// # Panics
/// If `layout` has size zero (no block or region has).
pub(crate) fn system_alloc(layout: Layout) -> NonNull<u8> {
    assert_ne!(layout.size(), 0, "a block has a size");
    // SAFETY: the layout has a non-zero size (checked above).
    NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout))
}

/// Gives back the memory of a box of `layout` outside any pool: to the
/// depot if it is small, else to the global allocator.
///
/// # Safety
/// As [`Pool::free`].
pub(crate) unsafe fn release(block: NonNull<u8>, layout: Layout) {
    match class(layout) {
        Some(c) if c < SMALL => {
            let block = block.cast::<Block>();
            // SAFETY: a small block, unused, of class `c`, given up.
            unsafe { depot::give(c, block, block) };
        }
        // SAFETY: allocated with the box's block layout (module
        // invariants), unused.
        _ => unsafe { dealloc(block.as_ptr(), block_layout(layout)) },
    }
}

/// A list this long is given to the depot in address order.
const SORT_MIN: usize = 4096;

/// Gives the list from `first`, of class `c`, to the depot: in address
/// order if it is long, so that the heaps that take it next carve their
/// objects side by side again, as from a new region (the list's order is
/// that of the frees, scattered over the heap's regions).
///
/// # Safety
/// The list from `first` is made of unused blocks of class `c`, linked by
/// their first words, owned by the caller, which gives them up.
unsafe fn give_in_order(c: usize, mut first: NonNull<Block>) {
    let (mut last, mut len) = (first, 1);
    // SAFETY: as the caller guarantees, each block's first word links the
    // next.
    while let Some(next) = unsafe { last.as_ref() }.next {
        (last, len) = (next, len + 1);
    }
    if len >= SORT_MIN {
        // SAFETY: as above.
        (first, last) = unsafe { sort(first, len) };
    }
    // SAFETY: the list runs from `first` to `last`, given up.
    unsafe { depot::give(c, first, last) };
}

/// Relinks the `len` blocks of the list from `first` in address order;
/// returns its new ends.
///
/// # Safety
/// As [`give_in_order`]'s, and the list is `len` blocks long.
unsafe fn sort(first: NonNull<Block>, len: usize) -> (NonNull<Block>, NonNull<Block>) {
    let mut blocks = Vec::with_capacity(len);
    let mut next = Some(first);
    while let Some(block) = next {
        blocks.push(block);
        // SAFETY: by the caller's contract.
        next = unsafe { block.as_ref() }.next;
    }
    blocks.sort_unstable();
    let mut link = None;
    for &block in blocks.iter().rev() {
        // SAFETY: the caller owns the blocks; each is relinked once.
        unsafe { block.write(Block { next: link }) };
        link = Some(block);
    }
    (blocks[0], blocks[len - 1])
}

impl Drop for Pool {
    fn drop(&mut self) {
        // (A maatine's heap is dropped at every join: most pools are empty.)
        self.give_spilled();
        self.carve_rest(MIN_REGION);
        if let Some(region) = self.region.get()
            && region.left.get() > 0
        {
            depot::spare(depot::Region { start: region.fresh.get(), len: region.left.get() });
        }
        if self.bytes.get() == 0 {
            return;
        }
        for (c, head) in self.small.iter().enumerate() {
            if let Some(first) = head.get() {
                // SAFETY: the pool owns its lists' blocks, of class `c`, and
                // gives them up.
                unsafe { give_in_order(c, first) };
            }
        }
        for (c, head) in self.large.get().into_iter().flat_map(|large| large.iter()).enumerate() {
            let mut next = head.get();
            let layout = class_layout(SMALL + c);
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

    /// Allocates `n` blocks of `layout` from `pool` and frees them to it
    /// with `cap`; returns their addresses, in allocation order.
    fn free_new_blocks(pool: &Pool, layout: Layout, n: usize, cap: usize) -> Vec<NonNull<u8>> {
        let blocks: Vec<_> = (0..n).map(|_| pool.alloc(layout)).collect();
        for &block in &blocks {
            // SAFETY: allocated with `layout` just above, unused.
            unsafe { pool.free(block, layout, cap) };
        }
        blocks
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

    // The two tests below use classes no other test of this crate
    // allocates, since the depot is the process's.

    #[test]
    fn small_blocks_are_carved_side_by_side() {
        let pool = Pool::new();
        // The pool's region: 1 KiB that stays allocated (what the pool
        // does not use goes to the depot with it, which keeps it).
        let region: &'static mut [u64; 128] = Box::leak(Box::new([0; 128]));
        let carver = Carver {
            fresh: Cell::new(NonNull::from(region).cast()),
            left: Cell::new(1024),
            grow: Cell::new(MIN_REGION),
        };
        assert!(pool.region.set(Box::new(carver)).is_ok());
        pool.taken.set(TINY);
        let layout = box_layout(232, 8);
        let blocks: Vec<_> = (0..5).map(|_| pool.alloc(layout)).collect();
        for pair in blocks[..4].windows(2) {
            assert_eq!(pair[1].addr().get() - pair[0].addr().get(), 232, "the next block is the next 232 bytes");
        }
        assert_eq!(
            pool.bytes.get(),
            96,
            "the fifth did not fit: the region's last 96 bytes are a block of their class"
        );
        assert!(pool.small[class(box_layout(96, 8)).unwrap()].get().is_some());
        for block in blocks {
            // SAFETY: allocated with `layout` above, unused.
            unsafe { pool.free(block, layout, usize::MAX) };
        }
    }

    #[test]
    fn a_dropped_pools_blocks_serve_the_next_pool() {
        let layout = box_layout(224, 8);
        let first = Pool::new();
        let given = free_new_blocks(&first, layout, 3, usize::MAX);
        drop(first);
        let tiny = Pool::new();
        let block = tiny.alloc(layout);
        assert!(given.contains(&block), "the depot's blocks come before new ones");
        assert_eq!(tiny.bytes.get(), 0, "a new pool takes one block of 224 bytes at a time");
        let grown = Pool::new();
        grown.taken.set(MAX_BATCH);
        let other = grown.alloc(layout);
        assert!(given.contains(&other) && other != block);
        assert_eq!(grown.bytes.get(), 224, "a pool that took much takes all the depot has");
        // SAFETY: allocated with `layout` just above, unused.
        unsafe {
            tiny.free(block, layout, usize::MAX);
            grown.free(other, layout, usize::MAX);
        }
    }

    #[test]
    fn pools_on_several_threads_never_share_a_block() {
        let layout = box_layout(216, 8);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                std::thread::spawn(move || {
                    for round in 0..200u64 {
                        let pool = Pool::new();
                        let blocks: Vec<_> = (0..64).map(|_| pool.alloc(layout)).collect();
                        let tag = |i: usize| (t << 32) | (round << 8) | i as u64;
                        for (i, block) in blocks.iter().enumerate() {
                            // SAFETY: a block of 216 bytes, aligned to 8, this pool's alone.
                            unsafe { block.cast::<[u64; 27]>().write([tag(i); 27]) };
                        }
                        for (i, block) in blocks.iter().enumerate() {
                            // SAFETY: written just above, still this pool's.
                            let words = unsafe { block.cast::<[u64; 27]>().read() };
                            assert!(words.iter().all(|&w| w == tag(i)), "another pool wrote into a block of this one");
                        }
                        // Half go back through the pool (and the depot when
                        // it drops), half straight to the depot.
                        for (i, block) in blocks.into_iter().enumerate() {
                            // SAFETY: allocated with `layout` above, unused.
                            unsafe {
                                if i % 2 == 0 { pool.free(block, layout, usize::MAX) } else { release(block, layout) }
                            }
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("no pool saw another's writes");
        }
    }

    #[test]
    fn the_cap_and_large_or_overaligned_boxes_leave_the_pool() {
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

    #[test]
    fn blocks_over_the_cap_reach_the_depot_together_when_the_spill_is_given() {
        // A class of its own among the tests (the depot is the process's).
        let layout = box_layout(248, 8);
        let pool = Pool::new();
        let blocks = free_new_blocks(&pool, layout, 3, 0);
        assert_eq!(pool.bytes.get(), 0, "nothing is kept over the cap");
        pool.give_spilled();
        let (first, n) = depot::take(class(layout).unwrap(), 3).expect("the depot has the spill");
        assert_eq!(n, 3, "the whole chain was given");
        assert_eq!(first.cast(), blocks[2], "the last freed first");
        pool.give_spilled();
        let none = depot::take(class(layout).unwrap(), 3);
        assert!(none.is_none(), "a spill is given once");
    }
}

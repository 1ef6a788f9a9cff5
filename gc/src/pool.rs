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
//! time the pool keeps or takes a large block (a maatine's heap that never
//! frees one stays a word larger, not a list head per class). Strings are
//! the large boxes most programs make: after a collection had freed many
//! 1 KiB strings, glibc took up to a millisecond for the next one when each
//! went back to it (docs/gc.md).
//!
//! A pooled block that leaves its pool goes to the depot, not to the
//! system allocator (the depot returns large ones past a bound): a heap's
//! objects are freed on whichever thread runs the heap then, and glibc
//! frees a block into the arena of the thread that allocated it, under
//! that arena's lock. With four maatines on two
//! threads, freeing 1 KiB strings that way slept on the other thread's
//! arena 500 times a run, and each sleep could cost milliseconds (docs/gc.md).
//!
//! # Invariants
//!
//! - Every box's block has its class' layout ([`class_layout`]), or, if
//!   the box is not pooled, the box's own (`Layout::new` of its `GcBox`,
//!   kept in its vtable): it is allocated with it, by [`Pool::alloc`], and
//!   released with it, to the pool or by [`release`], the only two ways a
//!   block is given back.
//! - A small block is carved from a region, or, for a heap's first few
//!   KiB, allocated alone by the system allocator; a large block is
//!   allocated alone by it. What no pool keeps goes to the depot; a small
//!   block never returns to the system allocator, a large one only from
//!   the depot, past its bound. (A box too large or too aligned to be
//!   pooled comes from the system allocator and returns to it.)
//! - A block on a free list is a box's memory no longer in use, of its
//!   list's class ([`class_layout`]), owned by the pool alone; its first
//!   word links the list. So is the rest of the pool's region, not yet
//!   carved, and so is a block on the spill (a block freed over the cap),
//!   until [`Pool::give_spilled`] hands its chain to the depot.
//! - The pool belongs to one heap and is used by whoever runs that heap's
//!   collector: its thread, or a collector running while the heap is stopped
//!   (the same rule as the rest of the collector's state). Its free lists
//!   hold at most the cap its caller gives, and its spill only until the
//!   walk that filled it settles; dropping it gives back every block.

use core::alloc::Layout;
use core::cell::{Cell, OnceCell, RefCell};
use core::ptr::NonNull;
use std::alloc::{alloc, dealloc, handle_alloc_error};

use crate::depot::{self, Batch, MAX_REGION, MIN_REGION};

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
/// The number of classes, small and large.
pub(crate) const CLASSES: usize = SMALL + LARGE;

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
const fn class_size(c: usize) -> usize {
    if c < SMALL { (c + 1) * GRAIN } else { MAX_SMALL + (c - SMALL + 1) * LARGE_STEP }
}

/// The layout of the blocks of class `c`.
pub(crate) fn class_layout(c: usize) -> Layout {
    Layout::from_size_align(class_size(c), GRAIN).expect("a size class is a valid layout")
}

/// A free block: its first word links the next one of its class.
pub(crate) struct Block {
    pub(crate) next: Option<NonNull<Block>>,
}

/// A pool takes blocks from the depot in batches of about the bytes it has
/// taken so far, between these two: a maatine's heap that allocates a few
/// objects takes a few blocks, not a large heap's share.
const MIN_BATCH: usize = 256;
pub(crate) const MAX_BATCH: usize = 16 * 1024;
/// The blocks of a full batch of each class: [`MAX_BATCH`] bytes' worth,
/// at least one.
const BATCH_LEN: [usize; CLASSES] = {
    let mut len = [0; CLASSES];
    let mut c = 0;
    while c < CLASSES {
        let n = MAX_BATCH / class_size(c);
        len[c] = if n == 0 { 1 } else { n };
        c += 1;
    }
    len
};
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

/// Blocks freed over a pool's cap during one walk of the collector, by
/// class, given to the depot together at the end of the walk: one lock of
/// a class' list per walk, not one per block (a sweep of binary-trees at
/// depth 18 freed a million blocks a cycle over the cap, 4% of the run in
/// the depot's locks).
pub(crate) struct Spill {
    /// Each class' batch being filled.
    chains: [Cell<Option<Batch>>; CLASSES],
    /// Bit `c` is set once class `c`'s batch is begun, so that a walk that
    /// spilled nothing settles without looking at every class (a walk
    /// settles every 65 objects swept: scanning the 32 small chains instead
    /// ran 2.5% more instructions on binary-trees at depth 16).
    classes: Cell<u128>,
    /// Full batches ([`BATCH_LEN`] blocks), with their classes.
    full: RefCell<Vec<(usize, Batch)>>,
}
const _: () = assert!(CLASSES <= u128::BITS as usize, "a bit for each class");

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
        match c {
            Some(c) if c < SMALL => self.carve(c),
            Some(c) => self.take_large(c),
            None => system_alloc(layout),
        }
    }

    /// A new large block of class `c`, its free list being empty: taken
    /// from the depot (with more of its class for the list), or else from
    /// the system allocator.
    #[inline(never)]
    fn take_large(&self, c: usize) -> NonNull<u8> {
        let size = class_size(c);
        match depot::take(c, BATCH_LEN[c]) {
            // SAFETY: the depot handed over a batch of class `c`: the pool
            // owns it now (module invariants).
            Some(batch) => unsafe { self.adopt(&self.large()[c - SMALL], batch, size) },
            None => system_alloc(class_layout(c)),
        }
    }

    /// Returns the first block of a batch of `size` bytes the depot handed
    /// over, and puts the others on their free list `head` (empty).
    ///
    /// # Safety
    /// The batch is of `head`'s class, and the pool now owns it.
    unsafe fn adopt(&self, head: &Cell<Option<NonNull<Block>>>, batch: Batch, size: usize) -> NonNull<u8> {
        // SAFETY: by the caller's contract (and the batch's invariant).
        head.set(unsafe { batch.first.as_ref() }.next);
        self.bytes.set(self.bytes.get() + (batch.n - 1) * size);
        batch.first.cast()
    }

    /// Takes back the memory of a box of `layout` whose value was dropped:
    /// onto its free list while the pool holds less than `cap` bytes; else
    /// to the spill, which [`Pool::give_spilled`] gives to the depot. A box
    /// that is not pooled goes back to the global allocator.
    ///
    /// # Safety
    /// `block` came from [`Pool::alloc`] (of any heap's pool) for a box of
    /// `layout`, holds no live value, and is not used again.
    pub(crate) unsafe fn free(&self, block: NonNull<u8>, layout: Layout, cap: usize) {
        match class(layout) {
            Some(c) if self.bytes.get() + class_size(c) <= cap => {
                let head = if c < SMALL { &self.small[c] } else { &self.large()[c - SMALL] };
                // SAFETY: the caller gives up the block, of class `c`.
                unsafe { self.keep(head, block, c) };
            }
            // SAFETY: the caller gives up the block, of class `c`.
            Some(c) => unsafe { self.spill.get_or_init(Box::default).push(block.cast(), c) },
            // SAFETY: by the caller's contract, a block of `layout` that
            // is not pooled.
            None => unsafe { dealloc(block.as_ptr(), layout) },
        }
    }

    /// The large classes' free lists, made the first time they are used.
    fn large(&self) -> &Heads<LARGE> {
        self.large.get_or_init(|| Box::new([const { Cell::new(None) }; LARGE]))
    }

    /// Gives the spill to the depot, a chain per class.
    pub(crate) fn give_spilled(&self) {
        if let Some(spill) = self.spill.get() {
            spill.give();
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
            if let Some(batch) = depot::take(c, batch) {
                self.taken.set(self.taken.get() + batch.n * size);
                // SAFETY: the depot handed over a batch of class `c`: the
                // pool owns it now (module invariants).
                return unsafe { self.adopt(&self.small[c], batch, size) };
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

/// Gives back the memory of a box of `layout` outside any pool: to
/// `spill` if it is pooled, else to the global allocator.
///
/// # Safety
/// As [`Pool::free`].
pub(crate) unsafe fn release(block: NonNull<u8>, layout: Layout, spill: &Spill) {
    match class(layout) {
        // SAFETY: a pooled block, unused, of class `c`, given up.
        Some(c) => unsafe { spill.push(block.cast(), c) },
        // SAFETY: allocated with the box's layout (module invariants: it
        // is not pooled), unused.
        None => unsafe { dealloc(block.as_ptr(), layout) },
    }
}

impl Default for Spill {
    fn default() -> Self {
        Spill { chains: [const { Cell::new(None) }; CLASSES], classes: Cell::new(0), full: RefCell::default() }
    }
}

impl Spill {
    /// Adds `block`, of class `c`, to the spill.
    ///
    /// # Safety
    /// `block` is unused memory of class `c`, which the caller gives up.
    pub(crate) unsafe fn push(&self, block: NonNull<Block>, c: usize) {
        let batch = match self.chains[c].take() {
            // SAFETY: by the caller's contract, the spill now owns the block.
            Some(mut batch) => unsafe {
                batch.push(block);
                batch
            },
            // SAFETY: as above.
            None => unsafe { Batch::one(block) },
        };
        if batch.n == BATCH_LEN[c] {
            self.full.borrow_mut().push((c, batch));
        } else {
            self.chains[c].set(Some(batch));
            self.classes.set(self.classes.get() | 1 << c);
        }
    }

    /// Gives the spill's blocks to the depot, in batches.
    pub(crate) fn give(&self) {
        for (c, batch) in self.full.borrow_mut().drain(..) {
            // SAFETY: the spill owns its batches, of class `c`; it gives
            // them up.
            unsafe { depot::give(c, batch) };
        }
        let mut classes = self.classes.replace(0);
        while classes != 0 {
            let c = classes.trailing_zeros() as usize;
            classes &= classes - 1;
            if let Some(batch) = self.chains[c].take() {
                // SAFETY: as above.
                unsafe { depot::give(c, batch) };
            }
        }
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        self.give();
    }
}

/// A list of small blocks this long is given to the depot in address order.
const SORT_MIN: usize = 4096;

/// Gives the list from `first`, of class `c`, to the depot. A long list of
/// small blocks goes in address order, in batches, so that the heaps that
/// take it next carve their objects side by side again, as from a new
/// region (the list's order is that of the frees, scattered over the
/// heap's regions); any other list goes as one batch (a take splits off
/// what it wants, outside the depot's lock).
///
/// # Safety
/// The list from `first` is made of unused blocks of class `c`, linked by
/// their first words, owned by the caller, which gives them up.
unsafe fn give_in_order(c: usize, first: NonNull<Block>) {
    let (mut last, mut n) = (first, 1);
    // SAFETY: as the caller guarantees, each block's first word links the
    // next, and the last one's is `None`.
    while let Some(next) = unsafe { last.as_ref() }.next {
        (last, n) = (next, n + 1);
    }
    if c >= SMALL || n < SORT_MIN {
        // SAFETY: the list is a batch of class `c`, which the caller gives up.
        return unsafe { depot::give(c, Batch { first, last, n }) };
    }
    let mut blocks = Vec::with_capacity(n);
    let mut next = Some(first);
    while let Some(block) = next {
        blocks.push(block);
        // SAFETY: as above.
        next = unsafe { block.as_ref() }.next;
    }
    blocks.sort_unstable();
    // The depot hands out the batch given last first: the lowest addresses.
    for run in blocks.rchunks(BATCH_LEN[c]) {
        let (&last, rest) = run.split_last().expect("a chunk is not empty");
        // SAFETY: the caller gave up the blocks; each is linked once, into
        // one batch, from its last to its first.
        let mut batch = unsafe { Batch::one(last) };
        for &block in rest.iter().rev() {
            // SAFETY: as above.
            unsafe { batch.push(block) };
        }
        // SAFETY: as above.
        unsafe { depot::give(c, batch) };
    }
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
        let large = self.large.get().into_iter().flat_map(|large| large.iter());
        for (c, head) in self.small.iter().chain(large).enumerate() {
            if let Some(first) = head.get() {
                // SAFETY: the pool owns its lists' blocks, of class `c`, and
                // gives them up.
                unsafe { give_in_order(c, first) };
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
        assert_eq!(class_layout(class(a_box).unwrap()), b_box, "a large box's block is its class' size");
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
                        // it drops), half to the depot through a spill.
                        let spill = Spill::default();
                        for (i, block) in blocks.into_iter().enumerate() {
                            // SAFETY: allocated with `layout` above, unused.
                            unsafe {
                                if i % 2 == 0 {
                                    pool.free(block, layout, usize::MAX)
                                } else {
                                    release(block, layout, &spill)
                                }
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
        let batch = depot::take(class(layout).unwrap(), 3).expect("the depot has the spill");
        assert_eq!(batch.n, 3, "the whole chain was given");
        assert_eq!(batch.first.cast(), blocks[2], "the last freed first");
        pool.give_spilled();
        let none = depot::take(class(layout).unwrap(), 3);
        assert!(none.is_none(), "a spill is given once");
    }

    /// Held by the tests that count the depot's large blocks: one that
    /// fills the depot past its bound would send the others' to the system
    /// allocator.
    static LARGE_IN_DEPOT: maat_sync::Mutex<()> = maat_sync::Mutex::new(());

    /// The blocks of `batch`, in its order.
    fn blocks_of(batch: &Batch) -> Vec<NonNull<Block>> {
        let mut blocks = vec![batch.first];
        // SAFETY: a batch links its blocks by their first words.
        while let Some(next) = unsafe { blocks.last().unwrap().as_ref() }.next {
            blocks.push(next);
        }
        assert_eq!((blocks.len(), *blocks.last().unwrap()), (batch.n, batch.last), "a batch's ends and count hold");
        blocks
    }

    #[test]
    fn the_depot_keeps_batches_whole_and_splits_one_only_for_a_smaller_take() {
        // A class of its own among the tests (the depot is the process's),
        // whose batches hold 8 blocks.
        let _alone = LARGE_IN_DEPOT.lock();
        let layout = box_layout(2048, 8);
        let c = class(layout).unwrap();
        assert_eq!(BATCH_LEN[c], 8);
        let pool = Pool::new();
        let freed = free_new_blocks(&pool, layout, 20, 0);
        pool.give_spilled();
        let mut seen = Vec::new();
        let mut take = |max| {
            let batch = depot::take(c, max).expect("the depot has blocks of the class");
            seen.extend(blocks_of(&batch).into_iter().map(NonNull::cast::<u8>));
            batch.n
        };
        assert_eq!(take(usize::MAX), 4, "the batch being filled was given last");
        assert_eq!(take(3), 3, "a smaller take splits a batch");
        assert_eq!(take(usize::MAX), 5, "and leaves its rest");
        assert_eq!(take(usize::MAX), 8, "the first full batch");
        assert!(depot::take(c, usize::MAX).is_none());
        seen.sort();
        let mut freed = freed;
        freed.sort();
        assert_eq!(seen, freed, "every block spilled, once");
    }

    #[test]
    fn a_long_list_reaches_the_depot_in_address_order() {
        // The 8-byte class: no box is that small (a header is larger).
        let layout = box_layout(8, 8);
        let pool = Pool::new();
        let blocks: Vec<_> = (0..SORT_MIN + 1000).map(|_| pool.alloc(layout)).collect();
        for &block in blocks.iter().rev().step_by(2).chain(blocks.iter().rev().skip(1).step_by(2)) {
            // SAFETY: allocated with `layout` above, unused.
            unsafe { pool.free(block, layout, usize::MAX) };
        }
        drop(pool);
        let first = depot::take(0, usize::MAX).expect("the pool's list went to the depot");
        let second = depot::take(0, usize::MAX).expect("in several batches");
        let (first, second) = (blocks_of(&first), blocks_of(&second));
        assert!(first.is_sorted() && second.is_sorted(), "each batch is in address order");
        assert!(first.last() < second.first(), "and the lowest addresses come first");
    }

    #[test]
    fn the_depot_keeps_large_blocks_up_to_its_bound_and_returns_the_rest() {
        let _alone = LARGE_IN_DEPOT.lock();
        let layout = box_layout(MAX_POOLED, 8);
        let c = class(layout).unwrap();
        let blocks = (depot::LARGE_KEPT + (1 << 20)) / MAX_POOLED;
        let pool = Pool::new();
        free_new_blocks(&pool, layout, blocks, 0);
        pool.give_spilled();
        let mut kept = 0;
        while let Some(batch) = depot::take(c, usize::MAX) {
            kept += batch.n;
            // Back to the system allocator, as the depot would have.
            // SAFETY: large blocks of class `c`, which the depot handed over.
            unsafe { depot::release_large(c, batch) };
        }
        assert!(kept > 0, "the depot kept blocks under its bound");
        assert!(kept * MAX_POOLED <= depot::LARGE_KEPT, "and no more than its bound: {kept} blocks");
    }

    #[test]
    fn large_blocks_leave_a_pool_for_the_depot_and_serve_the_next_pool() {
        // A class of its own among the tests (the depot is the process's).
        let _alone = LARGE_IN_DEPOT.lock();
        let layout = box_layout(3000, 8);
        let c = class(layout).unwrap();
        let pool = Pool::new();
        let given: Vec<_> = (0..4).map(|_| pool.alloc(layout)).collect();
        for (i, &block) in given.iter().enumerate() {
            // SAFETY: allocated with `layout` above, unused.
            unsafe { pool.free(block, layout, if i < 2 { usize::MAX } else { 0 }) };
        }
        assert_eq!(pool.bytes.get(), 2 * 3008, "two kept, two spilled over the cap");
        pool.give_spilled();
        drop(pool);
        let next = Pool::new();
        let taken: Vec<_> = (0..4).map(|_| next.alloc(layout)).collect();
        for block in &taken {
            assert!(given.contains(block), "the depot's large blocks come before new ones");
        }
        assert!(depot::take(c, 1).is_none(), "one take moved the depot's four blocks to the pool's list");
        let spill = Spill::default();
        for &block in &taken {
            // SAFETY: allocated with `layout` above, unused.
            unsafe { release(block, layout, &spill) };
        }
        drop(spill);
        let batch = depot::take(c, 8).expect("a dropped spill gives its blocks to the depot");
        assert_eq!(batch.n, 4);
    }
}

//! The block pool: where a heap's boxes come from and go back to.
//!
//! # Classes
//!
//! Small boxes (up to [`MAX_SMALL`] bytes) have a class per size, in steps
//! of [`GRAIN`]: a block is exactly its box. A pool past its first
//! [`TINY`] bytes takes them from *pages* of their class (see
//! [`crate::page`]), the lowest free slot of its current page first, so
//! that a heap's small objects lie densely together, in address order, and
//! marking and sweeping them touch fewer lines and pages than blocks
//! scattered among the system allocator's. A small box freed waits on its
//! class's free list for the next allocation of its size; at the end of a
//! collection, those over the pool's cap go back to their pages, a page
//! emptied goes to the pool's empty pages, which serve any class, and from
//! there to the depot. Before
//! [`TINY`] (a maatine's heap that allocates a few objects holds no page it
//! barely uses), and for classes too small for a page, blocks come from
//! the system allocator and go back to it.
//!
//! Large boxes (up to [`MAX_POOLED`]) have a class per [`LARGE_STEP`]
//! bytes, and their blocks come from the system allocator, at the size of
//! their class, rounded up from the box's: so any box of a class can take
//! any of its blocks. The pool keeps them on a free list per class, made
//! the first time it keeps one. Strings are the large boxes most programs
//! make: after a collection had freed many 1 KiB strings, glibc took up to
//! a millisecond for the next one when each went back to it (docs/gc.md).
//!
//! # Invariants
//!
//! - Every box's block has the layout [`block_layout`] gives for the box's
//!   layout (`Layout::new` of its `GcBox`, kept in its vtable): it is
//!   allocated with it, by [`Pool::alloc`], and released with it, to the
//!   pool that allocated it or, once that pool's heap ended, by
//!   [`release`]: the only two ways a block is given back.
//! - A page the pool holds is on exactly one of its lists, by its state:
//!   its class's current page, available pages (a free slot, a box) or
//!   full ones, or the pool's empty pages. A block on a large free list is
//!   a box's memory no longer in use, of its list's class, owned by the
//!   pool alone; its first word links the list.
//! - A page is listed-only (see [`crate::page`]) exactly while its head
//!   and its bit in the pool's `listed_only` bitmap say so; a walk of the
//!   residents sets it, and a slot taken from the page or a box of it
//!   freed to a free list clears it.
//! - The pool belongs to one heap and is used by whoever runs that heap's
//!   collector: its thread, or a collector running while the heap is stopped
//!   (the same rule as the rest of the collector's state). It keeps at most
//!   the cap its caller gives in large blocks, and freed small blocks and
//!   empty pages until [`Pool::trim`] gives back what is over the cap
//!   then. [`Pool::end`], when its heap ends, gives back its empty pages
//!   and makes those still holding (global) boxes orphans (see
//!   [`crate::page`]).

use core::alloc::Layout;
use core::cell::{Cell, OnceCell, RefCell};
use core::ptr::NonNull;
use std::alloc::{alloc, dealloc, handle_alloc_error};

use crate::depot;
use crate::page::{MIN_SLOT, PAGE, PageHead, State, page_of};

/// Small classes step by this many bytes (the alignment of every header).
const GRAIN: usize = 8;
/// The largest small box.
const MAX_SMALL: usize = 256;
/// The number of small classes.
const SMALL: usize = MAX_SMALL / GRAIN;
/// Large classes step by this many bytes.
const LARGE_STEP: usize = 64;
/// Larger boxes are not pooled.
const MAX_POOLED: usize = 4096;
const LARGE: usize = (MAX_POOLED - MAX_SMALL) / LARGE_STEP;
// Every small class fits a page, and a page's class fits its byte.
const _: () = assert!(MAX_SMALL * 8 <= PAGE && SMALL <= u8::MAX as usize);

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

/// A free large block: its first word links the next one of its class.
struct Block {
    next: Option<NonNull<Block>>,
}

/// A pool takes its first page once it has taken this many bytes of small
/// blocks; before that they come from the system allocator one by one, so
/// that a heap that allocates a few objects holds no page it barely uses
/// (500,000 short maatines that each allocated two small objects peaked at
/// 80 MB instead of 26 MB when every heap started with a region of its
/// own: docs/gc.md).
const TINY: usize = 4 * 1024;

type Heads<const N: usize> = [Cell<Option<NonNull<Block>>>; N];
type Pages = Cell<Option<NonNull<PageHead>>>;

/// The pages of one small class.
#[derive(Default)]
struct Class {
    /// The page allocations take slots from.
    current: Pages,
    /// Pages with a free slot and a box (linked both ways, by their heads).
    available: Pages,
    /// Pages without a free slot.
    full: Pages,
}

/// A heap's blocks: its pages of small ones, and its free lists of large
/// ones.
pub(crate) struct Pool {
    /// Small blocks freed and not yet given back to their pages, by class,
    /// linked by their first words: the next allocations of the class take
    /// them first, while they are still in the cache (the sweep has just
    /// read them). Giving each back to its page at once reads the page's
    /// head, a line of its own, for every box freed: generational mode ran
    /// binary-trees 12-15% slower so.
    freed: Heads<SMALL>,
    /// Blocks on `freed`.
    kept: Cell<usize>,
    /// Made when the pool takes its first page (a maatine's heap is made at
    /// every spawn: most stay tiny, and their pools small).
    paged: OnceCell<Box<Paged>>,
    /// Made when the first large block is kept.
    large: OnceCell<Box<Heads<LARGE>>>,
    /// Bytes on the free lists (small and large) and in empty pages.
    bytes: Cell<usize>,
    /// Bytes of small blocks the pool took from the system allocator.
    taken: Cell<usize>,
}

/// A pool's pages.
#[derive(Default)]
struct Paged {
    classes: [Class; SMALL],
    /// Empty pages, for any class, linked by their heads' `next`.
    empty: Pages,
    /// Every page the pool holds, empty ones included, each at its head's
    /// `place` (a sweep walks them by index: see `Collector::sweep_pages`).
    all: RefCell<Vec<NonNull<PageHead>>>,
    /// A bit per page of `all`, at its place: set exactly while the page's
    /// head says it is listed-only ([`PageHead::listed_only`]), so that a
    /// walk of the residents passes over those pages without reading their
    /// heads (a heap that made many global objects holds many such pages).
    listed_only: RefCell<Vec<u64>>,
}

impl Pool {
    pub(crate) fn new() -> Self {
        Pool {
            freed: [const { Cell::new(None) }; SMALL],
            kept: Cell::new(0),
            paged: OnceCell::new(),
            large: OnceCell::new(),
            bytes: Cell::new(0),
            taken: Cell::new(0),
        }
    }

    /// The free list of large class `c`, if it exists yet.
    #[inline(always)]
    fn large_head(&self, c: usize) -> Option<&Cell<Option<NonNull<Block>>>> {
        self.large.get().map(|large| &large[c - SMALL])
    }

    /// Memory for a box of `layout`, and whether it lies in a page: a
    /// freed block of its class or a slot of its class's current page if it
    /// is small, a pooled block of its class if it is large, or a new one.
    #[inline(always)]
    pub(crate) fn alloc(&self, layout: Layout) -> (NonNull<u8>, bool) {
        match class(layout) {
            Some(c) if c < SMALL => {
                // Only blocks of pages are kept (see `free`).
                if let Some(block) = self.freed[c].get() {
                    // SAFETY: a freed block is unused memory the pool owns,
                    // its first word its link (module invariants).
                    let next = unsafe { block.as_ref() }.next;
                    self.freed[c].set(next);
                    // The next allocation's block starts loading now, not
                    // when that allocation reads its link: a list freed by
                    // a sweep is spread over the heap's pages, and each
                    // block was a miss in the allocation's path (binary-trees
                    // at depth 18, generational mode: 1.22 s → 1.04 s).
                    if let Some(next) = next {
                        prefetch(next.as_ptr().cast_const().cast());
                    }
                    self.kept.set(self.kept.get() - 1);
                    self.bytes.set(self.bytes.get() - class_size(c));
                    return (block.cast(), true);
                }
                if let Some(paged) = self.paged.get()
                    && let Some(page) = paged.classes[c].current.get()
                    // SAFETY: the pool's current page of class `c`.
                    && let Some(block) = self.take_from(unsafe { page.as_ref() })
                {
                    return (block, true);
                }
                self.alloc_small(c)
            }
            Some(c) => (self.alloc_large(c), false),
            None => (system_alloc(layout), false),
        }
    }

    /// A block of large class `c`: its free list's first, or a new one.
    fn alloc_large(&self, c: usize) -> NonNull<u8> {
        if let Some(head) = self.large_head(c)
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
        system_alloc(class_layout(c))
    }

    /// A small block of class `c`, its current page being full (or none):
    /// from the system allocator while the pool is [`TINY`]; else from
    /// another page of the class with a free slot, an empty page, or a page
    /// of the depot's, which becomes the current one.
    #[inline(never)]
    fn alloc_small(&self, c: usize) -> (NonNull<u8>, bool) {
        let size = class_size(c);
        if size < MIN_SLOT || self.taken.get() < TINY {
            self.taken.set(self.taken.get() + size);
            return (system_alloc(class_layout(c)), false);
        }
        let class = &self.paged.get_or_init(Box::default).classes[c];
        if let Some(full) = class.current.take() {
            // SAFETY: the pool's page, off every list.
            unsafe { push(&class.full, full, State::Full) };
        }
        let page = pop(&class.available).or_else(|| self.new_page(c));
        let Some(page) = page else { return (system_alloc(class_layout(c)), false) };
        // SAFETY: the pool's page, just taken off its list or made.
        let page = unsafe { page.as_ref() };
        page.set_state(State::Current);
        class.current.set(Some(NonNull::from(page)));
        (self.take_from(page).expect("an available or new page has a free slot"), true)
    }

    /// The lowest free slot of `page`, one of the pool's, now taken: a walk
    /// of the residents visits the page again.
    #[inline(always)]
    fn take_from(&self, page: &PageHead) -> Option<NonNull<u8>> {
        let block = page.take()?;
        if page.listed_only() {
            self.set_listed_only(page, false);
        }
        Some(block)
    }

    /// Records whether every taken slot of `page`, one of the pool's, holds
    /// a box on a list: in its head, and in the pool's bits that a walk of
    /// the residents reads instead ([`Pool::page_to_visit`]).
    pub(crate) fn set_listed_only(&self, page: &PageHead, listed_only: bool) {
        page.set_listed_only(listed_only);
        set_bit(&mut self.paged().listed_only.borrow_mut(), page.place(), listed_only);
    }

    /// The first page at index `from` or after that is not listed-only, with
    /// its index (empty pages included). A page keeps its index until one
    /// leaves the pool, which happens only in [`Pool::trim`] and
    /// [`Pool::end`].
    pub(crate) fn page_to_visit(&self, from: usize) -> Option<(usize, NonNull<PageHead>)> {
        let paged = self.paged.get()?;
        let (all, bits) = (paged.all.borrow(), paged.listed_only.borrow());
        let mut at = from;
        while at < all.len() {
            let word = bits.get(at / 64).map_or(0, |w| w >> (at % 64));
            // (The bits past the last word are clear: every page is visited.)
            if word & 1 == 0 {
                return Some((at, all[at]));
            }
            // Past the run of listed-only pages that starts at `at`.
            at += (!word).trailing_zeros() as usize;
        }
        None
    }

    /// An empty page made a page of class `c`: one of the pool's, or the
    /// depot's.
    fn new_page(&self, c: usize) -> Option<NonNull<PageHead>> {
        let paged = self.paged.get().expect("a pool taking pages has made its pages");
        let (at, place) = match pop(&paged.empty) {
            Some(page) => {
                self.bytes.set(self.bytes.get() - PAGE);
                // SAFETY: the pool's page.
                (page.cast(), unsafe { page.as_ref() }.place())
            }
            None => {
                let at = depot::take()?;
                let mut all = paged.all.borrow_mut();
                all.push(at.cast());
                (at, all.len() - 1)
            }
        };
        // SAFETY: an empty page, aligned, the pool's alone.
        let page = unsafe { PageHead::init(at, class_size(c), c as u8) };
        // SAFETY: as above.
        let head = unsafe { page.as_ref() };
        head.set_place(place);
        // (An empty page may have been found listed-only.)
        self.set_listed_only(head, false);
        Some(page)
    }

    /// Takes back the memory of a box of `layout` whose value was dropped:
    /// a small block onto its class's free list (or to the system
    /// allocator, if it came from there), where it stays until the next
    /// allocation of its class or [`Pool::trim`]; a large one onto its free
    /// list while the pool holds less than `cap` bytes, else to the system
    /// allocator.
    ///
    /// # Safety
    /// `block` came from this pool's [`Pool::alloc`] for a box of `layout`,
    /// holds no live value, and is not used again.
    pub(crate) unsafe fn free(&self, block: NonNull<u8>, layout: Layout, cap: usize) {
        match class(layout) {
            // SAFETY: the caller gives up the block, a slot of a page of
            // class `c`.
            Some(c) if c < SMALL && depot::is_paged(block) => unsafe { self.keep_freed(block, c) },
            Some(c) if c >= SMALL && self.bytes.get() + class_size(c) <= cap => {
                let head = &self.large.get_or_init(|| Box::new([const { Cell::new(None) }; LARGE]))[c - SMALL];
                // SAFETY: the caller gives up the block, of class `c`.
                unsafe { self.keep(head, block, c) };
            }
            // SAFETY: by the caller's contract, allocated with the box's
            // block layout by the system allocator.
            _ => unsafe { dealloc(block.as_ptr(), block_layout(layout)) },
        }
    }

    /// Puts `block`, a slot of one of this pool's pages of class `c`, on
    /// that class's free list (its page still counts it taken).
    ///
    /// # Safety
    /// `block` is such a slot, and holds no live value: the caller gives it
    /// up to the pool.
    #[inline]
    pub(crate) unsafe fn keep_freed(&self, block: NonNull<u8>, c: usize) {
        // SAFETY: by the caller's contract, a slot of one of this pool's
        // pages.
        let page = unsafe { page_of(block).as_ref() };
        if page.listed_only() {
            // The block will be taken again without its page.
            self.set_listed_only(page, false);
        }
        // SAFETY: by the caller's contract.
        unsafe { self.keep(&self.freed[c], block, c) };
        self.kept.set(self.kept.get() + 1);
    }

    /// Puts `block`, of class `c`, on the free list `head`.
    ///
    /// # Safety
    /// `block` is unused memory of class `c`, which the caller gives up to
    /// the pool.
    unsafe fn keep(&self, head: &Cell<Option<NonNull<Block>>>, block: NonNull<u8>, c: usize) {
        let block = block.cast::<Block>();
        // SAFETY: by the caller's contract, the pool now owns the block.
        unsafe { block.write(Block { next: head.get() }) };
        head.set(Some(block));
        self.bytes.set(self.bytes.get() + class_size(c));
    }

    /// Gives the freed small blocks of every class back to their pages
    /// while the pool holds more than `cap` bytes.
    fn give_freed(&self, cap: usize) {
        // (Most heaps, a maatine's, keep none: the classes are not walked.)
        for (c, head) in self.freed.iter().enumerate().take_while(|_| self.kept.get() > 0) {
            while self.bytes.get() > cap
                && let Some(block) = head.get()
            {
                // SAFETY: a freed block is unused memory the pool owns, its
                // first word its link, and a slot of one of its pages.
                unsafe {
                    head.set(block.as_ref().next);
                    self.free_slot(block.cast());
                }
                self.kept.set(self.kept.get() - 1);
                self.bytes.set(self.bytes.get() - class_size(c));
            }
        }
    }

    /// Frees the slot `block` takes in its page, moving the page to the
    /// list its state is now.
    ///
    /// # Safety
    /// `block` is a taken slot of one of this pool's pages, given up.
    unsafe fn free_slot(&self, block: NonNull<u8>) {
        // SAFETY: by the caller's contract, the slot of a page of this pool.
        let page = unsafe { page_of(block) };
        // SAFETY: as above.
        let head = unsafe { page.as_ref() };
        // SAFETY: as above.
        let left = unsafe { head.give(block) };
        let class = &self.paged().classes[usize::from(head.class)];
        match head.state() {
            State::Full => {
                // SAFETY: the pool's page, on its full list.
                unsafe { unlink(&class.full, page) };
                if left == 0 {
                    self.keep_empty(page);
                } else {
                    // SAFETY: the pool's page, off every list.
                    unsafe { push(&class.available, page, State::Available) };
                }
            }
            State::Available if left == 0 => {
                // SAFETY: the pool's page, on its available list.
                unsafe { unlink(&class.available, page) };
                self.keep_empty(page);
            }
            state => debug_assert!(matches!(state, State::Current | State::Available), "{state:?}"),
        }
    }

    /// Keeps `page`, empty and off every list, among the empty pages.
    fn keep_empty(&self, page: NonNull<PageHead>) {
        // SAFETY: the pool's page, off every list.
        unsafe { push(&self.paged().empty, page, State::Empty) };
        self.bytes.set(self.bytes.get() + PAGE);
    }

    /// Gives back what the pool holds over `cap` bytes, at the end of a
    /// collection: freed small blocks to their pages, then empty pages to
    /// the depot, together (one lock). (Once a walk, as the frees come,
    /// nearly every box freed went back to its page, and binary-trees at
    /// depth 14 ran 27% more instructions than on free lists alone.)
    pub(crate) fn trim(&self, cap: usize) {
        if self.bytes.get() <= cap {
            return;
        }
        self.give_freed(cap);
        if let Some((first, last)) = self.over_cap(cap) {
            // SAFETY: the pages from `first` to `last` were the pool's, empty,
            // and are linked by `next`, off its lists.
            unsafe { depot::give(first, last) };
        }
    }

    /// Takes the empty pages over `cap` bytes off the pool's lists: the
    /// first and the last of them, linked by `next`.
    fn over_cap(&self, cap: usize) -> Option<(NonNull<PageHead>, NonNull<PageHead>)> {
        let paged = self.paged.get()?;
        let mut chain: Option<(NonNull<PageHead>, NonNull<PageHead>)> = None;
        while self.bytes.get() > cap
            && let Some(page) = pop(&paged.empty)
        {
            self.bytes.set(self.bytes.get() - PAGE);
            self.forget(page);
            // SAFETY: the pool's page, empty, now off its lists: the chain's.
            unsafe { page.as_ref() }.next.set(chain.map(|(first, _)| first));
            chain = Some((page, chain.map_or(page, |(_, last)| last)));
        }
        chain
    }

    /// The pool's pages, made with its first page.
    fn paged(&self) -> &Paged {
        self.paged.get().expect("a pool with a page has made its pages")
    }

    /// Whether every page the pool holds is at its place, and its bit says
    /// what its head says (for the verifier).
    pub(crate) fn places_agree(&self) -> bool {
        let Some(paged) = self.paged.get() else { return true };
        let bits = paged.listed_only.borrow();
        paged.all.borrow().iter().enumerate().all(|(i, page)| {
            // SAFETY: the pool's pages.
            let page = unsafe { page.as_ref() };
            page.place() == i && page.listed_only() == bit(&bits, i)
        })
    }

    /// Takes `page` out of the pool's pages: it leaves the pool.
    fn forget(&self, page: NonNull<PageHead>) {
        let paged = self.paged();
        let mut all = paged.all.borrow_mut();
        // SAFETY: the pool's page.
        let place = unsafe { page.as_ref() }.place();
        all.swap_remove(place);
        let last = all.len();
        // The last page moves to `place`, with its bit.
        let mut bits = paged.listed_only.borrow_mut();
        let moved = bit(&bits, last);
        set_bit(&mut bits, last, false);
        if let Some(moved_page) = all.get(place) {
            // SAFETY: the pool's page.
            unsafe { moved_page.as_ref() }.set_place(place);
            set_bit(&mut bits, place, moved);
        } else {
            set_bit(&mut bits, place, false);
        }
    }

    /// The boxes in the pool's pages (for the verifier): their taken slots,
    /// less the freed blocks the pool keeps.
    pub(crate) fn boxes_in_pages(&self) -> usize {
        let Some(paged) = self.paged.get() else { return 0 };
        // SAFETY: the pool's pages.
        let taken: usize = paged.all.borrow().iter().map(|page| usize::from(unsafe { page.as_ref() }.used())).sum();
        taken - self.kept.get()
    }

    /// The pool's heap ends: its empty pages go to the depot, and pages
    /// that still hold boxes (its global objects, which the space adopts)
    /// become orphans, released box by box by [`release`]. Afterwards the
    /// pool holds no page, and allocates none.
    pub(crate) fn end(&self) {
        let Some(paged) = self.paged.get() else { return };
        self.give_freed(0);
        for class in paged.classes.iter() {
            let listed = core::iter::from_fn(|| pop(&class.available).or_else(|| pop(&class.full)));
            for page in class.current.take().into_iter().chain(listed) {
                // SAFETY: the pool's page, now off its list.
                let head = unsafe { page.as_ref() };
                if head.used() == 0 {
                    self.keep_empty(page);
                } else {
                    self.forget(page);
                    head.orphan();
                }
            }
        }
        self.trim(0);
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
/// If `layout` has size zero (no block or chunk has).
pub(crate) fn system_alloc(layout: Layout) -> NonNull<u8> {
    assert_ne!(layout.size(), 0, "a block has a size");
    // SAFETY: the layout has a non-zero size (checked above).
    NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout))
}

/// Bit `i` of `bits` (clear past its end).
fn bit(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 != 0)
}

/// Sets bit `i` of `bits` to `on`, growing `bits` as needed.
fn set_bit(bits: &mut Vec<u64>, i: usize, on: bool) {
    if bits.len() <= i / 64 {
        if !on {
            return;
        }
        bits.resize(i / 64 + 1, 0);
    }
    let mask = 1 << (i % 64);
    if on { bits[i / 64] |= mask } else { bits[i / 64] &= !mask }
}

/// Pushes `page`, off every list, onto `list` in `state`.
///
/// # Safety
/// `page` is a page of the caller's pool, on none of its lists.
unsafe fn push(list: &Pages, page: NonNull<PageHead>, state: State) {
    // SAFETY: by the caller's contract, the pool's page.
    let head = unsafe { page.as_ref() };
    head.set_state(state);
    head.prev.set(None);
    head.next.set(list.get());
    if let Some(next) = list.get() {
        // SAFETY: pages on the pool's lists are the pool's.
        unsafe { next.as_ref() }.prev.set(Some(page));
    }
    list.set(Some(page));
}

/// Takes the first page off `list`.
fn pop(list: &Pages) -> Option<NonNull<PageHead>> {
    let page = list.get()?;
    // SAFETY: pages on the pool's lists are the pool's.
    unsafe { unlink(list, page) };
    Some(page)
}

/// Takes `page` off `list`.
///
/// # Safety
/// `page` is on `list`, a list of the caller's pool.
unsafe fn unlink(list: &Pages, page: NonNull<PageHead>) {
    // SAFETY: by the caller's contract, the pool's page and its neighbours.
    unsafe {
        let head = page.as_ref();
        let (prev, next) = (head.prev.take(), head.next.take());
        match prev {
            Some(prev) => prev.as_ref().next.set(next),
            None => list.set(next),
        }
        if let Some(next) = next {
            next.as_ref().prev.set(prev);
        }
    }
}

/// Gives back the memory of a box of `layout` whose heap ended (an adopted
/// object): to its orphan page, which goes to the depot with its last box;
/// or to the system allocator, which the other blocks came from.
///
/// # Safety
/// `block` came from [`Pool::alloc`] of a pool whose heap ended, for a box
/// of `layout`; it holds no live value and is not used again.
pub(crate) unsafe fn release(block: NonNull<u8>, layout: Layout) {
    if matches!(class(layout), Some(c) if c < SMALL) && depot::is_paged(block) {
        // SAFETY: a slot of a page whose pool ended: an orphan page, which
        // `Pool::end` made one before the box could be adopted.
        unsafe {
            let page = page_of(block);
            if page.as_ref().release_orphan() {
                depot::give_one(page);
            }
        }
        return;
    }
    // SAFETY: allocated with the box's block layout by the system allocator
    // (module invariants), unused.
    unsafe { dealloc(block.as_ptr(), block_layout(layout)) }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // (A maatine's heap is dropped at every join: most pools are empty.)
        self.end();
        for (c, head) in self.large.get().into_iter().flat_map(|large| large.iter()).enumerate() {
            let mut next = head.get();
            let layout = class_layout(SMALL + c);
            while let Some(block) = next {
                // SAFETY: pooled blocks are owned by the pool, linked by
                // their first word, and allocated with their class' layout
                // by the system allocator.
                unsafe {
                    next = block.as_ref().next;
                    dealloc(block.as_ptr().cast(), layout);
                }
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

    /// A pool past its tiny start: its small blocks come from pages.
    fn grown() -> Pool {
        let pool = Pool::new();
        pool.taken.set(TINY);
        pool
    }

    /// Frees `blocks`, allocated from `pool` with `layout`.
    fn free_all(pool: &Pool, blocks: &[NonNull<u8>], layout: Layout, cap: usize) {
        for &block in blocks {
            // SAFETY: allocated with `layout` by `pool`, unused.
            unsafe { pool.free(block, layout, cap) };
        }
    }

    /// Frees `blocks` as [`free_all`] does, and gives them back to their
    /// pages at once.
    fn free_to_pages(pool: &Pool, blocks: &[NonNull<u8>], layout: Layout) {
        free_all(pool, blocks, layout, 0);
        pool.give_freed(0);
    }

    #[test]
    fn a_tiny_pool_takes_small_blocks_from_the_system_allocator_and_then_pages() {
        let pool = Pool::new();
        let layout = box_layout(64, 8);
        let got: Vec<_> = (0..TINY / 64 + 1).map(|_| pool.alloc(layout)).collect();
        assert!(got.iter().all(|&(b, paged)| paged == depot::is_paged(b)), "the pool says which blocks are paged");
        let blocks: Vec<_> = got.iter().map(|&(b, _)| b).collect();
        assert!(blocks[..TINY / 64].iter().all(|&b| !depot::is_paged(b)), "the first 4 KiB are the system's");
        assert!(depot::is_paged(blocks[TINY / 64]), "then a page");
        free_to_pages(&pool, &blocks, layout);
        assert_eq!(pool.alloc(layout), (blocks[TINY / 64], true), "the current page stays, empty, for the next");
        free_to_pages(&pool, &blocks[TINY / 64..], layout);
        let large = pool.alloc(box_layout(512, 8));
        assert!(!large.1 && !depot::is_paged(large.0), "a large block is the system's");
        free_all(&pool, &[large.0], box_layout(512, 8), 0);
    }

    #[test]
    fn small_blocks_of_a_class_sit_side_by_side_and_a_freed_one_is_taken_first() {
        let pool = grown();
        let (layout, other) = (box_layout(232, 8), box_layout(64, 8));
        let blocks: Vec<_> = (0..5).map(|_| pool.alloc(layout).0).collect();
        for pair in blocks.windows(2) {
            assert_eq!(pair[1].addr().get() - pair[0].addr().get(), 232, "the next block is the next 232 bytes");
        }
        let b = pool.alloc(other).0;
        // SAFETY: both pages are of blocks allocated above.
        assert_ne!(unsafe { page_of(b) }, unsafe { page_of(blocks[0]) }, "another class has its own page");
        free_to_pages(&pool, &blocks[2..3], layout);
        assert_eq!(pool.alloc(layout).0, blocks[2], "the lowest free slot comes first");
        free_all(&pool, &blocks, layout, usize::MAX);
        free_all(&pool, &[b], other, usize::MAX);
    }

    #[test]
    fn a_page_goes_from_full_to_available_to_the_empty_pages_which_serve_any_class() {
        let pool = grown();
        let layout = box_layout(256, 8);
        let per_page = (PAGE - 64) / 256;
        let blocks: Vec<_> = (0..per_page + 1).map(|_| pool.alloc(layout).0).collect();
        // SAFETY: pages of blocks allocated above.
        let (first, second) = unsafe { (page_of(blocks[0]), page_of(blocks[per_page])) };
        assert_ne!(first, second, "a full page is left for a new one");
        // SAFETY: the pool's pages, alive.
        let state = |p: NonNull<PageHead>| unsafe { p.as_ref() }.state();
        assert_eq!((state(first), state(second)), (State::Full, State::Current));
        free_to_pages(&pool, &blocks[..1], layout);
        assert_eq!(state(first), State::Available, "a free slot and boxes left");
        free_to_pages(&pool, &blocks[1..per_page], layout);
        assert_eq!(state(first), State::Empty, "no box left");
        assert_eq!(pool.bytes.get(), PAGE);
        let small = pool.alloc(box_layout(32, 8)).0;
        // SAFETY: a page of the block allocated just above.
        assert_eq!(unsafe { page_of(small) }, first, "the empty page serves another class");
        free_all(&pool, &[small], box_layout(32, 8), 0);
        free_to_pages(&pool, &blocks[per_page..], layout);
    }

    #[test]
    fn empty_pages_over_the_cap_leave_the_pool_together_linked() {
        let pool = grown();
        let layout = box_layout(248, 8);
        let per_page = (PAGE - 64) / 248;
        let blocks: Vec<_> = (0..4 * per_page + 1).map(|_| pool.alloc(layout).0).collect();
        free_to_pages(&pool, &blocks[..4 * per_page], layout);
        assert_eq!(pool.bytes.get(), 4 * PAGE, "four emptied pages, kept until trimmed");
        let (first, last) = pool.over_cap(PAGE).expect("three pages over the cap");
        assert_eq!(pool.bytes.get(), PAGE, "one kept under the cap");
        let mut chain = vec![first];
        // SAFETY: the chain's pages are empty and off the pool's lists; its
        // last one's `next` was cleared when it left its list.
        while let Some(next) = unsafe { chain.last().unwrap().as_ref() }.next.get() {
            chain.push(next);
        }
        assert_eq!((chain.len(), chain.last()), (3, Some(&last)), "the three linked, first to last");
        // SAFETY: as above: given to the depot once.
        unsafe { depot::give(first, last) };
        assert!(pool.over_cap(PAGE).is_none(), "nothing more over the cap");
        assert_eq!(pool.paged().all.borrow().len(), 2, "the three left the pool's pages");
        assert!(pool.places_agree(), "the pages moved into their places know it");
        free_to_pages(&pool, &blocks[4 * per_page..], layout);
    }

    #[test]
    fn listed_only_pages_are_passed_over_until_a_slot_of_theirs_is_taken_or_freed() {
        let pool = grown();
        let layout = box_layout(248, 8);
        let per_page = (PAGE - 64) / 248;
        let blocks: Vec<_> = (0..3 * per_page).map(|_| pool.alloc(layout).0).collect();
        let pages: Vec<_> = (0..3).map(|i| pool.page_to_visit(i).expect("three pages").1).collect();
        // SAFETY: the pool's pages.
        let head = |i: usize| unsafe { pages[i].as_ref() };
        for i in [0, 1] {
            pool.set_listed_only(head(i), true);
        }
        assert_eq!(pool.page_to_visit(0).map(|(i, _)| i), Some(2), "the first two passed over");
        free_all(&pool, &blocks[per_page..per_page + 1], layout, 0);
        assert_eq!(pool.page_to_visit(0).map(|(i, _)| i), Some(1), "a block freed to the free list");
        assert!(!head(1).listed_only() && head(0).listed_only() && pool.places_agree());
        pool.set_listed_only(head(1), true);
        let again = pool.alloc(layout).0;
        assert_eq!(again, blocks[per_page], "the freed block, taken again");
        // (Taken from the free list: its page learnt of it when it was freed.)
        pool.set_listed_only(head(2), true);
        assert!(pool.page_to_visit(0).is_none(), "every page passed over");
        free_to_pages(&pool, &blocks[..per_page], layout);
        assert!(!head(0).listed_only(), "its blocks went by the free list");
        // A walk finds the emptied page has nothing to visit.
        pool.set_listed_only(head(0), true);
        let (first, _) = pool.over_cap(0).expect("the empty page is over a cap of nothing");
        assert_eq!(first, pages[0]);
        // SAFETY: given to the depot once.
        unsafe { depot::give(first, first) };
        assert!(pool.places_agree(), "the last page moved into the first's place with its bit");
        assert!(pool.page_to_visit(0).is_none());
        // The pages are full: the next block comes from a new page, the
        // only one to visit.
        let taken = pool.alloc(layout).0;
        assert_eq!(pool.page_to_visit(0).map(|(i, _)| i), Some(2), "the new page, after the two passed over");
        assert!(pool.places_agree());
        free_to_pages(&pool, &[taken], layout);
        free_to_pages(&pool, &blocks[per_page..], layout);
    }

    #[test]
    fn freed_small_blocks_are_taken_again_last_first_and_go_to_their_pages_over_the_cap() {
        let pool = grown();
        let layout = box_layout(96, 8);
        let blocks: Vec<_> = (0..8).map(|_| pool.alloc(layout).0).collect();
        free_all(&pool, &blocks[..4], layout, usize::MAX);
        assert_eq!(pool.bytes.get(), 4 * 96, "kept under the cap");
        assert_eq!(pool.boxes_in_pages(), 4, "freed blocks do not count as boxes");
        assert_eq!(pool.alloc(layout).0, blocks[3], "the last freed first");
        pool.trim(96);
        assert_eq!(pool.bytes.get(), 96, "back to their page down to the cap");
        pool.trim(0);
        assert_eq!(pool.bytes.get(), 0);
        // SAFETY: the page of blocks allocated above.
        let page = unsafe { page_of(blocks[0]).as_ref() };
        assert!(!page.holds(blocks[0]) && page.holds(blocks[3]), "the page's bits follow");
        assert_eq!(pool.alloc(layout).0, blocks[0], "then the page's lowest free slot");
        free_to_pages(&pool, &blocks[..1], layout);
        free_to_pages(&pool, &blocks[3..], layout);
    }

    #[test]
    fn a_large_class_takes_boxes_of_several_sizes() {
        let pool = Pool::new();
        let (a_box, b_box, other) = (box_layout(264, 8), box_layout(320, 8), box_layout(328, 8));
        assert_eq!(block_layout(a_box), b_box, "a large box's block is its class' size");
        let a = pool.alloc(a_box).0;
        // SAFETY: allocated for `a_box` just above, unused.
        unsafe { pool.free(a, a_box, usize::MAX) };
        assert_eq!(pool.bytes.get(), 320, "the pool counts the block, not the box");
        let c = pool.alloc(other).0;
        assert_ne!(c, a, "the next class does not take it");
        let b = pool.alloc(b_box).0;
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
    fn the_cap_and_large_or_overaligned_boxes_leave_the_pool() {
        let pool = Pool::new();
        for layout in [box_layout(MAX_POOLED + GRAIN, 8), box_layout(64, 16)] {
            let a = pool.alloc(layout).0;
            // SAFETY: allocated with `layout` just above, unused.
            unsafe { pool.free(a, layout, usize::MAX) };
            assert_eq!(pool.bytes.get(), 0, "{layout:?} is not pooled");
        }
        let large = box_layout(512, 8);
        let (a, b) = (pool.alloc(large).0, pool.alloc(large).0);
        // SAFETY: allocated with `large` just above, unused.
        unsafe {
            pool.free(a, large, 600);
            pool.free(b, large, 600);
        }
        assert_eq!(pool.bytes.get(), 512, "the second block is over the cap");
    }

    #[test]
    fn an_ended_pools_pages_are_orphans_until_their_last_box_is_released_on_any_thread() {
        let layout = box_layout(200, 8);
        let pool = grown();
        let kept: Vec<_> = (0..40).map(|_| pool.alloc(layout).0).collect();
        let dropped: Vec<_> = (0..40).map(|_| pool.alloc(layout).0).collect();
        free_all(&pool, &dropped, layout, usize::MAX);
        // SAFETY: a page of a block allocated above.
        let page = unsafe { page_of(kept[0]) };
        pool.end();
        // SAFETY: an orphan page stays allocated while it holds a box.
        assert_eq!(unsafe { page.as_ref() }.state(), State::Orphan);
        drop(pool);
        let addresses: Vec<usize> = kept.iter().map(|b| b.addr().get()).collect();
        let threads: Vec<_> = addresses
            .chunks(10)
            .map(|part| {
                let part = part.to_vec();
                std::thread::spawn(move || {
                    for a in part {
                        let block = NonNull::new(a as *mut u8).expect("a block");
                        // SAFETY: allocated by the ended pool with `layout`, released once.
                        unsafe { release(block, layout) };
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("released");
        }
    }

    #[test]
    fn pools_on_several_threads_never_share_a_block() {
        let layout = box_layout(216, 8);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                std::thread::spawn(move || {
                    for round in 0..200u64 {
                        let pool = grown();
                        let blocks: Vec<_> = (0..64).map(|_| pool.alloc(layout).0).collect();
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
                        // Half go back to their pages, half stay for the
                        // pool's end to orphan and to be released after it.
                        free_all(&pool, &blocks[..32], layout, usize::MAX);
                        pool.end();
                        for &block in &blocks[32..] {
                            // SAFETY: allocated with `layout` by the ended pool, unused.
                            unsafe { release(block, layout) };
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("no pool saw another's writes");
        }
    }
}

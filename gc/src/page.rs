//! Pages: aligned runs of [`PAGE`] bytes holding slots of one size, where
//! a heap's small boxes live once it is past its first few KiB.
//!
//! # Layout
//!
//! ```text
//!   page  = PageHead (64 bytes) + `slots` slots of `size` bytes
//!   alloc = one bit per slot, set while the slot is taken: it holds a
//!           box, or a freed block its pool keeps for the next allocation
//!           of the size (with the `FREED` colour, see `crate::pool`); the
//!           bits past the last slot are set too, so a page is full when
//!           every word is all ones
//! ```
//!
//! A box finds its page by masking its address ([`page_of`]); whether an
//! address is in a page at all is the depot's to say
//! ([`crate::depot::is_paged`]). A pool allocates the lowest free slot of
//! its current page, so a class's boxes sit in address order.
//!
//! A page is *listed-only* while every taken slot holds a box on one of
//! its heap's lists (global objects, on the LSO): a heap's walks of its
//! residents pass over it. Its pool marks it so and clears it (see
//! `Pool::set_listed_only`).
//!
//! # States and who may touch a page
//!
//! ```text
//!   (depot) ──take──▶ Current ──full──▶ Full ──a free──▶ Available ──taken──▶ Current
//!                        │                                   │
//!                        └──────── empty ◀─── all freed ◀────┘──▶ the pool's empty pages, or the depot
//!   Current | Available | Full ──the pool's heap ends, boxes left──▶ Orphan ──last box released──▶ depot
//! ```
//!
//! - While a pool holds a page (every state but Orphan and the depot's),
//!   only whoever runs the pool's collector reads or writes its head (the
//!   rule of [`crate::pool`]).
//! - An orphan page holds global boxes of a heap that ended; nobody
//!   allocates from it again. Whoever destroys one of its boxes (the
//!   shared collection's sweep of adopted objects, on any thread)
//!   decrements its count (`place`) atomically, and the one that takes it
//!   to zero gives the page to the depot. The count is written before the
//!   heap's global objects are adopted by the space (under its mutex), so
//!   every destroyer sees it.

use core::cell::Cell;
use core::ptr::NonNull;

use crate::header::Header;
use crate::shim::{AtomicU32, Ordering};

/// A page's bytes, and its alignment.
pub(crate) const PAGE: usize = 4096;
/// Where the first slot starts: after the head, on a line of its own.
const HEAD: usize = core::mem::size_of::<PageHead>();
/// Words of the allocation bitmap.
const WORDS: usize = 3;
/// The smallest slot a page holds: one with more slots than the bitmap
/// has bits would not fit (and no box is smaller than a header).
pub(crate) const MIN_SLOT: usize = 24;
const _: () = assert!((PAGE - HEAD) / MIN_SLOT <= WORDS * 64, "the bitmap has a bit for every slot");
const _: () = assert!(HEAD % 64 == 0, "slots start on a line");

/// What a pool does with a page (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Current,
    Available,
    Full,
    Empty,
    Orphan,
}

/// The head of a page, at its start.
#[repr(C, align(64))]
pub(crate) struct PageHead {
    size: u16,
    slots: u16,
    used: Cell<u16>,
    /// No word of the bitmap before this one has a free slot.
    hint: Cell<u8>,
    /// The pool's size class of the slots.
    pub(crate) class: u8,
    state: Cell<State>,
    /// `2^32 / size`, rounded up: a slot's index is its offset times this,
    /// shifted right by 32 (exact for every offset a page has).
    magic: u32,
    /// While a pool holds the page, its index in the pool's pages (see
    /// `Pool::page`); once it is an orphan, the boxes left in it.
    place: AtomicU32,
    /// Every taken slot holds a box on one of its heap's lists (see
    /// [`PageHead::listed_only`]).
    listed_only: Cell<bool>,
    /// The pool's list the page is on (Available, Full or Empty).
    pub(crate) prev: Cell<Option<NonNull<PageHead>>>,
    pub(crate) next: Cell<Option<NonNull<PageHead>>>,
    alloc: [Cell<u64>; WORDS],
}

/// The bits of word `w` of a bitmap that stand for one of `slots` slots
/// (the others are set in the allocation bitmap, and never cleared).
#[inline(always)]
fn slot_bits(slots: usize, w: usize) -> u64 {
    match slots.saturating_sub(w * 64) {
        64.. => !0,
        n => (1 << n) - 1,
    }
}

/// The page holding `block`.
///
/// # Safety
/// `block` lies in a page (see [`crate::depot::is_paged`]).
#[inline(always)]
pub(crate) unsafe fn page_of(block: NonNull<u8>) -> NonNull<PageHead> {
    let head = block.as_ptr().map_addr(|a| a & !(PAGE - 1)).cast::<PageHead>();
    // SAFETY: the page's start: not null, since `block` is in it (the
    // caller's contract) and pages are aligned to `PAGE`, at whose start
    // their head lies.
    unsafe { NonNull::new_unchecked(head) }
}

impl PageHead {
    /// Makes the `PAGE` bytes at `at` a current page of `size`-byte slots
    /// of class `class`, all free.
    ///
    /// # Safety
    /// `at` is aligned to `PAGE` and the caller owns its `PAGE` bytes,
    /// none of which hold a live box.
    pub(crate) unsafe fn init(at: NonNull<u8>, size: usize, class: u8) -> NonNull<PageHead> {
        debug_assert!((MIN_SLOT..=u16::MAX as usize).contains(&size) && size % 8 == 0);
        let slots = (PAGE - HEAD) / size;
        let head = PageHead {
            size: size as u16,
            slots: slots as u16,
            used: Cell::new(0),
            hint: Cell::new(0),
            class,
            state: Cell::new(State::Current),
            magic: (1u64 << 32).div_ceil(size as u64) as u32,
            place: AtomicU32::new(0),
            listed_only: Cell::new(false),
            prev: Cell::new(None),
            next: Cell::new(None),
            alloc: core::array::from_fn(|w| Cell::new(!slot_bits(slots, w))),
        };
        let page = at.cast::<PageHead>();
        // SAFETY: the caller owns the page's bytes; the head fits its first
        // 64, and `at` is aligned to more than the head needs.
        unsafe { page.write(head) };
        page
    }

    /// The lowest free slot, now taken; `None` if the page is full.
    #[inline(always)]
    pub(crate) fn take(&self) -> Option<NonNull<u8>> {
        let from = usize::from(self.hint.get());
        for (w, word) in self.alloc.iter().enumerate().skip(from) {
            let bits = word.get();
            if bits != !0 {
                let bit = (!bits).trailing_zeros() as usize;
                word.set(bits | 1 << bit);
                self.used.set(self.used.get() + 1);
                self.hint.set(w as u8);
                let offset = HEAD + (w * 64 + bit) * usize::from(self.size);
                // SAFETY: a slot of this page: within its `PAGE` bytes.
                return Some(unsafe { NonNull::from(self).cast::<u8>().add(offset) });
            }
        }
        self.hint.set(WORDS as u8);
        None
    }

    /// Frees the slot `block` takes; returns the boxes left in the page.
    ///
    /// # Safety
    /// `block` is a taken slot of this page, held by no box any more.
    #[inline(always)]
    pub(crate) unsafe fn give(&self, block: NonNull<u8>) -> u16 {
        let slot = self.slot(block);
        let word = &self.alloc[slot / 64];
        debug_assert!(word.get() & 1 << (slot % 64) != 0, "a slot is freed once");
        word.set(word.get() & !(1 << (slot % 64)));
        self.hint.set(self.hint.get().min((slot / 64) as u8));
        let used = self.used.get() - 1;
        self.used.set(used);
        used
    }

    /// The index of the slot at `block`.
    #[inline(always)]
    fn slot(&self, block: NonNull<u8>) -> usize {
        let offset = block.addr().get() - NonNull::from(self).addr().get() - HEAD;
        let slot = ((offset as u64 * u64::from(self.magic)) >> 32) as usize;
        debug_assert!(slot < usize::from(self.slots) && slot * usize::from(self.size) == offset, "a slot's start");
        slot
    }

    /// Applies `f` to the taken slots (boxes, and freed blocks the pool
    /// still keeps), in address order, as the bitmap was when the walk
    /// reached their word.
    #[inline(always)]
    pub(crate) fn for_each_box(&self, mut f: impl FnMut(NonNull<Header>)) {
        let (slots, size) = (usize::from(self.slots), usize::from(self.size));
        let start = NonNull::from(self).cast::<u8>();
        for (w, word) in self.alloc.iter().enumerate() {
            let mut bits = word.get() & slot_bits(slots, w);
            while bits != 0 {
                let slot = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                // SAFETY: a slot of this page: within its `PAGE` bytes.
                f(unsafe { start.add(HEAD + slot * size) }.cast());
            }
        }
    }

    /// Whether every taken slot held a box on one of its heap's lists when
    /// a walk last found so, and no slot has been taken or freed to the
    /// pool's free list since: then a walk of the heap's residents has
    /// nothing to visit in the page. The pool sets and clears it, with its
    /// own record of it (see `Pool::set_listed_only`).
    #[inline(always)]
    pub(crate) fn listed_only(&self) -> bool {
        self.listed_only.get()
    }

    pub(crate) fn set_listed_only(&self, listed_only: bool) {
        self.listed_only.set(listed_only);
    }

    /// Starts loading the first quarter of the page at `page` (its head and
    /// first slots) and reads nothing. A walk of a heap's pages calls it
    /// for the next page: within a page the processor's prefetcher follows
    /// the walk, but it stops at the page's end. (On binary-trees at depth
    /// 18, incremental mode: 1.86 s → 1.62 s, medians of eight runs; the
    /// whole page, or half of it, gained less.)
    pub(crate) fn prefetch_start(page: NonNull<PageHead>) {
        let start = page.as_ptr().cast_const().cast::<u8>();
        for line in 0..PAGE / 64 / 4 {
            crate::pool::prefetch(start.wrapping_add(line * 64));
        }
    }

    /// The size of the page's slots.
    pub(crate) fn slot_size(&self) -> usize {
        usize::from(self.size)
    }

    /// Whether the slot at `block` holds a box.
    pub(crate) fn holds(&self, block: NonNull<u8>) -> bool {
        let slot = self.slot(block);
        self.alloc[slot / 64].get() & 1 << (slot % 64) != 0
    }

    /// The page's index among its pool's pages.
    pub(crate) fn place(&self) -> usize {
        // Relaxed: only the pool's user reads and writes it (module
        // invariants).
        self.place.load(Ordering::Relaxed) as usize
    }

    pub(crate) fn set_place(&self, place: usize) {
        self.place.store(u32::try_from(place).expect("a pool holds fewer than 2^32 pages"), Ordering::Relaxed);
    }

    /// Boxes in the page.
    pub(crate) fn used(&self) -> u16 {
        self.used.get()
    }

    pub(crate) fn state(&self) -> State {
        self.state.get()
    }

    pub(crate) fn set_state(&self, state: State) {
        self.state.set(state);
    }

    /// The page's heap ended with boxes still in it: they are released one
    /// by one from now on, by [`PageHead::release_orphan`].
    pub(crate) fn orphan(&self) {
        debug_assert!(self.used.get() > 0, "an empty page goes back to the depot");
        self.state.set(State::Orphan);
        // Relaxed: the heap's global objects are adopted under the space's
        // mutex after this, and a destroyer gets them from that mutex's
        // holder (a lazy sweep, or the rayon tasks it hands them to), so
        // the count happens before every release.
        self.place.store(u32::from(self.used.get()), Ordering::Relaxed);
    }

    /// A box of this orphan page was destroyed; whether it was the last.
    pub(crate) fn release_orphan(&self) -> bool {
        // AcqRel: the destroyer of the last box gives the page away, after
        // every other destroyer's writes to it (their drops).
        self.place.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C, align(4096))]
    struct Raw([u8; PAGE]);

    fn page(size: usize) -> (Box<Raw>, NonNull<PageHead>) {
        let mut raw = Box::new(Raw([0; PAGE]));
        // SAFETY: a fresh, aligned page of our own.
        let head = unsafe { PageHead::init(NonNull::from(&mut raw.0).cast(), size, 0) };
        (raw, head)
    }

    #[test]
    fn a_page_hands_out_each_slot_once_in_address_order_and_takes_them_back() {
        for size in [24, 40, 128, 256] {
            let (_raw, head) = page(size);
            // SAFETY: initialized just above, alive with `_raw`.
            let head = unsafe { head.as_ref() };
            let slots: Vec<_> = core::iter::from_fn(|| head.take()).collect();
            assert_eq!(slots.len(), (PAGE - HEAD) / size, "every slot, and no more");
            for pair in slots.windows(2) {
                assert_eq!(pair[1].addr().get() - pair[0].addr().get(), size, "side by side");
            }
            // SAFETY: each was taken above and holds nothing.
            unsafe {
                for &slot in &slots {
                    assert_eq!(page_of(slot), NonNull::from(head), "a slot finds its page");
                    assert!(head.holds(slot));
                }
                assert_eq!(head.give(slots[5]), slots.len() as u16 - 1);
                assert!(!head.holds(slots[5]));
                assert_eq!(head.take(), Some(slots[5]), "the freed slot is the only one");
                assert_eq!(head.take(), None);
                for (i, &slot) in slots.iter().enumerate() {
                    assert_eq!(head.give(slot), (slots.len() - 1 - i) as u16);
                }
            }
            assert_eq!(head.take(), Some(slots[0]), "an emptied page starts over at its first slot");
        }
    }

    #[test]
    fn an_orphan_page_is_released_by_its_last_box_only() {
        let (_raw, head) = page(64);
        // SAFETY: initialized just above, alive with `_raw`.
        let head = unsafe { head.as_ref() };
        let _boxes: Vec<_> = (0..3).map(|_| head.take()).collect();
        head.orphan();
        assert_eq!(head.state(), State::Orphan);
        assert!(!head.release_orphan());
        assert!(!head.release_orphan());
        assert!(head.release_orphan(), "the third of three");
    }
}

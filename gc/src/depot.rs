//! The depot: the process's pages that no pool holds, the chunks they are
//! cut from, and the map that says whether an address is in a page.
//!
//! Small boxes live in pages (see [`crate::page`]) once their heap is past
//! its first few KiB: a heap's objects of one size sit densely beside each
//! other, in address order, instead of wherever the system allocator had a
//! hole (on binary-trees at depth 18, marking and sweeping a heap of
//! scattered blocks took most of incremental mode's time: docs/gc.md). A
//! page is its pool's alone while the pool holds it, so boxes never move
//! between heaps one by one: a pool gives back whole empty pages (those
//! over its cap, and all of them when its heap ends) and takes them from
//! here before the depot cuts a new one.
//!
//! # Invariants
//!
//! - A page on the free list is unused memory owned by the depot alone;
//!   its head's `next` links the list, read and written under the list's
//!   mutex only.
//! - Chunks are [`CHUNK`] bytes aligned to [`CHUNK`], cut into pages in
//!   address order and never freed: [`CHUNKS`] keeps the start of each, so
//!   that leak checkers see it as reachable. What a program's small
//!   objects took at its peak stays with the process, for its later
//!   allocations.
//! - [`MAP`] has the bit of a chunk set before any page of it leaves the
//!   depot, and never cleared; nothing else sets bits in it.

use core::alloc::Layout;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use maat_sync::Mutex;

use crate::page::{PAGE, PageHead, State};

/// A chunk's bytes, and its alignment.
const CHUNK: usize = 4 << 20;
/// Addresses the map covers: 47 bits, the user half of x86-64's and
/// AArch64's usual address spaces. A chunk above (possible only where the
/// system hands out higher addresses) is not used.
const ADDRESS_BITS: u32 = 47;
const MAP_WORDS: usize = 1 << (ADDRESS_BITS - CHUNK.trailing_zeros() - 6);

/// A bit per chunk of the address space: set for the depot's chunks (4 MiB
/// of zeros, which the system maps only where a bit is set).
static MAP: [AtomicU64; MAP_WORDS] = [const { AtomicU64::new(0) }; MAP_WORDS];

/// The free pages and the chunk pages are cut from.
struct Pages {
    free: Option<NonNull<PageHead>>,
    /// The next page of the chunk, and how many are left.
    fresh: Option<NonNull<u8>>,
    left: usize,
}

// SAFETY: the pages are unused memory the depot owns (module invariants),
// only reached through the mutex.
unsafe impl Send for Pages {}

static PAGES: Mutex<Pages> = Mutex::new(Pages { free: None, fresh: None, left: 0 });
/// The address of every chunk ever made (see the module invariants).
static CHUNKS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Whether `block` lies in a page.
#[inline(always)]
pub(crate) fn is_paged(block: NonNull<u8>) -> bool {
    let chunk = block.addr().get() / CHUNK;
    // Relaxed: whoever holds a block from a page got it after the page left
    // the depot (through its mutex, or a heap's synchronization since), and
    // the bit was set before that. A block of the system allocator's is
    // in no chunk, whose bit stays clear.
    MAP.get(chunk / 64).is_some_and(|word| word.load(Ordering::Relaxed) & 1 << (chunk % 64) != 0)
}

/// An empty page, for the caller alone; `None` if the system's memory is
/// where the map does not reach.
pub(crate) fn take() -> Option<NonNull<u8>> {
    let mut pages = PAGES.lock();
    if let Some(page) = pages.free {
        // SAFETY: a free page's head links the list (module invariants).
        pages.free = unsafe { page.as_ref() }.next.get();
        return Some(page.cast());
    }
    if pages.left == 0 {
        pages.fresh = Some(chunk()?);
        pages.left = CHUNK / PAGE;
    }
    let page = pages.fresh.expect("a chunk is being cut");
    pages.left -= 1;
    // SAFETY: the chunk has `left` more pages after this one: at most one
    // past its end.
    pages.fresh = Some(unsafe { page.add(PAGE) });
    Some(page)
}

/// Takes back the empty pages linked by their heads' `next` from `first`.
///
/// # Safety
/// The pages came from [`take`], hold no box, and are given up by their
/// only owner; `last` ends the list.
pub(crate) unsafe fn give(first: NonNull<PageHead>, last: NonNull<PageHead>) {
    let mut pages = PAGES.lock();
    // SAFETY: the caller gave the pages up; `last` is the list's end.
    unsafe { last.as_ref() }.next.set(pages.free);
    pages.free = Some(first);
}

/// Gives back one empty page.
///
/// # Safety
/// As [`give`]'s, for `page` alone.
pub(crate) unsafe fn give_one(page: NonNull<PageHead>) {
    // SAFETY: by the caller's contract.
    unsafe {
        page.as_ref().set_state(State::Empty);
        give(page, page);
    }
}

/// A new chunk, its bit set in the map; `None` if it lies beyond the map.
fn chunk() -> Option<NonNull<u8>> {
    let layout = Layout::from_size_align(CHUNK, CHUNK).expect("a chunk's layout is valid");
    let start = crate::pool::system_alloc(layout);
    let index = start.addr().get() / CHUNK;
    if index / 64 >= MAP_WORDS {
        // SAFETY: allocated just above with `layout`, unused.
        unsafe { std::alloc::dealloc(start.as_ptr(), layout) };
        return None;
    }
    let first = {
        let mut chunks = CHUNKS.lock();
        chunks.push(start.addr().get());
        chunks.len() == 1
    };
    // The first chunk stays on the system's small pages: a huge page is
    // resident as a whole once touched, and a small program's heap fits in
    // the first chunk (2 MiB of its resident 5.8 MiB were the one huge page
    // its first allocation touched).
    if !first {
        advise_huge_pages(start);
    }
    // Relaxed: the page leaves the depot through its mutex after this.
    MAP[index / 64].fetch_or(1 << (index % 64), Ordering::Relaxed);
    Some(start)
}

/// Asks the system to back the chunk at `start` with huge pages (2 MiB on
/// x86-64) where it makes them only on request (Linux's transparent huge
/// pages in `madvise` mode): a program that reads a large heap at random
/// misses the TLB far less (a versioned map's reads: 8–13% faster). A
/// chunk is cut into pages in address order, so at most the huge page
/// being cut into is resident and partly unused. (Every chunk but the
/// first: see [`chunk`].) A refusal (no such
/// support) changes nothing but speed, so the result is not looked at.
fn advise_huge_pages(start: NonNull<u8>) {
    #[cfg(target_os = "linux")]
    // SAFETY: `madvise` with MADV_HUGEPAGE only changes how the system backs
    // the range; the range is the chunk just allocated, CHUNK bytes, aligned
    // to CHUNK (a multiple of the system's page size), and owned here.
    unsafe {
        libc::madvise(start.as_ptr().cast(), CHUNK, libc::MADV_HUGEPAGE);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = start;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_in_the_map_and_system_blocks_are_not() {
        let page = take().expect("a page");
        assert!(is_paged(page), "a page's start");
        // SAFETY: within the page.
        assert!(is_paged(unsafe { page.add(PAGE - 8) }), "a page's end");
        let block = crate::pool::system_alloc(Layout::from_size_align(64, 8).unwrap());
        assert!(!is_paged(block), "a block of the system allocator");
        // SAFETY: allocated above with this layout; the page is empty and ours.
        unsafe {
            std::alloc::dealloc(block.as_ptr(), Layout::from_size_align(64, 8).unwrap());
            let head = PageHead::init(page, 64, 0);
            give_one(head);
        }
    }
}

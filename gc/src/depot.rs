//! The depot: where small blocks go when they leave a heap's pool, and
//! where the pools' regions come from.
//!
//! Small boxes (see [`crate::pool`]) are carved from *regions*: runs of
//! memory a pool takes whole and cuts its blocks from in address order, so
//! that a heap's objects sit densely beside each other instead of wherever
//! the system allocator had a hole (on binary-trees at depth 18, marking
//! and sweeping a heap of scattered blocks took most of incremental mode's
//! time: docs/gc.md). A carved block cannot be returned to the system
//! allocator alone, so every small block that leaves a pool comes here:
//! those over a pool's cap, those of boxes freed outside any heap, and
//! all of a pool's blocks and the uncarved rest of its region when it is
//! dropped. Pools take blocks back from here before they take a new region.
//!
//! # Invariants
//!
//! - A block on a depot list is unused memory of its list's class, owned by
//!   the depot alone; its first word links the list. Only the list's
//!   mutex's holder reads or writes it.
//! - A spare region is uncarved memory owned by the depot alone, at least
//!   [`MIN_REGION`] bytes long.
//! - Region memory is never freed: [`REGIONS`] keeps the start of each, so
//!   that leak checkers see it as reachable. What a program's small objects
//!   took at its peak stays with the process, for its later allocations.

use core::alloc::Layout;
use core::ptr::NonNull;

use maat_sync::Mutex;

use crate::pool::{Block, SMALL, system_alloc};

/// A pool's regions start at this many bytes and double up to
/// [`MAX_REGION`]: a heap that allocates little holds little it does not
/// use, a large heap few regions.
pub(crate) const MIN_REGION: usize = 4 * 1024;
pub(crate) const MAX_REGION: usize = 256 * 1024;

/// Uncarved memory: `len` bytes from `start`.
pub(crate) struct Region {
    pub(crate) start: NonNull<u8>,
    pub(crate) len: usize,
}

/// A list of free blocks of one class.
struct Chain {
    head: Option<NonNull<Block>>,
}

// SAFETY: the blocks are unused memory the depot owns (module invariants);
// a chain is only reached through its mutex.
unsafe impl Send for Chain {}
// SAFETY: as above: spare regions are unused memory the depot owns.
unsafe impl Send for Region {}

static FREE: [Mutex<Chain>; SMALL] = [const { Mutex::new(Chain { head: None }) }; SMALL];
static SPARE: Mutex<Vec<Region>> = Mutex::new(Vec::new());
/// The address of every region ever made (see the module invariants).
static REGIONS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Adds the linked blocks from `first` to `last` (of class `c`) to the
/// depot.
///
/// # Safety
/// The blocks are unused memory of class `c`, linked by their first words
/// from `first` to `last`, owned by the caller, which gives them up.
pub(crate) unsafe fn give(c: usize, first: NonNull<Block>, mut last: NonNull<Block>) {
    let mut chain = FREE[c].lock();
    // SAFETY: the caller owns `last` until it is on the list.
    unsafe { last.as_mut() }.next = chain.head;
    chain.head = Some(first);
}

/// Takes up to `max` blocks of class `c` from the depot, linked, with the
/// number taken.
pub(crate) fn take(c: usize, max: usize) -> Option<(NonNull<Block>, usize)> {
    let mut chain = FREE[c].lock();
    let first = chain.head?;
    let (mut last, mut n) = (first, 1);
    while n < max {
        // SAFETY: blocks on the list are the depot's, linked by their first
        // words, and read under the list's mutex (module invariants).
        let Some(next) = unsafe { last.as_ref() }.next else { break };
        (last, n) = (next, n + 1);
    }
    // SAFETY: as above; the chain ends at `last`, handed to the caller.
    chain.head = unsafe { last.as_mut() }.next.take();
    Some((first, n))
}

/// A region of at least [`MIN_REGION`] bytes: the last spare one if there
/// is any (less than `len` bytes, or its first `len` if its rest is a
/// region's worth, which stays spare), else a new one of `len` bytes.
pub(crate) fn region(len: usize) -> Region {
    let mut spares = SPARE.lock();
    if let Some(spare) = spares.pop() {
        if spare.len >= len + MIN_REGION {
            // SAFETY: `len` is within the spare region.
            spares.push(Region { start: unsafe { spare.start.add(len) }, len: spare.len - len });
            return Region { start: spare.start, len };
        }
        return spare;
    }
    drop(spares);
    let start = system_alloc(Layout::from_size_align(len, 64).expect("a region's layout is valid"));
    REGIONS.lock().push(start.as_ptr().addr());
    Region { start, len }
}

/// Keeps the uncarved rest of a pool's region (at least [`MIN_REGION`]
/// bytes) for another pool.
pub(crate) fn spare(region: Region) {
    SPARE.lock().push(region);
}

//! The depot: where pooled blocks go when they leave a heap's pool, and
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
//! Large blocks (allocated alone) come here too, not back to the system
//! allocator: see [`crate::pool`] for what freeing them on another thread
//! than the one that allocated them cost in glibc. Pools take them back
//! before they allocate new ones. The depot keeps at most [`LARGE_KEPT`]
//! bytes of them: a program that made many strings of one size once and
//! moves on to others must not keep them all (the system allocator can
//! merge freed blocks into others' sizes; the depot cannot).
//!
//! # Invariants
//!
//! - A block in a depot batch is unused memory of its batch's class, owned
//!   by the depot alone; its first word links the batch. Only the class'
//!   mutex's holder reads or writes it, or a taker that popped its batch.
//! - A spare region is uncarved memory owned by the depot alone, at least
//!   [`MIN_REGION`] bytes long.
//! - Region memory is never freed: [`REGIONS`] keeps the start of each, so
//!   that leak checkers see it as reachable. What a program's small objects
//!   took at its peak stays with the process, for its later allocations.
//! - [`LARGE_HELD`] is at least the bytes of the large blocks in the
//!   depot's batches: it grows before a batch is pushed and shrinks after
//!   one is popped.

use core::alloc::Layout;
use core::ptr::NonNull;

use maat_sync::Mutex;
use maat_sync::annotate::atomic::{AtomicUsize, Ordering};

use crate::pool::{Block, CLASSES, SMALL, class_layout, system_alloc};

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

/// Free blocks of one class, linked by their first words from `first` to
/// `last`, whose link is `None`: `n` of them. The depot keeps each class'
/// blocks in the batches they were given in (as a pool's spill sealed
/// them: about [`crate::pool::MAX_BATCH`] bytes each), so that a take or a
/// give holds the class' mutex for a push or a pop, never for a walk along
/// blocks that have long left the cache (walking the 15 blocks a take of
/// 1 KiB strings wanted, two threads slept on the lock 660 times a run).
pub(crate) struct Batch {
    pub(crate) first: NonNull<Block>,
    pub(crate) last: NonNull<Block>,
    pub(crate) n: usize,
}

impl Batch {
    /// A batch of `block` alone.
    ///
    /// # Safety
    /// `block` is unused memory of at least a word, aligned for one, which
    /// the caller gives up to the batch.
    pub(crate) unsafe fn one(block: NonNull<Block>) -> Batch {
        // SAFETY: by the caller's contract.
        unsafe { block.write(Block { next: None }) };
        Batch { first: block, last: block, n: 1 }
    }

    /// Adds `block` in front.
    ///
    /// # Safety
    /// As [`Batch::one`]'s, and the block is of the batch's class.
    pub(crate) unsafe fn push(&mut self, block: NonNull<Block>) {
        // SAFETY: by the caller's contract.
        unsafe { block.write(Block { next: Some(self.first) }) };
        self.first = block;
        self.n += 1;
    }

    /// The first `n` blocks (`0 < n < self.n`) and the rest, in two batches.
    fn split(self, n: usize) -> (Batch, Batch) {
        debug_assert!(0 < n && n < self.n);
        let mut last = self.first;
        for _ in 1..n {
            // SAFETY: the batch owns its blocks, linked by their first words
            // (its invariant), and it has more than `n`.
            last = unsafe { last.as_ref() }.next.expect("a batch has `n` blocks");
        }
        // SAFETY: as above; `last` is the `n`th block, followed by others.
        let rest = unsafe { last.as_mut() }.next.take().expect("a batch has more than `n` blocks");
        (Batch { first: self.first, last, n }, Batch { first: rest, last: self.last, n: self.n - n })
    }
}

// SAFETY: the blocks are unused memory the batch owns (its invariant, and
// the module's); the depot's are only reached through their class' mutex.
unsafe impl Send for Batch {}
// SAFETY: as above: spare regions are unused memory the depot owns.
unsafe impl Send for Region {}

static FREE: [Mutex<Vec<Batch>>; CLASSES] = [const { Mutex::new(Vec::new()) }; CLASSES];
/// The most bytes of large blocks the depot keeps; what would go over goes
/// back to the system allocator. With four maatines replacing 1 KiB strings
/// (the GC-latency program), the depot held under 32 MiB while they ran.
pub(crate) const LARGE_KEPT: usize = 64 << 20;
/// Bytes of large blocks in the depot (see the module invariants). Relaxed:
/// a bound, read and changed alone; the batches are ordered by their
/// mutexes.
static LARGE_HELD: AtomicUsize = AtomicUsize::new(0);
static SPARE: Mutex<Vec<Region>> = Mutex::new(Vec::new());
/// The address of every region ever made (see the module invariants).
static REGIONS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Adds `batch`, of class `c`, to the depot.
///
/// # Safety
/// The batch's blocks are unused memory of class `c`, owned by the caller,
/// which gives them up.
pub(crate) unsafe fn give(c: usize, batch: Batch) {
    if c >= SMALL {
        let bytes = batch.n * class_layout(c).size();
        if LARGE_HELD.fetch_add(bytes, Ordering::Relaxed) + bytes > LARGE_KEPT {
            LARGE_HELD.fetch_sub(bytes, Ordering::Relaxed);
            // SAFETY: the caller gives the blocks up, and large blocks are
            // allocated alone, with their class' layout (the pool's
            // invariants).
            return unsafe { release_large(c, batch) };
        }
    }
    FREE[c].lock().push(batch);
}

/// Returns the blocks of `batch`, of large class `c`, to the system
/// allocator.
///
/// # Safety
/// The batch's blocks were each allocated alone by the system allocator
/// with `c`'s layout, and are unused; the caller gives them up.
pub(crate) unsafe fn release_large(c: usize, batch: Batch) {
    let mut next = Some(batch.first);
    while let Some(block) = next {
        // SAFETY: the batch links its blocks by their first words.
        next = unsafe { block.as_ref() }.next;
        // SAFETY: by the caller's contract; each block is freed once.
        unsafe { std::alloc::dealloc(block.as_ptr().cast(), class_layout(c)) };
    }
}

/// Takes the batch of class `c` given last, or its first `max` blocks (the
/// rest stays, split off outside the lock).
pub(crate) fn take(c: usize, max: usize) -> Option<Batch> {
    let batch = FREE[c].lock().pop()?;
    if c >= SMALL {
        LARGE_HELD.fetch_sub(batch.n * class_layout(c).size(), Ordering::Relaxed);
    }
    if batch.n <= max {
        return Some(batch);
    }
    let (taken, rest) = batch.split(max);
    // SAFETY: the depot's blocks, of class `c`, taken above and given back.
    unsafe { give(c, rest) };
    Some(taken)
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

//! The collector of one heap, in one place, after Lua's lgc.c.
//!
//! # Phases
//!
//! ```text
//!   Pause ──restart──▶ Propagate ──(gray stack empty)──▶ atomic ──▶ Sweep ──(list swept)──▶ Pause
//!                        ▲     │
//!                        └─────┘ remark (the root again, at most REMARKS times)
//! ```
//!
//! - `Pause`: nothing to do until the allocation debt says a cycle is due.
//!   `restart` clears the gray lists and marks the root gray.
//! - `Propagate`: each step pops gray objects and traverses them (black),
//!   marking their white children gray, until its work budget is spent.
//!   When the gray stack is empty, the step marks the root again
//!   (`remark`); if that finds white objects, propagation goes on in
//!   later steps, so that what the mutator built during the marking and
//!   holds in its root is traversed in steps, not in the atomic phase.
//! - `atomic` (one step, never interrupted): the root is traced again (roots
//!   have no barrier), objects the write barrier turned gray again
//!   (`grayagain`) are traversed, everything gray is propagated, and the
//!   current white flips. Every object still of the old white is garbage.
//! - `Sweep`: each step walks part of the object list, then of the pages
//!   (see "Lists and pages"), freeing objects of the old white and
//!   repainting survivors with the new white.
//!
//! The colour rules are stated once, in [`crate::header`].
//!
//! # Lists and pages
//!
//! In incremental mode a small local object lives in its page alone (see
//! [`crate::page`]): no list links it, and the sweep, once it has walked the
//! object list, walks the pages the heap held when it got there, reading
//! the header of every taken slot in address order. Every other object is
//! *listed* (the header's listed bit): large ones and a tiny heap's, those
//! made in generational mode or by a major collection run incrementally
//! (generational mode walks its list's segments), global ones (on the LSO,
//! where a sweep moves them as it meets them). The to-old sweep lists the
//! survivors it meets in pages, so a heap back in generational mode has
//! none left alone. A freed block the pool still keeps is a taken slot with
//! the `FREED` colour, which the sweep passes over, as it does over listed
//! objects. A sweep's pages stay the heap's until it ends: pages leave a
//! pool only when a collection ends (`Pool::trim`) or its heap does.
//!
//! # Pacing (Lua 5.4's, in bytes)
//!
//! Allocation adds to `debt`. When the debt is positive at a safe point, the
//! heap runs a step doing about `max(debt, step_size) * step_multiplier / 100`
//! bytes of work (bytes traversed, or swept / 4), and the debt becomes
//! `-step_size`. At the end of a cycle the next one is scheduled for when the
//! heap has grown to `estimate * pause / 100`. The estimate is Lua's: the
//! heap at the end of marking, less what the sweep frees (not what the
//! mutator allocates while the sweep runs). A mutator that allocates much
//! between safe points asks `Mutation::collection_due` to take them sooner.
//!
//! # Where collection runs
//!
//! Only between mutations ([`Heap::mutate`](crate::Heap::mutate)), so no
//! `Gc` exists on the Rust stack while the collector runs: the root is the
//! only root. This is also why the heap limit is enforced one safe point
//! late (see [`Heap::collect_debt`](crate::Heap::collect_debt)).

use core::cell::{Cell, RefCell};
use core::ptr::NonNull;
use std::time::{Duration, Instant};

use crate::chain::Chain;
use crate::header::Flags;
use crate::header::{Age, BLACK, FREED, GcBox, Header, VTable, WHITE0, WHITES};
use crate::page::PageHead;
use crate::pool::{self, Pool};
use crate::ptr::OutOfMemory;
use crate::space::Space;
use crate::stats::{CollectionKind, Stats};
use crate::tailed::{self, Head, Tailed};
use crate::trace::{Gray, Trace, Tracer};

/// Traces a heap's root (the collector does not know its type).
pub(crate) type RootTracer<'a> = &'a dyn Fn(&mut Tracer);

/// Where the incremental cycle stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Between cycles.
    Pause,
    /// Leaving generational mode: objects are being made white and young
    /// again, a part per step, before the marking of an incremental major
    /// collection (or the pause of incremental mode).
    Whiten,
    /// Marking: gray objects are being traversed.
    Propagate,
    /// Sweeping: dead objects are being freed.
    Sweep,
}

/// Tuning parameters of a heap, as Lua's `collectgarbage("incremental", …)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Start a cycle when the heap reaches `pause`% of the estimate of its
    /// live bytes (default 200).
    pub pause: u32,
    /// Work done per step, as a percentage of the bytes allocated since the
    /// previous step (default 1000: a cycle ends while the mutator
    /// allocates a tenth of the heap, which bounds the heap's peak).
    pub step_multiplier: u32,
    /// Bytes allocated between steps (default 4 KiB).
    pub step_size: usize,
    /// Generational mode: a minor collection after the heap grew by this
    /// percentage of its size (default 20).
    pub minor_multiplier: u32,
    /// Generational mode: a major collection once the heap grew by this
    /// percentage beyond its size after the last major one (default 100).
    pub major_multiplier: u32,
    /// Generational mode: at most this many bytes allocated between minor
    /// collections, whatever the heap's size (default 256 KiB). A minor
    /// collection's pause grows with the young objects that survive it, so
    /// this bounds it on large heaps.
    pub minor_max: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            pause: 200,
            step_multiplier: 1000,
            step_size: 4 * 1024,
            minor_multiplier: 20,
            major_multiplier: 100,
            minor_max: 256 << 10,
        }
    }
}

/// How a heap collects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Incremental mark and sweep, interleaved with the mutator.
    #[default]
    Incremental,
    /// Generational: minor collections of young objects, major ones of all.
    Generational,
}

/// Collector work charged per object swept or whitened: a quarter of its
/// size (as a traversal would cost), but no more than `MAX_SWEEP_COST`
/// bytes, since visiting a header (and freeing the object) costs about the
/// same whatever the object's size: a sweep of large objects must not lag
/// far behind the allocation that pays for it.
const SWEEP_COST_DIVISOR: usize = 4;
const MAX_SWEEP_COST: usize = 32;

/// The work charged for visiting `h` on a walk of an object list.
pub(crate) fn list_work(h: &Header) -> usize {
    (h.vtable().size() / SWEEP_COST_DIVISOR).min(MAX_SWEEP_COST)
}
/// The work charged for each object a lazy sweep of global objects visits
/// (the pending LSO, the adopted list): the most [`list_work`] charges. Such
/// an object is cold (no sweep of the heap's own touched it since the
/// marking) and most are freed, through the system allocator for the large
/// ones: visiting one took 45 to 70 ns on the GC-latency program with four
/// maatines, as long as tracing 32 to 50 bytes did.
pub(crate) const LAZY_SWEEP_WORK: usize = MAX_SWEEP_COST;
/// Objects of the pending LSO swept per safe point.
const LAZY_SWEEP: usize = 1024;
/// The most a heap allocates between two safe points while a shared
/// marking is in progress, each of which does a part of the marking in
/// proportion (`Collector::shared_part`): without it a heap between its
/// own collections met a safe point only at the end of each slice, and a
/// slice that had allocated a megabyte of strings traced 2 MB for the
/// shared marking at once (0.5 to 0.7 ms).
const SHARED_QUANTUM: isize = 16 * 1024;
/// Times a marking marks the root again before its atomic phase (see
/// `Collector::remark`): each leaves the next about what the mutator
/// allocates while the marking traverses what it found, a tenth at the
/// default step multiplier. With two, the longest pause of binary-trees
/// at depth 20 in the VM was 0.66–1.28 ms in three runs; with four,
/// 0.60–0.72 ms in two.
const REMARKS: u8 = 4;
/// A cycle never starts before the heap holds this many bytes.
pub(crate) const MIN_THRESHOLD: usize = 64 * 1024;

/// A heap's pool keeps freed boxes up to this many bytes at least (see
/// `Collector::pool_cap`).
const POOL_MIN: usize = 256 * 1024;
/// A collection's end gives back what the pool holds over this many times
/// its cap (see `Pool::trim`): freed small blocks beyond the cap itself
/// would wait a cycle for their class, but giving them to their pages and
/// allocating from those costs more. On binary-trees at depth 14, a trim
/// to the cap ran 23% more instructions in incremental mode than free
/// lists alone; to twice the cap, 2% fewer, with 12% less memory.
const POOL_SLACK: usize = 2;

/// A link of an object list: the head cell or some object's `next`.
pub(crate) type ListLink = Cell<Option<NonNull<Header>>>;

/// The link the sweep resumes from.
type Link = NonNull<ListLink>;

/// What an ended heap leaves the space (see [`Collector::dissolve`]).
pub(crate) struct Ended {
    /// Global objects that survived the last shared collection, or were
    /// shared since: adopted.
    pub(crate) lso: Chain,
    /// The pending lazy sweep of the last shared collection: joins the
    /// space's own (`SpaceState::adopted_unswept`), which uses the same
    /// mark.
    pub(crate) pending: Chain,
}

/// Where a sweep stopped.
pub(crate) struct Swept<'a> {
    /// The link to continue from.
    pub(crate) link: &'a ListLink,
    /// Work done.
    pub(crate) work: usize,
    /// Whether it reached its limit or the end of the list.
    pub(crate) done: bool,
}

/// What a walk of an object list freed, accounted once at its end (see
/// [`Collector::tally`]).
pub(crate) struct Freed {
    /// The pool's cap, read once per walk.
    cap: usize,
    /// Bytes of unshared objects (counted in the heap's total).
    local: usize,
    /// Bytes of global objects.
    global: usize,
    objects: u64,
}

/// The per-heap collector state.
pub(crate) struct Collector {
    id: u32,
    space: Space,
    /// Unshared objects, and objects shared since the last sweep passed them.
    pub(crate) objects: Cell<Option<NonNull<Header>>>,
    /// The list of shared objects (LSO): global objects this heap allocated,
    /// swept only by shared collections.
    pub(crate) lso: Chain,
    /// The LSO as the last lazy shared collection left it: its black
    /// objects survived, the others are garbage; swept at this heap's safe
    /// points (see `space`).
    pub(crate) pending: Chain,
    /// Boxes freed by this heap's sweeps, kept for its allocations.
    pool: Pool,
    pub(crate) tracer: RefCell<Tracer>,
    pub(crate) grayagain: RefCell<Vec<NonNull<Header>>>,
    pub(crate) phase: Cell<Phase>,
    /// Remarks this marking may still do (see `remark`).
    remarks: Cell<u8>,
    pub(crate) white: Cell<u8>,
    pub(crate) sweep_at: Cell<Option<Link>>,
    /// The next of the pool's pages a sweep walks once it has walked the
    /// list: `None` while it walks the list.
    page_at: Cell<Option<usize>>,
    /// A walk's stack and listing buffer (`Collector::walk`), empty between
    /// walks and kept so that a walk allocates nothing once they have grown.
    pub(crate) walk_buffers: Cell<[Vec<NonNull<Header>>; 2]>,
    /// Bytes in use (objects and reported extra memory).
    pub(crate) total: Cell<usize>,
    /// Allocation debt, less what is `held`: a safe point is due when it
    /// is positive.
    pub(crate) debt: Cell<isize>,
    /// Debt set aside (never positive) while a shared marking is in
    /// progress, so that safe points come every [`SHARED_QUANTUM`] bytes
    /// of allocation for the marking's parts without changing the pacing:
    /// the debt is `debt + held`. Every write of the debt clears it
    /// ([`Collector::set_debt`]).
    held: Cell<isize>,
    /// Bytes live after the last completed cycle.
    pub(crate) estimate: Cell<usize>,
    pub(crate) params: Cell<Params>,
    limit: Cell<Option<usize>>,
    /// Over the limit at the last safe point even after a full collection.
    out_of_memory: Cell<bool>,
    /// Incremental or generational (see `generational`).
    pub(crate) mode: Cell<Mode>,
    /// Generational segments of `objects`: the first survival object, the
    /// first OLD1 object, the first really old object (`None`: list end).
    pub(crate) survival: Cell<Option<NonNull<Header>>>,
    pub(crate) old1: Cell<Option<NonNull<Header>>>,
    pub(crate) reallyold: Cell<Option<NonNull<Header>>>,
    /// Objects marked by the last bad major collection; non-zero while the
    /// heap runs incrementally waiting to return to generational mode.
    pub(crate) last_atomic: Cell<usize>,
    /// The cycle in progress is a major collection run incrementally: its
    /// sweep makes the survivors old and ends in generational mode (see
    /// `generational`).
    pub(crate) to_old: Cell<bool>,
    /// Objects its marking reached.
    pub(crate) marked_by_major: Cell<usize>,
    /// A to-old sweep ended in the last steps (already counted).
    pub(crate) ended_major: Cell<bool>,
    torture: Cell<bool>,
    trace: Cell<bool>,
    pub(crate) cycle: Cell<CycleLog>,
    /// `None` outside `collect_debt`; inside it, whether a step ran: the
    /// steps of one safe point are recorded as one pause, by `collect_debt`.
    batch: Cell<Option<bool>>,
    /// The shared cycle (`SharedCycle::epoch`) this heap last contributed to.
    pub(crate) contributed: Cell<u64>,
    /// Bytes allocated when this heap last did its part of a shared marking.
    pub(crate) shared_paid: Cell<u64>,
    pub(crate) stats: RefCell<Stats>,
}

/// What the trace line of a cycle reports.
#[derive(Clone, Copy, Default)]
pub(crate) struct CycleLog {
    pub(crate) start_total: usize,
    longest_step: Duration,
    steps: u32,
}

impl Collector {
    pub(crate) fn new(id: u32, space: Space) -> Self {
        Collector {
            id,
            space,
            objects: Cell::new(None),
            lso: Chain::default(),
            pending: Chain::default(),
            pool: Pool::new(),
            tracer: RefCell::new(Tracer::new()),
            grayagain: RefCell::new(Vec::new()),
            phase: Cell::new(Phase::Pause),
            remarks: Cell::new(0),
            white: Cell::new(WHITE0),
            sweep_at: Cell::new(None),
            page_at: Cell::new(None),
            walk_buffers: Cell::default(),
            total: Cell::new(0),
            debt: Cell::new(-(MIN_THRESHOLD as isize)),
            held: Cell::new(0),
            estimate: Cell::new(0),
            params: Cell::new(Params::default()),
            limit: Cell::new(None),
            out_of_memory: Cell::new(false),
            mode: Cell::new(Mode::Incremental),
            survival: Cell::new(None),
            old1: Cell::new(None),
            reallyold: Cell::new(None),
            last_atomic: Cell::new(0),
            to_old: Cell::new(false),
            marked_by_major: Cell::new(0),
            ended_major: Cell::new(false),
            torture: Cell::new(false),
            trace: Cell::new(false),
            cycle: Cell::new(CycleLog::default()),
            batch: Cell::new(None),
            contributed: Cell::new(0),
            shared_paid: Cell::new(0),
            stats: RefCell::new(Stats::default()),
        }
    }

    // ----- configuration and queries -------------------------------------

    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    pub(crate) fn space(&self) -> &Space {
        &self.space
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase.get()
    }

    pub(crate) fn params(&self) -> Params {
        self.params.get()
    }

    pub(crate) fn set_params(&self, params: Params) {
        self.params.set(params);
    }

    pub(crate) fn set_limit(&self, limit: Option<usize>) {
        self.limit.set(limit);
    }

    pub(crate) fn set_torture(&self, on: bool) {
        self.torture.set(on);
    }

    pub(crate) fn set_trace(&self, on: bool) {
        self.trace.set(on);
    }

    pub(crate) fn total(&self) -> usize {
        self.total.get()
    }

    /// The allocation debt in bytes: positive when steps are due.
    pub(crate) fn debt(&self) -> isize {
        self.debt.get() + self.held.get()
    }

    /// Sets the allocation debt (whatever was held is part of the old one).
    pub(crate) fn set_debt(&self, debt: isize) {
        self.held.set(0);
        self.debt.set(debt);
    }

    /// Takes back the held debt (at a safe point, before paying).
    fn release_debt(&self) {
        self.debt.set(self.debt());
        self.held.set(0);
    }

    /// Holds back all but [`SHARED_QUANTUM`] of a negative debt while a
    /// shared marking is in progress (see `held`).
    fn hold_debt(&self) {
        let debt = self.debt.get();
        if debt < -SHARED_QUANTUM && self.space().inner.cycle.marking() {
            self.held.set(debt + SHARED_QUANTUM);
            self.debt.set(-SHARED_QUANTUM);
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        self.stats.borrow().clone()
    }

    pub(crate) fn add_stats_to(&self, total: &mut Stats) {
        total.merge(&self.stats.borrow());
    }

    pub(crate) fn reset_pauses(&self) {
        self.stats.borrow_mut().pauses = Default::default();
    }

    pub(crate) fn current_white(&self) -> u8 {
        self.white.get()
    }

    pub(crate) fn objects(&self) -> Option<NonNull<Header>> {
        self.objects.get()
    }

    /// Whether a gray object is queued for traversal (verifier).
    pub(crate) fn is_waiting_gray(&self, h: NonNull<Header>) -> bool {
        self.grayagain.borrow().contains(&h) || self.tracer.borrow().is_gray_queued(h)
    }

    // ----- allocation ------------------------------------------------------

    pub(crate) fn allocate<T: Trace>(&self, value: T, kind: u8) -> NonNull<GcBox<T>> {
        let vtable = vtable::<T>();
        let header = self.new_header(vtable, kind);
        // A type without drop glue owns nothing outside its box (see
        // `VTable::plain`): freeing it will not ask either.
        let owned = if vtable.plain { 0 } else { value.heap_size() };
        debug_assert!(!vtable.plain || value.heap_size() == 0, "a type without drop glue owns no buffers");
        let (block, paged) = self.pool.alloc(vtable.layout);
        let ptr = block.cast::<GcBox<T>>();
        // SAFETY: fresh memory with the layout of `GcBox<T>` (see `pool`).
        unsafe { ptr.write(GcBox { header, value }) };
        self.adopt_new(ptr.cast(), paged, size_of::<GcBox<T>>() + owned);
        ptr
    }

    /// Allocates a [`Tailed`] object of `head` and `len` items made by
    /// `item` (see [`crate::tailed`]).
    pub(crate) fn allocate_tailed<H: Head>(
        &self,
        head: H,
        len: usize,
        item: impl FnMut(usize) -> H::Item,
        kind: u8,
    ) -> NonNull<GcBox<Tailed<H>>> {
        let header = self.new_header(tailed::vtable::<H>(), kind);
        let layout = tailed::box_layout::<H>(len);
        let (block, paged) = self.pool.alloc(layout);
        let ptr = block.cast::<GcBox<Tailed<H>>>();
        // SAFETY: fresh memory of the box's layout for `len` items.
        unsafe { tailed::write(ptr, header, head, len, item) };
        self.adopt_new(ptr.cast(), paged, layout.size());
        ptr
    }

    /// The header of a new object: of the current white, and young; but
    /// black and old while a major collection's sweep makes the survivors
    /// old (see `generational`), so that the list is all old when it ends.
    #[inline]
    fn new_header(&self, vtable: &'static VTable, kind: u8) -> Header {
        if self.to_old.get() && self.phase.get() == Phase::Sweep {
            let header = Header::new(vtable, BLACK, kind, self.id);
            header.set_age(Age::Old);
            return header;
        }
        Header::new(vtable, self.white.get(), kind, self.id)
    }

    /// Counts the `bytes` of a box just made (`paged` if it lies in a
    /// page), and puts it on the object list unless it lives in its page
    /// alone (see "Lists and pages").
    fn adopt_new(&self, h: NonNull<Header>, paged: bool, bytes: usize) {
        if self.mode.get() == Mode::Generational || self.to_old.get() || !paged {
            self.link(h);
        }
        self.account(bytes as isize);
        let mut stats = self.stats.borrow_mut();
        stats.objects_allocated += 1;
    }

    /// Puts `h`, on no list, at the head of the object list.
    pub(crate) fn link(&self, h: NonNull<Header>) {
        // SAFETY: a live object of this heap's, on no list.
        let header = unsafe { h.as_ref() };
        header.set_listed();
        header.next_link().set(self.objects.get());
        self.objects.set(Some(h));
    }

    pub(crate) fn account_extra(&self, bytes: isize) {
        self.account(bytes);
    }

    pub(crate) fn account(&self, bytes: isize) {
        self.total.set(self.total.get().saturating_add_signed(bytes));
        self.debt.set(self.debt.get() + bytes);
        let mut stats = self.stats.borrow_mut();
        if bytes >= 0 {
            stats.bytes_allocated += bytes as u64;
        } else {
            stats.bytes_freed += bytes.unsigned_abs() as u64;
        }
    }

    /// Out of memory: over the limit after the last full collection, and
    /// still over it (a shared collection since may have freed enough).
    pub(crate) fn check_limit(&self) -> Result<(), OutOfMemory> {
        match self.limit.get() {
            Some(limit) if self.out_of_memory.get() && self.over_limit() => {
                Err(OutOfMemory { in_use: self.in_use(), limit })
            }
            _ => Ok(()),
        }
    }

    /// What counts against the heap limit: this heap's objects and every
    /// global (shared, frozen or transferred) object of its space, buffers
    /// included.
    fn in_use(&self) -> usize {
        self.total.get().saturating_add(self.space().global_bytes())
    }

    fn over_limit(&self) -> bool {
        self.limit.get().is_some_and(|limit| self.in_use() > limit)
    }

    // ----- barrier ---------------------------------------------------------

    /// The backward barrier: a black object that receives a store becomes
    /// gray again and is traversed once more in the atomic phase. In
    /// generational mode an old object so written becomes TOUCHED1 (a
    /// TOUCHED2 one is still on grayagain and is only repainted).
    #[inline]
    pub(crate) fn barrier_back(&self, h: NonNull<Header>) {
        // SAFETY: the caller holds a Gc to it within a mutation: it is live.
        let header = unsafe { h.as_ref() };
        if header.is_global() {
            return self.shared_barrier_back(h);
        }
        if !header.is_black() {
            return;
        }
        header.set_gray();
        let age = header.age();
        if age != Age::Touched2 {
            self.grayagain.borrow_mut().push(h);
        }
        if age.is_old() {
            header.set_age(Age::Touched1);
        }
    }

    /// The forward barrier: storing `value` into an already traced (black)
    /// `container` while marking marks `value` instead of tracing
    /// `container` again. Outside marking nothing is needed (the next cycle
    /// starts from the roots). In generational mode, a young `value` stored
    /// into an old `container` is touched instead of the container (Lua's
    /// OLD0 in spirit): it becomes TOUCHED1 and is listed on grayagain, so the
    /// next two minor collections traverse it (keeping its young children
    /// alive while they age) and it is old afterwards, as the container
    /// needs; a large container is not traversed again. (While an
    /// incremental major collection sweeps survivors to old, no value is
    /// white: everything reachable was marked, and new objects are born
    /// black; see `Collector::new_header`.)
    #[inline]
    pub(crate) fn barrier_forward(&self, container: NonNull<Header>, value: NonNull<Header>) {
        // SAFETY: both are held by live handles within a mutation.
        let (c, v) = unsafe { (container.as_ref(), value.as_ref()) };
        if !c.is_black() || c.is_global() || !v.is_white() || v.is_global() {
            return;
        }
        debug_assert!(!(self.to_old.get() && self.phase.get() == Phase::Sweep), "no white value while sweeping to old");
        if self.mode.get() == Mode::Generational {
            v.set_gray();
            v.set_age(Age::Touched1);
            self.grayagain.borrow_mut().push(value);
        } else if self.phase.get() == Phase::Propagate {
            self.tracer.borrow_mut().mark(value);
        }
    }

    // ----- entry points (safe points) --------------------------------------

    /// A safe point: sweeps part of the pending LSO, pays the allocation
    /// debt, and does this heap's part of a shared marking in progress. All
    /// of it is recorded as one pause, if anything was done. Returns the
    /// work done, in the pacing's unit: bytes traversed, or what sweeping
    /// is charged as ([`list_work`], [`LAZY_SWEEP_WORK`]).
    pub(crate) fn collect_debt(&self, root: RootTracer<'_>) -> usize {
        self.release_debt();
        if self.idle() {
            self.out_of_memory.set(false);
            return 0;
        }
        let started = Instant::now();
        self.batch.set(Some(false));
        let swept = self.sweep_pending(LAZY_SWEEP).1 + self.space().sweep_adopted_part(LAZY_SWEEP);
        let paid = self.pay_debt(root);
        let shared = self.shared_part(root);
        let stepped = self.batch.take() == Some(true);
        if swept > 0 || shared > 0 || stepped {
            self.stats.borrow_mut().pauses.record(started.elapsed());
        }
        self.hold_debt();
        swept + paid + shared
    }

    /// Whether a safe point has nothing to do (most of them: checked
    /// before reading the clock).
    fn idle(&self) -> bool {
        self.debt.get() <= 0
            && self.pending.is_empty()
            && !self.torture.get()
            && !self.over_limit()
            && !self.space().inner.cycle.marking()
            && !self.space().adopted_unswept()
    }

    /// Steps while the debt is positive (or a full collection in torture
    /// mode), and enforces the heap limit. Returns the work done (a full
    /// collection's counted as the heap's bytes, which it traverses).
    fn pay_debt(&self, root: RootTracer<'_>) -> usize {
        if self.torture.get() || self.over_limit() {
            self.collect_full(root);
            self.out_of_memory.set(self.over_limit());
            return self.total.get();
        }
        self.out_of_memory.set(false);
        let mut work = 0;
        while self.debt.get() > 0 {
            work += self.step(root);
        }
        work
    }

    /// Switches between incremental and generational collection (Lua's
    /// `collectgarbage("generational" | "incremental")`). Entering
    /// generational mode runs a major collection.
    pub(crate) fn set_mode(&self, mode: Mode, root: RootTracer<'_>) {
        if self.to_old.get() {
            // An incremental major collection ends in generational mode.
            self.run_until_pause(root);
        }
        self.last_atomic.set(0);
        match mode {
            Mode::Generational if self.mode.get() == Mode::Incremental => {
                let started = Instant::now();
                self.enter_gen(root);
                self.record_pause(started.elapsed());
            }
            Mode::Incremental if self.mode.get() == Mode::Generational => self.enter_inc(),
            _ => {}
        }
    }

    /// One incremental step, measured as one pause; returns the work done.
    pub(crate) fn step(&self, root: RootTracer<'_>) -> usize {
        if self.mode.get() == Mode::Generational {
            return self.gen_step(root);
        }
        let started = Instant::now();
        let params = self.params.get();
        // Work in proportion to the debt (as Lua's `incstep`): a mutator that
        // allocated much since the last safe point pays for all of it.
        let debt = self.debt().max(0) as usize;
        let owed = debt.max(params.step_size.max(1));
        let budget = (owed.saturating_mul(params.step_multiplier.max(1) as usize) / 100).max(1);
        let (mut work, mut finished) = (0, false);
        while work < budget {
            work += self.single_step(root);
            if self.phase.get() == Phase::Pause {
                finished = true;
                break;
            }
        }
        self.record_pause(started.elapsed());
        if finished && self.ended_major.take() {
            // An incremental major collection, or a marking good enough to
            // return to generational mode, ended (and was counted).
        } else if finished {
            self.end_cycle(CollectionKind::Incremental);
        } else {
            self.set_debt(-(params.step_size as isize));
        }
        work
    }

    /// A full, non-incremental collection, measured as one pause.
    pub(crate) fn collect_full(&self, root: RootTracer<'_>) {
        if self.phase.get() != Phase::Pause {
            // The cycle in progress runs to its end without interruption (its
            // marks stay valid; it may return the heap to generational mode),
            // then a complete collection follows so that garbage made during
            // the interrupted cycle is freed too.
            let started = Instant::now();
            self.run_until_pause(root);
            self.record_pause(started.elapsed());
        }
        if self.mode.get() == Mode::Generational {
            self.major(root);
            return;
        }
        let started = Instant::now();
        self.start_cycle_log();
        self.run_until_pause(root);
        self.record_pause(started.elapsed());
        self.end_cycle(CollectionKind::Full);
    }

    pub(crate) fn run_until_pause(&self, root: RootTracer<'_>) {
        loop {
            self.single_step(root);
            if self.phase.get() == Phase::Pause {
                self.ended_major.set(false);
                return;
            }
        }
    }

    /// Performs one unit of the current phase; returns the work done.
    fn single_step(&self, root: RootTracer<'_>) -> usize {
        match self.phase.get() {
            Phase::Pause => {
                self.restart(root);
                1
            }
            Phase::Propagate => {
                let work = self.propagate(self.params.get().step_size);
                if self.tracer.borrow().has_gray() || self.remark(root) {
                    return work;
                }
                work + self.atomic(root)
            }
            Phase::Sweep => self.sweep_step(self.params.get().step_size / 64 + 1),
            Phase::Whiten => self.whiten_step(root, self.params.get().step_size / 16 + 1),
        }
    }

    // ----- marking -----------------------------------------------------------

    pub(crate) fn restart(&self, root: RootTracer<'_>) {
        self.start_cycle_log();
        self.grayagain.borrow_mut().clear();
        let mut tracer = self.tracer.borrow_mut();
        tracer.clear();
        root(&mut tracer);
        self.remarks.set(REMARKS);
        self.phase.set(Phase::Propagate);
    }

    /// Marks the root again before the atomic phase, if this marking may
    /// still; returns whether that made anything gray, for later steps to
    /// traverse. The root has no barrier: what the mutator built during the
    /// marking and holds only in its root is still white when the gray
    /// stack runs out, and the atomic phase would traverse all of it in one
    /// pause. In the VM, where the root holds the maatine's registers, a
    /// tree of a million nodes under construction made atomic steps of
    /// 3.0 and 7.7 ms (binary-trees at depths 19 and 20). A mutator that
    /// never stops building meets the atomic phase after [`REMARKS`].
    fn remark(&self, root: RootTracer<'_>) -> bool {
        if self.remarks.get() == 0 {
            return false;
        }
        self.remarks.set(self.remarks.get() - 1);
        let mut tracer = self.tracer.borrow_mut();
        root(&mut tracer);
        tracer.has_gray()
    }

    /// Traverses gray objects until about `budget` bytes were traversed.
    fn propagate(&self, budget: usize) -> usize {
        let mut tracer = self.tracer.borrow_mut();
        let mut work = 0;
        while work < budget {
            let Some(gray) = tracer.pop_gray() else { break };
            tracer.traverse(gray);
            work += tracer.take_work();
        }
        work
    }

    pub(crate) fn propagate_all(&self, tracer: &mut Tracer) -> usize {
        let mut work = 0;
        while let Some(gray) = tracer.pop_gray() {
            tracer.traverse(gray);
            work += tracer.take_work();
        }
        work
    }

    /// The atomic phase: finish marking and flip the white. An incremental
    /// cycle run after a bad major collection returns to generational mode
    /// here if this marking was good (see `generational`).
    fn atomic(&self, root: RootTracer<'_>) -> usize {
        let (work, marked) = self.mark_atomic(root);
        if self.to_old.get() || (self.last_atomic.get() != 0 && self.wants_gen_back(marked)) {
            self.begin_sweep_to_old(marked);
        }
        self.sweep_at.set(None);
        self.phase.set(Phase::Sweep);
        // Lua's estimate: the heap at the end of marking, less what the
        // sweep frees. What the mutator allocates while the sweep runs is
        // not counted, or a long sweep would postpone the next cycle.
        self.estimate.set(self.total.get());
        work
    }

    /// Marks everything still unmarked (root, grayagain, gray stack) and flips
    /// the white. Returns the work and the objects marked this cycle.
    pub(crate) fn mark_atomic(&self, root: RootTracer<'_>) -> (usize, usize) {
        let mut tracer = self.tracer.borrow_mut();
        root(&mut tracer);
        let mut work = self.propagate_all(&mut tracer);
        let mut again = core::mem::take(&mut *self.grayagain.borrow_mut());
        for &h in &again {
            // SAFETY: objects on grayagain were live when the barrier ran and
            // nothing is freed during marking.
            if unsafe { h.as_ref() }.is_gray() {
                tracer.traverse(Gray::whole(h));
            }
        }
        // The emptied list is grayagain again (nothing lists an object while
        // the atomic phase runs): its buffer is kept, so the barriers that
        // list objects after it do not grow a new one (see `keep_grayagain`).
        again.clear();
        self.keep_grayagain(again);
        work += self.propagate_all(&mut tracer);
        self.white.set(self.white.get() ^ WHITES);
        (work, tracer.take_traversed())
    }

    /// Makes `list`, taken from grayagain while nothing could list an
    /// object (an atomic phase, a minor collection), grayagain again, so its
    /// buffer is kept: the barriers that list objects afterwards allocate
    /// nothing. Growing a new buffer was what made minor collections long
    /// after a major one: once a collection has freed many blocks, the
    /// system allocator may take a millisecond for a single request of a
    /// size it has not served since (sorting the freed blocks), and the
    /// list's doublings met that four times (a minor collection of 20 µs
    /// took 1.7 ms).
    pub(crate) fn keep_grayagain(&self, list: Vec<NonNull<Header>>) {
        let mut grayagain = self.grayagain.borrow_mut();
        debug_assert!(grayagain.is_empty(), "nothing lists an object while grayagain is taken");
        *grayagain = list;
    }

    // ----- sweeping ---------------------------------------------------------

    /// Sweeps up to `count` objects; returns the work done.
    fn sweep_step(&self, count: usize) -> usize {
        let dead_white = self.white.get() ^ WHITES;
        let white = self.white.get();
        let dead = |h: &Header| h.colour() & dead_white != 0;
        let before = self.total.get();
        let (work, done) = match self.page_at.get() {
            None => (self.sweep_list_step(count, dead, white), false),
            Some(at) if self.to_old.get() => self.sweep_pages(at, count, dead, |obj, h| self.keep_old_paged(obj, h)),
            Some(at) => self.sweep_pages(at, count, dead, |_, h| h.set_white(white)),
        };
        self.estimate.set(self.estimate.get().saturating_sub(before - self.total.get()));
        if done {
            self.phase.set(Phase::Pause);
            if self.to_old.get() {
                self.end_sweep_to_old();
            }
            return work + 1;
        }
        work
    }

    /// A step of the sweep's walk of the object list; when it reaches the
    /// end, the pages come next.
    fn sweep_list_step(&self, count: usize, dead: impl Fn(&Header) -> bool, white: u8) -> usize {
        let start: &ListLink = match self.sweep_at.get() {
            // SAFETY: the saved link is the head cell or the `next` of an
            // object that survived this sweep, which stays alive until the
            // next cycle's sweep.
            Some(l) => unsafe { l.as_ref() },
            None => &self.objects,
        };
        let swept = if self.to_old.get() {
            self.sweep_list(start, None, count, dead, |h| self.keep_old(h))
        } else {
            self.sweep_list(start, None, count, dead, |h| h.set_white(white))
        };
        if swept.done {
            self.sweep_at.set(None);
            self.page_at.set(Some(0));
        } else {
            self.sweep_at.set(Some(NonNull::from(swept.link)));
        }
        swept.work
    }

    /// Sweeps the objects that live in pages alone, from the pool's `at`th
    /// page, until it has visited about `count` taken slots: as
    /// `sweep_list` does, global ones go to the LSO, those `dead` says are
    /// garbage are freed, `keep` applies to the others. Returns the work
    /// done and whether the pages are done. (Pages the pool takes meanwhile
    /// hold only objects made since the marking, which survive.)
    fn sweep_pages(
        &self,
        at: usize,
        count: usize,
        dead: impl Fn(&Header) -> bool,
        keep: impl Fn(NonNull<Header>, &Header),
    ) -> (usize, bool) {
        let (mut work, mut freed) = (0, self.tally());
        let next = self.residents_from(at, count, |obj, h, (class, charge)| {
            work += charge;
            if h.is_global() {
                self.lso.push(obj);
            } else if dead(h) {
                self.free_resident(obj, class, &mut freed);
            } else {
                keep(obj, h);
            }
        });
        self.settle(freed);
        self.page_at.set(next);
        (work, next.is_none())
    }

    /// Sweeps every object that lives in a page alone, at once (see
    /// `sweep_pages`).
    pub(crate) fn sweep_residents(&self, dead: impl Fn(&Header) -> bool, keep: impl Fn(NonNull<Header>, &Header)) {
        self.sweep_pages(0, usize::MAX, dead, keep);
    }

    /// Forgets where a sweep of the pages was (it stops for good).
    pub(crate) fn abandon_page_sweep(&self) {
        self.page_at.set(None);
    }

    /// Applies `f` to every object that lives in a page alone.
    pub(crate) fn for_each_resident(&self, mut f: impl FnMut(NonNull<Header>, &Header)) {
        self.residents_from(0, usize::MAX, |obj, h, _| f(obj, h));
    }

    /// Applies `f` to the objects that live in the pool's pages alone (not
    /// freed blocks the pool keeps, nor listed objects), from its `at`th
    /// page on, page by page until it has offered about `count` taken
    /// slots, with their page's size class and the work a sweep's visit of
    /// one is charged. Returns the next page's index, or `None` once the
    /// pages are done.
    fn residents_from(
        &self,
        at: usize,
        count: usize,
        mut f: impl FnMut(NonNull<Header>, &Header, (usize, usize)),
    ) -> Option<usize> {
        let mut visited = 0;
        let mut next = self.pool.page_to_visit(at);
        while visited < count
            && let Some((i, page)) = next
        {
            // SAFETY: a page this heap's pool holds; pages leave a pool, and
            // change places in it, only when a collection ends
            // (`Pool::trim`) or its heap does (`Pool::end`), never during a
            // walk.
            let page = unsafe { page.as_ref() };
            // The next page's first lines load while this one is swept: the
            // processor's own prefetcher stops at every page's end, and the
            // pages follow one another in no order it could learn.
            next = self.pool.page_to_visit(i + 1);
            if let Some((_, n)) = next {
                PageHead::prefetch_start(n);
            }
            let charge = (page.slot_size() / SWEEP_COST_DIVISOR).min(MAX_SWEEP_COST);
            let class = usize::from(page.class);
            let mut listed_only = true;
            page.for_each_box(|obj| {
                visited += 1;
                // SAFETY: a taken slot holds a box, or a freed block the pool
                // keeps, whose header keeps the `FREED` colour (see
                // `Collector::free`) until the block is used again.
                let h = unsafe { obj.as_ref() };
                if h.colour() != FREED && !h.is_listed() {
                    f(obj, h, (class, charge));
                }
                // (What `f` did: a global box joined the LSO, a dead one
                // was freed, a live one stays unlisted. Most pages hold a
                // local box, so the first one settles it.)
                listed_only = listed_only && h.colour() != FREED && h.is_listed();
            });
            if listed_only {
                self.pool.set_listed_only(page, true);
            }
        }
        next.map(|(i, _)| i)
    }

    /// What the to-old sweep does to a survivor that lives in a page: as
    /// to any survivor (`keep_old`), and it joins the object list, which a
    /// generational heap's every object is on.
    fn keep_old_paged(&self, obj: NonNull<Header>, h: &Header) {
        self.keep_old(h);
        self.link(obj);
    }

    /// The one sweep loop: walks from `link` until `limit` (or the end) or
    /// `max` objects, moving global objects to the LSO, freeing those `dead`
    /// says are garbage, and applying `keep` to the others.
    pub(crate) fn sweep_list<'a>(
        &'a self,
        mut link: &'a ListLink,
        limit: Option<NonNull<Header>>,
        max: usize,
        dead: impl Fn(&Header) -> bool,
        keep: impl Fn(&Header),
    ) -> Swept<'a> {
        let (mut work, mut freed, mut done) = (0, self.tally(), false);
        for _ in 0..max {
            let current = link.get();
            let Some(obj) = current.filter(|_| current != limit) else {
                done = true;
                break;
            };
            // SAFETY: objects on the list are live until freed here.
            let h = unsafe { obj.as_ref() };
            work += list_work(h);
            if h.is_global() {
                self.move_to_lso(link, obj);
            } else if dead(h) {
                link.set(h.next());
                self.free(obj, &mut freed);
            } else {
                keep(h);
                link = h.next_link();
            }
        }
        self.settle(freed);
        Swept { link, work, done }
    }

    /// Unlinks a global object (shared since a sweep last passed it) from
    /// `link` and hands it to the LSO.
    pub(crate) fn move_to_lso(&self, link: &Cell<Option<NonNull<Header>>>, obj: NonNull<Header>) {
        // SAFETY: `obj` is the live object `link` points to.
        let h = unsafe { obj.as_ref() };
        link.set(h.next());
        self.lso.push(obj);
    }

    /// Frees an unlinked, unreachable object, recording it in `freed` (a
    /// [`Collector::tally`], settled at the end of the walk).
    pub(crate) fn free(&self, obj: NonNull<Header>, freed: &mut Freed) {
        // SAFETY: `obj` was just unlinked and is unreachable (dead white),
        // and still live until `dispose` drops it.
        let layout = unsafe { obj.as_ref() }.box_layout();
        self.dispose(obj, freed);
        // SAFETY: unlinked, unreachable, freed exactly once; the box was
        // allocated with its layout.
        unsafe { self.pool.free(obj.cast(), layout, freed.cap) };
    }

    /// [`Collector::free`] of an object that lives alone in a page of class
    /// `class` (met by a walk of the pages): its block goes to that class's
    /// free list without the pool working out its class and where it lies.
    fn free_resident(&self, obj: NonNull<Header>, class: usize, freed: &mut Freed) {
        self.dispose(obj, freed);
        // SAFETY: a slot of a page of this pool's, of class `class`, whose
        // box is unreachable and was just dropped.
        unsafe { self.pool.keep_freed(obj.cast(), class) };
    }

    /// What freeing `obj` (unreachable, dead white) does before its block
    /// goes back: counts its bytes, colours it `FREED` and drops its value.
    #[inline(always)]
    fn dispose(&self, obj: NonNull<Header>, freed: &mut Freed) {
        // SAFETY: `obj` is unreachable but not yet dropped.
        let h = unsafe { obj.as_ref() };
        let bytes = h.held_bytes();
        if h.is_global() {
            freed.global += bytes;
        } else {
            freed.local += bytes;
        }
        freed.objects += 1;
        // The colour survives in a freed block (a page's slot is not written,
        // a block on a free list only its first word): a page's sweep passes
        // over it, and a reference the collector missed is caught when
        // traced (see `Tracer::mark`) until the block is used again.
        h.set_freed();
        // SAFETY: unreachable, dropped exactly once (its caller frees it).
        unsafe { h.vtable().drop(obj) };
    }

    /// The boxes in the pool's pages (for the verifier).
    pub(crate) fn boxes_in_pages(&self) -> usize {
        self.pool.boxes_in_pages()
    }

    /// Whether the pool's pages are at their places (for the verifier).
    pub(crate) fn pages_in_place(&self) -> bool {
        self.pool.places_agree()
    }

    /// An empty record of what a walk frees.
    pub(crate) fn tally(&self) -> Freed {
        Freed { cap: self.pool_cap(), local: 0, global: 0, objects: 0 }
    }

    /// Accounts what a walk freed. A global object left this heap's count of
    /// bytes in use when it became global (see `leave_local`), so only the
    /// statistics see it go.
    pub(crate) fn settle(&self, freed: Freed) {
        // (A walk that freed nothing, such as the pages' of a heap that
        // has none, counts nothing.)
        if freed.objects == 0 {
            return;
        }
        if freed.local > 0 {
            self.account(-(freed.local as isize));
        }
        let mut stats = self.stats.borrow_mut();
        stats.bytes_freed += freed.global as u64;
        stats.objects_freed += freed.objects;
    }

    /// The most bytes the pool keeps: what the mutator will allocate before
    /// the next cycle starts (the growth `pause` allows beyond the
    /// estimate of live bytes), since more would sit unused.
    fn pool_cap(&self) -> usize {
        let growth = self.params.get().pause.saturating_sub(100) as usize;
        POOL_MIN.max((self.estimate.get() / 100).saturating_mul(growth))
    }

    /// The heap ends: frees its unshared objects at once (nothing else can
    /// reach them, by Invariant S) and returns its global objects for the
    /// space to adopt: its LSO, with the global objects still on its object
    /// list, and its pending lazy sweep, unswept.
    pub(crate) fn dissolve(&self) -> Ended {
        // No cap: the pool's end gives its empty pages to the depot
        // together.
        let mut freed = Freed { cap: usize::MAX, ..self.tally() };
        while let Some(obj) = self.objects.get() {
            // SAFETY: objects on the list are live until freed or moved here.
            let h = unsafe { obj.as_ref() };
            self.objects.set(h.next());
            if h.is_global() {
                self.lso.push(obj);
            } else {
                self.free(obj, &mut freed);
            }
        }
        self.settle(freed);
        // Every local object that lives in a page alone is garbage too.
        self.sweep_residents(|_| true, |_, _| {});
        // Before the space adopts the global objects: their pages become
        // orphans first (see `page`).
        self.pool.end();
        Ended { lso: self.lso.take(), pending: self.pending.take() }
    }

    /// Hands the LSO to the lazy sweep (`pending` must be empty: see
    /// `space`); the LSO starts over empty.
    pub(crate) fn detach_lso(&self) {
        debug_assert!(self.pending.is_empty(), "the previous lazy sweep finished first");
        let lso = self.lso.take();
        if !lso.is_empty() {
            self.space().lazy_sweep_started();
        }
        self.pending.put(lso);
    }

    /// Sweeps up to `max` objects of the pending LSO: those with the last
    /// shared cycle's mark survived it and go back to the LSO (keeping the
    /// mark, white for the next cycle), the others are freed (their bytes
    /// leave the space's count of global bytes). Returns how many objects
    /// it freed, and the work done ([`LAZY_SWEEP_WORK`] an object visited).
    pub(crate) fn sweep_pending(&self, max: usize) -> (u64, usize) {
        let mark = self.space().inner.cycle.mark();
        let (mut freed, mut bytes, mut work) = (self.tally(), 0, 0);
        let had = !self.pending.is_empty();
        for _ in 0..max {
            let Some(obj) = self.pending.pop() else { break };
            // SAFETY: objects on the pending list are live until freed here.
            let h = unsafe { obj.as_ref() };
            work += LAZY_SWEEP_WORK;
            if h.colour() == mark {
                self.lso.push(obj);
            } else {
                bytes += h.held_bytes();
                self.free(obj, &mut freed);
            }
        }
        let objects = freed.objects;
        self.settle(freed);
        if bytes > 0 {
            self.space().sub_global_bytes(bytes);
        }
        if had && self.pending.is_empty() {
            self.space().lazy_sweep_done();
        }
        (objects, work)
    }

    /// A full collection whose tracer records the global objects it meets:
    /// this heap's contribution to a shared collection.
    pub(crate) fn collect_full_reporting(&self, root: RootTracer<'_>) -> Vec<NonNull<Header>> {
        self.tracer.borrow_mut().set_reporting(true);
        self.collect_full(root);
        let mut tracer = self.tracer.borrow_mut();
        tracer.set_reporting(false);
        tracer.take_found()
    }

    pub(crate) fn count_global(&self, flag: Flags, objects: usize) {
        let mut stats = self.stats.borrow_mut();
        if flag == Flags::SHARED {
            stats.objects_shared += objects as u64;
        } else {
            stats.objects_frozen += objects as u64;
        }
    }

    // ----- cycle bookkeeping --------------------------------------------------

    pub(crate) fn record_pause(&self, pause: Duration) {
        match self.batch.get() {
            Some(_) => self.batch.set(Some(true)),
            None => self.stats.borrow_mut().pauses.record(pause),
        }
        let mut log = self.cycle.get();
        log.longest_step = log.longest_step.max(pause);
        log.steps += 1;
        self.cycle.set(log);
    }

    pub(crate) fn end_cycle(&self, kind: CollectionKind) {
        self.set_pause_debt();
        self.finish_cycle(kind);
    }

    /// Schedules the next incremental cycle for when the heap has grown to
    /// `pause`% of the estimate of its live bytes.
    pub(crate) fn set_pause_debt(&self) {
        let live = self.estimate.get();
        let threshold = (live / 100).saturating_mul(self.params.get().pause as usize).max(MIN_THRESHOLD);
        self.set_debt(self.total.get() as isize - threshold as isize);
    }

    pub(crate) fn start_cycle_log(&self) {
        self.cycle.set(CycleLog { start_total: self.total.get(), ..CycleLog::default() });
    }

    /// Counts a completed collection and prints its trace line.
    pub(crate) fn finish_cycle(&self, kind: CollectionKind) {
        self.pool.trim(self.pool_cap().saturating_mul(POOL_SLACK));
        self.stats.borrow_mut().count(kind);
        if self.trace.get() {
            let log = self.cycle.get();
            eprintln!(
                "gc heap {} {}: {} KiB -> {} KiB, {} steps, longest pause {:.3} ms",
                self.id,
                match kind {
                    CollectionKind::Incremental => "inc",
                    CollectionKind::Full => "full",
                    CollectionKind::Minor => "minor",
                    CollectionKind::Major => "major",
                    CollectionKind::Shared => "shared",
                },
                log.start_total / 1024,
                self.total.get() / 1024,
                log.steps,
                log.longest_step.as_secs_f64() * 1e3,
            );
        }
    }
}

/// The vtable of `GcBox<T>`: one promoted constant per type.
fn vtable<T: Trace>() -> &'static VTable {
    struct Of<T>(core::marker::PhantomData<T>);
    impl<T: Trace> Of<T> {
        const VTABLE: VTable = vtable_of::<T>();
    }
    &Of::<T>::VTABLE
}

/// The operations of boxes of `T` (of a fixed size: `tailed` adds a tail).
pub(crate) const fn vtable_of<T: Trace>() -> VTable {
    VTable {
        trace: trace_box::<T>,
        trace_part: trace_box_part::<T>,
        heap_size: heap_size_box::<T>,
        exclude_writers: exclude_writers_box::<T>,
        drop_value: drop_box::<T>,
        layout: core::alloc::Layout::new::<GcBox<T>>(),
        tail_bytes: None,
        name: core::any::type_name::<T>,
        leaf: !T::NEEDS_TRACE,
        plain: !core::mem::needs_drop::<T>(),
    }
}

/// # Safety
/// `h` heads a live `GcBox<T>`.
unsafe fn trace_box<T: Trace>(h: NonNull<Header>, tracer: &mut Tracer) {
    if T::NEEDS_TRACE {
        // SAFETY: by the caller's contract.
        unsafe { h.cast::<GcBox<T>>().as_ref() }.value.trace(tracer);
    }
}

/// # Safety
/// `h` heads a live `GcBox<T>`.
unsafe fn trace_box_part<T: Trace>(h: NonNull<Header>, tracer: &mut Tracer, from: usize) -> Option<usize> {
    if !T::NEEDS_TRACE {
        return None;
    }
    // SAFETY: by the caller's contract.
    unsafe { h.cast::<GcBox<T>>().as_ref() }.value.trace_part(tracer, from)
}

/// # Safety
/// `h` heads a live `GcBox<T>`.
unsafe fn heap_size_box<T: Trace>(h: NonNull<Header>) -> usize {
    // SAFETY: by the caller's contract.
    unsafe { h.cast::<GcBox<T>>().as_ref() }.value.heap_size()
}

/// # Safety
/// `h` heads a live `GcBox<T>`.
unsafe fn exclude_writers_box<T: Trace>(h: NonNull<Header>, f: &mut dyn FnMut()) {
    // SAFETY: by the caller's contract.
    unsafe { h.cast::<GcBox<T>>().as_ref() }.value.exclude_writers(f);
}

/// # Safety
/// `h` heads a live `GcBox<T>`, unreachable, whose value is dropped exactly
/// once (here).
unsafe fn drop_box<T>(h: NonNull<Header>) {
    // SAFETY: by the caller's contract.
    unsafe { core::ptr::drop_in_place(&raw mut (*h.cast::<GcBox<T>>().as_ptr()).value) };
}

/// Frees an unreachable object outside any heap (adopted objects): drops its
/// value and returns its box to the global allocator.
///
/// # Safety
/// `h` heads a live box, unreachable and unlinked, freed exactly once.
pub(crate) unsafe fn destroy(h: NonNull<Header>) {
    // SAFETY: by the caller's contract (the vtable describes the box).
    let vtable = unsafe { h.as_ref() }.vtable();
    // SAFETY: as above; the box was allocated with its layout.
    unsafe {
        let layout = h.as_ref().box_layout();
        vtable.drop(h);
        pool::release(h.cast(), layout);
    }
}

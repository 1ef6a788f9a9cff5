//! The shared collection: marking a space's global objects (shared, frozen,
//! transferred) while the heaps' mutators run, and sweeping the unreachable
//! ones.
//!
//! # The cycle
//!
//! ```text
//!   idle ──start (world stopped)──▶ marking ──finish (world stopped)──▶ idle, LSOs swept lazily
//! ```
//!
//! 1. *start*, with the world stopped, in time proportional to the number of
//!    heaps and global roots: the previous cycle's lazy sweeps finish, the
//!    mark flips (see the colours in the `header` module), every heap owes a
//!    contribution, the global roots are shaded, `marking` is set.
//! 2. *marking*, while mutators run:
//!    - *contribution*: each heap, at its next safe point, completes a full
//!      local collection whose tracer reports the global objects its root
//!      and unshared objects refer to, and shades them. Its roots are never
//!      scanned again this cycle.
//!    - *tracing*: at each safe point a heap also traces part of the space's
//!      gray queue, concurrently with other heaps' mutators
//!      ([`Tracer::is_concurrent`]: the objects' `Trace` synchronizes with
//!      their writers).
//!    - *barriers*, on global containers: a reference stored into one is
//!      shaded (by `share`, which every such store already calls to keep
//!      Invariant S); a reference removed or overwritten is shaded
//!      ([`Mutation::deletion_barrier`](crate::Mutation::deletion_barrier));
//!      a reference that moves to another heap by another way (a channel,
//!      a result, arguments) is shaded
//!      ([`Mutation::hand_off`](crate::Mutation::hand_off)); an object not
//!      yet marked that is about to be rearranged (`Gc::write`,
//!      `backward_barrier`) is traced whole first, so that resuming an object
//!      traced in parts never skips what moved; when a subgraph becomes
//!      global (`share`, `freeze`, `transfer`), its start is shaded once all
//!      of it is global (shading each object as it turned global would let
//!      another heap's marker trace it while its children were still this
//!      heap's unshared objects).
//! 3. *finish*, with the world stopped: heaps that have not contributed
//!    (parked or never scheduled) contribute now, the gray queue is drained,
//!    the adopted list is swept and each heap's LSO is swept, at once or
//!    lazily at that heap's safe points.
//!
//! # Why nothing reachable is freed
//!
//! While marking, for every heap that has contributed, every global object
//! it can reach is *protected*: shaded, or reachable from a gray object
//! through white ones. A contribution establishes it (everything the heap
//! holds is shaded). Reading a reference changes no edge. Removing an edge
//! from a global object shades its target (which protects whatever was
//! protected through that edge); adding one shades its target; a subgraph
//! that becomes global is protected from its shaded start, and an object
//! that changes heaps is shaded; tracing turns gray to marked
//! and shades the children; and a marked object's children are never white
//! (they were shaded when it was traced, or when stored since). At finish
//! every heap has contributed and nothing is gray, so every reachable global
//! object is marked. Global roots never change and are shaded at start.
//!
//! Objects that become global after a heap's contribution stay on its
//! object list (not its LSO) until its next contribution's local sweep
//! moves them, one cycle later at most; by then their colour is the previous
//! cycle's mark or white, both white for the new cycle. So no stale mark
//! survives two cycles, and the alternating mark needs no repainting.
//!
//! # Concurrency
//!
//! `marking`, the mark and the epoch change only in the stopped-world
//! phases (start, finish), whose contract makes every heap's later safe
//! points see them; colours change by CAS (see `Header::shade`); the gray
//! queue is a mutex-protected vector that heaps take batches from.

use core::ptr::NonNull;
use maat_sync::Mutex;
use maat_sync::annotate::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use maat_sync::annotate::{happens_after, happens_before};
use std::sync::Weak;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::collector::{Collector, LAZY_SWEEP_WORK, RootTracer};
use crate::header::{BLACK, Header, MARK1};
use crate::space::{Member, Space, SpaceState};
use crate::stats::CollectionKind;
use crate::trace::{Gray, SharedMarking, Tracer};

/// How a finished shared collection sweeps the heaps' LSOs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sweep {
    /// All of them now, in the stopped world.
    Now,
    /// Each by its heap, a part at each of its safe points
    /// ([`Heap::collect_debt`](crate::Heap::collect_debt)), and the
    /// unreachable objects of heaps that ended by a rayon thread once the
    /// world runs again; the pause is the marking's end alone.
    Lazily,
}

/// Objects taken from the gray queue at a time.
const BATCH: usize = 64;
/// Work (bytes traced) a heap's safe point does for the shared marking, at
/// least, in steps of its own (`Params::step_size`); more if it allocated
/// more since its last one.
const SHARED_STEPS: usize = 8;

/// A gray object in the space's queue.
struct Queued(Gray);

// SAFETY: a pointer to a live global object, handed between heaps' threads
// through the queue's mutex; global objects may be traced from any thread.
unsafe impl Send for Queued {}

/// The space's gray queue.
#[derive(Default)]
struct GrayQueue {
    /// Gray global objects waiting to be traced (from a position).
    grays: Vec<Queued>,
    /// Safe-point parts of the tracing under way, holding grays they took
    /// from `grays`: what a part does not finish comes back when it ends.
    /// Changed and read under the queue's mutex only.
    parts: usize,
}

/// The marking state of a space's shared collection.
pub(crate) struct SharedCycle {
    /// A marking is in progress.
    marking: AtomicBool,
    /// The current (or last) cycle's mark: `BLACK` or `MARK1`.
    mark: AtomicU8,
    /// Cycles started so far; a heap has contributed to the current one
    /// when its own epoch equals it.
    epoch: AtomicU64,
    /// Heaps of the space that still owe the current marking their
    /// contribution.
    uncontributed: AtomicUsize,
    /// Gray global objects waiting to be traced, and the parts of the
    /// tracing under way with some of them.
    gray: Mutex<GrayQueue>,
    /// What the trace line of a cycle reports.
    log: SharedLog,
}

/// The figures of a shared cycle that [`Space::set_trace`] prints when it
/// finishes: its two stopped-world pauses, and the longest work a mutator
/// did for it at one time (a barrier tracing an object whole, a safe
/// point's part of the tracing). Kept only while tracing is on; the times
/// are nanoseconds, the maxima taken with `fetch_max` (Relaxed: figures
/// read in the finish's stopped world, after the world's barrier).
#[derive(Default)]
struct SharedLog {
    on: AtomicBool,
    global_bytes: AtomicUsize,
    start_pause: AtomicU64,
    longest_barrier: AtomicU64,
    longest_part: AtomicU64,
}

impl SharedLog {
    /// Runs `f`, keeping its time in `longest` if it is the longest yet.
    fn timed<R>(&self, longest: &AtomicU64, f: impl FnOnce() -> R) -> R {
        if !self.on.load(Ordering::Relaxed) {
            return f();
        }
        let started = Instant::now();
        let result = f();
        longest.fetch_max(nanos(started.elapsed()), Ordering::Relaxed);
        result
    }

    /// Prints the trace line of a cycle that ended with a finish of
    /// `finish`, leaving `global_bytes`; starts the next cycle's figures.
    fn print(&self, finish: Duration, global_bytes: usize) {
        let ms = |a: &AtomicU64| a.swap(0, Ordering::Relaxed) as f64 / 1e6;
        eprintln!(
            "gc shared: {} KiB -> {} KiB, start pause {:.3} ms, finish pause {:.3} ms, longest barrier {:.3} ms, longest safe-point part {:.3} ms",
            self.global_bytes.load(Ordering::Relaxed) / 1024,
            global_bytes / 1024,
            ms(&self.start_pause),
            finish.as_secs_f64() * 1e3,
            ms(&self.longest_barrier),
            ms(&self.longest_part),
        );
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Which stopped-world phase of a shared cycle runs.
#[derive(Clone, Copy, PartialEq)]
enum Stopped {
    Start,
    Finish,
    Whole,
}

impl Default for SharedCycle {
    fn default() -> Self {
        SharedCycle {
            marking: AtomicBool::new(false),
            mark: AtomicU8::new(BLACK),
            epoch: AtomicU64::new(0),
            uncontributed: AtomicUsize::new(0),
            gray: Mutex::new(GrayQueue::default()),
            log: SharedLog::default(),
        }
    }
}

impl SharedCycle {
    // Relaxed loads of `marking`, `mark` and `epoch`: they change only while
    // no heap is in a mutation or a safe point (the contract of `start` and
    // `finish`), and the embedder's way of stopping and resuming the heaps
    // orders those changes before the heaps' next reads.

    pub(crate) fn marking(&self) -> bool {
        self.marking.load(Ordering::Relaxed)
    }

    pub(crate) fn mark(&self) -> u8 {
        self.mark.load(Ordering::Relaxed)
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    fn queue(&self) -> maat_sync::MutexGuard<'_, GrayQueue> {
        self.gray.lock()
    }

    fn requeue(&self, grays: impl Iterator<Item = Gray>) {
        let mut grays = grays.map(Queued).peekable();
        if grays.peek().is_some() {
            self.queue().grays.extend(grays);
        }
    }

    /// Shades a global object for the current marking.
    pub(crate) fn shade(&self, h: NonNull<Header>) {
        // SAFETY: callers hold a handle to it or found it by tracing: live.
        if unsafe { h.as_ref() }.shade(self.mark()) {
            self.queue().grays.push(Queued(Gray::whole(h)));
        }
    }

    /// A heap joined (under the space's mutex).
    pub(crate) fn joined(&self) {
        if self.marking() {
            // Relaxed: a count read in stopped-world phases and as a hint.
            self.uncontributed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A heap left (under the space's mutex): it owes nothing any more.
    pub(crate) fn left(&self, collector: &Collector) {
        if self.marking() && collector.contributed.get() != self.epoch() {
            // Relaxed: as in `joined`.
            self.uncontributed.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Traces about `budget` bytes from the gray queue, concurrently with
    /// mutators, taking `BATCH` objects from it whenever its own run out.
    /// Returns the work done.
    fn trace_some(&self, budget: usize) -> usize {
        self.log.timed(&self.log.longest_part, || self.trace_budget(budget))
    }

    /// The part counts itself in the queue's `parts` from before it takes
    /// its first batch until it has given back what it did not finish, so
    /// that the queue looks empty only when no part holds grays either
    /// ([`Space::shared_marking_settled`]).
    fn trace_budget(&self, budget: usize) -> usize {
        let mut tracer = Tracer::shared(SharedMarking { mark: self.mark(), concurrent: true });
        self.queue().parts += 1;
        let mut work = 0;
        while work < budget {
            if !tracer.has_gray() {
                let mut queue = self.queue();
                let from = queue.grays.len().saturating_sub(BATCH);
                queue.grays.drain(from..).for_each(|Queued(g)| tracer.queue(g));
            }
            let Some(gray) = tracer.pop_gray() else { break };
            tracer.traverse(gray);
            work += tracer.take_work();
        }
        let mut queue = self.queue();
        queue.grays.extend(tracer.take_grays().map(Queued));
        queue.parts -= 1;
        work
    }

    /// Traces `h` whole now and marks it, unless it is marked (the barrier
    /// of a mutator about to rearrange it).
    fn trace_now(&self, h: NonNull<Header>) {
        let mark = self.mark();
        // SAFETY: the caller holds a handle to it.
        if unsafe { h.as_ref() }.colour() == mark {
            return;
        }
        self.log.timed(&self.log.longest_barrier, || {
            let mut tracer = Tracer::shared(SharedMarking { mark, concurrent: true });
            tracer.traverse_whole(h, mark);
            self.requeue(tracer.take_grays());
        });
    }
}

impl Space {
    /// Whether a shared collection is marking (between
    /// [`Space::start_shared_collection`] and
    /// [`Space::finish_shared_collection`]).
    pub fn shared_marking(&self) -> bool {
        self.inner.cycle.marking()
    }

    /// Whether the marking has nothing left to trace now: the gray queue is
    /// empty, and no heap's safe-point part holds grays it took from it;
    /// heaps that have not contributed may still find more. (A part takes a
    /// batch and gives back what it does not finish: while it ran, the
    /// queue looked empty, and a finish then traced the rest in the stopped
    /// world. With four maatines each replacing strings in a shared array
    /// of 50,000, that rest was their arrays, and the finish took 2 to 4
    /// ms.)
    pub fn shared_marking_settled(&self) -> bool {
        let queue = self.inner.cycle.queue();
        queue.grays.is_empty() && queue.parts == 0
    }

    /// Heaps that have not yet contributed to the marking in progress.
    pub fn heaps_to_contribute(&self) -> usize {
        // Relaxed: a hint for scheduling the finish (which re-counts nothing:
        // it contributes for every heap that still owes it).
        self.inner.cycle.uncontributed.load(Ordering::Relaxed)
    }

    /// Starts a shared collection (see [`crate::shared`]): afterwards each
    /// heap does its part at its own safe points, while the others run. Does
    /// nothing if one is marking already.
    ///
    /// # Safety
    ///
    /// The world must be stopped: no heap of this space may be inside a
    /// mutation or a safe point, or start one, until this returns, and the
    /// way the heaps are stopped and resumed must order this call before
    /// their next operations (a maat-sync stopped world does both). Each
    /// heap's part runs on a rayon thread.
    ///
    /// Until the collection finishes, heaps trace global objects at their
    /// safe points while other threads mutate them: the `Trace` of every
    /// type that can be global in this space must synchronize with its
    /// writers when [`Tracer::is_concurrent`] (the VM's objects take their
    /// lock), or the space's heaps must all run on one thread.
    pub unsafe fn start_shared_collection(&self) {
        self.stopped(Stopped::Start, |space, state| {
            let idle = !space.inner.cycle.marking();
            if idle {
                space.start(state);
            }
            idle
        });
    }

    /// Finishes the shared collection in progress (see [`crate::shared`]):
    /// afterwards every global object that was unreachable when it started
    /// is freed, or (with [`Sweep::Lazily`]) will be by its heap's sweep.
    /// Does nothing if none is marking.
    ///
    /// # Safety
    ///
    /// As for [`Space::start_shared_collection`].
    pub unsafe fn finish_shared_collection(&self, sweep: Sweep) {
        self.stopped(Stopped::Finish, |space, state| {
            let marking = space.inner.cycle.marking();
            if marking {
                space.finish(state, sweep);
            }
            marking
        });
    }

    /// A whole shared collection in one stopped world (finishing the one in
    /// progress first); afterwards every unreachable global object has been
    /// freed.
    ///
    /// # Safety
    ///
    /// As for [`Space::start_shared_collection`], except that nothing runs
    /// concurrently with its tracing.
    pub unsafe fn collect_shared(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.collect(Sweep::Now) }
    }

    /// [`Space::collect_shared`] whose LSO sweeps are left to the heaps
    /// (see [`Sweep::Lazily`]).
    ///
    /// # Safety
    ///
    /// As for [`Space::collect_shared`].
    pub unsafe fn collect_shared_lazily(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.collect(Sweep::Lazily) }
    }

    /// # Safety
    /// As for `collect_shared`.
    unsafe fn collect(&self, sweep: Sweep) {
        self.stopped(Stopped::Whole, |space, state| {
            if space.inner.cycle.marking() {
                space.finish(state, sweep);
            }
            space.start(state);
            space.finish(state, sweep);
            true
        });
    }

    /// Prints a line for each shared collection on standard error (as
    /// [`Config::trace`](crate::Config::trace) does for a heap's).
    pub fn set_trace(&self, on: bool) {
        // Relaxed: set before the heaps run (the world's start orders it).
        self.inner.cycle.log.on.store(on, Ordering::Relaxed);
    }

    /// Runs a stopped-world phase under the space's mutex; its time is one
    /// pause of the space if it did anything (`phase` returns whether).
    fn stopped(&self, what: Stopped, phase: impl FnOnce(&Self, &mut SpaceState) -> bool) {
        let started = Instant::now();
        let log = &self.inner.cycle.log;
        let tracing = log.on.load(Ordering::Relaxed);
        if tracing && what != Stopped::Finish {
            log.global_bytes.store(self.global_bytes(), Ordering::Relaxed);
        }
        let mut state = self.state_with_no_heap_ending();
        if phase(self, &mut state) {
            let pause = started.elapsed();
            state.stats.pauses.record(pause);
            if tracing {
                match what {
                    Stopped::Start => log.start_pause.store(nanos(pause), Ordering::Relaxed),
                    Stopped::Finish | Stopped::Whole => log.print(pause, self.global_bytes()),
                }
            }
        }
    }

    /// Step 1 (see the module documentation); the world is stopped.
    fn start(&self, state: &mut SpaceState) {
        let members = Members::of(state);
        members.each(|i| members.finish_pending(i));
        let cycle = &self.inner.cycle;
        // The adopted objects the heaps have not swept since the last
        // finish, before the flip makes their mark meaningless (few: the
        // heaps sweep them at their safe points meanwhile).
        let swept = sweep_unswept(state, cycle.mark(), usize::MAX);
        self.inner.adopted_unswept.store(false, Ordering::Relaxed);
        self.sub_global_bytes(swept.bytes);
        swept.garbage.free();
        // Relaxed stores: see `SharedCycle`.
        cycle.mark.store(cycle.mark() ^ (BLACK | MARK1), Ordering::Relaxed);
        cycle.epoch.fetch_add(1, Ordering::Relaxed);
        cycle.uncontributed.store(state.members.len(), Ordering::Relaxed);
        cycle.marking.store(true, Ordering::Relaxed);
        let mut tracer = Tracer::shared(SharedMarking { mark: cycle.mark(), concurrent: false });
        state.globals.retain(|g| g.strong_count() > 0);
        for global in state.globals.iter().filter_map(Weak::upgrade) {
            // SAFETY: the slot holds its value until it is dropped.
            unsafe { (global.trace)(global.value, &mut tracer) };
        }
        cycle.requeue(tracer.take_grays());
    }

    /// Step 3; the world is stopped.
    fn finish(&self, state: &mut SpaceState, sweep: Sweep) {
        let members = Members::of(state);
        members.each(|i| members.contribute(i));
        let cycle = &self.inner.cycle;
        let mut tracer = Tracer::shared(SharedMarking { mark: cycle.mark(), concurrent: false });
        let grays = {
            let mut queue = cycle.queue();
            debug_assert_eq!(queue.parts, 0, "no part of the tracing runs in the stopped world");
            core::mem::take(&mut queue.grays)
        };
        grays.into_iter().for_each(|Queued(g)| tracer.queue(g));
        while let Some(gray) = tracer.pop_gray() {
            tracer.traverse(gray);
        }
        // Relaxed: see `SharedCycle`.
        cycle.marking.store(false, Ordering::Relaxed);
        // Each heap's sweep takes its objects' bytes off the global count.
        let freed = members.sum(|i| members.sweep(i, sweep));
        let adopted_bytes = sweep_adopted(state, cycle.mark(), sweep);
        self.inner.adopted_unswept.store(state.adopted_unswept.is_some(), Ordering::Relaxed);
        self.collected(adopted_bytes);
        state.stats.objects_freed += freed;
        state.stats.count(CollectionKind::Shared);
    }
}

impl Collector {
    /// This heap's part of a shared marking at its safe point: its
    /// contribution once per cycle, then some tracing (more if it
    /// allocated more since its last part). Returns the work done (at least
    /// 1 if it did anything).
    pub(crate) fn shared_part(&self, root: RootTracer<'_>) -> usize {
        let cycle = &self.space().inner.cycle;
        if !cycle.marking() {
            return 0;
        }
        let contributed = self.contribute(root);
        let allocated = self.stats.borrow().bytes_allocated;
        let since = allocated.saturating_sub(self.shared_paid.replace(allocated)) as usize;
        let least = self.params().step_size.saturating_mul(SHARED_STEPS);
        1 + contributed + cycle.trace_some(least.max(since.saturating_mul(2)))
    }

    /// This heap's contribution to the marking in progress, unless it made
    /// it already: a full local collection reporting the global objects it
    /// reaches, which are shaded. Returns the work done, the collection's
    /// counted as the heap's bytes (which it traverses).
    pub(crate) fn contribute(&self, root: RootTracer<'_>) -> usize {
        let cycle = &self.space().inner.cycle;
        let epoch = cycle.epoch();
        if self.contributed.get() == epoch {
            return 0;
        }
        for h in self.collect_full_reporting(root) {
            cycle.shade(h);
        }
        self.contributed.set(epoch);
        self.shared_paid.set(self.stats.borrow().bytes_allocated);
        // Relaxed: see `SharedCycle::joined`.
        cycle.uncontributed.fetch_sub(1, Ordering::Relaxed);
        self.total.get()
    }

    /// The shared marking's barrier for a global object `h` about to be
    /// changed in any way: traced whole first unless marked.
    pub(crate) fn shared_barrier_back(&self, h: NonNull<Header>) {
        let cycle = &self.space().inner.cycle;
        if cycle.marking() {
            cycle.trace_now(h);
        }
    }

    /// Shades global object `h` if a shared marking is in progress.
    pub(crate) fn shade_if_marking(&self, h: NonNull<Header>) {
        let cycle = &self.space().inner.cycle;
        // SAFETY: the caller holds a handle to it.
        if cycle.marking() && unsafe { h.as_ref() }.is_global() {
            cycle.shade(h);
        }
    }
}

/// The registered heaps, shared with the rayon tasks of a stopped world.
struct Members<'a>(Vec<&'a Member>);

// SAFETY: in a stopped-world phase each member is handled by exactly one
// task (indices are disjoint), and no other thread uses any heap of the
// space (the contract of `start_shared_collection`).
unsafe impl Sync for Members<'_> {}

impl<'a> Members<'a> {
    fn of(state: &'a SpaceState) -> Self {
        Members(state.members.values().collect())
    }

    /// Runs `f` for every member and sums what it returns: in parallel on
    /// rayon's threads if there are several, here if there is one (a single
    /// heap is not worth waking the pool for, let alone starting it).
    /// (rayon hands work over with atomics valgrind's race detectors do
    /// not see: the hand-over and the return are announced to them,
    /// `maat_sync::annotate`.)
    fn sum(&self, f: impl Fn(usize) -> u64 + Send + Sync) -> u64 {
        match self.0.len() {
            0 | 1 => (0..self.0.len()).map(f).sum(),
            n => {
                let (start, done) = (&self.0 as *const _ as usize, &self.0 as *const _ as usize + 1);
                happens_before(start as *const u8);
                let total = (0..n)
                    .into_par_iter()
                    .map(|i| {
                        happens_after(start as *const u8);
                        let part = f(i);
                        happens_before(done as *const u8);
                        part
                    })
                    .sum();
                happens_after(done as *const u8);
                total
            }
        }
    }

    /// Runs `f` for every member, as [`Members::sum`] does.
    fn each(&self, f: impl Fn(usize) + Send + Sync) {
        self.sum(|i| {
            f(i);
            0
        });
    }

    fn collector(&self, i: usize) -> &Collector {
        // SAFETY: no heap is in use (the stopped world); members stay
        // registered (collector and root alive) while the state is locked.
        unsafe { self.0[i].collector.as_ref() }
    }

    /// Heap `i`'s contribution, if it still owes it.
    fn contribute(&self, i: usize) {
        let member = self.0[i];
        let (root, trace_root) = (member.root, member.trace_root);
        // SAFETY: `root` is the member's boxed root, traced by its own fn.
        self.collector(i).contribute(&|t| unsafe { trace_root(root, t) });
    }

    /// Finishes heap `i`'s pending lazy sweep.
    fn finish_pending(&self, i: usize) {
        self.collector(i).sweep_pending(usize::MAX);
    }

    /// Sweeps heap `i`'s LSO, or hands it to the heap's lazy sweep; returns
    /// the number of objects freed now.
    fn sweep(&self, i: usize, sweep: Sweep) -> u64 {
        let collector = self.collector(i);
        collector.detach_lso();
        match sweep {
            Sweep::Lazily => 0,
            Sweep::Now => collector.sweep_pending(usize::MAX).0,
        }
    }
}

impl Space {
    /// Whether adopted objects wait for the heaps' safe points to sweep
    /// them.
    pub(crate) fn adopted_unswept(&self) -> bool {
        // Relaxed: a hint; the list itself is read under the mutex.
        self.inner.adopted_unswept.load(Ordering::Relaxed)
    }

    /// A heap's part, at its safe point, of the sweep of the adopted
    /// objects the last shared collection left unswept (see
    /// `sweep_adopted`): up to `max` objects, the unreachable ones freed on
    /// this thread. Returns the work done ([`LAZY_SWEEP_WORK`] an object
    /// visited; 0 if there was none to sweep). No start runs meanwhile (a
    /// heap at its safe point is in use), so the mark is the one the last
    /// marking left.
    pub(crate) fn sweep_adopted_part(&self, max: usize) -> usize {
        if !self.adopted_unswept() {
            return 0;
        }
        let part = {
            let mut state = self.state();
            let part = sweep_unswept(&mut state, self.inner.cycle.mark(), max);
            self.inner.adopted_unswept.store(state.adopted_unswept.is_some(), Ordering::Relaxed);
            part
        };
        self.sub_global_bytes(part.bytes);
        part.garbage.free();
        part.work
    }
}

/// The adopted objects at the end of a shared marking: swept now (the
/// unmarked freed at once), or, lazily, left to the heaps' safe points a
/// part at a time ([`Space::sweep_adopted_part`]): walking them took
/// milliseconds of the stopped world once a heap with a large window of
/// strings had ended. Returns the bytes freed now.
///
/// A sweep now recounts `adopted_bytes` from the survivors: an adopted
/// object may have grown or shrunk since its heap ended (a shared array
/// another maatine pushed to), and only with the world stopped can its
/// buffers be measured without racing with their writers. A lazy sweep
/// takes the bytes of what it frees off the count instead.
fn sweep_adopted(state: &mut SpaceState, mark: u8, sweep: Sweep) -> usize {
    if sweep == Sweep::Lazily {
        debug_assert!(state.adopted_unswept.is_none(), "the start swept the last ones");
        state.adopted_unswept = state.adopted.take();
        return 0;
    }
    let list = state.adopted.take();
    let swept = sweep_adopted_list(state, list, mark, usize::MAX, Recount::Survivors);
    swept.garbage.free();
    swept.bytes
}

/// Sweeps up to `max` objects of the unswept adopted list (of the last
/// shared marking, whose mark is `mark`); returns the garbage, to be freed
/// once the space's mutex is released.
fn sweep_unswept(state: &mut SpaceState, mark: u8, max: usize) -> AdoptedSwept {
    let list = state.adopted_unswept.take();
    let mut swept = sweep_adopted_list(state, list, mark, max, Recount::Freed);
    state.adopted_unswept = swept.rest.take();
    swept
}

/// How a sweep of adopted objects keeps `adopted_bytes` (see
/// [`sweep_adopted`]).
#[derive(Clone, Copy, PartialEq)]
enum Recount {
    /// Takes the freed objects' bytes off it: a part of a lazy sweep, while
    /// the survivors' writers run.
    Freed,
    /// Counts it afresh from the survivors, in the same walk: the world is
    /// stopped and the whole list is swept at once (onto an empty adopted
    /// list).
    Survivors,
}

/// Sweeps up to `max` objects of `list`, adopted objects the marking with
/// `mark` has finished with: the marked go (back) on the adopted list, the
/// others are unlinked and returned, with the bytes they held (measured
/// safely: they are unreachable, so no writer races with the measure).
/// Returns the rest of the list as well.
fn sweep_adopted_list(
    state: &mut SpaceState,
    list: Option<NonNull<Header>>,
    mark: u8,
    max: usize,
    recount: Recount,
) -> AdoptedSwept {
    let (mut next, mut garbage, mut bytes, mut kept, mut work) = (list, Vec::new(), 0, 0, 0);
    for _ in 0..max {
        let Some(obj) = next else { break };
        // SAFETY: adopted objects are live until freed.
        let h = unsafe { obj.as_ref() };
        next = h.next();
        work += LAZY_SWEEP_WORK;
        if h.colour() == mark {
            if recount == Recount::Survivors {
                kept += h.held_bytes();
            }
            h.next_link().set(state.adopted);
            state.adopted = Some(obj);
        } else {
            bytes += h.held_bytes();
            garbage.push(obj);
        }
    }
    state.adopted_bytes = match recount {
        Recount::Freed => state.adopted_bytes.saturating_sub(bytes),
        Recount::Survivors => kept,
    };
    state.stats.bytes_freed += bytes as u64;
    state.stats.objects_freed += garbage.len() as u64;
    AdoptedSwept { rest: next, garbage: Garbage(garbage), bytes, work }
}

/// What a walk of adopted objects left and found.
struct AdoptedSwept {
    /// The objects it did not reach.
    rest: Option<NonNull<Header>>,
    /// The unreachable ones, unlinked.
    garbage: Garbage,
    /// The bytes these held.
    bytes: usize,
    /// The work done: [`LAZY_SWEEP_WORK`] an object visited.
    work: usize,
}

/// Unreachable global objects unlinked from the adopted list, to be freed.
struct Garbage(Vec<NonNull<Header>>);

// SAFETY: nothing reaches these objects any more (unmarked at the end of a
// shared marking, and unlinked), so the thread that frees them is their only
// user. Freeing them on a rayon thread is what `Sweep::Now` and each heap's
// part of a stopped world already do: the contract of
// `Space::start_shared_collection` makes the space's types safe to trace
// and drop there.
unsafe impl Send for Garbage {}

impl Garbage {
    fn free(self) {
        for obj in self.0 {
            // SAFETY: unlinked and unreachable: freed exactly once, here.
            unsafe { crate::collector::destroy(obj) };
        }
    }
}

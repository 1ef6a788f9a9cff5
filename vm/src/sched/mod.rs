//! The maatine scheduler: a pool of OS threads running maatines in slices,
//! with work stealing, thread-mode transitions, the start and finish of
//! shared collections at stopped-world safe points (the marking runs in
//! between, at each maatine's own safe points), and deadlock detection.
//!
//! # Queues
//!
//! Each worker thread has a crossbeam-deque FIFO; new and woken maatines go
//! to the injector (shared) or the local queue of the thread that made them
//! runnable. A worker takes one maatine from the injector before its own
//! queue once in `INJECTOR_TICK` finds (woken maatines wait there, and
//! would otherwise wait until the worker's own queue empties), and an idle
//! one steals a batch from the injector and then from the others. A worker
//! that finds nothing sleeps through maat-sync's `Idle`, whose protocol
//! (announce, fence, look again; push, fence, notify) is model-checked
//! against lost wake-ups.
//!
//! # Counts
//!
//! `live`: maatines created and not finished. `active`: live maatines that
//! are queued or running (not parked). A maatine becomes active when created
//! and when woken (under its wake cell's mutex, see [`wake`]), and
//! stops being active when it parks (under the same mutex) or finishes.
//!
//! # Deadlocks
//!
//! When `active` drops to zero while maatines are live, every one of them is
//! parked, and only a running maatine can wake one: the program is
//! deadlocked. The detector confirms it under the registry's mutex by
//! finding every registered maatine parked, each under its cell's mutex, and
//! reading `active` once more afterwards; a wake-up racing with the check
//! increments `active` under a cell mutex the check took after it, so the
//! final read sees it. The report names every maatine and what it waits for.
//! Cycles among variable locks alone are found earlier and exactly by
//! maat-sync's lock table, as an error in the maatine that closes the cycle.
//!
//! # Thread mode
//!
//! The runtime is multi-threaded while more than one worker exists and more
//! than one maatine is live (and a little longer: see below). A worker that
//! created maatines while the mode was single-threaded stops the world and
//! switches it before it queues them; when one maatine is left, the worker
//! running it stops the world at the end of its next slice and switches back
//! if that is still so (multi-threaded mode is the safe one to stay in: it
//! only takes locks that single-threaded mode elides). Decisions read `live`
//! while the world is stopped, and `live` grows before the spawner's stop,
//! so they agree.

use maat_sync::Mutex;
use maat_sync::annotate::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use maat_sync::annotate::{happens_after, happens_before};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use maat_gc::{Stats, Sweep};
use maat_sync::{Idle, MaatineId, Mode, Participant};

use crate::error::RuntimeError;
use crate::object::handle::{JoinCell, Outcome};
use crate::object::stats::ContentionTotals;
use crate::runtime::Runtime;

mod task;
mod wake;

pub(crate) use task::{Out, Queued, Slice, Spawned, Task};
pub(crate) use wake::{MaatineParker, WakeCell};

/// Shared collections wait until global objects reach this many bytes.
const SHARED_FLOOR: usize = 8 << 20;
/// ... and grow past this percentage of what the last one left. Below the
/// 200% of a heap's own collections (Lua's pause): a shared collection
/// marks while the heaps run and frees its garbage only as each heap sweeps
/// its part afterwards, so the heap goes on growing past the trigger for
/// the whole cycle, by about a fifth of the live data (the GC-latency
/// program with four maatines: a peak of 2.5 times its live data when the
/// trigger was at 200%, 2.2 times at 170%; docs/gc.md, "Latency at the
/// script level").
const SHARED_PAUSE: usize = 170;
/// A due shared collection waits for the heaps' lazy sweeps of the last
/// one (see `Sched::sweeps_settled`) until global objects pass this
/// percentage of what the last one left; then it starts, and its stopped
/// world finishes the sweeps: a heap whose sweep lags far behind its
/// allocation must not let the global objects grow for 64 slices (the
/// GC-latency program with four maatines started collections at 7 times
/// their live data while one heap had not swept).
const SHARED_PAUSE_MAX: usize = 250;
/// A worker looks at the injector before its own queue once in this many
/// finds (Go's scheduler checks its global queue once in 61 ticks).
const INJECTOR_TICK: u32 = 61;
/// A shared marking with nothing left to trace finishes after this many
/// slices even if some heap has not contributed at its own safe point.
const MARKING_SLICES: usize = 64;

/// A live maatine, as the registry knows it.
struct Registered {
    heap: u32,
    cell: Arc<JoinCell>,
}

/// Figures summed over the maatines that finished.
#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) gc: Stats,
    pub(crate) taken: u64,
    pub(crate) elided: u64,
    pub(crate) contention: ContentionTotals,
}

/// What a worker thread keeps: its queue, its membership in the world,
/// where `say` writes, and how to start the other workers.
struct WorkerCx<'a, 'o> {
    local: Worker<Queued>,
    /// Maatines taken since the injector was last looked at first.
    ticks: core::cell::Cell<u32>,
    /// What the slice running now starts; empty between slices, and kept
    /// from slice to slice so that its buffer is allocated once.
    spawned: core::cell::RefCell<Spawned>,
    p: Participant,
    out: &'a Out<'o>,
    start_pool: &'a dyn Fn(),
}

/// Ends the run when its worker unwinds (a panic in a host function or in
/// the runtime itself): the other workers would otherwise wait for the
/// maatine it was running, or sleep with work queued only it would find,
/// and the run would hang instead of handing the panic to its caller (the
/// thread scope re-raises it once every worker has stopped). The unwinding
/// worker's stopped world, if any, and its participant end in their own
/// `Drop`s.
struct StopOnPanic<'a>(&'a Sched);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop_all();
        }
    }
}

/// The scheduler of one run.
pub(crate) struct Sched {
    pub(crate) rt: Runtime,
    injector: Injector<Queued>,
    stealers: Vec<Stealer<Queued>>,
    idle: Idle,
    live: AtomicUsize,
    active: AtomicUsize,
    done: AtomicBool,
    next_id: AtomicU64,
    /// Live maatines (ahash: one insert and one removal per maatine).
    registry: Mutex<HashMap<MaatineId, Registered, ahash::RandomState>>,
    deadlock: Mutex<Option<String>>,
    failed: Mutex<Vec<Arc<JoinCell>>>,
    /// Slices that found the shared marking settled (see `maintain`).
    marking_slices: AtomicUsize,
    /// Whether a maatine the host started has returned an object: the
    /// object waits, reachable from no root, for the host to claim it
    /// after the run, so no shared collection may start or finish until
    /// then.
    results_in_transit: AtomicBool,
    /// Slices a due shared collection has waited for the last one's lazy
    /// sweeps (see `Sched::sweeps_settled`).
    sweep_wait: AtomicUsize,
    pub(crate) totals: Mutex<Totals>,
}

/// A maatine about to go on a run queue, announced to valgrind's race
/// detectors (the deques order it with atomics they cannot see; `find`
/// announces the other end; `maat_sync::annotate`).
fn queued(m: Queued) -> Queued {
    happens_before(&*m);
    m
}

/// The first success of `attempt`, tried again while it says `Retry` (a
/// steal that raced with another); `None` when the queues are empty.
fn steal<T>(attempt: impl FnMut() -> Steal<T>) -> Option<T> {
    std::iter::repeat_with(attempt).find(|s| !s.is_retry()).and_then(Steal::success)
}

impl Sched {
    /// A scheduler with `threads` workers (their queues made here).
    pub(crate) fn new(rt: Runtime, threads: usize) -> (Arc<Sched>, Vec<Worker<Queued>>) {
        let workers: Vec<_> = (0..threads.max(1)).map(|_| Worker::new_fifo()).collect();
        let sched = Sched {
            rt,
            injector: Injector::new(),
            stealers: workers.iter().map(Worker::stealer).collect(),
            idle: Idle::new(),
            live: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            done: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            registry: Mutex::new(HashMap::default()),
            deadlock: Mutex::new(None),
            failed: Mutex::new(Vec::new()),
            marking_slices: AtomicUsize::new(0),
            results_in_transit: AtomicBool::new(false),
            sweep_wait: AtomicUsize::new(0),
            totals: Mutex::new(Totals::default()),
        };
        (Arc::new(sched), workers)
    }

    /// A fresh maatine's cell (its id, its joiners' and its own wake-ups);
    /// the maatine counts as live and active from here on (it is queued by
    /// [`Sched::enqueue`]).
    pub(crate) fn register(self: &Arc<Self>, heap: u32) -> Arc<JoinCell> {
        let id = MaatineId::new(self.next_id.fetch_add(1, Ordering::Relaxed)).expect("ids start at 1");
        let cell = JoinCell::new(id, Arc::downgrade(self));
        self.registry.lock().insert(id, Registered { heap, cell: Arc::clone(&cell) });
        // SeqCst: the counts take part in the deadlock check's reasoning.
        self.live.fetch_add(1, Ordering::SeqCst);
        self.active.fetch_add(1, Ordering::SeqCst);
        cell
    }

    /// The maatine whose heap has id `heap`, if it is live.
    pub(crate) fn maatine_of_heap(&self, heap: u32) -> Option<MaatineId> {
        self.registry.lock().iter().find(|(_, r)| r.heap == heap).map(|(id, _)| *id)
    }

    /// Runs the maatines on the pool until all have finished or they
    /// deadlock. The calling thread is worker 0; the other workers start when
    /// the runtime first becomes multi-threaded, so a program with one
    /// maatine runs on one thread (the allocator's single-threaded fast paths
    /// included). `company` are maatines the host started beside the first
    /// one: worker 0 queues them as if its first slice had spawned them (so
    /// the runtime becomes multi-threaded before they run).
    pub(crate) fn run(self: &Arc<Self>, workers: Vec<Worker<Queued>>, company: Spawned, out: &mut (dyn Write + Send)) {
        let out = Mutex::new(out);
        let mut workers = workers.into_iter();
        let first = workers.next().expect("at least one worker");
        let pending = Mutex::new(workers.collect::<Vec<_>>());
        std::thread::scope(|scope| {
            let started = Mutex::new(Vec::new());
            let start_pool = || {
                for (i, local) in pending.lock().drain(..).enumerate() {
                    let out = &out;
                    let worker = std::thread::Builder::new()
                        .name(format!("maat-worker-{}", i + 1))
                        .spawn_scoped(scope, move || self.work(local, Vec::new(), out, &|| {}))
                        .expect("cannot start a worker thread");
                    started.lock().push(worker);
                }
            };
            self.work(first, company, &out, &start_pool);
            // A worker's panic goes to the caller as it was raised (the
            // scope would replace it with its own message).
            let workers = std::mem::take(&mut *started.lock());
            if let Some(panic) = workers.into_iter().filter_map(|t| t.join().err()).next() {
                std::panic::resume_unwind(panic);
            }
        });
        // After a deadlock the parked maatines are still in their cells.
        let parked: Vec<_> = self.registry.lock().drain().filter_map(|(_, r)| r.cell.wake.take()).collect();
        drop(parked);
    }

    /// The deadlock report, if the run ended in one.
    pub(crate) fn deadlock(&self) -> Option<String> {
        self.deadlock.lock().clone()
    }

    /// Errors of maatines that failed and were never joined.
    pub(crate) fn unobserved_errors(&self) -> Vec<RuntimeError> {
        self.failed.lock().iter().filter_map(|c| c.unobserved_error()).map(|e| *e).collect()
    }

    fn work(self: &Arc<Self>, local: Worker<Queued>, mut company: Spawned, out: &Out<'_>, start_pool: &dyn Fn()) {
        let _stop = StopOnPanic(self);
        let (ticks, spawned) = (core::cell::Cell::new(0), core::cell::RefCell::default());
        let w = WorkerCx { local, ticks, spawned, p: self.rt.world.register(), out, start_pool };
        self.enqueue(&w, &mut company);
        while !self.done.load(Ordering::Acquire) {
            w.p.safe_point();
            match self.find(&w) {
                Some(m) => self.drive(&w, m),
                None => self.idle(&w),
            }
        }
    }

    /// Runs `m` slice after slice until it blocks, finishes, or others wait.
    fn drive(self: &Arc<Self>, w: &WorkerCx<'_, '_>, mut m: Queued) {
        let (p, local) = (&w.p, &w.local);
        loop {
            let slice = {
                let mut spawned = w.spawned.borrow_mut();
                let slice = m.run_slice(self, p, w.out, &mut spawned);
                self.enqueue(w, &mut spawned);
                slice
            };
            // The shared collection is looked after at the end of every
            // slice, however it ended: maatines that only ever block (a
            // producer and a consumer on a channel) never yield, and their
            // shared garbage would never be collected. (After a finished
            // maatine's `finish`: until then its result is reachable from
            // no root; and the thread mode is not this worker's to decide
            // then: see "Thread mode" above.)
            match slice {
                Slice::Yield => {
                    self.maintain(p);
                    p.safe_point();
                    if self.has_work() {
                        local.push(queued(m));
                        self.notify();
                        return;
                    }
                }
                Slice::Blocked => {
                    self.maintain(p);
                    match self.park(m) {
                        Ok(again) => m = again,
                        Err(true) => return self.check_deadlock(),
                        Err(false) => return,
                    }
                }
                Slice::Finished(outcome) => {
                    self.finish(m, outcome);
                    return self.look_after_shared(p);
                }
            }
        }
    }

    /// The next maatine for a worker: its own queue's, then a batch from
    /// the injector or a steal from another worker; but every
    /// `INJECTOR_TICK`th time the injector's first, so that a maatine woken
    /// there (from a variable lock or a channel) runs within that many
    /// slices of this worker, not only once its own queue empties. Looking
    /// there every time would run a joiner as soon as each of its children
    /// ends, and park it again at the next join (spawn + join across
    /// threads took 3.4 µs instead of 2.4).
    fn find(&self, w: &WorkerCx<'_, '_>) -> Option<Queued> {
        let local = &w.local;
        let tick = w.ticks.get() + 1;
        w.ticks.set(if tick == INJECTOR_TICK { 0 } else { tick });
        let first =
            if tick == INJECTOR_TICK && !self.injector.is_empty() { steal(|| self.injector.steal()) } else { None };
        let found = first.or_else(|| local.pop()).or_else(|| {
            steal(|| {
                self.injector
                    .steal_batch_and_pop(local)
                    .or_else(|| self.stealers.iter().map(Stealer::steal).collect::<Steal<_>>())
            })
        });
        found.inspect(|m| happens_after(&**m))
    }

    fn has_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    fn idle(&self, w: &WorkerCx<'_, '_>) {
        let ready = || self.done.load(Ordering::SeqCst) || !w.local.is_empty() || self.has_work();
        w.p.outside(|| self.idle.sleep(ready));
    }

    /// Wakes a sleeping worker after work was queued.
    fn notify(&self) {
        self.idle.notify_one();
    }

    fn stop_all(&self) {
        self.done.store(true, Ordering::SeqCst);
        self.idle.notify_all();
    }

    /// Queues the maatines created by a slice (emptying `spawned`), first
    /// making the runtime multi-threaded if they are the first company.
    fn enqueue(&self, w: &WorkerCx<'_, '_>, spawned: &mut Spawned) {
        if spawned.is_empty() {
            return;
        }
        let mut woke_pool = false;
        if self.stealers.len() > 1 && !self.rt.world.mode().is_multi() {
            let stopped = w.p.stop_world();
            if self.live.load(Ordering::SeqCst) > 1 {
                stopped.set_thread_mode(Mode::Multi);
                woke_pool = true;
            }
            drop(stopped);
            (w.start_pool)();
        }
        spawned.drain(..).for_each(|m| w.local.push(queued(m)));
        // On the switch to multi-threaded mode a burst of maatines is queued
        // at once (and the pool may just have started): every worker looks.
        if woke_pool { self.idle.notify_all() } else { self.notify() }
    }

    /// A woken maatine goes back to the run queue (called under its wake
    /// cell's mutex).
    pub(crate) fn resume(&self, m: Queued) {
        self.active.fetch_add(1, Ordering::SeqCst);
        self.injector.push(queued(m));
        self.notify();
    }

    /// Parks `m`, whose slice blocked, in its cell: `Ok(m)` if it was woken
    /// meanwhile (it goes on), else `Err(last)`, whether it was the last
    /// active maatine. The deadlock check that `last` calls for is the
    /// caller's, once the cell's mutex is released: the check takes every
    /// cell's mutex, this one included.
    fn park(&self, m: Queued) -> Result<Queued, bool> {
        let cell = Arc::clone(m.cell());
        let mut last = false;
        let again = cell.wake.park(m, || last = self.parked());
        again.ok_or(last)
    }

    /// A maatine parked (called under its wake cell's mutex); whether it
    /// was the last active one, so that a deadlock check is due.
    fn parked(&self) -> bool {
        self.active.fetch_sub(1, Ordering::SeqCst) == 1
    }

    fn finish(&self, m: Queued, outcome: Outcome) {
        if m.started_by_host()
            && matches!(outcome, Outcome::Returned(bits) if crate::value::Value::bits_hold_object(bits))
        {
            // SeqCst, before the result is published (`cell.finish`) and
            // before this worker's next safe point: a worker that read
            // `false` and then stopped the world reads it again in the
            // stopped world, which comes after that safe point.
            self.results_in_transit.store(true, Ordering::SeqCst);
        }
        // The heap ends: local garbage is freed now, global objects (the
        // result among them) are adopted by the space.
        let cell = m.retire(&self.totals);
        if matches!(outcome, Outcome::Failed(_)) {
            self.failed.lock().push(Arc::clone(&cell));
        }
        self.registry.lock().remove(&cell.id);
        // Before the joiners are woken: a joiner that is then the last
        // maatine must see it at the end of its next slice (`single_again`),
        // not once this thread gets round to it (a loaded machine ran four
        // slices locked in between).
        let live = self.live.fetch_sub(1, Ordering::SeqCst) - 1;
        cell.finish(outcome);
        let active = self.active.fetch_sub(1, Ordering::SeqCst) - 1;
        if live == 0 {
            return self.stop_all();
        }
        if active == 0 {
            self.check_deadlock();
        }
    }

    /// Back to single-threaded mode if one maatine is left, at the end of
    /// one of its slices rather than when the others finish: a program that
    /// joins a batch of maatines and starts the next one at once would
    /// otherwise stop the world twice per batch (about 20 µs each: 100,000
    /// maatines in batches of 100 on two threads took 0.21 s, now 0.17 s).
    fn single_again(&self, p: &Participant) {
        if self.live.load(Ordering::SeqCst) == 1 && self.rt.world.mode().is_multi() {
            let stopped = p.stop_world();
            if self.live.load(Ordering::SeqCst) == 1 {
                stopped.set_thread_mode(Mode::Single);
            }
        }
    }

    fn check_deadlock(&self) {
        let registry = self.registry.lock();
        let mut waits = Vec::new();
        for r in registry.values() {
            match r.cell.wake.parked_on() {
                Some(w) => waits.push(w),
                None => return,
            }
        }
        if waits.is_empty() || self.active.load(Ordering::SeqCst) != 0 {
            return;
        }
        waits.sort_by_key(|(id, _)| id.get());
        let mut report = String::from("deadlock: every maatine is waiting");
        for (id, what) in waits {
            report.push_str(&format!("\n  {id} waits {what}"));
        }
        drop(registry);
        *self.deadlock.lock() = Some(report);
        self.stop_all();
    }

    /// Between slices: starts a shared collection when global objects grew
    /// enough, and finishes the one marking when it may (both at every
    /// other slice in torture mode). Between the two, every maatine does its
    /// part at its own safe points (maat-gc's `shared`).
    pub(crate) fn maintain(&self, p: &Participant) {
        self.single_again(p);
        self.look_after_shared(p);
    }

    /// The shared collection's part of [`Sched::maintain`]: starts one, or
    /// finishes the one marking. A worker that finds another stopping the
    /// world first gives up (`try_stop_world`) and looks again after its
    /// next slice: the other most likely did the same, and stopping again
    /// at once would wait a second time for the slowest worker's slice (1.5
    /// to 2.7 ms of the worst replacements with four maatines).
    fn look_after_shared(&self, p: &Participant) {
        // Read again once the world is stopped: a maatine the host started
        // may return while this worker waits for the others to stop.
        let in_transit = || self.results_in_transit.load(Ordering::SeqCst);
        if in_transit() {
            return;
        }
        let space = &self.rt.space;
        let torture = self.rt.config.torture;
        if space.shared_marking() {
            if torture || self.marking_may_finish() {
                let Some(_stopped) = p.try_stop_world() else { return };
                if in_transit() {
                    return;
                }
                // SAFETY: the world is stopped: every other worker waits at a
                // safe point between slices or is outside Maat code, and this
                // one is between slices, so no heap is in a mutation; parked
                // and queued maatines' heaps are not in use. Each heap sweeps
                // its LSO at its own safe points afterwards.
                unsafe { space.finish_shared_collection(Sweep::Lazily) };
            }
            return;
        }
        let due = || {
            !in_transit()
                && (torture
                    || (space.shared_collection_due(SHARED_PAUSE, SHARED_FLOOR)
                        && (self.sweeps_settled() || space.shared_collection_due(SHARED_PAUSE_MAX, SHARED_FLOOR))))
        };
        if due() {
            let Some(_stopped) = p.try_stop_world() else { return };
            if due() {
                self.marking_slices.store(0, Ordering::Relaxed);
                self.sweep_wait.store(0, Ordering::Relaxed);
                // SAFETY: as above; and the VM's objects take their lock when
                // traced concurrently (`crate::object`).
                unsafe { space.start_shared_collection() };
            }
        }
    }

    /// Whether the shared marking may finish now: nothing is left to trace,
    /// and the maatines that have not contributed yet are parked (the
    /// finish contributes for them, in the stopped world), or the marking
    /// has lasted `MARKING_SLICES` slices (a heap that is never scheduled
    /// must not hold it open forever).
    fn marking_may_finish(&self) -> bool {
        let space = &self.rt.space;
        if !space.shared_marking_settled() {
            return false;
        }
        // Relaxed: a count of slices, for a heuristic.
        let slices = self.marking_slices.fetch_add(1, Ordering::Relaxed);
        space.heaps_to_contribute() <= self.parked_count() || slices >= MARKING_SLICES
    }

    /// How many live maatines are parked, for the pacing heuristics above
    /// and below (a stale count only moves a start or a finish; the
    /// stopped world does for parked heaps whatever they did not do).
    fn parked_count(&self) -> usize {
        self.live.load(Ordering::SeqCst).saturating_sub(self.active.load(Ordering::SeqCst))
    }

    /// Whether the heaps that run have finished the last shared
    /// collection's lazy sweeps (no more are pending than maatines are
    /// parked: a parked heap never sweeps), or a start has waited
    /// `MARKING_SLICES` slices for them: the start finishes what is left in
    /// its stopped world, which took milliseconds when a heap had just
    /// begun.
    fn sweeps_settled(&self) -> bool {
        if self.rt.space.lazy_sweeps_pending() <= self.parked_count() {
            return true;
        }
        // Relaxed: a count of slices, for a heuristic.
        self.sweep_wait.fetch_add(1, Ordering::Relaxed) >= MARKING_SLICES
    }

    /// Takes over a maatine the host ran on its own thread up to a slice
    /// that needs the scheduler (it blocked, or it started maatines): the
    /// slice's outcome is settled as [`Sched::drive`] settles it, and the
    /// maatine is queued on `local` if it can go on. Then [`Sched::run`]
    /// runs everything to the end.
    pub(crate) fn adopt(&self, local: &Worker<Queued>, m: Queued, slice: Slice) {
        match slice {
            Slice::Yield => local.push(queued(m)),
            Slice::Blocked => match self.park(m) {
                Ok(again) => local.push(queued(again)),
                Err(true) => self.check_deadlock(),
                Err(false) => {}
            },
            Slice::Finished(outcome) => self.finish(m, outcome),
        }
    }

    /// `GC.collect` in a maatine: a shared collection (which includes a full
    /// collection of every heap).
    pub(crate) fn collect_everything(&self, p: &Participant) {
        let _stopped = p.stop_world();
        // SAFETY: as in `maintain`; the caller is between mutations.
        unsafe { self.rt.space.collect_shared() };
    }
}

//! loom models of every lock, flag transition and publication protocol in
//! maat-sync. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p maat-sync --test loom --release`.
//!
//! loom's `UnsafeCell` reports any access that is not ordered by a
//! happens-before edge, so each model checks memory ordering as well as
//! mutual exclusion; loom also fails a model in which every thread is blocked
//! (a lost wake-up or an undetected deadlock).
#![cfg(loom)]

use std::sync::Arc as StdArc;
use std::sync::atomic::Ordering::Relaxed;

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use maat_sync::model_counters::{HANDOFFS, VAR_HANDOFFS};
use maat_sync::{
    AdaptiveLock, LockRequest, LockStatus, MaatineId, Mode, ThreadParker, Update, VarCell, VarLock, VarLockTable, World,
};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// Reads a model cell. SAFETY of the accesses below: loom tracks every
/// access to its `UnsafeCell` and fails the model on any pair not ordered by
/// happens-before, which is exactly what these models check.
fn get(cell: &UnsafeCell<u32>) -> u32 {
    // SAFETY: see above; a racing access fails the model instead of being UB.
    cell.with(|v| unsafe { *v })
}

/// Writes a model cell (see [`get`]).
fn set(cell: &UnsafeCell<u32>, f: impl FnOnce(u32) -> u32) {
    // SAFETY: see `get`.
    cell.with_mut(|v| unsafe { *v = f(*v) });
}

fn id(n: u64) -> MaatineId {
    MaatineId::new(n).unwrap()
}

/// Increments `cell` under `lock`; loom checks exclusion and ordering.
fn locked_increment(lock: &AdaptiveLock, cell: &UnsafeCell<u32>) {
    let _g = lock.lock();
    set(cell, |v| v + 1);
}

#[test]
fn adaptive_lock_mutual_exclusion() {
    model(|| {
        let shared = Arc::new((AdaptiveLock::new(), UnsafeCell::new(0u32)));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let s = shared.clone();
                thread::spawn(move || locked_increment(&s.0, &s.1))
            })
            .collect();
        locked_increment(&shared.0, &shared.1);
        for h in handles {
            h.join().unwrap();
        }
        let _g = shared.0.lock();
        assert_eq!(get(&shared.1), 3);
    });
}

#[test]
fn adaptive_lock_no_lost_wakeup() {
    // Two threads each lock twice: every park is followed by an unpark, or
    // loom reports that all threads are blocked.
    model(|| {
        let shared = Arc::new((AdaptiveLock::new(), UnsafeCell::new(0u32)));
        let s = shared.clone();
        let t = thread::spawn(move || {
            locked_increment(&s.0, &s.1);
            locked_increment(&s.0, &s.1);
        });
        locked_increment(&shared.0, &shared.1);
        locked_increment(&shared.0, &shared.1);
        t.join().unwrap();
        assert!(!shared.0.is_locked());
        assert_eq!(get(&shared.1), 4);
    });
}

/// Maatine 1 re-takes the lock three times while maatine 2 waits; under
/// loom a waiter that lost one race is starving, so some executions hand the
/// lock over. The handoff must still exclude and order, and `handoffs` proves
/// the path was reached.
fn handoff_model<L: Send + Sync + 'static>(
    handoffs: &'static std::sync::atomic::AtomicUsize,
    make: fn() -> L,
    increment: fn(&(L, UnsafeCell<u32>), MaatineId),
) {
    handoffs.store(0, Relaxed);
    model(move || {
        let shared = Arc::new((make(), UnsafeCell::new(0u32)));
        let s = shared.clone();
        let t = thread::spawn(move || increment(&s, id(2)));
        for _ in 0..3 {
            increment(&shared, id(1));
        }
        t.join().unwrap();
        assert_eq!(get(&shared.1), 4);
    });
    assert!(handoffs.load(Relaxed) > 0, "no explored execution reached the handoff path");
}

#[test]
fn adaptive_lock_handoff_to_starving_waiter() {
    handoff_model(&HANDOFFS, AdaptiveLock::new, |s, _| locked_increment(&s.0, &s.1));
}

#[test]
fn thread_mode_flip_is_published_both_ways() {
    // A participant writes data before its safe point; the stopping thread
    // reads it while the world is stopped, flips the mode and writes data
    // that the participant reads after resuming. loom's cells prove both
    // directions are ordered.
    model(|| {
        let world = World::new();
        let before = Arc::new(UnsafeCell::new(0u32));
        let during = Arc::new(UnsafeCell::new(0u32));
        let me = world.register();
        let (w, b, d) = (world.clone(), before.clone(), during.clone());
        let t = thread::spawn(move || {
            let p = w.register();
            set(&b, |_| 1);
            p.safe_point();
            if w.mode().is_multi() {
                assert_eq!(get(&d), 7, "the flip's writes are visible");
            }
        });
        {
            let stopped = me.stop_world();
            let seen = get(&before);
            assert!(seen == 0 || seen == 1);
            set(&during, |_| 7);
            stopped.set_thread_mode(Mode::Multi);
        }
        drop(me);
        t.join().unwrap();
        assert!(world.mode().is_multi());
    });
}

#[test]
fn concurrent_stops_do_not_deadlock() {
    model(|| {
        let world = World::new();
        let flips = Arc::new(UnsafeCell::new(0u32));
        let (w, f) = (world.clone(), flips.clone());
        let t = thread::spawn(move || {
            let p = w.register();
            let s = p.stop_world();
            set(&f, |v| v + 1);
            s.set_thread_mode(Mode::Multi);
        });
        let p = world.register();
        {
            let s = p.stop_world();
            set(&flips, |v| v + 1);
            s.set_thread_mode(Mode::Multi);
        }
        drop(p);
        t.join().unwrap();
        assert_eq!(get(&flips), 2);
    });
}

#[test]
fn a_stop_given_up_for_another_sees_what_that_stop_did() {
    // Two threads both find a stop due. One stops the world and writes; the
    // other either stops after it (and sees the write: stops never overlap),
    // or gives up because a stop is in progress, and then too sees the write
    // once it resumes (loom reports a race otherwise). Neither hangs.
    model(|| {
        let world = World::new();
        let done = Arc::new(UnsafeCell::new(0u32));
        let attempt = |p: &maat_sync::Participant, done: &UnsafeCell<u32>| match p.try_stop_world() {
            Some(_stopped) => set(done, |v| v + 1),
            None => assert!(get(done) >= 1, "gave up for a stop that did nothing"),
        };
        let (w, d) = (world.clone(), done.clone());
        let t = thread::spawn(move || attempt(&w.register(), &d));
        attempt(&world.register(), &done);
        t.join().unwrap();
        assert!((1..=2).contains(&get(&done)));
    });
}

fn var_increment(s: &(VarLock, VarLockTable, StdArc<World>), cell: &UnsafeCell<u32>, me: MaatineId) {
    let mut request = LockRequest::new(me, "x");
    let status = s.0.lock(&s.1, s.2.mode(), &mut request, &ThreadParker::new()).unwrap();
    assert_eq!(status, LockStatus::Acquired);
    set(cell, |v| v + 1);
    s.0.unlock(&s.1, s.2.mode(), me).unwrap();
}

fn multi_threaded_world() -> StdArc<World> {
    let world = World::new();
    world.register().stop_world().set_thread_mode(Mode::Multi);
    world
}

#[test]
fn var_lock_mutual_exclusion_and_wakeup() {
    model(|| {
        let lock = (VarLock::new(), VarLockTable::new(), multi_threaded_world());
        let shared = Arc::new((lock, UnsafeCell::new(0u32)));
        let s = shared.clone();
        let t = thread::spawn(move || var_increment(&s.0, &s.1, id(2)));
        var_increment(&shared.0, &shared.1, id(1));
        var_increment(&shared.0, &shared.1, id(1));
        t.join().unwrap();
        assert_eq!(get(&shared.1), 3);
        assert_eq!(shared.0.0.holder(), None);
    });
}

#[test]
fn var_lock_handoff_to_starving_waiter() {
    let make = || (VarLock::new(), VarLockTable::new(), multi_threaded_world());
    handoff_model(&VAR_HANDOFFS, make, |s, me| var_increment(&s.0, &s.1, me));
}

/// A maatine's parker: queueing suspends (the maatine would retry when
/// woken); here the waiter gives up instead.
struct Suspending;

impl maat_sync::Parker for Suspending {
    fn waker(&self) -> std::task::Waker {
        std::task::Waker::noop().clone()
    }

    fn wait(&self) -> maat_sync::Wait {
        maat_sync::Wait::Suspend
    }
}

/// A waiter stopped while it waits (or after it was woken, or after the
/// lock was handed to it) abandons its request and never retries; the
/// other waiter still gets the lock, and the table is left empty: no
/// wake-up is lost to the abandoned request.
#[test]
fn an_abandoned_request_loses_no_wakeup() {
    model(|| {
        let shared = Arc::new((VarLock::new(), VarLockTable::new(), multi_threaded_world(), UnsafeCell::new(0u32)));
        let mode = || shared.2.mode();
        let mut mine = LockRequest::new(id(1), "x");
        assert_eq!(shared.0.lock(&shared.1, mode(), &mut mine, &ThreadParker::new()).unwrap(), LockStatus::Acquired);
        let s = shared.clone();
        let stopped = thread::spawn(move || {
            let me = id(2);
            let mut request = LockRequest::new(me, "x");
            match s.0.lock(&s.1, s.2.mode(), &mut request, &Suspending).unwrap() {
                LockStatus::Acquired => s.0.unlock(&s.1, s.2.mode(), me).unwrap(),
                LockStatus::Suspended => s.1.abandon(&s.0, s.2.mode(), me),
            }
        });
        let s = shared.clone();
        let waiter = thread::spawn(move || {
            let s = &*s;
            let mut request = LockRequest::new(id(3), "x");
            assert_eq!(s.0.lock(&s.1, s.2.mode(), &mut request, &ThreadParker::new()).unwrap(), LockStatus::Acquired);
            set(&s.3, |v| v + 1);
            s.0.unlock(&s.1, s.2.mode(), id(3)).unwrap();
        });
        set(&shared.3, |v| v + 1);
        shared.0.unlock(&shared.1, mode(), id(1)).unwrap();
        stopped.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(get(&shared.3), 2);
        assert_eq!(shared.0.holder(), None);
        assert_eq!(shared.1.waiting(), 0);
    });
}

#[test]
fn deadlock_is_detected_never_hangs() {
    // Maatine 1 holds a and wants b; maatine 2 holds b and wants a. In every
    // interleaving either one finishes first or exactly one is refused.
    model(|| {
        let world = multi_threaded_world();
        let locks = Arc::new((VarLock::new(), VarLock::new(), VarLockTable::new()));
        let run = |world: StdArc<World>, locks: Arc<(VarLock, VarLock, VarLockTable)>, me: u64| {
            let me = id(me);
            let (first, second) = if me.get() == 1 { (&locks.0, &locks.1) } else { (&locks.1, &locks.0) };
            let parker = ThreadParker::new();
            let mode = world.mode();
            first.lock(&locks.2, mode, &mut LockRequest::new(me, "first"), &parker).unwrap();
            let result = second.lock(&locks.2, mode, &mut LockRequest::new(me, "second"), &parker);
            if result.is_ok() {
                second.unlock(&locks.2, mode, me).unwrap();
            }
            first.unlock(&locks.2, mode, me).unwrap();
            result.is_err()
        };
        let (w, l) = (world.clone(), locks.clone());
        let t = thread::spawn(move || run(w, l, 2));
        let refused_1 = run(world, locks.clone(), 1);
        let refused_2 = t.join().unwrap();
        assert!(!(refused_1 && refused_2), "at most one maatine is refused");
        assert_eq!(locks.2.waiting(), 0);
    });
}

/// A variable cell in a multi-threaded world, with two stand-ins for what
/// a stored value refers to: `payloads[i]` is written before an update
/// that adds `1 << i`.
struct Var {
    cell: VarCell,
    table: VarLockTable,
    world: StdArc<World>,
    payloads: [UnsafeCell<u32>; 2],
}

fn var(bits: u64) -> Arc<Var> {
    let payloads = [UnsafeCell::new(0), UnsafeCell::new(0)];
    Arc::new(Var { cell: VarCell::new(bits), table: VarLockTable::new(), world: multi_threaded_world(), payloads })
}

/// `x = x + k` as a section (`x = x + f()`): lock, seal, read, store, unseal.
fn section_add(v: &Var, me: MaatineId, k: u64) {
    let mut request = LockRequest::new(me, "x");
    let status = v.cell.begin(&v.table, v.world.mode(), &mut request, &ThreadParker::new(), true).unwrap();
    assert_eq!(status, LockStatus::Acquired);
    let old = v.cell.load();
    v.cell.replace(me, old + k, true).unwrap();
    v.cell.end(&v.table, v.world.mode(), me, true).unwrap();
}

/// `x = x + k` as one lock-free update, or as a section when a section
/// holds the variable (what the interpreter does).
fn cas_add(v: &Var, me: MaatineId, shared: bool, k: u64) {
    match v.cell.update(v.world.mode(), me, shared, |x| Some(x + k)) {
        Update::Done { .. } => {}
        Update::Refused => section_add(v, me, k),
    }
}

#[test]
fn var_cell_updates_and_sections_lose_nothing() {
    // Two lock-free updaters and one section at once; the section sees its
    // own store, and the total is exact.
    model(|| {
        let v = var(0);
        let updaters: Vec<_> = (2..4)
            .map(|n| {
                let v = v.clone();
                thread::spawn(move || cas_add(&v, id(n), true, 1))
            })
            .collect();
        let first = v.cell.load();
        section_add(&v, id(1), 1);
        let second = v.cell.load();
        assert!(first < second, "the section's own store is seen");
        for t in updaters {
            t.join().unwrap();
        }
        assert_eq!(v.cell.load(), 3);
        assert_eq!(v.cell.holder(), None);
    });
}

#[test]
fn var_cell_publishes_what_a_value_refers_to() {
    // An update adds 1 after writing payload 0, a section adds 2 after
    // writing payload 1; a reader that sees a change reads its payload,
    // and loom fails the model if that read is not ordered after the write.
    // It fails when `VarCell::load` reads with Relaxed. It does not fail
    // for a Relaxed update CAS, seal or unseal: loom 0.7.3 misses a missing
    // Release on a CAS that follows a load in the same thread, and the
    // section's lock orders the rest, so those orderings are argued in
    // `varcell.rs` (docs/sync.md, "Proof").
    model(|| {
        let v = var(0);
        let (a, b) = (v.clone(), v.clone());
        let update = thread::spawn(move || {
            set(&a.payloads[0], |_| 7);
            cas_add(&a, id(1), true, 1);
        });
        let section = thread::spawn(move || {
            set(&b.payloads[1], |_| 8);
            section_add(&b, id(2), 2);
        });
        // Without the yield, loom's bounded search always reads before the
        // other threads have run; with it, all four values are explored.
        thread::yield_now();
        let seen = v.cell.load();
        if seen & 1 == 1 {
            assert_eq!(get(&v.payloads[0]), 7);
        }
        if seen & 2 == 2 {
            assert_eq!(get(&v.payloads[1]), 8);
        }
        update.join().unwrap();
        section.join().unwrap();
        assert_eq!(v.cell.load(), 3);
    });
}

#[test]
#[should_panic(expected = "lost an update")]
fn var_cell_model_finds_a_lost_update() {
    // The model's power: updates that skip the CAS (here by claiming the
    // variable is unshared, so each is a plain load and store) lose one in
    // some interleaving, and the model finds it.
    model(|| {
        let v = var(0);
        let w = v.clone();
        let t = thread::spawn(move || cas_add(&w, id(2), false, 1));
        cas_add(&v, id(1), false, 1);
        t.join().unwrap();
        assert_eq!(v.cell.load(), 2, "lost an update");
    });
}

/// Versioned roots (maat-vm's `object/versioned.rs`): a root's published
/// cell holds the number of its current version, `nodes[v]` stands for
/// version `v`'s graph (two fields, written by its writer before the
/// commit), and the writers' cell's lock orders the updates.
struct Versions {
    now: VarCell,
    writers: VarCell,
    table: VarLockTable,
    world: StdArc<World>,
    nodes: [[UnsafeCell<u32>; 2]; 3],
}

/// An update: the writers' section, the next version built from the
/// current one and published, and the section ended.
fn commit_version(v: &Versions, me: MaatineId) -> u64 {
    let mut request = LockRequest::new(me, "versioned root");
    let status = v.writers.begin(&v.table, v.world.mode(), &mut request, &ThreadParker::new(), true).unwrap();
    assert_eq!(status, LockStatus::Acquired);
    let next = v.now.load() + 1;
    for field in &v.nodes[next as usize] {
        set(field, |_| next as u32);
    }
    assert_eq!(v.now.publish(next), next - 1, "the commit replaces the version it started from");
    v.writers.end(&v.table, v.world.mode(), me, true).unwrap();
    next
}

#[test]
fn a_version_is_published_whole_and_later_reads_see_the_commit() {
    // Two writers commit a version each while a reader reads the root: a
    // version it sees is whole (both fields written; loom fails the model
    // if a read of them is not ordered after their writes), the versions
    // it sees only go forward, and once a writer's commit happened before a
    // read (its own next read, or a read after joining it) that read sees
    // that version or a later one.
    model(|| {
        let nodes = [0, 1, 2].map(|_| [UnsafeCell::new(0), UnsafeCell::new(0)]);
        let v = Arc::new(Versions {
            now: VarCell::new(0),
            writers: VarCell::new(0),
            table: VarLockTable::new(),
            world: multi_threaded_world(),
            nodes,
        });
        let writers: Vec<_> = (1..3)
            .map(|n| {
                let v = v.clone();
                thread::spawn(move || {
                    let mine = commit_version(&v, id(n));
                    assert!(v.now.load() >= mine, "a writer's own commit is visible to its next read");
                    mine
                })
            })
            .collect();
        thread::yield_now();
        let first = v.now.load();
        let second = v.now.load();
        assert!(first <= second, "versions only go forward");
        for field in &v.nodes[second as usize] {
            if second > 0 {
                assert_eq!(get(field), second as u32, "a version seen is whole");
            }
        }
        let mut committed: Vec<u64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        committed.sort_unstable();
        assert_eq!(committed, [1, 2], "each commit made one version");
        assert_eq!(v.now.load(), 2, "after the writers, a read sees the last commit");
    });
}

/// A maatine queues its waker and parks while another thread wakes it: in
/// every interleaving exactly one of them runs the task on (the parker gets
/// it back, or the waker resumes it), and neither loses the wake-up.
#[test]
fn park_cell_runs_the_task_exactly_once() {
    model(|| {
        let cell = Arc::new(maat_sync::ParkCell::<u32>::new());
        let runs = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let (c, r) = (cell.clone(), runs.clone());
        let waker = thread::spawn(move || {
            c.wake(|task| {
                assert_eq!(task, 7);
                r.fetch_add(1, Relaxed);
            })
        });
        let parked = loom::sync::atomic::AtomicBool::new(false);
        if let Some(task) = cell.park(7, || parked.store(true, Relaxed)) {
            assert_eq!(task, 7);
            runs.fetch_add(1, Relaxed);
        }
        waker.join().unwrap();
        assert_eq!(runs.load(Relaxed), 1);
        assert!(cell.inspect(|t| t.is_none()), "nobody stays parked");
        assert_eq!(cell.take(), None);
    });
}

/// Two wake-ups racing with one park: the task runs on once, and the second
/// wake-up is remembered for the next park (which then returns at once).
#[test]
fn park_cell_remembers_a_wake_up_for_the_next_park() {
    model(|| {
        let cell = Arc::new(maat_sync::ParkCell::<u32>::new());
        let resumed = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let wakers: Vec<_> = (0..2)
            .map(|_| {
                let (c, r) = (cell.clone(), resumed.clone());
                thread::spawn(move || {
                    c.wake(|_| {
                        r.fetch_add(1, Relaxed);
                    })
                })
            })
            .collect();
        let first = cell.park(1, || {});
        wakers.into_iter().for_each(|w| w.join().unwrap());
        // Whatever happened, the task is not lost: it came back, or a waker
        // resumed it; a second park sees the remaining wake-up or parks.
        let came_back = usize::from(first.is_some());
        assert_eq!(came_back + resumed.load(Relaxed), 1);
        let second = cell.park(2, || {});
        assert!(second.is_some() || cell.inspect(|t| t == Some(&2)));
    });
}

/// Two workers, one producer queuing two items with a notification each:
/// a notification counts its sleeper out, so the second may find no one
/// to wake (the first is getting up). Neither item is left behind, and no
/// worker sleeps through the end (loom fails the model if every thread
/// blocks).
#[test]
fn idle_workers_take_every_item_of_a_burst() {
    use loom::sync::atomic::AtomicUsize;
    use std::sync::atomic::Ordering::{Acquire, Release};
    model(|| {
        let idle = Arc::new(maat_sync::Idle::new());
        let queued = Arc::new(AtomicUsize::new(0));
        let taken = Arc::new(AtomicUsize::new(0));
        let worker = |idle: Arc<maat_sync::Idle>, queued: Arc<AtomicUsize>, taken: Arc<AtomicUsize>| {
            move || {
                while taken.load(Acquire) < 2 {
                    let t = taken.load(Acquire);
                    if queued.load(Acquire) > t {
                        if taken.compare_exchange(t, t + 1, Release, Acquire).is_ok() && t + 1 == 2 {
                            idle.notify_all();
                        }
                        continue;
                    }
                    idle.sleep(|| queued.load(Acquire) > taken.load(Acquire) || taken.load(Acquire) == 2);
                }
            }
        };
        let other = thread::spawn(worker(idle.clone(), queued.clone(), taken.clone()));
        let (i, q) = (idle.clone(), queued.clone());
        let producer = thread::spawn(move || {
            for _ in 0..2 {
                q.fetch_add(1, Release);
                i.notify_one();
            }
        });
        worker(idle, queued, taken)();
        producer.join().unwrap();
        other.join().unwrap();
    });
}

/// A worker goes idle while a producer queues work and notifies: the worker
/// never sleeps through it (loom fails the model if every thread blocks).
#[test]
fn idle_worker_never_misses_queued_work() {
    model(|| {
        let idle = Arc::new(maat_sync::Idle::new());
        let work = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let (i, w) = (idle.clone(), work.clone());
        let producer = thread::spawn(move || {
            w.store(true, std::sync::atomic::Ordering::Release);
            i.notify_one();
        });
        while !work.load(std::sync::atomic::Ordering::Acquire) {
            idle.sleep(|| work.load(std::sync::atomic::Ordering::Acquire));
        }
        producer.join().unwrap();
    });
}

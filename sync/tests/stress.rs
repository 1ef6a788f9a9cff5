//! Real-thread stress tests of every lock kind, the safe-point barrier and
//! deadlock detection. Exact totals, every run.
#![cfg(not(loom))]

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use maat_sync::{
    AdaptiveLock, Deadlock, LockRequest, LockStatus, MaatineId, Mode, Sharing, ThreadParker, Update, VarCell, VarLock,
    VarLockTable, World,
};

const THREADS: usize = 4;
const INCREMENTS: u64 = 1_000_000;

/// A counter guarded by whatever lock the test uses; the test's locking is
/// what makes the unsynchronized accesses sound.
struct Counter(UnsafeCell<u64>);

// SAFETY: every access happens while the test holds the lock under test.
unsafe impl Sync for Counter {}

impl Counter {
    fn new() -> Self {
        Self(UnsafeCell::new(0))
    }

    /// # Safety
    /// The caller holds the lock protecting this counter.
    unsafe fn bump(&self) {
        // SAFETY: exclusive by the caller's lock.
        unsafe { *self.0.get() += 1 };
    }

    fn get(&self) -> u64 {
        // SAFETY: called after every thread was joined.
        unsafe { *self.0.get() }
    }
}

fn id(n: u64) -> MaatineId {
    MaatineId::new(n).unwrap()
}

fn run_threads(n: usize, f: impl Fn(usize) + Send + Sync + 'static) {
    let f = Arc::new(f);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let f = Arc::clone(&f);
            thread::spawn(move || f(i))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn adaptive_lock_loses_no_increment() {
    let shared = Arc::new((AdaptiveLock::new(), Counter::new()));
    let s = Arc::clone(&shared);
    run_threads(THREADS, move |_| {
        for _ in 0..INCREMENTS {
            let _g = s.0.lock();
            // SAFETY: guarded by s.0.
            unsafe { s.1.bump() };
        }
    });
    assert_eq!(shared.1.get(), THREADS as u64 * INCREMENTS);
    assert!(!shared.0.is_locked());
}

#[test]
fn lock_if_locks_shared_objects_in_multi_threaded_mode() {
    let world = World::new();
    let me = world.register();
    me.stop_world().set_thread_mode(Mode::Multi);
    let shared = Arc::new((AdaptiveLock::new(), Counter::new(), world));
    let s = Arc::clone(&shared);
    run_threads(THREADS, move |_| {
        for _ in 0..INCREMENTS {
            let g = s.0.lock_if(s.2.mode().needs_lock(Sharing::Shared));
            assert!(!g.is_elided());
            // SAFETY: guarded by s.0 (not elided, checked above).
            unsafe { s.1.bump() };
        }
    });
    assert_eq!(shared.1.get(), THREADS as u64 * INCREMENTS);
}

#[test]
fn try_lock_fails_while_held_and_succeeds_after() {
    let lock = Arc::new(AdaptiveLock::new());
    let guard = lock.lock();
    let l = Arc::clone(&lock);
    assert!(thread::spawn(move || l.try_lock().is_none()).join().unwrap());
    drop(guard);
    let l = Arc::clone(&lock);
    assert!(thread::spawn(move || l.try_lock().is_some()).join().unwrap());
}

#[test]
fn var_lock_loses_no_increment_across_threads() {
    let world = World::new();
    let me = world.register();
    me.stop_world().set_thread_mode(Mode::Multi);
    let shared = Arc::new((VarLock::new(), Counter::new(), VarLockTable::new(), world));
    let s = Arc::clone(&shared);
    run_threads(THREADS, move |i| {
        let parker = ThreadParker::new();
        let me = id(i as u64 + 1);
        let mut request = LockRequest::new(me, "counter");
        for _ in 0..INCREMENTS {
            let status = s.0.lock(&s.2, s.3.mode(), &mut request, &parker).unwrap();
            assert_eq!(status, LockStatus::Acquired);
            // SAFETY: guarded by the variable lock s.0.
            unsafe { s.1.bump() };
            s.0.unlock(&s.2, s.3.mode(), me).unwrap();
        }
    });
    assert_eq!(shared.1.get(), THREADS as u64 * INCREMENTS);
    assert_eq!(shared.0.holder(), None);
    assert_eq!(shared.2.waiting(), 0);
}

#[test]
fn var_cell_updates_and_sections_lose_no_increment_across_threads() {
    // Every 16th increment is a section (`x = x + f()`), the rest lock-free
    // updates (`x += 1`), as the VM runs them; a refused update (a section
    // holds the variable) becomes a section. Readers see the value only grow.
    let world = World::new();
    let me = world.register();
    me.stop_world().set_thread_mode(Mode::Multi);
    let shared = Arc::new((VarCell::new(0), VarLockTable::new(), world));
    let s = Arc::clone(&shared);
    run_threads(THREADS, move |i| {
        let (cell, table, mode) = (&s.0, &s.1, s.2.mode());
        let (parker, me) = (ThreadParker::new(), id(i as u64 + 1));
        let mut request = LockRequest::new(me, "counter");
        let section = |request: &mut LockRequest| {
            assert_eq!(cell.begin(table, mode, request, &parker, true), Ok(LockStatus::Acquired));
            cell.replace(me, cell.load() + 1, true).unwrap();
            cell.end(table, mode, me, true).unwrap();
        };
        let mut last = 0;
        for n in 0..INCREMENTS {
            if n % 16 == 0 || cell.update(mode, me, true, |x| Some(x + 1)) == Update::Refused {
                section(&mut request);
            }
            let seen = cell.load();
            assert!(seen >= last, "read {seen} after {last}");
            last = seen;
        }
    });
    assert_eq!(shared.0.load(), THREADS as u64 * INCREMENTS);
    assert_eq!(shared.0.holder(), None);
    assert_eq!(shared.1.waiting(), 0);
}

#[test]
fn var_lock_is_reentrant_and_rejects_foreign_unlock() {
    let world = World::new();
    let table = VarLockTable::new();
    let lock = VarLock::new();
    let parker = ThreadParker::new();
    let (a, b) = (id(1), id(2));
    let mut request = LockRequest::new(a, "x");
    for _ in 0..3 {
        assert_eq!(lock.lock(&table, world.mode(), &mut request, &parker), Ok(LockStatus::Acquired));
    }
    let err = lock.unlock(&table, world.mode(), b).unwrap_err();
    assert_eq!((err.caller, err.holder), (b, Some(a)));
    assert!(!lock.try_lock(world.mode(), b));
    for _ in 0..3 {
        assert_eq!(lock.holder(), Some(a));
        lock.unlock(&table, world.mode(), a).unwrap();
    }
    assert_eq!(lock.holder(), None);
    let err = lock.unlock(&table, world.mode(), a).unwrap_err();
    assert_eq!(err.holder, None);
    assert_eq!(err.to_string(), "maatine 1 unlocked a variable lock that is not held");
}

/// Runs `n` maatines on `n` threads; maatine i takes variable i, waits for
/// all, then asks for variable i+1 (mod n). Returns each maatine's result.
fn lock_cycle(n: usize) -> Vec<Result<(), Deadlock>> {
    let world = World::new();
    let me = world.register();
    me.stop_world().set_thread_mode(Mode::Multi);
    let locks: Arc<Vec<VarLock>> = Arc::new((0..n).map(|_| VarLock::new()).collect());
    let table = Arc::new(VarLockTable::new());
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (locks, table, barrier, world) = (locks.clone(), table.clone(), barrier.clone(), world.clone());
            thread::spawn(move || {
                let parker = ThreadParker::new();
                let me = id(i as u64 + 1);
                let mode = world.mode();
                let mut first = LockRequest::new(me, format!("v{i}"));
                locks[i].lock(&table, mode, &mut first, &parker).unwrap();
                barrier.wait();
                let j = (i + 1) % n;
                let mut second = LockRequest::new(me, format!("v{j}"));
                let result = locks[j].lock(&table, mode, &mut second, &parker).map(|_| ());
                if result.is_ok() {
                    locks[j].unlock(&table, mode, me).unwrap();
                }
                locks[i].unlock(&table, mode, me).unwrap();
                result
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn three_maatine_cycle_is_always_reported_never_hangs() {
    for _ in 0..200 {
        let results = lock_cycle(3);
        let errors: Vec<&Deadlock> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(errors.len(), 1, "exactly one maatine closes the cycle: {results:?}");
        let cycle = &errors[0].cycle;
        assert_eq!(cycle.len(), 3);
        let mut waiters: Vec<u64> = cycle.iter().map(|l| l.waiter.get()).collect();
        waiters.sort_unstable();
        assert_eq!(waiters, [1, 2, 3]);
        for (k, link) in cycle.iter().enumerate() {
            let w = link.waiter.get();
            assert_eq!(&*link.variable, format!("v{}", w % 3), "maatine {w} waits for the next variable");
            assert_eq!(link.holder, cycle[(k + 1) % 3].waiter, "the cycle closes");
        }
        let text = errors[0].to_string();
        assert!(text.starts_with("deadlock: maatine "), "{text}");
        assert!(text.contains("waits for `v") && text.contains("held by maatine"), "{text}");
    }
}

#[test]
fn two_maatine_cycle_is_reported() {
    for _ in 0..200 {
        let results = lock_cycle(2);
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1, "{results:?}");
    }
}

/// One thread re-takes the lock in a tight loop; another must still get it.
fn waiter_is_not_starved(hammer: impl Fn(&AtomicBool) + Send + 'static, wait: impl FnOnce() + Send + 'static) {
    let done = Arc::new(AtomicBool::new(false));
    let d = Arc::clone(&done);
    let hammering = thread::spawn(move || hammer(&d));
    thread::sleep(Duration::from_millis(20));
    let start = Instant::now();
    let waiter = thread::spawn(wait);
    while !waiter.is_finished() {
        assert!(start.elapsed() < Duration::from_secs(20), "waiter starved");
        thread::sleep(Duration::from_millis(1));
    }
    waiter.join().unwrap();
    done.store(true, Ordering::Relaxed);
    hammering.join().unwrap();
}

#[test]
fn adaptive_lock_waiter_is_not_starved() {
    let lock = Arc::new(AdaptiveLock::new());
    let l = Arc::clone(&lock);
    waiter_is_not_starved(
        move |done| {
            while !done.load(Ordering::Relaxed) {
                let _g = l.lock();
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(50) {}
            }
        },
        move || drop(lock.lock()),
    );
}

#[test]
fn var_lock_waiter_is_not_starved() {
    let world = World::new();
    let me = world.register();
    me.stop_world().set_thread_mode(Mode::Multi);
    let shared = Arc::new((VarLock::new(), VarLockTable::new(), world));
    let s = Arc::clone(&shared);
    waiter_is_not_starved(
        move |done| {
            let parker = ThreadParker::new();
            let mut request = LockRequest::new(id(1), "x");
            while !done.load(Ordering::Relaxed) {
                s.0.lock(&s.1, s.2.mode(), &mut request, &parker).unwrap();
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(50) {}
                s.0.unlock(&s.1, s.2.mode(), id(1)).unwrap();
            }
        },
        move || {
            let mut request = LockRequest::new(id(2), "x");
            let s = &shared;
            s.0.lock(&s.1, s.2.mode(), &mut request, &ThreadParker::new()).unwrap();
            s.0.unlock(&s.1, s.2.mode(), id(2)).unwrap();
        },
    );
}

#[test]
fn stopped_world_sees_every_thread_stopped_and_mode_flips_are_seen() {
    let world = World::new();
    let me = world.register();
    let stop = Arc::new(AtomicBool::new(false));
    let progress: Arc<Vec<AtomicU64>> = Arc::new((0..3).map(|_| AtomicU64::new(0)).collect());
    let mismatches = Arc::new(AtomicUsize::new(0));
    let expected = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let (world, stop, progress) = (world.clone(), stop.clone(), progress.clone());
            let (mismatches, expected) = (mismatches.clone(), expected.clone());
            thread::spawn(move || {
                let p = world.register();
                while !stop.load(Ordering::Relaxed) {
                    p.safe_point();
                    // `expected` is written (Relaxed) while the world is
                    // stopped; the barrier must order it before our read.
                    if world.mode().is_multi() != expected.load(Ordering::Relaxed) {
                        mismatches.fetch_add(1, Ordering::Relaxed);
                    }
                    progress[i].fetch_add(1, Ordering::Relaxed);
                    if i == 2 && progress[i].load(Ordering::Relaxed) % 1000 == 0 {
                        p.outside(|| thread::sleep(Duration::from_micros(100)));
                    }
                }
            })
        })
        .collect();
    for round in 0..200 {
        let stopped = me.stop_world();
        let before: Vec<u64> = progress.iter().map(|p| p.load(Ordering::Relaxed)).collect();
        thread::sleep(Duration::from_micros(200));
        let after: Vec<u64> = progress.iter().map(|p| p.load(Ordering::Relaxed)).collect();
        assert_eq!(before, after, "a participant ran while the world was stopped");
        let mode = if round % 2 == 0 { Mode::Multi } else { Mode::Single };
        stopped.set_thread_mode(mode);
        expected.store(mode == Mode::Multi, Ordering::Relaxed);
        drop(stopped);
        me.outside(|| thread::sleep(Duration::from_micros(300)));
    }
    stop.store(true, Ordering::Relaxed);
    drop(me);
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(mismatches.load(Ordering::Relaxed), 0);
    assert!(progress.iter().all(|p| p.load(Ordering::Relaxed) > 0));
}

#[test]
fn concurrent_stop_requests_take_turns() {
    let world = World::new();
    let inside = Arc::new(AtomicUsize::new(0));
    let w = world.clone();
    let i = inside.clone();
    run_threads(4, move |_| {
        let p = w.register();
        for _ in 0..500 {
            let stopped = p.stop_world();
            assert_eq!(i.fetch_add(1, Ordering::SeqCst), 0, "two worlds stopped at once");
            stopped.set_thread_mode(Mode::Multi);
            i.fetch_sub(1, Ordering::SeqCst);
            drop(stopped);
            p.safe_point();
        }
    });
    assert!(world.mode().is_multi());
}

/// A parker for maatines that share one OS thread: waiting suspends the
/// maatine, waking puts it back on the run queue.
struct SuspendParker {
    maatine: u64,
    run_queue: Arc<std::sync::Mutex<Vec<u64>>>,
}

struct Requeue {
    maatine: u64,
    run_queue: Arc<std::sync::Mutex<Vec<u64>>>,
}

impl std::task::Wake for Requeue {
    fn wake(self: Arc<Self>) {
        self.run_queue.lock().unwrap().push(self.maatine);
    }
}

impl maat_sync::Parker for SuspendParker {
    fn waker(&self) -> std::task::Waker {
        Arc::new(Requeue { maatine: self.maatine, run_queue: self.run_queue.clone() }).into()
    }

    fn wait(&self) -> maat_sync::Wait {
        maat_sync::Wait::Suspend
    }
}

/// Maatines sharing one OS thread (single-threaded mode) around one variable
/// lock, with a run queue that the suspending parker's wakers fill.
struct OneThread {
    world: Arc<World>,
    table: VarLockTable,
    lock: VarLock,
    run_queue: Arc<std::sync::Mutex<Vec<u64>>>,
}

impl OneThread {
    fn new() -> Self {
        let run_queue = Arc::new(std::sync::Mutex::new(Vec::new()));
        Self { world: World::new(), table: VarLockTable::new(), lock: VarLock::new(), run_queue }
    }

    fn lock(&self, request: &mut LockRequest) -> LockStatus {
        let parker = SuspendParker { maatine: request.maatine().get(), run_queue: self.run_queue.clone() };
        self.lock.lock(&self.table, self.world.mode(), request, &parker).unwrap()
    }

    fn unlock(&self, maatine: u64) {
        self.lock.unlock(&self.table, self.world.mode(), id(maatine)).unwrap();
    }

    fn woken(&self) -> Vec<u64> {
        self.run_queue.lock().unwrap().clone()
    }
}

#[test]
fn single_threaded_maatines_are_excluded_and_resumed() {
    // Single-threaded mode: the lock uses plain loads and stores, but a
    // maatine switched out inside its section still excludes the others.
    let t = OneThread::new();
    let [mut a, mut b, mut c] = [1, 2, 3].map(|m| LockRequest::new(id(m), "x"));
    assert_eq!(t.lock(&mut a), LockStatus::Acquired);
    // Maatine 1 is switched out at a safe point inside `x = x + f()`.
    assert_eq!(t.lock(&mut b), LockStatus::Suspended);
    assert_eq!(t.lock(&mut c), LockStatus::Suspended);
    assert_eq!(t.table.waiting(), 2);
    assert!(t.woken().is_empty(), "nobody is woken while the lock is held");
    t.unlock(1);
    assert_eq!(t.woken(), [2], "the oldest waiter is woken");
    assert_eq!(t.lock(&mut b), LockStatus::Acquired);
    t.unlock(2);
    assert_eq!(t.woken(), [2, 3]);
    assert_eq!(t.lock(&mut c), LockStatus::Acquired);
    t.unlock(3);
    assert_eq!(t.table.waiting(), 0);
    assert_eq!(t.lock.holder(), None);
}

#[test]
fn starving_maatine_gets_the_lock_handed_over() {
    let t = OneThread::new();
    let [mut a, mut b] = [1, 2].map(|m| LockRequest::new(id(m), "x"));
    assert_eq!(t.lock(&mut a), LockStatus::Acquired);
    assert_eq!(t.lock(&mut b), LockStatus::Suspended);
    thread::sleep(maat_sync::STARVATION_BOUND * 2);
    // Maatine 1 releases and re-takes the lock before 2 runs: 2 lost a race.
    t.unlock(1);
    assert_eq!(t.lock(&mut a), LockStatus::Acquired);
    assert_eq!(t.lock(&mut b), LockStatus::Suspended);
    // 2 has now waited past the bound: the next release hands it the lock.
    t.unlock(1);
    assert_eq!(t.lock.holder(), Some(id(2)));
    assert!(!t.lock.try_lock(t.world.mode(), id(1)), "the lock is reserved for maatine 2");
    assert_eq!(t.lock(&mut b), LockStatus::Acquired);
    t.unlock(2);
    assert_eq!(t.lock.holder(), None);
}

#[test]
fn locks_are_small_enough_to_embed() {
    assert_eq!(std::mem::size_of::<AdaptiveLock>(), 2);
    assert_eq!(std::mem::size_of::<VarLock>(), 16);
}

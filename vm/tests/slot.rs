//! Variable slots: read-modify-write sections never lose an update, across
//! OS threads and across maatines sharing one OS thread; deadlocks between
//! sections are reported.

mod common;

use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

use common::{Threads, ctx};
use maat_gc::{Config, Gc, Global, Heap, Mutation, Root};
use maat_sync::{LockRequest, LockStatus, MaatineId, Parker, ThreadParker, VarLockTable, Wait, World};
use maat_vm::object::slot::Slot;
use maat_vm::object::{Ctx, SyncStats};
use maat_vm::value::Value;

fn id(n: u64) -> MaatineId {
    MaatineId::new(n).unwrap()
}

struct Var;
impl Root for Var {
    type Of<'gc> = Gc<'gc, Slot<'gc>>;
}

const THREADS: usize = 4;
const INCREMENTS: u64 = 50_000;

/// Runs `step(thread, i, counter, ..., last)` `INCREMENTS` times on each of
/// `THREADS` threads over one shared slot holding 0 (`last` is the thread's
/// own, 0 at first); returns the slot's total.
fn on_shared_counter(
    step: impl for<'gc> Fn(usize, u64, Gc<'gc, Slot<'gc>>, &Ctx<'_, 'gc>, &VarLockTable, &mut LockRequest, &mut f64)
    + Send
    + Sync
    + 'static,
) -> Option<f64> {
    let threads = Threads::new();
    let (world, stats) = (&threads.world, &threads.stats);
    let table = Arc::new(VarLockTable::new());
    let counter: Global<Var> = threads
        .creator
        .mutate(|mc, _| mc.make_global::<Var>(Slot::alloc(&ctx(mc, world.mode(), stats), Value::num(0.0))));
    let (c, tab) = (counter.clone(), table.clone());
    threads.run(THREADS, move |t, heap, me, stats| {
        let mut request = LockRequest::new(id(t as u64 + 1), "counter");
        heap.mutate(|mc, _| {
            let cx = ctx(mc, me.world().mode(), stats);
            // SAFETY: the slot is an atomic behind its variable lock.
            let x = unsafe { mc.global(&c) };
            let mut last = 0.0;
            for i in 0..INCREMENTS {
                step(t, i, x, &cx, &tab, &mut request, &mut last);
            }
        });
    });
    threads.creator.mutate(|mc, _| {
        // SAFETY: single thread from here on.
        Slot::read(unsafe { mc.global(&counter) }).as_num()
    })
}

/// `x = x + k` as a section (`x = x + f()`), blocking the thread to wait.
fn section_add<'gc>(x: Gc<'gc, Slot<'gc>>, cx: &Ctx<'_, 'gc>, table: &VarLockTable, request: &mut LockRequest, k: f64) {
    assert_eq!(Slot::begin(x, cx, table, request, &ThreadParker::new()), Ok(LockStatus::Acquired));
    let old = Slot::read(x).as_num().unwrap();
    Slot::store(x, cx, request.maatine(), Value::num(old + k)).unwrap();
    Slot::end(x, cx, table, request.maatine()).unwrap();
}

#[test]
fn contended_increments_across_threads_are_exact() {
    let total = on_shared_counter(|_, _, x, cx, table, request, _| section_add(x, cx, table, request, 1.0));
    assert_eq!(total, Some((THREADS as u64 * INCREMENTS) as f64));
}

#[test]
fn lock_free_updates_and_sections_together_are_exact() {
    let total = on_shared_counter(|t, i, x, cx, table, request, last| {
        let me = request.maatine();
        if (i + t as u64) % 3 == 0 {
            // counter = counter + 2, as a section (`x = x + f()`), with an
            // update of its own inside it.
            assert_eq!(Slot::begin(x, cx, table, request, &ThreadParker::new()), Ok(LockStatus::Acquired));
            let old = Slot::read(x).as_num().unwrap();
            Slot::store(x, cx, me, Value::num(old + 1.0)).unwrap();
            assert!(Slot::update(x, cx, me, |v| Some(v + 1.0)).is_some());
            Slot::end(x, cx, table, me).unwrap();
        } else if Slot::update(x, cx, me, |v| Some(v + 2.0)).is_none() {
            // counter += 2 without the lock; while another maatine's
            // section holds the variable, it waits for the lock as a
            // section would.
            section_add(x, cx, table, request, 2.0);
        }
        // Reads without the lock see the total only grow.
        let seen = Slot::read(x).as_num().unwrap();
        assert!(seen >= *last, "read {seen} after {last}");
        *last = seen;
    });
    assert_eq!(total, Some((THREADS as u64 * INCREMENTS * 2) as f64));
}

/// Runs `body` on one slot holding `initial` (nil for `None`) in a heap of
/// a single-threaded world, with a lock table and the list of maatines that
/// [`Suspend`] parkers woke.
fn on_one_slot(
    initial: Option<f64>,
    body: impl for<'gc> FnOnce(&Mutation<'gc>, Gc<'gc, Slot<'gc>>, &Ctx<'_, 'gc>, &VarLockTable, &Woken),
) {
    let (world, table, stats) = (World::new(), VarLockTable::new(), SyncStats::default());
    let woken = Arc::new(Mutex::new(Vec::new()));
    let heap = Heap::<Var>::new(Config::default(), |mc| {
        Slot::alloc(&ctx(mc, world.mode(), &stats), initial.map_or(Value::nil(), Value::num))
    });
    heap.mutate(|mc, x| body(mc, *x, &ctx(mc, world.mode(), &stats), &table, &woken));
}

#[test]
fn an_update_refuses_a_slot_that_is_not_a_number_or_is_held() {
    on_one_slot(None, |mc, x, cx, table, woken| {
        assert_eq!(Slot::update(x, cx, id(1), |v| Some(v + 1.0)), None, "nil + 1 is the general path's error");
        Slot::write(x, cx, table, &mut LockRequest::new(id(1), "x"), &Suspend(1, woken.clone()), Value::num(1.0))
            .unwrap();
        mc.share(x);
        Slot::begin(x, cx, table, &mut LockRequest::new(id(1), "x"), &Suspend(1, woken.clone())).unwrap();
        assert_eq!(Slot::update(x, cx, id(2), |v| Some(v + 1.0)), None, "maatine 1's section holds it");
        assert_eq!(Slot::update(x, cx, id(1), |v| Some(v + 1.0)), Some(0), "its own section's update");
        assert_eq!(Slot::read(x).as_num(), Some(2.0), "readers see the section's value");
        Slot::end(x, cx, table, id(1)).unwrap();
        assert_eq!(Slot::update(x, cx, id(2), |v| Some(v + 1.0)), Some(0));
        assert_eq!(Slot::read(x).as_num(), Some(3.0));
    });
}

#[test]
fn a_section_begun_unshared_holds_once_the_slot_is_shared() {
    on_one_slot(Some(5.0), |mc, x, cx, table, woken| {
        // Maatine 1 owns the slot: `y = y + f()` begins without atomics...
        let mut a = LockRequest::new(id(1), "y");
        assert_eq!(Slot::begin(x, cx, table, &mut a, &Suspend(1, woken.clone())), Ok(LockStatus::Acquired));
        // ...and f() hands a closure over y to a new maatine.
        mc.share(x);
        let mut b = LockRequest::new(id(2), "y");
        assert_eq!(
            Slot::write(x, cx, table, &mut b, &Suspend(2, woken.clone()), Value::num(0.0)),
            Ok(LockStatus::Suspended)
        );
        assert_eq!(Slot::update(x, cx, id(2), |v| Some(v + 1.0)), None);
        Slot::store(x, cx, id(1), Value::num(6.0)).unwrap();
        Slot::end(x, cx, table, id(1)).unwrap();
        assert_eq!(*woken.lock().unwrap(), [2], "the waiting writer is woken");
        assert_eq!(Slot::update(x, cx, id(2), |v| Some(v + 1.0)), Some(0));
        assert_eq!(Slot::read(x).as_num(), Some(7.0));
    });
}

/// The maatines `Suspend` parkers woke, in order.
type Woken = Arc<Mutex<Vec<u64>>>;

/// A parker for maatines sharing one OS thread.
struct Suspend(u64, Woken);

struct Requeue(u64, Woken);

impl Wake for Requeue {
    fn wake(self: Arc<Self>) {
        self.1.lock().unwrap().push(self.0);
    }
}

impl Parker for Suspend {
    fn waker(&self) -> Waker {
        Arc::new(Requeue(self.0, self.1.clone())).into()
    }
    fn wait(&self) -> Wait {
        Wait::Suspend
    }
}

#[test]
fn a_section_excludes_other_maatines_on_the_same_thread() {
    on_one_slot(Some(10.0), |mc, x, cx, table, woken| {
        mc.share(x);
        let (mut a, mut b) = (LockRequest::new(id(1), "x"), LockRequest::new(id(2), "x"));
        let (pa, pb) = (Suspend(1, woken.clone()), Suspend(2, woken.clone()));
        // Maatine 1: x = x + f() — switched out inside the section.
        assert_eq!(Slot::begin(x, cx, table, &mut a, &pa), Ok(LockStatus::Acquired));
        let old = Slot::read(x).as_num().unwrap();
        // Maatine 2 runs: its write must wait (single-threaded mode or not).
        assert_eq!(Slot::write(x, cx, table, &mut b, &pb, Value::num(100.0)), Ok(LockStatus::Suspended));
        assert!(woken.lock().unwrap().is_empty());
        // Maatine 1 finishes its section.
        Slot::store(x, cx, id(1), Value::num(old + 1.0)).unwrap();
        Slot::end(x, cx, table, id(1)).unwrap();
        assert_eq!(*woken.lock().unwrap(), [2], "maatine 2 is woken");
        // Maatine 2 retries and lands after the section: no update lost.
        assert_eq!(Slot::write(x, cx, table, &mut b, &pb, Value::num(100.0)), Ok(LockStatus::Acquired));
        assert_eq!(Slot::read(x).as_num(), Some(100.0));
        assert_eq!(table.waiting(), 0);
    });
}

#[test]
fn crossed_sections_are_reported_as_a_deadlock() {
    let (world, table, stats) = (World::new(), VarLockTable::new(), SyncStats::default());
    let woken = Arc::new(Mutex::new(Vec::new()));
    struct Two;
    impl Root for Two {
        type Of<'gc> = (Gc<'gc, Slot<'gc>>, Gc<'gc, Slot<'gc>>);
    }
    let heap = Heap::<Two>::new(Config::default(), |mc| {
        let cx = ctx(mc, world.mode(), &stats);
        (Slot::alloc(&cx, Value::num(0.0)), Slot::alloc(&cx, Value::num(0.0)))
    });
    heap.mutate(|mc, (x, y)| {
        let cx = ctx(mc, world.mode(), &stats);
        mc.share(*x);
        mc.share(*y);
        let (pa, pb) = (Suspend(1, woken.clone()), Suspend(2, woken.clone()));
        // Maatine 1: x = x + g() where g updates y; maatine 2: the reverse.
        Slot::begin(*x, &cx, &table, &mut LockRequest::new(id(1), "x"), &pa).unwrap();
        Slot::begin(*y, &cx, &table, &mut LockRequest::new(id(2), "y"), &pb).unwrap();
        let waits = Slot::begin(*y, &cx, &table, &mut LockRequest::new(id(1), "y"), &pa);
        assert_eq!(waits, Ok(LockStatus::Suspended));
        let err = Slot::begin(*x, &cx, &table, &mut LockRequest::new(id(2), "x"), &pb).unwrap_err();
        assert_eq!(
            err.to_string(),
            "deadlock: maatine 2 waits for `x` held by maatine 1, maatine 1 waits for `y` held by maatine 2"
        );
    });
}

//! Arrays follow the lock-elision rule: no lock when unshared, frozen or
//! single-threaded, the lock when shared and multi-threaded; frozen arrays
//! refuse changes; stores into shared arrays share the value; and many
//! threads pushing into one shared array lose nothing while every heap
//! collects.

mod common;
mod minors;

use common::{Threads, ctx};
use maat_gc::{Config, Gc, GcAny, Global, Heap, Root};
use maat_sync::{Mode, World};
use maat_vm::object::array::Array;
use maat_vm::object::{ObjError, SyncStats, kind};
use maat_vm::value::Value;

struct One;
impl Root for One {
    type Of<'gc> = Gc<'gc, Array<'gc>>;
}

fn nums<'gc>(values: &[Value<'gc>]) -> Vec<f64> {
    values.iter().map(|v| v.as_num().expect("a number")).collect()
}

#[test]
fn unshared_arrays_never_lock() {
    let world = World::new();
    let me = world.register();
    me.stop_world().set_thread_mode(Mode::Multi);
    let stats = SyncStats::default();
    let heap = Heap::<One>::new(Config::default(), |mc| Array::alloc(&ctx(mc, world.mode(), &stats), Vec::new()));
    heap.mutate(|mc, a| {
        let cx = ctx(mc, world.mode(), &stats);
        for i in 0..10 {
            Array::push(*a, &cx, Value::num(f64::from(i))).unwrap();
        }
        Array::set(*a, &cx, 3.0, Value::num(30.0)).unwrap();
        assert_eq!(Array::pop(*a, &cx).unwrap().as_num(), Some(9.0));
        assert_eq!(Array::get(*a, &cx, 3.0).unwrap().as_num(), Some(30.0));
        assert_eq!(Array::len(*a, &cx), 9);
        assert_eq!(nums(&Array::snapshot(*a, &cx)), [0.0, 1.0, 2.0, 30.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    });
    assert_eq!(stats.taken(), 0, "an unshared array is reachable from its owner only");
    assert_eq!(stats.elided(), 15);
}

#[test]
fn shared_arrays_lock_only_in_multi_threaded_mode() {
    let world = World::new();
    let me = world.register();
    let stats = SyncStats::default();
    let heap = Heap::<One>::new(Config::default(), |mc| Array::alloc(&ctx(mc, world.mode(), &stats), Vec::new()));
    heap.mutate(|mc, a| {
        mc.share(*a);
        Array::push(*a, &ctx(mc, world.mode(), &stats), Value::num(1.0)).unwrap();
    });
    assert_eq!((stats.taken(), stats.elided()), (0, 1), "single-threaded: elided");
    me.stop_world().set_thread_mode(Mode::Multi);
    heap.mutate(|mc, a| Array::push(*a, &ctx(mc, world.mode(), &stats), Value::num(2.0)).unwrap());
    assert_eq!((stats.taken(), stats.elided()), (1, 1), "shared and multi-threaded: locked");
}

#[test]
fn frozen_arrays_refuse_changes_and_bad_indexes_are_errors() {
    let world = World::new();
    let stats = SyncStats::default();
    let heap = Heap::<One>::new(Config::default(), |mc| {
        Array::alloc(&ctx(mc, world.mode(), &stats), vec![Value::num(1.0), Value::num(2.0)])
    });
    heap.mutate(|mc, a| {
        let cx = ctx(mc, world.mode(), &stats);
        let err = Array::get(*a, &cx, 2.0).unwrap_err();
        assert_eq!(err.to_string(), "index out of range: 2 (length 2)");
        assert!(matches!(Array::get(*a, &cx, 0.5), Err(ObjError::IndexOutOfRange { .. })));
        assert!(matches!(Array::set(*a, &cx, -1.0, Value::nil()), Err(ObjError::IndexOutOfRange { .. })));
        for bad in [f64::NAN, f64::INFINITY, -0.5, 1e300, 18446744073709551616.0] {
            assert!(matches!(Array::get(*a, &cx, bad), Err(ObjError::IndexOutOfRange { .. })), "{bad}");
        }
        assert_eq!(Array::get(*a, &cx, -0.0).unwrap().as_num(), Some(1.0), "-0 is index 0");
        mc.freeze(*a);
        let err = Array::push(*a, &cx, Value::nil()).unwrap_err();
        assert_eq!(err.to_string(), "frozen object: cannot modify a frozen Array");
        assert_eq!(Array::pop(*a, &cx), Err(ObjError::Frozen("Array")));
        assert_eq!(Array::set(*a, &cx, 0.0, Value::nil()), Err(ObjError::Frozen("Array")));
        assert_eq!(Array::get(*a, &cx, 1.0).unwrap().as_num(), Some(2.0), "reads still work");
    });
}

#[test]
fn storing_into_a_shared_array_shares_the_value() {
    let world = World::new();
    let stats = SyncStats::default();
    let mut heap = Heap::<One>::new(Config::default(), |mc| Array::alloc(&ctx(mc, world.mode(), &stats), Vec::new()));
    heap.mutate(|mc, a| {
        let cx = ctx(mc, world.mode(), &stats);
        mc.share(*a);
        let inner = Array::alloc(&cx, vec![Value::num(7.0)]);
        assert!(!Gc::is_shared(inner));
        Array::push(*a, &cx, Value::object(inner.into())).unwrap();
        assert!(Gc::is_shared(inner), "shared before it was published");
    });
    heap.verify().unwrap();
    heap.collect();
    heap.verify().unwrap();
}

struct Board;
impl Root for Board {
    type Of<'gc> = Gc<'gc, Array<'gc>>;
}

#[test]
fn many_threads_push_into_one_shared_array_and_lose_nothing() {
    const THREADS: usize = 4;
    const PUSHES: usize = 3000;
    let threads = Threads::new();
    let (world, stats) = (&threads.world, &threads.stats);
    let board: Global<Board> = threads
        .creator
        .mutate(|mc, _| mc.make_global::<Board>(Array::alloc(&ctx(mc, world.mode(), stats), Vec::new())));
    let (b, space) = (board.clone(), threads.space.clone());
    let counts = threads.run(THREADS, move |t, heap, me, stats| {
        for i in 0..PUSHES {
            heap.mutate(|mc, _| {
                let cx = ctx(mc, me.world().mode(), stats);
                // SAFETY: the board synchronizes itself (its lock).
                let shared = unsafe { mc.global(&b) };
                let id = (t * PUSHES + i) as f64;
                let value = if i % 3 == 0 {
                    // An object of this heap: shared by the push.
                    Value::object(GcAny::from(Array::alloc(&cx, vec![Value::num(id)])))
                } else {
                    Value::num(id)
                };
                Array::push(shared, &cx, value).unwrap();
                // An unshared array of this heap, and garbage.
                let mine = Array::alloc(&cx, Vec::new());
                Array::push(mine, &cx, Value::num(id)).unwrap();
            });
            heap.collect_debt();
            me.safe_point();
            if t == 0 && i % 500 == 0 {
                let stopped = me.stop_world();
                // SAFETY: every other heap's thread is stopped at its safe
                // point, outside mutations.
                unsafe { space.collect_shared() };
                drop(stopped);
            }
        }
        (stats.taken(), stats.elided())
    });
    assert!(counts.iter().all(|&(taken, elided)| taken >= PUSHES as u64 && elided >= PUSHES as u64), "{counts:?}");
    assert!(threads.space.stats().collections.shared >= 6, "shared collections ran while pushing");
    // SAFETY: the other threads ended; the creator heap is idle.
    unsafe { threads.space.collect_shared() };
    let mut ids: Vec<f64> = threads.creator.mutate(|mc, _| {
        let cx = ctx(mc, world.mode(), stats);
        // SAFETY: single thread from here on.
        let shared = unsafe { mc.global(&board) };
        Array::snapshot(shared, &cx)
            .into_iter()
            .map(|v| match v.as_object() {
                Some(o) => {
                    assert_eq!(o.kind(), kind::ARRAY);
                    // SAFETY: kind ARRAY is an Array.
                    let inner = unsafe { o.downcast::<Array<'_>>() };
                    assert!(Gc::is_shared(inner));
                    Array::get(inner, &cx, 0.0).unwrap().as_num().unwrap()
                }
                None => v.as_num().unwrap(),
            })
            .collect()
    });
    ids.sort_by(f64::total_cmp);
    let expected: Vec<f64> = (0..THREADS * PUSHES).map(|i| i as f64).collect();
    assert_eq!(ids, expected, "every push landed exactly once");
    threads.creator.verify().unwrap();
}

/// An array made old (generational mode) used as a stack: the items it is
/// given survive every minor collection after it, although the array is
/// not traversed again (`push` marks or touches the item, not the array;
/// `pop` needs no barrier on it).
#[test]
fn items_pushed_onto_an_old_array_survive_minor_collections() {
    let world = World::new();
    let stats = SyncStats::default();
    // Items from the start, so that the major multiplier means something.
    let mut heap = Heap::<One>::new(minors::config(), |mc| {
        Array::alloc(&ctx(mc, world.mode(), &stats), (0..1000).map(|_| Value::nil()))
    });
    minors::through_minors(&mut heap, |heap, round| {
        heap.mutate(|mc, a| {
            let cx = ctx(mc, world.mode(), &stats);
            for i in 0..100 {
                let item = Array::alloc(&cx, [Value::num(f64::from(round * 100 + i))]);
                Array::push(*a, &cx, Value::object(item.into())).unwrap();
            }
            for _ in 0..50 {
                Array::pop(*a, &cx).unwrap();
            }
        });
    });
    heap.mutate(|mc, a| {
        let cx = ctx(mc, world.mode(), &stats);
        let items = Array::snapshot(*a, &cx);
        assert_eq!(items.len(), 1300);
        for (i, item) in items[1000..].iter().enumerate() {
            let o = item.as_object().expect("an object");
            assert_eq!(o.kind(), kind::ARRAY);
            // SAFETY: kind ARRAY is an Array.
            let inner = unsafe { o.downcast::<Array<'_>>() };
            // Each round kept the first 50 of its 100.
            assert_eq!(nums(&Array::snapshot(inner, &cx)), [((i / 50) * 100 + i % 50) as f64]);
        }
    });
}

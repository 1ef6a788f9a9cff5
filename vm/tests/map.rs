//! Maps: insertion order, Maat key equality, frozen maps, sharing on store,
//! and many threads setting keys in one shared map.

mod common;
mod minors;

use common::{Threads, ctx};
use maat_gc::{Config, Gc, GcAny, Global, Heap, Root};
use maat_sync::World;
use maat_vm::object::map::{Map, is_text};
use maat_vm::object::string::Str;
use maat_vm::object::{Ctx, ObjError, SyncStats};
use maat_vm::value::Value;

struct M;
impl Root for M {
    type Of<'gc> = Gc<'gc, Map<'gc>>;
}

fn text<'gc>(cx: &Ctx<'_, 'gc>, s: &str) -> Value<'gc> {
    Value::object(Str::alloc(cx, s).into())
}

fn new_map(world: &World, stats: &SyncStats) -> Heap<M> {
    Heap::<M>::new(Config::default(), |mc| Map::alloc(&ctx(mc, world.mode(), stats)))
}

#[test]
fn insertion_order_and_key_equality() {
    let (world, stats) = (World::new(), SyncStats::default());
    let mut heap = new_map(&world, &stats);
    heap.mutate(|mc, m| {
        let cx = ctx(mc, world.mode(), &stats);
        Map::set(*m, &cx, text(&cx, "b"), Value::num(1.0)).unwrap();
        Map::set(*m, &cx, Value::num(0.0), Value::num(2.0)).unwrap();
        Map::set(*m, &cx, text(&cx, "a"), Value::num(3.0)).unwrap();
        // Another string object with the same text is the same key.
        Map::set(*m, &cx, text(&cx, "b"), Value::num(10.0)).unwrap();
        // -0 and 0 are the same key.
        assert_eq!(Map::get(*m, &cx, Value::num(-0.0)).unwrap().as_num(), Some(2.0));
        assert_eq!(Map::len(*m, &cx), 3);
        assert!(Map::has(*m, &cx, text(&cx, "a")).unwrap());
        assert!(Map::get(*m, &cx, text(&cx, "zzz")).unwrap().is_nil());
        assert_eq!(Map::delete(*m, &cx, Value::num(0.0)).unwrap().as_num(), Some(2.0));
        Map::set(*m, &cx, Value::num(0.0), Value::num(4.0)).unwrap();
        let entries = Map::entries(*m, &cx);
        assert!(is_text(entries[0].0, "b") && entries[0].1.as_num() == Some(10.0), "replacing keeps the place");
        assert!(is_text(entries[1].0, "a"));
        assert_eq!(entries[2].0.as_num(), Some(0.0), "deleted and re-added: at the end");
        let err = Map::set(*m, &cx, Value::num(f64::NAN), Value::nil()).unwrap_err();
        assert_eq!(err.to_string(), "invalid map key: NaN");
    });
    heap.collect();
    heap.verify().unwrap();
    heap.mutate(|mc, m| {
        let cx = ctx(mc, world.mode(), &stats);
        assert_eq!(Map::get(*m, &cx, text(&cx, "b")).unwrap().as_num(), Some(10.0), "keys survive collection");
    });
}

#[test]
fn frozen_maps_refuse_changes_and_shared_maps_share_what_they_store() {
    let (world, stats) = (World::new(), SyncStats::default());
    let heap = new_map(&world, &stats);
    heap.mutate(|mc, m| {
        let cx = ctx(mc, world.mode(), &stats);
        mc.share(*m);
        let (k, v) = (Str::alloc(&cx, "k"), Str::alloc(&cx, "v"));
        Map::set(*m, &cx, Value::object(k.into()), Value::object(v.into())).unwrap();
        assert!(Gc::is_shared(k) && Gc::is_shared(v), "key and value shared before publication");
        mc.freeze(*m);
        assert_eq!(Map::set(*m, &cx, Value::num(1.0), Value::nil()), Err(ObjError::Frozen("Map")));
        assert_eq!(Map::delete(*m, &cx, text(&cx, "k")), Err(ObjError::Frozen("Map")));
        assert!(is_text(Map::get(*m, &cx, text(&cx, "k")).unwrap(), "v"));
    });
    heap.verify().unwrap();
}

struct Board;
impl Root for Board {
    type Of<'gc> = Gc<'gc, Map<'gc>>;
}

#[test]
fn many_threads_set_keys_in_one_shared_map() {
    const THREADS: usize = 4;
    const KEYS: usize = 1000;
    let threads = Threads::new();
    let (world, stats) = (&threads.world, &threads.stats);
    let board: Global<Board> =
        threads.creator.mutate(|mc, _| mc.make_global::<Board>(Map::alloc(&ctx(mc, world.mode(), stats))));
    let b = board.clone();
    let taken = threads.run(THREADS, move |t, heap, me, stats| {
        for i in 0..KEYS {
            heap.mutate(|mc, _| {
                let cx = ctx(mc, me.world().mode(), stats);
                // SAFETY: the map synchronizes itself (its lock).
                let m = unsafe { mc.global(&b) };
                let key = text(&cx, &format!("{t}-{i}"));
                Map::set(m, &cx, key, Value::num((t * KEYS + i) as f64)).unwrap();
            });
            heap.collect_debt();
            me.safe_point();
        }
        stats.taken()
    });
    assert!(taken.iter().all(|&n| n == KEYS as u64), "every set took the lock: {taken:?}");
    // SAFETY: the other threads ended; the creator heap is idle.
    unsafe { threads.space.collect_shared() };
    threads.creator.mutate(|mc, _| {
        let cx = ctx(mc, world.mode(), stats);
        // SAFETY: single thread from here on.
        let m = unsafe { mc.global(&board) };
        assert_eq!(Map::len(m, &cx), THREADS * KEYS);
        for t in 0..THREADS {
            for i in (0..KEYS).step_by(97) {
                let v = Map::get(m, &cx, text(&cx, &format!("{t}-{i}"))).unwrap();
                assert_eq!(v.as_num(), Some((t * KEYS + i) as f64));
            }
        }
    });
}

#[test]
fn replace_changes_only_keys_the_map_has() {
    let (world, stats) = (World::new(), SyncStats::default());
    let heap = new_map(&world, &stats);
    heap.mutate(|mc, m| {
        let cx = ctx(mc, world.mode(), &stats);
        Map::set(*m, &cx, Value::num(7.0), Value::num(1.0)).unwrap();
        assert_eq!(Map::replace(*m, &cx, GcAny::from(*m).sharing(), Value::num(7.0), Value::num(2.0)), Ok(true));
        assert_eq!(Map::get(*m, &cx, Value::num(7.0)).unwrap().as_num(), Some(2.0));
        assert_eq!(Map::replace(*m, &cx, GcAny::from(*m).sharing(), Value::num(8.0), Value::num(3.0)), Ok(false));
        assert_eq!(Map::len(*m, &cx), 1, "an absent key is not added");
        assert_eq!(
            Map::replace(*m, &cx, GcAny::from(*m).sharing(), Value::num(f64::NAN), Value::nil()),
            Err(ObjError::InvalidKey("NaN"))
        );
        mc.freeze(*m);
        assert_eq!(
            Map::replace(*m, &cx, GcAny::from(*m).sharing(), Value::num(7.0), Value::nil()),
            Err(ObjError::Frozen("Map"))
        );
    });
}

/// A text too long to be interned (an interned string is global, and no
/// local collection would free it).
fn long(what: &str, n: i32) -> String {
    format!("{what} number {n}, long enough to have a heap object of its own")
}

/// A map made old (generational mode) given new keys and values: both
/// survive every minor collection after it, although the map is not
/// traversed again (`set` marks or touches them, not the map).
#[test]
fn entries_set_in_an_old_map_survive_minor_collections() {
    let world = World::new();
    let stats = SyncStats::default();
    // Entries from the start, so that the major multiplier means something.
    let mut heap = Heap::<M>::new(minors::config(), |mc| {
        let cx = ctx(mc, world.mode(), &stats);
        let m = Map::alloc(&cx);
        for i in 0..1000 {
            Map::set(m, &cx, Value::num(f64::from(-1 - i)), Value::nil()).unwrap();
        }
        m
    });
    minors::through_minors(&mut heap, |heap, round| {
        heap.mutate(|mc, m| {
            let cx = ctx(mc, world.mode(), &stats);
            for i in 0..100 {
                let n = round * 100 + i;
                let (key, value) = (text(&cx, &long("key", n)), text(&cx, &long("value", n)));
                Map::set(*m, &cx, key, value).unwrap();
            }
        });
    });
    heap.mutate(|mc, m| {
        let cx = ctx(mc, world.mode(), &stats);
        for n in 0..600 {
            let value = Map::get(*m, &cx, text(&cx, &long("key", n))).unwrap();
            assert_eq!(Str::of(value).map(Str::as_str), Some(long("value", n).as_str()));
        }
    });
}

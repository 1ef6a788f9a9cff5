//! Persistent collections against plain models: random sequences of
//! changes give the model's contents at every step, and every earlier
//! version keeps its contents (nothing a change shares is changed); the
//! versions survive collections, kept only by the root.

mod common;

use std::collections::BTreeMap;

use common::{Nothing, Threads, ctx};
use maat_gc::{Config, Gc, Global, Heap, RefLock, Root};
use maat_sync::World;
use maat_vm::object::SyncStats;
use maat_vm::object::pmap::PMap;
use maat_vm::object::pnode::Birth;
use maat_vm::object::pvec::PVec;
use maat_vm::value::Value;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum VecOp {
    Push(u16),
    Pop,
    Set(usize, u16),
}

fn vec_ops() -> impl Strategy<Value = Vec<VecOp>> {
    let op = prop_oneof![
        6 => any::<u16>().prop_map(VecOp::Push),
        1 => Just(VecOp::Pop),
        2 => (any::<usize>(), any::<u16>()).prop_map(|(i, v)| VecOp::Set(i, v)),
    ];
    prop::collection::vec(op, 0..1500)
}

#[derive(Clone, Debug)]
enum MapOp {
    Put(u16, u16),
    Delete(u16),
}

fn map_ops() -> impl Strategy<Value = Vec<MapOp>> {
    // Keys from a small range: puts replace and deletes hit often.
    let op = prop_oneof![
        3 => (0..600u16, any::<u16>()).prop_map(|(k, v)| MapOp::Put(k, v)),
        1 => (0..600u16).prop_map(MapOp::Delete),
    ];
    prop::collection::vec(op, 0..1500)
}

fn nums(values: &[Value<'_>]) -> Vec<u16> {
    values.iter().map(|v| v.as_num().expect("a number") as u16).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_vector_is_its_model_at_every_version(ops in vec_ops()) {
        let (world, stats) = (World::new(), SyncStats::default());
        let heap = Heap::<Nothing>::new(Config::default(), |_| ());
        heap.mutate(|mc, _| {
            let cx = ctx(mc, world.mode(), &stats);
            let (mut v, mut model) = (PVec::empty(&cx), Vec::<u16>::new());
            let mut versions = vec![(v, model.clone())];
            for op in &ops {
                match *op {
                    VecOp::Push(x) => {
                        v = PVec::push(v, &cx, Value::num(f64::from(x)));
                        model.push(x);
                    }
                    VecOp::Pop => {
                        v = PVec::pop(v, &cx);
                        model.pop();
                    }
                    VecOp::Set(i, x) if !model.is_empty() => {
                        let i = i % model.len();
                        v = PVec::set(v, &cx, i, Value::num(f64::from(x)));
                        model[i] = x;
                    }
                    VecOp::Set(..) => {}
                }
                versions.push((v, model.clone()));
            }
            for (v, model) in &versions {
                let p = Gc::get(*v);
                assert_eq!(p.len(), model.len());
                assert_eq!(nums(&p.items()), *model);
                for (i, x) in model.iter().enumerate() {
                    assert_eq!(p.get(i).and_then(Value::as_num), Some(f64::from(*x)));
                }
                assert!(p.get(model.len()).is_none());
            }
        });
    }

    #[test]
    fn a_map_is_its_model_at_every_version(ops in map_ops()) {
        let (world, stats) = (World::new(), SyncStats::default());
        let heap = Heap::<Nothing>::new(Config::default(), |_| ());
        heap.mutate(|mc, _| {
            let cx = ctx(mc, world.mode(), &stats);
            let (mut m, mut model) = (PMap::empty(&cx), BTreeMap::<u16, u16>::new());
            let mut versions = vec![(m, model.clone())];
            for op in &ops {
                match *op {
                    MapOp::Put(k, x) => {
                        m = PMap::put(m, &cx, Value::num(f64::from(k)), Value::num(f64::from(x))).unwrap();
                        model.insert(k, x);
                    }
                    MapOp::Delete(k) => {
                        m = PMap::delete(m, &cx, Value::num(f64::from(k))).unwrap();
                        model.remove(&k);
                    }
                }
                versions.push((m, model.clone()));
            }
            for (m, model) in &versions {
                let p = Gc::get(*m);
                assert_eq!(p.len(), model.len());
                let mut entries: Vec<(u16, u16)> =
                    p.entries().iter().map(|(k, v)| (k.as_num().unwrap() as u16, v.as_num().unwrap() as u16)).collect();
                entries.sort_unstable();
                assert_eq!(entries, model.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
                for k in 0..600u16 {
                    let got = p.get(Value::num(f64::from(k))).unwrap().and_then(Value::as_num);
                    assert_eq!(got, model.get(&k).map(|x| f64::from(*x)), "key {k}");
                }
            }
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_map_built_at_once_is_the_map_of_its_entries(entries in prop::collection::vec((0..400u16, any::<u16>()), 0..1200)) {
        let (world, stats) = (World::new(), SyncStats::default());
        let heap = Heap::<Nothing>::new(Config::default(), |_| ());
        heap.mutate(|mc, _| {
            let cx = ctx(mc, world.mode(), &stats);
            let values: Vec<(Value, Value)> =
                entries.iter().map(|(k, v)| (Value::num(f64::from(*k)), Value::num(f64::from(*v)))).collect();
            let model: BTreeMap<u16, u16> = entries.iter().copied().collect();
            let m = PMap::of(&cx, &values).unwrap();
            let p = Gc::get(m);
            assert_eq!(p.len(), model.len());
            for k in 0..400u16 {
                let got = p.get(Value::num(f64::from(k))).unwrap().and_then(Value::as_num);
                assert_eq!(got, model.get(&k).map(|x| f64::from(*x)), "key {k}");
            }
            // And changing it afterwards works as on a map grown by puts.
            let m2 = PMap::delete(m, &cx, Value::num(0.0)).unwrap();
            let m2 = PMap::put(m2, &cx, Value::num(1000.0), Value::num(1.0)).unwrap();
            assert_eq!(Gc::get(m2).len(), model.len() - usize::from(model.contains_key(&0)) + 1);
        });
    }
}

/// The versions kept by a root.
struct Versions;
impl Root for Versions {
    type Of<'gc> = Gc<'gc, RefLock<Vec<Gc<'gc, PMap<'gc>>>>>;
}

#[test]
fn versions_kept_by_the_root_survive_collections_and_the_rest_are_freed() {
    let (world, stats) = (World::new(), SyncStats::default());
    let mut heap = Heap::<Versions>::new(Config::default(), |mc| mc.alloc(RefLock::new(Vec::new())));
    // 200 versions of a map of 2,000 entries, each differing by one entry;
    // every tenth is kept.
    heap.mutate(|mc, kept| {
        let cx = ctx(mc, world.mode(), &stats);
        let mut m = PMap::empty(&cx);
        for k in 0..2000 {
            m = PMap::put(m, &cx, Value::num(f64::from(k)), Value::num(0.0)).unwrap();
        }
        for version in 0..200 {
            m = PMap::put(m, &cx, Value::num(f64::from(version)), Value::num(f64::from(version + 1))).unwrap();
            if version % 10 == 0 {
                Gc::write(mc, *kept).borrow_mut().push(m);
            }
        }
    });
    let before = heap.stats().bytes_freed;
    heap.collect();
    heap.collect();
    heap.verify().unwrap();
    assert!(heap.stats().bytes_freed > before, "the versions no one keeps are freed");
    heap.mutate(|_, kept| {
        for (n, m) in kept.borrow().iter().enumerate() {
            let version = 10 * n as u32;
            let m = Gc::get(*m);
            assert_eq!(m.len(), 2000);
            for k in 0..200u32 {
                // Version v set keys 0..=v to their version + 1.
                let want = if k <= version { k + 1 } else { 0 };
                assert_eq!(m.get(Value::num(f64::from(k))).unwrap().and_then(Value::as_num), Some(f64::from(want)));
            }
        }
    });
}

struct Shared;
impl Root for Shared {
    type Of<'gc> = Gc<'gc, PMap<'gc>>;
}

/// A change made as `Birth::Frozen` of a frozen collection makes a frozen
/// one, node by node (strings frozen as they enter), that the verifier
/// accepts (Invariant S) and that holds what the plain change would; with
/// an unfrozen object to store, or of an unfrozen collection, it makes its
/// result as the plain change does.
#[test]
fn changes_born_frozen_make_frozen_collections_of_frozen_parts_or_plain_ones() {
    let (world, stats) = (World::new(), SyncStats::default());
    let mut heap = Heap::<Versions>::new(Config::default(), |mc| mc.alloc(RefLock::new(Vec::new())));
    heap.mutate(|mc, kept| {
        let cx = ctx(mc, world.mode(), &stats);
        let text = |t: String| Value::object(maat_vm::object::string::Str::alloc(&cx, &t).into());
        let mut plain = PMap::empty(&cx);
        for k in 0..3000 {
            plain = PMap::put(plain, &cx, text(format!("k{k}")), Value::num(f64::from(k))).unwrap();
        }
        mc.freeze(plain);
        let mut m = plain;
        for k in (0..3000).step_by(7).chain(5000..5100) {
            m = PMap::put_as(m, &cx, Birth::Frozen, text(format!("k{k}")), text(format!("v{k}"))).unwrap();
            assert!(Gc::is_frozen(m), "born frozen");
        }
        for k in (0..3000).step_by(5) {
            m = PMap::delete_as(m, &cx, Birth::Frozen, text(format!("k{k}"))).unwrap();
            assert!(Gc::is_frozen(m), "born frozen");
        }
        for k in (0..3000).chain(5000..5100) {
            let want = match k {
                k if k < 3000 && k % 5 == 0 => None,
                k if k % 7 == 0 || k >= 5000 => Some(text(format!("v{k}"))),
                k => Some(Value::num(f64::from(k))),
            };
            assert_eq!(Gc::get(m).get(text(format!("k{k}"))).unwrap(), want, "key {k}");
        }
        let array = Value::object(maat_vm::object::array::Array::alloc(&cx, [Value::num(1.0)]).into());
        let with_array = PMap::put_as(m, &cx, Birth::Frozen, text("a".into()), array).unwrap();
        assert!(!Gc::is_frozen(with_array), "an unfrozen value: made as `put` makes it");
        let unfrozen = PMap::put(PMap::empty(&cx), &cx, Value::num(1.0), Value::num(1.0)).unwrap();
        assert!(!Gc::is_frozen(PMap::put_as(unfrozen, &cx, Birth::Frozen, Value::num(2.0), Value::num(2.0)).unwrap()));

        // A vector over two levels of nodes: set, push past a full root, pop.
        let items: Vec<_> = (0..1024).map(|i| Value::num(f64::from(i))).collect();
        let base = PVec::of(&cx, &items);
        mc.freeze(base);
        let mut v = PVec::set_as(base, &cx, Birth::Frozen, 500, text("five hundred".into()));
        for i in 1024..1100 {
            v = PVec::push_as(v, &cx, Birth::Frozen, Value::num(f64::from(i)));
            assert!(Gc::is_frozen(v), "born frozen");
        }
        for _ in 0..50 {
            v = PVec::pop_as(v, &cx, Birth::Frozen);
            assert!(Gc::is_frozen(v), "born frozen");
        }
        let got = Gc::get(v).items();
        assert_eq!(got.len(), 1050);
        assert_eq!(got[500], text("five hundred".into()));
        assert!(got.iter().enumerate().all(|(i, x)| i == 500 || *x == Value::num(i as f64)));
        Gc::write(mc, *kept).borrow_mut().extend([m, with_array]);
        // (The vector is kept as a key of a map: the root keeps maps.)
        Gc::write(mc, *kept)
            .borrow_mut()
            .push(PMap::put(PMap::empty(&cx), &cx, Value::object(v.into()), Value::nil()).unwrap());
    });
    heap.verify().unwrap();
    heap.collect();
    heap.verify().unwrap();
}

#[test]
fn threads_read_one_shared_map_without_locks() {
    const THREADS: usize = 4;
    const KEYS: u32 = 5000;
    let threads = Threads::new();
    let (world, stats) = (&threads.world, &threads.stats);
    let shared: Global<Shared> = threads.creator.mutate(|mc, _| {
        let cx = ctx(mc, world.mode(), stats);
        let mut m = PMap::empty(&cx);
        for k in 0..KEYS {
            m = PMap::put(m, &cx, Value::num(f64::from(k)), Value::num(f64::from(k * 3))).unwrap();
        }
        mc.make_global::<Shared>(m)
    });
    let s = shared.clone();
    let sums = threads.run(THREADS, move |_, heap, _, _| {
        let mut sum = 0u64;
        for _ in 0..4 {
            heap.mutate(|mc, _| {
                // SAFETY: a persistent map is never written: any thread may read it.
                let m = Gc::get(unsafe { mc.global(&s) });
                for k in 0..KEYS {
                    sum += m.get(Value::num(f64::from(k))).unwrap().and_then(Value::as_num).unwrap() as u64;
                }
            });
            heap.collect_debt();
        }
        sum
    });
    let want = 4 * 3 * u64::from(KEYS) * u64::from(KEYS - 1) / 2;
    assert!(sums.iter().all(|&s| s == want), "{sums:?} != {want}");
    drop(shared);
}

//! `#[derive(Trace)]`: every field traced (structs, tuple structs, enums),
//! leaves detected, large fields traced in parts.

use maat_gc::{Config, Gc, Heap, Params, Phase, RefLock, Root, Trace};

#[derive(Trace)]
struct Pair<'gc> {
    name: String,
    left: Option<Gc<'gc, Leaf>>,
    right: Option<Gc<'gc, Leaf>>,
}

#[derive(Trace)]
struct Leaf(u64);

#[derive(Trace)]
enum Shape<'gc> {
    Empty,
    One(Gc<'gc, Leaf>),
    Named { first: Gc<'gc, Leaf>, second: Gc<'gc, Leaf> },
}

#[derive(Trace)]
struct Big<'gc> {
    tag: Gc<'gc, Leaf>,
    #[trace(parts)]
    items: RefLock<Vec<Gc<'gc, Leaf>>>,
}

struct Things;
impl Root for Things {
    type Of<'gc> = (Gc<'gc, Pair<'gc>>, Vec<Shape<'gc>>);
}

#[test]
fn derived_impls_trace_every_field_and_spot_leaves() {
    const { assert!(!<Leaf as Trace>::NEEDS_TRACE) };
    const { assert!(<Pair<'static> as Trace>::NEEDS_TRACE) };
    let mut heap = Heap::<Things>::new(Config::default(), |mc| {
        let pair = Pair { name: "p".into(), left: Some(mc.alloc(Leaf(1))), right: Some(mc.alloc(Leaf(2))) };
        let shapes = vec![
            Shape::Empty,
            Shape::One(mc.alloc(Leaf(3))),
            Shape::Named { first: mc.alloc(Leaf(4)), second: mc.alloc(Leaf(5)) },
        ];
        (mc.alloc(pair), shapes)
    });
    heap.mutate(|mc, _| {
        mc.alloc(Leaf(99));
    });
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(heap.stats().objects_freed, 1, "only the unreferenced leaf");
    let sum = heap.mutate(|_, (pair, shapes)| {
        let p = Gc::get(*pair);
        let mut sum = p.left.unwrap().0 + p.right.unwrap().0;
        for s in shapes {
            sum += match s {
                Shape::Empty => 0,
                Shape::One(a) => a.0,
                Shape::Named { first, second } => first.0 + second.0,
            };
        }
        sum
    });
    assert_eq!(sum, 15);
}

struct BigRoot;
impl Root for BigRoot {
    type Of<'gc> = Gc<'gc, Big<'gc>>;
}

#[test]
fn a_field_marked_parts_is_traced_in_parts() {
    let small = Params { step_size: 1024, step_multiplier: 1, ..Params::default() };
    let mut heap = Heap::<BigRoot>::new(Config { params: small, ..Config::default() }, |mc| {
        let items = (0..5000).map(|i| mc.alloc(Leaf(i))).collect();
        mc.alloc(Big { tag: mc.alloc(Leaf(7)), items: RefLock::new(items) })
    });
    heap.step();
    heap.step();
    assert_eq!(heap.phase(), Phase::Propagate);
    // Black after the first part, yet the verifier accepts its white
    // children: the rest is pending.
    assert!(heap.mutate(|_, big| maat_gc::verify::is_black(*big)));
    heap.verify().unwrap();
    heap.collect();
    heap.verify().unwrap();
    let total: u64 = heap.mutate(|_, big| Gc::get(*big).items.borrow().iter().map(|l| l.0).sum::<u64>() + big.tag.0);
    assert_eq!(total, (0..5000).sum::<u64>() + 7);
}

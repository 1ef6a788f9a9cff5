//! binary-trees (the benchmarks game's) through the Rust API of maat-gc,
//! beside plain `Box` and the Rust GC crates `gc`, `dumpster`, `gc-arena`
//! and `boa_gc`, in the same run.
//!
//! Each run builds a stretch tree of depth `max + 1`, keeps a long-lived tree
//! of depth `max`, and builds, checks and drops `2^(max - d + 4)` trees of
//! each depth `d = 4, 6, …, max`. The GC'd versions collect at the points the
//! library offers (maat-gc and gc-arena: `collect_debt` between trees, which
//! is where a VM's safe points are; the others collect by themselves).
//!
//! `cargo bench --bench gc_binary_trees`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion};

const MIN_DEPTH: u32 = 4;

/// Builds a tree module for a pointer type that collects by itself (or, for
/// `Box`, frees on drop): given the node type (a struct with field `kids`),
/// defines `build`, `check` and the benchmark's `run`.
macro_rules! self_collecting {
    ($module:ident, [$($ptr:tt)*], $new:path, $($item:item)*) => {
        mod $module {
            // The `gc` crate's derive expands to impls inside constants.
            #![allow(non_local_definitions)]

            $($item)*

            fn build(d: u32) -> $($ptr)* {
                $new(Node { kids: if d == 0 { None } else { Some((build(d - 1), build(d - 1))) } })
            }

            fn check(n: &Node) -> u64 {
                1 + n.kids.as_ref().map_or(0, |(l, r)| check(l) + check(r))
            }

            pub fn run(max: u32) -> u64 {
                let mut sum = check(&build(max + 1));
                let long = build(max);
                for d in (super::MIN_DEPTH..=max).step_by(2) {
                    for _ in 0..1u64 << (max - d + super::MIN_DEPTH) {
                        sum += check(&build(d));
                    }
                }
                sum + check(&long)
            }
        }
    };
}

self_collecting! { boxed, [Box<Node>], Box::new,
    pub struct Node { kids: Option<(Box<Node>, Box<Node>)> }
}
self_collecting! { rust_gc, [Gc<Node>], Gc::new,
    use gc::{Finalize, Gc, Trace};
    #[derive(Trace, Finalize)]
    pub struct Node { kids: Option<(Gc<Node>, Gc<Node>)> }
}
self_collecting! { dumpster_gc, [Gc<Node>], Gc::new,
    use dumpster::{Trace, unsync::Gc};
    #[derive(Trace)]
    pub struct Node { kids: Option<(Gc<Node>, Gc<Node>)> }
}
self_collecting! { boa, [Gc<Node>], Gc::new,
    use boa_gc::{Finalize, Gc, Trace};
    #[derive(Trace, Finalize)]
    pub struct Node { kids: Option<(Gc<Node>, Gc<Node>)> }
}

mod maat {
    use maat_gc::{Config, Gc, Heap, Mode, Mutation, Root, Trace};

    #[derive(Trace)]
    pub struct Node<'gc>(Option<(Gc<'gc, Node<'gc>>, Gc<'gc, Node<'gc>>)>);

    struct Tree;
    impl Root for Tree {
        type Of<'gc> = Option<Gc<'gc, Node<'gc>>>;
    }

    fn build<'gc>(mc: &Mutation<'gc>, d: u32) -> Gc<'gc, Node<'gc>> {
        mc.alloc(Node(if d == 0 { None } else { Some((build(mc, d - 1), build(mc, d - 1))) }))
    }

    fn check(n: Gc<'_, Node<'_>>) -> u64 {
        1 + Gc::get(n).0.map_or(0, |(l, r)| check(l) + check(r))
    }

    pub fn run(max: u32, mode: Mode) -> u64 {
        let mut heap = Heap::<Tree>::new(Config { mode, ..Config::default() }, |_| None);
        let tree = |heap: &mut Heap<Tree>, d| {
            let n = heap.mutate(|mc, _| check(build(mc, d)));
            heap.collect_debt();
            n
        };
        let stretch = tree(&mut heap, max + 1);
        heap.mutate_root(|mc, root| *root = Some(build(mc, max)));
        let mut sum = stretch;
        for d in (super::MIN_DEPTH..=max).step_by(2) {
            for _ in 0..1u64 << (max - d + super::MIN_DEPTH) {
                sum += tree(&mut heap, d);
            }
        }
        sum + heap.mutate(|_, root| check(root.expect("long-lived tree")))
    }
}

mod arena {
    use gc_arena::{Arena, Collect, Gc, Mutation, Rootable};

    #[derive(Collect)]
    #[collect(no_drop)]
    pub struct Node<'gc>(Option<(Gc<'gc, Node<'gc>>, Gc<'gc, Node<'gc>>)>);

    fn build<'gc>(mc: &Mutation<'gc>, d: u32) -> Gc<'gc, Node<'gc>> {
        Gc::new(mc, Node(if d == 0 { None } else { Some((build(mc, d - 1), build(mc, d - 1))) }))
    }

    fn check(n: Gc<'_, Node<'_>>) -> u64 {
        1 + n.0.map_or(0, |(l, r)| check(l) + check(r))
    }

    type TreeArena = Arena<Rootable![Option<Gc<'_, Node<'_>>>]>;

    pub fn run(max: u32) -> u64 {
        let mut arena = TreeArena::new(|_| None);
        let tree = |arena: &mut TreeArena, d| {
            let n = arena.mutate(|mc, _| check(build(mc, d)));
            arena.collect_debt();
            n
        };
        let stretch = tree(&mut arena, max + 1);
        arena.mutate_root(|mc, root| *root = Some(build(mc, max)));
        let mut sum = stretch;
        for d in (super::MIN_DEPTH..=max).step_by(2) {
            for _ in 0..1u64 << (max - d + super::MIN_DEPTH) {
                sum += tree(&mut arena, d);
            }
        }
        sum + arena.mutate(|_, root| check(root.expect("long-lived tree")))
    }
}

fn binary_trees(c: &mut Criterion) {
    let mut g = c.benchmark_group("binary_trees");
    g.sample_size(10);
    for depth in [16u32, 18] {
        let expected = boxed::run(depth);
        let mut bench = |name: &str, run: &dyn Fn(u32) -> u64| {
            assert_eq!(run(depth), expected, "{name} counted differently");
            g.bench_with_input(BenchmarkId::new(name, depth), &depth, |b, &d| b.iter(|| black_box(run(d))));
        };
        bench("box", &boxed::run);
        bench("maat-gc-inc", &|d| maat::run(d, maat_gc::Mode::Incremental));
        bench("maat-gc-gen", &|d| maat::run(d, maat_gc::Mode::Generational));
        bench("gc-arena", &arena::run);
        bench("gc", &rust_gc::run);
        bench("dumpster", &dumpster_gc::run);
        bench("boa_gc", &boa::run);
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    binary_trees(&mut c);
    c.final_summary();
}

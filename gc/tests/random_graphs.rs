//! Property tests: random graphs under random mutations, sharing, freezing
//! and collections at random points, against a model. After every step the
//! verifier passes and the heap's reachable graph equals the model's; after a
//! full shared collection exactly the reachable objects are alive.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::{Graph as G, Node, link, live, reset_live};
use maat_gc::{Config, Gc, Heap, Mode, Mutation, Params, Space, Sweep};
use proptest::prelude::*;

fn node<'gc>(mc: &Mutation<'gc>, id: u64) -> Gc<'gc, Node<'gc>> {
    mc.alloc(Node::new(id))
}

#[derive(Clone, Debug)]
enum Op {
    /// A new node, linked from the `n`-th reachable node.
    Alloc(usize),
    /// An edge between two reachable nodes.
    Link(usize, usize),
    /// Removes an edge of a reachable node.
    Unlink(usize, usize),
    /// Replaces an edge of a reachable node in place (the forward barrier):
    /// node, edge, new target.
    Replace(usize, usize, usize),
    Share(usize),
    Freeze(usize),
    Step,
    CollectDebt,
    Collect,
    CollectShared,
    /// A shared collection whose LSO sweep the heap does at its safe points.
    CollectSharedLazily,
    /// Starts a shared collection that marks while the heap runs (its
    /// part at `CollectDebt`).
    StartShared,
    /// Finishes it, sweeping now or lazily.
    FinishShared(bool),
    SetMode(Mode),
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0..64usize;
    prop_oneof![
        6 => i.clone().prop_map(Op::Alloc),
        4 => (i.clone(), i.clone()).prop_map(|(a, b)| Op::Link(a, b)),
        3 => (i.clone(), i.clone()).prop_map(|(a, b)| Op::Unlink(a, b)),
        4 => (i.clone(), i.clone(), i.clone()).prop_map(|(a, e, b)| Op::Replace(a, e, b)),
        1 => i.clone().prop_map(Op::Share),
        1 => i.prop_map(Op::Freeze),
        4 => Just(Op::Step),
        1 => Just(Op::CollectDebt),
        1 => Just(Op::Collect),
        1 => Just(Op::CollectShared),
        1 => Just(Op::CollectSharedLazily),
        2 => Just(Op::StartShared),
        1 => any::<bool>().prop_map(Op::FinishShared),
        1 => prop_oneof![Just(Mode::Incremental), Just(Mode::Generational)].prop_map(Op::SetMode),
    ]
}

/// The model: edges by node id, and which nodes are shared or frozen.
#[derive(Default)]
struct Model {
    edges: BTreeMap<u64, Vec<u64>>,
    shared: BTreeSet<u64>,
    frozen: BTreeSet<u64>,
    next: u64,
}

impl Model {
    fn reachable(&self) -> Vec<u64> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![0];
        let mut order = Vec::new();
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                order.push(n);
                stack.extend(self.edges[&n].iter().rev());
            }
        }
        order
    }

    /// Marks the subgraph from `n` in `set`, stopping at nodes in `stop`.
    fn mark(&mut self, n: u64, frozen: bool) {
        let mut stack = vec![n];
        while let Some(n) = stack.pop() {
            let stop =
                if frozen { self.frozen.contains(&n) } else { self.shared.contains(&n) || self.frozen.contains(&n) };
            if stop {
                continue;
            }
            if frozen {
                self.frozen.insert(n)
            } else {
                self.shared.insert(n)
            };
            stack.extend(self.edges[&n].iter().copied());
        }
    }
}

/// Nodes reachable in the heap, by id, in the model's order.
fn handles<'gc>(root: Gc<'gc, Node<'gc>>) -> HashMap<u64, Gc<'gc, Node<'gc>>> {
    let mut found = HashMap::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if found.insert(n.id, n).is_none() {
            stack.extend(Gc::get(n).edges.borrow().iter().copied());
        }
    }
    found
}

fn apply(heap: &mut Heap<G>, space: &Space, model: &mut Model, op: &Op) {
    let order = model.reachable();
    let pick = |i: usize| order[i % order.len()];
    match *op {
        Op::Alloc(p) | Op::Link(p, _) | Op::Unlink(p, _) | Op::Replace(p, ..) if model.frozen.contains(&pick(p)) => {}
        Op::Alloc(p) => {
            let (parent, id) = (pick(p), model.next + 1);
            model.next = id;
            model.edges.insert(id, Vec::new());
            model.edges.get_mut(&parent).unwrap().push(id);
            if model.shared.contains(&parent) {
                model.mark(id, false);
            }
            heap.mutate(|mc, root| {
                let parent = handles(*root)[&parent];
                let child = node(mc, id);
                if Gc::is_shared(parent) {
                    mc.share(child);
                }
                link(mc, parent, child);
            });
        }
        Op::Link(a, b) => {
            let (a, b) = (pick(a), pick(b));
            model.edges.get_mut(&a).unwrap().push(b);
            store_edge(heap, model, a, b, link);
        }
        Op::Unlink(a, e) => {
            let a = pick(a);
            let edges = model.edges.get_mut(&a).unwrap();
            if edges.is_empty() {
                return;
            }
            let e = e % edges.len();
            edges.remove(e);
            heap.mutate(|mc, root| {
                Gc::write(mc, handles(*root)[&a]).project(|n| &n.edges).borrow_mut().remove(e);
            });
        }
        Op::Replace(a, e, b) => {
            let (a, b) = (pick(a), pick(b));
            let edges = model.edges.get_mut(&a).unwrap();
            if edges.is_empty() {
                return;
            }
            let e = e % edges.len();
            edges[e] = b;
            store_edge(heap, model, a, b, |mc, a, b| {
                // SAFETY: one existing slot replaced in place; the reference
                // it held goes through the deletion barrier.
                let old = core::mem::replace(
                    &mut unsafe { Gc::write_forward(mc, a, b) }.project(|n| &n.edges).borrow_mut()[e],
                    b,
                );
                mc.deletion_barrier(a.into(), old.into());
            });
        }
        Op::Share(n) => {
            let n = pick(n);
            model.mark(n, false);
            heap.mutate(|mc, root| mc.share(handles(*root)[&n]));
        }
        Op::Freeze(n) => {
            let n = pick(n);
            model.mark(n, true);
            heap.mutate(|mc, root| mc.freeze(handles(*root)[&n]));
        }
        Op::Step => heap.step(),
        Op::CollectDebt => {
            heap.collect_debt();
        }
        Op::Collect => heap.collect(),
        // SAFETY: the space's only heap is not in use.
        Op::CollectShared => unsafe { space.collect_shared() },
        // SAFETY: as above.
        Op::CollectSharedLazily => unsafe { space.collect_shared_lazily() },
        // SAFETY: as above.
        Op::StartShared => unsafe { space.start_shared_collection() },
        // SAFETY: as above.
        Op::FinishShared(lazy) => unsafe {
            space.finish_shared_collection(if lazy { Sweep::Lazily } else { Sweep::Now })
        },
        Op::SetMode(mode) => heap.set_mode(mode),
    }
}

/// Stores the edge `a -> b` with `store`, sharing `b` first when `a` is
/// shared (in the heap and in the model).
fn store_edge(
    heap: &mut Heap<G>,
    model: &mut Model,
    a: u64,
    b: u64,
    store: impl for<'gc> FnOnce(&Mutation<'gc>, Gc<'gc, Node<'gc>>, Gc<'gc, Node<'gc>>),
) {
    if model.shared.contains(&a) {
        model.mark(b, false);
    }
    heap.mutate(|mc, root| {
        let h = handles(*root);
        if Gc::is_shared(h[&a]) {
            mc.share(h[&b]);
        }
        store(mc, h[&a], h[&b]);
    });
}

/// The heap's reachable graph as the model's kind of map.
fn observed(heap: &Heap<G>) -> BTreeMap<u64, Vec<u64>> {
    heap.mutate(|_, root| {
        handles(*root)
            .into_iter()
            .map(|(id, n)| (id, Gc::get(n).edges.borrow().iter().map(|c| c.id).collect()))
            .collect()
    })
}

/// `majors_often`: major collections (incremental ones, in generational
/// mode) come after 5% growth instead of 100%.
fn run(ops: &[Op], majors_often: bool) -> Result<(), TestCaseError> {
    reset_live();
    let space = Space::new();
    let major_multiplier = if majors_often { 5 } else { Params::default().major_multiplier };
    let small = Params { step_size: 256, minor_multiplier: 1, major_multiplier, ..Params::default() };
    let mut heap = Heap::<G>::new_in(&space, Config { params: small, ..Config::default() }, |mc| node(mc, 0));
    let mut model = Model::default();
    model.edges.insert(0, Vec::new());
    for op in ops {
        apply(&mut heap, &space, &mut model, op);
        heap.verify().map_err(|e| TestCaseError::fail(format!("after {op:?}: {e}")))?;
        let reachable: BTreeSet<u64> = model.reachable().into_iter().collect();
        let expected: BTreeMap<u64, Vec<u64>> = reachable.iter().map(|id| (*id, model.edges[id].clone())).collect();
        prop_assert_eq!(observed(&heap), expected, "after {:?}", op);
        if matches!(op, Op::CollectShared) {
            prop_assert_eq!(live(), reachable.len() as i64, "after a shared collection only the reachable live");
        }
    }
    drop(heap);
    drop(space);
    prop_assert_eq!(live(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_graphs_under_random_collections(ops in proptest::collection::vec(op(), 1..200), majors_often: bool) {
        run(&ops, majors_often)?;
    }
}

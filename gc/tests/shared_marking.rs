//! The shared collection marking while heaps run (`Space::start_shared_collection`
//! … `finish_shared_collection`): each barrier keeps alive a reference that
//! would otherwise be lost, in the scenario it exists for.

mod common;

use common::{Graph, Node, link, live, reset_live};
use maat_gc::{Config, Gc, GcAny, Global, Heap, Mutation, Params, Root, Space, Sweep};

/// Small steps, so that a safe point contributes and traces almost nothing.
fn config() -> Config {
    Config { params: Params { step_size: 1, ..Params::default() }, ..Config::default() }
}

fn node<'gc>(mc: &Mutation<'gc>, id: u64) -> Gc<'gc, Node<'gc>> {
    mc.alloc(Node::new(id))
}

/// The `i`-th edge of `n`.
fn edge<'gc>(n: Gc<'gc, Node<'gc>>, i: usize) -> Gc<'gc, Node<'gc>> {
    Gc::get(n).edges.borrow()[i]
}

/// A heap whose root `R` links a shared chain `S -> T -> B -> C`; returns it
/// with the shared collection started and the heap's contribution made: its
/// safe point traced one object (S), so T is gray and B and C white.
fn contributed_heap_with_shared_chain(space: &Space) -> Heap<Graph> {
    let mut heap = Heap::<Graph>::new_in(space, config(), |mc| node(mc, 0));
    heap.mutate(|mc, root| {
        let (s, t, b, c) = (node(mc, 1), node(mc, 4), node(mc, 2), node(mc, 3));
        link(mc, s, t);
        link(mc, t, b);
        link(mc, b, c);
        mc.share(s);
        link(mc, *root, s);
    });
    // SAFETY: the space's only heap is between mutations.
    unsafe { space.start_shared_collection() };
    assert!(space.shared_marking());
    heap.collect_debt();
    assert_eq!(space.heaps_to_contribute(), 0);
    heap
}

/// In a contributed heap (see above), the root takes B from T, and then
/// `forget` makes T (gray, not yet traced) forget it; after the finish, B
/// and C must be alive with the rest. Returns the heap.
fn t_forgets_b(forget: impl for<'gc> FnOnce(&Mutation<'gc>, Gc<'gc, Node<'gc>>)) -> Heap<Graph> {
    reset_live();
    let space = Space::new();
    let mut heap = contributed_heap_with_shared_chain(&space);
    heap.mutate(|mc, root| {
        let t = edge(edge(*root, 0), 0);
        link(mc, *root, edge(t, 0));
        forget(mc, t);
    });
    finish_and_check(&space, &mut heap, 5);
    heap
}

/// The heaps sweep their LSOs (left to them by a lazy finish) on this
/// thread, and are verified. With several heaps, a finish that sweeps now
/// frees on rayon's threads, where this thread's count of live nodes does
/// not see the frees.
fn sweep_here<const N: usize>(heaps: [&mut Heap<Graph>; N]) {
    for heap in heaps {
        heap.collect_debt();
        heap.verify().unwrap();
    }
}

/// Finishes the collection, checks the heap and that `ids` are alive.
fn finish_and_check(space: &Space, heap: &mut Heap<Graph>, reachable: usize) {
    // SAFETY: the space's only heap is between mutations.
    unsafe { space.finish_shared_collection(Sweep::Lazily) };
    sweep_here([heap]);
    assert_eq!(live(), reachable as i64, "every reachable node alive, the rest freed");
}

#[test]
fn a_reference_overwritten_in_a_shared_object_is_shaded() {
    // T overwrites B in place: the deletion barrier is all that tells the
    // collector.
    let heap = t_forgets_b(|mc, t| {
        // SAFETY: one slot replaced in place; the old reference is reported.
        let w = unsafe { Gc::write_forward(mc, t, t) };
        let old = core::mem::replace(&mut w.project(|n| &n.edges).borrow_mut()[0], t);
        mc.deletion_barrier(t.into(), old.into());
    });
    heap.mutate(|_, root| assert_eq!(edge(edge(*root, 1), 0).id, 3, "B and C survived"));
}

#[test]
fn a_shared_object_rearranged_before_it_is_traced_is_traced_first() {
    // `Gc::write` on a global object not yet marked traces it whole now.
    t_forgets_b(|mc, t| Gc::write(mc, t).project(|n| &n.edges).borrow_mut().clear());
}

/// Two heaps of one space (roots 0 and 10); a shared node X (11) is held
/// by the second heap's root only.
fn two_heaps() -> (Space, Heap<Graph>, Heap<Graph>) {
    reset_live();
    let space = Space::new();
    let first = Heap::<Graph>::new_in(&space, config(), |mc| node(mc, 0));
    let second = Heap::<Graph>::new_in(&space, config(), |mc| node(mc, 10));
    second.mutate(|mc, root| {
        let x = node(mc, 11);
        mc.share(x);
        link(mc, *root, x);
    });
    (space, first, second)
}

/// A global root holding one node.
struct Board;
impl Root for Board {
    type Of<'gc> = Gc<'gc, Node<'gc>>;
}

#[test]
fn a_store_into_a_marked_object_by_a_heap_that_has_not_contributed_is_shaded() {
    let (space, mut first, mut second) = two_heaps();
    let board: Global<Board> = first.mutate(|mc, _| mc.make_global::<Board>(node(mc, 1)));
    // SAFETY: neither heap is in a mutation or a safe point.
    unsafe { space.start_shared_collection() };
    // The first heap contributes and traces everything queued: the board is
    // marked.
    first.set_params(Params::default());
    first.collect_debt();
    assert_eq!(space.heaps_to_contribute(), 1);
    assert!(space.shared_marking_settled());
    // The second heap moves X onto the marked board and forgets it.
    second.mutate(|mc, root| {
        // SAFETY: one thread uses both heaps.
        let board = unsafe { mc.global(&board) };
        let x = edge(*root, 0);
        mc.share(x);
        link(mc, board, x);
        Gc::write(mc, *root).project(|n| &n.edges).borrow_mut().clear();
    });
    // SAFETY: as above.
    unsafe { space.finish_shared_collection(Sweep::Lazily) };
    sweep_here([&mut first, &mut second]);
    assert_eq!(live(), 4, "both roots, the board and X");
    second.mutate(|mc, _| {
        // SAFETY: as above.
        let board = unsafe { mc.global(&board) };
        assert_eq!(edge(board, 0).id, 11);
    });
    drop(board);
    drop((first, second));
    drop(space);
    assert_eq!(live(), 0);
}

#[test]
fn objects_shared_while_marking_are_traced_and_garbage_from_before_is_freed() {
    reset_live();
    let space = Space::new();
    let mut heap = contributed_heap_with_shared_chain(&space);
    heap.mutate(|mc, root| {
        // Garbage: S loses T, B and C for good.
        let s = edge(*root, 0);
        Gc::write(mc, s).project(|n| &n.edges).borrow_mut().clear();
        // A new unshared chain Y -> Z -> C' is shared during the marking.
        let (y, z) = (node(mc, 20), node(mc, 21));
        link(mc, y, z);
        mc.share(y);
        link(mc, s, y);
    });
    // T, B and C were reachable when the marking started: they float until
    // the next collection (a snapshot collector's floating garbage).
    finish_and_check(&space, &mut heap, 7);
    // SAFETY: the space's only heap is between mutations.
    unsafe { space.collect_shared() };
    heap.verify().unwrap();
    assert_eq!(live(), 4, "R, S, Y, Z");
}

#[test]
fn a_reference_handed_to_a_heap_that_contributed_is_shaded() {
    let (space, mut first, mut second) = two_heaps();
    // SAFETY: neither heap is in a mutation or a safe point.
    unsafe { space.start_shared_collection() };
    first.collect_debt();
    // The second heap hands X over outside any shared container (as a
    // channel's queue kept in Rust would) and forgets it; the first heap,
    // which contributed already, takes it into its root.
    let handed = second.mutate(|mc, root| {
        let x = edge(*root, 0);
        mc.hand_off(x.into());
        Gc::write(mc, *root).project(|n| &n.edges).borrow_mut().clear();
        GcAny::from(x).as_raw()
    });
    first.mutate(|mc, root| {
        // SAFETY: X is a live global object: nothing is freed while the
        // collection marks, and no collection finished since `as_raw`.
        let x = unsafe { GcAny::from_raw(handed).downcast::<Node>() };
        link(mc, *root, x);
    });
    second.collect_debt();
    // SAFETY: as above.
    unsafe { space.finish_shared_collection(Sweep::Lazily) };
    sweep_here([&mut first, &mut second]);
    assert_eq!(live(), 3, "both roots and X");
    first.mutate(|_, root| assert_eq!(edge(*root, 0).id, 11));
}

#[test]
fn the_marking_is_not_settled_while_a_safe_point_traces_what_it_took_from_the_queue() {
    // A shared chain far longer than the safe points below trace: each
    // takes the one gray node from the queue, traces it, and gives back
    // its successor. A thread that asks meanwhile whether the marking is
    // settled (what decides when the finish stops the world) must never
    // hear yes: the queue is empty only while a part holds its node.
    reset_live();
    const CHAIN: u64 = 100_000;
    let space = Space::new();
    let mut heap = Heap::<Graph>::new_in(&space, config(), |mc| node(mc, 0));
    heap.mutate(|mc, root| {
        let head = node(mc, 1);
        let mut last = head;
        for id in 2..=CHAIN {
            let next = node(mc, id);
            link(mc, last, next);
            last = next;
        }
        mc.share(head);
        link(mc, *root, head);
    });
    // SAFETY: the space's only heap is between mutations.
    unsafe { space.start_shared_collection() };
    // The contribution: the chain's head is queued (and its first part traced).
    heap.collect_debt();
    assert_eq!(space.heaps_to_contribute(), 0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let settled_seen = std::thread::scope(|s| {
        let asker = s.spawn(|| {
            let mut seen = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                seen += usize::from(space.shared_marking_settled());
            }
            seen
        });
        for _ in 0..5_000 {
            heap.collect_debt();
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        asker.join().unwrap()
    });
    assert_eq!(settled_seen, 0, "the marking looked settled with most of the chain untraced");
    assert!(!space.shared_marking_settled());
    finish_and_check(&space, &mut heap, CHAIN as usize + 1);
}

#[test]
fn while_a_shared_marking_runs_a_heap_meets_a_safe_point_every_16_kib_without_its_pacing_changing() {
    // A heap just collected owes nothing for 64 KiB of allocation, so its
    // own pacing asks for no safe point until then; while a shared marking
    // runs, it must meet one every 16 KiB for the marking's parts, and each
    // reports the work it did; the debt it reports stays its own pacing's.
    reset_live();
    let space = Space::new();
    let mut heap = Heap::<Graph>::new_in(&space, Config::default(), |mc| node(mc, 0));
    heap.mutate(|mc, root| {
        let s = node(mc, 1);
        mc.share(s);
        link(mc, *root, s);
    });
    assert_eq!(heap.collect_debt(), 0, "nothing due, nothing done");
    // SAFETY: the space's only heap is between mutations.
    unsafe { space.start_shared_collection() };
    assert!(heap.collect_debt() > 0, "the contribution is work");
    let mut paced = heap.debt();
    assert!(paced < -48 * 1024, "the contribution's collection left the heap far from its next one: {paced}");
    for _ in 0..3 {
        let before = heap.stats().bytes_allocated;
        while !heap.mutate(|mc, _| {
            node(mc, 9);
            mc.collection_due()
        }) {}
        let allocated = (heap.stats().bytes_allocated - before) as isize;
        assert!((16 * 1024..17 * 1024).contains(&allocated), "a safe point after {allocated} bytes");
        paced += allocated;
        assert_eq!(heap.debt(), paced, "the pacing counts every byte");
        assert!(heap.collect_debt() > 0, "the marking's part is work");
        assert_eq!(heap.debt(), paced, "and the safe point, far from a step, paid nothing of it");
        heap.verify().unwrap();
    }
    // SAFETY: the space's only heap is between mutations.
    unsafe { space.finish_shared_collection(Sweep::Lazily) };
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(live(), 2, "the root and the shared node; the garbage nodes freed");
}

#[test]
fn pages_of_global_objects_are_passed_over_until_their_slots_are_used_again() {
    // A heap's own collections pass over the pages in which every box is
    // global (only shared collections free those); one whose slot a global
    // box left, or a new one took, is swept again: what lands there is
    // kept or freed as anywhere else.
    reset_live();
    let space = Space::new();
    let mut heap = Heap::<Graph>::new_in(&space, Config::default(), |mc| node(mc, 0));
    heap.mutate(|mc, root| {
        let hub = node(mc, 1);
        for i in 0..5000 {
            link(mc, hub, node(mc, 100 + i));
        }
        mc.share(hub);
        link(mc, *root, hub);
    });
    let churn = |heap: &mut Heap<Graph>, from: u64, keep_every: u64| {
        heap.mutate(|mc, root| {
            for i in 0..3000 {
                let n = node(mc, from + i);
                if i % keep_every == 0 {
                    link(mc, *root, n);
                }
            }
        });
        heap.collect();
        heap.verify().unwrap();
    };
    heap.collect();
    heap.verify().unwrap();
    churn(&mut heap, 10_000, 3);
    assert_eq!(live(), 2 + 5000 + 1000);
    // The hub drops half its nodes: the shared collection frees them in the
    // pages the heap's sweeps pass over, and new nodes take their slots.
    heap.mutate(|mc, root| Gc::write(mc, edge(*root, 0)).project(|n| &n.edges).borrow_mut().truncate(2500));
    // SAFETY: the space's only heap is between mutations.
    unsafe { space.collect_shared() };
    sweep_here([&mut heap]);
    assert_eq!(live(), 2 + 2500 + 1000);
    churn(&mut heap, 20_000, 2);
    assert_eq!(live(), 2 + 2500 + 1000 + 1500, "the new nodes kept, the rest freed");
    churn(&mut heap, 30_000, 3000);
    assert_eq!(live(), 2 + 2500 + 1000 + 1500 + 1);
}

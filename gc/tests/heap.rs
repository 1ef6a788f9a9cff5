//! Behaviour of one heap: reachability, incremental marking with barriers,
//! the heap limit, torture mode, statistics and the verifier.

mod common;

use common::{Graph, Node, link, live};
use maat_gc::{Config, Gc, Heap, Mode, Params, Phase, Root, Space, Trace, Tracer};

fn new_graph(config: Config) -> Heap<Graph> {
    Heap::<Graph>::new(config, |mc| mc.alloc(Node::new(0)))
}

/// Links a chain of new nodes `ids` after the root.
fn chain_after_root(heap: &mut Heap<Graph>, ids: std::ops::RangeInclusive<u64>) {
    heap.mutate(|mc, root| {
        let mut prev = *root;
        for i in ids {
            let n = mc.alloc(Node::new(i));
            link(mc, prev, n);
            prev = n;
        }
    });
}

/// Links `n` new nodes, from id `from` on, to the root; then a safe point
/// and the verifier.
fn grow(heap: &mut Heap<Graph>, from: u64, n: u64) {
    heap.mutate(|mc, root| {
        for i in 0..n {
            link(mc, *root, mc.alloc(Node::new(from + i)));
        }
    });
    heap.collect_debt();
    heap.verify().unwrap();
}

/// Makes `n` unreachable nodes; then a safe point and the verifier.
fn churn(heap: &mut Heap<Graph>, n: u64) {
    heap.mutate(|mc, _| {
        for i in 0..n {
            mc.alloc(Node::new(i));
        }
    });
    heap.collect_debt();
    heap.verify().unwrap();
}

#[test]
fn full_collection_frees_exactly_the_unreachable() {
    let mut heap = new_graph(Config::default());
    chain_after_root(&mut heap, 1..=100);
    heap.mutate(|mc, _| {
        for i in 1000..1050 {
            mc.alloc(Node::new(i)); // garbage
        }
    });
    assert_eq!(live(), 151);
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(live(), 101);
    let stats = heap.stats();
    assert_eq!(stats.objects_freed, 50);
    assert_eq!(stats.collections.full, 1);
    // Cut the chain in the middle: the tail becomes garbage.
    heap.mutate(|mc, root| {
        let mut n = *root;
        for _ in 0..50 {
            n = Gc::get(n).edges.borrow()[0];
        }
        Gc::write(mc, n).project(|n| &n.edges).borrow_mut().clear();
    });
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(live(), 51);
    let ids: Vec<u64> = heap.mutate(|_, root| {
        let mut ids = vec![root.id];
        let mut n = *root;
        while let Some(&next) = Gc::get(n).edges.borrow().first() {
            ids.push(next.id);
            n = next;
        }
        ids
    });
    assert_eq!(ids, (0..=50).collect::<Vec<_>>());
    drop(heap);
    assert_eq!(live(), 0, "dropping the heap frees everything");
}

#[test]
fn an_ended_heap_frees_its_objects_and_its_shell_starts_a_fresh_heap() {
    let heap = new_graph(Config::default());
    let first = heap.id();
    heap.mutate(|mc, root| {
        for i in 1..=20 {
            link(mc, *root, mc.alloc(Node::new(i)));
        }
    });
    assert_eq!(live(), 21);
    let shell = heap.end();
    assert_eq!(live(), 0, "ending the heap frees everything, as dropping it does");
    let config = Config { mode: Mode::Generational, ..Config::default() };
    let mut heap = shell.restart(&Space::new(), config, |mc| mc.alloc(Node::new(7)));
    assert_ne!(heap.id(), first, "the new heap has an id of its own");
    assert_eq!(heap.mode(), Mode::Generational, "and the new configuration");
    let stats = heap.stats();
    assert_eq!((stats.objects_allocated, stats.objects_freed), (1, 0), "nothing of the old heap's counts");
    heap.mutate(|mc, root| link(mc, *root, mc.alloc(Node::new(8))));
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(heap.mutate(|_, root| (root.id, Gc::get(*root).edges.borrow()[0].id)), (7, 8));
    drop(heap);
    assert_eq!(live(), 0);
}

#[test]
fn a_shell_ended_on_one_thread_starts_a_heap_on_another() {
    let space = Space::new();
    let shell = std::thread::scope(|s| {
        s.spawn(|| {
            let heap = Heap::<Graph>::new_in(&space, Config::default(), |mc| mc.alloc(Node::new(1)));
            heap.end()
        })
        .join()
        .unwrap()
    });
    let mut heap = shell.restart(&space, Config::default(), |mc| mc.alloc(Node::new(2)));
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(heap.mutate(|_, root| root.id), 2);
}

#[test]
fn cycles_are_collected() {
    let mut heap = new_graph(Config::default());
    heap.mutate(|mc, _| {
        let a = mc.alloc(Node::new(1));
        let b = mc.alloc(Node::new(2));
        link(mc, a, b);
        link(mc, b, a);
    });
    heap.collect();
    assert_eq!(live(), 1);
}

/// Steps until the heap is in `phase`.
fn step_until(heap: &mut Heap<Graph>, phase: Phase) {
    for _ in 0..10_000 {
        if heap.phase() == phase {
            return;
        }
        heap.step();
        heap.verify().unwrap();
    }
    panic!("never reached {phase:?}");
}

#[test]
fn backward_barrier_keeps_objects_stored_into_black_containers() {
    let small = Params { step_size: 64, ..Params::default() };
    let mut heap = new_graph(Config { params: small, ..Config::default() });
    heap.mutate(|mc, root| {
        for i in 1..=200 {
            link(mc, *root, mc.alloc(Node::new(i)));
        }
    });
    heap.step(); // restart: the root is gray
    assert_eq!(heap.phase(), Phase::Propagate);
    heap.step(); // the root is traversed: black
    heap.verify().unwrap();
    // A new node stored only into the (black) root container.
    heap.mutate(|mc, root| link(mc, *root, mc.alloc(Node::new(9999))));
    heap.verify().unwrap();
    step_until(&mut heap, Phase::Sweep);
    step_until(&mut heap, Phase::Pause);
    assert_eq!(live(), 202);
    let found = heap.mutate(|_, root| root.edges.borrow().iter().any(|n| n.id == 9999));
    assert!(found);
}

#[test]
fn objects_allocated_while_sweeping_survive() {
    let small = Params { step_size: 64, ..Params::default() };
    let mut heap = new_graph(Config { params: small, ..Config::default() });
    heap.mutate(|mc, root| {
        for i in 1..=300 {
            link(mc, *root, mc.alloc(Node::new(i)));
        }
    });
    step_until(&mut heap, Phase::Sweep);
    heap.mutate(|mc, root| link(mc, *root, mc.alloc(Node::new(7777))));
    heap.verify().unwrap();
    step_until(&mut heap, Phase::Pause);
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(live(), 302);
}

#[test]
fn incremental_cycles_run_from_allocation_debt() {
    let mut heap = new_graph(Config::default());
    for round in 0..200u64 {
        heap.mutate(|mc, root| {
            // Keep a window of 100 nodes on the root; the rest is garbage.
            let mut edges = Gc::write(mc, *root).project(|n| &n.edges).borrow_mut();
            for i in 0..50 {
                edges.push(mc.alloc(Node::new(round * 100 + i)));
            }
            let excess = edges.len().saturating_sub(100);
            edges.drain(..excess);
        });
        heap.collect_debt();
    }
    let stats = heap.stats();
    assert!(stats.collections.incremental > 0, "{stats:?}");
    assert_eq!(stats.collections.full, 0);
    assert!(stats.pauses.count() > 0);
    assert!(live() < 10_000 - 100, "garbage was freed: {} live", live());
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(live(), 101);
}

#[test]
fn collection_is_due_once_allocation_reaches_the_threshold_and_paid_at_the_safe_point() {
    let mut heap = new_graph(Config::default());
    let allocated = heap.mutate(|mc, _| {
        assert!(!mc.collection_due(), "a new heap owes nothing");
        let mut n = 0;
        while !mc.collection_due() {
            mc.alloc(Node::new(n));
            n += 1;
            assert!(n < 1_000_000, "allocation never made collection due");
        }
        n
    });
    assert!(allocated > 100, "due only after the first threshold ({allocated} nodes)");
    heap.collect_debt();
    assert!(!heap.mutate(|mc, _| mc.collection_due()), "the safe point paid the debt");
    let cycles = heap.stats().collections.incremental;
    assert!(heap.phase() != Phase::Pause || cycles == 1, "a cycle started (and may have ended)");
}

#[test]
fn exceeding_the_heap_limit_is_an_error_not_an_abort() {
    let limit = 256 * 1024;
    let mut heap = new_graph(Config { max_heap: Some(limit), ..Config::default() });
    let mut refused = None;
    for round in 0..10_000u64 {
        let result = heap.mutate(|mc, root| mc.try_alloc(Node::new(round)).map(|n| link(mc, *root, n)));
        if let Err(oom) = result {
            refused = Some(oom);
            break;
        }
        heap.collect_debt();
    }
    let oom = refused.expect("the heap limit was never enforced");
    assert_eq!(oom.limit, limit);
    assert!(oom.in_use > limit);
    assert!(oom.to_string().starts_with("out of memory: "), "{oom}");
    // Dropping the data makes room again after the next safe point.
    heap.mutate(|mc, root| Gc::write(mc, *root).project(|n| &n.edges).borrow_mut().clear());
    heap.collect_debt();
    assert!(heap.total_bytes() <= limit);
    assert!(heap.mutate(|mc, _| mc.try_alloc(Node::new(1)).is_ok()));
}

#[test]
fn torture_mode_collects_at_every_safe_point() {
    let mut heap = new_graph(Config { torture: true, ..Config::default() });
    for i in 0..20 {
        heap.mutate(|mc, root| {
            link(mc, *root, mc.alloc(Node::new(i)));
            mc.alloc(Node::new(1000 + i));
        });
        heap.collect_debt();
        heap.verify().unwrap();
        assert_eq!(live(), i as i64 + 2, "garbage freed at once");
    }
    assert_eq!(heap.stats().collections.full, 20);
}

#[test]
fn statistics_count_bytes_and_objects() {
    let mut heap = new_graph(Config::default());
    let before = heap.stats();
    heap.mutate(|mc, _| {
        for i in 0..10 {
            mc.alloc(Node::new(i));
        }
    });
    let after = heap.stats();
    assert_eq!(after.objects_allocated - before.objects_allocated, 10);
    assert!(after.bytes_allocated > before.bytes_allocated);
    heap.collect();
    let collected = heap.stats();
    assert_eq!(collected.objects_freed, 10);
    assert_eq!(collected.bytes_freed, after.bytes_allocated - before.bytes_allocated);
    assert_eq!(heap.total_bytes() as u64, collected.bytes_allocated - collected.bytes_freed);
    assert_eq!(collected.pauses.count(), 1);
    assert!(collected.pauses.max() >= collected.pauses.quantile(0.5));
}

#[test]
fn verifier_reports_a_black_to_white_edge() {
    // Storing through `Cell` bypasses the barrier; the verifier must notice.
    struct Sneaky<'gc>(std::cell::Cell<Option<Gc<'gc, Node<'gc>>>>);
    // SAFETY: deliberately traces through a Cell to build a broken heap.
    unsafe impl Trace for Sneaky<'_> {
        fn trace(&self, t: &mut Tracer) {
            self.0.get().trace(t);
        }
    }
    struct R;
    impl Root for R {
        type Of<'gc> = Vec<Gc<'gc, Sneaky<'gc>>>;
    }
    let small = Params { step_size: 16, ..Params::default() };
    let mut heap = Heap::<R>::new(Config { params: small, ..Config::default() }, |mc| {
        (0..50).map(|_| mc.alloc(Sneaky(std::cell::Cell::new(None)))).collect()
    });
    heap.step();
    heap.step();
    let broken = heap.mutate(|mc, root| {
        let black = root.iter().find(|s| maat_gc::verify::is_black(**s))?;
        black.0.set(Some(mc.alloc(Node::new(1))));
        Some(())
    });
    assert!(broken.is_some(), "some object was black after two steps");
    let err = heap.verify().unwrap_err();
    assert!(err.to_string().contains("points to a white object"), "{err}");
}

#[test]
fn what_only_the_root_holds_when_the_gray_stack_runs_out_is_traversed_in_steps_before_the_atomic_phase() {
    let small = Params { step_size: 64, ..Params::default() };
    let mut heap = new_graph(Config { params: small, ..Config::default() });
    chain_after_root(&mut heap, 1..=1000);
    heap.step();
    assert_eq!(heap.phase(), Phase::Propagate, "1,000 nodes take more than a step of 64 bytes");
    // As a VM's registers hold a structure under construction: each
    // mutation puts a new node in front of the root, and the root has no
    // barrier, so every node made during the marking is white until the
    // marking traces the root again.
    const FIRST: u64 = 10_000;
    let mut new_black_in_propagate = false;
    for i in FIRST..FIRST + 100_000 {
        heap.mutate_root(|mc, root| {
            let n = mc.alloc(Node::new(i));
            link(mc, n, *root);
            *root = n;
        });
        heap.step();
        heap.verify().unwrap();
        if heap.phase() != Phase::Propagate {
            break;
        }
        new_black_in_propagate |= heap.mutate(|_, root| {
            let mut n = *root;
            let mut black = maat_gc::verify::is_black(n);
            while Gc::get(n).id != FIRST {
                n = Gc::get(n).edges.borrow()[0];
                black |= maat_gc::verify::is_black(n);
            }
            black
        });
    }
    assert_ne!(heap.phase(), Phase::Propagate, "the marking ended while the mutator kept building");
    assert!(new_black_in_propagate, "the nodes made during the marking were left to the atomic phase");
    heap.collect();
    heap.verify().unwrap();
}

#[test]
fn generational_minor_collections_free_young_garbage_and_keep_old_objects() {
    let config = Config { mode: Mode::Generational, ..Config::default() };
    let mut heap = new_graph(config);
    // An old structure, large enough that 200 young objects a round stay
    // below the growth that calls for a major collection.
    heap.mutate(|mc, root| {
        for i in 1..=2000 {
            link(mc, *root, mc.alloc(Node::new(i)));
        }
    });
    heap.collect(); // major: everything old
    heap.verify().unwrap();
    assert_eq!(heap.mode(), Mode::Generational);
    for round in 0..50u64 {
        heap.mutate(|mc, root| {
            for i in 0..200 {
                mc.alloc(Node::new(10_000 + round * 1000 + i)); // young garbage
            }
            // A young object stored into an old one (backward barrier).
            let old = Gc::get(*root).edges.borrow()[round as usize];
            link(mc, old, mc.alloc(Node::new(1_000_000 + round)));
        });
        heap.step();
        heap.verify().unwrap();
    }
    let stats = heap.stats();
    assert!(stats.collections.minor >= 40, "{stats:?}");
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(live(), 1 + 2000 + 50, "young garbage freed, old and barrier-kept objects alive");
    let kept = heap.mutate(|_, root| {
        Gc::get(*root).edges.borrow().iter().filter(|n| !Gc::get(**n).edges.borrow().is_empty()).count()
    });
    assert_eq!(kept, 50);
}

#[test]
fn objects_made_while_a_major_collection_sweeps_are_born_old() {
    let params = Params { step_size: 256, minor_multiplier: 1, major_multiplier: 5, ..Params::default() };
    let mut heap = new_graph(Config { mode: Mode::Generational, params, ..Config::default() });
    // Live data grows until an incremental major collection sweeps.
    let mut round = 0;
    while !(heap.mode() == Mode::Incremental && heap.phase() == Phase::Sweep) {
        grow(&mut heap, round * 100, 20);
        round += 1;
        assert!(round < 10_000, "no major collection swept");
    }
    const BORN: u64 = 1 << 40;
    let black = heap.mutate(|mc, root| {
        let n = mc.alloc(Node::new(BORN));
        link(mc, *root, n);
        maat_gc::verify::is_black(n)
    });
    assert!(black, "an object made while the major sweeps is born black (and old)");
    heap.verify().unwrap();
    // Back in generational mode (garbage only from here), through minor
    // collections, it stays old: no minor marks it or sweeps it.
    let mut minors = 0;
    for _ in 0..10_000 {
        churn(&mut heap, 20);
        minors += u64::from(heap.mode() == Mode::Generational);
        if minors == 50 {
            break;
        }
    }
    assert_eq!(minors, 50, "the heap returns to generational mode");
    let still_black = heap.mutate(|_, root| {
        let edges = Gc::get(*root).edges.borrow();
        let n = edges.iter().find(|n| n.id == BORN).expect("still linked");
        maat_gc::verify::is_black(*n)
    });
    assert!(still_black, "old objects stay black between major collections");
}

#[test]
fn a_bad_major_collection_switches_to_incremental_and_a_good_marking_back() {
    let params = Params { step_size: 1024, ..Params::default() };
    let mut heap = new_graph(Config { mode: Mode::Generational, params, ..Config::default() });
    // The heap keeps growing with live data: majors free nothing.
    let mut switched = false;
    for round in 0..400u64 {
        grow(&mut heap, round * 100, 50);
        if heap.mode() == Mode::Incremental {
            switched = true;
            break;
        }
    }
    assert!(switched, "a major collection that frees nothing is bad");
    // Now the heap stops growing: an incremental marking finds no more live
    // objects than the bad major did, and the heap returns to generational.
    let mut back = false;
    for _ in 0..10_000 {
        churn(&mut heap, 50);
        if heap.mode() == Mode::Generational {
            back = true;
            break;
        }
    }
    assert!(back, "a good incremental marking returns to generational mode");
}

/// A root node with `n` children, and a heap stepped until the root has been
/// traced in part (black, the rest of its children pending).
fn partly_traced(n: u64) -> Heap<Graph> {
    let small = Params { step_size: 1024, ..Params::default() };
    let mut heap = new_graph(Config { params: small, ..Config::default() });
    heap.mutate(|mc, root| {
        for i in 1..=n {
            link(mc, *root, mc.alloc(Node::new(i)));
        }
    });
    heap.step(); // restart: root gray
    heap.step(); // the root's first parts
    assert_eq!(heap.phase(), Phase::Propagate);
    assert!(heap.mutate(|_, root| maat_gc::verify::is_black(*root)), "the root is traced in parts");
    heap.verify().unwrap();
    heap
}

#[test]
fn large_objects_are_traced_in_parts_and_restarted_after_a_write() {
    let mut heap = partly_traced(5000);
    // Shift every element while the root is traced in part: the backward
    // barrier makes the collector trace it again in full.
    heap.mutate(|mc, root| {
        let w = Gc::write(mc, *root).project(|n| &n.edges);
        let mut edges = w.borrow_mut();
        edges.drain(..100);
        edges.insert(0, mc.alloc(Node::new(9999)));
    });
    heap.verify().unwrap();
    step_until(&mut heap, Phase::Sweep);
    step_until(&mut heap, Phase::Pause);
    heap.verify().unwrap();
    // The first part (children 1..=512) was marked before the drain: those
    // drained ones float to the next cycle; every other drained one is freed.
    assert_eq!(live(), 1 + 4900 + 1 + 100, "every remaining child survived");
    heap.collect();
    assert_eq!(live(), 1 + 4900 + 1, "the drained children are freed by the next cycle");
    let ids: Vec<u64> = heap.mutate(|_, root| Gc::get(*root).edges.borrow().iter().map(|n| n.id).collect());
    assert_eq!(ids[0], 9999);
    assert_eq!(ids[1..], (101..=5000).collect::<Vec<_>>());
}

#[test]
fn forward_barrier_marks_the_stored_object_instead_of_retracing() {
    let mut heap = partly_traced(5000);
    heap.mutate(|mc, root| {
        for i in [0usize, 4000] {
            let new = mc.alloc(Node::new(100_000 + i as u64));
            // SAFETY: one existing slot replaced in place.
            unsafe { Gc::write_forward(mc, *root, new) }.project(|n| &n.edges).borrow_mut()[i] = new;
        }
    });
    heap.verify().unwrap();
    assert!(heap.mutate(|_, root| maat_gc::verify::is_black(*root)), "no re-trace: the root stays black");
    step_until(&mut heap, Phase::Sweep);
    step_until(&mut heap, Phase::Pause);
    heap.verify().unwrap();
    // Slot 0 was marked in the first part (it floats to the next cycle);
    // slot 4000 was replaced before the collector reached it: freed now.
    assert_eq!(live(), 1 + 5000 + 1, "the new children kept, the unreached replaced one freed");
    heap.collect();
    assert_eq!(live(), 1 + 5000);
    let ids = heap.mutate(|_, root| [0, 4000].map(|i| Gc::get(*root).edges.borrow()[i].id));
    assert_eq!(ids, [100_000, 104_000]);
}

/// A type without drop glue that claims to own memory outside its box: it
/// cannot (owned memory is freed by a drop), and the collector, which frees
/// such types without asking, refuses it when one is allocated.
struct ClaimsBuffers;
// SAFETY: it holds no references.
unsafe impl Trace for ClaimsBuffers {
    const NEEDS_TRACE: bool = false;
    fn trace(&self, _: &mut Tracer) {}
    fn heap_size(&self) -> usize {
        64
    }
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "a type without drop glue owns no buffers")]
fn a_type_without_drop_glue_that_claims_buffers_is_refused_in_debug_builds() {
    let heap = new_graph(Config::default());
    heap.mutate(|mc, _| {
        mc.alloc(ClaimsBuffers);
    });
}

/// A heap past its first 4 KiB with `n` nodes made in one mutation, every
/// other one linked to the root (the rest garbage), stepped into the sweep
/// and on until some of its garbage is freed and some not yet: the sweep
/// is in its pages (its objects live in pages alone, after a short list of
/// the first ones), in steps of a few hundred bytes of work.
fn in_the_sweep_of_its_pages(space: &Space, n: u64) -> Heap<Graph> {
    let slow = Params { step_size: 64, step_multiplier: 1, ..Params::default() };
    let mut heap =
        Heap::<Graph>::new_in(space, Config { params: slow, ..Config::default() }, |mc| mc.alloc(Node::new(0)));
    heap.mutate(|mc, root| {
        for i in 1..=n {
            let node = mc.alloc(Node::new(i));
            if i % 2 == 0 {
                link(mc, *root, node);
            }
        }
    });
    step_until(&mut heap, Phase::Sweep);
    let all = live();
    while live() == all {
        heap.step();
    }
    assert_eq!(heap.phase(), Phase::Sweep, "still sweeping");
    assert!(live() > 1 + n as i64 / 2, "garbage left: {} of {}", live(), all);
    heap.verify().unwrap();
    heap
}

#[test]
fn entering_generational_mode_in_the_middle_of_a_sweep_of_the_pages_lists_every_survivor() {
    let space = Space::new();
    let mut heap = in_the_sweep_of_its_pages(&space, 4000);
    heap.set_mode(Mode::Generational);
    // The verifier refuses objects left in pages alone in generational mode.
    heap.verify().unwrap();
    assert_eq!(live(), 2001, "the garbage is freed, the reachable kept");
    heap.mutate(|mc, root| Gc::write(mc, *root).project(|n| &n.edges).borrow_mut().truncate(500));
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(live(), 501, "a major collection frees what was cut off");
    heap.set_mode(Mode::Incremental);
    churn(&mut heap, 3000);
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(live(), 501, "and incremental mode again what it makes");
}

#[test]
fn a_heap_ending_in_the_middle_of_a_sweep_of_its_pages_frees_its_own_and_leaves_the_shared_to_its_space() {
    let space = Space::new();
    let heap = in_the_sweep_of_its_pages(&space, 4000);
    // Nodes shared since the marking: global, still in their pages alone.
    heap.mutate(|mc, _| {
        for i in 0..300 {
            mc.share(mc.alloc(Node::new(10_000 + i)));
        }
    });
    drop(heap);
    assert_eq!(live(), 300, "the heap's own objects are freed as it ends; the shared ones are the space's");
    // SAFETY: the space's only heap ended.
    unsafe { space.collect_shared() };
    assert_eq!(live(), 0, "and the space frees them once nothing reaches them");
}

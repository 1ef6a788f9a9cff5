//! Sharing, freezing, global roots, heap end and the shared collection,
//! on one thread and on several.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use maat_gc::{Config, Gc, Global, Heap, Mutation, RefLock, Root, Space, Trace, Tracer};
use maat_sync::World;

/// Counts live items of one test.
#[derive(Clone, Default)]
struct Live(Arc<AtomicI64>);

impl Live {
    fn get(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A node with a checksum (to catch use after free) and edges.
struct Item<'gc> {
    id: u64,
    check: u64,
    live: Live,
    edges: RefLock<Vec<Gc<'gc, Item<'gc>>>>,
}

impl<'gc> Item<'gc> {
    fn new(id: u64, live: &Live) -> Self {
        live.0.fetch_add(1, Ordering::SeqCst);
        Item { id, check: !id, live: live.clone(), edges: RefLock::new(Vec::new()) }
    }

    fn valid(&self) -> bool {
        self.check == !self.id
    }
}

impl Drop for Item<'_> {
    fn drop(&mut self) {
        self.live.0.fetch_sub(1, Ordering::SeqCst);
    }
}

// SAFETY: traces every edge.
unsafe impl Trace for Item<'_> {
    fn trace(&self, t: &mut Tracer) {
        self.edges.trace(t);
    }

    fn heap_size(&self) -> usize {
        self.edges.heap_size()
    }
}

struct Items;
impl Root for Items {
    type Of<'gc> = Gc<'gc, Item<'gc>>;
}

fn heap_in(space: &Space, live: &Live) -> Heap<Items> {
    Heap::<Items>::new_in(space, Config::default(), |mc| mc.alloc(Item::new(0, live)))
}

fn link<'gc>(mc: &Mutation<'gc>, from: Gc<'gc, Item<'gc>>, to: Gc<'gc, Item<'gc>>) {
    Gc::write(mc, from).project(|n| &n.edges).borrow_mut().push(to);
}

fn chain<'gc>(mc: &Mutation<'gc>, live: &Live, ids: std::ops::Range<u64>) -> Gc<'gc, Item<'gc>> {
    let first = mc.alloc(Item::new(ids.start, live));
    let mut last = first;
    for id in ids.skip(1) {
        let n = mc.alloc(Item::new(id, live));
        link(mc, last, n);
        last = n;
    }
    first
}

#[test]
fn share_marks_the_subgraph_once_and_keeps_invariant_s() {
    let live = Live::default();
    let mut heap = heap_in(&Space::new(), &live);
    heap.mutate(|mc, root| {
        let c = chain(mc, &live, 1..11);
        assert_eq!(mc.share(c), 10);
        assert!(Gc::is_shared(c));
        assert_eq!(mc.share(c), 0, "already shared: nothing to do");
        let d = mc.alloc(Item::new(100, &live));
        link(mc, d, c);
        assert_eq!(mc.share(d), 1, "stops at the shared subgraph");
        link(mc, *root, d);
        assert!(!Gc::is_shared(*root));
    });
    heap.verify().unwrap();
    assert_eq!(heap.stats().objects_shared, 11);
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(live.get(), 12);
}

#[test]
fn verifier_catches_a_shared_object_pointing_to_an_unshared_one() {
    let live = Live::default();
    let heap = heap_in(&Space::new(), &live);
    heap.mutate(|mc, root| {
        let s = mc.alloc(Item::new(1, &live));
        mc.share(s);
        link(mc, s, mc.alloc(Item::new(2, &live))); // store without sharing
        link(mc, *root, s);
    });
    let err = heap.verify().unwrap_err();
    assert!(err.to_string().contains("Invariant S"), "{err}");
}

#[test]
fn frozen_objects_refuse_writes() {
    let live = Live::default();
    let heap = heap_in(&Space::new(), &live);
    heap.mutate(|mc, root| {
        let c = chain(mc, &live, 1..4);
        assert_eq!(mc.freeze(c), 3);
        assert!(Gc::is_frozen(c));
        let err = Gc::try_write(mc, c).err().expect("frozen");
        assert!(err.to_string().starts_with("frozen object: cannot write to a frozen"), "{err}");
        link(mc, *root, c);
        // A frozen object may be shared afterwards; sharing stops at it.
        assert_eq!(mc.share(c), 0);
    });
    heap.verify().unwrap();
    assert_eq!(heap.stats().objects_frozen, 3);
}

#[test]
fn freeze_alone_freezes_one_new_object_of_frozen_parts_and_keeps_invariant_s() {
    let live = Live::default();
    let mut heap = heap_in(&Space::new(), &live);
    heap.mutate(|mc, root| {
        let parts = chain(mc, &live, 1..4);
        assert_eq!(mc.freeze(parts), 3);
        let whole = mc.alloc(Item::new(10, &live));
        link(mc, whole, parts);
        // SAFETY: `whole`'s one reference, `parts`, is frozen.
        unsafe { mc.freeze_alone(whole) };
        assert!(Gc::is_frozen(whole));
        assert!(Gc::try_write(mc, whole).is_err(), "frozen: writes refused");
        // Again: nothing to do.
        // SAFETY: as above.
        unsafe { mc.freeze_alone(whole) };
        link(mc, *root, whole);
    });
    heap.verify().unwrap();
    assert_eq!(heap.stats().objects_frozen, 4);
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(live.get(), 5, "the root and four frozen items, all reachable");
}

#[test]
#[should_panic(expected = "frozen object")]
fn write_to_a_frozen_object_panics() {
    let live = Live::default();
    let heap = heap_in(&Space::new(), &live);
    heap.mutate(|mc, root| {
        mc.freeze(*root);
        Gc::write(mc, *root);
    });
}

#[test]
fn local_collection_never_frees_shared_objects() {
    let live = Live::default();
    let space = Space::new();
    let mut heap = heap_in(&space, &live);
    heap.mutate(|mc, _| {
        let c = chain(mc, &live, 1..6);
        mc.share(c); // shared, but referenced by nothing
    });
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(live.get(), 6, "local collections leave shared objects to the shared collection");
    // SAFETY: the only heap of the space is not in use.
    unsafe { space.collect_shared() };
    heap.verify().unwrap();
    assert_eq!(live.get(), 1);
    assert_eq!(space.stats().objects_freed, 5);
}

/// A global root: one shared item.
struct Board;
impl Root for Board {
    type Of<'gc> = Gc<'gc, Item<'gc>>;
}

#[test]
fn heaps_share_through_a_global_and_the_shared_collection_respects_every_heap() {
    let live = Live::default();
    let space = Space::new();
    let (mut a, mut b) = (heap_in(&space, &live), heap_in(&space, &live));
    let board: Global<Board> = a.mutate(|mc, _| mc.make_global::<Board>(chain(mc, &live, 1..4)));
    // Heap b keeps the board's first item from its own (unshared) root.
    b.mutate(|mc, root| {
        // SAFETY: single-threaded test.
        let item = unsafe { mc.global(&board) };
        assert!(Gc::is_shared(item) && item.valid());
        link(mc, *root, item);
    });
    drop(board);
    // SAFETY: no heap is in use.
    unsafe { space.collect_shared() };
    a.verify().unwrap();
    b.verify().unwrap();
    assert_eq!(live.get(), 5, "the items stay: heap b refers to them");
    b.mutate(|mc, root| Gc::write(mc, *root).project(|n| &n.edges).borrow_mut().clear());
    // SAFETY: as above.
    unsafe { space.collect_shared() };
    assert_eq!(live.get(), 2, "unreferenced everywhere: freed");
    a.collect();
    b.collect();
}

#[test]
fn an_ended_heap_frees_its_local_objects_and_hands_shared_ones_to_the_space() {
    let live = Live::default();
    let space = Space::new();
    let keeper = heap_in(&space, &live);
    let board: Global<Board> = {
        let heap = heap_in(&space, &live);
        let board = heap.mutate(|mc, _| {
            chain(mc, &live, 100..200); // local garbage
            mc.make_global::<Board>(chain(mc, &live, 1..4))
        });
        assert_eq!(space.heaps(), 2);
        board
    };
    assert_eq!(space.heaps(), 1);
    assert_eq!(live.get(), 1 + 3, "local objects freed at once, shared ones adopted");
    let adopted = space.adopted_bytes();
    assert!(adopted > 0);
    keeper.mutate(|mc, root| {
        // SAFETY: single-threaded test.
        let item = unsafe { mc.global(&board) };
        assert!(item.valid());
        link(mc, *root, item);
    });
    drop(board);
    // SAFETY: no heap is in use.
    unsafe { space.collect_shared() };
    assert_eq!(live.get(), 4, "still referenced by the keeper");
    // Adoption counts the boxes alone (another thread may be resizing
    // their buffers); a stopped world's sweep measures the buffers too.
    let recounted = space.adopted_bytes();
    assert!(recounted > adopted, "the chain's edge buffers are counted: {recounted} after {adopted}");
    // SAFETY: no heap is in use.
    unsafe { space.collect_shared() };
    assert_eq!(space.adopted_bytes(), recounted, "the same survivors, the same count");
    keeper.mutate(|mc, root| Gc::write(mc, *root).project(|n| &n.edges).borrow_mut().clear());
    only_the_keeper_is_left(&space, keeper, &live);
    drop(space);
    assert_eq!(live.get(), 0, "nothing leaks");
}

/// After a shared collection only the keeper's root is alive, nothing is
/// adopted any more, and the keeper verifies; then it ends.
fn only_the_keeper_is_left(space: &Space, keeper: Heap<Items>, live: &Live) {
    // SAFETY: no heap is in use.
    unsafe { space.collect_shared() };
    assert_eq!(live.get(), 1);
    assert_eq!(space.adopted_bytes(), 0);
    keeper.verify().unwrap();
}

/// A shared board that several threads update: each slot holds one shared
/// item, behind a mutex (the thread-safety `Mutation::global` requires).
struct Slots<'gc> {
    slots: Vec<Mutex<Option<Gc<'gc, Item<'gc>>>>>,
}

// SAFETY: traces every slot.
unsafe impl Trace for Slots<'_> {
    fn trace(&self, t: &mut Tracer) {
        for slot in &self.slots {
            slot.lock().unwrap().trace(t);
        }
    }
}

struct SlotsRoot;
impl Root for SlotsRoot {
    type Of<'gc> = Gc<'gc, Slots<'gc>>;
}

/// A space whose heaps run on the threads of `world`, and in it a creator
/// heap that made a board of 16 empty slots global.
struct Boarded {
    live: Live,
    space: Space,
    world: Arc<World>,
    creator: Heap<Items>,
    board: Global<SlotsRoot>,
}

impl Boarded {
    fn new() -> Self {
        let (live, space) = (Live::default(), Space::new());
        let creator = heap_in(&space, &live);
        let board = creator.mutate(|mc, _| {
            let slots = (0..16).map(|_| Mutex::new(None)).collect();
            mc.make_global::<SlotsRoot>(mc.alloc(Slots { slots }))
        });
        Boarded { live, space, world: World::new(), creator, board }
    }
}

#[test]
fn heaps_on_several_threads_share_through_a_global_while_all_collect() {
    const THREADS: usize = 4;
    const ROUNDS: u64 = 300;
    let Boarded { live, space, world, creator, board } = Boarded::new();
    let checked = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS as u64)
        .map(|t| {
            let (space, world, board, live) = (space.clone(), world.clone(), board.clone(), live.clone());
            let (checked, start) = (checked.clone(), start.clone());
            thread::spawn(move || {
                let me = world.register();
                let mut heap = heap_in(&space, &live);
                start.wait();
                for round in 0..ROUNDS {
                    heap.mutate(|mc, root| {
                        // SAFETY: the board's slots are behind mutexes.
                        let slots = unsafe { mc.global(&board) };
                        let id = t * 1_000_000 + round;
                        let item = chain(mc, &live, id..id + 3);
                        mc.share(item);
                        let slot = &slots.slots[(id % 16) as usize];
                        let old = slot.lock().unwrap().replace(item);
                        if let Some(old) = old {
                            assert!(old.valid(), "a shared item was freed while referenced");
                            checked.fetch_add(1, Ordering::Relaxed);
                            if round % 7 == 0 {
                                link(mc, *root, old); // keep some from the local root
                            }
                        }
                        chain(mc, &live, 0..20); // local garbage
                    });
                    heap.collect_debt();
                    me.safe_point();
                    if t == 0 && round % 25 == 0 {
                        let stopped = me.stop_world();
                        // SAFETY: every heap's thread is stopped at its safe
                        // point, outside mutations.
                        unsafe { space.collect_shared() };
                        drop(stopped);
                    }
                }
                heap.collect();
                heap.verify().unwrap();
                // Leave the world before ending, so stops need not wait.
                drop(me);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(checked.load(Ordering::Relaxed) > 0);
    assert!(space.stats().collections.shared > 0, "shared collections ran");
    drop(board);
    // SAFETY: all other threads ended; the creator heap is idle.
    unsafe { space.collect_shared() };
    creator.verify().unwrap();
    drop(creator);
    drop(space);
    assert_eq!(live.get(), 0, "every item freed exactly once, nothing leaked");
}

#[test]
fn shared_collections_while_heaps_end_outside_the_world_keep_what_is_reachable_and_free_the_rest() {
    // One thread ends heaps outside the world (as a host thread whose heap
    // drops while it is not running Maat code) while another stops the
    // world and collects, each collection timed to run while a heap ends,
    // every other one leaving its sweeps to be done lazily: what the board
    // holds must survive, and every heap's garbage be freed once.
    const ROUNDS: u64 = 200;
    let Boarded { live, space, world, creator, board } = Boarded::new();
    // The round whose heap is about to end (from 1), and the last round the
    // collector is stopping the world for: each end starts once a stop is
    // on its way, so that the collection runs while the heap ends.
    let (ending, stopping) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let ender = {
        let (space, world, board, live) = (space.clone(), world.clone(), board.clone(), live.clone());
        let (ending, stopping) = (ending.clone(), stopping.clone());
        thread::spawn(move || {
            let me = world.register();
            for round in 0..ROUNDS {
                let heap = heap_in(&space, &live);
                heap.mutate(|mc, _| {
                    // SAFETY: the board's slots are behind mutexes.
                    let slots = unsafe { mc.global(&board) };
                    let item = chain(mc, &live, round * 10..round * 10 + 3);
                    mc.share(item);
                    let old = slots.slots[(round % 16) as usize].lock().unwrap().replace(item);
                    assert!(old.is_none_or(|old| old.valid()), "an item on the board was freed");
                    mc.share(chain(mc, &live, 0..500)); // shared garbage
                    chain(mc, &live, 0..5000); // local garbage: a long end
                });
                me.safe_point();
                ending.store(round + 1, Ordering::SeqCst);
                me.outside(|| {
                    while stopping.load(Ordering::SeqCst) <= round {
                        thread::yield_now();
                    }
                    drop(heap);
                });
            }
        })
    };
    let collector = {
        let (space, world) = (space.clone(), world.clone());
        thread::spawn(move || {
            let me = world.register();
            for round in 1..=ROUNDS {
                while ending.load(Ordering::SeqCst) < round {
                    me.outside(thread::yield_now);
                }
                stopping.store(round, Ordering::SeqCst);
                let stopped = me.stop_world();
                // SAFETY: the other thread is stopped at a safe point or
                // outside Maat code, and the creator heap is idle.
                unsafe { if round % 2 == 0 { space.collect_shared() } else { space.collect_shared_lazily() } };
                drop(stopped);
            }
        })
    };
    ender.join().unwrap();
    collector.join().unwrap();
    // SAFETY: all other threads ended; the creator heap is idle.
    unsafe { space.collect_shared() };
    creator.verify().unwrap();
    creator.mutate(|mc, _| {
        // SAFETY: single-threaded now.
        let slots = unsafe { mc.global(&board) };
        for slot in &slots.slots {
            let item = slot.lock().unwrap().expect("every slot was filled");
            assert!(item.valid() && item.edges.borrow()[0].edges.borrow()[0].valid());
        }
    });
    assert_eq!(live.get(), 1 + 16 * 3, "the creator's root and the board's chains; every heap's garbage freed");
    assert_eq!(space.stats().collections.shared, ROUNDS + 1, "a collection for each end, and the last");
    drop(board);
    drop(creator);
    drop(space);
    assert_eq!(live.get(), 0, "every item freed exactly once");
}

#[test]
fn a_transferred_subgraph_changes_hands_and_stays_alive_for_its_holder() {
    let live = Live::default();
    let space = Space::new();
    let (mut a, b) = (heap_in(&space, &live), heap_in(&space, &live));
    let b_id = b.id();
    let raw = a.mutate(|mc, root| {
        let c = chain(mc, &live, 1..4);
        let s = mc.alloc(Item::new(9, &live));
        mc.share(s);
        link(mc, c, s);
        link(mc, *root, c); // the sender keeps a stale reference
        assert_eq!(mc.transfer(c), Ok(3), "the shared item passes by reference");
        let any = maat_gc::GcAny::from(c);
        assert_eq!(any.holder(), Some(maat_gc::IN_TRANSIT));
        assert!(any.is_shared(), "global for the collector");
        assert_eq!(maat_gc::GcAny::from(s).holder(), None);
        any.as_raw()
    });
    a.collect();
    a.verify().unwrap();
    b.mutate(|mc, root| {
        // SAFETY: the object is global and alive (heap a's root refers to it).
        let any = unsafe { maat_gc::GcAny::from_raw(raw) };
        assert_eq!(mc.receive(any), 3);
        assert_eq!(any.holder(), Some(b_id));
        // SAFETY: the test allocated it as an Item.
        link(mc, *root, unsafe { any.downcast::<Item>() });
    });
    a.mutate(|mc, root| {
        let stale = maat_gc::GcAny::from(root.edges.borrow()[0]);
        assert_eq!(stale.holder(), Some(b_id));
        assert_eq!(mc.transfer(stale), Err(maat_gc::NotHolder { holder: b_id }), "the sender holds it no more");
        Gc::write(mc, *root).project(|n| &n.edges).borrow_mut().clear();
    });
    // SAFETY: no heap is in use.
    unsafe { space.collect_shared() };
    a.verify().unwrap();
    b.verify().unwrap();
    assert_eq!(live.get(), 6, "heap b's root keeps the transferred chain and what it refers to");
    b.mutate(|mc, root| {
        let held = root.edges.borrow()[0];
        assert_eq!(mc.share(held), 3, "sharing by the holder makes it plainly shared");
        assert_eq!(maat_gc::GcAny::from(held).holder(), None);
        Gc::write(mc, *root).project(|n| &n.edges).borrow_mut().clear();
    });
    // SAFETY: as above.
    unsafe { space.collect_shared() };
    assert_eq!(live.get(), 2, "unreferenced: freed by the shared collection");
}

#[test]
fn a_lazy_shared_collection_leaves_the_sweep_to_the_heap_safe_points() {
    let live = Live::default();
    let space = Space::new();
    let mut heap = heap_in(&space, &live);
    heap.mutate(|mc, root| {
        let kept = chain(mc, &live, 1..3);
        mc.share(kept);
        link(mc, *root, kept);
        mc.share(chain(mc, &live, 10..3000)); // garbage once shared
    });
    heap.collect(); // moves the shared objects to the LSO
    // SAFETY: the space's only heap is not in use.
    unsafe { space.collect_shared_lazily() };
    heap.verify().unwrap();
    assert_eq!(live.get(), 3 + 2990, "nothing freed yet: the sweep is the heap's");
    heap.collect_debt(); // one bounded part
    heap.verify().unwrap();
    let after_one = live.get();
    assert!(after_one < 3 + 2990 && after_one > 3, "a part freed: {after_one}");
    while live.get() > 3 {
        heap.collect_debt();
        heap.verify().unwrap();
    }
    assert!(heap.mutate(|_, root| root.edges.borrow()[0].valid()), "the reachable chain survived");
    // A new shared collection finishes a pending sweep first.
    heap.mutate(|mc, _| {
        mc.share(chain(mc, &live, 5000..5100));
    });
    heap.collect();
    // SAFETY: as above.
    unsafe { space.collect_shared_lazily() };
    // SAFETY: as above.
    unsafe { space.collect_shared() };
    assert_eq!(live.get(), 3);
    heap.verify().unwrap();
}

/// A heap that ends with its lazy sweep still pending hands the pending
/// objects to the space unswept (its mutex held for a splice, not a walk):
/// the other heaps' safe points sweep them a part at a time, with the mark
/// that judged them, and the next start sweeps what is left before it
/// flips the mark; the reachable ones are adopted.
#[test]
fn a_heap_that_ends_with_its_lazy_sweep_pending_leaves_it_to_the_space() {
    let live = Live::default();
    let space = Space::new();
    let mut keeper = heap_in(&space, &live);
    let kept: Global<Board> = {
        let mut heap = heap_in(&space, &live);
        let kept = heap.mutate(|mc, _| {
            mc.share(chain(mc, &live, 10..2010)); // garbage once shared
            mc.make_global::<Board>(chain(mc, &live, 1..4))
        });
        heap.collect(); // moves the shared objects to the LSO
        // SAFETY: no heap is in use.
        unsafe { space.collect_shared_lazily() };
        assert_eq!(space.lazy_sweeps_pending(), 1);
        assert_eq!(live.get(), 2 + 3 + 2000, "two roots, and nothing swept yet: the sweep is the heap's");
        kept
    };
    assert_eq!(space.lazy_sweeps_pending(), 0, "the ended heap's sweep is the space's now");
    assert_eq!(live.get(), 1 + 3 + 2000, "its root freed at once, its pending objects left unswept");
    keeper.collect_debt();
    let after_one = live.get();
    assert!(after_one > 4 && after_one < 2004, "a safe point swept a bounded part: {after_one}");
    keeper.verify().unwrap();
    keeper.mutate(|mc, root| {
        // SAFETY: single-threaded test.
        let item = unsafe { mc.global(&kept) };
        assert!(item.valid(), "the reachable chain was adopted, not freed");
        link(mc, *root, item);
    });
    drop(kept);
    // SAFETY: no heap is in use. The start sweeps the rest first.
    unsafe { space.collect_shared() };
    assert_eq!(live.get(), 4, "the garbage freed, the keeper's chain alive");
    let adopted = space.adopted_bytes();
    assert!(adopted > 0);
    // SAFETY: as above.
    unsafe { space.collect_shared() };
    assert_eq!(space.adopted_bytes(), adopted, "the same survivors, the same count");
    keeper.verify().unwrap();
    keeper.mutate(|mc, root| Gc::write(mc, *root).project(|n| &n.edges).borrow_mut().clear());
    only_the_keeper_is_left(&space, keeper, &live);
    drop(space);
    assert_eq!(live.get(), 0, "nothing leaks");
}

/// A lazy shared collection leaves the adopted objects unswept: the heaps'
/// safe points sweep them (freeing the unreachable, keeping the rest), and
/// a start sweeps what is left before it flips the mark.
#[test]
fn adopted_objects_are_swept_at_safe_points_after_a_lazy_shared_collection() {
    let live = Live::default();
    let space = Space::new();
    let mut keeper = heap_in(&space, &live);
    let (kept, dropped): (Global<Board>, Global<Board>) = {
        let heap = heap_in(&space, &live);
        heap.mutate(|mc, _| {
            (mc.make_global::<Board>(chain(mc, &live, 1..4)), mc.make_global::<Board>(chain(mc, &live, 10..12)))
        })
    };
    keeper.mutate(|mc, root| {
        // SAFETY: single-threaded test.
        let item = unsafe { mc.global(&kept) };
        link(mc, *root, item);
    });
    drop((kept, dropped));
    assert_eq!(live.get(), 1 + 3 + 2, "the keeper's root and two adopted chains");
    // SAFETY: no heap is in use.
    unsafe { space.collect_shared_lazily() };
    assert_eq!(live.get(), 6, "the marking is done, the adopted list not yet swept");
    keeper.collect_debt();
    assert_eq!(live.get(), 4, "the keeper's safe point freed the unreachable chain");
    assert!(space.adopted_bytes() > 0, "and kept the reachable one");
    keeper.mutate(|mc, root| Gc::write(mc, *root).project(|n| &n.edges).borrow_mut().clear());
    // SAFETY: as above; the second collection's start sweeps nothing left
    // over, its finish leaves the chain unswept again, and the third's
    // start sweeps it.
    unsafe { space.collect_shared_lazily() };
    assert_eq!(live.get(), 4);
    only_the_keeper_is_left(&space, keeper, &live);
    drop(space);
    assert_eq!(live.get(), 0, "nothing leaks");
}

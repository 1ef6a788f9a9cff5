//! Objects with a tail ([`maat_gc::Tailed`]): items allocated in the same box
//! as their head keep what they reference alive, are traced in every mode,
//! and are freed with the layout they were allocated with (the byte counts
//! balance; memcheck sees no bad free).

mod common;

use std::cell::Cell;

use common::{Node, live};
use maat_gc::{Config, Gc, Head, Heap, Mode, RefLock, Root, Tailed, Trace, Tracer};

thread_local! {
    /// Heads alive on this thread.
    static HEADS: Cell<i64> = const { Cell::new(0) };
}

fn heads() -> i64 {
    HEADS.with(Cell::get)
}

/// A head that counts itself, over a tail of node references.
struct Bag<'gc> {
    tag: u64,
    _nodes: core::marker::PhantomData<Gc<'gc, Node<'gc>>>,
}

impl Bag<'_> {
    fn new(tag: u64) -> Self {
        HEADS.with(|h| h.set(h.get() + 1));
        Bag { tag, _nodes: core::marker::PhantomData }
    }
}

impl Drop for Bag<'_> {
    fn drop(&mut self) {
        HEADS.with(|h| h.set(h.get() - 1));
    }
}

// SAFETY: traces every item; the head holds no reference, and its `Drop`
// touches none.
unsafe impl<'gc> Head for Bag<'gc> {
    type Item = Gc<'gc, Node<'gc>>;

    fn trace(&self, items: &[Self::Item], tracer: &mut Tracer) {
        for item in items {
            item.trace(tracer);
        }
    }
}

/// The root: the bags kept alive.
#[derive(Trace)]
struct Bags<'gc> {
    bags: RefLock<Vec<Gc<'gc, Tailed<Bag<'gc>>>>>,
}

struct Holder;
impl Root for Holder {
    type Of<'gc> = Gc<'gc, Bags<'gc>>;
}

fn new_heap(config: Config) -> Heap<Holder> {
    Heap::<Holder>::new(config, |mc| mc.alloc(Bags { bags: RefLock::new(Vec::new()) }))
}

/// Allocates a bag of `len` fresh nodes (ids `tag + i`), kept by the root
/// if `keep`.
fn add_bag(heap: &mut Heap<Holder>, tag: u64, len: usize, keep: bool) {
    heap.mutate(|mc, root| {
        let bag = mc.alloc_tailed(Bag::new(tag), len, |i| mc.alloc(Node::new(tag + i as u64)), 0);
        if keep {
            Gc::write(mc, *root).project(|r| &r.bags).borrow_mut().push(bag);
        }
    });
}

/// Each kept bag's tag and its items' ids.
fn contents(heap: &mut Heap<Holder>) -> Vec<(u64, Vec<u64>)> {
    heap.mutate(|_, root| {
        let bags = root.bags.borrow();
        bags.iter().map(|b| (b.head().tag, b.items().iter().map(|n| n.id).collect())).collect()
    })
}

const LENGTHS: [usize; 6] = [0, 1, 3, 7, 29, 100];

#[test]
fn items_keep_their_references_alive_in_every_mode() {
    for (mode, torture) in [(Mode::Incremental, false), (Mode::Generational, false), (Mode::Incremental, true)] {
        let mut heap = new_heap(Config { mode, torture, ..Config::default() });
        for (n, &len) in LENGTHS.iter().enumerate() {
            let tag = 1000 * n as u64;
            add_bag(&mut heap, tag, len, true);
            add_bag(&mut heap, tag + 500, len, false);
            heap.collect_debt();
            heap.verify().unwrap();
        }
        heap.collect();
        heap.collect();
        heap.verify().unwrap();
        let kept = contents(&mut heap);
        assert_eq!(kept.len(), LENGTHS.len());
        for ((tag, ids), &len) in kept.iter().zip(&LENGTHS) {
            assert_eq!(*ids, (0..len as u64).map(|i| tag + i).collect::<Vec<_>>(), "{mode:?}");
        }
        let items: usize = LENGTHS.iter().sum();
        assert_eq!(live(), items as i64, "the dropped bags' items are freed, the kept ones' live ({mode:?})");
        assert_eq!(heads(), LENGTHS.len() as i64, "each dropped head is dropped once ({mode:?})");
        drop(heap);
        assert_eq!((live(), heads()), (0, 0));
    }
}

#[test]
fn freed_tails_balance_the_byte_counts() {
    let mut heap = new_heap(Config::default());
    let base = heap.stats();
    for round in 0..50u64 {
        for &len in &LENGTHS {
            add_bag(&mut heap, round * 1000, len, false);
        }
        heap.collect();
    }
    let stats = heap.stats();
    let allocated = stats.bytes_allocated - base.bytes_allocated;
    assert!(allocated > 0);
    assert_eq!(
        stats.bytes_freed - base.bytes_freed,
        allocated,
        "every byte a tailed object counted at allocation is counted again when it is freed"
    );
    assert_eq!((live(), heads()), (0, 0));
}

//! Weak references to global objects (`Mutation::upgrade_weak`): a table
//! the collector does not trace, emptied by its objects' `Drop`, never
//! hands out an object a shared collection condemned, and revives one found
//! during a marking.

use core::ptr::NonNull;
use std::sync::Mutex;

use maat_gc::{Config, Gc, GcAny, Heap, Mutation, Root, Space, Sweep, Trace};

/// A weak table: entry addresses, locked; `Entry::drop` removes its own.
static TABLE: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// A leaf object that a table refers to weakly. Its `Drop` touches no `Gc`.
#[derive(Trace)]
#[trace(unsafe_drop)]
struct Entry {
    id: u64,
}

impl Drop for Entry {
    fn drop(&mut self) {
        let me = self as *const Entry as usize;
        TABLE.lock().unwrap().retain(|&e| e != me);
    }
}

/// The root holds at most one entry.
struct Holder;
impl Root for Holder {
    type Of<'gc> = Option<Gc<'gc, Entry>>;
}

/// Allocates a shared entry and registers it in the table. The address
/// recorded is the handle's; `Entry::drop` compares the value's, so the
/// table keeps both forms apart through `as_raw` and `as_ptr`.
fn new_entry<'gc>(mc: &Mutation<'gc>, id: u64) -> Gc<'gc, Entry> {
    let e = mc.alloc(Entry { id });
    mc.share(e);
    TABLE.lock().unwrap().push(Gc::as_ptr(e) as usize);
    e
}

/// Looks `e` up as a table would: under the table's lock.
fn upgrade<'gc>(mc: &Mutation<'gc>, raw: NonNull<()>, value: usize) -> Option<GcAny<'gc>> {
    let table = TABLE.lock().unwrap();
    if !table.contains(&value) {
        return None;
    }
    // SAFETY: `raw` names a shared object of this space; the table's lock
    // is held, and `Entry::drop` removes entries under it before release.
    unsafe { mc.upgrade_weak(raw) }
}

fn heap(space: &Space) -> Heap<Holder> {
    Heap::<Holder>::new_in(space, Config::default(), |_| None)
}

#[test]
fn weak_references_follow_the_shared_collections() {
    let space = Space::new();
    let mut heap = heap(&space);
    let (raw, value) = heap.mutate(|mc, _| {
        let e = new_entry(mc, 7);
        (GcAny::from(e).as_raw(), Gc::as_ptr(e) as usize)
    });
    let alive = |heap: &Heap<Holder>| heap.mutate(|mc, _| upgrade(mc, raw, value).is_some());
    assert!(alive(&heap), "a new global object is alive");

    // A marking revives what a lookup finds: the root takes it back.
    // SAFETY: the space's only heap is between mutations.
    unsafe { space.start_shared_collection() };
    heap.collect_debt();
    heap.mutate_root(|mc, root| {
        // SAFETY: kind-free test objects: the entry is an `Entry`.
        *root = upgrade(mc, raw, value).map(|o| unsafe { o.downcast::<Entry>() });
        assert!(root.is_some(), "found during the marking");
    });
    heap.mutate_root(|_, root| *root = None);
    // SAFETY: as above.
    unsafe { space.finish_shared_collection(Sweep::Lazily) };
    heap.collect_debt();
    assert_eq!(TABLE.lock().unwrap().len(), 1, "the revived entry survived the cycle");
    assert!(alive(&heap));

    // Unreachable now: the next marking condemns it; until its sweep the
    // table still has it, but an upgrade refuses it.
    // SAFETY: as above.
    unsafe { space.start_shared_collection() };
    heap.collect_debt();
    // SAFETY: as above.
    unsafe { space.finish_shared_collection(Sweep::Lazily) };
    assert_eq!(TABLE.lock().unwrap().len(), 1, "not swept yet");
    assert!(!alive(&heap), "a condemned object is never handed out");
    heap.collect_debt();
    assert!(TABLE.lock().unwrap().is_empty(), "its sweep removed the entry");

    let id = heap.mutate(|mc, _| Gc::get(new_entry(mc, 8)).id);
    assert_eq!(id, 8);
    drop(heap);
    drop(space);
    assert!(TABLE.lock().unwrap().is_empty(), "the space's end freed the rest");
}

//! The string table: a short text is one string per runtime (space), never
//! another runtime's; long texts are not interned; a string freed by a
//! shared collection is made again when its text comes back.

use maat_gc::{Config, Gc, Heap, Root, Space};
use maat_sync::World;
use maat_vm::object::string::Str;
use maat_vm::object::{Ctx, SyncStats};

/// A heap whose root keeps one string (or none).
struct Kept;
impl Root for Kept {
    type Of<'gc> = Option<Gc<'gc, Str>>;
}

fn heap(space: &Space) -> Heap<Kept> {
    Heap::<Kept>::new_in(space, Config::default(), |_| None)
}

/// The address of the string `text` made in `heap`, which keeps it.
fn make(heap: &mut Heap<Kept>, text: &str) -> usize {
    let (world, stats) = (World::new(), SyncStats::default());
    heap.mutate_root(|mc, kept| {
        let s = Str::alloc(&Ctx { mc, mode: world.mode(), stats: &stats }, text);
        *kept = Some(s);
        Gc::as_ptr(s) as usize
    })
}

#[test]
fn a_short_text_is_one_string_per_runtime() {
    let (space_a, space_b) = (Space::new(), Space::new());
    let (mut a1, mut a2, mut b) = (heap(&space_a), heap(&space_a), heap(&space_b));
    let short = "a key of some length";
    assert_eq!(make(&mut a1, short), make(&mut a2, short), "one string for the runtime's heaps");
    assert_ne!(make(&mut a1, short), make(&mut b, short), "never another runtime's");
    let long = "a text longer than forty bytes, not interned";
    assert_ne!(make(&mut a1, long), make(&mut a2, long), "long texts are not interned");
}

#[test]
fn a_collected_string_is_made_again() {
    let space = Space::new();
    let mut h = heap(&space);
    let text = "short-lived";
    make(&mut h, text);
    assert_eq!(h.stats().objects_allocated, 1);
    make(&mut h, text);
    assert_eq!(h.stats().objects_allocated, 1, "found, not made");
    h.mutate_root(|_, kept| *kept = None);
    for _ in 0..2 {
        // SAFETY: the space's only heap is between mutations.
        unsafe { space.collect_shared() };
    }
    assert_eq!(space.stats().objects_freed, 1, "the unreachable string was freed");
    make(&mut h, text);
    assert_eq!(h.stats().objects_allocated, 2, "and made again");
}

/// A string keeps its text whatever its length (one box, pooled up to
/// 4 KiB, larger ones not), says whether it is ASCII, and its hash is the
/// text's (the flags kept beside it do not show).
#[test]
fn texts_of_every_length_keep_their_text_hash_and_ascii_flag() {
    let (world, stats) = (World::new(), SyncStats::default());
    let mut h = heap(&Space::new());
    let texts: Vec<String> = [0, 1, 16, 17, 40, 41, 1024, 4000, 5000]
        .into_iter()
        .flat_map(|n| ["x".repeat(n), format!("é{}", "y".repeat(n))])
        .collect();
    let long = texts.iter().filter(|t| t.len() > maat_vm::object::intern::MAX_SHORT).count() as u64;
    for round in 0..2u64 {
        for text in &texts {
            h.mutate_root(|mc, kept| {
                let s = Gc::get(Str::alloc(&Ctx { mc, mode: world.mode(), stats: &stats }, text));
                assert_eq!(s.as_str(), text);
                assert_eq!(s.is_ascii(), text.is_ascii(), "{text:?}");
                assert_eq!(s.hash_code(), maat_vm::object::intern::hash(text));
                *kept = None;
            });
        }
        // The long (not interned) strings are freed here, and the second
        // round takes their boxes back from the pool.
        h.collect();
        assert_eq!(h.stats().objects_freed, (round + 1) * long, "the long strings of each round");
    }
}

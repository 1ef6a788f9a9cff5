//! What the tests of stores into old containers share: a generational heap
//! that makes no major collection of its own, and rounds of stores each
//! followed by the minor collections that age what they stored.

use maat_gc::{Config, Heap, Mode, Params, Root};

/// Generational mode without major collections once the heap is past its
/// first few kilobytes (a major collection would traverse an old
/// container again, and the test would no longer see its barrier).
pub fn config() -> Config {
    let params = Params { major_multiplier: 100_000, ..Params::default() };
    Config { mode: Mode::Generational, params, ..Config::default() }
}

/// Makes `heap`'s objects old, then runs `round(heap, r)` six times, each
/// followed by three collections (what a round stored is young, then
/// surviving, then old) and a check of the heap's invariants; asserts that
/// they were all minor collections.
pub fn through_minors<R: Root>(heap: &mut Heap<R>, mut round: impl FnMut(&Heap<R>, i32)) {
    heap.collect();
    let majors = heap.stats().collections.major;
    for r in 0..6 {
        round(heap, r);
        for _ in 0..3 {
            heap.step();
            heap.verify().unwrap();
        }
    }
    let collections = heap.stats().collections;
    assert_eq!(collections.major, majors, "no major collection traversed the container again");
    assert!(collections.minor >= 15, "{} minor collections", collections.minor);
}

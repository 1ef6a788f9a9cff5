//! Untyped handles: a root of mixed kinds survives collections, downcasts by
//! kind, round-trips through raw bits, and shares like a typed handle.

use maat_gc::{Config, Gc, GcAny, Heap, RefLock, Root};

const NUMBER: u8 = 1;
const TEXT: u8 = 2;
const LINE: u8 = 3;

/// A value that wants a cache line of its own.
#[repr(align(64))]
struct Line(u64);

// SAFETY: holds no references.
unsafe impl maat_gc::Trace for Line {
    const NEEDS_TRACE: bool = false;
    fn trace(&self, _: &mut maat_gc::Tracer) {}
}

struct Mixed;
impl Root for Mixed {
    type Of<'gc> = Gc<'gc, RefLock<Vec<GcAny<'gc>>>>;
}

fn describe(v: GcAny<'_>) -> String {
    // SAFETY: each allocation's kind names its type.
    unsafe {
        match v.kind() {
            NUMBER => format!("number {}", *v.downcast::<u64>()),
            TEXT => format!("text {}", *v.downcast::<String>()),
            LINE => format!("line {}", v.downcast::<Line>().0),
            k => format!("kind {k}"),
        }
    }
}

#[test]
fn mixed_values_survive_and_downcast_by_kind() {
    let mut heap = Heap::<Mixed>::new(Config::default(), |mc| mc.alloc(RefLock::new(Vec::new())));
    heap.mutate(|mc, list| {
        let w = Gc::write(mc, *list);
        let mut items = w.borrow_mut();
        items.push(mc.alloc_kind(7u64, NUMBER).into());
        items.push(mc.alloc_kind(String::from("seven"), TEXT).into());
        mc.alloc_kind(String::from("garbage"), TEXT);
    });
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(heap.stats().objects_freed, 1);
    let seen = heap.mutate(|_, list| list.borrow().iter().map(|v| describe(*v)).collect::<Vec<_>>());
    assert_eq!(seen, ["number 7", "text seven"]);
}

#[test]
fn raw_bits_round_trip_and_sharing_works_untyped() {
    let heap = Heap::<Mixed>::new(Config::default(), |mc| mc.alloc(RefLock::new(Vec::new())));
    heap.mutate(|mc, _| {
        let v: GcAny<'_> = mc.alloc_kind(41u64, NUMBER).into();
        let bits = v.as_raw().as_ptr() as usize;
        // SAFETY: the bits come from a handle of this mutation.
        let back = unsafe { GcAny::from_raw(std::ptr::NonNull::new(bits as *mut ()).unwrap()) };
        assert_eq!(back, v);
        assert_eq!(describe(back), "number 41");
        assert!(!v.is_shared());
        assert_eq!(mc.share(v), 1);
        assert!(v.is_shared() && !v.is_frozen());
        mc.freeze(v);
        assert!(v.is_frozen());
    });
}

#[test]
fn over_aligned_values_are_allocated_at_their_alignment() {
    let mut heap = Heap::<Mixed>::new(Config::default(), |mc| mc.alloc(RefLock::new(Vec::new())));
    heap.mutate(|mc, list| {
        let w = Gc::write(mc, *list);
        let mut items = w.borrow_mut();
        for i in 0..100 {
            let line = mc.alloc_kind(Line(i), LINE);
            assert_eq!(Gc::as_ptr(line).addr() % 64, 0, "a value aligned to 64 starts a line");
            if i % 2 == 0 {
                items.push(line.into());
            }
        }
    });
    heap.collect();
    heap.verify().unwrap();
    assert_eq!(heap.stats().objects_freed, 50);
    let seen = heap.mutate(|_, list| list.borrow().iter().map(|v| describe(*v)).collect::<Vec<_>>());
    assert_eq!(seen, (0..100).step_by(2).map(|i| format!("line {i}")).collect::<Vec<_>>());
}

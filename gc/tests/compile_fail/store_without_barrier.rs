// A RefLock inside an object can only be borrowed mutably through
// `Gc::write`, which runs the write barrier.
use maat_gc::{Config, Gc, Heap, RefLock, Root};

struct List;
impl Root for List {
    type Of<'gc> = Gc<'gc, RefLock<Vec<Gc<'gc, u32>>>>;
}

fn main() {
    let heap = Heap::<List>::new(Config::default(), |mc| mc.alloc(RefLock::new(Vec::new())));
    heap.mutate(|mc, list| {
        let n = mc.alloc(1u32);
        list.borrow_mut().push(n);
    });
}

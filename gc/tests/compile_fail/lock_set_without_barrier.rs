// A Lock inside an object can only be set through `Gc::write`.
use maat_gc::{Config, Gc, Heap, Lock, Root};

struct Cell;
impl Root for Cell {
    type Of<'gc> = Gc<'gc, Lock<Option<Gc<'gc, u32>>>>;
}

fn main() {
    let heap = Heap::<Cell>::new(Config::default(), |mc| mc.alloc(Lock::new(None)));
    heap.mutate(|mc, cell| {
        let n = mc.alloc(1u32);
        cell.set(Some(n));
    });
}

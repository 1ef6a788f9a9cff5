// A handle of one heap cannot be stored into an object of another.
use maat_gc::{Config, Gc, Heap, Lock, Root};

struct Cell;
impl Root for Cell {
    type Of<'gc> = Gc<'gc, Lock<Option<Gc<'gc, u32>>>>;
}

fn main() {
    let a = Heap::<Cell>::new(Config::default(), |mc| mc.alloc(Lock::new(None)));
    let b = Heap::<Cell>::new(Config::default(), |mc| mc.alloc(Lock::new(None)));
    a.mutate(|mc_a, cell_a| {
        b.mutate(|mc_b, _| {
            let foreign = mc_b.alloc(7u32);
            Gc::write(mc_a, *cell_a).set(Some(foreign));
        });
    });
}

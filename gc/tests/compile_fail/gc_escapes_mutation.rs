// A handle cannot outlive the mutation it was made in (it would survive a
// collection).
use maat_gc::{Config, Heap, Root};

struct Unit;
impl Root for Unit {
    type Of<'gc> = ();
}

fn main() {
    let heap = Heap::<Unit>::new(Config::default(), |_| ());
    let leaked = heap.mutate(|mc, _| mc.alloc(1u32));
    let _ = leaked;
}

// A handle cannot be sent to another thread.
use maat_gc::{Config, Heap, Root};

struct Unit;
impl Root for Unit {
    type Of<'gc> = ();
}

fn main() {
    let heap = Heap::<Unit>::new(Config::default(), |_| ());
    heap.mutate(|mc, _| {
        let gc = mc.alloc(1u32);
        std::thread::spawn(move || {
            let moved = gc;
            drop(moved);
        });
    });
}

//! What the object tests share: the operation context, and a space of heaps
//! on several OS threads in multi-threaded mode.

use std::sync::{Arc, Barrier};
use std::thread;

use maat_gc::{Config, Heap, Mutation, Root, Space};
use maat_sync::{Mode, Participant, ThreadMode, World};
use maat_vm::object::{Ctx, SyncStats};

/// The context of object operations.
pub fn ctx<'a, 'gc>(mc: &'a Mutation<'gc>, mode: &'a ThreadMode, stats: &'a SyncStats) -> Ctx<'a, 'gc> {
    Ctx { mc, mode, stats }
}

/// A heap whose root holds nothing.
pub struct Nothing;
impl Root for Nothing {
    type Of<'gc> = ();
}

/// A space whose heaps run on several OS threads, in multi-threaded mode,
/// with one idle heap (the creator) that builds the shared objects.
pub struct Threads {
    pub space: Space,
    pub world: Arc<World>,
    pub creator: Heap<Nothing>,
    pub stats: SyncStats,
}

impl Threads {
    pub fn new() -> Self {
        let (space, world) = (Space::new(), World::new());
        world.register().stop_world().set_thread_mode(Mode::Multi);
        let creator = Heap::<Nothing>::new_in(&space, Config::default(), |_| ());
        Threads { space, world, creator, stats: SyncStats::default() }
    }

    /// Runs `body(t, heap, participant, stats)` on `n` threads started
    /// together, each with its own heap in the space; returns their results.
    pub fn run<R: Send + 'static>(
        &self,
        n: usize,
        body: impl Fn(usize, &mut Heap<Nothing>, &Participant, &SyncStats) -> R + Send + Sync + 'static,
    ) -> Vec<R> {
        let (body, start) = (Arc::new(body), Arc::new(Barrier::new(n)));
        let handles: Vec<_> = (0..n)
            .map(|t| {
                let (space, world, body, start) = (self.space.clone(), self.world.clone(), body.clone(), start.clone());
                thread::spawn(move || {
                    let me = world.register();
                    let stats = SyncStats::default();
                    let mut heap = Heap::<Nothing>::new_in(&space, Config::default(), |_| ());
                    start.wait();
                    let result = body(t, &mut heap, &me, &stats);
                    heap.verify().unwrap();
                    drop(me);
                    result
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }
}

//! Safe points: the barrier that stops every thread running Maat code, and the
//! token that proves it.
//!
//! Every OS thread that runs Maat code holds a [`Participant`] of the
//! runtime's [`World`]. A participant is *running* (it may be inside an object
//! operation) unless it is stopped at a safe point or inside
//! [`Participant::outside`] (blocked, idle, in native code that touches no
//! Maat object). [`Participant::stop_world`] waits until no other participant
//! is running and returns a [`StoppedWorld`]: the only way to change the
//! thread mode, and the natural place for a global GC handshake.
//!
//! # State machine (under `World::barrier`)
//!
//! ```text
//!   running: number of running participants
//!   stopping: a stop is requested or in progress (mirrored, for the polling
//!             fast path, in the `stop_requested` atomic)
//!
//!   safe_point:  stopping ? running -= 1, wait until !stopping, running += 1
//!   outside(f):  running -= 1, f(), wait until !stopping, running += 1
//!   stop_world:  (while another stop is in progress, behave as a safe point)
//!                stopping = true, running -= 1, wait until running == 0
//!   try_stop_world: stopping ? behave as a safe point, give up : stop_world
//!   drop token:  stopping = false, running += 1, wake everyone
//! ```
//!
//! # Ordering
//!
//! Every transition happens under the barrier's mutex. A thread that stops
//! releases the mutex after its last write; the stopping thread acquires it
//! before it sees `running == 0`, so it observes everything the others wrote
//! before stopping. Symmetrically, whatever the stopping thread writes while
//! the world is stopped (the thread-mode flag, GC state) is released with the
//! mutex when the token drops and acquired by each thread as it resumes.
//! `stop_requested` is only a hint for the fast path: a stale `false` merely
//! delays the stop until that thread's next safe point, since the stopping
//! thread keeps waiting for it; so it is read and written `Relaxed`.

use core::cell::Cell;
use core::marker::PhantomData;
use std::sync::Arc;

use crate::mode::{Mode, ThreadMode};
use crate::shim::{AtomicBool, Condvar, Mutex, MutexGuard, Ordering};

/// The runtime-wide synchronization state: the thread mode and the
/// safe-point barrier.
#[derive(Debug)]
pub struct World {
    mode: ThreadMode,
    stop_requested: AtomicBool,
    barrier: Mutex<Barrier>,
    changed: Condvar,
}

#[derive(Debug)]
struct Barrier {
    running: usize,
    stopping: bool,
}

/// A thread's membership in a [`World`]. Send (a pool thread may be handed
/// its participant) but not Sync: each thread polls only its own.
#[derive(Debug)]
pub struct Participant {
    world: Arc<World>,
    _not_sync: PhantomData<Cell<()>>,
}

/// Proof that every other participant is stopped at a safe point or outside
/// Maat code. Dropping it resumes them.
#[must_use = "the world resumes as soon as the token is dropped"]
#[derive(Debug)]
pub struct StoppedWorld<'a> {
    participant: &'a Participant,
}

impl World {
    /// A new world, single-threaded, with no participant.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            mode: ThreadMode::new(),
            stop_requested: AtomicBool::new(false),
            barrier: Mutex::new(Barrier { running: 0, stopping: false }),
            changed: Condvar::new(),
        })
    }

    /// The thread-mode flag, read by every object operation.
    #[inline]
    pub fn mode(&self) -> &ThreadMode {
        &self.mode
    }

    /// Makes the calling thread a running participant, waiting first if a stop
    /// is in progress.
    pub fn register(self: &Arc<Self>) -> Participant {
        let barrier = self.wait_until_resumed(self.barrier.lock());
        self.enter(barrier);
        Participant { world: Arc::clone(self), _not_sync: PhantomData }
    }

    fn wait_until_resumed<'a>(&self, mut barrier: MutexGuard<'a, Barrier>) -> MutexGuard<'a, Barrier> {
        while barrier.stopping {
            barrier = self.changed.wait(barrier);
        }
        barrier
    }

    fn enter(&self, mut barrier: MutexGuard<'_, Barrier>) {
        barrier.running += 1;
    }

    fn leave(&self, barrier: &mut MutexGuard<'_, Barrier>) {
        barrier.running -= 1;
        self.changed.notify_all();
    }

    /// Stops the calling (running) participant until the current stop ends.
    fn pause<'a>(&self, mut barrier: MutexGuard<'a, Barrier>) -> MutexGuard<'a, Barrier> {
        self.leave(&mut barrier);
        let mut barrier = self.wait_until_resumed(barrier);
        barrier.running += 1;
        barrier
    }
}

impl Participant {
    /// The world this thread belongs to.
    #[inline]
    pub fn world(&self) -> &World {
        &self.world
    }

    /// A safe point: if a stop is requested, wait here until it ends. Call it
    /// where the thread holds no object lock and its roots are in order.
    #[inline]
    pub fn safe_point(&self) {
        // Relaxed: a hint only; see the module doc.
        if self.world.stop_requested.load(Ordering::Relaxed) {
            self.stop_here();
        }
    }

    #[cold]
    fn stop_here(&self) {
        let world = &*self.world;
        let barrier = world.barrier.lock();
        if barrier.stopping {
            drop(world.pause(barrier));
        }
    }

    /// Runs `f` outside Maat code: the world may stop while `f` runs, and on
    /// return the thread waits for any stop in progress to end. `f` must not
    /// touch Maat objects (it blocks, sleeps, waits for work, calls native code).
    pub fn outside<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Reenter<'a>(&'a World);
        impl Drop for Reenter<'_> {
            fn drop(&mut self) {
                let barrier = self.0.wait_until_resumed(self.0.barrier.lock());
                self.0.enter(barrier);
            }
        }
        let world = &*self.world;
        world.leave(&mut world.barrier.lock());
        let _reenter = Reenter(world);
        f()
    }

    /// Waits until every other participant is stopped and returns the proof.
    /// If another thread is stopping the world, this first stops for it.
    pub fn stop_world(&self) -> StoppedWorld<'_> {
        let world = &*self.world;
        let mut barrier = world.barrier.lock();
        while barrier.stopping {
            barrier = world.pause(barrier);
        }
        self.stop(barrier)
    }

    /// [`Participant::stop_world`], unless another thread is stopping the
    /// world: then this one stops for it, as at a safe point, and returns
    /// `None` once it has resumed, having seen everything written in that
    /// stop. For stops another thread's may have made needless (two workers
    /// that both find a collection due): the caller looks again instead of
    /// waiting for every other thread a second time, which costs a whole
    /// slice of the slowest of them.
    pub fn try_stop_world(&self) -> Option<StoppedWorld<'_>> {
        let world = &*self.world;
        let barrier = world.barrier.lock();
        if barrier.stopping {
            drop(world.pause(barrier));
            return None;
        }
        Some(self.stop(barrier))
    }

    /// Requests the stop (none is in progress) and waits for the others.
    fn stop<'a>(&'a self, mut barrier: MutexGuard<'_, Barrier>) -> StoppedWorld<'a> {
        let world = &*self.world;
        barrier.stopping = true;
        world.stop_requested.store(true, Ordering::Relaxed);
        barrier.running -= 1;
        while barrier.running > 0 {
            barrier = world.changed.wait(barrier);
        }
        StoppedWorld { participant: self }
    }
}

impl Drop for Participant {
    fn drop(&mut self) {
        self.world.leave(&mut self.world.barrier.lock());
    }
}

impl StoppedWorld<'_> {
    /// The stopped world.
    pub fn world(&self) -> &World {
        self.participant.world()
    }

    /// Switches the runtime between single- and multi-threaded mode. Only
    /// possible here, with every other participant stopped.
    pub fn set_thread_mode(&self, mode: Mode) {
        self.world().mode.set(mode);
    }
}

impl Drop for StoppedWorld<'_> {
    fn drop(&mut self) {
        let world = self.world();
        let mut barrier = world.barrier.lock();
        barrier.stopping = false;
        world.stop_requested.store(false, Ordering::Relaxed);
        barrier.running += 1;
        world.changed.notify_all();
    }
}

//! Waking without losing a wake-up: the cell where a suspended task (a
//! maatine) waits, and the idle protocol of a pool's worker threads.
//!
//! # ParkCell
//!
//! ```text
//!   Running { woken } | Parked(task) | Gone
//!
//!   wake:   Parked(t)         -> Running { false }, resume(t) under the mutex
//!           Running { _ }     -> Running { true }    (woken before parking)
//!           Gone              -> Gone
//!   park:   Running { true }  -> Running { false }, the task comes back
//!           Running { false } -> Parked(task), parked() under the mutex
//!   take:   anything          -> Gone (the runtime ends)
//! ```
//!
//! A task queues its waker somewhere, finds it must wait, and then parks. A
//! wake-up that comes in between finds the cell `Running` and leaves `woken`,
//! which `park` consumes: the task runs on instead of parking. Every
//! transition holds the cell's mutex, so each wake-up either resumes the
//! parked task or is seen by the next `park`: exactly one party runs the
//! task, in every interleaving (loom model `park_cell_*`).
//!
//! # Idle
//!
//! Workers that find no task sleep on a condition variable; whoever queues
//! work notifies one. A worker announces itself (`sleepers += 1`, SeqCst)
//! and then looks for work once more, under the idle mutex, before waiting;
//! a producer queues its work, issues a SeqCst fence and reads `sleepers`,
//! notifying under the mutex when it is not zero. By the SeqCst total order
//! either the worker's second look sees the work or the producer sees the
//! sleeper, and the notification cannot slip in between the look and the
//! wait because both hold the mutex (loom model `idle_*`). The producer's
//! queue must make its push visible to a later SeqCst-ordered look (the
//! crossbeam-deque queues the VM uses do: pushes are Release stores and the
//! fence orders them before the read of `sleepers`).

use crate::shim::{AtomicUsize, Condvar, Mutex, Ordering, fence};

enum Parking<T> {
    Running { woken: bool },
    Parked(T),
    Gone,
}

/// Where a suspended task waits to be woken (see the module documentation).
pub struct ParkCell<T> {
    state: Mutex<Parking<T>>,
}

impl<T> Default for ParkCell<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> ParkCell<T> {
    /// A cell whose task is running.
    pub fn new() -> Self {
        ParkCell { state: Mutex::new(Parking::Running { woken: false }) }
    }

    /// Parks `task` unless it was woken since it last parked, in which case
    /// it comes back to run on. `parked` runs under the cell's mutex once the
    /// task is parked.
    pub fn park(&self, task: T, parked: impl FnOnce()) -> Option<T> {
        let mut state = self.state.lock();
        if let Parking::Running { woken } = &mut *state {
            if *woken {
                *woken = false;
                return Some(task);
            }
        }
        *state = Parking::Parked(task);
        parked();
        None
    }

    /// Wakes the task: `resume` gets it (under the cell's mutex) if it is
    /// parked; otherwise its next `park` returns at once.
    pub fn wake(&self, resume: impl FnOnce(T)) {
        let mut state = self.state.lock();
        match core::mem::replace(&mut *state, Parking::Running { woken: false }) {
            Parking::Parked(task) => resume(task),
            Parking::Running { .. } => *state = Parking::Running { woken: true },
            Parking::Gone => *state = Parking::Gone,
        }
    }

    /// `f` applied to the parked task, if the task is parked.
    pub fn inspect<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        match &*self.state.lock() {
            Parking::Parked(task) => f(Some(task)),
            _ => f(None),
        }
    }

    /// Takes the parked task out for good; later wake-ups do nothing.
    pub fn take(&self) -> Option<T> {
        match core::mem::replace(&mut *self.state.lock(), Parking::Gone) {
            Parking::Parked(task) => Some(task),
            _ => None,
        }
    }
}

/// The idle protocol of a pool of workers (see the module documentation).
#[derive(Default)]
pub struct Idle {
    lock: Mutex<()>,
    wakeup: Condvar,
    sleepers: AtomicUsize,
}

impl Idle {
    /// A pool with no sleeper.
    pub fn new() -> Self {
        Idle { lock: Mutex::new(()), wakeup: Condvar::new(), sleepers: AtomicUsize::new(0) }
    }

    /// Sleeps until notified, unless `ready` (asked after announcing the
    /// sleeper, under the idle mutex) says there is work or a reason to stop.
    /// Callers loop: a return only means "look again".
    pub fn sleep(&self, ready: impl FnOnce() -> bool) {
        let guard = self.lock.lock();
        // SeqCst, then a SeqCst fence: the sleeper's half of the Dekker pair.
        // The fence orders the announcement before whatever loads `ready`
        // makes, whatever their own ordering (without it loom finds the
        // producer's work missed and the worker asleep for good).
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let guard = if ready() { guard } else { self.wakeup.wait(guard) };
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
    }

    /// After queuing work: wakes one sleeper, if any.
    pub fn notify_one(&self) {
        // SeqCst: the producer's half of the Dekker pair.
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.wakeup.notify_one();
        }
    }

    /// Wakes every sleeper (after a change every worker must see, made
    /// visible before this call, such as a stop flag).
    pub fn notify_all(&self) {
        let _guard = self.lock.lock();
        self.wakeup.notify_all();
    }
}

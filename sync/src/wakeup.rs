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
//! wait because both hold the mutex (loom models `idle_*`). The producer's
//! queue must make its push visible to a later SeqCst-ordered look (the
//! crossbeam-deque queues the VM uses do: pushes are Release stores and the
//! fence orders them before the read of `sleepers`).
//!
//! `sleepers` counts the sleepers no notification is on its way to: the
//! notifier takes its sleeper out of the count (under the mutex) and leaves
//! a token for it, so a burst of producers wakes one sleeper once, not once
//! per item queued before it gets up (each such notification was a futex
//! system call: 100 spawns in a row woke the other worker 100 times). A
//! woken sleeper takes a token; one that wakes without one (spuriously)
//! takes itself out of the count. Every change of the count after the
//! announcement holds the mutex, so a notifier that read a sleeper before
//! locking checks again under it: the sleeper may have left (it saw work,
//! and looks again before it sleeps) or been notified by another producer
//! (it is getting up, and will look).

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
    /// Notifications sent and not yet taken by a woken sleeper.
    tokens: Mutex<usize>,
    wakeup: Condvar,
    /// Sleepers no notification is on its way to.
    sleepers: AtomicUsize,
}

impl Idle {
    /// A pool with no sleeper.
    pub fn new() -> Self {
        Idle { tokens: Mutex::new(0), wakeup: Condvar::new(), sleepers: AtomicUsize::new(0) }
    }

    /// Sleeps until notified, unless `ready` (asked after announcing the
    /// sleeper, under the idle mutex) says there is work or a reason to stop.
    /// Callers loop: a return only means "look again".
    pub fn sleep(&self, ready: impl FnOnce() -> bool) {
        let tokens = self.tokens.lock();
        // SeqCst, then a SeqCst fence: the sleeper's half of the Dekker pair.
        // The fence orders the announcement before whatever loads `ready`
        // makes, whatever their own ordering (without it loom finds the
        // producer's work missed and the worker asleep for good).
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if ready() {
            // No notifier counted this sleeper out: they check again under
            // the mutex, which this holds.
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let mut tokens = self.wakeup.wait(tokens);
        if *tokens > 0 {
            *tokens -= 1;
        } else {
            // Woken spuriously: nobody counted this sleeper out.
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// After queuing work: wakes one sleeper that no notification is on its
    /// way to, if there is one.
    pub fn notify_one(&self) {
        // SeqCst: the producer's half of the Dekker pair.
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let mut tokens = self.tokens.lock();
            // Again under the mutex: the sleeper may have left, or another
            // producer notified it, since the read above.
            if self.sleepers.load(Ordering::SeqCst) > 0 {
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
                *tokens += 1;
                self.wakeup.notify_one();
            }
        }
    }

    /// Wakes every sleeper (after a change every worker must see, made
    /// visible before this call, such as a stop flag).
    pub fn notify_all(&self) {
        let mut tokens = self.tokens.lock();
        *tokens += self.sleepers.swap(0, Ordering::SeqCst);
        self.wakeup.notify_all();
    }
}

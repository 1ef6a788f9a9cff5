//! How a maatine waits for a variable lock: the [`Parker`] trait and its
//! OS-thread implementation.
//!
//! The variable-lock table never blocks by itself. It queues the waiter with
//! a [`Waker`] obtained from the parker, releases its own mutex, and then asks
//! the parker to wait. An OS-thread parker blocks until woken and returns
//! [`Wait::Woken`], after which the lock call retries. A maatine scheduler
//! instead returns [`Wait::Suspend`]: the lock call returns
//! [`LockStatus::Suspended`](crate::LockStatus::Suspended), the interpreter
//! gives its OS thread back to the scheduler, and the waker re-queues the
//! maatine, which then repeats the same lock call.
//!
//! A waker is called at most once per queued wait, always after the waiter was
//! removed from the queue; the call synchronizes with the waiter's resumption
//! (here a Release store read with Acquire).

use std::sync::Arc;
use std::task::{Wake, Waker};

use crate::shim::{self, AtomicBool, Ordering, Thread};

/// What the waiter does once it is queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// The parker blocked until the waker ran; the lock call retries.
    Woken,
    /// The caller will retry later, when the waker runs; the lock call returns.
    Suspend,
}

/// A way of waiting for a variable lock.
pub trait Parker {
    /// A waker that makes this waiter retry. Called under the table's mutex:
    /// it must not block or call back into the table.
    fn waker(&self) -> Waker;
    /// Waits (or arranges to be resumed); called after the waiter is queued.
    fn wait(&self) -> Wait;
}

/// A [`Parker`] that blocks the calling OS thread.
#[derive(Debug)]
pub struct ThreadParker {
    signal: Arc<ThreadSignal>,
}

#[derive(Debug)]
struct ThreadSignal {
    thread: Thread,
    woken: AtomicBool,
}

impl ThreadParker {
    /// A parker for the calling thread.
    pub fn new() -> Self {
        let signal = ThreadSignal { thread: shim::current_thread(), woken: AtomicBool::new(false) };
        Self { signal: Arc::new(signal) }
    }
}

impl Default for ThreadParker {
    fn default() -> Self {
        Self::new()
    }
}

impl Wake for ThreadSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Release: the unlocker's writes happen before the waiter resumes.
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

impl Parker for ThreadParker {
    fn waker(&self) -> Waker {
        Waker::from(Arc::clone(&self.signal))
    }

    fn wait(&self) -> Wait {
        // Consume the wake-up. Acquire: pairs with the Release in
        // `wake_by_ref`. (A compare-exchange rather than a swap: loom 0.7
        // mis-models `swap` of an unchanged value and loses the later store.)
        while self.signal.woken.compare_exchange(true, false, Ordering::Acquire, Ordering::Relaxed).is_err() {
            shim::park_thread();
        }
        Wait::Woken
    }
}

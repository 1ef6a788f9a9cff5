//! How a maatine waits: it never blocks its OS thread. An operation that
//! cannot proceed (a variable lock held by another maatine, a join, a
//! channel) queues a [`Waker`] made from the maatine's [`WakeCell`], and the
//! slice ends with the instruction rewound, to be executed again when the
//! maatine is woken.
//!
//! The maatine then parks in its cell (maat-sync's `ParkCell`): a wake-up
//! that came between queuing the waker and parking makes it run on at once,
//! a later one puts it back in the run queue. The scheduler's count of
//! active (runnable or running) maatines changes under the cell's mutex (see
//! `crate::sched`).

use std::sync::{Arc, Weak};
use std::task::{Wake, Waker};

use maat_sync::{MaatineId, ParkCell, Parker, Wait};

use super::Sched;
use super::task::Queued;

/// Where a parked maatine waits to be woken: maat-sync's [`ParkCell`]
/// (whose protocol is model-checked), plus the scheduler that resumes it.
pub(crate) struct WakeCell {
    sched: Weak<Sched>,
    cell: ParkCell<Queued>,
}

impl WakeCell {
    pub(crate) fn new(sched: Weak<Sched>) -> Arc<Self> {
        Arc::new(WakeCell { sched, cell: ParkCell::new() })
    }

    /// Parks `m` unless it was woken meanwhile, in which case it comes back.
    /// `parked` runs under the cell's mutex once `m` is parked.
    pub(crate) fn park(&self, m: Queued, parked: impl FnOnce()) -> Option<Queued> {
        self.cell.park(m, parked)
    }

    /// What the parked maatine waits for; `None` if it is not parked.
    pub(crate) fn parked_on(&self) -> Option<(MaatineId, String)> {
        self.cell.inspect(|m| m.map(|m| m.waiting()))
    }

    /// Takes a parked maatine out for good (the runtime is ending).
    pub(crate) fn take(&self) -> Option<Queued> {
        self.cell.take()
    }
}

impl Wake for WakeCell {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(sched) = self.sched.upgrade() {
            self.cell.wake(|m| sched.resume(m));
        }
    }
}

/// The [`Parker`] of a maatine's variable locks: queue a waker, suspend.
pub(crate) struct MaatineParker<'a>(pub(crate) &'a Arc<WakeCell>);

impl Parker for MaatineParker<'_> {
    fn waker(&self) -> Waker {
        Waker::from(Arc::clone(self.0))
    }

    fn wait(&self) -> Wait {
        Wait::Suspend
    }
}

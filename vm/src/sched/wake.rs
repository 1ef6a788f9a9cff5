//! How a maatine waits: it never blocks its OS thread. An operation that
//! cannot proceed (a variable lock held by another maatine, a join, a
//! channel) queues a [`Waker`] made from the maatine's cell ([`JoinCell`],
//! which holds its [`WakeCell`]), and the slice ends with the instruction
//! rewound, to be executed again when the maatine is woken.
//!
//! The maatine then parks in its cell (maat-sync's `ParkCell`): a wake-up
//! that came between queuing the waker and parking makes it run on at once,
//! a later one puts it back in the run queue. The scheduler's count of
//! active (runnable or running) maatines changes under the cell's mutex (see
//! `crate::sched`).

use std::sync::{Arc, Weak};
use std::task::Waker;

use maat_sync::{MaatineId, ParkCell, Parker, Wait};

use super::Sched;
use super::task::Queued;
use crate::object::handle::JoinCell;

/// Where a parked maatine waits to be woken: maat-sync's [`ParkCell`]
/// (whose protocol is model-checked), plus the scheduler that resumes it.
/// It lives in the maatine's [`JoinCell`], one allocation for both (two
/// made a spawn cost one allocation more, which a program that starts
/// maatines in batches often freed on another thread than the one that
/// made it); wakers are made from that cell.
pub(crate) struct WakeCell {
    sched: Weak<Sched>,
    cell: ParkCell<Queued>,
}

impl WakeCell {
    pub(crate) fn new(sched: Weak<Sched>) -> Self {
        WakeCell { sched, cell: ParkCell::new() }
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

    /// Wakes the maatine: back to the run queue if it is parked, or on at
    /// once when it parks next.
    pub(crate) fn wake(&self) {
        if let Some(sched) = self.sched.upgrade() {
            self.cell.wake(|m| sched.resume(m));
        }
    }
}

/// The [`Parker`] of a maatine's variable locks: queue a waker, suspend.
pub(crate) struct MaatineParker<'a>(pub(crate) &'a Arc<JoinCell>);

impl Parker for MaatineParker<'_> {
    fn waker(&self) -> Waker {
        Waker::from(Arc::clone(self.0))
    }

    fn wait(&self) -> Wait {
        Wait::Suspend
    }
}

//! A maatine as the scheduler holds it: its heap (whose root is the
//! interpreter state), its id, its counters, and how it waits.
//!
//! # Waiting
//!
//! A maatine never blocks its OS thread. An operation that cannot proceed
//! (a variable lock held by another maatine, a join, a channel) queues a
//! [`Waker`] made from the maatine's [`WakeCell`], and the slice ends with
//! the instruction rewound, to be executed again when the maatine is woken.
//!
//! The maatine then parks in its cell (maat-sync's `ParkCell`): a wake-up
//! that came between queuing the waker and parking makes it run on at once,
//! a later one puts it back in the run queue. The scheduler's count of
//! active (runnable or running) maatines changes under the cell's mutex (see
//! `crate::sched`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::task::{Wake, Waker};

use maat_gc::Heap;
use maat_sync::{LockRequest, MaatineId, ParkCell, Parker, Wait};

use crate::interp::Machine;
use crate::object::SyncStats;
use crate::object::handle::JoinCell;
use crate::sched::Sched;

/// A maatine between slices.
pub(crate) struct Maatine {
    pub(crate) id: MaatineId,
    pub(crate) heap: Heap<Machine>,
    pub(crate) stats: SyncStats,
    /// Lock requests of the global variables it waited for, kept across
    /// retries (their waiting time counts toward the starvation bound).
    pub(crate) requests: HashMap<u32, LockRequest>,
    /// When it was first parked waiting for the variable lock it waits
    /// for now (it waits for one at a time), for the contention counts.
    pub(crate) suspended_at: Option<std::time::Instant>,
    pub(crate) cell: Arc<JoinCell>,
    pub(crate) wake: Arc<WakeCell>,
    /// What it waits for while parked, for deadlock reports.
    pub(crate) waiting: String,
    /// What it sent or returned lately, for use-after-send errors.
    pub(crate) sent: SentLog,
    /// Started by the host, which claims its result after the run: until
    /// then the result is reachable from no root (see `Sched::finish`).
    pub(crate) host: bool,
}

// SAFETY: a maatine moves between OS threads only as a whole, between
// slices, with its heap: no handle into the heap exists outside a mutation,
// and the VM's object types are all safe to use and drop on any thread
// (their shared state is synchronized; see `crate::object`). `SyncStats`
// and the heap's interior cells are only touched by the thread running the
// maatine.
unsafe impl Send for Maatine {}

/// Maatines a slice started, to be queued after it. Boxed: a maatine moves
/// between queues and cells as one pointer.
#[allow(clippy::vec_box)]
pub(crate) type Spawned = Vec<Box<Maatine>>;

/// Where a parked maatine waits to be woken: maat-sync's [`ParkCell`]
/// (whose protocol is model-checked), plus the scheduler that resumes it.
pub(crate) struct WakeCell {
    sched: Weak<Sched>,
    cell: ParkCell<Box<Maatine>>,
}

impl WakeCell {
    pub(crate) fn new(sched: Weak<Sched>) -> Arc<Self> {
        Arc::new(WakeCell { sched, cell: ParkCell::new() })
    }

    /// Parks `m` unless it was woken meanwhile, in which case it comes back.
    /// `parked` runs under the cell's mutex once `m` is parked.
    pub(crate) fn park(&self, m: Box<Maatine>, parked: impl FnOnce()) -> Option<Box<Maatine>> {
        self.cell.park(m, parked)
    }

    /// What the parked maatine waits for; `None` if it is not parked.
    pub(crate) fn parked_on(&self) -> Option<(MaatineId, String)> {
        self.cell.inspect(|m| m.map(|m| (m.id, m.waiting.clone())))
    }

    /// Takes a parked maatine out for good (the runtime is ending).
    pub(crate) fn take(&self) -> Option<Box<Maatine>> {
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

/// The last values a maatine gave away, by object address: what, where, to
/// whom. Bounded: older entries are forgotten (the error then says less).
#[derive(Default)]
pub(crate) struct SentLog(VecDeque<(usize, String)>);

const SENT_LOG: usize = 256;

impl SentLog {
    pub(crate) fn record(&mut self, address: usize, how: String) {
        if self.0.len() == SENT_LOG {
            self.0.pop_front();
        }
        self.0.push_back((address, how));
    }

    pub(crate) fn find(&self, address: usize) -> Option<&str> {
        self.0.iter().rev().find(|(a, _)| *a == address).map(|(_, how)| how.as_str())
    }
}

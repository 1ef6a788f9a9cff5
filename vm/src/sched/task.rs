//! What the scheduler runs, and what a slice tells it: the scheduler knows
//! a maatine only through [`Task`], which the interpreter implements
//! (`crate::interp`'s `Maatine`), so the scheduler depends on no part of
//! the interpreter.
//!
//! A task moves between run queues, wake cells and worker threads as one
//! box ([`Queued`]), and only between slices: while one of its slices runs,
//! the worker running it is its only user.

use maat_sync::{MaatineId, Mutex, Participant};
use std::io::Write;
use std::sync::Arc;

use super::{Sched, Totals};
use crate::object::handle::{JoinCell, Outcome};

/// Where `say` writes: the program's output, shared by the worker threads.
pub(crate) type Out<'o> = Mutex<&'o mut (dyn Write + Send)>;

/// How a slice ended, for the scheduler.
pub(crate) enum Slice {
    /// The budget ran out; the maatine can go on.
    Yield,
    /// It waits for something; its waker will make it runnable.
    Blocked,
    /// It returned or failed.
    Finished(Outcome),
}

/// A maatine between slices, as queues and wake cells hold it.
pub(crate) type Queued = Box<dyn Task>;

/// Maatines a slice started, to be queued after it.
pub(crate) type Spawned = Vec<Queued>;

/// A maatine, as the scheduler drives it.
pub(crate) trait Task: Send {
    /// Runs one slice on this worker (whose participant in the world is
    /// `p`); maatines it starts go to `spawned`.
    fn run_slice(&mut self, sched: &Arc<Sched>, p: &Participant, out: &Out<'_>, spawned: &mut Spawned) -> Slice;

    /// Its cell: where its joiners wait, and (`wake`) where it parks
    /// while it waits.
    fn cell(&self) -> &Arc<JoinCell>;

    /// Its id and what it waits for, for a deadlock report.
    fn waiting(&self) -> (MaatineId, String);

    /// Whether the host started it (and claims its result after the run).
    fn started_by_host(&self) -> bool;

    /// It finished: its figures go to `totals`, and its heap ends (local
    /// garbage freed now, global objects adopted by the space). Returns its
    /// cell (its id, and where its joiners wait).
    fn retire(self: Box<Self>, totals: &Mutex<Totals>) -> Arc<JoinCell>;
}

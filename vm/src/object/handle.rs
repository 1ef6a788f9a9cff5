//! Handle: what `ma f(x)` returns, and the cell through which a maatine's
//! outcome reaches whoever joins it.
//!
//! # The cell
//!
//! ```text
//!   Running { joiners }  --finish-->  Finished(outcome)
//! ```
//!
//! Both transitions happen under the cell's mutex: a joiner either finds the
//! outcome or queues its waker before the maatine finishes, and finishing
//! wakes every queued joiner, so no join is lost. The mutex also publishes the
//! result: the finishing maatine transferred it (maat-gc's `transfer`) before
//! storing it, and the joiner reads it after locking.
//!
//! The result object outlives the finished maatine's heap (it is global and
//! was adopted by the space); the handle keeps it alive by tracing it.

use maat_sync::{Mutex, MutexGuard};
use std::sync::Arc;
use std::task::Waker;

use maat_gc::{Gc, Trace, Tracer};
use maat_sync::MaatineId;

use super::{Ctx, kind};
use crate::interp::RuntimeError;
use crate::value::Value;

/// How a maatine ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// It returned this value (raw bits of a global or immediate value).
    Returned(u64),
    /// It failed.
    Failed(Box<RuntimeError>),
}

enum State {
    Running(Vec<Waker>),
    Finished { outcome: Outcome, observed: bool },
}

/// The meeting point of a maatine and its joiners.
pub struct JoinCell {
    /// The maatine it belongs to.
    pub id: MaatineId,
    state: Mutex<State>,
}

impl JoinCell {
    /// The cell of a maatine that is starting.
    pub fn new(id: MaatineId) -> Arc<Self> {
        Arc::new(JoinCell { id, state: Mutex::new(State::Running(Vec::new())) })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// The outcome if the maatine finished (marking it observed); otherwise
    /// queues `waker` to be woken when it does.
    pub fn join(&self, waker: impl FnOnce() -> Waker) -> Option<Outcome> {
        match &mut *self.state() {
            State::Running(joiners) => {
                joiners.push(waker());
                None
            }
            State::Finished { outcome, observed } => {
                *observed = true;
                Some(outcome.clone())
            }
        }
    }

    /// Records the outcome and wakes the joiners.
    pub fn finish(&self, outcome: Outcome) {
        let joiners = match std::mem::replace(&mut *self.state(), State::Finished { outcome, observed: false }) {
            State::Running(joiners) => joiners,
            State::Finished { .. } => unreachable!("a maatine finishes once"),
        };
        joiners.into_iter().for_each(Waker::wake);
    }

    /// The outcome, if the maatine finished (not marking it observed).
    pub fn outcome(&self) -> Option<Outcome> {
        match &*self.state() {
            State::Running(_) => None,
            State::Finished { outcome, .. } => Some(outcome.clone()),
        }
    }

    /// The error of a maatine that failed and that nobody joined (yet).
    pub fn unobserved_error(&self) -> Option<Box<RuntimeError>> {
        match &*self.state() {
            State::Finished { outcome: Outcome::Failed(e), observed: false } => Some(e.clone()),
            _ => None,
        }
    }
}

/// A Maat maatine handle. Immutable; the cell synchronizes itself.
pub struct Handle {
    /// The cell shared with the maatine.
    pub cell: Arc<JoinCell>,
}

// SAFETY: traces the result once the maatine returned it; the cell's mutex
// orders the read with the maatine's store.
unsafe impl Trace for Handle {
    fn trace(&self, t: &mut Tracer) {
        if let State::Finished { outcome: Outcome::Returned(bits), .. } = &*self.cell.state() {
            // SAFETY: the bits are a value whose object (if any) is global and
            // alive: the handle keeps it alive by this very trace.
            unsafe { Value::from_raw_bits(*bits) }.trace(t);
        }
    }
}

impl Handle {
    /// Allocates the handle of a maatine.
    pub fn alloc<'gc>(ctx: &Ctx<'_, 'gc>, cell: Arc<JoinCell>) -> Gc<'gc, Handle> {
        ctx.mc.alloc_kind(Handle { cell }, kind::HANDLE)
    }
}

//! Handle: what `ma f(x)` returns, and the cell through which a maatine's
//! outcome reaches whoever joins it. The cell also holds the maatine's
//! wake cell (`crate::sched`'s, where it parks while it waits): one
//! allocation per maatine for both, and a waker of the maatine is a waker
//! of this cell. A handle kept after its maatine ended keeps that cell,
//! the wake cell's few words included (its link to the scheduler is weak:
//! it keeps the scheduler's allocation, not its contents, past its run).
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
//!
//! # The claimed copy
//!
//! Joining through a handle only the joiner reaches (an unshared one)
//! copies the result into the joiner's heap once (see `interp/copy.rs`),
//! and the handle keeps that copy, which every later join returns, so the
//! result keeps one identity. It is written only while the handle is
//! unshared (by its one maatine, with the collector's barrier); sharing the
//! handle later shares the copy with it (the handle traces it), and the
//! sharing's Release publishes it.

use maat_sync::annotate::atomic::{AtomicU64, Ordering};
use maat_sync::{Mutex, MutexGuard};
use std::sync::{Arc, Weak};
use std::task::{Wake, Waker};

use maat_gc::{Gc, Trace, Tracer};
use maat_sync::MaatineId;

use super::{Ctx, kind};
use crate::error::RuntimeError;
use crate::sched::{Sched, WakeCell};
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

/// The meeting point of a maatine and its joiners, and where the
/// maatine itself waits to be woken (its wake cell: a waker of the
/// maatine is a waker of this cell).
pub struct JoinCell {
    /// The maatine it belongs to.
    pub id: MaatineId,
    state: Mutex<State>,
    pub(crate) wake: WakeCell,
}

impl JoinCell {
    /// The cell of a maatine that is starting, run by `sched`.
    pub(crate) fn new(id: MaatineId, sched: Weak<Sched>) -> Arc<Self> {
        Arc::new(JoinCell { id, state: Mutex::new(State::Running(Vec::new())), wake: WakeCell::new(sched) })
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

impl Wake for JoinCell {
    fn wake(self: Arc<Self>) {
        self.wake.wake();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake.wake();
    }
}

/// A Maat maatine handle. The cell synchronizes itself; the claimed copy
/// is written once, by the handle's only maatine (see the module).
pub struct Handle {
    /// The cell shared with the maatine.
    pub cell: Arc<JoinCell>,
    /// The joiner's copy of the result (raw bits of an object value), or
    /// nil's bits before it is claimed. Relaxed: written and read by the
    /// one maatine that reaches the handle, or published by sharing it.
    claimed: AtomicU64,
}

// SAFETY: traces the result once the maatine returned it (the cell's mutex
// orders the read with the maatine's store), and the claimed copy.
unsafe impl Trace for Handle {
    fn trace(&self, t: &mut Tracer) {
        if let State::Finished { outcome: Outcome::Returned(bits), .. } = &*self.cell.state() {
            // SAFETY: the bits are a value whose object (if any) is global and
            // alive: the handle keeps it alive by this very trace.
            unsafe { Value::from_raw_bits(*bits) }.trace(t);
        }
        // SAFETY: nil or a copy this trace keeps alive.
        unsafe { Value::from_raw_bits(self.claimed.load(Ordering::Relaxed)) }.trace(t);
    }
}

impl Handle {
    /// Allocates the handle of a maatine.
    pub fn alloc<'gc>(ctx: &Ctx<'_, 'gc>, cell: Arc<JoinCell>) -> Gc<'gc, Handle> {
        let claimed = AtomicU64::new(Value::nil().to_bits());
        ctx.mc.alloc_kind(Handle { cell, claimed }, kind::HANDLE)
    }

    /// The joiner's copy of the result, once claimed.
    pub fn claimed<'gc>(this: Gc<'gc, Handle>) -> Option<Value<'gc>> {
        // SAFETY: nil or a copy the handle traces, alive as long as the
        // handle (reachable: `this` is a handle of this mutation).
        let v = unsafe { Value::from_raw_bits(Gc::get(this).claimed.load(Ordering::Relaxed)) };
        (!v.is_nil()).then_some(v)
    }

    /// Keeps `copy` as the claimed copy of the result. Only for an
    /// unshared handle (see the module).
    pub fn claim<'gc>(this: Gc<'gc, Handle>, ctx: &Ctx<'_, 'gc>, copy: Value<'gc>) {
        debug_assert!(!Gc::is_shared(this), "only an unshared handle keeps a copy");
        ctx.mc.backward_barrier(this.into());
        Gc::get(this).claimed.store(copy.to_bits(), Ordering::Relaxed);
    }
}

//! The host's resident maatine: calls from Rust run on the caller's own
//! thread, in a maatine and a scheduler kept from one call to the next,
//! instead of a run made and unmade for each call.
//!
//! A warm call prepares the resident maatine's frame for the call and runs
//! its slices on the caller's thread, as worker 0 would (safe points,
//! shared-collection upkeep). Most calls end there: the maatine returned,
//! and it stays for the next call. A call whose maatine blocks or starts
//! other maatines needs the scheduler: the slice is handed over
//! ([`Sched::adopt`]) and the scheduler runs everything to the end, as
//! [`Vm::run`](crate::interp::Vm::run) would; the resident maatine then
//! finishes like any other, and the next call makes a new one.
//!
//! Invariant: a warm runtime is only used for the program, types, natives,
//! limits and thread count it was made with (its `Shape`); any other run
//! of the runtime drops it first, so no other scheduler runs in the space
//! while its heap lives.

use maat_sync::Mutex;
use std::sync::Arc;

use crossbeam_deque::Worker;
use maat_sync::Participant;

use super::{Error, Runtime};
use crate::interp::{Call, Failure, Maatine};
use crate::object::handle::Outcome;
use crate::sched::{Queued, Sched, Slice, Task};

/// A scheduler and its resident maatine, kept between calls.
pub(super) struct Warm {
    sched: Arc<Sched>,
    workers: Vec<Worker<Queued>>,
    resident: Box<Maatine>,
    /// The host thread's registration with the world, kept between calls
    /// (nothing else runs in the world then).
    participant: Participant,
    shape: Shape,
}

/// What a warm runtime was made for (the program and the types by
/// address: a change makes new ones).
#[derive(PartialEq)]
struct Shape {
    program: usize,
    types: usize,
    natives: usize,
    limits: super::Limits,
    threads: usize,
}

impl Runtime {
    /// What a warm runtime made now is made for.
    fn shape(&self) -> Shape {
        Shape {
            program: self.program.as_ref().map_or(0, |p| Arc::as_ptr(p) as usize),
            types: Arc::as_ptr(&self.types) as usize,
            natives: self.natives.len(),
            limits: self.limits,
            threads: self.threads,
        }
    }
}

impl Runtime {
    /// Runs `call` on the resident maatine; the bits of what it returned
    /// (an object transferred out of its heap, for [`Runtime::claim`]).
    pub(super) fn warm_call(&mut self, call: Call, out: &mut (dyn std::io::Write + Send)) -> Result<u64, Error> {
        if self.warm.as_ref().is_some_and(|w| w.shape != self.shape()) {
            self.warm = None;
        }
        self.interrupt.store(false, std::sync::atomic::Ordering::Relaxed);
        let warm = match self.warm.take() {
            Some(mut warm) => {
                warm.sched.rt.limits.reset();
                warm.resident.prepare(&warm.sched.rt, &call);
                warm
            }
            None => self.warm_up(&call),
        };
        let out = Mutex::new(out);
        let Warm { sched, workers, mut resident, participant: p, shape } = warm;
        loop {
            let mut spawned = Vec::new();
            let slice = resident.run_slice(&sched, &p, &out, &mut spawned);
            match slice {
                Slice::Yield if spawned.is_empty() => {
                    sched.maintain(&p);
                    p.safe_point();
                }
                Slice::Finished(outcome) if spawned.is_empty() => {
                    self.warm = Some(Warm { sched, workers, resident, participant: p, shape });
                    return match outcome {
                        Outcome::Returned(bits) => Ok(bits),
                        Outcome::Failed(e) => Err(Error::Runtime(Failure { main: Some(*e), ..Failure::default() })),
                    };
                }
                slice => {
                    // The scheduler's worker 0, on this thread, registers
                    // itself: two participants on one thread would wait
                    // for each other at the first stop.
                    drop(p);
                    let cell = Arc::clone(&resident.cell);
                    sched.adopt(&workers[0], resident, slice);
                    let out = out.into_inner();
                    sched.run(workers, spawned, out);
                    return outcome(&sched, &cell);
                }
            }
        }
    }

    /// A scheduler for this runtime as it is now, and its resident maatine
    /// about to run `call`.
    fn warm_up(&mut self, call: &Call) -> Warm {
        let (sched, workers) = Sched::new(self.sched_runtime(), self.threads);
        let (resident, made) = Maatine::first(&sched, self.env.as_ref(), true, &[], Some(call));
        self.env = made;
        let participant = sched.rt.world.register();
        Warm { sched, workers, resident, participant, shape: self.shape() }
    }
}

/// How a call the scheduler took over ended: the resident maatine's
/// outcome, or the run's failure.
fn outcome(sched: &Sched, cell: &crate::object::handle::JoinCell) -> Result<u64, Error> {
    let main = cell.unobserved_error().map(|e| *e);
    let unjoined: Vec<_> = sched.unobserved_errors().into_iter().filter(|e| e.maatine != cell.id).collect();
    let failure = Failure { main, unjoined, deadlock: sched.deadlock() };
    if failure != Failure::default() {
        return Err(Error::Runtime(failure));
    }
    match cell.outcome() {
        Some(Outcome::Returned(bits)) => Ok(bits),
        _ => unreachable!("a maatine that did not fail returned"),
    }
}

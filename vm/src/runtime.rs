//! What every maatine of a run shares: the program, the host's functions
//! and types, the world of OS threads, the variable locks, the space, and
//! the run's limits. The scheduler uses the world, the space and the heap
//! configuration; the rest is the interpreter's.

use maat_sync::annotate::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use maat_gc::{Config, Space};
use maat_sync::{VarLockTable, World};

use crate::bytecode::Program;
use crate::host::{NativeFn, Types};

/// What every maatine of a run shares.
pub(crate) struct Runtime {
    pub(crate) program: Arc<Program>,
    pub(crate) natives: Vec<Arc<NativeFn>>,
    pub(crate) world: Arc<World>,
    pub(crate) table: VarLockTable,
    pub(crate) space: Space,
    pub(crate) config: Config,
    pub(crate) started: Instant,
    /// Set from another thread to stop the program: each maatine fails
    /// with `interrupted` at its next slice.
    pub(crate) interrupt: Arc<std::sync::atomic::AtomicBool>,
    /// Whether maatines count contention per variable and object
    /// (`--stats`).
    pub(crate) contention: bool,
    /// The run's limits (an embedder's sandbox).
    pub(crate) limits: Limits,
    /// The embedder's registered Rust types.
    pub(crate) types: Arc<Types>,
}

impl Runtime {
    /// The runtime of a run of `program` in `space`, without limits,
    /// interrupt or user types (the embedder sets those it has).
    pub(crate) fn new(program: Arc<Program>, natives: Vec<Arc<NativeFn>>, space: Space, config: Config) -> Self {
        Runtime {
            program,
            natives,
            world: World::new(),
            table: VarLockTable::new(),
            space,
            config,
            started: Instant::now(),
            interrupt: Arc::default(),
            contention: false,
            limits: Limits::default(),
            types: Arc::default(),
        }
    }
}

/// What a run may spend, and whether it may touch files and the standard
/// error stream: an embedder's sandbox ([`crate::embed::Limits`]). A
/// runtime kept between calls starts each call's budget afresh
/// ([`Limits::reset`]).
#[derive(Debug)]
pub(crate) struct Limits {
    /// Instructions left, counted a slice at a time.
    fuel: Option<std::sync::atomic::AtomicI64>,
    /// The budget of a run (for the error, and each reset).
    instructions: u64,
    /// The time a run may take.
    time: Option<std::time::Duration>,
    /// When the current run must stop: nanoseconds after `base`.
    deadline: AtomicU64,
    base: Instant,
    /// `read_file` and `warn` refuse.
    pub(crate) no_io: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(None, None, false)
    }
}

impl Limits {
    /// Limits of `instructions` and `time` per run, from now.
    pub(crate) fn new(instructions: Option<u64>, time: Option<std::time::Duration>, no_io: bool) -> Self {
        let fuel = instructions.map(|_| std::sync::atomic::AtomicI64::new(0));
        let limits = Limits {
            fuel,
            instructions: instructions.unwrap_or(0),
            time,
            deadline: AtomicU64::new(0),
            base: Instant::now(),
            no_io,
        };
        limits.reset();
        limits
    }

    /// A new run starts: a full budget, the time from now.
    pub(crate) fn reset(&self) {
        // Relaxed: set between runs, before the slices that read it start
        // (on this thread, or on workers the run's start publishes to).
        if let Some(fuel) = &self.fuel {
            fuel.store(self.instructions.min(i64::MAX as u64) as i64, Ordering::Relaxed);
        }
        if let Some(time) = self.time {
            let at = (self.base.elapsed() + time).as_nanos().min(u128::from(u64::MAX)) as u64;
            self.deadline.store(at, Ordering::Relaxed);
        }
    }

    /// Why a slice of `slice` instructions must not start, if it must not.
    pub(crate) fn exceeded(&self, slice: usize) -> Option<String> {
        // Relaxed: as in `reset`.
        if let Some(limit) = self.time
            && self.base.elapsed().as_nanos() >= u128::from(self.deadline.load(Ordering::Relaxed))
        {
            return Some(format!("time limit of {limit:?} exceeded"));
        }
        // Relaxed: the counter publishes nothing; it only has to count.
        let fuel = self.fuel.as_ref()?.fetch_sub(slice as i64, Ordering::Relaxed);
        (fuel <= 0).then(|| format!("instruction limit of {} exceeded", self.instructions))
    }
}

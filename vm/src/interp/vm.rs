//! The `Vm` API: a program prepared to run, its run on the scheduler's
//! pool (the main maatine, or the calls an embedder starts), and what the
//! run leaves: its failure as data, its statistics, its contention counts.

use super::*;

/// A program ready to run, and after [`Vm::run`] the figures of its run.
pub struct Vm {
    rt: Option<Runtime>,
    threads: usize,
    sched: Option<Arc<Sched>>,
    /// In a session: the environment of the previous entry (whose global
    /// slots this run keeps), then this run's.
    env: Option<Global<EnvRoot>>,
    session: bool,
    /// The program's arguments (`ARGS`).
    args: Vec<String>,
    /// What the main maatine runs instead of the main function, and what
    /// maatines the host starts beside it.
    calls: Vec<Call>,
    /// After the run: the cells of the maatines the host started, the main
    /// one first.
    cells: Vec<Arc<JoinCell>>,
}

/// A call the main maatine makes instead of running the program's main
/// function (an embedder calling a Maat function).
pub(crate) struct Call {
    /// The function (a closure's own, when there is one).
    pub(crate) func: u32,
    /// Its closure, when it is one.
    pub(crate) closure: Option<crate::host::Handle>,
    /// The arguments, checked ([`HostValue::check`]).
    pub(crate) args: Vec<HostValue>,
}

/// Why a run failed: the main maatine's error, the errors of maatines that
/// failed and that nobody joined, and the deadlock report if the run ended
/// in one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Failure {
    /// The main maatine's error.
    pub main: Option<RuntimeError>,
    /// Errors of other maatines that failed and were never joined.
    pub unjoined: Vec<RuntimeError>,
    /// What the maatines left waited for, if the run ended in a deadlock.
    pub deadlock: Option<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut lines: Vec<String> = self.main.iter().map(|e| e.to_string()).collect();
        lines.extend(self.unjoined.iter().map(|e| format!("{e}\n  ({} was never joined)", e.maatine)));
        lines.extend(self.deadlock.iter().map(|report| format!("error: {report}")));
        write!(f, "{}", lines.join("\n"))
    }
}

impl std::error::Error for Failure {}

/// The name [`Vm::contention`] gives the entry that sums every captured
/// variable and top-level `let`.
pub const CAPTURED_AND_MODULE: &str = "(captured and top-level let variables)";

/// What variables and shared objects cost a run's maatines ([`Vm::contention`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Contention {
    /// Variables by name, in the program's order of globals.
    pub vars: Vec<(String, VarStats)>,
    /// Shared objects whose lock was taken, most contended first.
    pub objects: Vec<ObjectStats>,
}

impl Vm {
    /// Prepares `program` to run with heap configuration `config`, on one
    /// OS thread (see [`Vm::set_threads`]).
    ///
    /// # Panics
    ///
    /// As [`Vm::with_natives`].
    pub fn new(program: Program, config: Config) -> Vm {
        Vm::with_natives(program, config, Vec::new())
    }

    /// Prepares `program`, compiled with [`compile_with`](crate::compiler::compile_with)
    /// and the names of `natives`, to run with those native functions.
    ///
    /// # Panics
    ///
    /// If `program` fails [`verify`](crate::verify::verify) (the compiler's
    /// programs never do; one built or changed by hand may).
    pub fn with_natives(program: Program, config: Config, natives: Vec<NativeFn>) -> Vm {
        if let Err(e) = crate::verify::verify(&program) {
            panic!("Vm::new: the program fails verification: {e}");
        }
        Vm::verified(Arc::new(program), config, natives.into_iter().map(Arc::new).collect(), maat_gc::Space::new())
    }

    /// [`Vm::with_natives`] for a program known to pass verification (the
    /// compiler verifies each program it makes).
    fn verified(program: Arc<Program>, config: Config, natives: Vec<Arc<NativeFn>>, space: maat_gc::Space) -> Vm {
        let rt = Runtime::new(program, natives, space, config);
        Vm {
            rt: Some(rt),
            threads: 1,
            sched: None,
            env: None,
            session: false,
            args: Vec::new(),
            calls: Vec::new(),
            cells: Vec::new(),
        }
    }

    /// A session's run on a runtime the embedder made (its program
    /// verified by the compiler), keeping the global slots of `env`.
    pub(crate) fn prepared(rt: Runtime, env: Option<Global<EnvRoot>>) -> Vm {
        let (calls, cells) = (Vec::new(), Vec::new());
        Vm { rt: Some(rt), threads: 1, sched: None, env, session: true, args: Vec::new(), calls, cells }
    }

    /// In a session, this run's environment (after [`Vm::run`]).
    pub(crate) fn session_env(&self) -> Option<Global<EnvRoot>> {
        self.env.clone()
    }

    /// Gives the program its arguments: the global `ARGS`, an array of
    /// strings (frozen).
    pub fn set_args(&mut self, args: Vec<String>) {
        self.args = args;
    }

    /// A flag that stops the program when set (from any thread, e.g. a
    /// Ctrl-C handler): every maatine fails with `interrupted` at its next
    /// slice boundary (within 10,000 instructions). Calling it again gives
    /// the same flag; use it before [`Vm::run`].
    pub fn interrupt_flag(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.rt.as_ref().map(|rt| Arc::clone(&rt.interrupt)).unwrap_or_default()
    }

    /// Stops the program when `flag` is set (see [`Vm::interrupt_flag`]).
    pub fn set_interrupt_flag(&mut self, flag: Arc<std::sync::atomic::AtomicBool>) {
        if let Some(rt) = &mut self.rt {
            rt.interrupt = flag;
        }
    }

    /// Runs the program's maatines on `threads` OS threads (at least one).
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Makes the maatines count what each variable and each shared object
    /// cost them (see [`Vm::contention`]); use it before [`Vm::run`]. It
    /// costs a little on every locked operation and on every update of a
    /// variable, so it is off by default.
    pub fn count_contention(&mut self, on: bool) {
        if let Some(rt) = &mut self.rt {
            rt.contention = on;
        }
    }

    /// Statistics of the heaps of the maatines that finished, and of the
    /// shared collections.
    pub fn gc_stats(&self) -> maat_gc::Stats {
        let Some(sched) = &self.sched else { return maat_gc::Stats::default() };
        let mut stats = sched.totals.lock().gc.clone();
        stats.merge(&sched.rt.space.stats());
        stats
    }

    /// Object operations that took their lock, and that elided it.
    pub fn lock_stats(&self) -> (u64, u64) {
        let Some(sched) = &self.sched else { return (0, 0) };
        let totals = sched.totals.lock();
        (totals.taken, totals.elided)
    }

    /// What each variable and each shared object cost the maatines that
    /// finished, when they counted it ([`Vm::count_contention`]): the
    /// variables that were locked or updated (globals by name, then one
    /// entry, [`CAPTURED_AND_MODULE`], for all captured variables and the
    /// file's top-level `let`s), and the shared objects whose lock
    /// was taken, most contended first. Empty before the run or when not
    /// counted.
    pub fn contention(&self) -> Contention {
        let Some(sched) = &self.sched else { return Contention::default() };
        let totals = sched.totals.lock();
        let names = sched.rt.program.globals.iter().map(|n| n.to_string()).chain([CAPTURED_AND_MODULE.to_owned()]);
        let vars =
            names.zip(totals.contention.vars.iter().copied()).filter(|(_, v)| *v != VarStats::default()).collect();
        let mut objects: Vec<ObjectStats> = totals.contention.objects.values().copied().collect();
        objects.sort_by_key(|o| std::cmp::Reverse((o.contended, o.waited, o.taken)));
        Contention { vars, objects }
    }

    /// Runs the program to its end (every maatine finished), writing `say`
    /// output to `out`. The error is the main maatine's, a deadlock report,
    /// or the errors of maatines that failed and were never joined.
    pub fn run(&mut self, out: &mut (dyn Write + Send)) -> Result<(), String> {
        self.run_checked(out).map_err(|e| e.to_string())
    }

    /// [`Vm::run`], with the reasons of a failure kept apart.
    pub fn run_checked(&mut self, out: &mut (dyn Write + Send)) -> Result<(), Failure> {
        let Some(rt) = self.rt.take() else {
            let main = RuntimeError {
                message: "the program already ran".to_owned(),
                maatine: MaatineId::new(1).expect("1 is an id"),
                trace: vec![],
            };
            return Err(Failure { main: Some(main), ..Failure::default() });
        };
        rt.space.set_trace(rt.config.trace);
        let (sched, workers) = Sched::new(rt, self.threads);
        self.sched = Some(Arc::clone(&sched));
        let previous = self.env.take();
        let (session, args) = (self.session, std::mem::take(&mut self.args));
        let mut calls = std::mem::take(&mut self.calls).into_iter();
        let call = calls.next();
        let (mut main, made) = Maatine::first(&sched, previous.as_ref(), session, &args, call.as_ref());
        main.host = true;
        self.env = made;
        let cell = Arc::clone(&main.cell);
        self.cells = vec![Arc::clone(&cell)];
        workers[0].push(main);
        let company = calls.map(|call| {
            let env = self.env.clone().expect("the host starts maatines in a session");
            let mut m = Maatine::start(&sched, |mc, buffers| {
                let stats = SyncStats::default();
                let cx = Ctx { mc, mode: sched.rt.world.mode(), stats: &stats };
                // SAFETY: the environment is shared; its slots synchronize themselves.
                let env = unsafe { mc.global(&env) };
                call_state(&cx, &sched.rt, (env, Gc::get(env).module.clone()), &call, buffers)
            });
            m.host = true;
            self.cells.push(Arc::clone(&m.cell));
            m as Queued
        });
        let company = company.collect();
        sched.run(workers, company, out);
        // The host observes the outcomes of the maatines it started.
        let main = cell.unobserved_error().map(|e| *e);
        let started: Vec<MaatineId> = self.cells.iter().map(|c| c.id).collect();
        let unjoined = sched.unobserved_errors().into_iter().filter(|e| !started.contains(&e.maatine)).collect();
        let failure = Failure { main, unjoined, deadlock: sched.deadlock() };
        if failure == Failure::default() { Ok(()) } else { Err(failure) }
    }

    /// Makes the run start one maatine for each of `calls` instead of the
    /// main function (the first is the main maatine).
    pub(crate) fn set_calls(&mut self, calls: Vec<Call>) {
        self.calls = calls;
    }

    /// After a run: how each maatine the host started ended ([`Vm::set_calls`];
    /// a result is the bits of what it returned, an object transferred out
    /// of its ended heap for the host to claim).
    pub(crate) fn outcomes(&self) -> Vec<Option<Outcome>> {
        self.cells.iter().map(|c| c.outcome()).collect()
    }
}

/// Parses, compiles and runs `src` (named `file`), writing output to `out`.
/// When `file` is a file, its imports are read relative to it. Syntax
/// errors come back rendered with the source line and caret.
pub fn run_source(file: &str, src: &str, config: Config, out: &mut (dyn Write + Send)) -> Result<(), String> {
    let path = std::path::Path::new(file);
    let loaded = if path.is_file() { crate::module::load(path, src)? } else { crate::module::from_text(file, src)? };
    let program = crate::compiler::compile_loaded(loaded, &[])?;
    Vm::new(program, config).run(out).map_err(|e| e.to_string())
}

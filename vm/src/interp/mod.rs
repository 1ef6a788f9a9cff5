//! The interpreter: runs a maatine in slices of a bounded number of
//! instructions. Its registers and frames live in its heap's root, so a
//! maatine is stackless: between slices (safe points) it holds no handle, its
//! heap pays its allocation debt, and the scheduler may move it to another OS
//! thread, park it, or stop it for a shared collection.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use maat_gc::{Config, Gc, GcAny, Global, Heap, IN_TRANSIT, Root, Trace, Tracer};
use maat_sync::{LockRequest, LockStatus, MaatineId, Participant, World};

mod arith;
mod concurrency;
mod format;
mod host;
mod methods;
mod show;
mod stdlib;
mod window;

use arith::{equal, simple, type_error};
use methods::unknown_method;

use crate::ast::BinOp;
use crate::bytecode::{Builtin, Const, GcOp, Literal, Member, MemberCache, Op, Program, Reg};
use crate::embed::{HostValue, NativeFn};
use crate::maatine::{Maatine, MaatineParker, SentLog, Spawned, WakeCell};
use crate::object::array::Array;
use crate::object::chan::{Chan, Received, SendError};
use crate::object::closure::Closure;
use crate::object::handle::{Handle, JoinCell, Outcome};
use crate::object::instance::{Class, Inst};
use crate::object::map::Map;
use crate::object::slot::Slot;
use crate::object::string::Str;
use crate::object::{Ctx, ObjError, SyncStats, kind};
use crate::sched::{Runtime, Sched};
use crate::value::{Unpacked, Value};
use window::{Code, Consts, Window};

/// Where `say` writes: the program's output, shared by the worker threads.
pub(crate) type Out<'o> = Mutex<&'o mut (dyn Write + Send)>;

/// Instructions per slice.
const SLICE: usize = 10_000;
/// Deepest call nesting before a stack overflow error.
const MAX_FRAMES: usize = 10_000;

/// A call frame: which function, where its registers start, where it is.
#[derive(Clone, Copy, Trace)]
struct Frame<'gc> {
    func: u32,
    base: usize,
    pc: usize,
    /// Absolute register of the caller that receives the result.
    ret: usize,
    /// The closure running, for its upvalues.
    closure: Option<Gc<'gc, Closure<'gc>>>,
}

/// What every maatine of a program shares: the global variables' slots,
/// each function's constants, made values once, and a value for each class.
/// Immutable (the slots synchronize themselves) and shared from the start.
#[derive(Trace)]
pub struct Env<'gc> {
    globals: Box<[Gc<'gc, Slot<'gc>>]>,
    consts: Box<[Box<[Value<'gc>]>]>,
    classes: Box<[Gc<'gc, Class>]>,
    /// The one-character strings of the ASCII characters, by code (what
    /// `s[i]` gives, made once).
    chars: Box<[Gc<'gc, Str>]>,
    /// The string `len` (interned: a method name constant `len` is this
    /// object), for the fast loop's lengths.
    len_name: Value<'gc>,
}

/// A maatine's state: the root of its heap.
pub struct State<'gc> {
    regs: Vec<Value<'gc>>,
    /// End of the live registers: the top frame's window. Registers above
    /// it belong to calls that returned and are not roots.
    top: usize,
    frames: Vec<Frame<'gc>>,
    handlers: Vec<Handler>,
    /// Open read-modify-write sections: the variable's slot and frame count.
    sections: Vec<(Gc<'gc, Slot<'gc>>, usize)>,
    env: Gc<'gc, Env<'gc>>,
    /// The module variables' slots: the main maatine's own (unshared, so
    /// free of locks) until it starts another maatine, which shares them.
    module: Box<[Gc<'gc, Slot<'gc>>]>,
    /// What the maatine returned, once its last frame returned.
    result: Value<'gc>,
}

// SAFETY: traces every root: the live registers (below `top`), the frames
// (their closures), the open sections' slots, the environment and the result.
unsafe impl Trace for State<'_> {
    fn trace(&self, t: &mut Tracer) {
        self.regs[..self.top.min(self.regs.len())].trace(t);
        self.frames.trace(t);
        self.sections.trace(t);
        self.env.trace(t);
        self.module.trace(t);
        self.result.trace(t);
    }
}

impl<'gc> State<'gc> {
    /// The state of a maatine about to call `func` (with `closure`) on `args`.
    fn calling(
        program: &Program,
        (env, module): (Gc<'gc, Env<'gc>>, Box<[Gc<'gc, Slot<'gc>>]>),
        func: u32,
        closure: Option<Gc<'gc, Closure<'gc>>>,
        args: &[Value<'gc>],
    ) -> Self {
        let top = usize::from(program.functions[func as usize].registers);
        let mut regs = vec![Value::nil(); top + 1];
        regs[..args.len()].copy_from_slice(args);
        let main = Frame { func, base: 0, pc: 0, ret: 0, closure };
        let (handlers, sections) = (Vec::new(), Vec::new());
        State { regs, top, frames: vec![main], handlers, sections, env, module, result: Value::nil() }
    }

    /// Makes the top frame's window the live registers.
    fn set_top(&mut self, program: &Program) {
        self.top = self.frames.last().map_or(0, |f| f.base + usize::from(program.functions[f.func as usize].registers));
    }
}

/// The root type of a maatine's heap.
pub(crate) struct Machine;
impl Root for Machine {
    type Of<'gc> = State<'gc>;
}

/// A runtime error: the message, the maatine, and the stack trace
/// (innermost call first).
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeError {
    /// What went wrong.
    pub message: String,
    /// In which maatine.
    pub maatine: MaatineId,
    /// The calls under way, innermost first.
    pub trace: Vec<TraceFrame>,
}

/// One call of a stack trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceFrame {
    /// The function's name (`Class.method` for methods).
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line being run; 0 in built-in code.
    pub line: u32,
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error: ")?;
        self.describe(f)
    }
}

impl RuntimeError {
    /// The message, the maatine and the trace, without the `error: ` prefix
    /// (what a joiner rethrows).
    fn describe(&self, f: &mut dyn std::fmt::Write) -> std::fmt::Result {
        writeln!(f, "{}", self.message)?;
        write!(f, "  in {}", self.maatine)?;
        const SHOWN: usize = 20;
        for (i, TraceFrame { function, file, line }) in self.trace.iter().enumerate() {
            if i == SHOWN / 2 && self.trace.len() > SHOWN {
                write!(f, "\n  ... {} more frames ...", self.trace.len() - SHOWN)?;
            }
            if i < SHOWN / 2 || i >= self.trace.len().saturating_sub(SHOWN / 2) {
                if *line == 0 {
                    write!(f, "\n  at {function} (built-in)")?;
                } else {
                    write!(f, "\n  at {function} ({file}:{line})")?;
                }
            }
        }
        Ok(())
    }

    /// The error as a joiner rethrows it: the failed maatine's message and
    /// trace, indented under `maatine N failed:`.
    fn rethrown(&self) -> String {
        let mut text = String::new();
        let _ = self.describe(&mut text);
        format!("{} failed: {}", self.maatine, text.replace('\n', "\n  "))
    }
}

impl std::error::Error for RuntimeError {}

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
}

/// The environment as a global root (what a session keeps between entries).
pub(crate) struct EnvRoot;
impl Root for EnvRoot {
    type Of<'gc> = Gc<'gc, Env<'gc>>;
}

/// How a slice ended, for the scheduler.
pub(crate) enum Slice {
    /// The budget ran out; the maatine can go on.
    Yield,
    /// It waits for something; its waker will make it runnable.
    Blocked,
    /// It returned or failed.
    Finished(Outcome),
}

enum Step {
    Continue,
    Done,
    Failed(String),
    Blocked,
    /// The program asked for something only a safe point can do.
    Request(Request),
    /// The heap owes collection work: a safe point, then the slice goes on
    /// with this many instructions left.
    Collect(usize),
}

/// What `GC.collect` and `GC.mode` ask of the next safe point.
#[derive(Clone, Copy)]
enum Request {
    Collect,
    Mode(maat_gc::Mode),
}

/// How an instruction ended.
enum Flow {
    Next,
    Done,
    /// It must wait: the instruction runs again when the maatine is woken.
    Block(String),
    Request(Request),
}

/// An error on its way to a `catch`: a runtime error's message, or a
/// thrown value.
enum Raise<'gc> {
    Message(String),
    Thrown(Value<'gc>),
}

impl From<String> for Raise<'_> {
    fn from(message: String) -> Self {
        Raise::Message(message)
    }
}

/// An open `try` block.
#[derive(Clone, Copy, Trace)]
struct Handler {
    /// Frames when it began (its own frame included).
    frames: usize,
    /// Where the `catch` block starts.
    target: usize,
    /// The absolute register receiving the error.
    error: usize,
    /// Read-modify-write sections open when it began.
    sections: usize,
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
        let rt = Runtime {
            program: Arc::new(program),
            natives,
            world: World::new(),
            table: maat_sync::VarLockTable::new(),
            space: maat_gc::Space::new(),
            config,
            started: std::time::Instant::now(),
            interrupt: Arc::default(),
        };
        Vm { rt: Some(rt), threads: 1, sched: None, env: None, session: false, args: Vec::new() }
    }

    /// One entry of a session: runs in `space`, keeping the global slots of
    /// `env` (the previous entry's environment).
    pub(crate) fn in_session(
        program: Program,
        config: Config,
        natives: Vec<NativeFn>,
        space: &maat_gc::Space,
        env: Option<Global<EnvRoot>>,
    ) -> Vm {
        let mut vm = Vm::with_natives(program, config, natives);
        if let Some(rt) = &mut vm.rt {
            rt.space = space.clone();
        }
        (vm.env, vm.session) = (env, true);
        vm
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

    /// Statistics of the heaps of the maatines that finished, and of the
    /// shared collections.
    pub fn gc_stats(&self) -> maat_gc::Stats {
        let Some(sched) = &self.sched else { return maat_gc::Stats::default() };
        let mut stats = sched.totals.lock().unwrap_or_else(|e| e.into_inner()).gc.clone();
        stats.merge(&sched.rt.space.stats());
        stats
    }

    /// Object operations that took their lock, and that elided it.
    pub fn lock_stats(&self) -> (u64, u64) {
        let Some(sched) = &self.sched else { return (0, 0) };
        let totals = sched.totals.lock().unwrap_or_else(|e| e.into_inner());
        (totals.taken, totals.elided)
    }

    /// Runs the program to its end (every maatine finished), writing `say`
    /// output to `out`. The error is the main maatine's, a deadlock report,
    /// or the errors of maatines that failed and were never joined.
    pub fn run(&mut self, out: &mut (dyn Write + Send)) -> Result<(), String> {
        let Some(rt) = self.rt.take() else { return Err("error: the program already ran".to_owned()) };
        let (sched, workers) = Sched::new(rt, self.threads);
        self.sched = Some(Arc::clone(&sched));
        let (previous, mut made) = (self.env.take(), None);
        let (session, args) = (self.session, std::mem::take(&mut self.args));
        let main = Maatine::start(&sched, |mc| {
            let stats = SyncStats::default();
            let cx = Ctx { mc, mode: sched.rt.world.mode(), stats: &stats };
            let program = &sched.rt.program;
            // SAFETY: the previous environment is shared; its slots
            // synchronize themselves.
            let kept = previous.as_ref().map(|g| Gc::get(unsafe { mc.global(g) }).globals.clone()).unwrap_or_default();
            let globals = (0..program.globals.len())
                .map(|i| kept.get(i).copied().unwrap_or_else(|| Slot::alloc(&cx, Value::nil())))
                .collect();
            let globals: Box<[_]> = globals;
            if let Some(g) = program.globals.iter().position(|g| g == crate::compiler::ARGS)
                && Slot::read(globals[g]).is_nil()
            {
                let items = args.iter().map(|a| Value::object(Str::alloc(&cx, a).into()));
                let array = Array::alloc(&cx, items.collect::<Vec<_>>());
                mc.freeze(array);
                Slot::store(globals[g], &cx, Value::object(array.into()));
            }
            let consts =
                program.functions.iter().map(|f| f.consts.iter().map(|c| constant(&cx, c)).collect()).collect();
            let classes = (0..program.classes.len()).map(|c| Class::alloc(&cx, c as u32)).collect();
            let chars = (0..128u8).map(|c| Str::alloc(&cx, char::from(c).encode_utf8(&mut [0; 4]))).collect();
            let len_name = Value::object(Str::alloc(&cx, "len").into());
            let env = mc.alloc(Env { globals, consts, classes, chars, len_name });
            mc.share(env);
            if session {
                made = Some(mc.make_global::<EnvRoot>(env));
            }
            let module = (0..program.module_vars).map(|_| Slot::alloc(&cx, Value::nil())).collect();
            State::calling(program, (env, module), 0, None, &[])
        });
        self.env = made;
        let cell = Arc::clone(&main.cell);
        workers[0].push(main);
        sched.run(workers, out);
        let mut errors: Vec<String> = cell.unobserved_error().map(|e| e.to_string()).into_iter().collect();
        for e in sched.unobserved_errors().iter().filter(|e| e.maatine != cell.id) {
            errors.push(format!("{e}\n  ({} was never joined)", e.maatine));
        }
        errors.extend(sched.deadlock().map(|report| format!("error: {report}")));
        if errors.is_empty() { Ok(()) } else { Err(errors.join("\n")) }
    }
}

impl Maatine {
    /// A new maatine of `sched` whose heap root `make_root` builds; live
    /// and active from here on.
    pub(crate) fn start(
        sched: &Arc<Sched>,
        make_root: impl for<'gc> FnOnce(&maat_gc::Mutation<'gc>) -> State<'gc>,
    ) -> Box<Maatine> {
        let heap = Heap::<Machine>::new_in(&sched.rt.space, sched.rt.config, make_root);
        let (id, wake) = sched.register(heap.id());
        Box::new(Maatine {
            id,
            heap,
            stats: SyncStats::default(),
            requests: HashMap::new(),
            cell: JoinCell::new(id),
            wake,
            waiting: String::new(),
            sent: SentLog::default(),
        })
    }

    /// Runs one slice; maatines it started go to `spawned`.
    pub(crate) fn run_slice(
        &mut self,
        sched: &Arc<Sched>,
        p: &Participant,
        out: &Out<'_>,
        spawned: &mut Spawned,
    ) -> Slice {
        let rt = &sched.rt;
        // Relaxed: the flag publishes nothing; a slice that misses it sees it at the next one.
        if rt.interrupt.load(std::sync::atomic::Ordering::Relaxed) {
            let error = self.error(&rt.program, "interrupted".to_owned());
            return Slice::Finished(Outcome::Failed(Box::new(error)));
        }
        let Maatine { id, heap, stats, requests, wake, waiting, sent, .. } = self;
        let mut budget = SLICE;
        let step = loop {
            let step = heap.mutate_root(|mc, state| {
                let cx = Ctx { mc, mode: rt.world.mode(), stats };
                let env = state.env;
                let mut run = Run { cx: &cx, rt, sched, me: *id, env, requests, wake, waiting, sent, out, spawned };
                run.slice(state, budget)
            });
            heap.collect_debt();
            match step {
                Step::Collect(left) => budget = left,
                step => break step,
            }
        };
        match step {
            Step::Continue => Slice::Yield,
            Step::Collect(_) => unreachable!("the loop above takes the safe point and goes on"),
            Step::Blocked => Slice::Blocked,
            Step::Done => self.finish(&rt.program),
            Step::Failed(message) => Slice::Finished(Outcome::Failed(Box::new(self.error(&rt.program, message)))),
            Step::Request(Request::Collect) => {
                self.heap.collect();
                sched.collect_everything(p);
                Slice::Yield
            }
            Step::Request(Request::Mode(mode)) => {
                self.heap.set_mode(mode);
                Slice::Yield
            }
        }
    }

    /// The maatine returned: its result changes hands (it is transferred
    /// out of the heap that is about to end, for the joiner to claim).
    fn finish(&mut self, program: &Program) -> Slice {
        let id = self.id;
        let sent = self.heap.mutate(|mc, state| {
            let result = state.result;
            match result.as_object().map(|o| mc.transfer(o)) {
                Some(Err(_)) => Err(format!(
                    "cannot return this {}: it was sent to another maatine, so {id} no longer holds it",
                    type_name(result)
                )),
                _ => Ok(result.to_bits()),
            }
        });
        match sent {
            Ok(bits) => Slice::Finished(Outcome::Returned(bits)),
            Err(message) => Slice::Finished(Outcome::Failed(Box::new(self.error(program, message)))),
        }
    }

    fn error(&mut self, program: &Program, message: String) -> RuntimeError {
        let trace = self.heap.mutate_root(|_, state| {
            state
                .frames
                .iter()
                .rev()
                .map(|f| {
                    let proto = &program.functions[f.func as usize];
                    TraceFrame {
                        function: proto.name.clone(),
                        file: program.files.get(usize::from(proto.file)).cloned().unwrap_or_default(),
                        line: proto.lines.get(f.pc.saturating_sub(1)).copied().unwrap_or(0),
                    }
                })
                .collect()
        });
        RuntimeError { message, maatine: self.id, trace }
    }
}

fn constant<'gc>(cx: &Ctx<'_, 'gc>, c: &Const) -> Value<'gc> {
    match c {
        Const::Num(n) => Value::num(*n),
        Const::Str(s) => Value::object(Str::alloc(cx, s).into()),
        // Only read by `New`, never loaded as a value.
        Const::Names(_) => Value::nil(),
    }
}

fn literal<'gc>(cx: &Ctx<'_, 'gc>, l: Option<&Literal>) -> Value<'gc> {
    match l {
        None => Value::nil(),
        Some(Literal::Bool(b)) => Value::bool(*b),
        Some(Literal::Num(n)) => Value::num(*n),
        Some(Literal::Str(s)) => Value::object(Str::alloc(cx, s).into()),
    }
}

/// One slice of execution.
struct Run<'r, 'a, 'o, 'gc> {
    cx: &'r Ctx<'a, 'gc>,
    rt: &'r Runtime,
    sched: &'r Arc<Sched>,
    me: MaatineId,
    env: Gc<'gc, Env<'gc>>,
    requests: &'r mut HashMap<u32, LockRequest>,
    wake: &'r Arc<WakeCell>,
    waiting: &'r mut String,
    sent: &'r mut SentLog,
    out: &'r Out<'o>,
    spawned: &'r mut Spawned,
}

type OpResult<T> = Result<T, String>;

impl<'gc> Run<'_, '_, '_, 'gc> {
    fn slice(&mut self, st: &mut State<'gc>, budget: usize) -> Step {
        match self.run_for(st, budget) {
            Err(step) => return step,
            Ok(0) => {}
            Ok(left) => return Step::Collect(left),
        }
        // Preemption waits (one more slice at most) for the maatine to leave
        // its read-modify-write sections: switching inside one would make
        // every maatine that needs the variable wait, one switch per update.
        for _ in 0..SLICE {
            if st.sections.is_empty() {
                break;
            }
            if let Err(step) = self.run_for(st, 1) {
                return step;
            }
        }
        Step::Continue
    }

    /// Runs `budget` instructions, or fewer if the maatine ends, fails,
    /// blocks or needs a safe point (the step that says so), or if an
    /// allocation made collection due outside read-modify-write sections
    /// (`Ok` with the instructions left).
    fn run_for(&mut self, st: &mut State<'gc>, mut budget: usize) -> Result<usize, Step> {
        while budget > 0 {
            budget -= self.run_simple(st, budget);
            if budget == 0 {
                break;
            }
            budget -= 1;
            match self.step(st) {
                // An allocation made collection due: a safe point now, so
                // that each pays for about one step of allocation (short
                // steps, no overshoot). Not inside a read-modify-write
                // section, whose locks the maatine keeps until it leaves it.
                Ok(Flow::Next) if self.cx.mc.collection_due() && st.sections.is_empty() => return Ok(budget),
                Ok(Flow::Next) => {}
                Ok(Flow::Done) => return Err(Step::Done),
                Ok(Flow::Request(r)) => return Err(Step::Request(r)),
                Ok(Flow::Block(what)) => {
                    // The instruction runs again when the maatine is woken.
                    st.frames.last_mut().expect("a running maatine has a frame").pc -= 1;
                    *self.waiting = what;
                    return Err(Step::Blocked);
                }
                Err(raise) => {
                    if let Err(message) = self.catch(st, raise) {
                        self.release_sections(st, 0);
                        return Err(Step::Failed(message));
                    }
                }
            }
        }
        Ok(0)
    }

    /// The fast path: runs instructions that cannot fail, allocate or block
    /// (moves, constants, global reads, arithmetic and comparison on numbers,
    /// jumps, calls of functions and returns to a caller) with the frame held
    /// in locals (reloaded after a call or a return), until one that needs
    /// [`Run::step`] or `budget` instructions. Returns how many it ran.
    fn run_simple(&mut self, st: &mut State<'gc>, budget: usize) -> usize {
        let mut ran = 0;
        while ran < budget {
            match self.run_frame(st, budget - ran) {
                (n, true) => ran += n,
                (n, false) => return ran + n,
            }
        }
        ran
    }

    /// [`Run::run_simple`] within the current frame: how many instructions
    /// it ran, and whether it stopped at a call or a return it made (so the
    /// fast path goes on in the new frame).
    #[inline(always)]
    fn run_frame(&mut self, st: &mut State<'gc>, budget: usize) -> (usize, bool) {
        let State { regs, frames, env, sections, module, .. } = st;
        let Env { globals, consts, len_name, .. } = Gc::get(*env);
        let depth = frames.len();
        let frame = frames.last_mut().expect("a running maatine has a frame");
        let proto = &self.rt.program.functions[frame.func as usize];
        let (code, consts) = (Code(&proto.code), Consts(&consts[frame.func as usize]));
        let (base, mut pc) = (frame.base, frame.pc);
        let r = |reg: Reg| base + usize::from(reg);
        let mut w = Window::new(regs, base, proto.registers).expect("every frame's registers exist");
        let mut ran = 0;
        while ran < budget {
            match code[pc] {
                Op::LoadK(d, k) => w[d] = consts[k],
                Op::LoadNil(d) => w[d] = Value::nil(),
                Op::LoadBool(d, v) => w[d] = Value::bool(v),
                Op::Move(d, s) => w[d] = w[s],
                Op::GetGlobal(d, g) => w[d] = Slot::read(globals[g as usize]),
                Op::GetModule(d, i) => w[d] = Slot::read(module[usize::from(i)]),
                Op::Not(d, x) => w[d] = Value::bool(!w[x].truthy()),
                Op::StoreGlobal(g, s) if w[s].as_object().is_none() => {
                    Slot::store(globals[g as usize], self.cx, w[s]);
                }
                Op::RmwBegin(g) if Slot::try_begin(globals[g as usize], self.cx, self.me) => {
                    sections.push((globals[g as usize], depth));
                }
                Op::RmwEnd(g) => {
                    if Slot::end(globals[g as usize], self.cx, &self.rt.table, self.me).is_err() {
                        break;
                    }
                    sections.pop();
                }
                Op::RmwGet(d, g) if Slot::try_begin(globals[g as usize], self.cx, self.me) => {
                    sections.push((globals[g as usize], depth));
                    w[d] = Slot::read(globals[g as usize]);
                }
                Op::RmwSet(g, s) if w[s].as_object().is_none() => {
                    let slot = globals[g as usize];
                    Slot::store(slot, self.cx, w[s]);
                    // Not the holder: the general path stores again (the
                    // same value) and reports it.
                    if Slot::end(slot, self.cx, &self.rt.table, self.me).is_err() {
                        break;
                    }
                    sections.pop();
                }
                Op::Jump(t) => {
                    pc = t as usize;
                    ran += 1;
                    continue;
                }
                Op::JumpIfFalse(c, t) | Op::JumpIfTrue(c, t) => {
                    let jump_if = matches!(code[pc], Op::JumpIfTrue(..));
                    pc = if w[c].truthy() == jump_if { t as usize } else { pc + 1 };
                    ran += 1;
                    continue;
                }
                Op::GetIndex(d, o, i) => {
                    let Some(v) = self.array_item(w[o], w[i]) else { break };
                    w[d] = v;
                }
                // A call that fails (arity, depth) is left to the general
                // path, which reports it.
                Op::Call(d, f, b, n) if self.check_call(f, usize::from(n), depth).is_ok() => {
                    frame.pc = pc + 1;
                    self.push_frame(st, f, None, r(b), usize::from(n), r(d));
                    return (ran + 1, true);
                }
                // A field read or a method call on an instance whose class
                // this instruction has met before (its member cache).
                Op::CallMethod(d, o, _, _, n) => {
                    let Some((_, Member::Method(f))) = cached_member(w[o], &proto.member_cache[pc]) else { break };
                    if self.check_call(f, usize::from(n) + 1, depth).is_err() {
                        break;
                    }
                    frame.pc = pc + 1;
                    self.push_frame(st, f, None, r(o), usize::from(n) + 1, r(d));
                    return (ran + 1, true);
                }
                // A field, a method without arguments (in a frame past this
                // one's registers, as in `step`), or the length of a string,
                // an array or a map (`x.len`).
                Op::GetField(d, o, k) => {
                    let Some((inst, member)) = cached_member(w[o], &proto.member_cache[pc]) else {
                        match self.length(w[o]) {
                            Some(len) if consts[k] == *len_name => w[d] = Value::num(len),
                            _ => break,
                        }
                        pc += 1;
                        ran += 1;
                        continue;
                    };
                    match member {
                        Member::Field(i) => w[d] = Inst::get(inst, self.cx, i as usize),
                        Member::Method(f) if self.check_call(f, 1, depth).is_ok() => {
                            let (recv, top) = (w[o], base + usize::from(proto.registers));
                            frame.pc = pc + 1;
                            st.regs[top] = recv;
                            self.push_frame(st, f, None, top, 1, r(d));
                            return (ran + 1, true);
                        }
                        Member::Method(_) => break,
                    }
                }
                Op::SetField(o, _, v) => {
                    let Some((inst, Member::Field(i))) = cached_member(w[o], &proto.member_cache[pc]) else {
                        break;
                    };
                    // A store that fails (a frozen instance) changes nothing:
                    // the general path tries again and reports it.
                    if Inst::set(inst, self.cx, i as usize, w[v]).is_err() {
                        break;
                    }
                }
                Op::CallValue(d, c, b, n) => {
                    let Some(closure) = object_of(w[c], kind::CLOSURE) else { break };
                    // SAFETY: kind CLOSURE objects are Closures.
                    let closure = unsafe { closure.downcast::<Closure<'gc>>() };
                    let f = Gc::get(closure).func;
                    if self.check_call(f, usize::from(n), depth).is_err() {
                        break;
                    }
                    frame.pc = pc + 1;
                    self.push_frame(st, f, Some(closure), r(b), usize::from(n), r(d));
                    return (ran + 1, true);
                }
                Op::GetUpval(d, i) => w[d] = Slot::read(upvalue(frame, i)),
                Op::GetSlot(d, s) => w[d] = Slot::read(slot_in(w[s])),
                Op::SetIndex(o, i, v) => {
                    let Some(array) = object_of(w[o], kind::ARRAY).filter(|a| a.holder().is_none()) else {
                        break;
                    };
                    let Some(index) = w[i].as_num() else { break };
                    // A store that fails (out of range, frozen) changes
                    // nothing: the general path tries again and reports it.
                    // SAFETY: kind ARRAY objects are Arrays.
                    if Array::set(unsafe { array.downcast() }, self.cx, index, w[v]).is_err() {
                        break;
                    }
                }
                // The next item of an array (a channel's waits: the
                // general path).
                Op::ForNext(var, src, index, exit) if object_of(w[src], kind::CHAN).is_none() => {
                    let (i, limit) = (w[index], w[index + 1]);
                    if i.as_num() < limit.as_num() {
                        let Some(v) = self.array_item(w[src], i) else { break };
                        w[var] = v;
                    } else {
                        pc = exit as usize;
                        ran += 1;
                        continue;
                    }
                }
                Op::Return(_) | Op::ReturnNil if depth > 1 => {
                    let value = if let Op::Return(s) = code[pc] { w[s] } else { Value::nil() };
                    self.ret(st, value);
                    return (ran + 1, true);
                }
                Op::GetIndexK(d, o, k) => {
                    let Some(v) = self.array_item(w[o], consts[k]) else { break };
                    w[d] = v;
                }
                Op::Bin(op, d, x, y) => {
                    let Some(v) = simple(op, w[x], w[y]) else { break };
                    w[d] = v;
                }
                Op::BinK(op, d, x, k) => {
                    let Some(v) = simple(op, w[x], consts[k]) else { break };
                    w[d] = v;
                }
                Op::CmpJump(op, x, y, sense, t) => {
                    let Some(v) = simple(op, w[x], w[y]) else { break };
                    pc = if v.truthy() == sense { t as usize } else { pc + 1 };
                    ran += 1;
                    continue;
                }
                Op::CmpJumpK(op, x, k, sense, t) => {
                    let Some(v) = simple(op, w[x], consts[k]) else { break };
                    pc = if v.truthy() == sense { t as usize } else { pc + 1 };
                    ran += 1;
                    continue;
                }
                _ => break,
            }
            pc += 1;
            ran += 1;
        }
        frame.pc = pc;
        (ran, false)
    }

    /// Why function `f` cannot be called with `n` arguments, if it cannot.
    #[inline]
    fn check_arity(&self, f: u32, n: usize) -> OpResult<()> {
        let callee = &self.rt.program.functions[f as usize];
        if n == usize::from(callee.params) {
            return Ok(());
        }
        Err(format!("{} expects {} argument(s), got {n}", callee.name, callee.params))
    }

    /// Why function `f` cannot be called with `n` arguments from call depth
    /// `depth`, if it cannot.
    #[inline]
    fn check_call(&self, f: u32, n: usize, depth: usize) -> OpResult<()> {
        self.check_arity(f, n)?;
        if depth >= MAX_FRAMES {
            return Err(format!("stack overflow: more than {MAX_FRAMES} nested calls"));
        }
        Ok(())
    }

    /// The length of a string, or of an array or a map this maatine may use.
    #[inline]
    fn length(&self, v: Value<'gc>) -> Option<f64> {
        let o = v.as_object().filter(|o| o.holder().is_none())?;
        Some(match o.kind() {
            kind::STR => {
                // SAFETY: kind STR objects are Strs.
                let s = Gc::get(unsafe { o.downcast::<Str>() });
                methods::char_len(s.as_str(), s.is_ascii()) as f64
            }
            // SAFETY: kind ARRAY objects are Arrays.
            kind::ARRAY => Array::len(unsafe { o.downcast() }, self.cx) as f64,
            // SAFETY: kind MAP objects are Maps.
            kind::MAP => Map::len(unsafe { o.downcast() }, self.cx) as f64,
            _ => return None,
        })
    }

    /// `array[index]` when it cannot fail: an array this maatine may use and
    /// an index in range (anything else takes the slow path, which reports).
    #[inline]
    fn array_item(&self, o: Value<'gc>, i: Value<'gc>) -> Option<Value<'gc>> {
        let array = object_of(o, kind::ARRAY).filter(|a| a.holder().is_none())?;
        // SAFETY: kind ARRAY objects are Arrays.
        Array::get(unsafe { array.downcast() }, self.cx, i.as_num()?).ok()
    }

    /// Sends an error to the innermost `try`, unwinding frames and closing
    /// the read-modify-write sections opened since; the message if none.
    fn catch(&mut self, st: &mut State<'gc>, raise: Raise<'gc>) -> Result<(), String> {
        let Some(h) = st.handlers.pop() else {
            return Err(match raise {
                Raise::Message(m) => m,
                Raise::Thrown(v) => format!("uncaught: {}", self.show(v)),
            });
        };
        self.release_sections(st, h.sections);
        st.frames.truncate(h.frames);
        st.set_top(&self.rt.program);
        // The try body's registers (all above the error's) are dead: clear
        // them so that they keep nothing alive.
        let end = st.top.min(st.regs.len());
        st.regs[h.error + 1..end.max(h.error + 1)].fill(Value::nil());
        st.regs[h.error] = match raise {
            Raise::Message(m) => Value::object(Str::alloc_string(self.cx, m).into()),
            Raise::Thrown(v) => v,
        };
        st.frames.last_mut().expect("the handler's frame").pc = h.target;
        Ok(())
    }

    fn release_sections(&mut self, st: &mut State<'gc>, keep: usize) {
        for (slot, _) in st.sections.drain(keep..).rev() {
            // Sections are opened and closed by this maatine only: it holds them.
            Slot::end(slot, self.cx, &self.rt.table, self.me).expect("this maatine holds its sections");
        }
    }

    /// Executes one instruction. Every instruction that allocates comes
    /// here, so this is where the heap limit becomes a Maat error (the others,
    /// `GC.collect` and assigning `nil` among them, still run, which is how a
    /// program recovers).
    fn step(&mut self, st: &mut State<'gc>) -> Result<Flow, Raise<'gc>> {
        let frame = *st.frames.last().expect("a running maatine has a frame");
        let proto = &self.rt.program.functions[frame.func as usize];
        let op = proto.code[frame.pc];
        st.frames.last_mut().expect("checked").pc += 1;
        if allocates(op) {
            self.cx.mc.check_limit().map_err(|oom| oom.to_string())?;
        }
        let b = frame.base;
        let r = |reg: Reg| b + usize::from(reg);
        // `obj.name` is `obj.name()` with the receiver in the register past
        // the frame's (which the register file always has: see `push_frame`),
        // where a method's frame may start.
        let op = match op {
            Op::GetField(d, o, k) => {
                st.regs[r(proto.registers)] = st.regs[r(o)];
                Op::CallMethod(d, proto.registers, k, proto.registers + 1, 0)
            }
            op => op,
        };
        let env = Gc::get(st.env);
        let konst = |k: u32| env.consts[frame.func as usize][k as usize];
        match op {
            Op::LoadK(d, k) => st.regs[r(d)] = konst(k),
            Op::LoadNil(d) => st.regs[r(d)] = Value::nil(),
            Op::LoadBool(d, v) => st.regs[r(d)] = Value::bool(v),
            Op::Move(d, s) => st.regs[r(d)] = st.regs[r(s)],
            Op::GetGlobal(d, g) => st.regs[r(d)] = Slot::read(env.globals[g as usize]),
            Op::SetGlobal(g, s) => {
                let (slot, value) = (env.globals[g as usize], st.regs[r(s)]);
                let status = self.global_lock(g, |rt, request, parker| {
                    Slot::write(slot, rt.cx, &rt.rt.table, request, parker, value)
                })?;
                if status == LockStatus::Suspended {
                    return Ok(self.blocked_on_variable(&self.rt.program.globals[g as usize], slot));
                }
            }
            Op::StoreGlobal(g, s) => Slot::store(env.globals[g as usize], self.cx, st.regs[r(s)]),
            Op::RmwBegin(g) | Op::RmwGet(_, g) => {
                let slot = env.globals[g as usize];
                let status =
                    self.global_lock(g, |rt, request, parker| Slot::begin(slot, rt.cx, &rt.rt.table, request, parker))?;
                if status == LockStatus::Suspended {
                    return Ok(self.blocked_on_variable(&self.rt.program.globals[g as usize], slot));
                }
                st.sections.push((slot, st.frames.len()));
                if let Op::RmwGet(d, _) = op {
                    st.regs[r(d)] = Slot::read(slot);
                }
            }
            Op::RmwEnd(g) | Op::RmwSet(g, _) => {
                let slot = env.globals[g as usize];
                if let Op::RmwSet(_, s) = op {
                    Slot::store(slot, self.cx, st.regs[r(s)]);
                }
                st.sections.pop();
                Slot::end(slot, self.cx, &self.rt.table, self.me).map_err(|e| e.to_string())?;
            }
            Op::TryBegin(target, e) => st.handlers.push(Handler {
                frames: st.frames.len(),
                target: target as usize,
                error: r(e),
                sections: st.sections.len(),
            }),
            Op::TryEnd => drop(st.handlers.pop()),
            Op::Throw(v) => return Err(Raise::Thrown(st.regs[r(v)])),
            Op::Gc(d, op, arg) => {
                st.regs[r(d)] = Value::nil();
                match op {
                    GcOp::Collect => return Ok(Flow::Request(Request::Collect)),
                    GcOp::Stats => st.regs[r(d)] = self.gc_stats()?,
                    GcOp::Mode => {
                        let mode = match text_of(st.regs[r(arg)]) {
                            Some("inc") => maat_gc::Mode::Incremental,
                            Some("gen") => maat_gc::Mode::Generational,
                            _ => {
                                return Err(format!(
                                    "GC.mode takes \"inc\" or \"gen\", got {}",
                                    self.show(st.regs[r(arg)])
                                )
                                .into());
                            }
                        };
                        return Ok(Flow::Request(Request::Mode(mode)));
                    }
                }
            }
            Op::Builtin(d, b, base, n) => {
                let args = &st.regs[r(base)..r(base) + usize::from(n)];
                st.regs[r(d)] = match (b, args) {
                    (Builtin::Clock, []) => Value::num(self.rt.started.elapsed().as_secs_f64()),
                    (Builtin::MaatineId, []) => Value::num(self.me.get() as f64),
                    (Builtin::Assert, [cond, rest @ ..]) if rest.len() <= 1 => {
                        if !cond.truthy() {
                            let why = rest.first().map_or_else(
                                || "assertion failed".to_owned(),
                                |m| format!("assertion failed: {}", self.show(*m)),
                            );
                            return Err(why.into());
                        }
                        Value::nil()
                    }
                    (Builtin::Native(i), args) => {
                        let host: Vec<HostValue> = args.iter().map(|v| self.to_host(*v, 0)).collect::<OpResult<_>>()?;
                        let native = &self.rt.natives[i as usize];
                        let result =
                            native(&host).map_err(|e| format!("{}: {e}", self.rt.program.natives[i as usize]))?;
                        self.host_to_value(&result)?
                    }
                    (Builtin::Std(f), args) => self.std_call(f, args)?,
                    (Builtin::Clock, _) => return Err(format!("clock takes no arguments, got {n}").into()),
                    (Builtin::Assert, _) => return Err(format!("assert takes 1 or 2 arguments, got {n}").into()),
                    (Builtin::MaatineId, _) => return Err(format!("maatine_id takes no arguments, got {n}").into()),
                };
            }
            Op::Mark(d, o, freeze) => {
                let v = st.regs[r(o)];
                if let Some(obj) = v.as_object() {
                    if freeze {
                        self.cx.mc.freeze(obj)
                    } else {
                        self.cx.mc.share(obj)
                    };
                }
                st.regs[r(d)] = v;
            }
            Op::Bin(o, d, x, y) => st.regs[r(d)] = self.binary(o, st.regs[r(x)], st.regs[r(y)])?,
            Op::BinK(o, d, x, k) => st.regs[r(d)] = self.binary(o, st.regs[r(x)], konst(k))?,
            Op::CmpJump(o, x, y, sense, t) => {
                let taken = self.binary(o, st.regs[r(x)], st.regs[r(y)])?.truthy() == sense;
                jump_if(st, taken, t);
            }
            Op::CmpJumpK(o, x, k, sense, t) => {
                let taken = self.binary(o, st.regs[r(x)], konst(k))?.truthy() == sense;
                jump_if(st, taken, t);
            }
            Op::Neg(d, x) => {
                let n = st.regs[r(x)].as_num().ok_or_else(|| type_error("-", &[st.regs[r(x)]]))?;
                st.regs[r(d)] = Value::num(-n);
            }
            Op::Not(d, x) => st.regs[r(d)] = Value::bool(!st.regs[r(x)].truthy()),
            Op::BitNot(d, x) => {
                let v = st.regs[r(x)];
                let n = v.as_num().ok_or_else(|| type_error("~", &[v]))?;
                let not = arith::bit_not(n)
                    .ok_or_else(|| format!("`~` needs an integer within ±2^53, got {}", arith::show_num(n)))?;
                st.regs[r(d)] = Value::num(not);
            }
            Op::GetModule(d, i) => st.regs[r(d)] = Slot::read(st.module[usize::from(i)]),
            Op::ModuleSlot(d, i) => st.regs[r(d)] = Value::object(st.module[usize::from(i)].into()),
            Op::Jump(t) => jump_if(st, true, t),
            Op::JumpIfFalse(c, t) | Op::JumpIfTrue(c, t) => {
                let taken = st.regs[r(c)].truthy() == matches!(op, Op::JumpIfTrue(..));
                jump_if(st, taken, t);
            }
            Op::Call(d, f, base, n) => self.call(st, f, None, r(base), usize::from(n), r(d))?,
            Op::CallValue(d, c, base, n) => {
                let callee = st.regs[r(c)];
                let closure =
                    object_of(callee, kind::CLOSURE).ok_or_else(|| format!("cannot call {}", type_name(callee)))?;
                // SAFETY: kind CLOSURE objects are Closures.
                let closure = unsafe { closure.downcast::<Closure<'gc>>() };
                self.call(st, Gc::get(closure).func, Some(closure), r(base), usize::from(n), r(d))?;
            }
            Op::Closure(d, f, base, n) => {
                let slots = st.regs[r(base)..r(base) + usize::from(n)]
                    .iter()
                    .map(|v| {
                        let slot = object_of(*v, kind::SLOT).expect("closures capture slots");
                        // SAFETY: kind SLOT objects are Slots.
                        unsafe { slot.downcast::<Slot<'gc>>() }
                    })
                    .collect();
                st.regs[r(d)] = Value::object(Closure::alloc(self.cx, f, slots).into());
            }
            Op::NewSlot(d, s) => st.regs[r(d)] = Value::object(Slot::alloc(self.cx, st.regs[r(s)]).into()),
            Op::GetSlot(d, s) => st.regs[r(d)] = Slot::read(slot_in(st.regs[r(s)])),
            Op::GetUpval(d, i) => st.regs[r(d)] = Slot::read(upvalue(&frame, i)),
            Op::UpvalSlot(d, i) => st.regs[r(d)] = Value::object(upvalue(&frame, i).into()),
            Op::SetSlot(s, v) => {
                let (slot, value) = (slot_in(st.regs[r(s)]), st.regs[r(v)]);
                let mut request = LockRequest::new(self.me, CAPTURED);
                let parker = MaatineParker(self.wake);
                let status = Slot::write(slot, self.cx, &self.rt.table, &mut request, &parker, value)
                    .map_err(|d| d.to_string())?;
                if status == LockStatus::Suspended {
                    return Ok(self.blocked_on_variable(CAPTURED, slot));
                }
            }
            Op::SlotBegin(s) => {
                let slot = slot_in(st.regs[r(s)]);
                if !Slot::try_begin(slot, self.cx, self.me) {
                    let mut request = LockRequest::new(self.me, CAPTURED);
                    let parker = MaatineParker(self.wake);
                    let status =
                        Slot::begin(slot, self.cx, &self.rt.table, &mut request, &parker).map_err(|d| d.to_string())?;
                    if status == LockStatus::Suspended {
                        return Ok(self.blocked_on_variable(CAPTURED, slot));
                    }
                }
                st.sections.push((slot, st.frames.len()));
            }
            Op::SlotStore(s, v) => Slot::store(slot_in(st.regs[r(s)]), self.cx, st.regs[r(v)]),
            Op::SlotEnd(s) => {
                st.sections.pop();
                Slot::end(slot_in(st.regs[r(s)]), self.cx, &self.rt.table, self.me).map_err(|e| e.to_string())?;
            }
            Op::Return(s) => return Ok(self.ret(st, st.regs[r(s)])),
            Op::ReturnNil => return Ok(self.ret(st, Value::nil())),
            Op::NewArray(d, base, n) => {
                let items = st.regs[r(base)..r(base) + usize::from(n)].iter().copied();
                st.regs[r(d)] = Value::object(Array::alloc(self.cx, items).into());
            }
            Op::NewMap(d, base, n) => {
                let map = Map::alloc(self.cx);
                for i in 0..usize::from(n) {
                    let (k, v) = (st.regs[r(base) + 2 * i], st.regs[r(base) + 2 * i + 1]);
                    Map::set(map, self.cx, k, v).map_err(|e| e.to_string())?;
                }
                st.regs[r(d)] = Value::object(map.into());
            }
            Op::GetIndex(d, o, i) => st.regs[r(d)] = self.get_index(st.regs[r(o)], st.regs[r(i)])?,
            Op::GetIndexK(d, o, k) => st.regs[r(d)] = self.get_index(st.regs[r(o)], konst(k))?,
            Op::SetIndex(o, i, v) => {
                self.held(st.regs[r(o)])?;
                self.set_index(st.regs[r(o)], st.regs[r(i)], st.regs[r(v)])?;
            }
            Op::Say(base, n, newline) => {
                let values = &st.regs[r(base)..r(base) + usize::from(n)];
                values.iter().try_for_each(|v| self.held(*v))?;
                let mut text: String = values.iter().map(|v| self.show(*v)).collect();
                if newline {
                    text.push('\n');
                }
                let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
                out.write_all(text.as_bytes()).map_err(|e| format!("cannot write output: {e}"))?;
            }
            Op::Len(d, o) => {
                let v = st.regs[r(o)];
                self.held(v)?;
                st.regs[r(d)] = if object_of(v, kind::CHAN).is_some() {
                    Value::num(f64::INFINITY)
                } else {
                    let array =
                        object_of(v, kind::ARRAY).ok_or_else(|| format!("cannot iterate over {}", type_name(v)))?;
                    // SAFETY: kind ARRAY objects are Arrays.
                    Value::num(Array::len(unsafe { array.downcast() }, self.cx) as f64)
                };
            }
            Op::ForNext(var, src, index, exit) => {
                let source = st.regs[r(src)];
                if let Some(chan) = object_of(source, kind::CHAN) {
                    // SAFETY: kind CHAN objects are Chans.
                    match self.recv(Gc::get(unsafe { chan.downcast::<Chan>() }), true) {
                        Some(Some(v)) => st.regs[r(var)] = v,
                        Some(None) => st.frames.last_mut().expect("checked").pc = exit as usize,
                        None => return Ok(Flow::Block(self.waits_at("to receive from a channel", st))),
                    }
                } else {
                    let (i, limit) = (st.regs[r(index)], st.regs[r(index) + 1]);
                    if i.as_num() < limit.as_num() {
                        st.regs[r(var)] = self.get_index(source, i)?;
                    } else {
                        st.frames.last_mut().expect("checked").pc = exit as usize;
                    }
                }
            }
            Op::NewChan(d, c) => {
                let cap = st.regs[r(c)];
                let n = cap.as_num().filter(|n| *n >= 0.0 && n.fract() == 0.0 && *n <= u32::MAX as f64);
                let n = n.ok_or_else(|| {
                    format!("Chan.new needs a capacity: a whole number from 0, got {}", self.show(cap))
                })?;
                st.regs[r(d)] = Value::object(Chan::alloc(self.cx, n as usize).into());
            }
            Op::Spawn(d, f, base, n) => st.regs[r(d)] = self.spawn(st, f, None, r(base), usize::from(n))?,
            Op::SpawnValue(d, c, base, n) => {
                let callee = st.regs[r(c)];
                let closure = object_of(callee, kind::CLOSURE)
                    .ok_or_else(|| format!("cannot run {} in a maatine", type_name(callee)))?;
                // SAFETY: kind CLOSURE objects are Closures.
                let closure = unsafe { closure.downcast::<Closure<'gc>>() };
                st.regs[r(d)] = self.spawn(st, Gc::get(closure).func, Some(closure), r(base), usize::from(n))?;
            }
            Op::JoinAll(a, count) => return self.join_all(st, r(a), r(count)),
            Op::CallMethod(d, o, k, base, n) => {
                let name: &str = const_str(&proto.consts[k as usize]);
                let recv = st.regs[r(o)];
                self.held(recv)?;
                if let Some(inst) = object_of(recv, kind::INST) {
                    // SAFETY: kind INST objects are Insts.
                    let inst = unsafe { inst.downcast::<Inst<'gc>>() };
                    let class = Gc::get(inst).class;
                    match self.member(&proto.member_cache[frame.pc], class, name) {
                        Some(Member::Field(i)) if n == 0 => st.regs[r(d)] = Inst::get(inst, self.cx, i as usize),
                        Some(Member::Method(f)) => self.call(st, f, None, r(o), usize::from(n) + 1, r(d))?,
                        _ => {
                            // A field called with arguments: only a method of that name will do.
                            let info = &self.rt.program.classes[class as usize];
                            match info.methods.iter().find(|(m, _)| **m == *name) {
                                Some(&(_, f)) => self.call(st, f, None, r(o), usize::from(n) + 1, r(d))?,
                                None if matches!(name, "class" | "to_s" | "frozen") => {
                                    let args = &st.regs[r(base)..r(base) + usize::from(n)];
                                    st.regs[r(d)] = self.method(recv, name, args)?;
                                }
                                None => return Err(format!("{} has no field or method `{name}`", info.name).into()),
                            }
                        }
                    }
                } else if let Some(flow) = self.concurrency_method(st, recv, name, r(d), r(base), usize::from(n))? {
                    return Ok(flow);
                } else if let Some(f) = self.prelude_method(recv, name, usize::from(n)) {
                    self.call(st, f, None, r(o), usize::from(n) + 1, r(d))?;
                } else {
                    let value = self.method(recv, name, &st.regs[r(base)..r(base) + usize::from(n)])?;
                    st.regs[r(d)] = value;
                }
            }
            Op::GetField(..) => unreachable!("rewritten to CallMethod above"),
            Op::NewClass(d, c) => st.regs[r(d)] = self.class_value(c),
            Op::New(d, c, k, base, n) => self.new_instance(st, (r(d), st.regs[r(c)]), k, r(base), usize::from(n))?,
            Op::SetField(o, k, v) => {
                let (recv, name) = (st.regs[r(o)], const_str(&proto.consts[k as usize]));
                self.held(recv)?;
                let inst = object_of(recv, kind::INST)
                    .ok_or_else(|| format!("cannot set field `{name}` of {}", type_name(recv)))?;
                // SAFETY: kind INST objects are Insts.
                let inst = unsafe { inst.downcast::<Inst<'gc>>() };
                let class = Gc::get(inst).class;
                let Some(Member::Field(i)) = self.member(&proto.member_cache[frame.pc], class, name) else {
                    return Err(
                        format!("{} has no field `{name}`", self.rt.program.classes[class as usize].name).into()
                    );
                };
                Inst::set(inst, self.cx, i as usize, st.regs[r(v)]).map_err(|e| e.to_string())?;
            }
        }
        Ok(Flow::Next)
    }

    /// The value of class `c` (one object per class, so classes compare by
    /// identity).
    fn class_value(&self, c: u32) -> Value<'gc> {
        Value::object(Gc::get(self.env).classes[c as usize].into())
    }

    /// `class.new(…)` into register `d` (see [`Op::New`]): the instance is
    /// made with its literal defaults and named fields here; computed
    /// defaults and `init` run in a call of the class's constructor, which
    /// returns the instance.
    fn new_instance(
        &mut self,
        st: &mut State<'gc>,
        (d, class_value): (usize, Value<'gc>),
        k: u32,
        base: usize,
        n: usize,
    ) -> OpResult<()> {
        let class = object_of(class_value, kind::CLASS)
            .ok_or_else(|| format!("cannot call new on {}", type_name(class_value)))?;
        // SAFETY: kind CLASS objects are Classes.
        let index = Gc::get(unsafe { class.downcast::<Class>() }).index;
        // The runtime outlives this run (a copied reference, not a borrow of
        // `self`), so `self.call` below can take `self` mutably.
        let program = &self.rt.program;
        let info = &program.classes[index as usize];
        let mut fields: Vec<Value<'gc>> = info.defaults.iter().map(|l| literal(self.cx, l.as_ref())).collect();
        let frame = st.frames.last().expect("a running maatine has a frame");
        let proto = &program.functions[frame.func as usize];
        let mut named = 0u64;
        let ctor = if k == u32::MAX {
            match info.init {
                Some((_, want)) if usize::from(want) != n => {
                    return Err(format!("{}.init expects {want} argument(s), got {n}", info.name));
                }
                None if n > 0 => {
                    return Err(format!(
                        "{}.new takes named arguments (`field: value`): the class defines no `init` for {n} positional one(s)",
                        info.name
                    ));
                }
                _ => info.ctor,
            }
        } else {
            if info.init.is_some_and(|(_, want)| want > 0) {
                return Err(format!(
                    "{} defines `init`: {}.new takes init's arguments, not named ones",
                    info.name, info.name
                ));
            }
            let Const::Names(names) = &proto.consts[k as usize] else { unreachable!("new has a names constant") };
            for (name, value) in names.iter().zip(&st.regs[base + 2..base + 2 + n]) {
                let i = info.fields.iter().position(|f| **f == **name);
                let i = i.ok_or_else(|| format!("{} has no field `{name}`", info.name))?;
                fields[i] = *value;
                if let Some(bit) = info.computed.iter().position(|&f| f as usize == i) {
                    named |= 1 << bit;
                }
            }
            if info.init.is_some() { info.ctor } else { info.fill }
        };
        let inst = Value::object(Inst::alloc(self.cx, index, fields).into());
        match ctor {
            None => st.regs[d] = inst,
            Some(f) => {
                st.regs[base] = inst;
                st.regs[base + 1] = Value::num(named as f64);
                let args = if k == u32::MAX { n } else { 0 };
                self.call(st, f, None, base, args + 2, d)?;
            }
        }
        Ok(())
    }

    /// Locks global `g` for this maatine with its kept request.
    fn global_lock(
        &mut self,
        g: u32,
        lock: impl FnOnce(&Self, &mut LockRequest, &MaatineParker<'_>) -> Result<LockStatus, maat_sync::Deadlock>,
    ) -> OpResult<LockStatus> {
        let mut request = self
            .requests
            .remove(&g)
            .unwrap_or_else(|| LockRequest::new(self.me, self.rt.program.globals[g as usize].as_str()));
        let status = lock(self, &mut request, &MaatineParker(self.wake)).map_err(|d| d.to_string())?;
        if status == LockStatus::Suspended {
            self.requests.insert(g, request);
        }
        Ok(status)
    }

    fn blocked_on_variable(&self, name: &str, slot: Gc<'gc, Slot<'gc>>) -> Flow {
        let holder = Slot::holder(slot).map_or_else(String::new, |h| format!(" (held by {h})"));
        Flow::Block(format!("for variable `{name}`{holder}"))
    }

    /// What a blocked maatine waits for, and where, for deadlock reports.
    fn waits_at(&self, what: &str, st: &State<'gc>) -> String {
        let (function, line) = self.location(st);
        format!("{what} (in {function}, line {line})")
    }

    /// The function and line of the instruction running.
    fn location(&self, st: &State<'gc>) -> (&str, u32) {
        let f = st.frames.last().expect("a running maatine has a frame");
        let proto = &self.rt.program.functions[f.func as usize];
        (&proto.name, proto.lines.get(f.pc.saturating_sub(1)).copied().unwrap_or(0))
    }

    /// What `name` is on instances of `class` (a field first, then a
    /// method), through the instruction's inline cache.
    #[inline]
    fn member(&self, cache: &MemberCache, class: u32, name: &str) -> Option<Member> {
        if let Some(member) = cache.get(class) {
            return Some(member);
        }
        let info = &self.rt.program.classes[class as usize];
        let member = match info.fields.iter().position(|f| **f == *name) {
            Some(i) => Member::Field(i as u32),
            None => Member::Method(info.methods.iter().find(|(m, _)| **m == *name)?.1),
        };
        cache.set(class, member);
        Some(member)
    }

    fn call(
        &mut self,
        st: &mut State<'gc>,
        f: u32,
        closure: Option<Gc<'gc, Closure<'gc>>>,
        base: usize,
        n: usize,
        ret: usize,
    ) -> OpResult<()> {
        self.check_call(f, n, st.frames.len())?;
        self.push_frame(st, f, closure, base, n, ret);
        Ok(())
    }

    /// [`Run::call`] once its arity and depth are checked (the fast loop
    /// checks them itself).
    #[inline]
    fn push_frame(
        &mut self,
        st: &mut State<'gc>,
        f: u32,
        closure: Option<Gc<'gc, Closure<'gc>>>,
        base: usize,
        n: usize,
        ret: usize,
    ) {
        let registers = usize::from(self.rt.program.functions[f as usize].registers);
        let need = base + registers + 1;
        if st.regs.len() < need {
            st.regs.resize(need, Value::nil());
        }
        // The callee's registers past its arguments may hold values of calls
        // that returned, which the collector no longer traces: clear them, so
        // a collection during the call never meets a freed object.
        st.regs[base + n..need].fill(Value::nil());
        st.frames.push(Frame { func: f, base, pc: 0, ret, closure });
        st.top = base + registers;
    }

    /// Returns `value` to the caller (closing the `try` blocks of the
    /// returning frame).
    fn ret(&mut self, st: &mut State<'gc>, value: Value<'gc>) -> Flow {
        let frame = st.frames.pop().expect("returning from a frame");
        while st.handlers.last().is_some_and(|h| h.frames > st.frames.len()) {
            st.handlers.pop();
        }
        if st.frames.is_empty() {
            st.result = value;
            return Flow::Done;
        }
        st.set_top(&self.rt.program);
        st.regs[frame.ret] = value;
        Flow::Next
    }

    fn get_index(&self, o: Value<'gc>, i: Value<'gc>) -> OpResult<Value<'gc>> {
        self.held(o)?;
        if let Some(a) = object_of(o, kind::ARRAY) {
            let index = i.as_num().ok_or_else(|| format!("array index must be a number, got {}", type_name(i)))?;
            // SAFETY: kind ARRAY objects are Arrays.
            return Array::get(unsafe { a.downcast() }, self.cx, index).map_err(|e| e.to_string());
        }
        if let Some(m) = object_of(o, kind::MAP) {
            // SAFETY: kind MAP objects are Maps.
            return Map::get(unsafe { m.downcast() }, self.cx, i).map_err(|e| e.to_string());
        }
        if let Some(s) = Str::of(o) {
            let index = i.as_num().ok_or_else(|| format!("string index must be a number, got {}", type_name(i)))?;
            return self.char_at(s, index);
        }
        Err(format!("cannot index {}", type_name(o)))
    }

    fn set_index(&self, o: Value<'gc>, i: Value<'gc>, v: Value<'gc>) -> OpResult<()> {
        if let Some(a) = object_of(o, kind::ARRAY) {
            let index = i.as_num().ok_or_else(|| format!("array index must be a number, got {}", type_name(i)))?;
            // SAFETY: kind ARRAY objects are Arrays.
            return Array::set(unsafe { a.downcast() }, self.cx, index, v).map_err(|e| e.to_string());
        }
        if let Some(m) = object_of(o, kind::MAP) {
            // SAFETY: kind MAP objects are Maps.
            return Map::set(unsafe { m.downcast() }, self.cx, i, v).map_err(|e| e.to_string());
        }
        Err(format!("cannot index {}", type_name(o)))
    }
}

/// Whether objects of kind `k` are mutable containers, which change hands
/// when sent (the others pass by reference).
fn is_container(k: u8) -> bool {
    matches!(k, kind::ARRAY | kind::MAP | kind::INST)
}

/// Name of a captured variable in lock requests and reports.
const CAPTURED: &str = "captured variable";

/// Moves the running frame to instruction `t` if `taken`.
fn jump_if(st: &mut State<'_>, taken: bool, t: u32) {
    if taken {
        st.frames.last_mut().expect("a running maatine has a frame").pc = t as usize;
    }
}

/// Whether an instruction may allocate GC objects.
fn allocates(op: Op) -> bool {
    matches!(
        op,
        Op::NewArray(..)
            | Op::Spawn(..)
            | Op::SpawnValue(..)
            | Op::NewChan(..)
            | Op::JoinAll(..)
            | Op::NewMap(..)
            | Op::Bin(BinOp::Concat, ..)
            | Op::BinK(BinOp::Concat, ..)
            | Op::Closure(..)
            | Op::NewSlot(..)
            | Op::New(..)
            | Op::NewClass(..)
            | Op::CallMethod(..)
            | Op::GetField(..)
            | Op::Builtin(..)
            | Op::Gc(_, GcOp::Stats, _)
    )
}

/// A constant known to be a string (method and field names).
fn const_str(c: &Const) -> &str {
    match c {
        Const::Str(s) => s,
        other => unreachable!("a name constant, not {other:?}"),
    }
}

/// The slot a register holds (the compiler puts only slots there).
fn slot_in(v: Value<'_>) -> Gc<'_, Slot<'_>> {
    let slot = object_of(v, kind::SLOT).expect("the compiler keeps a slot in this register");
    // SAFETY: kind SLOT objects are Slots.
    unsafe { slot.downcast() }
}

/// Upvalue `i` of the running closure.
fn upvalue<'gc>(frame: &Frame<'gc>, i: u16) -> Gc<'gc, Slot<'gc>> {
    let closure = frame.closure.expect("only closures have upvalues");
    Gc::get(closure).upvalues[usize::from(i)]
}

fn object_of(v: Value<'_>, k: u8) -> Option<GcAny<'_>> {
    v.as_object().filter(|o| o.kind() == k)
}

fn text_of<'gc>(v: Value<'gc>) -> Option<&'gc str> {
    Str::of(v).map(Str::as_str)
}

/// The instance `v` holds and the member this instruction's cache has for
/// its class, when `v` is an instance this maatine may use (not sent away)
/// and the cache knows its class.
#[inline(always)]
fn cached_member<'gc>(v: Value<'gc>, cache: &MemberCache) -> Option<(Gc<'gc, Inst<'gc>>, Member)> {
    let inst = object_of(v, kind::INST).filter(|o| o.holder().is_none())?;
    // SAFETY: kind INST objects are Insts.
    let inst = unsafe { inst.downcast::<Inst<'gc>>() };
    Some((inst, cache.get(Gc::get(inst).class)?))
}

/// The Maat name of a value's type.
pub fn type_name(v: Value<'_>) -> &'static str {
    match v.unpack() {
        Unpacked::Nil => "Nil",
        Unpacked::Bool(_) => "Bool",
        Unpacked::Num(_) => "Num",
        Unpacked::Object(o) => match o.kind() {
            kind::STR => "Str",
            kind::ARRAY => "Array",
            kind::MAP => "Map",
            kind::CLOSURE => "Closure",
            kind::CLASS => "Class",
            kind::INST => "Instance",
            kind::HANDLE => "Handle",
            kind::CHAN => "Chan",
            kind::RANDOM => "Random",
            _ => "Object",
        },
    }
}

/// Parses, compiles and runs `src` (named `file`), writing output to `out`.
/// When `file` is a file, its imports are read relative to it. Syntax
/// errors come back rendered with the source line and caret.
pub fn run_source(file: &str, src: &str, config: Config, out: &mut (dyn Write + Send)) -> Result<(), String> {
    let path = std::path::Path::new(file);
    let loaded = if path.is_file() { crate::module::load(path, src)? } else { crate::module::from_text(file, src)? };
    let program = crate::compiler::compile_program(&loaded, &[], &[]).map_err(|e| loaded.sources.render(&e))?;
    Vm::new(program, config).run(out).map_err(|e| e.to_string())
}

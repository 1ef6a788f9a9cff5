//! The interpreter: runs a maatine in slices of a bounded number of
//! instructions. Its registers and frames live in its heap's root, so a
//! maatine is stackless: between slices (safe points) it holds no handle, its
//! heap pays its allocation debt, and the scheduler may move it to another OS
//! thread, park it, or stop it for a shared collection.

use maat_sync::Mutex;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use maat_gc::{Config, Gc, GcAny, Global, Heap, IN_TRANSIT, Root, Trace, Tracer};
use maat_sync::{LockRequest, LockStatus, MaatineId, Participant};

mod arith;
mod calls;
mod concurrency;
mod copy;
mod detach;
mod env;
mod fast;
mod format;
mod host;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod layout;
mod maatine;
mod methods;
mod persistent;
mod show;
mod spare;
mod stdlib;
mod step;
mod versioned;
mod vm;
mod window;

use arith::{equal, simple, type_error};
use copy::Part;
use methods::unknown_method;

use crate::ast::BinOp;
use crate::bytecode::{Builtin, Const, GcOp, Literal, Member, MemberCache, Method, Op, Program, Reg};
use crate::error::{RuntimeError, TraceFrame};
use crate::host::{HostValue, NativeFn};
use crate::object::array::Array;
use crate::object::chan::{Chan, Received, SendError};
use crate::object::closure::Closure;
use crate::object::handle::{Handle, JoinCell, Outcome};
use crate::object::instance::{Class, Inst};
use crate::object::map::Map;
use crate::object::slot::Slot;
use crate::object::stats::{ObjectStats, VarStats};
use crate::object::string::Str;
use crate::object::{Ctx, ObjError, SyncStats, kind};
use crate::runtime::Runtime;
use crate::sched::{MaatineParker, Out, Queued, Sched, Spawned};
use crate::value::{Unpacked, Value};
pub(crate) use host::{handle, held, host_to_value, to_host};
use window::{Cursor, Window};

pub(crate) use maatine::Maatine;
use maatine::SentLog;

pub use env::Env;
pub(crate) use vm::Call;
pub use vm::{CAPTURED_AND_MODULE, Contention, Failure, Vm, run_source};

/// A slice's budget, in units of about 10 to 60 ns: jumps, calls and
/// returns of the fast loop (which does not count the straight-line
/// instructions between them; see `Run::run_simple`), instructions of the
/// general path, [`GENERAL_UNITS`] each, and the collector's work at the
/// safe points inside the slice, [`GC_WORK_PER_UNIT`] to the unit. A slice
/// then lasts 0.1 to 0.5 ms on the Are-We-Fast-Yet programs and on the
/// GC-latency one: a maatine that shares its thread waits about one slice
/// for its turn, and a worker that stops the world about one slice of each
/// other worker.
const SLICE: usize = 10_000;
/// The collector's work (see `maat_gc::Heap::collect_debt`: 1 to 3 ns
/// each when it traces, up to 6 when it frees) that costs a slice one unit
/// of its budget. Uncharged, the safe points of a slice that allocates much
/// while a collection is under way made it last up to 4 ms with four
/// maatines on two threads (thirteen safe points of 0.3 ms, 15 µs of the
/// maatine's own code between them). At 16 to the unit, the GC-latency
/// program's slices with four maatines on one thread still took 0.9 ms,
/// 0.85 of it in four safe points (147,000 of work: 5.8 ns each, mostly
/// lazy sweeps freeing 1 KiB strings), and a maatine waited 3.1–3.5 ms for
/// the three others; at 4, 1.75 ms. Counted, not timed, so that maatines
/// sharing one thread interleave the same way on every run.
const GC_WORK_PER_UNIT: usize = 4;
/// What an instruction of the general path costs of the budget: it does
/// the work of several fast-loop instructions, and often allocates (at one
/// unit each, the GC-latency program's slices took 2 ms; at eight, 0.37).
const GENERAL_UNITS: usize = 8;
/// Deepest call nesting before a stack overflow error.
const MAX_FRAMES: usize = 10_000;

/// A call frame: which function, where its registers start, where it is.
///
/// Invariant: `func` is an index of the run's program's functions, and so
/// of its `Env::consts` (made one per function from the same program):
/// every frame is made after indexing the functions with it, checked
/// (`State::calling`, `Run::callee`, `Run::call`). The fast loop looks both
/// up unchecked on its strength (`window::frame_parts`).
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

/// A maatine's state: the root of its heap.
pub struct State<'gc> {
    /// The register file. It never shrinks, and [`State::push`] grows it
    /// past every frame's window: every frame's window lies within it
    /// (what `window::Window::of_frame` relies on).
    regs: Vec<Value<'gc>>,
    /// End of the live registers: the top frame's window (registers above
    /// it belong to calls that returned and are not roots). Kept only where
    /// the collector can look, at the end of a slice ([`State::clear_dead`])
    /// and when an error unwinds frames: calls and returns within a slice
    /// leave it behind.
    top: usize,
    /// End of the registers above `top` written since the last safe point
    /// (see [`State::clear_dead`]).
    dirty: usize,
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
    /// An error to fail with before running at all (an embedder's call
    /// whose arguments could not be made).
    failure: Option<String>,
    /// The variable whose lock the maatine waits for, while it is blocked
    /// on one (given up if it is stopped before it retries).
    waiting_on: Option<Gc<'gc, Slot<'gc>>>,
}

// SAFETY: traces every root: the live registers (below `top`), the frames
// (their closures), the open sections' slots, the environment, the result
// and the variable waited for.
unsafe impl Trace for State<'_> {
    fn trace(&self, t: &mut Tracer) {
        self.regs[..self.top.min(self.regs.len())].trace(t);
        self.frames.trace(t);
        self.sections.trace(t);
        self.env.trace(t);
        self.module.trace(t);
        self.result.trace(t);
        self.waiting_on.trace(t);
    }
}

/// A state's register and frame buffers, empty: what an ended maatine's
/// state leaves for the next one's (their capacity; a deep recursion's are
/// freed instead, see [`State::buffers`]).
#[derive(Default)]
pub(crate) struct Buffers {
    regs: Vec<Value<'static>>,
    frames: Vec<Frame<'static>>,
}

// SAFETY: both vectors are always empty (made only by `emptied` and
// `Default`), so no value, and no handle into any heap, moves with them:
// only their memory does.
unsafe impl Send for Buffers {}

/// The largest register file an ended maatine leaves as a buffer.
const KEPT_REGS: usize = 256;
/// The largest frame stack an ended maatine leaves as a buffer.
const KEPT_FRAMES: usize = 32;

/// `v`'s memory as an empty vector of `B`, a type of the same size and
/// alignment (here: the same type under another brand).
fn emptied<A, B>(v: Vec<A>) -> Vec<B> {
    const { assert!(size_of::<A>() == size_of::<B>() && align_of::<A>() == align_of::<B>()) };
    let mut v = core::mem::ManuallyDrop::new(v);
    v.clear();
    // SAFETY: the memory was allocated for `capacity` values of `A`, which
    // have `B`'s size and alignment (asserted above), and the vector keeps
    // none of them (length 0), so no value is reinterpreted.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr().cast(), 0, v.capacity()) }
}

/// `v`'s memory as a buffer to keep, [`emptied`], if it holds at most
/// `most` values; else nothing (a new vector, `v` freed).
fn kept<A, B>(v: Vec<A>, most: usize) -> Vec<B> {
    if v.capacity() <= most { emptied(v) } else { Vec::new() }
}

impl<'gc> State<'gc> {
    /// The state of a maatine about to call `func` (with `closure`) on
    /// `args`, in `buffers` (an ended maatine's, or new ones).
    fn calling(
        program: &Program,
        (env, module): (Gc<'gc, Env<'gc>>, Box<[Gc<'gc, Slot<'gc>>]>),
        (func, closure): (u32, Option<Gc<'gc, Closure<'gc>>>),
        args: &[Value<'gc>],
        buffers: Buffers,
    ) -> Self {
        let (regs, frames) = (emptied(buffers.regs), emptied(buffers.frames));
        let (handlers, sections) = (Vec::new(), Vec::new());
        let (result, failure, waiting_on) = (Value::nil(), None, None);
        let mut state =
            State { regs, top: 0, dirty: 0, frames, handlers, sections, env, module, result, failure, waiting_on };
        state.call(program, func, closure, args);
        state
    }

    /// Starts the state afresh on a call of `func` (with `closure`) on
    /// `args`, in the same environment, keeping its buffers (the host's
    /// resident maatine, call after call). `args` fit `func`'s registers:
    /// the caller checked their number against its parameters.
    fn call(&mut self, program: &Program, func: u32, closure: Option<Gc<'gc, Closure<'gc>>>, args: &[Value<'gc>]) {
        let top = usize::from(program.functions[func as usize].registers);
        self.regs.clear();
        self.regs.resize(top + 1, Value::nil());
        self.regs[..args.len()].copy_from_slice(args);
        (self.top, self.dirty) = (top, top + 1);
        self.frames.clear();
        self.frames.push(Frame { func, base: 0, pc: 0, ret: 0, closure });
        self.handlers.clear();
        self.sections.clear();
        (self.result, self.failure, self.waiting_on) = (Value::nil(), None, None);
    }

    /// Its register and frame buffers, emptied, unless they are larger
    /// than a maatine usually needs (the maatine ended: its registers and
    /// frames are dead).
    fn buffers(&mut self) -> Buffers {
        Buffers {
            regs: kept(core::mem::take(&mut self.regs), KEPT_REGS),
            frames: kept(core::mem::take(&mut self.frames), KEPT_FRAMES),
        }
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

/// The environment as a global root (what a session keeps between entries).
pub(crate) struct EnvRoot;
impl Root for EnvRoot {
    type Of<'gc> = Gc<'gc, Env<'gc>>;
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

/// The state of a maatine the host starts on `call` (failing at once if its
/// arguments cannot be made).
fn call_state<'gc>(
    cx: &Ctx<'_, 'gc>,
    rt: &Runtime,
    (env, module): (Gc<'gc, Env<'gc>>, Box<[Gc<'gc, Slot<'gc>>]>),
    call: &Call,
    buffers: Buffers,
) -> State<'gc> {
    let mut state = State::calling(&rt.program, (env, module), (call.func, None), &[], buffers);
    start_call(cx, rt, &mut state, call);
    state
}

/// Makes `state` run `call` (failing at once if its arguments cannot be
/// made or do not fit the function).
fn start_call<'gc>(cx: &Ctx<'_, 'gc>, rt: &Runtime, state: &mut State<'gc>, call: &Call) {
    let args = call.args.iter().map(|a| host::host_to_value(cx, &rt.types, a));
    let args = args.collect::<OpResult<Vec<_>>>();
    let closure = call.closure.as_ref().map(|h| {
        let v = host::held(cx, h)?;
        object_of(v, kind::CLOSURE).ok_or_else(|| format!("cannot call a {}", type_name(v)))
    });
    let started = args.and_then(|args| {
        // SAFETY: kind CLOSURE objects are Closures.
        let closure = closure.transpose()?.map(|c| unsafe { c.downcast::<Closure>() });
        // A closure runs its own function.
        let func = closure.map_or(call.func, |c| Gc::get(c).func());
        let proto = &rt.program.functions[func as usize];
        if args.len() != usize::from(proto.params) {
            return Err(format!("{} expects {} argument(s), got {}", proto.name, proto.params, args.len()));
        }
        state.call(&rt.program, func, closure, &args);
        Ok(())
    });
    if let Err(e) = started {
        state.call(&rt.program, call.func, None, &[]);
        state.failure = Some(e);
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
    suspended_at: &'r mut Option<std::time::Instant>,
    /// The maatine's own cell: its wakers are made from it.
    wake: &'r Arc<JoinCell>,
    waiting: &'r mut String,
    sent: &'r mut SentLog,
    out: &'r Out<'o>,
    spawned: &'r mut Spawned,
    /// The variable whose lock the instruction that just suspended waits for.
    blocked_on: Option<Gc<'gc, Slot<'gc>>>,
}

type OpResult<T> = Result<T, String>;

impl<'gc> Run<'_, '_, '_, 'gc> {
    fn slice(&mut self, st: &mut State<'gc>, budget: usize) -> Step {
        if let Some(message) = st.failure.take() {
            return Step::Failed(message);
        }
        // Woken from a variable lock's queue: the blocked instruction retries
        // through the lock (the general path), never as a lock-free update
        // (the fast loop's), since a release woke this maatine alone to
        // retry and only its own release passes the wake-up on to the
        // waiters behind it.
        let woken = st.waiting_on.take().is_some();
        match self.run_for(st, budget, woken) {
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
            if let Err(step) = self.run_for(st, 1, false) {
                return step;
            }
        }
        Step::Continue
    }

    /// Spends `budget` (see [`SLICE`]: the fast loop counts only jumps,
    /// calls and returns), or less if the maatine ends, fails, blocks or needs a
    /// safe point (the step that says so), or if an allocation made
    /// collection due outside read-modify-write sections (`Ok` with the
    /// instructions left).
    /// With `general_first`, the first instruction runs on the general path.
    fn run_for(&mut self, st: &mut State<'gc>, mut budget: usize, general_first: bool) -> Result<usize, Step> {
        let mut fast = !general_first;
        while budget > 0 {
            if fast {
                budget = budget.saturating_sub(self.run_simple(st, budget));
                if budget == 0 {
                    break;
                }
                // The fast loop's allocation (`new`) made collection due.
                if self.cx.mc.collection_due() && st.sections.is_empty() {
                    return Ok(budget);
                }
            }
            fast = true;
            budget = budget.saturating_sub(GENERAL_UNITS);
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
                    st.waiting_on = self.blocked_on.take();
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
            Raise::Message(m) => Value::object(Str::alloc(self.cx, &m).into()),
            Raise::Thrown(v) => v,
        };
        st.frames.last_mut().expect("the handler's frame").pc = h.target;
        Ok(())
    }

    fn release_sections(&mut self, st: &mut State<'gc>, keep: usize) {
        end_sections(self.cx, &self.rt.table, self.me, st, keep);
    }
}

/// Closes the maatine's read-modify-write sections opened after the first
/// `keep` (the innermost first), waking whoever waits for their variables.
fn end_sections<'gc>(
    cx: &Ctx<'_, 'gc>,
    table: &maat_sync::VarLockTable,
    me: MaatineId,
    st: &mut State<'gc>,
    keep: usize,
) {
    for (slot, _) in st.sections.drain(keep..).rev() {
        // Sections are opened and closed by this maatine only: it holds them.
        Slot::end(slot, cx, table, me).expect("this maatine holds its sections");
    }
}

/// Whether objects of kind `k` are mutable containers, which change hands
/// when sent (the others pass by reference).
fn is_container(k: u8) -> bool {
    matches!(k, kind::ARRAY | kind::MAP | kind::INST)
}

/// The slot a register holds (the compiler puts only slots there).
fn slot_in(v: Value<'_>) -> Gc<'_, Slot<'_>> {
    let slot = object_of(v, kind::SLOT).expect("the compiler keeps a slot in this register");
    // SAFETY: kind SLOT objects are Slots.
    unsafe { slot.downcast() }
}

/// Upvalue `i` of the running closure: a slot, or a value captured by
/// value (the instruction says which).
fn upvalue<'gc>(frame: &Frame<'gc>, i: u16) -> Value<'gc> {
    let closure = frame.closure.expect("only closures have upvalues");
    Gc::get(closure).upvalues()[usize::from(i)]
}

fn object_of(v: Value<'_>, k: u8) -> Option<GcAny<'_>> {
    v.as_object().filter(|o| o.kind() == k)
}

fn text_of<'gc>(v: Value<'gc>) -> Option<&'gc str> {
    Str::of(v).map(Str::as_str)
}

/// The Maat name of a value's type.
pub fn type_name(v: Value<'_>) -> &'static str {
    match v.unpack() {
        Unpacked::Nil => "Nil",
        Unpacked::Bool(_) => "Bool",
        Unpacked::Num(_) => "Num",
        Unpacked::Object(o) => kind::name(o.kind()),
    }
}

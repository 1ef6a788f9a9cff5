//! The interpreter: runs a compiled program as one maatine whose registers
//! and frames live in its heap's root, in slices of a bounded number of
//! instructions. Between slices (safe points) the heap pays its allocation
//! debt, so collection never runs while the interpreter holds a handle.

use std::io::Write;
use std::sync::Arc;

use maat_gc::{Config, Gc, GcAny, Heap, Root, Trace, Tracer};
use maat_sync::{LockRequest, LockStatus, MaatineId, ThreadParker, VarLockTable, World};

use crate::ast::BinOp;
use crate::bytecode::{Builtin, Const, GcOp, Literal, Op, Program, Reg};
use crate::embed::{HostValue, NativeFn};
use crate::object::array::Array;
use crate::object::closure::Closure;
use crate::object::instance::{Class, Inst};
use crate::object::map::Map;
use crate::object::slot::Slot;
use crate::object::string::Str;
use crate::object::{Ctx, ObjError, SyncStats, kind};
use crate::value::{Unpacked, Value, format_num};

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
    globals: Vec<Gc<'gc, Slot<'gc>>>,
    /// Each function's constants, made values once.
    consts: Vec<Vec<Value<'gc>>>,
}

// SAFETY: traces every root: the live registers (below `top`), the frames
// (their closures), the open sections' slots, the globals and the constants.
unsafe impl Trace for State<'_> {
    fn trace(&self, t: &mut Tracer) {
        self.regs[..self.top.min(self.regs.len())].trace(t);
        self.frames.trace(t);
        self.sections.trace(t);
        self.globals.trace(t);
        self.consts.trace(t);
    }
}

impl State<'_> {
    /// Makes the top frame's window the live registers.
    fn set_top(&mut self, program: &Program) {
        self.top = self.frames.last().map_or(0, |f| f.base + usize::from(program.functions[f.func as usize].registers));
    }
}

struct Machine;
impl Root for Machine {
    type Of<'gc> = State<'gc>;
}

/// A runtime error: the message, the maatine, and the stack trace (function
/// and line, innermost first).
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeError {
    /// What went wrong.
    pub message: String,
    /// In which maatine.
    pub maatine: MaatineId,
    /// Function names and lines, innermost first.
    pub trace: Vec<(String, u32)>,
    /// The program's file name.
    pub file: String,
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        write!(f, "  in {}", self.maatine)?;
        const SHOWN: usize = 20;
        for (i, (func, line)) in self.trace.iter().enumerate() {
            if i == SHOWN / 2 && self.trace.len() > SHOWN {
                write!(f, "\n  ... {} more frames ...", self.trace.len() - SHOWN)?;
            }
            if i < SHOWN / 2 || i >= self.trace.len().saturating_sub(SHOWN / 2) {
                if *line == 0 {
                    write!(f, "\n  at {func} (built-in)")?;
                } else {
                    write!(f, "\n  at {func} ({}:{line})", self.file)?;
                }
            }
        }
        Ok(())
    }
}

impl std::error::Error for RuntimeError {}

/// A program ready to run.
pub struct Vm {
    heap: Heap<Machine>,
    program: Arc<Program>,
    world: Arc<World>,
    table: VarLockTable,
    stats: SyncStats,
    me: MaatineId,
    /// This maatine's lock request for each global, made once.
    requests: Vec<LockRequest>,
    parker: ThreadParker,
    /// When the program started, for `clock()`.
    started: std::time::Instant,
    /// The embedder's native functions, by number.
    natives: Vec<NativeFn>,
}

enum Step {
    Continue,
    Done,
    Failed(String),
    /// The program asked for something only a safe point can do.
    Request(Request),
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
    /// Prepares `program` to run with heap configuration `config`.
    pub fn new(program: Program, config: Config) -> Vm {
        Vm::with_natives(program, config, Vec::new())
    }

    /// Prepares `program`, compiled with [`compile_with`](crate::compiler::compile_with)
    /// and the names of `natives`, to run with those native functions.
    pub fn with_natives(program: Program, config: Config, natives: Vec<NativeFn>) -> Vm {
        let program = Arc::new(program);
        let world = World::new();
        let stats = SyncStats::default();
        let p = Arc::clone(&program);
        let heap = Heap::<Machine>::new(config, |mc| {
            let cx = Ctx { mc, mode: world.mode(), stats: &stats };
            let globals = p
                .globals
                .iter()
                .map(|_| {
                    let slot = Slot::alloc(&cx, Value::nil());
                    mc.share(slot);
                    slot
                })
                .collect();
            let consts = p.functions.iter().map(|f| f.consts.iter().map(|c| constant(&cx, c)).collect()).collect();
            let main = Frame { func: 0, base: 0, pc: 0, ret: 0, closure: None };
            let top = usize::from(p.functions[0].registers);
            State {
                regs: vec![Value::nil(); top + 1],
                top,
                frames: vec![main],
                handlers: Vec::new(),
                sections: Vec::new(),
                globals,
                consts,
            }
        });
        let me = MaatineId::new(1).expect("1 is an id");
        let requests = program.globals.iter().map(|name| LockRequest::new(me, name.as_str())).collect();
        let (table, parker, started) = (VarLockTable::new(), ThreadParker::new(), std::time::Instant::now());
        Vm { heap, program, world, table, stats, me, requests, parker, started, natives }
    }

    /// Statistics of the heap.
    pub fn gc_stats(&self) -> maat_gc::Stats {
        self.heap.stats()
    }

    /// Object operations that took their lock, and that elided it.
    pub fn lock_stats(&self) -> (u64, u64) {
        (self.stats.taken(), self.stats.elided())
    }

    /// Runs the program to its end, writing `say` output to `out`.
    pub fn run(&mut self, out: &mut dyn Write) -> Result<(), RuntimeError> {
        loop {
            let (program, world, table, stats, me) = (&self.program, &self.world, &self.table, &self.stats, self.me);
            let (requests, parker, started, natives) =
                (&mut self.requests, &self.parker, self.started, &self.natives[..]);
            let step = self.heap.mutate_root(|mc, state| {
                let cx = Ctx { mc, mode: world.mode(), stats };
                let mut run = Run { cx: &cx, program, table, me, requests, parker, started, natives, out: &mut *out };
                run.slice(state)
            });
            self.heap.collect_debt();
            match step {
                Step::Continue => {}
                Step::Done => return Ok(()),
                Step::Failed(message) => return Err(self.error(message)),
                Step::Request(Request::Collect) => self.heap.collect(),
                Step::Request(Request::Mode(mode)) => self.heap.set_mode(mode),
            }
        }
    }

    fn error(&mut self, message: String) -> RuntimeError {
        let program = &self.program;
        let trace = self.heap.mutate_root(|_, state| {
            state
                .frames
                .iter()
                .rev()
                .map(|f| {
                    let proto = &program.functions[f.func as usize];
                    (proto.name.clone(), proto.lines.get(f.pc.saturating_sub(1)).copied().unwrap_or(0))
                })
                .collect()
        });
        RuntimeError { message, maatine: self.me, trace, file: program.file.clone() }
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
struct Run<'r, 'a, 'gc> {
    cx: &'r Ctx<'a, 'gc>,
    program: &'r Program,
    table: &'r VarLockTable,
    me: MaatineId,
    requests: &'r mut Vec<LockRequest>,
    parker: &'r ThreadParker,
    started: std::time::Instant,
    natives: &'r [NativeFn],
    out: &'r mut dyn Write,
}

type OpResult<T> = Result<T, String>;

impl<'gc> Run<'_, '_, 'gc> {
    fn slice(&mut self, st: &mut State<'gc>) -> Step {
        let mut budget = SLICE;
        while budget > 0 {
            budget -= self.run_simple(st, budget);
            if budget == 0 {
                break;
            }
            budget -= 1;
            match self.step(st) {
                Ok(Flow::Next) => {}
                Ok(Flow::Done) => return Step::Done,
                Ok(Flow::Request(r)) => return Step::Request(r),
                Err(raise) => {
                    if let Err(message) = self.catch(st, raise) {
                        self.release_sections(st, 0);
                        return Step::Failed(message);
                    }
                }
            }
        }
        Step::Continue
    }

    /// The fast path: runs instructions that cannot fail, call, allocate or
    /// block (moves, constants, global reads, arithmetic and comparison on
    /// numbers, jumps) with the frame held in locals, until one that needs
    /// [`Run::step`] or `budget` instructions. Returns how many it ran.
    fn run_simple(&mut self, st: &mut State<'gc>, budget: usize) -> usize {
        let State { regs, frames, globals, consts, sections, .. } = st;
        let depth = frames.len();
        let frame = frames.last_mut().expect("a running maatine has a frame");
        let code = &self.program.functions[frame.func as usize].code;
        let consts = &consts[frame.func as usize];
        let (base, mut pc) = (frame.base, frame.pc);
        let mut ran = 0;
        while ran < budget {
            let r = |reg: Reg| base + usize::from(reg);
            match code[pc] {
                Op::LoadK(d, k) => regs[r(d)] = consts[k as usize],
                Op::LoadNil(d) => regs[r(d)] = Value::nil(),
                Op::LoadBool(d, v) => regs[r(d)] = Value::bool(v),
                Op::Move(d, s) => regs[r(d)] = regs[r(s)],
                Op::GetGlobal(d, g) => regs[r(d)] = Slot::read(globals[g as usize]),
                Op::Not(d, x) => regs[r(d)] = Value::bool(!regs[r(x)].truthy()),
                Op::StoreGlobal(g, s) if regs[r(s)].as_object().is_none() => {
                    Slot::store(globals[g as usize], self.cx, regs[r(s)]);
                }
                Op::RmwBegin(g) if Slot::try_begin(globals[g as usize], self.cx, self.me) => {
                    sections.push((globals[g as usize], depth));
                }
                Op::RmwEnd(g) => {
                    if Slot::end(globals[g as usize], self.cx, self.table, self.me).is_err() {
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
                    pc = if regs[r(c)].truthy() == jump_if { t as usize } else { pc + 1 };
                    ran += 1;
                    continue;
                }
                Op::Bin(op, d, x, y) => {
                    let (Some(a), Some(b)) = (regs[r(x)].as_num(), regs[r(y)].as_num()) else { break };
                    regs[r(d)] = match op {
                        BinOp::Add => Value::num(a + b),
                        BinOp::Sub => Value::num(a - b),
                        BinOp::Mul => Value::num(a * b),
                        BinOp::Div => Value::num(a / b),
                        BinOp::Rem => Value::num(a % b),
                        BinOp::Lt => Value::bool(a < b),
                        BinOp::Le => Value::bool(a <= b),
                        BinOp::Gt => Value::bool(a > b),
                        BinOp::Ge => Value::bool(a >= b),
                        BinOp::Eq => Value::bool(a == b),
                        BinOp::Ne => Value::bool(a != b),
                        BinOp::Concat | BinOp::And | BinOp::Or => break,
                    };
                }
                _ => break,
            }
            pc += 1;
            ran += 1;
        }
        frame.pc = pc;
        ran
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
        st.set_top(self.program);
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
        for (slot, _) in st.sections.drain(keep..).rev() {
            // Sections are opened and closed by this maatine only: it holds them.
            Slot::end(slot, self.cx, self.table, self.me).expect("this maatine holds its sections");
        }
    }

    /// Executes one instruction. Every instruction that allocates comes
    /// here, so this is where the heap limit becomes a Maat error (the others,
    /// `GC.collect` and assigning `nil` among them, still run, which is how a
    /// program recovers).
    fn step(&mut self, st: &mut State<'gc>) -> Result<Flow, Raise<'gc>> {
        let frame = *st.frames.last().expect("a running maatine has a frame");
        let proto = &self.program.functions[frame.func as usize];
        let op = proto.code[frame.pc];
        st.frames.last_mut().expect("checked").pc += 1;
        if allocates(op) {
            self.cx.mc.check_limit().map_err(|oom| oom.to_string())?;
        }
        let b = frame.base;
        let r = |reg: Reg| b + usize::from(reg);
        match op {
            Op::LoadK(d, k) => st.regs[r(d)] = st.consts[frame.func as usize][k as usize],
            Op::LoadNil(d) => st.regs[r(d)] = Value::nil(),
            Op::LoadBool(d, v) => st.regs[r(d)] = Value::bool(v),
            Op::Move(d, s) => st.regs[r(d)] = st.regs[r(s)],
            Op::GetGlobal(d, g) => st.regs[r(d)] = Slot::read(st.globals[g as usize]),
            Op::SetGlobal(g, s) => {
                let (slot, value, request) = (st.globals[g as usize], st.regs[r(s)], &mut self.requests[g as usize]);
                let status =
                    Slot::write(slot, self.cx, self.table, request, self.parker, value).map_err(|d| d.to_string())?;
                debug_assert_eq!(status, LockStatus::Acquired);
            }
            Op::StoreGlobal(g, s) => Slot::store(st.globals[g as usize], self.cx, st.regs[r(s)]),
            Op::RmwBegin(g) => {
                let request = &mut self.requests[g as usize];
                Slot::begin(st.globals[g as usize], self.cx, self.table, request, self.parker)
                    .map_err(|d| d.to_string())?;
                st.sections.push((st.globals[g as usize], st.frames.len()));
            }
            Op::RmwEnd(g) => {
                st.sections.pop();
                Slot::end(st.globals[g as usize], self.cx, self.table, self.me).map_err(|e| e.to_string())?;
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
                    (Builtin::Clock, []) => Value::num(self.started.elapsed().as_secs_f64()),
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
                        let host: Vec<HostValue> = args.iter().map(|v| self.to_host(*v)).collect();
                        let native = &self.natives[i as usize];
                        let result = native(&host).map_err(|e| format!("{}: {e}", self.program.natives[i as usize]))?;
                        self.host_to_value(&result)?
                    }
                    (Builtin::Clock, _) => return Err(format!("clock takes no arguments, got {n}").into()),
                    (Builtin::Assert, _) => return Err(format!("assert takes 1 or 2 arguments, got {n}").into()),
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
            Op::Neg(d, x) => {
                let n = st.regs[r(x)].as_num().ok_or_else(|| type_error("-", &[st.regs[r(x)]]))?;
                st.regs[r(d)] = Value::num(-n);
            }
            Op::Not(d, x) => st.regs[r(d)] = Value::bool(!st.regs[r(x)].truthy()),
            Op::Jump(t) => st.frames.last_mut().expect("checked").pc = t as usize,
            Op::JumpIfFalse(c, t) if !st.regs[r(c)].truthy() => st.frames.last_mut().expect("checked").pc = t as usize,
            Op::JumpIfTrue(c, t) if st.regs[r(c)].truthy() => st.frames.last_mut().expect("checked").pc = t as usize,
            Op::JumpIfFalse(..) | Op::JumpIfTrue(..) => {}
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
                let mut request = LockRequest::new(self.me, "captured variable");
                Slot::write(slot, self.cx, self.table, &mut request, self.parker, value).map_err(|d| d.to_string())?;
            }
            Op::SlotBegin(s) => {
                let slot = slot_in(st.regs[r(s)]);
                if !Slot::try_begin(slot, self.cx, self.me) {
                    let mut request = LockRequest::new(self.me, "captured variable");
                    Slot::begin(slot, self.cx, self.table, &mut request, self.parker).map_err(|d| d.to_string())?;
                }
                st.sections.push((slot, st.frames.len()));
            }
            Op::SlotStore(s, v) => Slot::store(slot_in(st.regs[r(s)]), self.cx, st.regs[r(v)]),
            Op::SlotEnd(s) => {
                st.sections.pop();
                Slot::end(slot_in(st.regs[r(s)]), self.cx, self.table, self.me).map_err(|e| e.to_string())?;
            }
            Op::Return(s) => return Ok(self.ret(st, st.regs[r(s)])),
            Op::ReturnNil => return Ok(self.ret(st, Value::nil())),
            Op::NewArray(d, base, n) => {
                let items = st.regs[r(base)..r(base) + usize::from(n)].to_vec();
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
            Op::SetIndex(o, i, v) => self.set_index(st.regs[r(o)], st.regs[r(i)], st.regs[r(v)])?,
            Op::Say(base, n, newline) => {
                let mut text: String =
                    st.regs[r(base)..r(base) + usize::from(n)].iter().map(|v| self.show(*v)).collect();
                if newline {
                    text.push('\n');
                }
                self.out.write_all(text.as_bytes()).map_err(|e| format!("cannot write output: {e}"))?;
            }
            Op::Len(d, o) => {
                let v = st.regs[r(o)];
                let array = object_of(v, kind::ARRAY).ok_or_else(|| format!("cannot iterate over {}", type_name(v)))?;
                // SAFETY: kind ARRAY objects are Arrays.
                st.regs[r(d)] = Value::num(Array::len(unsafe { array.downcast() }, self.cx) as f64);
            }
            Op::CallMethod(d, o, k, base, n) => {
                let name: &str = const_str(&proto.consts[k as usize]);
                let recv = st.regs[r(o)];
                if let Some(inst) = object_of(recv, kind::INST) {
                    // SAFETY: kind INST objects are Insts.
                    let inst = unsafe { inst.downcast::<Inst<'gc>>() };
                    let class = &self.program.classes[Gc::get(inst).class as usize];
                    if let Some(i) = class.fields.iter().position(|f| **f == *name).filter(|_| n == 0) {
                        st.regs[r(d)] = Inst::get(inst, self.cx, i);
                    } else if let Some(&(_, f)) = class.methods.iter().find(|(m, _)| **m == *name) {
                        self.call(st, f, None, r(o), usize::from(n) + 1, r(d))?;
                    } else {
                        return Err(format!("{} has no field or method `{name}`", class.name).into());
                    }
                } else if let Some(f) = self.prelude_method(recv, name) {
                    self.call(st, f, None, r(o), usize::from(n) + 1, r(d))?;
                } else {
                    let value = self.method(recv, name, &st.regs[r(base)..r(base) + usize::from(n)])?;
                    st.regs[r(d)] = value;
                }
            }
            Op::NewClass(d, c) => st.regs[r(d)] = Value::object(Class::alloc(self.cx, c).into()),
            Op::New(d, c, k, base, n) => {
                let class_value = st.regs[r(c)];
                let class = object_of(class_value, kind::CLASS)
                    .ok_or_else(|| format!("cannot call new on {}", type_name(class_value)))?;
                // SAFETY: kind CLASS objects are Classes.
                let index = Gc::get(unsafe { class.downcast::<Class>() }).index;
                let info = &self.program.classes[index as usize];
                let mut fields: Vec<Value<'gc>> = info.defaults.iter().map(|l| literal(self.cx, l.as_ref())).collect();
                let Const::Names(names) = &proto.consts[k as usize] else { unreachable!("new has a names constant") };
                for (name, value) in names.iter().zip(&st.regs[r(base)..r(base) + usize::from(n)]) {
                    let i = info
                        .fields
                        .iter()
                        .position(|f| **f == **name)
                        .ok_or_else(|| format!("{} has no field `{name}`", info.name))?;
                    fields[i] = *value;
                }
                st.regs[r(d)] = Value::object(Inst::alloc(self.cx, index, fields).into());
            }
            Op::SetField(o, k, v) => {
                let (recv, name) = (st.regs[r(o)], const_str(&proto.consts[k as usize]));
                let inst = object_of(recv, kind::INST)
                    .ok_or_else(|| format!("cannot set field `{name}` of {}", type_name(recv)))?;
                // SAFETY: kind INST objects are Insts.
                let inst = unsafe { inst.downcast::<Inst<'gc>>() };
                let class = &self.program.classes[Gc::get(inst).class as usize];
                let i = class
                    .fields
                    .iter()
                    .position(|f| **f == *name)
                    .ok_or_else(|| format!("{} has no field `{name}`", class.name))?;
                Inst::set(inst, self.cx, i, st.regs[r(v)]).map_err(|e| e.to_string())?;
            }
        }
        Ok(Flow::Next)
    }

    /// The prelude function implementing `recv.name`, if any.
    fn prelude_method(&self, recv: Value<'gc>, name: &str) -> Option<u32> {
        let kind = recv.as_object()?.kind();
        self.program.methods.iter().find(|(k, n, _)| *k == kind && n == name).map(|&(_, _, f)| f)
    }

    /// A value as the embedder sees it (a deep copy of arrays and maps).
    fn to_host(&self, v: Value<'gc>) -> HostValue {
        match v.unpack() {
            Unpacked::Nil => HostValue::Nil,
            Unpacked::Bool(b) => HostValue::Bool(b),
            Unpacked::Num(n) => HostValue::Num(n),
            Unpacked::Object(_) => {
                if let Some(a) = object_of(v, kind::ARRAY) {
                    // SAFETY: kind ARRAY objects are Arrays.
                    let items = Array::snapshot(unsafe { a.downcast() }, self.cx);
                    return HostValue::Array(items.into_iter().map(|i| self.to_host(i)).collect());
                }
                if let Some(m) = object_of(v, kind::MAP) {
                    // SAFETY: kind MAP objects are Maps.
                    let entries = Map::entries(unsafe { m.downcast() }, self.cx);
                    return HostValue::Map(
                        entries.into_iter().map(|(k, v)| (self.to_host(k), self.to_host(v))).collect(),
                    );
                }
                HostValue::Str(self.show(v))
            }
        }
    }

    /// A host value made a Maat value in this maatine's heap.
    fn host_to_value(&self, h: &HostValue) -> OpResult<Value<'gc>> {
        Ok(match h {
            HostValue::Nil => Value::nil(),
            HostValue::Bool(b) => Value::bool(*b),
            HostValue::Num(n) => Value::num(*n),
            HostValue::Str(s) => Value::object(Str::alloc(self.cx, s).into()),
            HostValue::Array(items) => {
                let items = items.iter().map(|i| self.host_to_value(i)).collect::<OpResult<Vec<_>>>()?;
                Value::object(Array::alloc(self.cx, items).into())
            }
            HostValue::Map(entries) => {
                let map = Map::alloc(self.cx);
                for (k, v) in entries {
                    Map::set(map, self.cx, self.host_to_value(k)?, self.host_to_value(v)?)
                        .map_err(|e| e.to_string())?;
                }
                Value::object(map.into())
            }
        })
    }

    /// `GC.stats`: the heap's statistics as a map.
    fn gc_stats(&self) -> OpResult<Value<'gc>> {
        let s = self.cx.mc.stats();
        let c = s.collections;
        let map = Map::alloc(self.cx);
        let entries = [
            ("bytes_allocated", s.bytes_allocated as f64),
            ("bytes_freed", s.bytes_freed as f64),
            ("objects_allocated", s.objects_allocated as f64),
            ("objects_freed", s.objects_freed as f64),
            ("collections", (c.incremental + c.full + c.minor + c.major) as f64),
            ("minor", c.minor as f64),
            ("major", c.major as f64),
            ("max_pause_ms", s.pauses.max().as_secs_f64() * 1e3),
        ];
        for (k, v) in entries {
            Map::set(map, self.cx, Value::object(Str::alloc(self.cx, k).into()), Value::num(v))
                .map_err(|e| e.to_string())?;
        }
        Ok(Value::object(map.into()))
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
        let callee = &self.program.functions[f as usize];
        if n != usize::from(callee.params) {
            return Err(format!("{} expects {} argument(s), got {n}", callee.name, callee.params));
        }
        if st.frames.len() >= MAX_FRAMES {
            return Err(format!("stack overflow: more than {MAX_FRAMES} nested calls"));
        }
        let need = base + usize::from(callee.registers) + 1;
        if st.regs.len() < need {
            st.regs.resize(need, Value::nil());
        }
        // The callee's registers past its arguments may hold values of calls
        // that returned, which the collector no longer traces: clear them, so
        // a collection during the call never meets a freed object.
        st.regs[base + n..need].fill(Value::nil());
        st.frames.push(Frame { func: f, base, pc: 0, ret, closure });
        st.set_top(self.program);
        Ok(())
    }

    /// Returns `value` to the caller (closing the `try` blocks of the
    /// returning frame).
    fn ret(&mut self, st: &mut State<'gc>, value: Value<'gc>) -> Flow {
        let frame = st.frames.pop().expect("returning from a frame");
        while st.handlers.last().is_some_and(|h| h.frames > st.frames.len()) {
            st.handlers.pop();
        }
        if st.frames.is_empty() {
            return Flow::Done;
        }
        st.set_top(self.program);
        st.regs[frame.ret] = value;
        Flow::Next
    }

    fn binary(&self, op: BinOp, a: Value<'gc>, b: Value<'gc>) -> OpResult<Value<'gc>> {
        use BinOp::*;
        Ok(match op {
            Eq => Value::bool(equal(a, b)),
            Ne => Value::bool(!equal(a, b)),
            Concat => {
                let text = self.show(a) + &self.show(b);
                Value::object(Str::alloc(self.cx, &text).into())
            }
            Lt | Le | Gt | Ge => {
                let ord = match (a.as_num(), b.as_num(), text_of(a), text_of(b)) {
                    (Some(x), Some(y), ..) => x.partial_cmp(&y),
                    (_, _, Some(x), Some(y)) => Some(x.cmp(y)),
                    _ => return Err(type_error(symbol(op), &[a, b])),
                };
                Value::bool(match (op, ord) {
                    (_, None) => false,
                    (Lt, Some(o)) => o.is_lt(),
                    (Le, Some(o)) => o.is_le(),
                    (Gt, Some(o)) => o.is_gt(),
                    (_, Some(o)) => o.is_ge(),
                })
            }
            _ => {
                let (Some(x), Some(y)) = (a.as_num(), b.as_num()) else { return Err(type_error(symbol(op), &[a, b])) };
                Value::num(match op {
                    Add => x + y,
                    Sub => x - y,
                    Mul => x * y,
                    Div => x / y,
                    _ => x % y,
                })
            }
        })
    }

    fn get_index(&self, o: Value<'gc>, i: Value<'gc>) -> OpResult<Value<'gc>> {
        if let Some(a) = object_of(o, kind::ARRAY) {
            let index = i.as_num().ok_or_else(|| format!("array index must be a number, got {}", type_name(i)))?;
            // SAFETY: kind ARRAY objects are Arrays.
            return Array::get(unsafe { a.downcast() }, self.cx, index).map_err(|e| e.to_string());
        }
        if let Some(m) = object_of(o, kind::MAP) {
            // SAFETY: kind MAP objects are Maps.
            return Map::get(unsafe { m.downcast() }, self.cx, i).map_err(|e| e.to_string());
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

    fn method(&self, recv: Value<'gc>, name: &str, args: &[Value<'gc>]) -> OpResult<Value<'gc>> {
        let cx = self.cx;
        let err = |e: ObjError| e.to_string();
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!("{}.{name} expects {n} argument(s), got {}", type_name(recv), args.len()))
            }
        };
        let num = |v: Value<'gc>| v.as_num().ok_or_else(|| format!("expected a number, got {}", type_name(v)));
        match (recv.unpack(), name) {
            (Unpacked::Num(n), "floor" | "sqrt" | "abs") => {
                arity(0)?;
                Ok(Value::num(match name {
                    "floor" => n.floor(),
                    "sqrt" => n.sqrt(),
                    _ => n.abs(),
                }))
            }
            (Unpacked::Object(o), "frozen") => arity(0).map(|_| Value::bool(o.is_frozen())),
            (_, "frozen") => arity(0).map(|_| Value::bool(true)),
            (_, "to_s") => {
                arity(0)?;
                Ok(Value::object(Str::alloc(cx, &self.show(recv)).into()))
            }
            _ => {
                if let Some(a) = object_of(recv, kind::ARRAY) {
                    // SAFETY: kind ARRAY objects are Arrays.
                    let a = unsafe { a.downcast::<Array<'gc>>() };
                    return match name {
                        "push" => arity(1).and_then(|_| Array::push(a, cx, args[0]).map_err(err)).map(|_| recv),
                        "pop" => arity(0).and_then(|_| Array::pop(a, cx).map_err(err)),
                        "len" => arity(0).map(|_| Value::num(Array::len(a, cx) as f64)),
                        "get" => arity(1).and_then(|_| Array::get(a, cx, num(args[0])?).map_err(err)),
                        "set" => {
                            arity(2).and_then(|_| Array::set(a, cx, num(args[0])?, args[1]).map_err(err)).map(|_| recv)
                        }
                        "insert" => arity(2)
                            .and_then(|_| Array::insert(a, cx, num(args[0])?, args[1]).map_err(err))
                            .map(|_| recv),
                        "remove" => arity(1).and_then(|_| Array::remove(a, cx, num(args[0])?).map_err(err)),
                        "join" => arity(1).map(|_| {
                            let sep = self.show(args[0]);
                            let parts: Vec<String> = Array::snapshot(a, cx).iter().map(|v| self.show(*v)).collect();
                            Value::object(Str::alloc(cx, &parts.join(&sep)).into())
                        }),
                        "sort" => arity(0).and_then(|_| Array::replace_all(a, cx, sorted)).map(|_| recv),
                        _ => Err(unknown_method(recv, name)),
                    };
                }
                if let Some(m) = object_of(recv, kind::MAP) {
                    // SAFETY: kind MAP objects are Maps.
                    let m = unsafe { m.downcast::<Map<'gc>>() };
                    let column = |keys: bool| {
                        let items = Map::entries(m, cx).into_iter().map(|(k, v)| if keys { k } else { v }).collect();
                        Value::object(GcAny::from(Array::alloc(cx, items)))
                    };
                    return match name {
                        "get" => arity(1).and_then(|_| Map::get(m, cx, args[0]).map_err(err)),
                        "set" => arity(2).and_then(|_| Map::set(m, cx, args[0], args[1]).map_err(err)).map(|_| recv),
                        "has" => arity(1).and_then(|_| Map::has(m, cx, args[0]).map_err(err)).map(Value::bool),
                        "delete" => arity(1).and_then(|_| Map::delete(m, cx, args[0]).map_err(err)),
                        "len" => arity(0).map(|_| Value::num(Map::len(m, cx) as f64)),
                        "keys" => arity(0).map(|_| column(true)),
                        "values" => arity(0).map(|_| column(false)),
                        _ => Err(unknown_method(recv, name)),
                    };
                }
                if let Some(s) = text_of(recv) {
                    let text = |t: String| Value::object(Str::alloc(cx, &t).into());
                    return match name {
                        "len" => arity(0).map(|_| Value::num(s.chars().count() as f64)),
                        "upper" => arity(0).map(|_| text(s.to_uppercase())),
                        "lower" => arity(0).map(|_| text(s.to_lowercase())),
                        "concat" => arity(1).map(|_| text(format!("{s}{}", self.show(args[0])))),
                        "split" => arity(1).map(|_| {
                            let sep = self.show(args[0]);
                            let parts: Vec<Value<'gc>> = if sep.is_empty() {
                                s.chars().map(|c| text(c.to_string())).collect()
                            } else {
                                s.split(sep.as_str()).map(|p| text(p.to_owned())).collect()
                            };
                            Value::object(GcAny::from(Array::alloc(cx, parts)))
                        }),
                        "index" => arity(1).map(|_| {
                            let needle = self.show(args[0]);
                            Value::num(s.find(&needle).map_or(-1.0, |at| s[..at].chars().count() as f64))
                        }),
                        "substr" => arity(2).and_then(|_| {
                            let (from, len) = (num(args[0])?, num(args[1])?);
                            if from < 0.0 || len < 0.0 || from.fract() != 0.0 || len.fract() != 0.0 {
                                return Err(format!("substr needs whole numbers from 0, got {from} and {len}"));
                            }
                            Ok(text(s.chars().skip(from as usize).take(len as usize).collect()))
                        }),
                        _ => Err(unknown_method(recv, name)),
                    };
                }
                Err(unknown_method(recv, name))
            }
        }
    }

    /// A value as `say` prints it.
    fn show(&self, v: Value<'gc>) -> String {
        struct Num(f64);
        impl std::fmt::Display for Num {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                format_num(self.0, f)
            }
        }
        match v.unpack() {
            Unpacked::Nil => "nil".into(),
            Unpacked::Bool(b) => b.to_string(),
            Unpacked::Num(n) => Num(n).to_string(),
            Unpacked::Object(_) => {
                if let Some(s) = text_of(v) {
                    return s.to_owned();
                }
                if let Some(a) = object_of(v, kind::ARRAY) {
                    // SAFETY: kind ARRAY objects are Arrays.
                    let items = Array::snapshot(unsafe { a.downcast() }, self.cx);
                    return format!("[{}]", items.iter().map(|i| self.show(*i)).collect::<Vec<_>>().join(", "));
                }
                if let Some(m) = object_of(v, kind::MAP) {
                    // SAFETY: kind MAP objects are Maps.
                    let entries = Map::entries(unsafe { m.downcast() }, self.cx);
                    let parts: Vec<String> =
                        entries.iter().map(|(k, v)| format!("{} => {}", self.show(*k), self.show(*v))).collect();
                    return format!("{{{}}}", parts.join(", "));
                }
                if let Some(i) = object_of(v, kind::INST) {
                    // SAFETY: kind INST objects are Insts.
                    let inst = unsafe { i.downcast::<Inst<'gc>>() };
                    let class = &self.program.classes[Gc::get(inst).class as usize];
                    let parts: Vec<String> = (0..class.fields.len())
                        .map(|f| format!("{}: {}", class.fields[f], self.show(Inst::get(inst, self.cx, f))))
                        .collect();
                    return format!("{}({})", class.name, parts.join(", "));
                }
                if let Some(c) = object_of(v, kind::CLASS) {
                    // SAFETY: kind CLASS objects are Classes.
                    let index = Gc::get(unsafe { c.downcast::<Class>() }).index;
                    return format!("class {}", self.program.classes[index as usize].name);
                }
                type_name(v).to_owned()
            }
        }
    }
}

/// The items sorted: all numbers, or all strings; anything else is an error.
fn sorted(mut items: Vec<Value<'_>>) -> Result<Vec<Value<'_>>, String> {
    if items.iter().all(|v| v.as_num().is_some()) {
        items.sort_by(|a, b| a.as_num().unwrap_or(0.0).total_cmp(&b.as_num().unwrap_or(0.0)));
    } else if items.iter().all(|v| text_of(*v).is_some()) {
        items.sort_by(|a, b| text_of(*a).cmp(&text_of(*b)));
    } else {
        return Err("sort needs an array of numbers or of strings".to_owned());
    }
    Ok(items)
}

/// Whether an instruction may allocate GC objects.
fn allocates(op: Op) -> bool {
    matches!(
        op,
        Op::NewArray(..)
            | Op::NewMap(..)
            | Op::Bin(BinOp::Concat, ..)
            | Op::Closure(..)
            | Op::NewSlot(..)
            | Op::New(..)
            | Op::NewClass(..)
            | Op::CallMethod(..)
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
    // SAFETY: kind STR objects are Strs.
    object_of(v, kind::STR).map(|o| Gc::get(unsafe { o.downcast::<Str>() }).as_str())
}

/// Maat equality: numbers by value, strings by text, the rest by identity.
fn equal<'gc>(a: Value<'gc>, b: Value<'gc>) -> bool {
    match (a.as_num(), b.as_num(), text_of(a), text_of(b)) {
        (Some(x), Some(y), ..) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ => a == b,
    }
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
            _ => "Object",
        },
    }
}

fn symbol(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Rem => "%",
        BinOp::Lt => "<",
        BinOp::Le => "<=",
        BinOp::Gt => ">",
        BinOp::Ge => ">=",
        BinOp::Concat => "~",
        BinOp::Eq => "==",
        BinOp::Ne => "!=",
        BinOp::And => "&&",
        BinOp::Or => "||",
    }
}

fn type_error(op: &str, operands: &[Value<'_>]) -> String {
    let types: Vec<&str> = operands.iter().map(|v| type_name(*v)).collect();
    format!("type error: `{op}` cannot take {}", types.join(" and "))
}

fn unknown_method(recv: Value<'_>, name: &str) -> String {
    format!("unknown method `{name}` for {}", type_name(recv))
}

/// Parses, compiles and runs `src` (named `file`), writing output to `out`.
/// Syntax errors come back rendered with the source line and caret.
pub fn run_source(file: &str, src: &str, config: Config, out: &mut dyn Write) -> Result<(), String> {
    let ast = crate::parse(src).map_err(|e| e.render(file, src))?;
    let program = crate::compiler::compile(&ast, file, src).map_err(|e| e.render(file, src))?;
    Vm::new(program, config).run(out).map_err(|e| e.to_string())
}

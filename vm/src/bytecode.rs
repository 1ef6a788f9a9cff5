//! The register-based bytecode: instructions, constants and function
//! prototypes. A prototype is plain immutable data (shared between maatines
//! through an `Arc`); the values it creates live in the running maatine's
//! heap.

use std::sync::Arc;

use crate::ast::BinOp;

/// A register, relative to the frame's base.
pub type Reg = u16;

/// One instruction. `repr(u8)`: the tag is a plain byte in front, so the
/// interpreter's dispatch reads it with one load instead of decoding a niche.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(u8)]
pub enum Op {
    /// `dst = constant k`
    LoadK(Reg, u32),
    /// `dst = nil`
    LoadNil(Reg),
    /// `dst = b`
    LoadBool(Reg, bool),
    /// `dst = src`
    Move(Reg, Reg),
    /// `dst = global g`
    GetGlobal(Reg, u32),
    /// `global g = src` (waits for another maatine's section on g)
    SetGlobal(u32, Reg),
    /// `global g = src` inside g's read-modify-write section (no locking).
    StoreGlobal(u32, Reg),
    /// Begins a read-modify-write section on global g.
    RmwBegin(u32),
    /// Ends it.
    RmwEnd(u32),
    /// `RmwBegin(g)` then `dst = global g`: a section that starts by
    /// reading its variable (`x = x + 1`, `x += e`).
    RmwGet(Reg, u32),
    /// `StoreGlobal(g, src)` then `RmwEnd(g)`.
    RmwSet(u32, Reg),
    /// `dst = a op b` (arithmetic, comparison, concatenation)
    Bin(BinOp, Reg, Reg, Reg),
    /// `dst = a op constant k` (a literal on the right: `i + 1`, `s ~ "x"`)
    BinK(BinOp, Reg, Reg, u32),
    /// `if (a op b).truthy == sense { pc = target }`: a comparison that
    /// decides a branch (an `if`, or a loop's test at the loop's bottom).
    CmpJump(BinOp, Reg, Reg, bool, u32),
    /// `if (a op constant k).truthy == sense { pc = target }`
    CmpJumpK(BinOp, Reg, u32, bool, u32),
    /// `dst = -a`
    Neg(Reg, Reg),
    /// `dst = !a`
    Not(Reg, Reg),
    /// `pc = target`
    Jump(u32),
    /// `if !r { pc = target }`
    JumpIfFalse(Reg, u32),
    /// `if r { pc = target }`
    JumpIfTrue(Reg, u32),
    /// `dst = function f(regs base .. base + n)`
    Call(Reg, u32, Reg, u16),
    /// `dst = recv.method k (regs base .. base + n)`
    CallMethod(Reg, Reg, u32, Reg, u16),
    /// Returns `r`.
    Return(Reg),
    /// Returns `nil`.
    ReturnNil,
    /// `dst = [regs base .. base + n]`
    NewArray(Reg, Reg, u16),
    /// `dst = {regs base .. base + 2n as key, value pairs}`
    NewMap(Reg, Reg, u16),
    /// `dst = obj[index]`
    GetIndex(Reg, Reg, Reg),
    /// `dst = obj[constant k]`
    GetIndexK(Reg, Reg, u32),
    /// `obj[index] = value`
    SetIndex(Reg, Reg, Reg),
    /// Prints regs `base .. base + n` separated by nothing; a newline if set.
    Say(Reg, u16, bool),
    /// `dst = obj.len` (arrays, maps, strings) for `for` loops over arrays.
    Len(Reg, Reg),
    /// Starts a `try` block: an error until the matching `TryEnd` jumps to
    /// `target` with the error value in `reg`.
    TryBegin(u32, Reg),
    /// Ends the innermost `try` block without error.
    TryEnd,
    /// Raises `r` as an error.
    Throw(Reg),
    /// `dst = GC.which(arg)`: collect, stats, mode.
    Gc(Reg, GcOp, Reg),
    /// `dst = obj.freeze` / `obj.share`: marks the object graph.
    Mark(Reg, Reg, bool),
    /// `dst = builtin(regs base .. base + n)`.
    Builtin(Reg, Builtin, Reg, u16),
    /// `dst = a new slot holding src` (a captured variable).
    NewSlot(Reg, Reg),
    /// `dst = the value in the slot held by reg`.
    GetSlot(Reg, Reg),
    /// `slot (in reg) = src`, waiting for another maatine's section.
    SetSlot(Reg, Reg),
    /// `dst = upvalue i's value`.
    GetUpval(Reg, u16),
    /// `dst = upvalue i's slot itself`.
    UpvalSlot(Reg, u16),
    /// Begins a read-modify-write section on the slot in reg.
    SlotBegin(Reg),
    /// Stores into the slot in reg inside its section.
    SlotStore(Reg, Reg),
    /// Ends the section on the slot in reg.
    SlotEnd(Reg),
    /// `dst = closure of function f over the slots in regs base .. base + n`.
    Closure(Reg, u32, Reg, u16),
    /// `dst = (closure in reg)(regs base .. base + n)`.
    CallValue(Reg, Reg, Reg, u16),
    /// `dst = class c` (made when its declaration runs).
    NewClass(Reg, u32),
    /// `dst = (class in reg).new(names k: regs base .. base + n)`.
    New(Reg, Reg, u32, Reg, u16),
    /// `obj.name k = src` (a field).
    SetField(Reg, u32, Reg),
    /// `dst = ma function f(regs base .. base + n)`: a new maatine's handle.
    Spawn(Reg, u32, Reg, u16),
    /// `dst = ma (closure in reg)(regs base .. base + n)`.
    SpawnValue(Reg, Reg, Reg, u16),
    /// Joins every handle of the array in the first reg, in order; the
    /// second reg counts those joined and the next one keeps the first
    /// error, raised once all are joined (the end of `ma for`).
    JoinAll(Reg, Reg),
    /// The next element of a `for` loop over an array or channel:
    /// `var = src[index]` while `index < limit` (the register after
    /// `index`), or `var = src.recv` until it is closed; else jump to target.
    ForNext(Reg, Reg, Reg, u32),
    /// `dst = Chan.new(capacity in reg)`.
    NewChan(Reg, Reg),
}

// Instructions stay 16 bytes: the interpreter's dispatch reads them from a
// dense array.
const _: () = assert!(size_of::<Op>() == 16);

/// A class as compiled.
#[derive(Debug)]
pub struct ClassInfo {
    /// Its name.
    pub name: String,
    /// Field names, in declaration order.
    pub fields: Vec<String>,
    /// Each field's default (a literal), or `None` for nil.
    pub defaults: Vec<Option<Literal>>,
    /// Method names and their functions (whose parameter 0 is `self`).
    pub methods: Vec<(String, u32)>,
}

/// A literal value (a field default).
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// `true`/`false`
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string.
    Str(Arc<str>),
}

/// Built-in functions (a user function of the same name takes precedence).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// `clock()`: seconds since the program started.
    Clock,
    /// `assert(cond)` or `assert(cond, message)`.
    Assert,
    /// `maatine_id()`: the running maatine's id.
    MaatineId,
    /// The embedder's native function number i (see `crate::embed`).
    Native(u32),
}

/// The `GC` namespace's operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GcOp {
    /// `GC.collect`: a full collection at the next safe point.
    Collect,
    /// `GC.stats`: a map of statistics.
    Stats,
    /// `GC.mode("inc" | "gen")`.
    Mode,
}

/// A constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    /// A number.
    Num(f64),
    /// A string (made a Str object when loaded).
    Str(Arc<str>),
    /// Argument names of a `new` call.
    Names(Arc<[Arc<str>]>),
}

/// A compiled function.
#[derive(Debug, Default)]
pub struct Proto {
    /// Its name (`main` for the program).
    pub name: String,
    /// Number of parameters (they arrive in registers 0..).
    pub params: u16,
    /// Registers a frame needs.
    pub registers: u16,
    /// The code.
    pub code: Vec<Op>,
    /// Source line of each instruction.
    pub lines: Vec<u32>,
    /// Constants.
    pub consts: Vec<Const>,
    /// One inline cache per instruction, used by field and method accesses
    /// on instances (see [`MemberCache`]).
    pub member_cache: Box<[MemberCache]>,
}

/// What a field or method name resolved to for the last class seen at one
/// instruction: a class's members never change, so a stale entry is only a
/// miss. Shared by the maatines running the function on any thread;
/// `Relaxed` suffices, since the entry is one word that says everything
/// (class + 1 in the high half, the member in the low half) and every value
/// ever stored is correct for the class it names.
#[derive(Debug, Default)]
pub struct MemberCache(std::sync::atomic::AtomicU64);

/// A resolved member of a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    /// Field number i.
    Field(u32),
    /// The method implemented by function f.
    Method(u32),
}

impl MemberCache {
    /// The member cached for `class`, if any.
    #[inline]
    pub fn get(&self, class: u32) -> Option<Member> {
        let word = self.0.load(std::sync::atomic::Ordering::Relaxed);
        if (word >> 32) != u64::from(class) + 1 {
            return None;
        }
        let low = word as u32;
        Some(if low & 1 == 0 { Member::Field(low >> 1) } else { Member::Method(low >> 1) })
    }

    /// Remembers that the name resolves to `member` for `class`.
    pub fn set(&self, class: u32, member: Member) {
        let low = match member {
            Member::Field(i) => i << 1,
            Member::Method(f) => (f << 1) | 1,
        };
        let word = ((u64::from(class) + 1) << 32) | u64::from(low);
        self.0.store(word, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A compiled program: its functions (index 0 is `main`), its global
/// variables' names, and the source file name.
#[derive(Debug)]
pub struct Program {
    /// Functions by index.
    pub functions: Vec<Arc<Proto>>,
    /// Global variable names by index.
    pub globals: Vec<String>,
    /// Classes by index.
    pub classes: Vec<ClassInfo>,
    /// Names of the embedder's native functions, by number.
    pub natives: Vec<String>,
    /// Built-in methods written in Maat: object kind, name, function.
    pub methods: Vec<(u8, String, u32)>,
    /// The file the program came from.
    pub file: String,
}

//! The register-based bytecode: instructions, constants and function
//! prototypes. A prototype is plain immutable data (shared between maatines
//! through an `Arc`); the values it creates live in the running maatine's
//! heap.

use maat_sync::annotate::atomic::{AtomicU64, Ordering};
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
    /// `global g = global g op src`, as one read-modify-write section
    /// (`x += n`, `x = x * n`, with `n` a local).
    RmwBin(u32, BinOp, Reg),
    /// `global g = global g op constant k`, as one section (`x += 1`).
    RmwBinK(u32, BinOp, u32),
    /// `dst = a op b` (arithmetic, comparison, concatenation)
    Bin(BinOp, Reg, Reg, Reg),
    /// `dst = a op constant k` (a literal on the right: `i + 1`, `s ~ "x"`)
    BinK(BinOp, Reg, Reg, u32),
    /// `if (a op b).truthy == sense { pc = target }`: a comparison that
    /// decides a branch (an `if`, or a loop's test at the loop's bottom).
    CmpJump(BinOp, Reg, Reg, bool, u32),
    /// `if (a op constant k).truthy == sense { pc = target }`
    CmpJumpK(BinOp, Reg, u32, bool, u32),
    /// `dst = a + b`. This and the instructions down to `JumpEqK` are
    /// `Bin`, `BinK`, `CmpJump` and `CmpJumpK` of their commonest operators,
    /// one instruction each so that the fast loop dispatches once (made
    /// after compilation by [`crate::specialize`], which also turns them
    /// back into the general form for the general path).
    Add(Reg, Reg, Reg),
    /// `dst = a - b`
    Sub(Reg, Reg, Reg),
    /// `dst = a * b`
    Mul(Reg, Reg, Reg),
    /// `dst = a / b`
    Div(Reg, Reg, Reg),
    /// `dst = a + constant k`
    AddK(Reg, Reg, u32),
    /// `dst = a - constant k`
    SubK(Reg, Reg, u32),
    /// `dst = a * constant k`
    MulK(Reg, Reg, u32),
    /// `dst = a / constant k`
    DivK(Reg, Reg, u32),
    /// `if (a < b) == sense { pc = target }`
    JumpLt(Reg, Reg, bool, u32),
    /// `if (a <= b) == sense { pc = target }`
    JumpLe(Reg, Reg, bool, u32),
    /// `if (a > b) == sense { pc = target }`
    JumpGt(Reg, Reg, bool, u32),
    /// `if (a >= b) == sense { pc = target }`
    JumpGe(Reg, Reg, bool, u32),
    /// `if (a == b) == sense { pc = target }` (`!=` is the other sense)
    JumpEq(Reg, Reg, bool, u32),
    /// `if (a < constant k) == sense { pc = target }`
    JumpLtK(Reg, u32, bool, u32),
    /// `if (a <= constant k) == sense { pc = target }`
    JumpLeK(Reg, u32, bool, u32),
    /// `if (a > constant k) == sense { pc = target }`
    JumpGtK(Reg, u32, bool, u32),
    /// `if (a >= constant k) == sense { pc = target }`
    JumpGeK(Reg, u32, bool, u32),
    /// `if (a == constant k) == sense { pc = target }`
    JumpEqK(Reg, u32, bool, u32),
    /// `dst = -a`
    Neg(Reg, Reg),
    /// `dst = !a`
    Not(Reg, Reg),
    /// `dst = ~a` (bitwise not of an integer)
    BitNot(Reg, Reg),
    /// `pc = target`
    Jump(u32),
    /// `if !r { pc = target }`
    JumpIfFalse(Reg, u32),
    /// `if (r == nil) == sense { pc = target }` (`x == nil`, `x != nil`
    /// deciding a branch)
    JumpNil(Reg, bool, u32),
    /// `if r { pc = target }`
    JumpIfTrue(Reg, u32),
    /// `dst = function f(regs base .. base + n)`
    Call(Reg, u32, Reg, u16),
    /// `dst = recv.method k (regs base .. base + n)`
    CallMethod(Reg, Reg, u32, Reg, u16),
    /// `dst = obj.name k` without parentheses: a field, or a method called
    /// with no arguments, in a frame past this function's registers (the
    /// receiver is copied to the first register after them), so `obj` may
    /// be any register.
    GetField(Reg, Reg, u32),
    /// `GetField` of a name that is also a method of numbers without
    /// arguments (`x.abs`, `x.floor`): on a number, that function of it
    /// (see `specialize.rs`).
    GetFieldNum(Reg, Reg, u32, StdFn),
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
    /// `dst = upvalue i's slot itself` (or, for one captured by value, the
    /// value: what the closure holds, for a nested closure to capture).
    UpvalSlot(Reg, u16),
    /// `dst = upvalue i`, captured by value (a variable never assigned
    /// after its declaration needs no slot).
    GetCaptured(Reg, u16),
    /// `dst = module variable i's value` (a top-level `let` that functions use).
    GetModule(Reg, u16),
    /// `dst = module variable i's slot itself`.
    ModuleSlot(Reg, u16),
    /// Begins a read-modify-write section on the slot in reg.
    SlotBegin(Reg),
    /// Stores into the slot in reg inside its section.
    SlotStore(Reg, Reg),
    /// Ends the section on the slot in reg.
    SlotEnd(Reg),
    /// `slot in reg = slot op src`, as one read-modify-write section of a
    /// captured variable (`n += step`, with `step` a local).
    SlotBin(Reg, BinOp, Reg),
    /// `slot in reg = slot op constant k`, as one section (`n += 1`).
    SlotBinK(Reg, BinOp, u32),
    /// `dst = closure of function f over the slots in regs base .. base + n`.
    Closure(Reg, u32, Reg, u16),
    /// `dst = (closure in reg)(regs base .. base + n)`.
    CallValue(Reg, Reg, Reg, u16),
    /// `dst = class c`.
    NewClass(Reg, u32),
    /// `dst = (class in reg).new(…)`: a new instance with its literal
    /// defaults in `base`; then, with names constant k, the named fields
    /// from regs `base + 2 ..`; or without names (k is `u32::MAX`), `init`'s
    /// arguments are there. Computed defaults and `init` run in a call of the class's
    /// constructor (with `base + 1` saying which fields were named); without
    /// computed defaults `init` is called on the instance in `base + 1` and
    /// the arguments after it, and returns it.
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

/// A class as compiled: its members include those it inherits.
#[derive(Clone, Debug, Default)]
pub struct ClassInfo {
    /// Its name.
    pub name: String,
    /// The class it inherits from.
    pub parent: Option<u32>,
    /// Field names, inherited ones first, in declaration order.
    pub fields: Vec<String>,
    /// Each field's default when it is a literal (`None`: nil, or computed).
    pub defaults: Vec<Option<Literal>>,
    /// The fields whose defaults are computed at `new`, in order (bit i of
    /// the constructor's second argument says field `computed[i]` was named).
    pub computed: Vec<u32>,
    /// Method names and their functions (whose parameter 0 is `self`),
    /// inherited ones overridden by the class's own.
    pub methods: Vec<(String, u32)>,
    /// `init`'s function and its parameter count (without `self`).
    pub init: Option<(u32, u16)>,
    /// The constructor run by `new` with positional arguments, when the
    /// class has computed defaults: they, then `init` (parameters: self,
    /// named-fields mask, init's). Without computed defaults `new` calls
    /// `init` directly.
    pub ctor: Option<u32>,
    /// The constructor run by `new` with named arguments, when the class
    /// has computed defaults: those of the fields not named (parameters:
    /// self, named-fields mask).
    pub fill: Option<u32>,
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
    /// A function of the standard library.
    Std(StdFn),
}

/// An enum of names: each variant documented by its text, with `from_name`
/// and `name` (the standard library's functions, the built-in methods).
macro_rules! named {
    ($(#[$meta:meta])* $enum:ident { $($name:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $enum { $(#[doc = concat!("`", $text, "`")] $name),* }

        impl $enum {
            /// The one called `name`, if there is one.
            pub fn from_name(name: &str) -> Option<$enum> {
                match name { $($text => Some($enum::$name),)* _ => None }
            }

            /// The name it is called by.
            pub fn name(self) -> &'static str {
                match self { $($enum::$name => $text),* }
            }
        }
    };
}

named! {
    /// The standard library's functions, by the name a program calls them
    /// with (`Math.sin`, `format`).
    StdFn {
    Format = "format", Divmod = "divmod", ReadFile = "read_file", Warn = "warn", Chr = "chr", Ord = "ord",
    ArrayNew = "Array.new", RandomNew = "Random.new", PVecNew = "PVec.new", PMapNew = "PMap.new",
    VersionedNew = "Versioned.new",
    Sin = "Math.sin", Cos = "Math.cos", Tan = "Math.tan", Asin = "Math.asin", Acos = "Math.acos",
    Atan = "Math.atan", Atan2 = "Math.atan2", Exp = "Math.exp", Log = "Math.log", Pow = "Math.pow",
    Sqrt = "Math.sqrt", Floor = "Math.floor", Ceil = "Math.ceil", Round = "Math.round", Abs = "Math.abs",
    Min = "Math.min", Max = "Math.max",
    }
}

impl StdFn {
    /// The function that the method `name` of numbers without arguments is
    /// (`x.abs` is `Math.abs(x)`), if it is one of them.
    pub fn number_method(name: &str) -> Option<StdFn> {
        Method::from_name(name).and_then(StdFn::of_number_method)
    }

    /// The function that the built-in method `m` of numbers without
    /// arguments is, if it is one of them.
    pub fn of_number_method(m: Method) -> Option<StdFn> {
        Some(match m {
            Method::Floor => StdFn::Floor,
            Method::Ceil => StdFn::Ceil,
            Method::Round => StdFn::Round,
            Method::Sqrt => StdFn::Sqrt,
            Method::Abs => StdFn::Abs,
            _ => return None,
        })
    }
}

named! {
    /// The built-in methods, of every type (numbers, strings, arrays, maps,
    /// channels, handles, random generators, versioned roots, and the
    /// prelude's), by name: a method call's name is resolved to one when
    /// its function is compiled ([`Proto::methods`]), and the interpreter
    /// dispatches on it, not on the name's text.
    Method {
    // Of every value.
    Frozen = "frozen", ToS = "to_s", Class = "class", Name = "name",
    // Numbers.
    Floor = "floor", Ceil = "ceil", Round = "round", Sqrt = "sqrt", Abs = "abs", Trunc = "trunc",
    IsInt = "is_int", Chr = "chr",
    // Collections and strings.
    Len = "len", IsEmpty = "is_empty", Get = "get", Set = "set", Push = "push", Pop = "pop",
    Insert = "insert", Remove = "remove", Join = "join", Sort = "sort", Reverse = "reverse",
    Slice = "slice", IndexOf = "index_of", Contains = "contains", Fill = "fill", Copy = "copy",
    First = "first", Last = "last", Has = "has", Delete = "delete", Keys = "keys", Values = "values",
    Upper = "upper", Lower = "lower", Trim = "trim", Concat = "concat", Repeat = "repeat",
    Split = "split", Chars = "chars", Bytes = "bytes", Ord = "ord", Index = "index", Find = "find",
    StartsWith = "starts_with", EndsWith = "ends_with", Replace = "replace", Substr = "substr",
    ToNum = "to_num", Parse = "parse", Put = "put", ToA = "to_a",
    // Handles and channels.
    Id = "id", Send = "send", Recv = "recv", TryRecv = "try_recv", Close = "close", Cap = "cap",
    // Versioned roots and their drafts.
    Now = "now", Version = "version", Update = "update", BeginUpdate = "begin_update", Commit = "commit",
    // Detached graphs.
    Detach = "detach", Attach = "attach",
    // Random generators.
    Next = "next", Int = "int", Seed = "seed",
    // The prelude's (methods written in Maat).
    Map = "map", Grep = "grep", Each = "each", Any = "any", All = "all", Reduce = "reduce",
    EachWithIndex = "each_with_index",
    }
}

impl Method {
    /// The built-in method each string constant of `consts` names, one for
    /// each constant ([`Proto::methods`]).
    pub fn of_constants(consts: &[Const]) -> Box<[Option<Method>]> {
        consts.iter().map(|c| if let Const::Str(s) = c { Method::from_name(s) } else { None }).collect()
    }
}

/// The standard library's constants (`Math.pi`).
pub fn std_constant(name: &str) -> Option<f64> {
    Some(match name {
        "Math.pi" => std::f64::consts::PI,
        "Math.e" => std::f64::consts::E,
        "Math.huge" | "Math.inf" => f64::INFINITY,
        "Math.max_int" => 9_007_199_254_740_992.0,
        _ => return None,
    })
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
    /// The first register free at each instruction: from it up, no
    /// register holds a value the function reads again (the compiler
    /// allocates registers as a stack); a register there may still hold
    /// what an earlier statement left.
    pub free: Vec<Reg>,
    /// Its file, in [`Program::files`].
    pub file: u16,
    /// Constants.
    pub consts: Vec<Const>,
    /// One inline cache per instruction, used by field and method accesses
    /// on instances (see [`MemberCache`]).
    pub member_cache: Box<[MemberCache]>,
    /// The built-in method each constant names, if it names one (made from
    /// `consts` by [`Method::of_constants`]): a method call's name constant
    /// says which without comparing text.
    pub methods: Box<[Option<Method>]>,
}

/// What a field or method name resolved to for the last two classes seen
/// at one instruction (an inline cache of two entries: a method inherited by
/// a subclass sees instances of both). The fast loop tests the first entry;
/// the general path finds the second without looking the name up, and
/// swaps them. A class's members never
/// change, so a stale entry is only a miss. Shared by the maatines running
/// the function on any thread; `Relaxed` suffices, since each entry is one
/// word that says everything (class + 1 in the high half, the member in the
/// low half), every value ever stored is correct for the class it names,
/// and a reader takes each word whole.
#[derive(Debug, Default)]
pub struct MemberCache([AtomicU64; 2]);

/// A resolved member of a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    /// Field number i.
    Field(u32),
    /// The method implemented by function f.
    Method(u32),
}

impl MemberCache {
    /// The member cached first, if it is `class`'s (the fast loop's test:
    /// a monomorphic site's member, the common case).
    #[inline(always)]
    pub fn get(&self, class: u32) -> Option<Member> {
        Self::member_of(self.0[0].load(Ordering::Relaxed), class)
    }

    /// The member cached for `class` in either entry, if any; found second,
    /// it moves first (the general path's test, before it looks the name up).
    pub fn get_any(&self, class: u32) -> Option<Member> {
        if let Some(member) = self.get(class) {
            return Some(member);
        }
        let second = self.0[1].load(Ordering::Relaxed);
        let member = Self::member_of(second, class)?;
        self.0[1].store(self.0[0].load(Ordering::Relaxed), Ordering::Relaxed);
        self.0[0].store(second, Ordering::Relaxed);
        Some(member)
    }

    #[inline(always)]
    fn member_of(word: u64, class: u32) -> Option<Member> {
        if word >> 32 != u64::from(class) + 1 {
            return None;
        }
        let low = word as u32;
        Some(if low & 1 == 0 { Member::Field(low >> 1) } else { Member::Method(low >> 1) })
    }

    /// Remembers that the name resolves to `member` for `class`, first; the
    /// class that was first moves second (the one second is forgotten).
    pub fn set(&self, class: u32, member: Member) {
        let low = match member {
            Member::Field(i) => i << 1,
            Member::Method(f) => (f << 1) | 1,
        };
        let word = ((u64::from(class) + 1) << 32) | u64::from(low);
        self.0[1].store(self.0[0].load(Ordering::Relaxed), Ordering::Relaxed);
        self.0[0].store(word, Ordering::Relaxed);
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
    /// Built-in methods written in Maat: for each object kind (the index),
    /// the method and its function.
    pub methods: Vec<Vec<(Method, u32)>>,
    /// The program's files, by number (the main file's first).
    pub files: Vec<String>,
    /// Module variables: top-level `let`s that functions use, each in a
    /// slot of the maatine's root (shared with maatines it starts).
    pub module_vars: u32,
    /// The function the program starts with (its main file's top-level
    /// code; in a session, the entry's).
    pub main: u32,
}

/// A program's bytecode as text (`maat run --bytecode`): each function's
/// name, parameters, registers and file, then its instructions with their
/// source lines and constants.
pub struct Listing<'p>(pub &'p Program);

impl std::fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, proto) in self.0.functions.iter().enumerate() {
            let file = self.0.files.get(usize::from(proto.file)).map_or("", String::as_str);
            writeln!(
                f,
                "function {index} `{}`: {} parameter(s), {} register(s), {file}",
                proto.name, proto.params, proto.registers
            )?;
            for (pc, op) in proto.code.iter().enumerate() {
                writeln!(f, "  {pc:5} line {:4}  {op:?}", proto.lines.get(pc).copied().unwrap_or(0))?;
            }
            for (k, c) in proto.consts.iter().enumerate() {
                writeln!(f, "  constant {k}: {c:?}")?;
            }
        }
        Ok(())
    }
}

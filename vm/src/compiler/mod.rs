//! The compiler: syntax tree to register bytecode.
//!
//! Locals live in fixed registers of their frame (innermost scope wins);
//! temporaries are allocated above them and released after each statement.
//! `our` variables are globals resolved to indexes at compile time. `fn`
//! declarations are hoisted, so a function can call one declared after it.
//!
//! Read-modify-write detection: an assignment to a global whose value reads
//! that same global (`x = x + f()`), and every compound assignment to a
//! global (`x += e`), compile to `RmwBegin x … SetGlobal x … RmwEnd x`, so no
//! other maatine writes x in between.
//!
//! Closures capture variables by reference: a local that some closure
//! captures (see [`crate::resolve`]) lives in a slot from its declaration on,
//! and the closure holds the slot. Each `for` iteration binds a fresh
//! variable. Read-modify-write on a captured variable is a section on its
//! slot, as for globals.
//!
//! Classes are declared at the top level; their methods are functions whose
//! parameter 0 is `self`, and a method call passes the receiver there.
//!
//! A program of several files (see [`crate::module`]) compiles as one: each
//! module's top-level names (functions, classes, `our` and module
//! variables) are known under the module's qualifier (`shapes.area`; the
//! main file's stay bare), `alias.name` in an importer compiles to the name
//! it qualifies, and the main function first runs the imported modules'
//! top-level code, each once, in dependency order.
//!
//! Not compiled yet (a clear error, not a crash): `ma`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ast::*;
use crate::bytecode::{Builtin, ClassInfo, Const, GcOp, Literal, MemberCache, Method, Op, Program, Proto, Reg, StdFn};
use crate::error::{Span, SyntaxError};
use crate::module::{Loaded, Module, Sources};
use crate::resolve::{DEFAULTS_PARAMS, Resolution, SELF, resolve};

mod classes;
mod expr;
mod prelude;
mod stmt;

use classes::declare_classes;
use expr::reads_var;
use prelude::{PRELUDE, compile_prelude};

/// Compiles a parsed program from `file` (whose text is `src`, for lines).
pub fn compile(program: &Block, file: &str, src: &str) -> Result<Program, SyntaxError> {
    compile_with(program, file, src, &[])
}

/// [`compile`], with the names of the embedder's native functions (callable
/// like built-ins; a user function of the same name takes precedence).
pub fn compile_with(program: &Block, file: &str, src: &str, natives: &[String]) -> Result<Program, SyntaxError> {
    let mut sources = Sources::default();
    let file = sources.add(file, src);
    let main = Module { file, name: String::new(), body: program.clone(), imports: HashMap::new() };
    compile_program(&Loaded { sources, modules: vec![main] }, natives)
}

/// Compiles the whole program `loaded` (as [`compile_program`], with the
/// names of the embedder's natives), rendering an error with its file, line
/// and source line. The program's syntax trees and texts are dropped here,
/// before it runs: nothing at run time needs them (errors name files and
/// lines from the bytecode's own tables).
pub fn compile_loaded(loaded: Loaded, natives: &[String]) -> Result<Program, String> {
    compile_program(&loaded, natives).map_err(|e| loaded.sources.render(&e))
}

/// Compiles a whole program of one or more files (modules in dependency
/// order, the main one last: see [`crate::module::load`]), with the names
/// of the embedder's natives.
pub fn compile_program(loaded: &Loaded, natives: &[String]) -> Result<Program, SyntaxError> {
    Incremental::new(natives).compile(loaded, Entry::Kept)
}

/// Whether a compiled entry's main function stays in the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// It stays: the program may run it again (a compiled chunk).
    Kept,
    /// It runs once: the next `Once` entry's main function takes its index
    /// (nothing refers to a main function after its run, since closures
    /// are made of the functions nested in it, not of it).
    Once,
}

/// A program that grows entry by entry (a session, an embedder's runtime).
///
/// Invariant: indexes never move. Each function, class and global variable
/// keeps the index it was given when first compiled, so the objects that
/// earlier entries made (closures name their function, instances their
/// class, the environment keeps each global's slot) stay valid in every
/// later program. A function declared again is replaced at its index (code
/// that calls it, and closures of it, run the new one); a class declared
/// again is a new class (instances made earlier keep theirs, as in
/// Python); the main module's top-level `let`s are for the caller to make
/// `our` variables (a session does), since module variables live in the
/// running maatine.
#[derive(Clone)]
pub struct Incremental {
    known: Known,
    functions: Vec<Arc<Proto>>,
    methods: Vec<Vec<(Method, u32)>>,
    files: Vec<String>,
    /// The main function of the last [`Entry::Once`] entry.
    scratch: Option<u32>,
}

impl Incremental {
    /// An empty program whose code may call the embedder's `natives` (more
    /// can be added: [`Incremental::add_native`]).
    pub fn new(natives: &[String]) -> Self {
        let known = Known { natives: natives.to_vec(), ..Known::default() };
        Incremental { known, functions: Vec::new(), methods: Vec::new(), files: Vec::new(), scratch: None }
    }

    /// Makes native `name` callable by later entries; its number (the
    /// same as before if it was known).
    pub fn add_native(&mut self, name: &str) -> u32 {
        let natives = &mut self.known.natives;
        let i = natives.iter().position(|n| n == name).unwrap_or_else(|| {
            natives.push(name.to_owned());
            natives.len() - 1
        });
        i as u32
    }

    /// The index of the top-level function `name` of the main file, if
    /// one was compiled.
    pub fn function(&self, name: &str) -> Option<u32> {
        self.known.functions.get(name).copied()
    }

    /// The global variables so far, in slot order.
    pub fn globals(&self) -> Vec<String> {
        global_names(&self.known.vars)
    }

    /// Compiles `loaded` as the next entry: the program of every entry so
    /// far, whose [`Program::main`] is this entry's code. Nothing changes
    /// when it fails.
    pub fn compile(&mut self, loaded: &Loaded, entry: Entry) -> Result<Program, SyntaxError> {
        let mut next = self.clone();
        let program = next.add(loaded, entry)?;
        *self = next;
        Ok(program)
    }

    fn add(&mut self, loaded: &Loaded, entry: Entry) -> Result<Program, SyntaxError> {
        let files: Vec<u16> = loaded.sources.files().iter().map(|f| self.file(&f.name)).collect();
        let mut units: Vec<Unit> =
            loaded.modules.iter().map(|m| Unit::new(m, &loaded.sources, files[m.file])).collect();
        units.push(Unit::prelude());
        let mut globals = Globals::resume(std::mem::take(&mut self.known), self.functions.len() as u32);
        for (unit, module) in units.iter().zip(&loaded.modules) {
            globals.absorb(resolve(&module.body), &unit.prefix);
        }
        let args = globals.vars.len() as u32;
        globals.vars.entry(ARGS.to_owned()).or_insert(args);
        let main = match (entry, self.scratch) {
            (Entry::Once, Some(index)) => index,
            _ => globals.reserve(),
        };
        let decls = declare_functions(&mut globals, &units, &loaded.modules)?;
        declare_classes(&mut globals, &units, &loaded.modules)?;
        let main_module = loaded.modules.len() - 1;
        let mut bodies = Vec::new();
        for (m, module) in loaded.modules[..main_module].iter().enumerate() {
            let name = format!("module {}", units[m].prefix);
            let body = FnCompiler::new(&name, &[], 0, Vec::new(), &mut globals, &units, m).top().body(&module.body)?;
            bodies.push(globals.add_proto(body));
        }
        let mut top = FnCompiler::new("main", &[], 0, Vec::new(), &mut globals, &units, main_module).top();
        top.run_modules(&bodies)?;
        let body = top.body(&loaded.modules[main_module].body)?;
        globals.define(main, body);
        for (index, m, f) in decls {
            let proto =
                FnCompiler::new(&f.name, &f.params, f.span.start, Vec::new(), &mut globals, &units, m).body(&f.body)?;
            globals.define(index, proto);
        }
        if self.functions.is_empty() {
            self.methods = compile_prelude(&mut globals, &units)?;
        }
        while let Some(c) = globals.pending.pop() {
            let mut f = FnCompiler::new(&c.name, &c.params, c.start, c.upvalues, &mut globals, &units, c.module);
            (f.class, f.method, f.init) = (c.class, c.method, c.init);
            let proto = f.body(&c.body)?;
            globals.define(c.index, proto);
        }
        for (index, proto) in std::mem::take(&mut globals.replaced) {
            self.functions[index as usize] = finished(proto);
        }
        self.functions.extend(globals.protos.drain(..).map(|p| finished(p.expect("every function compiled"))));
        self.known = globals.known();
        self.scratch = (entry == Entry::Once).then_some(main);
        let program = Program {
            functions: self.functions.clone(),
            globals: global_names(&self.known.vars),
            classes: self.known.classes.clone(),
            natives: self.known.natives.clone(),
            methods: self.methods.clone(),
            files: self.files.clone(),
            module_vars: self.known.module.len() as u32,
            main,
        };
        crate::verify::verify(&program).map_err(|e| {
            SyntaxError::new(format!("internal compiler error: the bytecode fails verification: {e}"), Span::default())
        })?;
        Ok(program)
    }

    /// The program's number for the file `name` (one per name: an entry
    /// run again under the same name adds none).
    fn file(&mut self, name: &str) -> u16 {
        let i = self.files.iter().position(|f| f == name).unwrap_or_else(|| {
            self.files.push(name.to_owned());
            self.files.len() - 1
        });
        i as u16
    }
}

/// A compiled function, its instructions specialized, ready to share.
fn finished(mut proto: Proto) -> Arc<Proto> {
    crate::specialize::specialize(&mut proto.code, &proto.consts);
    Arc::new(proto)
}

/// Global variable names by slot.
fn global_names(vars: &HashMap<String, u32>) -> Vec<String> {
    let mut names = vec![String::new(); vars.len()];
    for (name, &index) in vars {
        names[index as usize] = name.clone();
    }
    names
}

/// Gives each top-level function of `modules` its index: its old one if an
/// earlier entry declared it (it is replaced), a new one otherwise. A name
/// declared twice in one entry is an error.
fn declare_functions<'m>(
    globals: &mut Globals,
    units: &[Unit],
    modules: &'m [Module],
) -> CResult<Vec<(u32, usize, &'m FnDecl)>> {
    let mut decls = Vec::new();
    let mut mine = std::collections::HashSet::new();
    for (m, module) in modules.iter().enumerate() {
        for stmt in &module.body {
            if let StmtKind::Fn(f) = &stmt.kind {
                let key = qualify(&units[m].prefix, &f.name);
                if !mine.insert(key.clone()) {
                    return Err(SyntaxError::new(format!("function `{}` is declared twice", f.name), f.span));
                }
                let index = match globals.functions.get(&key) {
                    Some(&index) => index,
                    None => {
                        let index = globals.reserve();
                        globals.functions.insert(key, index);
                        index
                    }
                };
                decls.push((index, m, f));
            }
        }
    }
    Ok(decls)
}

/// The name under which a module (qualifier `prefix`) knows its top-level
/// `name`: the main file's (empty prefix) stay bare, as do names already
/// qualified (they hold a `.`, which no written name does) and [`ARGS`].
fn qualify(prefix: &str, name: &str) -> String {
    if prefix.is_empty() || name.contains('.') || name == ARGS { name.to_owned() } else { format!("{prefix}.{name}") }
}

/// What compiling needs to know of a module besides its code.
struct Unit {
    /// Its qualifier ([`Module::name`]).
    prefix: String,
    /// Its file, by number.
    file: u16,
    lines: LineTable,
    /// The modules it imports, by the names it gives them.
    imports: HashMap<String, usize>,
    /// Its exports: top-level functions, classes and `our` variables.
    exports: std::collections::HashSet<String>,
    /// Its top-level `let`s (private to it).
    lets: std::collections::HashSet<String>,
}

impl Unit {
    /// The unit of `module`, whose file is the program's file number `number`.
    fn new(module: &Module, sources: &Sources, number: u16) -> Unit {
        let file = sources.file(module.file);
        let (mut exports, mut lets) = (std::collections::HashSet::new(), std::collections::HashSet::new());
        for stmt in &module.body {
            match &stmt.kind {
                StmtKind::Fn(f) => drop(exports.insert(f.name.clone())),
                StmtKind::Class(c) => drop(exports.insert(c.name.clone())),
                StmtKind::Our(name, _) => drop(exports.insert(name.clone())),
                StmtKind::Let(name, _) => drop(lets.insert(name.clone())),
                StmtKind::LetPattern(p, _) => lets.extend(p.names().iter().cloned()),
                _ => {}
            }
        }
        Unit {
            prefix: module.name.clone(),
            file: number,
            lines: LineTable::new(&file.text, file.base),
            imports: module.imports.clone(),
            exports,
            lets,
        }
    }

    /// The built-in methods written in Maat: in the main file's namespace.
    fn prelude() -> Unit {
        Unit {
            prefix: String::new(),
            file: 0,
            lines: LineTable::new(PRELUDE, 0),
            imports: HashMap::new(),
            exports: Default::default(),
            lets: Default::default(),
        }
    }
}

/// The global holding the program's arguments (`maat run FILE ARGS…`).
pub const ARGS: &str = "ARGS";

/// What a program knows of the names its entries declared, between
/// entries (see [`Incremental`]).
#[derive(Clone, Default)]
struct Known {
    vars: HashMap<String, u32>,
    /// Top-level functions by qualified name (hashed fast: an embedder calls
    /// them by name).
    functions: ahash::AHashMap<String, u32>,
    /// Module variables (qualified) and their slots.
    module: HashMap<String, u16>,
    classes: Vec<ClassInfo>,
    class_index: HashMap<String, u32>,
    /// Each class's chain of default-computing functions (parents' first),
    /// by class index.
    chains: Vec<Vec<u32>>,
    natives: Vec<String>,
}

/// The compiler's tables while it compiles one entry.
#[derive(Default)]
struct Globals {
    vars: HashMap<String, u32>,
    functions: ahash::AHashMap<String, u32>,
    resolution: Resolution,
    /// The index of this entry's first new function: those below belong to
    /// earlier entries.
    base: u32,
    /// This entry's new functions, from `base` on (closures reserve theirs
    /// when met).
    protos: Vec<Option<Proto>>,
    /// Functions of earlier entries compiled again (declared again).
    replaced: Vec<(u32, Proto)>,
    /// Closures met but not compiled yet.
    pending: Vec<PendingClosure>,
    classes: Vec<ClassInfo>,
    /// Classes by name.
    class_index: HashMap<String, u32>,
    /// Each class's chain of default-computing functions (parents' first),
    /// by class index.
    chains: Vec<Vec<u32>>,
    natives: Vec<String>,
}

impl Globals {
    /// The tables for an entry after those that declared `known` and
    /// compiled `base` functions.
    fn resume(known: Known, base: u32) -> Self {
        let Known { vars, functions, module, classes, class_index, chains, natives } = known;
        let resolution = Resolution { module, ..Resolution::default() };
        Globals { vars, functions, resolution, base, classes, class_index, chains, natives, ..Globals::default() }
    }

    /// What the next entry needs of this one's tables.
    fn known(self) -> Known {
        let Globals { vars, functions, resolution, classes, class_index, chains, natives, .. } = self;
        Known { vars, functions, module: resolution.module, classes, class_index, chains, natives }
    }

    /// Takes in a module's resolution: its module variables qualified with
    /// `prefix`, in slots after those of the modules before it.
    fn absorb(&mut self, r: Resolution, prefix: &str) {
        let first = self.resolution.module.len() as u16;
        self.resolution.boxed.extend(r.boxed);
        self.resolution.assigned.extend(r.assigned);
        self.resolution.upvalues.extend(r.upvalues);
        for (name, slot) in r.module {
            self.resolution.module.insert(qualify(prefix, &name), first + slot);
        }
    }

    /// Reserves an index for a function to be compiled ([`Globals::define`]).
    fn reserve(&mut self) -> u32 {
        self.protos.push(None);
        self.base + (self.protos.len() - 1) as u32
    }

    /// Gives function `index` its code.
    fn define(&mut self, index: u32, proto: Proto) {
        match index.checked_sub(self.base) {
            Some(i) => self.protos[i as usize] = Some(proto),
            None => self.replaced.push((index, proto)),
        }
    }

    /// Adds a compiled function; returns its index.
    fn add_proto(&mut self, proto: Proto) -> u32 {
        let index = self.reserve();
        self.define(index, proto);
        index
    }
}

struct PendingClosure {
    index: u32,
    name: String,
    start: usize,
    params: Vec<String>,
    body: Block,
    /// Its upvalues' names, and whether each is captured by value.
    upvalues: Vec<(String, bool)>,
    /// The class whose method (or defaults) this is.
    class: Option<u32>,
    /// The method's name.
    method: Option<String>,
    /// Whether it is a class's `init` (see [`FnCompiler::init`]).
    init: bool,
    /// The module whose code it is.
    module: usize,
}

/// Where a name lives, from inside the function being compiled.
enum Place {
    /// A local in a register; `boxed` when closures capture it (the register
    /// then holds its slot).
    Local(Reg, bool),
    /// An upvalue of this closure: the slot of a boxed variable.
    Upvalue(u16),
    /// An upvalue of this closure captured by value (a variable never
    /// assigned again).
    Captured(u16),
    /// A module variable (a top-level `let` that functions use).
    Module(u16),
    /// A global variable.
    Global(u32),
}

/// Byte offset to line number.
struct LineTable(Vec<usize>);

impl LineTable {
    /// The lines of `src`, whose text starts at offset `base`.
    fn new(src: &str, base: usize) -> Self {
        LineTable(std::iter::once(base).chain(src.match_indices('\n').map(|(i, _)| base + i + 1)).collect())
    }

    fn line(&self, offset: usize) -> u32 {
        self.0.partition_point(|&start| start <= offset) as u32
    }
}

struct Loop {
    breaks: Vec<usize>,
    nexts: Vec<usize>,
    /// `try` blocks open when the loop started.
    tries: usize,
}

struct FnCompiler<'a> {
    proto: Proto,
    globals: &'a mut Globals,
    /// Every module (and the prelude, last), and which this code is of.
    units: &'a [Unit],
    module: usize,
    /// Whether this is a module's top-level code (the main function, or an
    /// imported module's).
    top: bool,
    /// Locals: name, register, boxed (captured and assigned again: the
    /// register holds a slot).
    locals: Vec<(String, Reg, bool)>,
    /// This closure's upvalue names, and whether each is captured by value.
    upvalues: Vec<(String, bool)>,
    next: Reg,
    loops: Vec<Loop>,
    line: u32,
    /// Block nesting; 1 inside a function's own body.
    depth: usize,
    /// `try` blocks open here.
    tries: usize,
    /// The last position handed out as a jump target (see `here`): no
    /// instruction there is fused into the one before.
    label: u32,
    /// The class whose method this is (for `super` and calls of its
    /// methods without `self.`).
    class: Option<u32>,
    /// The method's name (for `super(args)`).
    method: Option<String>,
    /// A class's `init`, which returns the instance (register 0, `self`):
    /// its `return` takes no value, and so `new` may call it directly,
    /// with the instance as the call's result.
    init: bool,
    /// In top-level code: the module variables declared so far.
    declared: std::collections::HashSet<String>,
}

type CResult<T> = Result<T, SyntaxError>;

/// The right-hand operand of an instruction that takes a constant or a
/// register.
enum Operand {
    Const(u32),
    Reg(Reg),
}

impl Operand {
    /// `dst = lhs op self`.
    fn binary(self, op: BinOp, dst: Reg, lhs: Reg) -> Op {
        match self {
            Operand::Const(k) => Op::BinK(op, dst, lhs, k),
            Operand::Reg(r) => Op::Bin(op, dst, lhs, r),
        }
    }
}

fn unsupported_import<T>(i: &Import) -> CResult<T> {
    Err(SyntaxError::new("`import` needs the program's file: run it from a file", i.span))
}

fn unsupported<T>(what: &str, span: Span) -> CResult<T> {
    Err(SyntaxError::new(format!("{what} are not supported by this version of the compiler yet"), span))
}

impl<'a> FnCompiler<'a> {
    fn new(
        name: &str,
        params: &[String],
        start: usize,
        upvalues: Vec<(String, bool)>,
        globals: &'a mut Globals,
        units: &'a [Unit],
        module: usize,
    ) -> Self {
        let file = units[module].file;
        let proto = Proto { name: name.to_owned(), params: params.len() as u16, file, ..Proto::default() };
        let boxed = |p: &String| globals.resolution.boxed.contains(&(start, p.clone()));
        let locals: Vec<(String, Reg, bool)> =
            params.iter().enumerate().map(|(i, p)| (p.clone(), i as Reg, boxed(p))).collect();
        let next = locals.len() as Reg;
        FnCompiler {
            proto,
            globals,
            units,
            module,
            top: false,
            locals,
            upvalues,
            next,
            loops: Vec::new(),
            line: 1,
            depth: 0,
            tries: 0,
            label: 0,
            class: None,
            method: None,
            init: false,
            declared: Default::default(),
        }
    }

    /// Marks this as a module's top-level code.
    fn top(mut self) -> Self {
        self.top = true;
        self
    }

    /// Runs each imported module's top-level code (in `bodies`, in
    /// dependency order), before the main file's.
    fn run_modules(&mut self, bodies: &[u32]) -> CResult<()> {
        for &f in bodies {
            let r = self.temp(Span::default())?;
            self.emit(Op::Call(r, f, r, 0));
            self.next = r;
        }
        Ok(())
    }

    /// The name under which this module knows its top-level `name`.
    fn key(&self, name: &str) -> String {
        qualify(&self.units[self.module].prefix, name)
    }

    fn body(mut self, body: &Block) -> CResult<Proto> {
        // Captured parameters move into slots first.
        for &(_, r, boxed) in &self.locals.clone() {
            if boxed {
                self.emit(Op::NewSlot(r, r));
            }
        }
        // A body ending in an expression returns its value (`{ |x| x * 2 }`).
        match body.split_last() {
            Some((Stmt { kind: StmtKind::Expr(e), span }, rest)) => {
                // The body's own scope, with the final expression in it.
                self.depth += 1;
                for stmt in rest {
                    self.stmt(stmt)?;
                }
                self.line = self.units[self.module].lines.line(span.start);
                let r = self.expr_any(e)?;
                self.emit(Op::Return(if self.init { 0 } else { r }));
            }
            _ => self.block(body)?,
        }
        self.emit(if self.init { Op::Return(0) } else { Op::ReturnNil });
        self.proto.registers = self.proto.registers.max(self.next);
        self.proto.member_cache = self.proto.code.iter().map(|_| MemberCache::default()).collect();
        self.proto.methods = Method::of_constants(&self.proto.consts);
        Ok(self.proto)
    }

    // ----- emission ---------------------------------------------------------

    fn emit(&mut self, op: Op) -> usize {
        if let Some(fused) = self.fuse(op) {
            let at = self.proto.code.len() - 1;
            self.proto.code[at] = fused;
            return at;
        }
        self.proto.code.push(op);
        self.proto.lines.push(self.line);
        self.proto.free.push(self.next);
        self.proto.code.len() - 1
    }

    fn here(&mut self) -> u32 {
        self.label = self.proto.code.len() as u32;
        self.label
    }

    /// The one instruction doing what the last one emitted and `op` do in
    /// turn, where a section on a global begins with reading it or ends
    /// with storing it; never across a jump target.
    fn fuse(&self, op: Op) -> Option<Op> {
        if self.label == self.proto.code.len() as u32 {
            return None;
        }
        match (self.proto.code.last()?, op) {
            (&Op::RmwBegin(g), Op::GetGlobal(d, read)) if g == read => Some(Op::RmwGet(d, g)),
            (&Op::StoreGlobal(g, s), Op::RmwEnd(end)) if g == end => Some(Op::RmwSet(g, s)),
            _ => None,
        }
    }

    fn patch(&mut self, at: usize) {
        let here = self.here();
        self.patch_to(at, here);
    }

    fn patch_to(&mut self, at: usize, target: u32) {
        match &mut self.proto.code[at] {
            Op::Jump(t)
            | Op::JumpIfFalse(_, t)
            | Op::JumpIfTrue(_, t)
            | Op::JumpNil(.., t)
            | Op::CmpJump(.., t)
            | Op::CmpJumpK(.., t)
            | Op::TryBegin(t, _)
            | Op::ForNext(.., t) => *t = target,
            other => unreachable!("patching a non-jump {other:?}"),
        }
    }

    fn temp(&mut self, span: Span) -> CResult<Reg> {
        if self.next == Reg::MAX {
            return Err(SyntaxError::new("function needs more than 65535 registers", span));
        }
        let r = self.next;
        self.next += 1;
        self.proto.registers = self.proto.registers.max(self.next);
        Ok(r)
    }

    fn konst(&mut self, c: Const) -> u32 {
        // Numbers by their bits: `-0.0` is not `0.0` (`1 / -0.0`).
        let same = |k: &Const| match (k, &c) {
            (Const::Num(a), Const::Num(b)) => a.to_bits() == b.to_bits(),
            (k, c) => k == c,
        };
        if let Some(i) = self.proto.consts.iter().position(same) {
            return i as u32;
        }
        self.proto.consts.push(c);
        (self.proto.consts.len() - 1) as u32
    }

    fn global(&mut self, name: &str) -> u32 {
        let n = self.globals.vars.len() as u32;
        let key = self.key(name);
        *self.globals.vars.entry(key).or_insert(n)
    }

    /// A plain (not captured) local's register.
    fn local(&self, name: &str) -> Option<Reg> {
        match self.place(name) {
            Some(Place::Local(r, false)) => Some(r),
            _ => None,
        }
    }

    fn place(&self, name: &str) -> Option<Place> {
        if let Some(&(_, r, boxed)) = self.locals.iter().rev().find(|(n, ..)| n == name) {
            return Some(Place::Local(r, boxed));
        }
        if let Some(i) = self.upvalues.iter().position(|(u, _)| u == name) {
            return Some(self.upvalue_place(i));
        }
        let key = self.key(name);
        if let Some(&i) = self.globals.resolution.module.get(&key)
            && (!self.top || self.declared.contains(name))
        {
            return Some(Place::Module(i));
        }
        self.globals.vars.get(&key).map(|&g| Place::Global(g))
    }

    /// Upvalue `i` of this closure: its slot, or its value.
    fn upvalue_place(&self, i: usize) -> Place {
        if self.upvalues[i].1 { Place::Captured(i as u16) } else { Place::Upvalue(i as u16) }
    }

    /// Declares a local in register `r` (already holding its value), boxing
    /// it into a slot when closures capture it and it is assigned again.
    fn declare(&mut self, name: &str, at: usize, r: Reg) {
        let boxed = self.globals.resolution.boxed.contains(&(at, name.to_owned()));
        if boxed {
            self.emit(Op::NewSlot(r, r));
        }
        self.locals.push((name.to_owned(), r, boxed));
    }

    /// The register holding the slot of a boxed local or upvalue (loading an
    /// upvalue's slot into a temporary).
    fn slot_of(&mut self, place: &Place, span: Span) -> CResult<Option<Reg>> {
        Ok(match *place {
            Place::Local(r, true) => Some(r),
            Place::Upvalue(i) => {
                let t = self.temp(span)?;
                self.emit(Op::UpvalSlot(t, i));
                Some(t)
            }
            Place::Module(i) => {
                let t = self.temp(span)?;
                self.emit(Op::ModuleSlot(t, i));
                Some(t)
            }
            _ => None,
        })
    }

    // ----- statements -------------------------------------------------------

    // ----- expressions ------------------------------------------------------
}

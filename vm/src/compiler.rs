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
use crate::bytecode::{Builtin, ClassInfo, Const, GcOp, Literal, MemberCache, Op, Program, Proto, Reg, StdFn};
use crate::error::{Span, SyntaxError};
use crate::module::{Loaded, Module, Sources};
use crate::resolve::{DEFAULTS_PARAMS, Resolution, SELF, resolve};

/// Compiles a parsed program from `file` (whose text is `src`, for lines).
pub fn compile(program: &Block, file: &str, src: &str) -> Result<Program, SyntaxError> {
    compile_with(program, file, src, &[])
}

/// [`compile`], with the names of the embedder's native functions (callable
/// like built-ins; a user function of the same name takes precedence).
pub fn compile_with(program: &Block, file: &str, src: &str, natives: &[String]) -> Result<Program, SyntaxError> {
    compile_session(program, file, src, natives, &[])
}

/// [`compile_with`], for one entry of a session: the global variables of
/// earlier entries (`known`, in slot order) keep their slots, so that their
/// values carry over (see [`crate::session`]).
pub fn compile_session(
    program: &Block,
    file: &str,
    src: &str,
    natives: &[String],
    known: &[String],
) -> Result<Program, SyntaxError> {
    let mut sources = Sources::default();
    let file = sources.add(file, src);
    let main = Module { file, name: String::new(), body: program.clone(), imports: HashMap::new() };
    compile_program(&Loaded { sources, modules: vec![main] }, natives, known)
}

/// Compiles a whole program of one or more files (modules in dependency
/// order, the main one last: see [`crate::module::load`]), with the names
/// of the embedder's natives and a session's `known` globals (as for
/// [`compile_session`]).
pub fn compile_program(loaded: &Loaded, natives: &[String], known: &[String]) -> Result<Program, SyntaxError> {
    let mut units: Vec<Unit> = loaded.modules.iter().map(|m| Unit::new(m, &loaded.sources)).collect();
    units.push(Unit::prelude());
    let mut globals = Globals { natives: natives.to_vec(), ..Globals::default() };
    for (unit, module) in units.iter().zip(&loaded.modules) {
        globals.absorb(resolve(&module.body), &unit.prefix);
    }
    for (i, name) in known.iter().enumerate() {
        globals.vars.insert(name.clone(), i as u32);
    }
    let args = globals.vars.len() as u32;
    globals.vars.entry(ARGS.to_owned()).or_insert(args);
    let mut decls = vec![];
    for (m, module) in loaded.modules.iter().enumerate() {
        for stmt in &module.body {
            if let StmtKind::Fn(f) = &stmt.kind {
                let key = qualify(&units[m].prefix, &f.name);
                if globals.functions.contains_key(&key) {
                    return Err(SyntaxError::new(format!("function `{}` is declared twice", f.name), f.span));
                }
                globals.functions.insert(key, (decls.len() + 1) as u32);
                decls.push((m, f));
            }
        }
    }
    globals.protos.resize_with(decls.len() + 1, || None);
    declare_classes(&mut globals, &units, &loaded.modules)?;
    let main_module = loaded.modules.len() - 1;
    let mut bodies = Vec::new();
    for (m, module) in loaded.modules[..main_module].iter().enumerate() {
        let name = format!("module {}", units[m].prefix);
        let body = FnCompiler::new(&name, &[], 0, Vec::new(), &mut globals, &units, m).top().body(&module.body)?;
        bodies.push(globals.add_proto(body));
    }
    let mut main = FnCompiler::new("main", &[], 0, Vec::new(), &mut globals, &units, main_module).top();
    main.run_modules(&bodies)?;
    globals.protos[0] = Some(main.body(&loaded.modules[main_module].body)?);
    for (i, (m, f)) in decls.into_iter().enumerate() {
        let proto =
            FnCompiler::new(&f.name, &f.params, f.span.start, Vec::new(), &mut globals, &units, m).body(&f.body)?;
        globals.protos[i + 1] = Some(proto);
    }
    let methods = compile_prelude(&mut globals, &units)?;
    while let Some(c) = globals.pending.pop() {
        let mut f = FnCompiler::new(&c.name, &c.params, c.start, c.upvalues, &mut globals, &units, c.module);
        (f.class, f.method) = (c.class, c.method);
        globals.protos[c.index as usize] = Some(f.body(&c.body)?);
    }
    let functions = globals.protos.into_iter().map(|p| Arc::new(p.expect("every function compiled"))).collect();
    let mut names = vec![String::new(); globals.vars.len()];
    for (name, index) in globals.vars {
        names[index as usize] = name;
    }
    let natives = globals.natives;
    let module_vars = globals.resolution.module.len() as u32;
    let classes = globals.classes;
    let files = loaded.sources.files().iter().map(|f| f.name.clone()).collect();
    let program = Program { functions, globals: names, classes, natives, methods, files, module_vars };
    crate::verify::verify(&program).map_err(|e| {
        SyntaxError::new(format!("internal compiler error: the bytecode fails verification: {e}"), Span::default())
    })?;
    Ok(program)
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
    fn new(module: &Module, sources: &Sources) -> Unit {
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
            file: module.file as u16,
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

/// Declares every top-level class before anything is compiled: members
/// flattened with the inherited ones (parents first), a function reserved
/// for each method, for each class's computed field defaults, and the
/// constructors that run them and `init`.
fn declare_classes(globals: &mut Globals, units: &[Unit], modules: &[Module]) -> CResult<()> {
    let decls: Vec<(usize, &ClassDecl)> = modules
        .iter()
        .enumerate()
        .flat_map(|(m, module)| {
            module.body.iter().filter_map(move |s| match &s.kind {
                StmtKind::Class(c) => Some((m, c)),
                _ => None,
            })
        })
        .collect();
    for (i, (m, c)) in decls.iter().enumerate() {
        if globals.class_index.insert(qualify(&units[*m].prefix, &c.name), i as u32).is_some() {
            return Err(SyntaxError::new(format!("class `{}` is declared twice", c.name), c.span));
        }
    }
    globals.classes = decls.iter().map(|_| ClassInfo::default()).collect();
    let mut done = vec![false; decls.len()];
    for i in 0..decls.len() {
        let mut chain = vec![i];
        while let Some(&at) = chain.last() {
            if done[at] {
                chain.pop();
                continue;
            }
            let (m, c) = decls[at];
            let parent = match &c.parent {
                None => None,
                Some((name, span)) => match globals.class_index.get(&parent_key(units, m, name)) {
                    None => return Err(SyntaxError::new(format!("unknown class `{name}` to inherit from"), *span)),
                    Some(&p) if chain.contains(&(p as usize)) => {
                        return Err(SyntaxError::new(format!("class `{}` inherits from itself", c.name), *span)
                            .with_label("through the classes it inherits from"));
                    }
                    Some(&p) => Some(p as usize),
                },
            };
            if let Some(p) = parent.filter(|p| !done[*p]) {
                chain.push(p);
                continue;
            }
            let info = class_info(globals, (m, c), at as u32, parent.map(|p| p as u32))?;
            globals.classes[at] = info;
            done[at] = true;
            chain.pop();
        }
    }
    Ok(())
}

/// The qualified name of the class that module `m` names `name` (`A`, or
/// `alias.A` for a class of a module it imports).
fn parent_key(units: &[Unit], m: usize, name: &str) -> String {
    match name.split_once('.') {
        Some((alias, class)) => match units[m].imports.get(alias) {
            Some(&target) => qualify(&units[target].prefix, class),
            None => name.to_owned(),
        },
        None => qualify(&units[m].prefix, name),
    }
}

/// Class `c` (of module `m`)'s flattened description (its parent's is
/// already made).
fn class_info(
    globals: &mut Globals,
    (m, c): (usize, &ClassDecl),
    index: u32,
    parent: Option<u32>,
) -> CResult<ClassInfo> {
    let mut info = match parent {
        Some(p) => {
            let p = &globals.classes[p as usize];
            ClassInfo {
                fields: p.fields.clone(),
                defaults: p.defaults.clone(),
                computed: p.computed.clone(),
                methods: p.methods.clone(),
                init: p.init,
                ..ClassInfo::default()
            }
        }
        None => ClassInfo::default(),
    };
    (info.name, info.parent) = (c.name.clone(), parent);
    let mut own_defaults = Vec::new();
    for (field, default) in &c.fields {
        if info.fields.contains(field) {
            let owner = if parent.is_some() { "inherited" } else { "declared" };
            return Err(SyntaxError::new(format!("field `{field}` is already {owner} in class `{}`", c.name), c.span));
        }
        let literal = default.as_ref().map(literal_of);
        info.defaults.push(match &literal {
            Some(Ok(l)) => l.clone(),
            _ => None,
        });
        if let (Some(e), Some(Err(()))) = (default, literal) {
            if info.computed.len() == 53 {
                return Err(SyntaxError::new("more than 53 computed field defaults in one class", e.span));
            }
            own_defaults.push((field.clone(), info.computed.len(), e.clone()));
            info.computed.push(info.fields.len() as u32);
        }
        info.fields.push(field.clone());
    }
    let module = m;
    for m in &c.methods {
        if info.fields.contains(&m.name) {
            return Err(SyntaxError::new(format!("method `{}` has the name of a field", m.name), m.span));
        }
        let f = globals.protos.len() as u32;
        globals.protos.push(None);
        let params: Vec<String> = std::iter::once("self".to_owned()).chain(m.params.iter().cloned()).collect();
        globals.pending.push(PendingClosure {
            index: f,
            name: format!("{}.{}", c.name, m.name),
            start: m.span.start,
            params,
            body: m.body.clone(),
            upvalues: vec![],
            class: Some(index),
            method: Some(m.name.clone()),
            module,
        });
        match info.methods.iter_mut().find(|(n, _)| *n == m.name) {
            Some(entry) => entry.1 = f,
            None => info.methods.push((m.name.clone(), f)),
        }
        if m.name == "init" {
            info.init = Some((f, m.params.len() as u16));
        }
    }
    // The chain of default-computing functions, the parent's first.
    let mut chain = parent.map(|p| globals.chains[p as usize].clone()).unwrap_or_default();
    if !own_defaults.is_empty() {
        let f = globals.protos.len() as u32;
        globals.protos.push(None);
        chain.push(f);
        let body = own_defaults.into_iter().map(|(field, bit, e)| computed_default(&field, bit, e)).collect();
        globals.pending.push(PendingClosure {
            index: f,
            name: format!("{}.new", c.name),
            start: c.span.start,
            params: DEFAULTS_PARAMS.map(str::to_owned).to_vec(),
            body,
            upvalues: vec![],
            class: Some(index),
            method: None,
            module,
        });
    }
    let name = format!("{}.new", c.name);
    if !chain.is_empty() {
        info.fill = Some(globals.add_proto(constructor(&name, &chain, None)));
    }
    if info.init.is_some() || !chain.is_empty() {
        info.ctor = Some(globals.add_proto(constructor(&name, &chain, info.init)));
    }
    globals.chains.push(chain);
    Ok(info)
}

/// `if <named> & (1 << bit) == 0 { self.field = e }`: a computed default,
/// unless `new` named the field.
fn computed_default(field: &str, bit: usize, e: Expr) -> Stmt {
    let span = e.span;
    let at = |kind| Expr { kind, span };
    let named = at(ExprKind::Var(DEFAULTS_PARAMS[1].to_owned()));
    let mask = at(ExprKind::Num((1u64 << bit) as f64));
    let test = at(ExprKind::Binary(BinOp::BitAnd, Box::new(named), Box::new(mask)));
    let test = at(ExprKind::Binary(BinOp::Eq, Box::new(test), Box::new(at(ExprKind::Num(0.0)))));
    let target = at(ExprKind::Method(Box::new(at(ExprKind::SelfRef)), field.to_owned(), None));
    let set = Stmt { kind: StmtKind::Assign(target, AssignOp::Set, e), span };
    Stmt { kind: StmtKind::If(vec![(test, vec![set])], None), span }
}

/// A constructor: calls each function of `chain` on (self, named-fields
/// mask), then `init` on self and its arguments, and returns self. Its
/// parameters: self, the mask, and init's.
fn constructor(name: &str, chain: &[u32], init: Option<(u32, u16)>) -> Proto {
    let args = init.map_or(0, |(_, n)| n);
    let t = 2 + args;
    let mut code = Vec::new();
    for &f in chain {
        code.extend([Op::Move(t, 0), Op::Move(t + 1, 1), Op::Call(t, f, t, 2)]);
    }
    if let Some((f, n)) = init {
        code.push(Op::Move(t, 0));
        code.extend((0..n).map(|i| Op::Move(t + 1 + i, 2 + i)));
        code.push(Op::Call(t, f, t, n + 1));
    }
    code.push(Op::Return(0));
    let member_cache = code.iter().map(|_| MemberCache::default()).collect();
    Proto {
        name: name.to_owned(),
        params: 2 + args,
        registers: t + args + 2,
        lines: vec![0; code.len()],
        code,
        consts: Vec::new(),
        member_cache,
        file: 0,
    }
}

/// A field default's literal value (`None` for nil), or `Err` when it must
/// be computed at `new` (anything but a literal).
fn literal_of(e: &Expr) -> Result<Option<Literal>, ()> {
    Ok(Some(match &e.kind {
        ExprKind::Nil => return Ok(None),
        ExprKind::Bool(b) => Literal::Bool(*b),
        ExprKind::Num(n) => Literal::Num(*n),
        ExprKind::Str(s) => Literal::Str(s.as_str().into()),
        ExprKind::Unary(UnOp::Neg, x) => match x.kind {
            ExprKind::Num(n) => Literal::Num(-n),
            _ => return Err(()),
        },
        _ => return Err(()),
    }))
}

/// Where the prelude's text lies among source offsets: past any program's.
const PRELUDE_BASE: usize = usize::MAX / 2;

/// Built-in methods written in Maat: the receiver is parameter 0. Each
/// `fn TYPE_NAME` becomes method `NAME` of `TYPE`.
const PRELUDE: &str = "
fn Array_map(a, f) { let out = []; for a -> v { out.push(f(v)); } return out; }
fn Array_grep(a, f) { let out = []; for a -> v { if f(v) { out.push(v); } } return out; }
fn Array_each(a, f) { for a -> v { f(v); } return a; }
fn Map_each(m, f) { for m.keys -> k { f(k, m[k]); } return m; }
fn Array_any(a, f) { for a -> v { if f(v) { return true; } } return false; }
fn Array_all(a, f) { for a -> v { if !f(v) { return false; } } return true; }
fn Array_find(a, f) { for a -> v { if f(v) { return v; } } return nil; }
fn Array_reduce(a, acc, f) { for a -> v { acc = f(acc, v); } return acc; }
fn Array_each_with_index(a, f) { for ^a.len -> i { f(a[i], i); } return a; }
fn Array_sort(a, f) {
    let n = a.len
    let src = a.copy
    let dst = Array.new(n)
    let width = 1
    while width < n {
        let lo = 0
        while lo < n {
            let mid = Math.min(lo + width, n)
            let hi = Math.min(lo + 2 * width, n)
            let i = lo
            let j = mid
            for lo..hi - 1 -> k {
                let right = false
                if i >= mid { right = true } elsif j < hi {
                    let r = f(src[j], src[i])
                    right = r == true || (r != false && r != nil && r < 0)
                }
                if right { dst[k] = src[j]; j += 1 } else { dst[k] = src[i]; i += 1 }
            }
            lo = hi
        }
        let t = src
        src = dst
        dst = t
        width *= 2
    }
    for ^n -> i { a[i] = src[i] }
    return a
}
";

/// Compiles the prelude's methods; returns each object kind's (name, function).
fn compile_prelude(globals: &mut Globals, units: &[Unit]) -> CResult<Vec<Vec<(String, u32)>>> {
    let prelude = crate::parser::parse_at(PRELUDE, PRELUDE_BASE).expect("the prelude parses");
    let mut methods = Vec::new();
    for stmt in &prelude {
        let StmtKind::Fn(f) = &stmt.kind else { unreachable!("the prelude declares functions only") };
        let (ty, name) = f.name.split_once('_').expect("prelude names are TYPE_NAME");
        let kind = if ty == "Array" { crate::object::kind::ARRAY } else { crate::object::kind::MAP };
        let index = globals.protos.len() as u32;
        globals.protos.push(None);
        let full = format!("{ty}.{name}");
        let prelude = units.len() - 1;
        let mut proto =
            FnCompiler::new(&full, &f.params, f.span.start, Vec::new(), globals, units, prelude).body(&f.body)?;
        // Line 0: shown as built-in in stack traces.
        proto.lines.iter_mut().for_each(|l| *l = 0);
        globals.protos[index as usize] = Some(proto);
        let kind = usize::from(kind);
        if methods.len() <= kind {
            methods.resize_with(kind + 1, Vec::new);
        }
        methods[kind].push((name.to_owned(), index));
    }
    Ok(methods)
}

#[derive(Default)]
struct Globals {
    vars: HashMap<String, u32>,
    functions: HashMap<String, u32>,
    resolution: Resolution,
    /// Compiled functions by index (closures reserve theirs when met).
    protos: Vec<Option<Proto>>,
    /// Closures met but not compiled yet.
    pending: Vec<PendingClosure>,
    classes: Vec<ClassInfo>,
    /// Classes by name.
    class_index: HashMap<String, u32>,
    /// Each class's chain of default-computing functions (parents' first).
    chains: Vec<Vec<u32>>,
    natives: Vec<String>,
}

impl Globals {
    /// Takes in a module's resolution: its module variables qualified with
    /// `prefix`, in slots after those of the modules before it.
    fn absorb(&mut self, r: Resolution, prefix: &str) {
        let first = self.resolution.module.len() as u16;
        self.resolution.captured.extend(r.captured);
        self.resolution.upvalues.extend(r.upvalues);
        for (name, slot) in r.module {
            self.resolution.module.insert(qualify(prefix, &name), first + slot);
        }
    }

    /// Adds a compiled function; returns its index.
    fn add_proto(&mut self, proto: Proto) -> u32 {
        self.protos.push(Some(proto));
        (self.protos.len() - 1) as u32
    }
}

struct PendingClosure {
    index: u32,
    name: String,
    start: usize,
    params: Vec<String>,
    body: Block,
    upvalues: Vec<String>,
    /// The class whose method (or defaults) this is.
    class: Option<u32>,
    /// The method's name.
    method: Option<String>,
    /// The module whose code it is.
    module: usize,
}

/// Where a name lives, from inside the function being compiled.
enum Place {
    /// A local in a register; `boxed` when closures capture it (the register
    /// then holds its slot).
    Local(Reg, bool),
    /// An upvalue of this closure.
    Upvalue(u16),
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
    /// Locals: name, register, boxed (captured, the register holds a slot).
    locals: Vec<(String, Reg, bool)>,
    /// This closure's upvalue names.
    upvalues: Vec<String>,
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

/// Whether `e` is a number or string literal.
fn is_literal(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Num(_) | ExprKind::Str(_))
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
        upvalues: Vec<String>,
        globals: &'a mut Globals,
        units: &'a [Unit],
        module: usize,
    ) -> Self {
        let file = units[module].file;
        let proto = Proto { name: name.to_owned(), params: params.len() as u16, file, ..Proto::default() };
        let boxed = |p: &String| globals.resolution.captured.contains(&(start, p.clone()));
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
                self.emit(Op::Return(r));
            }
            _ => self.block(body)?,
        }
        self.emit(Op::ReturnNil);
        self.proto.registers = self.proto.registers.max(self.next);
        self.proto.member_cache = self.proto.code.iter().map(|_| MemberCache::default()).collect();
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
        if let Some(i) = self.proto.consts.iter().position(|k| *k == c) {
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
        if let Some(i) = self.upvalues.iter().position(|u| u == name) {
            return Some(Place::Upvalue(i as u16));
        }
        let key = self.key(name);
        if let Some(&i) = self.globals.resolution.module.get(&key)
            && (!self.top || self.declared.contains(name))
        {
            return Some(Place::Module(i));
        }
        self.globals.vars.get(&key).map(|&g| Place::Global(g))
    }

    /// Declares a local in register `r` (already holding its value), boxing
    /// it into a slot when closures capture it.
    fn declare(&mut self, name: &str, at: usize, r: Reg) {
        let boxed = self.globals.resolution.captured.contains(&(at, name.to_owned()));
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

    fn block(&mut self, block: &Block) -> CResult<()> {
        let (locals, next) = (self.locals.len(), self.next);
        self.depth += 1;
        for stmt in block {
            self.stmt(stmt)?;
        }
        self.depth -= 1;
        self.locals.truncate(locals);
        self.next = next;
        Ok(())
    }

    fn stmt(&mut self, stmt: &Stmt) -> CResult<()> {
        self.line = self.units[self.module].lines.line(stmt.span.start);
        let mark = self.next;
        match &stmt.kind {
            StmtKind::Let(name, init) => {
                let reg = self.temp(stmt.span)?;
                match init {
                    Some(e) => self.expr_to(e, reg)?,
                    None => drop(self.emit(Op::LoadNil(reg))),
                }
                if self.bind(name, stmt.span, reg)? {
                    return Ok(());
                }
            }
            StmtKind::LetPattern(pattern, init) => {
                let src = self.expr_any(init)?;
                let mut kept = false;
                for (i, name) in pattern.names().iter().enumerate() {
                    let reg = self.temp(stmt.span)?;
                    let key = match pattern {
                        Pattern::Array(_) => Const::Num(i as f64),
                        Pattern::Map(_) => Const::Str(name.as_str().into()),
                    };
                    let k = self.konst(key);
                    self.emit(Op::GetIndexK(reg, src, k));
                    kept |= self.bind(name, stmt.span, reg)?;
                }
                if kept {
                    return Ok(());
                }
            }
            // Loading the program read the imports (the parser allows them
            // at the top level only); a program given as text has none.
            StmtKind::Import(i) => {
                if !self.units[self.module].imports.contains_key(&i.alias) {
                    return unsupported_import(i);
                }
            }
            StmtKind::Our(name, init) => {
                let g = self.global(name);
                let r = match init {
                    Some(e) => self.expr_any(e)?,
                    None => {
                        let r = self.temp(stmt.span)?;
                        self.emit(Op::LoadNil(r));
                        r
                    }
                };
                self.emit(Op::SetGlobal(g, r));
            }
            // Top-level declarations were hoisted by `compile`.
            StmtKind::Fn(_) if self.top && self.depth == 1 => {}
            StmtKind::Fn(f) => {
                // A local bound to a closure, declared first so that the
                // closure can call itself.
                let reg = self.temp(stmt.span)?;
                self.emit(Op::LoadNil(reg));
                self.declare(&f.name, stmt.span.start, reg);
                let closure = self.temp(stmt.span)?;
                self.closure(closure, &f.name, f.span.start, &f.params, &f.body)?;
                let boxed = matches!(self.place(&f.name), Some(Place::Local(_, true)));
                self.emit(if boxed { Op::SetSlot(reg, closure) } else { Op::Move(reg, closure) });
                self.next = reg + 1;
                return Ok(());
            }
            StmtKind::Class(c) if self.top && self.depth == 1 => self.class(c, stmt.span)?,
            StmtKind::Class(_) => return unsupported("classes declared inside blocks", stmt.span),
            StmtKind::Try(body, var, handler) => self.try_stmt(body, var, handler, stmt.span)?,
            StmtKind::Throw(value) => {
                let r = self.expr_any(value)?;
                self.emit(Op::Throw(r));
            }
            StmtKind::If(arms, otherwise) => self.if_stmt(arms, otherwise.as_ref())?,
            StmtKind::While(cond, body) => self.while_stmt(cond, body)?,
            StmtKind::For { iter, var, body, parallel: true } => self.ma_for(iter, var, body, stmt.span)?,
            StmtKind::For { iter, var, body, .. } => self.for_stmt(iter, var, body, stmt.span.start)?,
            StmtKind::Return(value) => match value {
                Some(e) => {
                    let r = self.expr_any(e)?;
                    self.emit(Op::Return(r));
                }
                None => drop(self.emit(Op::ReturnNil)),
            },
            StmtKind::Break | StmtKind::Next => self.jump_out(matches!(stmt.kind, StmtKind::Break), stmt.span)?,
            StmtKind::Say(values, newline) => {
                let base = self.next;
                for v in values {
                    let r = self.temp(v.span)?;
                    self.expr_to(v, r)?;
                }
                self.emit(Op::Say(base, values.len() as u16, *newline));
            }
            StmtKind::Assign(target, op, value) => self.assign(target, *op, value)?,
            StmtKind::Expr(e) => {
                self.expr_any(e)?;
            }
        }
        self.next = mark;
        Ok(())
    }

    /// Binds a `let`'s name to the value in `reg`: a module variable's slot
    /// takes it (at the top level), or `reg` becomes the local (`true`: keep
    /// the register).
    fn bind(&mut self, name: &str, span: Span, reg: Reg) -> CResult<bool> {
        if self.top
            && self.depth == 1
            && let Some(&i) = self.globals.resolution.module.get(&self.key(name))
        {
            self.declared.insert(name.to_owned());
            let slot = self.temp(span)?;
            self.emit(Op::ModuleSlot(slot, i));
            self.emit(Op::SetSlot(slot, reg));
            return Ok(false);
        }
        self.declare(name, span.start, reg);
        Ok(true)
    }

    fn jump_out(&mut self, is_break: bool, span: Span) -> CResult<()> {
        let Some(open) = self.loops.last().map(|l| self.tries - l.tries) else {
            let what = if is_break { "break" } else { "next" };
            return Err(SyntaxError::new(format!("`{what}` outside a loop"), span));
        };
        // Leaving `try` blocks opened inside the loop closes them.
        for _ in 0..open {
            self.emit(Op::TryEnd);
        }
        let at = self.emit(Op::Jump(0));
        let l = self.loops.last_mut().expect("checked above");
        if is_break {
            l.breaks.push(at)
        } else {
            l.nexts.push(at)
        }
        Ok(())
    }

    fn if_stmt(&mut self, arms: &[(Expr, Block)], otherwise: Option<&Block>) -> CResult<()> {
        let mut ends = Vec::new();
        for (cond, body) in arms {
            let skip = self.branch(cond, false)?;
            self.block(body)?;
            ends.push(self.emit(Op::Jump(0)));
            self.patch(skip);
        }
        if let Some(body) = otherwise {
            self.block(body)?;
        }
        ends.into_iter().for_each(|e| self.patch(e));
        Ok(())
    }

    /// Runs `body` as a loop body followed by `back` (the step and the jump
    /// back to the loop's top); `next` jumps to `back`, `break` past it.
    fn loop_body(&mut self, body: &Block, back: impl FnOnce(&mut Self) -> CResult<()>) -> CResult<()> {
        self.loops.push(Loop { breaks: Vec::new(), nexts: Vec::new(), tries: self.tries });
        self.block(body)?;
        let l = self.loops.pop().expect("pushed above");
        l.nexts.into_iter().for_each(|n| self.patch(n));
        back(self)?;
        l.breaks.into_iter().for_each(|b| self.patch(b));
        Ok(())
    }

    /// Emits a jump taken when `cond`'s truth is `sense` (to be patched);
    /// a comparison becomes one `CmpJump`/`CmpJumpK` instruction.
    fn branch(&mut self, cond: &Expr, sense: bool) -> CResult<usize> {
        let mark = self.next;
        let op = match &cond.kind {
            ExprKind::Binary(op, a, b) if op.is_comparison() => {
                let ra = self.expr_any(a)?;
                match self.operand(b)? {
                    Operand::Const(k) => Op::CmpJumpK(*op, ra, k, sense, 0),
                    Operand::Reg(rb) => Op::CmpJump(*op, ra, rb, sense, 0),
                }
            }
            _ => {
                let c = self.expr_any(cond)?;
                if sense { Op::JumpIfTrue(c, 0) } else { Op::JumpIfFalse(c, 0) }
            }
        };
        self.next = mark;
        Ok(self.emit(op))
    }

    /// A right-hand operand: the constant of a literal, or a register
    /// holding the value of anything else (evaluated now).
    fn operand(&mut self, e: &Expr) -> CResult<Operand> {
        match self.literal(e) {
            Some(k) => Ok(Operand::Const(k)),
            None => Ok(Operand::Reg(self.expr_any(e)?)),
        }
    }

    /// `dst = lhs op e`, with a constant operand when `e` is a literal.
    fn binary_to(&mut self, op: BinOp, dst: Reg, lhs: Reg, e: &Expr) -> CResult<()> {
        let op = self.operand(e)?.binary(op, dst, lhs);
        self.emit(op);
        Ok(())
    }

    /// The constant of a number or string literal.
    fn literal(&mut self, e: &Expr) -> Option<u32> {
        match &e.kind {
            ExprKind::Num(n) => Some(self.konst(Const::Num(*n))),
            ExprKind::Str(s) => Some(self.konst(Const::Str(s.as_str().into()))),
            _ => None,
        }
    }

    fn try_stmt(&mut self, body: &Block, var: &str, handler: &Block, span: Span) -> CResult<()> {
        let err = self.temp(span)?;
        let begin = self.emit(Op::TryBegin(0, err));
        self.tries += 1;
        self.block(body)?;
        self.tries -= 1;
        self.emit(Op::TryEnd);
        let skip = self.emit(Op::Jump(0));
        self.patch(begin);
        let locals = self.locals.len();
        self.declare(var, span.start, err);
        self.block(handler)?;
        self.locals.truncate(locals);
        self.patch(skip);
        Ok(())
    }

    /// `while`, with its test at the bottom: one conditional jump per
    /// iteration instead of a test, a jump out and a jump back.
    fn while_stmt(&mut self, cond: &Expr, body: &Block) -> CResult<()> {
        let enter = self.emit(Op::Jump(0));
        let top = self.here();
        self.loop_body(body, |c| {
            c.patch(enter);
            c.line = c.units[c.module].lines.line(cond.span.start);
            let back = c.branch(cond, true)?;
            c.patch_to(back, top);
            Ok(())
        })
    }

    fn for_stmt(&mut self, iter: &Expr, var: &str, body: &Block, at: usize) -> CResult<()> {
        let locals = self.locals.len();
        self.for_each(iter, |c, var_reg, step| {
            // Each iteration binds a fresh variable (a fresh slot if captured).
            c.locals.truncate(locals);
            c.declare(var, at, var_reg);
            c.loop_body(body, step)
        })?;
        self.locals.truncate(locals);
        Ok(())
    }

    /// `ma for iter -> var { body }`: the body becomes a closure of `var`,
    /// each iteration a maatine running it, and the loop ends by joining them
    /// all (an error in any is raised after all have stopped).
    fn ma_for(&mut self, iter: &Expr, var: &str, body: &Block, span: Span) -> CResult<()> {
        let closure = self.temp(span)?;
        self.closure(closure, "<ma for>", span.start, &[var.to_owned()], body)?;
        let handles = self.temp(span)?;
        self.emit(Op::NewArray(handles, handles, 0));
        let push = self.konst(Const::Str("push".into()));
        self.for_each(iter, |c, var_reg, step| {
            let (recv, handle) = (c.temp(span)?, c.temp(span)?);
            c.emit(Op::Move(recv, handles));
            c.emit(Op::SpawnValue(handle, closure, var_reg, 1));
            c.emit(Op::CallMethod(recv, recv, push, handle, 1));
            step(c)
        })?;
        let (count, error) = (self.temp(span)?, self.temp(span)?);
        let zero = self.konst(Const::Num(0.0));
        self.emit(Op::LoadK(count, zero));
        self.emit(Op::LoadNil(error));
        self.emit(Op::JoinAll(handles, count));
        Ok(())
    }

    /// The loop over a range, an array or a channel: `body` gets the
    /// register of the element and the code to emit after the body (the
    /// step and the jump back), and emits both. A range loop tests at the
    /// bottom: `index += 1; if index < limit jump top`.
    fn for_each(
        &mut self,
        iter: &Expr,
        body: impl FnOnce(&mut Self, Reg, &dyn Fn(&mut Self) -> CResult<()>) -> CResult<()>,
    ) -> CResult<()> {
        let next = self.next;
        let (index, limit) = (self.temp(iter.span)?, self.temp(iter.span)?);
        let one = self.konst(Const::Num(1.0));
        let zero = self.konst(Const::Num(0.0));
        let source = match &iter.kind {
            ExprKind::UpTo(n) => {
                self.emit(Op::LoadK(index, zero));
                self.expr_to(n, limit)?;
                Err(BinOp::Lt)
            }
            ExprKind::Range(a, b) => {
                self.expr_to(a, index)?;
                self.expr_to(b, limit)?;
                Err(BinOp::Le)
            }
            _ => {
                let source = self.temp(iter.span)?;
                self.expr_to(iter, source)?;
                self.emit(Op::LoadK(index, zero));
                self.emit(Op::Len(limit, source));
                Ok(source)
            }
        };
        let var_reg = self.temp(iter.span)?;
        match source {
            Ok(source) => {
                let top = self.here();
                let exit = self.emit(Op::ForNext(var_reg, source, index, 0));
                body(self, var_reg, &|c| {
                    c.emit(Op::BinK(BinOp::Add, index, index, one));
                    c.emit(Op::Jump(top));
                    Ok(())
                })?;
                self.patch(exit);
            }
            Err(test) => {
                let enter = self.emit(Op::Jump(0));
                let top = self.here();
                self.emit(Op::Move(var_reg, index));
                body(self, var_reg, &|c| {
                    c.emit(Op::BinK(BinOp::Add, index, index, one));
                    c.patch(enter);
                    c.emit(Op::CmpJump(test, index, limit, true, top));
                    Ok(())
                })?;
            }
        }
        self.next = next;
        Ok(())
    }

    fn assign(&mut self, target: &Expr, op: AssignOp, value: &Expr) -> CResult<()> {
        if let Some(target) = self.imported(target)? {
            return self.assign(&target, op, value);
        }
        let bin = op.binary();
        match &target.kind {
            ExprKind::Var(name) => match self.place(name) {
                Some(Place::Local(r, false)) => match bin {
                    None => self.expr_to(value, r),
                    Some(b) => self.binary_to(b, r, r, value),
                },
                Some(place @ (Place::Local(_, true) | Place::Upvalue(_) | Place::Module(_))) => {
                    let slot = self.slot_of(&place, target.span)?.expect("a slot");
                    self.assign_slot(name, slot, bin, value)
                }
                Some(Place::Global(_)) | None => self.assign_global(name, bin, value),
            },
            ExprKind::Index(obj, index) => {
                let (o, i) = (self.expr_any(obj)?, self.expr_any(index)?);
                let v = match bin {
                    None => self.expr_any(value)?,
                    Some(b) => {
                        let (old, rhs) = (self.temp(target.span)?, self.operand(value)?);
                        self.emit(Op::GetIndex(old, o, i));
                        self.emit(rhs.binary(b, old, old));
                        old
                    }
                };
                self.emit(Op::SetIndex(o, i, v));
                Ok(())
            }
            ExprKind::Method(obj, field, None) => {
                let o = self.expr_any(obj)?;
                let k = self.konst(Const::Str(field.as_str().into()));
                let v = match bin {
                    None => self.expr_any(value)?,
                    Some(b) => {
                        let (old, rhs) = (self.temp(target.span)?, self.operand(value)?);
                        self.emit(Op::GetField(old, o, k));
                        self.emit(rhs.binary(b, old, old));
                        old
                    }
                };
                self.emit(Op::SetField(o, k, v));
                Ok(())
            }
            _ => unsupported("this assignment", target.span),
        }
    }

    /// `x = e` or `x op= e` on a captured variable (its slot in `slot`): a
    /// read-modify-write section when the new value depends on the old one.
    fn assign_slot(&mut self, name: &str, slot: Reg, bin: Option<BinOp>, value: &Expr) -> CResult<()> {
        let rmw = bin.is_some() || reads_var(value, &|x| matches!(&x.kind, ExprKind::Var(n) if n == name));
        if !rmw {
            let v = self.expr_any(value)?;
            self.emit(Op::SetSlot(slot, v));
            return Ok(());
        }
        self.emit(Op::SlotBegin(slot));
        let v = match bin {
            None => self.expr_any(value)?,
            Some(b) => {
                let (old, rhs) = (self.temp(value.span)?, self.expr_any(value)?);
                self.emit(Op::GetSlot(old, slot));
                self.emit(Op::Bin(b, old, old, rhs));
                old
            }
        };
        self.emit(Op::SlotStore(slot, v));
        self.emit(Op::SlotEnd(slot));
        Ok(())
    }

    /// `x = e` or `x op= e` on a global: a read-modify-write section when
    /// the new value depends on the old one.
    fn assign_global(&mut self, name: &str, bin: Option<BinOp>, value: &Expr) -> CResult<()> {
        let g = self.global(name);
        let rmw = bin.is_some() || self.reads_global(value, name);
        if rmw {
            self.emit(Op::RmwBegin(g));
        }
        let v = match bin {
            None => self.expr_any(value)?,
            Some(b) => {
                // The right side is evaluated before the variable is read
                // (a literal needs no evaluation, and `x += 1` then starts
                // its section with the read: see `fuse`).
                let old = self.temp(value.span)?;
                let rhs = self.operand(value)?;
                self.emit(Op::GetGlobal(old, g));
                self.emit(rhs.binary(b, old, old));
                old
            }
        };
        if rmw {
            self.emit(Op::StoreGlobal(g, v));
            self.emit(Op::RmwEnd(g));
        } else {
            self.emit(Op::SetGlobal(g, v));
        }
        Ok(())
    }

    // ----- expressions ------------------------------------------------------

    /// Compiles `e` into some register (a local's own, or a new temporary).
    fn expr_any(&mut self, e: &Expr) -> CResult<Reg> {
        if let ExprKind::Var(name) = &e.kind
            && let Some(r) = self.local(name)
        {
            return Ok(r);
        }
        if let ExprKind::SelfRef = e.kind
            && let Some(Place::Local(r, _)) = self.receiver()
        {
            return Ok(r);
        }
        let r = self.temp(e.span)?;
        self.expr_to(e, r)?;
        Ok(r)
    }

    /// `alias.name` naming an export of an imported module: the name it
    /// qualifies (or why it names nothing), unless `alias` is a variable.
    fn import_target(&self, recv: &Expr, name: &str, span: Span) -> Option<CResult<String>> {
        let ExprKind::Var(alias) = &recv.kind else { return None };
        let &target = self.units[self.module].imports.get(alias)?;
        if self.place(alias).is_some() {
            return None;
        }
        let unit = &self.units[target];
        Some(if unit.exports.contains(name) {
            Ok(qualify(&unit.prefix, name))
        } else if unit.lets.contains(name) {
            Err(SyntaxError::new(format!("`{name}` is private to module `{alias}`"), span).with_label(
                "a top-level `let` is seen in its own file only: functions, classes and `our` variables are exported",
            ))
        } else {
            Err(SyntaxError::new(format!("module `{alias}` has no `{name}`"), span))
        })
    }

    /// `e` written with what it names in place of an imported module's
    /// member (`alias.x` as the variable `x` of that module, `alias.f(…)` as
    /// a call of its `f`), when it is one.
    fn imported(&mut self, e: &Expr) -> CResult<Option<Expr>> {
        let ExprKind::Method(recv, name, args) = &e.kind else { return Ok(None) };
        let Some(key) = self.import_target(recv, name, e.span).transpose()? else { return Ok(None) };
        if !self.globals.functions.contains_key(&key) {
            // A class or an `our` variable: a global.
            self.global(&key);
        }
        let var = Expr { kind: ExprKind::Var(key), span: e.span };
        Ok(Some(match args {
            None => var,
            Some(args) => Expr { kind: ExprKind::Call(Box::new(var), args.clone()), span: e.span },
        }))
    }

    /// Whether `e` reads the global this module calls `name` (also as an
    /// imported module's member).
    fn reads_global(&self, e: &Expr, name: &str) -> bool {
        let key = self.key(name);
        reads_var(e, &|x| match &x.kind {
            ExprKind::Var(n) => self.key(n) == key,
            ExprKind::Method(recv, m, None) => matches!(self.import_target(recv, m, x.span), Some(Ok(k)) if k == key),
            _ => false,
        })
    }

    /// Compiles `e` into `dst`.
    fn expr_to(&mut self, e: &Expr, dst: Reg) -> CResult<()> {
        if let Some(e) = self.imported(e)? {
            return self.expr_to(&e, dst);
        }
        let mark = self.next.max(dst + 1);
        self.next = mark;
        match &e.kind {
            ExprKind::Nil => drop(self.emit(Op::LoadNil(dst))),
            ExprKind::Bool(b) => drop(self.emit(Op::LoadBool(dst, *b))),
            ExprKind::Num(n) => {
                let k = self.konst(Const::Num(*n));
                self.emit(Op::LoadK(dst, k));
            }
            ExprKind::Str(s) => {
                let k = self.konst(Const::Str(s.as_str().into()));
                self.emit(Op::LoadK(dst, k));
            }
            ExprKind::Var(name) => match self.place(name) {
                Some(Place::Local(r, false)) if r != dst => drop(self.emit(Op::Move(dst, r))),
                Some(Place::Local(_, false)) => {}
                Some(Place::Local(r, true)) => drop(self.emit(Op::GetSlot(dst, r))),
                Some(Place::Upvalue(i)) => drop(self.emit(Op::GetUpval(dst, i))),
                Some(Place::Module(i)) => drop(self.emit(Op::GetModule(dst, i))),
                Some(Place::Global(g)) => drop(self.emit(Op::GetGlobal(dst, g))),
                None => return Err(SyntaxError::new(format!("unknown variable `{name}`"), e.span)),
            },
            ExprKind::Unary(op, x) => {
                let r = self.expr_any(x)?;
                self.emit(match op {
                    UnOp::Neg => Op::Neg(dst, r),
                    UnOp::Not => Op::Not(dst, r),
                    UnOp::BitNot => Op::BitNot(dst, r),
                });
            }
            ExprKind::Binary(BinOp::And, a, b) | ExprKind::Binary(BinOp::Or, a, b) => {
                let and = matches!(e.kind, ExprKind::Binary(BinOp::And, ..));
                self.expr_to(a, dst)?;
                let skip = self.emit(if and { Op::JumpIfFalse(dst, 0) } else { Op::JumpIfTrue(dst, 0) });
                self.expr_to(b, dst)?;
                self.patch(skip);
            }
            // A literal on the left of a commutative operator moves right
            // (`1 + n` is `n + 1`: literals have no effects to reorder).
            ExprKind::Binary(op @ (BinOp::Add | BinOp::Mul), a, b) if is_literal(a) && !is_literal(b) => {
                let rb = self.expr_any(b)?;
                self.binary_to(*op, dst, rb, a)?;
            }
            ExprKind::Binary(op, a, b) => {
                let ra = self.expr_any(a)?;
                self.binary_to(*op, dst, ra, b)?;
            }
            ExprKind::Array(items) => {
                let base = self.consecutive(items)?;
                self.emit(Op::NewArray(dst, base, items.len() as u16));
            }
            ExprKind::Map(pairs) => {
                let flat: Vec<Expr> = pairs.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect();
                let base = self.consecutive(&flat)?;
                self.emit(Op::NewMap(dst, base, pairs.len() as u16));
            }
            ExprKind::Index(obj, index) => {
                let o = self.expr_any(obj)?;
                let get = match self.operand(index)? {
                    Operand::Const(k) => Op::GetIndexK(dst, o, k),
                    Operand::Reg(i) => Op::GetIndex(dst, o, i),
                };
                self.emit(get);
            }
            ExprKind::Call(callee, args) => self.call(dst, callee, args, false)?,
            ExprKind::Method(recv, name, args) if name == "new" && is_namespace(recv, "Chan", self) => {
                let cap = self.temp(e.span)?;
                match args.as_deref().unwrap_or_default() {
                    [a] if a.name.is_none() => self.expr_to(&a.value, cap)?,
                    _ => return Err(SyntaxError::new("Chan.new takes one argument: the capacity", e.span)),
                }
                self.emit(Op::NewChan(dst, cap));
            }
            ExprKind::Method(recv, name, args) if is_gc_namespace(recv, self) => {
                let op = match name.as_str() {
                    "collect" => GcOp::Collect,
                    "stats" => GcOp::Stats,
                    "mode" => GcOp::Mode,
                    _ => return Err(SyntaxError::new(format!("unknown method `{name}` for GC"), e.span)),
                };
                let arg = self.temp(e.span)?;
                match args.as_deref().unwrap_or_default() {
                    [] => drop(self.emit(Op::LoadNil(arg))),
                    [a] => self.expr_to(&a.value, arg)?,
                    _ => return Err(SyntaxError::new(format!("GC.{name} takes at most one argument"), e.span)),
                }
                self.emit(Op::Gc(dst, op, arg));
            }
            ExprKind::Method(recv, name, None) if name == "freeze" || name == "share" => {
                let r = self.expr_any(recv)?;
                self.emit(Op::Mark(dst, r, name == "freeze"));
            }
            ExprKind::Method(recv, name, args) if std_name(recv, name, self).is_some() => {
                let full = std_name(recv, name, self).expect("checked");
                if let Some(n) = crate::bytecode::std_constant(&full) {
                    if args.is_some() {
                        return Err(SyntaxError::new(format!("{full} is a number, not a function"), e.span));
                    }
                    let k = self.konst(Const::Num(n));
                    self.emit(Op::LoadK(dst, k));
                } else {
                    let f = StdFn::from_name(&full).expect("std_name checked");
                    let args = args.as_deref().unwrap_or_default();
                    self.builtin_call(dst, Builtin::Std(f), args)?;
                }
            }
            ExprKind::Method(recv, name, args) if name == "new" => {
                self.new_instance(dst, recv, args.as_deref().unwrap_or_default())?
            }
            ExprKind::Super(name, args) => self.super_call(dst, name.as_deref(), args, e.span)?,
            // `obj.name`: a field (or a method without arguments), read
            // from the object's own register.
            ExprKind::Method(recv, name, None) => {
                let o = self.expr_any(recv)?;
                let k = self.konst(Const::Str(name.as_str().into()));
                self.emit(Op::GetField(dst, o, k));
            }
            ExprKind::Method(recv, name, args) => {
                let args = args.as_deref().unwrap_or_default();
                if let Some(a) = args.iter().find(|a| a.name.is_some()) {
                    return unsupported("named arguments", a.value.span);
                }
                // The receiver, then the arguments, in consecutive registers
                // (a method's `self` is its parameter 0).
                let mut values: Vec<Expr> = vec![(**recv).clone()];
                values.extend(args.iter().map(|a| a.value.clone()));
                let base = self.consecutive(&values)?;
                let k = self.konst(Const::Str(name.as_str().into()));
                self.emit(Op::CallMethod(dst, base, k, base + 1, args.len() as u16));
            }
            ExprKind::Range(..) | ExprKind::UpTo(_) => return unsupported("ranges outside `for`", e.span),
            ExprKind::Closure(params, body) => self.closure(dst, "<closure>", e.span.start, params, body)?,
            ExprKind::SelfRef => match self.receiver() {
                Some(Place::Local(r, _)) if r != dst => drop(self.emit(Op::Move(dst, r))),
                Some(Place::Local(..)) => {}
                Some(Place::Upvalue(i)) => drop(self.emit(Op::GetUpval(dst, i))),
                _ => return Err(SyntaxError::new("`self` outside a method", e.span)),
            },
            ExprKind::Ma(call) => match &self.imported(call)?.as_ref().unwrap_or(call).kind {
                ExprKind::Call(callee, args) => self.call(dst, callee, args, true)?,
                _ => {
                    return Err(SyntaxError::new("`ma` runs a function call: write `ma f(args)`", call.span)
                        .with_label("a method call: call it from a function and run that"));
                }
            },
        }
        self.next = mark;
        Ok(())
    }

    /// Compiles `items` into consecutive new registers; returns the first.
    fn consecutive(&mut self, items: &[Expr]) -> CResult<Reg> {
        let base = self.next;
        let regs: Vec<Reg> = items.iter().map(|i| self.temp(i.span)).collect::<CResult<_>>()?;
        for (item, r) in items.iter().zip(regs) {
            self.expr_to(item, r)?;
        }
        Ok(base)
    }

    /// A call, or with `spawn` a new maatine running it (`ma f(args)`).
    fn call(&mut self, dst: Reg, callee: &Expr, args: &[Arg], spawn: bool) -> CResult<()> {
        if let Some(a) = args.iter().find(|a| a.name.is_some()) {
            return unsupported("named arguments", a.value.span);
        }
        let values: Vec<Expr> = args.iter().map(|a| a.value.clone()).collect();
        let n = values.len() as u16;
        let named = match &callee.kind {
            ExprKind::Var(name) if !matches!(self.place(name), Some(Place::Local(..) | Place::Upvalue(_))) => {
                Some(name)
            }
            _ => None,
        };
        let target = match named.map(|name| (self.globals.functions.get(&self.key(name)), name.as_str())) {
            Some((Some(&f), _)) => Some(Ok(f)),
            Some((None, name)) if self.globals.natives.iter().any(|n| n == name) => {
                let i = self.globals.natives.iter().position(|n| n == name).expect("just found");
                Some(Err(Builtin::Native(i as u32)))
            }
            Some((None, name)) if StdFn::from_name(name).is_some() => {
                Some(Err(Builtin::Std(StdFn::from_name(name).expect("just found"))))
            }
            Some((None, name)) if self.own_method(name).is_some() => {
                // A method of this class called without `self.`.
                let mut values: Vec<Expr> = vec![Expr { kind: ExprKind::SelfRef, span: callee.span }];
                values.extend(args.iter().map(|a| a.value.clone()));
                let base = self.consecutive(&values)?;
                let k = self.konst(Const::Str(name.into()));
                self.emit(if spawn {
                    return Err(SyntaxError::new("`ma` runs a function call: write `ma f(args)`", callee.span));
                } else {
                    Op::CallMethod(dst, base, k, base + 1, n)
                });
                return Ok(());
            }
            Some((None, "clock")) => Some(Err(Builtin::Clock)),
            Some((None, "assert")) => Some(Err(Builtin::Assert)),
            Some((None, "maatine_id")) => Some(Err(Builtin::MaatineId)),
            Some((None, name)) if !self.globals.vars.contains_key(&self.key(name)) => {
                return Err(SyntaxError::new(format!("unknown function `{name}`"), callee.span));
            }
            _ => None,
        };
        let Some(target) = target else {
            // A closure value: a local, an upvalue, or a global holding one.
            let f = self.expr_any(callee)?;
            let base = self.consecutive(&values)?;
            self.emit(if spawn { Op::SpawnValue(dst, f, base, n) } else { Op::CallValue(dst, f, base, n) });
            return Ok(());
        };
        let base = self.consecutive(&values)?;
        self.emit(match (target, spawn) {
            (Ok(f), false) => Op::Call(dst, f, base, n),
            (Ok(f), true) => Op::Spawn(dst, f, base, n),
            (Err(b), false) => Op::Builtin(dst, b, base, n),
            (Err(_), true) => {
                return Err(SyntaxError::new("`ma` runs Maat functions, not built-in ones", callee.span)
                    .with_label("wrap the call in a function and run that"));
            }
        });
        Ok(())
    }

    /// `Std(args)` or a native's call: arguments in consecutive registers.
    fn builtin_call(&mut self, dst: Reg, b: Builtin, args: &[Arg]) -> CResult<()> {
        if let Some(a) = args.iter().find(|a| a.name.is_some()) {
            return unsupported("named arguments", a.value.span);
        }
        let values: Vec<Expr> = args.iter().map(|a| a.value.clone()).collect();
        let base = self.consecutive(&values)?;
        self.emit(Op::Builtin(dst, b, base, values.len() as u16));
        Ok(())
    }

    /// Where `self` is: a method's parameter 0, or an upvalue of a closure
    /// in a method (see [`SELF`]).
    fn receiver(&self) -> Option<Place> {
        self.class?;
        match self.locals.first() {
            Some((n, r, _)) if n == SELF => Some(Place::Local(*r, false)),
            _ => self.upvalues.iter().position(|u| u == SELF).map(|i| Place::Upvalue(i as u16)),
        }
    }

    /// The method `name` of this method's class (its own or inherited),
    /// when this is a method (or a closure in one).
    fn own_method(&self, name: &str) -> Option<u32> {
        let class = &self.globals.classes[self.class? as usize];
        self.receiver()?;
        class.methods.iter().find(|(m, _)| m == name).map(|&(_, f)| f)
    }

    /// `C.new(…)`: named arguments set fields; positional ones go to
    /// `init`. Two registers before the arguments receive the instance and
    /// the constructor's mask of named fields.
    fn new_instance(&mut self, dst: Reg, recv: &Expr, args: &[Arg]) -> CResult<()> {
        let named = args.iter().filter(|a| a.name.is_some()).count();
        if named != 0 && named != args.len() {
            let at = args.iter().find(|a| a.name.is_none()).map_or(recv.span, |a| a.value.span);
            return Err(SyntaxError::new(
                "`new` takes named arguments (`field: value`) or positional ones, not both",
                at,
            ));
        }
        let class = self.expr_any(recv)?;
        let base = self.temp(recv.span)?;
        self.temp(recv.span)?;
        let values: Vec<Expr> = args.iter().map(|a| a.value.clone()).collect();
        self.consecutive(&values)?;
        let names: Vec<Arc<str>> = args.iter().filter_map(|a| a.name.as_deref().map(Arc::from)).collect();
        let k = if named > 0 { self.konst(Const::Names(names.into())) } else { u32::MAX };
        self.emit(Op::New(dst, class, k, base, values.len() as u16));
        Ok(())
    }

    /// `super.name(args)` (or `super(args)`: the method's own name): the
    /// parent class's method, called on `self`.
    fn super_call(&mut self, dst: Reg, name: Option<&str>, args: &[Arg], span: Span) -> CResult<()> {
        let outside = || SyntaxError::new("`super` outside a method of a class that inherits", span);
        let class = self.class.ok_or_else(outside)?;
        let parent = self.globals.classes[class as usize].parent.ok_or_else(outside)?;
        if self.receiver().is_none() {
            return Err(outside());
        }
        let name = name.map(str::to_owned).or_else(|| self.method.clone()).ok_or_else(outside)?;
        let info = &self.globals.classes[parent as usize];
        let Some(&(_, f)) = info.methods.iter().find(|(m, _)| *m == name) else {
            return Err(SyntaxError::new(format!("class `{}` has no method `{name}`", info.name), span));
        };
        if let Some(a) = args.iter().find(|a| a.name.is_some()) {
            return unsupported("named arguments", a.value.span);
        }
        let mut values = vec![Expr { kind: ExprKind::SelfRef, span }];
        values.extend(args.iter().map(|a| a.value.clone()));
        let base = self.consecutive(&values)?;
        self.emit(Op::Call(dst, f, base, values.len() as u16));
        Ok(())
    }

    /// A class declaration (declared with every class before compiling:
    /// see `declare_classes`) binds the class to the global of its name.
    fn class(&mut self, c: &ClassDecl, span: Span) -> CResult<()> {
        let index = self.globals.class_index[&self.key(&c.name)];
        let (r, g) = (self.temp(span)?, self.global(&c.name));
        self.emit(Op::NewClass(r, index));
        self.emit(Op::SetGlobal(g, r));
        Ok(())
    }

    /// Creates a closure of `body` into `dst`, capturing the slots of its
    /// upvalues (as resolved before compilation); its code is compiled after
    /// the current function.
    fn closure(&mut self, dst: Reg, name: &str, start: usize, params: &[String], body: &Block) -> CResult<()> {
        let upvalues = self.globals.resolution.upvalues.get(&start).cloned().unwrap_or_default();
        let index = self.globals.protos.len() as u32;
        self.globals.protos.push(None);
        let base = self.next;
        for up in &upvalues {
            let r = self.temp(Span::new(start, start))?;
            match self.place(up) {
                Some(Place::Local(slot, true)) => drop(self.emit(Op::Move(r, slot))),
                // `self`, captured by value.
                Some(Place::Local(value, false)) if up == SELF => drop(self.emit(Op::NewSlot(r, value))),
                Some(Place::Upvalue(i)) => drop(self.emit(Op::UpvalSlot(r, i))),
                _ => unreachable!("resolution boxed every captured variable: `{up}`"),
            }
        }
        self.emit(Op::Closure(dst, index, base, upvalues.len() as u16));
        self.globals.pending.push(PendingClosure {
            index,
            name: name.to_owned(),
            start,
            params: params.to_vec(),
            body: body.clone(),
            upvalues,
            // A closure in a method sees its `self` and class.
            class: self.class,
            method: self.method.clone(),
            module: self.module,
        });
        Ok(())
    }
}

/// `NS.name` as the standard library names it, when `recv` is one of its
/// namespaces (not shadowed by a variable) and it has that member.
fn std_name(recv: &Expr, name: &str, c: &FnCompiler<'_>) -> Option<String> {
    let ExprKind::Var(ns) = &recv.kind else { return None };
    if !matches!(ns.as_str(), "Math" | "Array" | "Random") || !is_namespace(recv, ns, c) {
        return None;
    }
    let full = format!("{ns}.{name}");
    (StdFn::from_name(&full).is_some() || crate::bytecode::std_constant(&full).is_some()).then_some(full)
}

/// Whether `e` is the `GC` namespace (not shadowed by a variable).
fn is_gc_namespace(e: &Expr, c: &FnCompiler<'_>) -> bool {
    is_namespace(e, "GC", c)
}

/// Whether `e` is the built-in namespace `name` (not shadowed by a variable).
fn is_namespace(e: &Expr, name: &str, c: &FnCompiler<'_>) -> bool {
    matches!(&e.kind, ExprKind::Var(n) if n == name && c.local(n).is_none() && !c.globals.vars.contains_key(&c.key(n)))
}

/// Whether `e` reads the variable that `is_var` recognizes (a closure's
/// body is not looked into: it runs later).
fn reads_var(e: &Expr, is_var: &dyn Fn(&Expr) -> bool) -> bool {
    if is_var(e) {
        return true;
    }
    let any = |es: &[&Expr]| es.iter().any(|x| reads_var(x, is_var));
    match &e.kind {
        ExprKind::Unary(_, x) | ExprKind::UpTo(x) | ExprKind::Ma(x) => reads_var(x, is_var),
        ExprKind::Binary(_, a, b) | ExprKind::Range(a, b) | ExprKind::Index(a, b) => any(&[a, b]),
        ExprKind::Array(items) => items.iter().any(|x| reads_var(x, is_var)),
        ExprKind::Map(pairs) => pairs.iter().any(|(k, v)| any(&[k, v])),
        ExprKind::Call(f, args) => reads_var(f, is_var) || args.iter().any(|a| reads_var(&a.value, is_var)),
        ExprKind::Method(r, _, args) => {
            reads_var(r, is_var) || args.iter().flatten().any(|a| reads_var(&a.value, is_var))
        }
        ExprKind::Super(_, args) => args.iter().any(|a| reads_var(&a.value, is_var)),
        ExprKind::Var(_)
        | ExprKind::Closure(..)
        | ExprKind::Nil
        | ExprKind::Bool(_)
        | ExprKind::Num(_)
        | ExprKind::Str(_)
        | ExprKind::SelfRef => false,
    }
}

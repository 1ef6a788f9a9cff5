//! Variable resolution before compilation: which local variables closures
//! capture and the program assigns after declaring them (they will live in
//! slots, shared by the function and its closures: *boxed*), and which outer
//! variables each closure needs (its upvalues, including those its own
//! nested closures need). A captured variable that is never assigned again
//! is captured by value: the closure keeps its value, and no slot is made.
//!
//! A declaration is identified by where it is made and its name: a `let`,
//! `for` or `catch` statement's start, or a function's start for its
//! parameters.
//!
//! Top-level `let`s that functions or methods use are **module
//! variables**: they live in slots of the maatine's root rather than in the
//! main function's registers, so every function of the file can reach them
//! (see [`Resolution::module`]). Functions are resolved before the main
//! code, so that the main code's closures know which top-level names are
//! module variables (those they reach directly, without capturing).

use std::collections::{HashMap, HashSet};

use crate::ast::*;

/// A declaration: the byte offset of the construct that declares it, and
/// the name.
pub type DeclId = (usize, String);

/// The result of resolution.
#[derive(Debug, Default)]
pub struct Resolution {
    /// Declarations some closure captures and some code assigns after the
    /// declaration: they live in slots.
    pub boxed: HashSet<DeclId>,
    /// Declarations some code assigns after the declaration (by `=`, `op=`,
    /// or, for a nested `fn`, by binding its closure once it is made).
    pub assigned: HashSet<DeclId>,
    /// Each closure's upvalue names, in order (keyed by the closure's start).
    pub upvalues: HashMap<usize, Vec<String>>,
    /// Module variables (top-level `let`s used from functions) and their slots.
    pub module: HashMap<String, u16>,
}

/// The parameters of the function computing a class's field defaults.
pub const DEFAULTS_PARAMS: [&str; 2] = ["self", "<named>"];

/// Resolves a whole program.
pub fn resolve(program: &Block) -> Resolution {
    let mut top = HashSet::new();
    for stmt in program {
        match &stmt.kind {
            StmtKind::Let(name, _) => drop(top.insert((stmt.span.start, name.clone()))),
            StmtKind::LetPattern(p, _) => top.extend(p.names().iter().map(|n| (stmt.span.start, n.clone()))),
            _ => {}
        }
    }
    let names = top.iter().map(|(_, n)| n.clone()).collect();
    let methods = program
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::Class(c) => Some(c.methods.iter().map(|m| m.name.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    let mut r = Resolver {
        functions: Vec::new(),
        out: Resolution::default(),
        captured: HashSet::new(),
        top,
        names,
        methods,
        in_main: false,
    };
    for stmt in program {
        match &stmt.kind {
            StmtKind::Fn(f) => r.function(None, f.span.start, &f.params, &f.body, false),
            StmtKind::Class(c) => r.class(c),
            _ => {}
        }
    }
    r.in_main = true;
    r.function(None, 0, &[], program, true);
    r.out.boxed = r.captured.intersection(&r.out.assigned).cloned().collect();
    r.out
}

impl Pattern {
    /// The names the pattern binds.
    pub fn names(&self) -> &[String] {
        match self {
            Pattern::Array(names) | Pattern::Map(names) => names,
        }
    }
}

struct Function {
    blocks: Vec<HashMap<String, DeclId>>,
    /// The closure's start, for closures.
    closure: Option<usize>,
    upvalues: Vec<String>,
}

struct Resolver {
    /// The function being resolved and those enclosing it (closures only
    /// enclose; top-level functions start a new stack).
    functions: Vec<Function>,
    out: Resolution,
    /// Declarations some closure captures.
    captured: HashSet<DeclId>,
    /// The top-level `let` declarations, and their names.
    top: HashSet<DeclId>,
    names: HashSet<String>,
    /// The names of the file's classes' methods (a closure in a method
    /// calling one of them without `self.` uses `self`).
    methods: HashSet<String>,
    /// Resolving the main code (after every function).
    in_main: bool,
}

/// The receiver of a method: parameter 0, never assigned, so a closure
/// captures its value (in a slot of its own) rather than the variable:
/// the method keeps it in a plain register.
pub const SELF: &str = "self";

impl Resolver {
    /// Resolves a function; `main` skips its top-level `fn` declarations
    /// (hoisted, resolved on their own).
    fn function(&mut self, closure: Option<usize>, start: usize, params: &[String], body: &Block, main: bool) {
        let params = params.iter().map(|p| (p.clone(), (start, p.clone()))).collect();
        let outer = if closure.is_some() { std::mem::take(&mut self.functions) } else { Vec::new() };
        let mut stack = outer;
        stack.push(Function { blocks: vec![params], closure, upvalues: Vec::new() });
        self.functions = stack;
        for stmt in body {
            if main && matches!(stmt.kind, StmtKind::Fn(_)) {
                continue;
            }
            self.stmt(stmt);
        }
        let done = self.functions.pop().expect("pushed above");
        if let Some(at) = done.closure {
            self.out.upvalues.insert(at, done.upvalues);
        }
        if closure.is_none() {
            self.functions.clear();
        }
    }

    /// A class's methods and computed field defaults, each a function of
    /// its own (methods get `self` first).
    fn class(&mut self, c: &ClassDecl) {
        for m in &c.methods {
            let params: Vec<String> = std::iter::once("self".to_owned()).chain(m.params.iter().cloned()).collect();
            self.function(None, m.span.start, &params, &m.body, false);
        }
        let defaults: Block = c
            .fields
            .iter()
            .filter_map(|(_, d)| d.clone())
            .map(|e| Stmt { span: e.span, kind: StmtKind::Expr(e) })
            .collect();
        let params = DEFAULTS_PARAMS.map(str::to_owned);
        self.function(None, c.span.start, &params, &defaults, false);
    }

    fn declare(&mut self, at: usize, name: &str) {
        let f = self.functions.last_mut().expect("inside a function");
        f.blocks.last_mut().expect("a block").insert(name.to_owned(), (at, name.to_owned()));
    }

    fn block(&mut self, block: &Block, bind: Option<(usize, &str)>) {
        self.functions.last_mut().expect("inside a function").blocks.push(HashMap::new());
        if let Some((at, name)) = bind {
            self.declare(at, name);
        }
        block.iter().for_each(|s| self.stmt(s));
        self.functions.last_mut().expect("inside a function").blocks.pop();
    }

    /// Whether `name` is declared in the function being resolved or one
    /// enclosing it.
    fn declared(&self, name: &str) -> bool {
        self.functions.iter().any(|f| f.blocks.iter().any(|b| b.contains_key(name)))
    }

    /// The declaration `name` names here, if it is a local of this
    /// function or an enclosing one.
    fn lookup(&self, name: &str) -> Option<DeclId> {
        self.functions.iter().rev().find_map(|f| f.blocks.iter().rev().find_map(|b| b.get(name)).cloned())
    }

    /// A use of `name`: marks the declaration captured if it belongs to an
    /// enclosing function, and makes it an upvalue of every function between.
    fn use_name(&mut self, name: &str) {
        let depth = self.functions.len();
        for level in (0..depth).rev() {
            let found = self.functions[level].blocks.iter().rev().find_map(|b| b.get(name)).cloned();
            if let Some(decl) = found {
                let module =
                    self.in_main && level == 0 && self.top.contains(&decl) && self.out.module.contains_key(name);
                if level + 1 < depth && !module {
                    if name != SELF {
                        self.captured.insert(decl);
                    }
                    for f in &mut self.functions[level + 1..] {
                        if !f.upvalues.iter().any(|u| u == name) {
                            f.upvalues.push(name.to_owned());
                        }
                    }
                }
                return;
            }
        }
        if !self.in_main && self.names.contains(name) && !self.out.module.contains_key(name) {
            let slot = self.out.module.len() as u16;
            self.out.module.insert(name.to_owned(), slot);
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Let(name, init) => {
                if let Some(e) = init {
                    self.expr(e);
                }
                self.declare(stmt.span.start, name);
            }
            StmtKind::LetPattern(pattern, init) => {
                self.expr(init);
                pattern.names().iter().for_each(|n| self.declare(stmt.span.start, n));
            }
            StmtKind::Our(_, init) | StmtKind::Return(init) => init.iter().for_each(|e| self.expr(e)),
            StmtKind::Fn(f) => {
                // A nested function is a local bound to a closure; declared
                // first so that it can call itself.
                self.declare(stmt.span.start, &f.name);
                self.out.assigned.insert((stmt.span.start, f.name.clone()));
                let body = &f.body;
                self.function(Some(f.span.start), f.span.start, &f.params, body, false);
            }
            StmtKind::Class(_) | StmtKind::Break | StmtKind::Next | StmtKind::Import(_) => {}
            StmtKind::If(arms, otherwise) => {
                for (cond, body) in arms {
                    self.expr(cond);
                    self.block(body, None);
                }
                if let Some(b) = otherwise {
                    self.block(b, None);
                }
            }
            StmtKind::While(cond, body) => {
                self.expr(cond);
                self.block(body, None);
            }
            StmtKind::For { iter, var, body, parallel: true } => {
                // `ma for`: the body is a closure of the loop variable.
                self.expr(iter);
                let start = stmt.span.start;
                self.function(Some(start), start, std::slice::from_ref(var), body, false);
            }
            StmtKind::For { iter, var, body, .. } => {
                self.expr(iter);
                self.block(body, Some((stmt.span.start, var)));
            }
            StmtKind::Try(body, var, handler) => {
                self.block(body, None);
                self.block(handler, Some((stmt.span.start, var)));
            }
            StmtKind::Throw(e) | StmtKind::Expr(e) => self.expr(e),
            StmtKind::Say(values, _) => values.iter().for_each(|e| self.expr(e)),
            StmtKind::Assign(target, _, value) => {
                if let ExprKind::Var(name) = &target.kind
                    && let Some(decl) = self.lookup(name)
                {
                    self.out.assigned.insert(decl);
                }
                self.expr(target);
                self.expr(value);
            }
        }
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Var(name) => self.use_name(name),
            ExprKind::Closure(params, body) => self.function(Some(e.span.start), e.span.start, params, body, false),
            ExprKind::Unary(_, x) | ExprKind::UpTo(x) | ExprKind::Ma(x) => self.expr(x),
            ExprKind::Binary(_, a, b) | ExprKind::Range(a, b) | ExprKind::Index(a, b) => {
                self.expr(a);
                self.expr(b);
            }
            ExprKind::Array(items) => items.iter().for_each(|x| self.expr(x)),
            ExprKind::Map(pairs) => pairs.iter().for_each(|(k, v)| {
                self.expr(k);
                self.expr(v);
            }),
            ExprKind::Call(f, args) => {
                if let ExprKind::Var(name) = &f.kind
                    && self.methods.contains(name)
                    && !self.declared(name)
                {
                    // Perhaps `self.name(…)` written without `self.`.
                    self.use_name(SELF);
                }
                self.expr(f);
                args.iter().for_each(|a| self.expr(&a.value));
            }
            ExprKind::Method(r, _, args) => {
                self.expr(r);
                args.iter().flatten().for_each(|a| self.expr(&a.value));
            }
            ExprKind::Super(_, args) => {
                self.use_name(SELF);
                args.iter().for_each(|a| self.expr(&a.value));
            }
            ExprKind::SelfRef => self.use_name(SELF),
            ExprKind::Nil | ExprKind::Bool(_) | ExprKind::Num(_) | ExprKind::Str(_) => {}
        }
    }
}

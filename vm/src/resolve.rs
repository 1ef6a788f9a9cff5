//! Variable resolution before compilation: which local variables are
//! captured by closures (they will live in slots, shared by the function and
//! its closures), and which outer variables each closure needs (its
//! upvalues, including those its own nested closures need).
//!
//! A declaration is identified by where it is made and its name: a `let`,
//! `for` or `catch` statement's start, or a function's start for its
//! parameters.

use std::collections::{HashMap, HashSet};

use crate::ast::*;

/// A declaration: the byte offset of the construct that declares it, and
/// the name.
pub type DeclId = (usize, String);

/// The result of resolution.
#[derive(Debug, Default)]
pub struct Resolution {
    /// Declarations some closure captures.
    pub captured: HashSet<DeclId>,
    /// Each closure's upvalue names, in order (keyed by the closure's start).
    pub upvalues: HashMap<usize, Vec<String>>,
}

/// Resolves a whole program.
pub fn resolve(program: &Block) -> Resolution {
    let mut r = Resolver { functions: Vec::new(), out: Resolution::default() };
    r.function(None, 0, &[], program, true);
    for stmt in program {
        if let StmtKind::Fn(f) = &stmt.kind {
            r.function(None, f.span.start, &f.params, &f.body, false);
        }
    }
    r.out
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
}

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

    /// A use of `name`: marks the declaration captured if it belongs to an
    /// enclosing function, and makes it an upvalue of every function between.
    fn use_name(&mut self, name: &str) {
        let depth = self.functions.len();
        for level in (0..depth).rev() {
            let found = self.functions[level].blocks.iter().rev().find_map(|b| b.get(name)).cloned();
            if let Some(decl) = found {
                if level + 1 < depth {
                    self.out.captured.insert(decl);
                    for f in &mut self.functions[level + 1..] {
                        if !f.upvalues.iter().any(|u| u == name) {
                            f.upvalues.push(name.to_owned());
                        }
                    }
                }
                return;
            }
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
            StmtKind::Our(_, init) | StmtKind::Return(init) => init.iter().for_each(|e| self.expr(e)),
            StmtKind::Fn(f) => {
                // A nested function is a local bound to a closure; declared
                // first so that it can call itself.
                self.declare(stmt.span.start, &f.name);
                let body = &f.body;
                self.function(Some(f.span.start), f.span.start, &f.params, body, false);
            }
            StmtKind::Class(_) | StmtKind::Break | StmtKind::Next => {}
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
                self.expr(f);
                args.iter().for_each(|a| self.expr(&a.value));
            }
            ExprKind::Method(r, _, args) => {
                self.expr(r);
                args.iter().flatten().for_each(|a| self.expr(&a.value));
            }
            ExprKind::Nil | ExprKind::Bool(_) | ExprKind::Num(_) | ExprKind::Str(_) | ExprKind::SelfRef => {}
        }
    }
}

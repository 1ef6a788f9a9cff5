//! A session: programs entered one after the other (the REPL), sharing
//! global variables, functions and classes.
//!
//! Each entry is compiled with the declarations (`fn`, `class`) of earlier
//! entries before it, and the global variables of earlier entries keep their
//! slots: all entries run in one space, and the session holds the previous
//! entry's environment (the global slots) as a global root, so the values of
//! `our` variables, objects included, carry over. A declaration entered again
//! replaces the earlier one. A top-level `let` lives on like an `our`
//! variable. An entry that is a single expression prints its value (unless
//! it is `nil`).
//!
//! ```
//! use maat_vm::session::Session;
//!
//! let mut s = Session::new(maat_gc::Config::default(), 1);
//! let mut out = Vec::new();
//! s.eval("our xs = [1, 2];", &mut out).unwrap();
//! s.eval("fn total() { let t = 0; for xs -> x { t += x; } return t; }", &mut out).unwrap();
//! s.eval("xs.push(3);", &mut out).unwrap();
//! s.eval("total()", &mut out).unwrap();
//! assert_eq!(String::from_utf8(out).unwrap(), "[1, 2, 3]\n6\n");
//! ```

use std::io::Write;

use maat_gc::{Config, Global, Space};

use crate::ast::{Block, StmtKind};
use crate::interp::{EnvRoot, Vm};

/// Programs run one after the other with shared globals and declarations.
pub struct Session {
    config: Config,
    threads: usize,
    space: Space,
    /// Declarations of earlier entries: name and source text, in order.
    decls: Vec<(String, String)>,
    /// Global variables of earlier entries, in slot order.
    globals: Vec<String>,
    env: Option<Global<EnvRoot>>,
    /// Stops the entry running when set (see [`Session::interrupt_flag`]).
    interrupt: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Session {
    /// An empty session whose entries run with `config` on `threads` OS
    /// threads.
    pub fn new(config: Config, threads: usize) -> Self {
        let (decls, globals, interrupt) = (Vec::new(), Vec::new(), Default::default());
        Session { config, threads, space: Space::new(), decls, globals, env: None, interrupt }
    }

    /// A flag that stops the entry running when set from another thread (a
    /// Ctrl-C handler): it fails with `interrupted`, and the session goes on.
    /// Each entry starts with the flag cleared.
    pub fn interrupt_flag(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        std::sync::Arc::clone(&self.interrupt)
    }

    /// Runs one entry, writing its output to `out`; the error as the `maat`
    /// command shows it.
    pub fn eval(&mut self, entry: &str, out: &mut (dyn Write + Send)) -> Result<(), String> {
        const FILE: &str = "<repl>";
        self.interrupt.store(false, std::sync::atomic::Ordering::Relaxed);
        let ast = crate::parse(entry).map_err(|e| e.render(FILE, entry))?;
        let entry = printed(&ast, entry);
        let ast = crate::parse(&entry).map_err(|e| e.render(FILE, &entry))?;
        let declared: Vec<(String, String)> = ast
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Fn(f) => Some((f.name.clone(), entry[s.span.start..s.span.end].to_owned())),
                StmtKind::Class(c) => Some((c.name.clone(), entry[s.span.start..s.span.end].to_owned())),
                _ => None,
            })
            .collect();
        self.decls.retain(|(name, _)| declared.iter().all(|(n, _)| n != name));
        // The entry comes first in the source, so that its errors give its
        // own line numbers; earlier classes are declared before it runs
        // (functions need no order: they are hoisted).
        let earlier: String = self.decls.iter().map(|(_, text)| format!("\n{text}")).collect();
        let src = format!("{entry}{earlier}");
        let full = crate::parse(&src).map_err(|e| e.render(FILE, &src))?;
        let mine = full.len() - self.decls.len();
        let (mine_part, earlier_part) = full.split_at(mine);
        let (classes, functions): (Vec<_>, Vec<_>) =
            earlier_part.iter().cloned().partition(|s| matches!(s.kind, StmtKind::Class(_)));
        let mut full: Block = classes;
        full.extend(mine_part.iter().cloned().map(persistent));
        full.extend(functions);
        let program = crate::compiler::compile_session(&full, FILE, &src, &[], &self.globals)
            .map_err(|e| e.render(FILE, &src))?;
        let globals = program.globals.clone();
        let mut vm = Vm::in_session(program, self.config, Vec::new(), &self.space, self.env.take());
        vm.set_threads(self.threads);
        vm.set_interrupt_flag(std::sync::Arc::clone(&self.interrupt));
        let result = vm.run(out);
        (self.env, self.globals) = (vm.session_env(), globals);
        self.decls.extend(declared);
        result
    }
}

/// At the prompt, a top-level `let` lives on like an `our` variable (a
/// later entry can use it).
fn persistent(stmt: crate::ast::Stmt) -> crate::ast::Stmt {
    match stmt.kind {
        StmtKind::Let(name, init) if !name.starts_with("__") => {
            crate::ast::Stmt { kind: StmtKind::Our(name, init), span: stmt.span }
        }
        _ => stmt,
    }
}

/// The entry as it runs: a lone expression becomes a statement that prints
/// its value unless it is `nil`.
fn printed(ast: &Block, entry: &str) -> String {
    match ast.as_slice() {
        [s] if matches!(s.kind, StmtKind::Expr(_)) => {
            let expr = entry[s.span.start..s.span.end].trim_end().trim_end_matches(';');
            format!("let __value = ({expr});\nif __value != nil {{ say __value; }}")
        }
        _ => entry.to_owned(),
    }
}

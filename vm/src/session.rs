//! A session: programs entered one after the other (the REPL), sharing
//! global variables, functions and classes.
//!
//! Each entry is compiled into the session's one growing program
//! ([`Incremental`]): functions, classes and global variables keep their
//! indexes from entry to entry, so closures, instances and the global slots
//! that earlier entries made stay valid. The session holds the previous
//! entry's environment (the global slots) as a global root, so the values
//! of `our` variables, objects included, carry over. A function declared
//! again replaces the earlier one for every caller; a class declared again
//! is a new class (earlier instances keep the old one). A top-level `let`
//! lives on like an `our` variable. An entry that is a single expression
//! prints its value (unless it is `nil`).
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
use crate::compiler::{Entry, Incremental};
use crate::interp::{EnvRoot, Vm};
use crate::module::Loaded;

/// Programs run one after the other with shared globals and declarations.
pub struct Session {
    config: Config,
    threads: usize,
    space: Space,
    /// The program so far: every entry's functions and classes, at indexes
    /// that never move (closures and instances of earlier entries name
    /// them).
    compiler: Incremental,
    env: Option<Global<EnvRoot>>,
    /// Stops the entry running when set (see [`Session::interrupt_flag`]).
    interrupt: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Session {
    /// An empty session whose entries run with `config` on `threads` OS
    /// threads.
    pub fn new(config: Config, threads: usize) -> Self {
        let (compiler, interrupt) = (Incremental::new(&[]), Default::default());
        Session { config, threads, space: Space::new(), compiler, env: None, interrupt }
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
        let mut loaded = crate::module::from_text(FILE, &entry)?;
        persistent(&mut loaded);
        let program = self.compiler.compile(&loaded, Entry::Once).map_err(|e| loaded.sources.render(&e))?;
        let mut vm = Vm::in_session(program, self.config, Vec::new(), &self.space, self.env.take());
        vm.set_threads(self.threads);
        vm.set_interrupt_flag(std::sync::Arc::clone(&self.interrupt));
        let result = vm.run(out);
        self.env = vm.session_env();
        result
    }
}

/// At the prompt, a top-level `let` of the main file lives on like an `our`
/// variable (a later entry can use it).
fn persistent(loaded: &mut Loaded) {
    let main = loaded.modules.last_mut().expect("a program has a main module");
    let body: &mut Block = &mut main.body;
    for stmt in body.iter_mut() {
        if let StmtKind::Let(name, init) = &stmt.kind
            && !name.starts_with("__")
        {
            stmt.kind = StmtKind::Our(name.clone(), init.clone());
        }
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

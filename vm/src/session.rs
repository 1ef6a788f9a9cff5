//! A session: programs entered one after the other (the REPL), sharing
//! global variables, functions and classes.
//!
//! Each entry is compiled into the session's one growing program
//! ([`Incremental`](crate::compiler::Incremental)): functions, classes and global variables keep their
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

use maat_gc::Config;

use crate::ast::{Block, StmtKind};
use crate::embed::Runtime;

/// Programs run one after the other with shared globals and declarations.
pub struct Session {
    rt: Runtime,
}

impl Session {
    /// An empty session whose entries run with `config` on `threads` OS
    /// threads.
    pub fn new(config: Config, threads: usize) -> Self {
        let mut rt = Runtime::new(config);
        rt.set_threads(threads);
        Session { rt }
    }

    /// A handle that stops the entry running when used from another thread
    /// (a Ctrl-C handler): it fails with `interrupted`, and the session
    /// goes on.
    pub fn interrupt_handle(&self) -> crate::embed::Interrupt {
        self.rt.interrupt_handle()
    }

    /// Runs one entry, writing its output to `out`; the error as the `maat`
    /// command shows it.
    pub fn eval(&mut self, entry: &str, out: &mut (dyn Write + Send)) -> Result<(), String> {
        const FILE: &str = "<repl>";
        let ast = crate::parse(entry).map_err(|e| e.render(FILE, entry))?;
        let entry = printed(&ast, entry);
        self.rt.exec_named(FILE, &entry, out).map_err(|e| e.to_string())
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

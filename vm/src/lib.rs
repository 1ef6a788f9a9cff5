//! # maat-vm
//!
//! The Maat language on the Maat runtime: the front end ([`lexer`],
//! [`parser`], [`ast`], [`error`] with file:line:col diagnostics, and
//! [`module`] for programs of several files), the
//! [`resolve`] pass and the [`compiler`] to register [`bytecode`] (checked
//! by the [`verify`] pass before it runs), the 8-byte NaN-boxed [`value`]s
//! and the [`object`]s with lock elision, the
//! interpreter ([`interp`]) running maatines in slices on the scheduler's
//! pool of OS threads (`sched`), the [`embed`]ding API, [`session`]s
//! (the REPL's persistent globals and declarations), and [`generate`], random
//! well-formed programs for fuzzing and differential tests.
//!
//! ```
//! let program = maat_vm::parse("our counter = 0;\nfn bump() { counter += 1; }").unwrap();
//! assert_eq!(program.len(), 2);
//!
//! let err = maat_vm::parse("let = 1;").unwrap_err();
//! assert!(err.render("demo.maat", "let = 1;").contains("demo.maat:1:5"));
//! ```

pub mod ast;
pub mod bytecode;
pub mod compiler;
pub mod embed;
pub mod error;
pub mod generate;
mod host;
pub mod interp;
pub mod lexer;
pub mod module;
pub mod object;
pub mod parser;
pub mod resolve;
mod runtime;
mod sched;
pub mod session;
pub mod specialize;
pub mod value;
pub mod verify;

pub use error::{RuntimeError, Span, SyntaxError, TraceFrame};
pub use interp::{Vm, run_source};
pub use parser::parse;
pub use value::{Unpacked, Value};

//! # maat-vm
//!
//! The Maat language on the Maat runtime. So far: the front end —
//! [`lexer`] (source to tokens), [`parser`] (tokens to the [`ast`]) and
//! [`error`] (spans and diagnostics with file, line, column, source line and
//! caret) — and [`value`], the 8-byte NaN-boxed values the interpreter will
//! keep in registers and object slots. The objects, compiler, interpreter
//! and CLI build on these.
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
pub mod interp;
pub mod lexer;
pub mod object;
pub mod parser;
pub mod resolve;
pub mod value;

pub use error::{Span, SyntaxError};
pub use interp::{RuntimeError, Vm, run_source};
pub use parser::parse;
pub use value::{Unpacked, Value};

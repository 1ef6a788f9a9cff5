//! # maat-vm
//!
//! The Maat language on the Maat runtime. This part holds the front end:
//! [`lexer`] (source to tokens), [`parser`] (tokens to the [`ast`]) and
//! [`error`] (spans and diagnostics with file, line, column, source line and
//! caret). The compiler, interpreter, objects and CLI build on it.
//!
//! ```
//! let program = maat_vm::parse("our counter = 0;\nfn bump() { counter += 1; }").unwrap();
//! assert_eq!(program.len(), 2);
//!
//! let err = maat_vm::parse("let = 1;").unwrap_err();
//! assert!(err.render("demo.maat", "let = 1;").contains("demo.maat:1:5"));
//! ```

pub mod ast;
pub mod error;
pub mod lexer;
pub mod parser;

pub use error::{Span, SyntaxError};
pub use parser::parse;

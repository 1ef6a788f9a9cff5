//! The embedding API's error: what failed, as data (where code does not
//! compile, the Maat stack trace of a runtime error, the types of a failed
//! conversion), and, through `Display`, as the `maat` command shows it.

pub use crate::error::CompileError;
use crate::error::RuntimeError;
use crate::interp::Failure;

/// What went wrong in a call into the runtime.
///
/// ```
/// use maat_vm::embed::{Error, Runtime};
///
/// let mut rt = Runtime::new(maat_gc::Config::default());
/// rt.eval("fn check(x) {\n  if x < 0 { throw \"negative\" }\n  return x\n}").unwrap();
/// match rt.call::<_, f64>("check", (-1,)) {
///     Err(Error::Runtime(failure)) => {
///         let e = failure.main.unwrap();
///         assert_eq!(e.message, "uncaught: negative");
///         assert_eq!((e.trace[0].function.as_str(), e.trace[0].line), ("check", 2));
///     }
///     other => panic!("{other:?}"),
/// }
/// assert!(matches!(rt.call::<_, String>("check", (1,)), Err(Error::Conversion { .. })));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// The code does not compile.
    Compile(CompileError),
    /// The program failed: the main maatine's error (message, maatine and
    /// stack trace as [`TraceFrame`](crate::TraceFrame)s), other
    /// maatines' errors that nobody joined, or a deadlock. A limit that
    /// stopped the run ([`Limits`](super::Limits)) and an interrupt are
    /// runtime errors of the maatine they stopped.
    Runtime(Failure),
    /// A value is not of the type asked for.
    Conversion {
        /// The type wanted.
        expected: String,
        /// The value found (its type, and a number's or a short string's value).
        actual: String,
    },
    /// The runtime refused a request: an unknown function, a file that
    /// cannot be read, a value of another runtime.
    Refused(String),
}

impl Error {
    /// The main maatine's runtime error, if that is what this is.
    pub fn runtime(&self) -> Option<&RuntimeError> {
        match self {
            Error::Runtime(f) => f.main.as_ref(),
            _ => None,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Compile(e) => write!(f, "{}", e.rendered.trim_end()),
            Error::Runtime(failure) => write!(f, "{failure}"),
            Error::Conversion { expected, actual } => write!(f, "error: expected {expected}, got {actual}"),
            Error::Refused(why) => write!(f, "error: {why}"),
        }
    }
}

impl std::error::Error for Error {}

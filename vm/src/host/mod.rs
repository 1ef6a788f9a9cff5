//! The host's side of the runtime, as the interpreter sees it: values in
//! the host's form ([`HostValue`], [`Handle`], [`Function`]) and what the
//! embedder registered (native functions, Rust types). Below both the
//! interpreter, which converts values and calls what was registered, and
//! the embedding API ([`crate::embed`]), which re-exports the public types
//! and fills the registrations.

mod types;
mod value;

pub(crate) use types::{Method, Types, UserType};
pub use types::{NativeFn, PendingUser, UserData};
pub(crate) use value::ValueRoot;
pub use value::{Function, Handle, HostValue};

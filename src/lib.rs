//! The Maat runtime facade: re-exports the runtime's crates under one name.
//!
//! - [`sync`]: adaptive locks, thread mode and safe points, variable (RMW)
//!   locks with deadlock detection.
//! - [`gc`]: per-maatine heaps, incremental and generational collection,
//!   sharing, the shared collection.
//! - [`vm`]: the Maat language: parser, compiler, interpreter.

pub use maat_gc as gc;
pub use maat_sync as sync;
pub use maat_vm as vm;

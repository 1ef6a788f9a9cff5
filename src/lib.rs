//! The Maat runtime facade: re-exports the runtime's crates under one name.
//!
//! - [`sync`]: adaptive locks, thread mode and safe points, variable (RMW)
//!   locks with deadlock detection.

pub use maat_sync as sync;

//! # maat-gc
//!
//! The garbage collector of the Maat runtime: per-maatine heaps collected
//! incrementally with Lua's tri-colour algorithm, behind a small safe API.
//!
//! - [`Heap`]: a heap with a root; all access through [`Heap::mutate`],
//!   collection at safe points between mutations ([`Heap::collect_debt`]).
//!   [`Heap::end`] leaves its memory as a [`Shell`] that another heap
//!   starts in ([`Shell::restart`]).
//! - [`Gc`]: a `Copy` handle branded with the mutation it belongs to;
//!   [`Gc::write`] runs the write barrier and grants write access to
//!   [`Lock`] and [`RefLock`] fields.
//! - [`GcAny`]: an untyped handle, for a VM's dynamically typed values.
//! - [`Trace`]: how objects report their references.
//! - [`Stats`]: allocation, collection and pause statistics.
//! - [`Heap::verify`]: the heap verifier for tests.
//!
//! Module map: `header` (object header and colour rules), `chain` (object
//! lists that change hands whole), `trace`, `ptr`
//! (handles and barriers), `tailed` (objects whose items share their box),
//! `detach` (the check before a subgraph leaves its heap whole),
//! `pool` (a heap's blocks: pages of small ones, free lists of large ones),
//! `page` (a page of same-sized slots and its allocation bitmap), `depot`
//! (pages between pools, and the chunks they are cut from), `weak` (weak
//! references to global objects), `collector` (phases and pacing: the
//! collector in one place), `heap` (the public heap and its shell), `stats`,
//! `verify`.

mod any;
mod chain;
mod collector;
mod depot;
pub mod detach;
mod generational;
mod header;
mod heap;
mod page;
mod pool;
mod ptr;
pub mod share;
pub mod shared;
mod shim;
pub mod space;
mod stats;
pub mod tailed;
mod trace;
pub mod transfer;
pub mod verify;
pub mod weak;

pub use any::GcAny;
pub use collector::{Mode, Params, Phase};
pub use detach::Outside;
pub use header::Age;
pub use heap::{Config, Heap, Root, Shell};
/// `#[derive(Trace)]`: traces every field; see [`maat_gc_derive`].
pub use maat_gc_derive::Trace;
pub use ptr::{Frozen, Gc, Lock, Mutation, OutOfMemory, RefLock, Write};
pub use shared::Sweep;
pub use space::{Global, Space};
pub use stats::{CollectionKind, Collections, PauseHistogram, Stats};
pub use tailed::{Head, Tailed};
pub use trace::{Trace, Tracer};
pub use transfer::{IN_TRANSIT, NotHolder};
pub use verify::VerifyError;

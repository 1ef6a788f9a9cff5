//! The header's atomics: `core`'s, or loom's under `cfg(loom)` so that the
//! publication of shared objects is model-checked with the real header.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU32, Ordering};
#[cfg(not(loom))]
pub(crate) use maat_sync::annotate::atomic::{AtomicU8, AtomicU32, Ordering};

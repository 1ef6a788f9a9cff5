//! Detached graphs: a mutable object graph that left the maatine that built
//! it (`v.detach`) and waits, as an opaque token, for one maatine to attach
//! it (`t.attach`) and own it. The graph is transferred (maat-gc's
//! `transfer`): nobody may use it until it is attached, and only the
//! attaching maatine then. The token is immutable but for `taken`, which
//! one attach alone turns on.

use maat_sync::annotate::atomic::{AtomicBool, Ordering};

use maat_gc::{Gc, Trace, Tracer};

use super::{Ctx, kind};
use crate::value::Value;

/// A detached graph's token.
pub struct Detached<'gc> {
    /// The graph's root (transferred, in transit until attached).
    root: Value<'gc>,
    /// Whether a maatine attached it.
    taken: AtomicBool,
}

// SAFETY: traces its one reference, the root.
unsafe impl Trace for Detached<'_> {
    fn trace(&self, t: &mut Tracer) {
        self.root.trace(t);
    }
}

impl<'gc> Detached<'gc> {
    /// The token of the graph of `root` (transferred by the caller).
    pub fn alloc(ctx: &Ctx<'_, 'gc>, root: Value<'gc>) -> Gc<'gc, Detached<'gc>> {
        ctx.mc.alloc_kind(Detached { root, taken: AtomicBool::new(false) }, kind::DETACHED)
    }

    /// The graph's root for the one maatine that attaches it; `None` for
    /// every later attempt.
    pub fn take(&self) -> Option<Value<'gc>> {
        // AcqRel: one swap wins; the winner sees the detacher's transfer
        // (published with the token itself).
        (!self.taken.swap(true, Ordering::AcqRel)).then_some(self.root)
    }
}

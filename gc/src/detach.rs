//! The check before a subgraph leaves its heap whole (a VM's `detach`):
//! that nothing outside the subgraph refers into it, so that handing it to
//! another heap leaves no one here holding a part of it.
//!
//! The subgraph is the unshared objects reachable from its root; global
//! objects (shared or frozen) it refers to pass by reference and are not
//! part of it. Outside it are the heap's roots and the heap's other live
//! unshared objects: global objects never refer to unshared ones
//! (Invariant S), so they need no look. The check walks what the roots
//! reach without entering the subgraph, and reports the first object that
//! refers into it. The roots' own references into it are not reported: a
//! VM's registers keep stale values of calls that returned, which no one
//! reads again, and the transfer that follows a detach makes any later use
//! of one an error. Live objects only: a dead object's stale reference is
//! not a reference.

use core::ptr::NonNull;
use std::collections::HashSet;

use crate::any::GcAny;
use crate::header::Header;
use crate::ptr::Mutation;
use crate::trace::{Trace, Tracer};

/// A reference into a subgraph from a live object outside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outside<'gc> {
    /// The object holding the reference.
    pub holder: GcAny<'gc>,
    /// The member referred to (possibly the subgraph's root).
    pub part: GcAny<'gc>,
}

impl<'gc> Mutation<'gc> {
    /// The first reference into the unshared subgraph of `graph` from a live
    /// unshared object of this heap outside it (what this heap's roots,
    /// `roots`, reach); `None` if there is none (see the module). A
    /// reference to `graph` itself is allowed from the objects `holds_root`
    /// accepts (an embedder's variable cells).
    pub fn outside_reference(
        &self,
        roots: &impl Trace,
        graph: GcAny<'gc>,
        holds_root: impl Fn(GcAny<'gc>) -> bool,
    ) -> Option<Outside<'gc>> {
        let me = self.heap_id();
        // Unshared and this heap's: the objects a subgraph or the walk below
        // covers (anything global is left where it is).
        let local = |h: &Header| h.flags().is_empty() && h.owner() == me;
        let mut members = HashSet::new();
        self.collector.walk(graph.header_ptr(), |h| local(h) && members.insert(NonNull::from(h)));
        let any = |h: NonNull<Header>| {
            // SAFETY: a reference of a live object or root, within a mutation.
            unsafe { GcAny::from_raw(h.cast()) }
        };
        let mut listing = Tracer::listing();
        roots.trace(&mut listing);
        let mut stack: Vec<_> = listing.take_listed().into_iter().filter(|h| !members.contains(h)).collect();
        let mut seen = HashSet::new();
        while let Some(h) = stack.pop() {
            // SAFETY: reachable from the roots within a mutation: live.
            let header = unsafe { h.as_ref() };
            if !local(header) || !seen.insert(h) {
                continue;
            }
            // SAFETY: as above.
            unsafe { (header.vtable().trace)(h, &mut listing) };
            for child in listing.take_listed() {
                let allowed = child == graph.header_ptr() && holds_root(any(h));
                if members.contains(&child) && !allowed {
                    return Some(Outside { holder: any(h), part: any(child) });
                }
                if !members.contains(&child) {
                    stack.push(child);
                }
            }
        }
        None
    }
}

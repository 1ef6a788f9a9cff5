//! Ownership transfer: handing an unshared subgraph from one heap's maatine
//! to another's (a channel send, a maatine's result), so that the sender
//! cannot touch it any more.
//!
//! Objects never move between heaps' lists. [`Mutation::transfer`] marks the
//! subgraph `SHARED | SENT` with the owner field set to [`IN_TRANSIT`]: for
//! the collector these are global objects (they move to the sender's LSO at
//! its next sweep and only the shared collection frees them); for the
//! embedder, the owner field names the heap allowed to use them, and every
//! other heap, the sender first of all, must refuse (see [`GcAny::holder`]).
//! The receiver claims the subgraph with [`Mutation::receive`].
//!
//! ```text
//!   unshared ──transfer──▶ SENT, in transit ──receive──▶ SENT, held by R
//!        SENT, held by R ──transfer by R──▶ SENT, in transit
//!        SENT, held by R ──share by R──▶ SHARED (SENT cleared)
//! ```
//!
//! Ordering: the owner field is written before the flags' Release RMW, and
//! the embedder publishes the value afterwards through a synchronizing
//! channel, so the receiver sees both. A sender that keeps a stale reference
//! reads the flags with Acquire; whatever it sees (SENT with another owner,
//! or, once the holder shared it, plainly shared) leads it either to an
//! error or to the shared-object rule, never to unsynchronized access.

use crate::any::GcAny;
use crate::header::Flags;
use crate::ptr::Mutation;

/// The owner of a transferred subgraph that nobody has received yet. Heap
/// ids start at 1.
pub const IN_TRANSIT: u32 = 0;

/// A heap tried to transfer an object it does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotHolder {
    /// The heap that holds it ([`IN_TRANSIT`] if nobody yet).
    pub holder: u32,
}

impl<'gc> Mutation<'gc> {
    /// This heap's id (the owner written into its objects' headers).
    pub fn heap_id(&self) -> u32 {
        self.collector.id()
    }

    /// Transfers `gc` and the unshared or held part of its subgraph out of
    /// this heap: afterwards they are `SENT` and [`IN_TRANSIT`], global for
    /// the collector. Shared and frozen objects stay as they are (they pass
    /// by reference). Returns how many objects changed hands, or the holder
    /// if `gc` was transferred to another heap.
    pub fn transfer(&self, gc: impl Into<GcAny<'gc>>) -> Result<usize, NotHolder> {
        let gc = gc.into();
        let me = self.heap_id();
        if let Some(holder) = gc.holder().filter(|&h| h != me) {
            return Err(NotHolder { holder });
        }
        let moved = self.collector.walk(gc.header_ptr(), |header| {
            let flags = header.flags();
            if flags.contains(Flags::SENT) {
                let held = header.owner() == me;
                if held {
                    header.set_owner(IN_TRANSIT);
                }
                return held;
            }
            if flags.intersects(Flags::SHARED | Flags::FROZEN) {
                return false;
            }
            self.collector.leave_local(header);
            header.set_owner(IN_TRANSIT);
            header.insert_flags(Flags::SHARED | Flags::SENT);
            true
        });
        self.collector.count_global(Flags::SHARED, moved);
        // As in `make_global`: shading the start, once the whole subgraph is
        // global, reaches everything that became global.
        self.collector.shade_if_marking(gc.header_ptr());
        Ok(moved)
    }

    /// Claims a transferred subgraph for this heap: every object of it still
    /// in transit is held by this heap afterwards. Returns how many. Like
    /// [`Mutation::hand_off`], it shades `gc` while a shared collection
    /// marks: whatever kept it on the way (a channel's queue) may forget it.
    pub fn receive(&self, gc: impl Into<GcAny<'gc>>) -> usize {
        let me = self.heap_id();
        let gc = gc.into();
        self.collector.shade_if_marking(gc.header_ptr());
        self.collector.walk(gc.header_ptr(), |header| {
            let in_transit = header.flags().contains(Flags::SENT) && header.owner() == IN_TRANSIT;
            if in_transit {
                header.set_owner(me);
            }
            in_transit
        })
    }
}

impl GcAny<'_> {
    /// The heap holding a transferred object ([`IN_TRANSIT`] before anyone
    /// received it); `None` if it was not transferred (or was shared since).
    #[inline]
    pub fn holder(self) -> Option<u32> {
        let header = self.header();
        header.flags().contains(Flags::SENT).then(|| header.owner())
    }
}

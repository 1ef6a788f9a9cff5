//! The nodes of the persistent collections ([`super::pvec`], [`super::pmap`]):
//! immutable from birth, one box each (a [`Tailed`] object: two bitmaps, then
//! the items), shared between every version that did not change them.
//!
//! A node never changes after it is made (there is no mutating operation),
//! so reading one takes no lock in any mode, on any thread; an update makes
//! new nodes along one path and shares the rest (path copying). A change
//! makes its nodes through a `Maker`: plainly, or, for a versioned root's
//! draft ([`Birth::Frozen`]), frozen as they are made when everything they
//! hold is frozen already (the one place the collections vouch for
//! Invariant S themselves, with `Mutation::freeze_alone`).

use core::marker::PhantomData;

use maat_gc::{Gc, GcAny, Head, Tailed, Trace, Tracer};

use super::{Ctx, kind};
use crate::value::Value;

/// A node's items while a change builds them (no heap buffer for up to
/// 64: a full map node's entries).
pub(super) type Items<'gc> = smallvec::SmallVec<[Value<'gc>; 64]>;

/// A node: a vector's items or children, or a map's entries (key, value
/// pairs, in bit order of `datamap`) then children (in bit order of
/// `nodemap`).
#[repr(transparent)]
pub struct PNode<'gc>(Tailed<NodeHead<'gc>>);

/// A node's head: the bitmaps of a map node (a vector node's are 0), and
/// whether it is a map's collision node (entries whose hashes are equal).
pub struct NodeHead<'gc> {
    pub(super) datamap: u32,
    pub(super) nodemap: u32,
    /// The bits set in `datamap`: a map node's entries before its children
    /// (counted once, when the node is made, not at every lookup).
    pub(super) entries: u8,
    pub(super) collision: bool,
    _items: PhantomData<Value<'gc>>,
}

// SAFETY: traces every item; the head holds no reference and has no `Drop`.
unsafe impl<'gc> Head for NodeHead<'gc> {
    type Item = Value<'gc>;

    fn trace(&self, items: &[Value<'gc>], t: &mut Tracer) {
        items.trace(t);
    }
}

// SAFETY: never written after it is made: any thread may read it.
unsafe impl Sync for PNode<'_> {}
// SAFETY: as above.
unsafe impl Send for PNode<'_> {}

impl<'gc> PNode<'gc> {
    /// A node with bitmaps `datamap` and `nodemap` and `items`.
    pub(super) fn alloc(
        ctx: &Ctx<'_, 'gc>,
        (datamap, nodemap, collision): (u32, u32, bool),
        items: &[Value<'gc>],
    ) -> Gc<'gc, PNode<'gc>> {
        let entries = datamap.count_ones() as u8;
        let head = NodeHead { datamap, nodemap, entries, collision, _items: PhantomData };
        let node = ctx.mc.alloc_tailed(head, items.len(), |i| items[i], kind::PNODE);
        // SAFETY: `PNode` is a transparent wrapper of `Tailed<NodeHead>`, the
        // object's type.
        unsafe { GcAny::from(node).downcast() }
    }

    /// A vector node (no bitmaps) of `items`.
    pub(super) fn vector(ctx: &Ctx<'_, 'gc>, items: &[Value<'gc>]) -> Gc<'gc, PNode<'gc>> {
        Self::alloc(ctx, (0, 0, false), items)
    }

    /// The head.
    pub(super) fn head(&self) -> &NodeHead<'gc> {
        self.0.head()
    }

    /// The items.
    pub(super) fn items(&self) -> &[Value<'gc>] {
        self.0.items()
    }

    /// The node `v` holds, as a child position of a node holds one.
    pub(super) fn of(v: Value<'gc>) -> &'gc PNode<'gc> {
        let o = v.as_object().filter(|o| o.kind() == kind::PNODE).expect("a child position holds a node");
        // SAFETY: kind PNODE objects are `PNode`s.
        Gc::get(unsafe { o.downcast::<PNode<'gc>>() })
    }

    /// The entry (key and value) of a map node's slot `bit` (one bit set),
    /// if `datamap` marks the slot.
    #[inline(always)]
    pub(super) fn entry_at(&self, bit: u32) -> Option<(Value<'gc>, Value<'gc>)> {
        let head = self.head();
        if head.datamap & bit == 0 {
            return None;
        }
        let i = 2 * below(head.datamap, bit);
        Some((self.items()[i], self.items()[i + 1]))
    }

    /// The child of a map node's slot `bit` (one bit set), if `nodemap`
    /// marks the slot.
    #[inline(always)]
    pub(super) fn child_at(&self, bit: u32) -> Option<Value<'gc>> {
        let head = self.head();
        if head.nodemap & bit == 0 {
            return None;
        }
        Some(self.items()[2 * usize::from(head.entries) + below(head.nodemap, bit)])
    }

    /// Starts loading the two cache lines after the first of the node `v`
    /// holds (where a small node's items lie) and reads nothing: a lookup
    /// going down to that node then waits for its header and its items at
    /// once, not one after the other (which item it needs depends on the
    /// header's bitmap). See docs/concurrency.md for what it measured.
    #[inline(always)]
    pub(super) fn prefetch(v: Value<'gc>) {
        if let Some(o) = v.as_object() {
            o.prefetch(1);
            o.prefetch(2);
        }
    }

    /// The value of a new child `node`.
    pub(super) fn value(node: Gc<'gc, PNode<'gc>>) -> Value<'gc> {
        Value::object(node.into())
    }
}

/// How a change of a persistent collection makes its new nodes and its new
/// collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Birth {
    /// As any new object: unfrozen, its heap's own.
    Plain,
    /// Frozen as they are made, where they can be: when the collection
    /// changed is frozen and nothing the change stores is an unfrozen
    /// object (a string is frozen as it enters). A versioned root's update
    /// changes its draft this way, so that the commit's `freeze` need not
    /// walk the new nodes, reading the header of every part of each only to
    /// find it frozen. Otherwise as `Plain`.
    Frozen,
}

/// What a change makes its new nodes and collection with: plainly, or
/// frozen as they are made ([`Birth::Frozen`], where it applies).
pub(super) struct Maker<'a, 'b, 'gc> {
    ctx: &'a Ctx<'b, 'gc>,
    frozen: bool,
}

impl<'a, 'b, 'gc> Maker<'a, 'b, 'gc> {
    /// A maker of plain nodes.
    pub(super) fn plain(ctx: &'a Ctx<'b, 'gc>) -> Self {
        Maker { ctx, frozen: false }
    }

    /// The maker of a change of `of`, a persistent collection, that stores
    /// `parts` (and items of `of`'s nodes).
    pub(super) fn new(ctx: &'a Ctx<'b, 'gc>, birth: Birth, of: GcAny<'gc>, parts: &[Value<'gc>]) -> Self {
        if birth == Birth::Plain || !of.is_frozen() {
            return Self::plain(ctx);
        }
        for part in parts {
            if let Some(s) = part.as_object().filter(|o| o.kind() == kind::STR) {
                ctx.mc.freeze(s);
            }
        }
        Maker { ctx, frozen: parts.iter().all(|v| v.as_object().is_none_or(|o| o.is_frozen())) }
    }

    /// The context.
    pub(super) fn ctx(&self) -> &'a Ctx<'b, 'gc> {
        self.ctx
    }

    /// A new map node (see [`PNode::alloc`]).
    pub(super) fn node(&self, maps: (u32, u32, bool), items: &[Value<'gc>]) -> Value<'gc> {
        PNode::value(self.made(PNode::alloc(self.ctx, maps, items)))
    }

    /// A new vector node.
    pub(super) fn vector(&self, items: &[Value<'gc>]) -> Value<'gc> {
        self.node((0, 0, false), items)
    }

    /// `object`, new, frozen if this maker freezes: a node or the new
    /// collection of the change.
    pub(super) fn made<T>(&self, object: Gc<'gc, T>) -> Gc<'gc, T>
    where
        Gc<'gc, T>: Into<GcAny<'gc>>,
    {
        if self.frozen {
            // SAFETY: a maker freezes only for a change of a frozen
            // collection whose stored parts are frozen or not objects
            // (`new`). What a change makes holds those parts, items of the
            // collection's nodes (frozen with it: Invariant S), and what
            // this maker made before (frozen as it was made).
            unsafe { self.ctx.mc.freeze_alone(object) };
        }
        object
    }
}

/// The bits of `map` below `bit` (one bit set): a slot's position among
/// the set ones.
#[inline(always)]
pub(super) fn below(map: u32, bit: u32) -> usize {
    (map & (bit - 1)).count_ones() as usize
}

//! PVec: a persistent (immutable) vector. Every operation that changes it
//! returns a new vector and leaves the old one as it was; the two share every
//! node the change did not touch.
//!
//! # Layout
//!
//! A trie of 32-way nodes ([`PNode`]): leaves hold up to 32 items, inner
//! nodes up to 32 children; item `i` is found by taking `i`'s bits five at a
//! time from the top (`shift` is the root's level: 0 when the root is a
//! leaf). Every level is full but the last path, so a vector of `n` items
//! has depth ⌈log32 n⌉: reads and updates touch that many nodes
//! (five for a million items).

use maat_gc::{Gc, Trace};

use super::pnode::{Birth, Items, Maker, PNode};
use super::{Ctx, kind};
use crate::value::Value;

/// Children or items a node holds at most.
const WIDTH: usize = 32;
const BITS: u32 = 5;

/// A persistent vector.
#[derive(Trace)]
pub struct PVec<'gc> {
    len: usize,
    shift: u32,
    /// The root node, or nil when empty.
    root: Value<'gc>,
}

impl<'gc> PVec<'gc> {
    /// The empty vector.
    pub fn empty(ctx: &Ctx<'_, 'gc>) -> Gc<'gc, PVec<'gc>> {
        Self::make(ctx, 0, 0, Value::nil())
    }

    /// A vector of `items`.
    pub fn of(ctx: &Ctx<'_, 'gc>, items: &[Value<'gc>]) -> Gc<'gc, PVec<'gc>> {
        if items.is_empty() {
            return Self::empty(ctx);
        }
        // Leaves of 32, then levels of 32 children, until one node is left.
        let mut level: Vec<Value<'gc>> = items.chunks(WIDTH).map(|c| PNode::value(PNode::vector(ctx, c))).collect();
        let mut shift = 0;
        while level.len() > 1 {
            level = level.chunks(WIDTH).map(|c| PNode::value(PNode::vector(ctx, c))).collect();
            shift += BITS;
        }
        Self::make(ctx, items.len(), shift, level[0])
    }

    fn make(ctx: &Ctx<'_, 'gc>, len: usize, shift: u32, root: Value<'gc>) -> Gc<'gc, PVec<'gc>> {
        ctx.mc.alloc_kind(PVec { len, shift, root }, kind::PVEC)
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Item `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<Value<'gc>> {
        if i >= self.len {
            return None;
        }
        let mut node = PNode::of(self.root);
        let mut level = self.shift;
        while level > 0 {
            node = PNode::of(node.items()[(i >> level) & (WIDTH - 1)]);
            level -= BITS;
        }
        Some(node.items()[i & (WIDTH - 1)])
    }

    /// The vector with item `i` replaced by `v`.
    ///
    /// # Panics
    ///
    /// If `i` is not an index of the vector (callers check it).
    pub fn set(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, i: usize, v: Value<'gc>) -> Gc<'gc, PVec<'gc>> {
        Self::set_as(this, ctx, Birth::Plain, i, v)
    }

    /// [`PVec::set`], making what it makes as `birth` says.
    pub fn set_as(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        birth: Birth,
        i: usize,
        v: Value<'gc>,
    ) -> Gc<'gc, PVec<'gc>> {
        let p = Gc::get(this);
        assert!(i < p.len, "PVec::set of an index past the end");
        let make = Maker::new(ctx, birth, this.into(), &[v]);
        let root = set_in(&make, PNode::of(p.root), p.shift, i, v);
        make.made(Self::make(ctx, p.len, p.shift, root))
    }

    /// The vector with `v` added last.
    pub fn push(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, v: Value<'gc>) -> Gc<'gc, PVec<'gc>> {
        Self::push_as(this, ctx, Birth::Plain, v)
    }

    /// [`PVec::push`], making what it makes as `birth` says.
    pub fn push_as(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, birth: Birth, v: Value<'gc>) -> Gc<'gc, PVec<'gc>> {
        let p = Gc::get(this);
        let make = Maker::new(ctx, birth, this.into(), &[v]);
        let (len, shift, root) = if p.len == 0 {
            (1, 0, make.vector(&[v]))
        } else if p.len == 1 << (p.shift + BITS) {
            // Full: a new root over the old one and a path to the new item.
            (p.len + 1, p.shift + BITS, make.vector(&[p.root, new_path(&make, p.shift, v)]))
        } else {
            (p.len + 1, p.shift, push_in(&make, PNode::of(p.root), p.shift, p.len, v))
        };
        make.made(Self::make(ctx, len, shift, root))
    }

    /// The vector without its last item (the empty one stays empty).
    pub fn pop(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>) -> Gc<'gc, PVec<'gc>> {
        Self::pop_as(this, ctx, Birth::Plain)
    }

    /// [`PVec::pop`], making what it makes as `birth` says.
    pub fn pop_as(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, birth: Birth) -> Gc<'gc, PVec<'gc>> {
        let p = Gc::get(this);
        let make = Maker::new(ctx, birth, this.into(), &[]);
        match p.len {
            0 => this,
            1 => make.made(Self::empty(ctx)),
            len => {
                let mut root = pop_in(&make, PNode::of(p.root), p.shift, len - 1).expect("items are left");
                let mut shift = p.shift;
                // A root with one child is that child, a level lower.
                while shift > 0 && PNode::of(root).items().len() == 1 {
                    root = PNode::of(root).items()[0];
                    shift -= BITS;
                }
                make.made(Self::make(ctx, len - 1, shift, root))
            }
        }
    }

    /// The items, in order.
    pub fn items(&self) -> Vec<Value<'gc>> {
        let mut out = Vec::with_capacity(self.len);
        if !self.root.is_nil() {
            collect(PNode::of(self.root), self.shift, &mut out);
        }
        out
    }
}

fn collect<'gc>(node: &PNode<'gc>, level: u32, out: &mut Vec<Value<'gc>>) {
    if level == 0 {
        out.extend_from_slice(node.items());
    } else {
        node.items().iter().for_each(|c| collect(PNode::of(*c), level - BITS, out));
    }
}

/// `node` (at `level`) with item `i` replaced by `v`: a new node on each
/// level of the path.
fn set_in<'gc>(make: &Maker<'_, '_, 'gc>, node: &PNode<'gc>, level: u32, i: usize, v: Value<'gc>) -> Value<'gc> {
    let at = (i >> level) & (WIDTH - 1);
    let mut items = Items::from_slice(node.items());
    items[at] = if level == 0 { v } else { set_in(make, PNode::of(items[at]), level - BITS, i, v) };
    make.vector(&items)
}

/// A path of new nodes from `level` down to a leaf holding `v`.
fn new_path<'gc>(make: &Maker<'_, '_, 'gc>, level: u32, v: Value<'gc>) -> Value<'gc> {
    let child = if level == 0 { v } else { new_path(make, level - BITS, v) };
    make.vector(&[child])
}

/// `node` (at `level`, not full) with `v` added as item `i` (its length).
fn push_in<'gc>(make: &Maker<'_, '_, 'gc>, node: &PNode<'gc>, level: u32, i: usize, v: Value<'gc>) -> Value<'gc> {
    let at = (i >> level) & (WIDTH - 1);
    let mut items = Items::from_slice(node.items());
    if level == 0 {
        items.push(v);
    } else if at < items.len() {
        items[at] = push_in(make, PNode::of(items[at]), level - BITS, i, v);
    } else {
        items.push(new_path(make, level - BITS, v));
    }
    make.vector(&items)
}

/// `node` (at `level`) without item `i` (its last), or `None` when nothing
/// is left of it.
fn pop_in<'gc>(make: &Maker<'_, '_, 'gc>, node: &PNode<'gc>, level: u32, i: usize) -> Option<Value<'gc>> {
    let at = (i >> level) & (WIDTH - 1);
    let mut items = Items::from_slice(&node.items()[..at]);
    if level > 0
        && let Some(child) = pop_in(make, PNode::of(node.items()[at]), level - BITS, i)
    {
        items.push(child);
    }
    (!items.is_empty()).then(|| make.vector(&items))
}

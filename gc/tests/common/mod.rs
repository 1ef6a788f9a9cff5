//! The graph node the collector tests share: an id and edges, counted while
//! alive (per thread), traced in parts when it has many edges.

use std::cell::Cell;

use maat_gc::{Gc, Mutation, RefLock, Root, Trace};

thread_local! {
    /// Nodes alive on this thread (dropped nodes decrement it).
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

/// Nodes alive on this thread.
pub fn live() -> i64 {
    LIVE.with(Cell::get)
}

/// Forgets the count (a test starting over on the same thread).
#[allow(dead_code)]
pub fn reset_live() {
    LIVE.with(|l| l.set(0));
}

/// A graph node. Its `Drop` only counts, touching no `Gc`.
#[derive(Trace)]
#[trace(unsafe_drop)]
pub struct Node<'gc> {
    pub id: u64,
    #[trace(parts)]
    pub edges: RefLock<Vec<Gc<'gc, Node<'gc>>>>,
}

impl Node<'_> {
    pub fn new(id: u64) -> Self {
        LIVE.with(|l| l.set(l.get() + 1));
        Node { id, edges: RefLock::new(Vec::new()) }
    }
}

impl Drop for Node<'_> {
    fn drop(&mut self) {
        LIVE.with(|l| l.set(l.get() - 1));
    }
}

/// A heap whose root is one node.
#[allow(dead_code)]
pub struct Graph;
impl Root for Graph {
    type Of<'gc> = Gc<'gc, Node<'gc>>;
}

/// Adds the edge `from -> to` (through the write barrier).
#[allow(dead_code)]
pub fn link<'gc>(mc: &Mutation<'gc>, from: Gc<'gc, Node<'gc>>, to: Gc<'gc, Node<'gc>>) {
    Gc::write(mc, from).project(|n| &n.edges).borrow_mut().push(to);
}

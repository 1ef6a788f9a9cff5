//! Deep copies of object graphs: what enters a version (copied in, to be
//! frozen), and what a maatine receives (a message, a joined result, an
//! attached graph: copied into its own heap). One walk serves all of them:
//! a caller's rule says, object by object, whether it is copied (or, for a
//! persistent collection, looked into), kept as it is, or whether the graph
//! must stay whole; an error refuses the whole copy. The copy keeps the
//! graph's shape: an object met twice is copied once (cycles and aliasing
//! stay), and a persistent collection is rebuilt only where its contents
//! changed.
//!
//! The walk is iterative (a graph may be a list millions of links long):
//! 1. *discover*: depth first from the root, each object the rule copies
//!    gets its parts listed and, if it is an array, a map or an instance,
//!    an empty copy (a shell) at once, so that cycles through it close;
//! 2. *persistent collections*, in the walk's post-order (a persistent
//!    collection's persistent parts are built before it; they cannot form
//!    a cycle of their own, being immutable; one that contains itself
//!    through a copied container keeps the original there, the one place
//!    a copy does not keep the graph's identity);
//! 3. *fill* every shell with its parts' copies.
//!
//! No collection runs during the copy (it is one mutation), so the Rust
//! vectors may hold the objects meanwhile.

use std::collections::HashMap;

use super::*;
use crate::object::pmap::PMap;
use crate::object::pvec::PVec;

/// What a copy does with one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Part {
    /// Copy it (a persistent collection: rebuild it if a part is copied).
    Copy,
    /// Keep it as it is.
    Keep,
    /// The graph cannot be copied exactly (it holds an object whose parts
    /// the copy cannot redirect): keep the whole graph as it is.
    Whole,
}

/// The caller's rule; an error refuses the whole copy.
pub(super) type Rule<'r, 'gc> = &'r dyn Fn(GcAny<'gc>) -> OpResult<Part>;

/// An object being copied, with its parts (a map's as key, value, key, …).
struct Node<'gc> {
    from: GcAny<'gc>,
    parts: Vec<Value<'gc>>,
}

/// The copy in progress.
struct Copier<'gc> {
    nodes: Vec<Node<'gc>>,
    /// Post-order of `nodes` (indices).
    order: Vec<usize>,
    /// Each object met that the rule copies, by address: its copy, or,
    /// while a persistent collection's copy is still to be built, nothing
    /// yet. (What the rule keeps is not recorded: asking the rule again is
    /// cheaper than hashing every string of a large graph.)
    copies: HashMap<usize, Option<Value<'gc>>, ahash::RandomState>,
}

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// A copy of `v`'s graph under `rule` (see the module).
    pub(super) fn copy_graph(&self, v: Value<'gc>, rule: Rule<'_, 'gc>) -> OpResult<Value<'gc>> {
        // What is kept at the root (a number, a string, a frozen object: most
        // of what enters a version) needs no walk, nor the copier's table.
        let Some(root) = v.as_object() else { return Ok(v) };
        if rule(root)? == Part::Keep {
            return Ok(v);
        }
        let mut c = Copier { nodes: Vec::new(), order: Vec::new(), copies: HashMap::default() };
        match self.walk(&mut c, v, rule) {
            Ok(()) => {}
            Err(Whole::Kept) => return Ok(v),
            Err(Whole::Refused(why)) => return Err(why),
        }
        self.build_persistent(&mut c)?;
        self.fill_shells(&c)?;
        Ok(c.copy_of(v))
    }

    /// Step 1: discovers the graph from `v` depth first, recording the
    /// post-order.
    fn walk(&self, c: &mut Copier<'gc>, v: Value<'gc>, rule: Rule<'_, 'gc>) -> Result<(), Whole> {
        let Some(root) = self.discover(c, v, rule)? else { return Ok(()) };
        let mut stack = vec![(root, 0)];
        while let Some(&(i, next)) = stack.last() {
            let Some(&part) = c.nodes[i].parts.get(next) else {
                c.order.push(i);
                stack.pop();
                continue;
            };
            stack.last_mut().expect("not empty").1 += 1;
            if let Some(j) = self.discover(c, part, rule)? {
                stack.push((j, 0));
            }
        }
        Ok(())
    }

    /// Meets `v`: the index of its new node if the rule copies it and it
    /// was not met before.
    fn discover(&self, c: &mut Copier<'gc>, v: Value<'gc>, rule: Rule<'_, 'gc>) -> Result<Option<usize>, Whole> {
        let Some(o) = v.as_object() else { return Ok(None) };
        let addr = o.as_raw().as_ptr() as usize;
        if c.copies.contains_key(&addr) {
            return Ok(None);
        }
        match rule(o).map_err(Whole::Refused)? {
            Part::Keep => return Ok(None),
            Part::Whole => return Err(Whole::Kept),
            Part::Copy => {}
        }
        let cx = self.cx;
        let (parts, shell) = match o.kind() {
            kind::ARRAY => {
                // SAFETY: kind ARRAY objects are Arrays.
                let parts = Array::snapshot(unsafe { o.downcast() }, cx);
                (parts, Some(Value::object(Array::alloc(cx, []).into())))
            }
            kind::MAP => {
                // SAFETY: kind MAP objects are Maps.
                let entries = Map::entries(unsafe { o.downcast() }, cx);
                (entries.into_iter().flat_map(|(k, x)| [k, x]).collect(), Some(Value::object(Map::alloc(cx).into())))
            }
            kind::INST => {
                // SAFETY: kind INST objects are Insts.
                let inst = unsafe { o.downcast::<Inst<'gc>>() };
                let class = Gc::get(inst).class();
                let n = self.rt.program.classes[class as usize].fields.len();
                let parts = (0..n).map(|i| Inst::get(inst, cx, i)).collect();
                (parts, Some(Value::object(Inst::alloc(cx, class, n, |_| Value::nil()).into())))
            }
            // SAFETY: kind PVEC objects are PVecs.
            kind::PVEC => (Gc::get(unsafe { o.downcast::<PVec<'gc>>() }).items(), None),
            kind::PMAP => {
                // SAFETY: kind PMAP objects are PMaps.
                let entries = Gc::get(unsafe { o.downcast::<PMap<'gc>>() }).entries();
                (entries.into_iter().flat_map(|(k, x)| [k, x]).collect(), None)
            }
            // Nothing else has parts to copy: a rule that copies it keeps it.
            _ => {
                c.copies.insert(addr, Some(v));
                return Ok(None);
            }
        };
        c.copies.insert(addr, shell);
        c.nodes.push(Node { from: o, parts });
        Ok(Some(c.nodes.len() - 1))
    }

    /// Step 2: the persistent collections' copies, parts first.
    fn build_persistent(&self, c: &mut Copier<'gc>) -> OpResult<()> {
        let err = |e: ObjError| e.to_string();
        for &i in &c.order {
            let node = &c.nodes[i];
            let from = Value::object(node.from);
            let copy = match node.from.kind() {
                kind::PVEC => {
                    let items: Vec<_> = node.parts.iter().map(|&x| c.copy_of(x)).collect();
                    if items == node.parts { from } else { Value::object(PVec::of(self.cx, &items).into()) }
                }
                kind::PMAP => {
                    // SAFETY: kind PMAP objects are PMaps.
                    let mut out = unsafe { node.from.downcast::<PMap<'gc>>() };
                    for kx in node.parts.chunks_exact(2) {
                        let (k, x) = (kx[0], kx[1]);
                        let (k2, x2) = (c.copy_of(k), c.copy_of(x));
                        // Only the entries whose key or value was copied
                        // change (a copied key is another key: the old one
                        // goes).
                        if k2 != k {
                            out = PMap::delete(out, self.cx, k).map_err(err)?;
                        }
                        if (k2, x2) != (k, x) {
                            out = PMap::put(out, self.cx, k2, x2).map_err(err)?;
                        }
                    }
                    Value::object(out.into())
                }
                _ => continue,
            };
            c.copies.insert(node.from.as_raw().as_ptr() as usize, Some(copy));
        }
        Ok(())
    }

    /// Step 3: every shell gets its parts' copies.
    fn fill_shells(&self, c: &Copier<'gc>) -> OpResult<()> {
        let cx = self.cx;
        let err = |e: ObjError| e.to_string();
        for node in &c.nodes {
            let copy = c.copy_of(Value::object(node.from));
            let Some(shell) = copy.as_object() else { continue };
            let parts = node.parts.iter().map(|&x| c.copy_of(x));
            // The shell has the original's kind.
            match node.from.kind() {
                kind::ARRAY => {
                    let items: Vec<_> = parts.collect();
                    // SAFETY: the shell of an Array is an Array.
                    Array::replace_all(unsafe { shell.downcast() }, cx, |_| Ok(items))?;
                }
                kind::MAP => {
                    // SAFETY: the shell of a Map is a Map.
                    let map = unsafe { shell.downcast() };
                    let parts: Vec<_> = parts.collect();
                    for kx in parts.chunks_exact(2) {
                        Map::set(map, cx, kx[0], kx[1]).map_err(err)?;
                    }
                }
                kind::INST => {
                    // SAFETY: the shell of an instance is an instance.
                    let inst = unsafe { shell.downcast() };
                    for (i, x) in parts.enumerate() {
                        Inst::set(inst, cx, i, x).map_err(err)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Why a copy stopped early.
enum Whole {
    /// The rule asked to keep the whole graph.
    Kept,
    /// The rule refused an object.
    Refused(String),
}

impl<'gc> Copier<'gc> {
    /// What stands for `v` in the copy (itself if it is not copied).
    fn copy_of(&self, v: Value<'gc>) -> Value<'gc> {
        match v.as_object() {
            Some(o) => self.copies.get(&(o.as_raw().as_ptr() as usize)).copied().flatten().unwrap_or(v),
            None => v,
        }
    }
}

//! Deep copies of object graphs, for what enters a version (copied in, to
//! be frozen) and for a detached graph's attach (copied into the attaching
//! heap). One walk serves both: a caller's rule says, object by object,
//! whether it is copied (or, for a persistent collection, looked into),
//! kept as it is, or refused. The copy keeps the graph's shape: an object
//! met twice is copied once (cycles and aliasing stay), and a persistent
//! collection is rebuilt only where its contents changed.

use std::collections::HashMap;

use super::*;
use crate::object::pmap::PMap;
use crate::object::pvec::PVec;

/// Deepest nesting a copied graph may have (the copy recurses).
const MAX_DEPTH: usize = 10_000;

/// What a copy does with an object: copy it (or look into it), or keep it
/// as it is; an error refuses the whole copy.
pub(super) type Rule<'r, 'gc> = &'r dyn Fn(GcAny<'gc>) -> OpResult<bool>;

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// A copy of `v`'s graph under `copy` (see the module); `what` names
    /// the copy in the error a too deeply nested graph gives.
    pub(super) fn copy_graph(&self, v: Value<'gc>, what: &str, copy: Rule<'_, 'gc>) -> OpResult<Value<'gc>> {
        self.copy_at(v, &mut HashMap::new(), 0, (what, copy))
    }

    fn copy_at(
        &self,
        v: Value<'gc>,
        copies: &mut HashMap<usize, Value<'gc>>,
        depth: usize,
        (what, rule): (&str, Rule<'_, 'gc>),
    ) -> OpResult<Value<'gc>> {
        let Some(o) = v.as_object() else { return Ok(v) };
        let addr = o.as_raw().as_ptr() as usize;
        if let Some(copy) = copies.get(&addr) {
            return Ok(*copy);
        }
        if !rule(o)? {
            return Ok(v);
        }
        if depth > MAX_DEPTH {
            return Err(format!("a value nested more than {MAX_DEPTH} deep cannot be copied ({what})"));
        }
        let cx = self.cx;
        let err = |e: ObjError| e.to_string();
        macro_rules! copy {
            ($x:expr) => {
                self.copy_at($x, copies, depth + 1, (what, rule))?
            };
        }
        let out = match o.kind() {
            kind::ARRAY => {
                let copy = Array::alloc(cx, Vec::new());
                copies.insert(addr, Value::object(copy.into()));
                // SAFETY: kind ARRAY objects are Arrays.
                for item in Array::snapshot(unsafe { o.downcast() }, cx) {
                    Array::push(copy, cx, copy!(item)).map_err(err)?;
                }
                Value::object(copy.into())
            }
            kind::MAP => {
                let copy = Map::alloc(cx);
                copies.insert(addr, Value::object(copy.into()));
                // SAFETY: kind MAP objects are Maps.
                for (k, x) in Map::entries(unsafe { o.downcast() }, cx) {
                    Map::set(copy, cx, copy!(k), copy!(x)).map_err(err)?;
                }
                Value::object(copy.into())
            }
            kind::INST => {
                // SAFETY: kind INST objects are Insts.
                let inst = unsafe { o.downcast::<Inst<'gc>>() };
                let class = Gc::get(inst).class();
                let n = self.rt.program.classes[class as usize].fields.len();
                let copy = Inst::alloc(cx, class, n, |_| Value::nil());
                copies.insert(addr, Value::object(copy.into()));
                for i in 0..n {
                    Inst::set(copy, cx, i, copy!(Inst::get(inst, cx, i))).map_err(err)?;
                }
                Value::object(copy.into())
            }
            kind::PVEC => {
                // SAFETY: kind PVEC objects are PVecs.
                let items = Gc::get(unsafe { o.downcast::<PVec<'gc>>() }).items();
                let mut copied = Vec::with_capacity(items.len());
                for x in &items {
                    copied.push(copy!(*x));
                }
                if copied == items { v } else { Value::object(PVec::of(cx, &copied).into()) }
            }
            kind::PMAP => {
                // SAFETY: kind PMAP objects are PMaps.
                let map = unsafe { o.downcast::<PMap<'gc>>() };
                let mut out = map;
                for (k, x) in Gc::get(map).entries() {
                    let (k2, x2) = (copy!(k), copy!(x));
                    // Only the entries whose key or value was copied change
                    // (a copied key is another key: the old one goes).
                    if k2 != k {
                        out = PMap::delete(out, cx, k).map_err(err)?;
                    }
                    if (k2, x2) != (k, x) {
                        out = PMap::put(out, cx, k2, x2).map_err(err)?;
                    }
                }
                Value::object(out.into())
            }
            // Nothing else has parts to copy: a rule that copies it keeps it.
            _ => v,
        };
        copies.insert(addr, out);
        Ok(out)
    }
}

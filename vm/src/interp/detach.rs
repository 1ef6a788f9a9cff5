//! `v.detach` and `t.attach` (Kotlin/Native's detached object graphs):
//! moving a whole mutable graph from one maatine to another without
//! sharing it.
//!
//! `detach` checks that no live object outside the unshared graph of `v`
//! refers into it (maat-gc's `outside_reference`; a variable that holds
//! `v` itself is fine, and one that holds a part of it can no longer use
//! it), transfers the graph (as a channel send does: nobody may use it
//! meanwhile, and using it is an error that says it was detached) and
//! returns a token. `attach`, by any one
//! maatine, takes the graph out of the token and copies it into that
//! maatine's own heap: it gets unshared objects, which run without locks
//! (a transferred object stays shared for the lock rule, and for the
//! collector, as long as it lives; the copy is a new graph, identity kept
//! within it: shared parts and cycles stay as they were).

use std::collections::HashMap;

use maat_gc::Outside;

use super::*;
use crate::object::detached::Detached;

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// `v.detach`: the token of `v`'s graph, or why it cannot leave.
    pub(super) fn detach(&mut self, st: &mut State<'gc>, v: Value<'gc>) -> OpResult<Value<'gc>> {
        self.held(v)?;
        let what = type_name(v);
        let Some(o) = v.as_object().filter(|o| is_container(o.kind())) else {
            return Err(format!("detach moves a mutable graph (an array, a map or an instance), not {}", a_type(v)));
        };
        match o.sharing() {
            maat_sync::Sharing::Unshared => {}
            maat_sync::Sharing::Frozen => {
                return Err(format!("this {what} is frozen: it passes between maatines by reference already"));
            }
            maat_sync::Sharing::Shared => {
                return Err(format!(
                    "this {what} is shared: other maatines may reach it, so it cannot be detached (detach a graph \
                     only this maatine holds)"
                ));
            }
        }
        st.set_top(&self.rt.program);
        if let Some(outside) = self.cx.mc.outside_reference(&*st, o, |h| h.kind() == kind::SLOT) {
            return Err(self.why_not_detached(what, o, outside));
        }
        let (function, line) = self.location(st);
        let how = format!("was detached at line {line} (in {function})");
        self.give_away(v, || how)?;
        Ok(Value::object(Detached::alloc(self.cx, v).into()))
    }

    fn why_not_detached(&self, what: &str, root: GcAny<'gc>, outside: Outside<'gc>) -> String {
        let part = if outside.part == root {
            "it".to_owned()
        } else {
            format!("a part of it ({})", a_type(Value::object(outside.part)))
        };
        let by = match outside.holder.kind() {
            kind::SLOT => "a variable".to_owned(),
            _ => format!("{} outside it", a_type(Value::object(outside.holder))),
        };
        format!(
            "cannot detach this {what}: {by} holds {part}; a detached graph must be reachable only through its root"
        )
    }

    /// `t.attach`: the graph of a token no one attached yet, as this
    /// maatine's own unshared objects.
    pub(super) fn attach(&mut self, token: GcAny<'gc>) -> OpResult<Value<'gc>> {
        // SAFETY: kind DETACHED objects are Detacheds.
        let token = Gc::get(unsafe { token.downcast::<Detached<'gc>>() });
        let root = token.take().ok_or("this detached graph was attached already: a graph is attached once")?;
        if let Some(o) = root.as_object() {
            self.cx.mc.receive(o);
        }
        self.adopt(root, &mut HashMap::new())
    }

    /// `v` as this maatine's own: the arrays, maps and instances it holds
    /// by transfer copied (deeply, cycles and shared parts kept), anything
    /// else as it is.
    fn adopt(&self, v: Value<'gc>, copies: &mut HashMap<usize, Value<'gc>>) -> OpResult<Value<'gc>> {
        let Some(o) = v.as_object() else { return Ok(v) };
        if o.holder() != Some(self.cx.mc.heap_id()) || !is_container(o.kind()) {
            return Ok(v);
        }
        let addr = o.as_raw().as_ptr() as usize;
        if let Some(copy) = copies.get(&addr) {
            return Ok(*copy);
        }
        let cx = self.cx;
        let err = |e: ObjError| e.to_string();
        Ok(match o.kind() {
            kind::ARRAY => {
                let copy = Array::alloc(cx, Vec::new());
                copies.insert(addr, Value::object(copy.into()));
                // SAFETY: kind ARRAY objects are Arrays.
                for item in Array::snapshot(unsafe { o.downcast() }, cx) {
                    Array::push(copy, cx, self.adopt(item, copies)?).map_err(err)?;
                }
                Value::object(copy.into())
            }
            kind::MAP => {
                let copy = Map::alloc(cx);
                copies.insert(addr, Value::object(copy.into()));
                // SAFETY: kind MAP objects are Maps.
                for (k, x) in Map::entries(unsafe { o.downcast() }, cx) {
                    Map::set(copy, cx, self.adopt(k, copies)?, self.adopt(x, copies)?).map_err(err)?;
                }
                Value::object(copy.into())
            }
            _ => {
                // SAFETY: the containers are arrays, maps and instances.
                let inst = unsafe { o.downcast::<Inst<'gc>>() };
                let class = Gc::get(inst).class();
                let n = self.rt.program.classes[class as usize].fields.len();
                let copy = Inst::alloc(cx, class, n, |_| Value::nil());
                copies.insert(addr, Value::object(copy.into()));
                for i in 0..n {
                    Inst::set(copy, cx, i, self.adopt(Inst::get(inst, cx, i), copies)?).map_err(err)?;
                }
                Value::object(copy.into())
            }
        })
    }
}

/// `v`'s type with its article ("an Array", "a Map").
fn a_type(v: Value<'_>) -> String {
    let name = type_name(v);
    let article = if name.starts_with(['A', 'E', 'I', 'O', 'U']) { "an" } else { "a" };
    format!("{article} {name}")
}

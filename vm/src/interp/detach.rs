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
//! maatine's own heap, as a receive does (`Run::adopt`): it gets unshared
//! objects, which run without locks.

use maat_gc::Outside;

use super::*;
use crate::object::detached::Detached;

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// `v.detach`: the token of `v`'s graph, or why it cannot leave. From
    /// register `free` (the instruction's first free one, `Proto::free`) to
    /// the end of the frame no register holds a live value, so they are
    /// cleared before the check, which would otherwise see what earlier
    /// statements' temporaries left there.
    pub(super) fn detach(&mut self, st: &mut State<'gc>, v: Value<'gc>, free: usize) -> OpResult<Value<'gc>> {
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
        let end = st.top.min(st.regs.len());
        st.regs[free.min(end)..end].fill(Value::nil());
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
        self.adopt(root)
    }
}

/// `v`'s type with its article ("an Array", "a Map").
fn a_type(v: Value<'_>) -> String {
    let name = type_name(v);
    let article = if name.starts_with(['A', 'E', 'I', 'O', 'U']) { "an" } else { "a" };
    format!("{article} {name}")
}

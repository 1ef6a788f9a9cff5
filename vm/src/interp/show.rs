//! Values as `say` shows them. Showing walks nested arrays, maps and
//! instances with a stack of its own (no recursion: a structure nested
//! 100,000 deep prints on a maatine's small stack too), and shows a
//! structure met again inside itself as `[...]`, `{...}` or `Name(...)`, as
//! Python does, so cyclic data prints instead of looping.

use std::collections::HashSet;

use super::*;
use crate::object::pmap::PMap;
use crate::object::pvec::PVec;

/// What is left to write: a value, fixed text, or the end of a container
/// (which leaves the set of containers being shown).
enum Piece<'p, 'gc> {
    Value(Value<'gc>),
    Text(&'p str),
    Close(usize, &'static str),
}

/// A container's item: a field name (instances), a key (maps), the value.
type Item<'p, 'gc> = (Option<&'p str>, Option<Value<'gc>>, Value<'gc>);

/// The containers being shown (their addresses): a short list searched in
/// place, then a set once nesting is deep.
#[derive(Default)]
struct Open {
    list: Vec<usize>,
    set: HashSet<usize>,
}

impl Open {
    const LIST: usize = 32;

    /// Enters `addr`; `false` if it is already open (a cycle).
    pub(super) fn enter(&mut self, addr: usize) -> bool {
        if self.list.len() < Self::LIST {
            if self.list.contains(&addr) {
                return false;
            }
            self.list.push(addr);
            return true;
        }
        !self.list.contains(&addr) && self.set.insert(addr)
    }

    pub(super) fn leave(&mut self, addr: usize) {
        if !self.set.remove(&addr) {
            self.list.retain(|a| *a != addr);
        }
    }
}

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// A value as `say` prints it.
    pub(super) fn show(&self, v: Value<'gc>) -> String {
        let mut out = String::new();
        self.write_shown(&mut out, v);
        out
    }

    /// Appends `v` as `say` shows it to `out`.
    pub(super) fn write_shown(&self, out: &mut String, v: Value<'gc>) {
        // Numbers and strings (the common case) need no stack.
        if write_leaf(out, v) {
            return;
        }
        let (mut todo, mut open) = (vec![Piece::Value(v)], Open::default());
        while let Some(piece) = todo.pop() {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Close(addr, t) => {
                    open.leave(addr);
                    out.push_str(t);
                }
                Piece::Value(v) => self.write_one(out, v, &mut todo, &mut open),
            }
        }
    }

    /// Writes `v` if it is a leaf; for a container, writes its opening and
    /// queues its contents and its end on `todo`.
    fn write_one<'p>(&'p self, out: &mut String, v: Value<'gc>, todo: &mut Vec<Piece<'p, 'gc>>, open: &mut Open) {
        if write_leaf(out, v) {
            return;
        }
        let o = v.as_object().expect("every value but an object is a leaf");
        let addr = o.as_raw().as_ptr() as usize;
        let (items, close): (Vec<Item<'p, 'gc>>, &'static str) = if let Some(a) = object_of(v, kind::ARRAY) {
            if !open.enter(addr) {
                return out.push_str("[...]");
            }
            out.push('[');
            // SAFETY: kind ARRAY objects are Arrays.
            let items = Array::snapshot(unsafe { a.downcast() }, self.cx);
            (items.into_iter().map(|i| (None, None, i)).collect(), "]")
        } else if let Some(m) = object_of(v, kind::MAP) {
            if !open.enter(addr) {
                return out.push_str("{...}");
            }
            out.push('{');
            // SAFETY: kind MAP objects are Maps.
            let entries = Map::entries(unsafe { m.downcast() }, self.cx);
            (entries.into_iter().map(|(k, v)| (None, Some(k), v)).collect(), "}")
        } else if let Some(p) = object_of(v, kind::PVEC) {
            if !open.enter(addr) {
                return out.push_str("PVec[...]");
            }
            out.push_str("PVec[");
            // SAFETY: kind PVEC objects are PVecs.
            let items = Gc::get(unsafe { p.downcast::<PVec<'gc>>() }).items();
            (items.into_iter().map(|i| (None, None, i)).collect(), "]")
        } else if let Some(p) = object_of(v, kind::PMAP) {
            if !open.enter(addr) {
                return out.push_str("PMap{...}");
            }
            out.push_str("PMap{");
            // SAFETY: kind PMAP objects are PMaps.
            let mut entries = Gc::get(unsafe { p.downcast::<PMap<'gc>>() }).entries();
            // Its own order follows hashes that change from run to run.
            entries.sort_by(|a, b| display_order(a.0, b.0));
            (entries.into_iter().map(|(k, v)| (None, Some(k), v)).collect(), "}")
        } else if let Some(i) = object_of(v, kind::INST) {
            // SAFETY: kind INST objects are Insts.
            let inst = unsafe { i.downcast::<Inst<'gc>>() };
            let class = &self.rt.program.classes[Gc::get(inst).class() as usize];
            out.push_str(&class.name);
            if !open.enter(addr) {
                return out.push_str("(...)");
            }
            out.push('(');
            let fields = class.fields.iter().enumerate();
            (fields.map(|(f, name)| (Some(name.as_str()), None, Inst::get(inst, self.cx, f))).collect(), ")")
        } else if let Some(c) = object_of(v, kind::CLASS) {
            // SAFETY: kind CLASS objects are Classes.
            let index = Gc::get(unsafe { c.downcast::<Class>() }).index;
            out.push_str("class ");
            return out.push_str(&self.rt.program.classes[index as usize].name);
        } else if let Some(u) = object_of(v, kind::USER) {
            return out.push_str(self.user_type_name(u));
        } else {
            return out.push_str(type_name(v));
        };
        todo.push(Piece::Close(addr, close));
        for (n, (name, key, value)) in items.into_iter().enumerate().rev() {
            todo.push(Piece::Value(value));
            if let Some(k) = key {
                todo.push(Piece::Text(" => "));
                todo.push(Piece::Value(k));
            }
            if let Some(name) = name {
                todo.push(Piece::Text(": "));
                todo.push(Piece::Text(name));
            }
            if n > 0 {
                todo.push(Piece::Text(", "));
            }
        }
    }
}

/// The order a persistent map's keys are shown in: numbers by value, then
/// strings by text, then the rest as they come.
fn display_order(a: Value<'_>, b: Value<'_>) -> std::cmp::Ordering {
    let rank = |v: Value<'_>| match (v.as_num(), text_of(v)) {
        (Some(_), _) => 0,
        (_, Some(_)) => 1,
        _ => 2,
    };
    rank(a).cmp(&rank(b)).then_with(|| match (a.as_num(), b.as_num(), text_of(a), text_of(b)) {
        (Some(x), Some(y), ..) => x.total_cmp(&y),
        (_, _, Some(x), Some(y)) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    })
}

/// Writes `v` if it is a number, another immediate value or a string;
/// `false` (nothing written) for any other object.
fn write_leaf(out: &mut String, v: Value<'_>) -> bool {
    if let Some(s) = text_of(v) {
        out.push_str(s);
    } else if v.as_object().is_none() {
        use std::fmt::Write;
        // Writing into a String cannot fail.
        let _ = write!(out, "{v:?}");
    } else {
        return false;
    }
    true
}

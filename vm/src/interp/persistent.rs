//! The persistent collections from the interpreter's side: `PVec.new` and
//! `PMap.new`, their methods (every change returns a new collection), and
//! their indexing. They are immutable, so no operation takes a lock.

use super::*;
use crate::object::pmap::PMap;
use crate::object::pnode::Birth;
use crate::object::pvec::PVec;

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// `PVec.new()`, or `PVec.new(array)`: a persistent vector of the
    /// array's items.
    pub(super) fn new_pvec(&self, args: &[Value<'gc>]) -> OpResult<Value<'gc>> {
        let items = match from_one(args, "PVec.new", kind::ARRAY)? {
            // SAFETY: kind ARRAY objects are Arrays.
            Some(a) => Array::snapshot(unsafe { a.downcast() }, self.cx),
            None => Vec::new(),
        };
        Ok(Value::object(PVec::of(self.cx, &items).into()))
    }

    /// `PMap.new()`, or `PMap.new(map)`: a persistent map of the map's
    /// entries.
    pub(super) fn new_pmap(&self, args: &[Value<'gc>]) -> OpResult<Value<'gc>> {
        let entries = match from_one(args, "PMap.new", kind::MAP)? {
            // SAFETY: kind MAP objects are Maps.
            Some(m) => Map::entries(unsafe { m.downcast() }, self.cx),
            None => Vec::new(),
        };
        Ok(Value::object(PMap::of(self.cx, &entries).map_err(|e| e.to_string())?.into()))
    }

    /// Method `m` of a persistent vector; a change makes what it makes as
    /// `birth` says (a draft's root: frozen as made).
    pub(super) fn pvec_method(
        &self,
        p: Gc<'gc, PVec<'gc>>,
        (m, birth): (Method, Birth),
        args: &[Value<'gc>],
        arity: impl Fn(std::ops::RangeInclusive<usize>) -> OpResult<()>,
    ) -> OpResult<Value<'gc>> {
        let cx = self.cx;
        let vec = |p: Gc<'gc, PVec<'gc>>| Value::object(p.into());
        let v = Gc::get(p);
        match m {
            Method::Len => arity(0..=0).map(|_| Value::num(v.len() as f64)),
            Method::IsEmpty => arity(0..=0).map(|_| Value::bool(v.is_empty())),
            Method::Get => arity(1..=1).and_then(|_| pvec_item(v, args[0])),
            Method::First => arity(0..=0).map(|_| v.get(0).unwrap_or(Value::nil())),
            Method::Last => arity(0..=0).map(|_| v.len().checked_sub(1).and_then(|i| v.get(i)).unwrap_or(Value::nil())),
            Method::Set => {
                arity(2..=2)?;
                let i = pvec_index(v, args[0])?;
                Ok(vec(PVec::set_as(p, cx, birth, i, args[1])))
            }
            Method::Push => arity(1..=1).map(|_| vec(PVec::push_as(p, cx, birth, args[0]))),
            Method::Pop => arity(0..=0).map(|_| vec(PVec::pop_as(p, cx, birth))),
            Method::ToA => arity(0..=0).map(|_| Value::object(Array::alloc(cx, v.items()).into())),
            _ => Err(unknown_method(Value::object(p.into()), m.name())),
        }
    }

    /// Method `m` of a persistent map; a change makes what it makes as
    /// `birth` says (a draft's root: frozen as made).
    pub(super) fn pmap_method(
        &self,
        p: Gc<'gc, PMap<'gc>>,
        (m, birth): (Method, Birth),
        args: &[Value<'gc>],
        arity: impl Fn(std::ops::RangeInclusive<usize>) -> OpResult<()>,
    ) -> OpResult<Value<'gc>> {
        let (cx, err) = (self.cx, |e: ObjError| e.to_string());
        let map = |p: Gc<'gc, PMap<'gc>>| Value::object(p.into());
        let column = |keys: bool| {
            let items = Gc::get(p).entries().into_iter().map(|(k, v)| if keys { k } else { v });
            Value::object(Array::alloc(cx, items.collect::<Vec<_>>()).into())
        };
        let v = Gc::get(p);
        match m {
            Method::Len => arity(0..=0).map(|_| Value::num(v.len() as f64)),
            Method::IsEmpty => arity(0..=0).map(|_| Value::bool(v.is_empty())),
            Method::Get => {
                arity(1..=2)?;
                Ok(v.get(args[0]).map_err(err)?.or(args.get(1).copied()).unwrap_or(Value::nil()))
            }
            Method::Has => arity(1..=1).and_then(|_| Ok(Value::bool(v.get(args[0]).map_err(err)?.is_some()))),
            Method::Put => {
                arity(2..=2).and_then(|_| PMap::put_as(p, cx, birth, args[0], args[1]).map(map).map_err(err))
            }
            Method::Delete => arity(1..=1).and_then(|_| PMap::delete_as(p, cx, birth, args[0]).map(map).map_err(err)),
            Method::Keys => arity(0..=0).map(|_| column(true)),
            Method::Values => arity(0..=0).map(|_| column(false)),
            _ => Err(unknown_method(Value::object(p.into()), m.name())),
        }
    }
}

/// The one optional argument of constructor `what`, an object of kind `k`
/// (an array, a map) to make the collection from.
fn from_one<'gc>(args: &[Value<'gc>], what: &str, k: u8) -> OpResult<Option<GcAny<'gc>>> {
    match args {
        [] => Ok(None),
        [a] => match object_of(*a, k) {
            Some(o) => Ok(Some(o)),
            None => Err(format!(
                "{what} takes {}, got {}",
                if k == kind::ARRAY { "an array" } else { "a map" },
                type_name(*a)
            )),
        },
        _ => Err(format!("{what} expects 0 to 1 argument(s), got {}", args.len())),
    }
}

/// The index `i` of vector `v`, or why it is not one.
fn pvec_index(v: &PVec<'_>, i: Value<'_>) -> OpResult<usize> {
    let n = i.as_num().ok_or_else(|| format!("PVec index must be a number, got {}", type_name(i)))?;
    arith::int_of(n)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n < v.len())
        .ok_or_else(|| format!("index out of range: {} (length {})", arith::show_num(n), v.len()))
}

/// `v[i]`.
pub(super) fn pvec_item<'gc>(v: &PVec<'gc>, i: Value<'gc>) -> OpResult<Value<'gc>> {
    Ok(v.get(pvec_index(v, i)?).expect("an index in range has an item"))
}

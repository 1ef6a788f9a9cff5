//! Values crossing between the runtime and the embedder: arguments and
//! results of native functions, of calls from the host, and the values
//! handles keep. Arrays, maps and strings are copied (deeply, so bounded:
//! a structure nested deeper than [`MAX_HOST_DEPTH`], a cyclic one
//! included, is an error, not a stack overflow); every other object
//! crosses by reference, as a [`Handle`]: a global root, so it is shared
//! from then on (another thread may reach it through the host).

use super::*;
use crate::embed::Handle;

/// The deepest nesting copied to the host.
const MAX_HOST_DEPTH: usize = 200;

/// The root type of a handle: one value.
pub(crate) struct ValueRoot;
impl Root for ValueRoot {
    type Of<'gc> = Value<'gc>;
}

/// A value as the embedder sees it (a deep copy of strings, arrays and
/// maps; a handle to any other object).
pub(crate) fn to_host<'gc>(cx: &Ctx<'_, 'gc>, v: Value<'gc>, depth: usize) -> OpResult<HostValue> {
    if depth > MAX_HOST_DEPTH {
        return Err(format!(
            "cannot pass a structure nested deeper than {MAX_HOST_DEPTH} levels (or a cyclic one) to the host"
        ));
    }
    Ok(match v.unpack() {
        Unpacked::Nil => HostValue::Nil,
        Unpacked::Bool(b) => HostValue::Bool(b),
        Unpacked::Num(n) => HostValue::Num(n),
        Unpacked::Object(o) => match o.kind() {
            kind::STR => HostValue::Str(text_of(v).expect("a string").to_owned()),
            kind::ARRAY => {
                // SAFETY: kind ARRAY objects are Arrays.
                let items = Array::snapshot(unsafe { o.downcast() }, cx);
                let items = items.into_iter().map(|i| to_host(cx, i, depth + 1));
                HostValue::Array(items.collect::<OpResult<_>>()?)
            }
            kind::MAP => {
                // SAFETY: kind MAP objects are Maps.
                let entries = Map::entries(unsafe { o.downcast() }, cx);
                let entries =
                    entries.into_iter().map(|(k, v)| Ok((to_host(cx, k, depth + 1)?, to_host(cx, v, depth + 1)?)));
                HostValue::Map(entries.collect::<OpResult<_>>()?)
            }
            _ => HostValue::Object(handle(cx, v)),
        },
    })
}

/// A handle to `v` (shared from here on).
pub(crate) fn handle<'gc>(cx: &Ctx<'_, 'gc>, v: Value<'gc>) -> Handle {
    let space = cx.mc.space_id();
    Handle::new(cx.mc.make_global::<ValueRoot>(v), space, v.to_bits(), type_name(v))
}

/// The value a handle keeps, if it belongs to this heap's space.
pub(crate) fn held<'gc>(cx: &Ctx<'_, 'gc>, h: &Handle) -> OpResult<Value<'gc>> {
    if h.space() != cx.mc.space_id() {
        return Err(format!("a {} of another runtime cannot be used here", h.type_name()));
    }
    // SAFETY: the value is shared (made global by `handle`); the VM's
    // objects synchronize themselves.
    Ok(unsafe { cx.mc.global(h.root()) })
}

/// A host value made a Maat value in this maatine's heap.
pub(crate) fn host_to_value<'gc>(cx: &Ctx<'_, 'gc>, h: &HostValue) -> OpResult<Value<'gc>> {
    Ok(match h {
        HostValue::Nil => Value::nil(),
        HostValue::Bool(b) => Value::bool(*b),
        HostValue::Num(n) => Value::num(*n),
        HostValue::Str(s) => Value::object(Str::alloc(cx, s).into()),
        HostValue::Array(items) => {
            let items = items.iter().map(|i| host_to_value(cx, i)).collect::<OpResult<Vec<_>>>()?;
            Value::object(Array::alloc(cx, items).into())
        }
        HostValue::Map(entries) => {
            let map = Map::alloc(cx);
            for (k, v) in entries {
                Map::set(map, cx, host_to_value(cx, k)?, host_to_value(cx, v)?).map_err(|e| e.to_string())?;
            }
            Value::object(map.into())
        }
        HostValue::Object(h) => held(cx, h)?,
    })
}

/// The function a closure runs, if `v` is a closure.
pub(crate) fn closure_function(v: Value<'_>) -> Option<u32> {
    // SAFETY: kind CLOSURE objects are Closures.
    object_of(v, kind::CLOSURE).map(|c| Gc::get(unsafe { c.downcast::<Closure>() }).func)
}

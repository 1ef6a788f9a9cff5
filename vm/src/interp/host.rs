//! Values crossing between the runtime and the embedder: arguments and
//! results of native functions, of calls from the host, and the values
//! handles keep. Arrays, maps and strings are copied (deeply, so bounded:
//! a structure nested deeper than [`MAX_HOST_DEPTH`], a cyclic one
//! included, is an error, not a stack overflow); every other object
//! crosses by reference, as a [`Handle`]: a global root, so it is shared
//! from then on (another thread may reach it through the host).

use super::*;
use crate::host::{Handle, Method, Types, ValueRoot};
use crate::object::user::UserObject;

/// The deepest nesting copied to the host.
const MAX_HOST_DEPTH: usize = 200;

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

/// A host value made a Maat value in this maatine's heap (user values of
/// the types in `types`).
pub(crate) fn host_to_value<'gc>(cx: &Ctx<'_, 'gc>, types: &Types, h: &HostValue) -> OpResult<Value<'gc>> {
    Ok(match h {
        HostValue::Nil => Value::nil(),
        HostValue::Bool(b) => Value::bool(*b),
        HostValue::Num(n) => Value::num(*n),
        HostValue::Str(s) => Value::object(Str::alloc(cx, s).into()),
        HostValue::Array(items) => {
            let items = items.iter().map(|i| host_to_value(cx, types, i)).collect::<OpResult<Vec<_>>>()?;
            Value::object(Array::alloc(cx, items).into())
        }
        HostValue::Map(entries) => {
            let map = Map::alloc(cx);
            for (k, v) in entries {
                Map::set(map, cx, host_to_value(cx, types, k)?, host_to_value(cx, types, v)?)
                    .map_err(|e| e.to_string())?;
            }
            Value::object(map.into())
        }
        HostValue::Object(h) => held(cx, h)?,
        HostValue::User(p) => {
            types.check(p)?;
            let shape = types.find(p.type_id()).expect("checked");
            let value = p.take().ok_or_else(|| format!("this {} was already moved into the runtime", p.type_name()))?;
            Value::object(UserObject::alloc(cx, shape, value).into())
        }
    })
}

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// `obj.name(args)` on a user object: the registered method (or field).
    pub(super) fn user_method(&self, obj: GcAny<'gc>, name: &str, args: &[Value<'gc>]) -> OpResult<Value<'gc>> {
        // SAFETY: the caller checked the kind: USER objects are UserObjects.
        let user = unsafe { obj.downcast::<UserObject>() };
        let ty = &self.rt.types.types[Gc::get(user).type_index as usize];
        if let (Some(&i), []) = (ty.value_fields.get(name), args) {
            return Ok(UserObject::field(user, self.cx, i));
        }
        let method = ty.methods.get(name).ok_or_else(|| format!("unknown method `{name}` for {}", ty.name))?;
        let host = args.iter().map(|v| to_host(self.cx, *v, 0)).collect::<OpResult<Vec<_>>>()?;
        let qualified = |e: String| format!("{}.{name}: {e}", ty.name);
        let result = match method {
            Method::Mut(m) => UserObject::with_mut(user, self.cx, |v| m(v, &host)).map_err(|e| e.to_string())?,
            Method::Ref(m) => UserObject::with_ref(user, self.cx, |v| m(v, &host)),
        };
        host_to_value(self.cx, &self.rt.types, &result.map_err(qualified)?)
    }

    /// `obj.name = value` on a user object: the registered setter.
    pub(super) fn set_user_field(&self, obj: GcAny<'gc>, name: &str, value: Value<'gc>) -> OpResult<()> {
        // SAFETY: the caller checked the kind: USER objects are UserObjects.
        let user = unsafe { obj.downcast::<UserObject>() };
        let ty = &self.rt.types.types[Gc::get(user).type_index as usize];
        if let Some(&i) = ty.value_fields.get(name) {
            return UserObject::set_field(user, self.cx, i, value).map_err(|e| e.to_string());
        }
        let set = ty.setters.get(name).ok_or_else(|| format!("cannot set field `{name}` of {}", ty.name))?;
        let host = to_host(self.cx, value, 0)?;
        let done = UserObject::with_mut(user, self.cx, |v| set(v, host)).map_err(|e| e.to_string())?;
        done.map_err(|e| format!("{}.{name}: {e}", ty.name))
    }

    /// The registered name of a user object's type.
    pub(super) fn user_type_name(&self, obj: GcAny<'gc>) -> &str {
        // SAFETY: the caller checked the kind: USER objects are UserObjects.
        let user = unsafe { obj.downcast::<UserObject>() };
        &self.rt.types.types[Gc::get(user).type_index as usize].name
    }
}

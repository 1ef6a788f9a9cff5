//! Values crossing to and from the embedder's native functions. Copies
//! are deep, so they are bounded: a structure nested deeper than
//! [`MAX_HOST_DEPTH`] (a cyclic one included) is an error, not a stack
//! overflow.

use super::*;

/// The deepest nesting copied to a native function.
const MAX_HOST_DEPTH: usize = 200;

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// A value as the embedder sees it (a deep copy of arrays and maps).
    pub(super) fn to_host(&self, v: Value<'gc>, depth: usize) -> OpResult<HostValue> {
        if depth > MAX_HOST_DEPTH {
            return Err(format!(
                "cannot pass a structure nested deeper than {MAX_HOST_DEPTH} levels (or a cyclic one) to a native function"
            ));
        }
        Ok(match v.unpack() {
            Unpacked::Nil => HostValue::Nil,
            Unpacked::Bool(b) => HostValue::Bool(b),
            Unpacked::Num(n) => HostValue::Num(n),
            Unpacked::Object(_) => {
                if let Some(a) = object_of(v, kind::ARRAY) {
                    // SAFETY: kind ARRAY objects are Arrays.
                    let items = Array::snapshot(unsafe { a.downcast() }, self.cx);
                    let items = items.into_iter().map(|i| self.to_host(i, depth + 1));
                    return Ok(HostValue::Array(items.collect::<OpResult<_>>()?));
                }
                if let Some(m) = object_of(v, kind::MAP) {
                    // SAFETY: kind MAP objects are Maps.
                    let entries = Map::entries(unsafe { m.downcast() }, self.cx);
                    let entries = entries
                        .into_iter()
                        .map(|(k, v)| Ok((self.to_host(k, depth + 1)?, self.to_host(v, depth + 1)?)));
                    return Ok(HostValue::Map(entries.collect::<OpResult<_>>()?));
                }
                HostValue::Str(self.show(v))
            }
        })
    }

    /// A host value made a Maat value in this maatine's heap.
    pub(super) fn host_to_value(&self, h: &HostValue) -> OpResult<Value<'gc>> {
        Ok(match h {
            HostValue::Nil => Value::nil(),
            HostValue::Bool(b) => Value::bool(*b),
            HostValue::Num(n) => Value::num(*n),
            HostValue::Str(s) => Value::object(Str::alloc(self.cx, s).into()),
            HostValue::Array(items) => {
                let items = items.iter().map(|i| self.host_to_value(i)).collect::<OpResult<Vec<_>>>()?;
                Value::object(Array::alloc(self.cx, items).into())
            }
            HostValue::Map(entries) => {
                let map = Map::alloc(self.cx);
                for (k, v) in entries {
                    Map::set(map, self.cx, self.host_to_value(k)?, self.host_to_value(v)?)
                        .map_err(|e| e.to_string())?;
                }
                Value::object(map.into())
            }
        })
    }
}

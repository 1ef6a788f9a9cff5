//! Values crossing to and from the embedder's native functions.

use super::*;

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// A value as the embedder sees it (a deep copy of arrays and maps).
    pub(super) fn to_host(&self, v: Value<'gc>) -> HostValue {
        match v.unpack() {
            Unpacked::Nil => HostValue::Nil,
            Unpacked::Bool(b) => HostValue::Bool(b),
            Unpacked::Num(n) => HostValue::Num(n),
            Unpacked::Object(_) => {
                if let Some(a) = object_of(v, kind::ARRAY) {
                    // SAFETY: kind ARRAY objects are Arrays.
                    let items = Array::snapshot(unsafe { a.downcast() }, self.cx);
                    return HostValue::Array(items.into_iter().map(|i| self.to_host(i)).collect());
                }
                if let Some(m) = object_of(v, kind::MAP) {
                    // SAFETY: kind MAP objects are Maps.
                    let entries = Map::entries(unsafe { m.downcast() }, self.cx);
                    return HostValue::Map(
                        entries.into_iter().map(|(k, v)| (self.to_host(k), self.to_host(v))).collect(),
                    );
                }
                HostValue::Str(self.show(v))
            }
        }
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

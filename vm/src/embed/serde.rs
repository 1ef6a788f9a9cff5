//! Any `Serialize`/`Deserialize` type in and out of Maat (the `serde`
//! feature): [`Serde`] wraps a value so that it converts with
//! [`IntoMaat`] and [`FromMaat`]. The data goes through serde's JSON data
//! model: structs and maps become Maat maps (keys as strings; a map keyed
//! by numbers reads back from Maat's number keys too), sequences and tuples
//! arrays, unit and `None` nil. Objects that are neither (functions,
//! instances) do not convert.

use super::{Error, FromMaat, HostValue, IntoMaat};

/// A value that crosses to and from Maat through serde.
///
/// ```
/// use maat_vm::embed::{Runtime, Serde};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Point { x: f64, y: f64, tags: Vec<String> }
///
/// let mut rt = Runtime::new(maat_gc::Config::default());
/// rt.eval("fn moved(p) { p[\"x\"] += 1; p[\"tags\"].push(\"moved\"); return p; }").unwrap();
/// let p = Point { x: 1.0, y: 2.0, tags: vec![] };
/// let Serde(q): Serde<Point> = rt.call("moved", (Serde(p),)).unwrap();
/// assert_eq!(q, Point { x: 2.0, y: 2.0, tags: vec!["moved".into()] });
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Serde<T>(pub T);

impl<T: serde::Serialize> IntoMaat for Serde<T> {
    fn into_maat(self) -> HostValue {
        // A value serde cannot put in its data model (a map with keys that
        // are not strings or numbers) arrives as nil.
        serde_json::to_value(&self.0).map_or(HostValue::Nil, from_json)
    }
}

impl<T: serde::de::DeserializeOwned> FromMaat for Serde<T> {
    fn from_maat(v: HostValue) -> Result<Self, Error> {
        let json = to_json(&v)?;
        serde_json::from_value(json).map(Serde).map_err(|e| Error::Conversion {
            expected: std::any::type_name::<T>().to_owned(),
            actual: format!("{} ({e})", v.type_name()),
        })
    }
}

fn from_json(v: serde_json::Value) -> HostValue {
    use serde_json::Value as J;
    match v {
        J::Null => HostValue::Nil,
        J::Bool(b) => HostValue::Bool(b),
        J::Number(n) => HostValue::Num(n.as_f64().unwrap_or(f64::NAN)),
        J::String(s) => HostValue::Str(s),
        J::Array(items) => HostValue::Array(items.into_iter().map(from_json).collect()),
        J::Object(entries) => {
            HostValue::Map(entries.into_iter().map(|(k, v)| (HostValue::Str(k), from_json(v))).collect())
        }
    }
}

fn to_json(v: &HostValue) -> Result<serde_json::Value, Error> {
    use serde_json::Value as J;
    Ok(match v {
        HostValue::Nil => J::Null,
        HostValue::Bool(b) => J::Bool(*b),
        // A whole number goes as an integer, so that integer fields read it.
        HostValue::Num(n) if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 => J::from(*n as i64),
        HostValue::Num(n) => serde_json::Number::from_f64(*n).map_or(J::Null, J::Number),
        HostValue::Str(s) => J::String(s.clone()),
        HostValue::Array(items) => J::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        HostValue::Map(entries) => {
            let mut map = serde_json::Map::new();
            for (k, v) in entries {
                let key = match k {
                    HostValue::Str(s) => s.clone(),
                    HostValue::Num(_) | HostValue::Bool(_) => to_json(k)?.to_string(),
                    k => return Err(super::convert::mismatch("a map key that is a string or a number", k)),
                };
                map.insert(key, to_json(v)?);
            }
            J::Object(map)
        }
        v => return Err(super::convert::mismatch("data (nil, a boolean, a number, a string, an array or a map)", v)),
    })
}

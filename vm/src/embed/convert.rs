//! Conversions between Rust types and Maat values: [`IntoMaat`] and
//! [`FromMaat`] for values, [`IntoArgs`] and [`FromArgs`] for argument
//! lists (tuples). Each goes through [`HostValue`]; a failed conversion
//! names the type expected and the value found ([`Error::Conversion`]).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use super::{Error, Function, Handle, HostValue};

/// A Rust value that can become a Maat value. Implement it for a type of
/// your own through the types it is made of:
///
/// ```
/// use maat_vm::embed::{Error, FromMaat, HostValue, IntoMaat, Runtime};
///
/// struct Rgb(u8, u8, u8);
/// impl IntoMaat for Rgb {
///     fn into_maat(self) -> HostValue {
///         vec![self.0, self.1, self.2].into_maat()
///     }
/// }
/// impl FromMaat for Rgb {
///     fn from_maat(v: HostValue) -> Result<Self, Error> {
///         let [r, g, b]: [u8; 3] = Vec::<u8>::from_maat(v)?.try_into().map_err(|_| Error::Conversion {
///             expected: "three channels".into(),
///             actual: "another length".into(),
///         })?;
///         Ok(Rgb(r, g, b))
///     }
/// }
///
/// let mut rt = Runtime::new(maat_gc::Config::default());
/// rt.eval("fn darker(c) { return c.map({ |x| x // 2 }) }").unwrap();
/// let Rgb(r, g, b) = rt.call("darker", (Rgb(200, 100, 50),)).unwrap();
/// assert_eq!((r, g, b), (100, 50, 25));
/// ```
pub trait IntoMaat {
    /// The value, as the runtime will make it.
    fn into_maat(self) -> HostValue;
}

/// A Rust type that a Maat value can be converted to.
pub trait FromMaat: Sized {
    /// Whether the value is wanted by reference ([`Handle`], [`Function`]),
    /// not copied: the runtime then keeps the object itself, even a string,
    /// an array or a map, instead of copying it.
    const BY_REFERENCE: bool = false;

    /// The Rust value of `v`, or why `v` is not one.
    fn from_maat(v: HostValue) -> Result<Self, Error>;
}

/// The error for value `v` where a `expected` was wanted.
pub(crate) fn mismatch(expected: &str, v: &HostValue) -> Error {
    let actual = match v {
        HostValue::Num(n) => format!("Num {n}"),
        HostValue::Str(s) if s.chars().count() <= 20 => format!("Str {s:?}"),
        v => v.type_name().to_owned(),
    };
    Error::Conversion { expected: expected.to_owned(), actual }
}

impl IntoMaat for HostValue {
    fn into_maat(self) -> HostValue {
        self
    }
}

impl FromMaat for HostValue {
    fn from_maat(v: HostValue) -> Result<Self, Error> {
        Ok(v)
    }
}

impl IntoMaat for () {
    fn into_maat(self) -> HostValue {
        HostValue::Nil
    }
}

impl FromMaat for () {
    fn from_maat(v: HostValue) -> Result<Self, Error> {
        match v {
            HostValue::Nil => Ok(()),
            v => Err(mismatch("nil", &v)),
        }
    }
}

impl IntoMaat for bool {
    fn into_maat(self) -> HostValue {
        HostValue::Bool(self)
    }
}

impl FromMaat for bool {
    fn from_maat(v: HostValue) -> Result<Self, Error> {
        match v {
            HostValue::Bool(b) => Ok(b),
            v => Err(mismatch("bool", &v)),
        }
    }
}

impl IntoMaat for f64 {
    fn into_maat(self) -> HostValue {
        HostValue::Num(self)
    }
}

impl FromMaat for f64 {
    fn from_maat(v: HostValue) -> Result<Self, Error> {
        match v {
            HostValue::Num(n) => Ok(n),
            v => Err(mismatch("f64", &v)),
        }
    }
}

impl IntoMaat for f32 {
    fn into_maat(self) -> HostValue {
        HostValue::Num(f64::from(self))
    }
}

impl FromMaat for f32 {
    fn from_maat(v: HostValue) -> Result<Self, Error> {
        f64::from_maat(v).map(|n| n as f32)
    }
}

/// Integers: a Maat number converts to one when it is whole and in the
/// type's range; an integer converts to the nearest number (exactly up to
/// 2^53).
macro_rules! integers {
    ($($t:ty),*) => {$(
        impl IntoMaat for $t {
            fn into_maat(self) -> HostValue {
                HostValue::Num(self as f64)
            }
        }

        impl FromMaat for $t {
            fn from_maat(v: HostValue) -> Result<Self, Error> {
                match v {
                    // The bounds as f64: MIN is exact (a power of two or 0),
                    // MAX + 1 is exact too, so `n < MAX + 1` is the range test.
                    HostValue::Num(n) if n.fract() == 0.0 && n >= <$t>::MIN as f64 && n < (<$t>::MAX as f64) + 1.0 => {
                        Ok(n as $t)
                    }
                    v => Err(mismatch(stringify!($t), &v)),
                }
            }
        }
    )*};
}

integers!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

impl IntoMaat for String {
    fn into_maat(self) -> HostValue {
        HostValue::Str(self)
    }
}

impl IntoMaat for &str {
    fn into_maat(self) -> HostValue {
        HostValue::Str(self.to_owned())
    }
}

impl FromMaat for String {
    fn from_maat(v: HostValue) -> Result<Self, Error> {
        match v {
            HostValue::Str(s) => Ok(s),
            v => Err(mismatch("String", &v)),
        }
    }
}

impl<T: IntoMaat> IntoMaat for Option<T> {
    fn into_maat(self) -> HostValue {
        self.map_or(HostValue::Nil, IntoMaat::into_maat)
    }
}

/// `nil` is `None`; any other value converts to `T`.
impl<T: FromMaat> FromMaat for Option<T> {
    const BY_REFERENCE: bool = T::BY_REFERENCE;

    fn from_maat(v: HostValue) -> Result<Self, Error> {
        match v {
            HostValue::Nil => Ok(None),
            v => T::from_maat(v).map(Some),
        }
    }
}

impl<T: IntoMaat> IntoMaat for Vec<T> {
    fn into_maat(self) -> HostValue {
        HostValue::Array(self.into_iter().map(IntoMaat::into_maat).collect())
    }
}

impl<T: FromMaat> FromMaat for Vec<T> {
    fn from_maat(v: HostValue) -> Result<Self, Error> {
        match v {
            HostValue::Array(items) => items.into_iter().map(T::from_maat).collect(),
            v => Err(mismatch("Vec (an Array)", &v)),
        }
    }
}

/// Map entries from the host: Maat keeps its maps in insertion order, so a
/// `HashMap`'s order (arbitrary) becomes the map's.
impl<K: IntoMaat, V: IntoMaat, S> IntoMaat for HashMap<K, V, S> {
    fn into_maat(self) -> HostValue {
        HostValue::Map(self.into_iter().map(|(k, v)| (k.into_maat(), v.into_maat())).collect())
    }
}

impl<K: FromMaat + Eq + Hash, V: FromMaat, S: std::hash::BuildHasher + Default> FromMaat for HashMap<K, V, S> {
    fn from_maat(v: HostValue) -> Result<Self, Error> {
        map_entries(v, "HashMap (a Map)")?.collect()
    }
}

impl<K: IntoMaat, V: IntoMaat> IntoMaat for BTreeMap<K, V> {
    fn into_maat(self) -> HostValue {
        HostValue::Map(self.into_iter().map(|(k, v)| (k.into_maat(), v.into_maat())).collect())
    }
}

impl<K: FromMaat + Ord, V: FromMaat> FromMaat for BTreeMap<K, V> {
    fn from_maat(v: HostValue) -> Result<Self, Error> {
        map_entries(v, "BTreeMap (a Map)")?.collect()
    }
}

/// A map's entries converted one by one.
fn map_entries<K: FromMaat, V: FromMaat>(
    v: HostValue,
    expected: &str,
) -> Result<impl Iterator<Item = Result<(K, V), Error>>, Error> {
    match v {
        HostValue::Map(entries) => Ok(entries.into_iter().map(|(k, v)| Ok((K::from_maat(k)?, V::from_maat(v)?)))),
        v => Err(mismatch(expected, &v)),
    }
}

impl IntoMaat for Handle {
    fn into_maat(self) -> HostValue {
        HostValue::Object(self)
    }
}

impl IntoMaat for &Handle {
    fn into_maat(self) -> HostValue {
        HostValue::Object(self.clone())
    }
}

/// Any object, by reference.
impl FromMaat for Handle {
    const BY_REFERENCE: bool = true;

    fn from_maat(v: HostValue) -> Result<Self, Error> {
        match v {
            HostValue::Object(h) => Ok(h),
            v => Err(mismatch("an object (Handle)", &v)),
        }
    }
}

impl IntoMaat for Function {
    fn into_maat(self) -> HostValue {
        HostValue::Object(self.0)
    }
}

impl IntoMaat for &Function {
    fn into_maat(self) -> HostValue {
        HostValue::Object(self.0.clone())
    }
}

impl FromMaat for Function {
    const BY_REFERENCE: bool = true;

    fn from_maat(v: HostValue) -> Result<Self, Error> {
        match v {
            HostValue::Object(h) if h.type_name() == "Closure" => Ok(Function(h)),
            v => Err(mismatch("a function (Closure)", &v)),
        }
    }
}

/// A list of arguments for a call into Maat: a tuple of [`IntoMaat`]
/// values (`()` for none), or a `Vec<HostValue>`.
pub trait IntoArgs {
    /// The arguments, in order.
    fn into_args(self) -> Vec<HostValue>;
}

/// The arguments of a typed native function ([`Runtime::register_fn`](super::Runtime::register_fn)):
/// a tuple of [`FromMaat`] types, or `Vec<HostValue>` for any number.
pub trait FromArgs: Sized {
    /// The Rust arguments, or why the call's are not those.
    fn from_args(args: &[HostValue]) -> Result<Self, Error>;
}

impl IntoArgs for Vec<HostValue> {
    fn into_args(self) -> Vec<HostValue> {
        self
    }
}

impl FromArgs for Vec<HostValue> {
    fn from_args(args: &[HostValue]) -> Result<Self, Error> {
        Ok(args.to_vec())
    }
}

macro_rules! tuples {
    ($(($($t:ident $i:tt),*))*) => {$(
        impl<$($t: IntoMaat),*> IntoArgs for ($($t,)*) {
            fn into_args(self) -> Vec<HostValue> {
                vec![$(self.$i.into_maat()),*]
            }
        }

        impl<$($t: FromMaat),*> FromArgs for ($($t,)*) {
            fn from_args(args: &[HostValue]) -> Result<Self, Error> {
                const N: usize = [$(stringify!($t)),*].len();
                if args.len() != N {
                    return Err(Error::Conversion {
                        expected: format!("{N} argument(s)"),
                        actual: format!("{}", args.len()),
                    });
                }
                Ok(($($t::from_maat(args[$i].clone())?,)*))
            }
        }
    )*};
}

impl IntoArgs for () {
    fn into_args(self) -> Vec<HostValue> {
        Vec::new()
    }
}

impl FromArgs for () {
    fn from_args(args: &[HostValue]) -> Result<Self, Error> {
        match args {
            [] => Ok(()),
            _ => Err(Error::Conversion { expected: "0 argument(s)".to_owned(), actual: format!("{}", args.len()) }),
        }
    }
}

tuples! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
}

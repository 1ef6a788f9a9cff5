//! Values on the host's side: [`HostValue`], the owned form a value takes
//! in Rust, and [`Handle`], a Maat object the host keeps by reference.
//!
//! Invariant: a handle's object is shared (made a global root of its
//! runtime's space when the handle was made), so any maatine, on any
//! thread, may use it afterwards; the collector keeps it while a clone of
//! the handle lives.

use maat_gc::{Global, Root};

use super::types::{PendingUser, Types};
use crate::value::Value;

/// The root type of a handle: one value.
pub(crate) struct ValueRoot;
impl Root for ValueRoot {
    type Of<'gc> = Value<'gc>;
}

/// A value outside the runtime: what native functions receive and return,
/// and what conversions ([`IntoMaat`](crate::embed::IntoMaat),
/// [`FromMaat`](crate::embed::FromMaat)) go through. Strings, arrays and maps are
/// copied across (deeply); every other object crosses by reference, as a
/// [`Handle`].
///
/// ```
/// use maat_vm::embed::{HostValue, Runtime};
///
/// let mut rt = Runtime::new(maat_gc::Config::default());
/// let v: HostValue = rt.value("[1, \"a\", {k => nil}, { || 0 }]").unwrap();
/// let HostValue::Array(items) = v else { panic!() };
/// assert_eq!(items[0], HostValue::Num(1.0));
/// assert_eq!(items[2], HostValue::Map(vec![(HostValue::Str("k".into()), HostValue::Nil)]));
/// assert_eq!(items[3].type_name(), "Closure");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum HostValue {
    /// `nil`
    Nil,
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Array(Vec<HostValue>),
    /// A map's entries, in order.
    Map(Vec<(HostValue, HostValue)>),
    /// Any other object (a function, an instance, a channel...), by
    /// reference.
    Object(Handle),
    /// A value of a registered Rust type on its way into the runtime
    /// (what [`IntoMaat`](crate::embed::IntoMaat) makes of a
    /// [`UserData`](super::UserData) value); inside, it is an object, and it
    /// comes back out as an [`HostValue::Object`].
    User(PendingUser),
}

impl HostValue {
    /// The Maat name of the value's type (`Num`, `Array`, `Closure`...).
    pub fn type_name(&self) -> &'static str {
        match self {
            HostValue::Nil => "Nil",
            HostValue::Bool(_) => "Bool",
            HostValue::Num(_) => "Num",
            HostValue::Str(_) => "Str",
            HostValue::Array(_) => "Array",
            HostValue::Map(_) => "Map",
            HostValue::Object(h) => h.type_name(),
            HostValue::User(_) => "UserData",
        }
    }

    /// Why the value cannot enter the runtime whose space is `space`, if it
    /// cannot: a handle of another runtime, a map key that is NaN, a user
    /// value of a type not registered or already moved in. (What
    /// the runtime checks before a call, so that making the arguments
    /// cannot fail.)
    pub(crate) fn check(&self, space: u64, types: &Types) -> Result<(), String> {
        match self {
            HostValue::Array(items) => items.iter().try_for_each(|i| i.check(space, types)),
            HostValue::Map(entries) => entries.iter().try_for_each(|(k, v)| {
                if matches!(k, HostValue::Num(n) if n.is_nan()) {
                    return Err("NaN cannot be a map key".to_owned());
                }
                k.check(space, types)?;
                v.check(space, types)
            }),
            HostValue::User(p) => types.check(p),
            HostValue::Object(h) if h.space != space => {
                Err(format!("a {} of another runtime cannot be used here", h.type_name()))
            }
            _ => Ok(()),
        }
    }
}

/// A Maat object kept by the host: a global root of its runtime, which the
/// collector keeps alive until the last clone of the handle is dropped.
/// `Send` and `Sync`; it may outlive its runtime (it is then of no use:
/// another runtime refuses it).
///
/// Two handles are equal when they refer to the same object.
///
/// ```
/// use maat_vm::embed::{Handle, Runtime};
///
/// let mut rt = Runtime::new(maat_gc::Config::default());
/// rt.eval("class Box { has v = 0 }\nfn same(x) { return x }").unwrap();
/// let b: Handle = rt.value("Box.new(v: 7)").unwrap();
/// let back: Handle = rt.call("same", (&b,)).unwrap();
/// assert_eq!(back, b);
/// assert_eq!(b.type_name(), "Instance");
/// ```
#[derive(Clone)]
pub struct Handle {
    root: Global<ValueRoot>,
    /// The id of the space it belongs to.
    space: u64,
    /// The value's bits: the object's address, its identity (objects do
    /// not move).
    bits: u64,
    type_name: &'static str,
}

impl Handle {
    pub(crate) fn new(root: Global<ValueRoot>, space: u64, bits: u64, type_name: &'static str) -> Self {
        Handle { root, space, bits, type_name }
    }

    pub(crate) fn root(&self) -> &Global<ValueRoot> {
        &self.root
    }

    pub(crate) fn space(&self) -> u64 {
        self.space
    }

    /// The Maat name of the object's type (`Closure`, an instance's class
    /// is `Inst`, `Chan`...).
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

impl PartialEq for Handle {
    fn eq(&self, other: &Self) -> bool {
        (self.space, self.bits) == (other.space, other.bits)
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle({} {:#x})", self.type_name, self.bits)
    }
}

/// A Maat function kept by the host (a closure, or a top-level function
/// taken as a value): call it with [`Function::call`].
#[derive(Clone, Debug, PartialEq)]
pub struct Function(pub(crate) Handle);

impl Function {
    /// The handle of the closure.
    pub fn handle(&self) -> &Handle {
        &self.0
    }
}

//! The embedder's registrations as the interpreter uses them: native
//! functions ([`NativeFn`]), Rust types ([`UserData`], their methods and
//! field setters in [`Types`]), and a user value on its way in
//! ([`PendingUser`]). The embedding API fills them
//! ([`crate::embed::Runtime::register_type`]); the interpreter calls them.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::value::HostValue;

/// A native function: gets the call's arguments, returns a value or an error
/// message (a catchable Maat error, prefixed with the function's name).
pub type NativeFn = Box<dyn Fn(&[HostValue]) -> Result<HostValue, String> + Send + Sync>;

/// A Rust type whose values can live in the runtime's heap. Register it
/// first ([`Runtime::register_type`](crate::embed::Runtime::register_type)); then
/// a value of it converts to a Maat object ([`IntoMaat`](crate::embed::IntoMaat)) that Maat code
/// uses through the registered methods and fields.
pub trait UserData: Send + 'static {}

/// A user value on its way into the runtime: moved in by the first run
/// that takes it (a clone of the [`HostValue`] refers to the same value,
/// which only one run can take).
#[derive(Clone)]
pub struct PendingUser {
    value: Arc<Mutex<Option<Box<dyn Any + Send>>>>,
    type_id: TypeId,
    type_name: &'static str,
}

impl PendingUser {
    /// A value of `T` on its way in.
    pub(crate) fn new<T: UserData>(value: T) -> Self {
        let value: Box<dyn Any + Send> = Box::new(value);
        PendingUser {
            value: Arc::new(Mutex::new(Some(value))),
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
        }
    }

    /// Takes the value (once).
    pub(crate) fn take(&self) -> Option<Box<dyn Any + Send>> {
        self.value.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    pub(crate) fn type_id(&self) -> TypeId {
        self.type_id
    }

    /// The Rust name of its type.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    fn is_taken(&self) -> bool {
        self.value.lock().unwrap_or_else(|e| e.into_inner()).is_none()
    }
}

impl PartialEq for PendingUser {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.value, &other.value)
    }
}

impl std::fmt::Debug for PendingUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PendingUser({})", self.type_name)
    }
}

type MethodMut = dyn Fn(&mut dyn Any, &[HostValue]) -> Result<HostValue, String> + Send + Sync;
type MethodRef = dyn Fn(&dyn Any, &[HostValue]) -> Result<HostValue, String> + Send + Sync;
type Setter = dyn Fn(&mut dyn Any, HostValue) -> Result<(), String> + Send + Sync;

/// A registered method.
#[derive(Clone)]
pub(crate) enum Method {
    /// Takes `&mut T`.
    Mut(Arc<MethodMut>),
    /// Takes `&T`.
    Ref(Arc<MethodRef>),
}

/// A registered type: its Maat name, whether it runs without locks, its
/// methods (fields are methods without arguments), its field setters, and
/// its value fields (Maat values the object holds, by slot).
#[derive(Clone)]
pub(crate) struct UserType {
    pub(crate) name: String,
    pub(crate) lock_free: bool,
    pub(crate) methods: HashMap<String, Method>,
    pub(crate) setters: HashMap<String, Arc<Setter>>,
    pub(crate) value_fields: HashMap<String, usize>,
}

/// Every registered type, by number (the number a user object carries).
#[derive(Clone, Default)]
pub(crate) struct Types {
    by_id: HashMap<TypeId, u32>,
    pub(crate) types: Vec<UserType>,
}

impl Types {
    /// The number of a type, whether it is lock-free and how many value
    /// fields it has, if it is registered.
    pub(crate) fn find(&self, type_id: TypeId) -> Option<(u32, bool, usize)> {
        self.by_id.get(&type_id).map(|&i| {
            let ty = &self.types[i as usize];
            (i, ty.lock_free, ty.value_fields.len())
        })
    }

    pub(crate) fn add(&mut self, type_id: TypeId, ty: UserType) {
        match self.by_id.get(&type_id) {
            Some(&i) => self.types[i as usize] = ty,
            None => {
                self.by_id.insert(type_id, self.types.len() as u32);
                self.types.push(ty);
            }
        }
    }

    /// Why `p` cannot enter the runtime, if it cannot.
    pub(crate) fn check(&self, p: &PendingUser) -> Result<(), String> {
        if self.find(p.type_id).is_none() {
            return Err(format!("the type {} is not registered (Runtime::register_type)", p.type_name));
        }
        if p.is_taken() {
            return Err(format!("this {} was already moved into the runtime", p.type_name));
        }
        Ok(())
    }
}

//! Rust types as Maat objects: an embedder registers a type with its
//! methods and fields ([`Runtime::register_type`](super::Runtime::register_type)),
//! passes values of it to Maat (they convert with [`IntoMaat`] once the
//! type implements [`UserData`]), and Maat calls `counter.add(2)`, reads
//! `p.x` and sets `p.x = 3` on them. See [`crate::object::user`] for the
//! locking rule.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use super::{Error, FromArgs, FromMaat, HostValue, IntoMaat};

/// A Rust type whose values can live in the runtime's heap. Register it
/// first ([`Runtime::register_type`](super::Runtime::register_type)); then
/// a value of it converts to a Maat object ([`IntoMaat`]) that Maat code
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

impl<T: UserData> IntoMaat for T {
    fn into_maat(self) -> HostValue {
        let value: Box<dyn Any + Send> = Box::new(self);
        HostValue::User(PendingUser {
            value: Arc::new(Mutex::new(Some(value))),
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
        })
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

/// The methods and fields of a type being registered, whose methods may
/// take `&mut T` ([`Runtime::register_type`](super::Runtime::register_type)).
///
/// ```
/// use maat_vm::embed::{Runtime, UserData};
///
/// #[derive(Default)]
/// struct Account { balance: f64, owner: String }
/// impl UserData for Account {}
///
/// let mut rt = Runtime::new(maat_gc::Config::default());
/// rt.register_type::<Account>("Account", |t| {
///     t.method("deposit", |a, (x,): (f64,)| {
///         if x <= 0.0 { return Err(format!("cannot deposit {x}")); }
///         a.balance += x;
///         Ok(a.balance)
///     });
///     t.method_ref("describe", |a, ()| Ok::<_, String>(format!("{}: {}", a.owner, a.balance)));
///     t.field("balance", |a| a.balance);
///     t.field_mut("owner", |a| a.owner.clone(), |a, o: String| a.owner = o);
/// });
/// rt.set_global("acct", Account::default()).unwrap();
/// let out = rt.eval("acct.owner = \"ann\"\nacct.deposit(5)\ntry { acct.deposit(-1) } catch e { say e }\nsay acct.describe()").unwrap();
/// assert_eq!(out, "Account.deposit: cannot deposit -1\nann: 5\n");
/// ```
pub struct TypeBuilder<T> {
    ty: UserType,
    _type: PhantomData<fn(T)>,
}

/// The methods and fields of a `Sync` type being registered: they take
/// `&T` only, and run without locks
/// ([`Runtime::register_sync_type`](super::Runtime::register_sync_type)).
pub struct SyncTypeBuilder<T>(TypeBuilder<T>);

fn downcast_mut<T: 'static>(v: &mut dyn Any) -> &mut T {
    v.downcast_mut().expect("a user object of a registered type holds a value of that type")
}

fn downcast_ref<T: 'static>(v: &dyn Any) -> &T {
    v.downcast_ref().expect("a user object of a registered type holds a value of that type")
}

/// The message of a failed conversion of a method's arguments.
fn arguments(e: Error) -> String {
    match e {
        Error::Conversion { expected, actual } => format!("expected {expected}, got {actual}"),
        e => e.to_string(),
    }
}

impl<T: UserData> TypeBuilder<T> {
    pub(crate) fn new(name: &str, lock_free: bool) -> Self {
        let (methods, setters, value_fields) = (HashMap::new(), HashMap::new(), HashMap::new());
        let ty = UserType { name: name.to_owned(), lock_free, methods, setters, value_fields };
        TypeBuilder { ty, _type: PhantomData }
    }

    pub(crate) fn build(self) -> UserType {
        self.ty
    }

    /// A method taking `&mut T` and typed arguments: `obj.name(args)`.
    pub fn method<A, R, E>(
        &mut self,
        name: &str,
        f: impl Fn(&mut T, A) -> Result<R, E> + Send + Sync + 'static,
    ) -> &mut Self
    where
        A: FromArgs,
        R: IntoMaat,
        E: std::fmt::Display,
    {
        let m = move |v: &mut dyn Any, args: &[HostValue]| {
            let args = A::from_args(args).map_err(arguments)?;
            f(downcast_mut::<T>(v), args).map(IntoMaat::into_maat).map_err(|e| e.to_string())
        };
        self.ty.methods.insert(name.to_owned(), Method::Mut(Arc::new(m)));
        self
    }

    /// A method taking `&T` (a frozen object still runs it).
    pub fn method_ref<A, R, E>(
        &mut self,
        name: &str,
        f: impl Fn(&T, A) -> Result<R, E> + Send + Sync + 'static,
    ) -> &mut Self
    where
        A: FromArgs,
        R: IntoMaat,
        E: std::fmt::Display,
    {
        let m = move |v: &dyn Any, args: &[HostValue]| {
            let args = A::from_args(args).map_err(arguments)?;
            f(downcast_ref::<T>(v), args).map(IntoMaat::into_maat).map_err(|e| e.to_string())
        };
        self.ty.methods.insert(name.to_owned(), Method::Ref(Arc::new(m)));
        self
    }

    /// A read-only field: `obj.name`.
    pub fn field<R: IntoMaat>(&mut self, name: &str, get: impl Fn(&T) -> R + Send + Sync + 'static) -> &mut Self {
        self.method_ref(name, move |t: &T, (): ()| Ok::<_, String>(get(t)))
    }

    /// A field holding any Maat value (`nil` at first), read and set from
    /// Maat like an instance's field: the object holds the value itself, by
    /// reference, traced by the collector (a cycle through it is
    /// collected), not copied. The host reads it with
    /// [`Runtime::user_field`](super::Runtime::user_field).
    ///
    /// ```
    /// use maat_vm::embed::{Function, Runtime, UserData};
    ///
    /// struct Button { clicks: u32 }
    /// impl UserData for Button {}
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// rt.register_type::<Button>("Button", |t| {
    ///     t.value_field("on_click");
    ///     t.method("press", |b, ()| { b.clicks += 1; Ok::<_, String>(b.clicks) });
    /// });
    /// let ok = rt.wrap(Button { clicks: 0 }).unwrap();
    /// rt.set_global("ok", &ok).unwrap();
    /// rt.eval("our log = []\nok.on_click = { |n| log.push(n) }").unwrap();
    /// let on_click: Function = rt.user_field(&ok, "on_click").unwrap();
    /// let n: u32 = rt.value("ok.press()").unwrap();
    /// let log: Vec<u32> = on_click.call(&mut rt, (n,)).unwrap(); // push returns the array
    /// assert_eq!(log, [1]);
    /// ```
    pub fn value_field(&mut self, name: &str) -> &mut Self {
        let slot = self.ty.value_fields.len();
        self.ty.value_fields.entry(name.to_owned()).or_insert(slot);
        self
    }

    /// A field that Maat may also set: `obj.name = value` (a value that
    /// does not convert to `V` is an error naming both types).
    pub fn field_mut<V, R>(
        &mut self,
        name: &str,
        get: impl Fn(&T) -> R + Send + Sync + 'static,
        set: impl Fn(&mut T, V) + Send + Sync + 'static,
    ) -> &mut Self
    where
        V: FromMaat,
        R: IntoMaat,
    {
        let setter = move |v: &mut dyn Any, value: HostValue| {
            set(downcast_mut::<T>(v), V::from_maat(value).map_err(arguments)?);
            Ok(())
        };
        self.ty.setters.insert(name.to_owned(), Arc::new(setter));
        self.field(name, get)
    }
}

impl<T: UserData + Sync> SyncTypeBuilder<T> {
    pub(crate) fn new(name: &str) -> Self {
        SyncTypeBuilder(TypeBuilder::new(name, true))
    }

    pub(crate) fn build(self) -> UserType {
        self.0.build()
    }

    /// A method taking `&T`: `obj.name(args)`. It may run on several
    /// threads at once (the type is `Sync`).
    pub fn method<A, R, E>(
        &mut self,
        name: &str,
        f: impl Fn(&T, A) -> Result<R, E> + Send + Sync + 'static,
    ) -> &mut Self
    where
        A: FromArgs,
        R: IntoMaat,
        E: std::fmt::Display,
    {
        self.0.method_ref(name, f);
        self
    }

    /// A read-only field: `obj.name`.
    pub fn field<R: IntoMaat>(&mut self, name: &str, get: impl Fn(&T) -> R + Send + Sync + 'static) -> &mut Self {
        self.0.field(name, get);
        self
    }

    /// A field holding any Maat value ([`TypeBuilder::value_field`]).
    pub fn value_field(&mut self, name: &str) -> &mut Self {
        self.0.value_field(name);
        self
    }
}

//! Rust types as Maat objects: an embedder registers a type with its
//! methods and fields ([`Runtime::register_type`](super::Runtime::register_type)),
//! passes values of it to Maat (they convert with [`IntoMaat`] once the
//! type implements [`UserData`]), and Maat calls `counter.add(2)`, reads
//! `p.x` and sets `p.x = 3` on them. See [`crate::object::user`] for the
//! locking rule.

use std::any::Any;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use super::{Error, FromArgs, FromMaat, HostValue, IntoMaat};
use crate::host::{Method, PendingUser, UserData, UserType};

impl<T: UserData> IntoMaat for T {
    fn into_maat(self) -> HostValue {
        HostValue::User(PendingUser::new(self))
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

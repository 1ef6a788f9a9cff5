//! User data: a value of an embedder's Rust type living in the heap, whose
//! methods and fields the embedder registered
//! ([`crate::embed::Runtime::register_type`]).
//!
//! The value follows the elision rule of [`crate::object`] like an
//! instance's fields: its methods run without a lock while the object is
//! unshared or the runtime single-threaded, and under the object's lock
//! otherwise. A type registered as `Sync`
//! ([`crate::embed::Runtime::register_sync_type`]) has only methods that
//! take `&T`, and runs them without any lock. A frozen user object refuses
//! methods that take `&mut T`.
//!
//! Besides the Rust value, it holds the Maat values of its type's value
//! fields ([`crate::embed::TypeBuilder::value_field`]): traced by the
//! collector like an instance's fields (a cycle through them is collected),
//! stored with the same barriers and sharing rule, and accessed under the
//! same elision rule, for every type (a `Sync` type's methods take no lock,
//! its value fields do when the rule says so).

use core::any::Any;
use core::cell::UnsafeCell;

use maat_gc::{Gc, GcAny, Trace, Tracer};
use maat_sync::AdaptiveLock;

use super::{Ctx, ObjError, kind};
use crate::value::Value;

/// A Rust value in the heap.
pub struct UserObject {
    /// The registered type's number.
    pub type_index: u32,
    /// Whether the type is `Sync` and its methods take `&T` only: no lock.
    lock_free: bool,
    lock: AdaptiveLock,
    value: UnsafeCell<Box<dyn Any + Send>>,
    /// The value fields, as the raw bits of values this object keeps alive
    /// (traced below).
    fields: UnsafeCell<Box<[u64]>>,
}

// SAFETY: `&mut` access to the value happens under the elision rule (one
// maatine at a time: the lock when shared in multi-threaded mode); shared
// access without a lock only for types registered `Sync` (`lock_free`),
// whose methods take `&T`.
unsafe impl Sync for UserObject {}

// SAFETY: traces every value field, holding the lock when the tracer is
// concurrent (as for `Inst`).
unsafe impl Trace for UserObject {
    fn trace(&self, t: &mut Tracer) {
        let _guard = self.lock.lock_if(t.is_concurrent());
        // SAFETY: no writer runs meanwhile (the lock, or the owner tracing).
        for &bits in unsafe { &*self.fields.get() }.iter() {
            // SAFETY: the bits are a value this object keeps alive, by this trace.
            unsafe { Value::from_raw_bits(bits) }.trace(t);
        }
    }

    fn heap_size(&self) -> usize {
        // SAFETY: as in `trace`; the fields never grow.
        unsafe { &*self.fields.get() }.len() * size_of::<u64>()
    }

    fn exclude_writers(&self, f: &mut dyn FnMut()) {
        let _guard = self.lock.lock();
        f();
    }
}

impl UserObject {
    /// Allocates a user object of registered type `type_index`, with
    /// `fields` value fields (nil).
    pub fn alloc<'gc>(
        ctx: &Ctx<'_, 'gc>,
        (type_index, lock_free, fields): (u32, bool, usize),
        value: Box<dyn Any + Send>,
    ) -> Gc<'gc, UserObject> {
        let fields = UnsafeCell::new(vec![Value::nil().to_bits(); fields].into_boxed_slice());
        let lock = AdaptiveLock::new();
        ctx.mc.alloc_kind(UserObject { type_index, lock_free, lock, value: UnsafeCell::new(value), fields }, kind::USER)
    }

    /// Value field `i`.
    pub fn field<'gc>(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, i: usize) -> Value<'gc> {
        let user = Gc::get(this);
        let _guard = ctx.guard(GcAny::from(this), &user.lock);
        // SAFETY: no writer runs concurrently under the elision rule; the
        // bits are a value this object keeps alive.
        unsafe { Value::from_raw_bits((&*user.fields.get())[i]) }
    }

    /// Sets value field `i` (as `Inst::store` does: refused when frozen, the
    /// value shared if the object is, the barriers of both values).
    pub fn set_field<'gc>(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        i: usize,
        value: Value<'gc>,
    ) -> Result<(), ObjError> {
        let obj = GcAny::from(this);
        let sharing = ctx.before_store(obj, "user object", &[value])?;
        ctx.store_barrier(obj, value);
        let user = Gc::get(this);
        let guard = ctx.store_guard(obj, sharing, &user.lock, "user object")?;
        // SAFETY: exclusive under the elision rule; not frozen (checked).
        let old = core::mem::replace(&mut unsafe { &mut *user.fields.get() }[i], value.to_bits());
        drop(guard);
        // SAFETY: the old bits were a value this object kept alive until now.
        if let Some(old) = unsafe { Value::from_raw_bits(old) }.as_object() {
            ctx.mc.deletion_barrier(obj, old);
        }
        Ok(())
    }

    /// Runs `f` on the value, exclusively (refused if the object is frozen).
    pub fn with_mut<'gc, R>(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        f: impl FnOnce(&mut (dyn Any + Send)) -> R,
    ) -> Result<R, ObjError> {
        let obj = GcAny::from(this);
        let user = Gc::get(this);
        if user.lock_free {
            // A lock-free type hands out `&T` to many threads at once, so
            // never `&mut T` (its registration offers no such method).
            return Err(ObjError::Frozen("Sync user object (its methods take &self)"));
        }
        let sharing = ctx.before_store(obj, "user object", &[])?;
        let _guard = ctx.store_guard(obj, sharing, &user.lock, "user object")?;
        // SAFETY: exclusive under the elision rule (see the Sync impl).
        Ok(f(unsafe { &mut **user.value.get() }))
    }

    /// Runs `f` on the value, shared: without a lock for a lock-free type,
    /// under the elision rule otherwise.
    pub fn with_ref<'gc, R>(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, f: impl FnOnce(&(dyn Any + Send)) -> R) -> R {
        let user = Gc::get(this);
        let _guard = (!user.lock_free).then(|| ctx.guard(GcAny::from(this), &user.lock));
        // SAFETY: a lock-free type's value is only ever borrowed shared (its
        // type is Sync); any other is read under the elision rule.
        f(unsafe { &**user.value.get() })
    }
}

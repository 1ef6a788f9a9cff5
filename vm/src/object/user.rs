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
//! It holds no Maat values the collector could see (a Rust value keeps
//! Maat objects through [`crate::embed::Handle`]s, which are roots).

use core::any::Any;
use core::cell::UnsafeCell;

use maat_gc::{Gc, GcAny, Trace, Tracer};
use maat_sync::AdaptiveLock;

use super::{Ctx, ObjError, kind};

/// A Rust value in the heap.
pub struct UserObject {
    /// The registered type's number.
    pub type_index: u32,
    /// Whether the type is `Sync` and its methods take `&T` only: no lock.
    lock_free: bool,
    lock: AdaptiveLock,
    value: UnsafeCell<Box<dyn Any + Send>>,
}

// SAFETY: `&mut` access to the value happens under the elision rule (one
// maatine at a time: the lock when shared in multi-threaded mode); shared
// access without a lock only for types registered `Sync` (`lock_free`),
// whose methods take `&T`.
unsafe impl Sync for UserObject {}

// SAFETY: it holds no GC references.
unsafe impl Trace for UserObject {
    fn trace(&self, _: &mut Tracer) {}

    fn exclude_writers(&self, f: &mut dyn FnMut()) {
        let _guard = self.lock.lock();
        f();
    }
}

impl UserObject {
    /// Allocates a user object of registered type `type_index`.
    pub fn alloc<'gc>(
        ctx: &Ctx<'_, 'gc>,
        type_index: u32,
        lock_free: bool,
        value: Box<dyn Any + Send>,
    ) -> Gc<'gc, UserObject> {
        let object = UserObject { type_index, lock_free, lock: AdaptiveLock::new(), value: UnsafeCell::new(value) };
        ctx.mc.alloc_kind(object, kind::USER)
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

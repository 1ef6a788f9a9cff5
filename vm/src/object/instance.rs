//! Class and instance objects. A class is immutable (its description lives
//! in the compiled program); an instance's fields follow the elision rule of
//! [`crate::object`].

use core::cell::UnsafeCell;
use core::marker::PhantomData;

use maat_gc::{Gc, GcAny, Head, Tailed, Trace, Tracer};
use maat_sync::{AdaptiveLock, Sharing};

use super::{Ctx, ObjError, kind};
use crate::value::Value;

/// A class value: which of the program's classes.
#[derive(Trace)]
pub struct Class {
    /// Index into the program's classes.
    pub index: u32,
}

impl Class {
    /// Allocates a class value.
    pub fn alloc<'gc>(ctx: &Ctx<'_, 'gc>, index: u32) -> Gc<'gc, Class> {
        ctx.mc.alloc_kind(Class { index }, kind::CLASS)
    }
}

/// An instance: its class and its fields in declaration order, in one box
/// (a [`Tailed`] object: the head, then the fields), so that making one is
/// one allocation and a field is one load away from its object.
#[repr(transparent)]
pub struct Inst<'gc>(Tailed<InstHead<'gc>>);

/// An instance's head: its class and the lock of its fields.
pub struct InstHead<'gc> {
    class: u32,
    lock: AdaptiveLock,
    _fields: PhantomData<Value<'gc>>,
}

/// A field, read and written under the elision rule.
pub struct Field<'gc>(UnsafeCell<Value<'gc>>);

// SAFETY: as for `Array`: the fields are accessed under the elision rule.
unsafe impl Sync for Inst<'_> {}
// SAFETY: as above; an unshared instance moves only with its whole heap.
unsafe impl Send for Inst<'_> {}

// SAFETY: traces every field, holding the lock when the tracer is
// concurrent (as for `Array`); the head holds no reference and has no
// `Drop`.
unsafe impl<'gc> Head for InstHead<'gc> {
    type Item = Field<'gc>;

    fn trace(&self, fields: &[Field<'gc>], t: &mut Tracer) {
        let _guard = self.lock.lock_if(t.is_concurrent());
        for field in fields {
            // SAFETY: as above.
            unsafe { *field.0.get() }.trace(t);
        }
    }

    fn exclude_writers(&self, f: &mut dyn FnMut()) {
        let _guard = self.lock.lock();
        f();
    }
}

impl<'gc> Inst<'gc> {
    /// Allocates an instance of class `class` with `len` fields, field `i`
    /// holding `field(i)`.
    pub fn alloc(
        ctx: &Ctx<'_, 'gc>,
        class: u32,
        len: usize,
        mut field: impl FnMut(usize) -> Value<'gc>,
    ) -> Gc<'gc, Inst<'gc>> {
        let head = InstHead { class, lock: AdaptiveLock::new(), _fields: PhantomData };
        let tailed = ctx.mc.alloc_tailed(head, len, |i| Field(UnsafeCell::new(field(i))), kind::INST);
        // SAFETY: `Inst` is a transparent wrapper of `Tailed<InstHead>`, the
        // object's type.
        unsafe { GcAny::from(tailed).downcast() }
    }

    /// Its class: an index into the program's classes.
    #[inline(always)]
    pub fn class(&self) -> u32 {
        self.0.head().class
    }

    /// Field `i`.
    #[inline(always)]
    pub fn get(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, i: usize) -> Value<'gc> {
        Self::load(this, ctx, GcAny::from(this).sharing(), i)
    }

    /// Field `i`, under the elision rule decided on `sharing`, the
    /// instance's sharing state as the caller read it.
    #[inline(always)]
    pub fn load(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, sharing: Sharing, i: usize) -> Value<'gc> {
        let inst = &Gc::get(this).0;
        let _guard = ctx.guard_as(GcAny::from(this), sharing, &inst.head().lock);
        // SAFETY: no writer runs concurrently under the elision rule.
        unsafe { *inst.items()[i].0.get() }
    }

    /// Sets field `i`.
    pub fn set(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, i: usize, value: Value<'gc>) -> Result<(), ObjError> {
        if Self::store(this, ctx, GcAny::from(this).sharing(), i, value) {
            Ok(())
        } else {
            Err(ObjError::Frozen("instance"))
        }
    }

    /// Sets field `i` unless the instance is frozen: whether it did (the
    /// fast part of [`Inst::set`], for the interpreter's fast loop), on
    /// `sharing`, the instance's sharing state as the caller read it.
    #[inline(always)]
    pub fn store(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, sharing: Sharing, i: usize, value: Value<'gc>) -> bool {
        let obj = GcAny::from(this);
        let Ok(sharing) = ctx.before_store_as(sharing, "instance", &[value]) else { return false };
        ctx.store_barrier(obj, value);
        let inst = &Gc::get(this).0;
        let Ok(guard) = ctx.store_guard(obj, sharing, &inst.head().lock, "instance") else { return false };
        // SAFETY: exclusive under the elision rule; not frozen (checked).
        let old = core::mem::replace(unsafe { &mut *inst.items()[i].0.get() }, value);
        drop(guard);
        // (An unshared instance is not global: no deletion barrier.)
        if let Some(old) = old.as_object().filter(|_| sharing != Sharing::Unshared) {
            ctx.mc.deletion_barrier(obj, old);
        }
        true
    }
}

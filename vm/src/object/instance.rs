//! Class and instance objects. A class is immutable (its description lives
//! in the compiled program); an instance's fields follow the elision rule of
//! [`crate::object`].

use core::cell::UnsafeCell;

use maat_gc::{Gc, GcAny, Trace, Tracer};
use maat_sync::AdaptiveLock;

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

/// An instance: its class and its fields in declaration order.
pub struct Inst<'gc> {
    /// Index into the program's classes.
    pub class: u32,
    lock: AdaptiveLock,
    fields: UnsafeCell<Vec<Value<'gc>>>,
}

// SAFETY: as for `Array`: the fields are accessed under the elision rule.
unsafe impl Sync for Inst<'_> {}
// SAFETY: as above; an unshared instance moves only with its whole heap.
unsafe impl Send for Inst<'_> {}

// SAFETY: traces every field, holding the lock when the tracer is
// concurrent (as for `Array`).
unsafe impl Trace for Inst<'_> {
    fn trace(&self, t: &mut Tracer) {
        let _guard = self.lock.lock_if(t.is_concurrent());
        // SAFETY: as above.
        unsafe { &*self.fields.get() }.trace(t);
    }

    fn heap_size(&self) -> usize {
        // SAFETY: as in `trace`; the fields never grow.
        unsafe { &*self.fields.get() }.heap_size()
    }
    fn exclude_writers(&self, f: &mut dyn FnMut()) {
        let _guard = self.lock.lock();
        f();
    }
}

impl<'gc> Inst<'gc> {
    /// Allocates an instance of class `class` with `fields`.
    pub fn alloc(ctx: &Ctx<'_, 'gc>, class: u32, fields: Vec<Value<'gc>>) -> Gc<'gc, Inst<'gc>> {
        ctx.mc.alloc_kind(Inst { class, lock: AdaptiveLock::new(), fields: UnsafeCell::new(fields) }, kind::INST)
    }

    /// Field `i`.
    #[inline(always)]
    pub fn get(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, i: usize) -> Value<'gc> {
        let inst = Gc::get(this);
        let _guard = ctx.guard(GcAny::from(this), &inst.lock);
        // SAFETY: no writer runs concurrently under the elision rule.
        let fields = unsafe { &*inst.fields.get() };
        fields[i]
    }

    /// Sets field `i`.
    pub fn set(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, i: usize, value: Value<'gc>) -> Result<(), ObjError> {
        if Self::store(this, ctx, i, value) { Ok(()) } else { Err(ObjError::Frozen("instance")) }
    }

    /// Sets field `i` unless the instance is frozen: whether it did (the
    /// fast part of [`Inst::set`], for the interpreter's fast loop).
    #[inline(always)]
    pub fn store(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, i: usize, value: Value<'gc>) -> bool {
        let obj = GcAny::from(this);
        let Ok(sharing) = ctx.before_store(obj, "instance", &[value]) else { return false };
        if let Some(v) = value.as_object() {
            ctx.mc.forward_barrier(obj, v);
        }
        let inst = Gc::get(this);
        let Ok(guard) = ctx.store_guard(obj, sharing, &inst.lock, "instance") else { return false };
        // SAFETY: exclusive under the elision rule; not frozen (checked).
        let fields = unsafe { &mut *inst.fields.get() };
        let old = core::mem::replace(&mut fields[i], value);
        drop(guard);
        if let Some(old) = old.as_object() {
            ctx.mc.deletion_barrier(obj, old);
        }
        true
    }
}

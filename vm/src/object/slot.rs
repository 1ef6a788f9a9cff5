//! Variable slots: the cells of global (`our`) variables and of upvalues
//! that outlive their frame.
//!
//! A slot holds one 8-byte value in an atomic, so reading it never locks:
//! a read sees the value before or after any write, never a torn one. A
//! write to a shared slot, and a read-modify-write section
//! (`x = x + f()`, `x += e`), take the slot's [`VarLock`] so that no update
//! is lost: a section's read and write happen with no other write of the
//! slot in between, whichever maatine or OS thread does it. The lock is
//! held by a maatine (re-entrant for it) and waited for through a
//! [`Parker`]: a maatine scheduler suspends the maatine instead of its OS
//! thread. An unshared slot (reachable from its owner only) skips the lock.

use core::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use maat_gc::{Gc, GcAny, Trace, Tracer};
use maat_sync::{Deadlock, LockRequest, LockStatus, NotHolder, Parker, VarLock, VarLockTable};

use super::{Ctx, kind};
use crate::value::Value;

/// A variable's cell.
pub struct Slot<'gc> {
    lock: VarLock,
    bits: AtomicU64,
    _value: PhantomData<Value<'gc>>,
}

// SAFETY: traces the value. A collection never runs concurrently with a
// write (see `crate::object`), and the value is an 8-byte atomic anyway.
unsafe impl Trace for Slot<'_> {
    fn trace(&self, t: &mut Tracer) {
        Self::value_of(self.bits.load(Ordering::Acquire)).trace(t);
    }
}

impl<'gc> Slot<'gc> {
    /// Allocates a slot holding `value`.
    pub fn alloc(ctx: &Ctx<'_, 'gc>, value: Value<'gc>) -> Gc<'gc, Slot<'gc>> {
        let slot = Slot { lock: VarLock::new(), bits: AtomicU64::new(value.to_bits()), _value: PhantomData };
        ctx.mc.alloc_kind(slot, kind::SLOT)
    }

    fn value_of(bits: u64) -> Value<'gc> {
        // SAFETY: the bits were stored from a value whose object this slot
        // keeps alive (it is traced through the slot).
        unsafe { Value::from_raw_bits(bits) }
    }

    /// The maatine holding the variable's lock, if any.
    pub fn holder(this: Gc<'gc, Self>) -> Option<maat_sync::MaatineId> {
        Gc::get(this).lock.holder()
    }

    /// The value (one atomic read; never locks).
    pub fn read(this: Gc<'gc, Self>) -> Value<'gc> {
        // Acquire: see the object a writer published (and its sharing marks).
        Self::value_of(Gc::get(this).bits.load(Ordering::Acquire))
    }

    /// Whether operations on this slot must take its lock.
    fn locked(this: Gc<'gc, Self>) -> bool {
        Gc::is_shared(this)
    }

    /// Stores `value`, as one-operation section on a shared slot (waiting,
    /// through `parker`, for another maatine's section to end). Returns
    /// `Suspended` when the caller must retry after its waker runs.
    pub fn write<P: Parker>(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        table: &VarLockTable,
        request: &mut LockRequest,
        parker: &P,
        value: Value<'gc>,
    ) -> Result<LockStatus, Deadlock> {
        if Self::locked(this) {
            if Self::begin(this, ctx, table, request, parker)? == LockStatus::Suspended {
                return Ok(LockStatus::Suspended);
            }
            Self::store(this, ctx, value);
            Self::end(this, ctx, table, request.maatine()).expect("held since `begin` returned");
        } else {
            Self::store(this, ctx, value);
        }
        Ok(LockStatus::Acquired)
    }

    /// Stores `value` inside a section (or into an unshared slot).
    pub fn store(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, value: Value<'gc>) {
        let slot = GcAny::from(this);
        if let Some(v) = value.as_object() {
            if Gc::is_shared(this) {
                ctx.mc.share(v);
            }
            ctx.mc.forward_barrier(slot, v);
        }
        // Writes to a shared slot are serialized by its lock (and an unshared
        // slot has one writer), so no write comes between this load and the
        // store. Acquire: the old object may have been published by another
        // maatine. Release: publishes the value's object and its marks.
        let bits = &Gc::get(this).bits;
        let old = Self::value_of(bits.load(Ordering::Acquire));
        bits.store(value.to_bits(), Ordering::Release);
        if let Some(old) = old.as_object() {
            ctx.mc.deletion_barrier(slot, old);
        }
    }

    /// Begins a read-modify-write section (`RMW_BEGIN`): no other maatine
    /// writes the slot until [`Slot::end`]. Nothing to do on an unshared
    /// slot. A deadlock among sections is reported instead of waited for.
    pub fn begin<P: Parker>(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        table: &VarLockTable,
        request: &mut LockRequest,
        parker: &P,
    ) -> Result<LockStatus, Deadlock> {
        if !Self::locked(this) {
            return Ok(LockStatus::Acquired);
        }
        Gc::get(this).lock.lock(table, ctx.mode, request, parker)
    }

    /// Begins a section only if that needs no waiting (the slot is
    /// unshared, free, or already held by `me`); `false` otherwise, and
    /// nothing changed.
    pub fn try_begin(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, me: maat_sync::MaatineId) -> bool {
        !Self::locked(this) || Gc::get(this).lock.try_lock(ctx.mode, me)
    }

    /// Ends a section (`RMW_END`).
    pub fn end(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        table: &VarLockTable,
        me: maat_sync::MaatineId,
    ) -> Result<(), NotHolder> {
        if !Self::locked(this) {
            return Ok(());
        }
        Gc::get(this).lock.unlock(table, ctx.mode, me)
    }
}

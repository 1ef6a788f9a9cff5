//! Variable slots: the cells of global (`our`) variables and of upvalues
//! that outlive their frame.
//!
//! A slot is a [`VarCell`]: one 8-byte value in an atomic, so reading it
//! never locks (a read sees the value before or after any write, never a
//! torn one), and the variable's [`VarLock`](maat_sync::VarLock). A write to
//! a shared slot and a read-modify-write section (`x = x + f()`) take the
//! lock, so that no update is lost; a read-modify-write whose new value is a
//! number computed from the old number alone (`x += 1`, `x = x * k`) is one
//! compare-and-swap instead ([`Slot::update`]), which the cell orders against
//! the sections. The lock is held by a maatine (re-entrant for it) and waited
//! for through a [`Parker`]: a maatine scheduler suspends the maatine
//! instead of its OS thread. An unshared slot (reachable from its owner
//! only) uses the same protocol with plain loads and stores.
//!
//! The GC barriers are this module's: the cell moves bits, the slot shares
//! and marks what they refer to. A lock-free update never stores or
//! overwrites an object, so it needs no barrier.

use core::marker::PhantomData;

use maat_gc::{Gc, GcAny, Trace, Tracer};
use maat_sync::{
    Deadlock, LockRequest, LockStatus, MaatineId, NotHolder, Parker, Sharing, Update, VarCell, VarLockTable,
};

use super::{Ctx, kind};
use crate::value::Value;

/// A variable's cell.
pub struct Slot<'gc> {
    cell: VarCell,
    _value: PhantomData<Value<'gc>>,
}

// SAFETY: traces the value. A collection never runs concurrently with a
// write (see `crate::object`), and the value is read atomically anyway.
unsafe impl Trace for Slot<'_> {
    fn trace(&self, t: &mut Tracer) {
        Self::value_of(self.cell.load()).trace(t);
    }
}

impl<'gc> Slot<'gc> {
    /// Allocates a slot holding `value`.
    pub fn alloc(ctx: &Ctx<'_, 'gc>, value: Value<'gc>) -> Gc<'gc, Slot<'gc>> {
        let slot = Slot { cell: VarCell::new(value.to_bits()), _value: PhantomData };
        ctx.mc.alloc_kind(slot, kind::SLOT)
    }

    fn value_of(bits: u64) -> Value<'gc> {
        // SAFETY: the bits were stored from a value whose object this slot
        // keeps alive (it is traced through the slot).
        unsafe { Value::from_raw_bits(bits) }
    }

    /// Whether other maatines may reach the slot: it is shared, or frozen
    /// (a slot reachable from a frozen closure or value stays a variable:
    /// freezing what holds it does not make it a constant, and maatines that
    /// reach it through the frozen graph synchronize on it as on a shared
    /// one).
    #[inline(always)]
    fn global(this: Gc<'gc, Self>) -> bool {
        GcAny::from(this).sharing() != Sharing::Unshared
    }

    /// The maatine holding the variable's lock, if any.
    pub fn holder(this: Gc<'gc, Self>) -> Option<MaatineId> {
        Gc::get(this).cell.holder()
    }

    /// The value (never locks).
    #[inline]
    pub fn read(this: Gc<'gc, Self>) -> Value<'gc> {
        Self::value_of(Gc::get(this).cell.load())
    }

    /// Stores `value`, as a one-operation section on a shared slot
    /// (waiting, through `parker`, for another maatine's section to end).
    /// Returns `Suspended` when the caller must retry after its waker runs.
    pub fn write<P: Parker>(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        table: &VarLockTable,
        request: &mut LockRequest,
        parker: &P,
        value: Value<'gc>,
    ) -> Result<LockStatus, Deadlock> {
        if Self::begin(this, ctx, table, request, parker)? == LockStatus::Suspended {
            return Ok(LockStatus::Suspended);
        }
        let me = request.maatine();
        Self::store(this, ctx, me, value).expect("held since `begin` returned");
        Self::end(this, ctx, table, me).expect("held since `begin` returned");
        Ok(LockStatus::Acquired)
    }

    /// Stores `value` inside `me`'s section (or into an unshared slot).
    pub fn store(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, me: MaatineId, value: Value<'gc>) -> Result<(), NotHolder> {
        let shared = Self::global(this);
        store_barriered((this.into(), shared), ctx, value, |bits| Gc::get(this).cell.replace(me, bits, shared))
    }

    /// `x = f(x)` as one atomic step without the lock, where `f` takes a
    /// number and gives one (`None`: not this way; so is a slot that holds
    /// no number, or that another maatine's section holds). Returns how many
    /// other updates came in between and made it try again, or `None` when
    /// not done.
    #[inline(always)]
    pub fn update(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        me: MaatineId,
        f: impl Fn(f64) -> Option<f64>,
    ) -> Option<u32> {
        // Numbers in and out: nothing for the barriers to do.
        let numbers = |bits: u64| Some(Value::num(f(Self::value_of(bits).as_num()?)?).to_bits());
        match Gc::get(this).cell.update(ctx.mode, me, Self::global(this), numbers) {
            Update::Done { retries } => Some(retries),
            Update::Refused => None,
        }
    }

    /// Begins a read-modify-write section (`RMW_BEGIN`): no other maatine
    /// writes the slot until [`Slot::end`]. A deadlock among sections is
    /// reported instead of waited for.
    pub fn begin<P: Parker>(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        table: &VarLockTable,
        request: &mut LockRequest,
        parker: &P,
    ) -> Result<LockStatus, Deadlock> {
        Gc::get(this).cell.begin(table, ctx.mode, request, parker, Self::global(this))
    }

    /// Begins a section only if that needs no waiting (the slot is
    /// unshared, free, or already held by `me`); `false` otherwise, and
    /// nothing changed.
    #[inline]
    pub fn try_begin(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, me: MaatineId) -> bool {
        Gc::get(this).cell.try_begin(ctx.mode, me, Self::global(this))
    }

    /// Gives up `me`'s waiting request for the slot's lock: `me` was
    /// stopped while it waited and will never retry.
    pub fn abandon(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, table: &VarLockTable, me: MaatineId) {
        Gc::get(this).cell.abandon(table, ctx.mode, me);
    }

    /// Ends a section (`RMW_END`).
    pub fn end(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, table: &VarLockTable, me: MaatineId) -> Result<(), NotHolder> {
        Gc::get(this).cell.end(table, ctx.mode, me, Self::global(this))
    }
}

/// Stores `value` into a cell of `holder`'s with `write` (which returns the
/// bits it replaced, or refuses), and the barriers of every store of a value
/// into an object: what the value refers to is shared when `holder` is
/// global (shared or frozen: `global`, as the caller read it once for both
/// its write and this), shaded for a marking under way, and the value
/// replaced is shaded for a shared marking (the deletion barrier).
pub(crate) fn store_barriered<'gc>(
    (holder, global): (GcAny<'gc>, bool),
    ctx: &Ctx<'_, 'gc>,
    value: Value<'gc>,
    write: impl FnOnce(u64) -> Result<u64, NotHolder>,
) -> Result<(), NotHolder> {
    if let Some(v) = value.as_object() {
        if global {
            ctx.mc.share(v);
        }
        ctx.mc.forward_barrier(holder, v);
    }
    // SAFETY: the bits were stored from a value whose object the holder
    // kept alive until now; the deletion barrier below keeps it for a
    // marking under way, and registers hold it otherwise.
    let old = unsafe { Value::from_raw_bits(write(value.to_bits())?) };
    if let Some(old) = old.as_object() {
        ctx.mc.deletion_barrier(holder, old);
    }
    Ok(())
}

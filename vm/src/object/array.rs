//! Array: a growable sequence of values, synchronized by the elision rule of
//! [`crate::object`].

use core::cell::UnsafeCell;

use maat_gc::{Gc, GcAny, Trace, Tracer};
use maat_sync::{AdaptiveLock, Sharing};
use smallvec::SmallVec;

use super::{Ctx, ObjError, kind};
use crate::value::Value;

/// A Maat array.
pub struct Array<'gc> {
    lock: AdaptiveLock,
    items: UnsafeCell<Items<'gc>>,
}

/// An array's items: up to two inline (a pair, a tree node or a short list
/// costs one allocation, the object itself), more in a heap buffer.
type Items<'gc> = SmallVec<[Value<'gc>; 2]>;

/// Bytes of the items' heap buffer (none while they are inline).
fn buffer_bytes(items: &Items<'_>) -> usize {
    if items.spilled() { items.capacity() * size_of::<Value<'_>>() } else { 0 }
}

// SAFETY: the items are accessed only by operations that hold the lock when
// the array is shared in multi-threaded mode, and otherwise by one thread at
// a time (see `crate::object`); frozen arrays are never written.
unsafe impl Sync for Array<'_> {}
// SAFETY: as above; an unshared array moves only with its whole heap.
unsafe impl Send for Array<'_> {}

// SAFETY: traces every item. A concurrent tracer (a shared marking at
// another maatine's safe point) reads the items under the lock, which every
// operation on a shared array takes in multi-threaded mode; otherwise no
// operation runs meanwhile (see `crate::object`). In parts, it copies a
// part's items out under the lock and marks them after releasing it: what
// it marks is what the part held at that moment, as if it had marked them
// then (a store made since shaded the value it replaced, and marks the one
// it stored: the shared marking's barriers), and the objects stay live
// (nothing global is freed while a shared marking runs).
unsafe impl Trace for Array<'_> {
    fn trace(&self, t: &mut Tracer) {
        let _guard = self.lock.lock_if(t.is_concurrent());
        // SAFETY: as above.
        unsafe { &*self.items.get() }.as_slice().trace(t);
    }

    /// A concurrent tracer holds the lock only to copy the part out (about
    /// a microsecond), not while it marks (50–200 µs for 512 texts, whose
    /// headers are cold): the maatine that owns the array waited up to 4
    /// ms for the shared marking in the GC-latency program.
    fn trace_part(&self, t: &mut Tracer, from: usize) -> Option<usize> {
        if !t.is_concurrent() {
            // SAFETY: as above.
            return unsafe { &*self.items.get() }.as_slice().trace_part(t, from);
        }
        super::trace_copied(t, &self.lock, |part| {
            // SAFETY: as above (under the lock).
            let held = unsafe { &*self.items.get() }.get(from..).unwrap_or_default();
            let len = held.len().min(Tracer::PART);
            part.extend_from_slice(&held[..len]);
            (len < held.len()).then_some(from + len)
        })
    }

    fn heap_size(&self) -> usize {
        // SAFETY: as in `trace` (read at allocation and when freed).
        buffer_bytes(unsafe { &*self.items.get() })
    }

    fn exclude_writers(&self, f: &mut dyn FnMut()) {
        let _guard = self.lock.lock();
        f();
    }
}

/// The index `i` of a Maat number into `len` elements, if valid.
#[inline(always)]
fn index(i: f64, len: usize) -> Result<usize, ObjError> {
    // In range first (NaN is not), so the conversion cannot overflow; then
    // integral (-0 is index 0). No call to `trunc`, which x86-64's baseline
    // has no instruction for, and signed conversions only (one instruction
    // each way there, unlike unsigned ones).
    if i >= 0.0 && i < len as i64 as f64 {
        // SAFETY: `i` is finite and in 0..len, within i64.
        let at = unsafe { i.to_int_unchecked::<i64>() };
        if at as f64 == i {
            return Ok(at as usize);
        }
    }
    Err(ObjError::IndexOutOfRange { index: i, len })
}

impl<'gc> Array<'gc> {
    /// Allocates an array holding `items` (owned by the current maatine).
    pub fn alloc(ctx: &Ctx<'_, 'gc>, items: impl IntoIterator<Item = Value<'gc>>) -> Gc<'gc, Array<'gc>> {
        let items = items.into_iter().collect();
        ctx.mc.alloc_kind(Array { lock: AdaptiveLock::new(), items: UnsafeCell::new(items) }, kind::ARRAY)
    }

    /// Reads the items under the elision rule.
    #[inline(always)]
    fn read<R>(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, f: impl FnOnce(&Items<'gc>) -> R) -> R {
        Self::read_as(this, ctx, GcAny::from(this).sharing(), f)
    }

    /// Reads the items under the elision rule, decided on `sharing`.
    #[inline(always)]
    fn read_as<R>(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, sharing: Sharing, f: impl FnOnce(&Items<'gc>) -> R) -> R {
        let array = Gc::get(this);
        let _guard = ctx.guard_as(GcAny::from(this), sharing, &array.lock);
        // SAFETY: no writer runs concurrently under the elision rule (frozen
        // arrays have none; see `crate::object` for the others).
        f(unsafe { &*array.items.get() })
    }

    /// Changes the items under the elision rule, decided on `sharing`, what
    /// [`Ctx::before_store`] read when it refused frozen arrays (refused
    /// again if another maatine froze it since: [`Ctx::store_guard`]).
    /// Reports buffer growth or shrinking to the heap.
    fn write<R>(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        sharing: Sharing,
        f: impl FnOnce(&mut Items<'gc>) -> R,
    ) -> Result<R, ObjError> {
        let array = Gc::get(this);
        let _guard = ctx.store_guard(GcAny::from(this), sharing, &array.lock, "Array")?;
        // SAFETY: exclusive under the elision rule: the lock is held when the
        // array is shared in multi-threaded mode; otherwise one thread alone
        // runs operations on it; it is not frozen (see `crate::object`).
        let items = unsafe { &mut *array.items.get() };
        let before = buffer_bytes(items);
        let result = f(items);
        super::report_growth(ctx, GcAny::from(this), before, buffer_bytes(items));
        Ok(result)
    }

    /// The number of items.
    pub fn len(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>) -> usize {
        Self::read(this, ctx, |items| items.len())
    }

    /// The item at `i`.
    pub fn get(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, i: f64) -> Result<Value<'gc>, ObjError> {
        Self::read(this, ctx, |items| index(i, items.len()).map(|i| items[i]))
    }

    /// The item at `i`, if `i` is an index of the array ([`Array::get`]
    /// says why not; this is its fast part, for the interpreter's fast
    /// loop), under the elision rule decided on `sharing`, the array's
    /// sharing state as the caller read it.
    #[inline(always)]
    pub fn load(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, sharing: Sharing, i: f64) -> Option<Value<'gc>> {
        // `read_as` written out: through its closure, LLVM made the read an
        // out-of-line call from the fast loop (and returning the items with
        // their guard in a struct cost Queens and Sieve 1.4-2.4% more
        // instructions).
        let array = Gc::get(this);
        let _guard = ctx.guard_as(GcAny::from(this), sharing, &array.lock);
        // SAFETY: as in `read_as`.
        let items = unsafe { &*array.items.get() };
        let at = index(i, items.len()).ok()?;
        // SAFETY: `index` checked `at` below the length.
        Some(*unsafe { items.get_unchecked(at) })
    }

    /// Replaces the item at `i`.
    pub fn set(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, i: f64, value: Value<'gc>) -> Result<(), ObjError> {
        if Self::store(this, ctx, GcAny::from(this).sharing(), i, value) {
            return Ok(());
        }
        if GcAny::from(this).is_frozen() {
            return Err(ObjError::Frozen("Array"));
        }
        Err(ObjError::IndexOutOfRange { index: i, len: Self::len(this, ctx) })
    }

    /// Replaces the item at `i` if it can (the array is not frozen and `i`
    /// is an index of it): whether it did. [`Array::set`] says why not; this
    /// is its fast part, for the interpreter's fast loop. `sharing` is the
    /// array's sharing state as the caller read it.
    #[inline(always)]
    pub fn store(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, sharing: Sharing, i: f64, value: Value<'gc>) -> bool {
        let obj = GcAny::from(this);
        let Ok(sharing) = ctx.before_store_as(sharing, "Array", &[value]) else { return false };
        ctx.store_barrier(obj, value);
        let array = Gc::get(this);
        let Ok(guard) = ctx.store_guard(obj, sharing, &array.lock, "Array") else { return false };
        // SAFETY: exclusive, as in `write` (not frozen: checked);
        // replacing an item leaves the buffer as it is, so there is no
        // growth to report.
        let items = unsafe { &mut *array.items.get() };
        let Ok(at) = index(i, items.len()) else { return false };
        // SAFETY: `index` checked `at` below the length.
        let old = core::mem::replace(unsafe { items.get_unchecked_mut(at) }, value);
        drop(guard);
        // (An unshared array is not global: no deletion barrier.)
        if let Some(old) = old.as_object().filter(|_| sharing != Sharing::Unshared) {
            ctx.mc.deletion_barrier(obj, old);
        }
        true
    }

    /// Appends an item.
    pub fn push(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, value: Value<'gc>) -> Result<(), ObjError> {
        let obj = GcAny::from(this);
        let sharing = ctx.before_store(obj, "Array", &[value])?;
        // The items already there stay where they are (a trace in parts
        // resumes at the same positions and reaches the new one).
        ctx.store_barrier(obj, value);
        Self::write(this, ctx, sharing, |items| items.push(value))
    }

    /// Inserts an item at `i` (0 to len), shifting the rest.
    pub fn insert(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, i: f64, value: Value<'gc>) -> Result<(), ObjError> {
        let obj = GcAny::from(this);
        let sharing = ctx.before_store(obj, "Array", &[value])?;
        ctx.mc.backward_barrier(obj);
        Self::write(this, ctx, sharing, |items| {
            let i = index(i, items.len() + 1)?;
            items.insert(i, value);
            Ok(())
        })?
    }

    /// Removes and returns the item at `i`, shifting the rest.
    pub fn remove(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, i: f64) -> Result<Value<'gc>, ObjError> {
        let obj = GcAny::from(this);
        let sharing = ctx.before_store(obj, "Array", &[])?;
        ctx.mc.backward_barrier(obj);
        Self::write(this, ctx, sharing, |items| index(i, items.len()).map(|i| items.remove(i)))?
    }

    /// Replaces all items at once (for sorting): `f` gets a copy and returns
    /// the new order.
    pub fn replace_all(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        f: impl FnOnce(Vec<Value<'gc>>) -> Result<Vec<Value<'gc>>, String>,
    ) -> Result<(), String> {
        let obj = GcAny::from(this);
        let sharing = ctx.before_store(obj, "Array", &[]).map_err(|e| e.to_string())?;
        ctx.mc.backward_barrier(obj);
        Self::write(this, ctx, sharing, |items| {
            *items = SmallVec::from_vec(f(core::mem::take(items).into_vec())?);
            Ok(())
        })
        .map_err(|e| e.to_string())?
    }

    /// Removes and returns the last item (`nil` when empty).
    pub fn pop(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>) -> Result<Value<'gc>, ObjError> {
        let obj = GcAny::from(this);
        let sharing = ctx.before_store(obj, "Array", &[])?;
        // Taking the last item away moves no other, and the local marking
        // needs no barrier for a reference removed (the backward barrier
        // keeps black objects from pointing to white ones, which a removal
        // cannot break; a trace in parts resuming past the end traces
        // nothing). A global array's marking shades what was removed.
        let popped = Self::write(this, ctx, sharing, |items| items.pop().unwrap_or(Value::nil()))?;
        if let Some(o) = popped.as_object() {
            ctx.mc.deletion_barrier(obj, o);
        }
        Ok(popped)
    }

    /// A copy of the items (one consistent snapshot).
    pub fn snapshot(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>) -> Vec<Value<'gc>> {
        Self::read(this, ctx, |items| items.to_vec())
    }
}

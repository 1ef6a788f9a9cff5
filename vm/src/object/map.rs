//! Map: keys to values, iterated in **insertion order** (a key keeps its
//! place when its value is replaced; deleting and re-adding moves it to the
//! end). Synchronized by the elision rule of [`crate::object`].
//!
//! Keys compare as Maat values: numbers by value (`0` and `-0` are the same
//! key; NaN is not a valid key), strings by text, everything else by
//! identity. The keys 0, 1, 2, … inserted in order are kept without hashing
//! (see `object/table.rs`).

use core::cell::UnsafeCell;
use core::hash::{Hash, Hasher};

use maat_gc::{Gc, GcAny, Trace, Tracer};
use maat_sync::{AdaptiveLock, Sharing};

use super::string::Str;
use super::table::Table;
use super::{Ctx, ObjError, kind};
use crate::value::{Unpacked, Value};

/// A key, hashed and compared with Maat's equality.
#[derive(Clone, Copy)]
pub struct Key<'gc>(Value<'gc>);

impl<'gc> Key<'gc> {
    /// A key for `v`; NaN cannot be one.
    pub fn new(v: Value<'gc>) -> Result<Self, ObjError> {
        match v.as_num() {
            Some(n) if n.is_nan() => Err(ObjError::InvalidKey("NaN")),
            // Matches -0 too (float patterns compare with ==).
            Some(0.0) => Ok(Key(Value::num(0.0))),
            _ => Ok(Key(v)),
        }
    }

    /// The key's value.
    pub fn value(self) -> Value<'gc> {
        self.0
    }

    /// The key's string when it is compared and hashed by its text: a long
    /// one. An interned string is the one object of its text, compared and
    /// hashed by identity, which its value's tag says without a read of
    /// the string.
    pub(super) fn long_string(self) -> Option<&'gc Str> {
        if self.0.is_interned_str() { None } else { Str::of(self.0) }
    }

    fn text(self) -> Option<&'gc str> {
        Str::of(self.0).map(Str::as_str)
    }
}

impl PartialEq for Key<'_> {
    fn eq(&self, other: &Self) -> bool {
        if self.0 == other.0 {
            return true;
        }
        match (self.long_string(), other.long_string()) {
            (Some(a), Some(b)) => a.same_text(b),
            _ => false,
        }
    }
}

impl Eq for Key<'_> {}

impl Hash for Key<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self.long_string() {
            Some(s) => state.write_u64(s.hash_code()),
            None => self.0.hash(state),
        }
    }
}

// SAFETY: a key's only reference is its value's.
unsafe impl Trace for Key<'_> {
    fn trace(&self, t: &mut Tracer) {
        self.0.trace(t);
    }
}

/// A Maat map.
pub struct Map<'gc> {
    lock: AdaptiveLock,
    entries: UnsafeCell<Table<'gc>>,
}

// SAFETY: as for `Array`: the entries are accessed under the elision rule.
unsafe impl Sync for Map<'_> {}
// SAFETY: as above; an unshared map moves only with its whole heap.
unsafe impl Send for Map<'_> {}

// SAFETY: traces every key and value, reading them under the lock when
// the tracer is concurrent; in parts, each part's references copied out
// under it and marked after (as for `Array`, whose comment says why that
// is sound; a map's positions move only on a delete, which takes the
// backward barrier: `Table::references_from`).
unsafe impl Trace for Map<'_> {
    fn trace(&self, t: &mut Tracer) {
        let _guard = self.lock.lock_if(t.is_concurrent());
        // SAFETY: as above.
        for v in unsafe { &*self.entries.get() }.references() {
            v.trace(t);
        }
    }

    /// Parts of [`Tracer::PART`] references, so that neither a heap's step
    /// nor a shared marking's part traverses a large map at once, nor holds
    /// its lock while marking.
    fn trace_part(&self, t: &mut Tracer, from: usize) -> Option<usize> {
        // SAFETY: as above (under the lock when the tracer is concurrent).
        let entries = || unsafe { &*self.entries.get() };
        if !t.is_concurrent() {
            return entries().references_from(from, Tracer::PART, |v| v.trace(t));
        }
        super::trace_copied(t, &self.lock, |part| entries().references_from(from, Tracer::PART, |v| part.push(v)))
    }

    fn heap_size(&self) -> usize {
        // SAFETY: as in `trace` (read at allocation and when freed).
        unsafe { &*self.entries.get() }.bytes()
    }
    fn exclude_writers(&self, f: &mut dyn FnMut()) {
        let _guard = self.lock.lock();
        f();
    }
}

impl<'gc> Map<'gc> {
    /// Allocates an empty map.
    pub fn alloc(ctx: &Ctx<'_, 'gc>) -> Gc<'gc, Map<'gc>> {
        ctx.mc.alloc_kind(Map { lock: AdaptiveLock::new(), entries: UnsafeCell::new(Table::new()) }, kind::MAP)
    }

    fn read<R>(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, f: impl FnOnce(&Table<'gc>) -> R) -> R {
        let map = Gc::get(this);
        let _guard = ctx.guard(GcAny::from(this), &map.lock);
        // SAFETY: no writer runs concurrently under the elision rule.
        f(unsafe { &*map.entries.get() })
    }

    /// Changes the entries under the elision rule, decided on `sharing`,
    /// what [`Ctx::before_store`] read when it refused frozen maps (refused
    /// again if another maatine froze it since: [`Ctx::store_guard`]).
    /// Reports the table's growth or shrinking to the heap.
    fn write<R>(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        sharing: Sharing,
        f: impl FnOnce(&mut Table<'gc>) -> R,
    ) -> Result<R, ObjError> {
        let map = Gc::get(this);
        let _guard = ctx.store_guard(GcAny::from(this), sharing, &map.lock, "Map")?;
        // SAFETY: exclusive under the elision rule; not frozen (the caller
        // checked with `Ctx::before_store`).
        let entries = unsafe { &mut *map.entries.get() };
        let before = entries.bytes();
        let result = f(entries);
        super::report_growth(ctx, GcAny::from(this), before, entries.bytes());
        Ok(result)
    }

    /// The value for `key`, or `nil`.
    pub fn get(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, key: Value<'gc>) -> Result<Value<'gc>, ObjError> {
        let key = Key::new(key)?;
        Ok(Self::read(this, ctx, |m| m.get(key).unwrap_or(Value::nil())))
    }

    /// Whether `key` is present.
    pub fn has(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, key: Value<'gc>) -> Result<bool, ObjError> {
        let key = Key::new(key)?;
        Ok(Self::read(this, ctx, |m| m.get(key).is_some()))
    }

    /// Sets `key` to `value`.
    pub fn set(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, key: Value<'gc>, value: Value<'gc>) -> Result<(), ObjError> {
        let obj = GcAny::from(this);
        let key = Key::new(key)?;
        let sharing = ctx.before_store(obj, "Map", &[key.value(), value])?;
        // A new key is appended, an existing one keeps its place.
        ctx.store_barrier(obj, key.value());
        ctx.store_barrier(obj, value);
        let old = Self::write(this, ctx, sharing, |m| m.insert(key, value))?;
        if let Some(o) = old.and_then(Value::as_object) {
            ctx.mc.deletion_barrier(obj, o);
        }
        Ok(())
    }

    /// Replaces the value of `key` if the map has it (nothing grows, so
    /// nothing is allocated); `false`, with nothing changed, if it has not.
    /// `sharing` is the map's sharing state as the caller read it. (In
    /// place, as `Array::store`: the forward barrier for what is stored,
    /// the deletion barrier for what it replaces.)
    pub fn replace(
        this: Gc<'gc, Self>,
        ctx: &Ctx<'_, 'gc>,
        sharing: Sharing,
        key: Value<'gc>,
        value: Value<'gc>,
    ) -> Result<bool, ObjError> {
        let obj = GcAny::from(this);
        let key = Key::new(key)?;
        let sharing = ctx.before_store_as(sharing, "Map", &[value])?;
        ctx.store_barrier(obj, value);
        let map = Gc::get(this);
        let guard = ctx.store_guard(obj, sharing, &map.lock, "Map")?;
        // SAFETY: exclusive under the elision rule; not frozen (checked); replacing a value leaves the table's size as it is.
        let entries = unsafe { &mut *map.entries.get() };
        let old = entries.get_mut(key).map(|v| core::mem::replace(v, value));
        drop(guard);
        // (An unshared map is not global: no deletion barrier.)
        if let Some(o) = old.and_then(Value::as_object).filter(|_| sharing != Sharing::Unshared) {
            ctx.mc.deletion_barrier(obj, o);
        }
        Ok(old.is_some())
    }

    /// Removes `key`; returns its value, or `nil`.
    pub fn delete(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, key: Value<'gc>) -> Result<Value<'gc>, ObjError> {
        let obj = GcAny::from(this);
        let key = Key::new(key)?;
        let sharing = ctx.before_store(obj, "Map", &[])?;
        ctx.mc.backward_barrier(obj);
        Ok(Self::write(this, ctx, sharing, |m| m.remove(key))?.unwrap_or(Value::nil()))
    }

    /// The number of entries.
    pub fn len(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>) -> usize {
        Self::read(this, ctx, Table::len)
    }

    /// The entries, in insertion order (one consistent snapshot).
    pub fn entries(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>) -> Vec<(Value<'gc>, Value<'gc>)> {
        Self::read(this, ctx, |m| m.iter().collect())
    }
}

/// Whether `v` is a string with text `s` (for tests and the interpreter).
pub fn is_text(v: Value<'_>, s: &str) -> bool {
    matches!(v.unpack(), Unpacked::Object(_)) && Key(v).text() == Some(s)
}

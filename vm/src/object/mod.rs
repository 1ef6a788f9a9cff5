//! The VM's objects and the rule every one of their operations follows.
//!
//! # Lock elision (DESIGN.md, "Lock elision")
//!
//! A mutable object keeps its data in an `UnsafeCell` next to a two-byte
//! [`AdaptiveLock`]. Each operation asks [`Ctx::guard`], which decides from
//! the object's header and the thread mode:
//!
//! | object | single-threaded | multi-threaded |
//! | --- | --- | --- |
//! | unshared | no lock | no lock |
//! | frozen | no lock (mutation is an error) | no lock (mutation is an error) |
//! | shared | no lock | lock |
//!
//! This is sound because (Invariant S) only the owner maatine can reach an
//! unshared object, because in single-threaded mode only one OS thread runs
//! Maat code, and because a frozen object never changes. The collector reads
//! an object's data without its lock when nothing writes it meanwhile: a
//! local collection traces only the owner's unshared objects, between the
//! owner's mutations, and a shared collection's stopped-world phases run
//! while every maatine is stopped at a safe point. A shared collection's
//! marking also traces global objects at each maatine's safe points while
//! the others run: its tracer is concurrent then, and `Array`, `Map` and
//! `Inst` take their lock to be traced (slots are atomic; channels and
//! handles lock themselves; closures, classes and strings never change).
//!
//! # Barriers for the shared marking
//!
//! A reference overwritten or removed in place (`Array.set`, `Array.pop`,
//! `Map.set`, an instance field, a slot) goes through maat-gc's deletion
//! barrier; a value stored without moving the references already there
//! (replacing, appending: `Ctx::store_barrier`) goes through its forward
//! barrier; every change that moves references (`insert`, `remove`, `sort`,
//! `Map.delete`) runs the backward barrier first, which traces a global
//! object not yet marked before it changes; stored values are shared first, which shades
//! them; values that cross between maatines by channel or as results go
//! through `transfer`/`receive`/`share`, which shade them.
//!
//! # Sharing on store
//!
//! Storing a value into a shared object shares the value first (before the
//! store publishes it), which keeps Invariant S.

pub mod array;
pub mod chan;
pub mod closure;
pub mod detached;
pub mod handle;
pub mod instance;
pub mod intern;
pub mod map;
pub mod pmap;
pub mod pnode;
pub mod pvec;
pub mod random;
pub mod slot;
pub mod stats;
pub mod string;
mod table;
pub mod user;
pub mod versioned;

pub use stats::SyncStats;

use core::fmt;

use maat_gc::{GcAny, Mutation, Trace, Tracer};
use maat_sync::{AdaptiveLock, MaybeGuard, Sharing, ThreadMode};
use smallvec::SmallVec;

use crate::value::Value;

/// A concurrent tracer's part of a container guarded by `lock`: `copy` puts
/// the part's references (at most [`Tracer::PART`]) in a buffer under the
/// lock and says where the next part starts, and they are marked after the
/// lock is released (see `Array`'s `Trace` for why that is sound). The
/// container's writers wait for a copy, about a microsecond, never for the
/// marking. The buffer lives on the stack, uninitialized until filled.
pub(crate) fn trace_copied<'gc>(
    t: &mut Tracer,
    lock: &AdaptiveLock,
    copy: impl FnOnce(&mut SmallVec<[Value<'gc>; Tracer::PART]>) -> Option<usize>,
) -> Option<usize> {
    let mut part = SmallVec::new();
    let next = {
        let _guard = lock.lock();
        copy(&mut part)
    };
    part.as_slice().trace(t);
    next
}

/// The kind byte of each object type (the GC header's kind).
pub mod kind {
    /// [`Str`](super::string::Str)
    pub const STR: u8 = 1;
    /// [`Array`](super::array::Array)
    pub const ARRAY: u8 = 2;
    /// [`Map`](super::map::Map)
    pub const MAP: u8 = 3;
    /// [`Slot`](super::slot::Slot)
    pub const SLOT: u8 = 4;
    /// [`Closure`](super::closure::Closure)
    pub const CLOSURE: u8 = 5;
    /// [`Class`](super::instance::Class)
    pub const CLASS: u8 = 6;
    /// [`Inst`](super::instance::Inst)
    pub const INST: u8 = 7;
    /// [`Handle`](super::handle::Handle)
    pub const HANDLE: u8 = 8;
    /// [`Chan`](super::chan::Chan)
    pub const CHAN: u8 = 9;
    /// [`Random`](super::random::Random)
    pub const RANDOM: u8 = 10;
    /// [`UserObject`](super::user::UserObject)
    pub const USER: u8 = 11;
    /// [`PVec`](super::pvec::PVec)
    pub const PVEC: u8 = 12;
    /// [`PMap`](super::pmap::PMap)
    pub const PMAP: u8 = 13;
    /// [`PNode`](super::pnode::PNode): a persistent collection's node
    pub const PNODE: u8 = 14;
    /// [`Versioned`](super::versioned::Versioned)
    pub const VERSIONED: u8 = 15;
    /// [`Version`](super::versioned::Version)
    pub const VERSION: u8 = 16;
    /// [`Draft`](super::versioned::Draft)
    pub const DRAFT: u8 = 17;
    /// [`Detached`](super::detached::Detached)
    pub const DETACHED: u8 = 18;

    /// The Maat name of the type of objects of kind `k`.
    pub fn name(k: u8) -> &'static str {
        match k {
            STR => "Str",
            ARRAY => "Array",
            MAP => "Map",
            CLOSURE => "Closure",
            CLASS => "Class",
            INST => "Instance",
            HANDLE => "Handle",
            CHAN => "Chan",
            RANDOM => "Random",
            USER => "UserData",
            PVEC => "PVec",
            PMAP => "PMap",
            PNODE => "PNode",
            VERSIONED => "Versioned",
            VERSION => "Version",
            DRAFT => "Draft",
            DETACHED => "Detached",
            _ => "Object",
        }
    }
}

/// What an object operation needs: the mutation (allocation, barriers,
/// sharing), the thread mode, and the maatine's counters.
pub struct Ctx<'a, 'gc> {
    /// The current mutation of the maatine's heap.
    pub mc: &'a Mutation<'gc>,
    /// The runtime's thread mode.
    pub mode: &'a ThreadMode,
    /// The maatine's counters.
    pub stats: &'a SyncStats,
}

/// Tells the collector that the buffers of `obj` went from `before` to
/// `after` bytes (its `Trace::heap_size`): the heap's count while `obj` is
/// unshared, the space's once it is global.
pub(crate) fn report_growth<'gc>(ctx: &Ctx<'_, 'gc>, obj: GcAny<'gc>, before: usize, after: usize) {
    if after != before {
        ctx.mc.report_resized(obj, before, after);
    }
}

impl<'gc> Ctx<'_, 'gc> {
    /// The lock-elision decision for one read of `obj` (a mutation decides
    /// on what [`Ctx::before_store`] read: [`Ctx::store_guard`]).
    #[inline(always)]
    pub fn guard<'l>(&self, obj: GcAny<'gc>, lock: &'l AdaptiveLock) -> MaybeGuard<'l> {
        self.guard_as(obj, obj.sharing(), lock)
    }

    /// The lock-elision decision for one mutation of `obj`, whose sharing
    /// state is `sharing` as [`Ctx::before_store`] read it: every mutation
    /// decides on that one reading. Only the owner can share or freeze an
    /// unshared object, so it is still unshared here. Another maatine may
    /// have frozen a shared one since: freezing sets the flag under the
    /// object's lock (its `Trace::exclude_writers`), so once this holds the
    /// lock it reads the flag again and refuses the mutation if it is set.
    /// A frozen object's readers take no lock, so no mutation may start
    /// after they can see the flag. Without the lock (single-threaded mode)
    /// no other thread runs, so no freeze runs meanwhile.
    #[inline]
    pub fn store_guard<'l>(
        &self,
        obj: GcAny<'gc>,
        sharing: Sharing,
        lock: &'l AdaptiveLock,
        what: &'static str,
    ) -> Result<MaybeGuard<'l>, ObjError> {
        let guard = self.guard_as(obj, sharing, lock);
        if !guard.is_elided() && obj.is_frozen() {
            return Err(ObjError::Frozen(what));
        }
        Ok(guard)
    }

    /// [`Ctx::guard`] on the sharing state `sharing` already read (with
    /// [`GcAny::sharing_unless_sent`], in one read with the holder's check).
    #[inline(always)]
    pub fn guard_as<'l>(&self, obj: GcAny<'gc>, sharing: Sharing, lock: &'l AdaptiveLock) -> MaybeGuard<'l> {
        self.stats
            .lock_if(lock, self.mode.needs_lock(sharing), || (obj.as_raw().as_ptr() as usize, kind::name(obj.kind())))
    }

    /// Prepares `obj` for a mutation storing `values`: refuses frozen
    /// objects, and shares the values if `obj` is shared (one read of its
    /// flags, whose result it returns for [`Ctx::store_guard`]).
    #[inline]
    pub fn before_store(
        &self,
        obj: GcAny<'gc>,
        what: &'static str,
        values: &[Value<'gc>],
    ) -> Result<Sharing, ObjError> {
        self.before_store_as(obj.sharing(), what, values)
    }

    /// The forward barrier for storing `value` into `obj` without moving a
    /// reference already in it (a slot replaced, an item appended, a map
    /// entry set): a stored object is marked, or in generational mode
    /// touched, instead of `obj` being traversed again. A backward barrier
    /// there would make an old array that only grows be traversed whole in
    /// the next two minor collections after every append (2 ms for 200,000
    /// items).
    #[inline(always)]
    pub fn store_barrier(&self, obj: GcAny<'gc>, value: Value<'gc>) {
        if let Some(v) = value.as_object() {
            self.mc.forward_barrier(obj, v);
        }
    }

    /// [`Ctx::before_store`] on the sharing state `sharing` already read.
    #[inline(always)]
    pub fn before_store_as(
        &self,
        sharing: Sharing,
        what: &'static str,
        values: &[Value<'gc>],
    ) -> Result<Sharing, ObjError> {
        match sharing {
            Sharing::Frozen => return Err(ObjError::Frozen(what)),
            Sharing::Shared => {
                for v in values.iter().filter_map(|v| v.as_object()) {
                    self.mc.share(v);
                }
            }
            Sharing::Unshared => {}
        }
        Ok(sharing)
    }
}

/// An object operation that cannot be done.
#[derive(Clone, Debug, PartialEq)]
pub enum ObjError {
    /// Mutation of a frozen object (of the named type).
    Frozen(&'static str),
    /// A value that cannot be a map key.
    InvalidKey(&'static str),
    /// An index outside the object.
    IndexOutOfRange {
        /// The index asked for.
        index: f64,
        /// The length.
        len: usize,
    },
}

impl fmt::Display for ObjError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjError::Frozen(what) => write!(f, "frozen object: cannot modify a frozen {what}"),
            ObjError::InvalidKey(what) => write!(f, "invalid map key: {what}"),
            ObjError::IndexOutOfRange { index, len } => {
                write!(f, "index out of range: ")?;
                crate::value::format_num(*index, f)?;
                write!(f, " (length {len})")
            }
        }
    }
}

impl std::error::Error for ObjError {}

//! Versioned roots: an isolated, deeply immutable object graph reached
//! through one root, which any number of maatines read without locks and
//! any maatine updates by committing a new version.
//!
//! # Protocol
//!
//! A [`Versioned`] keeps its current [`Version`] (number and root, frozen)
//! in a published [`VarCell`]: reading it is one atomic load, on any thread,
//! in any mode (`db.now`), and what it refers to is frozen, so reading the
//! graph takes no lock either. An update is a section on another slot, the
//! writers' one: the writer takes its variable lock (writers wait for each
//! other, parked, never spinning; a cycle of waits is reported as a
//! deadlock), builds the next version on a [`Draft`], freezes it, publishes
//! it in the cell with one Release store, and ends the section. A reader
//! that loads the new version (Acquire) sees every node the writer built
//! before the store; one that loaded the old version keeps reading it,
//! unchanged: nothing in a version is ever written again. The collector
//! reclaims a version when no one reaches it: readers hold what they read in
//! their registers (roots), and the store shades the version it replaces
//! for a shared marking under way (the deletion barrier), as any store into
//! a global object does.
//!
//! # Layout
//!
//! Every `now` reads the current version's cell, so nothing else is written
//! on its cache line: the cell starts the object, which is aligned to a
//! line, and the line's only other word (the writers' slot) never changes.
//! The writers' lock and the update count live in their own slot: an update
//! under way writes there, and the readers' line once, at its commit. The
//! version record the cell points to is alone on its line too.
//!
//! # Invariants
//!
//! - A version's graph is frozen before it is published.
//! - Only a commit writes the current version's cell, inside the writers'
//!   section (which orders the commits).
//! - A draft belongs to one update: its maatine (`owner`), and the
//!   versioned root's update count when it began (`epoch`, the writers'
//!   slot's value), which every update changes; a draft whose update
//!   committed, failed or belongs to another maatine is refused.

use core::marker::PhantomData;

use maat_gc::{Gc, GcAny, Trace, Tracer};
use maat_sync::{MaatineId, VarCell};

use super::slot::{Slot, store_barriered};
use super::{Ctx, kind};
use crate::value::Value;

/// A versioned root.
#[repr(C, align(64))]
pub struct Versioned<'gc> {
    /// The current version: a published cell (only a commit writes it).
    now: VarCell,
    /// The writers' section: its lock orders the updates, and its value
    /// counts the updates begun and ended (a draft is valid while it is the
    /// last one begun and its update has not ended).
    writers: Gc<'gc, Slot<'gc>>,
    _version: PhantomData<Value<'gc>>,
}

// The layout the module documentation describes: the cell and the writers'
// slot share one line, and nothing else does.
const _: () = assert!(
    core::mem::offset_of!(Versioned<'static>, now) == 0
        && core::mem::align_of::<Versioned<'static>>() == 64
        && core::mem::size_of::<Versioned<'static>>() == 64
);

// SAFETY: traces its references, the current version and the writers'
// slot. A collection never runs concurrently with a write (see
// `crate::object`), and the version is read atomically anyway.
unsafe impl Trace for Versioned<'_> {
    fn trace(&self, t: &mut Tracer) {
        self.version_value().trace(t);
        self.writers.trace(t);
    }
}

/// One version: its number and its root (frozen, with all it refers to).
/// Every `now` reads it, so it has a cache line of its own: in the pages
/// of its size, the writer's next allocations would write its line.
#[derive(Trace)]
#[repr(align(64))]
pub struct Version<'gc> {
    /// 0 for the first, one more for each commit.
    pub number: u64,
    /// The root value.
    pub root: Value<'gc>,
}

/// An update's work in progress: the root it will commit. Only its owner
/// maatine uses it, inside its update, unshared.
pub struct Draft<'gc> {
    /// The versioned root it updates.
    pub db: Gc<'gc, Versioned<'gc>>,
    /// The draft's root so far (in a slot: its barriers are the slot's).
    root: Gc<'gc, Slot<'gc>>,
    epoch: u64,
    owner: MaatineId,
}

// SAFETY: traces its references, the versioned root and the draft's slot.
unsafe impl Trace for Draft<'_> {
    fn trace(&self, t: &mut Tracer) {
        self.db.trace(t);
        self.root.trace(t);
    }
}

impl<'gc> Versioned<'gc> {
    /// A versioned root whose version 0 is `root` (frozen here, with all
    /// it refers to).
    pub fn alloc(ctx: &Ctx<'_, 'gc>, root: Value<'gc>) -> Gc<'gc, Versioned<'gc>> {
        let version = Version::alloc(ctx, 0, root);
        ctx.mc.freeze(version);
        let writers = Slot::alloc(ctx, Value::num(0.0));
        let now = VarCell::new(Value::object(version.into()).to_bits());
        ctx.mc.alloc_kind(Versioned { now, writers, _version: PhantomData }, kind::VERSIONED)
    }

    /// The writers' slot, whose section an update holds.
    pub fn writers(&self) -> Gc<'gc, Slot<'gc>> {
        self.writers
    }

    /// The current version (one atomic load: never locks).
    #[inline]
    pub fn now(&self) -> &'gc Version<'gc> {
        Version::of(self.version_value())
    }

    fn version_value(&self) -> Value<'gc> {
        // SAFETY: the cell holds the bits of a version, which this root
        // keeps alive (it is traced through it).
        unsafe { Value::from_raw_bits(self.now.load()) }
    }

    /// Begins `owner`'s update, which holds the writers' section: its
    /// draft, starting from the current version's root.
    pub fn draft(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, owner: MaatineId) -> Gc<'gc, Draft<'gc>> {
        let db = Gc::get(this);
        let epoch = db.count_update(ctx, owner);
        let root = Slot::alloc(ctx, db.now().root);
        ctx.mc.alloc_kind(Draft { db: this, root, epoch, owner }, kind::DRAFT)
    }

    /// Whether `draft` is the one of the update `me` runs now.
    pub fn is_current(&self, draft: &Draft<'gc>, me: MaatineId) -> bool {
        draft.owner == me && Slot::read(self.writers).as_num() == Some(draft.epoch as f64)
    }

    /// Publishes `version` (frozen) as the current one: by the holder of
    /// the writers' section, whose lock orders the commits.
    pub fn publish(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, version: Gc<'gc, Version<'gc>>) {
        let db = Gc::get(this);
        debug_assert!(Gc::is_frozen(version), "a version is frozen before it is published");
        let holder = GcAny::from(this);
        let global = holder.sharing() != maat_sync::Sharing::Unshared;
        let stored =
            store_barriered((holder, global), ctx, Value::object(version.into()), |bits| Ok(db.now.publish(bits)));
        stored.expect("a published cell takes every store");
    }

    /// Ends `owner`'s update (committed or not): no later call with its
    /// draft is current.
    pub fn close(&self, ctx: &Ctx<'_, 'gc>, owner: MaatineId) {
        self.count_update(ctx, owner);
    }

    /// One more update begun or ended, in `owner`'s section: the new count.
    fn count_update(&self, ctx: &Ctx<'_, 'gc>, owner: MaatineId) -> u64 {
        let count = Slot::read(self.writers).as_num().expect("the writers' slot counts updates") as u64 + 1;
        Slot::store(self.writers, ctx, owner, Value::num(count as f64)).expect("the update holds the writers' section");
        count
    }
}

impl<'gc> Version<'gc> {
    /// A version (the caller freezes it before anyone else can reach it).
    pub fn alloc(ctx: &Ctx<'_, 'gc>, number: u64, root: Value<'gc>) -> Gc<'gc, Version<'gc>> {
        ctx.mc.alloc_kind(Version { number, root }, kind::VERSION)
    }

    /// The version a versioned root's slot holds.
    fn of(v: Value<'gc>) -> &'gc Version<'gc> {
        let o = v.as_object().filter(|o| o.kind() == kind::VERSION).expect("a versioned root's slot holds a version");
        // SAFETY: kind VERSION objects are `Version`s.
        Gc::get(unsafe { o.downcast::<Version<'gc>>() })
    }
}

impl<'gc> Draft<'gc> {
    /// The draft's root.
    pub fn root(&self) -> Value<'gc> {
        Slot::read(self.root)
    }

    /// Replaces the draft's root; `false` if the draft is not its owner's
    /// alone any more (it was shared: its slot then refuses a store outside
    /// a section).
    pub fn set_root(&self, ctx: &Ctx<'_, 'gc>, v: Value<'gc>) -> bool {
        Slot::store(self.root, ctx, self.owner, v).is_ok()
    }
}

//! Versioned roots: an isolated, deeply immutable object graph reached
//! through one root, which any number of maatines read without locks and
//! any maatine updates by committing a new version.
//!
//! # Protocol
//!
//! A [`Versioned`] keeps its current [`Version`] (number and root, frozen)
//! in a [`Slot`]: reading it is one atomic load, on any thread, in any mode
//! (`db.now`), and what it refers to is frozen, so reading the graph takes
//! no lock either. An update is a read-modify-write section on that slot:
//! the writer takes the slot's variable lock (writers wait for each other,
//! parked, never spinning; a cycle of waits is reported as a deadlock),
//! builds the next version on a [`Draft`], freezes it, and stores it with the
//! slot's Release store before it ends the section. A reader that loads the
//! new version (Acquire) sees every node the writer built before the store;
//! one that loaded the old version keeps reading it, unchanged: nothing in a
//! version is ever written again. The collector reclaims a version when no
//! one reaches it: readers hold what they read in their registers (roots),
//! and the slot's store shades the version it replaces for a shared marking
//! under way (the deletion barrier), as any store into a global slot does.
//!
//! # Invariants
//!
//! - A version's graph is frozen before it is stored in the slot.
//! - A draft belongs to one update: its maatine (`owner`), and the
//!   versioned root's update count when it began (`epoch`), which every
//!   update changes; a draft whose update committed, failed or belongs to
//!   another maatine is refused.

use maat_sync::annotate::atomic::{AtomicU64, Ordering};

use maat_gc::{Gc, Trace, Tracer};
use maat_sync::MaatineId;

use super::slot::Slot;
use super::{Ctx, kind};
use crate::value::Value;

/// A versioned root.
pub struct Versioned<'gc> {
    /// The current version.
    slot: Gc<'gc, Slot<'gc>>,
    /// Updates begun and ended: a draft is valid while it is the last one
    /// begun and its update has not ended.
    epoch: AtomicU64,
}

// SAFETY: traces its one reference, the slot.
unsafe impl Trace for Versioned<'_> {
    fn trace(&self, t: &mut Tracer) {
        self.slot.trace(t);
    }
}

/// One version: its number and its root (frozen, with all it refers to).
#[derive(Trace)]
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
        let slot = Slot::alloc(ctx, Value::object(version.into()));
        ctx.mc.alloc_kind(Versioned { slot, epoch: AtomicU64::new(0) }, kind::VERSIONED)
    }

    /// The slot holding the current version (for the update's section).
    pub fn slot(&self) -> Gc<'gc, Slot<'gc>> {
        self.slot
    }

    /// The current version (one atomic load: never locks).
    pub fn now(&self) -> &'gc Version<'gc> {
        Version::of(Slot::read(self.slot))
    }

    /// Begins `owner`'s update, which holds the slot's section: its draft,
    /// starting from the current version's root.
    pub fn draft(this: Gc<'gc, Self>, ctx: &Ctx<'_, 'gc>, owner: MaatineId) -> Gc<'gc, Draft<'gc>> {
        let db = Gc::get(this);
        // Relaxed: only the section's holder changes it, and sections are
        // ordered by the slot's lock.
        let epoch = db.epoch.fetch_add(1, Ordering::Relaxed) + 1;
        let root = Slot::alloc(ctx, db.now().root);
        ctx.mc.alloc_kind(Draft { db: this, root, epoch, owner }, kind::DRAFT)
    }

    /// Whether `draft` is the one of the update `me` runs now.
    pub fn is_current(&self, draft: &Draft<'gc>, me: MaatineId) -> bool {
        draft.owner == me && draft.epoch == self.epoch.load(Ordering::Relaxed)
    }

    /// Ends the update of `draft`'s owner: no later call with its draft is
    /// current.
    pub fn close(&self) {
        self.epoch.fetch_add(1, Ordering::Relaxed);
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

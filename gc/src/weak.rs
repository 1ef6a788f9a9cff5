//! Weak references to global objects: tables the collector does not trace
//! (an interning table), whose entries must not keep their objects alive
//! and must never hand out one the collector has condemned.
//!
//! # The protocol
//!
//! The table holds raw addresses ([`GcAny::as_raw`]) of global objects and
//! guards them with a lock of its own. Its two rules:
//!
//! 1. **Removal before release.** An object's entry is removed, under the
//!    table's lock, before the object's memory is released: typically by
//!    the object's `Drop`, which every sweep runs before releasing a box.
//!    So while a lookup holds the lock, every address in the table is
//!    memory still holding its object (alive, or garbage not swept yet).
//! 2. **Upgrade, never use directly.** A lookup that finds an entry calls
//!    [`Mutation::upgrade_weak`] under the lock. It answers whether the
//!    object may be used:
//!    - during a shared marking, yes: the object is shaded, so this cycle
//!      keeps it (nothing global is freed before the marking finishes, so
//!      reviving an unreachable object is safe: its children are there);
//!    - between markings, yes exactly when it has the last marking's mark.
//!      A global object has it if that marking reached it or if it became
//!      global since (see `Collector::leave_local`); the others are garbage
//!      that a sweep may be freeing right now, and must be left alone.
//!
//! Markings start and finish only while no heap is in a mutation, so the
//! answer holds for the rest of the caller's mutation.

use core::ptr::NonNull;

use crate::any::GcAny;
use crate::ptr::Mutation;

impl<'gc> Mutation<'gc> {
    /// The id of this heap's space (see [`Space::id`](crate::Space::id)):
    /// a table shared by several spaces keeps each entry's space with it.
    pub fn space_id(&self) -> u64 {
        self.collector.space().id()
    }

    /// The object behind a weak reference, if it may still be used (see
    /// [`crate::weak`]): during a shared marking it is shaded, so that the
    /// marking keeps it; between markings it is returned only if the last
    /// marking did not condemn it.
    ///
    /// # Safety
    ///
    /// `raw` came from [`GcAny::as_raw`] of a global (shared or frozen)
    /// object of this heap's space, and the caller holds the lock of the
    /// table it found `raw` in, whose entries are removed under that lock
    /// before their objects' memory is released.
    pub unsafe fn upgrade_weak(&self, raw: NonNull<()>) -> Option<GcAny<'gc>> {
        // SAFETY: by the contract, the memory still holds the object; the
        // handle is returned only if the object may be used.
        let gc = unsafe { GcAny::from_raw(raw) };
        let header = gc.header();
        debug_assert!(header.is_global(), "weak references name global objects");
        let cycle = &self.collector.space().inner.cycle;
        if cycle.marking() {
            cycle.shade(gc.header_ptr());
            return Some(gc);
        }
        (header.colour() == cycle.mark()).then_some(gc)
    }
}

/// loom model of rule 1 with the real header: a sweeper removes a condemned
/// object's entry under the table's lock, then releases the object; a
/// lookup that finds the entry under the lock reads the object's colour
/// while it is still there, and refuses it.
#[cfg(all(test, loom))]
mod loom_model {
    use loom::sync::atomic::AtomicBool;
    use loom::sync::{Arc, RwLock};

    use crate::header::loom_model::VTABLE;
    use crate::header::{BLACK, Header, MARK1};
    use crate::shim::Ordering;

    #[test]
    fn a_weak_entry_is_never_read_after_its_object_is_released() {
        loom::model(|| {
            let mark = BLACK;
            // Condemned: the last marking's mark is BLACK, it has MARK1.
            let object = Arc::new(Header::new(&VTABLE, MARK1, 0, 1));
            let table = Arc::new(RwLock::new(true));
            let released = Arc::new(AtomicBool::new(false));
            let (t, r) = (table.clone(), released.clone());
            // `released` may be Relaxed: a lookup that still sees the entry
            // holds the read lock before the sweeper's write lock, which is
            // before the release, so the lock orders them.
            let sweeper = loom::thread::spawn(move || {
                *t.write().unwrap() = false;
                r.store(true, Ordering::Relaxed);
            });
            {
                let entry = table.read().unwrap();
                if *entry {
                    assert!(!released.load(Ordering::Relaxed), "an entry outlived its object");
                    assert_ne!(object.colour(), mark, "a condemned object is refused");
                }
            }
            sweeper.join().unwrap();
            assert!(!*table.read().unwrap());
        });
    }
}

//! The heap verifier, in the spirit of Lua's `checkmemory` (ltests.c):
//! callable from tests between mutations, it checks every invariant the
//! collector relies on and reports the first violation.
//!
//! Checked:
//! - each object is on exactly one of the heap's lists (objects, LSO, the
//!   LSO pending a lazy sweep) exactly once, its owner id is the heap's
//!   (unless it was transferred), and the LSO holds global objects only;
//! - every object on a list has the listed bit; objects live in pages
//!   alone (unlisted) only in incremental mode; the heap's pages hold
//!   exactly those and the listed objects that lie in pages (each one's
//!   allocation bit set, the pages' counts of boxes adding up);
//! - every unshared object reachable from the root is on the heap's lists
//!   or lives in one of its pages (no dangling reference, no unshared
//!   object of another heap);
//! - Invariant S: everything a shared object refers to is shared or frozen,
//!   everything a frozen object refers to is frozen;
//! - no global object is gray outside a shared marking;
//! - colours are consistent with the phase: in `Pause` every object has the
//!   current white; while marking no black object points to a white one,
//!   and every gray object is waiting to be traversed; while sweeping no
//!   live object points to an object of the dead white.

use core::ptr::NonNull;
use std::collections::HashSet;
use std::fmt;

use crate::collector::{Collector, Mode, Phase};
use crate::depot;
use crate::header::{Age, Flags, Header, WHITES};
use crate::heap::{Heap, Root};
use crate::page::page_of;
use crate::share::children;
use crate::trace::{Trace, Tracer};

/// A broken heap invariant, found by [`Heap::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError(String);

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "heap verification failed: {}", self.0)
    }
}

impl std::error::Error for VerifyError {}

fn fail<T>(msg: String) -> Result<T, VerifyError> {
    Err(VerifyError(msg))
}

fn name(h: &Header) -> &'static str {
    (h.vtable().name)()
}

impl<R: Root> Heap<R> {
    /// Checks the heap's invariants (see [`crate::verify`]). Expensive: for
    /// tests, between mutations.
    pub fn verify(&self) -> Result<(), VerifyError> {
        let c = self.collector();
        let objects = list(c.objects(), HashSet::new())?;
        let pending = list(c.pending.head(), HashSet::new())?;
        for (what, chain) in [("LSO", &c.lso), ("pending LSO", &c.pending)] {
            chain.check().or_else(|e| fail(format!("the {what}: {e}")))?;
        }
        if let Some(h) = objects.intersection(&pending).next() {
            return fail(format!("object at {h:p} is on the object list and the pending LSO"));
        }
        let listed = list(c.lso.head(), objects.union(&pending).copied().collect())?;
        // SAFETY: on a list, so live.
        if let Some(h) = listed.iter().find(|h| !unsafe { h.as_ref() }.is_listed()) {
            return fail(format!("object at {h:p} is on a list without the listed bit"));
        }
        let mut residents = HashSet::new();
        c.for_each_resident(|h, _| {
            residents.insert(h);
        });
        if c.mode.get() == Mode::Generational && !residents.is_empty() {
            return fail(format!("{} objects live in pages alone in generational mode", residents.len()));
        }
        pages_hold_the_objects(c, &listed, residents.len())?;
        let all: HashSet<_> = listed.union(&residents).copied().collect();
        let mut roots = Tracer::listing();
        self.root_ref().trace(&mut roots);
        reachable_are_listed(&all, roots.take_listed())?;
        for &h in &all {
            // SAFETY: on a list, so live.
            let header = unsafe { h.as_ref() };
            // A transferred object's owner field names its holder instead.
            if !header.flags().contains(Flags::SENT) && header.owner() != c.id() {
                return fail(format!("{} owned by heap {} is on heap {}", name(header), header.owner(), c.id()));
            }
            if header.is_global() {
                // Garbage awaiting its lazy sweep (not marked by the last
                // shared cycle) may point to garbage already freed.
                let garbage = pending.contains(&h) && header.colour() != c.space().inner.cycle.mark();
                if !garbage {
                    check_global(h, header, c.space().shared_marking())?;
                }
            } else if objects.contains(&h) || residents.contains(&h) {
                check_colour(c, h, header)?;
            } else {
                return fail(format!("unshared {} is on the list of shared objects", name(header)));
            }
        }
        Ok(())
    }
}

/// A list's objects, added to `seen`; fails on an object met twice.
fn list(
    head: Option<NonNull<Header>>,
    mut seen: HashSet<NonNull<Header>>,
) -> Result<HashSet<NonNull<Header>>, VerifyError> {
    let mut next = head;
    while let Some(h) = next {
        if !seen.insert(h) {
            return fail(format!("object at {h:p} is on the heap's lists twice"));
        }
        // SAFETY: on the list, so live.
        next = unsafe { h.as_ref() }.next();
    }
    Ok(seen)
}

/// The pool's pages count the listed objects in pages and the `residents`
/// (objects that live in pages alone), and each listed one's slot is taken.
fn pages_hold_the_objects(
    c: &Collector,
    listed: &HashSet<NonNull<Header>>,
    residents: usize,
) -> Result<(), VerifyError> {
    let mut paged = 0;
    for &h in listed.iter().filter(|h| depot::is_paged(h.cast())) {
        // SAFETY: a listed, live object in a page.
        let page = unsafe { page_of(h.cast()).as_ref() };
        if !page.holds(h.cast()) {
            // SAFETY: listed, so live.
            return fail(format!("{} at {h:p} is listed but its page's slot is free", name(unsafe { h.as_ref() })));
        }
        paged += 1;
    }
    if !c.pages_in_place() {
        return fail("a page of the heap's pool is not at its place in its list of pages".into());
    }
    let counted = c.boxes_in_pages();
    if counted != paged + residents {
        return fail(format!("the heap's pages count {counted} boxes: {paged} listed and {residents} alone"));
    }
    Ok(())
}

/// Every unshared object reachable from the roots is listed here; the walk
/// stops at global objects, which may belong to other heaps.
fn reachable_are_listed(objects: &HashSet<NonNull<Header>>, roots: Vec<NonNull<Header>>) -> Result<(), VerifyError> {
    let mut seen = HashSet::new();
    let mut stack = roots;
    while let Some(h) = stack.pop() {
        // SAFETY: reachable from the root, hence live in a sound heap.
        if !seen.insert(h) || unsafe { h.as_ref() }.is_global() {
            continue;
        }
        if !objects.contains(&h) {
            return fail(format!("reachable unshared object at {h:p} is not on the heap's lists"));
        }
        stack.extend(children(h));
    }
    Ok(())
}

/// Invariant S and the shared colour of a global object.
fn check_global(h: NonNull<Header>, header: &Header, marking: bool) -> Result<(), VerifyError> {
    if header.is_gray() && !marking {
        return fail(format!("global {} is gray outside a shared marking", name(header)));
    }
    let required = if header.flags().contains(Flags::FROZEN) { Flags::FROZEN } else { Flags::SHARED | Flags::FROZEN };
    for child in children(h) {
        // SAFETY: children of a live object are live.
        if !unsafe { child.as_ref() }.flags().intersects(required) {
            return fail(format!(
                "Invariant S: {} ({:?}) points to an object that is not {:?}",
                name(header),
                header.flags(),
                required
            ));
        }
    }
    Ok(())
}

fn check_colour(c: &Collector, h: NonNull<Header>, header: &Header) -> Result<(), VerifyError> {
    if c.mode.get() == Mode::Generational {
        return check_generational(c, h, header);
    }
    let white = c.current_white();
    match c.phase() {
        Phase::Pause => {
            if header.colour() != white {
                return fail(format!(
                    "{} has colour {:#b} in the pause, not the current white",
                    name(header),
                    header.colour()
                ));
            }
        }
        Phase::Propagate => {
            if header.is_gray() && !c.is_waiting_gray(h) {
                return fail(format!("gray {} is neither on the gray stack nor on grayagain", name(header)));
            }
            // A black object traced in part may still point to white ones.
            if header.is_black() && !c.is_waiting_gray(h) {
                for child in children(h) {
                    // SAFETY: children of a live object are live.
                    let child = unsafe { child.as_ref() };
                    if child.is_white() && !child.is_global() {
                        return fail(format!("black {} points to a white object", name(header)));
                    }
                }
            }
        }
        // Objects the whitening has not reached keep their generational
        // colours; nothing is marked or freed meanwhile.
        Phase::Whiten => {}
        Phase::Sweep => {
            let dead = white ^ WHITES;
            if header.colour() & dead == 0 {
                for child in children(h) {
                    // SAFETY: children of a live object are live.
                    let child = unsafe { child.as_ref() };
                    if child.colour() & dead != 0 && !child.is_global() {
                        return fail(format!("live {} points to a dead object", name(header)));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Generational mode between collections: young objects white, old ones
/// black (or gray and listed when touched), and no really old object
/// pointing to a white one.
fn check_generational(c: &Collector, h: NonNull<Header>, header: &Header) -> Result<(), VerifyError> {
    let age = header.age();
    let ok = match age {
        Age::New | Age::Survival => header.colour() == c.current_white(),
        Age::Touched1 => header.is_gray() && c.is_waiting_gray(h),
        Age::Touched2 => header.is_black() && c.is_waiting_gray(h),
        Age::Old1 | Age::Old => header.is_black(),
    };
    if !ok {
        return fail(format!("{} of age {age:?} has colour {:#b} in generational mode", name(header), header.colour()));
    }
    if age == Age::Old {
        for child in children(h) {
            // SAFETY: children of a live object are live.
            let child = unsafe { child.as_ref() };
            if child.is_white() && !child.is_global() {
                return fail(format!("old {} points to a young object", name(header)));
            }
        }
    }
    Ok(())
}

/// Whether the collector has traced `gc` in the current cycle (black). For
/// tests that need to reach a particular colouring.
pub fn is_black<T>(gc: crate::Gc<'_, T>) -> bool {
    gc.header().is_black()
}

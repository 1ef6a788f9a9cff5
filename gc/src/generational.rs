//! Generational mode, after Lua 5.4's (lgc.c, "Generational Collector").
//!
//! # The list in generational mode
//!
//! New objects are prepended to `objects`, so the list is ordered by age:
//!
//! ```text
//!   objects → [NEW …] survival → [SURVIVAL …] old1 → [OLD1 …] reallyold → [OLD, TOUCHED …]
//! ```
//!
//! # Rules
//!
//! - Old objects (OLD1, OLD, TOUCHED*) are black and stay black: marking
//!   stops at them, so a *minor* collection traverses only young objects,
//!   the OLD1 segment (which may point to objects that were young when the
//!   pointer was made) and the objects on grayagain (old objects written
//!   since: the backward barrier made them TOUCHED1).
//! - A minor collection sweeps only the NEW and SURVIVAL segments: dead
//!   objects are freed, NEW survivors become SURVIVAL (white again),
//!   SURVIVAL survivors become OLD1 (keeping their black). The OLD1 segment
//!   becomes OLD when the next minor collection traverses it.
//! - grayagain after a minor collection: TOUCHED1 objects become black
//!   TOUCHED2 and stay listed (they may point to objects that just became
//!   SURVIVAL); TOUCHED2 objects, traversed once more, become OLD and leave.
//! - A *major* collection marks and sweeps everything and makes every
//!   survivor OLD. If it freed less than half of the growth since the
//!   previous major, it was *bad*: the heap switches to incremental mode and
//!   returns to generational mode at the first incremental marking that
//!   finds no more than 1/8 more objects than the bad one did.
//!
//! # Incremental major collections (unlike Lua)
//!
//! A major collection due at a safe point runs as an incremental cycle
//! (`to_old`), so that its pauses are steps, not the whole heap: the heap
//! leaves generational mode (every object white and young again), marks
//! incrementally, and its sweep makes the survivors old as it goes. Objects
//! allocated after the atomic phase are born black and OLD (they head the
//! list): everything reachable is black by then, so they point to nothing
//! younger. While the sweep runs, the barriers already follow the
//! generational rules, so that no write into an object made old goes
//! unnoticed by the next minor collection: the backward barrier makes the
//! object TOUCHED1 (a listed object the sweep reaches later stays gray and
//! becomes TOUCHED1). When the sweep ends, every object is old, the old
//! segments start at the list's head, and the heap is generational again
//! (or incremental, if the major collection was bad). Explicit collections (`collect`,
//! entering generational mode) still make the major collection one pause.
//!
//! # Pacing
//!
//! A minor collection runs after the heap grew by `minor_multiplier`% of its
//! size; a major one instead when the heap is `major_multiplier`% larger
//! than after the last major. A minor collection is one pause.

use core::ptr::NonNull;
use std::time::Instant;

use crate::collector::{Collector, ListLink, MIN_THRESHOLD, Mode, Phase, RootTracer, Swept, list_work};
use crate::header::{Age, Header};
use crate::stats::CollectionKind;
use crate::trace::Gray;

impl Collector {
    /// Enters generational mode: a full marking, then every survivor is old.
    pub(crate) fn enter_gen(&self, root: RootTracer<'_>) -> usize {
        self.enter_inc();
        self.restart(root);
        let (_, marked) = self.mark_atomic(root);
        self.sweep_to_old();
        marked
    }

    /// Leaves generational mode: every local object white and young again
    /// (at once; `begin_whiten` does it in steps).
    pub(crate) fn enter_inc(&self) {
        self.begin_whiten();
        let mut link: &ListLink = &self.objects;
        while let Some(h) = link.get() {
            // SAFETY: objects on the list are live.
            let header = unsafe { h.as_ref() };
            self.whiten(header);
            link = header.next_link();
        }
        // Objects that live in pages alone exist in incremental mode only,
        // which this leaves for generational mode (`enter_gen`) in the
        // middle of a cycle, perhaps of its sweep.
        self.for_each_resident(|_, header| self.whiten(header));
        self.sweep_at.set(None);
        self.phase.set(Phase::Pause);
    }

    /// Leaves generational mode in steps: the collector enters the Whiten
    /// phase, whose steps make objects white and young from the list head on
    /// (`whiten_step`). Nothing is marked meanwhile, so no barrier needs the
    /// colours: a write into an object still black lists it on grayagain,
    /// which the next marking clears.
    pub(crate) fn begin_whiten(&self) {
        self.grayagain.borrow_mut().clear();
        self.tracer.borrow_mut().clear();
        self.survival.set(None);
        self.old1.set(None);
        self.reallyold.set(None);
        self.sweep_at.set(None);
        self.abandon_page_sweep();
        self.phase.set(Phase::Whiten);
        self.mode.set(Mode::Incremental);
    }

    fn whiten(&self, header: &Header) {
        if !header.is_global() {
            header.set_white(self.white.get());
            header.set_age(Age::New);
        }
    }

    /// Whitens up to `count` objects; when the list is done, an incremental
    /// major collection starts marking, anything else pauses. Returns the
    /// work done.
    pub(crate) fn whiten_step(&self, root: RootTracer<'_>, count: usize) -> usize {
        let mut link: &ListLink = match self.sweep_at.get() {
            // SAFETY: the saved link is the `next` of a live object (objects
            // are not freed while whitening) or the list head.
            Some(l) => unsafe { l.as_ref() },
            None => &self.objects,
        };
        let mut work = 0;
        for _ in 0..count {
            let Some(h) = link.get() else {
                self.sweep_at.set(None);
                if self.to_old.get() {
                    self.restart(root);
                } else {
                    self.phase.set(Phase::Pause);
                }
                return work + 1;
            };
            // SAFETY: objects on the list are live.
            let header = unsafe { h.as_ref() };
            work += list_work(header);
            self.whiten(header);
            link = header.next_link();
        }
        self.sweep_at.set(Some(NonNull::from(link)));
        work
    }

    /// After a complete marking (white flipped): frees the dead, makes every
    /// survivor black and OLD, and enters generational mode.
    pub(crate) fn sweep_to_old(&self) {
        let dead = self.white.get() ^ crate::header::WHITES;
        let keep_old = |h: &Header| {
            h.set_black();
            h.set_age(Age::Old);
        };
        self.sweep_list(&self.objects, None, usize::MAX, |h| h.colour() & dead != 0, keep_old);
        self.sweep_residents(
            |h| h.colour() & dead != 0,
            |obj, h| {
                keep_old(h);
                self.link(obj);
            },
        );
        self.grayagain.borrow_mut().clear();
        self.all_old();
        self.phase.set(Phase::Pause);
        self.mode.set(Mode::Generational);
        self.last_atomic.set(0);
        self.estimate.set(self.total.get());
        self.set_minor_debt();
    }

    /// Whether an incremental marking of `marked` objects, after a bad major
    /// collection, is good enough to return to generational mode.
    pub(crate) fn wants_gen_back(&self, marked: usize) -> bool {
        let last = self.last_atomic.get();
        if marked < last + last / 8 {
            return true;
        }
        self.last_atomic.set(marked);
        false
    }

    /// One generational step: a minor collection, or a major one when the
    /// heap has grown enough since the last major.
    pub(crate) fn gen_step(&self, root: RootTracer<'_>) -> usize {
        let params = self.params.get();
        let base = self.estimate.get();
        let growth = (base / 100).saturating_mul(params.major_multiplier as usize);
        if self.total.get() <= base + growth {
            return self.minor(root);
        }
        self.begin_major();
        1
    }

    /// Starts an incremental major collection (see the module doc).
    fn begin_major(&self) {
        self.start_cycle_log();
        self.begin_whiten();
        self.to_old.set(true);
        self.set_debt(0);
    }

    /// The atomic phase of a cycle that returns to generational mode: the
    /// sweep that follows makes survivors old.
    pub(crate) fn begin_sweep_to_old(&self, marked: usize) {
        self.to_old.set(true);
        self.marked_by_major.set(marked);
    }

    /// What the to-old sweep does to a survivor: one written since the
    /// atomic phase (gray, on grayagain) becomes TOUCHED1; the others become
    /// OLD (black). An object allocated since the atomic phase is born
    /// black and OLD (`Collector::new_header`): everything reachable is
    /// black from the atomic phase on, so it can point to nothing younger.
    /// Born young, the 45,000 objects the VM's binary-trees made during a
    /// major's sweep (2.5 MB) were marked by the first minor collection
    /// after it and again by the second, 1–2.8 ms each.
    pub(crate) fn keep_old(&self, h: &Header) {
        debug_assert!(!h.is_white(), "from the atomic phase on, every live object is black or gray");
        if h.age() == Age::Touched1 {
            return;
        }
        if h.is_gray() {
            h.set_age(Age::Touched1);
        } else {
            h.set_age(Age::Old);
        }
    }

    /// Every object on the list is old: the old segments start at its head.
    fn all_old(&self) {
        let head = self.objects.get();
        self.survival.set(head);
        self.old1.set(head);
        self.reallyold.set(head);
    }

    /// The to-old sweep ended: every object is old (or touched, and on
    /// grayagain), so the old segments start at the list's head, and the
    /// heap is generational, unless this major collection (started in
    /// generational mode) was bad.
    pub(crate) fn end_sweep_to_old(&self) {
        self.all_old();
        // A major collection due in generational mode (not the return from a
        // bad one, which left `last_atomic` non-zero) decides by its outcome
        // whether the heap stays generational.
        let due_in_gen = self.last_atomic.get() == 0;
        self.to_old.set(false);
        self.mode.set(Mode::Generational);
        self.last_atomic.set(0);
        self.ended_major.set(true);
        self.finish_cycle(CollectionKind::Major);
        let base = self.estimate.get();
        let growth = (base / 100).saturating_mul(self.params.get().major_multiplier as usize);
        if due_in_gen && self.total.get() >= base + growth / 2 {
            // A bad major collection: continue incrementally (leaving
            // generational mode in steps).
            self.begin_whiten();
            self.last_atomic.set(self.marked_by_major.get().max(1));
            self.estimate.set(self.total.get());
            self.set_pause_debt();
            return;
        }
        self.estimate.set(self.total.get());
        self.set_minor_debt();
    }

    /// A major collection (one pause): mark and sweep everything; survivors
    /// become old. Returns the number of objects marked.
    pub(crate) fn major(&self, root: RootTracer<'_>) -> usize {
        let started = Instant::now();
        self.start_cycle_log();
        let marked = self.enter_gen(root);
        self.record_pause(started.elapsed());
        self.finish_cycle(CollectionKind::Major);
        marked
    }

    /// A minor collection (one pause): only young objects are traced and
    /// swept.
    pub(crate) fn minor(&self, root: RootTracer<'_>) -> usize {
        let started = Instant::now();
        self.start_cycle_log();
        self.mark_old1();
        let (again, marked) = self.mark_young(root);
        // The nursery, then the survivals; `survivals` stays the link to the
        // first survival, which after its sweep heads the new OLD1 segment.
        let nursery = self.sweep_gen(&self.objects, self.survival.get());
        let survivals = nursery.link;
        let swept = nursery.work + self.sweep_gen(survivals, self.old1.get()).work;
        self.reallyold.set(self.old1.get());
        self.old1.set(survivals.get());
        self.survival.set(self.objects.get());
        self.correct_grayagain(again);
        self.record_pause(started.elapsed());
        self.finish_cycle(CollectionKind::Minor);
        self.set_minor_debt();
        marked + swept
    }

    /// The OLD1 segment becomes OLD; its black objects are traversed again.
    fn mark_old1(&self) {
        let mut tracer = self.tracer.borrow_mut();
        let (mut next, end) = (self.old1.get(), self.reallyold.get());
        while next != end {
            let Some(h) = next else { break };
            // SAFETY: objects on the list are live.
            let header = unsafe { h.as_ref() };
            if !header.is_global() && header.age() == Age::Old1 {
                header.set_age(Age::Old);
                if header.is_black() {
                    tracer.traverse(Gray::whole(h));
                }
            }
            next = header.next();
        }
    }

    /// Marks from the root and grayagain, then flips the white. Returns the
    /// grayagain objects (for `correct_grayagain`) and the work done.
    fn mark_young(&self, root: RootTracer<'_>) -> (Vec<NonNull<Header>>, usize) {
        let mut tracer = self.tracer.borrow_mut();
        root(&mut tracer);
        let mut work = self.propagate_all(&mut tracer);
        let again = core::mem::take(&mut *self.grayagain.borrow_mut());
        for &h in &again {
            // SAFETY: grayagain holds old (never minor-swept) live objects.
            if !unsafe { h.as_ref() }.is_global() {
                tracer.traverse(Gray::whole(h));
            }
        }
        work += self.propagate_all(&mut tracer);
        tracer.take_traversed();
        self.white.set(self.white.get() ^ crate::header::WHITES);
        (again, work)
    }

    /// Sweeps young objects from `link` up to `limit`; returns the link where
    /// it stopped, and the work done.
    fn sweep_gen<'a>(&'a self, link: &'a ListLink, limit: Option<NonNull<Header>>) -> Swept<'a> {
        let white = self.white.get();
        let keep_young = |h: &Header| {
            if h.age() == Age::New {
                h.set_white(white);
            }
            h.set_age(h.age().next());
        };
        // After the flip every unmarked young object is white: dead.
        self.sweep_list(link, limit, usize::MAX, Header::is_white, keep_young)
    }

    /// grayagain after a minor collection: TOUCHED1 become black TOUCHED2
    /// and stay; TOUCHED2 become OLD and leave; everything else leaves. The
    /// list is filtered in place and kept (`keep_grayagain`).
    fn correct_grayagain(&self, mut again: Vec<NonNull<Header>>) {
        again.retain(|h| {
            // SAFETY: as in `mark_young`.
            let header = unsafe { h.as_ref() };
            match header.age() {
                _ if header.is_global() => false,
                Age::Touched1 => {
                    header.set_black();
                    header.set_age(Age::Touched2);
                    true
                }
                Age::Touched2 => {
                    header.set_age(Age::Old);
                    false
                }
                _ => false,
            }
        });
        self.keep_grayagain(again);
    }

    fn set_minor_debt(&self) {
        let params = self.params.get();
        let allowance = (self.total.get() / 100).saturating_mul(params.minor_multiplier as usize);
        let allowance = allowance.min(params.minor_max.max(MIN_THRESHOLD / 4));
        self.set_debt(-(allowance.max(MIN_THRESHOLD / 4) as isize));
    }
}

//! Happens-before annotations for valgrind's race detectors, helgrind and
//! DRD, and the atomics that make them.
//!
//! Both tools know pthread's primitives and nothing else: an atomic
//! protocol (the lock words, the sharing flags, the work-stealing deques,
//! futex-based mutexes) orders memory without their seeing it, so each
//! access it orders looks like a race to them. Built with `--cfg
//! maat_valgrind` (`scripts/races` does), this module tells them what the
//! protocols order:
//!
//! - [`happens_before`] and [`happens_after`] emit the client requests both
//!   tools share (helgrind's `ANNOTATE_HAPPENS_BEFORE`/`AFTER`, DRD's
//!   codes are the same): everything a thread did before a `happens_before`
//!   on a tag happens before everything a thread does after a later
//!   `happens_after` on the same tag.
//! - [`atomic`]'s types are `core`'s atomics that annotate every access by
//!   its ordering, with the atomic's address as the tag: a `Release` (or
//!   stronger) write is a `happens_before`, an `Acquire` (or stronger) read
//!   a `happens_after`, `Relaxed` neither. That is exactly the
//!   synchronizes-with edge the memory model gives a release write read by
//!   an acquire read, so a plain access the protocol does not order is
//!   still reported. A release write is announced on both sides of it: the
//!   tools order only what a thread did before its announcement, and the
//!   write is itself an access that a later acquirer's plain accesses must
//!   follow (an orphan page's count, decremented by each destroyer of its
//!   boxes and overwritten by the page's next owner after the last one
//!   gave it away, is one); the announcement before it keeps an acquirer
//!   that reads it at once ordered after what came before. One
//!   over-approximation: a compare-and-swap announces its release before it
//!   knows it will succeed (afterwards a reader could come between), so a
//!   failed one adds an edge the hardware does not.
//!   Fences carry no address: a site whose edge is a fence annotates it
//!   itself, naming the atomic the fence pairs with.
//!
//! Without `maat_valgrind` the functions are empty and inlined away, and
//! [`atomic`] is `core::sync::atomic`: normal builds pay nothing.

/// Tells the race detectors that what this thread did so far happens before
/// what any thread does after a later [`happens_after`] on `tag`.
#[inline(always)]
pub fn happens_before<T: ?Sized>(tag: *const T) {
    announce(tag, true);
}

/// Tells the race detectors that what this thread does from now on happens
/// after what every thread did before its [`happens_before`] on `tag`.
#[inline(always)]
pub fn happens_after<T: ?Sized>(tag: *const T) {
    announce(tag, false);
}

/// One half of a happens-before edge on `tag`: its start (`before`) or its
/// end.
#[inline(always)]
fn announce<T: ?Sized>(tag: *const T, before: bool) {
    #[cfg(maat_valgrind)]
    {
        let code = if before { client::HAPPENS_BEFORE } else { client::HAPPENS_AFTER };
        client::request(code, tag.cast::<()>() as usize, 0);
    }
    #[cfg(not(maat_valgrind))]
    let _ = (tag, before);
}

/// Tells the race detectors to stop checking the bytes of `at`: a foreign
/// primitive's word (a parking_lot mutex or condition variable) that only
/// its own atomics touch, some inlined into the caller, where a report
/// cannot be told from one about the caller's data. What the word orders is
/// announced where the primitive is used ([`crate::Mutex`]).
#[inline(always)]
pub fn atomic_only<T>(at: &T) {
    #[cfg(maat_valgrind)]
    {
        let (address, len) = (at as *const T as usize, size_of::<T>());
        client::request(client::HG_UNTRACKED, address, len);
        client::request(client::DRD_BENIGN, address, len);
    }
    #[cfg(not(maat_valgrind))]
    let _ = at;
}

#[cfg(all(maat_valgrind, not(target_arch = "x86_64")))]
compile_error!("maat_valgrind's client requests are written for x86_64 only");

#[cfg(maat_valgrind)]
mod client {
    /// `VG_USERREQ_TOOL_BASE('H', 'G') + 256 + 33`: helgrind's
    /// `_VG_USERREQ__HG_USERSO_SEND_PRE`, DRD's
    /// `VG_USERREQ__DRD_ANNOTATE_HAPPENS_BEFORE`.
    pub(super) const HAPPENS_BEFORE: usize = 0x4847_0121;
    /// `… + 34`: `_VG_USERREQ__HG_USERSO_RECV_POST`,
    /// `VG_USERREQ__DRD_ANNOTATE_HAPPENS_AFTER`.
    pub(super) const HAPPENS_AFTER: usize = 0x4847_0122;
    /// `… + 39`: helgrind's `_VG_USERREQ__HG_ARANGE_MAKE_UNTRACKED`.
    pub(super) const HG_UNTRACKED: usize = 0x4847_0127;
    /// `VG_USERREQ_TOOL_BASE('D', 'R') + 2`: DRD's
    /// `VG_USERREQ__DRD_START_SUPPRESSION` (`ANNOTATE_BENIGN_RACE_SIZED`).
    pub(super) const DRD_BENIGN: usize = 0x4452_0002;

    /// Valgrind's client request with two arguments (valgrind.h's
    /// `VALGRIND_DO_CLIENT_REQUEST_EXPR` for amd64). A tool ignores the
    /// requests of another.
    #[inline(always)]
    pub(super) fn request(code: usize, a: usize, b: usize) {
        let args = [code, a, b, 0, 0, 0];
        // SAFETY: the "special instruction preamble" valgrind recognizes:
        // four rotations of rdi by 128 bits in all leave it as it was, and
        // `xchg rbx, rbx` changes nothing, so natively the sequence only
        // clobbers the flags (declared) and rdx (the default answer, 0, is
        // what a native run leaves). Under valgrind the tool reads the six
        // words at rax (a live local array) and writes its answer to rdx.
        unsafe {
            core::arch::asm!(
                "rol rdi, 3",
                "rol rdi, 13",
                "rol rdi, 61",
                "rol rdi, 51",
                "xchg rbx, rbx",
                in("rax") args.as_ptr(),
                inout("rdx") 0usize => _,
                out("rdi") _,
                options(nostack),
            );
        }
    }
}

/// The atomics every crate of the runtime uses outside loom models:
/// `core`'s, or under `maat_valgrind` the annotating ones (see the module
/// documentation).
pub mod atomic {
    #[cfg(not(maat_valgrind))]
    pub use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU32, AtomicU64, AtomicUsize};
    pub use core::sync::atomic::{Ordering, fence};

    #[cfg(maat_valgrind)]
    pub use annotated::{AtomicBool, AtomicI64, AtomicU8, AtomicU32, AtomicU64, AtomicUsize};

    #[cfg(maat_valgrind)]
    mod annotated {
        use super::super::{happens_after, happens_before};
        use core::sync::atomic::Ordering::{self, AcqRel, Acquire, Release, SeqCst};

        /// Announces the release half of an access of `ordering`.
        #[inline(always)]
        fn released<T>(at: &T, ordering: Ordering) {
            if matches!(ordering, Release | AcqRel | SeqCst) {
                happens_before(at);
            }
        }

        /// Announces what a conditional write did: its release half again
        /// (after the write) if it wrote, then the acquire half of the
        /// ordering that applied.
        #[inline(always)]
        fn settled<T>(at: &T, wrote: bool, success: Ordering, failure: Ordering) {
            if wrote {
                released(at, success);
            }
            acquired(at, if wrote { success } else { failure });
        }

        /// Announces the acquire half of an access of `ordering`.
        #[inline(always)]
        fn acquired<T>(at: &T, ordering: Ordering) {
            if matches!(ordering, Acquire | AcqRel | SeqCst) {
                happens_after(at);
            }
        }

        macro_rules! annotated {
            ($name:ident, $t:ty $(, $rmw:ident)*) => {
                /// `core`'s atomic of the same name, annotated.
                #[derive(Debug, Default)]
                #[repr(transparent)]
                pub struct $name(core::sync::atomic::$name);

                impl $name {
                    /// A new atomic holding `v`.
                    pub const fn new(v: $t) -> Self {
                        Self(core::sync::atomic::$name::new(v))
                    }

                    /// `load`, announcing its acquire.
                    pub fn load(&self, o: Ordering) -> $t {
                        let v = self.0.load(o);
                        acquired(self, o);
                        v
                    }

                    /// `store`, announcing its release.
                    pub fn store(&self, v: $t, o: Ordering) {
                        released(self, o);
                        self.0.store(v, o);
                        released(self, o);
                    }

                    /// `swap`, announcing both halves.
                    pub fn swap(&self, v: $t, o: Ordering) -> $t {
                        released(self, o);
                        let old = self.0.swap(v, o);
                        released(self, o);
                        acquired(self, o);
                        old
                    }

                    /// `compare_exchange`, announcing both halves.
                    pub fn compare_exchange(&self, current: $t, new: $t, success: Ordering, failure: Ordering) -> Result<$t, $t> {
                        released(self, success);
                        let r = self.0.compare_exchange(current, new, success, failure);
                        settled(self, r.is_ok(), success, failure);
                        r
                    }

                    /// `compare_exchange_weak`, announcing both halves.
                    pub fn compare_exchange_weak(&self, current: $t, new: $t, success: Ordering, failure: Ordering) -> Result<$t, $t> {
                        released(self, success);
                        let r = self.0.compare_exchange_weak(current, new, success, failure);
                        settled(self, r.is_ok(), success, failure);
                        r
                    }

                    /// `fetch_update`, announcing both halves.
                    pub fn fetch_update(&self, set: Ordering, fetch: Ordering, f: impl FnMut($t) -> Option<$t>) -> Result<$t, $t> {
                        released(self, set);
                        let r = self.0.fetch_update(set, fetch, f);
                        settled(self, r.is_ok(), set, fetch);
                        r
                    }

                    $(
                        /// The read-modify-write of the same name, announcing both halves.
                        pub fn $rmw(&self, v: $t, o: Ordering) -> $t {
                            released(self, o);
                            let old = self.0.$rmw(v, o);
                            released(self, o);
                            acquired(self, o);
                            old
                        }
                    )*

                    /// The value, from an owner.
                    pub fn into_inner(self) -> $t {
                        self.0.into_inner()
                    }

                    /// The value, mutably, from an owner.
                    pub fn get_mut(&mut self) -> &mut $t {
                        self.0.get_mut()
                    }

                    /// The address of the value.
                    pub const fn as_ptr(&self) -> *mut $t {
                        self.0.as_ptr()
                    }
                }
            };
        }

        annotated!(AtomicBool, bool, fetch_and, fetch_or);
        annotated!(AtomicU8, u8, fetch_add, fetch_sub, fetch_and, fetch_or, fetch_max);
        annotated!(AtomicU32, u32, fetch_add, fetch_sub, fetch_and, fetch_or, fetch_max);
        annotated!(AtomicU64, u64, fetch_add, fetch_sub, fetch_and, fetch_or, fetch_max);
        annotated!(AtomicUsize, usize, fetch_add, fetch_sub, fetch_and, fetch_or, fetch_max);
        annotated!(AtomicI64, i64, fetch_add, fetch_sub, fetch_and, fetch_or, fetch_max);
    }
}

//! Chains: lists of objects linked through their headers' `next`, with
//! their last object and their boxes' bytes kept as they change, so that a
//! whole chain joins another list in constant time. A heap's list of
//! shared objects (LSO) and its pending lazy sweep are chains: when the
//! heap ends, the space takes both over inside its mutex without walking
//! them (walking tens of thousands of cold headers there held every other
//! heap's safe point for milliseconds).
//!
//! # Invariants
//!
//! - `tail` is `None` exactly when `head` is, and is the last object
//!   reached from `head` through `next`.
//! - `bytes` is the sum of `vtable().size()` over the chain's objects.
//! - Every object on a chain is live, and on no other list. Objects come
//!   and go at the front ([`Chain::push`], [`Chain::pop`]); a chain
//!   changes hands whole ([`Chain::take`], [`Chain::put`],
//!   [`Chain::prepend_to`]).

use core::cell::Cell;
use core::ptr::NonNull;

use crate::header::Header;

/// A list of objects with its end and its box bytes (see the module doc).
#[derive(Default)]
pub(crate) struct Chain {
    head: Cell<Option<NonNull<Header>>>,
    tail: Cell<Option<NonNull<Header>>>,
    bytes: Cell<usize>,
}

impl Chain {
    /// The first object.
    pub(crate) fn head(&self) -> Option<NonNull<Header>> {
        self.head.get()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.get().is_none()
    }

    /// Puts `obj`, live and on no list, first.
    pub(crate) fn push(&self, obj: NonNull<Header>) {
        // SAFETY: the caller's `obj` is live.
        let h = unsafe { obj.as_ref() };
        h.set_listed();
        h.next_link().set(self.head.get());
        if self.tail.get().is_none() {
            self.tail.set(Some(obj));
        }
        self.head.set(Some(obj));
        self.bytes.set(self.bytes.get() + h.vtable().size());
    }

    /// Takes the first object off.
    pub(crate) fn pop(&self) -> Option<NonNull<Header>> {
        let obj = self.head.get()?;
        // SAFETY: objects on a chain are live.
        let h = unsafe { obj.as_ref() };
        self.head.set(h.next());
        if self.head.get().is_none() {
            self.tail.set(None);
        }
        self.bytes.set(self.bytes.get() - h.vtable().size());
        Some(obj)
    }

    /// Moves the whole chain out, leaving this one empty.
    pub(crate) fn take(&self) -> Chain {
        Chain {
            head: Cell::new(self.head.take()),
            tail: Cell::new(self.tail.take()),
            bytes: Cell::new(self.bytes.take()),
        }
    }

    /// Puts `chain` in place of this one, which must be empty.
    pub(crate) fn put(&self, chain: Chain) {
        debug_assert!(self.is_empty(), "a chain is put only in an empty one's place");
        self.head.set(chain.head.get());
        self.tail.set(chain.tail.get());
        self.bytes.set(chain.bytes.get());
    }

    /// Checks the invariants above by walking the chain (verifier).
    pub(crate) fn check(&self) -> Result<(), String> {
        let (mut last, mut bytes, mut next) = (None, 0, self.head.get());
        while let Some(obj) = next {
            // SAFETY: objects on a chain are live.
            let h = unsafe { obj.as_ref() };
            bytes += h.vtable().size();
            (last, next) = (Some(obj), h.next());
        }
        if last != self.tail.get() {
            return Err(format!("the chain ends at {last:?}, its tail says {:?}", self.tail.get()));
        }
        if bytes != self.bytes.get() {
            return Err(format!("the chain's boxes hold {bytes} bytes, it counts {}", self.bytes.get()));
        }
        Ok(())
    }

    /// Puts the chain in front of `list` (whose objects it must not hold);
    /// returns its bytes.
    pub(crate) fn prepend_to(self, list: &mut Option<NonNull<Header>>) -> usize {
        if let Some(tail) = self.tail.get() {
            // SAFETY: the tail is a live object of the chain.
            unsafe { tail.as_ref() }.next_link().set(*list);
            *list = self.head.get();
        }
        self.bytes.get()
    }
}

//! Str: an immutable string. Immutable objects need no lock in any mode; a
//! string is shared like any object when it is stored into a shared one.
//! Short strings are interned (see [`super::intern`]): they are shared from
//! birth, and equal short strings of one runtime are one object.
//!
//! # Layout
//!
//! One box: the header, then `StrHead` (the hash, whether the text is
//! ASCII and whether it is interned, in one word), the text's length and
//! its bytes (a [`Tailed`] object). A string is one allocation whatever
//! its length, so a long one is recycled by its heap's pool like any box (a
//! text in a buffer of its own went to the system allocator, which after a
//! collection freed many of them could take a millisecond for the next
//! one; docs/gc.md). The hash sits next to the header's kind: a map lookup
//! reads both from one cache line.

use core::ptr::NonNull;

use maat_gc::{Gc, GcAny, Head, Tailed, Tracer};

use super::intern::{self, MAX_SHORT};
use super::{Ctx, kind};
use crate::value::Value;

/// A Maat string: a `StrHead` and the text's bytes.
#[repr(transparent)]
pub struct Str(Tailed<StrHead>);

/// A string's head, one word: the hash of its text, computed once, two of
/// whose bits (always 0 in a hash: [`intern::SPARE_BITS`]) say whether the
/// text is all ASCII (so that indexing by character is indexing by byte:
/// worked out once, not at each `s[i]`) and whether the string is interned.
/// With the length after it, a text of up to 16 bytes makes a 56-byte box.
struct StrHead(u64);

const ASCII: u64 = 1 << 48;
const INTERNED: u64 = 1 << 49;
const _: () = assert!((ASCII | INTERNED) & !intern::SPARE_BITS == 0, "the flags fit the hash's spare bits");

impl StrHead {
    fn hash(&self) -> u64 {
        self.0 & !intern::SPARE_BITS
    }
}

// SAFETY: a string holds no reference; its `Drop` touches no `Gc` (it
// removes the string from the string table).
unsafe impl Head for StrHead {
    type Item = u8;
    const NEEDS_TRACE: bool = false;

    fn trace(&self, _: &[u8], _: &mut Tracer) {}
}

impl Drop for StrHead {
    fn drop(&mut self) {
        if self.0 & INTERNED != 0 {
            // The head is the string's first field (`Tailed` is `repr(C)`,
            // `Str` transparent): its address is the string's.
            intern::forget(self.hash(), NonNull::from(&*self).cast::<Str>());
        }
    }
}

/// Whether `o` is an interned string (for [`Value::object`]'s tag).
///
/// [`Value::object`]: crate::value::Value::object
#[inline]
pub(crate) fn is_interned(o: GcAny<'_>) -> bool {
    // SAFETY: kind STR objects are `Str`s.
    o.kind() == kind::STR && Gc::get(unsafe { o.downcast::<Str>() }).0.head().0 & INTERNED != 0
}

impl Str {
    /// The string of `text` (copied into its box): the interned one if
    /// `text` is short.
    pub fn alloc<'gc>(ctx: &Ctx<'_, 'gc>, text: &str) -> Gc<'gc, Str> {
        let hash = intern::hash(text);
        let interned = text.len() <= MAX_SHORT;
        let make = || Str::make(ctx, hash, text, interned);
        if interned { intern::intern(ctx.mc, text, hash, make) } else { make() }
    }

    fn make<'gc>(ctx: &Ctx<'_, 'gc>, hash: u64, text: &str, interned: bool) -> Gc<'gc, Str> {
        let flags = if text.is_ascii() { ASCII } else { 0 } | if interned { INTERNED } else { 0 };
        let head = StrHead(hash | flags);
        let bytes = text.as_bytes();
        let made = ctx.mc.alloc_tailed(head, bytes.len(), |i| bytes[i], kind::STR);
        // SAFETY: `Str` is a transparent wrapper of `Tailed<StrHead>`, the
        // object's type.
        unsafe { GcAny::from(made).downcast() }
    }

    /// The string `v` holds, if it holds one.
    pub fn of<'gc>(v: Value<'gc>) -> Option<&'gc Str> {
        let o = v.as_object().filter(|o| o.kind() == kind::STR)?;
        // SAFETY: kind STR objects are `Str`s.
        Some(Gc::get(unsafe { o.downcast::<Str>() }))
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        // SAFETY: the bytes were copied from a `str` (`Str::make`) and never
        // change.
        unsafe { core::str::from_utf8_unchecked(self.0.items()) }
    }

    /// Whether the text is all ASCII (one byte per character).
    pub fn is_ascii(&self) -> bool {
        self.0.head().0 & ASCII != 0
    }

    /// The hash of the text (the same for equal texts).
    pub fn hash_code(&self) -> u64 {
        self.0.head().hash()
    }

    /// Whether `self` and `other` have the same text. Two short strings of
    /// one runtime are equal only if they are the same object.
    pub fn same_text(&self, other: &Str) -> bool {
        core::ptr::eq(self, other) || (self.hash_code() == other.hash_code() && self.as_str() == other.as_str())
    }
}

//! Str: an immutable string. Immutable objects need no lock in any mode; a
//! string is shared like any object when it is stored into a shared one.
//! Short strings are interned (see [`super::intern`]): they are shared from
//! birth, and equal short strings of one runtime are one object. Texts of
//! up to [`INLINE`] bytes live in the object itself (a 56-byte box with its
//! header), longer ones in a buffer of their own.

use maat_gc::{Gc, Trace};

use super::intern::{self, MAX_SHORT};
use super::{Ctx, kind};
use crate::value::Value;

/// A Maat string: its text and a hash computed once.
///
/// `repr(C)` puts the hash first, next to the header: a map lookup reads
/// the header's kind and then the hash, and at offsets 19 and 24..32 of a
/// 16-byte-aligned box the two always share a cache line. (Rust's own
/// layout put the hash last, at 48..56, and three boxes in four then took
/// two cache misses where one does.)
#[derive(Trace)]
#[repr(C)]
// `Drop` touches no `Gc`: it removes the string from the string table.
#[trace(unsafe_drop)]
pub struct Str {
    hash: u64,
    text: Text,
}

/// Texts up to this many bytes are stored in the string object.
pub const INLINE: usize = 22;

/// A string's text.
enum Text {
    /// Up to `INLINE` bytes, in place: `len` bytes of valid UTF-8.
    Inline { len: u8, bytes: [u8; INLINE] },
    /// A longer text, and whether it is all ASCII (so that indexing by
    /// character is indexing by byte: worked out once, not at each `s[i]`).
    Heap(Box<str>, bool),
}

// SAFETY: no references.
unsafe impl Trace for Text {
    const NEEDS_TRACE: bool = false;
    fn trace(&self, _: &mut maat_gc::Tracer) {}
    fn heap_size(&self) -> usize {
        match self {
            Text::Inline { .. } => 0,
            Text::Heap(text, _) => text.len(),
        }
    }
}

impl Text {
    fn new(text: &str) -> Text {
        if text.len() > INLINE {
            return Text::heap(text.into());
        }
        let mut bytes = [0; INLINE];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Text::Inline { len: text.len() as u8, bytes }
    }

    fn as_str(&self) -> &str {
        match self {
            // SAFETY: the first `len` bytes were copied from a `str`
            // (`Text::new`) and never change.
            Text::Inline { len, bytes } => unsafe { core::str::from_utf8_unchecked(&bytes[..*len as usize]) },
            Text::Heap(text, _) => text,
        }
    }

    fn heap(text: Box<str>) -> Text {
        let ascii = text.is_ascii();
        Text::Heap(text, ascii)
    }
}

impl Str {
    /// The string of `text`: the interned one if `text` is short.
    pub fn alloc<'gc>(ctx: &Ctx<'_, 'gc>, text: &str) -> Gc<'gc, Str> {
        let hash = intern::hash(text);
        let make = || Str::new_box(ctx, hash, Text::new(text));
        if text.len() <= MAX_SHORT { intern::intern(ctx.mc, text, hash, make) } else { make() }
    }

    /// The string of `text`; a long one keeps `text`'s buffer if it is
    /// exactly as long as the text, and is copied into one that is
    /// otherwise. Shrinking the buffer in place would leave the rest of it
    /// as a free hole behind a string that may live long, too small for
    /// the next string built the same way: a program that keeps 200,000
    /// strings of 1 KiB, each built by appending to a copy of another,
    /// peaked at 1.6 times the memory its strings take.
    pub fn alloc_string<'gc>(ctx: &Ctx<'_, 'gc>, text: String) -> Gc<'gc, Str> {
        if text.len() <= MAX_SHORT {
            return Str::alloc(ctx, &text);
        }
        let exact = if text.capacity() == text.len() { text.into_boxed_str() } else { Box::from(text.as_str()) };
        Str::new_box(ctx, intern::hash(&exact), Text::heap(exact))
    }

    fn new_box<'gc>(ctx: &Ctx<'_, 'gc>, hash: u64, text: Text) -> Gc<'gc, Str> {
        ctx.mc.alloc_kind(Str { hash, text }, kind::STR)
    }

    /// The string `v` holds, if it holds one.
    pub fn of<'gc>(v: Value<'gc>) -> Option<&'gc Str> {
        let o = v.as_object().filter(|o| o.kind() == kind::STR)?;
        // SAFETY: kind STR objects are `Str`s.
        Some(Gc::get(unsafe { o.downcast::<Str>() }))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }

    /// Whether the text is all ASCII (one byte per character).
    pub fn is_ascii(&self) -> bool {
        match &self.text {
            Text::Heap(_, ascii) => *ascii,
            Text::Inline { .. } => self.as_str().is_ascii(),
        }
    }

    /// The hash of the text (the same for equal texts).
    pub fn hash_code(&self) -> u64 {
        self.hash
    }

    /// Whether `self` and `other` have the same text. Two short strings of
    /// one runtime are equal only if they are the same object.
    pub fn same_text(&self, other: &Str) -> bool {
        core::ptr::eq(self, other) || (self.hash == other.hash && self.as_str() == other.as_str())
    }
}

const _: () = assert!(size_of::<Str>() == 32, "a string with its header is a 56-byte box");

impl Drop for Str {
    fn drop(&mut self) {
        if self.as_str().len() <= MAX_SHORT {
            intern::forget(self);
        }
    }
}

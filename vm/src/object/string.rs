//! Str: an immutable string. Immutable objects need no lock in any mode; a
//! string is shared like any object when it is stored into a shared one.

use std::hash::{DefaultHasher, Hash, Hasher};

use maat_gc::{Gc, Trace};

use super::{Ctx, kind};

/// A Maat string: its text and a hash computed once.
#[derive(Trace)]
pub struct Str {
    hash: u64,
    text: Box<str>,
}

impl Str {
    /// Allocates a string.
    pub fn alloc<'gc>(ctx: &Ctx<'_, 'gc>, text: &str) -> Gc<'gc, Str> {
        let mut h = DefaultHasher::new();
        text.hash(&mut h);
        ctx.mc.alloc_kind(Str { hash: h.finish(), text: text.into() }, kind::STR)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The hash of the text (the same for equal texts).
    pub fn hash_code(&self) -> u64 {
        self.hash
    }
}

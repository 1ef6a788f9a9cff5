// A derived Trace type cannot implement Drop (it could dereference a freed
// Gc) unless it says `#[trace(unsafe_drop)]`.
use maat_gc::{Gc, Trace};

#[derive(Trace)]
struct Holder<'gc> {
    inner: Gc<'gc, u32>,
}

impl Drop for Holder<'_> {
    fn drop(&mut self) {}
}

fn main() {}

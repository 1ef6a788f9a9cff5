//! Closure: a function and the slots of the variables it captured. Immutable
//! (the slots synchronize themselves), so it needs no lock.

use maat_gc::{Gc, Trace};

use super::slot::Slot;
use super::{Ctx, kind};

/// A Maat closure.
#[derive(Trace)]
pub struct Closure<'gc> {
    /// The function's index in the program.
    pub func: u32,
    /// The captured variables' slots, in the function's upvalue order.
    pub upvalues: Box<[Gc<'gc, Slot<'gc>>]>,
}

impl<'gc> Closure<'gc> {
    /// Allocates a closure.
    pub fn alloc(ctx: &Ctx<'_, 'gc>, func: u32, upvalues: Box<[Gc<'gc, Slot<'gc>>]>) -> Gc<'gc, Closure<'gc>> {
        ctx.mc.alloc_kind(Closure { func, upvalues }, kind::CLOSURE)
    }
}

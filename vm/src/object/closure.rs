//! Closure: a function and what it captured: the slots of variables that
//! are assigned again, the values of those that are not. Immutable (the
//! slots synchronize themselves), so it needs no lock.

use maat_gc::{Gc, Trace};

use super::{Ctx, kind};
use crate::value::Value;

/// A Maat closure.
#[derive(Trace)]
pub struct Closure<'gc> {
    /// The function's index in the program.
    pub func: u32,
    /// The captured variables' slots or values, in the function's upvalue
    /// order (the compiler knows which each is).
    pub upvalues: Box<[Value<'gc>]>,
}

impl<'gc> Closure<'gc> {
    /// Allocates a closure.
    pub fn alloc(ctx: &Ctx<'_, 'gc>, func: u32, upvalues: Box<[Value<'gc>]>) -> Gc<'gc, Closure<'gc>> {
        ctx.mc.alloc_kind(Closure { func, upvalues }, kind::CLOSURE)
    }
}

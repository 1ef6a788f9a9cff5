//! Closure: a function and what it captured: the slots of variables that
//! are assigned again, the values of those that are not. Immutable (the
//! slots synchronize themselves), so it needs no lock. One box: the
//! function, then the captured values (a [`Tailed`] object), so that making
//! one is one allocation.

use maat_gc::{Gc, GcAny, Head, Tailed, Trace, Tracer};

use super::{Ctx, kind};
use crate::value::Value;

/// A Maat closure.
#[repr(transparent)]
pub struct Closure<'gc>(Tailed<ClosureHead<'gc>>);

/// A closure's head: its function.
pub struct ClosureHead<'gc> {
    func: u32,
    _upvalues: core::marker::PhantomData<Value<'gc>>,
}

// SAFETY: traces every captured value; the head holds no reference and has
// no `Drop`. Nothing writes a closure once made, so no writer needs
// excluding.
unsafe impl<'gc> Head for ClosureHead<'gc> {
    type Item = Value<'gc>;

    fn trace(&self, upvalues: &[Value<'gc>], t: &mut Tracer) {
        for v in upvalues {
            v.trace(t);
        }
    }
}

impl<'gc> Closure<'gc> {
    /// Allocates a closure of function `func` that captured `upvalues`.
    pub fn alloc(ctx: &Ctx<'_, 'gc>, func: u32, upvalues: &[Value<'gc>]) -> Gc<'gc, Closure<'gc>> {
        let head = ClosureHead { func, _upvalues: core::marker::PhantomData };
        let tailed = ctx.mc.alloc_tailed(head, upvalues.len(), |i| upvalues[i], kind::CLOSURE);
        // SAFETY: `Closure` is a transparent wrapper of `Tailed<ClosureHead>`,
        // the object's type.
        unsafe { GcAny::from(tailed).downcast() }
    }

    /// The function's index in the program.
    #[inline(always)]
    pub fn func(&self) -> u32 {
        self.0.head().func
    }

    /// The captured variables' slots or values, in the function's upvalue
    /// order (the compiler knows which each is).
    #[inline(always)]
    pub fn upvalues(&self) -> &[Value<'gc>] {
        self.0.items()
    }
}

//! The fast loop's views of a frame: its registers, its function's
//! constants and code, indexed without bounds checks.
//!
//! Invariant (what makes the unchecked reads sound): the program passed
//! [`crate::verify`] when the `Vm` was made, so every register an
//! instruction names is below its function's `registers`, every constant
//! it names exists, and `pc` always names an instruction; and
//! `State::push` (and `State::calling`, for a maatine's first frame)
//! made the register file longer than `base + registers` for every frame on
//! the stack (it never shrinks). The views are made from exactly those ranges
//! (checked, once per frame entry), so an index the verifier allowed is in
//! bounds. A frame's function and constants are looked up on the strength
//! of `Frame`'s invariant (its function exists). Debug builds check every
//! index all the same.

use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

use std::sync::Arc;

use crate::bytecode::{MemberCache, Method, Op, Proto, Reg};
use crate::value::Value;

/// Function `func`'s code and its constants as values, for a frame of it:
/// `func` indexes both (the invariant of `Frame`, which every frame
/// satisfies). Debug builds check it all the same.
#[inline(always)]
pub(super) fn frame_parts<'p, 'c, 'gc>(
    functions: &'p [Arc<Proto>],
    consts: &'c [Box<[Value<'gc>]>],
    func: u32,
) -> (&'p Proto, Consts<'c, 'gc>) {
    let f = func as usize;
    debug_assert!(f < functions.len() && f < consts.len(), "function {f} outside the program");
    // SAFETY: `func` is a frame's function, an index of the program's
    // functions and of the constants made from them (`Frame`'s invariant).
    unsafe { (functions.get_unchecked(f), Consts(consts.get_unchecked(f))) }
}

/// The built-in method constant `k` of a function names (`methods`, its
/// [`Proto::methods`]), if it names one: `k` is a constant an instruction
/// names, which the verifier checked exists, and there are as many methods
/// as constants (verifier). Debug builds check it all the same.
#[inline(always)]
pub(super) fn method(methods: &[Option<Method>], k: u32) -> Option<Method> {
    debug_assert!((k as usize) < methods.len(), "constant {k} outside the function's");
    // SAFETY: as above.
    unsafe { *methods.get_unchecked(k as usize) }
}

/// A frame's registers: `regs[base .. base + registers]`.
pub(super) struct Window<'a, 'gc>(&'a mut [Value<'gc>]);

impl<'a, 'gc> Window<'a, 'gc> {
    /// The window of a frame of `registers` registers at `base`, a frame of
    /// the maatine whose register file `regs` is: its window lies within the
    /// file (`State::push` grows the file past every window it pushes, and
    /// the file never shrinks). Debug builds check it all the same.
    #[inline(always)]
    pub(super) fn of_frame(regs: &'a mut [Value<'gc>], base: usize, registers: u16) -> Self {
        let end = base + usize::from(registers);
        debug_assert!(end <= regs.len(), "a frame's window {base}..{end} outside the registers");
        // SAFETY: `base..end` is a frame's window, within `regs` (above).
        Window(unsafe { regs.get_unchecked_mut(base..end) })
    }
}

impl<'gc> Window<'_, 'gc> {
    /// The `n` registers from `from`, if the frame has them all.
    #[inline(always)]
    pub(super) fn span(&self, from: Reg, n: u16) -> Option<&[Value<'gc>]> {
        self.0.get(usize::from(from)..usize::from(from) + usize::from(n))
    }
}

impl<'gc> Index<Reg> for Window<'_, 'gc> {
    type Output = Value<'gc>;

    #[inline(always)]
    fn index(&self, r: Reg) -> &Value<'gc> {
        debug_assert!(usize::from(r) < self.0.len(), "register {r} outside the frame");
        // SAFETY: the verifier proved `r` below the function's `registers`,
        // the window's length (module invariant).
        unsafe { self.0.get_unchecked(usize::from(r)) }
    }
}

impl<'gc> IndexMut<Reg> for Window<'_, 'gc> {
    #[inline(always)]
    fn index_mut(&mut self, r: Reg) -> &mut Value<'gc> {
        debug_assert!(usize::from(r) < self.0.len(), "register {r} outside the frame");
        // SAFETY: as for `index`.
        unsafe { self.0.get_unchecked_mut(usize::from(r)) }
    }
}

/// A function's constants, as values.
#[derive(Clone, Copy)]
pub(super) struct Consts<'a, 'gc>(pub(super) &'a [Value<'gc>]);

impl<'gc> Index<u32> for Consts<'_, 'gc> {
    type Output = Value<'gc>;

    #[inline(always)]
    fn index(&self, k: u32) -> &Value<'gc> {
        debug_assert!((k as usize) < self.0.len(), "constant {k} outside the function's");
        // SAFETY: the verifier proved every constant an instruction names
        // exists; the values are made one for one from the constants.
        unsafe { self.0.get_unchecked(k as usize) }
    }
}

/// Where the fast loop is in a function's code: a pointer to the next
/// instruction, so that fetching one is a load (no index to scale).
pub(super) struct Cursor<'a> {
    start: *const Op,
    at: *const Op,
    _code: PhantomData<&'a [Op]>,
}

impl<'a> Cursor<'a> {
    /// The cursor at instruction `pc` of `code`.
    #[inline(always)]
    pub(super) fn new(code: &'a [Op], pc: usize) -> Self {
        debug_assert!(pc < code.len(), "pc {pc} past the code");
        let start = code.as_ptr();
        // SAFETY: `pc` names an instruction (module invariant; as for `Code`).
        Cursor { start, at: unsafe { start.add(pc) }, _code: PhantomData }
    }

    /// The instruction at the cursor.
    #[inline(always)]
    pub(super) fn op(&self) -> &'a Op {
        // SAFETY: the cursor always names an instruction of the code it was
        // made from: `new` and `jump` take verified targets, and `advance`
        // never steps past the last instruction, which ends the code (a
        // return, a throw or a jump, by the verifier).
        unsafe { &*self.at }
    }

    /// On to the next instruction (the current one does not end the code).
    #[inline(always)]
    pub(super) fn advance(&mut self) {
        // SAFETY: as for `op`: the next instruction exists.
        self.at = unsafe { self.at.add(1) };
    }

    /// On to instruction `to`, a jump target the verifier checked.
    #[inline(always)]
    pub(super) fn jump(&mut self, to: usize) {
        // SAFETY: every jump target is an instruction (verifier).
        self.at = unsafe { self.start.add(to) };
    }

    /// The member cache of the instruction at the cursor, in `caches`, its
    /// function's caches (one per instruction: the verifier checks the
    /// lengths agree).
    #[inline(always)]
    pub(super) fn cache<'c>(&self, caches: &'c [MemberCache]) -> &'c MemberCache {
        let pc = self.pc();
        debug_assert!(pc < caches.len(), "no member cache for pc {pc}");
        // SAFETY: `pc` names an instruction (as for `op`), and there are as
        // many caches as instructions (verifier).
        unsafe { caches.get_unchecked(pc) }
    }

    /// The index of the instruction at the cursor.
    #[inline(always)]
    pub(super) fn pc(&self) -> usize {
        // SAFETY: both pointers are into the same code (`new`, `jump`,
        // `advance` keep `at` within it).
        unsafe { self.at.offset_from(self.start) as usize }
    }
}

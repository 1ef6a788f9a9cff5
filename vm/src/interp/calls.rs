//! Calls and returns: members resolved through an instruction's inline
//! cache, frames pushed and popped, and the dead registers above the live
//! ones cleared at each safe point (see [`State::push`]).

use super::*;

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// What `name` is on instances of `class` (a field first, then a
    /// method), through the instruction's inline cache.
    #[inline]
    pub(super) fn member(&self, cache: &MemberCache, class: u32, name: &str) -> Option<Member> {
        if let Some(member) = cache.get_any(class) {
            return Some(member);
        }
        let info = &self.rt.program.classes[class as usize];
        let member = match info.fields.iter().position(|f| **f == *name) {
            Some(i) => Member::Field(i as u32),
            None => Member::Method(info.methods.iter().find(|(m, _)| **m == *name)?.1),
        };
        cache.set(class, member);
        Some(member)
    }

    /// Calls function `f` (with `closure`'s upvalues) on the `n` arguments
    /// at `base`, its result to go to register `ret`: a new frame at `base`,
    /// or the error a wrong number of arguments or too deep a stack is.
    pub(super) fn call(
        &mut self,
        st: &mut State<'gc>,
        f: u32,
        closure: Option<Gc<'gc, Closure<'gc>>>,
        base: usize,
        n: usize,
        ret: usize,
    ) -> OpResult<()> {
        self.check_call(f, n, st.frames.len())?;
        let registers = self.rt.program.functions[f as usize].registers;
        st.push(registers, Frame { func: f, base, pc: 0, ret, closure });
        Ok(())
    }

    /// Why function `f` cannot be called with `n` arguments, if it cannot.
    #[inline]
    pub(super) fn check_arity(&self, f: u32, n: usize) -> OpResult<()> {
        let callee = &self.rt.program.functions[f as usize];
        if n == usize::from(callee.params) {
            return Ok(());
        }
        Err(format!("{} expects {} argument(s), got {n}", callee.name, callee.params))
    }

    /// The registers of function `f`'s frame, if it can be called with `n`
    /// arguments from call depth `depth` (the fast loop's test, which then
    /// pushes the frame; [`Run::check_call`] says why not).
    #[inline(always)]
    pub(super) fn callee(&self, f: u32, n: usize, depth: usize) -> Option<u16> {
        let callee = &self.rt.program.functions[f as usize];
        (n == usize::from(callee.params) && depth < MAX_FRAMES).then_some(callee.registers)
    }

    /// Why function `f` cannot be called with `n` arguments from call depth
    /// `depth`, if it cannot.
    #[inline]
    pub(super) fn check_call(&self, f: u32, n: usize, depth: usize) -> OpResult<()> {
        self.check_arity(f, n)?;
        if depth >= MAX_FRAMES {
            return Err(format!("stack overflow: more than {MAX_FRAMES} nested calls"));
        }
        Ok(())
    }

    /// Returns `value` to the caller (closing the `try` blocks of the
    /// returning frame).
    #[inline(always)]
    pub(super) fn ret(&mut self, st: &mut State<'gc>, value: Value<'gc>) -> Flow {
        let frame = st.frames.pop().expect("returning from a frame");
        while st.handlers.last().is_some_and(|h| h.frames > st.frames.len()) {
            st.handlers.pop();
        }
        if st.frames.is_empty() {
            st.result = value;
            return Flow::Done;
        }
        st.regs[frame.ret] = value;
        Flow::Next
    }
}

impl<'gc> State<'gc> {
    /// Pushes the frame of a call whose function has `registers`
    /// registers, its arguments already in place at `frame.base`.
    ///
    /// The callee's other registers are not cleared: they are nil, or hold
    /// what a call that returned left there, which is still a live object
    /// (no collection runs within a slice, and [`State::clear_dead`] clears
    /// them at the end of each one, before the collector can trace the
    /// root). The compiler writes every register before reading it.
    #[inline(always)]
    pub(super) fn push(&mut self, registers: u16, frame: Frame<'gc>) {
        let end = frame.base + usize::from(registers);
        // One register past the window, for the receiver of `obj.name`.
        if self.regs.len() <= end {
            self.regs.resize(end + 1, Value::nil());
        }
        self.frames.push(frame);
        self.dirty = self.dirty.max(end + 1);
    }

    /// Clears the registers above the live ones that calls since the last
    /// safe point wrote: the collector does not trace them, so they must
    /// not hold an object when it runs (a later call's window would make
    /// a freed object a root). Called at the end of every slice.
    pub(super) fn clear_dead(&mut self, program: &Program) {
        self.set_top(program);
        let end = self.dirty.min(self.regs.len());
        if self.top < end {
            self.regs[self.top..end].fill(Value::nil());
        }
        self.dirty = self.top + 1;
    }
}

//! Calls and returns: members resolved through an instruction's inline
//! cache, frames pushed (the callee's registers cleared for the collector)
//! and popped.

use super::*;

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// What `name` is on instances of `class` (a field first, then a
    /// method), through the instruction's inline cache.
    #[inline]
    pub(super) fn member(&self, cache: &MemberCache, class: u32, name: &str) -> Option<Member> {
        if let Some(member) = cache.get(class) {
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
        self.push_frame(st, f, closure, base, n, ret);
        Ok(())
    }

    /// [`Run::call`] once its arity and depth are checked (the fast loop
    /// checks them itself).
    #[inline]
    pub(super) fn push_frame(
        &mut self,
        st: &mut State<'gc>,
        f: u32,
        closure: Option<Gc<'gc, Closure<'gc>>>,
        base: usize,
        n: usize,
        ret: usize,
    ) {
        let registers = usize::from(self.rt.program.functions[f as usize].registers);
        let need = base + registers + 1;
        if st.regs.len() < need {
            st.regs.resize(need, Value::nil());
        }
        // The callee's registers past its arguments may hold values of calls
        // that returned, which the collector no longer traces: clear them, so
        // a collection during the call never meets a freed object.
        st.regs[base + n..need].fill(Value::nil());
        st.frames.push(Frame { func: f, base, pc: 0, ret, closure });
        st.top = base + registers;
    }

    /// Returns `value` to the caller (closing the `try` blocks of the
    /// returning frame).
    pub(super) fn ret(&mut self, st: &mut State<'gc>, value: Value<'gc>) -> Flow {
        let frame = st.frames.pop().expect("returning from a frame");
        while st.handlers.last().is_some_and(|h| h.frames > st.frames.len()) {
            st.handlers.pop();
        }
        if st.frames.is_empty() {
            st.result = value;
            return Flow::Done;
        }
        st.set_top(&self.rt.program);
        st.regs[frame.ret] = value;
        Flow::Next
    }
}

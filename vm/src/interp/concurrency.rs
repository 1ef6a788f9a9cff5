//! Maatines and channels from the interpreter's side: spawning, joining,
//! sending (which gives values away), receiving, and refusing values this
//! maatine gave away.

use smallvec::SmallVec;

use super::*;

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// Refuses a value this maatine gave away (a transferred object held
    /// by another maatine, or in transit).
    pub(super) fn held(&self, v: Value<'gc>) -> OpResult<()> {
        let Some(o) = v.as_object().filter(|o| is_container(o.kind())) else { return Ok(()) };
        match o.holder() {
            Some(h) if h != self.cx.mc.heap_id() => Err(self.not_held(o, h)),
            _ => Ok(()),
        }
    }

    pub(super) fn not_held(&self, o: GcAny<'gc>, holder: u32) -> String {
        let what = type_name(Value::object(o));
        let how = self.sent.find(o.as_raw().as_ptr() as usize).unwrap_or("was sent to another maatine");
        let whom = match (holder, self.sched.maatine_of_heap(holder)) {
            (IN_TRANSIT, _) => "nobody has received it yet".to_owned(),
            (_, Some(id)) => format!("{id} holds it now"),
            (_, None) => "the maatine that received it has ended".to_owned(),
        };
        format!(
            "use after send: this {what} {how}, and {whom}; to keep using a value after sending it, \
             share it before sending (`v.share`) or send a copy"
        )
    }

    /// Gives `v` away: transfers its unshared part (see maat-gc's
    /// `transfer`) and remembers it for use-after-send errors.
    pub(super) fn give_away(&mut self, v: Value<'gc>, how: impl FnOnce() -> String) -> OpResult<()> {
        let Some(o) = v.as_object() else { return Ok(()) };
        if !is_container(o.kind()) {
            // Strings, closures, classes, handles and channels synchronize
            // themselves or never change: they pass by reference.
            self.cx.mc.share(o);
            return Ok(());
        }
        match self.cx.mc.transfer(o) {
            Ok(0) => Ok(()),
            Ok(_) => {
                self.sent.record(o.as_raw().as_ptr() as usize, how());
                Ok(())
            }
            Err(e) => Err(self.not_held(o, e.holder)),
        }
    }

    /// `ma f(args)`: shares the arguments and the closure (with its
    /// captured variables) and starts a maatine calling it; returns its
    /// handle.
    pub(super) fn spawn(
        &mut self,
        st: &State<'gc>,
        f: u32,
        closure: Option<Gc<'gc, Closure<'gc>>>,
        base: usize,
        n: usize,
    ) -> OpResult<Value<'gc>> {
        self.check_arity(f, n)?;
        let args = &st.regs[base..base + n];
        for v in args {
            self.held(*v)?;
        }
        for o in args.iter().filter_map(|v| v.as_object()) {
            self.cx.mc.share(o);
        }
        if let Some(c) = closure {
            self.cx.mc.share(c);
        }
        // The module variables become visible to the new maatine.
        for slot in st.module.iter() {
            self.cx.mc.share(*slot);
        }
        let (env, program, module) = (st.env, &self.sched.rt.program, &st.module);
        let child = Maatine::start(self.sched, |_, buffers| {
            // SAFETY: the environment, the closure, the module slots and the
            // arguments are shared (or immediate values): global objects any
            // heap may refer to. The new heap's root refers to them from here
            // on, and no shared collection runs before this mutation ends.
            let (env, closure, module, args) = unsafe {
                let env = GcAny::from_raw(GcAny::from(env).as_raw()).downcast::<Env>();
                let closure = closure.map(|c| GcAny::from_raw(GcAny::from(c).as_raw()).downcast::<Closure>());
                let module: Box<[_]> =
                    module.iter().map(|s| GcAny::from_raw(GcAny::from(*s).as_raw()).downcast::<Slot>()).collect();
                let args: SmallVec<[Value; 8]> = args.iter().map(|v| Value::from_raw_bits(v.to_bits())).collect();
                (env, closure, module, args)
            };
            State::calling(program, (env, module), (f, closure), &args, buffers)
        });
        let handle = Handle::alloc(self.cx, Arc::clone(&child.cell));
        self.spawned.push(child);
        Ok(Value::object(handle.into()))
    }

    /// `h.join`: the maatine's result (not yet claimed: see
    /// [`Run::claim_result`]), its error rethrown, or a wait until it
    /// finishes.
    pub(super) fn join(&mut self, st: &State<'gc>, handle: &Handle) -> Result<Result<Value<'gc>, Flow>, Raise<'gc>> {
        if handle.cell.id == self.me {
            return Err(format!("{} cannot join itself", self.me).into());
        }
        let outcome = handle.cell.join(|| std::task::Waker::from(Arc::clone(self.wake)));
        match outcome {
            None => Ok(Err(Flow::Block(self.waits_at(&format!("to join {}", handle.cell.id), st)))),
            Some(Outcome::Failed(e)) => Err(Raise::Message(e.rethrown())),
            // SAFETY: the result is global and the handle (reachable from
            // this maatine's registers) keeps it alive.
            Some(Outcome::Returned(bits)) => Ok(Ok(unsafe { Value::from_raw_bits(bits) })),
        }
    }

    /// The result `v` of the maatine behind handle `h`, as this joiner's
    /// own: the first join through a handle only this maatine reaches
    /// copies the result into its heap (unshared, so it runs without
    /// locks) and the handle keeps the copy for later joins; through a
    /// shared handle the result is held as it was transferred (locked like
    /// a shared object), so that every join returns the same object.
    fn claim_result(&self, h: Gc<'gc, Handle>, v: Value<'gc>) -> OpResult<Value<'gc>> {
        let Some(o) = v.as_object() else { return Ok(v) };
        if let Some(copy) = Handle::claimed(h) {
            return Ok(copy);
        }
        let first = self.cx.mc.receive(o) > 0;
        if !first || Gc::is_shared(h) {
            return Ok(v);
        }
        let copy = self.adopt(v)?;
        Handle::claim(h, self.cx, copy);
        Ok(copy)
    }

    /// The end of `ma for`: joins the handles in the array in `a`, from the
    /// count in `count`, keeping the first error in `count + 1`.
    pub(super) fn join_all(&mut self, st: &mut State<'gc>, a: usize, count: usize) -> Result<Flow, Raise<'gc>> {
        // SAFETY: the compiler puts the array of handles there.
        let handles = unsafe { object_of(st.regs[a], kind::ARRAY).expect("an array of handles").downcast() };
        // One handle at a time: this instruction runs again after every
        // wake-up, so copying the array here would cost O(n²) for `ma for`.
        let mut i = st.regs[count].as_num().unwrap_or(0.0) as usize;
        while let Ok(h) = Array::get(handles, self.cx, i as f64) {
            // SAFETY: the compiler pushes handles only.
            let handle = Gc::get(unsafe { h.as_object().expect("a handle").downcast::<Handle>() });
            match self.join(st, handle) {
                Ok(Ok(_)) => {}
                Ok(Err(block)) => return Ok(block),
                Err(Raise::Message(m)) if st.regs[count + 1].is_nil() => {
                    st.regs[count + 1] = Value::object(Str::alloc(self.cx, &m).into());
                }
                Err(_) => {}
            }
            i += 1;
            st.regs[count] = Value::num(i as f64);
        }
        match text_of(st.regs[count + 1]) {
            Some(first) => Err(Raise::Message(first.to_owned())),
            None => Ok(Flow::Next),
        }
    }

    /// A value from `chan`, as this maatine's own (see [`Run::adopt`]):
    /// `Some(None)` once it is closed and empty, `None` if this maatine
    /// must wait (and `wait`).
    pub(super) fn recv(&mut self, chan: &Chan, wait: bool) -> OpResult<Option<Option<Value<'gc>>>> {
        let waker = wait.then_some(|| std::task::Waker::from(Arc::clone(self.wake)));
        Ok(match chan.recv(waker) {
            Received::Value(bits) => {
                // SAFETY: buffered values are global and were kept alive by
                // the channel, which this maatine's registers refer to.
                let v = unsafe { Value::from_raw_bits(bits) };
                match v.as_object() {
                    Some(o) if self.cx.mc.receive(o) > 0 => Some(Some(self.adopt(v)?)),
                    _ => Some(Some(v)),
                }
            }
            Received::Closed => Some(None),
            Received::Empty => None,
        })
    }

    /// `v`, just received (a message, a result, an attached graph), as this
    /// maatine's own: the arrays, maps and instances it holds by transfer
    /// are copied into its heap (deeply, cycles and aliasing kept, and the
    /// persistent collections among them rebuilt where they hold one), so
    /// they are unshared and run without locks; shared and frozen parts
    /// are kept. A graph that holds, by transfer, an object whose parts the
    /// copy could not redirect (a closure's captured variables, a draft, a
    /// host's object) stays as it is, held by this maatine and locked like
    /// a shared one.
    pub(super) fn adopt(&self, v: Value<'gc>) -> OpResult<Value<'gc>> {
        let me = self.cx.mc.heap_id();
        self.copy_graph(v, &|o| Ok(if o.holder() == Some(me) { received(o.kind()) } else { Part::Keep }))
    }

    /// Methods of handles and channels, some of which wait; `None` for any
    /// other receiver (the caller checks the kind first: most are not).
    pub(super) fn concurrency_method(
        &mut self,
        st: &mut State<'gc>,
        recv: Value<'gc>,
        (m, name): (Option<Method>, &str),
        d: usize,
        base: usize,
        n: usize,
    ) -> Result<Option<Flow>, Raise<'gc>> {
        let arity = |want: usize| {
            if n == want {
                Ok(())
            } else {
                Err(format!("{}.{name} expects {want} argument(s), got {n}", type_name(recv)))
            }
        };
        if let Some(h) = object_of(recv, kind::HANDLE) {
            // SAFETY: kind HANDLE objects are Handles.
            let handle = Gc::get(unsafe { h.downcast::<Handle>() });
            match m {
                Some(Method::Join) => {
                    arity(0)?;
                    return Ok(Some(match self.join(st, handle)? {
                        Ok(v) => {
                            // SAFETY: kind HANDLE objects are Handles.
                            st.regs[d] = self.claim_result(unsafe { h.downcast() }, v)?;
                            Flow::Next
                        }
                        Err(block) => block,
                    }));
                }
                Some(Method::Id) => {
                    arity(0)?;
                    st.regs[d] = Value::num(handle.cell.id.get() as f64);
                    return Ok(Some(Flow::Next));
                }
                _ => return Err(unknown_method(recv, name).into()),
            }
        }
        let Some(c) = object_of(recv, kind::CHAN) else { return Ok(None) };
        // SAFETY: kind CHAN objects are Chans.
        let chan = Gc::get(unsafe { c.downcast::<Chan>() });
        let flow = match m {
            Some(Method::Send) => {
                arity(1)?;
                let v = st.regs[base];
                self.held(v)?;
                let (function, line) = self.location(st);
                let how = format!("was sent on a channel at line {line} (in {function})");
                let mut given = Ok(());
                let sent = chan.send(
                    || std::task::Waker::from(Arc::clone(self.wake)),
                    || {
                        given = self.give_away(v, || how);
                        v.to_bits()
                    },
                );
                given?;
                match sent {
                    Ok(()) => {
                        st.regs[d] = recv;
                        Flow::Next
                    }
                    Err(SendError::Full) => Flow::Block(self.waits_at("to send on a channel", st)),
                    Err(SendError::Closed) => return Err("send on a closed channel".to_owned().into()),
                }
            }
            Some(Method::Recv | Method::TryRecv) => {
                arity(0)?;
                let wait = m == Some(Method::Recv);
                match self.recv(chan, wait)? {
                    Some(v) => {
                        st.regs[d] = v.unwrap_or_else(Value::nil);
                        Flow::Next
                    }
                    None if wait => Flow::Block(self.waits_at("to receive from a channel", st)),
                    None => {
                        st.regs[d] = Value::nil();
                        Flow::Next
                    }
                }
            }
            Some(Method::Close) => {
                arity(0)?;
                chan.close();
                st.regs[d] = recv;
                Flow::Next
            }
            Some(Method::Len) => {
                arity(0)?;
                st.regs[d] = Value::num(chan.len() as f64);
                Flow::Next
            }
            Some(Method::Cap) => {
                arity(0)?;
                st.regs[d] = Value::num(chan.capacity() as f64);
                Flow::Next
            }
            _ => return Err(unknown_method(recv, name).into()),
        };
        Ok(Some(flow))
    }
}

/// What receiving does with an object of kind `k` held by transfer.
fn received(k: u8) -> Part {
    match k {
        kind::ARRAY | kind::MAP | kind::INST | kind::PVEC | kind::PMAP => Part::Copy,
        // No parts, or parts that are not this graph's to copy: a handle's
        // result and the copy it keeps (held as they are, so the handle's
        // joins still agree), a token's graph, a versioned root's versions.
        kind::STR | kind::HANDLE | kind::CHAN | kind::RANDOM | kind::CLASS | kind::PNODE => Part::Keep,
        kind::VERSIONED | kind::VERSION | kind::DETACHED => Part::Keep,
        // Closures, slots, drafts, host objects: they may refer to the
        // graph's collections, and the copy could not redirect them.
        _ => Part::Whole,
    }
}

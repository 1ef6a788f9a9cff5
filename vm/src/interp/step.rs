//! The general path: one instruction at a time, any instruction, with
//! every error reported (`Run::step`), and the operations it alone needs:
//! classes and `new`, variable locks, indexing of any object.

use super::*;
use crate::bytecode::ClassInfo;

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// Executes one instruction. Every instruction that allocates comes
    /// here, so this is where the heap limit becomes a Maat error (the others,
    /// `GC.collect` and assigning `nil` among them, still run, which is how a
    /// program recovers).
    pub(super) fn step(&mut self, st: &mut State<'gc>) -> Result<Flow, Raise<'gc>> {
        let frame = *st.frames.last().expect("a running maatine has a frame");
        let proto = &self.rt.program.functions[frame.func as usize];
        let op = crate::specialize::general(proto.code[frame.pc]);
        st.frames.last_mut().expect("checked").pc += 1;
        if allocates(op) {
            self.cx.mc.check_limit().map_err(|oom| oom.to_string())?;
        }
        let b = frame.base;
        let r = |reg: Reg| b + usize::from(reg);
        // `obj.name` is `obj.name()` with the receiver in the register past
        // the frame's (which the register file always has: see `State::push`),
        // where a method's frame may start.
        let op = match op {
            Op::GetField(d, o, k) => {
                st.regs[r(proto.registers)] = st.regs[r(o)];
                Op::CallMethod(d, proto.registers, k, proto.registers + 1, 0)
            }
            op => op,
        };
        let env = Gc::get(st.env);
        let konst = |k: u32| env.consts[frame.func as usize][k as usize];
        // The operator and operand of a one-instruction update (read only
        // by the instructions that have them).
        let update = |regs: &[Value<'gc>]| match op {
            Op::RmwBin(_, b, y) | Op::SlotBin(_, b, y) => Some((b, regs[r(y)])),
            Op::RmwBinK(_, b, k) | Op::SlotBinK(_, b, k) => Some((b, konst(k))),
            _ => None,
        };
        match op {
            Op::LoadK(d, k) => st.regs[r(d)] = konst(k),
            Op::LoadNil(d) => st.regs[r(d)] = Value::nil(),
            Op::LoadBool(d, v) => st.regs[r(d)] = Value::bool(v),
            Op::Move(d, s) => st.regs[r(d)] = st.regs[r(s)],
            Op::GetGlobal(d, g) => st.regs[r(d)] = Slot::read(env.globals[g as usize]),
            Op::SetGlobal(g, s) => {
                let (slot, value) = (env.globals[g as usize], st.regs[r(s)]);
                let status = self.global_lock(g, |rt, request, parker| {
                    Slot::write(slot, rt.cx, &rt.rt.table, request, parker, value)
                })?;
                if status == LockStatus::Suspended {
                    return Ok(self.blocked_on_variable(&self.rt.program.globals[g as usize], slot));
                }
            }
            Op::StoreGlobal(g, s) => {
                Slot::store(env.globals[g as usize], self.cx, self.me, st.regs[r(s)]).map_err(|e| e.to_string())?;
            }
            Op::RmwBegin(g) | Op::RmwGet(_, g) | Op::RmwBin(g, ..) | Op::RmwBinK(g, ..) => {
                let slot = env.globals[g as usize];
                let status =
                    self.global_lock(g, |rt, request, parker| Slot::begin(slot, rt.cx, &rt.rt.table, request, parker))?;
                if status == LockStatus::Suspended {
                    return Ok(self.blocked_on_variable(&self.rt.program.globals[g as usize], slot));
                }
                st.sections.push((slot, st.frames.len()));
                if let Op::RmwGet(d, _) = op {
                    st.regs[r(d)] = Slot::read(slot);
                }
                self.update_in_section(st, slot, update(&st.regs))?;
            }
            Op::RmwEnd(g) => self.end_section(st, env.globals[g as usize], None)?,
            Op::RmwSet(g, s) => self.end_section(st, env.globals[g as usize], Some(st.regs[r(s)]))?,
            Op::TryBegin(target, e) => st.handlers.push(Handler {
                frames: st.frames.len(),
                target: target as usize,
                error: r(e),
                sections: st.sections.len(),
            }),
            Op::TryEnd => drop(st.handlers.pop()),
            Op::Throw(v) => return Err(Raise::Thrown(st.regs[r(v)])),
            Op::Gc(d, op, arg) => {
                st.regs[r(d)] = Value::nil();
                match op {
                    GcOp::Collect => return Ok(Flow::Request(Request::Collect)),
                    GcOp::Stats => st.regs[r(d)] = self.gc_stats()?,
                    GcOp::Mode => {
                        let mode = match text_of(st.regs[r(arg)]) {
                            Some("inc") => maat_gc::Mode::Incremental,
                            Some("gen") => maat_gc::Mode::Generational,
                            _ => {
                                return Err(format!(
                                    "GC.mode takes \"inc\" or \"gen\", got {}",
                                    self.show(st.regs[r(arg)])
                                )
                                .into());
                            }
                        };
                        return Ok(Flow::Request(Request::Mode(mode)));
                    }
                }
            }
            Op::Builtin(d, b, base, n) => {
                let args = &st.regs[r(base)..r(base) + usize::from(n)];
                st.regs[r(d)] = match (b, args) {
                    (Builtin::Clock, []) => Value::num(self.rt.started.elapsed().as_secs_f64()),
                    (Builtin::MaatineId, []) => Value::num(self.me.get() as f64),
                    (Builtin::Assert, [cond, rest @ ..]) if rest.len() <= 1 => {
                        if !cond.truthy() {
                            let why = rest.first().map_or_else(
                                || "assertion failed".to_owned(),
                                |m| format!("assertion failed: {}", self.show(*m)),
                            );
                            return Err(why.into());
                        }
                        Value::nil()
                    }
                    (Builtin::Native(i), args) => {
                        let mut host = Vec::with_capacity(args.len());
                        for v in args {
                            // Numbers, booleans and nil without the general
                            // conversion's result (moved through memory).
                            host.push(match v.unpack() {
                                Unpacked::Num(n) => HostValue::Num(n),
                                Unpacked::Bool(b) => HostValue::Bool(b),
                                Unpacked::Nil => HostValue::Nil,
                                Unpacked::Object(_) => host::to_host(self.cx, *v, 0)?,
                            });
                        }
                        let native = &self.rt.natives[i as usize];
                        let result =
                            native(&host).map_err(|e| format!("{}: {e}", self.rt.program.natives[i as usize]))?;
                        match result {
                            HostValue::Num(n) => Value::num(n),
                            HostValue::Bool(b) => Value::bool(b),
                            HostValue::Nil => Value::nil(),
                            result => host::host_to_value(self.cx, &self.rt.types, &result)?,
                        }
                    }
                    (Builtin::Std(f), args) => self.std_call(f, args)?,
                    (Builtin::Clock, _) => return Err(format!("clock takes no arguments, got {n}").into()),
                    (Builtin::Assert, _) => return Err(format!("assert takes 1 or 2 arguments, got {n}").into()),
                    (Builtin::MaatineId, _) => return Err(format!("maatine_id takes no arguments, got {n}").into()),
                };
            }
            Op::Mark(d, o, freeze) => {
                let v = st.regs[r(o)];
                if let Some(obj) = v.as_object() {
                    if freeze {
                        self.cx.mc.freeze(obj)
                    } else {
                        self.cx.mc.share(obj)
                    };
                }
                st.regs[r(d)] = v;
            }
            Op::Bin(o, d, x, y) => st.regs[r(d)] = self.binary(o, st.regs[r(x)], st.regs[r(y)])?,
            Op::BinK(o, d, x, k) => st.regs[r(d)] = self.binary(o, st.regs[r(x)], konst(k))?,
            Op::CmpJump(o, x, y, sense, t) => {
                let taken = self.binary(o, st.regs[r(x)], st.regs[r(y)])?.truthy() == sense;
                jump_if(st, taken, t);
            }
            Op::CmpJumpK(o, x, k, sense, t) => {
                let taken = self.binary(o, st.regs[r(x)], konst(k))?.truthy() == sense;
                jump_if(st, taken, t);
            }
            Op::Neg(d, x) => {
                let n = st.regs[r(x)].as_num().ok_or_else(|| type_error("-", &[st.regs[r(x)]]))?;
                st.regs[r(d)] = Value::num(-n);
            }
            Op::Not(d, x) => st.regs[r(d)] = Value::bool(!st.regs[r(x)].truthy()),
            Op::BitNot(d, x) => {
                let v = st.regs[r(x)];
                let n = v.as_num().ok_or_else(|| type_error("~", &[v]))?;
                let not = arith::bit_not(n)
                    .ok_or_else(|| format!("`~` needs an integer within ±2^53, got {}", arith::show_num(n)))?;
                st.regs[r(d)] = Value::num(not);
            }
            Op::GetModule(d, i) => st.regs[r(d)] = Slot::read(st.module[usize::from(i)]),
            Op::ModuleSlot(d, i) => st.regs[r(d)] = Value::object(st.module[usize::from(i)].into()),
            Op::Jump(t) => jump_if(st, true, t),
            Op::JumpIfFalse(c, t) | Op::JumpIfTrue(c, t) => {
                let taken = st.regs[r(c)].truthy() == matches!(op, Op::JumpIfTrue(..));
                jump_if(st, taken, t);
            }
            Op::JumpNil(x, sense, t) => jump_if(st, st.regs[r(x)].is_nil() == sense, t),
            Op::Call(d, f, base, n) => self.call(st, f, None, r(base), usize::from(n), r(d))?,
            Op::CallValue(d, c, base, n) => {
                let callee = st.regs[r(c)];
                let closure =
                    object_of(callee, kind::CLOSURE).ok_or_else(|| format!("cannot call {}", type_name(callee)))?;
                // SAFETY: kind CLOSURE objects are Closures.
                let closure = unsafe { closure.downcast::<Closure<'gc>>() };
                self.call(st, Gc::get(closure).func(), Some(closure), r(base), usize::from(n), r(d))?;
            }
            Op::Closure(d, f, base, n) => {
                let captured = &st.regs[r(base)..r(base) + usize::from(n)];
                st.regs[r(d)] = Value::object(Closure::alloc(self.cx, f, captured).into());
            }
            Op::NewSlot(d, s) => st.regs[r(d)] = Value::object(Slot::alloc(self.cx, st.regs[r(s)]).into()),
            Op::GetSlot(d, s) => st.regs[r(d)] = Slot::read(slot_in(st.regs[r(s)])),
            Op::GetUpval(d, i) => st.regs[r(d)] = Slot::read(slot_in(upvalue(&frame, i))),
            Op::UpvalSlot(d, i) | Op::GetCaptured(d, i) => st.regs[r(d)] = upvalue(&frame, i),
            Op::SetSlot(s, v) => {
                let (slot, value) = (slot_in(st.regs[r(s)]), st.regs[r(v)]);
                let status = self.captured_lock(slot, |rt, request, parker| {
                    Slot::write(slot, rt.cx, &rt.rt.table, request, parker, value)
                })?;
                if status == LockStatus::Suspended {
                    return Ok(self.blocked_on_variable(CAPTURED, slot));
                }
            }
            Op::SlotBegin(s) | Op::SlotBin(s, ..) | Op::SlotBinK(s, ..) => {
                let slot = slot_in(st.regs[r(s)]);
                if Slot::try_begin(slot, self.cx, self.me) {
                    self.section_begun(self.cx.stats.captured(), false);
                } else {
                    let status = self.captured_lock(slot, |rt, request, parker| {
                        Slot::begin(slot, rt.cx, &rt.rt.table, request, parker)
                    })?;
                    if status == LockStatus::Suspended {
                        return Ok(self.blocked_on_variable(CAPTURED, slot));
                    }
                }
                st.sections.push((slot, st.frames.len()));
                self.update_in_section(st, slot, update(&st.regs))?;
            }
            Op::SlotStore(s, v) => {
                Slot::store(slot_in(st.regs[r(s)]), self.cx, self.me, st.regs[r(v)]).map_err(|e| e.to_string())?;
            }
            Op::SlotEnd(s) => {
                st.sections.pop();
                Slot::end(slot_in(st.regs[r(s)]), self.cx, &self.rt.table, self.me).map_err(|e| e.to_string())?;
            }
            crate::specialize::any_specialized!() => unreachable!("`general` leaves no specialized instruction"),
            Op::Return(s) => return Ok(self.ret(st, st.regs[r(s)])),
            Op::ReturnNil => return Ok(self.ret(st, Value::nil())),
            Op::NewArray(d, base, n) => {
                let items = st.regs[r(base)..r(base) + usize::from(n)].iter().copied();
                st.regs[r(d)] = Value::object(Array::alloc(self.cx, items).into());
            }
            Op::NewMap(d, base, n) => {
                let map = Map::alloc(self.cx);
                for i in 0..usize::from(n) {
                    let (k, v) = (st.regs[r(base) + 2 * i], st.regs[r(base) + 2 * i + 1]);
                    Map::set(map, self.cx, k, v).map_err(|e| e.to_string())?;
                }
                st.regs[r(d)] = Value::object(map.into());
            }
            Op::GetIndex(d, o, i) => st.regs[r(d)] = self.get_index(st.regs[r(o)], st.regs[r(i)])?,
            Op::GetIndexK(d, o, k) => st.regs[r(d)] = self.get_index(st.regs[r(o)], konst(k))?,
            Op::SetIndex(o, i, v) => {
                self.held(st.regs[r(o)])?;
                self.set_index(st.regs[r(o)], st.regs[r(i)], st.regs[r(v)])?;
            }
            Op::Say(base, n, newline) => {
                let values = &st.regs[r(base)..r(base) + usize::from(n)];
                values.iter().try_for_each(|v| self.held(*v))?;
                let mut text: String = values.iter().map(|v| self.show(*v)).collect();
                if newline {
                    text.push('\n');
                }
                let mut out = self.out.lock();
                out.write_all(text.as_bytes()).map_err(|e| format!("cannot write output: {e}"))?;
            }
            Op::Len(d, o) => {
                let v = st.regs[r(o)];
                self.held(v)?;
                st.regs[r(d)] = if object_of(v, kind::CHAN).is_some() {
                    Value::num(f64::INFINITY)
                } else if let Some(p) = object_of(v, kind::PVEC) {
                    // SAFETY: kind PVEC objects are PVecs.
                    Value::num(Gc::get(unsafe { p.downcast::<crate::object::pvec::PVec<'gc>>() }).len() as f64)
                } else {
                    let array =
                        object_of(v, kind::ARRAY).ok_or_else(|| format!("cannot iterate over {}", type_name(v)))?;
                    // SAFETY: kind ARRAY objects are Arrays.
                    Value::num(Array::len(unsafe { array.downcast() }, self.cx) as f64)
                };
            }
            Op::ForNext(var, src, index, exit) => {
                let source = st.regs[r(src)];
                if let Some(chan) = object_of(source, kind::CHAN) {
                    // SAFETY: kind CHAN objects are Chans.
                    match self.recv(Gc::get(unsafe { chan.downcast::<Chan>() }), true)? {
                        Some(Some(v)) => st.regs[r(var)] = v,
                        Some(None) => st.frames.last_mut().expect("checked").pc = exit as usize,
                        None => return Ok(Flow::Block(self.waits_at("to receive from a channel", st))),
                    }
                } else {
                    let (i, limit) = (st.regs[r(index)], st.regs[r(index) + 1]);
                    if i.as_num() < limit.as_num() {
                        st.regs[r(var)] = self.get_index(source, i)?;
                    } else {
                        st.frames.last_mut().expect("checked").pc = exit as usize;
                    }
                }
            }
            Op::NewChan(d, c) => {
                let cap = st.regs[r(c)];
                let n = cap.as_num().filter(|n| *n >= 0.0 && n.fract() == 0.0 && *n <= u32::MAX as f64);
                let n = n.ok_or_else(|| {
                    format!("Chan.new needs a capacity: a whole number from 0, got {}", self.show(cap))
                })?;
                st.regs[r(d)] = Value::object(Chan::alloc(self.cx, n as usize).into());
            }
            Op::Spawn(d, f, base, n) => st.regs[r(d)] = self.spawn(st, f, None, r(base), usize::from(n))?,
            Op::SpawnValue(d, c, base, n) => {
                let callee = st.regs[r(c)];
                let closure = object_of(callee, kind::CLOSURE)
                    .ok_or_else(|| format!("cannot run {} in a maatine", type_name(callee)))?;
                // SAFETY: kind CLOSURE objects are Closures.
                let closure = unsafe { closure.downcast::<Closure<'gc>>() };
                st.regs[r(d)] = self.spawn(st, Gc::get(closure).func(), Some(closure), r(base), usize::from(n))?;
            }
            Op::JoinAll(a, count) => return self.join_all(st, r(a), r(count)),
            Op::CallMethod(d, o, k, base, n) => {
                let name: &str = const_str(&proto.consts[k as usize]);
                let method = proto.methods[k as usize];
                let recv = st.regs[r(o)];
                self.held(recv)?;
                if let Some(inst) = object_of(recv, kind::INST) {
                    // SAFETY: kind INST objects are Insts.
                    let inst = unsafe { inst.downcast::<Inst<'gc>>() };
                    let class = Gc::get(inst).class();
                    match self.member(&proto.member_cache[frame.pc], class, name) {
                        Some(Member::Field(i)) if n == 0 => st.regs[r(d)] = Inst::get(inst, self.cx, i as usize),
                        Some(Member::Method(f)) => self.call(st, f, None, r(o), usize::from(n) + 1, r(d))?,
                        _ => {
                            // A field called with arguments: only a method of that name will do.
                            let info = &self.rt.program.classes[class as usize];
                            match info.methods.iter().find(|(m, _)| **m == *name) {
                                Some(&(_, f)) => self.call(st, f, None, r(o), usize::from(n) + 1, r(d))?,
                                None if method == Some(Method::Detach) && n == 0 => {
                                    st.regs[r(d)] = self.detach(st, recv, r(proto.free[frame.pc]))?;
                                }
                                None if matches!(method, Some(Method::Class | Method::ToS | Method::Frozen)) => {
                                    let args = &st.regs[r(base)..r(base) + usize::from(n)];
                                    st.regs[r(d)] = self.method(recv, method, name, args)?;
                                }
                                None => return Err(format!("{} has no field or method `{name}`", info.name).into()),
                            }
                        }
                    }
                } else if recv.as_object().is_some_and(|o| matches!(o.kind(), kind::HANDLE | kind::CHAN))
                    && let Some(flow) =
                        self.concurrency_method(st, recv, (method, name), r(d), r(base), usize::from(n))?
                {
                    return Ok(flow);
                } else if recv.as_object().is_some_and(|o| matches!(o.kind(), kind::VERSIONED | kind::DRAFT))
                    && let Some(flow) =
                        self.versioned_method(st, recv, (method, name), (r(d), r(base), usize::from(n)))?
                {
                    return Ok(flow);
                } else if method == Some(Method::Detach) && n == 0 {
                    st.regs[r(d)] = self.detach(st, recv, r(proto.free[frame.pc]))?;
                } else if method == Some(Method::Attach)
                    && n == 0
                    && let Some(token) = object_of(recv, kind::DETACHED)
                {
                    st.regs[r(d)] = self.attach(token)?;
                } else if let Some(f) = method.and_then(|m| self.prelude_method(recv, m, usize::from(n))) {
                    self.call(st, f, None, r(o), usize::from(n) + 1, r(d))?;
                } else {
                    let value = self.method(recv, method, name, &st.regs[r(base)..r(base) + usize::from(n)])?;
                    st.regs[r(d)] = value;
                }
            }
            Op::GetField(..) => unreachable!("rewritten to CallMethod above"),
            Op::NewClass(d, c) => st.regs[r(d)] = self.class_value(c),
            Op::New(d, c, k, base, n) => self.new_instance(st, (r(d), st.regs[r(c)]), k, r(base), usize::from(n))?,
            Op::SetField(o, k, v) => {
                let (recv, name) = (st.regs[r(o)], const_str(&proto.consts[k as usize]));
                self.held(recv)?;
                if let Some(u) = object_of(recv, kind::USER) {
                    self.set_user_field(u, name, st.regs[r(v)])?;
                    return Ok(Flow::Next);
                }
                let inst = object_of(recv, kind::INST)
                    .ok_or_else(|| format!("cannot set field `{name}` of {}", type_name(recv)))?;
                // SAFETY: kind INST objects are Insts.
                let inst = unsafe { inst.downcast::<Inst<'gc>>() };
                let class = Gc::get(inst).class();
                let Some(Member::Field(i)) = self.member(&proto.member_cache[frame.pc], class, name) else {
                    return Err(
                        format!("{} has no field `{name}`", self.rt.program.classes[class as usize].name).into()
                    );
                };
                Inst::set(inst, self.cx, i as usize, st.regs[r(v)]).map_err(|e| e.to_string())?;
            }
        }
        Ok(Flow::Next)
    }

    /// The value of class `c` (one object per class, so classes compare by
    /// identity).
    pub(super) fn class_value(&self, c: u32) -> Value<'gc> {
        Value::object(Gc::get(self.env).classes[c as usize].into())
    }

    /// `class.new(…)` into register `d` (see [`Op::New`]): the instance is
    /// made with its literal defaults and named fields here; computed
    /// defaults and `init` run in a call of the class's constructor, which
    /// returns the instance, or, without computed defaults, `init` is
    /// called directly (it returns its `self`).
    pub(super) fn new_instance(
        &mut self,
        st: &mut State<'gc>,
        (d, class_value): (usize, Value<'gc>),
        k: u32,
        base: usize,
        n: usize,
    ) -> OpResult<()> {
        let class = object_of(class_value, kind::CLASS)
            .ok_or_else(|| format!("cannot call new on {}", type_name(class_value)))?;
        // SAFETY: kind CLASS objects are Classes.
        let index = Gc::get(unsafe { class.downcast::<Class>() }).index;
        // The runtime outlives this run (a copied reference, not a borrow of
        // `self`), so `self.call` below can take `self` mutably.
        let program = &self.rt.program;
        let info = &program.classes[index as usize];
        let mut fields: smallvec::SmallVec<[Value<'gc>; 16]> =
            Gc::get(self.env).defaults[index as usize].iter().copied().collect();
        let mut named = 0u64;
        let construct = if k == u32::MAX {
            Construct::positional(info, n)?
        } else {
            let frame = st.frames.last().expect("a running maatine has a frame");
            let Const::Names(names) = &program.functions[frame.func as usize].consts[k as usize] else {
                unreachable!("new has a names constant")
            };
            for (name, value) in names.iter().zip(&st.regs[base + 2..base + 2 + n]) {
                let i = info.fields.iter().position(|f| **f == **name);
                let i = i.ok_or_else(|| format!("{} has no field `{name}`", info.name))?;
                fields[i] = *value;
                if let Some(bit) = info.computed.iter().position(|&f| f as usize == i) {
                    named |= 1 << bit;
                }
            }
            Construct::named(info)?
        };
        let inst = Value::object(Inst::alloc(self.cx, index, fields.len(), |i| fields[i]).into());
        match construct {
            Construct::Plain => st.regs[d] = inst,
            Construct::Init(f) => {
                st.regs[base + 1] = inst;
                let args = if k == u32::MAX { n } else { 0 };
                self.call(st, f, None, base + 1, args + 1, d)?;
            }
            Construct::Ctor(f) => {
                st.regs[base] = inst;
                st.regs[base + 1] = Value::num(named as f64);
                let args = if k == u32::MAX { n } else { 0 };
                self.call(st, f, None, base, args + 2, d)?;
            }
        }
        Ok(())
    }

    /// The rest of a one-instruction update (`RmwBinK`, `SlotBin`, ...) in
    /// the section on `slot` this maatine now holds, if `update` is one: the
    /// new value, stored as the section ends. An error leaves the section to
    /// the error's unwinding, as one in `x = x + f()` does.
    fn update_in_section(
        &self,
        st: &mut State<'gc>,
        slot: Gc<'gc, Slot<'gc>>,
        update: Option<(BinOp, Value<'gc>)>,
    ) -> OpResult<()> {
        let Some((b, y)) = update else { return Ok(()) };
        let value = self.binary(b, Slot::read(slot), y)?;
        self.end_section(st, slot, Some(value))
    }

    /// Ends this maatine's section on `slot`, storing `value` first if
    /// there is one.
    fn end_section(&self, st: &mut State<'gc>, slot: Gc<'gc, Slot<'gc>>, value: Option<Value<'gc>>) -> OpResult<()> {
        if let Some(value) = value {
            Slot::store(slot, self.cx, self.me, value).map_err(|e| e.to_string())?;
        }
        st.sections.pop();
        Slot::end(slot, self.cx, &self.rt.table, self.me).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Locks global `g` for this maatine with its kept request.
    pub(super) fn global_lock(
        &mut self,
        g: u32,
        lock: impl FnOnce(&Self, &mut LockRequest, &MaatineParker<'_>) -> Result<LockStatus, maat_sync::Deadlock>,
    ) -> OpResult<LockStatus> {
        let mut request = self
            .requests
            .remove(&g)
            .unwrap_or_else(|| LockRequest::new(self.me, self.rt.program.globals[g as usize].as_str()));
        let slot = Gc::get(self.env).globals[g as usize];
        let status = self.counted_lock(SyncStats::global(g), slot, &mut request, lock)?;
        if status == LockStatus::Suspended {
            self.requests.insert(g, request);
        }
        Ok(status)
    }

    /// Locks a captured variable's `slot` for this maatine.
    fn captured_lock(
        &mut self,
        slot: Gc<'gc, Slot<'gc>>,
        lock: impl FnOnce(&Self, &mut LockRequest, &MaatineParker<'_>) -> Result<LockStatus, maat_sync::Deadlock>,
    ) -> OpResult<LockStatus> {
        self.slot_lock(slot, CAPTURED, lock)
    }

    /// Locks `slot` (a captured variable's, or another cell's: its `name`
    /// in deadlock reports) for this maatine.
    pub(super) fn slot_lock(
        &mut self,
        slot: Gc<'gc, Slot<'gc>>,
        name: &str,
        lock: impl FnOnce(&Self, &mut LockRequest, &MaatineParker<'_>) -> Result<LockStatus, maat_sync::Deadlock>,
    ) -> OpResult<LockStatus> {
        let mut request = LockRequest::new(self.me, name);
        self.counted_lock(self.cx.stats.captured(), slot, &mut request, lock)
    }

    /// Runs `lock` on `slot` (counted as variable `var`, when contention is
    /// counted): a section that found the slot held by another maatine is
    /// contended, and the time from its first suspension to its
    /// acquisition is its wait.
    fn counted_lock(
        &mut self,
        var: usize,
        slot: Gc<'gc, Slot<'gc>>,
        request: &mut LockRequest,
        lock: impl FnOnce(&Self, &mut LockRequest, &MaatineParker<'_>) -> Result<LockStatus, maat_sync::Deadlock>,
    ) -> OpResult<LockStatus> {
        let counts = self.cx.stats.counts();
        let held = counts && Slot::holder(slot).is_some_and(|h| h != self.me);
        let status = lock(self, request, &MaatineParker(self.wake)).map_err(|d| {
            *self.suspended_at = None;
            // Refused, it will not retry: if a release woke it to, the
            // wake-up goes to the next waiter.
            Slot::abandon(slot, self.cx, &self.rt.table, self.me);
            d.to_string()
        })?;
        match status {
            LockStatus::Suspended => {
                self.blocked_on = Some(slot);
                if counts {
                    self.suspended_at.get_or_insert_with(std::time::Instant::now);
                }
            }
            LockStatus::Acquired => self.section_begun(var, held),
        }
        Ok(status)
    }

    /// Counts a section of variable `var` that this maatine now holds;
    /// `held`: it found another maatine holding it. A section this maatine
    /// was parked for ends the wait here, on whichever path took the lock.
    #[inline]
    pub(super) fn section_begun(&mut self, var: usize, held: bool) {
        if self.cx.stats.counts() {
            let waited = self.suspended_at.take().map(|t| t.elapsed());
            self.cx.stats.section(var, held || waited.is_some(), waited);
        }
    }

    pub(super) fn blocked_on_variable(&self, name: &str, slot: Gc<'gc, Slot<'gc>>) -> Flow {
        let holder = Slot::holder(slot).map_or_else(String::new, |h| format!(" (held by {h})"));
        Flow::Block(format!("for variable `{name}`{holder}"))
    }

    /// What a blocked maatine waits for, and where, for deadlock reports.
    pub(super) fn waits_at(&self, what: &str, st: &State<'gc>) -> String {
        let (function, line) = self.location(st);
        format!("{what} (in {function}, line {line})")
    }

    /// The function and line of the instruction running.
    pub(super) fn location(&self, st: &State<'gc>) -> (&str, u32) {
        let f = st.frames.last().expect("a running maatine has a frame");
        let proto = &self.rt.program.functions[f.func as usize];
        (&proto.name, proto.lines.get(f.pc.saturating_sub(1)).copied().unwrap_or(0))
    }

    pub(super) fn get_index(&self, o: Value<'gc>, i: Value<'gc>) -> OpResult<Value<'gc>> {
        self.held(o)?;
        if let Some(a) = object_of(o, kind::ARRAY) {
            let index = i.as_num().ok_or_else(|| format!("array index must be a number, got {}", type_name(i)))?;
            // SAFETY: kind ARRAY objects are Arrays.
            return Array::get(unsafe { a.downcast() }, self.cx, index).map_err(|e| e.to_string());
        }
        if let Some(m) = object_of(o, kind::MAP) {
            // SAFETY: kind MAP objects are Maps.
            return Map::get(unsafe { m.downcast() }, self.cx, i).map_err(|e| e.to_string());
        }
        if let Some(s) = Str::of(o) {
            let index = i.as_num().ok_or_else(|| format!("string index must be a number, got {}", type_name(i)))?;
            return self.char_at(s, index);
        }
        if let Some(p) = object_of(o, kind::PVEC) {
            // SAFETY: kind PVEC objects are PVecs.
            return persistent::pvec_item(Gc::get(unsafe { p.downcast() }), i);
        }
        if let Some(p) = object_of(o, kind::PMAP) {
            // SAFETY: kind PMAP objects are PMaps.
            let map = Gc::get(unsafe { p.downcast::<crate::object::pmap::PMap<'gc>>() });
            return Ok(map.get(i).map_err(|e| e.to_string())?.unwrap_or(Value::nil()));
        }
        if let Some(d) = object_of(o, kind::DRAFT) {
            return self.draft_get_index(d, i);
        }
        Err(format!("cannot index {}", type_name(o)))
    }

    pub(super) fn set_index(&self, o: Value<'gc>, i: Value<'gc>, v: Value<'gc>) -> OpResult<()> {
        if let Some(a) = object_of(o, kind::ARRAY) {
            let index = i.as_num().ok_or_else(|| format!("array index must be a number, got {}", type_name(i)))?;
            // SAFETY: kind ARRAY objects are Arrays.
            return Array::set(unsafe { a.downcast() }, self.cx, index, v).map_err(|e| e.to_string());
        }
        if let Some(m) = object_of(o, kind::MAP) {
            // SAFETY: kind MAP objects are Maps.
            return Map::set(unsafe { m.downcast() }, self.cx, i, v).map_err(|e| e.to_string());
        }
        if let Some(d) = object_of(o, kind::DRAFT) {
            return self.draft_set_index(d, i, v);
        }
        if let Some(p) = o.as_object().filter(|p| matches!(p.kind(), kind::PVEC | kind::PMAP)) {
            let how = if p.kind() == kind::PVEC { "v.set(i, x)" } else { "m.put(k, x)" };
            return Err(format!("{} is immutable: {how} returns a changed copy", type_name(o)));
        }
        Err(format!("cannot index {}", type_name(o)))
    }
}

/// Name of a captured variable in lock requests and reports.
const CAPTURED: &str = "captured variable";

/// Moves the running frame to instruction `t` if `taken`.
pub(super) fn jump_if(st: &mut State<'_>, taken: bool, t: u32) {
    if taken {
        st.frames.last_mut().expect("a running maatine has a frame").pc = t as usize;
    }
}

/// Whether an instruction may allocate GC objects.
pub(super) fn allocates(op: Op) -> bool {
    matches!(
        op,
        Op::NewArray(..)
            | Op::Spawn(..)
            | Op::SpawnValue(..)
            | Op::NewChan(..)
            | Op::JoinAll(..)
            | Op::NewMap(..)
            | Op::SetIndex(..)
            | Op::Bin(BinOp::Concat, ..)
            | Op::BinK(BinOp::Concat, ..)
            | Op::Closure(..)
            | Op::NewSlot(..)
            | Op::New(..)
            | Op::NewClass(..)
            | Op::CallMethod(..)
            | Op::GetField(..)
            | Op::Builtin(..)
            | Op::Gc(_, GcOp::Stats, _)
    )
}

/// A constant known to be a string (method and field names).
pub(super) fn const_str(c: &Const) -> &str {
    match c {
        Const::Str(s) => s,
        other => unreachable!("a name constant, not {other:?}"),
    }
}

/// What `new` runs once the instance is made (see [`Op::New`]).
#[derive(Clone, Copy)]
pub(super) enum Construct {
    /// Nothing: the instance is the result.
    Plain,
    /// `init`, on the instance (in register `base + 1`) and the arguments
    /// after it; it returns the instance.
    Init(u32),
    /// The constructor, on the instance, the mask of named fields and
    /// `init`'s arguments (from register `base`): computed defaults, then
    /// `init`; it returns the instance.
    Ctor(u32),
}

impl Construct {
    /// For `new` with `n` positional arguments (`init`'s), or why not.
    #[inline]
    pub(super) fn positional(info: &ClassInfo, n: usize) -> Result<Construct, String> {
        match info.init {
            Some((_, want)) if usize::from(want) != n => {
                Err(format!("{}.init expects {want} argument(s), got {n}", info.name))
            }
            None if n > 0 => Err(format!(
                "{}.new takes named arguments (`field: value`): the class defines no `init` for {n} positional one(s)",
                info.name
            )),
            _ => Ok(Construct::of(info.ctor, info.init)),
        }
    }

    /// For `new` with named fields, or why not.
    fn named(info: &ClassInfo) -> Result<Construct, String> {
        match info.init {
            Some((_, want)) if want > 0 => {
                Err(format!("{} defines `init`: {}.new takes init's arguments, not named ones", info.name, info.name))
            }
            Some(_) => Ok(Construct::of(info.ctor, info.init)),
            None => Ok(Construct::of(info.fill, None)),
        }
    }

    #[inline]
    fn of(ctor: Option<u32>, init: Option<(u32, u16)>) -> Construct {
        match (ctor, init) {
            (Some(f), _) => Construct::Ctor(f),
            (None, Some((f, _))) => Construct::Init(f),
            (None, None) => Construct::Plain,
        }
    }
}

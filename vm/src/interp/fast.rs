//! The fast loop: runs, with the frame held in locals, the instructions
//! that cannot fail, block or allocate (and calls and returns between
//! them), until one that needs the general path (`step.rs`). Every object
//! operation it makes is the general path's own (`Inst::get`, `Array::set`,
//! …), so lock elision is decided exactly as there; it reads registers,
//! constants and code through `window.rs`'s unchecked views, on the
//! verifier's word.

use super::*;

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// The fast path: runs instructions that cannot fail, allocate or block
    /// (moves, constants, globals and uncontended read-modify-write
    /// sections, arithmetic and comparison, jumps, calls of functions,
    /// methods and closures and returns to a caller, fields and methods
    /// through member caches, array reads, stores and loops, lengths) with
    /// the frame held in locals (reloaded after a call or a return), until
    /// one that needs [`Run::step`] or `budget` instructions. Returns how
    /// many it ran.
    pub(super) fn run_simple(&mut self, st: &mut State<'gc>, budget: usize) -> usize {
        let mut ran = 0;
        while ran < budget {
            match self.run_frame(st, budget - ran) {
                (n, true) => ran += n,
                (n, false) => return ran + n,
            }
        }
        ran
    }

    /// [`Run::run_simple`] within the current frame: how many instructions
    /// it ran, and whether it stopped at a call or a return it made (so the
    /// fast path goes on in the new frame). Every instruction counts, but
    /// the budget is checked only where control can come back (jumps;
    /// calls and returns leave): straight-line code between them is at
    /// most the function's length, so a slice overruns its budget by less
    /// than that, and no check is paid on the instructions in between.
    #[inline(always)]
    pub(super) fn run_frame(&mut self, st: &mut State<'gc>, budget: usize) -> (usize, bool) {
        let State { regs, frames, env, sections, module, .. } = st;
        let Env { globals, consts, len_name, has_name, .. } = Gc::get(*env);
        let depth = frames.len();
        let frame = frames.last_mut().expect("a running maatine has a frame");
        let proto = &self.rt.program.functions[frame.func as usize];
        let (code, consts) = (Code(&proto.code), Consts(&consts[frame.func as usize]));
        let (base, mut pc) = (frame.base, frame.pc);
        let r = |reg: Reg| base + usize::from(reg);
        let mut w = Window::new(regs, base, proto.registers).expect("every frame's registers exist");
        let mut ran = 0;
        // A jump: where control can come back, so the budget is checked.
        macro_rules! jump {
            ($to:expr) => {{
                pc = $to;
                ran += 1;
                if ran >= budget {
                    break;
                }
                continue;
            }};
        }
        loop {
            match code[pc] {
                Op::LoadK(d, k) => w[d] = consts[k],
                Op::LoadNil(d) => w[d] = Value::nil(),
                Op::LoadBool(d, v) => w[d] = Value::bool(v),
                Op::Move(d, s) => w[d] = w[s],
                Op::GetGlobal(d, g) => w[d] = Slot::read(globals[g as usize]),
                Op::GetModule(d, i) => w[d] = Slot::read(module[usize::from(i)]),
                Op::Not(d, x) => w[d] = Value::bool(!w[x].truthy()),
                Op::StoreGlobal(g, s) if w[s].as_object().is_none() => {
                    Slot::store(globals[g as usize], self.cx, w[s]);
                }
                Op::RmwBegin(g) if Slot::try_begin(globals[g as usize], self.cx, self.me) => {
                    sections.push((globals[g as usize], depth));
                }
                Op::RmwEnd(g) => {
                    if Slot::end(globals[g as usize], self.cx, &self.rt.table, self.me).is_err() {
                        break;
                    }
                    sections.pop();
                }
                Op::RmwGet(d, g) if Slot::try_begin(globals[g as usize], self.cx, self.me) => {
                    sections.push((globals[g as usize], depth));
                    w[d] = Slot::read(globals[g as usize]);
                }
                Op::RmwSet(g, s) if w[s].as_object().is_none() => {
                    let slot = globals[g as usize];
                    Slot::store(slot, self.cx, w[s]);
                    // Not the holder: the general path stores again (the
                    // same value) and reports it.
                    if Slot::end(slot, self.cx, &self.rt.table, self.me).is_err() {
                        break;
                    }
                    sections.pop();
                }
                Op::Jump(t) => jump!(t as usize),
                Op::JumpIfFalse(c, t) | Op::JumpIfTrue(c, t) => {
                    let jump_if = matches!(code[pc], Op::JumpIfTrue(..));
                    jump!(if w[c].truthy() == jump_if { t as usize } else { pc + 1 })
                }
                Op::GetIndex(d, o, i) => {
                    let Some(v) = self.item(w[o], w[i]) else { break };
                    w[d] = v;
                }
                // A call that fails (arity, depth) is left to the general
                // path, which reports it.
                Op::Call(d, f, b, n) if self.check_call(f, usize::from(n), depth).is_ok() => {
                    frame.pc = pc + 1;
                    self.push_frame(st, f, None, r(b), usize::from(n), r(d));
                    return (ran + 1, true);
                }
                // A method call on an instance whose class this instruction
                // has met before (its member cache), or `map.has(key)`.
                Op::CallMethod(d, o, k, b, n) => {
                    if let Some((_, Member::Method(f))) = cached_member(w[o], &proto.member_cache[pc]) {
                        if self.check_call(f, usize::from(n) + 1, depth).is_err() {
                            break;
                        }
                        frame.pc = pc + 1;
                        self.push_frame(st, f, None, r(o), usize::from(n) + 1, r(d));
                        return (ran + 1, true);
                    }
                    if n == 1
                        && consts[k] == *has_name
                        && let Some(map) = usable_map(w[o])
                        && let Ok(has) = Map::has(map, self.cx, w[b])
                    {
                        w[d] = Value::bool(has);
                    } else {
                        break;
                    }
                }
                // A field, a method without arguments (in a frame past this
                // one's registers, as in `step`), or the length of a string,
                // an array or a map (`x.len`).
                Op::GetField(d, o, k) => match cached_member(w[o], &proto.member_cache[pc]) {
                    Some((inst, Member::Field(i))) => w[d] = Inst::get(inst, self.cx, i as usize),
                    Some((_, Member::Method(f))) if self.check_call(f, 1, depth).is_ok() => {
                        let (recv, top) = (w[o], base + usize::from(proto.registers));
                        frame.pc = pc + 1;
                        st.regs[top] = recv;
                        self.push_frame(st, f, None, top, 1, r(d));
                        return (ran + 1, true);
                    }
                    // The name first: no length is worked out for another.
                    None if consts[k] == *len_name => {
                        let Some(len) = self.length(w[o]) else { break };
                        w[d] = Value::num(len);
                    }
                    _ => break,
                },
                Op::SetField(o, _, v) => {
                    let Some((inst, Member::Field(i))) = cached_member(w[o], &proto.member_cache[pc]) else {
                        break;
                    };
                    // A store that fails (a frozen instance) changes nothing:
                    // the general path tries again and reports it.
                    if Inst::set(inst, self.cx, i as usize, w[v]).is_err() {
                        break;
                    }
                }
                Op::CallValue(d, c, b, n) => {
                    let Some(closure) = object_of(w[c], kind::CLOSURE) else { break };
                    // SAFETY: kind CLOSURE objects are Closures.
                    let closure = unsafe { closure.downcast::<Closure<'gc>>() };
                    let f = Gc::get(closure).func;
                    if self.check_call(f, usize::from(n), depth).is_err() {
                        break;
                    }
                    frame.pc = pc + 1;
                    self.push_frame(st, f, Some(closure), r(b), usize::from(n), r(d));
                    return (ran + 1, true);
                }
                Op::GetUpval(d, i) => w[d] = Slot::read(upvalue(frame, i)),
                Op::GetSlot(d, s) => w[d] = Slot::read(slot_in(w[s])),
                // A store into an array, or into a map that has the key (a
                // new key may grow the map: the general path). A store that
                // fails (out of range, frozen) changes nothing: the general
                // path tries again and reports it.
                Op::SetIndex(o, i, v) => {
                    let Some(obj) = w[o].as_object().filter(|o| o.holder().is_none()) else { break };
                    let stored = match obj.kind() {
                        // SAFETY: kind ARRAY objects are Arrays.
                        kind::ARRAY => w[i]
                            .as_num()
                            .is_some_and(|index| Array::set(unsafe { obj.downcast() }, self.cx, index, w[v]).is_ok()),
                        // SAFETY: kind MAP objects are Maps.
                        kind::MAP => Map::replace(unsafe { obj.downcast() }, self.cx, w[i], w[v]) == Ok(true),
                        _ => false,
                    };
                    if !stored {
                        break;
                    }
                }
                // The next item of an array (a channel's waits: the
                // general path).
                Op::ForNext(var, src, index, exit) if object_of(w[src], kind::CHAN).is_none() => {
                    let (i, limit) = (w[index], w[index + 1]);
                    if i.as_num() < limit.as_num() {
                        let Some(v) = self.item(w[src], i) else { break };
                        w[var] = v;
                    } else {
                        jump!(exit as usize)
                    }
                }
                Op::Return(_) | Op::ReturnNil if depth > 1 => {
                    let value = if let Op::Return(s) = code[pc] { w[s] } else { Value::nil() };
                    self.ret(st, value);
                    return (ran + 1, true);
                }
                Op::GetIndexK(d, o, k) => {
                    let Some(v) = self.item(w[o], consts[k]) else { break };
                    w[d] = v;
                }
                Op::Bin(op, d, x, y) => {
                    let Some(v) = simple(op, w[x], w[y]) else { break };
                    w[d] = v;
                }
                // The commonest operations on numbers without the operator's
                // second dispatch (`i + 1`, `n - 1`).
                Op::BinK(BinOp::Add, d, x, k) => {
                    let (Some(a), Some(b)) = (w[x].as_num(), consts[k].as_num()) else { break };
                    w[d] = Value::num(a + b);
                }
                Op::BinK(BinOp::Sub, d, x, k) => {
                    let (Some(a), Some(b)) = (w[x].as_num(), consts[k].as_num()) else { break };
                    w[d] = Value::num(a - b);
                }
                Op::BinK(op, d, x, k) => {
                    let Some(v) = simple(op, w[x], consts[k]) else { break };
                    w[d] = v;
                }
                Op::CmpJump(op, x, y, sense, t) => {
                    let Some(taken) = test(op, w[x], w[y]) else { break };
                    jump!(if taken == sense { t as usize } else { pc + 1 })
                }
                Op::CmpJumpK(op, x, k, sense, t) => {
                    let Some(taken) = test(op, w[x], consts[k]) else { break };
                    jump!(if taken == sense { t as usize } else { pc + 1 })
                }
                _ => break,
            }
            pc += 1;
            ran += 1;
        }
        frame.pc = pc;
        (ran, false)
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

    /// The length of a string, or of an array or a map this maatine may use.
    #[inline]
    pub(super) fn length(&self, v: Value<'gc>) -> Option<f64> {
        let o = v.as_object().filter(|o| o.holder().is_none())?;
        Some(match o.kind() {
            kind::STR => {
                // SAFETY: kind STR objects are Strs.
                let s = Gc::get(unsafe { o.downcast::<Str>() });
                methods::char_len(s.as_str(), s.is_ascii()) as f64
            }
            // SAFETY: kind ARRAY objects are Arrays.
            kind::ARRAY => Array::len(unsafe { o.downcast() }, self.cx) as f64,
            // SAFETY: kind MAP objects are Maps.
            kind::MAP => Map::len(unsafe { o.downcast() }, self.cx) as f64,
            _ => return None,
        })
    }

    /// `array[index]` or `map[key]` when it cannot fail: an array or a map
    /// this maatine may use, an index in range or a valid key (anything else
    /// takes the slow path, which reports).
    #[inline]
    pub(super) fn item(&self, o: Value<'gc>, i: Value<'gc>) -> Option<Value<'gc>> {
        let obj = o.as_object().filter(|o| o.holder().is_none())?;
        match obj.kind() {
            // SAFETY: kind ARRAY objects are Arrays.
            kind::ARRAY => Array::get(unsafe { obj.downcast() }, self.cx, i.as_num()?).ok(),
            // SAFETY: kind MAP objects are Maps.
            kind::MAP => Map::get(unsafe { obj.downcast() }, self.cx, i).ok(),
            _ => None,
        }
    }
}

/// The map `v` holds, when it is one this maatine may use (not sent away).
#[inline(always)]
fn usable_map<'gc>(v: Value<'gc>) -> Option<Gc<'gc, Map<'gc>>> {
    let map = object_of(v, kind::MAP).filter(|m| m.holder().is_none())?;
    // SAFETY: kind MAP objects are Maps.
    Some(unsafe { map.downcast() })
}

/// The instance `v` holds and the member this instruction's cache has for
/// its class, when `v` is an instance this maatine may use (not sent away)
/// and the cache knows its class.
#[inline(always)]
pub(super) fn cached_member<'gc>(v: Value<'gc>, cache: &MemberCache) -> Option<(Gc<'gc, Inst<'gc>>, Member)> {
    let inst = object_of(v, kind::INST).filter(|o| o.holder().is_none())?;
    // SAFETY: kind INST objects are Insts.
    let inst = unsafe { inst.downcast::<Inst<'gc>>() };
    Some((inst, cache.get(Gc::get(inst).class)?))
}

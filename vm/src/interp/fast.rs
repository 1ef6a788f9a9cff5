//! The fast loop: runs, with the frame held in locals, the instructions
//! that cannot fail or block (and calls and returns between them), until
//! one that needs the general path (`step.rs`). The commonest allocation
//! (`new` of a class without computed defaults) is made
//! here under the heap limit, and the loop returns to its caller, a safe
//! point, as soon as one makes a collection due. Every object
//! operation it makes is the general path's own (`Inst::get`, `Array::set`,
//! …), so lock elision is decided exactly as there; it reads registers,
//! constants and code through `window.rs`'s unchecked views, on the
//! verifier's word.

use super::step::Construct;
use super::*;
use crate::bytecode::StdFn;
use crate::object::pmap::PMap;
use crate::object::pvec::PVec;

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// The fast path: runs instructions that cannot fail or block
    /// (moves, constants, globals and uncontended read-modify-write
    /// sections, arithmetic and comparison, jumps, calls of functions,
    /// methods and closures and returns to a caller, fields and methods
    /// through member caches, array reads, stores and loops, lengths, and
    /// `new` while the heap is under its limit) with
    /// the frame held in locals (reloaded after a call or a return), until
    /// one that needs [`Run::step`] or the budget is spent. Returns how much
    /// of the budget it spent.
    ///
    /// The budget counts the places where control can come back (jumps,
    /// calls and returns), not every instruction: the straight-line code
    /// between two of them is at most a function's length, so a unit is a
    /// bounded number of instructions, and nothing is counted or checked
    /// on the instructions in between.
    // SAFETY (of the attribute): `.text.maat_fast_loop` is an executable
    // section that holds only this function, after `layout.rs`'s padding;
    // nothing else is placed in it or depends on its name.
    #[cfg_attr(all(target_arch = "x86_64", target_os = "linux"), unsafe(link_section = ".text.maat_fast_loop"))]
    pub(super) fn run_simple(&mut self, st: &mut State<'gc>, budget: usize) -> usize {
        let program = &self.rt.program;
        let Env { globals, consts: all_consts, .. } = Gc::get(st.env);
        // What is left of the budget (counted down: the test is against
        // zero, so the loop keeps one counter and no limit in registers).
        let mut left = budget;
        // Each pass enters the top frame: the first, and after each call and
        // return.
        'frame: loop {
            if left == 0 {
                return budget;
            }
            let frame = st.frames.last().expect("a running maatine has a frame");
            let (proto, consts) = window::frame_parts(&program.functions, all_consts, frame.func);
            let (base, mut at) = (frame.base, Cursor::new(&proto.code, frame.pc));
            let r = |reg: Reg| base + usize::from(reg);
            let module = &st.module;
            let mut w = Window::of_frame(&mut st.regs, base, proto.registers);
            'ops: loop {
                let op = at.op();
                // Where a jump taken goes (every other instruction goes on
                // to the next, or leaves the loop).
                let to = 'jump: {
                    // A jump to `$to` (when `$taken`, else on to the next
                    // instruction). A jump taken is where control can come back,
                    // so it counts against the budget, which is checked; one not
                    // taken goes forward and counts nothing. (The two are different
                    // paths, so the jump is a branch the processor predicts, not a
                    // conditional move that would make the next instruction's
                    // address wait for the test.)
                    macro_rules! jump {
                        ($to:expr) => {
                            jump!(true, $to)
                        };
                        ($taken:expr, $to:expr) => {{
                            if $taken {
                                break 'jump $to as usize;
                            }
                        }};
                    }
                    // A call of `f` (checked: its frame has `$registers`) on the
                    // arguments at register `$b`, its result to register `$d`: the
                    // caller's frame goes on after it.
                    macro_rules! call {
                        ($f:expr, $registers:expr, $closure:expr, $b:expr, $d:expr) => {{ call!($f, $registers, $closure, $b, $d, false) }};
                        // With `$leave`, the loop returns once the frame is
                        // pushed (for a safe point: see `new_now`).
                        ($f:expr, $registers:expr, $closure:expr, $b:expr, $d:expr, $leave:expr) => {{
                            let callee = Frame { func: $f, base: $b, pc: 0, ret: $d, closure: $closure };
                            st.frames.last_mut().expect("the caller's frame").pc = at.pc() + 1;
                            st.push($registers, callee);
                            left -= 1;
                            if $leave {
                                return budget - left;
                            }
                            continue 'frame;
                        }};
                    }
                    // `$d = ` the object `$made` allocated (see `alloc_now`); as
                    // for `New`, an allocation that made collection due
                    // returns for the safe point.
                    macro_rules! made {
                        ($d:expr, $made:expr) => {{
                            let Some((object, due)) = ($made) else { break 'ops };
                            w[$d] = Value::object(object);
                            if due {
                                at.advance();
                                break 'ops;
                            }
                        }};
                    }
                    // `$d = $x $op $y` on two numbers.
                    macro_rules! arith {
                        ($d:expr, $x:expr, $y:expr, $op:tt) => {{
                            let (Some(a), Some(b)) = (Value::num_at(&$x), Value::num_at(&$y)) else { break 'ops };
                            Value::store_num(&mut w[$d], a $op b);
                        }};
                    }
                    // A branch on `$x $op $y` of two numbers.
                    macro_rules! compare {
                        ($x:expr, $y:expr, $op:tt, $sense:expr, $to:expr) => {{
                            let (Some(a), Some(b)) = (Value::num_at(&$x), Value::num_at(&$y)) else { break 'ops };
                            jump!((a $op b) == $sense, $to)
                        }};
                    }
                    // `$d = $o.name` (constant `$k`): a field, a method without
                    // arguments (in a frame past this one's registers, as in
                    // `step`), or the length of a string, an array or a map
                    // (`x.len`).
                    macro_rules! get_field {
                        ($d:expr, $o:expr, $k:expr) => {
                            match cached_member(w[$o], at.cache(&proto.member_cache)) {
                                Some((inst, sharing, Member::Field(i))) => {
                                    w[$d] = Inst::load(inst, self.cx, sharing, i as usize)
                                }
                                Some((_, _, Member::Method(f))) => {
                                    let Some(registers) = self.callee(f, 1, st.frames.len()) else { break 'ops };
                                    let (recv, top) = (w[$o], base + usize::from(proto.registers));
                                    st.regs[top] = recv;
                                    call!(f, registers, None, top, r($d))
                                }
                                // The name first: no length is worked out for another.
                                None if window::method(&proto.methods, $k) == Some(Method::Len) => {
                                    let Some(len) = self.length(w[$o]) else { break 'ops };
                                    w[$d] = Value::num(len);
                                }
                                // A versioned root's current version (one load).
                                None if window::method(&proto.methods, $k) == Some(Method::Now) => {
                                    let Some(now) = current_version(w[$o]) else { break 'ops };
                                    w[$d] = now;
                                }
                                _ => break 'ops,
                            }
                        };
                    }
                    match *op {
                        Op::LoadK(d, k) => w[d] = consts[k],
                        Op::LoadNil(d) => w[d] = Value::nil(),
                        Op::LoadBool(d, v) => w[d] = Value::bool(v),
                        Op::Move(d, s) => w[d] = w[s],
                        Op::GetGlobal(d, g) => w[d] = Slot::read(globals[g as usize]),
                        Op::GetModule(d, i) => w[d] = Slot::read(module[usize::from(i)]),
                        Op::Not(d, x) => w[d] = Value::bool(!w[x].truthy()),
                        Op::Neg(d, x) => {
                            let Some(n) = w[x].as_num() else { break 'ops };
                            w[d] = Value::num(-n);
                        }
                        // Not the holder: nothing stored, the general path reports it.
                        Op::StoreGlobal(g, s)
                            if w[s].as_object().is_none()
                                && Slot::store(globals[g as usize], self.cx, self.me, w[s]).is_ok() => {}
                        Op::RmwBegin(g) if Slot::try_begin(globals[g as usize], self.cx, self.me) => {
                            self.section_begun(SyncStats::global(g), false);
                            st.sections.push((globals[g as usize], st.frames.len()));
                        }
                        Op::RmwEnd(g) => {
                            if Slot::end(globals[g as usize], self.cx, &self.rt.table, self.me).is_err() {
                                break 'ops;
                            }
                            st.sections.pop();
                        }
                        Op::RmwGet(d, g) if Slot::try_begin(globals[g as usize], self.cx, self.me) => {
                            self.section_begun(SyncStats::global(g), false);
                            st.sections.push((globals[g as usize], st.frames.len()));
                            w[d] = Slot::read(globals[g as usize]);
                        }
                        Op::RmwSet(g, s) if w[s].as_object().is_none() => {
                            let slot = globals[g as usize];
                            // Not the holder: the general path stores again (the
                            // same value, if this store was made) and reports it.
                            if Slot::store(slot, self.cx, self.me, w[s]).is_err()
                                || Slot::end(slot, self.cx, &self.rt.table, self.me).is_err()
                            {
                                break 'ops;
                            }
                            st.sections.pop();
                        }
                        // A whole update of a global (`x += 1`) that no other
                        // maatine's section holds up, on numbers.
                        Op::RmwBin(g, b, y) if self.update_now(SyncStats::global(g), globals[g as usize], b, w[y]) => {}
                        Op::RmwBinK(g, b, k)
                            if self.update_now(SyncStats::global(g), globals[g as usize], b, consts[k]) => {}
                        Op::SlotBin(s, b, y) if self.update_now(self.cx.stats.captured(), slot_in(w[s]), b, w[y]) => {}
                        Op::SlotBinK(s, b, k)
                            if self.update_now(self.cx.stats.captured(), slot_in(w[s]), b, consts[k]) => {}
                        Op::Jump(t) => jump!(t as usize),
                        Op::JumpIfFalse(c, t) | Op::JumpIfTrue(c, t) => {
                            let jump_if = matches!(op, Op::JumpIfTrue(..));
                            jump!(w[c].truthy() == jump_if, t)
                        }
                        Op::JumpNil(x, sense, t) => jump!(w[x].is_nil() == sense, t),
                        Op::GetIndex(d, o, i) => {
                            let Some(v) = self.item(w[o], w[i]) else { break 'ops };
                            w[d] = v;
                        }
                        // A call that fails (arity, depth) is left to the general
                        // path, which reports it.
                        Op::Call(d, f, b, n) => {
                            let Some(registers) = self.callee(f, usize::from(n), st.frames.len()) else { break 'ops };
                            call!(f, registers, None, r(b), r(d))
                        }
                        // A method call on an instance whose class this instruction
                        // has met before (its member cache), or `map.has(key)`.
                        Op::CallMethod(d, o, k, b, n) => {
                            if let Some((_, _, Member::Method(f))) = cached_member(w[o], at.cache(&proto.member_cache))
                            {
                                let Some(registers) = self.callee(f, usize::from(n) + 1, st.frames.len()) else {
                                    break 'ops;
                                };
                                call!(f, registers, None, r(o), r(d))
                            }
                            if n == 1
                                && window::method(&proto.methods, k) == Some(Method::Has)
                                && let Some(map) = usable_map(w[o])
                                && let Ok(has) = Map::has(map, self.cx, w[b])
                            {
                                w[d] = Value::bool(has);
                            } else {
                                break 'ops;
                            }
                        }
                        Op::GetField(d, o, k) => get_field!(d, o, k),
                        // `x.abs` and the like: on a number, the function; on
                        // anything else, a field read.
                        Op::GetFieldNum(d, o, k, f) => match (w[o].as_num(), f.of_one_number()) {
                            (Some(x), Some(g)) => w[d] = Value::num(g(x)),
                            _ => get_field!(d, o, k),
                        },
                        Op::SetField(o, _, v) => {
                            let Some((inst, sharing, Member::Field(i))) =
                                cached_member(w[o], at.cache(&proto.member_cache))
                            else {
                                break 'ops;
                            };
                            // A store that fails (a frozen instance) changes nothing:
                            // the general path tries again and reports it.
                            if !Inst::store(inst, self.cx, sharing, i as usize, w[v]) {
                                break 'ops;
                            }
                        }
                        // (`Array.new`, closures and slots are made on the general
                        // path: an arm here for each cost the loop a register or
                        // its layout: 2-4% more instructions everywhere for
                        // closures, Mandelbrot 0.19 s -> 0.31 s for `Array.new`.)
                        // `C.new(args)` of a class without computed defaults:
                        // the instance, then a call of its `init`. After an
                        // allocation that made collection due the loop
                        // returns, for the safe point (`run_for`).
                        Op::New(d, c, u32::MAX, b, n) => {
                            let Some((inst, init, due)) = self.new_now(w[c], usize::from(n), st.frames.len()) else {
                                break 'ops;
                            };
                            match init {
                                None => w[d] = Value::object(inst.into()),
                                Some((f, registers)) => {
                                    w[b + 1] = Value::object(inst.into());
                                    call!(f, registers, None, r(b + 1), r(d), due)
                                }
                            }
                            if due {
                                at.advance();
                                break 'ops;
                            }
                        }
                        // `[…]` of `n` registers' values, and `Array.new(n)`.
                        // (A closure's creation stays on the general path: in
                        // the loop it took the register that holds the jump
                        // table's address, and every dispatch took one more
                        // instruction; Sieve ran 3.4% more.)
                        Op::NewArray(d, b, n) => made!(
                            d,
                            w.span(b, n).and_then(|items| {
                                self.alloc_now(|cx| Array::alloc(cx, items.iter().copied()).into())
                            })
                        ),
                        Op::Builtin(d, Builtin::Std(StdFn::ArrayNew), b, 1) => made!(d, {
                            let n = self.array_length(w[b]).ok();
                            n.and_then(|n| {
                                self.alloc_now(|cx| Array::alloc(cx, std::iter::repeat_n(Value::nil(), n)).into())
                            })
                        }),
                        Op::CallValue(d, c, b, n) => {
                            let Some(closure) = object_of(w[c], kind::CLOSURE) else { break 'ops };
                            // SAFETY: kind CLOSURE objects are Closures.
                            let closure = unsafe { closure.downcast::<Closure<'gc>>() };
                            let f = Gc::get(closure).func();
                            let Some(registers) = self.callee(f, usize::from(n), st.frames.len()) else { break 'ops };
                            call!(f, registers, Some(closure), r(b), r(d))
                        }
                        Op::GetUpval(d, i) => {
                            w[d] = Slot::read(slot_in(upvalue(
                                st.frames.last().expect("a running maatine has a frame"),
                                i,
                            )))
                        }
                        Op::GetCaptured(d, i) => {
                            w[d] = upvalue(st.frames.last().expect("a running maatine has a frame"), i)
                        }
                        Op::GetSlot(d, s) => w[d] = Slot::read(slot_in(w[s])),
                        // A store into an array, or into a map that has the key (a
                        // new key may grow the map: the general path). A store that
                        // fails (out of range, frozen) changes nothing: the general
                        // path tries again and reports it.
                        Op::SetIndex(o, i, v) => {
                            let Some((obj, sharing)) = usable(w[o]) else { break 'ops };
                            let stored = match obj.kind() {
                                kind::ARRAY => w[i].as_num().is_some_and(|index| {
                                    // SAFETY: kind ARRAY objects are Arrays.
                                    Array::store(unsafe { obj.downcast() }, self.cx, sharing, index, w[v])
                                }),
                                kind::MAP => {
                                    // SAFETY: kind MAP objects are Maps.
                                    let map = unsafe { obj.downcast() };
                                    Map::replace(map, self.cx, sharing, w[i], w[v]) == Ok(true)
                                }
                                _ => false,
                            };
                            if !stored {
                                break 'ops;
                            }
                        }
                        // The next item of an array (a channel's waits: the
                        // general path).
                        Op::ForNext(var, src, index, exit) if object_of(w[src], kind::CHAN).is_none() => {
                            let (i, limit) = (w[index], w[index + 1]);
                            if i.as_num() < limit.as_num() {
                                let Some(v) = self.item(w[src], i) else { break 'ops };
                                w[var] = v;
                            } else {
                                jump!(exit as usize)
                            }
                        }
                        Op::Return(_) | Op::ReturnNil if st.frames.len() > 1 => {
                            let value = if let Op::Return(s) = *op { w[s] } else { Value::nil() };
                            self.ret(st, value);
                            left -= 1;
                            continue 'frame;
                        }
                        // `Math.sqrt(x)` and the other functions of one number.
                        Op::Builtin(d, Builtin::Std(f), b, 1) => {
                            let (Some(g), Some(x)) = (f.of_one_number(), w[b].as_num()) else { break 'ops };
                            w[d] = Value::num(g(x));
                        }
                        Op::GetIndexK(d, o, k) => {
                            let Some(v) = self.item(w[o], consts[k]) else { break 'ops };
                            w[d] = v;
                        }
                        Op::Bin(op, d, x, y) => {
                            let Some(v) = simple(op, w[x], w[y]) else { break 'ops };
                            w[d] = v;
                        }
                        Op::BinK(op, d, x, k) => {
                            let Some(v) = simple(op, w[x], consts[k]) else { break 'ops };
                            w[d] = v;
                        }
                        // The commonest operators, one dispatch each, on numbers
                        // (anything else: the general path).
                        Op::Add(d, x, y) => arith!(d, w[x], w[y], +),
                        Op::Sub(d, x, y) => arith!(d, w[x], w[y], -),
                        Op::Mul(d, x, y) => arith!(d, w[x], w[y], *),
                        Op::Div(d, x, y) => arith!(d, w[x], w[y], /),
                        Op::AddK(d, x, k) => arith!(d, w[x], consts[k], +),
                        Op::SubK(d, x, k) => arith!(d, w[x], consts[k], -),
                        Op::MulK(d, x, k) => arith!(d, w[x], consts[k], *),
                        Op::DivK(d, x, k) => arith!(d, w[x], consts[k], /),
                        Op::JumpLt(x, y, sense, t) => compare!(w[x], w[y], <, sense, t),
                        Op::JumpLe(x, y, sense, t) => compare!(w[x], w[y], <=, sense, t),
                        Op::JumpGt(x, y, sense, t) => compare!(w[x], w[y], >, sense, t),
                        Op::JumpGe(x, y, sense, t) => compare!(w[x], w[y], >=, sense, t),
                        Op::JumpLtK(x, k, sense, t) => compare!(w[x], consts[k], <, sense, t),
                        Op::JumpLeK(x, k, sense, t) => compare!(w[x], consts[k], <=, sense, t),
                        Op::JumpGtK(x, k, sense, t) => compare!(w[x], consts[k], >, sense, t),
                        Op::JumpGeK(x, k, sense, t) => compare!(w[x], consts[k], >=, sense, t),
                        Op::JumpEq(x, y, sense, t) => jump!(equal(w[x], w[y]) == sense, t),
                        Op::JumpEqK(x, k, sense, t) => jump!(equal(w[x], consts[k]) == sense, t),
                        // (`CmpJump` and `CmpJumpK` of every comparison are
                        // specialized above; `specialize.rs`.)
                        _ => break 'ops,
                    }
                    at.advance();
                    continue 'ops;
                };
                // A jump taken is where control can come back: it counts
                // against the budget, which is checked here, in the one
                // place all of them share.
                at.jump(to);
                left -= 1;
                if left == 0 {
                    break 'ops;
                }
            }
            st.frames.last_mut().expect("a running maatine has a frame").pc = at.pc();
            return budget - left;
        }
    }

    /// `x = x op y` on the variable in `slot` (counted as `var`) as one
    /// atomic step on numbers, when no other maatine's section holds the
    /// slot; `false` if not, and nothing changed (the general path then
    /// does it in a section, and reports any error).
    #[inline(always)]
    fn update_now(&self, var: usize, slot: Gc<'gc, Slot<'gc>>, op: BinOp, y: Value<'gc>) -> bool {
        let Some(y) = y.as_num() else { return false };
        let (cx, me) = (self.cx, self.me);
        // `+=` and `-=` are most of them: each its own step, with no
        // dispatch on the operator inside the atomic update.
        let done = match op {
            BinOp::Add => Slot::update(slot, cx, me, |x| Some(x + y)),
            BinOp::Sub => Slot::update(slot, cx, me, |x| Some(x - y)),
            _ => Slot::update(slot, cx, me, |x| arith::numeric(op, x, y)?.as_num()),
        };
        done.inspect(|&retries| cx.stats.updated(var, retries)).is_some()
    }

    /// `class.new(…)` with `n` positional arguments when it cannot fail
    /// and needs no constructor: the instance with its defaults, `init`
    /// and its frame's registers (if the class has one; its arity and the
    /// call depth checked), and whether collection is now due. (Not
    /// inlined: the allocation's code in the loop cost every instruction
    /// of it registers.)
    #[inline(never)]
    fn new_now(&self, class: Value<'gc>, n: usize, depth: usize) -> Option<(Gc<'gc, Inst<'gc>>, Option<Callee>, bool)> {
        let class = object_of(class, kind::CLASS)?;
        // SAFETY: kind CLASS objects are Classes.
        let index = Gc::get(unsafe { class.downcast::<Class>() }).index;
        let init = match Construct::positional(&self.rt.program.classes[index as usize], n).ok()? {
            Construct::Plain => None,
            Construct::Init(f) => Some((f, self.callee(f, n + 1, depth)?)),
            Construct::Ctor(_) => return None,
        };
        self.cx.mc.check_limit().ok()?;
        let defaults = &Gc::get(self.env).defaults[index as usize];
        let inst = Inst::alloc(self.cx, index, defaults.len(), |i| defaults[i]);
        Some((inst, init, self.cx.mc.collection_due()))
    }

    /// The object `make` allocates and whether collection is now due, or
    /// `None` over the heap's limit (the general path then runs the
    /// instruction, and reports). Not inlined, as [`Run::new_now`] is not.
    #[inline(never)]
    fn alloc_now(&self, make: impl FnOnce(&Ctx<'_, 'gc>) -> GcAny<'gc>) -> Option<(GcAny<'gc>, bool)> {
        self.cx.mc.check_limit().ok()?;
        let object = make(self.cx);
        Some((object, self.cx.mc.collection_due()))
    }

    /// The length of a string, or of an array or a map this maatine may use.
    #[inline]
    pub(super) fn length(&self, v: Value<'gc>) -> Option<f64> {
        let o = v.as_object().filter(|o| o.holder().is_none())?;
        Some(match o.kind() {
            // SAFETY: kind STR objects are Strs.
            kind::STR => str_length(Gc::get(unsafe { o.downcast::<Str>() })),
            // SAFETY: kind ARRAY objects are Arrays.
            kind::ARRAY => Array::len(unsafe { o.downcast() }, self.cx) as f64,
            // SAFETY: kind MAP objects are Maps.
            kind::MAP => Map::len(unsafe { o.downcast() }, self.cx) as f64,
            // SAFETY: kind PVEC objects are PVecs.
            kind::PVEC => Gc::get(unsafe { o.downcast::<PVec<'gc>>() }).len() as f64,
            // SAFETY: kind PMAP objects are PMaps.
            kind::PMAP => Gc::get(unsafe { o.downcast::<PMap<'gc>>() }).len() as f64,
            _ => return None,
        })
    }

    /// `array[index]`, `map[key]` or `string[index]` when it cannot fail
    /// or allocate: an array or a map this maatine may use, an index in
    /// range or a valid key, an ASCII string (its characters are made once);
    /// anything else takes the slow path, which reports.
    #[inline(always)]
    pub(super) fn item(&self, o: Value<'gc>, i: Value<'gc>) -> Option<Value<'gc>> {
        let (obj, sharing) = usable(o)?;
        match obj.kind() {
            // SAFETY: kind ARRAY objects are Arrays.
            kind::ARRAY => Array::load(unsafe { obj.downcast() }, self.cx, sharing, i.as_num()?),
            // SAFETY: kind MAP objects are Maps.
            kind::MAP => Map::get(unsafe { obj.downcast() }, self.cx, i).ok(),
            // Immutable: no lock in any mode.
            kind::PVEC => {
                let at = arith::int_of(i.as_num()?).and_then(|n| usize::try_from(n).ok())?;
                // SAFETY: kind PVEC objects are PVecs.
                Gc::get(unsafe { obj.downcast::<PVec<'gc>>() }).get(at)
            }
            // SAFETY: kind PMAP objects are PMaps.
            kind::PMAP => Some(Gc::get(unsafe { obj.downcast::<PMap<'gc>>() }).get(i).ok()?.unwrap_or(Value::nil())),
            // SAFETY: kind STR objects are Strs.
            kind::STR => self.str_item(Gc::get(unsafe { obj.downcast::<Str>() }), i),
            _ => None,
        }
    }

    /// `string[index]` for [`Run::item`]: an ASCII string's character (made
    /// once), or `None`. Out of line, as [`str_length`] is.
    #[inline(never)]
    fn str_item(&self, s: &Str, i: Value<'gc>) -> Option<Value<'gc>> {
        let at = arith::int_of(i.as_num()?).and_then(|n| usize::try_from(n).ok())?;
        let c = *s.is_ascii().then(|| s.as_str().as_bytes().get(at))??;
        Some(Value::object(Gc::get(self.env).chars[usize::from(c)].into()))
    }
}

/// The length of `s` in characters, for [`Run::length`]. Out of line: the
/// fast loop's code follows what is inlined into it, and a string's layout
/// then moved the loop's own instructions (Sieve and Mandelbrot 3–4% more).
#[inline(never)]
fn str_length(s: &Str) -> f64 {
    methods::char_len(s.as_str(), s.is_ascii()) as f64
}

/// A function to call and its frame's register count.
type Callee = (u32, u16);

/// The root of the current version of the versioned root `v` holds, if it
/// holds one (one atomic load: never locks).
#[inline(never)]
fn current_version(v: Value<'_>) -> Option<Value<'_>> {
    let db = object_of(v, kind::VERSIONED)?;
    // SAFETY: kind VERSIONED objects are Versioneds.
    Some(Gc::get(unsafe { db.downcast::<crate::object::versioned::Versioned<'_>>() }).now().root)
}

/// The map `v` holds, when it is one this maatine may use (not sent away).
#[inline(always)]
fn usable_map<'gc>(v: Value<'gc>) -> Option<Gc<'gc, Map<'gc>>> {
    let map = object_of(v, kind::MAP).filter(|m| m.holder().is_none())?;
    // SAFETY: kind MAP objects are Maps.
    Some(unsafe { map.downcast() })
}

/// The object `v` holds and its sharing state, from one read of its flags,
/// when it is one this maatine may use (not sent away).
#[inline(always)]
fn usable(v: Value<'_>) -> Option<(GcAny<'_>, maat_sync::Sharing)> {
    let obj = v.as_object()?;
    Some((obj, obj.sharing_unless_sent()?))
}

/// The instance `v` holds, its sharing state and the member this
/// instruction's cache has for its class, when `v` is an instance this
/// maatine may use (not sent away) and the cache knows its class.
#[inline(always)]
pub(super) fn cached_member<'gc>(
    v: Value<'gc>,
    cache: &MemberCache,
) -> Option<(Gc<'gc, Inst<'gc>>, maat_sync::Sharing, Member)> {
    let (inst, sharing) = usable(v).filter(|(o, _)| o.kind() == kind::INST)?;
    // SAFETY: kind INST objects are Insts.
    let inst = unsafe { inst.downcast::<Inst<'gc>>() };
    Some((inst, sharing, cache.get(Gc::get(inst).class())?))
}

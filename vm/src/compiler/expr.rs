//! Expressions: operands, calls (functions, built-ins, natives, closures),
//! methods and fields, closures and their upvalues, and imported modules'
//! members.

use super::*;

impl FnCompiler<'_> {
    /// A right-hand operand: the constant of a literal, or a register
    /// holding the value of anything else (evaluated now).
    pub(super) fn operand(&mut self, e: &Expr) -> CResult<Operand> {
        match self.literal(e) {
            Some(k) => Ok(Operand::Const(k)),
            None => Ok(Operand::Reg(self.expr_any(e)?)),
        }
    }

    /// `dst = lhs op e`, with a constant operand when `e` is a literal.
    pub(super) fn binary_to(&mut self, op: BinOp, dst: Reg, lhs: Reg, e: &Expr) -> CResult<()> {
        let op = self.operand(e)?.binary(op, dst, lhs);
        self.emit(op);
        Ok(())
    }

    /// The constant of a number or string literal (a negative number too).
    pub(super) fn literal(&mut self, e: &Expr) -> Option<u32> {
        match &e.kind {
            ExprKind::Num(n) => Some(self.konst(Const::Num(*n))),
            ExprKind::Unary(UnOp::Neg, x) => match x.kind {
                ExprKind::Num(n) => Some(self.konst(Const::Num(-n))),
                _ => None,
            },
            ExprKind::Str(s) => Some(self.konst(Const::Str(s.as_str().into()))),
            _ => None,
        }
    }

    /// Compiles `e` into some register (a local's own, or a new temporary).
    pub(super) fn expr_any(&mut self, e: &Expr) -> CResult<Reg> {
        if let ExprKind::Var(name) = &e.kind
            && let Some(r) = self.local(name)
        {
            return Ok(r);
        }
        if let ExprKind::SelfRef = e.kind
            && let Some(Place::Local(r, _)) = self.receiver()
        {
            return Ok(r);
        }
        let r = self.temp(e.span)?;
        self.expr_to(e, r)?;
        Ok(r)
    }

    /// `alias.name` naming an export of an imported module: the name it
    /// qualifies (or why it names nothing), unless `alias` is a variable.
    pub(super) fn import_target(&self, recv: &Expr, name: &str, span: Span) -> Option<CResult<String>> {
        let ExprKind::Var(alias) = &recv.kind else { return None };
        let &target = self.units[self.module].imports.get(alias)?;
        if self.place(alias).is_some() {
            return None;
        }
        let unit = &self.units[target];
        Some(if unit.exports.contains(name) {
            Ok(qualify(&unit.prefix, name))
        } else if unit.lets.contains(name) {
            Err(SyntaxError::new(format!("`{name}` is private to module `{alias}`"), span).with_label(
                "a top-level `let` is seen in its own file only: functions, classes and `our` variables are exported",
            ))
        } else {
            Err(SyntaxError::new(format!("module `{alias}` has no `{name}`"), span))
        })
    }

    /// `e` written with what it names in place of an imported module's
    /// member (`alias.x` as the variable `x` of that module, `alias.f(…)` as
    /// a call of its `f`), when it is one.
    pub(super) fn imported(&mut self, e: &Expr) -> CResult<Option<Expr>> {
        let ExprKind::Method(recv, name, args) = &e.kind else { return Ok(None) };
        let Some(key) = self.import_target(recv, name, e.span).transpose()? else { return Ok(None) };
        if !self.globals.functions.contains_key(&key) {
            // A class or an `our` variable: a global.
            self.global(&key);
        }
        let var = Expr { kind: ExprKind::Var(key), span: e.span };
        Ok(Some(match args {
            None => var,
            Some(args) => Expr { kind: ExprKind::Call(Box::new(var), args.clone()), span: e.span },
        }))
    }

    /// Whether `e` reads the global this module calls `name` (also as an
    /// imported module's member).
    pub(super) fn reads_global(&self, e: &Expr, name: &str) -> bool {
        let key = self.key(name);
        reads_var(e, &|x| match &x.kind {
            ExprKind::Var(n) => self.key(n) == key,
            ExprKind::Method(recv, m, None) => matches!(self.import_target(recv, m, x.span), Some(Ok(k)) if k == key),
            _ => false,
        })
    }

    /// Compiles `e` into `dst`.
    pub(super) fn expr_to(&mut self, e: &Expr, dst: Reg) -> CResult<()> {
        if let Some(e) = self.imported(e)? {
            return self.expr_to(&e, dst);
        }
        let mark = self.next.max(dst + 1);
        self.next = mark;
        match &e.kind {
            ExprKind::Nil => drop(self.emit(Op::LoadNil(dst))),
            ExprKind::Bool(b) => drop(self.emit(Op::LoadBool(dst, *b))),
            ExprKind::Num(_) | ExprKind::Str(_) => {
                let k = self.literal(e).expect("a literal");
                self.emit(Op::LoadK(dst, k));
            }
            ExprKind::Unary(UnOp::Neg, x) if matches!(x.kind, ExprKind::Num(_)) => {
                let k = self.literal(e).expect("a negative number");
                self.emit(Op::LoadK(dst, k));
            }
            ExprKind::Var(name) => match self.place(name) {
                Some(Place::Local(r, false)) if r != dst => drop(self.emit(Op::Move(dst, r))),
                Some(Place::Local(_, false)) => {}
                Some(Place::Local(r, true)) => drop(self.emit(Op::GetSlot(dst, r))),
                Some(Place::Upvalue(i)) => drop(self.emit(Op::GetUpval(dst, i))),
                Some(Place::Captured(i)) => drop(self.emit(Op::GetCaptured(dst, i))),
                Some(Place::Module(i)) => drop(self.emit(Op::GetModule(dst, i))),
                Some(Place::Global(g)) => drop(self.emit(Op::GetGlobal(dst, g))),
                None => return Err(SyntaxError::new(format!("unknown variable `{name}`"), e.span)),
            },
            ExprKind::Unary(op, x) => {
                let r = self.expr_any(x)?;
                self.emit(match op {
                    UnOp::Neg => Op::Neg(dst, r),
                    UnOp::Not => Op::Not(dst, r),
                    UnOp::BitNot => Op::BitNot(dst, r),
                });
            }
            ExprKind::Binary(BinOp::And, a, b) | ExprKind::Binary(BinOp::Or, a, b) => {
                let and = matches!(e.kind, ExprKind::Binary(BinOp::And, ..));
                self.expr_to(a, dst)?;
                let skip = self.emit(if and { Op::JumpIfFalse(dst, 0) } else { Op::JumpIfTrue(dst, 0) });
                self.expr_to(b, dst)?;
                self.patch(skip);
            }
            // A literal on the left of a commutative operator moves right
            // (`1 + n` is `n + 1`: literals have no effects to reorder).
            ExprKind::Binary(op @ (BinOp::Add | BinOp::Mul), a, b) if is_literal(a) && !is_literal(b) => {
                let rb = self.expr_any(b)?;
                self.binary_to(*op, dst, rb, a)?;
            }
            ExprKind::Binary(op, a, b) => {
                let ra = self.expr_any(a)?;
                self.binary_to(*op, dst, ra, b)?;
            }
            ExprKind::Array(items) => {
                let base = self.consecutive(items)?;
                self.emit(Op::NewArray(dst, base, items.len() as u16));
            }
            ExprKind::Map(pairs) => {
                let flat: Vec<Expr> = pairs.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect();
                let base = self.consecutive(&flat)?;
                self.emit(Op::NewMap(dst, base, pairs.len() as u16));
            }
            ExprKind::Index(obj, index) => {
                let o = self.expr_any(obj)?;
                let get = match self.operand(index)? {
                    Operand::Const(k) => Op::GetIndexK(dst, o, k),
                    Operand::Reg(i) => Op::GetIndex(dst, o, i),
                };
                self.emit(get);
            }
            ExprKind::Call(callee, args) => self.call(dst, callee, args, false)?,
            ExprKind::Method(recv, name, args) if name == "new" && is_namespace(recv, "Chan", self) => {
                let cap = self.temp(e.span)?;
                match args.as_deref().unwrap_or_default() {
                    [a] if a.name.is_none() => self.expr_to(&a.value, cap)?,
                    _ => return Err(SyntaxError::new("Chan.new takes one argument: the capacity", e.span)),
                }
                self.emit(Op::NewChan(dst, cap));
            }
            ExprKind::Method(recv, name, args) if is_gc_namespace(recv, self) => {
                let op = match name.as_str() {
                    "collect" => GcOp::Collect,
                    "stats" => GcOp::Stats,
                    "mode" => GcOp::Mode,
                    _ => return Err(SyntaxError::new(format!("unknown method `{name}` for GC"), e.span)),
                };
                let arg = self.temp(e.span)?;
                match args.as_deref().unwrap_or_default() {
                    [] => drop(self.emit(Op::LoadNil(arg))),
                    [a] => self.expr_to(&a.value, arg)?,
                    _ => return Err(SyntaxError::new(format!("GC.{name} takes at most one argument"), e.span)),
                }
                self.emit(Op::Gc(dst, op, arg));
            }
            ExprKind::Method(recv, name, None) if name == "freeze" || name == "share" => {
                let r = self.expr_any(recv)?;
                self.emit(Op::Mark(dst, r, name == "freeze"));
            }
            ExprKind::Method(recv, name, args) if std_name(recv, name, self).is_some() => {
                let full = std_name(recv, name, self).expect("checked");
                if let Some(n) = crate::bytecode::std_constant(&full) {
                    if args.is_some() {
                        return Err(SyntaxError::new(format!("{full} is a number, not a function"), e.span));
                    }
                    let k = self.konst(Const::Num(n));
                    self.emit(Op::LoadK(dst, k));
                } else {
                    let f = StdFn::from_name(&full).expect("std_name checked");
                    let args = args.as_deref().unwrap_or_default();
                    self.builtin_call(dst, Builtin::Std(f), args)?;
                }
            }
            ExprKind::Method(recv, name, args) if name == "new" => {
                self.new_instance(dst, recv, args.as_deref().unwrap_or_default())?
            }
            ExprKind::Super(name, args) => self.super_call(dst, name.as_deref(), args, e.span)?,
            // `obj.name`: a field (or a method without arguments), read
            // from the object's own register.
            ExprKind::Method(recv, name, None) => {
                let o = self.expr_any(recv)?;
                let k = self.konst(Const::Str(name.as_str().into()));
                self.emit(Op::GetField(dst, o, k));
            }
            ExprKind::Method(recv, name, args) => {
                let args = args.as_deref().unwrap_or_default();
                if let Some(a) = args.iter().find(|a| a.name.is_some()) {
                    return unsupported("named arguments", a.value.span);
                }
                // The receiver, then the arguments, in consecutive registers
                // (a method's `self` is its parameter 0).
                let mut values: Vec<Expr> = vec![(**recv).clone()];
                values.extend(args.iter().map(|a| a.value.clone()));
                let base = self.consecutive(&values)?;
                let k = self.konst(Const::Str(name.as_str().into()));
                self.emit(Op::CallMethod(dst, base, k, base + 1, args.len() as u16));
            }
            ExprKind::Range(..) | ExprKind::UpTo(_) => return unsupported("ranges outside `for`", e.span),
            ExprKind::Closure(params, body) => self.closure(dst, "<closure>", e.span.start, params, body)?,
            ExprKind::SelfRef => match self.receiver() {
                Some(Place::Local(r, _)) if r != dst => drop(self.emit(Op::Move(dst, r))),
                Some(Place::Local(..)) => {}
                Some(Place::Upvalue(i)) => drop(self.emit(Op::GetUpval(dst, i))),
                Some(Place::Captured(i)) => drop(self.emit(Op::GetCaptured(dst, i))),
                _ => return Err(SyntaxError::new("`self` outside a method", e.span)),
            },
            ExprKind::Ma(call) => match &self.imported(call)?.as_ref().unwrap_or(call).kind {
                ExprKind::Call(callee, args) => self.call(dst, callee, args, true)?,
                _ => {
                    return Err(SyntaxError::new("`ma` runs a function call: write `ma f(args)`", call.span)
                        .with_label("a method call: call it from a function and run that"));
                }
            },
        }
        self.next = mark;
        Ok(())
    }

    /// Compiles `items` into consecutive new registers; returns the first.
    pub(super) fn consecutive(&mut self, items: &[Expr]) -> CResult<Reg> {
        let base = self.next;
        let regs: Vec<Reg> = items.iter().map(|i| self.temp(i.span)).collect::<CResult<_>>()?;
        for (item, r) in items.iter().zip(regs) {
            self.expr_to(item, r)?;
        }
        Ok(base)
    }

    /// A call, or with `spawn` a new maatine running it (`ma f(args)`).
    pub(super) fn call(&mut self, dst: Reg, callee: &Expr, args: &[Arg], spawn: bool) -> CResult<()> {
        if let Some(a) = args.iter().find(|a| a.name.is_some()) {
            return unsupported("named arguments", a.value.span);
        }
        let values: Vec<Expr> = args.iter().map(|a| a.value.clone()).collect();
        let n = values.len() as u16;
        let named = match &callee.kind {
            ExprKind::Var(name)
                if !matches!(self.place(name), Some(Place::Local(..) | Place::Upvalue(_) | Place::Captured(_))) =>
            {
                Some(name)
            }
            _ => None,
        };
        let target = match named.map(|name| (self.globals.functions.get(&self.key(name)), name.as_str())) {
            Some((Some(&f), _)) => Some(Ok(f)),
            Some((None, name)) if self.globals.natives.iter().any(|n| n == name) => {
                let i = self.globals.natives.iter().position(|n| n == name).expect("just found");
                Some(Err(Builtin::Native(i as u32)))
            }
            Some((None, name)) if StdFn::from_name(name).is_some() => {
                Some(Err(Builtin::Std(StdFn::from_name(name).expect("just found"))))
            }
            Some((None, name)) if self.own_method(name).is_some() => {
                // A method of this class called without `self.`.
                let mut values: Vec<Expr> = vec![Expr { kind: ExprKind::SelfRef, span: callee.span }];
                values.extend(args.iter().map(|a| a.value.clone()));
                let base = self.consecutive(&values)?;
                let k = self.konst(Const::Str(name.into()));
                self.emit(if spawn {
                    return Err(SyntaxError::new("`ma` runs a function call: write `ma f(args)`", callee.span));
                } else {
                    Op::CallMethod(dst, base, k, base + 1, n)
                });
                return Ok(());
            }
            Some((None, "clock")) => Some(Err(Builtin::Clock)),
            Some((None, "assert")) => Some(Err(Builtin::Assert)),
            Some((None, "maatine_id")) => Some(Err(Builtin::MaatineId)),
            Some((None, name)) if !self.globals.vars.contains_key(&self.key(name)) => {
                return Err(SyntaxError::new(format!("unknown function `{name}`"), callee.span));
            }
            _ => None,
        };
        let Some(target) = target else {
            // A closure value: a local, an upvalue, or a global holding one.
            let f = self.expr_any(callee)?;
            let base = self.consecutive(&values)?;
            self.emit(if spawn { Op::SpawnValue(dst, f, base, n) } else { Op::CallValue(dst, f, base, n) });
            return Ok(());
        };
        let base = self.consecutive(&values)?;
        self.emit(match (target, spawn) {
            (Ok(f), false) => Op::Call(dst, f, base, n),
            (Ok(f), true) => Op::Spawn(dst, f, base, n),
            (Err(b), false) => Op::Builtin(dst, b, base, n),
            (Err(_), true) => {
                return Err(SyntaxError::new("`ma` runs Maat functions, not built-in ones", callee.span)
                    .with_label("wrap the call in a function and run that"));
            }
        });
        Ok(())
    }

    /// `Std(args)` or a native's call: arguments in consecutive registers.
    pub(super) fn builtin_call(&mut self, dst: Reg, b: Builtin, args: &[Arg]) -> CResult<()> {
        if let Some(a) = args.iter().find(|a| a.name.is_some()) {
            return unsupported("named arguments", a.value.span);
        }
        let values: Vec<Expr> = args.iter().map(|a| a.value.clone()).collect();
        let base = self.consecutive(&values)?;
        self.emit(Op::Builtin(dst, b, base, values.len() as u16));
        Ok(())
    }

    /// Creates a closure of `body` into `dst`, capturing the slots of its
    /// upvalues (as resolved before compilation); its code is compiled after
    /// the current function.
    pub(super) fn closure(
        &mut self,
        dst: Reg,
        name: &str,
        start: usize,
        params: &[String],
        body: &Block,
    ) -> CResult<()> {
        let upvalues = self.globals.resolution.upvalues.get(&start).cloned().unwrap_or_default();
        let index = self.globals.reserve();
        let base = self.next;
        let mut captured = Vec::with_capacity(upvalues.len());
        for up in upvalues {
            let r = self.temp(Span::new(start, start))?;
            // A boxed variable's slot, or the value of one never assigned
            // again (`self` among them).
            let (op, by_value) = match self.place(&up) {
                Some(Place::Local(slot, true)) => (Op::Move(r, slot), false),
                Some(Place::Local(value, false)) => (Op::Move(r, value), true),
                Some(Place::Upvalue(i)) => (Op::UpvalSlot(r, i), false),
                Some(Place::Captured(i)) => (Op::GetCaptured(r, i), true),
                _ => unreachable!("an upvalue is a local or an upvalue of the enclosing function: `{up}`"),
            };
            self.emit(op);
            captured.push((up, by_value));
        }
        self.emit(Op::Closure(dst, index, base, captured.len() as u16));
        self.globals.pending.push(PendingClosure {
            index,
            name: name.to_owned(),
            start,
            params: params.to_vec(),
            body: body.clone(),
            upvalues: captured,
            // A closure in a method sees its `self` and class.
            class: self.class,
            method: self.method.clone(),
            init: false,
            module: self.module,
        });
        Ok(())
    }
}

/// Whether `e` is a number or string literal.
pub(super) fn is_literal(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Num(_) | ExprKind::Str(_))
}

/// `NS.name` as the standard library names it, when `recv` is one of its
/// namespaces (not shadowed by a variable) and it has that member.
pub(super) fn std_name(recv: &Expr, name: &str, c: &FnCompiler<'_>) -> Option<String> {
    let ExprKind::Var(ns) = &recv.kind else { return None };
    if !matches!(ns.as_str(), "Math" | "Array" | "Random" | "PVec" | "PMap" | "Versioned") || !is_namespace(recv, ns, c)
    {
        return None;
    }
    let full = format!("{ns}.{name}");
    (StdFn::from_name(&full).is_some() || crate::bytecode::std_constant(&full).is_some()).then_some(full)
}

/// Whether `e` is the `GC` namespace (not shadowed by a variable).
pub(super) fn is_gc_namespace(e: &Expr, c: &FnCompiler<'_>) -> bool {
    is_namespace(e, "GC", c)
}

/// Whether `e` is the built-in namespace `name` (not shadowed by a variable).
pub(super) fn is_namespace(e: &Expr, name: &str, c: &FnCompiler<'_>) -> bool {
    matches!(&e.kind, ExprKind::Var(n) if n == name && c.local(n).is_none() && !c.globals.vars.contains_key(&c.key(n)))
}

/// Whether `e` reads the variable that `is_var` recognizes (a closure's
/// body is not looked into: it runs later).
pub(super) fn reads_var(e: &Expr, is_var: &dyn Fn(&Expr) -> bool) -> bool {
    if is_var(e) {
        return true;
    }
    let any = |es: &[&Expr]| es.iter().any(|x| reads_var(x, is_var));
    match &e.kind {
        ExprKind::Unary(_, x) | ExprKind::UpTo(x) | ExprKind::Ma(x) => reads_var(x, is_var),
        ExprKind::Binary(_, a, b) | ExprKind::Range(a, b) | ExprKind::Index(a, b) => any(&[a, b]),
        ExprKind::Array(items) => items.iter().any(|x| reads_var(x, is_var)),
        ExprKind::Map(pairs) => pairs.iter().any(|(k, v)| any(&[k, v])),
        ExprKind::Call(f, args) => reads_var(f, is_var) || args.iter().any(|a| reads_var(&a.value, is_var)),
        ExprKind::Method(r, _, args) => {
            reads_var(r, is_var) || args.iter().flatten().any(|a| reads_var(&a.value, is_var))
        }
        ExprKind::Super(_, args) => args.iter().any(|a| reads_var(&a.value, is_var)),
        ExprKind::Var(_)
        | ExprKind::Closure(..)
        | ExprKind::Nil
        | ExprKind::Bool(_)
        | ExprKind::Num(_)
        | ExprKind::Str(_)
        | ExprKind::SelfRef => false,
    }
}

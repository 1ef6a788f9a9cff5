//! Statements: declarations, assignment (read-modify-write sections on
//! globals and captured variables), control flow, loops and `try`.

use super::*;

impl FnCompiler<'_> {
    pub(super) fn block(&mut self, block: &Block) -> CResult<()> {
        let (locals, next) = (self.locals.len(), self.next);
        self.depth += 1;
        for stmt in block {
            self.stmt(stmt)?;
        }
        self.depth -= 1;
        self.locals.truncate(locals);
        self.next = next;
        Ok(())
    }

    pub(super) fn stmt(&mut self, stmt: &Stmt) -> CResult<()> {
        self.line = self.units[self.module].lines.line(stmt.span.start);
        let mark = self.next;
        match &stmt.kind {
            StmtKind::Let(name, init) => {
                let reg = self.temp(stmt.span)?;
                match init {
                    Some(e) => self.expr_to(e, reg)?,
                    None => drop(self.emit(Op::LoadNil(reg))),
                }
                if self.bind(name, stmt.span, reg)? {
                    return Ok(());
                }
            }
            StmtKind::LetPattern(pattern, init) => {
                let src = self.expr_any(init)?;
                let mut kept = false;
                for (i, name) in pattern.names().iter().enumerate() {
                    let reg = self.temp(stmt.span)?;
                    let key = match pattern {
                        Pattern::Array(_) => Const::Num(i as f64),
                        Pattern::Map(_) => Const::Str(name.as_str().into()),
                    };
                    let k = self.konst(key);
                    self.emit(Op::GetIndexK(reg, src, k));
                    kept |= self.bind(name, stmt.span, reg)?;
                }
                if kept {
                    return Ok(());
                }
            }
            // Loading the program read the imports (the parser allows them
            // at the top level only); a program given as text has none.
            StmtKind::Import(i) => {
                if !self.units[self.module].imports.contains_key(&i.alias) {
                    return unsupported_import(i);
                }
            }
            StmtKind::Our(name, init) => {
                let g = self.global(name);
                let r = match init {
                    Some(e) => self.expr_any(e)?,
                    None => {
                        let r = self.temp(stmt.span)?;
                        self.emit(Op::LoadNil(r));
                        r
                    }
                };
                self.emit(Op::SetGlobal(g, r));
            }
            // Top-level declarations were hoisted by `compile`.
            StmtKind::Fn(_) if self.top && self.depth == 1 => {}
            StmtKind::Fn(f) => {
                // A local bound to a closure, declared first so that the
                // closure can call itself.
                let reg = self.temp(stmt.span)?;
                self.emit(Op::LoadNil(reg));
                self.declare(&f.name, stmt.span.start, reg);
                let closure = self.temp(stmt.span)?;
                self.closure(closure, &f.name, f.span.start, &f.params, &f.body)?;
                let boxed = matches!(self.place(&f.name), Some(Place::Local(_, true)));
                self.emit(if boxed { Op::SetSlot(reg, closure) } else { Op::Move(reg, closure) });
                self.next = reg + 1;
                return Ok(());
            }
            StmtKind::Class(c) if self.top && self.depth == 1 => self.class(c, stmt.span)?,
            StmtKind::Class(_) => return unsupported("classes declared inside blocks", stmt.span),
            StmtKind::Try(body, var, handler) => self.try_stmt(body, var, handler, stmt.span)?,
            StmtKind::Throw(value) => {
                let r = self.expr_any(value)?;
                self.emit(Op::Throw(r));
            }
            StmtKind::If(arms, otherwise) => self.if_stmt(arms, otherwise.as_ref())?,
            StmtKind::While(cond, body) => self.while_stmt(cond, body)?,
            StmtKind::For { iter, var, body, parallel: true } => self.ma_for(iter, var, body, stmt.span)?,
            StmtKind::For { iter, var, body, .. } => self.for_stmt(iter, var, body, stmt.span.start)?,
            StmtKind::Return(value) => match value {
                Some(e) if self.init => {
                    return Err(SyntaxError::new(
                        "`init` returns the new instance: its `return` takes no value",
                        e.span,
                    ));
                }
                Some(e) => {
                    let r = self.expr_any(e)?;
                    self.emit(Op::Return(r));
                }
                None => drop(self.emit(if self.init { Op::Return(0) } else { Op::ReturnNil })),
            },
            StmtKind::Break | StmtKind::Next => self.jump_out(matches!(stmt.kind, StmtKind::Break), stmt.span)?,
            StmtKind::Say(values, newline) => {
                let base = self.next;
                for v in values {
                    let r = self.temp(v.span)?;
                    self.expr_to(v, r)?;
                }
                self.emit(Op::Say(base, values.len() as u16, *newline));
            }
            StmtKind::Assign(target, op, value) => self.assign(target, *op, value)?,
            StmtKind::Expr(e) => {
                self.expr_any(e)?;
            }
        }
        self.next = mark;
        Ok(())
    }

    /// Binds a `let`'s name to the value in `reg`: a module variable's slot
    /// takes it (at the top level), or `reg` becomes the local (`true`: keep
    /// the register).
    pub(super) fn bind(&mut self, name: &str, span: Span, reg: Reg) -> CResult<bool> {
        if self.top
            && self.depth == 1
            && let Some(&i) = self.globals.resolution.module.get(&self.key(name))
        {
            self.declared.insert(name.to_owned());
            let slot = self.temp(span)?;
            self.emit(Op::ModuleSlot(slot, i));
            self.emit(Op::SetSlot(slot, reg));
            return Ok(false);
        }
        self.declare(name, span.start, reg);
        Ok(true)
    }

    pub(super) fn jump_out(&mut self, is_break: bool, span: Span) -> CResult<()> {
        let Some(open) = self.loops.last().map(|l| self.tries - l.tries) else {
            let what = if is_break { "break" } else { "next" };
            return Err(SyntaxError::new(format!("`{what}` outside a loop"), span));
        };
        // Leaving `try` blocks opened inside the loop closes them.
        for _ in 0..open {
            self.emit(Op::TryEnd);
        }
        let at = self.emit(Op::Jump(0));
        let l = self.loops.last_mut().expect("checked above");
        if is_break {
            l.breaks.push(at)
        } else {
            l.nexts.push(at)
        }
        Ok(())
    }

    pub(super) fn if_stmt(&mut self, arms: &[(Expr, Block)], otherwise: Option<&Block>) -> CResult<()> {
        let mut ends = Vec::new();
        for (i, (cond, body)) in arms.iter().enumerate() {
            let skip = self.branch(cond, false)?;
            self.block(body)?;
            // The last arm without an `else` falls through to the end.
            if i + 1 < arms.len() || otherwise.is_some() {
                ends.push(self.emit(Op::Jump(0)));
            }
            skip.into_iter().for_each(|s| self.patch(s));
        }
        if let Some(body) = otherwise {
            self.block(body)?;
        }
        ends.into_iter().for_each(|e| self.patch(e));
        Ok(())
    }

    /// Runs `body` as a loop body followed by `back` (the step and the jump
    /// back to the loop's top); `next` jumps to `back`, `break` past it.
    pub(super) fn loop_body(&mut self, body: &Block, back: impl FnOnce(&mut Self) -> CResult<()>) -> CResult<()> {
        self.loops.push(Loop { breaks: Vec::new(), nexts: Vec::new(), tries: self.tries });
        self.block(body)?;
        let l = self.loops.pop().expect("pushed above");
        l.nexts.into_iter().for_each(|n| self.patch(n));
        back(self)?;
        l.breaks.into_iter().for_each(|b| self.patch(b));
        Ok(())
    }

    /// Emits the jumps taken when `cond`'s truth is `sense` (to be patched
    /// to one target); otherwise control falls through. A comparison becomes
    /// one `CmpJump`/`CmpJumpK` instruction, a test against `nil` one
    /// `JumpNil`; `!`, `&&` and `||` become jumps, never values.
    pub(super) fn branch(&mut self, cond: &Expr, sense: bool) -> CResult<Vec<usize>> {
        match &cond.kind {
            ExprKind::Unary(UnOp::Not, a) => self.branch(a, !sense),
            // `a && b` is true when both are; `a || b` false when both are.
            ExprKind::Binary(op @ (BinOp::And | BinOp::Or), a, b) if sense == (*op == BinOp::And) => {
                let skip = self.branch(a, !sense)?;
                let taken = self.branch(b, sense)?;
                skip.into_iter().for_each(|s| self.patch(s));
                Ok(taken)
            }
            // `a && b` is false when either is; `a || b` true when either is.
            ExprKind::Binary(BinOp::And | BinOp::Or, a, b) => {
                let mut taken = self.branch(a, sense)?;
                taken.extend(self.branch(b, sense)?);
                Ok(taken)
            }
            _ => self.branch_one(cond, sense).map(|at| vec![at]),
        }
    }

    fn branch_one(&mut self, cond: &Expr, sense: bool) -> CResult<usize> {
        let mark = self.next;
        let nil = |e: &Expr| matches!(e.kind, ExprKind::Nil);
        let op = match &cond.kind {
            // `nil` has no effects: only the other side is evaluated.
            ExprKind::Binary(op @ (BinOp::Eq | BinOp::Ne), a, b) if nil(a) || nil(b) => {
                let r = self.expr_any(if nil(b) { a } else { b })?;
                Op::JumpNil(r, sense == (*op == BinOp::Eq), 0)
            }
            ExprKind::Binary(op, a, b) if op.is_comparison() => {
                let ra = self.expr_any(a)?;
                match self.operand(b)? {
                    Operand::Const(k) => Op::CmpJumpK(*op, ra, k, sense, 0),
                    Operand::Reg(rb) => Op::CmpJump(*op, ra, rb, sense, 0),
                }
            }
            _ => {
                let c = self.expr_any(cond)?;
                if sense { Op::JumpIfTrue(c, 0) } else { Op::JumpIfFalse(c, 0) }
            }
        };
        self.next = mark;
        Ok(self.emit(op))
    }

    pub(super) fn try_stmt(&mut self, body: &Block, var: &str, handler: &Block, span: Span) -> CResult<()> {
        let err = self.temp(span)?;
        let begin = self.emit(Op::TryBegin(0, err));
        self.tries += 1;
        self.block(body)?;
        self.tries -= 1;
        self.emit(Op::TryEnd);
        let skip = self.emit(Op::Jump(0));
        self.patch(begin);
        let locals = self.locals.len();
        self.declare(var, span.start, err);
        self.block(handler)?;
        self.locals.truncate(locals);
        self.patch(skip);
        Ok(())
    }

    /// `while`, with its test at the bottom: one conditional jump per
    /// iteration instead of a test, a jump out and a jump back.
    pub(super) fn while_stmt(&mut self, cond: &Expr, body: &Block) -> CResult<()> {
        let enter = self.emit(Op::Jump(0));
        let top = self.here();
        self.loop_body(body, |c| {
            c.patch(enter);
            c.line = c.units[c.module].lines.line(cond.span.start);
            for back in c.branch(cond, true)? {
                c.patch_to(back, top);
            }
            Ok(())
        })
    }

    pub(super) fn for_stmt(&mut self, iter: &Expr, var: &str, body: &Block, at: usize) -> CResult<()> {
        let locals = self.locals.len();
        let fixed = !self.globals.resolution.assigned.contains(&(at, var.to_owned()));
        self.for_each(iter, fixed, |c, var_reg, step| {
            // Each iteration binds a fresh variable (a fresh slot if captured).
            c.locals.truncate(locals);
            c.declare(var, at, var_reg);
            c.loop_body(body, step)
        })?;
        self.locals.truncate(locals);
        Ok(())
    }

    /// `ma for iter -> var { body }`: the body becomes a closure of `var`,
    /// each iteration a maatine running it, and the loop ends by joining them
    /// all (an error in any is raised after all have stopped).
    pub(super) fn ma_for(&mut self, iter: &Expr, var: &str, body: &Block, span: Span) -> CResult<()> {
        let closure = self.temp(span)?;
        self.closure(closure, "<ma for>", span.start, &[var.to_owned()], body)?;
        let handles = self.temp(span)?;
        self.emit(Op::NewArray(handles, handles, 0));
        let push = self.konst(Const::Str("push".into()));
        self.for_each(iter, true, |c, var_reg, step| {
            let (recv, handle) = (c.temp(span)?, c.temp(span)?);
            c.emit(Op::Move(recv, handles));
            c.emit(Op::SpawnValue(handle, closure, var_reg, 1));
            c.emit(Op::CallMethod(recv, recv, push, handle, 1));
            step(c)
        })?;
        let (count, error) = (self.temp(span)?, self.temp(span)?);
        let zero = self.konst(Const::Num(0.0));
        self.emit(Op::LoadK(count, zero));
        self.emit(Op::LoadNil(error));
        self.emit(Op::JoinAll(handles, count));
        Ok(())
    }

    /// The loop over a range, an array or a channel: `body` gets the
    /// register of the element and the code to emit after the body (the
    /// step and the jump back), and emits both. A range loop tests at the
    /// bottom: `index += 1; if index < limit jump top`. When the body never
    /// assigns the element (`fixed`), a range loop's element is its index
    /// register itself; otherwise each iteration copies the index, so that
    /// assigning the variable does not change the loop.
    pub(super) fn for_each(
        &mut self,
        iter: &Expr,
        fixed: bool,
        body: impl FnOnce(&mut Self, Reg, &dyn Fn(&mut Self) -> CResult<()>) -> CResult<()>,
    ) -> CResult<()> {
        let next = self.next;
        let (index, limit) = (self.temp(iter.span)?, self.temp(iter.span)?);
        let one = self.konst(Const::Num(1.0));
        let zero = self.konst(Const::Num(0.0));
        let source = match &iter.kind {
            ExprKind::UpTo(n) => {
                self.emit(Op::LoadK(index, zero));
                self.expr_to(n, limit)?;
                Err(BinOp::Lt)
            }
            ExprKind::Range(a, b) => {
                self.expr_to(a, index)?;
                self.expr_to(b, limit)?;
                Err(BinOp::Le)
            }
            _ => {
                let source = self.temp(iter.span)?;
                self.expr_to(iter, source)?;
                self.emit(Op::LoadK(index, zero));
                self.emit(Op::Len(limit, source));
                Ok(source)
            }
        };
        let var_reg = if fixed && source.is_err() { index } else { self.temp(iter.span)? };
        match source {
            Ok(source) => {
                let top = self.here();
                let exit = self.emit(Op::ForNext(var_reg, source, index, 0));
                body(self, var_reg, &|c| {
                    c.emit(Op::BinK(BinOp::Add, index, index, one));
                    c.emit(Op::Jump(top));
                    Ok(())
                })?;
                self.patch(exit);
            }
            Err(test) => {
                let enter = self.emit(Op::Jump(0));
                let top = self.here();
                if var_reg != index {
                    self.emit(Op::Move(var_reg, index));
                }
                body(self, var_reg, &|c| {
                    c.emit(Op::BinK(BinOp::Add, index, index, one));
                    c.patch(enter);
                    c.emit(Op::CmpJump(test, index, limit, true, top));
                    Ok(())
                })?;
            }
        }
        self.next = next;
        Ok(())
    }

    pub(super) fn assign(&mut self, target: &Expr, op: AssignOp, value: &Expr) -> CResult<()> {
        if let Some(target) = self.imported(target)? {
            return self.assign(&target, op, value);
        }
        let bin = op.binary();
        match &target.kind {
            ExprKind::Var(name) => match self.place(name) {
                Some(Place::Local(r, false)) => match bin {
                    None => self.expr_to(value, r),
                    Some(b) => self.binary_to(b, r, r, value),
                },
                Some(place @ (Place::Local(_, true) | Place::Upvalue(_) | Place::Module(_))) => {
                    let slot = self.slot_of(&place, target.span)?.expect("a slot");
                    self.assign_slot(name, slot, bin, value)
                }
                Some(Place::Global(_)) | None => self.assign_global(name, bin, value),
                // Resolution boxes every captured variable that is assigned.
                Some(Place::Captured(_)) => unreachable!("`{name}` is assigned, so it is boxed"),
            },
            ExprKind::Index(obj, index) => {
                let (o, i) = (self.expr_any(obj)?, self.expr_any(index)?);
                let v = self.new_value(bin, value, |old| Op::GetIndex(old, o, i))?;
                self.emit(Op::SetIndex(o, i, v));
                Ok(())
            }
            ExprKind::Method(obj, field, None) => {
                let o = self.expr_any(obj)?;
                let k = self.konst(Const::Str(field.as_str().into()));
                let v = self.new_value(bin, value, |old| Op::GetField(old, o, k))?;
                self.emit(Op::SetField(o, k, v));
                Ok(())
            }
            _ => unsupported("this assignment", target.span),
        }
    }

    /// The register holding what an assignment stores: `value`'s, or for
    /// `op=` the old value (`read` into a new register) combined with it.
    /// The right side is evaluated before the old value is read (a literal
    /// needs no evaluation: it is the instruction's constant).
    fn new_value(&mut self, bin: Option<BinOp>, value: &Expr, read: impl FnOnce(Reg) -> Op) -> CResult<Reg> {
        let Some(b) = bin else { return self.expr_any(value) };
        let (old, rhs) = (self.temp(value.span)?, self.operand(value)?);
        self.emit(read(old));
        self.emit(rhs.binary(b, old, old));
        Ok(old)
    }

    /// `x = e` or `x op= e` on a captured variable (its slot in `slot`): a
    /// read-modify-write section when the new value depends on the old one.
    pub(super) fn assign_slot(&mut self, name: &str, slot: Reg, bin: Option<BinOp>, value: &Expr) -> CResult<()> {
        if let Some((op, rhs)) = self.update_step(name, bin, value)? {
            self.emit(match rhs {
                Operand::Const(k) => Op::SlotBinK(slot, op, k),
                Operand::Reg(r) => Op::SlotBin(slot, op, r),
            });
            return Ok(());
        }
        let rmw = bin.is_some() || reads_var(value, &|x| matches!(&x.kind, ExprKind::Var(n) if n == name));
        if !rmw {
            let v = self.expr_any(value)?;
            self.emit(Op::SetSlot(slot, v));
            return Ok(());
        }
        self.emit(Op::SlotBegin(slot));
        let v = self.new_value(bin, value, |old| Op::GetSlot(old, slot))?;
        self.emit(Op::SlotStore(slot, v));
        self.emit(Op::SlotEnd(slot));
        Ok(())
    }

    /// `x = e` or `x op= e` on a global: a read-modify-write section when
    /// the new value depends on the old one.
    pub(super) fn assign_global(&mut self, name: &str, bin: Option<BinOp>, value: &Expr) -> CResult<()> {
        let g = self.global(name);
        if let Some((op, rhs)) = self.update_step(name, bin, value)? {
            self.emit(match rhs {
                Operand::Const(k) => Op::RmwBinK(g, op, k),
                Operand::Reg(r) => Op::RmwBin(g, op, r),
            });
            return Ok(());
        }
        let rmw = bin.is_some() || self.reads_global(value, name);
        if rmw {
            self.emit(Op::RmwBegin(g));
        }
        // With `x += 1` the section starts with the read (see `fuse`).
        let v = self.new_value(bin, value, |old| Op::GetGlobal(old, g))?;
        if rmw {
            self.emit(Op::StoreGlobal(g, v));
            self.emit(Op::RmwEnd(g));
        } else {
            self.emit(Op::SetGlobal(g, v));
        }
        Ok(())
    }

    /// The operator and operand of an update of variable `name` (`x op= e`,
    /// or `x = x op e`) whose operand is a literal, an unboxed local or a
    /// captured variable that is never assigned: evaluating it has no
    /// effect, so the whole update is one instruction (one section,
    /// `RmwBin`/`RmwBinK` on a global, `SlotBin`/`SlotBinK` on a captured
    /// variable).
    fn update_step(&mut self, name: &str, bin: Option<BinOp>, value: &Expr) -> CResult<Option<(BinOp, Operand)>> {
        let (op, e) = match (bin, &value.kind) {
            (Some(b), _) => (b, value),
            (None, ExprKind::Binary(b, x, e))
                if !matches!(b, BinOp::And | BinOp::Or)
                    && matches!(&x.kind, ExprKind::Var(n) if self.key(n) == self.key(name)) =>
            {
                (*b, &**e)
            }
            _ => return Ok(None),
        };
        if let Some(k) = self.literal(e) {
            return Ok(Some((op, Operand::Const(k))));
        }
        Ok(match &e.kind {
            ExprKind::Var(n) => match self.place(n) {
                Some(Place::Local(r, false)) => Some((op, Operand::Reg(r))),
                // A captured variable nobody assigns: reading it first has
                // no effect (and it is not the variable updated).
                Some(Place::Captured(_)) if n != name => Some((op, self.operand(e)?)),
                _ => None,
            },
            _ => None,
        })
    }
}

//! The bytecode verifier: what every function of a program must satisfy
//! before it runs, checked once when the program is made (see
//! [`crate::Vm::new`]).
//!
//! Invariants, for each function:
//! - every register an instruction names (and every run of registers:
//!   arguments, items, a loop's index and limit) lies below the
//!   function's `registers`;
//! - every constant it names exists in its constants;
//! - every jump target, `try` handler and loop exit is an instruction of
//!   the function, and the last instruction does not fall through (a
//!   return, a throw or a jump), so `pc` always names an instruction;
//! - every function it calls, spawns or closes over exists, and
//!   `lines` and the member caches have one entry per instruction.
//!
//! The interpreter's fast loop reads registers, constants and instructions
//! without bounds checks on the strength of these (its `Window`), so they
//! are checked here in full, not sampled.

use crate::bytecode::{Op, Program, Proto, Reg};

/// Checks `program`; the first violation found, as a message naming the
/// function and instruction.
pub fn verify(program: &Program) -> Result<(), String> {
    if program.main as usize >= program.functions.len() {
        return Err(format!("the main function {} of {}", program.main, program.functions.len()));
    }
    for (index, proto) in program.functions.iter().enumerate() {
        Checker { program, proto }.function().map_err(|e| format!("function {index} (`{}`): {e}", proto.name))?;
    }
    Ok(())
}

struct Checker<'p> {
    program: &'p Program,
    proto: &'p Proto,
}

impl Checker<'_> {
    fn function(&self) -> Result<(), String> {
        let len = self.proto.code.len();
        if self.proto.lines.len() != len || self.proto.member_cache.len() != len || self.proto.free.len() != len {
            return Err("lines, member caches or free registers do not match the code".into());
        }
        if self.proto.methods.len() != self.proto.consts.len() {
            return Err("the constants' methods do not match the constants".into());
        }
        if self.proto.params > self.proto.registers {
            return Err("more parameters than registers".into());
        }
        match self.proto.code.last() {
            Some(Op::Return(_) | Op::ReturnNil | Op::Jump(_) | Op::Throw(_)) => {}
            _ => return Err("the code may run past its end".into()),
        }
        for (pc, op) in self.proto.code.iter().enumerate() {
            self.op(op).map_err(|e| format!("instruction {pc} ({op:?}): {e}"))?;
        }
        Ok(())
    }

    /// Registers `first .. first + count`.
    fn regs(&self, first: Reg, count: usize) -> Result<(), String> {
        if usize::from(first) + count > usize::from(self.proto.registers) {
            return Err(format!("registers {first}..+{count} past the frame's {}", self.proto.registers));
        }
        Ok(())
    }

    fn reg(&self, r: Reg) -> Result<(), String> {
        self.regs(r, 1)
    }

    fn konst(&self, k: u32) -> Result<(), String> {
        if k as usize >= self.proto.consts.len() {
            return Err(format!("constant {k} of {}", self.proto.consts.len()));
        }
        Ok(())
    }

    fn target(&self, t: u32) -> Result<(), String> {
        if t as usize >= self.proto.code.len() {
            return Err(format!("target {t} past the code's {} instructions", self.proto.code.len()));
        }
        Ok(())
    }

    fn function_index(&self, f: u32) -> Result<(), String> {
        if f as usize >= self.program.functions.len() {
            return Err(format!("function {f} of {}", self.program.functions.len()));
        }
        Ok(())
    }

    fn op(&self, op: &Op) -> Result<(), String> {
        let n = |count: u16| usize::from(count);
        match crate::specialize::general(*op) {
            Op::LoadNil(d) | Op::LoadBool(d, _) | Op::Return(d) | Op::Throw(d) | Op::SlotBegin(d) | Op::SlotEnd(d) => {
                self.reg(d)
            }
            Op::GetGlobal(d, _)
            | Op::RmwGet(d, _)
            | Op::SetGlobal(_, d)
            | Op::StoreGlobal(_, d)
            | Op::RmwSet(_, d)
            | Op::RmwBin(_, _, d)
            | Op::GetUpval(d, _)
            | Op::UpvalSlot(d, _)
            | Op::GetCaptured(d, _)
            | Op::GetModule(d, _)
            | Op::ModuleSlot(d, _)
            | Op::NewClass(d, _) => self.reg(d),
            Op::LoadK(d, k) => self.reg(d).and(self.konst(k)),
            Op::Move(a, b)
            | Op::Neg(a, b)
            | Op::Not(a, b)
            | Op::BitNot(a, b)
            | Op::Len(a, b)
            | Op::NewSlot(a, b)
            | Op::GetSlot(a, b)
            | Op::SetSlot(a, b)
            | Op::SlotStore(a, b)
            | Op::SlotBin(a, _, b)
            | Op::NewChan(a, b)
            | Op::Mark(a, b, _)
            | Op::Gc(a, _, b) => self.reg(a).and(self.reg(b)),
            Op::Bin(_, d, a, b) | Op::GetIndex(d, a, b) | Op::SetIndex(d, a, b) => {
                self.reg(d).and(self.reg(a)).and(self.reg(b))
            }
            Op::BinK(_, d, a, k) | Op::GetIndexK(d, a, k) => self.reg(d).and(self.reg(a)).and(self.konst(k)),
            Op::SetField(o, k, v) | Op::GetField(v, o, k) => self.reg(o).and(self.reg(v)).and(self.konst(k)),
            Op::CmpJump(_, a, b, _, t) => self.reg(a).and(self.reg(b)).and(self.target(t)),
            Op::CmpJumpK(_, a, k, _, t) => self.reg(a).and(self.konst(k)).and(self.target(t)),
            Op::Jump(t) => self.target(t),
            Op::JumpIfFalse(c, t) | Op::JumpIfTrue(c, t) | Op::JumpNil(c, _, t) | Op::TryBegin(t, c) => {
                self.reg(c).and(self.target(t))
            }
            Op::RmwBinK(_, _, k) => self.konst(k),
            Op::SlotBinK(s, _, k) => self.reg(s).and(self.konst(k)),
            Op::RmwBegin(_) | Op::RmwEnd(_) | Op::ReturnNil | Op::TryEnd => Ok(()),
            Op::Call(d, f, b, count) | Op::Spawn(d, f, b, count) | Op::Closure(d, f, b, count) => {
                self.reg(d).and(self.regs(b, n(count))).and(self.function_index(f))
            }
            Op::CallMethod(d, o, k, b, count) => {
                self.reg(d).and(self.reg(o)).and(self.konst(k)).and(self.regs(b, n(count)))
            }
            Op::CallValue(d, c, b, count) | Op::SpawnValue(d, c, b, count) => {
                self.reg(d).and(self.reg(c)).and(self.regs(b, n(count)))
            }
            Op::NewArray(d, b, count) | Op::Builtin(d, _, b, count) => self.reg(d).and(self.regs(b, n(count))),
            Op::NewMap(d, b, count) => self.reg(d).and(self.regs(b, 2 * n(count))),
            Op::Say(b, count, _) => self.regs(b, n(count)),
            Op::New(d, c, k, b, count) => {
                let names = if k == u32::MAX { Ok(()) } else { self.konst(k) };
                self.reg(d).and(self.reg(c)).and(names).and(self.regs(b, 2 + n(count)))
            }
            Op::JoinAll(a, count) => self.reg(a).and(self.regs(count, 2)),
            Op::ForNext(var, src, index, exit) => {
                self.reg(var).and(self.reg(src)).and(self.regs(index, 2)).and(self.target(exit))
            }
            crate::specialize::any_specialized!() => unreachable!("`general` leaves no specialized instruction"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytecode::MemberCache;

    fn program(src: &str) -> Program {
        let ast = crate::parse(src).unwrap();
        crate::compiler::compile(&ast, "t.maat", src).unwrap()
    }

    /// The program of `SRC` with its main function's code changed by
    /// `change` (lines and caches kept one per instruction).
    fn changed(change: impl FnOnce(&mut Vec<Op>, &Proto)) -> Program {
        let mut p = program(SRC);
        let main = &p.functions[p.main as usize];
        let mut code = main.code.clone();
        change(&mut code, main);
        let proto = Proto {
            name: main.name.clone(),
            params: main.params,
            registers: main.registers,
            lines: vec![1; code.len()],
            free: vec![main.registers; code.len()],
            member_cache: code.iter().map(|_| MemberCache::default()).collect(),
            methods: main.methods.clone(),
            code,
            consts: main.consts.clone(),
            file: main.file,
        };
        p.functions[p.main as usize] = std::sync::Arc::new(proto);
        p
    }

    fn refused(change: impl FnOnce(&mut Vec<Op>, &Proto)) -> String {
        verify(&changed(change)).unwrap_err()
    }

    const SRC: &str = "fn f(a) { return a + 1 }\nlet x = f(2)\nif x > 1 { say x }\n";

    #[test]
    fn compiled_programs_pass() {
        verify(&program(SRC)).unwrap();
        verify(&changed(|_, _| {})).unwrap();
        let stdlib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/programs/stdlib.maat"));
        verify(&program(&stdlib.unwrap())).unwrap();
    }

    #[test]
    fn a_register_past_the_frame_is_refused() {
        let e = refused(|code, main| code.insert(0, Op::Move(main.registers, 0)));
        assert!(e.contains("past the frame"), "{e}");
        let e = refused(|code, main| code.insert(0, Op::Say(0, main.registers + 1, true)));
        assert!(e.contains("past the frame"), "{e}");
    }

    #[test]
    fn constants_targets_functions_and_the_end_are_checked() {
        let e = refused(|code, main| code[0] = Op::LoadK(0, main.consts.len() as u32));
        assert!(e.contains("constant"), "{e}");
        let e = refused(|code, _| code[0] = Op::Jump(code.len() as u32));
        assert!(e.contains("target"), "{e}");
        let e = refused(|code, _| code[0] = Op::Call(0, 99, 0, 0));
        assert!(e.contains("function 99"), "{e}");
        let e = refused(|code, _| code.push(Op::LoadNil(0)));
        assert!(e.contains("past its end"), "{e}");
    }

    #[test]
    #[should_panic(expected = "fails verification")]
    fn a_vm_refuses_a_program_that_fails() {
        let p = changed(|code, main| code.insert(0, Op::Move(main.registers, 0)));
        crate::Vm::new(p, maat_gc::Config::default());
    }
}

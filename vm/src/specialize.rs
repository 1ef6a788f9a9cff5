//! The specialized instructions (`Add` … `JumpEqK`, `GetFieldNum`): the
//! compiler emits the general `Bin`, `BinK`, `CmpJump`, `CmpJumpK` and
//! `GetField`, and [`specialize`] rewrites those of the commonest operators,
//! once a function's code is final, into instructions of their own, so that
//! the fast loop dispatches once per operation instead of on the instruction
//! and then on its operator; and a field read whose name is also a method of
//! numbers (`x.abs`) into one that knows that method. [`general`] turns one
//! back, for the verifier and the general path, which handle every operator
//! and name one way.
//!
//! Invariant: `general(specialized(op)) == op` up to `!=` becoming `==` with
//! the other sense (the same branch); both forms mean the same thing, so a
//! rewrite changes nothing a program can observe, its errors included (the
//! operator, and the operands' order, are kept).

use crate::ast::BinOp;
use crate::bytecode::{Const, Op, StdFn};

/// A pattern matching every specialized instruction, for the matches on
/// instructions in their general form (which never meet one).
macro_rules! any_specialized {
    () => {
        Op::Add(..)
            | Op::Sub(..)
            | Op::Mul(..)
            | Op::Div(..)
            | Op::AddK(..)
            | Op::SubK(..)
            | Op::MulK(..)
            | Op::DivK(..)
            | Op::JumpLt(..)
            | Op::JumpLe(..)
            | Op::JumpGt(..)
            | Op::JumpGe(..)
            | Op::JumpEq(..)
            | Op::JumpLtK(..)
            | Op::JumpLeK(..)
            | Op::JumpGtK(..)
            | Op::JumpGeK(..)
            | Op::JumpEqK(..)
            | Op::GetFieldNum(..)
    };
}
pub(crate) use any_specialized;

/// Rewrites each general instruction of `code` (whose constants are
/// `consts`) that has a specialized form into it.
pub fn specialize(code: &mut [Op], consts: &[Const]) {
    for op in code {
        *op = match *op {
            Op::GetField(d, o, k) => match &consts[k as usize] {
                Const::Str(name) => StdFn::number_method(name).map_or(*op, |f| Op::GetFieldNum(d, o, k, f)),
                _ => *op,
            },
            other => specialized(other),
        };
    }
}

/// `op`'s specialized form, or `op` itself.
fn specialized(op: Op) -> Op {
    use BinOp::*;
    match op {
        Op::Bin(Add, d, a, b) => Op::Add(d, a, b),
        Op::Bin(Sub, d, a, b) => Op::Sub(d, a, b),
        Op::Bin(Mul, d, a, b) => Op::Mul(d, a, b),
        Op::Bin(Div, d, a, b) => Op::Div(d, a, b),
        Op::BinK(Add, d, a, k) => Op::AddK(d, a, k),
        Op::BinK(Sub, d, a, k) => Op::SubK(d, a, k),
        Op::BinK(Mul, d, a, k) => Op::MulK(d, a, k),
        Op::BinK(Div, d, a, k) => Op::DivK(d, a, k),
        Op::CmpJump(Lt, a, b, s, t) => Op::JumpLt(a, b, s, t),
        Op::CmpJump(Le, a, b, s, t) => Op::JumpLe(a, b, s, t),
        Op::CmpJump(Gt, a, b, s, t) => Op::JumpGt(a, b, s, t),
        Op::CmpJump(Ge, a, b, s, t) => Op::JumpGe(a, b, s, t),
        Op::CmpJump(Eq, a, b, s, t) => Op::JumpEq(a, b, s, t),
        Op::CmpJump(Ne, a, b, s, t) => Op::JumpEq(a, b, !s, t),
        Op::CmpJumpK(Lt, a, k, s, t) => Op::JumpLtK(a, k, s, t),
        Op::CmpJumpK(Le, a, k, s, t) => Op::JumpLeK(a, k, s, t),
        Op::CmpJumpK(Gt, a, k, s, t) => Op::JumpGtK(a, k, s, t),
        Op::CmpJumpK(Ge, a, k, s, t) => Op::JumpGeK(a, k, s, t),
        Op::CmpJumpK(Eq, a, k, s, t) => Op::JumpEqK(a, k, s, t),
        Op::CmpJumpK(Ne, a, k, s, t) => Op::JumpEqK(a, k, !s, t),
        op => op,
    }
}

/// `op` in its general form: a specialized instruction as the `Bin`,
/// `BinK`, `CmpJump` or `CmpJumpK` it stands for; any other as it is.
#[inline]
pub fn general(op: Op) -> Op {
    use BinOp::*;
    match op {
        Op::Add(d, a, b) => Op::Bin(Add, d, a, b),
        Op::Sub(d, a, b) => Op::Bin(Sub, d, a, b),
        Op::Mul(d, a, b) => Op::Bin(Mul, d, a, b),
        Op::Div(d, a, b) => Op::Bin(Div, d, a, b),
        Op::AddK(d, a, k) => Op::BinK(Add, d, a, k),
        Op::SubK(d, a, k) => Op::BinK(Sub, d, a, k),
        Op::MulK(d, a, k) => Op::BinK(Mul, d, a, k),
        Op::DivK(d, a, k) => Op::BinK(Div, d, a, k),
        Op::JumpLt(a, b, s, t) => Op::CmpJump(Lt, a, b, s, t),
        Op::JumpLe(a, b, s, t) => Op::CmpJump(Le, a, b, s, t),
        Op::JumpGt(a, b, s, t) => Op::CmpJump(Gt, a, b, s, t),
        Op::JumpGe(a, b, s, t) => Op::CmpJump(Ge, a, b, s, t),
        Op::JumpEq(a, b, s, t) => Op::CmpJump(Eq, a, b, s, t),
        Op::JumpLtK(a, k, s, t) => Op::CmpJumpK(Lt, a, k, s, t),
        Op::JumpLeK(a, k, s, t) => Op::CmpJumpK(Le, a, k, s, t),
        Op::JumpGtK(a, k, s, t) => Op::CmpJumpK(Gt, a, k, s, t),
        Op::JumpGeK(a, k, s, t) => Op::CmpJumpK(Ge, a, k, s, t),
        Op::JumpEqK(a, k, s, t) => Op::CmpJumpK(Eq, a, k, s, t),
        Op::GetFieldNum(d, o, k, _) => Op::GetField(d, o, k),
        op => op,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operator in both instruction shapes and both senses: the
    /// specialized form turns back into the general one (`!=` into `==`
    /// with the other sense), and what has no specialized form stays.
    #[test]
    fn specialized_instructions_turn_back_into_their_general_form() {
        use BinOp::*;
        let ops =
            [Add, Sub, Mul, Div, Rem, IntDiv, Pow, BitAnd, BitOr, BitXor, Shl, Shr, Is, Concat, Eq, Ne, Lt, Le, Gt, Ge];
        let mut specialized_count = 0;
        for op in ops {
            for sense in [false, true] {
                let general_forms = [
                    Op::Bin(op, 1, 2, 3),
                    Op::BinK(op, 1, 2, 7),
                    Op::CmpJump(op, 2, 3, sense, 9),
                    Op::CmpJumpK(op, 2, 7, sense, 9),
                ];
                for g in general_forms {
                    let s = specialized(g);
                    let back = general(s);
                    let expected = match g {
                        Op::CmpJump(Ne, a, b, sense, t) if s != g => Op::CmpJump(Eq, a, b, !sense, t),
                        Op::CmpJumpK(Ne, a, k, sense, t) if s != g => Op::CmpJumpK(Eq, a, k, !sense, t),
                        g => g,
                    };
                    assert_eq!(back, expected, "{g:?} -> {s:?}");
                    specialized_count += usize::from(s != g);
                }
            }
        }
        // Add, Sub, Mul, Div in two shapes (each met twice, once per sense);
        // six comparisons in two shapes and two senses.
        assert_eq!(specialized_count, 4 * 2 * 2 + 6 * 2 * 2);
        assert_eq!(general(Op::Move(1, 2)), Op::Move(1, 2));
    }

    /// A field read by a name numbers have as a method knows the method;
    /// any other stays, and both turn back into `GetField`.
    #[test]
    fn field_reads_of_number_methods_know_the_method() {
        let consts = [Const::Str("abs".into()), Const::Str("x".into()), Const::Num(1.0)];
        let mut code = [Op::GetField(1, 2, 0), Op::GetField(1, 2, 1), Op::LoadK(1, 2)];
        let before = code;
        specialize(&mut code, &consts);
        assert_eq!(code, [Op::GetFieldNum(1, 2, 0, StdFn::Abs), before[1], before[2]]);
        assert_eq!(code.map(general), before);
    }
}

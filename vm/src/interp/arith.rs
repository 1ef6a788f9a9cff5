//! Arithmetic, comparison and the other binary operators on values: the
//! fast path's `simple` (numbers only, never fails) and the general
//! `Run::binary` (strings, classes, errors).
//!
//! Numbers are f64; integers are exact up to 2^53 in magnitude. `%` and
//! `//` are floored (the remainder takes the divisor's sign, as in Lua and
//! Python) and refuse a zero divisor; `/` is IEEE division (`1 / 0` is
//! `Inf`). Bit operations take integers within ±2^53, compute on 64-bit
//! two's complement, and refuse a result outside that range rather than
//! round it.

use std::borrow::Cow;

use super::*;

/// 2^53: integers up to this magnitude are exact.
const EXACT: f64 = 9_007_199_254_740_992.0;
/// The longest string `*` makes.
const MAX_REPEAT: usize = 1 << 30;

impl<'gc> Run<'_, '_, '_, 'gc> {
    pub(super) fn binary(&self, op: BinOp, a: Value<'gc>, b: Value<'gc>) -> OpResult<Value<'gc>> {
        use BinOp::*;
        Ok(match op {
            Eq => Value::bool(equal(a, b)),
            Ne => Value::bool(!equal(a, b)),
            Concat => {
                let shown = |v| text_of(v).map_or_else(|| Cow::Owned(self.show(v)), Cow::Borrowed);
                let text = [shown(a), shown(b)].concat();
                Value::object(Str::alloc(self.cx, &text).into())
            }
            Is => Value::bool(self.is_instance(a, b)?),
            Lt | Le | Gt | Ge => {
                let ord = match (a.as_num(), b.as_num(), text_of(a), text_of(b)) {
                    (Some(x), Some(y), ..) => x.partial_cmp(&y),
                    (_, _, Some(x), Some(y)) => Some(x.cmp(y)),
                    _ => return Err(type_error(symbol(op), &[a, b])),
                };
                Value::bool(match (op, ord) {
                    (_, None) => false,
                    (Lt, Some(o)) => o.is_lt(),
                    (Le, Some(o)) => o.is_le(),
                    (Gt, Some(o)) => o.is_gt(),
                    (_, Some(o)) => o.is_ge(),
                })
            }
            Mul if text_of(a).is_some() || text_of(b).is_some() => self.repeat(a, b)?,
            _ => {
                let (Some(x), Some(y)) = (a.as_num(), b.as_num()) else { return Err(type_error(symbol(op), &[a, b])) };
                if matches!(op, Rem | IntDiv) && y == 0.0 {
                    return Err(format!("division by zero: {} {} 0", show_num(x), symbol(op)));
                }
                match numeric(op, x, y) {
                    Some(v) => v,
                    None => return Err(bit_error(op, x, y)),
                }
            }
        })
    }

    /// `text * n` or `n * text`: the text repeated n times.
    pub(super) fn repeat(&self, a: Value<'gc>, b: Value<'gc>) -> OpResult<Value<'gc>> {
        let (text, n) = match (text_of(a), text_of(b)) {
            (Some(t), None) => (t, b),
            (None, Some(t)) => (t, a),
            _ => return Err(type_error("*", &[a, b])),
        };
        let count = n.as_num().filter(|c| *c >= 0.0 && c.fract() == 0.0);
        let count = count.ok_or_else(|| match n.as_num() {
            Some(c) => format!("a string repeats a whole number of times from 0, got {}", show_num(c)),
            None => type_error("*", &[a, b]),
        })?;
        if text.len() as f64 * count > MAX_REPEAT as f64 {
            return Err(format!(
                "string too long: {} bytes repeated {count} times (at most {MAX_REPEAT} bytes)",
                text.len()
            ));
        }
        Ok(Value::object(Str::alloc(self.cx, &text.repeat(count as usize)).into()))
    }

    /// `a is b`: whether `a` is an instance of class `b` or of a class that
    /// inherits from it.
    pub(super) fn is_instance(&self, a: Value<'gc>, b: Value<'gc>) -> OpResult<bool> {
        let class = object_of(b, kind::CLASS)
            .ok_or_else(|| format!("`is` needs a class on its right, got {}", type_name(b)))?;
        // SAFETY: kind CLASS objects are Classes.
        let want = Gc::get(unsafe { class.downcast::<Class>() }).index;
        let Some(inst) = object_of(a, kind::INST) else { return Ok(false) };
        // SAFETY: kind INST objects are Insts.
        let mut at = Some(Gc::get(unsafe { inst.downcast::<Inst<'gc>>() }).class());
        while let Some(c) = at {
            if c == want {
                return Ok(true);
            }
            at = self.rt.program.classes[c as usize].parent;
        }
        Ok(false)
    }
}

/// `a op b` when it cannot fail or allocate (the fast path's): arithmetic
/// and comparison of numbers, and `==`/`!=` on any values (see [`equal`]);
/// `None` otherwise.
#[inline(always)]
pub(super) fn simple<'gc>(op: BinOp, a: Value<'gc>, b: Value<'gc>) -> Option<Value<'gc>> {
    // Two numbers first: the common case decides with one dispatch on `op`.
    if let Some(x) = a.as_num()
        && let Some(y) = b.as_num()
    {
        return numeric(op, x, y);
    }
    matches!(op, BinOp::Eq | BinOp::Ne).then(|| Value::bool(equal(a, b) == (op == BinOp::Eq)))
}

/// `x op y` on numbers; `None` for a bit operation outside its domain, a
/// division (`%`, `//`) by zero (an error, which the general path reports),
/// and operators that do not take two numbers.
#[inline(always)]
pub(super) fn numeric<'gc>(op: BinOp, x: f64, y: f64) -> Option<Value<'gc>> {
    Some(match op {
        BinOp::Add => Value::num(x + y),
        BinOp::Sub => Value::num(x - y),
        BinOp::Mul => Value::num(x * y),
        BinOp::Div => Value::num(x / y),
        BinOp::Rem | BinOp::IntDiv if y == 0.0 => return None,
        BinOp::Rem => Value::num(modulo(x, y)),
        BinOp::IntDiv => Value::num(floor_div(x, y)),
        BinOp::Pow => Value::num(x.powf(y)),
        BinOp::Lt => Value::bool(x < y),
        BinOp::Le => Value::bool(x <= y),
        BinOp::Gt => Value::bool(x > y),
        BinOp::Ge => Value::bool(x >= y),
        BinOp::Eq => Value::bool(x == y),
        BinOp::Ne => Value::bool(x != y),
        BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor | BinOp::Shl | BinOp::Shr => Value::num(bits(op, x, y)? as f64),
        BinOp::Concat | BinOp::And | BinOp::Or | BinOp::Is => return None,
    })
}

/// `x` as an integer, if it is one within the exact range. (The casts'
/// round trip tests integrality without a call to `trunc`, which x86-64's
/// baseline has no instruction for.)
#[inline(always)]
pub(super) fn int_of(x: f64) -> Option<i64> {
    (x.abs() <= EXACT && (x as i64) as f64 == x).then_some(x as i64)
}

/// A bit operation on integers within ±2^53, whose result is in that range too.
#[inline(always)]
fn bits(op: BinOp, x: f64, y: f64) -> Option<i64> {
    let (a, b) = (int_of(x)?, int_of(y)?);
    let r = match op {
        BinOp::BitAnd => a & b,
        BinOp::BitOr => a | b,
        BinOp::BitXor => a ^ b,
        BinOp::Shl if b < 0 => return None,
        BinOp::Shl if b >= 64 => (a == 0).then_some(0)?,
        BinOp::Shl => (a << b >> b == a).then_some(a << b)?,
        BinOp::Shr if b < 0 => return None,
        _ => a >> b.min(63),
    };
    (r.unsigned_abs() <= 1 << 53).then_some(r)
}

/// `~x`: the bitwise complement of an integer within ±2^53.
pub(super) fn bit_not(x: f64) -> Option<f64> {
    int_of(x).map(|a| !a as f64)
}

/// Why `x op y` has no result, for a bit operation.
fn bit_error(op: BinOp, x: f64, y: f64) -> String {
    let sym = symbol(op);
    match (int_of(x), int_of(y)) {
        (None, _) | (_, None) => {
            let bad = if int_of(x).is_none() { x } else { y };
            format!("`{sym}` needs integers within ±2^53, got {}", show_num(bad))
        }
        (Some(_), Some(n)) if n < 0 && matches!(op, BinOp::Shl | BinOp::Shr) => {
            format!("`{sym}` needs a shift count from 0, got {n}")
        }
        _ => format!("`{sym}`: {} {sym} {} is outside the exact integer range (±2^53)", show_num(x), show_num(y)),
    }
}

/// Floored `a % b` (the divisor's sign; a zero result is +0 for a positive
/// divisor), exact and without `fmod`'s cost for integers.
#[inline(always)]
pub(super) fn modulo(a: f64, b: f64) -> f64 {
    // Most `%`s: a non-negative integer by a positive one, one unsigned
    // remainder with no sign to fix up.
    if a >= 0.0 && b >= 1.0 && a <= EXACT && b <= EXACT {
        // SAFETY: both lie in [0, 2^53] (just checked), where every value
        // converts to an `i64` without saturation.
        let (x, y) = unsafe { (a.to_int_unchecked::<i64>(), b.to_int_unchecked::<i64>()) };
        if x as f64 == a && y as f64 == b {
            return ((x as u64) % (y as u64)) as f64;
        }
    }
    let m = match (int_of(a), int_of(b)) {
        (Some(x), Some(y)) if y != 0 => (x % y) as f64,
        _ => a % b,
    };
    if m == 0.0 {
        0.0f64.copysign(b)
    } else if (m < 0.0) != (b < 0.0) {
        m + b
    } else {
        m
    }
}

/// Floored `a // b`: exact for integers.
#[inline(always)]
fn floor_div(a: f64, b: f64) -> f64 {
    match (int_of(a), int_of(b)) {
        (Some(x), Some(y)) if y != 0 => {
            let q = x / y;
            (if x % y != 0 && ((x < 0) != (y < 0)) { q - 1 } else { q }) as f64
        }
        _ => (a / b).floor(),
    }
}

/// A number as `say` shows it.
pub(super) fn show_num(n: f64) -> String {
    format!("{:?}", Value::num(n))
}

pub(super) fn symbol(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Rem => "%",
        BinOp::IntDiv => "//",
        BinOp::Pow => "**",
        BinOp::BitAnd => "&",
        BinOp::BitOr => "|",
        BinOp::BitXor => "^",
        BinOp::Shl => "<<",
        BinOp::Shr => ">>",
        BinOp::Is => "is",
        BinOp::Lt => "<",
        BinOp::Le => "<=",
        BinOp::Gt => ">",
        BinOp::Ge => ">=",
        BinOp::Concat => "~",
        BinOp::Eq => "==",
        BinOp::Ne => "!=",
        BinOp::And => "&&",
        BinOp::Or => "||",
    }
}

pub(super) fn type_error(op: &str, operands: &[Value<'_>]) -> String {
    let types: Vec<&str> = operands.iter().map(|v| type_name(*v)).collect();
    format!("type error: `{op}` cannot take {}", types.join(" and "))
}

/// Maat equality: numbers by value, strings by text, the rest by identity.
#[inline(always)]
pub(super) fn equal<'gc>(a: Value<'gc>, b: Value<'gc>) -> bool {
    if let (Some(x), Some(y)) = (a.as_num(), b.as_num()) {
        return x == y;
    }
    a == b || (a.as_object().is_some() && b.as_object().is_some() && same_text(a, b))
}

/// Whether `a` and `b`, two different values, are strings of the same
/// text (out of line: the common cases above need no string). An interned
/// string is the one string of its text (and a long one never has a short
/// text), so its tag answers without a read of either string.
#[inline(never)]
fn same_text(a: Value<'_>, b: Value<'_>) -> bool {
    !a.is_interned_str()
        && !b.is_interned_str()
        && matches!((Str::of(a), Str::of(b)), (Some(x), Some(y)) if x.same_text(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn modulo_is_floored_and_exact() {
        let cases = [(7.0, 3.0, 1.0), (-7.0, 3.0, 2.0), (7.0, -3.0, -2.0), (-7.0, -3.0, -1.0), (5.5, 2.0, 1.5)];
        for (a, b, want) in cases {
            assert_eq!(modulo(a, b), want, "{a} % {b}");
            assert_eq!(floor_div(a, b) * b + modulo(a, b), a, "{a} divmod {b}");
        }
        assert_eq!(modulo(-4.0, 2.0).to_bits(), 0.0f64.to_bits(), "a zero remainder is +0 for a positive divisor");
        assert_eq!(modulo(1e15 + 3.0, 1e3), 3.0);
        // The unsigned path's edges: -0, the last exact integer, fractions
        // and divisors below one go the general way, with the same answers.
        assert_eq!(modulo(-0.0, 5.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(modulo(EXACT, 7.0), (9_007_199_254_740_992u64 % 7) as f64);
        assert_eq!(modulo(7.0, EXACT), 7.0);
        assert_eq!(modulo(7.0, 0.5), 0.0);
        assert_eq!(modulo(7.5, 1.0), 0.5);
        assert!(modulo(f64::INFINITY, 3.0).is_nan());
        assert_eq!(modulo(3.0, f64::INFINITY), 3.0);
        assert_eq!(floor_div(-7.0, 2.0), -4.0);
        assert_eq!(floor_div(7.5, 2.0), 3.0);
    }

    #[test]
    pub(super) fn bit_operations_stay_exact_or_refuse() {
        assert_eq!(bits(BinOp::BitAnd, 12.0, 10.0), Some(8));
        assert_eq!(bits(BinOp::BitXor, -1.0, 5.0), Some(-6));
        assert_eq!(bits(BinOp::Shl, 1.0, 53.0), Some(1 << 53));
        assert_eq!(bits(BinOp::Shl, 1.0, 54.0), None, "past 2^53");
        assert_eq!(bits(BinOp::Shr, -16.0, 2.0), Some(-4), "arithmetic shift");
        assert_eq!(bits(BinOp::Shr, 5.0, 100.0), Some(0));
        assert_eq!(bits(BinOp::BitOr, 1.5, 1.0), None);
        assert_eq!(bits(BinOp::Shl, 1.0, -1.0), None);
        assert_eq!(bit_not(0.0), Some(-1.0));
        assert!(bit_error(BinOp::BitOr, 1.5, 1.0).contains("needs integers"));
    }
}

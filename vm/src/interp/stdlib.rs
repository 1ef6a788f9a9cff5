//! The standard library's functions (`Math.*`, `format`, `divmod`,
//! `Array.new`, `Random.new`, `read_file`, `warn`, `chr`, `ord`), resolved
//! by name when compiled ([`StdFn`]).

use crate::bytecode::StdFn;
use crate::object::random::Random;

use super::methods::{check_arity, describe, whole};
use super::*;

/// The most items `Array.new` makes (2^32).
const MAX_ARRAY: usize = 1 << 32;

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// Calls `f` with `args`.
    pub(super) fn std_call(&self, f: StdFn, args: &[Value<'gc>]) -> OpResult<Value<'gc>> {
        let name = f.name();
        let arity = |range| check_arity(range, args.len(), || name.to_owned());
        let num =
            |i: usize| args[i].as_num().ok_or_else(|| format!("{name} needs numbers, got {}", type_name(args[i])));
        let binary = |g: fn(f64, f64) -> f64| arity(2..=2).and_then(|_| Ok(Value::num(g(num(0)?, num(1)?))));
        match f {
            StdFn::Atan2 => binary(f64::atan2),
            StdFn::Pow => binary(f64::powf),
            StdFn::Log => {
                arity(1..=2)?;
                let x = num(0)?;
                Ok(Value::num(if args.len() == 2 { x.log(num(1)?) } else { x.ln() }))
            }
            StdFn::Min | StdFn::Max => {
                arity(1..=usize::MAX)?;
                let mut best = num(0)?;
                for i in 1..args.len() {
                    let x = num(i)?;
                    if (f == StdFn::Min && x < best) || (f == StdFn::Max && x > best) || x.is_nan() {
                        best = x;
                    }
                }
                Ok(Value::num(best))
            }
            StdFn::Divmod => {
                arity(2..=2)?;
                let (q, r) =
                    (self.binary(BinOp::IntDiv, args[0], args[1])?, self.binary(BinOp::Rem, args[0], args[1])?);
                Ok(Value::object(Array::alloc(self.cx, [q, r]).into()))
            }
            StdFn::Format => {
                arity(1..=usize::MAX)?;
                let spec = text_of(args[0])
                    .ok_or_else(|| format!("format needs a format string, got {}", type_name(args[0])))?;
                Ok(self.text(self.format(spec, &args[1..])?))
            }
            StdFn::ReadFile | StdFn::Warn if self.rt.limits.no_io => {
                Err(format!("{}: this runtime runs without I/O", f.name()))
            }
            StdFn::ReadFile => {
                arity(1..=1)?;
                let path =
                    text_of(args[0]).ok_or_else(|| format!("read_file needs a path, got {}", type_name(args[0])))?;
                let text = std::fs::read_to_string(path).map_err(|e| format!("read_file: cannot read {path}: {e}"))?;
                Ok(self.text(text))
            }
            StdFn::Warn => {
                let mut line = String::new();
                for v in args {
                    self.write_shown(&mut line, *v);
                }
                line.push('\n');
                use std::io::Write;
                std::io::stderr().write_all(line.as_bytes()).map_err(|e| format!("warn: cannot write: {e}"))?;
                Ok(Value::nil())
            }
            StdFn::Chr => arity(1..=1).and_then(|_| self.method(args[0], Some(Method::Chr), "chr", &[])),
            StdFn::Ord => arity(1..=1).and_then(|_| self.method(args[0], Some(Method::Ord), "ord", &[])),
            StdFn::ArrayNew => {
                arity(0..=2)?;
                let n = match args.first() {
                    Some(n) => self.array_length(*n)?,
                    None => 0,
                };
                let fill = args.get(1).copied().unwrap_or(Value::nil());
                Ok(Value::object(Array::alloc(self.cx, std::iter::repeat_n(fill, n)).into()))
            }
            StdFn::PVecNew => self.new_pvec(args),
            StdFn::PMapNew => self.new_pmap(args),
            StdFn::VersionedNew => self.new_versioned(args),
            StdFn::RandomNew => {
                arity(0..=1)?;
                let seed = match args.first() {
                    Some(s) => seed_of(*s)?,
                    None => std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() as u64),
                };
                Ok(Value::object(Random::alloc(self.cx, seed).into()))
            }
            // The rest are the functions of one number.
            _ => {
                arity(1..=1)?;
                let g = f.of_one_number().expect("every other function is one of one number");
                Ok(Value::num(g(num(0)?)))
            }
        }
    }

    /// `Array.new`'s length argument, or why it is not one: a whole number
    /// of items that fits under the heap limit.
    pub(super) fn array_length(&self, n: Value<'gc>) -> OpResult<usize> {
        let n = whole(n, "Array.new's length")?;
        let limit = self.rt.config.max_heap.map_or(MAX_ARRAY, |m| m / size_of::<Value>()).min(MAX_ARRAY);
        if n > limit {
            return Err(format!("out of memory: Array.new({n}) needs more than the heap limit allows"));
        }
        Ok(n)
    }

    /// The methods of a `Random`: `next` (a number in [0, 1)), `int(n)` (an
    /// integer in [0, n)), `int(a, b)` (in [a, b]) and `seed(s)`.
    pub(super) fn random_method(&self, r: &Random, m: Method, args: &[Value<'gc>]) -> OpResult<Value<'gc>> {
        let name = m.name();
        let int = |i: usize| {
            args[i]
                .as_num()
                .and_then(arith::int_of)
                .ok_or_else(|| format!("Random.{name} needs integers, got {}", describe(args[i])))
        };
        match (m, args.len()) {
            (Method::Next, 0) => Ok(Value::num(r.next_float())),
            (Method::Int, 1) if int(0)? > 0 => Ok(Value::num(r.int_in(0, int(0)? - 1) as f64)),
            (Method::Int, 1) => Err(format!("Random.int(n) needs n > 0, got {}", describe(args[0]))),
            (Method::Int, 2) if int(0)? <= int(1)? => Ok(Value::num(r.int_in(int(0)?, int(1)?) as f64)),
            (Method::Int, 2) => Err("Random.int(a, b) needs a <= b".to_owned()),
            (Method::Seed, 1) => {
                r.reseed(seed_of(args[0])?);
                Ok(Value::nil())
            }
            (Method::Next | Method::Int | Method::Seed, n) => {
                Err(format!("Random.{name} does not take {n} argument(s)"))
            }
            _ => Err(format!("unknown method `{name}` for Random")),
        }
    }
}

/// A seed: any integer within ±2^53.
fn seed_of(v: Value<'_>) -> OpResult<u64> {
    v.as_num()
        .and_then(arith::int_of)
        .map(|i| i as u64)
        .ok_or_else(|| format!("a seed must be an integer, got {}", describe(v)))
}

impl StdFn {
    /// The function of one number this is (`Math.sqrt`, `Math.floor`, …),
    /// if it is one: such a call cannot fail on a number, so the fast loop
    /// makes it too.
    #[inline(always)]
    pub(super) fn of_one_number(self) -> Option<fn(f64) -> f64> {
        Some(match self {
            StdFn::Sin => f64::sin,
            StdFn::Cos => f64::cos,
            StdFn::Tan => f64::tan,
            StdFn::Asin => f64::asin,
            StdFn::Acos => f64::acos,
            StdFn::Atan => f64::atan,
            StdFn::Exp => f64::exp,
            StdFn::Sqrt => f64::sqrt,
            StdFn::Floor => f64::floor,
            StdFn::Ceil => f64::ceil,
            StdFn::Round => f64::round,
            StdFn::Abs => f64::abs,
            _ => return None,
        })
    }
}

//! `format(spec, values…)`: printf-style formatting. A conversion is
//! `%[flags][width][.precision]type` with flags `-` (left-justify), `0`
//! (pad with zeros), `+` (always a sign) and space (a space for positive
//! numbers), and types `d`/`i` (integer, truncated toward zero), `f`/`F`,
//! `e`/`E`, `g`/`G` (as C's), `x`/`X`/`o`/`b` (integers in base 16, 8, 2),
//! `s` (any value as `say` shows it; the precision cuts it), `c` (a code
//! point) and `%%`. Too few or too many values, or an unknown type, is an
//! error, as in Python.

use super::methods::describe;
use super::*;

/// One conversion's flags, width and precision.
#[derive(Default)]
struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    width: usize,
    precision: Option<usize>,
}

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// `spec` with its conversions replaced by `args`, in order.
    pub(super) fn format(&self, spec: &str, args: &[Value<'gc>]) -> OpResult<String> {
        let mut out = String::with_capacity(spec.len() + 8 * args.len());
        let mut chars = spec.chars().peekable();
        let mut next = args.iter();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            if chars.peek() == Some(&'%') {
                chars.next();
                out.push('%');
                continue;
            }
            let mut s = Spec::default();
            while let Some(&f) = chars.peek() {
                match f {
                    '-' => s.left = true,
                    '0' => s.zero = true,
                    '+' => s.plus = true,
                    ' ' => s.space = true,
                    _ => break,
                }
                chars.next();
            }
            s.width = digits(&mut chars);
            if chars.peek() == Some(&'.') {
                chars.next();
                s.precision = Some(digits(&mut chars));
            }
            let Some(ty) = chars.next() else { return Err("format: the format ends inside a conversion".to_owned()) };
            let Some(&v) = next.next() else {
                return Err(format!("format: more conversions than the {} value(s) given", args.len()));
            };
            let body = self.convert(ty, &s, v)?;
            pad(&mut out, &body, &s, ty);
        }
        if next.next().is_some() {
            return Err(format!("format: {} value(s) for fewer conversions", args.len()));
        }
        Ok(out)
    }

    /// The text of one conversion, before padding.
    fn convert(&self, ty: char, s: &Spec, v: Value<'gc>) -> OpResult<String> {
        let number = || v.as_num().ok_or_else(|| format!("format: `%{ty}` needs a number, got {}", describe(v)));
        let integer = || {
            let n = number()?.trunc();
            arith::int_of(n)
                .ok_or_else(|| format!("format: `%{ty}` needs an integer within ±2^53, got {}", describe(v)))
        };
        let signed = |text: String, negative: bool| {
            if negative {
                format!("-{text}")
            } else if s.plus {
                format!("+{text}")
            } else if s.space {
                format!(" {text}")
            } else {
                text
            }
        };
        Ok(match ty {
            'd' | 'i' | 'x' | 'X' | 'o' | 'b' => {
                let n = integer()?;
                let m = n.unsigned_abs();
                let digits = match ty {
                    'x' => format!("{m:x}"),
                    'X' => format!("{m:X}"),
                    'o' => format!("{m:o}"),
                    'b' => format!("{m:b}"),
                    _ => m.to_string(),
                };
                signed(digits, n < 0)
            }
            'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
                let n = number()?;
                if !n.is_finite() {
                    let text = if n.is_nan() { "nan" } else { "inf" };
                    let text = if ty.is_ascii_uppercase() { text.to_uppercase() } else { text.to_owned() };
                    return Ok(signed(text, n < 0.0));
                }
                let p = s.precision.unwrap_or(6);
                let text = match ty {
                    'f' | 'F' => format!("{:.p$}", n.abs()),
                    'e' | 'E' => exponent(n.abs(), p),
                    _ => general(n.abs(), p),
                };
                let text = if ty.is_ascii_uppercase() { text.to_uppercase() } else { text };
                signed(text, n.is_sign_negative() && n != 0.0)
            }
            's' => {
                let text = self.show(v);
                match s.precision {
                    Some(p) => text.chars().take(p).collect(),
                    None => text,
                }
            }
            'c' => match text_of(v) {
                Some(t) => t.chars().next().map(String::from).unwrap_or_default(),
                None => {
                    let c = u32::try_from(integer()?).ok().and_then(char::from_u32);
                    c.ok_or_else(|| format!("format: `%c` needs a code point, got {}", describe(v)))?.to_string()
                }
            },
            other => return Err(format!("format: unknown conversion `%{other}`")),
        })
    }
}

/// A run of decimal digits (0 if none).
fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> usize {
    let mut n = 0usize;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = n.saturating_mul(10).saturating_add(d as usize).min(1 << 16);
        chars.next();
    }
    n
}

/// Appends `body` padded to the width: spaces (left or right) or, for
/// numbers with `0`, zeros after the sign.
fn pad(out: &mut String, body: &str, s: &Spec, ty: char) {
    let len = body.chars().count();
    if len >= s.width {
        return out.push_str(body);
    }
    let fill = s.width - len;
    if s.left {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if s.zero && !matches!(ty, 's' | 'c') {
        let sign = body.len() - body.trim_start_matches(['-', '+', ' ']).len();
        out.push_str(&body[..sign]);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(&body[sign..]);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(body);
    }
}

/// `n` (not negative) as C's `%.pe`: `1.500000e+03`.
fn exponent(n: f64, p: usize) -> String {
    let text = format!("{n:.p$e}");
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// `n` (not negative) as C's `%.pg`: the shorter of `%e` and `%f` for the
/// number of significant digits, without trailing zeros.
fn general(n: f64, p: usize) -> String {
    let p = p.max(1);
    let exp =
        if n == 0.0 { 0 } else { format!("{n:.*e}", p - 1).split_once('e').map_or(0, |(_, e)| e.parse().unwrap_or(0)) };
    let trim = |t: String| {
        if t.contains('.') { t.trim_end_matches('0').trim_end_matches('.').to_owned() } else { t }
    };
    if exp < -4 || exp >= p as i32 {
        let text = exponent(n, p - 1);
        let (mantissa, e) = text.split_once('e').unwrap_or((&text, ""));
        format!("{}e{e}", trim(mantissa.to_owned()))
    } else {
        trim(format!("{n:.*}", (p as i32 - 1 - exp).max(0) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::{exponent, general};

    #[test]
    pub(super) fn exponent_and_general_forms_match_c() {
        assert_eq!(exponent(1500.0, 6), "1.500000e+03");
        assert_eq!(exponent(0.000123, 2), "1.23e-04");
        assert_eq!(general(0.0001, 6), "0.0001");
        assert_eq!(general(0.00001, 6), "1e-05");
        assert_eq!(general(123456789.0, 6), "1.23457e+08");
        assert_eq!(general(100.0, 6), "100");
        assert_eq!(general(1.23456, 3), "1.23");
    }
}

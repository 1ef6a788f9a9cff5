//! Built-in methods of numbers, strings, arrays and maps (dispatched on
//! the [`Method`] a call's name resolved to when it was compiled), and the
//! prelude's methods written in Maat.

use super::*;
use crate::object::pnode::Birth;

impl<'gc> Run<'_, '_, '_, 'gc> {
    /// `recv.name(args)`: the built-in method `m` (what `name` resolved to
    /// when compiled; `None` if it names no built-in one), or a method of an
    /// embedder's type (by name: those are the embedder's).
    pub(super) fn method(
        &self,
        recv: Value<'gc>,
        m: Option<Method>,
        name: &str,
        args: &[Value<'gc>],
    ) -> OpResult<Value<'gc>> {
        self.method_as(recv, (m, name), args, Birth::Plain)
    }

    /// [`Run::method`], where a change of a persistent collection makes
    /// what it makes as `birth` says (a draft's root: frozen as made).
    pub(super) fn method_as(
        &self,
        recv: Value<'gc>,
        (m, name): (Option<Method>, &str),
        args: &[Value<'gc>],
        birth: Birth,
    ) -> OpResult<Value<'gc>> {
        if let Some(u) = object_of(recv, kind::USER) {
            return self.user_method(u, name, args);
        }
        let Some(m) = m else { return Err(unknown_method(recv, name)) };
        let arity = |range| check_arity(range, args.len(), || format!("{}.{name}", type_name(recv)));
        match (recv.unpack(), m) {
            (Unpacked::Num(n), _) => self.num_method(n, m, args, arity),
            (Unpacked::Object(o), Method::Frozen) => arity(0..=0).map(|_| Value::bool(o.is_frozen())),
            (_, Method::Frozen) => arity(0..=0).map(|_| Value::bool(true)),
            (_, Method::ToS) => {
                arity(0..=0)?;
                Ok(self.text(self.show(recv)))
            }
            (Unpacked::Object(o), Method::Class) if o.kind() == kind::INST => {
                arity(0..=0)?;
                // SAFETY: kind INST objects are Insts.
                let class = Gc::get(unsafe { o.downcast::<Inst<'gc>>() }).class();
                Ok(self.class_value(class))
            }
            (Unpacked::Object(o), Method::Name) if o.kind() == kind::CLASS => {
                arity(0..=0)?;
                // SAFETY: kind CLASS objects are Classes.
                let class = Gc::get(unsafe { o.downcast::<Class>() }).index;
                Ok(self.text(self.rt.program.classes[class as usize].name.clone()))
            }
            _ => {
                if let Some(a) = object_of(recv, kind::ARRAY) {
                    // SAFETY: kind ARRAY objects are Arrays.
                    return self.array_method(recv, unsafe { a.downcast() }, m, args, arity);
                }
                if let Some(map) = object_of(recv, kind::MAP) {
                    // SAFETY: kind MAP objects are Maps.
                    return self.map_method(recv, unsafe { map.downcast() }, m, args, arity);
                }
                if let Some(s) = text_of(recv) {
                    return self.str_method(recv, s, m, args, arity);
                }
                if let Some(p) = object_of(recv, kind::PVEC) {
                    // SAFETY: kind PVEC objects are PVecs.
                    return self.pvec_method(unsafe { p.downcast() }, (m, birth), args, arity);
                }
                if let Some(p) = object_of(recv, kind::PMAP) {
                    // SAFETY: kind PMAP objects are PMaps.
                    return self.pmap_method(unsafe { p.downcast() }, (m, birth), args, arity);
                }
                if let Some(r) = object_of(recv, kind::RANDOM) {
                    // SAFETY: kind RANDOM objects are Randoms.
                    return self.random_method(
                        Gc::get(unsafe { r.downcast::<crate::object::random::Random>() }),
                        m,
                        args,
                    );
                }
                Err(unknown_method(recv, name))
            }
        }
    }

    /// A new string value.
    pub(super) fn text(&self, t: String) -> Value<'gc> {
        Value::object(Str::alloc(self.cx, &t).into())
    }

    pub(super) fn num_method(
        &self,
        n: f64,
        m: Method,
        args: &[Value<'gc>],
        arity: impl Fn(std::ops::RangeInclusive<usize>) -> OpResult<()>,
    ) -> OpResult<Value<'gc>> {
        let unary = |f: fn(f64) -> f64| arity(0..=0).map(|_| Value::num(f(n)));
        if let Some(f) = crate::bytecode::StdFn::of_number_method(m).and_then(|f| f.of_one_number()) {
            return unary(f);
        }
        match m {
            Method::Trunc => unary(f64::trunc),
            Method::IsInt => arity(0..=0).map(|_| Value::bool(arith::int_of(n).is_some())),
            Method::ToS => {
                arity(0..=1)?;
                let Some(&digits) = args.first() else { return Ok(self.text(arith::show_num(n))) };
                let digits = whole(digits, "to_s's number of decimals")?;
                Ok(self.text(format!("{n:.digits$}")))
            }
            Method::Chr => {
                arity(0..=0)?;
                let c = arith::int_of(n).and_then(|i| u32::try_from(i).ok()).and_then(char::from_u32);
                let c = c.ok_or_else(|| format!("chr needs a Unicode code point, got {}", arith::show_num(n)))?;
                Ok(self.text(c.to_string()))
            }
            _ => Err(unknown_method(Value::num(n), m.name())),
        }
    }

    pub(super) fn array_method(
        &self,
        recv: Value<'gc>,
        a: Gc<'gc, Array<'gc>>,
        m: Method,
        args: &[Value<'gc>],
        arity: impl Fn(std::ops::RangeInclusive<usize>) -> OpResult<()>,
    ) -> OpResult<Value<'gc>> {
        let cx = self.cx;
        let err = |e: ObjError| e.to_string();
        let new = |items: Vec<Value<'gc>>| Value::object(GcAny::from(Array::alloc(cx, items)));
        match m {
            Method::Push => arity(1..=1).and_then(|_| Array::push(a, cx, args[0]).map_err(err)).map(|_| recv),
            Method::Pop => arity(0..=0).and_then(|_| Array::pop(a, cx).map_err(err)),
            Method::Len => arity(0..=0).map(|_| Value::num(Array::len(a, cx) as f64)),
            Method::Get => arity(1..=1).and_then(|_| Array::get(a, cx, num(args[0])?).map_err(err)),
            Method::Set => {
                arity(2..=2).and_then(|_| Array::set(a, cx, num(args[0])?, args[1]).map_err(err)).map(|_| recv)
            }
            Method::Insert => {
                arity(2..=2).and_then(|_| Array::insert(a, cx, num(args[0])?, args[1]).map_err(err)).map(|_| recv)
            }
            Method::Remove => arity(1..=1).and_then(|_| Array::remove(a, cx, num(args[0])?).map_err(err)),
            Method::Join => arity(0..=1).map(|_| {
                let sep = args.first().map(|s| self.show(*s)).unwrap_or_default();
                let mut out = String::new();
                for (i, v) in Array::snapshot(a, cx).into_iter().enumerate() {
                    if i > 0 {
                        out.push_str(&sep);
                    }
                    self.write_shown(&mut out, v);
                }
                self.text(out)
            }),
            Method::Sort => arity(0..=0).and_then(|_| Array::replace_all(a, cx, sorted)).map(|_| recv),
            Method::Reverse => arity(0..=0).map(|_| new(Array::snapshot(a, cx).into_iter().rev().collect())),
            Method::Slice => {
                arity(1..=2)?;
                let items = Array::snapshot(a, cx);
                let (from, to) = bounds(args, items.len(), "slice")?;
                Ok(new(items[from..to].to_vec()))
            }
            Method::IndexOf => arity(1..=1).map(|_| {
                let at = Array::snapshot(a, cx).into_iter().position(|v| equal(v, args[0]));
                Value::num(at.map_or(-1.0, |i| i as f64))
            }),
            Method::Contains => {
                arity(1..=1).map(|_| Value::bool(Array::snapshot(a, cx).into_iter().any(|v| equal(v, args[0]))))
            }
            Method::Fill => {
                arity(1..=1)?;
                for i in 0..Array::len(a, cx) {
                    Array::set(a, cx, i as f64, args[0]).map_err(err)?;
                }
                Ok(recv)
            }
            Method::Copy => arity(0..=0).map(|_| new(Array::snapshot(a, cx))),
            Method::IsEmpty => arity(0..=0).map(|_| Value::bool(Array::len(a, cx) == 0)),
            Method::First => arity(0..=0).map(|_| Array::get(a, cx, 0.0).unwrap_or(Value::nil())),
            Method::Last => arity(0..=0).map(|_| {
                let n = Array::len(a, cx);
                if n == 0 { Value::nil() } else { Array::get(a, cx, (n - 1) as f64).unwrap_or(Value::nil()) }
            }),
            _ => Err(unknown_method(recv, m.name())),
        }
    }

    pub(super) fn map_method(
        &self,
        recv: Value<'gc>,
        map: Gc<'gc, Map<'gc>>,
        m: Method,
        args: &[Value<'gc>],
        arity: impl Fn(std::ops::RangeInclusive<usize>) -> OpResult<()>,
    ) -> OpResult<Value<'gc>> {
        let cx = self.cx;
        let err = |e: ObjError| e.to_string();
        let column = |keys: bool| {
            let items = Map::entries(map, cx).into_iter().map(|(k, v)| if keys { k } else { v });
            Value::object(GcAny::from(Array::alloc(cx, items)))
        };
        match m {
            Method::Get => arity(1..=2).and_then(|_| {
                let v = Map::get(map, cx, args[0]).map_err(err)?;
                match args.get(1) {
                    Some(default) if v.is_nil() && !Map::has(map, cx, args[0]).map_err(err)? => Ok(*default),
                    _ => Ok(v),
                }
            }),
            Method::Set => arity(2..=2).and_then(|_| Map::set(map, cx, args[0], args[1]).map_err(err)).map(|_| recv),
            Method::Has => arity(1..=1).and_then(|_| Map::has(map, cx, args[0]).map_err(err)).map(Value::bool),
            Method::Delete => arity(1..=1).and_then(|_| Map::delete(map, cx, args[0]).map_err(err)),
            Method::Len => arity(0..=0).map(|_| Value::num(Map::len(map, cx) as f64)),
            Method::IsEmpty => arity(0..=0).map(|_| Value::bool(Map::len(map, cx) == 0)),
            Method::Keys => arity(0..=0).map(|_| column(true)),
            Method::Values => arity(0..=0).map(|_| column(false)),
            _ => Err(unknown_method(recv, m.name())),
        }
    }

    pub(super) fn str_method(
        &self,
        recv: Value<'gc>,
        s: &str,
        m: Method,
        args: &[Value<'gc>],
        arity: impl Fn(std::ops::RangeInclusive<usize>) -> OpResult<()>,
    ) -> OpResult<Value<'gc>> {
        let cx = self.cx;
        let ascii = Str::of(recv).is_some_and(Str::is_ascii);
        let piece = |p: &str| Value::object(Str::alloc(cx, p).into());
        let array = |items: Vec<Value<'gc>>| Value::object(GcAny::from(Array::alloc(cx, items)));
        let arg_text = |i: usize| {
            text_of(args[i]).ok_or_else(|| format!("Str.{} needs a string, got {}", m.name(), type_name(args[i])))
        };
        match m {
            Method::Len => arity(0..=0).map(|_| Value::num(char_len(s, ascii) as f64)),
            Method::Upper => arity(0..=0).map(|_| self.text(s.to_uppercase())),
            Method::Lower => arity(0..=0).map(|_| self.text(s.to_lowercase())),
            Method::Trim => arity(0..=0).map(|_| piece(s.trim())),
            Method::Concat => arity(1..=1).map(|_| self.text(format!("{s}{}", self.show(args[0])))),
            Method::Repeat => arity(1..=1).and_then(|_| self.binary(BinOp::Mul, recv, args[0])),
            Method::Reverse => arity(0..=0).map(|_| self.text(s.chars().rev().collect())),
            Method::Split => arity(0..=1).map(|_| {
                let sep = args.first().map(|a| self.show(*a)).unwrap_or_default();
                if sep.is_empty() {
                    array(s.char_indices().map(|(at, c)| piece(&s[at..at + c.len_utf8()])).collect())
                } else {
                    array(s.split(sep.as_str()).map(piece).collect())
                }
            }),
            Method::Chars => {
                arity(0..=0).map(|_| array(s.char_indices().map(|(at, c)| piece(&s[at..at + c.len_utf8()])).collect()))
            }
            Method::Bytes => arity(0..=0).map(|_| array(s.bytes().map(|b| Value::num(f64::from(b))).collect())),
            Method::Ord => {
                arity(0..=1)?;
                let i = match args.first() {
                    Some(i) => whole(*i, "ord's index")?,
                    None => 0,
                };
                let c = s
                    .chars()
                    .nth(i)
                    .ok_or_else(|| format!("ord: index {i} is past the end (length {})", char_len(s, ascii)))?;
                Ok(Value::num(f64::from(u32::from(c))))
            }
            Method::Index | Method::Find => arity(1..=2).and_then(|_| {
                let needle = self.show(args[0]);
                let from = match args.get(1) {
                    Some(f) => whole(*f, "find's start")?,
                    None => 0,
                };
                let start = byte_at(s, from, ascii).unwrap_or(s.len());
                Ok(Value::num(
                    s[start..].find(&needle).map_or(-1.0, |at| (from + char_len(&s[start..start + at], ascii)) as f64),
                ))
            }),
            Method::Contains => arity(1..=1).and_then(|_| Ok(Value::bool(s.contains(arg_text(0)?)))),
            Method::StartsWith => arity(1..=1).and_then(|_| Ok(Value::bool(s.starts_with(arg_text(0)?)))),
            Method::EndsWith => arity(1..=1).and_then(|_| Ok(Value::bool(s.ends_with(arg_text(0)?)))),
            Method::Replace => arity(2..=2).and_then(|_| Ok(self.text(s.replace(arg_text(0)?, &self.show(args[1]))))),
            Method::Substr => arity(1..=2).and_then(|_| {
                let from = whole(args[0], "substr's start")?;
                let len = match args.get(1) {
                    Some(l) => whole(*l, "substr's length")?,
                    None => usize::MAX,
                };
                Ok(self.text(s.chars().skip(from).take(len).collect()))
            }),
            Method::Slice => arity(1..=2).and_then(|_| {
                let (from, to) = bounds(args, char_len(s, ascii), "slice")?;
                let (a, b) = (byte_at(s, from, ascii).unwrap_or(s.len()), byte_at(s, to, ascii).unwrap_or(s.len()));
                Ok(piece(&s[a..b]))
            }),
            Method::ToNum | Method::Parse => arity(0..=0).map(|_| parse_num(s).map_or(Value::nil(), Value::num)),
            Method::IsEmpty => arity(0..=0).map(|_| Value::bool(s.is_empty())),
            _ => Err(unknown_method(recv, m.name())),
        }
    }

    /// The one-character string at index `i` of `s` (`s[i]`).
    pub(super) fn char_at(&self, s: &Str, i: f64) -> OpResult<Value<'gc>> {
        let (s, ascii) = (s.as_str(), s.is_ascii());
        let found = arith::int_of(i).and_then(|i| usize::try_from(i).ok()).and_then(|i| {
            if ascii {
                // One byte a character: the string made once for each.
                let c = *s.as_bytes().get(i)?;
                return Some(Value::object(Gc::get(self.env).chars[usize::from(c)].into()));
            }
            let start = byte_at(s, i, false)?;
            let c = s[start..].chars().next()?;
            Some(Value::object(Str::alloc(self.cx, &s[start..start + c.len_utf8()]).into()))
        });
        found
            .ok_or_else(|| format!("string index out of range: {} (length {})", arith::show_num(i), char_len(s, ascii)))
    }

    /// The prelude function implementing `recv.name`, if any.
    /// (with `n` arguments: `sort` with a comparator is the prelude's, without
    /// one the built-in).
    pub(super) fn prelude_method(&self, recv: Value<'gc>, m: Method, n: usize) -> Option<u32> {
        let kind = recv.as_object()?.kind();
        let program = &self.rt.program;
        let params = |f: u32| usize::from(program.functions[f as usize].params);
        let of_kind = program.methods.get(usize::from(kind))?;
        of_kind.iter().find(|&&(method, f)| method == m && params(f) == n + 1).map(|&(_, f)| f)
    }

    /// `GC.stats`: the heap's statistics as a map.
    pub(super) fn gc_stats(&self) -> OpResult<Value<'gc>> {
        let s = self.cx.mc.stats();
        let c = s.collections;
        let map = Map::alloc(self.cx);
        let entries = [
            ("bytes_allocated", s.bytes_allocated as f64),
            ("bytes_freed", s.bytes_freed as f64),
            ("objects_allocated", s.objects_allocated as f64),
            ("objects_freed", s.objects_freed as f64),
            ("collections", (c.incremental + c.full + c.minor + c.major + c.shared) as f64),
            ("minor", c.minor as f64),
            ("major", c.major as f64),
            ("max_pause_ms", s.pauses.max().as_secs_f64() * 1e3),
        ];
        for (k, v) in entries {
            Map::set(map, self.cx, Value::object(Str::alloc(self.cx, k).into()), Value::num(v))
                .map_err(|e| e.to_string())?;
        }
        Ok(Value::object(map.into()))
    }
}

/// The items sorted: all numbers, or all strings; anything else is an error.
pub(super) fn sorted(mut items: Vec<Value<'_>>) -> Result<Vec<Value<'_>>, String> {
    if items.iter().all(|v| v.as_num().is_some()) {
        items.sort_by(|a, b| a.as_num().unwrap_or(0.0).total_cmp(&b.as_num().unwrap_or(0.0)));
    } else if items.iter().all(|v| text_of(*v).is_some()) {
        items.sort_by(|a, b| text_of(*a).cmp(&text_of(*b)));
    } else {
        return Err("sort needs an array of numbers or of strings".to_owned());
    }
    Ok(items)
}

/// Why `got` arguments do not fit `range` for the method or function named
/// by `what` (made only for the error), if they do not.
pub(super) fn check_arity(
    range: std::ops::RangeInclusive<usize>,
    got: usize,
    what: impl FnOnce() -> String,
) -> OpResult<()> {
    if range.contains(&got) {
        return Ok(());
    }
    let what = what();
    let want = match (*range.start(), *range.end()) {
        (a, b) if a == b => format!("{a}"),
        (a, usize::MAX) => format!("at least {a}"),
        (a, b) => format!("{a} to {b}"),
    };
    Err(format!("{what} expects {want} argument(s), got {got}"))
}

/// A number argument.
fn num(v: Value<'_>) -> OpResult<f64> {
    v.as_num().ok_or_else(|| format!("expected a number, got {}", type_name(v)))
}

/// A whole number from 0 (a count or an index), or an error naming `what`.
pub(super) fn whole(v: Value<'_>, what: &str) -> OpResult<usize> {
    let n = v.as_num().and_then(arith::int_of).and_then(|i| usize::try_from(i).ok());
    n.ok_or_else(|| format!("{what} must be a whole number from 0, got {}", describe(v)))
}

/// A value for an error message: a number as written, anything else by type.
pub(super) fn describe(v: Value<'_>) -> String {
    match v.as_num() {
        Some(n) => arith::show_num(n),
        None => type_name(v).to_owned(),
    }
}

/// `(from, to)` of `slice(from)` or `slice(from, to)` over `len` items:
/// `to` is exclusive, negative positions count from the end, and both are
/// clamped to `0..=len`.
fn bounds(args: &[Value<'_>], len: usize, what: &str) -> OpResult<(usize, usize)> {
    let at = |v: Value<'_>| -> OpResult<usize> {
        let i = v
            .as_num()
            .and_then(arith::int_of)
            .ok_or_else(|| format!("{what} needs whole numbers, got {}", describe(v)))?;
        let i = if i < 0 { len as i64 + i } else { i };
        Ok(i.clamp(0, len as i64) as usize)
    };
    let from = at(args[0])?;
    let to = match args.get(1) {
        Some(v) => at(*v)?,
        None => len,
    };
    Ok((from, to.max(from)))
}

/// The length of `s` in characters (bytes for ASCII text, the common case).
pub(super) fn char_len(s: &str, ascii: bool) -> usize {
    if ascii { s.len() } else { s.chars().count() }
}

/// The byte offset of character `i` of `s` (`Some(len)` just past the end).
fn byte_at(s: &str, i: usize, ascii: bool) -> Option<usize> {
    if ascii {
        return (i <= s.len()).then_some(i);
    }
    s.char_indices().map(|(at, _)| at).chain(std::iter::once(s.len())).nth(i)
}

/// `s` as a number, as a literal is read (decimal, `0x`, `0b`, with
/// surrounding spaces allowed); `None` if it is not one.
pub(super) fn parse_num(s: &str) -> Option<f64> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let radix = |p: &str, r: u32| digits.strip_prefix(p).and_then(|d| u64::from_str_radix(d, r).ok()).map(|n| n as f64);
    let n = radix("0x", 16).or_else(|| radix("0b", 2)).or_else(|| {
        let plain = digits.bytes().all(|b| b.is_ascii_digit() || b"._eE+-".contains(&b));
        digits.parse::<f64>().ok().filter(|n| plain && n.is_finite())
    })?;
    Some(if neg { -n } else { n })
}

pub(super) fn unknown_method(recv: Value<'_>, name: &str) -> String {
    format!("unknown method `{name}` for {}", type_name(recv))
}

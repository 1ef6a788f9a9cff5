//! Built-in methods of numbers, strings, arrays and maps (resolved by name),
//! and the prelude's methods written in Maat.

use super::*;

impl<'gc> Run<'_, '_, '_, 'gc> {
    pub(super) fn method(&self, recv: Value<'gc>, name: &str, args: &[Value<'gc>]) -> OpResult<Value<'gc>> {
        let arity = |range| check_arity(range, args.len(), || format!("{}.{name}", type_name(recv)));
        match (recv.unpack(), name) {
            (Unpacked::Num(n), _) => self.num_method(n, name, args, arity),
            (Unpacked::Object(o), "frozen") => arity(0..=0).map(|_| Value::bool(o.is_frozen())),
            (_, "frozen") => arity(0..=0).map(|_| Value::bool(true)),
            (_, "to_s") => {
                arity(0..=0)?;
                Ok(self.text(self.show(recv)))
            }
            (Unpacked::Object(o), "class") if o.kind() == kind::INST => {
                arity(0..=0)?;
                // SAFETY: kind INST objects are Insts.
                let class = Gc::get(unsafe { o.downcast::<Inst<'gc>>() }).class();
                Ok(self.class_value(class))
            }
            (Unpacked::Object(o), "name") if o.kind() == kind::CLASS => {
                arity(0..=0)?;
                // SAFETY: kind CLASS objects are Classes.
                let class = Gc::get(unsafe { o.downcast::<Class>() }).index;
                Ok(self.text(self.rt.program.classes[class as usize].name.clone()))
            }
            _ => {
                if let Some(a) = object_of(recv, kind::ARRAY) {
                    // SAFETY: kind ARRAY objects are Arrays.
                    return self.array_method(recv, unsafe { a.downcast() }, name, args, arity);
                }
                if let Some(m) = object_of(recv, kind::MAP) {
                    // SAFETY: kind MAP objects are Maps.
                    return self.map_method(recv, unsafe { m.downcast() }, name, args, arity);
                }
                if let Some(s) = text_of(recv) {
                    return self.str_method(recv, s, name, args, arity);
                }
                if let Some(u) = object_of(recv, kind::USER) {
                    return self.user_method(u, name, args);
                }
                if let Some(r) = object_of(recv, kind::RANDOM) {
                    // SAFETY: kind RANDOM objects are Randoms.
                    return self.random_method(
                        Gc::get(unsafe { r.downcast::<crate::object::random::Random>() }),
                        name,
                        args,
                    );
                }
                Err(unknown_method(recv, name))
            }
        }
    }

    /// A new string value.
    pub(super) fn text(&self, t: String) -> Value<'gc> {
        Value::object(Str::alloc_string(self.cx, t).into())
    }

    pub(super) fn num_method(
        &self,
        n: f64,
        name: &str,
        args: &[Value<'gc>],
        arity: impl Fn(std::ops::RangeInclusive<usize>) -> OpResult<()>,
    ) -> OpResult<Value<'gc>> {
        let unary = |f: fn(f64) -> f64| arity(0..=0).map(|_| Value::num(f(n)));
        if let Some(f) = crate::bytecode::StdFn::number_method(name).and_then(|f| f.of_one_number()) {
            return unary(f);
        }
        match name {
            "trunc" => unary(f64::trunc),
            "is_int" => arity(0..=0).map(|_| Value::bool(arith::int_of(n).is_some())),
            "to_s" => {
                arity(0..=1)?;
                let Some(&digits) = args.first() else { return Ok(self.text(arith::show_num(n))) };
                let digits = whole(digits, "to_s's number of decimals")?;
                Ok(self.text(format!("{n:.digits$}")))
            }
            "chr" => {
                arity(0..=0)?;
                let c = arith::int_of(n).and_then(|i| u32::try_from(i).ok()).and_then(char::from_u32);
                let c = c.ok_or_else(|| format!("chr needs a Unicode code point, got {}", arith::show_num(n)))?;
                Ok(self.text(c.to_string()))
            }
            _ => Err(unknown_method(Value::num(n), name)),
        }
    }

    pub(super) fn array_method(
        &self,
        recv: Value<'gc>,
        a: Gc<'gc, Array<'gc>>,
        name: &str,
        args: &[Value<'gc>],
        arity: impl Fn(std::ops::RangeInclusive<usize>) -> OpResult<()>,
    ) -> OpResult<Value<'gc>> {
        let cx = self.cx;
        let err = |e: ObjError| e.to_string();
        let new = |items: Vec<Value<'gc>>| Value::object(GcAny::from(Array::alloc(cx, items)));
        match name {
            "push" => arity(1..=1).and_then(|_| Array::push(a, cx, args[0]).map_err(err)).map(|_| recv),
            "pop" => arity(0..=0).and_then(|_| Array::pop(a, cx).map_err(err)),
            "len" => arity(0..=0).map(|_| Value::num(Array::len(a, cx) as f64)),
            "get" => arity(1..=1).and_then(|_| Array::get(a, cx, num(args[0])?).map_err(err)),
            "set" => arity(2..=2).and_then(|_| Array::set(a, cx, num(args[0])?, args[1]).map_err(err)).map(|_| recv),
            "insert" => {
                arity(2..=2).and_then(|_| Array::insert(a, cx, num(args[0])?, args[1]).map_err(err)).map(|_| recv)
            }
            "remove" => arity(1..=1).and_then(|_| Array::remove(a, cx, num(args[0])?).map_err(err)),
            "join" => arity(0..=1).map(|_| {
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
            "sort" => arity(0..=0).and_then(|_| Array::replace_all(a, cx, sorted)).map(|_| recv),
            "reverse" => arity(0..=0).map(|_| new(Array::snapshot(a, cx).into_iter().rev().collect())),
            "slice" => {
                arity(1..=2)?;
                let items = Array::snapshot(a, cx);
                let (from, to) = bounds(args, items.len(), "slice")?;
                Ok(new(items[from..to].to_vec()))
            }
            "index_of" => arity(1..=1).map(|_| {
                let at = Array::snapshot(a, cx).into_iter().position(|v| equal(v, args[0]));
                Value::num(at.map_or(-1.0, |i| i as f64))
            }),
            "contains" => {
                arity(1..=1).map(|_| Value::bool(Array::snapshot(a, cx).into_iter().any(|v| equal(v, args[0]))))
            }
            "fill" => {
                arity(1..=1)?;
                for i in 0..Array::len(a, cx) {
                    Array::set(a, cx, i as f64, args[0]).map_err(err)?;
                }
                Ok(recv)
            }
            "copy" => arity(0..=0).map(|_| new(Array::snapshot(a, cx))),
            "is_empty" => arity(0..=0).map(|_| Value::bool(Array::len(a, cx) == 0)),
            "first" => arity(0..=0).map(|_| Array::get(a, cx, 0.0).unwrap_or(Value::nil())),
            "last" => arity(0..=0).map(|_| {
                let n = Array::len(a, cx);
                if n == 0 { Value::nil() } else { Array::get(a, cx, (n - 1) as f64).unwrap_or(Value::nil()) }
            }),
            _ => Err(unknown_method(recv, name)),
        }
    }

    pub(super) fn map_method(
        &self,
        recv: Value<'gc>,
        m: Gc<'gc, Map<'gc>>,
        name: &str,
        args: &[Value<'gc>],
        arity: impl Fn(std::ops::RangeInclusive<usize>) -> OpResult<()>,
    ) -> OpResult<Value<'gc>> {
        let cx = self.cx;
        let err = |e: ObjError| e.to_string();
        let column = |keys: bool| {
            let items = Map::entries(m, cx).into_iter().map(|(k, v)| if keys { k } else { v });
            Value::object(GcAny::from(Array::alloc(cx, items)))
        };
        match name {
            "get" => arity(1..=2).and_then(|_| {
                let v = Map::get(m, cx, args[0]).map_err(err)?;
                match args.get(1) {
                    Some(default) if v.is_nil() && !Map::has(m, cx, args[0]).map_err(err)? => Ok(*default),
                    _ => Ok(v),
                }
            }),
            "set" => arity(2..=2).and_then(|_| Map::set(m, cx, args[0], args[1]).map_err(err)).map(|_| recv),
            "has" => arity(1..=1).and_then(|_| Map::has(m, cx, args[0]).map_err(err)).map(Value::bool),
            "delete" => arity(1..=1).and_then(|_| Map::delete(m, cx, args[0]).map_err(err)),
            "len" => arity(0..=0).map(|_| Value::num(Map::len(m, cx) as f64)),
            "is_empty" => arity(0..=0).map(|_| Value::bool(Map::len(m, cx) == 0)),
            "keys" => arity(0..=0).map(|_| column(true)),
            "values" => arity(0..=0).map(|_| column(false)),
            _ => Err(unknown_method(recv, name)),
        }
    }

    pub(super) fn str_method(
        &self,
        recv: Value<'gc>,
        s: &str,
        name: &str,
        args: &[Value<'gc>],
        arity: impl Fn(std::ops::RangeInclusive<usize>) -> OpResult<()>,
    ) -> OpResult<Value<'gc>> {
        let cx = self.cx;
        let ascii = Str::of(recv).is_some_and(Str::is_ascii);
        let piece = |p: &str| Value::object(Str::alloc(cx, p).into());
        let array = |items: Vec<Value<'gc>>| Value::object(GcAny::from(Array::alloc(cx, items)));
        let arg_text =
            |i: usize| text_of(args[i]).ok_or_else(|| format!("Str.{name} needs a string, got {}", type_name(args[i])));
        match name {
            "len" => arity(0..=0).map(|_| Value::num(char_len(s, ascii) as f64)),
            "upper" => arity(0..=0).map(|_| self.text(s.to_uppercase())),
            "lower" => arity(0..=0).map(|_| self.text(s.to_lowercase())),
            "trim" => arity(0..=0).map(|_| piece(s.trim())),
            "concat" => arity(1..=1).map(|_| self.text(format!("{s}{}", self.show(args[0])))),
            "repeat" => arity(1..=1).and_then(|_| self.binary(BinOp::Mul, recv, args[0])),
            "reverse" => arity(0..=0).map(|_| self.text(s.chars().rev().collect())),
            "split" => arity(0..=1).map(|_| {
                let sep = args.first().map(|a| self.show(*a)).unwrap_or_default();
                if sep.is_empty() {
                    array(s.char_indices().map(|(at, c)| piece(&s[at..at + c.len_utf8()])).collect())
                } else {
                    array(s.split(sep.as_str()).map(piece).collect())
                }
            }),
            "chars" => {
                arity(0..=0).map(|_| array(s.char_indices().map(|(at, c)| piece(&s[at..at + c.len_utf8()])).collect()))
            }
            "bytes" => arity(0..=0).map(|_| array(s.bytes().map(|b| Value::num(f64::from(b))).collect())),
            "ord" => {
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
            "index" | "find" => arity(1..=2).and_then(|_| {
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
            "contains" => arity(1..=1).and_then(|_| Ok(Value::bool(s.contains(arg_text(0)?)))),
            "starts_with" => arity(1..=1).and_then(|_| Ok(Value::bool(s.starts_with(arg_text(0)?)))),
            "ends_with" => arity(1..=1).and_then(|_| Ok(Value::bool(s.ends_with(arg_text(0)?)))),
            "replace" => arity(2..=2).and_then(|_| Ok(self.text(s.replace(arg_text(0)?, &self.show(args[1]))))),
            "substr" => arity(1..=2).and_then(|_| {
                let from = whole(args[0], "substr's start")?;
                let len = match args.get(1) {
                    Some(l) => whole(*l, "substr's length")?,
                    None => usize::MAX,
                };
                Ok(self.text(s.chars().skip(from).take(len).collect()))
            }),
            "slice" => arity(1..=2).and_then(|_| {
                let (from, to) = bounds(args, char_len(s, ascii), "slice")?;
                let (a, b) = (byte_at(s, from, ascii).unwrap_or(s.len()), byte_at(s, to, ascii).unwrap_or(s.len()));
                Ok(piece(&s[a..b]))
            }),
            "to_num" | "parse" => arity(0..=0).map(|_| parse_num(s).map_or(Value::nil(), Value::num)),
            "is_empty" => arity(0..=0).map(|_| Value::bool(s.is_empty())),
            _ => Err(unknown_method(recv, name)),
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
    pub(super) fn prelude_method(&self, recv: Value<'gc>, name: &str, n: usize) -> Option<u32> {
        let kind = recv.as_object()?.kind();
        let program = &self.rt.program;
        let params = |f: u32| usize::from(program.functions[f as usize].params);
        let of_kind = program.methods.get(usize::from(kind))?;
        of_kind.iter().find(|(m, f)| m == name && params(*f) == n + 1).map(|&(_, f)| f)
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

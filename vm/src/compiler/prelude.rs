//! The prelude: built-in methods written in Maat (those that call
//! closures), compiled with every program.

use super::*;

/// Where the prelude's text lies among source offsets: past any program's.
pub(super) const PRELUDE_BASE: usize = usize::MAX / 2;

/// Built-in methods written in Maat: the receiver is parameter 0. Each
/// `fn TYPE_NAME` becomes method `NAME` of `TYPE`.
pub(super) const PRELUDE: &str = "
fn Array_map(a, f) { let out = []; for a -> v { out.push(f(v)); } return out; }
fn Array_grep(a, f) { let out = []; for a -> v { if f(v) { out.push(v); } } return out; }
fn Array_each(a, f) { for a -> v { f(v); } return a; }
fn Map_each(m, f) { for m.keys -> k { f(k, m[k]); } return m; }
fn Array_any(a, f) { for a -> v { if f(v) { return true; } } return false; }
fn Array_all(a, f) { for a -> v { if !f(v) { return false; } } return true; }
fn Array_find(a, f) { for a -> v { if f(v) { return v; } } return nil; }
fn Array_reduce(a, acc, f) { for a -> v { acc = f(acc, v); } return acc; }
fn Array_each_with_index(a, f) { for ^a.len -> i { f(a[i], i); } return a; }
fn Versioned_update(db, f) { let d = db.begin_update; f(d); return db.commit(d); }
fn Array_sort(a, f) {
    let n = a.len
    let src = a.copy
    let dst = Array.new(n)
    let width = 1
    while width < n {
        let lo = 0
        while lo < n {
            let mid = Math.min(lo + width, n)
            let hi = Math.min(lo + 2 * width, n)
            let i = lo
            let j = mid
            for lo..hi - 1 -> k {
                let right = false
                if i >= mid { right = true } elsif j < hi {
                    let r = f(src[j], src[i])
                    right = r == true || (r != false && r != nil && r < 0)
                }
                if right { dst[k] = src[j]; j += 1 } else { dst[k] = src[i]; i += 1 }
            }
            lo = hi
        }
        let t = src
        src = dst
        dst = t
        width *= 2
    }
    for ^n -> i { a[i] = src[i] }
    return a
}
";

/// Compiles the prelude's methods; returns each object kind's (name, function).
pub(super) fn compile_prelude(globals: &mut Globals, units: &[Unit]) -> CResult<Vec<Vec<(Method, u32)>>> {
    let prelude = crate::parser::parse_at(PRELUDE, PRELUDE_BASE).expect("the prelude parses");
    let mut methods = Vec::new();
    for stmt in &prelude {
        let StmtKind::Fn(f) = &stmt.kind else { unreachable!("the prelude declares functions only") };
        let (ty, name) = f.name.split_once('_').expect("prelude names are TYPE_NAME");
        let kind = match ty {
            "Array" => crate::object::kind::ARRAY,
            "Map" => crate::object::kind::MAP,
            "Versioned" => crate::object::kind::VERSIONED,
            _ => unreachable!("the prelude's methods are of arrays, maps and versioned roots"),
        };
        let index = globals.reserve();
        let full = format!("{ty}.{name}");
        let prelude = units.len() - 1;
        let mut proto =
            FnCompiler::new(&full, &f.params, f.span.start, Vec::new(), globals, units, prelude).body(&f.body)?;
        // Line 0: shown as built-in in stack traces.
        proto.lines.iter_mut().for_each(|l| *l = 0);
        globals.define(index, proto);
        let kind = usize::from(kind);
        if methods.len() <= kind {
            methods.resize_with(kind + 1, Vec::new);
        }
        methods[kind].push((Method::from_name(name).expect("the prelude's methods are built-in methods"), index));
    }
    Ok(methods)
}

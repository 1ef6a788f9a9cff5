//! The environment: what every maatine of a run shares, made when the run
//! starts, and kept by a session (an embedder's runtime) from one run to
//! the next.
//!
//! Invariant: an environment is made for one program (`program`), whose
//! functions index its constants and whose classes index its class values.
//! A later run of the same program reuses it whole; a run of a program
//! that grew from it (see [`crate::compiler::Incremental`]) makes a new one
//! that keeps its global and module slots (their values carry over), its
//! class values, and the constants of every function that did not change.

use super::*;

/// What every maatine of a program shares: the global variables' slots,
/// each function's constants, made values once, and a value for each class.
/// Immutable (the slots synchronize themselves) and shared from the start.
pub struct Env<'gc> {
    pub(super) globals: Box<[Gc<'gc, Slot<'gc>>]>,
    pub(super) consts: Box<[Box<[Value<'gc>]>]>,
    pub(super) classes: Box<[Gc<'gc, Class>]>,
    /// Each class's literal field defaults, what a new instance's fields
    /// start as (a string default is made once: strings are immutable).
    pub(super) defaults: Box<[Box<[Value<'gc>]>]>,
    /// The one-character strings of the ASCII characters, by code (what
    /// `s[i]` gives, made once).
    pub(super) chars: Box<[Gc<'gc, Str>]>,
    /// A session's module variables (imported modules' top-level `let`s),
    /// which live on between its runs; empty for a program run once, whose
    /// main maatine keeps its own.
    pub(super) module: Box<[Gc<'gc, Slot<'gc>>]>,
    /// The program it was made for.
    pub(super) program: Arc<Program>,
}

// SAFETY: traces every object field; `program` holds no GC objects.
unsafe impl Trace for Env<'_> {
    fn trace(&self, t: &mut Tracer) {
        self.globals.trace(t);
        self.consts.trace(t);
        self.classes.trace(t);
        self.defaults.trace(t);
        self.chars.trace(t);
        self.module.trace(t);
    }
}

impl<'gc> Env<'gc> {
    /// The environment of `program` (shared), keeping what it can of the
    /// environment `previous` made for an earlier program of the session;
    /// `module_vars` module slots (0 outside a session); `args` is `ARGS`.
    pub(super) fn alloc(
        cx: &Ctx<'_, 'gc>,
        program: &Arc<Program>,
        previous: Option<Gc<'gc, Env<'gc>>>,
        module_vars: usize,
        args: &[String],
    ) -> Gc<'gc, Env<'gc>> {
        let previous = previous.map(Gc::get);
        let kept_globals = previous.map_or(&[][..], |p| &p.globals[..]);
        let globals = (program.globals.iter().enumerate())
            .map(|(i, name)| kept_globals.get(i).copied().unwrap_or_else(|| Slot::alloc(cx, initial(cx, name, args))))
            .collect();
        let consts = (program.functions.iter().enumerate())
            .map(|(i, f)| match previous {
                Some(p) if p.program.functions.get(i).is_some_and(|old| Arc::ptr_eq(old, f)) => p.consts[i].clone(),
                _ => f.consts.iter().map(|c| constant(cx, c)).collect(),
            })
            .collect();
        let kept_classes = previous.map_or(&[][..], |p| &p.classes[..]);
        let classes = (0..program.classes.len())
            .map(|c| kept_classes.get(c).copied().unwrap_or_else(|| Class::alloc(cx, c as u32)))
            .collect();
        let defaults =
            (program.classes.iter()).map(|c| c.defaults.iter().map(|l| literal(cx, l.as_ref())).collect()).collect();
        let kept_module = previous.map_or(&[][..], |p| &p.module[..]);
        let module = (0..module_vars)
            .map(|i| kept_module.get(i).copied().unwrap_or_else(|| Slot::alloc(cx, Value::nil())))
            .collect();
        let chars = match previous {
            Some(p) => p.chars.clone(),
            None => (0..128u8).map(|c| Str::alloc(cx, char::from(c).encode_utf8(&mut [0; 4]))).collect(),
        };
        let program = Arc::clone(program);
        let env = cx.mc.alloc(Env { globals, consts, classes, defaults, chars, module, program });
        cx.mc.share(env);
        env
    }
}

/// A new global's first value: `nil`, but `ARGS` starts as the program's
/// arguments, frozen.
fn initial<'gc>(cx: &Ctx<'_, 'gc>, name: &str, args: &[String]) -> Value<'gc> {
    if name != crate::compiler::ARGS {
        return Value::nil();
    }
    let items = args.iter().map(|a| Value::object(Str::alloc(cx, a).into()));
    let array = Array::alloc(cx, items.collect::<Vec<_>>());
    cx.mc.freeze(array);
    Value::object(array.into())
}

/// A field default's value.
fn literal<'gc>(cx: &Ctx<'_, 'gc>, l: Option<&Literal>) -> Value<'gc> {
    match l {
        None => Value::nil(),
        Some(Literal::Bool(b)) => Value::bool(*b),
        Some(Literal::Num(n)) => Value::num(*n),
        Some(Literal::Str(s)) => Value::object(Str::alloc(cx, s).into()),
    }
}

fn constant<'gc>(cx: &Ctx<'_, 'gc>, c: &Const) -> Value<'gc> {
    match c {
        Const::Num(n) => Value::num(*n),
        Const::Str(s) => Value::object(Str::alloc(cx, s).into()),
        // Only read by `New`, never loaded as a value.
        Const::Names(_) => Value::nil(),
    }
}

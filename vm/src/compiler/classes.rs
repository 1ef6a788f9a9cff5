//! Classes: declared and flattened before anything is compiled (fields
//! and methods with the inherited ones, computed defaults, constructors),
//! and the expressions that need a class: `new`, `super`, methods called
//! without `self.`.

use super::*;

impl FnCompiler<'_> {
    /// Where `self` is: a method's parameter 0, or an upvalue of a closure
    /// in a method (see [`SELF`]).
    pub(super) fn receiver(&self) -> Option<Place> {
        self.class?;
        match self.locals.first() {
            Some((n, r, _)) if n == SELF => Some(Place::Local(*r, false)),
            _ => self.upvalues.iter().position(|(u, _)| u == SELF).map(|i| self.upvalue_place(i)),
        }
    }

    /// The method `name` of this method's class (its own or inherited),
    /// when this is a method (or a closure in one).
    pub(super) fn own_method(&self, name: &str) -> Option<u32> {
        let class = &self.globals.classes[self.class? as usize];
        self.receiver()?;
        class.methods.iter().find(|(m, _)| m == name).map(|&(_, f)| f)
    }

    /// `C.new(…)`: named arguments set fields; positional ones go to
    /// `init`. Two registers before the arguments receive the instance and
    /// the constructor's mask of named fields.
    pub(super) fn new_instance(&mut self, dst: Reg, recv: &Expr, args: &[Arg]) -> CResult<()> {
        let named = args.iter().filter(|a| a.name.is_some()).count();
        if named != 0 && named != args.len() {
            let at = args.iter().find(|a| a.name.is_none()).map_or(recv.span, |a| a.value.span);
            return Err(SyntaxError::new(
                "`new` takes named arguments (`field: value`) or positional ones, not both",
                at,
            ));
        }
        let class = self.expr_any(recv)?;
        let base = self.temp(recv.span)?;
        self.temp(recv.span)?;
        let values: Vec<Expr> = args.iter().map(|a| a.value.clone()).collect();
        self.consecutive(&values)?;
        let names: Vec<Arc<str>> = args.iter().filter_map(|a| a.name.as_deref().map(Arc::from)).collect();
        let k = if named > 0 { self.konst(Const::Names(names.into())) } else { u32::MAX };
        self.emit(Op::New(dst, class, k, base, values.len() as u16));
        Ok(())
    }

    /// `super.name(args)` (or `super(args)`: the method's own name): the
    /// parent class's method, called on `self`.
    pub(super) fn super_call(&mut self, dst: Reg, name: Option<&str>, args: &[Arg], span: Span) -> CResult<()> {
        let outside = || SyntaxError::new("`super` outside a method of a class that inherits", span);
        let class = self.class.ok_or_else(outside)?;
        let parent = self.globals.classes[class as usize].parent.ok_or_else(outside)?;
        if self.receiver().is_none() {
            return Err(outside());
        }
        let name = name.map(str::to_owned).or_else(|| self.method.clone()).ok_or_else(outside)?;
        let info = &self.globals.classes[parent as usize];
        let Some(&(_, f)) = info.methods.iter().find(|(m, _)| *m == name) else {
            return Err(SyntaxError::new(format!("class `{}` has no method `{name}`", info.name), span));
        };
        if let Some(a) = args.iter().find(|a| a.name.is_some()) {
            return unsupported("named arguments", a.value.span);
        }
        let mut values = vec![Expr { kind: ExprKind::SelfRef, span }];
        values.extend(args.iter().map(|a| a.value.clone()));
        let base = self.consecutive(&values)?;
        self.emit(Op::Call(dst, f, base, values.len() as u16));
        Ok(())
    }

    /// A class declaration (declared with every class before compiling:
    /// see `declare_classes`) binds the class to the global of its name.
    pub(super) fn class(&mut self, c: &ClassDecl, span: Span) -> CResult<()> {
        let index = self.globals.class_index[&self.key(&c.name)];
        let (r, g) = (self.temp(span)?, self.global(&c.name));
        self.emit(Op::NewClass(r, index));
        self.emit(Op::SetGlobal(g, r));
        Ok(())
    }
}

/// Declares every top-level class before anything is compiled: members
/// flattened with the inherited ones (parents first), a function reserved
/// for each method, for each class's computed field defaults, and the
/// constructors that run them and `init`.
pub(super) fn declare_classes(globals: &mut Globals, units: &[Unit], modules: &[Module]) -> CResult<()> {
    let decls: Vec<(usize, &ClassDecl)> = modules
        .iter()
        .enumerate()
        .flat_map(|(m, module)| {
            module.body.iter().filter_map(move |s| match &s.kind {
                StmtKind::Class(c) => Some((m, c)),
                _ => None,
            })
        })
        .collect();
    // This entry's classes follow those of earlier entries; a name declared
    // again names the new class from here on.
    let base = globals.classes.len();
    let mut mine = std::collections::HashSet::new();
    for (i, (m, c)) in decls.iter().enumerate() {
        let key = qualify(&units[*m].prefix, &c.name);
        if !mine.insert(key.clone()) {
            return Err(SyntaxError::new(format!("class `{}` is declared twice", c.name), c.span));
        }
        globals.class_index.insert(key, (base + i) as u32);
    }
    globals.classes.resize_with(base + decls.len(), ClassInfo::default);
    globals.chains.resize_with(base + decls.len(), Vec::new);
    // Classes of earlier entries are done.
    let mut done: Vec<bool> = (0..base + decls.len()).map(|c| c < base).collect();
    for i in base..base + decls.len() {
        let mut chain = vec![i];
        while let Some(&at) = chain.last() {
            if done[at] {
                chain.pop();
                continue;
            }
            let (m, c) = decls[at - base];
            let parent = match &c.parent {
                None => None,
                Some((name, span)) => match globals.class_index.get(&parent_key(units, m, name)) {
                    None => return Err(SyntaxError::new(format!("unknown class `{name}` to inherit from"), *span)),
                    Some(&p) if chain.contains(&(p as usize)) => {
                        return Err(SyntaxError::new(format!("class `{}` inherits from itself", c.name), *span)
                            .with_label("through the classes it inherits from"));
                    }
                    Some(&p) => Some(p as usize),
                },
            };
            if let Some(p) = parent.filter(|p| !done[*p]) {
                chain.push(p);
                continue;
            }
            let info = class_info(globals, (m, c), at as u32, parent.map(|p| p as u32))?;
            globals.classes[at] = info;
            done[at] = true;
            chain.pop();
        }
    }
    Ok(())
}

/// The qualified name of the class that module `m` names `name` (`A`, or
/// `alias.A` for a class of a module it imports).
pub(super) fn parent_key(units: &[Unit], m: usize, name: &str) -> String {
    match name.split_once('.') {
        Some((alias, class)) => match units[m].imports.get(alias) {
            Some(&target) => qualify(&units[target].prefix, class),
            None => name.to_owned(),
        },
        None => qualify(&units[m].prefix, name),
    }
}

/// Class `c` (of module `m`)'s flattened description (its parent's is
/// already made).
pub(super) fn class_info(
    globals: &mut Globals,
    (m, c): (usize, &ClassDecl),
    index: u32,
    parent: Option<u32>,
) -> CResult<ClassInfo> {
    let mut info = match parent {
        Some(p) => {
            let p = &globals.classes[p as usize];
            ClassInfo {
                fields: p.fields.clone(),
                defaults: p.defaults.clone(),
                computed: p.computed.clone(),
                methods: p.methods.clone(),
                init: p.init,
                ..ClassInfo::default()
            }
        }
        None => ClassInfo::default(),
    };
    (info.name, info.parent) = (c.name.clone(), parent);
    let mut own_defaults = Vec::new();
    for (field, default) in &c.fields {
        if info.fields.contains(field) {
            let owner = if parent.is_some() { "inherited" } else { "declared" };
            return Err(SyntaxError::new(format!("field `{field}` is already {owner} in class `{}`", c.name), c.span));
        }
        let literal = default.as_ref().map(literal_of);
        info.defaults.push(match &literal {
            Some(Ok(l)) => l.clone(),
            _ => None,
        });
        if let (Some(e), Some(Err(()))) = (default, literal) {
            if info.computed.len() == 53 {
                return Err(SyntaxError::new("more than 53 computed field defaults in one class", e.span));
            }
            own_defaults.push((field.clone(), info.computed.len(), e.clone()));
            info.computed.push(info.fields.len() as u32);
        }
        info.fields.push(field.clone());
    }
    let module = m;
    for m in &c.methods {
        if info.fields.contains(&m.name) {
            return Err(SyntaxError::new(format!("method `{}` has the name of a field", m.name), m.span));
        }
        let f = globals.reserve();
        let params: Vec<String> = std::iter::once("self".to_owned()).chain(m.params.iter().cloned()).collect();
        globals.pending.push(PendingClosure {
            index: f,
            name: format!("{}.{}", c.name, m.name),
            start: m.span.start,
            params,
            body: m.body.clone(),
            upvalues: vec![],
            class: Some(index),
            method: Some(m.name.clone()),
            init: m.name == "init",
            module,
        });
        match info.methods.iter_mut().find(|(n, _)| *n == m.name) {
            Some(entry) => entry.1 = f,
            None => info.methods.push((m.name.clone(), f)),
        }
        if m.name == "init" {
            info.init = Some((f, m.params.len() as u16));
        }
    }
    // The chain of default-computing functions, the parent's first.
    let mut chain = parent.map(|p| globals.chains[p as usize].clone()).unwrap_or_default();
    if !own_defaults.is_empty() {
        let f = globals.reserve();
        chain.push(f);
        let body = own_defaults.into_iter().map(|(field, bit, e)| computed_default(&field, bit, e)).collect();
        globals.pending.push(PendingClosure {
            index: f,
            name: format!("{}.new", c.name),
            start: c.span.start,
            params: DEFAULTS_PARAMS.map(str::to_owned).to_vec(),
            body,
            upvalues: vec![],
            class: Some(index),
            method: None,
            init: false,
            module,
        });
    }
    let name = format!("{}.new", c.name);
    // Without computed defaults there is no constructor: `new` calls
    // `init`, if any, itself.
    if !chain.is_empty() {
        info.fill = Some(globals.add_proto(constructor(&name, &chain, None)));
        info.ctor = Some(globals.add_proto(constructor(&name, &chain, info.init)));
    }
    globals.chains[index as usize] = chain;
    Ok(info)
}

/// `if <named> & (1 << bit) == 0 { self.field = e }`: a computed default,
/// unless `new` named the field.
pub(super) fn computed_default(field: &str, bit: usize, e: Expr) -> Stmt {
    let span = e.span;
    let at = |kind| Expr { kind, span };
    let named = at(ExprKind::Var(DEFAULTS_PARAMS[1].to_owned()));
    let mask = at(ExprKind::Num((1u64 << bit) as f64));
    let test = at(ExprKind::Binary(BinOp::BitAnd, Box::new(named), Box::new(mask)));
    let test = at(ExprKind::Binary(BinOp::Eq, Box::new(test), Box::new(at(ExprKind::Num(0.0)))));
    let target = at(ExprKind::Method(Box::new(at(ExprKind::SelfRef)), field.to_owned(), None));
    let set = Stmt { kind: StmtKind::Assign(target, AssignOp::Set, e), span };
    Stmt { kind: StmtKind::If(vec![(test, vec![set])], None), span }
}

/// A constructor: calls each function of `chain` on (self, named-fields
/// mask), then `init` on self and its arguments, and returns self. Its
/// parameters: self, the mask, and init's.
pub(super) fn constructor(name: &str, chain: &[u32], init: Option<(u32, u16)>) -> Proto {
    let args = init.map_or(0, |(_, n)| n);
    let t = 2 + args;
    let mut code = Vec::new();
    for &f in chain {
        code.extend([Op::Move(t, 0), Op::Move(t + 1, 1), Op::Call(t, f, t, 2)]);
    }
    if let Some((f, n)) = init {
        code.push(Op::Move(t, 0));
        code.extend((0..n).map(|i| Op::Move(t + 1 + i, 2 + i)));
        code.push(Op::Call(t, f, t, n + 1));
    }
    code.push(Op::Return(0));
    let member_cache = code.iter().map(|_| MemberCache::default()).collect();
    Proto {
        name: name.to_owned(),
        params: 2 + args,
        registers: t + args + 2,
        lines: vec![0; code.len()],
        // (Nothing here needs it: every register counts as in use.)
        free: vec![t + args + 2; code.len()],
        code,
        consts: Vec::new(),
        member_cache,
        methods: Box::new([]),
        file: 0,
    }
}

/// A field default's literal value (`None` for nil), or `Err` when it must
/// be computed at `new` (anything but a literal).
pub(super) fn literal_of(e: &Expr) -> Result<Option<Literal>, ()> {
    Ok(Some(match &e.kind {
        ExprKind::Nil => return Ok(None),
        ExprKind::Bool(b) => Literal::Bool(*b),
        ExprKind::Num(n) => Literal::Num(*n),
        ExprKind::Str(s) => Literal::Str(s.as_str().into()),
        ExprKind::Unary(UnOp::Neg, x) => match x.kind {
            ExprKind::Num(n) => Literal::Num(-n),
            _ => return Err(()),
        },
        _ => return Err(()),
    }))
}

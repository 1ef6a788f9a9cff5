//! The parser: tokens to the syntax tree, by recursive descent with one
//! function per precedence level.
//!
//! # Grammar (informally)
//!
//! ```text
//! program   := (import | stmt)*
//! import    := "import" STRING ("as" NAME)? END
//! stmt      := "let" (NAME | "[" names "]" | "{" names "}") ("=" expr)? END
//!            | "our" NAME ("=" expr)? END
//!            | "fn" NAME params? block  |  "class" NAME ("is" NAME)? "{" member* "}"
//!            | "if" expr block ("elsif" expr block)* ("else" block)?
//!            | "while" expr block  |  "ma"? "for" expr "->" NAME block
//!            | "return" expr? END  |  "break" END  |  "next" END  |  "throw" expr END
//!            | "try" block "catch" NAME block  |  ("say" | "print") exprs END
//!            | expr (ASSIGN expr)? END
//! ASSIGN    := "=" | "+=" | "-=" | "*=" | "/=" | "%=" | "~=" | "//=" | "**="
//!            | "&=" | "|=" | "^=" | "<<=" | ">>="
//! member    := "has" NAME ("=" expr)? END  |  "fn" NAME params? block
//! expr      := or;  or := and ("||" and)*;  and := eq ("&&" eq)*
//! eq        := cmp (("==" | "!=") cmp)*
//! cmp       := range (("<" | "<=" | ">" | ">=" | "is") range)*
//! range     := bor (".." bor)?;  bor := bxor ("|" bxor)*;  bxor := band ("^" band)*
//! band      := shift ("&" shift)*;  shift := add (("<<" | ">>") add)*
//! add       := mul (("+" | "-" | "~") mul)*;  mul := unary (("*" | "/" | "//" | "%") unary)*
//! unary     := ("-" | "!" | "~" | "^" | "ma") unary | power
//! power     := postfix ("**" unary)?
//! postfix   := primary ("(" args ")" | "[" expr "]" | "." NAME ("(" args ")")?)*
//! primary   := NUMBER | STRING | NAME | "nil" | "true" | "false" | "self"
//!            | "super" ("." NAME)? ("(" args ")")?
//!            | "(" expr ")" | "[" exprs "]" | "{" map-or-closure "}"
//! ```
//!
//! END is `;` or a line break: a statement ends at the end of its line
//! when it is complete there, as in Go, Ruby or Python. Inside `( )`,
//! `[ ]` and map literals line breaks are only spaces; elsewhere an operator,
//! `(` or `[` that begins a line begins a new statement (so `f\n(x)` is two
//! statements), except `.`, which continues a chain of calls. The `;` may
//! also be left out before `}` and at the end of the input.
//!
//! Nesting deeper than [`MAX_DEPTH`] is an error, not a stack overflow, and
//! each operator of a chain (`1 + 1 + … + 1`) counts as one level, since
//! the tree it builds is that deep: no input can crash the parser or the
//! passes that walk its tree.

use crate::ast::*;
use crate::error::{Span, SyntaxError};
use crate::lexer::{Kw, Tok, Token, lex};

/// The deepest nesting of expressions and blocks accepted.
pub const MAX_DEPTH: usize = 200;

/// Parses a whole program.
pub fn parse(src: &str) -> Result<Block, SyntaxError> {
    parse_at(src, 0)
}

/// Parses a file whose text starts at offset `base` of the program's
/// sources (see [`crate::module`]): every span is `base` past its place in
/// `src`.
pub fn parse_at(src: &str, base: usize) -> Result<Block, SyntaxError> {
    let shift = |span: Span| Span::new(span.start + base, span.end + base);
    let mut tokens = lex(src).map_err(|e| SyntaxError { span: shift(e.span), ..e })?;
    for t in &mut tokens {
        t.span = shift(t.span);
    }
    let mut p = Parser { tokens, pos: 0, depth: 0, group: 0 };
    let mut program = Vec::new();
    while !p.at_eof() {
        program.push(p.stmt()?);
    }
    Ok(program)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    /// Open `( )`, `[ ]` and map literals around the current token, within
    /// the innermost block: line breaks end nothing inside them.
    group: usize,
}

type PResult<T> = Result<T, SyntaxError>;

impl Parser {
    // ----- token helpers ---------------------------------------------------

    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)].tok
    }

    fn span(&self) -> Span {
        self.tokens[self.pos].span
    }

    fn prev_span(&self) -> Span {
        self.tokens[self.pos.saturating_sub(1)].span
    }

    fn at_eof(&self) -> bool {
        matches!(self.peek(), Tok::Eof)
    }

    fn advance(&mut self) -> Token {
        let t = self.tokens[self.pos].clone();
        if !self.at_eof() {
            self.pos += 1;
        }
        t
    }

    fn is_p(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::P(q) if *q == p)
    }

    fn is_kw(&self, k: Kw) -> bool {
        matches!(self.peek(), Tok::Kw(q) if *q == k)
    }

    fn eat_p(&mut self, p: &str) -> bool {
        let hit = self.is_p(p);
        if hit {
            self.advance();
        }
        hit
    }

    fn eat_kw(&mut self, k: Kw) -> bool {
        let hit = self.is_kw(k);
        if hit {
            self.advance();
        }
        hit
    }

    fn expect_p(&mut self, p: &str, what: &str) -> PResult<Span> {
        if self.is_p(p) {
            return Ok(self.advance().span);
        }
        Err(self.unexpected(&format!("expected `{p}` {what}")))
    }

    fn name(&mut self, what: &str) -> PResult<String> {
        match self.peek().clone() {
            Tok::Ident(n) => {
                self.advance();
                Ok(n)
            }
            _ => Err(self.unexpected(&format!("expected {what}"))),
        }
    }

    /// The name after `.`: any name, keywords included (`m.has(k)`).
    fn member_name(&mut self) -> PResult<String> {
        self.name_or_keyword("a method or field name after `.`")
    }

    /// A name where keywords are names too (members: `has next`, `m.has(k)`).
    fn name_or_keyword(&mut self, what: &str) -> PResult<String> {
        if let Tok::Kw(k) = *self.peek() {
            self.advance();
            return Ok(k.as_str().to_owned());
        }
        self.name(what)
    }

    fn unexpected(&self, expected: &str) -> SyntaxError {
        SyntaxError::new(format!("{expected}, found {}", self.peek()), self.span())
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        self.deeper()?;
        let r = f(self);
        self.depth -= 1;
        r
    }

    /// One more level of nesting, or the error past [`MAX_DEPTH`].
    fn deeper(&mut self) -> PResult<()> {
        if self.depth >= MAX_DEPTH {
            return Err(SyntaxError::new(format!("nesting deeper than {MAX_DEPTH} levels"), self.span())
                .with_label("each operator of a chain counts as a level: split long expressions"));
        }
        self.depth += 1;
        Ok(())
    }

    /// Runs `f` inside `( )`, `[ ]` or a map literal (`open`: one more
    /// group) or inside a block (`open`: false), where line breaks end
    /// statements again.
    fn grouped<T>(&mut self, open: bool, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        let outer = self.group;
        self.group = if open { outer + 1 } else { 0 };
        let r = f(self);
        self.group = outer;
        r
    }

    /// Whether the current token begins a new line outside any group (so
    /// an operator there begins the next statement instead of continuing).
    fn at_line_start(&self) -> bool {
        self.group == 0 && self.tokens[self.pos].line_start
    }

    /// Whether the current token can end a statement before it: `;`
    /// (eaten), `}`, the end, or a line break.
    fn statement_ends(&mut self) -> bool {
        self.eat_p(";") || self.is_p("}") || self.at_eof() || self.tokens[self.pos].line_start
    }

    /// The end of a simple statement: `;` or a line break; optional before
    /// `}` and at the end.
    fn end_stmt(&mut self) -> PResult<()> {
        if self.statement_ends() {
            return Ok(());
        }
        Err(self.unexpected("expected a line break or `;` after the statement"))
    }

    // ----- statements ------------------------------------------------------

    fn block(&mut self) -> PResult<Block> {
        self.expect_p("{", "to open a block")?;
        self.block_rest()
    }

    fn stmt(&mut self) -> PResult<Stmt> {
        let start = self.span();
        let kind = self.stmt_kind()?;
        Ok(Stmt { kind, span: start.to(self.prev_span()) })
    }

    fn stmt_kind(&mut self) -> PResult<StmtKind> {
        let Tok::Kw(kw) = *self.peek() else { return self.expr_stmt() };
        match kw {
            Kw::Let if matches!(self.peek_at(1), Tok::P("[" | "{")) => self.let_pattern(),
            Kw::Import => self.import(),
            Kw::Let | Kw::Our => {
                self.advance();
                let name = self.name("a variable name")?;
                let init = if self.eat_p("=") { Some(self.expr()?) } else { None };
                self.end_stmt()?;
                Ok(if kw == Kw::Let { StmtKind::Let(name, init) } else { StmtKind::Our(name, init) })
            }
            Kw::Fn => Ok(StmtKind::Fn(self.fn_decl(false)?)),
            Kw::Class => self.class(),
            Kw::If => self.if_stmt(),
            Kw::While => {
                self.advance();
                let cond = self.expr()?;
                Ok(StmtKind::While(cond, self.block()?))
            }
            Kw::For => self.for_stmt(false),
            Kw::Ma if matches!(self.peek_at(1), Tok::Kw(Kw::For)) => {
                self.advance();
                self.for_stmt(true)
            }
            Kw::Return => {
                self.advance();
                let bare = self.is_p(";") || self.is_p("}") || self.at_eof() || self.tokens[self.pos].line_start;
                let value = if bare { None } else { Some(self.expr()?) };
                self.end_stmt()?;
                Ok(StmtKind::Return(value))
            }
            Kw::Break | Kw::Next => {
                self.advance();
                self.end_stmt()?;
                Ok(if kw == Kw::Break { StmtKind::Break } else { StmtKind::Next })
            }
            Kw::Throw => {
                self.advance();
                let value = self.expr()?;
                self.end_stmt()?;
                Ok(StmtKind::Throw(value))
            }
            Kw::Try => {
                self.advance();
                let body = self.block()?;
                if !self.eat_kw(Kw::Catch) {
                    return Err(self.unexpected("expected `catch` after the `try` block"));
                }
                let var = self.name("a name for the caught error")?;
                Ok(StmtKind::Try(body, var, self.block()?))
            }
            Kw::Say | Kw::Print => {
                self.advance();
                let mut values = vec![self.expr()?];
                while self.eat_p(",") {
                    values.push(self.expr()?);
                }
                self.end_stmt()?;
                Ok(StmtKind::Say(values, kw == Kw::Say))
            }
            _ => self.expr_stmt(),
        }
    }

    /// `let [a, b] = e` or `let {a, b} = e`.
    fn let_pattern(&mut self) -> PResult<StmtKind> {
        self.advance();
        let open = self.advance().span;
        let (close, map) =
            if matches!(self.tokens[self.pos - 1].tok, Tok::P("[")) { ("]", false) } else { ("}", true) };
        let mut names = Vec::new();
        while !self.eat_p(close) {
            let at = self.span();
            let name = self.name("a variable name in the pattern")?;
            if names.contains(&name) {
                return Err(SyntaxError::new(format!("`{name}` appears twice in the pattern"), at));
            }
            names.push(name);
            if !self.is_p(close) {
                self.expect_p(",", "between the pattern's names")?;
            }
        }
        if names.is_empty() {
            return Err(SyntaxError::new("a pattern needs at least one name", open.to(self.prev_span())));
        }
        self.expect_p("=", "after a destructuring pattern: `let [a, b] = value`")?;
        let init = self.expr()?;
        self.end_stmt()?;
        Ok(StmtKind::LetPattern(if map { Pattern::Map(names) } else { Pattern::Array(names) }, init))
    }

    /// `import "path.maat"` or `import "path.maat" as name`, at the top level.
    fn import(&mut self) -> PResult<StmtKind> {
        let at = self.advance().span;
        if self.depth > 0 {
            return Err(SyntaxError::new("`import` is only allowed at the top level of a file", at));
        }
        let Tok::Str(path) = self.peek().clone() else {
            return Err(self.unexpected("expected the path of the file to import, as a string"));
        };
        let span = self.advance().span;
        let alias = if self.eat_kw(Kw::As) {
            self.name("a name for the imported module")?
        } else {
            let stem = std::path::Path::new(&path).file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let valid = stem.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && stem.chars().all(|c| c.is_alphanumeric() || c == '_');
            if !valid {
                return Err(SyntaxError::new(
                    format!("`{stem}` is not a name: write `import \"{path}\" as NAME`"),
                    span,
                ));
            }
            stem.to_owned()
        };
        self.end_stmt()?;
        Ok(StmtKind::Import(Import { path, alias, span }))
    }

    fn expr_stmt(&mut self) -> PResult<StmtKind> {
        let target = self.expr()?;
        let op = match self.peek() {
            Tok::P("=") => Some(AssignOp::Set),
            Tok::P("+=") => Some(AssignOp::Add),
            Tok::P("-=") => Some(AssignOp::Sub),
            Tok::P("*=") => Some(AssignOp::Mul),
            Tok::P("/=") => Some(AssignOp::Div),
            Tok::P("%=") => Some(AssignOp::With(BinOp::Rem)),
            Tok::P("~=") => Some(AssignOp::With(BinOp::Concat)),
            Tok::P("//=") => Some(AssignOp::With(BinOp::IntDiv)),
            Tok::P("**=") => Some(AssignOp::With(BinOp::Pow)),
            Tok::P("&=") => Some(AssignOp::With(BinOp::BitAnd)),
            Tok::P("|=") => Some(AssignOp::With(BinOp::BitOr)),
            Tok::P("^=") => Some(AssignOp::With(BinOp::BitXor)),
            Tok::P("<<=") => Some(AssignOp::With(BinOp::Shl)),
            Tok::P(">>=") => Some(AssignOp::With(BinOp::Shr)),
            _ => None,
        };
        let Some(op) = op else {
            self.end_stmt()?;
            return Ok(StmtKind::Expr(target));
        };
        if !matches!(target.kind, ExprKind::Var(_) | ExprKind::Index(..) | ExprKind::Method(_, _, None)) {
            return Err(SyntaxError::new("cannot assign to this expression", target.span)
                .with_label("only a variable, `a[i]` or `obj.field` can be assigned"));
        }
        self.advance();
        let value = self.expr()?;
        self.end_stmt()?;
        Ok(StmtKind::Assign(target, op, value))
    }

    /// `fn name(params) { body }`; a method's name may be a keyword.
    fn fn_decl(&mut self, method: bool) -> PResult<FnDecl> {
        let start = self.advance().span;
        let name = if method { self.name_or_keyword("a method name")? } else { self.name("a function name")? };
        let params = if self.is_p("(") { self.params()? } else { Vec::new() };
        let body = self.block()?;
        Ok(FnDecl { name, params, body, span: start.to(self.prev_span()) })
    }

    fn params(&mut self) -> PResult<Vec<String>> {
        self.expect_p("(", "to open the parameter list")?;
        let mut params = Vec::new();
        while !self.eat_p(")") {
            let at = self.span();
            let name = self.name("a parameter name")?;
            if params.contains(&name) {
                return Err(SyntaxError::new(format!("parameter `{name}` appears twice"), at));
            }
            params.push(name);
            if !self.is_p(")") {
                self.expect_p(",", "between parameters")?;
            }
        }
        Ok(params)
    }

    fn class(&mut self) -> PResult<StmtKind> {
        let start = self.advance().span;
        let name = self.name("a class name")?;
        let parent = if self.eat_kw(Kw::Is) {
            let at = self.span();
            let mut parent = self.name("the name of the class to inherit from")?;
            if self.eat_p(".") {
                // A class of an imported module: `module.Class`.
                parent = format!("{parent}.{}", self.name("the name of the class to inherit from")?);
            }
            Some((parent, at.to(self.prev_span())))
        } else {
            None
        };
        self.expect_p("{", "to open the class body")?;
        let (mut fields, mut methods) = (Vec::new(), Vec::new());
        while !self.eat_p("}") {
            if self.eat_kw(Kw::Has) {
                let field = self.name_or_keyword("a field name")?;
                let default = if self.eat_p("=") { Some(self.expr()?) } else { None };
                self.end_stmt()?;
                fields.push((field, default));
            } else if self.is_kw(Kw::Fn) {
                methods.push(self.fn_decl(true)?);
            } else {
                return Err(self.unexpected("expected `has`, `fn` or `}` in the class body"));
            }
        }
        let span = start.to(self.prev_span());
        Ok(StmtKind::Class(ClassDecl { name, parent, span, fields, methods }))
    }

    fn if_stmt(&mut self) -> PResult<StmtKind> {
        self.advance();
        let mut arms = vec![(self.expr()?, self.block()?)];
        while self.eat_kw(Kw::Elsif) {
            arms.push((self.expr()?, self.block()?));
        }
        let otherwise = if self.eat_kw(Kw::Else) { Some(self.block()?) } else { None };
        Ok(StmtKind::If(arms, otherwise))
    }

    fn for_stmt(&mut self, parallel: bool) -> PResult<StmtKind> {
        self.advance();
        let iter = self.expr()?;
        self.expect_p("->", "before the loop variable")?;
        let var = self.name("a loop variable name")?;
        Ok(StmtKind::For { iter, var, body: self.block()?, parallel })
    }

    // ----- expressions -----------------------------------------------------

    /// Parses an expression.
    fn expr(&mut self) -> PResult<Expr> {
        self.nested(|p| p.binary(0))
    }

    /// Precedence climbing over the binary operator table. Each operator of
    /// a chain makes the tree one level deeper, and counts as one.
    fn binary(&mut self, level: usize) -> PResult<Expr> {
        const LEVELS: &[&[(Tok, BinOp)]] = &[
            &[(Tok::P("||"), BinOp::Or)],
            &[(Tok::P("&&"), BinOp::And)],
            &[(Tok::P("=="), BinOp::Eq), (Tok::P("!="), BinOp::Ne)],
            &[
                (Tok::P("<"), BinOp::Lt),
                (Tok::P("<="), BinOp::Le),
                (Tok::P(">"), BinOp::Gt),
                (Tok::P(">="), BinOp::Ge),
                (Tok::Kw(Kw::Is), BinOp::Is),
            ],
            &[],
            &[(Tok::P("|"), BinOp::BitOr)],
            &[(Tok::P("^"), BinOp::BitXor)],
            &[(Tok::P("&"), BinOp::BitAnd)],
            &[(Tok::P("<<"), BinOp::Shl), (Tok::P(">>"), BinOp::Shr)],
            &[(Tok::P("+"), BinOp::Add), (Tok::P("-"), BinOp::Sub), (Tok::P("~"), BinOp::Concat)],
            &[
                (Tok::P("*"), BinOp::Mul),
                (Tok::P("/"), BinOp::Div),
                (Tok::P("//"), BinOp::IntDiv),
                (Tok::P("%"), BinOp::Rem),
            ],
        ];
        const RANGE_LEVEL: usize = 4;
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        if level == RANGE_LEVEL {
            if !self.at_line_start() && self.eat_p("..") {
                let right = self.binary(level + 1)?;
                let span = left.span.to(right.span);
                left = Expr { kind: ExprKind::Range(Box::new(left), Box::new(right)), span };
            }
            return Ok(left);
        }
        let depth = self.depth;
        let chain = self.chain(LEVELS[level], level, left);
        self.depth = depth;
        chain
    }

    /// The rest of a chain of `ops` after its first operand, one level
    /// deeper for each operator (the caller restores the depth).
    fn chain(&mut self, ops: &[(Tok, BinOp)], level: usize, mut left: Expr) -> PResult<Expr> {
        while let Some(&(_, op)) = ops.iter().find(|(tok, _)| self.peek() == tok) {
            if self.at_line_start() {
                break;
            }
            self.advance();
            self.deeper()?;
            let right = self.binary(level + 1)?;
            let span = left.span.to(right.span);
            left = Expr { kind: ExprKind::Binary(op, Box::new(left), Box::new(right)), span };
        }
        Ok(left)
    }

    fn unary(&mut self) -> PResult<Expr> {
        let start = self.span();
        let wrap = |p: &mut Self, make: fn(Box<Expr>) -> ExprKind| -> PResult<Expr> {
            p.advance();
            let operand = p.nested(Self::unary)?;
            let span = start.to(operand.span);
            Ok(Expr { kind: make(Box::new(operand)), span })
        };
        match self.peek() {
            Tok::P("-") => wrap(self, |e| ExprKind::Unary(UnOp::Neg, e)),
            Tok::P("!") => wrap(self, |e| ExprKind::Unary(UnOp::Not, e)),
            Tok::P("~") => wrap(self, |e| ExprKind::Unary(UnOp::BitNot, e)),
            Tok::P("^") => wrap(self, ExprKind::UpTo),
            Tok::Kw(Kw::Ma) => {
                let e = wrap(self, ExprKind::Ma)?;
                match &e.kind {
                    ExprKind::Ma(call) if matches!(call.kind, ExprKind::Call(..) | ExprKind::Method(..)) => Ok(e),
                    _ => Err(SyntaxError::new("`ma` needs a call to run in the new maatine", e.span)
                        .with_label("write `ma f(args)`")),
                }
            }
            _ => self.power(),
        }
    }

    /// `base ** exponent`: right-associative, and tighter than a unary
    /// operator on its left (`-2 ** 2` is -4, as in Python).
    fn power(&mut self) -> PResult<Expr> {
        let base = self.postfix()?;
        if self.at_line_start() || !self.eat_p("**") {
            return Ok(base);
        }
        let exponent = self.nested(Self::unary)?;
        let span = base.span.to(exponent.span);
        Ok(Expr { kind: ExprKind::Binary(BinOp::Pow, Box::new(base), Box::new(exponent)), span })
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let mut e = self.primary()?;
        loop {
            if self.is_p("(") && !self.at_line_start() {
                let args = self.args()?;
                let span = e.span.to(self.prev_span());
                e = Expr { kind: ExprKind::Call(Box::new(e), args), span };
            } else if self.is_p("[") && !self.at_line_start() {
                self.advance();
                let index = self.grouped(true, Self::expr)?;
                self.expect_p("]", "to close the index")?;
                let span = e.span.to(self.prev_span());
                e = Expr { kind: ExprKind::Index(Box::new(e), Box::new(index)), span };
            } else if self.eat_p(".") {
                let name = self.member_name()?;
                let args = if self.is_p("(") { Some(self.args()?) } else { None };
                let span = e.span.to(self.prev_span());
                e = Expr { kind: ExprKind::Method(Box::new(e), name, args), span };
            } else {
                return Ok(e);
            }
        }
    }

    fn args(&mut self) -> PResult<Vec<Arg>> {
        self.expect_p("(", "to open the arguments")?;
        self.grouped(true, Self::args_rest)
    }

    fn args_rest(&mut self) -> PResult<Vec<Arg>> {
        let mut args = Vec::new();
        while !self.eat_p(")") {
            let name = match (self.peek().clone(), self.peek_at(1)) {
                (Tok::Ident(n), Tok::P(":")) => {
                    self.advance();
                    self.advance();
                    Some(n)
                }
                _ => None,
            };
            args.push(Arg { name, value: self.expr()? });
            if !self.is_p(")") {
                self.expect_p(",", "between arguments")?;
            }
        }
        Ok(args)
    }

    fn primary(&mut self) -> PResult<Expr> {
        let start = self.span();
        let kind = match self.peek().clone() {
            Tok::Num(n) => ExprKind::Num(n),
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Ident(n) => ExprKind::Var(n),
            Tok::Kw(Kw::Nil) => ExprKind::Nil,
            Tok::Kw(Kw::True) => ExprKind::Bool(true),
            Tok::Kw(Kw::False) => ExprKind::Bool(false),
            Tok::Kw(Kw::SelfKw) => ExprKind::SelfRef,
            Tok::Kw(Kw::Super) => {
                self.advance();
                let name = if self.eat_p(".") { Some(self.member_name()?) } else { None };
                let args = if self.is_p("(") { self.args()? } else { Vec::new() };
                if name.is_none() && !matches!(self.tokens[self.pos - 1].tok, Tok::P(")")) {
                    return Err(self.unexpected("expected `.name` or `(` after `super`"));
                }
                ExprKind::Super(name, args)
            }
            Tok::P("(") => {
                self.advance();
                let e = self.grouped(true, Self::expr)?;
                self.expect_p(")", "to close the parenthesis")?;
                return Ok(Expr { kind: e.kind, span: start.to(self.prev_span()) });
            }
            Tok::P("[") => {
                self.advance();
                ExprKind::Array(self.grouped(true, |p| p.list("]"))?)
            }
            Tok::P("{") => {
                self.advance();
                self.brace()?
            }
            _ => return Err(self.unexpected("expected an expression")),
        };
        if matches!(
            kind,
            ExprKind::Num(_)
                | ExprKind::Str(_)
                | ExprKind::Var(_)
                | ExprKind::Nil
                | ExprKind::Bool(_)
                | ExprKind::SelfRef
        ) {
            self.advance();
        }
        Ok(Expr { kind, span: start.to(self.prev_span()) })
    }

    fn list(&mut self, close: &str) -> PResult<Vec<Expr>> {
        let mut items = Vec::new();
        while !self.eat_p(close) {
            items.push(self.expr()?);
            if !self.is_p(close) {
                self.expect_p(",", "between elements")?;
            }
        }
        Ok(items)
    }

    /// After `{` in an expression: a closure (`{ |x| … }`, `{ || … }`) or a
    /// map (`{}`, `{k => v, …}`).
    fn brace(&mut self) -> PResult<ExprKind> {
        if self.eat_p("||") {
            return Ok(ExprKind::Closure(Vec::new(), self.block_rest()?));
        }
        if self.is_p("|") {
            return self.closure();
        }
        self.grouped(true, Self::map_rest)
    }

    /// `|params| body }` of a closure.
    fn closure(&mut self) -> PResult<ExprKind> {
        self.expect_p("|", "to open the parameters")?;
        let mut params = Vec::new();
        while !self.eat_p("|") {
            params.push(self.name("a parameter name")?);
            if !self.is_p("|") {
                self.expect_p(",", "between parameters")?;
            }
        }
        Ok(ExprKind::Closure(params, self.block_rest()?))
    }

    /// The entries of a map literal up to its `}`.
    fn map_rest(&mut self) -> PResult<ExprKind> {
        let mut pairs = Vec::new();
        while !self.eat_p("}") {
            let key = match (self.peek().clone(), self.peek_at(1)) {
                (Tok::Ident(n), Tok::P("=>")) => {
                    let span = self.advance().span;
                    Expr { kind: ExprKind::Str(n), span }
                }
                _ => self.expr()?,
            };
            self.expect_p("=>", "between a map key and its value")?;
            pairs.push((key, self.expr()?));
            if !self.is_p("}") {
                self.expect_p(",", "between map entries")?;
            }
        }
        Ok(ExprKind::Map(pairs))
    }

    /// The statements of a block up to its `}` (the `{` is consumed).
    fn block_rest(&mut self) -> PResult<Block> {
        self.grouped(false, |p| p.block_stmts())
    }

    fn block_stmts(&mut self) -> PResult<Block> {
        self.nested(|p| {
            let mut stmts = Vec::new();
            while !p.eat_p("}") {
                if p.at_eof() {
                    return Err(p.unexpected("expected `}` to close the block"));
                }
                stmts.push(p.stmt()?);
            }
            Ok(stmts)
        })
    }
}

//! The syntax tree the parser produces and the compiler consumes. Every
//! statement and expression keeps its source span for error messages and
//! line information.

use crate::error::Span;

/// A whole program or block: statements in order.
pub type Block = Vec<Stmt>;

/// A statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    /// What it does.
    pub kind: StmtKind,
    /// Where it is.
    pub span: Span,
}

/// The kinds of statement.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `let name = init;` (lexical).
    Let(String, Option<Expr>),
    /// `our name = init;` (package global, shared).
    Our(String, Option<Expr>),
    /// `fn name(params) { body }`.
    Fn(FnDecl),
    /// `class Name { has field = default; fn method … }`.
    Class(ClassDecl),
    /// `if c { } elsif c { } else { }`.
    If(Vec<(Expr, Block)>, Option<Block>),
    /// `while c { }`.
    While(Expr, Block),
    /// `for iterable -> var { }`; `parallel` for `ma for` (each iteration
    /// in its own maatine).
    For {
        /// What is iterated: a range or an array.
        iter: Expr,
        /// The loop variable.
        var: String,
        /// The body.
        body: Block,
        /// `ma for`.
        parallel: bool,
    },
    /// `return e;`.
    Return(Option<Expr>),
    /// `break;`.
    Break,
    /// `next;`.
    Next,
    /// `try { } catch e { }`.
    Try(Block, String, Block),
    /// `throw e;`.
    Throw(Expr),
    /// `say e, …;` (with a newline) or `print e, …;` (without).
    Say(Vec<Expr>, bool),
    /// `target op value;` where op is `=`, `+=`, `-=`, `*=` or `/=`.
    Assign(Expr, AssignOp, Expr),
    /// An expression evaluated for its effect.
    Expr(Expr),
}

/// Assignment operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignOp {
    /// `=`
    Set,
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=`
    Div,
}

/// A function or method.
#[derive(Clone, Debug, PartialEq)]
pub struct FnDecl {
    /// Its name.
    pub name: String,
    /// Parameter names.
    pub params: Vec<String>,
    /// Its body.
    pub body: Block,
    /// Where it is declared.
    pub span: Span,
}

/// A class.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassDecl {
    /// Its name.
    pub name: String,
    /// Fields with optional defaults, in declaration order.
    pub fields: Vec<(String, Option<Expr>)>,
    /// Methods.
    pub methods: Vec<FnDecl>,
}

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// Where it is.
    pub span: Span,
}

/// The kinds of expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// `nil`
    Nil,
    /// `true`, `false`
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
    /// A variable.
    Var(String),
    /// `self`
    SelfRef,
    /// `[a, b]`
    Array(Vec<Expr>),
    /// `{k => v, …}`; a bare name before `=>` is a string key.
    Map(Vec<(Expr, Expr)>),
    /// `{ |params| body }`
    Closure(Vec<String>, Block),
    /// A prefix operator: `-`, `!`.
    Unary(UnOp, Box<Expr>),
    /// A binary operator.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `a..b` (inclusive).
    Range(Box<Expr>, Box<Expr>),
    /// `^n`: `0..n-1`.
    UpTo(Box<Expr>),
    /// `f(args)`
    Call(Box<Expr>, Vec<Arg>),
    /// `recv.name` or `recv.name(args)`: a field read or method call.
    Method(Box<Expr>, String, Option<Vec<Arg>>),
    /// `recv[index]`
    Index(Box<Expr>, Box<Expr>),
    /// `ma call`: starts a maatine running the call.
    Ma(Box<Expr>),
}

/// A call argument, positional or named (`name: value`).
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// The name, for named arguments.
    pub name: Option<String>,
    /// The value.
    pub value: Expr,
}

/// Prefix operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-`
    Neg,
    /// `!`
    Not,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
    /// `~` (string concatenation)
    Concat,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&&` (short-circuit)
    And,
    /// `||` (short-circuit)
    Or,
}

impl BinOp {
    /// `==`, `!=`, `<`, `<=`, `>`, `>=`.
    pub fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge)
    }
}

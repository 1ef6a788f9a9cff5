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
    /// `let [a, b] = init;` or `let {a, b} = init;`: destructuring.
    LetPattern(Pattern, Expr),
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
    /// `target op value;` where op is `=` or a compound assignment.
    Assign(Expr, AssignOp, Expr),
    /// `import "path.maat" as name;` (top level only).
    Import(Import),
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
    /// Any other `op=` (`%=`, `~=`, `//=`, `**=`, `&=`, `|=`, `^=`, `<<=`, `>>=`).
    With(BinOp),
}

impl AssignOp {
    /// The operator combining the old value with the new, for compound
    /// assignments.
    pub fn binary(self) -> Option<BinOp> {
        match self {
            AssignOp::Set => None,
            AssignOp::Add => Some(BinOp::Add),
            AssignOp::Sub => Some(BinOp::Sub),
            AssignOp::Mul => Some(BinOp::Mul),
            AssignOp::Div => Some(BinOp::Div),
            AssignOp::With(op) => Some(op),
        }
    }
}

/// The left side of a destructuring `let`.
#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    /// `[a, b]`: items 0, 1, … of an array.
    Array(Vec<String>),
    /// `{a, b}`: the values of keys `"a"`, `"b"` of a map.
    Map(Vec<String>),
}

/// An `import` statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    /// The path as written (relative to the importing file).
    pub path: String,
    /// The name the module is known by here (by default its file stem).
    pub alias: String,
    /// Where the path is written.
    pub span: Span,
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
    /// The class it inherits from (`class B is A`, or `is module.A` for a
    /// class of an imported module), and where that is written.
    pub parent: Option<(String, Span)>,
    /// Where it is declared.
    pub span: Span,
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
    /// `super.name(args)` inside a method: the parent class's method; with
    /// no name (`super(args)`), the parent's method of the same name.
    Super(Option<String>, Vec<Arg>),
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
    /// `~` (bitwise not of an integer)
    BitNot,
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
    /// `%` (floored: the sign of the divisor, as Lua and Python)
    Rem,
    /// `//` (floored division)
    IntDiv,
    /// `**` (power)
    Pow,
    /// `&` (bitwise and of integers)
    BitAnd,
    /// `|`
    BitOr,
    /// `^` (exclusive or)
    BitXor,
    /// `<<`
    Shl,
    /// `>>` (arithmetic)
    Shr,
    /// `is` (instance of a class or its subclasses)
    Is,
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

//! The front end: every construct of the language parses to the expected
//! tree, operators bind as documented, and every syntax error names the file,
//! line and column, shows the source line with a caret, and says what was
//! expected.

use maat_vm::ast::{AssignOp, BinOp, ExprKind, StmtKind, UnOp};
use maat_vm::parse;

/// A compact rendering of an expression, to compare trees briefly.
fn show(e: &maat_vm::ast::Expr) -> String {
    let list = |items: &[maat_vm::ast::Expr]| items.iter().map(show).collect::<Vec<_>>().join(", ");
    match &e.kind {
        ExprKind::Nil => "nil".into(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Num(n) => n.to_string(),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Var(v) => v.clone(),
        ExprKind::SelfRef => "self".into(),
        ExprKind::Array(items) => format!("[{}]", list(items)),
        ExprKind::Map(pairs) => {
            format!(
                "{{{}}}",
                pairs.iter().map(|(k, v)| format!("{} => {}", show(k), show(v))).collect::<Vec<_>>().join(", ")
            )
        }
        ExprKind::Closure(params, body) => format!("{{|{}| {} stmts}}", params.join(","), body.len()),
        ExprKind::Unary(UnOp::Neg, x) => format!("(-{})", show(x)),
        ExprKind::Unary(UnOp::Not, x) => format!("(!{})", show(x)),
        ExprKind::Unary(UnOp::BitNot, x) => format!("(~{})", show(x)),
        ExprKind::Binary(op, a, b) => format!("({} {op:?} {})", show(a), show(b)),
        ExprKind::Range(a, b) => format!("({}..{})", show(a), show(b)),
        ExprKind::UpTo(n) => format!("^{}", show(n)),
        ExprKind::Call(f, args) => format!("{}({})", show(f), args_text(args)),
        ExprKind::Method(r, name, None) => format!("{}.{name}", show(r)),
        ExprKind::Method(r, name, Some(args)) => format!("{}.{name}({})", show(r), args_text(args)),
        ExprKind::Index(r, i) => format!("{}[{}]", show(r), show(i)),
        ExprKind::Ma(call) => format!("ma {}", show(call)),
        ExprKind::Super(name, args) => format!("super.{}({})", name.as_deref().unwrap_or(""), args_text(args)),
    }
}

fn args_text(args: &[maat_vm::ast::Arg]) -> String {
    args.iter()
        .map(|a| match &a.name {
            Some(n) => format!("{n}: {}", show(&a.value)),
            None => show(&a.value),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn expr(src: &str) -> String {
    let program = parse(&format!("{src};")).unwrap_or_else(|e| panic!("{}", e.render("t", src)));
    match &program[0].kind {
        StmtKind::Expr(e) => show(e),
        other => panic!("not an expression: {other:?}"),
    }
}

#[test]
fn operators_bind_as_documented() {
    assert_eq!(expr("1 + 2 * 3"), "(1 Add (2 Mul 3))");
    assert_eq!(expr("1 - 2 - 3"), "((1 Sub 2) Sub 3)");
    assert_eq!(expr("a || b && c"), "(a Or (b And c))");
    assert_eq!(expr("a == b < c"), "(a Eq (b Lt c))");
    assert_eq!(expr("1 + 2 .. 3 * 4"), "((1 Add 2)..(3 Mul 4))");
    assert_eq!(expr("-a.b(1)[2]"), "(-a.b(1)[2])");
    assert_eq!(expr("!x == y"), "((!x) Eq y)");
    assert_eq!(expr("^n + 1"), "(^n Add 1)");
    assert_eq!(expr("\"a\" ~ 1 % 2"), "(\"a\" Concat (1 Rem 2))");
    assert_eq!(expr("(1 + 2) * 3"), "((1 Add 2) Mul 3)");
}

#[test]
fn literals_calls_and_methods() {
    assert_eq!(expr("[1, \"two\", nil, true, [3]]"), "[1, \"two\", nil, true, [3]]");
    assert_eq!(expr("{a => 1, \"b\" => 2, k ~ \"x\" => 3}"), "{\"a\" => 1, \"b\" => 2, (k Concat \"x\") => 3}");
    assert_eq!(expr("{}"), "{}");
    assert_eq!(expr("{ |x, y| x + y }"), "{|x,y| 1 stmts}");
    assert_eq!(expr("{ || say 1; say 2 }"), "{|| 2 stmts}");
    assert_eq!(expr("Point.new(x: 1, y: 2)"), "Point.new(x: 1, y: 2)");
    assert_eq!(expr("h.join"), "h.join");
    assert_eq!(expr("ma work(1, 2)"), "ma work(1, 2)");
    assert_eq!(expr("1.5e3 + 2"), "(1500 Add 2)");
    assert_eq!(expr("\"tab\\there\\n\""), "\"tab\\there\\n\"");
}

#[test]
fn every_statement_parses() {
    let src = r#"
        # a comment
        our counter = 0;
        let a;
        fn add(x, y) { return x + y; }
        class Point {
            has x;
            has y = 0;
            fn len { (self.x * self.x + self.y * self.y).sqrt }
        }
        if a { say 1; } elsif b { say 2 } else { print "no" }
        while counter < 10 { counter += 1; next; }
        for ^10 -> i { if i == 3 { break; } }
        for [1, 2] -> v { counter -= v }
        ma for 1..4 -> i { counter *= 2; counter /= 2 }
        try { throw "boom"; } catch e { say e, "!" }
        p.x = 3;
        a[0] = p;
        return
    "#;
    let program = parse(src).unwrap_or_else(|e| panic!("{}", e.render("t", src)));
    let kinds: Vec<&str> = program
        .iter()
        .map(|s| match &s.kind {
            StmtKind::Let(..) | StmtKind::LetPattern(..) => "let",
            StmtKind::Import(_) => "import",
            StmtKind::Our(..) => "our",
            StmtKind::Fn(_) => "fn",
            StmtKind::Class(c) => {
                assert_eq!(c.fields.len(), 2);
                assert_eq!(c.methods[0].name, "len");
                "class"
            }
            StmtKind::If(arms, other) => {
                assert_eq!((arms.len(), other.is_some()), (2, true));
                "if"
            }
            StmtKind::While(..) => "while",
            StmtKind::For { parallel, .. } => {
                if *parallel {
                    "ma for"
                } else {
                    "for"
                }
            }
            StmtKind::Return(_) => "return",
            StmtKind::Break | StmtKind::Next => "jump",
            StmtKind::Try(..) => "try",
            StmtKind::Throw(_) => "throw",
            StmtKind::Say(..) => "say",
            StmtKind::Assign(_, op, _) => {
                assert_eq!(*op, AssignOp::Set);
                "assign"
            }
            StmtKind::Expr(_) => "expr",
        })
        .collect();
    assert_eq!(
        kinds,
        ["our", "let", "fn", "class", "if", "while", "for", "for", "ma for", "try", "assign", "assign", "return"]
    );
}

#[test]
fn compound_assignments_keep_their_operator() {
    let program = parse("x += 1; x -= 2; x *= 3; x /= 4; x = x + 1;").unwrap();
    let ops: Vec<AssignOp> = program
        .iter()
        .map(|s| match &s.kind {
            StmtKind::Assign(_, op, _) => *op,
            k => panic!("{k:?}"),
        })
        .collect();
    assert_eq!(ops, [AssignOp::Add, AssignOp::Sub, AssignOp::Mul, AssignOp::Div, AssignOp::Set]);
    assert!(
        matches!(&program[4].kind, StmtKind::Assign(_, _, v) if matches!(v.kind, ExprKind::Binary(BinOp::Add, ..)))
    );
}

/// Each bad program, the message it must give, and where (line:col).
const ERRORS: &[(&str, &str, &str)] = &[
    ("let = 1;", "expected a variable name, found `=`", "1:5"),
    ("say 1 say 2;", "expected a line break or `;` after the statement, found `say`", "1:7"),
    ("let [a, a] = x", "`a` appears twice in the pattern", "1:9"),
    ("let [] = x", "a pattern needs at least one name", "1:5"),
    ("if x { import \"a.maat\" }", "`import` is only allowed at the top level of a file", "1:8"),
    ("import \"my-lib.maat\"", "`my-lib` is not a name: write `import \"my-lib.maat\" as NAME`", "1:8"),
    ("say \"a#{}b\"", "empty `#{}` in a string", "1:7"),
    ("say \"a#{1 + }b\"", "expected an expression, found `)`", "1:13"),
    ("let big = 1e400", "number `1e400` is too large", "1:11"),
    ("let big = 0x20000000000001", "number `0x20000000000001` is too large", "1:11"),
    ("let x = 0xfg", "malformed number `0xfg`", "1:9"),
    ("super;", "expected `.name` or `(` after `super`, found `;`", "1:6"),
    ("let s = \"abc;", "unterminated string", "1:9"),
    ("say \"a\\q\";", "unknown escape in string", "1:7"),
    ("say \"\\u{110000}\"", "bad unicode escape", "1:6"),
    ("say \"\\u{}\"", "bad unicode escape", "1:6"),
    ("say \"\\u41\"", "bad unicode escape", "1:6"),
    ("class A is m. { }", "expected the name of the class to inherit from, found `{`", "1:15"),
    ("let x = 1 @ 2;", "unexpected character `@`", "1:11"),
    ("fn f(a, a) { }", "parameter `a` appears twice", "1:9"),
    ("if x { say 1;", "expected `}` to close the block, found end of input", "1:14"),
    ("1 + 2 = 3;", "cannot assign to this expression", "1:1"),
    ("ma 5;", "`ma` needs a call to run in the new maatine", "1:1"),
    ("try { } say 1;", "expected `catch` after the `try` block, found `say`", "1:9"),
    ("class P { let x; }", "expected `has`, `fn` or `}` in the class body, found `let`", "1:11"),
    ("for x { }", "expected `->` before the loop variable, found `{`", "1:7"),
    ("let m = {a => 1, b};", "expected `=>` between a map key and its value, found `}`", "1:19"),
    ("f(1 2);", "expected `,` between arguments, found number `2`", "1:5"),
    ("say ;", "expected an expression, found `;`", "1:5"),
    ("x.;", "expected a method or field name after `.`, found `;`", "1:3"),
];

#[test]
fn syntax_errors_say_what_and_where() {
    for (src, message, at) in ERRORS {
        let err = parse(src).expect_err(src);
        assert_eq!(err.message, *message, "for {src:?}");
        let text = err.render("bad.maat", src);
        assert!(text.contains(&format!("bad.maat:{at}")), "for {src:?}:\n{text}");
        assert!(text.starts_with(&format!("error: {message}")), "for {src:?}:\n{text}");
        let line_no: usize = at.split(':').next().unwrap().parse().unwrap();
        let line = src.lines().nth(line_no - 1).unwrap();
        assert!(text.contains(line), "the source line is shown for {src:?}:\n{text}");
        assert!(text.contains('^'), "a caret for {src:?}:\n{text}");
    }
}

#[test]
fn new_operators_bind_as_documented() {
    assert_eq!(expr("1 | 2 ^ 3 & 4 << 5 + 6"), "(1 BitOr (2 BitXor (3 BitAnd (4 Shl (5 Add 6)))))");
    assert_eq!(expr("a // b % c * d"), "(((a IntDiv b) Rem c) Mul d)");
    assert_eq!(expr("-2 ** 2"), "(-(2 Pow 2))");
    assert_eq!(expr("2 ** 3 ** 2"), "(2 Pow (3 Pow 2))");
    assert_eq!(expr("2 ** -1"), "(2 Pow (-1))");
    assert_eq!(expr("~x & 1"), "((~x) BitAnd 1)");
    assert_eq!(expr("x is P == true"), "((x Is P) Eq true)");
    assert_eq!(expr("a < b | c"), "(a Lt (b BitOr c))");
    assert_eq!(expr("\"a#{x}b\""), "((\"a\" Concat x) Concat \"b\")");
    assert_eq!(
        expr("\"#{m[\"k\"]} #{\"in #{y}\"}\""),
        "((((\"\" Concat m[\"k\"]) Concat \" \") Concat ((\"in \" Concat y) Concat \"\")) Concat \"\")"
    );
    assert_eq!(expr("0xff + 0b101"), "(255 Add 5)");
    assert_eq!(expr("super.m(1)"), "super.m(1)");
}

#[test]
fn statements_end_at_line_breaks_when_complete() {
    let kinds = |src: &str| -> Vec<String> {
        let program = parse(src).unwrap_or_else(|e| panic!("{}", e.render("t", src)));
        program
            .iter()
            .map(|s| match &s.kind {
                StmtKind::Expr(e) => show(e),
                StmtKind::Let(name, Some(e)) => format!("let {name} = {}", show(e)),
                StmtKind::Return(None) => "return".to_owned(),
                StmtKind::Return(Some(e)) => format!("return {}", show(e)),
                other => format!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(kinds("let a = 1\nlet b = a\n-1"), ["let a = 1", "let b = a", "(-1)"]);
    assert_eq!(kinds("let a = 1 +\n 2"), ["let a = (1 Add 2)"], "a line ending in an operator continues");
    assert_eq!(kinds("f(1,\n 2)\n[3,\n 4]"), ["f(1, 2)", "[3, 4]"], "line breaks inside brackets are spaces");
    assert_eq!(kinds("f\n(x)"), ["f", "x"], "`(` at a line start begins a statement");
    assert_eq!(kinds("xs\n  .map(g)\n  .len"), ["xs.map(g).len"], "a leading `.` continues a chain");
    assert_eq!(kinds("let m = {\n a => 1,\n b => 2\n}"), ["let m = {\"a\" => 1, \"b\" => 2}"]);
    assert_eq!(kinds("fn f() {\n return\n}\n(1 +\n 2)").len(), 2, "a declaration, then a parenthesized expression");
    let program = parse("fn f() {\n  return\n  1\n}").unwrap();
    let StmtKind::Fn(f) = &program[0].kind else { panic!("a function") };
    assert_eq!(f.body.len(), 2, "a bare `return` ends at its line");
    assert_eq!(kinds("let a = 1; let b = 2"), ["let a = 1", "let b = 2"], "`;` still separates");
}

#[test]
fn long_operator_chains_are_an_error_not_a_crash() {
    for op in [" + ", " ~ ", " && ", " | ", " ** "] {
        let src = format!("say 1{}", format!("{op}1").repeat(20_000));
        let err = parse(&src).expect_err(op);
        assert!(err.message.contains("nesting deeper than"), "{op}: {}", err.message);
    }
    let ok = format!("say 1{}", " + 1".repeat(150));
    assert!(parse(&ok).is_ok(), "a chain of 150 terms is fine");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for opener in ["(", "[", "-", "{ || ", "if x { "] {
        let src = opener.repeat(100_000);
        let err = parse(&src).expect_err(opener);
        assert!(err.message.contains("nesting deeper than"), "{opener}: {}", err.message);
    }
}

//! Sessions: entries compiled one after the other into one program whose
//! indexes never move, so values made by earlier entries stay valid.

use maat_vm::session::Session;

fn session() -> Session {
    Session::new(maat_gc::Config::default(), 1)
}

/// Runs each entry; what each printed, or its error.
fn run(s: &mut Session, entries: &[&str]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            let mut out = Vec::new();
            match s.eval(e, &mut out) {
                Ok(()) => String::from_utf8(out).unwrap(),
                Err(e) => format!("error: {e}"),
            }
        })
        .collect()
}

#[test]
fn a_closure_kept_in_a_variable_runs_its_own_function_in_later_entries() {
    let mut s = session();
    let got = run(
        &mut s,
        &["our f = { |x| x + 1 };", "fn g() { return 5; }", "f(2)", "our h = { |x| x * 10 };", "f(2)", "h(1)"],
    );
    assert_eq!(got, ["", "", "3\n", "", "3\n", "10\n"]);
}

#[test]
fn a_function_declared_again_replaces_the_old_one_for_every_caller() {
    let mut s = session();
    let got = run(
        &mut s,
        &[
            "fn g() { return 6; }",
            "fn k() { return g(); }",
            "our c = { || g() };",
            "k()",
            "fn g() { return 7; }",
            "k()",
            "c()",
        ],
    );
    assert_eq!(got, ["", "", "", "6\n", "", "7\n", "7\n"]);
}

#[test]
fn a_class_declared_again_is_a_new_class_and_old_instances_keep_theirs() {
    let mut s = session();
    let got = run(
        &mut s,
        &[
            "class P { has x = 1; fn get() { return self.x; } }",
            "our p = P.new();",
            "class P { has x = 2; fn get() { return self.x * 100; } }",
            "p.get()",
            "P.new().get()",
            "p is P",
            "class Q is P { }",
            "Q.new().get()",
        ],
    );
    assert_eq!(got, ["", "", "", "1\n", "200\n", "false\n", "", "200\n"]);
}

#[test]
fn a_failed_entry_declares_nothing_and_the_session_goes_on() {
    let mut s = session();
    let got = run(
        &mut s,
        &["fn f() { return 1; }", "fn f() { return 2; } fn f() { return 3; }", "f()", "let y = nope;", "y"],
    );
    assert_eq!(got[0], "");
    assert!(got[1].contains("function `f` is declared twice"), "{}", got[1]);
    assert_eq!(got[2], "1\n");
    assert!(got[3].contains("unknown variable `nope`"), "{}", got[3]);
    assert!(got[4].contains("unknown variable `y`"), "{}", got[4]);
}

//! No input, however malformed, panics or hangs the front end: random token
//! streams built from the language's own vocabulary (the inputs most likely
//! to reach deep into the parser) and arbitrary text. A syntax error always
//! renders with a location.

use maat_vm::parse;
use proptest::prelude::*;

const VOCABULARY: &[&str] = &[
    "let", "our", "fn", "return", "if", "elsif", "else", "while", "for", "break", "next", "try", "catch", "throw",
    "class", "has", "self", "nil", "true", "false", "say", "print", "ma", "x", "y", "f", "Point", "0", "1.5", "2e3",
    "\"s\"", "\"\\n\"", "->", "=>", "..", "==", "!=", "<=", ">=", "&&", "||", "+=", "-=", "*=", "/=", "(", ")", "[",
    "]", "{", "}", ",", ";", ":", ".", "^", "=", "+", "-", "*", "/", "%", "~", "<", ">", "!", "|", "\n", "#c\n",
];

fn check(src: &str) -> Result<(), TestCaseError> {
    if let Err(e) = parse(src) {
        prop_assert!(e.span.start <= e.span.end && e.span.end <= src.len(), "span {:?} outside the input", e.span);
        let text = e.render("fuzz.maat", src);
        prop_assert!(text.contains("fuzz.maat:"), "no location in\n{}", text);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn token_streams_never_crash_the_parser(tokens in proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..60)) {
        check(&tokens.join(" "))?;
    }

    #[test]
    fn arbitrary_text_never_crashes_the_lexer(src in "\\PC{0,80}") {
        check(&src)?;
    }
}

/// Inputs found by the properties above, kept as regression tests.
#[test]
fn regressions() {
    for src in ["", ";", "}", "{", "ma", "ma for", "x.", "\"", "\"\\", "1e", "1.", "1..", "^", "|", "{|", "{||", "é"] {
        check(src).unwrap();
    }
}

//! Source text through the lexer, parser, resolver, compiler and verifier:
//! any input is a program or a located syntax error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    match maat_vm::parse(&src) {
        Ok(ast) => {
            if let Err(e) = maat_vm::compiler::compile(&ast, "fuzz.maat", &src) {
                assert!(e.render("fuzz.maat", &src).contains("fuzz.maat:"));
            }
        }
        Err(e) => assert!(e.render("fuzz.maat", &src).contains("fuzz.maat:")),
    }
});

//! What the handle types promise cannot compile (see `maat_gc::ptr`'s module
//! doc), proved with trybuild.

#[test]
fn misuse_does_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/compile_fail/*.rs");
}

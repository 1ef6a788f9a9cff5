//! Where the fast loop lies in the binary. Its speed depends on its address
//! modulo 64 on the machines measured (docs/performance.md, "The fast
//! loop's address"), so it is not left to wherever the linker puts it:
//! `run_simple` is placed in a section of its own (`.text.maat_fast_loop`),
//! after padding that starts on a 64-byte boundary, and so starts
//! [`FAST_LOOP_OFFSET`] bytes past one whatever the rest of the program is.
//! Only x86-64 ELF targets, where it was measured, do this.

/// How far past a 64-byte boundary the fast loop starts, in bytes (a
/// multiple of 16). With the loop as it is (array literals built in it),
/// Queens, Json and Towers run 5–8% faster at 16 than at 48, and Mandelbrot
/// and Sieve the same (docs/performance.md); before, Mandelbrot 1 500 ran in
/// 0.19 s at 48 and in 0.30-0.32 s elsewhere. A change to the loop itself
/// can move the best offset: `benches/awfy/layout.sh` builds the four (it
/// sets `MAAT_FAST_LOOP_OFFSET` at build time) and times them.
const FAST_LOOP_OFFSET: usize = match option_env!("MAAT_FAST_LOOP_OFFSET") {
    Some(offset) => parse_offset(offset.as_bytes()),
    None => 16,
};

/// A decimal offset below 64 and a multiple of 16 (checked at build time).
const fn parse_offset(digits: &[u8]) -> usize {
    let mut value = 0;
    let mut i = 0;
    while i < digits.len() {
        assert!(digits[i].is_ascii_digit(), "MAAT_FAST_LOOP_OFFSET is a number");
        value = value * 10 + (digits[i] - b'0') as usize;
        i += 1;
    }
    assert!(value < 64 && value % 16 == 0, "MAAT_FAST_LOOP_OFFSET is 0, 16, 32 or 48");
    value
}

core::arch::global_asm!(
    ".pushsection .text.maat_fast_loop,\"ax\",@progbits",
    ".p2align 6",
    ".skip {offset}, 0xcc",
    ".popsection",
    offset = const FAST_LOOP_OFFSET,
);

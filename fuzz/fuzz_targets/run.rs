//! Whole programs, run: the input's first byte says how it is read (as
//! source text, or as the choices of the generator of well-formed programs,
//! which reaches the interpreter, the collector and the scheduler rather
//! than the syntax errors), and each runs with a small instruction budget,
//! a time limit, a heap limit and no I/O, on two threads. Any outcome but a
//! panic, a hang or a crash is fine.
#![no_main]

use std::time::Duration;

use maat_vm::embed::{Limits, Runtime};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&how, rest)) = data.split_first() else { return };
    let src = if how % 4 == 0 { String::from_utf8_lossy(rest).into_owned() } else { maat_vm::generate::program(rest) };
    let config = maat_gc::Config { max_heap: Some(8 << 20), torture: how % 8 == 1, ..maat_gc::Config::default() };
    let mut rt = Runtime::new(config);
    rt.set_threads(2);
    rt.set_limits(Limits { instructions: Some(2_000_000), time: Some(Duration::from_secs(2)), io: false });
    rt.set_output(std::io::sink());
    let _ = rt.eval(&src);
    // The runtime stays usable after whatever happened.
    assert_eq!(rt.eval("say 1 + 1").map(|_| ()), Ok(()));
});

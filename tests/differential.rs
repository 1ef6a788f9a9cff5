//! Differential runs: random well-formed programs (`maat::vm::generate`)
//! whose output cannot depend on the collector or the thread count must
//! print the same, and fail the same way, under the incremental and the
//! generational collector, in torture mode, and on 1, 2 and 4 OS threads.

use maat::gc::{Config, Mode};

fn run(src: &str, config: Config, threads: usize) -> (String, Result<(), String>) {
    let ast = maat::vm::parse(src).expect("generated programs parse");
    let program = maat::vm::compiler::compile(&ast, "gen.maat", src).expect("generated programs compile");
    let mut vm = maat::vm::Vm::new(program, config);
    vm.set_threads(threads);
    let mut out = Vec::new();
    let result = vm.run(&mut out);
    (String::from_utf8(out).expect("utf-8"), result)
}

/// The bytes of case `seed` (a fixed pseudo-random stream per seed).
fn bytes(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..400)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn generated_programs_print_the_same_in_every_mode_and_on_every_thread_count() {
    let variants = [
        ("gen, 1 thread", Config { mode: Mode::Generational, ..Config::default() }, 1),
        ("torture, 1 thread", Config { torture: true, ..Config::default() }, 1),
        ("inc, 2 threads", Config::default(), 2),
        ("gen, 4 threads", Config { mode: Mode::Generational, ..Config::default() }, 4),
        ("torture gen, 2 threads", Config { mode: Mode::Generational, torture: true, ..Config::default() }, 2),
    ];
    let (mut failed, mut printed) = (0, 0);
    for seed in 0..300 {
        let src = maat::vm::generate::program(&bytes(seed));
        let reference = run(&src, Config::default(), 1);
        printed += reference.0.lines().count();
        failed += usize::from(reference.1.is_err());
        for (name, config, threads) in variants {
            let got = run(&src, config, threads);
            assert_eq!(got, reference, "seed {seed}, {name}, program:\n{src}");
        }
    }
    assert!(failed < 150, "most generated programs run to the end ({failed} of 300 failed)");
    assert!(printed > 1000, "the programs print ({printed} lines)");
}

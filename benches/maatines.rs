//! Spawn and join cost per maatine: a Maat program starts 10,000 maatines
//! (in batches of 100) running a trivial function and joins each; the same
//! program with plain calls instead of `ma` is measured beside it, so the
//! difference divided by 10,000 is what one `ma f(i)` plus its `join` costs
//! (a heap, a handle, a registry entry, two queue operations, the result's
//! transfer).
//!
//! `cargo bench --bench maatines`

use criterion::{BenchmarkId, Criterion};

const MAATINES: usize = 10_000;

fn program(spawn: bool) -> String {
    let (start, finish) = if spawn {
        ("hs.push(ma id(batch * 100 + i))", "for hs -> h { sum += h.join; }")
    } else {
        ("hs.push(id(batch * 100 + i))", "for hs -> v { sum += v; }")
    };
    format!(
        "fn id(i) {{ return i; }}
         let sum = 0;
         for ^{} -> batch {{
             let hs = [];
             for ^100 -> i {{ {start}; }}
             {finish}
         }}
         assert(sum == {});",
        MAATINES / 100,
        MAATINES * (MAATINES - 1) / 2
    )
}

fn run(src: &str, threads: usize) {
    let ast = maat::vm::parse(src).expect("parses");
    let program = maat::vm::compiler::compile(&ast, "bench.maat", src).expect("compiles");
    let mut vm = maat::vm::Vm::new(program, maat::gc::Config::default());
    vm.set_threads(threads);
    vm.run(&mut std::io::sink()).expect("runs");
}

fn spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("10000 maatines");
    group.sample_size(20);
    for threads in [1, 2] {
        for spawn in [false, true] {
            let src = program(spawn);
            let name = if spawn { "ma f(i) + join" } else { "f(i) (baseline)" };
            group.bench_with_input(BenchmarkId::new(name, format!("{threads} thread(s)")), &src, |b, src| {
                b.iter(|| run(src, threads))
            });
        }
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    spawn_join(&mut c);
    c.final_summary();
}

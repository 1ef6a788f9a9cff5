//! The cost of a call from Rust into a trivial function of the embedded
//! language and back, with typed arguments and result: Maat's
//! `Runtime::call` and `Function::call` beside mlua's `Function::call` on
//! Lua 5.4 (vendored), the same function `add(a, b) = a + b`, in one run.
//! A native function called from the embedded language (Rust called from a
//! loop of 1,000 calls) is measured the same way.
//!
//! `cargo bench --bench embed_call`

use criterion::{BenchmarkId, Criterion};
use maat::vm::embed::{Function, Runtime};

fn maat_runtime() -> Runtime {
    let mut rt = Runtime::new(maat::gc::Config::default());
    rt.eval("fn add(a, b) { return a + b; }").expect("compiles");
    rt.register_fn("native_add", |(a, b): (f64, f64)| Ok::<_, String>(a + b));
    rt
}

fn calls_into(c: &mut Criterion) {
    let mut group = c.benchmark_group("call into the language and back");
    let mut rt = maat_runtime();
    let add: Function = rt.function("add").expect("a function");
    let mut i = 0.0;
    group.bench_function(BenchmarkId::new("Maat", "Runtime::call(\"add\")"), |b| {
        b.iter(|| {
            i += 1.0;
            rt.call::<_, f64>("add", (i, 1.0)).expect("runs")
        })
    });
    group.bench_function(BenchmarkId::new("Maat", "Function::call"), |b| {
        b.iter(|| {
            i += 1.0;
            add.call::<f64>(&mut rt, (i, 1.0)).expect("runs")
        })
    });
    let lua = mlua::Lua::new();
    lua.load("function add(a, b) return a + b end").exec().expect("compiles");
    let lua_add: mlua::Function = lua.globals().get("add").expect("a function");
    group.bench_function(BenchmarkId::new("mlua (Lua 5.4)", "Function::call"), |b| {
        b.iter(|| {
            i += 1.0;
            lua_add.call::<f64>((i, 1.0)).expect("runs")
        })
    });
    group.finish();
}

fn natives(c: &mut Criterion) {
    let mut group = c.benchmark_group("1000 calls of a native function");
    let mut rt = maat_runtime();
    let maat_loop = rt.compile("loop", "let s = 0\nfor ^1000 -> i { s = native_add(s, i); }\ns").expect("compiles");
    group.bench_function("Maat", |b| b.iter(|| rt.run::<f64>(&maat_loop).expect("runs")));
    let lua = mlua::Lua::new();
    let native = lua.create_function(|_, (a, b): (f64, f64)| Ok(a + b)).expect("a function");
    lua.globals().set("native_add", native).expect("set");
    let lua_loop =
        lua.load("local s = 0 for i = 0, 999 do s = native_add(s, i) end return s").into_function().expect("compiles");
    group.bench_function("mlua (Lua 5.4)", |b| b.iter(|| lua_loop.call::<f64>(()).expect("runs")));
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    calls_into(&mut c);
    natives(&mut c);
    c.final_summary();
}

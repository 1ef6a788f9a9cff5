//! The embedding API: native functions receive and return host values,
//! their errors are catchable Maat errors, and programs run from strings or
//! files.

use maat_gc::Config;
use maat_vm::embed::{HostValue, Runtime};

fn runtime() -> Runtime {
    let mut rt = Runtime::new(Config::default());
    rt.register("sum", |args| match args {
        [HostValue::Array(items)] => items
            .iter()
            .map(|i| match i {
                HostValue::Num(n) => Ok(*n),
                other => Err(format!("not a number: {other:?}")),
            })
            .sum::<Result<f64, String>>()
            .map(HostValue::Num),
        _ => Err("sum takes one array".into()),
    });
    rt.register("describe", |args| {
        let parts: Vec<HostValue> = args.iter().map(|a| HostValue::Str(format!("{a:?}"))).collect();
        Ok(HostValue::Map(vec![
            (HostValue::Str("n".into()), HostValue::Num(args.len() as f64)),
            (HostValue::Str("parts".into()), HostValue::Array(parts)),
        ]))
    });
    rt
}

#[test]
fn natives_exchange_values_both_ways() {
    let mut rt = runtime();
    assert_eq!(rt.eval("say sum([1, 2, 3.5]);").unwrap(), "6.5\n");
    let out = rt.eval("let d = describe(nil, true, \"s\", {k => [1]}); say d[\"n\"], \" \", d[\"parts\"];").unwrap();
    assert_eq!(out, "4 [Nil, Bool(true), Str(\"s\"), Map([(Str(\"k\"), Array([Num(1.0)]))])]\n");
    let out = rt.eval("say describe({ |x| x }, Random.new(1))[\"parts\"];").unwrap();
    assert!(out.starts_with("[Object(Handle(Closure 0x") && out.contains("Object(Handle(Random 0x"), "{out}");
}

#[test]
fn native_errors_are_catchable_and_maat_functions_take_precedence() {
    let mut rt = runtime();
    let out = rt.eval("try { sum([1, \"x\"]); } catch e { say e; }").unwrap();
    assert_eq!(out, "sum: not a number: Str(\"x\")\n");
    let err = rt.eval("sum(1);").unwrap_err().to_string();
    assert!(err.starts_with("error: sum: sum takes one array\n  in maatine 1"), "{err}");
    assert_eq!(rt.eval("fn sum(a) { return \"mine\"; } say sum([1]);").unwrap(), "mine\n");
}

#[test]
fn programs_run_from_files_with_their_errors_located() {
    let mut rt = runtime();
    rt.register("sum", |_| Ok(HostValue::Num(0.0)));
    assert_eq!(rt.eval("say sum([5]);").unwrap(), "0\n", "registering again replaces");
    let dir = std::env::temp_dir().join(format!("maat-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("prog.maat");
    std::fs::write(&file, "say 1 + 1;\nlet = 3;\n").unwrap();
    let err = rt.run_file(&file).unwrap_err().to_string();
    assert!(err.contains("prog.maat:2:5"), "{err}");
    std::fs::write(&file, "say \"from a file\";").unwrap();
    assert_eq!(rt.run_file(&file).unwrap(), "from a file\n");
    assert!(rt.run_file(&dir.join("missing.maat")).unwrap_err().to_string().starts_with("error: cannot read"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn natives_run_in_maatines_on_several_threads() {
    let mut rt = runtime();
    rt.set_threads(2);
    let out =
        rt.eval("our total = 0; ma for ^8 -> i { total += sum([i, 1]); } say total;").expect("maatines call natives");
    assert_eq!(out, "36\n");
}

#[test]
fn cyclic_or_deep_values_passed_to_natives_are_errors_not_crashes() {
    let mut rt = runtime();
    let out = rt.eval("let a = [1]; a.push(a); try { describe(a); } catch e { say e; }").unwrap();
    assert!(out.contains("nested deeper than 200 levels (or a cyclic one)"), "{out}");
    let out =
        rt.eval("let v = []; for ^100000 -> i { v = [v]; } try { describe(v); } catch e { say \"caught\"; }").unwrap();
    assert_eq!(out, "caught\n");
    assert_eq!(rt.eval("let v = []; for ^100 -> i { v = [v]; } say describe(v)[\"n\"];").unwrap(), "1\n");
}

#[test]
fn a_panicking_native_function_ends_the_run_with_its_panic_on_any_number_of_threads() {
    // The panic unwinds the worker running the maatine that called the
    // function; the run must end (not wait for that maatine forever) and
    // hand the panic to the caller.
    let program = "fn work(i) { if i == 3 { explode(i) } return i }
                   let hs = []
                   for ^8 -> i { hs.push(ma work(i)) }
                   for hs -> h { h.join }";
    for threads in [1, 2, 4] {
        for _ in 0..10 {
            let mut rt = Runtime::new(Config::default());
            rt.set_threads(threads);
            rt.register("explode", |args| panic!("host function failed on {args:?}"));
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.eval(program)));
            let payload = result.expect_err("the panic reaches the caller");
            let message = payload.downcast_ref::<String>().cloned().unwrap_or_default();
            assert_eq!(message, "host function failed on [Num(3.0)]", "{threads} thread(s)");
        }
    }
}

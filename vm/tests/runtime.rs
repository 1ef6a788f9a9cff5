//! The persistent embedding runtime: definitions that stay, calls from
//! Rust with typed values, handles that keep objects alive across runs and
//! collections, compiled chunks, structured errors, and the sandbox.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use maat_gc::Config;
use maat_vm::embed::{Error, Function, Handle, HostValue, Limits, Runtime};

fn torture() -> Config {
    Config { torture: true, ..Config::default() }
}

#[test]
fn definitions_stay_from_one_eval_to_the_next() {
    let mut rt = Runtime::new(Config::default());
    rt.eval("fn double(x) { return x * 2; }\nlet base = 10\nclass P { has x = 1; fn get() { return self.x + base; } }")
        .unwrap();
    assert_eq!(rt.eval("say double(base), \" \", P.new().get();").unwrap(), "20 11\n");
    let p: Handle = rt.value("P.new(x: 5)").unwrap();
    rt.eval("fn double(x) { return x * 3; }").unwrap();
    assert_eq!(rt.call::<_, f64>("double", (2,)).unwrap(), 6.0);
    let f: Function = rt.value("{ |p| p.get() }").unwrap();
    assert_eq!(f.call::<f64>(&mut rt, (&p,)).unwrap(), 15.0);
}

#[test]
fn calls_take_and_give_typed_values() {
    let mut rt = Runtime::new(Config::default());
    rt.eval(
        "fn echo(x) { return x; }
         fn pair(a, b) { return [a, b]; }
         fn count(words) { let m = {}; for words -> w { if m.has(w) { m[w] += 1; } else { m[w] = 1; } } return m; }",
    )
    .unwrap();
    assert_eq!(rt.call::<_, String>("echo", ("hé",)).unwrap(), "hé");
    assert!(rt.call::<_, bool>("echo", (true,)).unwrap());
    assert_eq!(rt.call::<_, Option<i64>>("echo", (HostValue::Nil,)).unwrap(), None);
    assert_eq!(rt.call::<_, Option<i64>>("echo", (-7,)).unwrap(), Some(-7));
    assert_eq!(rt.call::<_, Vec<u8>>("echo", (vec![1u8, 2, 3],)).unwrap(), [1, 2, 3]);
    assert_eq!(rt.call::<_, Vec<String>>("pair", ("a", "b")).unwrap(), ["a", "b"]);
    let counts: HashMap<String, u32> = rt.call("count", (vec!["a", "b", "a"],)).unwrap();
    assert_eq!(counts, HashMap::from([("a".to_owned(), 2), ("b".to_owned(), 1)]));
    let nested: Vec<Vec<f64>> = rt.call("echo", (vec![vec![1.5], vec![]],)).unwrap();
    assert_eq!(nested, [vec![1.5], vec![]]);
}

#[test]
fn failed_conversions_name_the_expected_and_the_actual_type() {
    let mut rt = Runtime::new(Config::default());
    rt.eval("fn echo(x) { return x; }").unwrap();
    let e = rt.call::<_, u8>("echo", (300,)).unwrap_err();
    assert_eq!(e, Error::Conversion { expected: "u8".into(), actual: "Num 300".into() });
    let e = rt.call::<_, i32>("echo", (1.5,)).unwrap_err();
    assert_eq!(e.to_string(), "error: expected i32, got Num 1.5");
    let e = rt.call::<_, Vec<f64>>("echo", ("no",)).unwrap_err();
    assert_eq!(e.to_string(), "error: expected Vec (an Array), got Str \"no\"");
    let e = rt.call::<_, Function>("echo", (1,)).unwrap_err();
    assert_eq!(e.to_string(), "error: expected a function (Closure), got Num 1");
    let e = rt.call::<_, f64>("nope", ()).unwrap_err();
    assert_eq!(e.to_string(), "error: there is no function `nope`");
}

#[test]
fn runtime_errors_carry_the_stack_trace_as_data() {
    let mut rt = Runtime::new(Config::default());
    rt.compile("lib.maat", "fn inner(x) {\n  return x.nope;\n}\nfn outer(x) { return inner(x); }").unwrap();
    let e = rt.call::<_, f64>("outer", (1,)).unwrap_err();
    let err = e.runtime().expect("a runtime error");
    assert!(err.message.contains("nope"), "{}", err.message);
    let frames: Vec<(&str, &str, u32)> =
        err.trace.iter().map(|f| (f.function.as_str(), f.file.as_str(), f.line)).collect();
    assert_eq!(frames, [("inner", "lib.maat", 2), ("outer", "lib.maat", 4)]);
    let Error::Compile(c) = rt.eval("let x = ;").unwrap_err() else { panic!("a compile error") };
    assert_eq!((c.file.as_str(), c.line, c.column), ("<eval>", 1, 9));
    assert!(c.rendered.contains("<eval>:1:9"), "{}", c.rendered);
}

#[test]
fn handles_keep_objects_alive_across_runs_and_collections() {
    let mut rt = Runtime::new(torture());
    rt.eval("class Acc { has items = []; fn add(x) { self.items.push(x); return self; } }").unwrap();
    let acc: Handle = rt.value("Acc.new()").unwrap();
    let add: Function = rt.value("{ |a, x| a.add(x) }").unwrap();
    for i in 0..50 {
        // Garbage between the calls, collected in torture mode.
        rt.eval("let junk = []; for ^200 -> i { junk.push([i]); }").unwrap();
        let back: Handle = add.call(&mut rt, (&acc, i)).unwrap();
        assert_eq!(back, acc, "the same object comes back");
    }
    let items: Vec<u32> = Function::call(&rt.value("{ |a| a.items }").unwrap(), &mut rt, (&acc,)).unwrap();
    assert_eq!(items, (0..50).collect::<Vec<_>>());
    let other = Runtime::new(Config::default());
    let mut other = other;
    other.eval("fn f(x) { return x; }").unwrap();
    let e = other.call::<_, Handle>("f", (&acc,)).unwrap_err();
    assert!(e.to_string().contains("of another runtime"), "{e}");
}

#[test]
fn globals_are_read_and_set_from_rust() {
    let mut rt = Runtime::new(Config::default());
    rt.set_global("limit", 3).unwrap();
    rt.set_global("names", vec!["x", "y"]).unwrap();
    assert_eq!(rt.eval("say limit + names.len;").unwrap(), "5\n");
    rt.eval("our hits = 0; for ^4 -> i { hits += i; }").unwrap();
    assert_eq!(rt.global::<u32>("hits").unwrap(), 6);
    assert!(rt.global::<u32>("missing").unwrap_err().to_string().contains("no global variable `missing`"));
    assert!(rt.set_global("not a name", 1).is_err());
}

#[test]
fn a_chunk_compiles_once_and_runs_many_times() {
    let mut rt = Runtime::new(Config::default());
    rt.eval("our n = 0").unwrap();
    let tick = rt.compile("tick", "n += 1\nn * 10").unwrap();
    let before = rt.functions();
    for i in 1..=100u32 {
        assert_eq!(rt.run::<u32>(&tick).unwrap(), i * 10);
    }
    for i in 0..100 {
        assert_eq!(rt.value::<u32>(&format!("{i} + n")).unwrap(), i + 100);
    }
    assert_eq!(rt.functions(), before + 1, "evaluated expressions reuse one main function");
}

#[test]
fn natives_are_typed() {
    let mut rt = Runtime::new(Config::default());
    rt.register_fn("scale", |(xs, k): (Vec<f64>, f64)| {
        Ok::<_, String>(xs.into_iter().map(|x| x * k).collect::<Vec<_>>())
    });
    rt.register_fn("check", |(n,): (i64,)| if n >= 0 { Ok(n) } else { Err(format!("{n} is negative")) });
    assert_eq!(rt.eval("say scale([1, 2], 3);").unwrap(), "[3, 6]\n");
    assert_eq!(rt.eval("try { check(-1); } catch e { say e; }").unwrap(), "check: -1 is negative\n");
    assert_eq!(rt.eval("try { scale(1); } catch e { say e; }").unwrap(), "scale: expected 2 argument(s), got 1\n");
}

#[test]
fn an_instruction_budget_stops_an_endless_loop_and_the_runtime_goes_on() {
    let mut rt = Runtime::new(Config::default());
    rt.set_limits(Limits { instructions: Some(1_000_000), ..Limits::default() });
    let e = rt.eval("while true {}").unwrap_err();
    assert!(e.runtime().unwrap().message.contains("instruction limit of 1000000 exceeded"), "{e}");
    let e = rt.eval("ma for ^4 -> i { while true {} }").unwrap_err();
    assert!(e.to_string().contains("instruction limit"), "{e}");
    assert_eq!(rt.eval("say 1 + 1;").unwrap(), "2\n", "the next run gets a new budget");
}

#[test]
fn a_time_limit_stops_a_run() {
    let mut rt = Runtime::new(Config::default());
    rt.set_limits(Limits { time: Some(Duration::from_millis(50)), ..Limits::default() });
    let start = Instant::now();
    let e = rt.eval("while true {}").unwrap_err();
    assert!(e.to_string().contains("time limit of 50ms exceeded"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(rt.eval("say 3;").unwrap(), "3\n");
}

#[test]
fn another_thread_interrupts_a_run() {
    let mut rt = Runtime::new(Config::default());
    rt.set_threads(2);
    let stop = rt.interrupt_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        stop.interrupt();
    });
    let e = rt.eval("ma for ^3 -> i { while true {} }").unwrap_err();
    t.join().unwrap();
    assert!(e.to_string().contains("interrupted"), "{e}");
    assert_eq!(rt.eval("say 4;").unwrap(), "4\n");
}

#[test]
fn a_runtime_without_io_refuses_files_and_stderr() {
    let mut rt = Runtime::new(Config::default());
    rt.set_limits(Limits { io: false, ..Limits::default() });
    let out = rt
        .eval("try { read_file(\"/etc/hostname\"); } catch e { say e; }\ntry { warn(1); } catch e { say e; }")
        .unwrap();
    assert_eq!(out, "read_file: this runtime runs without I/O\nwarn: this runtime runs without I/O\n");
}

#[test]
fn the_heap_limit_fails_a_run_and_the_runtime_goes_on() {
    let mut rt = Runtime::new(Config { max_heap: Some(4 << 20), ..Config::default() });
    let e = rt.eval("let xs = []; while true { xs.push(\"x\" * 1000); }").unwrap_err();
    assert!(e.to_string().contains("out of memory"), "{e}");
    rt.eval("xs = nil").unwrap();
    assert_eq!(rt.value::<u32>("[1, 2, 3].len").unwrap(), 3);
}

#[test]
fn the_host_starts_maatines_and_gets_each_result_or_error() {
    let mut rt = Runtime::new(torture());
    rt.set_threads(2);
    rt.eval("our done = 0\nfn job(n) { if n == 3 { throw \"bad job\"; } let t = 0; for ^(n * 100) -> i { t += i; } done += 1; return [n, t]; }").unwrap();
    let job = rt.function("job").unwrap();
    let results = rt.spawn_all::<_, Vec<f64>>(&job, (0..8).map(|n| (n,))).unwrap();
    assert_eq!(results.len(), 8);
    for (n, r) in results.iter().enumerate() {
        match r {
            Ok(pair) => {
                let m = (n * 100) as f64;
                assert_eq!(pair, &vec![n as f64, m * (m - 1.0) / 2.0]);
            }
            Err(e) => {
                assert_eq!(n, 3);
                assert!(e.runtime().unwrap().message.contains("bad job"), "{e}");
            }
        }
    }
    assert_eq!(rt.global::<u32>("done").unwrap(), 7);
}

/// A job that returns at once leaves its result in transit (claimed after
/// the run) while longer jobs go on for many slices, making shared
/// garbage: the shared collections they would start must not free it.
#[test]
fn a_host_jobs_result_survives_while_the_other_jobs_make_shared_garbage() {
    for threads in [1, 2] {
        let mut rt = Runtime::new(torture());
        rt.set_threads(threads);
        rt.eval(
            "our junk = []\n\
             fn job(n) {\n\
                 if n == 0 { return [\"early\", 1, 2, 3]; }\n\
                 for ^20000 -> i { junk.push([i]); if junk.len > 8 { junk.pop(); } }\n\
                 return [\"late\", n];\n\
             }",
        )
        .unwrap();
        let job = rt.function("job").unwrap();
        let results = rt.spawn_all::<_, Vec<maat_vm::embed::HostValue>>(&job, (0..3).map(|n| (n,))).unwrap();
        let first = results[0].as_ref().unwrap();
        assert_eq!(
            format!("{first:?}"),
            format!("{:?}", rt.value::<Vec<maat_vm::embed::HostValue>>("[\"early\", 1, 2, 3]").unwrap()),
            "{threads} thread(s)"
        );
    }
}

#[test]
fn maatines_stream_values_to_a_host_thread_while_they_run() {
    let mut rt = Runtime::new(Config::default());
    rt.set_threads(2);
    let (tx, rx) = rt.host_channel::<f64>();
    rt.set_global("results", tx).unwrap();
    let run = std::thread::spawn(move || {
        rt.eval("ma for ^4 -> w { for ^250 -> i { results.send(w * 1000 + i); } }").map(|_| rt)
    });
    let got: Vec<f64> = rx.iter().take(1000).collect();
    let mut rt = run.join().unwrap().unwrap();
    let mut sorted = got.clone();
    sorted.sort_by(f64::total_cmp);
    let expected: Vec<f64> = (0..4).flat_map(|w| (0..250).map(move |i| (w * 1000 + i) as f64)).collect();
    assert_eq!(sorted, expected);
    let e = rt.eval("results.send(\"not a number\")").unwrap_err();
    assert!(e.to_string().contains("HostChannel.send: expected f64, got Str"), "{e}");
}

#[test]
fn values_left_in_a_channel_are_received_between_runs() {
    let mut rt = Runtime::new(Config::default());
    let c: Handle = rt.value("our c = Chan.new(8)\nma for ^3 -> i { c.send({n => i}); }\nc").unwrap();
    let mut got: Vec<HashMap<String, u8>> = std::iter::from_fn(|| rt.try_recv(&c).unwrap()).collect();
    got.sort_by_key(|m| m["n"]);
    assert_eq!(got, (0..3).map(|i| HashMap::from([("n".to_owned(), i)])).collect::<Vec<_>>());
    let not_a_chan: Handle = rt.value("{ || 1 }").unwrap();
    assert!(rt.try_recv::<f64>(&not_a_chan).is_err());
}

/// A runtime moves to another thread; it is not shared without a lock (a
/// `&Runtime` on two threads does not compile: it is not `Sync`).
#[test]
fn a_runtime_is_send() {
    fn send<T: Send>(_: &T) {}
    send(&Runtime::new(Config::default()));
}

#[test]
fn calls_that_start_maatines_or_wait_are_run_by_the_scheduler() {
    let mut rt = Runtime::new(torture());
    rt.set_threads(2);
    rt.eval(
        "fn par(n) { let hs = []; for ^n -> i { hs.push(ma square(i)); } let t = 0; for hs -> h { t += h.join; } return t; }
         fn square(x) { return x * x; }
         fn stuck() { let c = Chan.new(0); return c.recv; }
         fn orphan() { ma fail(); return 1; }
         fn fail() { throw \"lost\"; }",
    )
    .unwrap();
    for round in 0..3 {
        assert_eq!(rt.call::<_, f64>("square", (round,)).unwrap(), (round * round) as f64);
        assert_eq!(rt.call::<_, f64>("par", (10,)).unwrap(), 285.0, "round {round}");
    }
    let e = rt.call::<_, f64>("stuck", ()).unwrap_err();
    assert!(e.to_string().contains("deadlock"), "{e}");
    let e = rt.call::<_, f64>("orphan", ()).unwrap_err();
    assert!(e.to_string().contains("was never joined"), "{e}");
    assert_eq!(rt.call::<_, f64>("square", (9,)).unwrap(), 81.0, "the runtime goes on");
}

#[test]
fn calls_see_what_runs_between_them_did() {
    let mut rt = Runtime::new(Config::default());
    rt.eval("our n = 1\nfn get() { return n; }").unwrap();
    assert_eq!(rt.call::<_, f64>("get", ()).unwrap(), 1.0);
    rt.eval("n = 2").unwrap();
    assert_eq!(rt.call::<_, f64>("get", ()).unwrap(), 2.0);
    rt.eval("fn get() { return n * 100; }").unwrap();
    assert_eq!(rt.call::<_, f64>("get", ()).unwrap(), 200.0);
    rt.set_limits(Limits { instructions: Some(50_000), ..Limits::default() });
    rt.eval("fn spin() { while true {} }").unwrap();
    for _ in 0..3 {
        let e = rt.call::<_, ()>("spin", ()).unwrap_err();
        assert!(e.to_string().contains("instruction limit"), "{e}");
        assert_eq!(rt.call::<_, f64>("get", ()).unwrap(), 200.0, "each call gets the whole budget");
    }
}

/// A limit that stops a maatine inside a read-modify-write section releases
/// the variable, so a maatine waiting for it is stopped by the limit too
/// (not left waiting: a deadlock).
#[test]
fn a_limit_that_stops_a_section_releases_its_variable() {
    for threads in [1, 2] {
        let mut rt = Runtime::new(Config::default());
        rt.set_threads(threads);
        rt.set_limits(Limits { instructions: Some(200_000), ..Limits::default() });
        let e = rt
            .eval("our x = 0\nfn slow() { let s = 0; for ^1000000 -> i { s += i } return s }\nma for ^3 -> w { x = x + slow() }")
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("instruction limit"), "{threads} threads: {text}");
        assert!(!text.contains("deadlock"), "{threads} threads: {text}");
        rt.set_limits(Limits::default());
        assert_eq!(rt.value::<f64>("x = x + 1\nx").unwrap(), 1.0, "the variable is free afterwards");
    }
}

#[test]
fn a_call_with_the_wrong_number_of_arguments_is_an_error() {
    let mut rt = Runtime::new(Config::default());
    rt.eval("fn add(a, b) { return a + b }").unwrap();
    let e = rt.call::<_, f64>("add", (1, 2, 3, 4, 5, 6)).unwrap_err();
    assert!(e.to_string().contains("add expects 2 argument(s), got 6"), "{e}");
    let e = rt.call::<_, f64>("add", (1,)).unwrap_err();
    assert!(e.to_string().contains("add expects 2 argument(s), got 1"), "{e}");
    let f = rt.function("add").unwrap();
    let jobs = rt.spawn_all::<_, f64>(&f, [(1, 2, 3)]).unwrap();
    assert!(jobs[0].as_ref().unwrap_err().to_string().contains("expects 2 argument(s), got 3"));
    assert_eq!(rt.call::<_, f64>("add", (1, 2)).unwrap(), 3.0);
}

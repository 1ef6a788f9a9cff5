//! Rust types as Maat objects: methods and fields from Maat, the locking
//! rule when maatines share one, lock-free `Sync` types, and the errors.

use std::sync::atomic::{AtomicU64, Ordering};

use maat_gc::Config;
use maat_vm::embed::{Handle, HostValue, Runtime, UserData};

#[derive(Debug, Default)]
struct Counter {
    n: i64,
    log: Vec<String>,
}
impl UserData for Counter {}

struct Stats {
    hits: AtomicU64,
}
impl UserData for Stats {}

fn runtime(config: Config) -> Runtime {
    let mut rt = Runtime::new(config);
    rt.register_type::<Counter>("Counter", |t| {
        t.method("add", |c, (k,): (i64,)| {
            c.n += k;
            Ok::<_, String>(c.n)
        });
        t.method("note", |c, (s,): (String,)| {
            c.log.push(s);
            Ok::<_, String>(())
        });
        t.method("fail", |_, ()| Err::<(), _>("no luck"));
        t.field_mut("n", |c| c.n, |c, n: i64| c.n = n);
        t.field("log", |c| c.log.clone());
    });
    rt.register_fn("counter", |(n,): (i64,)| Ok::<_, String>(Counter { n, log: vec![] }));
    rt
}

#[test]
fn maat_calls_methods_and_reads_and_sets_fields() {
    let mut rt = runtime(Config::default());
    let out =
        rt.eval("let c = counter(5)\nc.add(2)\nc.n += 1\nc.note(\"x\")\nsay c.n, \" \", c.log, \" \", c").unwrap();
    assert_eq!(out, "8 [x] Counter\n");
    let c: Handle = rt.global("c").unwrap();
    assert_eq!(rt.with_user(&c, |c: &mut Counter| (c.n, c.log.len())).unwrap(), (8, 1));
}

#[test]
fn errors_name_the_type_and_method() {
    let mut rt = runtime(Config::default());
    rt.eval("let c = counter(0)").unwrap();
    let out = rt
        .eval(
            "try { c.nope(); } catch e { say e; }
             try { c.add(\"x\"); } catch e { say e; }
             try { c.fail(); } catch e { say e; }
             try { c.n = \"big\"; } catch e { say e; }
             try { c.log = 1; } catch e { say e; }",
        )
        .unwrap();
    assert_eq!(
        out,
        "unknown method `nope` for Counter\n\
         Counter.add: expected i64, got Str \"x\"\n\
         Counter.fail: no luck\n\
         Counter.n: expected i64, got Str \"big\"\n\
         cannot set field `log` of Counter\n"
    );
    let frozen = rt.eval("c.freeze\ntry { c.add(1); } catch e { say e; }\nsay c.n").unwrap();
    assert!(frozen.starts_with("frozen object"), "{frozen}");
    assert!(frozen.ends_with("0\n"), "{frozen}");
}

#[test]
fn a_value_moves_in_once_and_unregistered_types_are_refused() {
    struct Unknown;
    impl UserData for Unknown {}
    let mut rt = runtime(Config::default());
    rt.eval("fn keep(x) { return x; }").unwrap();
    let e = rt.call::<_, Handle>("keep", (Unknown,)).unwrap_err();
    assert!(e.to_string().contains("is not registered"), "{e}");
    let v = maat_vm::embed::IntoMaat::into_maat(Counter::default());
    let _: Handle = rt.call("keep", vec![v.clone()]).unwrap();
    let e = rt.call::<_, Handle>("keep", vec![v]).unwrap_err();
    assert!(e.to_string().contains("already moved into the runtime"), "{e}");
    let n: HostValue = rt.value("1").unwrap();
    assert_eq!(n, HostValue::Num(1.0));
}

#[test]
fn four_maatines_share_one_user_object_on_two_threads_under_torture() {
    let mut rt = runtime(Config { torture: true, ..Config::default() });
    rt.set_threads(2);
    rt.set_global("shared", Counter::default()).unwrap();
    rt.eval(
        "ma for ^4 -> w {
             for ^2000 -> i { shared.add(1); let junk = [i, [w]]; }
             shared.note(\"done\")
         }",
    )
    .unwrap();
    let c: Handle = rt.global("shared").unwrap();
    let (n, notes) = rt.with_user(&c, |c: &mut Counter| (c.n, c.log.len())).unwrap();
    assert_eq!((n, notes), (8000, 4), "no update lost under the object's lock");
}

#[test]
fn a_sync_type_runs_its_methods_without_locks_on_many_threads() {
    let mut rt = Runtime::new(Config::default());
    rt.set_threads(2);
    rt.register_sync_type::<Stats>("Stats", |t| {
        t.method("hit", |s, ()| Ok::<_, String>(s.hits.fetch_add(1, Ordering::Relaxed) + 1));
        t.field("hits", |s| s.hits.load(Ordering::Relaxed));
    });
    rt.set_global("stats", Stats { hits: AtomicU64::new(0) }).unwrap();
    let out = rt.eval("ma for ^4 -> w { for ^1000 -> i { stats.hit(); } }\nsay stats.hits").unwrap();
    assert_eq!(out, "4000\n");
}

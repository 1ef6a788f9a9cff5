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

struct Node;
impl UserData for Node {}

fn nodes(config: Config) -> Runtime {
    let mut rt = Runtime::new(config);
    rt.register_type::<Node>("Node", |t| {
        t.value_field("data").value_field("next");
    });
    rt.register_fn("node", |()| Ok::<_, String>(Node));
    rt
}

#[test]
fn value_fields_keep_maat_values_alive_through_collections() {
    let mut rt = nodes(Config { torture: true, ..Config::default() });
    let out = rt
        .eval(
            "let head = node()
             head.data = [1, [2, 3]]
             head.next = node()
             head.next.data = { |x| x * 2 }
             for ^300 -> i { let junk = [i, [i]]; }
             let f = head.next.data
             say head.data, \" \", f(21), \" \", head.next.next",
        )
        .unwrap();
    assert_eq!(out, "[1, [2, 3]] 42 nil\n");
    let head: Handle = rt.global("head").unwrap();
    let data: Vec<HostValue> = rt.user_field(&head, "data").unwrap();
    assert_eq!(data[0], HostValue::Num(1.0));
    let e = rt.eval("head.nope = 1").unwrap_err();
    assert!(e.to_string().contains("cannot set field `nope` of Node"), "{e}");
}

#[test]
fn a_cycle_through_value_fields_is_collected() {
    let mut rt = nodes(Config::default());
    let out = rt
        .eval(
            "fn churn() {
                 for ^20000 -> i {
                     let a = node()
                     let b = node()
                     a.next = b
                     b.next = a
                     a.data = \"x\" * 100
                 }
             }
             churn()
             GC.collect
             let s = GC.stats
             say s[\"objects_freed\"] >= 50000",
        )
        .unwrap();
    assert_eq!(out, "true\n", "the cycles of user objects were freed");
}

#[test]
fn value_fields_of_a_shared_object_share_what_they_hold() {
    let mut rt = nodes(Config::default());
    rt.set_threads(2);
    let out = rt
        .eval(
            "our shared = node()
             shared.data = []
             ma for ^4 -> w { for ^500 -> i { shared.data.push(i); } }
             say shared.data.len",
        )
        .unwrap();
    assert_eq!(out, "2000\n");
}

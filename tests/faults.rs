//! Faults: running out of memory anywhere is a clean, catchable error, and
//! a maatine that fails while it holds something leaves nobody stuck.

use maat::gc::{Config, Mode};

/// Runs `src` (named `file`) on `threads` OS threads; its output and its
/// error.
fn run(file: &str, src: &str, config: Config, threads: usize) -> (String, Result<(), String>) {
    let ast = maat::vm::parse(src).expect("parses");
    let program = maat::vm::compiler::compile(&ast, file, src).expect("compiles");
    let mut vm = maat::vm::Vm::new(program, config);
    vm.set_threads(threads);
    let mut out = Vec::new();
    let result = vm.run(&mut out);
    (String::from_utf8(out).expect("utf-8"), result)
}

/// Every heap limit from 16 KiB to 4 MiB (in steps of 7%) lands the failure
/// at another allocation point of a program that allocates in every way
/// there is: each run either prints what an unlimited run prints or fails
/// with `out of memory` (never another error, a panic or a hang), in both
/// collector modes and on one and two threads.
#[test]
fn out_of_memory_is_an_error_at_every_allocation_point() {
    let file = "tests/faults/allocates_everywhere.maat";
    let src = std::fs::read_to_string(file).unwrap();
    let (expected, ok) = run(file, &src, Config::default(), 1);
    ok.expect("runs without a limit");
    let mut limits = vec![];
    let mut limit = 16.0 * 1024.0;
    while limit < 4.0 * 1024.0 * 1024.0 {
        limits.push(limit as usize);
        limit *= 1.07;
    }
    let (mut failed, mut passed) = (0, 0);
    for (i, &limit) in limits.iter().enumerate() {
        let mode = if i % 2 == 0 { Mode::Incremental } else { Mode::Generational };
        let threads = 1 + i % 3 % 2;
        let config = Config { mode, max_heap: Some(limit), ..Config::default() };
        let (out, result) = run(file, &src, config, threads);
        match result {
            Ok(()) => {
                assert_eq!(out, expected, "limit {limit} ({mode:?}, {threads} threads)");
                passed += 1;
            }
            Err(e) => {
                assert!(e.starts_with("error: out of memory"), "limit {limit} ({mode:?}, {threads} threads): {e}");
                assert!(expected.starts_with(&out), "limit {limit}: the output so far is a prefix: {out}");
                failed += 1;
            }
        }
    }
    assert!(failed > 20 && passed > 5, "the sweep crosses the program's need: {failed} failed, {passed} passed");
}

/// A maatine that fails inside a read-modify-write section (the section
/// runs code: `x = x + f()`) releases the variable: the other maatines'
/// updates all land, whether the failure is caught or ends the maatine.
#[test]
fn a_failure_inside_a_section_releases_the_variable() {
    let src = "our x = 0
        fn boom(i) { if i % 7 == 0 { throw \"boom\" } return 1 }
        fn worker(w) {
            for ^300 -> i {
                try { x = x + boom(i) } catch e { }
                x += 1
            }
            if w == 3 { x = x + boom(0) }
            return w
        }
        let hs = []
        for ^4 -> w { hs.push(ma worker(w)) }
        let failed = 0
        for hs -> h { try { h.join } catch e { failed += 1 } }
        say x, \" \", failed";
    for threads in [1, 2, 4] {
        for torture in [false, true] {
            let (out, result) = run("section.maat", src, Config { torture, ..Config::default() }, threads);
            result.unwrap_or_else(|e| panic!("{threads} threads: {e}"));
            // 4 × (300 increments + 257 successful sections).
            assert_eq!(out, "2228 1\n", "{threads} threads, torture {torture}");
        }
    }
}

/// A receiver whose only sender failed is reported, not left waiting; a
/// sender blocked on a full channel whose receiver failed likewise.
#[test]
fn a_failed_peer_on_a_channel_is_a_deadlock_report_not_a_hang() {
    let receiver = "let c = Chan.new(0)
        fn sender(c) { throw \"gone before sending\" }
        let h = ma sender(c)
        say c.recv";
    let sender = "let c = Chan.new(1)
        fn receiver(c) { let first = c.recv; throw \"gone after one\" }
        let h = ma receiver(c)
        for ^3 -> i { c.send(i) }
        say \"sent\"";
    for (name, src) in [("receiver", receiver), ("sender", sender)] {
        for threads in [1, 2] {
            let (_, result) = run("chan.maat", src, Config::default(), threads);
            let e = result.expect_err(name);
            assert!(e.contains("deadlock: every maatine is waiting"), "{name}, {threads} threads: {e}");
            assert!(e.contains("was never joined"), "{name}, {threads} threads: the failure is reported too: {e}");
        }
    }
}

/// A shared container's lock is held only for one operation: a maatine
/// whose operation fails (a frozen map, a bad key, an index out of range)
/// while others use the container on other threads leaves it usable.
#[test]
fn a_failed_operation_on_a_shared_container_leaves_it_usable() {
    let src = "our m = {}
        our a = [0]
        fn worker(w) {
            for ^500 -> i {
                m[w * 1000 + i] = i
                try { m[0 / 0] = 1 } catch e { }
                try { a[10] = 1 } catch e { }
                a[0] += 1
            }
            return w
        }
        ma for ^4 -> w { worker(w) }
        say m.len, \" \", a[0]";
    for threads in [1, 2, 4] {
        let (out, result) = run("container.maat", src, Config::default(), threads);
        result.unwrap_or_else(|e| panic!("{threads} threads: {e}"));
        assert!(out.starts_with("2000 "), "{threads} threads: {out}");
    }
}

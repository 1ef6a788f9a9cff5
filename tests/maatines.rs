//! Maatines under load: contended globals on 1, 2 and 4 OS threads (and in
//! GC torture mode), shared containers filled by many maatines, channel
//! pipelines, many short-lived maatines, transfer violations and deadlocks
//! on several threads.

use maat::gc::Config;

/// Runs `src` on `threads` OS threads; returns its output and its error.
fn run(src: &str, threads: usize, config: Config) -> (String, Result<(), String>) {
    let (out, result, _) = run_with_stats(src, threads, config);
    (out, result)
}

fn run_ok(src: &str, threads: usize, config: Config) -> String {
    let (out, result) = run(src, threads, config);
    if let Err(e) = result {
        panic!("program failed on {threads} thread(s): {e}\noutput:\n{out}");
    }
    out
}

fn contended(maatines: usize, increments: usize) -> String {
    format!(
        "our counter = 0;
         fn plain(n) {{ for ^n -> i {{ counter = counter + 1; }} }}
         fn compound(n) {{ for ^n -> i {{ counter += 1; }} }}
         let hs = [];
         for ^{maatines} -> k {{ hs.push(ma plain({increments})); }}
         for hs -> h {{ h.join; }}
         say counter;
         ma for ^{maatines} -> k {{ compound({increments}); }}
         say counter;"
    )
}

#[test]
fn sixty_four_maatines_never_lose_an_increment_on_1_2_and_4_threads() {
    let expected = format!("{}\n{}\n", 64 * 100_000, 2 * 64 * 100_000);
    for threads in [1, 2, 4] {
        let out = run_ok(&contended(64, 100_000), threads, Config::default());
        assert_eq!(out, expected, "{threads} thread(s)");
    }
}

#[test]
fn contended_globals_stay_exact_in_gc_torture_mode() {
    let torture = Config { torture: true, ..Config::default() };
    for threads in [1, 2, 4] {
        let out = run_ok(&contended(16, 2_000), threads, torture);
        assert_eq!(out, format!("{}\n{}\n", 16 * 2_000, 2 * 16 * 2_000), "{threads} thread(s)");
    }
}

fn fill_shared(per_maatine: usize) -> String {
    format!(
        "our items = [];
         our index = {{}};
         ma for ^32 -> k {{
             for ^{per_maatine} -> i {{
                 let v = k * 1000 + i;
                 items.push([v]);
                 index[v] = \"m\" ~ k;
             }}
         }}
         say items.len, \" \", index.len;
         let seen = {{}};
         for items -> box {{ seen[box[0]] = true; }}
         let ok = seen.len == {total};
         for ^32 -> k {{ if index[k * 1000 + {last}] != \"m\" ~ k {{ ok = false; }} }}
         say ok;",
        total = 32 * per_maatine,
        last = per_maatine - 1
    )
}

#[test]
fn many_maatines_push_into_one_shared_array_and_map_without_loss() {
    for threads in [2, 4] {
        assert_eq!(run_ok(&fill_shared(500), threads, Config::default()), "16000 16000\ntrue\n", "{threads} threads");
    }
    let torture = Config { torture: true, ..Config::default() };
    assert_eq!(run_ok(&fill_shared(20), 2, torture), "640 640\ntrue\n");
}

/// Eight maatines push into a shared array and store into a shared map,
/// each until a write is refused, while two iterate the array until it is
/// frozen, and the main maatine freezes both once the array holds
/// `freeze_at` items: every write either lands before the freeze or is
/// refused with a catchable error, and the frozen contents never change.
fn freeze_while_writing(freeze_at: usize) -> String {
    format!(
        "our items = [];
         our index = {{}};
         fn writer(k) {{
             let pushed = 0;
             let set = 0;
             let open = true;
             while open {{
                 try {{ items.push(k); pushed += 1; }} catch e {{ open = false; }}
                 try {{ index[k * 1000000 + set] = k; set += 1; }} catch e {{ open = false; }}
             }}
             return [pushed, set];
         }}
         fn reader() {{
             let seen = 0;
             while !items.frozen {{ for items -> x {{ seen += 1; }} }}
             return seen;
         }}
         let hs = [];
         for ^8 -> k {{ hs.push(ma writer(k)); }}
         let rs = [];
         for ^2 -> k {{ rs.push(ma reader()); }}
         while items.len < {freeze_at} {{ }}
         items.freeze;
         index.freeze;
         let frozen_len = items.len;
         let frozen_keys = index.len;
         let pushed = 0;
         let set = 0;
         for hs -> h {{ let r = h.join; pushed += r[0]; set += r[1]; }}
         for rs -> h {{ h.join; }}
         say items.len == pushed, \" \", index.len == set;
         say items.len == frozen_len, \" \", index.len == frozen_keys, \" \", index.frozen;"
    )
}

#[test]
fn freezing_shared_containers_while_maatines_write_them_refuses_every_later_write() {
    let expected = "true true\ntrue true true\n";
    for threads in [1, 2, 4] {
        assert_eq!(run_ok(&freeze_while_writing(4_000), threads, Config::default()), expected, "{threads} thread(s)");
    }
    let torture = Config { torture: true, ..Config::default() };
    assert_eq!(run_ok(&freeze_while_writing(200), 2, torture), expected);
}

#[test]
fn a_channel_pipeline_delivers_every_message_once() {
    let src = "
        fn produce(out, from, n) { for from..from + n - 1 -> i { out.send([i]); } }
        fn square(inp, out) { for inp -> box { out.send(box[0] * box[0]); } out.close; }
        let raw = Chan.new(8);
        let squared = Chan.new(0);
        let producers = [];
        for ^4 -> p { producers.push(ma produce(raw, p * 1000 + 1, 1000)); }
        let worker = ma square(raw, squared);
        ma { || for producers -> h { h.join; } raw.close; }();
        let sum = 0;
        let count = 0;
        for squared -> v { sum += v; count += 1; }
        worker.join;
        say count, \" \", sum;";
    let expected = {
        let sum: u64 = (0..4u64).flat_map(|p| (p * 1000 + 1)..=(p * 1000 + 1000)).map(|i| i * i).sum();
        format!("4000 {sum}\n")
    };
    for threads in [1, 2, 4] {
        assert_eq!(run_ok(src, threads, Config::default()), expected, "{threads} thread(s)");
    }
}

/// Two maatines share one thread: `heavy` builds `live` small arrays that
/// stay live (every marking of its heap traces them), then runs a loop
/// that makes garbage and counts its slices (each time `light` ran in
/// between, `tick` moved). Prints the count.
fn slices_beside_a_spinner(live: usize) -> String {
    format!(
        "
        our tick = 0;
        our done = false;
        fn heavy() {{
            let keep = [];
            for ^{live} -> i {{ keep.push([i]); }}
            let last = -1;
            let slices = 0;
            for ^60000 -> i {{
                let garbage = [[i], [i], [i], [i]];
                if tick != last {{ slices += 1; last = tick; }}
            }}
            done = true;
            return slices;
        }}
        fn light() {{ while !done {{ tick += 1; }} }}
        let h = ma heavy();
        let l = ma light();
        say h.join;
        l.join;"
    )
}

#[test]
fn a_slice_is_charged_for_the_collector_work_of_its_safe_points() {
    // The same loop costs the same units of its own either way; with a
    // large live set its safe points trace much more, and the slices that
    // pay for it end sooner: more of them (1,075 against 575 at 4 units of
    // work to the budget's unit, 400 against 279 at 16, about as many
    // without the charge). Counted, not timed: the same on every run.
    let slices =
        |live| -> usize { run_ok(&slices_beside_a_spinner(live), 1, Config::default()).trim().parse().unwrap() };
    let (idle, busy) = (slices(0), slices(100_000));
    assert!(busy * 4 >= idle * 5, "{busy} slices with a live set against {idle} without");
    assert_eq!(slices(100_000), busy, "one thread interleaves the same way on every run");
}

#[test]
fn a_hundred_thousand_short_lived_maatines_run_and_end() {
    let src = "
        fn id(i) { return i; }
        let sum = 0;
        for ^1000 -> batch {
            let hs = [];
            for ^100 -> i { hs.push(ma id(batch * 100 + i)); }
            for hs -> h { sum += h.join; }
        }
        say sum;";
    for threads in [1, 2] {
        assert_eq!(run_ok(src, threads, Config::default()), format!("{}\n", 99_999u64 * 100_000 / 2));
    }
}

#[test]
fn maatines_started_in_ended_maatines_memory_start_clean() {
    // Every spawn after the first maatine ends reuses an ended one's heap,
    // record and buffers: deep ones (whose buffers are freed, not kept),
    // ones that allocate, closures, and failed ones, mixed, in torture mode
    // too (a collection at every safe point, on the reused heaps).
    let src = "
        fn depth(n) { if n == 0 { return 0; } return 1 + depth(n - 1); }
        fn fill(k) { let xs = []; for ^k -> i { xs.push([i, \"x\" ~ i]); } return xs[k - 1][0]; }
        fn fail(i) { throw \"failed \" ~ i; }
        let total = 0;
        let failures = 0;
        for ^40 -> round {
            let base = round * 10;
            let closure = { || base };
            let hs = [ma depth(300 + round), ma fill(round + 1), ma fail(round), ma closure()];
            for hs -> h { try { total += h.join; } catch e { failures += 1; } }
        }
        say total;
        say failures;";
    // depth: sum of 300 + r; fill: sum of r; closures: sum of 10 r.
    let rounds: u64 = 40;
    let sum_r = rounds * (rounds - 1) / 2;
    let expected = format!("{}\n{rounds}\n", 300 * rounds + sum_r + sum_r + 10 * sum_r);
    for threads in [1, 2, 4] {
        assert_eq!(run_ok(src, threads, Config::default()), expected, "on {threads} thread(s)");
    }
    let torture = Config { torture: true, ..Config::default() };
    assert_eq!(run_ok(src, 2, torture), expected, "in torture mode");
}

#[test]
fn using_a_sent_value_is_an_error_on_every_thread_count() {
    let src = "
        fn keep(c) { let v = c.recv; v.push(1); return nil; }
        let c = Chan.new(1);
        let h = ma keep(c);
        let a = [0];
        c.send(a);
        h.join;
        a.len;";
    for threads in [1, 2, 4] {
        let (_, result) = run(src, threads, Config::default());
        let err = result.expect_err("using a sent array fails");
        assert!(err.contains("use after send: this Array was sent on a channel at line 6"), "{err}");
        assert!(err.contains("share it before sending (`v.share`) or send a copy"), "{err}");
        assert!(err.contains("at main (test.maat:8)"), "{err}");
    }
    // Sharing before sending keeps the value usable by both.
    let shared = "
        fn keep(c) { c.recv.push(1); }
        let c = Chan.new(1);
        let a = [0].share;
        let h = ma keep(c);
        c.send(a);
        h.join;
        say a;";
    assert_eq!(run_ok(shared, 2, Config::default()), "[0, 1]\n");
}

#[test]
fn deadlocks_are_reported_with_who_waits_for_what() {
    let cases = [
        (
            "let c = Chan.new(0); fn listen(c) { return c.recv; } (ma listen(c)).join;",
            vec!["maatine 1 waits to join maatine 2", "maatine 2 waits to receive from a channel (in listen, line 1)"],
        ),
        (
            "let c = Chan.new(0); fn talk(c) { c.send(1); c.send(2); } let h = ma talk(c); c.recv; h.join;",
            vec!["maatine 1 waits to join maatine 2", "maatine 2 waits to send on a channel"],
        ),
        (
            "fn wait_for(c) { return c.recv.join; }
             let ca = Chan.new(1); let cb = Chan.new(1);
             let a = ma wait_for(ca); let b = ma wait_for(cb);
             ca.send(b); cb.send(a); a.join;",
            vec!["maatine 2 waits to join maatine 3", "maatine 3 waits to join maatine 2"],
        ),
        (
            "our x = 0; fn hold(c) { x = x + c.recv; } fn bump() { x += 1; }
             let c = Chan.new(0); let h = ma hold(c); (ma bump()).join;",
            vec!["maatine 2 waits to receive from a channel", "waits for variable `x` (held by maatine 2)"],
        ),
    ];
    for (src, expected) in &cases {
        for threads in [1, 2, 4] {
            let (_, result) = run(src, threads, Config::default());
            let err = result.expect_err("a deadlock ends the program with an error");
            assert!(err.starts_with("error: deadlock: every maatine is waiting"), "{err}");
            for line in expected {
                assert!(err.contains(line), "{threads} thread(s): expected `{line}` in\n{err}");
            }
        }
    }
}

#[test]
fn crossed_variable_sections_are_a_deadlock_error_not_a_hang() {
    // Each maatine holds one variable's section while it waits for the other
    // variable; the lock table finds the cycle and fails one of them.
    let src = "
        our x = 0;
        our y = 0;
        fn meet(mine, theirs) { mine.send(1); return theirs.recv; }
        fn bump_x() { x = x + 1; return 0; }
        fn bump_y() { y = y + 1; return 0; }
        fn xy(a, b) { x = x + meet(a, b) + bump_y(); }
        fn yx(a, b) { y = y + meet(b, a) + bump_x(); }
        let a = Chan.new(1);
        let b = Chan.new(1);
        let hs = [ma xy(a, b), ma yx(a, b)];
        let failed = 0;
        for hs -> h { try { h.join; } catch e { failed += 1; say e.split(\"\\n\")[0]; } }
        say failed, \" \", x + y;";
    for threads in [1, 2, 4] {
        let out = run_ok(src, threads, Config::default());
        assert!(out.contains("failed: deadlock: maatine"), "{threads} thread(s): {out}");
        // One maatine failed and released its section; the other finished.
        assert!(out.ends_with("1 2\n"), "{threads} thread(s): {out}");
    }
}

#[test]
fn misuse_of_maatines_and_channels_is_a_clear_error() {
    let compile_error = |src: &str| {
        let ast = maat::vm::parse(src).expect("parses");
        maat::vm::compiler::compile(&ast, "test.maat", src).expect_err("refused").render("test.maat", src)
    };
    assert!(compile_error("let a = [];\nma a.push(1);").contains("`ma` runs a function call"));
    assert!(compile_error("ma clock();").contains("`ma` runs Maat functions, not built-in ones"));
    let runtime_error = |src: &str| run(src, 2, Config::default()).1.expect_err("fails");
    let closed = runtime_error("let c = Chan.new(1); c.close; c.send(1);");
    assert!(closed.contains("send on a closed channel") && closed.contains("at main (test.maat:1)"), "{closed}");
    let capacity = runtime_error("Chan.new(-1);");
    assert!(capacity.contains("Chan.new needs a capacity: a whole number from 0, got -1"), "{capacity}");
    // A maatine that fails and is never joined still fails the program.
    let (out, result) = run("fn bad() { throw \"lost\"; }\nma bad();\nsay \"main done\";", 2, Config::default());
    assert_eq!(out, "main done\n");
    let orphan = result.expect_err("the orphan's error is reported");
    assert!(orphan.contains("uncaught: lost") && orphan.contains("was never joined"), "{orphan}");
}

#[test]
fn gc_collect_in_one_maatine_collects_while_others_hold_shared_data() {
    let src = "
        our board = [];
        fn fill(k) {
            for ^200 -> i { board.push([k, i]); }
            GC.collect;
            let sum = 0;
            for board -> pair { sum += pair[1]; }
            return sum;
        }
        let hs = [];
        for ^8 -> k { hs.push(ma fill(k)); }
        for hs -> h { assert(h.join >= 19900); }
        board = nil;
        GC.collect;
        let stats = GC.stats;
        say stats[\"collections\"] > 0;";
    for threads in [1, 2, 4] {
        assert_eq!(run_ok(src, threads, Config::default()), "true\n", "{threads} thread(s)");
    }
}

/// Maatines churn a shared board, table and log (replacing, inserting,
/// popping) while shared collections mark concurrently, keeping the entries
/// they replaced only in their own arrays; every entry a maatine kept must
/// still be intact.
fn churn(maatines: usize, rounds: usize) -> String {
    format!(
        "our board = [];
         our table = {{}};
         our log = [];
         for ^64 -> i {{ board.push([i, \"s\" ~ i]); }}
         fn churn(k, n) {{
             let mine = [];
             let bad = 0;
             for ^n -> j {{
                 let slot = (k * 7 + j) % 64;
                 let old = board[slot];
                 mine.push([slot, old]);
                 board[slot] = [slot, \"s\" ~ slot];
                 table[slot] = [slot];
                 if mine.len > 16 {{ mine.remove(0); }}
                 log.insert(0, [slot]);
                 if log.len > 64 {{ log.pop(); }}
             }}
             for mine -> m {{
                 if m[1][0] != m[0] || m[1][1] != \"s\" ~ m[0] {{ bad += 1; }}
             }}
             return bad;
         }}
         let hs = [];
         for ^{maatines} -> k {{ hs.push(ma churn(k, {rounds})); }}
         let bad = 0;
         for hs -> h {{ bad += h.join; }}
         for ^64 -> i {{
             if board[i][0] != i || table[i][0] != i {{ bad += 1; }}
         }}
         say board.len, \" \", table.len, \" \", bad;"
    )
}

#[test]
fn shared_structures_churned_while_shared_collections_mark_stay_intact() {
    for threads in [2, 4] {
        let (out, result, shared) = run_with_stats(&churn(16, 20_000), threads, Config::default());
        assert_eq!((out.as_str(), result), ("64 64 0\n", Ok(())), "{threads} threads");
        assert!(shared >= 2, "{threads} threads: shared collections ran meanwhile ({shared})");
    }
    let torture = Config { torture: true, ..Config::default() };
    for threads in [1, 2, 4] {
        let (out, result, _) = run_with_stats(&churn(8, 200), threads, torture);
        assert_eq!((out.as_str(), result), ("64 64 0\n", Ok(())), "torture, {threads} thread(s)");
    }
}

/// `run`, with the number of shared collections.
fn run_with_stats(src: &str, threads: usize, config: Config) -> (String, Result<(), String>, u64) {
    let ast = maat::vm::parse(src).expect("the test program parses");
    let program = maat::vm::compiler::compile(&ast, "test.maat", src).expect("the test program compiles");
    let mut vm = maat::vm::Vm::new(program, config);
    vm.set_threads(threads);
    let mut out = Vec::new();
    let result = vm.run(&mut out);
    (String::from_utf8(out).expect("utf-8 output"), result, vm.gc_stats().collections.shared)
}

/// A parked maatine holds the only reference to a shared array in its
/// registers (on its list of shared objects since its `GC.collect`) while
/// other maatines make enough shared garbage for several shared
/// collections; the collections' finish contributes for the parked
/// maatine, so the array survives.
#[test]
fn a_parked_maatine_keeps_its_shared_objects_through_shared_collections() {
    let src = "our board = [];
         fn keeper(c) {
             let x = [\"kept\", 42];
             board.push(x);
             board.pop();
             GC.collect;
             c.recv;
             return x[0] ~ x[1];
         }
         fn churn(n) {
             for ^n -> i {
                 board.push([i, \"g\" ~ i]);
                 board.pop();
             }
         }
         let c = Chan.new(0);
         let k = ma keeper(c);
         ma for ^4 -> w { churn(60000); }
         c.send(1);
         say k.join;";
    for threads in [1, 2] {
        let (out, result, shared) = run_with_stats(src, threads, Config::default());
        assert_eq!((out.as_str(), result), ("kept42\n", Ok(())), "{threads} thread(s)");
        assert!(shared >= 2, "{threads} thread(s): shared collections ran while it was parked ({shared})");
    }
}

/// A producer and a consumer on a channel of one slot block at nearly
/// every message and never use up a slice: the shared objects they pass
/// (each message is shared when sent) are still collected, between slices
/// that end by blocking.
#[test]
fn maatines_that_only_block_still_have_their_shared_garbage_collected() {
    let src = "let pipe = Chan.new(1);
         fn producer(n) { for ^n -> i { pipe.send([i, \"item \" ~ i]); } }
         fn consumer(n) { let s = 0; for ^n -> i { s += pipe.recv[0]; } return s; }
         let p = ma producer(150000);
         let c = ma consumer(150000);
         p.join;
         say c.join;";
    for threads in [1, 2] {
        let (out, result, shared) = run_with_stats(src, threads, Config::default());
        assert_eq!((out.as_str(), result), ("11249925000\n", Ok(())), "{threads} thread(s)");
        assert!(shared >= 2, "{threads} thread(s): shared collections ran ({shared})");
    }
}

/// Maatines count the same 50 short keys (interned strings, shared from
/// birth) into one shared map, while distinct throwaway strings make enough
/// garbage for shared collections to free interned strings and lookups to
/// make them again. (That a text is one string per runtime is checked by
/// `vm/tests/string.rs`; this checks that nothing is lost or corrupted
/// meanwhile.)
fn interning(maatines: usize, rounds: usize) -> String {
    format!(
        "our counts = {{}};
         fn count(me, n) {{
             let mine = {{}};
             for ^n -> i {{
                 let k = \"key\" ~ (i % 50);
                 mine[k] = (mine.has(k) && mine[k] + 1) || 1;
                 let waste = \"waste-\" ~ me ~ \"-\" ~ i;
                 if waste.len == 0 {{ say \"never\"; }}
             }}
             for mine.keys -> k {{ counts[k] = (counts.has(k) && counts[k] + mine[k]) || mine[k]; }}
         }}
         ma for ^{maatines} -> m {{ count(m, {rounds}); }}
         say counts.len, \" \", counts[\"key7\"], \" \", counts[\"key\" ~ 49];"
    )
}

#[test]
fn interned_keys_count_exactly_across_maatines_and_shared_collections() {
    let expected =
        |maatines: usize, rounds: usize| format!("50 {} {}\n", maatines * rounds / 50, maatines * rounds / 50);
    for threads in [1, 2, 4] {
        let (out, result, shared) = run_with_stats(&interning(8, 50_000), threads, Config::default());
        assert_eq!((out, result), (expected(8, 50_000), Ok(())), "{threads} thread(s)");
        assert!(shared >= 1, "{threads} thread(s): throwaway strings made shared collections run ({shared})");
    }
    let torture = Config { torture: true, ..Config::default() };
    for threads in [1, 2] {
        let (out, result, _) = run_with_stats(&interning(4, 500), threads, torture);
        assert_eq!((out, result), (expected(4, 500), Ok(())), "torture, {threads} thread(s)");
    }
}

#[test]
fn making_a_short_string_again_allocates_nothing() {
    let src = "let a = []; for ^100000 -> i { a.push(\"k\" ~ (i % 10)); } say a.len;";
    let ast = maat::vm::parse(src).expect("parses");
    let program = maat::vm::compiler::compile(&ast, "test.maat", src).expect("compiles");
    let mut vm = maat::vm::Vm::new(program, Config::default());
    let mut out = Vec::new();
    vm.run(&mut out).expect("runs");
    assert_eq!(String::from_utf8(out).unwrap(), "100000\n");
    let allocated = vm.gc_stats().objects_allocated;
    assert!(allocated < 1_000, "one string per text, not per concatenation ({allocated} objects)");
}

/// Two runtimes in one process share the string table (entries are told
/// apart by space; `vm/tests/string.rs` checks that directly): both make
/// and drop the same texts while running shared collections at every other
/// slice (torture mode), on their own threads, and each counts its keys
/// exactly.
#[test]
fn runtimes_running_at_once_keep_their_interned_strings_apart() {
    let torture = Config { torture: true, ..Config::default() };
    let runs: Vec<_> =
        (0..2).map(|_| std::thread::spawn(move || run_with_stats(&interning(3, 400), 2, torture))).collect();
    for run in runs {
        let (out, result, _) = run.join().expect("the runtime's thread ends");
        assert_eq!((out, result), (format!("50 {} {}\n", 3 * 400 / 50, 3 * 400 / 50), Ok(())));
    }
}

/// Runs `src` on `threads` threads counting contention (`--stats`): its
/// output and the counts.
fn run_counting(src: &str, threads: usize) -> (String, maat::vm::interp::Contention) {
    let ast = maat::vm::parse(src).unwrap();
    let program = maat::vm::compiler::compile(&ast, "test.maat", src).unwrap();
    let mut vm = maat::vm::Vm::new(program, Config::default());
    vm.set_threads(threads);
    vm.count_contention(true);
    let mut out = Vec::new();
    vm.run(&mut out).unwrap();
    (String::from_utf8(out).unwrap(), vm.contention())
}

/// `--stats`' contention counts: every update and section of a variable is
/// counted once, whichever way it ran; a shared object counts each locked
/// operation; nothing is counted unless asked for.
#[test]
fn contention_counts_every_update_section_and_locked_operation() {
    let src = "our counter = 0;
our total = 0;
let items = [];
fn one() { return 1; }
fn work(n) { for ^n -> i { counter += 1; total = total + one(); items.push(i); } }
fn captured() { let n = 0; ma for ^4 -> k { for ^250 -> j { n += 1; } } return n; }
ma for ^4 -> k { work(2500); }
say counter, \" \", total, \" \", items.len, \" \", captured();";
    for threads in [1, 2] {
        let (out, c) = run_counting(src, threads);
        assert_eq!(out, "10000 10000 10000 1000\n");
        let var = |name: &str| c.vars.iter().find(|(n, _)| n == name).map(|(_, v)| *v).unwrap();
        let counter = var("counter");
        // `our counter = 0` is a write (a section); every `+= 1` an update.
        assert_eq!((counter.updates, counter.sections), (10_000, 1), "{counter:?}");
        let total = var("total");
        assert_eq!((total.updates, total.sections), (0, 10_001), "`x = x + f()` is a section: {total:?}");
        assert!(total.waits <= total.contended && total.contended <= total.sections);
        // `let items = []` is a write (a section); `n += 1` an update.
        let captured = var(maat::vm::interp::CAPTURED_AND_MODULE);
        assert_eq!((captured.updates, captured.sections), (1_000, 1), "{captured:?}");
        let arrays: Vec<_> = c.objects.iter().filter(|o| o.kind == "Array").collect();
        if threads == 1 {
            assert!(arrays.is_empty(), "one thread elides every lock: {arrays:?}");
        } else {
            // 10,000 pushes, each locked; `items.len` after them takes the
            // lock too if the runtime has not yet gone back to one thread.
            let taken = arrays.iter().map(|o| o.taken).max().unwrap_or(0);
            assert!((10_000..=10_001).contains(&taken), "{arrays:?}");
        }
    }
    let program = maat::vm::compiler::compile(&maat::vm::parse(src).unwrap(), "test.maat", src).unwrap();
    let mut vm = maat::vm::Vm::new(program, Config::default());
    vm.set_threads(2);
    vm.run(&mut Vec::new()).unwrap();
    assert_eq!(vm.contention(), maat::vm::interp::Contention::default(), "not counted unless asked");
}

/// Once the other maatines have finished, the last one goes back to eliding
/// its locks (at the end of its next slice, not at once).
#[test]
fn the_last_maatine_left_runs_without_locks_again() {
    let src = "let items = [];
fn fill(n) { for ^n -> i { items.push(i); } return n; }
let hs = [];
for ^4 -> k { hs.push(ma fill(1000)); }
for hs -> h { h.join; }
fill(100000);
say items.len;";
    let ast = maat::vm::parse(src).unwrap();
    let program = maat::vm::compiler::compile(&ast, "test.maat", src).unwrap();
    let mut vm = maat::vm::Vm::new(program, Config::default());
    vm.set_threads(2);
    let mut out = Vec::new();
    vm.run(&mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "104000\n");
    let (taken, elided) = vm.lock_stats();
    // The 4,000 pushes of the four maatines take the shared array's lock;
    // of the main maatine's 100,000 alone, at most a slice's worth does.
    assert!((4_000..24_000).contains(&taken), "{taken} taken, {elided} elided");
    assert!(elided >= 80_000, "{taken} taken, {elided} elided");
}

/// Readers of a versioned root check an invariant of every version they
/// read (a map's `total` is the sum of its other values) while writers
/// update it: `readers` maatines read versions until they see the last one,
/// `writers` maatines commit `updates` each, starting once every reader
/// has.
fn versioned_readers_and_writers(readers: usize, writers: usize, updates: usize) -> String {
    format!(
        "let db = Versioned.new(PMap.new({{total => 0}}))
         our started = 0
         fn writer(w, n) {{
             while started < {readers} {{ }}
             for ^n -> i {{
                 db.update({{ |d|
                     let k = (w * 7 + i * 3) % 40
                     d[k] = d.get(k, 0) + 1
                     d[\"total\"] = d[\"total\"] + 1
                 }})
             }}
         }}
         fn reader(final) {{
             started += 1
             let torn = 0
             let last = 0
             let versions = 0
             let reads = 0
             while last < final && reads < 1000000 {{
                 reads += 1
                 let v = db.now
                 let sum = 0
                 for ^40 -> k {{ sum += v.get(k, 0) }}
                 if sum != v[\"total\"] || v[\"total\"] < last {{ torn += 1 }}
                 if v[\"total\"] != last {{ versions += 1 }}
                 last = v[\"total\"]
             }}
             return [torn, versions]
         }}
         let hs = []
         for ^{readers} -> r {{ hs.push(ma reader({writers} * {updates})) }}
         ma for ^{writers} -> w {{ writer(w, {updates}) }}
         let torn = 0
         let fewest = 1000000
         for hs -> h {{
             let r = h.join
             torn += r[0]
             fewest = Math.min(fewest, r[1])
         }}
         say torn, \" \", db.version, \" \", db.now[\"total\"], \" \", fewest > 0"
    )
}

#[test]
fn versioned_readers_never_see_a_torn_version_and_no_update_is_lost() {
    // (The writers start once every reader has: each reader saw the
    // versions change while it read.)
    for threads in [1, 2, 4] {
        let out = run_ok(&versioned_readers_and_writers(8, 2, 300), threads, Config::default());
        assert_eq!(out, "0 600 600 true\n", "{threads} thread(s)");
    }
}

#[test]
fn versioned_roots_stay_whole_in_gc_torture_mode() {
    let torture = Config { torture: true, ..Config::default() };
    for threads in [1, 2, 4] {
        let out = run_ok(&versioned_readers_and_writers(4, 2, 20), threads, torture);
        assert_eq!(out, "0 40 40 true\n", "{threads} thread(s)");
    }
}

/// A ring of `stages` maatines passes `graphs` detached graphs along: each
/// stage attaches a graph, adds one to every counter in it, and detaches
/// it to the next; the last stage sums the counters.
fn detached_ring(stages: usize, graphs: usize) -> String {
    format!(
        "fn make(g) {{
             let items = []
             for ^10 -> i {{ items.push({{n => g}}) }}
             return {{items => items, shared => items[0]}}
         }}
         fn stage(inbox, outbox, graphs) {{
             for ^graphs -> k {{
                 let g = inbox.recv.attach
                 for g[\"items\"] -> item {{ item[\"n\"] = item[\"n\"] + 1 }}
                 outbox.send(g.detach)
             }}
         }}
         let chans = []
         for 0..{stages} -> i {{ chans.push(Chan.new(2)) }}
         let hs = []
         for ^{stages} -> s {{ hs.push(ma stage(chans[s], chans[s + 1], {graphs})) }}
         fn feed(c, n) {{ for ^n -> g {{ c.send(make(g).detach) }} }}
         let feeder = ma feed(chans[0], {graphs})
         let total = 0
         let aliased = true
         for ^{graphs} -> k {{
             let g = chans[{stages}].recv.attach
             for g[\"items\"] -> item {{ total += item[\"n\"] }}
             aliased = aliased && g[\"shared\"] == g[\"items\"][0]
         }}
         for hs -> h {{ h.join }}
         feeder.join
         say total, \" \", aliased"
    )
}

#[test]
fn detached_graphs_pass_along_a_ring_of_maatines_whole() {
    // Graph g has 10 counters starting at g, and each of the stages adds 1.
    let (stages, graphs) = (6, 40);
    let total: usize = (0..graphs).map(|g| 10 * (g + stages)).sum();
    for threads in [1, 2, 4] {
        let out = run_ok(&detached_ring(stages, graphs), threads, Config::default());
        assert_eq!(out, format!("{total} true\n"), "{threads} thread(s)");
    }
    let torture = Config { torture: true, ..Config::default() };
    let total: usize = (0..8).map(|g| 10 * (g + 3)).sum();
    for threads in [1, 2, 4] {
        let out = run_ok(&detached_ring(3, 8), threads, torture);
        assert_eq!(out, format!("{total} true\n"), "{threads} thread(s), torture");
    }
}

/// What a maatine receives (a message, a joined result, an attached
/// graph) is copied into its heap: its arrays, maps and instances run
/// without locks even while other maatines live (here an idle one keeps
/// the runtime multi-threaded), and the sender's originals are left alone.
#[test]
fn received_values_run_without_locks() {
    let src = "class P { has x; }
fn produce(c, n) { for ^n -> i { c.send([i, {k => i}, P.new(x: i)]); } c.close; }
fn build(n) { let a = []; for ^n -> i { a.push(i); } return a; }
fn idle(c) { return c.recv; }
let stop = Chan.new(1);
let bg = ma idle(stop);
let c = Chan.new(8);
ma produce(c, 200);
let sum = 0;
for c -> m {
    for ^20 -> j { m[0] = m[0] + 1; m[1][\"k\"] = m[1][\"k\"] + 1; m[2].x = m[2].x + 1; }
    sum += m[0] + m[1][\"k\"] + m[2].x;
}
let t = (ma build(100)).join;
for ^100 -> i { t[i] = t[i] * 2; }
let d = build(50).detach;
let g = (ma { |tok| let a = tok.attach; for ^50 -> i { a[i] = a[i] + 1; } return a.len; }(d)).join;
stop.send(1);
bg.join;
say sum, \" \", t[99], \" \", g;";
    for threads in [1, 2, 4] {
        let (out, contention) = run_counting(src, threads);
        // Each message's three numbers: (i + 20) three times, summed.
        let expected: usize = (0..200).map(|i| 3 * (i + 20)).sum();
        assert_eq!(out, format!("{expected} 198 50\n"));
        let locked: Vec<_> =
            contention.objects.into_iter().filter(|o| ["Array", "Map", "instance"].contains(&o.kind)).collect();
        let most = locked.iter().map(|o| o.taken).max().unwrap_or(0);
        assert!(most <= 2, "{threads} thread(s): {} objects locked, one {most} times", locked.len());
    }
}

/// A received graph is copied without recursion: a list 100,000 links
/// long arrives through a channel, a join, an attach and into a version.
#[test]
fn long_lists_are_received_and_versioned_whole() {
    let src = "fn list(n) { let head = nil; for ^n -> i { head = {v => i, rest => head}; } return head; }
fn count(l) { let n = 0; while l != nil { n += 1; l = l[\"rest\"]; } return n; }
let c = Chan.new(1);
c.send(list(100000));
let a = count(c.recv);
let b = count((ma list(100000)).join);
let d = count(list(100000).detach.attach);
let e = count(Versioned.new(list(100000)).now);
say a, \" \", b, \" \", d, \" \", e;";
    for threads in [1, 2] {
        assert_eq!(run_ok(src, threads, Config::default()), "100000 100000 100000 100000\n", "{threads} thread(s)");
    }
}

/// A result joined through a shared handle is not copied (other maatines
/// may join it too): every join returns the one object, held by the first
/// joiner, and a change through one join shows through the next.
#[test]
fn a_result_joined_through_a_shared_handle_keeps_one_identity() {
    let src = "fn make(n) { let a = []; for ^n -> i { a.push(i); } return a; }
let hs = [ma make(3)].share;
let first = hs[0].join;
first.push(9);
say hs[0].join == first, \" \", hs[0].join;";
    for threads in [1, 2] {
        assert_eq!(run_ok(src, threads, Config::default()), "true [0, 1, 2, 9]\n", "{threads} thread(s)");
    }
}

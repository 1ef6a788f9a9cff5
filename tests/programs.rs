//! Golden programs: every `tests/programs/*.maat` runs with its expected
//! output (`.out`) and, for failing programs, its expected error (`.err`),
//! in incremental, generational and GC torture modes alike; and the `maat`
//! binary exits 0 or 1 accordingly.

use std::path::{Path, PathBuf};
use std::process::Command;

use maat::gc::{Config, Mode};

fn programs() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/programs")
        .expect("tests/programs exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "maat"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the golden programs are there");
    files
}

fn expected(program: &Path, ext: &str) -> String {
    std::fs::read_to_string(program.with_extension(ext)).unwrap_or_default()
}

#[test]
fn golden_programs_give_their_expected_output_in_every_gc_mode() {
    let configs = [
        ("incremental", Config::default()),
        ("generational", Config { mode: Mode::Generational, ..Config::default() }),
        ("torture", Config { torture: true, ..Config::default() }),
    ];
    for program in programs() {
        let name = program.to_str().expect("utf-8 path").replace('\\', "/");
        let src = std::fs::read_to_string(&program).expect("readable program");
        let limited = name.contains("out_of_memory");
        for (mode, mut config) in configs {
            if limited {
                config.max_heap = Some(4 << 20);
            }
            let mut out = Vec::new();
            let result = maat::vm::run_source(&name, &src, config, &mut out);
            let out = String::from_utf8(out).expect("utf-8 output");
            assert_eq!(out, expected(&program, "out"), "{name} ({mode}): stdout");
            let err = result.err().unwrap_or_default();
            assert_eq!(err.trim_end(), expected(&program, "err").trim_end(), "{name} ({mode}): error");
        }
    }
}

#[test]
fn the_maat_binary_runs_files_and_code_and_fails_with_status_1() {
    let maat = env!("CARGO_BIN_EXE_maat");
    let ok = Command::new(maat).args(["run", "tests/programs/recursion.maat"]).output().unwrap();
    assert!(ok.status.success());
    assert_eq!(String::from_utf8_lossy(&ok.stdout), expected(Path::new("tests/programs/recursion.maat"), "out"));
    let bad = Command::new(maat).args(["run", "tests/programs/runtime_error.maat"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("at inner (tests/programs/runtime_error.maat:2)"));
    let e = Command::new(maat).args(["-e", "say 6 * 7;"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&e.stdout), "42\n");
    let missing = Command::new(maat).args(["run", "tests/programs/no_such_file.maat"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).starts_with("error: cannot read"));
    let stats = Command::new(maat)
        .args(["run", "tests/programs/collections.maat", "--stats", "--gc-trace", "--gc", "gen"])
        .output()
        .unwrap();
    assert!(stats.status.success());
    let report = String::from_utf8_lossy(&stats.stderr);
    assert!(report.contains("gc heap ") && report.contains(" major: "), "one trace line per collection:\n{report}");
    assert!(report.contains("gc: collections: ") && report.contains("locks: 0 taken, "), "statistics:\n{report}");
    // Per variable and per shared object, on two threads.
    let contended = Command::new(maat)
        .args(["run", "tests/programs/globals_rmw.maat", "--stats", "--threads", "2"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&contended.stderr);
    assert!(
        report.contains("variable count: ") && report.contains(" lock-free updates ("),
        "per-variable counts:\n{report}"
    );
    assert!(
        report.lines().any(|l| l.starts_with("variable count: ") && l.contains(" ms (longest ") && l.ends_with(" ms)")),
        "each variable's longest wait beside the sum:\n{report}"
    );
    // Shared collections have their own trace line, with their pauses.
    let churn = "our keep = []; for ^400000 -> i { keep.push(\"s\" ~ i); if keep.len > 1000 { keep = []; } }";
    let shared = Command::new(maat).args(["--gc-trace", "-e", churn]).output().unwrap();
    let report = String::from_utf8_lossy(&shared.stderr);
    assert!(
        report.lines().any(|l| l.starts_with("gc shared: ") && l.contains(" finish pause ")),
        "a line per shared collection:\n{report}"
    );
    // The options may also stand before `run`.
    let before = Command::new(maat).args(["--stats", "--gc", "gen", "run", "tests/programs/collections.maat"]).output();
    let report = String::from_utf8_lossy(&before.unwrap().stderr).into_owned();
    assert!(report.contains("gc: collections: ") && report.contains("locks: 0 taken, "), "statistics:\n{report}");
    let heap = Command::new(maat).args(["-e", "say 1;", "--max-heap", "12Q"]).output().unwrap();
    assert!(!heap.status.success(), "a bad size is refused");
    let unknown = Command::new(maat).args(["run", "--fast", "tests/programs/recursion.maat"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).starts_with("error: unknown option `--fast`"));
    let help = Command::new(maat).arg("--help").output().unwrap();
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--max-heap SIZE"));
}

/// `maat` with no arguments (the prompt), its standard streams piped.
fn prompt() -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_maat"))
        .env("HOME", std::env::temp_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("maat starts")
}

#[test]
fn the_maat_prompt_keeps_globals_functions_and_classes_between_entries() {
    use std::io::Write;
    let mut repl = prompt();
    let input = "let n = 40;\nfn add(x) {\n  return n + x;\n}\nadd(2)\nn += 1;\nclass P { has x; }\n\
                 P.new(x: add(0))\nlet h = ma add(1);\nh.join\nfn add(x) { return x * 100; }\nadd(2)\n[1][3]\nsay \"done\";\n";
    repl.stdin.take().expect("piped").write_all(input.as_bytes()).expect("written");
    let done = repl.wait_with_output().expect("maat ends at end of input");
    let out = String::from_utf8_lossy(&done.stdout);
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(lines, ["42", "P(x: 41)", "42", "200", "done"], "{out}");
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(err.contains("error: index out of range: 3 (length 1)") && err.contains("at main (<repl>:1)"), "{err}");
    assert_eq!(done.status.code(), Some(1), "an entry failed");
}

#[test]
fn ctrl_c_interrupts_running_code_and_the_prompt_goes_on() {
    use std::io::Write;
    let mut repl = prompt();
    let mut stdin = repl.stdin.take().expect("piped");
    stdin.write_all(b"fn f() { return 1; }\nwhile true {}\n").expect("written");
    stdin.flush().expect("flushed");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let sent = Command::new("kill").args(["-INT", &repl.id().to_string()]).status().expect("kill runs");
    assert!(sent.success());
    stdin.write_all(b"say f() + 41\nlet = 2\n").expect("written");
    drop(stdin);
    let done = repl.wait_with_output().expect("maat ends at end of input");
    let (out, err) = (String::from_utf8_lossy(&done.stdout), String::from_utf8_lossy(&done.stderr));
    assert!(out.contains("42"), "the prompt went on after the interrupt:\n{out}\n{err}");
    assert!(err.contains("error: interrupted"), "{err}");
    assert!(err.contains("<repl>:1:5") && err.contains("let = 2"), "a later entry's error points at it:\n{err}");
}

#[test]
fn programs_get_their_arguments_read_files_and_write_to_stderr() {
    let dir = std::env::temp_dir().join("maat_io_test");
    std::fs::create_dir_all(&dir).unwrap();
    let (data, program) = (dir.join("data.txt"), dir.join("io.maat"));
    std::fs::write(&data, "line one\nline two\n").unwrap();
    let src = format!(
        "say ARGS, \" \", ARGS.len, \" \", ARGS.frozen\n\
         say read_file(\"{}\").split(\"\\n\").len\n\
         warn(\"to stderr \", 42)\n\
         try {{ read_file(\"{}/missing\") }} catch e {{ say e.starts_with(\"read_file: cannot read\") }}\n",
        data.display(),
        dir.display()
    );
    std::fs::write(&program, src).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_maat")).arg("run").arg(&program).args(["a", "b c"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[a, b c] 2 true\n3\ntrue\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to stderr 42\n");
    let none = Command::new(env!("CARGO_BIN_EXE_maat")).args(["-e", "say ARGS.len"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&none.stdout), "0\n");
}

#[test]
fn imports_are_found_from_the_importing_file_wherever_the_program_runs() {
    let maat = env!("CARGO_BIN_EXE_maat");
    let from_elsewhere =
        Command::new(maat).current_dir("tests/programs/lib").args(["run", "../modules.maat"]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&from_elsewhere.stdout),
        expected(Path::new("tests/programs/modules.maat"), "out")
    );
    let trace = String::from_utf8_lossy(&from_elsewhere.stderr);
    assert!(trace.contains("at checked_sqrt (../lib/geometry.maat:8)"), "{trace}");
    let embedded = maat::vm::embed::Runtime::new(Config::default())
        .run_file(Path::new("tests/programs/modules.maat"))
        .unwrap_err()
        .to_string();
    assert!(embedded.contains("tests/programs/lib/geometry.maat:8"), "{embedded}");
    let text = Command::new(maat).args(["-e", "import \"lib/counter.maat\""]).output().unwrap();
    assert!(String::from_utf8_lossy(&text.stderr).contains("`import` needs the program's file"));
}

#[test]
fn a_module_imported_twice_under_one_name_is_an_error() {
    let dir = std::env::temp_dir().join(format!("maat-imports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.maat"), "fn f() { return 1 }\n").unwrap();
    std::fs::write(dir.join("n.maat"), "fn f() { return 2 }\n").unwrap();
    std::fs::write(dir.join("main.maat"), "import \"m.maat\" as x\nimport \"n.maat\" as x\nsay x.f()\n").unwrap();
    std::fs::write(dir.join("ok.maat"), "import \"m.maat\" as x\nimport \"n.maat\" as y\nsay x.f(), y.f()\n").unwrap();
    let maat = env!("CARGO_BIN_EXE_maat");
    let bad = Command::new(maat).arg("run").arg(dir.join("main.maat")).output().unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`x` already names a module imported here"));
    let ok = Command::new(maat).arg("run").arg(dir.join("ok.maat")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "12\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_bytecode_of_a_program_can_be_listed() {
    let out = Command::new(env!("CARGO_BIN_EXE_maat"))
        .args(["run", "--bytecode", "tests/programs/recursion.maat"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.starts_with("function 0 `main`: 0 parameter(s), "), "{listing}");
    assert!(listing.contains("tests/programs/recursion.maat") && listing.contains("Return"), "{listing}");
    assert!(!listing.contains(&expected(Path::new("tests/programs/recursion.maat"), "out")), "it does not run");
}

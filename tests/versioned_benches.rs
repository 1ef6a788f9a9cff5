//! The versioned-root benchmarks (`benches/versioned/`) run at a small size
//! through the `maat` binary, so that they keep working: the read
//! programs report their throughput and the writer's commits, the update
//! cost program a row for each size, and the memory program that many
//! versions of a map take less than twice one of them.

use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_maat")).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?}:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn the_read_programs_report_throughput_and_every_commit() {
    for program in ["versioned", "shared_map", "big_lock"] {
        let path = format!("benches/versioned/{program}.maat");
        let out = run(&["run", "--threads", "2", &path, "3", "2000", "5000", "50"]);
        assert!(out.contains(" reads/s, 50 commits"), "{program}: {out}");
    }
}

#[test]
fn the_update_cost_program_measures_every_size() {
    let out = run(&["run", "benches/versioned/update_cost.maat", "10000"]);
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows[0].trim_start().starts_with("1000 ") && rows[1].trim_start().starts_with("10000 "), "{out}");
}

#[test]
fn many_versions_take_less_than_twice_one() {
    let out = run(&["run", "benches/versioned/memory.maat", "20000", "300"]);
    let ratio: f64 = out.split('(').nth(1).and_then(|r| r.split('x').next()).and_then(|r| r.parse().ok()).unwrap();
    assert!(ratio < 2.0, "{out}");
}

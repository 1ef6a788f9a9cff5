//! The benchmark programs written in Maat (`benches/versioned/`,
//! `benches/gc_latency/`, and one of `benches/compare/`) run at a small
//! size through the `maat` binary, so that they keep working:
//! - the versioned-root read programs report their throughput and the
//!   writer's commits, the update cost program a row for each size, and the
//!   memory program that many versions of a map take less than twice one of
//!   them;
//! - the GC latency program counts every replacement and reports its worst
//!   and 99th percentile, and the floor program the longest gap its
//!   maatines saw between two readings of the clock;
//! - the program of local garbage beside shared objects
//!   (`benches/compare/shared_churn.maat`) counts what it made.

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

/// The number after `label` in `out`.
fn number_after(out: &str, label: &str) -> f64 {
    let rest = out.split(label).nth(1).unwrap_or_else(|| panic!("no `{label}` in {out}"));
    rest.split_whitespace().next().and_then(|n| n.trim_end_matches(',').parse().ok()).unwrap()
}

#[test]
fn the_latency_program_times_every_replacement_of_every_maatine() {
    // A thousand maatines with windows of 200 strings, sharing the work.
    for gc in ["inc", "gen"] {
        let out = run(&["run", "benches/gc_latency/latency.maat", "--gc", gc, "--threads", "2", "1000"]);
        assert_eq!(number_after(&out, "replacements "), 1_000_000.0, "{out}");
        let (worst_ms, p99_us) = (number_after(&out, "worst "), number_after(&out, "p99 "));
        assert!(worst_ms > 0.0 && p99_us >= 1.0 && p99_us <= worst_ms * 1000.0 + 1.0, "{out}");
    }
}

#[test]
fn the_floor_program_reports_the_longest_gap_between_clock_readings() {
    let out = run(&["run", "benches/gc_latency/floor.maat", "--threads", "2", "2", "0.05"]);
    let gap_ms = number_after(&out, "worst gap ");
    assert!(gap_ms > 0.0 && gap_ms.is_finite(), "{out}");
}

#[test]
fn the_shared_churn_program_counts_the_shared_arrays_and_the_churn() {
    let out = run(&["run", "--threads", "2", "benches/compare/shared_churn.maat", "20000", "50000"]);
    assert_eq!(out.trim(), "20000 50000");
}

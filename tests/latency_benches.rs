//! The script-level GC latency programs (`benches/gc_latency/`) run through
//! the `maat` binary, so that they keep working: the latency program
//! counts every replacement and reports its worst and 99th percentile, and
//! the floor program the longest gap its maatines saw between two
//! readings of the clock.

use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_maat")).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?}:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
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

//! The Are-We-Fast-Yet ports (`benches/awfy/*.maat`, with the suite's
//! harness and `som` library in `benches/awfy/lib/`) run at their smallest
//! size through the `maat` binary: each verifies its own result (as the
//! suite's harness does) and fails the run if it is wrong.

use std::process::Command;

/// The suite's benchmarks and the smallest inner size each verifies (the
/// suite's harness knows results for these sizes only).
const SUITE: [(&str, &str); 14] = [
    ("bounce", "1"),
    ("cd", "2"),
    ("deltablue", "1"),
    ("havlak", "1"),
    ("json", "1"),
    ("list", "1"),
    ("mandelbrot", "1"),
    ("nbody", "1"),
    ("permute", "1"),
    ("queens", "1"),
    ("richards", "1"),
    ("sieve", "1"),
    ("storage", "1"),
    ("towers", "1"),
];

#[test]
fn every_port_runs_and_verifies_its_result() {
    let mut ports: Vec<String> = std::fs::read_dir("benches/awfy")
        .expect("benches/awfy exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "maat"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    ports.sort();
    assert_eq!(ports, SUITE.map(|(name, _)| name.to_owned()), "the whole suite is ported");
    for (port, inner) in SUITE {
        let path = format!("benches/awfy/{port}.maat");
        let out = Command::new(env!("CARGO_BIN_EXE_maat")).args(["run", &path, "1", inner]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{path}:\n{stdout}\n{stderr}");
        assert!(stdout.contains("iterations=1 average: "), "{path}:\n{stdout}");
    }
}

#[test]
fn a_port_whose_result_is_wrong_fails() {
    let src = std::fs::read_to_string("benches/awfy/richards.maat").unwrap();
    let broken = src.replace("self.queue_count == 23246", "self.queue_count == 23247");
    assert_ne!(src, broken, "the check is where the test expects it");
    let dir = std::env::temp_dir().join(format!("maat-awfy-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    for lib in std::fs::read_dir("benches/awfy/lib").unwrap() {
        let lib = lib.unwrap().path();
        std::fs::copy(&lib, dir.join("lib").join(lib.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.join("richards.maat"), broken).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_maat")).arg("run").arg(dir.join("richards.maat")).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Richards: the benchmark's result is wrong"));
}

//! The Are-We-Fast-Yet ports (`benches/awfy/*.maat`, with the suite's
//! harness and `som` library in `benches/awfy/lib/`) run at their smallest
//! size through the `maat` binary: each verifies its own result (as the
//! suite's harness does) and fails the run if it is wrong.

use std::process::Command;

#[test]
fn every_port_runs_and_verifies_its_result() {
    let mut ports: Vec<_> = std::fs::read_dir("benches/awfy")
        .expect("benches/awfy exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "maat"))
        .collect();
    ports.sort();
    assert!(!ports.is_empty(), "the ports are there");
    for port in ports {
        let out = Command::new(env!("CARGO_BIN_EXE_maat")).arg("run").arg(&port).args(["1", "1"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}:\n{stdout}\n{stderr}", port.display());
        assert!(stdout.contains("iterations=1 average: "), "{}:\n{stdout}", port.display());
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

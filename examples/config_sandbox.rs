//! A configuration evaluator with a sandbox: configuration files are Maat
//! programs (computed values, helper functions) that the host evaluates
//! without file or standard-error access, within an instruction budget, a
//! time limit and a heap limit, and reads back as a typed Rust value.
//! A configuration that loops, reads files or allocates without end is
//! refused with a clear error, and the evaluator goes on with the next.
//!
//! `cargo run --example config_sandbox`

use std::collections::HashMap;
use std::time::Duration;

use maat::gc::Config;
use maat::vm::embed::{Error, Limits, Runtime};

/// What a configuration evaluates to.
struct Settings {
    workers: u32,
    hosts: Vec<String>,
    timeouts: HashMap<String, f64>,
}

fn evaluate(name: &str, source: &str) -> Result<Settings, Error> {
    // A fresh runtime per file: nothing one configuration defines leaks
    // into the next. A heap of at most 8 MiB.
    let mut rt = Runtime::new(Config { max_heap: Some(8 << 20), ..Config::default() });
    rt.set_limits(Limits { instructions: Some(5_000_000), time: Some(Duration::from_secs(1)), io: false });
    rt.set_output(std::io::sink());
    let chunk = rt.compile(name, source)?;
    let config: HashMap<String, maat::vm::embed::HostValue> = rt.run(&chunk)?;
    let field = |key: &str| config.get(key).cloned().ok_or_else(|| Error::Refused(format!("{name}: no `{key}`")));
    use maat::vm::embed::FromMaat;
    Ok(Settings {
        workers: u32::from_maat(field("workers")?)?,
        hosts: Vec::from_maat(field("hosts")?)?,
        timeouts: HashMap::from_maat(field("timeouts")?)?,
    })
}

const GOOD: &str = r#"
    fn host(i) { return format("node-%02d.internal", i) }
    let n = 3
    let hosts = []
    for 1..n -> i { hosts.push(host(i)) }
    {
        workers => n * 4,
        hosts => hosts,
        timeouts => {connect => 0.5, read => 2 ** 3},
    }
"#;

fn main() {
    let files = [
        ("good.maat", GOOD),
        ("loops.maat", "while true {}\n{}"),
        ("reads.maat", "let secret = read_file(\"/etc/passwd\")\n{workers => secret.len}"),
        ("grows.maat", "let xs = []\nwhile true { xs.push(\"x\" * 1000) }"),
        ("typo.maat", "{workers => \"four\", hosts => [], timeouts => {}}"),
        ("syntax.maat", "{workers => }"),
    ];
    for (name, source) in files {
        match evaluate(name, source) {
            Ok(Settings { workers, hosts, timeouts }) => {
                let mut timeouts: Vec<_> = timeouts.into_iter().collect();
                timeouts.sort_by(|a, b| a.0.cmp(&b.0));
                println!("{name}: {workers} workers on {hosts:?}, timeouts {timeouts:?}")
            }
            Err(e) => println!("{name}: refused: {}", e.to_string().lines().next().unwrap_or_default()),
        }
    }
}

//! A parallel job runner: the host starts one maatine per job on the
//! runtime's OS threads (`Runtime::spawn_all`), the jobs report progress to
//! a Rust thread through a host channel while they run, and the host
//! collects each job's result or error. The jobs share one global counter,
//! updated without a lost update.
//!
//! `cargo run --release --example job_runner [JOBS] [THREADS]`

use std::time::Instant;

use maat::gc::Config;
use maat::vm::embed::{Error, Runtime};

const JOBS: &str = r#"
    our finished = 0
    # Counts the primes below `n`, reporting progress every 10,000 numbers.
    fn primes_below(job, n, progress) {
        if n < 0 { throw "a negative bound" }
        let count = 0
        for 2..n -> k {
            let prime = true
            let d = 2
            while d * d <= k {
                if k % d == 0 { prime = false; break }
                d += 1
            }
            if prime { count += 1 }
            if k % 10000 == 0 { progress.send([job, k]) }
        }
        finished += 1
        return count
    }
"#;

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().unwrap_or(0));
    let jobs = args.next().filter(|&j| j > 0).unwrap_or(8);
    let threads = args.next().filter(|&t| t > 0).unwrap_or(2);
    let mut rt = Runtime::new(Config::default());
    rt.set_threads(threads);
    rt.eval(JOBS)?;
    let (progress, reports) = rt.host_channel::<Vec<f64>>();
    let monitor = std::thread::spawn(move || {
        let mut seen = 0;
        for report in reports {
            seen += 1;
            if seen % 20 == 0 {
                println!("progress: job {} at {}", report[0], report[1]);
            }
        }
        seen
    });

    let work = rt.function("primes_below")?;
    // Job 3 fails on purpose: its error comes back, the others go on.
    let bounds: Vec<i64> = (0..jobs as i64).map(|j| if j == 3 { -1 } else { 50_000 + 10_000 * j }).collect();
    let started = Instant::now();
    let results = rt.spawn_all::<_, u64>(&work, bounds.iter().enumerate().map(|(j, &n)| (j, n, progress.clone())))?;
    let elapsed = started.elapsed();
    drop(progress);
    for ((j, n), result) in bounds.iter().enumerate().zip(&results) {
        match result {
            Ok(count) => println!("job {j}: {count} primes below {n}"),
            Err(e) => println!("job {j}: failed: {}", e.runtime().map_or(e.to_string(), |r| r.message.clone())),
        }
    }
    println!("{} jobs finished on {threads} thread(s) in {elapsed:.2?}", rt.global::<u32>("finished")?);
    drop(rt);
    println!("{} progress reports received while the jobs ran", monitor.join().expect("the monitor ends"));
    Ok(())
}

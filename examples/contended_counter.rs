//! Contended counters: N OS threads each add 1 to one shared counter M times,
//! once through an `AdaptiveLock` (object lock) and once through a `VarLock`
//! (the lock `x = x + 1` takes on a shared variable). Prints throughput, CPU
//! time per increment, and the exact total.
//!
//! `cargo run --release --example contended_counter -- [THREADS] [INCREMENTS]`

use std::cell::UnsafeCell;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use maat::sync::{AdaptiveLock, LockRequest, MaatineId, Mode, ThreadParker, VarLock, VarLockTable, World};

/// The shared counter; every access is made under the lock being measured.
struct Counter(UnsafeCell<u64>);

// SAFETY: all accesses happen under the lock the run measures.
unsafe impl Sync for Counter {}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn measure(label: &str, threads: usize, per_thread: u64, body: impl Fn(usize, &Counter) + Send + Sync + 'static) {
    let counter = Arc::new(Counter(UnsafeCell::new(0)));
    let body = Arc::new(body);
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (counter, body) = (Arc::clone(&counter), Arc::clone(&body));
            thread::spawn(move || body(i, &counter))
        })
        .collect();
    for h in handles {
        h.join().expect("worker panicked");
    }
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    // SAFETY: every worker has been joined.
    let total = unsafe { *counter.0.get() };
    let ops = threads as u64 * per_thread;
    println!(
        "{label:<10} {threads} threads: {:>7.1} M increments/s, {:>6.1} ns CPU per increment, total {total} (expected {ops}) {}",
        ops as f64 / wall / 1e6,
        cpu / ops as f64 * 1e9,
        if total == ops { "exact" } else { "LOST UPDATES" },
    );
    assert_eq!(total, ops, "an update was lost");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().map_or(4, |a| a.parse().expect("THREADS must be a number"));
    let per_thread: u64 = args.next().map_or(1_000_000, |a| a.parse().expect("INCREMENTS must be a number"));

    let lock = Arc::new(AdaptiveLock::new());
    measure("object", threads, per_thread, move |_, counter| {
        for _ in 0..per_thread {
            let _guard = lock.lock();
            // SAFETY: under `lock`.
            unsafe { *counter.0.get() += 1 };
        }
    });

    let world = World::new();
    world.register().stop_world().set_thread_mode(Mode::Multi);
    let var = Arc::new((VarLock::new(), VarLockTable::new(), world));
    measure("variable", threads, per_thread, move |i, counter| {
        let (lock, table, world) = &*var;
        let me = MaatineId::new(i as u64 + 1).expect("small ids are valid");
        let (mut request, parker) = (LockRequest::new(me, "counter"), ThreadParker::new());
        for _ in 0..per_thread {
            lock.lock(table, world.mode(), &mut request, &parker).expect("one variable cannot deadlock");
            // SAFETY: under the variable lock.
            unsafe { *counter.0.get() += 1 };
            lock.unlock(table, world.mode(), me).expect("we hold it");
        }
    });
}

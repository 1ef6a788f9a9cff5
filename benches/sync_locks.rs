//! maat-sync against parking_lot and std, side by side in one run.
//!
//! - `uncontended`: one thread, lock + unlock.
//! - `elided`: an object operation on an unshared object (or any object in
//!   single-threaded mode) against a plain unsynchronized access.
//! - `contended/{short,long}/{2,4}`: every thread adds to one counter under
//!   the lock; `short` is one increment, `long` about 1 µs of work.
//!
//! Criterion reports time per operation; at the end a table gives the CPU
//! time (user + sys, from getrusage) per operation of the contended runs, to
//! show what spinning costs.
//!
//! `cargo bench --bench sync_locks`

use std::cell::UnsafeCell;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use maat::sync::{AdaptiveLock, LockRequest, MaatineId, Mode, Sharing, ThreadParker, VarLock, VarLockTable, World};

/// A counter that the benchmark's lock protects.
struct Slot(UnsafeCell<u64>);

// SAFETY: every access happens under the lock being measured.
unsafe impl Sync for Slot {}

/// The locks under comparison, behind one interface.
trait BenchLock: Send + Sync + 'static {
    const NAME: &'static str;
    fn new() -> Self;
    /// Runs `f` under the lock, as maatine `me`.
    fn with(&self, me: MaatineId, f: impl FnOnce());
}

impl BenchLock for AdaptiveLock {
    const NAME: &'static str = "maat";
    fn new() -> Self {
        AdaptiveLock::new()
    }
    #[inline]
    fn with(&self, _: MaatineId, f: impl FnOnce()) {
        let _g = self.lock();
        f();
    }
}

impl BenchLock for parking_lot::Mutex<()> {
    const NAME: &'static str = "parking_lot";
    fn new() -> Self {
        parking_lot::Mutex::new(())
    }
    #[inline]
    fn with(&self, _: MaatineId, f: impl FnOnce()) {
        let _g = self.lock();
        f();
    }
}

impl BenchLock for Mutex<()> {
    const NAME: &'static str = "std";
    fn new() -> Self {
        Mutex::new(())
    }
    #[inline]
    fn with(&self, _: MaatineId, f: impl FnOnce()) {
        let _g = self.lock().unwrap();
        f();
    }
}

/// A variable lock in multi-threaded mode, waiting by parking the OS thread.
struct MaatVar(VarLock, VarLockTable, Arc<World>);

thread_local! {
    /// Each benchmark thread's lock request and parker, made once as a VM
    /// would make them once per maatine.
    static REQUEST: std::cell::RefCell<Option<(LockRequest, ThreadParker)>> = const { std::cell::RefCell::new(None) };
}

impl BenchLock for MaatVar {
    const NAME: &'static str = "maat-var";
    fn new() -> Self {
        let world = World::new();
        world.register().stop_world().set_thread_mode(Mode::Multi);
        MaatVar(VarLock::new(), VarLockTable::new(), world)
    }
    #[inline]
    fn with(&self, me: MaatineId, f: impl FnOnce()) {
        let mode = self.2.mode();
        REQUEST.with_borrow_mut(|slot| {
            let (request, parker) = slot.get_or_insert_with(|| (LockRequest::new(me, "x"), ThreadParker::new()));
            assert_eq!(request.maatine(), me);
            self.0.lock(&self.1, mode, request, parker).unwrap();
        });
        f();
        self.0.unlock(&self.1, mode, me).unwrap();
    }
}

fn uncontended(c: &mut Criterion) {
    fn one<L: BenchLock>(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
        let lock = L::new();
        let me = MaatineId::new(1).unwrap();
        c.bench_function(L::NAME, |b| b.iter(|| black_box(&lock).with(me, || {})));
    }
    let mut g = c.benchmark_group("uncontended");
    one::<AdaptiveLock>(&mut g);
    one::<parking_lot::Mutex<()>>(&mut g);
    one::<Mutex<()>>(&mut g);
    // The variable lock's fast path with a request made once, as the VM does.
    let world = World::new();
    let (lock, table, me) = (VarLock::new(), VarLockTable::new(), MaatineId::new(1).unwrap());
    for mode in [Mode::Single, Mode::Multi] {
        world.register().stop_world().set_thread_mode(mode);
        let mut request = LockRequest::new(me, "x");
        let parker = ThreadParker::new();
        g.bench_function(format!("maat-var-{mode:?}"), |b| {
            b.iter(|| {
                black_box(&lock).lock(&table, world.mode(), &mut request, &parker).unwrap();
                lock.unlock(&table, world.mode(), me).unwrap();
            })
        });
    }
    g.finish();
}

/// A small mutable object: its sharing state (the GC header's bits), its
/// lock, and sixteen value slots.
struct Object {
    sharing: Sharing,
    lock: AdaptiveLock,
    slots: UnsafeCell<[u64; 16]>,
}

/// The object operation measured: bump one slot. `elide` chooses whether it
/// goes through the lock-elision check.
#[inline]
fn bump(object: &Object, world: &World, i: usize, elide: bool) {
    let _g = elide.then(|| object.lock.lock_if(world.mode().needs_lock(object.sharing)));
    // SAFETY: single-threaded benchmark.
    unsafe { (*object.slots.get())[i & 15] += 1 };
}

fn elided(c: &mut Criterion) {
    let mut g = c.benchmark_group("elided");
    let world = World::new();
    let object = |sharing| Object { sharing, lock: AdaptiveLock::new(), slots: UnsafeCell::new([0; 16]) };
    let cases = [
        ("unsynchronized", Sharing::Unshared, false),
        ("unshared", Sharing::Unshared, true),
        ("shared-single-threaded", Sharing::Shared, true),
    ];
    for (label, sharing, elide) in cases {
        let object = object(sharing);
        let mut i = 0usize;
        g.bench_function(label, |b| {
            b.iter(|| {
                i = i.wrapping_add(7);
                bump(black_box(&object), &world, i, elide);
            })
        });
    }
    g.finish();
}

/// CPU nanoseconds per operation of each contended run, for the final table.
static CPU_PER_OP: Mutex<BTreeMap<String, (f64, f64)>> = Mutex::new(BTreeMap::new());

fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let t = |tv: libc::timeval| Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000);
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// Work units that take about 1 µs on this machine.
fn units_per_microsecond() -> u64 {
    let start = Instant::now();
    let n = 1_000_000;
    work(n);
    (n as f64 / start.elapsed().as_secs_f64() / 1e6).max(1.0) as u64
}

#[inline(never)]
fn work(units: u64) {
    let mut x = 1u64;
    for i in 0..units {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    black_box(x);
}

/// Runs `iters` operations split over `threads` threads; returns wall time.
fn contended_run<L: BenchLock>(lock: &Arc<L>, threads: usize, iters: u64, units: u64, label: &str) -> Duration {
    let slot = Arc::new(Slot(UnsafeCell::new(0)));
    let start = Arc::new(Barrier::new(threads + 1));
    let per_thread = iters.div_ceil(threads as u64);
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (lock, slot, start) = (Arc::clone(lock), Arc::clone(&slot), Arc::clone(&start));
            thread::spawn(move || {
                let me = MaatineId::new(i as u64 + 1).unwrap();
                start.wait();
                for _ in 0..per_thread {
                    lock.with(me, || {
                        work(units);
                        // SAFETY: under the lock.
                        unsafe { *slot.0.get() += 1 };
                    });
                }
            })
        })
        .collect();
    start.wait();
    let (t0, cpu0) = (Instant::now(), cpu_time());
    for h in handles {
        h.join().unwrap();
    }
    let (wall, cpu) = (t0.elapsed(), cpu_time() - cpu0);
    // SAFETY: all threads joined.
    assert_eq!(unsafe { *slot.0.get() }, per_thread * threads as u64, "lost update");
    let ops = (per_thread * threads as u64) as f64;
    let mut table = CPU_PER_OP.lock().unwrap();
    let entry = table.entry(label.to_owned()).or_insert((0.0, 0.0));
    entry.0 += cpu.as_nanos() as f64;
    entry.1 += ops;
    wall
}

fn contended(c: &mut Criterion) {
    fn one<L: BenchLock>(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        threads: usize,
        units: u64,
        length: &str,
    ) {
        let lock = Arc::new(L::new());
        let label = format!("{length}/{threads}/{}", L::NAME);
        g.bench_with_input(BenchmarkId::new(format!("{length}/{threads}"), L::NAME), &threads, |b, &threads| {
            b.iter_custom(|iters| contended_run(&lock, threads, iters, units, &label))
        });
    }
    let long = units_per_microsecond();
    let mut g = c.benchmark_group("contended");
    for (length, units) in [("short", 0), ("long", long)] {
        for threads in [2, 4] {
            one::<AdaptiveLock>(&mut g, threads, units, length);
            one::<parking_lot::Mutex<()>>(&mut g, threads, units, length);
            one::<Mutex<()>>(&mut g, threads, units, length);
            one::<MaatVar>(&mut g, threads, units, length);
        }
    }
    g.finish();
}

fn print_cpu_table() {
    let table = CPU_PER_OP.lock().unwrap();
    if table.is_empty() {
        return;
    }
    println!("\nCPU time (user+sys) per contended operation:");
    for (label, (cpu_ns, ops)) in table.iter() {
        println!("  {label:<28} {:>8.1} ns", cpu_ns / ops);
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    uncontended(&mut c);
    elided(&mut c);
    contended(&mut c);
    c.final_summary();
    print_cpu_table();
}

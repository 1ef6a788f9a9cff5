//! GC latency: a window of 200,000 live 1 KiB objects; 1,000,000 new objects
//! replace them one by one (each replacement is one mutation followed by a
//! safe point). Reports the pauses the mutator saw: max, p99, p50.
//!
//! Four configurations: incremental and generational, with the window local
//! to one heap, and with it shared (held through a global root, so every
//! object in it is shared and only the shared collection can free it).
//!
//! `cargo bench --bench gc_latency [-- WINDOW REPLACEMENTS]`
//!
//! Pause distributions are not a criterion measurement, so this prints its
//! own table; compare the rows of one run.

use std::time::Instant;

use maat_gc::{Config, Gc, Global, Heap, Mode, PauseHistogram, RefLock, Root, Space, Sweep, Trace};

/// A 1 KiB object with no references (its bytes are only there to be big).
#[derive(Trace)]
struct Blob(#[allow(dead_code)] [u8; 1024]);

type Window<'gc> = Gc<'gc, RefLock<Vec<Gc<'gc, Blob>>>>;

/// The window, as a heap root.
struct Local;
impl Root for Local {
    type Of<'gc> = Option<Window<'gc>>;
}

/// The window, as a global root.
struct Shared;
impl Root for Shared {
    type Of<'gc> = Window<'gc>;
}

struct Outcome {
    pauses: PauseHistogram,
    seconds: f64,
}

fn blob(i: usize) -> Blob {
    Blob([i as u8; 1024])
}

fn local(mode: Mode, window: usize, replacements: usize) -> Outcome {
    let mut heap =
        Heap::<Local>::new(Config { mode, trace: std::env::var_os("GCTRACE").is_some(), ..Config::default() }, |_| {
            None
        });
    heap.mutate_root(|mc, root| *root = Some(mc.alloc(RefLock::new((0..window).map(|i| mc.alloc(blob(i))).collect()))));
    heap.collect();
    heap.reset_pauses();
    let start = Instant::now();
    for i in 0..replacements {
        heap.mutate(|mc, root| {
            let w = root.expect("window");
            let new = mc.alloc(blob(i));
            // SAFETY: one slot replaced in place (as a VM's `a[i] = v`).
            unsafe { Gc::write_forward(mc, w, new) }.borrow_mut()[i % window] = new;
        });
        heap.collect_debt();
    }
    let seconds = start.elapsed().as_secs_f64();
    Outcome { pauses: heap.stats().pauses, seconds }
}

fn shared(mode: Mode, window: usize, replacements: usize) -> Outcome {
    let space = Space::new();
    let mut heap = Heap::<Local>::new_in(&space, Config { mode, ..Config::default() }, |_| None);
    let global: Global<Shared> = heap.mutate(|mc, _| {
        let w = mc.alloc(RefLock::new((0..window).map(|i| mc.alloc(blob(i))).collect()));
        mc.make_global::<Shared>(w)
    });
    heap.collect();
    heap.reset_pauses();
    let start = Instant::now();
    let mut since_shared = 0;
    for i in 0..replacements {
        heap.mutate(|mc, _| {
            // SAFETY: one thread.
            let w = unsafe { mc.global(&global) };
            let new = mc.alloc(blob(i));
            mc.share(new);
            // SAFETY: as in `local`; the replaced blob goes through the
            // deletion barrier.
            let old = std::mem::replace(&mut unsafe { Gc::write_forward(mc, w, new) }.borrow_mut()[i % window], new);
            mc.deletion_barrier(w.into(), old.into());
        });
        // The heap's safe point: its local steps, and its part of a shared
        // collection in progress (its contribution, then some tracing).
        heap.collect_debt();
        since_shared += 1;
        // Shared pacing, as the VM's scheduler does: start once the shared
        // garbage equals the window, finish once nothing is left to trace.
        // Both are stopped-world points (here trivially: one heap), whose
        // pauses the space records; the LSO is swept at the heap's safe points.
        if space.shared_marking() {
            if space.shared_marking_settled() {
                // SAFETY: the space's only heap is between mutations.
                unsafe { space.finish_shared_collection(Sweep::Lazily) };
            }
        } else if since_shared >= window {
            since_shared = 0;
            // SAFETY: as above; the window's type is only used by this thread.
            unsafe { space.start_shared_collection() };
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut pauses = heap.stats().pauses;
    pauses.merge(&space.stats().pauses);
    drop(global);
    Outcome { pauses, seconds }
}

/// One configuration's workload: mode, window, replacements.
type Run = fn(Mode, usize, usize) -> Outcome;

fn main() {
    let numbers: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let window = numbers.first().copied().unwrap_or(200_000);
    let replacements = numbers.get(1).copied().unwrap_or(1_000_000);
    println!("window {window} x 1 KiB, {replacements} replacements");
    println!("{:<22} {:>10} {:>10} {:>10} {:>9} {:>8}", "configuration", "max", "p99", "p50", "pauses", "time");
    let runs: [(&str, Run, Mode); 4] = [
        ("local incremental", local, Mode::Incremental),
        ("local generational", local, Mode::Generational),
        ("shared incremental", shared, Mode::Incremental),
        ("shared generational", shared, Mode::Generational),
    ];
    for (name, run, mode) in runs {
        let o = run(mode, window, replacements);
        let ms = |d: std::time::Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
        println!(
            "{name:<22} {:>10} {:>10} {:>10} {:>9} {:>7.2}s",
            ms(o.pauses.max()),
            ms(o.pauses.quantile(0.99)),
            ms(o.pauses.quantile(0.5)),
            o.pauses.count(),
            o.seconds
        );
    }
}

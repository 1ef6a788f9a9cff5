//! The `maat` command: runs Maat programs (a file, code given with `-e`,
//! or the interactive prompt); its command line is [`cli`]'s.

use std::io::Write;
use std::process::ExitCode;

mod cli;
mod repl;
use cli::{Action, Invocation, Options, Target};
use maat::gc::Config;
use maat::vm::compiler::compile_loaded;
use maat::vm::module::Loaded;

fn main() -> ExitCode {
    let arguments: Result<Vec<String>, _> = std::env::args_os().skip(1).map(|a| a.into_string()).collect();
    let parsed =
        arguments.map_err(|arg| format!("argument `{}` is not UTF-8", arg.to_string_lossy())).and_then(cli::parse);
    let Invocation { target, options, args } = match parsed {
        Ok(Action::Run(invocation)) => invocation,
        Ok(Action::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Action::Version) => {
            println!("maat {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\nFor the usage: maat --help");
            return ExitCode::from(2);
        }
    };
    let config = Config {
        mode: options.gc,
        trace: options.gc_trace,
        torture: options.gc_torture,
        max_heap: options.max_heap,
        ..Config::default()
    };
    let threads = options.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (name, source, path) = match target {
        Target::File(file) => match std::fs::read_to_string(&file) {
            Ok(src) => (file.display().to_string(), src, Some(file)),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", file.display());
                return ExitCode::from(2);
            }
        },
        Target::Code(code) => ("-e".to_owned(), code, None),
        Target::Prompt => return if repl::run(config, threads) { ExitCode::SUCCESS } else { ExitCode::from(1) },
    };
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let loaded = match &path {
        Some(path) => maat::vm::module::load(path, &source),
        None => maat::vm::module::from_text(&name, &source),
    };
    let result = loaded.and_then(|loaded| run(loaded, (config, threads, args), &options, &mut out));
    let _ = out.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
    }
}

fn run(
    loaded: Loaded,
    (config, threads, args): (Config, usize, Vec<String>),
    options: &Options,
    out: &mut (dyn Write + Send),
) -> Result<(), String> {
    let program = compile_loaded(loaded, &[])?;
    if options.bytecode {
        return write!(out, "{}", maat::vm::bytecode::Listing(&program)).map_err(|e| format!("cannot write: {e}"));
    }
    let mut vm = maat::vm::Vm::new(program, config);
    vm.set_threads(threads);
    vm.set_args(args);
    vm.count_contention(options.stats);
    let result = vm.run(out);
    if options.stats {
        let gc = vm.gc_stats();
        let (taken, elided) = vm.lock_stats();
        eprintln!(
            "gc: {} KiB allocated, {} KiB freed, {} objects allocated, {} freed, {} shared, {} frozen",
            gc.bytes_allocated / 1024,
            gc.bytes_freed / 1024,
            gc.objects_allocated,
            gc.objects_freed,
            gc.objects_shared,
            gc.objects_frozen
        );
        let c = gc.collections;
        eprintln!(
            "gc: collections: {} incremental, {} full, {} minor, {} major, {} shared; {:?}",
            c.incremental, c.full, c.minor, c.major, c.shared, gc.pauses
        );
        eprintln!("locks: {taken} taken, {elided} elided");
        print_contention(&vm.contention());
    }
    result
}

/// How many variables and shared objects `--stats` lists (the most
/// contended of each).
const VARS_LISTED: usize = 20;
const OBJECTS_LISTED: usize = 10;

/// `--stats`: what the most contended variables and shared objects cost.
fn print_contention(c: &maat::vm::interp::Contention) {
    let mut vars: Vec<_> = c.vars.iter().collect();
    vars.sort_by_key(|(_, v)| std::cmp::Reverse((v.contended, v.waited, v.retries, v.sections + v.updates)));
    for (name, v) in vars.iter().take(VARS_LISTED) {
        eprintln!(
            "variable {name}: {} sections, {} lock-free updates ({} retried), {} contended, {} parked for {:.3} ms (longest {:.3} ms)",
            v.sections,
            v.updates,
            v.retries,
            v.contended,
            v.waits,
            v.waited.as_secs_f64() * 1e3,
            v.longest.as_secs_f64() * 1e3
        );
    }
    if vars.len() > VARS_LISTED {
        eprintln!("({} more variables)", vars.len() - VARS_LISTED);
    }
    for o in c.objects.iter().take(OBJECTS_LISTED) {
        eprintln!(
            "shared {}: lock taken {} times, {} contended, waited {:.3} ms (longest {:.3} ms)",
            o.kind,
            o.taken,
            o.contended,
            o.waited.as_secs_f64() * 1e3,
            o.longest.as_secs_f64() * 1e3
        );
    }
    if c.objects.len() > OBJECTS_LISTED {
        eprintln!("({} more shared objects)", c.objects.len() - OBJECTS_LISTED);
    }
}

//! The `maat` command: runs Maat programs.
//!
//! ```text
//! maat run FILE [--threads N] [--gc inc|gen] [--gc-trace] [--stats] [--max-heap SIZE] [--] [ARGS…]
//! maat -e CODE  [same options]
//! maat           [same options]     (the interactive prompt)
//! ```
//!
//! The options may stand before or after `run`.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod repl;
use maat::gc::{Config, Mode};
use maat::vm::compiler::compile_loaded;
use maat::vm::module::Loaded;

#[derive(Parser)]
#[command(name = "maat", version, about = "Run Maat programs")]
struct Cli {
    /// Run CODE instead of a file.
    #[arg(short = 'e', value_name = "CODE")]
    eval: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program file.
    Run {
        /// The program.
        file: std::path::PathBuf,
        /// The program's arguments (its `ARGS`); after `--` they may start with `-`.
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
}

/// Run-time options. They are global: they may stand before or after `run`.
#[derive(clap::Args, Clone, Default)]
struct Options {
    /// OS threads running maatines (default: the number of cores).
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// Collector mode.
    #[arg(long, global = true, value_enum, default_value_t = GcMode::Inc)]
    gc: GcMode,
    /// Print one line per collection to stderr.
    #[arg(long, global = true)]
    gc_trace: bool,
    /// Print collector and lock statistics to stderr at the end.
    #[arg(long, global = true)]
    stats: bool,
    /// Maximum heap size, in bytes or with a K, M or G suffix.
    #[arg(long, global = true, value_parser = parse_size)]
    max_heap: Option<usize>,
    /// Print the compiled bytecode of every function instead of running.
    #[arg(long, global = true)]
    bytecode: bool,
}

#[derive(Clone, Copy, Default, ValueEnum)]
enum GcMode {
    #[default]
    Inc,
    Gen,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: usize = digits.parse().map_err(|_| format!("`{s}` is not a size"))?;
    let scale = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(format!("unknown size unit `{unit}` (use K, M or G)")),
    };
    n.checked_mul(scale).ok_or_else(|| format!("`{s}` is too large"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (name, source, path, options, args) = match (cli.command, cli.eval) {
        (Some(Command::Run { file, args }), _) => match std::fs::read_to_string(&file) {
            Ok(src) => (file.display().to_string(), src, Some(file), cli.options, args),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", file.display());
                return ExitCode::from(2);
            }
        },
        (None, Some(code)) => ("-e".to_owned(), code, None, cli.options, Vec::new()),
        (None, None) => ("<repl>".to_owned(), String::new(), None, cli.options, Vec::new()),
    };
    let mode = match options.gc {
        GcMode::Inc => Mode::Incremental,
        GcMode::Gen => Mode::Generational,
    };
    let config = Config { mode, trace: options.gc_trace, max_heap: options.max_heap, ..Config::default() };
    let threads =
        options.threads.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), usize::from);
    if name == "<repl>" {
        return if repl::run(config, threads) { ExitCode::SUCCESS } else { ExitCode::from(1) };
    }
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
    }
    result
}

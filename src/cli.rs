//! The command line of `maat`: what it asks for (a file, code, or the
//! prompt) and the run-time options, parsed from the arguments.
//!
//! ```text
//! maat [OPTIONS] run FILE [OPTIONS] [--] [ARGS…]
//! maat [OPTIONS] -e CODE
//! maat [OPTIONS]                      (the interactive prompt)
//! ```
//!
//! The rules: options may stand before or after `run` and after FILE, as
//! `--name VALUE` or `--name=VALUE`; the first argument after FILE that is
//! not an option starts the program's ARGS, and everything from there on is
//! the program's (so are the arguments after `--`). A bad argument is an
//! error that names it; nothing here exits the process.

use std::path::PathBuf;

use maat::gc::Mode;

/// What the command line asks for.
pub enum Action {
    /// Print the usage (`-h`, `--help`).
    Help,
    /// Print the version (`-V`, `--version`).
    Version,
    /// Run something.
    Run(Invocation),
}

/// What to run, how, and with which program arguments.
pub struct Invocation {
    /// A file, code given as text, or the prompt.
    pub target: Target,
    /// The run-time options.
    pub options: Options,
    /// The program's arguments (its `ARGS`).
    pub args: Vec<String>,
}

/// What runs.
pub enum Target {
    /// `run FILE`.
    File(PathBuf),
    /// `-e CODE`.
    Code(String),
    /// Nothing named: the interactive prompt.
    Prompt,
}

/// Run-time options (see [`USAGE`]); the defaults are those of no option.
#[derive(Default)]
pub struct Options {
    /// OS threads running maatines; `None`: the number of cores.
    pub threads: Option<usize>,
    /// The collector's mode.
    pub gc: Mode,
    /// One line per collection on stderr.
    pub gc_trace: bool,
    /// Collect at every safe point (GC torture mode).
    pub gc_torture: bool,
    /// Collector and lock statistics on stderr at the end.
    pub stats: bool,
    /// The heap limit in bytes.
    pub max_heap: Option<usize>,
    /// Print the bytecode instead of running.
    pub bytecode: bool,
}

/// The usage text of `maat --help`.
pub const USAGE: &str = "\
Run Maat programs

Usage: maat [OPTIONS] run FILE [OPTIONS] [--] [ARGS...]
       maat [OPTIONS] -e CODE
       maat [OPTIONS]                 (the interactive prompt)

Options (before or after `run`):
  --threads N       OS threads running maatines, 1 to 1024 (default: the number of cores)
  --gc inc|gen      collector mode (default: inc)
  --gc-trace        print one line per collection to stderr
  --gc-torture      collect at every safe point (slow: for testing the runtime)
  --stats           print collector and lock statistics to stderr at the end
  --max-heap SIZE   maximum heap size, in bytes or with a K, M or G suffix
  --bytecode        print the compiled bytecode of every function instead of running
  -e CODE           run CODE instead of a file
  -h, --help        print this text
  -V, --version     print the version";

/// The most OS threads `--threads` accepts.
const MAX_THREADS: usize = 1024;

/// Parses the arguments after the command's name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Action, String> {
    let mut parser = Parser::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if parser.trailing {
            parser.positional(arg)?;
            continue;
        }
        match arg.as_str() {
            "-h" | "--help" => return Ok(Action::Help),
            "-V" | "--version" => return Ok(Action::Version),
            "--" => parser.trailing = true,
            "-e" => parser.code(args.next().ok_or("`-e` needs CODE")?)?,
            _ if arg.starts_with("--") => {
                let (name, inline) = match arg.split_once('=') {
                    Some((name, value)) => (name, Some(value.to_owned())),
                    None => (arg.as_str(), None),
                };
                let has_inline = inline.is_some();
                let value = || inline.or_else(|| args.next()).ok_or(format!("`{name}` needs a value"));
                parser.option(name, has_inline, value)?;
            }
            _ if arg.starts_with("-e") => parser.code(arg[2..].to_owned())?,
            _ if arg.starts_with('-') && arg.len() > 1 && parser.file.is_none() => {
                return Err(format!("unknown option `{arg}`"));
            }
            _ => parser.positional(arg)?,
        }
    }
    parser.finish()
}

/// The state of [`parse`] between arguments.
#[derive(Default)]
struct Parser {
    options: Options,
    run: bool,
    file: Option<PathBuf>,
    code: Option<String>,
    args: Vec<String>,
    /// From here on every argument is the program's (after `--`, or after
    /// the first of ARGS).
    trailing: bool,
}

impl Parser {
    /// `run`, then FILE, then the program's arguments.
    fn positional(&mut self, arg: String) -> Result<(), String> {
        if self.file.is_some() {
            self.args.push(arg);
            self.trailing = true;
        } else if self.run {
            self.file = Some(PathBuf::from(arg));
        } else if arg == "run" && !self.trailing {
            self.run = true;
        } else {
            return Err(format!("unexpected argument `{arg}` (to run a file: maat run FILE)"));
        }
        Ok(())
    }

    fn code(&mut self, code: String) -> Result<(), String> {
        if self.code.replace(code).is_some() {
            return Err("`-e` given twice".to_owned());
        }
        Ok(())
    }

    /// `--name` (with `value` to fetch its value; `inline`: it was given as
    /// `--name=value`).
    fn option(
        &mut self,
        name: &str,
        inline: bool,
        value: impl FnOnce() -> Result<String, String>,
    ) -> Result<(), String> {
        let o = &mut self.options;
        let flag = match name {
            "--gc-trace" => &mut o.gc_trace,
            "--gc-torture" => &mut o.gc_torture,
            "--stats" => &mut o.stats,
            "--bytecode" => &mut o.bytecode,
            "--threads" => return value().and_then(|v| parse_threads(&v)).map(|n| o.threads = Some(n)),
            "--gc" => return value().and_then(|v| parse_mode(&v)).map(|m| o.gc = m),
            "--max-heap" => return value().and_then(|v| parse_size(&v)).map(|n| o.max_heap = Some(n)),
            _ => return Err(format!("unknown option `{name}`")),
        };
        if inline {
            return Err(format!("`{name}` takes no value"));
        }
        *flag = true;
        Ok(())
    }

    fn finish(self) -> Result<Action, String> {
        let target = match (self.file, self.code) {
            (Some(_), Some(_)) => return Err("give either `run FILE` or `-e CODE`, not both".to_owned()),
            (Some(file), None) => Target::File(file),
            (None, _) if self.run => return Err("`run` needs a FILE".to_owned()),
            (None, Some(code)) => Target::Code(code),
            (None, None) => Target::Prompt,
        };
        Ok(Action::Run(Invocation { target, options: self.options, args: self.args }))
    }
}

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(format!("`--threads` takes a number from 1 to {MAX_THREADS}, not `{s}`")),
    }
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "inc" => Ok(Mode::Incremental),
        "gen" => Ok(Mode::Generational),
        _ => Err(format!("`--gc` takes `inc` or `gen`, not `{s}`")),
    }
}

/// A size in bytes, or with a K, M or G suffix (powers of 1024).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Invocation, String> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Action::Run(invocation) => Ok(invocation),
            _ => Err("not a run".to_owned()),
        }
    }

    #[test]
    fn options_stand_before_and_after_run_and_the_file() {
        let i = run(&["--stats", "run", "--gc", "gen", "f.maat", "--threads=3", "a", "--stats", "-x"]).unwrap();
        assert!(matches!(i.target, Target::File(ref f) if f == &PathBuf::from("f.maat")));
        assert!(i.options.stats && matches!(i.options.gc, Mode::Generational));
        assert_eq!(i.options.threads, Some(3));
        assert_eq!(i.args, ["a", "--stats", "-x"], "after the first argument, everything is the program's");
        let dashed = run(&["run", "f.maat", "--", "--threads", "2"]).unwrap();
        assert_eq!(dashed.args, ["--threads", "2"]);
        assert_eq!(dashed.options.threads, None);
    }

    #[test]
    fn code_prompt_and_sizes() {
        let i = run(&["-e", "say 1", "--max-heap", "12M"]).unwrap();
        assert!(matches!(i.target, Target::Code(ref c) if c == "say 1"));
        assert_eq!(i.options.max_heap, Some(12 << 20));
        assert!(matches!(i.options.gc, Mode::Incremental) && i.options.threads.is_none() && !i.options.stats);
        assert!(matches!(run(&["-esay 2"]).unwrap().target, Target::Code(ref c) if c == "say 2"));
        assert!(matches!(run(&["--gc-trace"]).unwrap().target, Target::Prompt));
        assert!(run(&["--gc-torture", "-e", "say 1"]).unwrap().options.gc_torture);
        assert!(matches!(parse(["-h".to_owned()]), Ok(Action::Help)));
        assert!(matches!(parse(["run".to_owned(), "--version".to_owned()]), Ok(Action::Version)));
    }

    #[test]
    fn bad_arguments_are_errors_that_name_them() {
        let error = |args: &[&str]| run(args).err().unwrap_or_default();
        assert!(error(&["run"]).contains("needs a FILE"));
        assert!(error(&["--threads", "0"]).contains("from 1 to 1024, not `0`"));
        assert!(error(&["--threads"]).contains("`--threads` needs a value"));
        assert!(error(&["--gc", "fast"]).contains("not `fast`"));
        assert!(error(&["--max-heap", "12Q"]).contains("unknown size unit `Q`"));
        assert!(error(&["--max-heap", "99999999999999999999G"]).contains("not a size"));
        assert!(error(&["--stats=yes"]).contains("takes no value"));
        assert!(error(&["--fast"]).contains("unknown option `--fast`"));
        assert!(error(&["-x"]).contains("unknown option `-x`"));
        assert!(error(&["f.maat"]).contains("unexpected argument `f.maat`"));
        assert!(error(&["-e", "1", "run", "f.maat"]).contains("not both"));
        assert!(error(&["-e", "1", "-e", "2"]).contains("twice"));
    }
}

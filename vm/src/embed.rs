//! Embedding Maat in a Rust program: a [`Runtime`] that runs Maat code with
//! the embedder's native functions, and [`HostValue`], the owned form values
//! take when they cross between Maat and Rust.
//!
//! ```
//! use maat_vm::embed::{HostValue, Runtime};
//!
//! let mut rt = Runtime::new(maat_gc::Config::default());
//! rt.register("twice", |args| match args {
//!     [HostValue::Num(n)] => Ok(HostValue::Num(n * 2.0)),
//!     _ => Err("twice takes one number".into()),
//! });
//! assert_eq!(rt.eval("say twice(21);").unwrap(), "42\n");
//! assert!(rt.eval("twice(\"x\");").unwrap_err().contains("twice: twice takes one number"));
//! ```

use maat_gc::Config;

use crate::interp::Vm;

/// A value outside the runtime: what native functions receive and return.
/// Arrays and maps are copied across (deeply); other objects arrive as their
/// printed form.
#[derive(Clone, Debug, PartialEq)]
pub enum HostValue {
    /// `nil`
    Nil,
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Array(Vec<HostValue>),
    /// A map's entries, in order.
    Map(Vec<(HostValue, HostValue)>),
}

/// A native function: gets the call's arguments, returns a value or an error
/// message (a catchable Maat error, prefixed with the function's name).
pub type NativeFn = Box<dyn Fn(&[HostValue]) -> Result<HostValue, String> + Send + Sync>;

/// A Maat runtime for embedders: configuration plus native functions.
pub struct Runtime {
    config: Config,
    threads: usize,
    natives: Vec<(String, std::sync::Arc<NativeFn>)>,
}

impl Runtime {
    /// A runtime whose programs run with heap configuration `config`.
    pub fn new(config: Config) -> Self {
        Runtime { config, threads: 1, natives: Vec::new() }
    }

    /// Runs programs' maatines on `threads` OS threads (default 1; native
    /// functions may then be called from several threads at once).
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Makes `f` callable from Maat as `name(...)` (a Maat function of the
    /// same name takes precedence). Registering a name again replaces it.
    pub fn register(
        &mut self,
        name: &str,
        f: impl Fn(&[HostValue]) -> Result<HostValue, String> + Send + Sync + 'static,
    ) {
        let f: std::sync::Arc<NativeFn> = std::sync::Arc::new(Box::new(f));
        match self.natives.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = f,
            None => self.natives.push((name.to_owned(), f)),
        }
    }

    /// Runs `code`; returns what it printed, or the error as the `maat`
    /// command would show it.
    pub fn eval(&self, code: &str) -> Result<String, String> {
        self.run(crate::module::from_text("<eval>", code)?)
    }

    /// Runs the program in `path`; returns what it printed, or the error.
    pub fn run_file(&self, path: &std::path::Path) -> Result<String, String> {
        let src = std::fs::read_to_string(path).map_err(|e| format!("error: cannot read {}: {e}", path.display()))?;
        self.run(crate::module::load(path, &src)?)
    }

    fn run(&self, loaded: crate::module::Loaded) -> Result<String, String> {
        let names: Vec<String> = self.natives.iter().map(|(n, _)| n.clone()).collect();
        let program = crate::compiler::compile_loaded(loaded, &names)?;
        let natives: Vec<NativeFn> = self
            .natives
            .iter()
            .map(|(_, f)| {
                let f = std::sync::Arc::clone(f);
                Box::new(move |args: &[HostValue]| f(args)) as NativeFn
            })
            .collect();
        let mut out = Vec::new();
        let mut vm = Vm::with_natives(program, self.config, natives);
        vm.set_threads(self.threads);
        vm.run(&mut out)?;
        String::from_utf8(out).map_err(|e| format!("error: output is not UTF-8: {e}"))
    }
}

//! Embedding Maat in a Rust program: a persistent [`Runtime`] in which
//! definitions stay from one [`eval`](Runtime::eval) to the next, Maat
//! functions called from Rust with typed arguments and results
//! ([`Runtime::call`], [`IntoMaat`], [`FromMaat`]), Maat objects kept in
//! Rust by [`Handle`] and [`Function`], native functions callable from Maat
//! ([`Runtime::register_fn`]), and a sandbox ([`Limits`], [`Interrupt`]).
//!
//! ```
//! use maat_vm::embed::Runtime;
//!
//! let mut rt = Runtime::new(maat_gc::Config::default());
//! rt.register_fn("twice", |(n,): (f64,)| Ok::<_, String>(n * 2.0));
//! rt.eval("fn area(w, h) { return w * h; }").unwrap();
//! let a: f64 = rt.call("area", (3.0, 4.0)).unwrap();
//! assert_eq!(a, 12.0);
//! assert_eq!(rt.eval("say twice(area(1, 21));").unwrap(), "42\n");
//! ```
//!
//! # The model
//!
//! Every run (an `eval`, a `call`) starts the runtime's maatines on its OS
//! threads ([`Runtime::set_threads`]) and returns when all of them finished:
//! between runs nothing runs, and the methods take `&mut self`, so one host
//! thread at a time drives a runtime (share one between threads behind a
//! `Mutex`; the type system refuses anything else). Values cross by copy
//! (numbers, strings, arrays, maps) or by reference ([`Handle`]: a global
//! root, shared from then on).
//!
//! ```compile_fail,E0277
//! // A runtime is not shared between threads without a lock: this does
//! // not compile (`Runtime` is `Send`, not `Sync`).
//! let rt = maat_vm::embed::Runtime::new(maat_gc::Config::default());
//! std::thread::scope(|s| {
//!     s.spawn(|| drop(&rt));
//! });
//! ```
//!
//! Invariant: the runtime's program only grows, and indexes in it never
//! move ([`Incremental`]), so the closures, instances and global slots that
//! one run made stay valid in every later one.

mod concurrency;
mod convert;
mod error;
#[cfg(feature = "serde")]
mod serde;
pub(crate) mod user;
mod warm;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use maat_gc::{Config, Global, Heap, Root, Space};

pub use crate::host::{Function, Handle, HostValue, NativeFn, PendingUser, UserData};
pub use convert::{FromArgs, FromMaat, IntoArgs, IntoMaat};
pub use error::{CompileError, Error};
#[cfg(feature = "serde")]
pub use serde::Serde;
pub use user::{SyncTypeBuilder, TypeBuilder};

use crate::ast::StmtKind;
use crate::bytecode::Program;
use crate::compiler::{Entry, Incremental};
use crate::interp::{Call, EnvRoot, Vm};
use crate::module::Loaded;
use crate::value::Value;

/// What a run may spend and touch. Exceeding a limit fails the run with a
/// runtime error (`instruction limit of N exceeded`, `time limit of D
/// exceeded`) in the maatine it stopped; the runtime stays usable.
///
/// ```
/// use maat_vm::embed::{Limits, Runtime};
///
/// let mut rt = Runtime::new(maat_gc::Config::default());
/// rt.set_limits(Limits { instructions: Some(100_000), io: false, ..Limits::default() });
/// let e = rt.eval("while true {}").unwrap_err();
/// assert!(e.to_string().contains("instruction limit of 100000 exceeded"));
/// let e = rt.eval("read_file(\"/etc/hostname\")").unwrap_err();
/// assert!(e.to_string().contains("without I/O"));
/// assert_eq!(rt.eval("say 1").unwrap(), "1\n");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Instructions per run, counted as the interpreter's slices count
    /// them (jumps, calls and returns, and every instruction of the general
    /// path), checked every 10,000: a run stops within 10,000 instructions
    /// of the limit, summed over its maatines.
    pub instructions: Option<u64>,
    /// Wall-clock time per run, checked at the same points.
    pub time: Option<Duration>,
    /// Whether `read_file` and `warn` may touch the file system and the
    /// standard error stream (`say` and `print` write to the runtime's
    /// output, which the host chooses: [`Runtime::set_output`]).
    pub io: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { instructions: None, time: None, io: true }
    }
}

impl Limits {
    fn start(self) -> crate::runtime::Limits {
        crate::runtime::Limits::new(self.instructions, self.time, !self.io)
    }
}

/// Stops the run in progress from another thread ([`Runtime::interrupt_handle`]).
///
/// ```
/// use maat_vm::embed::Runtime;
///
/// let mut rt = Runtime::new(maat_gc::Config::default());
/// let stop = rt.interrupt_handle();
/// let t = std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_millis(20));
///     stop.interrupt();
/// });
/// let e = rt.eval("while true {}").unwrap_err();
/// assert_eq!(e.runtime().unwrap().message, "interrupted");
/// t.join().unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// Makes every maatine of the run in progress fail with `interrupted`
    /// at its next slice (within 10,000 instructions). A run that starts
    /// afterwards is not affected.
    pub fn interrupt(&self) {
        // Relaxed: the flag publishes nothing (see `Maatine::run_slice`).
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Code compiled once, to run any number of times ([`Runtime::run`]).
#[derive(Clone, Debug)]
pub struct Chunk {
    main: u32,
    space: u64,
}

/// A Maat runtime for embedders: a heap space, the program compiled so
/// far, the global variables, the native functions, and the limits each
/// run gets.
///
/// ```
/// use maat_vm::embed::Runtime;
///
/// let mut rt = Runtime::new(maat_gc::Config::default());
/// rt.set_threads(2);
/// rt.eval("our total = 0\nma for ^4 -> i { total += i }").unwrap();
/// assert_eq!(rt.global::<u32>("total").unwrap(), 6);
/// ```
pub struct Runtime {
    config: Config,
    threads: usize,
    space: Space,
    world: Arc<maat_sync::World>,
    compiler: Incremental,
    program: Option<Arc<Program>>,
    natives: Vec<Arc<NativeFn>>,
    env: Option<Global<EnvRoot>>,
    interrupt: Arc<AtomicBool>,
    limits: Limits,
    output: Box<dyn Write + Send>,
    types: Arc<crate::host::Types>,
    /// The resident maatine of calls from Rust, kept between them.
    warm: Option<warm::Warm>,
}

/// The root of the short-lived heap in which the host reads a run's
/// result.
struct Scratch;
impl Root for Scratch {
    type Of<'gc> = ();
}

impl Runtime {
    /// An empty runtime whose runs use heap configuration `config` (mode,
    /// heap limit, pacing, torture mode), on one OS thread, writing `say`
    /// to the standard output.
    pub fn new(config: Config) -> Self {
        Runtime {
            config,
            threads: 1,
            space: Space::new(),
            world: maat_sync::World::new(),
            compiler: Incremental::new(&[]),
            program: None,
            natives: Vec::new(),
            env: None,
            interrupt: Arc::default(),
            limits: Limits::default(),
            output: Box::new(std::io::stdout()),
            types: Arc::default(),
            warm: None,
        }
    }

    /// Runs maatines on `threads` OS threads (default 1; native functions
    /// may then be called from several threads at once).
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Where `say` and `print` write in runs other than [`Runtime::eval`]
    /// (which returns what it printed).
    pub fn set_output(&mut self, out: impl Write + Send + 'static) {
        self.output = Box::new(out);
    }

    /// The limits each run gets from now on.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// A handle that stops the run in progress from another thread.
    pub fn interrupt_handle(&self) -> Interrupt {
        Interrupt(Arc::clone(&self.interrupt))
    }

    /// The functions compiled so far (the program grows with what is
    /// compiled; [`Runtime::eval`] of an expression adds no function, a
    /// closure in evaluated code adds one).
    pub fn functions(&self) -> usize {
        self.program.as_ref().map_or(0, |p| p.functions.len())
    }

    /// Makes `f` callable from Maat as `name(...)`, over [`HostValue`]s (a
    /// Maat function of the same name takes precedence). An `Err` becomes a
    /// catchable Maat error `name: message`. Registering a name again
    /// replaces it. A panic in `f` is a bug of the host, not an error of the
    /// program: it ends the run (every worker stops) and continues out of
    /// the call that ran the program, as it was raised.
    ///
    /// ```
    /// use maat_vm::embed::{HostValue, Runtime};
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// rt.register("count", |args| Ok(HostValue::Num(args.len() as f64)));
    /// assert_eq!(rt.eval("say count(1, \"two\", [3])").unwrap(), "3\n");
    /// ```
    pub fn register(
        &mut self,
        name: &str,
        f: impl Fn(&[HostValue]) -> Result<HostValue, String> + Send + Sync + 'static,
    ) {
        let i = self.compiler.add_native(name) as usize;
        let f: Arc<NativeFn> = Arc::new(Box::new(f));
        match self.natives.get_mut(i) {
            Some(slot) => *slot = f,
            None => self.natives.push(f),
        }
    }

    /// [`Runtime::register`] with typed arguments (a tuple of
    /// [`FromMaat`] types) and result: a call with arguments of other
    /// types fails with a Maat error naming what was expected.
    ///
    /// ```
    /// use maat_vm::embed::Runtime;
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// rt.register_fn("greet", |(name, times): (String, usize)| Ok::<_, String>(format!("hi {name} ").repeat(times)));
    /// assert_eq!(rt.eval("say greet(\"ann\", 2);").unwrap(), "hi ann hi ann \n");
    /// assert!(rt.eval("greet(1, 2);").unwrap_err().to_string().contains("greet: expected String, got Num 1"));
    /// ```
    pub fn register_fn<A, R, E>(&mut self, name: &str, f: impl Fn(A) -> Result<R, E> + Send + Sync + 'static)
    where
        A: FromArgs,
        R: IntoMaat,
        E: std::fmt::Display,
    {
        self.register(name, move |args| {
            let args = A::from_args(args).map_err(|e| conversion_message(&e))?;
            f(args).map(IntoMaat::into_maat).map_err(|e| e.to_string())
        });
    }

    /// Registers the Rust type `T` under the Maat name `name`, with the
    /// methods and fields `build` gives it; values of it then convert to
    /// Maat objects ([`IntoMaat`]). A method takes `&mut T` or `&T`; it runs
    /// without a lock while its object is unshared or the runtime runs one
    /// thread, and under the object's lock otherwise (as instances do).
    /// Registering a type again replaces its methods.
    ///
    /// ```
    /// use maat_vm::embed::{Handle, Runtime, UserData};
    ///
    /// struct Counter { n: i64 }
    /// impl UserData for Counter {}
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// rt.register_type::<Counter>("Counter", |t| {
    ///     t.method("add", |c, (k,): (i64,)| { c.n += k; Ok::<_, String>(c.n) });
    ///     t.field_mut("n", |c| c.n, |c, n: i64| c.n = n);
    /// });
    /// rt.eval("fn bump(c) { c.add(2); c.n = c.n * 10; return c; }").unwrap();
    /// let c: Handle = rt.call("bump", (Counter { n: 1 },)).unwrap();
    /// assert_eq!(rt.with_user(&c, |c: &mut Counter| c.n).unwrap(), 30);
    /// ```
    pub fn register_type<T: UserData>(&mut self, name: &str, build: impl FnOnce(&mut TypeBuilder<T>)) {
        let mut builder = TypeBuilder::new(name, false);
        build(&mut builder);
        Arc::make_mut(&mut self.types).add(std::any::TypeId::of::<T>(), builder.build());
    }

    /// Registers a `Sync` Rust type whose methods take `&T` only: its
    /// objects are never locked, on any number of threads.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use maat_vm::embed::{Runtime, UserData};
    ///
    /// struct Hits(AtomicU64);
    /// impl UserData for Hits {}
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// rt.set_threads(2);
    /// rt.register_sync_type::<Hits>("Hits", |t| {
    ///     t.method("hit", |h, ()| Ok::<_, String>(h.0.fetch_add(1, Ordering::Relaxed)));
    ///     t.field("count", |h| h.0.load(Ordering::Relaxed));
    /// });
    /// rt.set_global("hits", Hits(AtomicU64::new(0))).unwrap();
    /// assert_eq!(rt.eval("ma for ^4 -> i { hits.hit() }\nsay hits.count").unwrap(), "4\n");
    /// ```
    pub fn register_sync_type<T: UserData + Sync>(&mut self, name: &str, build: impl FnOnce(&mut SyncTypeBuilder<T>)) {
        let mut builder = SyncTypeBuilder::new(name);
        build(&mut builder);
        Arc::make_mut(&mut self.types).add(std::any::TypeId::of::<T>(), builder.build());
    }

    /// Moves `value` into the runtime as a user object (its type
    /// registered), kept by the returned handle, which may be passed to any
    /// number of calls.
    ///
    /// ```
    /// use maat_vm::embed::{Runtime, UserData};
    ///
    /// struct Log(Vec<String>);
    /// impl UserData for Log {}
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// rt.register_type::<Log>("Log", |t| {
    ///     t.method("add", |l, (s,): (String,)| { l.0.push(s); Ok::<_, String>(()) });
    /// });
    /// rt.eval("fn note(log, what) { log.add(what ~ \"!\") }").unwrap();
    /// let log = rt.wrap(Log(vec![])).unwrap();
    /// rt.call::<_, ()>("note", (&log, "one")).unwrap();
    /// rt.call::<_, ()>("note", (&log, "two")).unwrap();
    /// assert_eq!(rt.with_user(&log, |l: &mut Log| l.0.clone()).unwrap(), ["one!", "two!"]);
    /// ```
    pub fn wrap<T: UserData>(&mut self, value: T) -> Result<Handle, Error> {
        let value = value.into_maat();
        value.check(self.space.id(), &self.types).map_err(Error::Refused)?;
        let heap = Heap::<Scratch>::new_in(&self.space, self.config, |_| ());
        let stats = crate::object::SyncStats::default();
        heap.mutate(|mc, _| {
            let cx = crate::object::Ctx { mc, mode: self.world.mode(), stats: &stats };
            let v = crate::interp::host_to_value(&cx, &self.types, &value).map_err(Error::Refused)?;
            Ok(crate::interp::handle(&cx, v))
        })
    }

    /// The value field `name` of a user object
    /// ([`TypeBuilder::value_field`]), converted to `R`.
    pub fn user_field<R: FromMaat>(&mut self, h: &Handle, name: &str) -> Result<R, Error> {
        let heap = Heap::<Scratch>::new_in(&self.space, self.config, |_| ());
        let stats = crate::object::SyncStats::default();
        let host = heap.mutate(|mc, _| {
            let cx = crate::object::Ctx { mc, mode: self.world.mode(), stats: &stats };
            let v = crate::interp::held(&cx, h).map_err(Error::Refused)?;
            let user = v.as_object().filter(|o| o.kind() == crate::object::kind::USER);
            let user = user.ok_or_else(|| convert::mismatch("a user object", &HostValue::Object(h.clone())))?;
            // SAFETY: kind USER objects are UserObjects.
            let user = unsafe { user.downcast::<crate::object::user::UserObject>() };
            let ty = &self.types.types[maat_gc::Gc::get(user).type_index as usize];
            let i = *ty
                .value_fields
                .get(name)
                .ok_or_else(|| Error::Refused(format!("{} has no value field `{name}`", ty.name)))?;
            let field = crate::object::user::UserObject::field(user, &cx, i);
            if R::BY_REFERENCE && field.as_object().is_some() {
                return Ok(HostValue::Object(crate::interp::handle(&cx, field)));
            }
            crate::interp::to_host(&cx, field, 0).map_err(Error::Refused)
        })?;
        R::from_maat(host)
    }

    /// Runs `f` on the Rust value of a user object (of type `T`), between
    /// runs.
    pub fn with_user<T: UserData, R>(&mut self, h: &Handle, f: impl FnOnce(&mut T) -> R) -> Result<R, Error> {
        let heap = Heap::<Scratch>::new_in(&self.space, self.config, |_| ());
        let stats = crate::object::SyncStats::default();
        heap.mutate(|mc, _| {
            let cx = crate::object::Ctx { mc, mode: self.world.mode(), stats: &stats };
            let v = crate::interp::held(&cx, h).map_err(Error::Refused)?;
            let wrong = || Error::Conversion {
                expected: std::any::type_name::<T>().to_owned(),
                actual: h.type_name().to_owned(),
            };
            let user = v.as_object().filter(|o| o.kind() == crate::object::kind::USER).ok_or_else(wrong)?;
            // SAFETY: kind USER objects are UserObjects.
            let user = unsafe { user.downcast::<crate::object::user::UserObject>() };
            let done = crate::object::user::UserObject::with_mut(user, &cx, |v| v.downcast_mut::<T>().map(f));
            done.map_err(|e| Error::Refused(e.to_string()))?.ok_or_else(wrong)
        })
    }

    /// Runs `code` (its definitions stay for later runs; a top-level `let`
    /// lives on like an `our` variable) and returns what it printed.
    ///
    /// ```
    /// use maat_vm::embed::{Error, Runtime};
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// rt.eval("let greeting = \"hi\"").unwrap();
    /// assert_eq!(rt.eval("say greeting ~ \" there\"").unwrap(), "hi there\n");
    /// let Err(Error::Compile(e)) = rt.eval("say (") else { panic!() };
    /// assert_eq!((e.line, e.column), (1, 6));
    /// ```
    pub fn eval(&mut self, code: &str) -> Result<String, Error> {
        let mut out = Vec::new();
        self.exec(code, &mut out)?;
        String::from_utf8(out).map_err(|e| Error::Refused(format!("the output is not UTF-8: {e}")))
    }

    /// Runs `code` as [`Runtime::eval`] does, writing its output to `out`.
    pub fn exec(&mut self, code: &str, out: &mut (dyn Write + Send)) -> Result<(), Error> {
        self.exec_named("<eval>", code, out)
    }

    /// [`Runtime::exec`] of code named `file` in errors and traces.
    pub(crate) fn exec_named(&mut self, file: &str, code: &str, out: &mut (dyn Write + Send)) -> Result<(), Error> {
        let loaded = crate::module::from_text_located(file, code).map_err(Error::Compile)?;
        let main = self.compile_loaded(loaded, Entry::Once, false)?;
        self.start(Call { func: main, closure: None, args: Vec::new() }, out).map(drop)
    }

    /// The value of `code`: its last statement's, when that is an
    /// expression (`nil` otherwise), converted to `R`.
    ///
    /// ```
    /// use maat_vm::embed::{Function, Runtime};
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// let xs: Vec<f64> = rt.value("let n = 3\n[1, 2, n].map({ |x| x * 10 })").unwrap();
    /// assert_eq!(xs, [10.0, 20.0, 30.0]);
    /// let add: Function = rt.value("{ |a, b| a + b }").unwrap();
    /// assert_eq!(add.call::<f64>(&mut rt, (2, 3)).unwrap(), 5.0);
    /// ```
    pub fn value<R: FromMaat>(&mut self, code: &str) -> Result<R, Error> {
        let loaded = crate::module::from_text_located("<eval>", code).map_err(Error::Compile)?;
        let main = self.compile_loaded(loaded, Entry::Once, true)?;
        self.call_index(main, None, Vec::new())
    }

    /// Compiles `code` (named `file` in errors) once, to [`run`](Runtime::run)
    /// as often as needed. Its definitions are made when it first runs.
    ///
    /// ```
    /// use maat_vm::embed::{Error, Runtime};
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// let Err(Error::Compile(e)) = rt.compile("rules.maat", "fn ok() { return 1 }\nnope()") else { panic!() };
    /// assert_eq!((e.message.as_str(), e.file.as_str(), e.line), ("unknown function `nope`", "rules.maat", 2));
    /// let rules = rt.compile("rules.maat", "fn ok() { return 1 }\nok() + 1").unwrap();
    /// assert_eq!(rt.run::<u8>(&rules).unwrap(), 2);
    /// ```
    pub fn compile(&mut self, file: &str, code: &str) -> Result<Chunk, Error> {
        let loaded = crate::module::from_text_located(file, code).map_err(Error::Compile)?;
        let main = self.compile_loaded(loaded, Entry::Kept, true)?;
        Ok(Chunk { main, space: self.space.id() })
    }

    /// Runs a compiled chunk; its value (its last statement's, when that is
    /// an expression) converted to `R`.
    ///
    /// ```
    /// use maat_vm::embed::Runtime;
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// rt.eval("our n = 0").unwrap();
    /// let tick = rt.compile("tick", "n += 1\nn").unwrap();
    /// for i in 1..=3 {
    ///     assert_eq!(rt.run::<u32>(&tick).unwrap(), i);
    /// }
    /// ```
    pub fn run<R: FromMaat>(&mut self, chunk: &Chunk) -> Result<R, Error> {
        if chunk.space != self.space.id() {
            return Err(Error::Refused("a chunk of another runtime cannot run here".to_owned()));
        }
        self.call_index(chunk.main, None, Vec::new())
    }

    /// Runs the program in `path` (with the files it imports); returns what
    /// it printed. Its definitions stay, as with [`Runtime::eval`].
    pub fn run_file(&mut self, path: &std::path::Path) -> Result<String, Error> {
        let src = std::fs::read_to_string(path)
            .map_err(|e| Error::Refused(format!("cannot read {}: {e}", path.display())))?;
        let loaded = crate::module::load_located(path, &src).map_err(Error::Compile)?;
        let main = self.compile_loaded(loaded, Entry::Once, false)?;
        let mut out = Vec::new();
        self.start(Call { func: main, closure: None, args: Vec::new() }, &mut out)?;
        String::from_utf8(out).map_err(|e| Error::Refused(format!("the output is not UTF-8: {e}")))
    }

    /// Calls the top-level function `name` (or the function a global
    /// variable `name` holds) with `args`; its result converted to `R`.
    ///
    /// ```
    /// use maat_vm::embed::{Error, Runtime};
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// rt.eval("fn stats(xs) { return {n => xs.len, sum => xs.reduce(0, { |a, x| a + x })}; }").unwrap();
    /// let m: std::collections::HashMap<String, f64> = rt.call("stats", (vec![1.0, 2.0, 4.5],)).unwrap();
    /// assert_eq!((m["n"], m["sum"]), (3.0, 7.5));
    /// let e = rt.call::<_, f64>("stats", (1,)).unwrap_err();
    /// let trace = &e.runtime().unwrap().trace;
    /// assert_eq!((trace[0].function.as_str(), trace[0].line), ("stats", 1));
    /// ```
    pub fn call<A: IntoArgs, R: FromMaat>(&mut self, name: &str, args: A) -> Result<R, Error> {
        match self.compiler.function(name) {
            Some(func) => self.call_index(func, None, args.into_args()),
            None if self.compiler.globals().iter().any(|g| g == name) => {
                let f: Function = self.value(name)?;
                f.call(self, args)
            }
            None => Err(Error::Refused(format!("there is no function `{name}`"))),
        }
    }

    /// The function `name` as a value: a top-level function, or the
    /// function a global variable holds.
    ///
    /// ```
    /// use maat_vm::embed::Runtime;
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// rt.eval("fn inc(x) { return x + 1 }\nour dec = { |x| x - 1 }").unwrap();
    /// let (inc, dec) = (rt.function("inc").unwrap(), rt.function("dec").unwrap());
    /// assert_eq!(inc.call::<i32>(&mut rt, (1,)).unwrap() + dec.call::<i32>(&mut rt, (1,)).unwrap(), 2);
    /// ```
    pub fn function(&mut self, name: &str) -> Result<Function, Error> {
        let Some(func) = self.compiler.function(name) else { return self.global(name) };
        let heap = Heap::<Scratch>::new_in(&self.space, self.config, |_| ());
        let stats = crate::object::SyncStats::default();
        let handle = heap.mutate(|mc, _| {
            let cx = crate::object::Ctx { mc, mode: self.world.mode(), stats: &stats };
            let closure = crate::object::closure::Closure::alloc(&cx, func, &[]);
            crate::interp::handle(&cx, Value::object(closure.into()))
        });
        Ok(Function(handle))
    }

    /// The value of the global variable `name` (an `our` variable, or a
    /// top-level `let` of evaluated code), converted to `R`.
    pub fn global<R: FromMaat>(&mut self, name: &str) -> Result<R, Error> {
        if !self.compiler.globals().iter().any(|g| g == name) {
            return Err(Error::Refused(format!("there is no global variable `{name}`")));
        }
        self.value(name)
    }

    /// Sets the global variable `name` (declaring it if it is new) to
    /// `value` (shared from then on, as any value stored in a global).
    ///
    /// ```
    /// use maat_vm::embed::Runtime;
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// rt.set_global("names", vec!["ann", "bo"]).unwrap();
    /// rt.eval("names.push(\"cy\")").unwrap();
    /// assert_eq!(rt.global::<Vec<String>>("names").unwrap(), ["ann", "bo", "cy"]);
    /// ```
    pub fn set_global(&mut self, name: &str, value: impl IntoMaat) -> Result<(), Error> {
        if !name.chars().all(|c| c.is_alphanumeric() || c == '_') || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(Error::Refused(format!("`{name}` is not a variable name")));
        }
        let set: Function = self.value(&format!("our {name} = nil\n{{ |value| {name} = value }}"))?;
        set.call(self, (value,))
    }

    /// Compiles `loaded` into the program; the index of its main function.
    /// With `value`, its last statement, when an expression, is returned.
    fn compile_loaded(&mut self, mut loaded: Loaded, entry: Entry, value: bool) -> Result<u32, Error> {
        persistent(&mut loaded);
        if value {
            returns_last(&mut loaded);
        }
        let program = self.compiler.compile(&loaded, entry).map_err(|e| Error::Compile(loaded.sources.locate(&e)))?;
        let main = program.main;
        self.program = Some(Arc::new(program));
        Ok(main)
    }

    /// Calls function `func` (of `closure`) with `args`; the result as `R`.
    fn call_index<R: FromMaat>(
        &mut self,
        func: u32,
        closure: Option<Handle>,
        args: Vec<HostValue>,
    ) -> Result<R, Error> {
        let space = self.space.id();
        args.iter().try_for_each(|a| a.check(space, &self.types)).map_err(Error::Refused)?;
        let mut out = std::mem::replace(&mut self.output, Box::new(std::io::sink()));
        let result = self.start(Call { func, closure, args }, &mut out);
        self.output = out;
        self.claim(result?)
    }

    /// Runs `call` as the main maatine; the bits of what it returned (see
    /// [`Runtime::claim`]).
    fn start(&mut self, call: Call, out: &mut (dyn Write + Send)) -> Result<u64, Error> {
        self.warm_call(call, out)
    }

    /// The scheduler's runtime for a run of the program so far.
    fn sched_runtime(&self) -> crate::runtime::Runtime {
        let program = Arc::clone(self.program.as_ref().expect("a call follows a compile"));
        let natives = self.natives.clone();
        let mut rt = crate::runtime::Runtime::new(program, natives, self.space.clone(), self.config);
        rt.interrupt = Arc::clone(&self.interrupt);
        rt.limits = self.limits.start();
        rt.types = Arc::clone(&self.types);
        rt
    }

    /// Runs one maatine for each of `calls` on a scheduler made for them;
    /// the virtual machine (for the outcomes) and the run's failure, if any.
    fn run_calls_keeping(
        &mut self,
        calls: Vec<Call>,
        out: &mut (dyn Write + Send),
    ) -> (Vm, Result<(), crate::interp::Failure>) {
        // No other scheduler runs in the space while a warm one lives.
        self.warm = None;
        self.interrupt.store(false, Ordering::Relaxed);
        let mut vm = Vm::prepared(self.sched_runtime(), self.env.take());
        vm.set_threads(self.threads);
        vm.set_calls(calls);
        let result = vm.run_checked(out);
        self.env = vm.session_env();
        (vm, result)
    }

    /// The value a run returned, as `R`: received by a short-lived heap of
    /// the runtime's space, then copied out or kept by a handle.
    fn claim<R: FromMaat>(&self, bits: u64) -> Result<R, Error> {
        // SAFETY: as below; a value without an object needs no heap.
        match unsafe { Value::from_raw_bits(bits) }.unpack() {
            crate::value::Unpacked::Nil => return R::from_maat(HostValue::Nil),
            crate::value::Unpacked::Bool(b) => return R::from_maat(HostValue::Bool(b)),
            crate::value::Unpacked::Num(n) => return R::from_maat(HostValue::Num(n)),
            crate::value::Unpacked::Object(_) => {}
        }
        let heap = Heap::<Scratch>::new_in(&self.space, self.config, |_| ());
        let stats = crate::object::SyncStats::default();
        let host = heap.mutate(|mc, _| {
            // SAFETY: `Vm::returned`'s contract: nothing ran since the run
            // ended, so its result is still there, in transit.
            let v = unsafe { Value::from_raw_bits(bits) };
            let cx = crate::object::Ctx { mc, mode: self.world.mode(), stats: &stats };
            if let Some(o) = v.as_object() {
                mc.receive(o);
                if R::BY_REFERENCE {
                    return Ok(HostValue::Object(crate::interp::handle(&cx, v)));
                }
            }
            crate::interp::to_host(&cx, v, 0)
        });
        R::from_maat(host.map_err(Error::Refused)?)
    }
}

impl Function {
    /// Calls the function with `args` in `rt` (the runtime it came from);
    /// its result converted to `R`.
    pub fn call<R: FromMaat>(&self, rt: &mut Runtime, args: impl IntoArgs) -> Result<R, Error> {
        let closure = self.0.clone();
        if closure.space() != rt.space.id() {
            return Err(Error::Refused("a function of another runtime cannot be called here".to_owned()));
        }
        // The closure names its function (read when the call starts).
        rt.call_index(0, Some(closure), args.into_args())
    }
}

/// The message of a conversion error in a native's arguments.
fn conversion_message(e: &Error) -> String {
    match e {
        Error::Conversion { expected, actual } => format!("expected {expected}, got {actual}"),
        e => e.to_string(),
    }
}

/// A top-level `let` of the main file lives on like an `our` variable (a
/// later run can use it).
fn persistent(loaded: &mut Loaded) {
    let main = loaded.modules.last_mut().expect("a program has a main module");
    for stmt in main.body.iter_mut() {
        if let StmtKind::Let(name, init) = &stmt.kind
            && !name.starts_with("__")
        {
            stmt.kind = StmtKind::Our(name.clone(), init.clone());
        }
    }
}

/// The main file's last statement, when an expression, becomes a `return`
/// of it.
fn returns_last(loaded: &mut Loaded) {
    let main = loaded.modules.last_mut().expect("a program has a main module");
    if let Some(stmt) = main.body.last_mut()
        && let StmtKind::Expr(e) = &stmt.kind
    {
        stmt.kind = StmtKind::Return(Some(e.clone()));
    }
}

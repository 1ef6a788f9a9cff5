//! Concurrency from the host: maatines started from Rust
//! ([`Runtime::spawn_all`]), values streamed from running maatines to a
//! Rust receiver ([`Runtime::host_channel`]), and a Maat channel's buffered
//! values received from Rust between runs ([`Runtime::try_recv`]).
//!
//! Rules: a runtime is driven by one host thread at a time (its methods
//! take `&mut self`; `Runtime` is `Send`, not `Sync`, so sharing one
//! between threads needs a `Mutex`, and forgetting it is a compile error).
//! A run uses the runtime's own OS threads; a host channel's receiver may
//! be read on any thread while the run goes on.

use std::sync::Mutex;
use std::sync::mpsc;

use super::{Error, FromMaat, Function, Handle, HostValue, IntoArgs, Runtime, Scratch, UserData};
use crate::interp::Call;
use crate::object::handle::Outcome;

/// The sending end of a host channel, as a Maat object with one method,
/// `send(value)`.
struct Outbox<T> {
    tx: Mutex<mpsc::Sender<T>>,
}

impl<T: Send + 'static> UserData for Outbox<T> {}

impl Runtime {
    /// Starts one maatine per job, each calling `f` with the job's
    /// arguments, all at once on the runtime's OS threads, and waits for
    /// all of them: each job's result converted to `R`, or its error (a
    /// failed job does not stop the others). The outer error is a deadlock,
    /// or a maatine that a job started, that failed and that nobody joined.
    ///
    /// ```
    /// use maat_vm::embed::{Function, Runtime};
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// rt.set_threads(2);
    /// let square: Function = rt.value("{ |x| x * x }").unwrap();
    /// let results = rt.spawn_all::<_, f64>(&square, (1..=4).map(|i| (i,))).unwrap();
    /// let squares: Vec<f64> = results.into_iter().map(Result::unwrap).collect();
    /// assert_eq!(squares, [1.0, 4.0, 9.0, 16.0]);
    /// ```
    pub fn spawn_all<A: IntoArgs, R: FromMaat>(
        &mut self,
        f: &Function,
        jobs: impl IntoIterator<Item = A>,
    ) -> Result<Vec<Result<R, Error>>, Error> {
        let closure = f.handle().clone();
        if closure.space() != self.space.id() {
            return Err(Error::Refused("a function of another runtime cannot be called here".to_owned()));
        }
        // The closure names its function (read as each maatine starts).
        let func = 0;
        let (space, types) = (self.space.id(), std::sync::Arc::clone(&self.types));
        let calls = jobs.into_iter().map(|job| {
            let args = job.into_args();
            args.iter().try_for_each(|a| a.check(space, &types)).map_err(Error::Refused)?;
            Ok(Call { func, closure: Some(closure.clone()), args })
        });
        let calls = calls.collect::<Result<Vec<_>, Error>>()?;
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = std::mem::replace(&mut self.output, Box::new(std::io::sink()));
        let (vm, result) = self.run_calls_keeping(calls, &mut out);
        self.output = out;
        if let Err(failure) = result
            && (failure.deadlock.is_some() || !failure.unjoined.is_empty())
        {
            return Err(Error::Runtime(crate::interp::Failure { main: None, ..failure }));
        }
        let outcomes = vm.outcomes().into_iter().map(|o| match o.expect("every started maatine finished") {
            Outcome::Returned(bits) => self.claim(bits),
            Outcome::Failed(e) => Err(Error::Runtime(crate::interp::Failure { main: Some(*e), ..Default::default() })),
        });
        Ok(outcomes.collect())
    }

    /// A channel from Maat to Rust: a Maat object whose `send(value)`
    /// converts the value to `T` and hands it to the returned receiver
    /// (which any thread may read while a run goes on; a value that does
    /// not convert is an error in the sender). Give the object to Maat as
    /// an argument or a global, as often as needed.
    ///
    /// ```
    /// use maat_vm::embed::Runtime;
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// let (tx, rx) = rt.host_channel::<String>();
    /// rt.set_global("out", tx).unwrap();
    /// rt.eval("for [\"a\", \"b\"] -> s { out.send(s * 2); }").unwrap();
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), ["aa", "bb"]);
    /// ```
    pub fn host_channel<T: FromMaat + Send + 'static>(&mut self) -> (Handle, mpsc::Receiver<T>) {
        if self.types.find(std::any::TypeId::of::<Outbox<T>>()).is_none() {
            self.register_sync_type::<Outbox<T>>("HostChannel", |t| {
                t.method("send", |o: &Outbox<T>, (v,): (HostValue,)| {
                    let v = T::from_maat(v).map_err(|e| super::conversion_message(&e))?;
                    let tx = o.tx.lock().unwrap_or_else(|e| e.into_inner());
                    tx.send(v).map_err(|_| "the host no longer receives".to_owned())
                });
            });
        }
        let (tx, rx) = mpsc::channel();
        let outbox = self.wrap(Outbox { tx: Mutex::new(tx) }).expect("Outbox is registered just above");
        (outbox, rx)
    }

    /// Receives a value that a run left in a Maat channel (`Chan`), between
    /// runs; `None` if the channel is empty (or closed and empty).
    ///
    /// ```
    /// use maat_vm::embed::{Handle, Runtime};
    ///
    /// let mut rt = Runtime::new(maat_gc::Config::default());
    /// let c: Handle = rt.value("let c = Chan.new(4)\nc.send([1, 2])\nc").unwrap();
    /// assert_eq!(rt.try_recv::<Vec<u8>>(&c).unwrap(), Some(vec![1, 2]));
    /// assert_eq!(rt.try_recv::<Vec<u8>>(&c).unwrap(), None);
    /// ```
    pub fn try_recv<R: FromMaat>(&mut self, chan: &Handle) -> Result<Option<R>, Error> {
        let heap = maat_gc::Heap::<Scratch>::new_in(&self.space, self.config, |_| ());
        let stats = crate::object::SyncStats::default();
        let bits = heap.mutate(|mc, _| {
            let cx = crate::object::Ctx { mc, mode: self.world.mode(), stats: &stats };
            let v = crate::interp::held(&cx, chan).map_err(Error::Refused)?;
            let c = v.as_object().filter(|o| o.kind() == crate::object::kind::CHAN);
            let c = c.ok_or_else(|| Error::Conversion {
                expected: "a channel (Chan)".into(),
                actual: chan.type_name().into(),
            })?;
            // SAFETY: kind CHAN objects are Chans.
            let c = unsafe { c.downcast::<crate::object::chan::Chan>() };
            Ok(match maat_gc::Gc::get(c).recv(None::<fn() -> std::task::Waker>) {
                crate::object::chan::Received::Value(bits) => Some(bits),
                _ => None,
            })
        })?;
        // The value left the channel in transit, as a run's result does.
        bits.map(|bits| self.claim(bits)).transpose()
    }
}

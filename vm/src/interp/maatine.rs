//! A maatine as the interpreter keeps it between slices: its heap (whose
//! root is the interpreter state), its counters, its cell (its id, where
//! its joiners wait and where it waits to be woken) and what it gave away; and how the scheduler drives it (its [`Task`]).

use core::mem::MaybeUninit;
use std::collections::{HashMap, VecDeque};

use super::spare::{self, Spare};
use super::*;
use crate::sched::{Out, Slice, Spawned, Task, Totals};

/// A maatine between slices.
pub(crate) struct Maatine {
    pub(crate) heap: Heap<Machine>,
    pub(crate) stats: SyncStats,
    /// Lock requests of the global variables it waited for, kept across
    /// retries (their waiting time counts toward the starvation bound).
    pub(crate) requests: HashMap<u32, LockRequest>,
    /// When it was first parked waiting for the variable lock it waits
    /// for now (it waits for one at a time), for the contention counts.
    pub(crate) suspended_at: Option<std::time::Instant>,
    /// Where its joiners wait, and where it waits to be woken.
    pub(crate) cell: Arc<JoinCell>,
    /// What it waits for while parked, for deadlock reports.
    pub(crate) waiting: String,
    /// What it sent or returned lately, for use-after-send errors.
    pub(crate) sent: SentLog,
    /// Started by the host, which claims its result after the run: until
    /// then the result is reachable from no root (see `Sched::finish`).
    pub(crate) host: bool,
}

// SAFETY: a maatine moves between OS threads only as a whole, between
// slices, with its heap: no handle into the heap exists outside a mutation,
// and the VM's object types are all safe to use and drop on any thread
// (their shared state is synchronized; see `crate::object`). `SyncStats`
// and the heap's interior cells are only touched by the thread running the
// maatine.
unsafe impl Send for Maatine {}

impl Maatine {
    /// A new maatine of `sched` whose heap root `make_root` builds, in a
    /// spare one's memory if this thread has one; live and active from
    /// here on.
    pub(crate) fn start(
        sched: &Arc<Sched>,
        make_root: impl for<'gc> FnOnce(&maat_gc::Mutation<'gc>, Buffers) -> State<'gc>,
    ) -> Box<Maatine> {
        let Spare { heap, mut record, buffers } = spare::take().unwrap_or_default();
        let heap = heap.restart(&sched.rt.space, sched.rt.config, |mc| make_root(mc, buffers));
        let cell = sched.register(heap.id());
        record.write(Maatine {
            heap,
            stats: if sched.rt.contention {
                SyncStats::counting(sched.rt.program.globals.len())
            } else {
                SyncStats::default()
            },
            requests: HashMap::new(),
            suspended_at: None,
            cell,
            waiting: String::new(),
            sent: SentLog::default(),
            host: false,
        });
        // SAFETY: written just above.
        unsafe { record.assume_init() }
    }

    /// The first maatine of a run: the main one, or the host's first call.
    /// It makes the run's environment, or reuses `previous` (a session's)
    /// if that was made for the same program; the environment to keep, in
    /// a session.
    pub(crate) fn first(
        sched: &Arc<Sched>,
        previous: Option<&Global<EnvRoot>>,
        session: bool,
        args: &[String],
        call: Option<&Call>,
    ) -> (Box<Maatine>, Option<Global<EnvRoot>>) {
        let mut made = None;
        let m = Maatine::start(sched, |mc, buffers| {
            let stats = SyncStats::default();
            let cx = Ctx { mc, mode: sched.rt.world.mode(), stats: &stats };
            let program = &sched.rt.program;
            // SAFETY: the previous environment is shared; its slots
            // synchronize themselves.
            let previous = previous.map(|g| (g, unsafe { mc.global(g) }));
            let env = match previous {
                Some((g, env)) if Arc::ptr_eq(&Gc::get(env).program, program) => {
                    made = Some(g.clone());
                    env
                }
                previous => {
                    let module_vars = if session { program.module_vars as usize } else { 0 };
                    let env = Env::alloc(&cx, program, previous.map(|(_, env)| env), module_vars, args);
                    made = session.then(|| mc.make_global::<EnvRoot>(env));
                    env
                }
            };
            // A session's module variables live on in its environment;
            // a program's own are its main maatine's (unshared).
            let module = if session {
                Gc::get(env).module.clone()
            } else {
                (0..program.module_vars).map(|_| Slot::alloc(&cx, Value::nil())).collect()
            };
            match call {
                None => State::calling(program, (env, module), (program.main, None), &[], buffers),
                Some(call) => call_state(&cx, &sched.rt, (env, module), call, buffers),
            }
        });
        (m, made)
    }

    /// Makes a maatine that returned (or failed) run `call` next, in the
    /// same environment: the host's resident maatine between calls.
    pub(crate) fn prepare(&mut self, rt: &Runtime, call: &Call) {
        let stats = &self.stats;
        self.heap.mutate_root(|mc, state| {
            let cx = Ctx { mc, mode: rt.world.mode(), stats };
            start_call(&cx, rt, state, call);
        });
    }

    /// A maatine stopped between slices (interrupted, or over a limit)
    /// leaves its sections and gives up the lock it waited for, so that no
    /// other maatine waits for those variables forever.
    fn end_sections(&mut self, rt: &Runtime) {
        let Maatine { heap, stats, requests, cell, .. } = self;
        let id = cell.id;
        requests.clear();
        heap.mutate_root(|mc, state| {
            let cx = Ctx { mc, mode: rt.world.mode(), stats };
            if let Some(slot) = state.waiting_on.take() {
                Slot::abandon(slot, &cx, &rt.table, id);
            }
            end_sections(&cx, &rt.table, id, state, 0);
        });
    }

    /// The maatine returned: its result changes hands (it is transferred
    /// out of the heap that is about to end, for the joiner to claim).
    fn finish(&mut self, program: &Program) -> Slice {
        let id = self.cell.id;
        let sent = self.heap.mutate(|mc, state| {
            let result = state.result;
            match result.as_object().map(|o| mc.transfer(o)) {
                Some(Err(_)) => Err(format!(
                    "cannot return this {}: it was sent to another maatine, so {id} no longer holds it",
                    type_name(result)
                )),
                _ => Ok(result.to_bits()),
            }
        });
        match sent {
            Ok(bits) => Slice::Finished(Outcome::Returned(bits)),
            Err(message) => Slice::Finished(Outcome::Failed(Box::new(self.error(program, message)))),
        }
    }

    fn error(&mut self, program: &Program, message: String) -> RuntimeError {
        let trace = self.heap.mutate_root(|_, state| {
            state
                .frames
                .iter()
                .rev()
                .map(|f| {
                    let proto = &program.functions[f.func as usize];
                    TraceFrame {
                        function: proto.name.clone(),
                        file: program.files.get(usize::from(proto.file)).cloned().unwrap_or_default(),
                        line: proto.lines.get(f.pc.saturating_sub(1)).copied().unwrap_or(0),
                    }
                })
                .collect()
        });
        RuntimeError { message, maatine: self.cell.id, trace }
    }
}

impl Task for Maatine {
    fn run_slice(&mut self, sched: &Arc<Sched>, p: &Participant, out: &Out<'_>, spawned: &mut Spawned) -> Slice {
        let rt = &sched.rt;
        // Relaxed: the flag publishes nothing; a slice that misses it sees it at the next one.
        let stop = if rt.interrupt.load(std::sync::atomic::Ordering::Relaxed) {
            Some("interrupted".to_owned())
        } else {
            rt.limits.exceeded(SLICE)
        };
        if let Some(why) = stop {
            let error = self.error(&rt.program, why);
            self.end_sections(rt);
            return Slice::Finished(Outcome::Failed(Box::new(error)));
        }
        let Maatine { heap, stats, requests, suspended_at, cell, waiting, sent, .. } = self;
        let mut budget = SLICE;
        let step = loop {
            let step = heap.mutate_root(|mc, state| {
                let cx = Ctx { mc, mode: rt.world.mode(), stats };
                let env = state.env;
                let blocked_on = None;
                let mut run = Run {
                    cx: &cx,
                    rt,
                    sched,
                    me: cell.id,
                    env,
                    requests,
                    suspended_at,
                    wake: cell,
                    waiting,
                    sent,
                    out,
                    spawned,
                    blocked_on,
                };
                let step = run.slice(state, budget);
                state.clear_dead(&rt.program);
                step
            });
            let work = heap.collect_debt();
            match step {
                Step::Collect(left) => {
                    budget = left.saturating_sub(work / GC_WORK_PER_UNIT);
                    if budget == 0 {
                        break Step::Continue;
                    }
                }
                step => break step,
            }
        };
        match step {
            Step::Continue => Slice::Yield,
            Step::Collect(_) => unreachable!("the loop above takes the safe point and goes on"),
            Step::Blocked => Slice::Blocked,
            Step::Done => self.finish(&rt.program),
            Step::Failed(message) => Slice::Finished(Outcome::Failed(Box::new(self.error(&rt.program, message)))),
            Step::Request(Request::Collect) => {
                self.heap.collect();
                sched.collect_everything(p);
                Slice::Yield
            }
            Step::Request(Request::Mode(mode)) => {
                self.heap.set_mode(mode);
                Slice::Yield
            }
        }
    }

    fn cell(&self) -> &Arc<JoinCell> {
        &self.cell
    }

    fn waiting(&self) -> (MaatineId, String) {
        (self.cell.id, self.waiting.clone())
    }

    fn started_by_host(&self) -> bool {
        self.host
    }

    fn retire(self: Box<Self>, totals: &Mutex<Totals>) -> Arc<JoinCell> {
        let (maatine, record) = vacate(self);
        let Maatine { mut heap, stats, cell, .. } = maatine;
        {
            let mut totals = totals.lock();
            heap.add_stats_to(&mut totals.gc);
            totals.taken += stats.taken();
            totals.elided += stats.elided();
            totals.contention.add(&stats);
        }
        let buffers = heap.mutate_root(|_, state| state.buffers());
        spare::give(Spare { heap: heap.end(), record, buffers });
        cell
    }
}

/// The value of a box, and the box's memory (to be used again).
fn vacate<T>(b: Box<T>) -> (T, Box<MaybeUninit<T>>) {
    let raw = Box::into_raw(b);
    // SAFETY: `raw` is a box's live `T`: reading moves it out, and the
    // memory, now dead, goes back into a box of `MaybeUninit<T>` (the same
    // layout), which frees it without dropping anything.
    unsafe { (raw.read(), Box::from_raw(raw.cast())) }
}

/// The last values a maatine gave away, by object address: what, where, to
/// whom. Bounded: older entries are forgotten (the error then says less).
#[derive(Default)]
pub(crate) struct SentLog(VecDeque<(usize, String)>);

const SENT_LOG: usize = 256;

impl SentLog {
    pub(crate) fn record(&mut self, address: usize, how: String) {
        if self.0.len() == SENT_LOG {
            self.0.pop_front();
        }
        self.0.push_back((address, how));
    }

    pub(crate) fn find(&self, address: usize) -> Option<&str> {
        self.0.iter().rev().find(|(a, _)| *a == address).map(|(_, how)| how.as_str())
    }
}

//! The instruments every check uses: jobs held at a gate until the test releases them (and
//! tell the test what became of them), one ordered stream of what the pool reports and what the
//! kit's hooks saw, and quiet deliberate panics. Nothing here sleeps: every wait is on a
//! condition, bounded by [`T`] of real time so a broken backend fails instead of hanging.

use std::cell::RefCell;
use std::fmt;
use std::panic;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, PoisonError};
use std::time::{Duration, Instant};

use pool_core::{Event, Job, JobId, Panic};
use spec_model::{Runner, WorkerId};

/// The real-time bound on anything the kit waits for: a failure after it, never a hang.
pub(crate) const T: Duration = Duration::from_secs(10);

/// Locks, ignoring poisoning (a panicking kit hook must not hide the report).
pub(crate) fn lock<V>(m: &Mutex<V>) -> MutexGuard<'_, V> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The payload of the panics the kit provokes on purpose.
pub(crate) struct KitPanic;

/// Panics with [`KitPanic`], which the kit's panic hook keeps off stderr.
pub(crate) fn kit_panic() -> ! {
    quiet_kit_panics();
    panic::panic_any(KitPanic)
}

/// Installs (once per process) a panic hook that stays silent for [`KitPanic`] payloads and
/// defers to the previous hook for every other panic.
pub(crate) fn quiet_kit_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<KitPanic>().is_none() {
                previous(info);
            }
        }));
    });
}

/// One thing the kit observed, in the order it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Obs {
    /// An event the pool reported (to `Builder::on_event`).
    Pool(Event),
    /// The kit's `after_job` hook was entered for this job, which asked to be held there.
    Held(JobId),
    /// A blocking call the kit made on another thread returned (the token names the call).
    Returned(u64),
}

/// The ordered stream of [`Obs`]: the pool's events (pushed under the pool's lock, at the
/// moment of the change they report) and the kit's own signals, with a condition to wait on.
/// It is [`pool_core::EventLog`] with the kit's signals merged in, so one wait covers both.
#[derive(Clone, Default)]
pub(crate) struct Stream {
    inner: Arc<(Mutex<Vec<Obs>>, Condvar)>,
}

impl Stream {
    pub(crate) fn new() -> Stream {
        Stream::default()
    }

    /// A listener for `Builder::on_event`.
    pub(crate) fn listener(&self) -> impl Fn(&Event) + Send + Sync + 'static {
        let s = self.clone();
        move |e| s.push(Obs::Pool(*e))
    }

    pub(crate) fn push(&self, o: Obs) {
        lock(&self.inner.0).push(o);
        self.inner.1.notify_all();
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.inner.0).len()
    }

    /// Everything from index `from` on.
    pub(crate) fn since(&self, from: usize) -> Vec<Obs> {
        lock(&self.inner.0).get(from..).unwrap_or(&[]).to_vec()
    }

    /// Blocks until `cond` holds over the stream or `deadline` passes; whether it holds.
    pub(crate) fn wait_until(&self, deadline: Instant, cond: impl Fn(&[Obs]) -> bool) -> bool {
        let mut g = lock(&self.inner.0);
        loop {
            if cond(&g) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = self
                .inner
                .1
                .wait_timeout(g, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Blocks until the stream is longer than `n` or `deadline` passes.
    pub(crate) fn wait_beyond(&self, n: usize, deadline: Instant) -> bool {
        self.wait_until(deadline, |s| s.len() > n)
    }
}

/// How a released job ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Plan {
    /// The job panics (with a payload the kit keeps quiet).
    pub job_panics: bool,
    /// Its callback (the `on_result` of a callback job, or the panic handler of a plain job
    /// that panicked) panics afterwards.
    pub callback_panics: bool,
    /// The worker is held in the `after_job` hook until the test lets it go (the job has
    /// returned but is not counted yet: the worker is finishing).
    pub hold_after: bool,
}

impl Plan {
    /// The model's outcome for a job of `kind` ending by this plan.
    pub(crate) fn outcome(self, kind: spec_model::JobKind) -> spec_model::Outcome {
        use spec_model::{JobKind, Outcome};
        let callback = self.callback_panics
            && match kind {
                JobKind::Callback => true,
                JobKind::Plain => self.job_panics,
                JobKind::Handle | JobKind::ResultQueue => false,
            };
        match (self.job_panics, callback) {
            (false, false) => Outcome::Completed,
            (true, false) => Outcome::Panicked,
            (false, true) => Outcome::CompletedCallbackPanicked,
            (true, true) => Outcome::PanickedCallbackPanicked,
        }
    }
}

/// What the kit's jobs and hooks saw, case-wide.
#[derive(Default)]
pub(crate) struct Logs {
    /// Tags of jobs dropped without running, in drop order (handed back and dropped, cancelled
    /// and discarded, dropped with a pool).
    pub(crate) dropped: Mutex<Vec<u64>>,
    /// Callback runs: (tag, where, whether it got a panic), in order.
    pub(crate) callbacks: Mutex<Vec<(u64, Runner, bool)>>,
    /// Panic-handler runs: (job, where), in order.
    pub(crate) handler: Mutex<Vec<(JobId, Runner)>>,
    /// Jobs given to the `DiscardOldest` eviction handler, not yet taken by the test.
    pub(crate) evicted: Mutex<Vec<Job>>,
    /// Result-queue callbacks: (job, what came), in order.
    pub(crate) results: Mutex<Vec<(JobId, spec_model::ResultKind)>>,
    /// Jobs past their gate, in order, with the thread that ran them.
    pub(crate) ran: Mutex<Vec<(u64, std::thread::ThreadId)>>,
    /// Set when the test lets everything go: no `after_job` hook holds any more.
    pub(crate) no_holds: AtomicBool,
}

thread_local! {
    /// The ticket of the kit job that last ran on this thread (set as the job ends, read by
    /// the `after_job` hook and by a test that runs a handed-back job itself).
    static LAST_RAN: RefCell<Option<Ticket>> = const { RefCell::new(None) };
}

/// Takes the ticket of the kit job that last ran on this thread.
pub(crate) fn take_last_ran() -> Option<Ticket> {
    LAST_RAN.with(|c| c.borrow_mut().take())
}

/// The ticket of the kit job that last ran on this thread, left in place (the panic handler
/// runs right after the job, before `after_job` takes it).
pub(crate) fn peek_last_ran() -> Option<Ticket> {
    LAST_RAN.with(|c| c.borrow().clone())
}

/// One job the kit submitted: its gate, its plan once released, and what became of it.
#[derive(Clone)]
pub(crate) struct Ticket(Arc<TicketInner>);

pub(crate) struct TicketInner {
    /// Submission order in the case (also the job's return value).
    pub(crate) tag: u64,
    /// `None` while the gate is closed.
    plan: Mutex<Option<Plan>>,
    opened: Condvar,
    /// (held in `after_job` now, let go for good): once let go, the hook never holds again.
    held: Mutex<(bool, bool)>,
    unheld: Condvar,
    /// How many times the job's closure ran (more than once is a bug).
    pub(crate) runs: AtomicUsize,
    /// The closure was dropped without running.
    pub(crate) dropped_unrun: AtomicBool,
    logs: Arc<Logs>,
    stream: Stream,
    /// The prefix of worker thread names, to tell a worker from the caller.
    prefix: Arc<str>,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ticket#{}", self.0.tag)
    }
}

/// Where the current thread is: a worker (by its name) or a caller.
pub(crate) fn runner(prefix: &str) -> Runner {
    std::thread::current()
        .name()
        .and_then(|n| n.strip_prefix(prefix))
        .and_then(|n| n.strip_prefix('-'))
        .and_then(|n| n.parse().ok())
        .map_or(Runner::Caller, |n| Runner::Worker(WorkerId(n)))
}

/// Records a drop of a job that never ran.
struct DropGuard(Ticket);

impl Drop for DropGuard {
    fn drop(&mut self) {
        let t = &self.0;
        if t.0.runs.load(SeqCst) == 0 {
            t.0.dropped_unrun.store(true, SeqCst);
            lock(&t.0.logs.dropped).push(t.0.tag);
        } else {
            let me = t.clone();
            LAST_RAN.with(|c| *c.borrow_mut() = Some(me));
        }
    }
}

impl Ticket {
    pub(crate) fn new(tag: u64, logs: &Arc<Logs>, stream: &Stream, prefix: &Arc<str>) -> Ticket {
        Ticket(Arc::new(TicketInner {
            tag,
            plan: Mutex::new(None),
            opened: Condvar::new(),
            held: Mutex::new((false, false)),
            unheld: Condvar::new(),
            runs: AtomicUsize::new(0),
            dropped_unrun: AtomicBool::new(false),
            logs: Arc::clone(logs),
            stream: stream.clone(),
            prefix: Arc::clone(prefix),
        }))
    }

    pub(crate) fn tag(&self) -> u64 {
        self.0.tag
    }

    pub(crate) fn runs(&self) -> usize {
        self.0.runs.load(SeqCst)
    }

    pub(crate) fn dropped_unrun(&self) -> bool {
        self.0.dropped_unrun.load(SeqCst)
    }

    /// Opens the gate: the job (running or not yet started) ends by `plan`.
    pub(crate) fn open(&self, plan: Plan) {
        *lock(&self.0.plan) = Some(plan);
        self.0.opened.notify_all();
    }

    /// The plan, if the gate is open.
    pub(crate) fn plan(&self) -> Option<Plan> {
        *lock(&self.0.plan)
    }

    /// Waits until the job started (its closure runs), up to [`T`]; whether it did.
    pub(crate) fn wait_started(&self) -> bool {
        let deadline = Instant::now() + T;
        let mut g = lock(&self.0.plan);
        while self.runs() == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = self
                .0
                .opened
                .wait_timeout(g, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Lets a worker held in `after_job` go, or tells the hook not to hold it at all.
    pub(crate) fn unhold(&self) {
        *lock(&self.0.held) = (false, true);
        self.0.unheld.notify_all();
    }

    /// Waits for the gate; gives up (panicking, which the pool counts) after [`T`].
    fn wait_plan(&self) -> Plan {
        let deadline = Instant::now() + T;
        let mut g = lock(&self.0.plan);
        loop {
            if let Some(p) = *g {
                return p;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                kit_panic();
            }
            g = self
                .0
                .opened
                .wait_timeout(g, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The `after_job` hook's part: if the plan says so, tell the test and wait to be let go.
    pub(crate) fn after_job(&self, id: JobId) {
        if !self.plan().is_some_and(|p| p.hold_after) {
            return;
        }
        let mut g = lock(&self.0.held);
        if g.1 || self.0.logs.no_holds.load(SeqCst) {
            return;
        }
        g.0 = true;
        self.0.stream.push(Obs::Held(id));
        let deadline = Instant::now() + T;
        while g.0 && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            g = self
                .0
                .unheld
                .wait_timeout(g, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The job's closure: counts the run, waits at the gate, then returns its tag or panics.
    pub(crate) fn job(&self) -> impl FnOnce() -> u64 + Send + 'static {
        let t = self.clone();
        let guard = DropGuard(self.clone());
        move || {
            t.0.runs.fetch_add(1, SeqCst);
            // Wake `wait_started` (it waits on the gate's condvar).
            drop(lock(&t.0.plan));
            t.0.opened.notify_all();
            let _guard = guard;
            let plan = t.wait_plan();
            lock(&t.0.logs.ran).push((t.0.tag, std::thread::current().id()));
            if plan.job_panics {
                kit_panic();
            }
            t.0.tag
        }
    }

    /// A fire-and-forget form of [`Ticket::job`].
    pub(crate) fn plain_job(&self) -> impl FnOnce() + Send + 'static {
        let f = self.job();
        move || {
            f();
        }
    }

    /// The `on_result` callback of a callback job: logs where it ran and what it got, then
    /// panics if the plan says so.
    pub(crate) fn callback(&self) -> impl FnOnce(Result<u64, Panic>) + Send + 'static {
        let t = self.clone();
        move |r| {
            let at = runner(&t.0.prefix);
            lock(&t.0.logs.callbacks).push((t.0.tag, at, r.is_err()));
            if t.plan().is_some_and(|p| p.callback_panics) {
                kit_panic();
            }
        }
    }
}

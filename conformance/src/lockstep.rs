//! Sequential conformance: a real pool and `spec-model` driven in lock step.
//!
//! Proptest generates a [`Scenario`]: a configuration and a short sequence of [`Op`]s (caller
//! operations on the pool, and the test's own moves: releasing gated jobs, letting a finishing
//! worker go, stepping the manual clock). The driver applies each operation to the pool and
//! to the model, then follows the pool's threads through the events they report (the recipe
//! in the `spec-model` crate docs: every `WorkerStarted`/`JobStarted`/`WorkerParked`/
//! `SentinelTaken` is the model's `take`, every `JobFinished`/`JobPanicked` its `finish`, every
//! idle `WorkerExited` its `time_out`) until both are settled, and compares what a caller sees:
//! return values, errors and the jobs they hand back, stats, handle results, the callback and
//! panic-handler logs with where they ran, result-queue deliveries in order, stop reports and
//! the jobs they hand back in order. Every case ends with a stop and the conservation check
//! (`src/ledger.rs`).
//!
//! Waiting is on the event stream, never a sleep: "settled" means the model has no worker
//! about to look at the queue, every job released on a worker has finished (or is held where
//! the test asked), and every event the model expects from the pool has come.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pool_core as pc;
use pool_core::{Builder, Job, JobHandle, JoinError, Pool, PoolExt, ResultQueue};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError, TestError, TestRunner};
use spec_model as m;

use crate::backend::Backend;
use crate::kit::{self, Logs, Obs, Plan, Stream, T, Ticket, lock};
use crate::ledger::{Fate, Ledger};
use crate::report::{Row, Status, Work};

/// The rejection policy of a scenario's pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// `Policy::Reject`.
    Reject,
    /// `Policy::CallerRuns`.
    CallerRuns,
    /// `Policy::DiscardOldest`, with an eviction handler that gives the job to the test.
    DiscardOldest,
}

/// The configuration of a scenario's pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Setup {
    /// `min`.
    pub min: usize,
    /// `max` (`None`: unbounded).
    pub max: Option<usize>,
    /// Queue capacity (`None`: unbounded).
    pub capacity: Option<usize>,
    /// Rejection policy.
    pub policy: PolicyKind,
    /// Keep-alive, in seconds of the manual clock.
    pub keep_alive: u64,
    /// Put timeout, in seconds of the manual clock (at least 1, so a blocking put waits).
    pub put_timeout: u64,
    /// Whether the pool is started before the first operation.
    pub start: bool,
}

/// How a scenario submits a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `Pool::put_with(Job::new(..))` (fire-and-forget; a panic goes to the panic handler).
    Plain,
    /// `PoolExt::submit_with` (a `JobHandle`).
    Handle,
    /// `PoolExt::submit_with_callback_with`.
    Callback,
    /// `ResultQueue::put_request_with` (callbacks run by `poll`).
    Request,
    /// `ResultQueue::put_request` (results returned by `poll`).
    RequestPlain,
}

impl Kind {
    fn model(self) -> m::JobKind {
        match self {
            Kind::Plain => m::JobKind::Plain,
            Kind::Handle => m::JobKind::Handle,
            Kind::Callback => m::JobKind::Callback,
            Kind::Request | Kind::RequestPlain => m::JobKind::ResultQueue,
        }
    }
}

/// How long a put may wait for room (result-queue requests always use `Wait`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Adm {
    /// `put` / `Admission::Wait` (the configured put timeout).
    Wait,
    /// `try_put` / `Admission::Try`.
    Try,
    /// `put_timeout(secs)`.
    Timeout(u64),
}

/// One step of a scenario. Operations that pick a job take `pick` modulo the candidates (and
/// do nothing when there are none), so every sequence is valid and shrinks well.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `start()`.
    Start,
    /// Submit a gated job; `panics` is its plan if the caller has to run it (`CallerRuns`).
    Put(Kind, Adm, bool),
    /// Open the gate of a queued or running job: it ends by the plan.
    Release(u8, Plan),
    /// Let a worker held in `after_job` go.
    Unhold(u8),
    /// `JobHandle::cancel` of a submitted job.
    Cancel(u8),
    /// `ResultQueue::poll(block)` (a blocking poll only where the model says it returns).
    Poll(bool),
    /// `grow(n)`.
    Grow(usize),
    /// `shrink(n)`.
    Shrink(usize),
    /// `resize(min, max)` (invalid bounds included).
    Resize(usize, Option<usize>),
    /// Advance the manual clock by this many seconds.
    Advance(u64),
    /// `stop(secs)`: with a zero timeout it returns at once; otherwise it waits on another
    /// thread until the workers are gone or the clock passes its deadline. On a pool that is
    /// already stopping it is called with a zero timeout (no event tells when such a stop
    /// fixed its deadline).
    Stop(u64),
    /// `stop_now()`; the handed-back jobs are run by the test (true) or dropped.
    StopNow(bool),
    /// Drop the pool (the last operation that takes effect).
    Drop,
}

/// A configuration and the operations to apply.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// The pool's configuration.
    pub setup: Setup,
    /// The operations, in order.
    pub ops: Vec<Op>,
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ops: {:?}", self.setup, self.ops)
    }
}

/// The proptest strategy for scenarios: up to 4 workers, up to `max_ops` operations.
pub fn scenarios(max_ops: usize) -> impl Strategy<Value = Scenario> {
    let setup = (
        0usize..=2,
        prop_oneof![7 => (1usize..=3).prop_map(Some), 1 => Just(None)],
        prop_oneof![1 => Just(None), 1 => (1usize..=3).prop_map(Some)],
        prop_oneof![
            2 => Just(PolicyKind::Reject),
            1 => Just(PolicyKind::CallerRuns),
            1 => Just(PolicyKind::DiscardOldest)
        ],
        1u64..=3,
        1u64..=2,
        prop_oneof![7 => Just(true), 1 => Just(false)],
    )
        .prop_map(
            |(min, extra, capacity, policy, keep_alive, put_timeout, start)| {
                // max = min + extra, at least 1 and at most 4; unbounded stays unbounded.
                let max = extra.map(|e| (min + e - 1).clamp(1, 4).max(min));
                Setup {
                    min,
                    max,
                    capacity,
                    policy,
                    keep_alive,
                    put_timeout,
                    start,
                }
            },
        );
    (setup, prop::collection::vec(op(), 1..=max_ops))
        .prop_map(|(setup, ops)| Scenario { setup, ops })
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(job_panics, callback_panics, hold_after)| Plan {
            job_panics,
            callback_panics,
            hold_after,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let kind = prop_oneof![
        3 => Just(Kind::Plain),
        3 => Just(Kind::Handle),
        2 => Just(Kind::Callback),
        1 => Just(Kind::Request),
        1 => Just(Kind::RequestPlain),
    ];
    let adm = prop_oneof![
        3 => Just(Adm::Try),
        1 => Just(Adm::Timeout(0)),
        1 => (1u64..=2).prop_map(Adm::Timeout),
        1 => Just(Adm::Wait),
    ];
    prop_oneof![
        2 => Just(Op::Start),
        30 => (kind, adm, prop::bool::weighted(0.25)).prop_map(|(k, a, p)| Op::Put(k, a, p)),
        22 => (any::<u8>(), plan()).prop_map(|(i, p)| Op::Release(i, p)),
        4 => any::<u8>().prop_map(Op::Unhold),
        6 => any::<u8>().prop_map(Op::Cancel),
        4 => any::<bool>().prop_map(Op::Poll),
        3 => (1usize..=2).prop_map(Op::Grow),
        5 => (1usize..=2).prop_map(Op::Shrink),
        3 => (0usize..=3, prop_oneof![1 => Just(None), 5 => (0usize..=4).prop_map(Some)])
            .prop_map(|(min, max)| Op::Resize(min, max)),
        5 => (1u64..=3).prop_map(Op::Advance),
        4 => (0u64..=3).prop_map(Op::Stop),
        2 => any::<bool>().prop_map(Op::StopNow),
        1 => Just(Op::Drop),
    ]
}

/// Why a case failed: where, and what differed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The operation being applied (index into the scenario's ops), or `None` for the setup
    /// and the final stop.
    pub at: Option<usize>,
    /// What differed, pool against model.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(i) => write!(f, "at op #{i}: {}", self.message),
            None => write!(f, "at the end: {}", self.message),
        }
    }
}

type Res<V = ()> = Result<V, String>;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn wid(w: pc::WorkerId) -> m::WorkerId {
    m::WorkerId(w.0)
}

fn jid(j: pc::JobId) -> m::JobId {
    m::JobId(j.0)
}

fn pjid(j: m::JobId) -> pc::JobId {
    pc::JobId(j.0)
}

/// The model's form of a pool event; `None` for the caller-side events the model has no
/// counterpart of (`PutWaiting`, `StopRequested`).
pub(crate) fn model_event(e: &pc::Event) -> Option<m::Event> {
    use m::Event as M;
    use pc::Event as E;
    let reason = |r: pc::ExitReason| match r {
        pc::ExitReason::Sentinel => m::ExitReason::Sentinel,
        pc::ExitReason::IdleTimeout => m::ExitReason::IdleTimeout,
    };
    Some(match *e {
        E::WorkerStarted { worker } => M::WorkerStarted {
            worker: wid(worker),
        },
        E::WorkerParked { worker } => M::WorkerParked {
            worker: wid(worker),
        },
        E::WorkerExited { worker, reason: r } => M::WorkerExited {
            worker: wid(worker),
            reason: reason(r),
        },
        E::JobStarted { job, worker } => M::JobStarted {
            job: jid(job),
            worker: wid(worker),
        },
        E::JobFinished { job, worker } => M::JobFinished {
            job: jid(job),
            worker: wid(worker),
        },
        E::JobPanicked { job, worker } => M::JobPanicked {
            job: jid(job),
            worker: wid(worker),
        },
        E::JobRanByCaller { job, panicked } => M::JobRanByCaller {
            job: jid(job),
            panicked,
        },
        E::JobCancelled { job } => M::JobCancelled { job: jid(job) },
        E::SentinelTaken { worker } => M::SentinelTaken {
            worker: wid(worker),
        },
        _ => return None,
    })
}

/// `pool_core::PoolState` as the model's.
pub(crate) fn model_state(s: pc::PoolState) -> m::PoolState {
    match s {
        pc::PoolState::Created => m::PoolState::Created,
        pc::PoolState::Running => m::PoolState::Running,
        pc::PoolState::Stopping => m::PoolState::Stopping,
        pc::PoolState::Terminated => m::PoolState::Terminated,
    }
}

/// The fields in which the pool's stats differ from the model's, or `None`.
pub(crate) fn stats_diff(real: &pc::Stats, model: &m::Stats) -> Option<String> {
    let mut diffs = Vec::new();
    macro_rules! cmp {
        ($($f:ident),*) => {$(
            if real.$f != model.$f {
                diffs.push(format!("{} = {:?} (model {:?})", stringify!($f), real.$f, model.$f));
            }
        )*};
    }
    cmp!(
        workers,
        idle,
        busy,
        queued,
        pending_stops,
        completed,
        panicked,
        cancelled,
        rejected,
        caller_runs,
        hook_panics,
        peak_workers,
        min,
        max
    );
    if model_state(real.state) != model.state {
        diffs.push(format!(
            "state = {:?} (model {:?})",
            real.state, model.state
        ));
    }
    (!diffs.is_empty()).then(|| diffs.join(", "))
}

/// Whether `real` and `model` hold the same entries, in the same order for each runner
/// (entries from different threads may interleave either way when they ran at once).
fn same_per_runner<X: PartialEq>(real: &[(X, m::Runner)], model: &[(X, m::Runner)]) -> bool {
    real.len() == model.len()
        && real.iter().chain(model).all(|(_, at)| {
            let a = real.iter().filter(|e| e.1 == *at).map(|e| &e.0);
            let b = model.iter().filter(|e| e.1 == *at).map(|e| &e.0);
            a.eq(b)
        })
}

/// A stop the driver called on another thread and has not seen return yet.
struct PendingStop {
    token: u64,
    /// Its deadline on the pool clock.
    deadline: Duration,
    /// The report, once it returned.
    slot: Arc<Mutex<Option<pc::StopReport>>>,
}

/// What the clock pusher saw while a put ran.
#[derive(Default)]
struct Waited {
    /// The put reported `PutWaiting`.
    waited: bool,
    /// How far the pusher moved the clock.
    advanced: Duration,
    /// The put did not return after the clock passed its deadline.
    stuck: bool,
}

/// Moves the clock by `wait` once the put reports `PutWaiting`, so a put that waits for room
/// reaches its deadline; does nothing if the put returns first.
fn spawn_pusher(
    stream: Stream,
    hand: pc::ManualClock,
    token: u64,
    from: usize,
    wait: Duration,
) -> std::thread::JoinHandle<Waited> {
    std::thread::spawn(move || {
        let first = |s: &[Obs]| {
            s.get(from..).unwrap_or(&[]).iter().find_map(|o| match o {
                Obs::Pool(pc::Event::PutWaiting) => Some(true),
                Obs::Returned(t) if *t == token => Some(false),
                _ => None,
            })
        };
        let deadline = Instant::now() + T;
        if !stream.wait_until(deadline, |s| first(s).is_some()) {
            return Waited::default();
        }
        let snapshot = stream.since(0);
        if first(&snapshot) == Some(false) {
            return Waited::default();
        }
        hand.advance(wait);
        let returned = |s: &[Obs]| s.get(from..).unwrap_or(&[]).contains(&Obs::Returned(token));
        if stream.wait_until(Instant::now() + T, returned) {
            return Waited {
                waited: true,
                advanced: wait,
                stuck: false,
            };
        }
        let far = Duration::from_secs(1_000_000);
        hand.advance(far);
        stream.wait_until(Instant::now() + T, returned);
        Waited {
            waited: true,
            advanced: wait + far,
            stuck: true,
        }
    })
}

/// A put's result, with the handed-back job already dropped (its ticket records the drop).
enum PutOut {
    Accepted(pc::JobId),
    /// Refused; `full` tells `Full` from `ShutDown`; `ours` whether the job handed back was
    /// the one submitted.
    Refused {
        full: bool,
        ours: bool,
    },
}

fn put_plain<F: FnOnce() + Send + 'static>(pool: &dyn Pool, f: F, adm: pc::Admission) -> PutOut {
    match pool.put_with(Job::new(f), adm) {
        Ok(id) => PutOut::Accepted(id),
        Err(e) => {
            let full = e.is_full();
            let ours = e.into_inner().downcast::<F>().is_ok();
            PutOut::Refused { full, ours }
        }
    }
}

/// Drives one pool and the model in lock step.
struct Driver {
    setup: Setup,
    model: m::Model,
    stream: Stream,
    cursor: usize,
    logs: Arc<Logs>,
    prefix: Arc<str>,
    hand: pc::ManualClock,
    /// Every job submitted, by tag, with its kind.
    tickets: Vec<(Ticket, m::JobKind)>,
    /// Accepted jobs: id -> tag.
    tags: BTreeMap<m::JobId, u64>,
    /// Handles of submitted jobs, kept to the end (cancel may target any of them).
    handles: BTreeMap<m::JobId, JobHandle<u64>>,
    /// Result-queue requests submitted with callbacks.
    with_callbacks: BTreeSet<m::JobId>,
    /// Workers whose `WorkerStarted` came and whose first take has not.
    starting: BTreeSet<m::WorkerId>,
    /// Events the model produced that the pool has not reported yet.
    expect: Vec<m::Event>,
    /// Jobs whose worker is held in `after_job`.
    held: BTreeSet<m::JobId>,
    /// The case is ending: every gate is open and nothing is held any more.
    releasing: bool,
    pending_stops: Vec<PendingStop>,
    next_token: u64,
    /// Callback runs the pool must have made: (tag, where, got a panic).
    callbacks: Vec<(u64, m::Runner, bool)>,
    /// Panic-handler runs the pool must have made.
    handler: Vec<(pc::JobId, m::Runner)>,
    /// Result-queue callbacks already compared.
    results_seen: usize,
    /// Where each job that ended ran (or was run by its holder: the caller).
    ran_on: BTreeMap<m::JobId, m::Runner>,
    /// The ledger of what became of every job.
    ledger: Ledger,
    /// After a clock step or a resize, every parked worker re-checks its keep-alive.
    wake_all: bool,
    /// Operations applied.
    ops: u64,
    /// What happened, in order (operations and observations), for a failure report with
    /// `CONFORMANCE_TRACE=1`.
    trace: Vec<String>,
}

impl Driver {
    fn builder(&self, setup: &Setup) -> Builder {
        // Not started: the model starts `Created`, and `start` is one of the operations.
        let mut b = Builder::new()
            .queue_before_start()
            .min(setup.min)
            .keep_alive(secs(setup.keep_alive))
            .put_timeout(secs(setup.put_timeout))
            .thread_name(self.prefix.to_string())
            .clock(self.hand.clock())
            .on_event(self.stream.listener());
        b = match setup.max {
            Some(max) => b.max(max),
            None => b.unbounded(),
        };
        if let Some(c) = setup.capacity {
            b = b.capacity(c);
        }
        b = match setup.policy {
            PolicyKind::Reject => b,
            PolicyKind::CallerRuns => b.policy(pc::Policy::CallerRuns),
            PolicyKind::DiscardOldest => {
                let logs = Arc::clone(&self.logs);
                b.discard_oldest(move |job| lock(&logs.evicted).push(job))
            }
        };
        let logs = Arc::clone(&self.logs);
        let prefix = Arc::clone(&self.prefix);
        b.after_job(|id| {
            if let Some(t) = kit::take_last_ran() {
                t.after_job(id);
            }
        })
        .panic_handler(move |id, _panic| {
            lock(&logs.handler).push((id, kit::runner(&prefix)));
            if kit::peek_last_ran()
                .and_then(|t| t.plan())
                .is_some_and(|p| p.callback_panics)
            {
                kit::kit_panic();
            }
        })
    }

    fn new(setup: Setup) -> Result<(Driver, Builder), String> {
        static CASE: AtomicU64 = AtomicU64::new(0);
        let n = CASE.fetch_add(1, Relaxed);
        let (_clock, hand) = pc::Clock::manual();
        let mut config = m::Config::new(setup.min, setup.max)
            .with_capacity(setup.capacity)
            .with_keep_alive(secs(setup.keep_alive))
            .with_put_timeout(secs(setup.put_timeout));
        config = config.with_policy(match setup.policy {
            PolicyKind::Reject => m::Policy::Reject,
            PolicyKind::CallerRuns => m::Policy::CallerRuns,
            PolicyKind::DiscardOldest => m::Policy::DiscardOldest,
        });
        let model = m::Model::new(config).map_err(|e| format!("model config: {e}"))?;
        let d = Driver {
            setup,
            model,
            stream: Stream::new(),
            cursor: 0,
            logs: Arc::new(Logs::default()),
            prefix: format!("ls{n}").into(),
            hand,
            tickets: Vec::new(),
            tags: BTreeMap::new(),
            handles: BTreeMap::new(),
            with_callbacks: BTreeSet::new(),
            starting: BTreeSet::new(),
            expect: Vec::new(),
            held: BTreeSet::new(),
            releasing: false,
            pending_stops: Vec::new(),
            next_token: 0,
            callbacks: Vec::new(),
            handler: Vec::new(),
            results_seen: 0,
            ran_on: BTreeMap::new(),
            ledger: Ledger::default(),
            wake_all: false,
            ops: 0,
            trace: Vec::new(),
        };
        let b = d.builder(&setup);
        Ok((d, b))
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    fn ticket_of(&self, job: m::JobId) -> Res<(Ticket, m::JobKind)> {
        let tag = self
            .tags
            .get(&job)
            .ok_or_else(|| format!("the pool reported {job}, which it never accepted"))?;
        let (t, k) = &self.tickets[*tag as usize];
        Ok((t.clone(), *k))
    }

    // ----- following the pool's threads ------------------------------------------------

    fn take(&mut self, worker: m::WorkerId, want: m::Taken) -> Res {
        if self.model.worker(worker) == Some(m::WorkerState::Starting)
            && !self.starting.remove(&worker)
        {
            return Err(format!(
                "{worker} took from the queue ({want:?}) before reporting WorkerStarted"
            ));
        }
        let got = self.model.take(worker).map_err(|e| {
            format!(
                "the pool reports {worker} took {want:?}, the model cannot: {e} (model workers {:?}, queue {:?})",
                self.model.workers(),
                self.model.queue()
            )
        })?;
        if got != want {
            return Err(format!(
                "{worker} took {want:?} in the pool, the model's queue head gives {got:?}"
            ));
        }
        for e in self.model.drain_events() {
            if matches!(e, m::Event::WorkerExited { .. }) {
                self.expect.push(e);
            }
        }
        Ok(())
    }

    fn expected(&mut self, e: m::Event) -> Res {
        match self.expect.iter().position(|x| *x == e) {
            Some(i) => {
                self.expect.remove(i);
                Ok(())
            }
            None => Err(format!(
                "the pool reported {e:?}, which the model does not expect (expecting {:?})",
                self.expect
            )),
        }
    }

    fn finish(&mut self, job: m::JobId, reported: m::Event) -> Res {
        let (t, kind) = self.ticket_of(job)?;
        let plan = t
            .plan()
            .ok_or_else(|| format!("{job} finished before the test opened its gate"))?;
        let outcome = plan.outcome(kind);
        let status = self.model.status(job);
        self.model.finish(job, outcome).map_err(|e| {
            format!("the pool reports {reported:?}; the model cannot finish it: {e} ({status:?})")
        })?;
        let events = self.model.drain_events();
        if events != [reported] {
            return Err(format!(
                "the pool reported {reported:?}, the model {events:?} (plan {plan:?})"
            ));
        }
        let (m::Event::JobFinished { worker, .. } | m::Event::JobPanicked { worker, .. }) =
            reported
        else {
            unreachable!("finish is called for finish events")
        };
        if !self.ran_on.contains_key(&job) {
            self.after_finish(job, &t, kind, plan, m::Runner::Worker(worker));
        }
        self.held.remove(&job);
        Ok(())
    }

    /// Records what a finished job's callback and panic handler must have done.
    fn after_finish(
        &mut self,
        job: m::JobId,
        t: &Ticket,
        kind: m::JobKind,
        plan: Plan,
        at: m::Runner,
    ) {
        self.ran_on.insert(job, at);
        if kind == m::JobKind::Callback {
            self.callbacks.push((t.tag(), at, plan.job_panics));
        }
        if kind == m::JobKind::Plain && plan.job_panics {
            self.handler.push((pjid(job), at));
        }
    }

    fn apply(&mut self, o: Obs) -> Res {
        self.trace.push(format!("  {o:?}"));
        match o {
            Obs::Pool(e) => self.apply_event(&e),
            Obs::Held(id) => {
                let job = jid(id);
                match self.model.status(job) {
                    Some(m::JobStatus::Running(at @ m::Runner::Worker(_))) if self.releasing => {
                        // Entered before everything was let go; it goes on at once.
                        let (t, kind) = self.ticket_of(job)?;
                        let plan = t.plan().unwrap_or_default();
                        self.after_finish(job, &t, kind, plan, at);
                        Ok(())
                    }
                    Some(m::JobStatus::Running(at @ m::Runner::Worker(_))) => {
                        // The job, its callback and the panic handler are done; the model
                        // finishes them all at `JobFinished`, after the hook.
                        let (t, kind) = self.ticket_of(job)?;
                        let plan = t.plan().unwrap_or_default();
                        self.after_finish(job, &t, kind, plan, at);
                        self.held.insert(job);
                        Ok(())
                    }
                    s => Err(format!(
                        "{job} reached after_job while the model has it {s:?}"
                    )),
                }
            }
            Obs::Returned(token) => self.stop_returned(token),
        }
    }

    fn apply_event(&mut self, e: &pc::Event) -> Res {
        let Some(me) = model_event(e) else {
            return Ok(());
        };
        match me {
            m::Event::WorkerStarted { worker } => {
                if self.model.worker(worker) != Some(m::WorkerState::Starting)
                    || !self.starting.insert(worker)
                {
                    return Err(format!(
                        "{worker} reported WorkerStarted but the model has it {:?}",
                        self.model.worker(worker)
                    ));
                }
                Ok(())
            }
            m::Event::JobStarted { job, worker } => self.take(worker, m::Taken::Job(job)),
            m::Event::WorkerParked { worker } => self.take(worker, m::Taken::Nothing),
            m::Event::SentinelTaken { worker } => self.take(worker, m::Taken::Stop),
            m::Event::WorkerExited {
                worker,
                reason: m::ExitReason::IdleTimeout,
            } => {
                self.model.time_out(worker).map_err(|err| {
                    format!(
                        "{worker} exited on its idle timeout; the model says it cannot: {err} (now {:?}, workers {:?})",
                        self.model.now(),
                        self.model.workers()
                    )
                })?;
                self.model.drain_events();
                Ok(())
            }
            m::Event::WorkerExited { .. }
            | m::Event::JobRanByCaller { .. }
            | m::Event::JobCancelled { .. } => self.expected(me),
            m::Event::JobFinished { job, .. } | m::Event::JobPanicked { job, .. } => {
                self.finish(job, me)
            }
        }
    }

    fn stop_should_return(&self, deadline: Duration) -> bool {
        let exits_pending = self
            .expect
            .iter()
            .any(|e| matches!(e, m::Event::WorkerExited { .. }));
        (self.model.stats().workers == 0 && !exits_pending) || self.model.now() >= deadline
    }

    fn stop_returned(&mut self, token: u64) -> Res {
        let Some(i) = self.pending_stops.iter().position(|p| p.token == token) else {
            return Ok(()); // a put's token, for its clock pusher
        };
        let ps = self.pending_stops.remove(i);
        if !self.stop_should_return(ps.deadline) {
            return Err(format!(
                "stop returned before its deadline ({:?}, now {:?}) with {} workers left in the model",
                ps.deadline,
                self.model.now(),
                self.model.stats().workers
            ));
        }
        let report = lock(&ps.slot)
            .take()
            .ok_or("stop signalled its return without a report")?;
        self.compare_report("stop", &report, &[])
    }

    fn compare_report(&self, what: &str, real: &pc::StopReport, returned: &[m::JobId]) -> Res {
        let want = self.model.stop_report();
        let got = (
            real.completed,
            real.panicked,
            real.cancelled,
            real.still_running,
            real.returned.len(),
        );
        let exp = (
            want.completed,
            want.panicked,
            want.cancelled,
            self.model.stats().workers,
            returned.len(),
        );
        if got != exp {
            return Err(format!(
                "{what} reported (completed, panicked, cancelled, still_running, returned) = {got:?}, model {exp:?}"
            ));
        }
        Ok(())
    }

    /// Whether the pool is settled as the model sees it.
    fn quiescent(&self) -> bool {
        if !self.model.is_settled() || !self.expect.is_empty() || !self.starting.is_empty() {
            return false;
        }
        for w in self.model.workers() {
            if let m::WorkerState::Running(job) = *w {
                let plan = self
                    .tags
                    .get(&job)
                    .and_then(|&tag| self.tickets[tag as usize].0.plan());
                let waiting = match plan {
                    None => true,
                    Some(p) => p.hold_after && self.held.contains(&job),
                };
                if !waiting {
                    return false;
                }
            }
        }
        if self.wake_all && self.timeout_enabled() {
            return false;
        }
        !self
            .pending_stops
            .iter()
            .any(|p| self.stop_should_return(p.deadline))
    }

    fn describe_wait(&self) -> String {
        format!(
            "the pool did not settle within {T:?}: model workers {:?}, queue {:?}, expecting events {:?}, started {:?}, held {:?}, pending stops {}",
            self.model.workers(),
            self.model.queue(),
            self.expect,
            self.starting,
            self.held,
            self.pending_stops.len()
        )
    }

    /// Follows the pool until it is settled, then compares everything observable.
    fn sync(&mut self, pool: Option<&dyn Pool>) -> Res {
        let deadline = Instant::now() + T;
        loop {
            let new = self.stream.since(self.cursor);
            self.cursor += new.len();
            for o in new {
                self.apply(o)?;
            }
            if !self.wake_all && self.timeout_enabled() {
                // An idle worker whose keep-alive ran out earlier may time out now (the pool
                // grew above `min`, say). A pool decides when it looks (when it is woken), so
                // it may do so at any moment, racing the next operation: step the clock by
                // zero, which wakes every parked worker to look, and wait for the time-outs.
                self.hand.advance(Duration::ZERO);
                self.wake_all = true;
            }
            if self.quiescent() {
                break;
            }
            if !self.stream.wait_beyond(self.cursor, deadline) {
                return Err(self.describe_wait());
            }
        }
        self.wake_all = false;
        self.model
            .check_invariants()
            .map_err(|v| format!("model: {v}"))?;
        self.compare(pool)
    }

    /// Whether the model has an idle timeout it would allow now.
    fn timeout_enabled(&self) -> bool {
        self.model
            .enabled_steps()
            .iter()
            .any(|s| matches!(s, m::Step::TimeOut(_)))
    }

    fn compare(&mut self, pool: Option<&dyn Pool>) -> Res {
        if let Some(pool) = pool {
            let real = pool.stats();
            if let Some(d) = stats_diff(&real, &self.model.stats()) {
                return Err(format!("stats differ: {d}"));
            }
        }
        for (&job, h) in &self.handles {
            // A held job's handle already has its value (it is stored before the job counts).
            let done = self.job_over(job) || self.held.contains(&job);
            if h.is_finished() != done {
                return Err(format!(
                    "the handle of {job} says finished = {}, the model has it {:?} ({:?})",
                    h.is_finished(),
                    self.model.status(job),
                    self.model.disposal(job)
                ));
            }
        }
        let cbs = lock(&self.logs.callbacks).clone();
        let by_runner = |v: &[(u64, m::Runner, bool)]| -> Vec<((u64, bool), m::Runner)> {
            v.iter().map(|&(t, at, p)| ((t, p), at)).collect()
        };
        if !same_per_runner(&by_runner(&cbs), &by_runner(&self.callbacks)) {
            return Err(format!(
                "callbacks ran as (tag, where, got a panic) {cbs:?}, the model says {:?}",
                self.callbacks
            ));
        }
        let handled = lock(&self.logs.handler).clone();
        if !same_per_runner(&handled, &self.handler) {
            return Err(format!(
                "the panic handler ran for {handled:?}, the model says {:?}",
                self.handler
            ));
        }
        Ok(())
    }

    /// Whether a job is over for its handle: ran, cancelled, or handed back and disposed of.
    fn job_over(&self, job: m::JobId) -> bool {
        match self.model.status(job) {
            Some(m::JobStatus::Completed | m::JobStatus::Panicked | m::JobStatus::Cancelled) => {
                true
            }
            Some(m::JobStatus::Returned | m::JobStatus::Evicted) => {
                self.model.disposal(job).is_some()
            }
            _ => false,
        }
    }

    // ----- operations --------------------------------------------------------------------

    fn step(&mut self, pool: &Arc<dyn Pool>, rq: &mut ResultQueue<'_, u64>, op: Op) -> Res {
        self.ops += 1;
        self.trace.push(format!("{op:?}"));
        match op {
            Op::Start => {
                let real = pool.start().map_err(|e| format!("{e:?}"));
                let model = self.model.start().map_err(|e| format!("{e:?}"));
                if real != model {
                    return Err(format!("start() = {real:?}, model {model:?}"));
                }
            }
            Op::Put(kind, adm, panics) => self.put(&**pool, rq, kind, adm, panics)?,
            Op::Release(pick, plan) => {
                let open: Vec<m::JobId> = self
                    .tags
                    .iter()
                    .filter(|&(&job, &tag)| {
                        self.tickets[tag as usize].0.plan().is_none()
                            && matches!(
                                self.model.status(job),
                                Some(m::JobStatus::Queued | m::JobStatus::Running(_))
                            )
                    })
                    .map(|(&job, _)| job)
                    .collect();
                if let Some(&job) = open.get(usize::from(pick) % open.len().max(1)) {
                    let (t, kind) = self.ticket_of(job)?;
                    // A request's result reaches the queue before `after_job`, where the model
                    // has none yet: requests are never held.
                    let hold_after = plan.hold_after && kind != m::JobKind::ResultQueue;
                    t.open(Plan { hold_after, ..plan });
                }
            }
            Op::Unhold(pick) => {
                let held: Vec<m::JobId> = self.held.iter().copied().collect();
                if let Some(&job) = held.get(usize::from(pick) % held.len().max(1)) {
                    self.held.remove(&job);
                    self.ticket_of(job)?.0.unhold();
                }
            }
            Op::Cancel(pick) => {
                let ids: Vec<m::JobId> = self.handles.keys().copied().collect();
                if let Some(&job) = ids.get(usize::from(pick) % ids.len().max(1)) {
                    let real = self.handles[&job].cancel();
                    let model = self.model.cancel(job);
                    if real != model {
                        return Err(format!(
                            "cancel() of {job} = {real}, model {model} (model has it {:?}, {:?})",
                            self.model.status(job),
                            self.model.disposal(job)
                        ));
                    }
                    for e in self.model.drain_events() {
                        self.expect.push(e);
                    }
                }
            }
            Op::Poll(block) => self.poll(rq, block)?,
            Op::Grow(n) => {
                let (real, model) = (pool.grow(n), self.model.grow(n));
                if real != model {
                    return Err(format!("grow({n}) = {real}, model {model}"));
                }
            }
            Op::Shrink(n) => {
                let (real, model) = (pool.shrink(n), self.model.shrink(n));
                if real != model {
                    return Err(format!("shrink({n}) = {real}, model {model}"));
                }
            }
            Op::Resize(min, max) => {
                let running = self.model.state() == m::PoolState::Running;
                let real = pool.resize(min, max).map_err(|e| e.to_string());
                let model = self.model.resize(min, max).map_err(|e| e.to_string());
                if real != model {
                    return Err(format!(
                        "resize({min}, {max:?}) = {real:?}, model {model:?}"
                    ));
                }
                self.wake_all = running && real.is_ok();
            }
            Op::Advance(s) => {
                self.hand.advance(secs(s));
                self.model.pass_time(secs(s));
                self.wake_all = true;
            }
            Op::Stop(s) => self.stop(pool, s)?,
            Op::StopNow(run) => {
                let real = pool.stop_now();
                let model = self.model.stop_now();
                self.compare_report("stop_now", &real, &model.returned)?;
                self.dispose(real.returned, &model.returned, run)?;
            }
            Op::Drop => unreachable!("the case runner handles Drop"),
        }
        self.sync(Some(&**pool))
    }

    fn put(
        &mut self,
        pool: &dyn Pool,
        rq: &mut ResultQueue<'_, u64>,
        kind: Kind,
        adm: Adm,
        panics: bool,
    ) -> Res {
        let tag = self.tickets.len() as u64;
        let t = Ticket::new(tag, &self.logs, &self.stream, &self.prefix);
        let mkind = kind.model();
        self.tickets.push((t.clone(), mkind));
        let adm = match kind {
            Kind::Request | Kind::RequestPlain => Adm::Wait,
            _ => adm,
        };
        let (admission, madm, wait) = match adm {
            Adm::Wait => (
                pc::Admission::Wait,
                m::Admission::Wait,
                self.setup.put_timeout,
            ),
            Adm::Try => (pc::Admission::Try, m::Admission::Try, 0),
            Adm::Timeout(s) => (
                pc::Admission::Timeout(secs(s)),
                m::Admission::Timeout(secs(s)),
                s,
            ),
        };
        let predicted = self.model.clone().put(mkind, madm);
        let full_path = match predicted {
            Err(m::Refused::Full) => true,
            Ok(a) => a.caller_ran || a.evicted.is_some(),
            Err(m::Refused::ShutDown) => false,
        };
        if matches!(predicted, Ok(a) if a.caller_ran) {
            t.open(Plan {
                job_panics: panics,
                ..Plan::default()
            });
        }
        let token = self.token();
        let pusher = (wait > 0).then(|| {
            spawn_pusher(
                self.stream.clone(),
                self.hand.clone(),
                token,
                self.stream.len(),
                secs(wait),
            )
        });
        let logs = Arc::clone(&self.logs);
        let real = match kind {
            Kind::Plain => put_plain(pool, t.plain_job(), admission),
            Kind::Handle => match pool.submit_with(t.job(), admission) {
                Ok(h) => {
                    let id = h.id();
                    self.handles.insert(jid(id), h);
                    PutOut::Accepted(id)
                }
                Err(e) => PutOut::Refused {
                    full: e.is_full(),
                    ours: true,
                },
            },
            Kind::Callback => {
                match pool.submit_with_callback_with(t.job(), t.callback(), admission) {
                    Ok(id) => PutOut::Accepted(id),
                    Err(e) => PutOut::Refused {
                        full: e.is_full(),
                        ours: true,
                    },
                }
            }
            Kind::Request => {
                let l2 = Arc::clone(&logs);
                let r = rq.put_request_with(
                    t.job(),
                    move |id, v| {
                        let kind = if v == tag {
                            m::ResultKind::Value
                        } else {
                            m::ResultKind::Dropped // a wrong value: shows up as a mismatch
                        };
                        lock(&logs.results).push((id, kind));
                    },
                    move |id, e| {
                        let kind = match e {
                            JoinError::Panicked(_) => m::ResultKind::Panicked,
                            JoinError::Dropped | JoinError::Cancelled => m::ResultKind::Dropped,
                        };
                        lock(&l2.results).push((id, kind));
                    },
                );
                match r {
                    Ok(id) => {
                        self.with_callbacks.insert(jid(id));
                        PutOut::Accepted(id)
                    }
                    Err(e) => PutOut::Refused {
                        full: e.is_full(),
                        ours: true,
                    },
                }
            }
            Kind::RequestPlain => match rq.put_request(t.job()) {
                Ok(id) => PutOut::Accepted(id),
                Err(e) => PutOut::Refused {
                    full: e.is_full(),
                    ours: true,
                },
            },
        };
        self.stream.push(Obs::Returned(token));
        let waited = pusher
            .map(|p| p.join().unwrap_or_default())
            .unwrap_or_default();
        let model = self.model.put(mkind, madm);
        if !waited.advanced.is_zero() {
            self.model.pass_time(waited.advanced);
            self.wake_all = true;
        }
        if waited.stuck {
            return Err(format!(
                "a {adm:?} put did not give up when the clock passed its deadline ({wait}s)"
            ));
        }
        if waited.waited && !full_path {
            return Err(format!(
                "a {adm:?} put waited for room; the model admits it at once ({predicted:?})"
            ));
        }
        if !waited.waited && full_path && wait > 0 {
            return Err(format!(
                "a {adm:?} put on a full queue did not wait for room until its deadline"
            ));
        }
        match (real, model) {
            (PutOut::Accepted(id), Ok(a)) => {
                if jid(id) != a.id {
                    return Err(format!("{kind:?} put accepted as {id}, model {}", a.id));
                }
                self.tags.insert(a.id, tag);
                if a.caller_ran {
                    let plan = t.plan().unwrap_or_default();
                    self.model
                        .finish(a.id, plan.outcome(mkind))
                        .map_err(|e| format!("model: {e}"))?;
                    for e in self.model.drain_events() {
                        self.expect.push(e);
                    }
                    self.after_finish(a.id, &t, mkind, plan, m::Runner::Caller);
                }
                if let Some(evicted) = a.evicted {
                    let jobs: Vec<Job> = std::mem::take(&mut *lock(&self.logs.evicted));
                    self.dispose(jobs, &[evicted], false)?;
                } else if !lock(&self.logs.evicted).is_empty() {
                    return Err("the pool evicted a job; the model evicts none".to_owned());
                }
            }
            (PutOut::Refused { full, ours }, Err(r)) => {
                let same = full == (r == m::Refused::Full);
                if !same {
                    let got = if full { "Full" } else { "ShutDown" };
                    return Err(format!("{kind:?} put refused with {got}, model {r:?}"));
                }
                if !ours || !t.dropped_unrun() {
                    return Err(format!(
                        "{kind:?} put refused ({r:?}) but did not hand the submitted job back"
                    ));
                }
                self.ledger.set(tag, Fate::Refused);
            }
            (PutOut::Accepted(id), Err(r)) => {
                self.tags.insert(jid(id), tag);
                return Err(format!(
                    "{kind:?} put accepted as {id}; the model refuses it ({r:?})"
                ));
            }
            (PutOut::Refused { full, .. }, Ok(a)) => {
                let got = if full { "Full" } else { "ShutDown" };
                return Err(format!(
                    "{kind:?} put refused with {got}; the model accepts it as {} ({a:?})",
                    a.id
                ));
            }
        }
        Ok(())
    }

    /// Takes handed-back `jobs` (a stop report, an eviction): checks they are `expected`, in
    /// order, then runs them (`run`) or drops them, and tells the model.
    fn dispose(&mut self, jobs: Vec<Job>, expected: &[m::JobId], run: bool) -> Res {
        if jobs.len() != expected.len() {
            return Err(format!(
                "{} jobs handed back, the model hands back {expected:?}",
                jobs.len()
            ));
        }
        let mut got = Vec::new();
        if run {
            for &job in expected {
                let t = self.ticket_of(job)?.0;
                if t.plan().is_none() {
                    t.open(Plan::default());
                }
            }
            for job in jobs {
                let _ = job.run();
                got.push(kit::take_last_ran().map(|t| t.tag()));
            }
        } else {
            let before = lock(&self.logs.dropped).len();
            drop(jobs);
            got = lock(&self.logs.dropped)[before..]
                .iter()
                .map(|&t| Some(t))
                .collect();
        }
        let want: Vec<Option<u64>> = expected.iter().map(|j| self.tags.get(j).copied()).collect();
        if got != want {
            return Err(format!(
                "handed back the jobs tagged {got:?}, the model hands back {expected:?} (tags {want:?})"
            ));
        }
        for &job in expected {
            let (t, kind) = self.ticket_of(job)?;
            let panics = t.plan().is_some_and(|p| p.job_panics);
            let disposal = match (run, panics) {
                (false, _) => m::Disposal::Dropped,
                (true, false) => m::Disposal::Completed,
                (true, true) => m::Disposal::Panicked,
            };
            self.model
                .dispose(job, disposal)
                .map_err(|e| format!("model: {e}"))?;
            if run && kind == m::JobKind::Callback {
                self.callbacks.push((t.tag(), m::Runner::Caller, panics));
            }
            let fate = if self.model.status(job) == Some(m::JobStatus::Evicted) {
                Fate::Evicted
            } else {
                Fate::Returned
            };
            self.ledger.set(t.tag(), fate);
        }
        Ok(())
    }

    fn poll(&mut self, rq: &mut ResultQueue<'_, u64>, block: bool) -> Res {
        if self.model.results_pending() != rq.pending() {
            return Err(format!(
                "ResultQueue::pending() = {}, model {}",
                rq.pending(),
                self.model.results_pending()
            ));
        }
        let mut ready = Vec::new();
        let model = loop {
            match self.model.poll_result(false) {
                Ok(Some(r)) => ready.push(r),
                Ok(None) => break Ok(()),
                Err(_) if !ready.is_empty() => break Ok(()), // delivered everything
                Err(e) => break Err(e),
            }
        };
        let block = block && ready.is_empty();
        let model = match (model, block) {
            (Err(e), _) => Err(e),
            (Ok(()), true) => match self.model.poll_result(true) {
                Err(e) => Err(e),
                Ok(_) => Ok(()), // it would wait: poll without blocking instead
            },
            (Ok(()), false) => Ok(()),
        };
        let real_block = block && model.is_err();
        let real = rq.poll(real_block);
        let real = match (real, model) {
            (Err(a), Err(b)) => {
                if format!("{a:?}") != format!("{b:?}") {
                    return Err(format!("poll({block}) = Err({a:?}), model Err({b:?})"));
                }
                return Ok(());
            }
            (Ok(v), Ok(())) => v,
            (a, b) => return Err(format!("poll({block}) = {a:?}, model {b:?}")),
        };
        let returned: Vec<(m::JobId, m::ResultKind)> = real
            .into_iter()
            .map(|c| {
                let kind = match c.result {
                    Ok(v) if self.tags.get(&jid(c.id)) == Some(&v) => m::ResultKind::Value,
                    Ok(_) | Err(JoinError::Dropped | JoinError::Cancelled) => {
                        m::ResultKind::Dropped
                    }
                    Err(JoinError::Panicked(_)) => m::ResultKind::Panicked,
                };
                (jid(c.id), kind)
            })
            .collect();
        let called: Vec<(m::JobId, m::ResultKind)> = lock(&self.logs.results)[self.results_seen..]
            .iter()
            .map(|&(id, k)| (jid(id), k))
            .collect();
        self.results_seen += called.len();
        let at = |job: &m::JobId| self.ran_on.get(job).copied().unwrap_or(m::Runner::Caller);
        let split = |cb: bool| -> Vec<((m::JobId, m::ResultKind), m::Runner)> {
            ready
                .iter()
                .filter(|r| self.with_callbacks.contains(&r.job) == cb)
                .map(|r| ((r.job, r.result), at(&r.job)))
                .collect()
        };
        let with_runner =
            |v: &[(m::JobId, m::ResultKind)]| -> Vec<((m::JobId, m::ResultKind), m::Runner)> {
                v.iter().map(|&(j, k)| ((j, k), at(&j))).collect()
            };
        if !same_per_runner(&with_runner(&called), &split(true))
            || !same_per_runner(&with_runner(&returned), &split(false))
        {
            return Err(format!(
                "poll delivered {called:?} to callbacks and returned {returned:?}; the model delivers {ready:?}"
            ));
        }
        Ok(())
    }

    fn stop(&mut self, pool: &Arc<dyn Pool>, s: u64) -> Res {
        // A stop of a pool that is already stopping reports no `StopRequested`, so nothing
        // would tell when it fixed its deadline: it is called with a zero timeout instead.
        let s = if self.model.state() == m::PoolState::Stopping {
            0
        } else {
            s
        };
        let sync = s == 0
            || matches!(
                self.model.state(),
                m::PoolState::Created | m::PoolState::Terminated
            );
        if sync {
            let real = pool.stop(secs(s));
            self.model.begin_stop(secs(s));
            let returned = self.model.stop_report().returned;
            self.compare_report("stop", &real, &returned)?;
            return self.dispose(real.returned, &returned, false);
        }
        let token = self.token();
        let slot = Arc::new(Mutex::new(None));
        let from = self.stream.len();
        let announces = self.model.state() == m::PoolState::Running;
        let (p, sl, stream) = (Arc::clone(pool), Arc::clone(&slot), self.stream.clone());
        std::thread::spawn(move || {
            let r = p.stop(secs(s));
            *lock(&sl) = Some(r);
            drop(p);
            stream.push(Obs::Returned(token));
        });
        // Let the stop begin (it reports `StopRequested`) before the next operation, which
        // would otherwise race with it. The clock only moves on this thread, so its deadline is
        // now + s.
        if announces {
            let begun = |o: &[Obs]| {
                o.get(from..).unwrap_or(&[]).iter().any(|o| {
                    matches!(o, Obs::Pool(pc::Event::StopRequested)) || *o == Obs::Returned(token)
                })
            };
            if !self.stream.wait_until(Instant::now() + T, begun) {
                return Err("stop(timeout) did not report StopRequested".to_owned());
            }
        }
        self.model.begin_stop(secs(s));
        self.pending_stops.push(PendingStop {
            token,
            deadline: self.model.now() + secs(s),
            slot,
        });
        Ok(())
    }

    /// Opens every gate and lets every held worker go.
    fn release_all(&mut self) {
        // No hook holds from now on, and every hold is let go, before any gate opens: a
        // job released below may run into its hook at once.
        self.releasing = true;
        self.logs
            .no_holds
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for (t, _) in &self.tickets {
            t.unhold();
        }
        for (t, _) in &self.tickets {
            if t.plan().is_none() {
                t.open(Plan::default());
            }
        }
    }

    /// Ends a case: releases everything, stops the pool (if it is still ours) and follows it
    /// until every worker is gone, then compares results and checks the ledger.
    fn finish_case(
        &mut self,
        pool: Option<&Arc<dyn Pool>>,
        rq: Option<&mut ResultQueue<'_, u64>>,
    ) -> Res {
        self.release_all();
        self.held.clear();
        self.sync(pool.map(|p| &**p))?;
        if let Some(pool) = pool {
            self.stop(pool, u64::MAX / 4)?; // no deadline in reach
        }
        let deadline = Instant::now() + T;
        loop {
            self.sync(pool.map(|p| &**p))?;
            let threads_gone = self.model.stats().workers == 0 && self.pending_stops.is_empty();
            let stopped = matches!(
                self.model.state(),
                m::PoolState::Terminated | m::PoolState::Created
            );
            if threads_gone && stopped {
                break;
            }
            if !self.stream.wait_beyond(self.cursor, deadline) {
                return Err(self.describe_wait());
            }
        }
        if let Some(rq) = rq {
            self.poll(rq, false)?;
        }
        // Every handle is over now; compare what each gives.
        for (job, h) in std::mem::take(&mut self.handles) {
            let Ok(result) = h.try_join() else {
                return Err(format!(
                    "the handle of {job} is not finished after the stop"
                ));
            };
            let status = self.model.status(job);
            let disposal = self.model.disposal(job);
            let tag = self.tags.get(&job).copied();
            let ok = match (&result, status, disposal) {
                (Ok(v), Some(m::JobStatus::Completed), _) => Some(*v) == tag,
                (Ok(v), _, Some(m::Disposal::Completed)) => Some(*v) == tag,
                (Err(JoinError::Panicked(_)), Some(m::JobStatus::Panicked), _) => true,
                (Err(JoinError::Panicked(_)), _, Some(m::Disposal::Panicked)) => true,
                (Err(JoinError::Cancelled), Some(m::JobStatus::Cancelled), _) => true,
                (Err(JoinError::Cancelled), _, Some(m::Disposal::Cancelled)) => true,
                (Err(JoinError::Dropped), _, Some(m::Disposal::Dropped)) => true,
                _ => false,
            };
            if !ok {
                return Err(format!(
                    "the handle of {job} gives {result:?}; the model has it {status:?} ({disposal:?})"
                ));
            }
        }
        self.settle_ledger()
    }

    /// Fills in the fates the model decided and checks the ledger.
    fn settle_ledger(&mut self) -> Res {
        for (&job, &tag) in &self.tags {
            let fate = match self.model.status(job) {
                Some(m::JobStatus::Completed) => Fate::Completed,
                Some(m::JobStatus::Panicked) => Fate::Panicked,
                Some(m::JobStatus::Cancelled) => Fate::Cancelled,
                Some(m::JobStatus::Returned) => Fate::Returned,
                Some(m::JobStatus::Evicted) => Fate::Evicted,
                other => {
                    return Err(format!("{job} is still {other:?} after the pool stopped"));
                }
            };
            self.ledger.set(tag, fate);
        }
        let s = self.model.stats();
        let counters = crate::ledger::Counters {
            completed: s.completed,
            panicked: s.panicked,
            cancelled: s.cancelled,
            rejected: s.rejected,
            returned: self.model.accounted().returned,
        };
        let tickets: Vec<&Ticket> = self.tickets.iter().map(|(t, _)| t).collect();
        self.ledger.check(&tickets, Some(counters))
    }
}

/// Runs one scenario on `backend`; the number of operations applied, or the first difference.
///
/// # Errors
/// The first way the pool differed from the model, or broke the ledger.
pub fn run_case(backend: &Backend, scenario: &Scenario) -> Result<u64, Failure> {
    kit::quiet_kit_panics();
    let fail = |at, message| Failure { at, message };
    let (mut d, builder) = Driver::new(scenario.setup).map_err(|m| fail(None, m))?;
    let traced = std::env::var_os("CONFORMANCE_TRACE").is_some();
    let result = run_driver(backend, scenario, &mut d, builder);
    match result {
        Err(mut f) if traced => {
            f.message = format!("{}\ntrace:\n{}", f.message, d.trace.join("\n"));
            Err(f)
        }
        other => other,
    }
}

fn run_driver(
    backend: &Backend,
    scenario: &Scenario,
    d: &mut Driver,
    builder: Builder,
) -> Result<u64, Failure> {
    let fail = |at, message| Failure { at, message };
    let pool: Arc<dyn Pool> = Arc::from(
        backend
            .build(builder)
            .map_err(|e| fail(None, format!("building the pool: {e}")))?,
    );
    let mut dropped = false;
    let result = {
        let mut rq = ResultQueue::new(&*pool);
        let mut ops = scenario.ops.iter().enumerate();
        let mut run = || -> Result<(), Failure> {
            if scenario.setup.start {
                d.step(&pool, &mut rq, Op::Start)
                    .map_err(|m| fail(None, m))?;
            }
            for (i, &op) in ops.by_ref() {
                if op == Op::Drop {
                    if d.pending_stops.is_empty() {
                        d.model.drop_pool();
                        dropped = true;
                        return Ok(());
                    }
                    continue;
                }
                d.step(&pool, &mut rq, op).map_err(|m| fail(Some(i), m))?;
            }
            d.finish_case(Some(&pool), Some(&mut rq))
                .map_err(|m| fail(None, m))
        };
        run()
    };
    if let Err(f) = result {
        d.release_all();
        let _ = pool.stop_now();
        return Err(f);
    }
    if dropped {
        if Arc::strong_count(&pool) != 1 {
            return Err(fail(
                None,
                "kit: the pool is still shared at its drop".to_owned(),
            ));
        }
        let created = d.model.stop_report().returned;
        let before = lock(&d.logs.dropped).len();
        drop(pool);
        // A `Created` pool hands its queued jobs back and drops them.
        let got: Vec<u64> = lock(&d.logs.dropped)[before..].to_vec();
        let want: Vec<u64> = created
            .iter()
            .filter_map(|j| d.tags.get(j).copied())
            .collect();
        if got != want {
            d.release_all();
            return Err(fail(
                None,
                format!("drop dropped the jobs tagged {got:?}, the model {want:?}"),
            ));
        }
        for j in created {
            if let Some(&tag) = d.tags.get(&j) {
                d.ledger.set(tag, Fate::Returned);
            }
        }
        d.finish_case(None, None).map_err(|m| {
            d.release_all();
            fail(None, m)
        })?;
    }
    Ok(d.ops)
}

/// The lock-step check: `cases` random scenarios on `backend`, shrinking any failure to a
/// minimal scenario and saving it under `proptest-regressions/` (replayed first next time).
pub fn check(backend: &Backend, cases: u32) -> Row {
    let path: &'static str =
        Box::leak(format!("proptest-regressions/lockstep-{}.txt", backend.name()).into_boxed_str());
    let config = proptest::test_runner::Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(path))),
        max_shrink_iters: 400,
        max_shrink_time: 60_000,
        ..proptest::test_runner::Config::default()
    };
    let mut runner = TestRunner::new(config);
    let ops = AtomicU64::new(0);
    let run = AtomicU64::new(0);
    let result = runner.run(&scenarios(16), |s| {
        run.fetch_add(1, Relaxed);
        match run_case(backend, &s) {
            Ok(n) => {
                ops.fetch_add(n, Relaxed);
                Ok(())
            }
            Err(f) => Err(TestCaseError::fail(f.to_string())),
        }
    });
    let status = match result {
        Ok(()) => Status::Pass,
        Err(TestError::Fail(reason, minimal)) => {
            Status::Fail(format!("{reason}\nminimal scenario: {minimal:?}"))
        }
        Err(TestError::Abort(reason)) => Status::Fail(format!("aborted: {reason}")),
    };
    Row {
        check: "model.lockstep",
        section: "§1-§7 (all, sequential)",
        status,
        work: Work {
            cases: run.load(Relaxed),
            ops: ops.load(Relaxed),
            ..Work::default()
        },
    }
}

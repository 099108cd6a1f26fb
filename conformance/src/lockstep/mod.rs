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
//!
//! The driver, by concern (each file opens with what it holds):
//!
//! - `scenario.rs`: what a case is: [`Setup`], [`Op`], [`Scenario`] and their strategies;
//! - `step.rs`: one operation applied to the pool and the model, and the return values
//!   compared (`Driver::step`: the short operations in place, the longer ones in `ops.rs`);
//! - `ops.rs`: the longer operations: a put (what a `Put` step checks), the disposal of
//!   handed-back jobs, a result-queue poll, a stop and its report;
//! - `observe.rs`: following the pool's threads: its events as the model's `take`/`finish`/
//!   `time_out`, waiting until both are settled, and comparing stats and logs;
//! - `end.rs`: the end of a case: the final stop, the handles' results, the ledger;
//! - `report.rs`: running a case and the check, and how a failure is told ([`Failure`]);
//! - `mod.rs` (this file): the driver's state and its construction, and the case runner.

mod end;
mod observe;
mod ops;
mod report;
mod scenario;
mod step;

pub(crate) use self::observe::{model_event, model_state};
pub use self::report::{Failure, check, run_case};
pub use self::scenario::{Adm, Kind, Op, PolicyKind, Scenario, Setup, scenarios};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use pool_core as pc;
use pool_core::{Builder, JobHandle, Pool, ResultQueue};
use spec_model as m;

use crate::backend::Backend;
use crate::kit::{self, Logs, Stream, Ticket, lock};
use crate::ledger::{Fate, Ledger};

use self::ops::PendingStop;

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
            // Dropping is the model's non-blocking stop.
            .drop_timeout(Duration::ZERO)
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
        b.after_job(|id, _| {
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

//! Concurrent histories: several threads call one pool at once; the history of calls (each
//! with its invocation and response) and of the pool's worker events must be linearizable
//! against `spec-model`.
//!
//! The operations are those whose response is a function of the model's state at their
//! linearization point: `try_put` and `try_submit` on a bounded queue (accepted with the next
//! id, `Full` or `ShutDown`), `cancel`, `grow`, `shrink`, a `stats` snapshot, `stop` with a
//! zero timeout and `stop_now`. What the pool's threads do (take a job, park, take a sentinel,
//! finish a job the test released) comes from its events, as environment steps; the spec says
//! an event is emitted at the change it reports, in the order of the changes, so each event
//! is linearized in log order, no later than its emission.
//!
//! The checker is a Wing–Gong search (as in Knossos and porcupine): repeatedly linearize one
//! operation no other pending one must precede and check its response on a copy of the model,
//! backtracking on a mismatch, memoising (linearized set, model state) pairs already explored.
//! A failing history is cut down to its shortest non-linearizable prefix (operations still
//! running at the cut are pending: they may or may not have taken effect) and reported.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use pool_core as pc;
use pool_core::{Builder, Job, JobHandle, Pool, PoolExt};
use spec_model as m;

use crate::backend::Backend;
use crate::kit::{self, Logs, Plan, Stream, Ticket, lock};
use crate::ledger::{Counters, Fate, Ledger};
use crate::lockstep::{model_event, model_state};
use crate::report::{Row, Status, Work};

/// A caller operation of a history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `try_put` of a fire-and-forget job.
    Put,
    /// `try_submit` (a handle the thread keeps).
    Submit,
    /// `JobHandle::cancel` of this job.
    Cancel(m::JobId),
    /// `grow(n)`.
    Grow(usize),
    /// `shrink(n)`.
    Shrink(usize),
    /// `stats()`.
    Stats,
    /// `stop(0)`: refuse work, queue the sentinels, report at once.
    Stop,
    /// `stop_now()`.
    StopNow,
}

/// The part of `Stats` a history compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// `(workers, idle, queued, pending_stops)`.
    pub sizes: (usize, usize, usize, usize),
    /// `(completed, panicked, cancelled, rejected)`.
    pub counts: (u64, u64, u64, u64),
    /// The pool's state.
    pub state: m::PoolState,
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ret {
    /// A put: the id it got, or why it was refused.
    Put(Result<m::JobId, m::Refused>),
    /// `cancel`.
    Bool(bool),
    /// `grow`/`shrink`.
    Count(usize),
    /// `stats`.
    Stats(Snapshot),
    /// A stop: `(still_running, the jobs handed back, in order)`.
    Stopped(usize, Vec<m::JobId>),
}

/// One call in a history: `[inv, res]` are ticks of one counter shared with the event
/// listener; `ret` is `None` for a call still running at the end of the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The calling thread.
    pub thread: usize,
    /// The call.
    pub call: Call,
    /// The tick just before the call.
    pub inv: u64,
    /// The tick just after it returned (`u64::MAX` while pending).
    pub res: u64,
    /// What it returned.
    pub ret: Option<Ret>,
}

/// A recorded history: calls, and the pool's worker events with their ticks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// The calls, in invocation order.
    pub calls: Vec<Entry>,
    /// Worker events in emission order, with the tick at emission.
    pub events: Vec<(u64, m::Event)>,
}

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines: Vec<(u64, String)> = self
            .calls
            .iter()
            .map(|c| {
                let res = if c.res == u64::MAX {
                    "..".to_owned()
                } else {
                    c.res.to_string()
                };
                let ret = c
                    .ret
                    .as_ref()
                    .map_or_else(|| "(pending)".to_owned(), |r| format!("{r:?}"));
                (
                    c.inv,
                    format!("t{} [{}..{res}] {:?} -> {ret}", c.thread, c.inv, c.call),
                )
            })
            .collect();
        lines.extend(
            self.events
                .iter()
                .map(|(t, e)| (*t, format!("   [{t}] event {e:?}"))),
        );
        lines.sort_by_key(|l| l.0);
        for (_, l) in lines {
            writeln!(f, "    {l}")?;
        }
        Ok(())
    }
}

/// The configuration a history ran with (the checker's model starts from it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistorySetup {
    /// `min`.
    pub min: usize,
    /// `max`.
    pub max: usize,
    /// The queue capacity (`None`: unbounded, where a backend's put may take no lock).
    pub capacity: Option<usize>,
}

impl HistorySetup {
    fn model(self) -> m::Model {
        let config = m::Config::new(self.min, Some(self.max))
            .with_capacity(self.capacity)
            .with_keep_alive(Duration::from_secs(3600));
        m::Model::new(config).expect("a valid history setup")
    }
}

/// How each released job ends (from the kit's plans), for the checker's `finish` steps.
type Outcomes = HashMap<m::JobId, m::Outcome>;

/// The search's state besides the model: workers that took a sentinel and have not reported
/// `WorkerExited` yet (their threads still count for `still_running` and the state).
#[derive(Clone)]
struct Node {
    model: m::Model,
    exiting: BTreeSet<m::WorkerId>,
    /// Workers whose `WorkerStarted` came and whose first take has not.
    started: BTreeSet<m::WorkerId>,
}

impl Node {
    fn key(&self) -> String {
        format!("{:?}|{:?}|{:?}", self.model, self.exiting, self.started)
    }

    fn state(&self) -> m::PoolState {
        match self.model.state() {
            m::PoolState::Terminated if !self.exiting.is_empty() => m::PoolState::Stopping,
            s => s,
        }
    }

    /// Applies a call; its response, or `None` if the model cannot apply it.
    fn call(&mut self, call: Call) -> Option<Ret> {
        let ret = match call {
            Call::Put | Call::Submit => {
                let kind = if call == Call::Put {
                    m::JobKind::Plain
                } else {
                    m::JobKind::Handle
                };
                Ret::Put(self.model.put(kind, m::Admission::Try).map(|a| a.id))
            }
            Call::Cancel(job) => {
                self.model.status(job)?;
                Ret::Bool(self.model.cancel(job))
            }
            Call::Grow(n) => Ret::Count(self.model.grow(n)),
            Call::Shrink(n) => Ret::Count(self.model.shrink(n)),
            Call::Stats => {
                let s = self.model.stats();
                Ret::Stats(Snapshot {
                    sizes: (s.workers, s.idle, s.queued, s.pending_stops),
                    counts: (s.completed, s.panicked, s.cancelled, s.rejected),
                    state: self.state(),
                })
            }
            Call::Stop => {
                self.model.begin_stop(Duration::ZERO);
                let r = self.model.stop_report();
                Ret::Stopped(r.still_running + self.exiting.len(), r.returned)
            }
            Call::StopNow => {
                let r = self.model.stop_now();
                Ret::Stopped(r.still_running + self.exiting.len(), r.returned)
            }
        };
        self.model.drain_events();
        Some(ret)
    }

    /// Applies a worker event as an environment step; false if the model cannot.
    fn env(&mut self, e: m::Event, outcomes: &Outcomes) -> bool {
        let ok = match e {
            m::Event::WorkerStarted { worker } => {
                self.model.worker(worker) == Some(m::WorkerState::Starting)
                    && self.started.insert(worker)
            }
            m::Event::JobStarted { job, worker } => self.take(worker, m::Taken::Job(job)),
            m::Event::WorkerParked { worker } => self.take(worker, m::Taken::Nothing),
            m::Event::SentinelTaken { worker } => {
                self.take(worker, m::Taken::Stop) && self.exiting.insert(worker)
            }
            m::Event::WorkerExited {
                worker,
                reason: m::ExitReason::Sentinel,
            } => self.exiting.remove(&worker),
            m::Event::WorkerExited { worker, .. } => self.model.time_out(worker).is_ok(),
            m::Event::JobFinished { job, .. } | m::Event::JobPanicked { job, .. } => {
                let outcome = outcomes.get(&job).copied().unwrap_or(m::Outcome::Completed);
                self.model.finish(job, outcome).is_ok() && self.model.drain_events() == [e]
            }
            // Caller-side events belong to the calls that made them.
            m::Event::JobRanByCaller { .. } | m::Event::JobCancelled { .. } => true,
        };
        self.model.drain_events();
        ok
    }

    fn take(&mut self, worker: m::WorkerId, want: m::Taken) -> bool {
        if self.model.worker(worker) == Some(m::WorkerState::Starting)
            && !self.started.remove(&worker)
        {
            return false;
        }
        self.model.take(worker).is_ok_and(|got| got == want)
    }
}

/// The Wing–Gong search over one history.
struct Search<'h> {
    history: &'h History,
    outcomes: &'h Outcomes,
    /// Explored (linearized calls, next event, state) that led nowhere.
    seen: HashSet<(Vec<bool>, usize, String)>,
    /// Budget of nodes, so a pathological history cannot run away.
    budget: u64,
}

impl Search<'_> {
    /// The earliest response among calls not linearized yet (pending calls never bound).
    fn min_res(&self, done: &[bool]) -> u64 {
        self.history
            .calls
            .iter()
            .zip(done)
            .filter(|(c, d)| !**d && c.ret.is_some())
            .map(|(c, _)| c.res)
            .min()
            .unwrap_or(u64::MAX)
    }

    fn go(&mut self, node: &Node, done: &mut Vec<bool>, next_event: usize) -> Option<bool> {
        let complete = self
            .history
            .calls
            .iter()
            .zip(done.iter())
            .all(|(c, d)| *d || c.ret.is_none());
        if complete && next_event == self.history.events.len() {
            return Some(true);
        }
        if self.budget == 0 {
            return None;
        }
        self.budget -= 1;
        let key = (done.clone(), next_event, node.key());
        if self.seen.contains(&key) {
            return Some(false);
        }
        // The next event may go first: its change happened no later than its emission and
        // after the previous event's change, so only the log order binds it from below.
        let min_res = self.min_res(done);
        if let Some(&(_, e)) = self.history.events.get(next_event) {
            let mut n = node.clone();
            if n.env(e, self.outcomes) {
                match self.go(&n, done, next_event + 1) {
                    Some(false) => {}
                    other => return other,
                }
            }
        }
        // A call may go first if it was invoked before every response still to linearize
        // and before the next event was emitted (else that event, or call, precedes it).
        let event_tick = self
            .history
            .events
            .get(next_event)
            .map_or(u64::MAX, |(t, _)| *t);
        for i in 0..self.history.calls.len() {
            let c = &self.history.calls[i];
            if done[i] || c.inv > min_res || c.inv > event_tick {
                continue;
            }
            let mut n = node.clone();
            let Some(ret) = n.call(c.call) else {
                continue;
            };
            if c.ret.as_ref().is_some_and(|r| *r != ret) {
                continue;
            }
            done[i] = true;
            let r = self.go(&n, done, next_event);
            done[i] = false;
            match r {
                Some(false) => {}
                other => return other,
            }
        }
        self.seen.insert(key);
        Some(false)
    }
}

/// Whether `history` is linearizable against the model started from `setup`; `None` if the
/// search ran out of budget.
pub fn linearizable(history: &History, setup: HistorySetup, outcomes: &Outcomes) -> Option<bool> {
    search(history, setup, outcomes, BUDGET).0
}

/// The nodes one search may visit before it gives up undecided.
pub const BUDGET: u64 = 2_000_000;

/// The search's verdict, and how many nodes it visited.
fn search(
    history: &History,
    setup: HistorySetup,
    outcomes: &Outcomes,
    budget: u64,
) -> (Option<bool>, u64) {
    let mut search = Search {
        history,
        outcomes,
        seen: HashSet::new(),
        budget,
    };
    let root = Node {
        model: {
            let mut model = setup.model();
            model.start().expect("a new pool starts");
            model
        },
        exiting: BTreeSet::new(),
        started: BTreeSet::new(),
    };
    let mut done = vec![false; history.calls.len()];
    let verdict = search.go(&root, &mut done, 0);
    (verdict, budget - search.budget)
}

/// The shortest prefix of a non-linearizable `history` that is already non-linearizable:
/// everything up to a tick, with the calls still running at that tick pending.
pub fn minimal_prefix(history: &History, setup: HistorySetup, outcomes: &Outcomes) -> History {
    let mut cuts: Vec<u64> = history
        .calls
        .iter()
        .filter(|c| c.ret.is_some())
        .map(|c| c.res + 1)
        .chain(history.events.iter().map(|(t, _)| t + 1))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let prefix = |cut: u64| History {
        calls: history
            .calls
            .iter()
            .filter(|c| c.inv < cut)
            .map(|c| {
                if c.res < cut {
                    c.clone()
                } else {
                    Entry {
                        res: u64::MAX,
                        ret: None,
                        ..c.clone()
                    }
                }
            })
            .collect(),
        events: history
            .events
            .iter()
            .filter(|(t, _)| *t < cut)
            .copied()
            .collect(),
    };
    // Non-linearizability is closed under extension: binary search for the first cut.
    let (mut lo, mut hi) = (0, cuts.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if linearizable(&prefix(cuts[mid]), setup, outcomes) == Some(false) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    cuts.get(lo).map_or_else(|| history.clone(), |&c| prefix(c))
}

/// xorshift64*: a small deterministic generator for the threads' programs.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// What one history run produced.
struct Recorded {
    setup: HistorySetup,
    history: History,
    outcomes: Outcomes,
    /// The conservation check of the run.
    ledger: Result<(), String>,
}

/// One thread's part of a history: its calls, each with the jobs a stop handed back to it.
type Part = Vec<(Entry, Vec<Job>)>;

impl HistorySetup {
    /// Draws a configuration: `min` 0 or 1, `max` up to 3, a queue of 1 or 2 jobs or unbounded.
    fn random(rng: &mut Rng) -> HistorySetup {
        let min = rng.below(2) as usize;
        HistorySetup {
            min,
            max: (min.max(1) + rng.below(2) as usize).min(3),
            // One history in three unbounded: a backend may put without a lock there only.
            capacity: match rng.below(3) {
                0 => None,
                n => Some(n as usize),
            },
        }
    }
}

/// The pool of one history and what its threads share.
struct Rig {
    pool: Box<dyn Pool>,
    /// The clock of the history: calls and events read it.
    tick: Arc<AtomicU64>,
    /// The pool's events, each with the tick it was emitted at.
    events: Arc<Mutex<Vec<(u64, pc::Event)>>>,
    /// The pool's clock, never stepped (no idle time-out within a history), held to the end.
    _hand: pc::ManualClock,
    logs: Arc<Logs>,
    stream: Stream,
    /// Names the history's threads and tickets: `h<seed>`.
    prefix: Arc<str>,
    /// Every job's ticket, in creation order (its tag is its index).
    tickets: Mutex<Vec<(Ticket, m::JobKind)>>,
    /// Accepted jobs: tag -> id.
    ids: Mutex<HashMap<u64, m::JobId>>,
}

impl Rig {
    /// Builds the pool of `setup` on `backend`, with a listener stamping each event with the
    /// next tick, and starts it.
    fn start(backend: &Backend, setup: HistorySetup, seed: u64) -> Result<Rig, String> {
        let tick = Arc::new(AtomicU64::new(0));
        let events = Arc::new(Mutex::new(Vec::new()));
        let (t2, e2) = (Arc::clone(&tick), Arc::clone(&events));
        let (clock, hand) = pc::Clock::manual();
        let prefix: Arc<str> = format!("h{seed:x}").into();
        // Not started: `start` is the history's first recorded step, as in the model.
        let mut builder = Builder::new()
            .queue_before_start()
            .drop_timeout(Duration::ZERO)
            .min(setup.min)
            .max(setup.max);
        if let Some(capacity) = setup.capacity {
            builder = builder.capacity(capacity);
        }
        let builder = builder
            .keep_alive(Duration::from_secs(3600))
            .clock(clock)
            .thread_name(prefix.to_string())
            .on_event(move |e| {
                let t = t2.fetch_add(1, SeqCst);
                lock(&e2).push((t, *e));
            });
        let pool: Box<dyn Pool> = backend.build(builder).map_err(|e| e.to_string())?;
        pool.start().map_err(|e| format!("start: {e}"))?;
        Ok(Rig {
            pool,
            tick,
            events,
            _hand: hand,
            logs: Arc::new(Logs::default()),
            stream: Stream::new(),
            prefix,
            tickets: Mutex::new(Vec::new()),
            ids: Mutex::new(HashMap::new()),
        })
    }

    /// The ticket of a new job.
    fn new_ticket(&self) -> Ticket {
        let mut all = lock(&self.tickets);
        let t = Ticket::new(all.len() as u64, &self.logs, &self.stream, &self.prefix);
        all.push((t.clone(), m::JobKind::Plain));
        t
    }

    /// Runs one random program per seed, each on its own thread, all released at once.
    fn run_threads(&self, seeds: &[u64], ops: usize) -> Result<Vec<Part>, String> {
        let barrier = Barrier::new(seeds.len());
        std::thread::scope(|s| {
            let spawned: Vec<_> = seeds
                .iter()
                .enumerate()
                .map(|(thread, &seed)| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        run_thread(thread, Rng(seed), ops, self)
                    })
                })
                .collect();
            // Join every thread before looking at any result (an unjoined thread that panicked
            // would make the scope itself panic).
            let joined: Vec<_> = spawned.into_iter().map(|h| h.join()).collect();
            joined.into_iter().collect::<Result<_, _>>()
        })
        .map_err(|_| "a history thread panicked (inside the pool)".to_owned())
    }

    /// The calls in invocation order, each stop's handed-back jobs identified by dropping
    /// them one at a time (a dropped job logs its tag); and how many were handed back.
    fn identify_returned(&self, parts: Vec<Part>) -> (Vec<Entry>, u64) {
        let ids = lock(&self.ids);
        let mut calls = Vec::new();
        let mut returned_total = 0;
        for (mut entry, back) in parts.into_iter().flatten() {
            if let Some(Ret::Stopped(_, returned)) = &mut entry.ret {
                for job in back {
                    let before = lock(&self.logs.dropped).len();
                    drop(job);
                    let tag = lock(&self.logs.dropped).get(before).copied();
                    let id = tag.and_then(|t| ids.get(&t).copied());
                    returned.push(id.unwrap_or(m::JobId(u64::MAX)));
                    returned_total += 1;
                }
            }
            calls.push(entry);
        }
        calls.sort_by_key(|c| c.inv);
        (calls, returned_total)
    }

    /// Lets every job still gated finish, and stops the pool with no deadline.
    fn settle(&self) -> Result<(), String> {
        for (t, _) in lock(&self.tickets).iter() {
            if t.plan().is_none() {
                t.open(Plan::default());
            }
        }
        let report = self.pool.stop(Duration::MAX);
        if report.is_clean() {
            Ok(())
        } else {
            Err(format!(
                "the final stop left {} workers",
                report.still_running
            ))
        }
    }

    /// The events emitted before tick `end` (the end of the window), as the model's events.
    fn worker_events(&self, end: u64) -> Vec<(u64, m::Event)> {
        lock(&self.events)
            .iter()
            .filter(|(t, _)| *t < end)
            .filter_map(|(t, e)| model_event(e).map(|e| (*t, e)))
            .collect()
    }

    /// What became of every job, once the pool stopped: how each released job ends (for the
    /// checker's `finish` steps) and the conservation ledger's verdict, counters included.
    fn balance(&self, calls: &[Entry], returned_total: u64) -> (Outcomes, Result<(), String>) {
        let handed_back: BTreeSet<m::JobId> = calls
            .iter()
            .filter_map(|c| match &c.ret {
                Some(Ret::Stopped(_, ids)) => Some(ids.iter().copied()),
                _ => None,
            })
            .flatten()
            .collect();
        let tickets = lock(&self.tickets).clone();
        let ids = lock(&self.ids);
        let mut outcomes = Outcomes::new();
        let mut ledger = Ledger::default();
        for (t, kind) in &tickets {
            let plan = t.plan().unwrap_or_default();
            let fate = match ids.get(&t.tag()) {
                None => Fate::Refused,
                Some(id) => {
                    outcomes.insert(*id, plan.outcome(*kind));
                    if handed_back.contains(id) {
                        Fate::Returned
                    } else if t.runs() == 0 && t.dropped_unrun() {
                        Fate::Cancelled
                    } else if t.runs() == 0 {
                        continue; // lost: the ledger reports it
                    } else if plan.job_panics {
                        Fate::Panicked
                    } else {
                        Fate::Completed
                    }
                }
            };
            ledger.set(t.tag(), fate);
        }
        let s = self.pool.stats();
        let refs: Vec<&Ticket> = tickets.iter().map(|(t, _)| t).collect();
        let verdict = ledger.check(
            &refs,
            Some(Counters {
                completed: s.completed,
                panicked: s.panicked,
                cancelled: s.cancelled,
                rejected: s.rejected,
                returned: returned_total,
            }),
        );
        (outcomes, verdict)
    }
}

/// The jobs of one thread: each ticket, with its handle if it was submitted.
type Mine = Vec<(Ticket, Option<JobHandle<u64>>)>;

/// Runs one thread's random program.
fn run_thread(thread: usize, mut rng: Rng, ops: usize, rig: &Rig) -> Part {
    let mut mine = Mine::new();
    let mut part = Part::new();
    for _ in 0..ops {
        // Scheduling noise (not a wait): lets the pool's workers interleave with the calls.
        for _ in 0..rng.below(3) {
            std::thread::yield_now();
        }
        let Some(call) = next_call(&mut rng, &mine) else {
            continue;
        };
        let inv = rig.tick.fetch_add(1, SeqCst);
        let (ret, back) = perform(call, rig, &mut mine);
        let res = rig.tick.fetch_add(1, SeqCst);
        let entry = Entry {
            thread,
            call,
            inv,
            res,
            ret: Some(ret),
        };
        part.push((entry, back));
    }
    // The handles are dropped here: the jobs detach and still run.
    part
}

/// Draws the thread's next call; `None` for a step that calls nothing (releasing one of its
/// own gated jobs, an environment step, or a cancel with no handle to cancel).
fn next_call(rng: &mut Rng, mine: &Mine) -> Option<Call> {
    Some(match rng.below(100) {
        0..=29 => Call::Put,
        30..=49 => Call::Submit,
        50..=64 => {
            // Release one of this thread's jobs (no pool call: the environment).
            let open: Vec<&Ticket> = mine
                .iter()
                .map(|(t, _)| t)
                .filter(|t| t.plan().is_none())
                .collect();
            if let Some(t) = open.get(rng.below(open.len() as u64) as usize) {
                t.open(Plan {
                    job_panics: rng.below(4) == 0,
                    ..Plan::default()
                });
            }
            return None;
        }
        65..=72 => {
            let hs: Vec<m::JobId> = mine
                .iter()
                .filter_map(|(_, h)| h.as_ref().map(|h| m::JobId(h.id().0)))
                .collect();
            Call::Cancel(*hs.get(rng.below(hs.len() as u64) as usize)?)
        }
        73..=79 => Call::Grow(1 + rng.below(2) as usize),
        80..=88 => Call::Shrink(1 + rng.below(2) as usize),
        89..=96 => Call::Stats,
        97..=98 => Call::Stop,
        _ => Call::StopNow,
    })
}

/// Makes `call` on the pool: what it returned, and the jobs a stop handed back (identified
/// once the history is over, by dropping them; they stay cancellable by their handles
/// meanwhile, as the model says).
fn perform(call: Call, rig: &Rig, mine: &mut Mine) -> (Ret, Vec<Job>) {
    let pool = &*rig.pool;
    let ret = match call {
        Call::Put | Call::Submit => {
            let t = rig.new_ticket();
            let (r, h) = if call == Call::Put {
                (
                    pool.try_put(Job::new(t.plain_job()))
                        .map_err(|e| refused(&e)),
                    None,
                )
            } else {
                match pool.try_submit(t.job()) {
                    Ok(h) => (Ok(h.id()), Some(h)),
                    Err(e) => (Err(refused(&e)), None),
                }
            };
            let r = r.map(|id| m::JobId(id.0));
            if let Ok(id) = r {
                lock(&rig.ids).insert(t.tag(), id);
            }
            mine.push((t, h));
            Ret::Put(r)
        }
        Call::Cancel(j) => {
            let h = mine
                .iter()
                .find_map(|(_, h)| h.as_ref().filter(|h| h.id().0 == j.0))
                .expect("a handle of this thread");
            Ret::Bool(h.cancel())
        }
        Call::Grow(n) => Ret::Count(pool.grow(n)),
        Call::Shrink(n) => Ret::Count(pool.shrink(n)),
        Call::Stats => {
            let s = pool.stats();
            Ret::Stats(Snapshot {
                sizes: (s.workers, s.idle, s.queued, s.pending_stops),
                counts: (s.completed, s.panicked, s.cancelled, s.rejected),
                state: model_state(s.state),
            })
        }
        Call::Stop | Call::StopNow => {
            let r = if call == Call::Stop {
                pool.stop(Duration::ZERO)
            } else {
                pool.stop_now()
            };
            return (Ret::Stopped(r.still_running, Vec::new()), r.returned);
        }
    };
    (ret, Vec::new())
}

/// Runs one history on `backend`: `threads` threads with `ops` random operations each.
fn record(backend: &Backend, seed: u64, threads: usize, ops: usize) -> Result<Recorded, String> {
    kit::quiet_kit_panics();
    let mut rng = Rng(seed | 1);
    let setup = HistorySetup::random(&mut rng);
    let rig = Rig::start(backend, setup, seed)?;
    let seeds: Vec<u64> = (0..threads).map(|_| rng.below(u64::MAX) | 1).collect();
    let parts = rig.run_threads(&seeds, ops)?;
    let end = rig.tick.load(SeqCst);
    let (calls, returned_total) = rig.identify_returned(parts);
    rig.settle()?;
    let events = rig.worker_events(end);
    let (outcomes, ledger) = rig.balance(&calls, returned_total);
    Ok(Recorded {
        setup,
        history: History { calls, events },
        outcomes,
        ledger,
    })
}

fn refused<J>(e: &pc::PutError<J>) -> m::Refused {
    if e.is_full() {
        m::Refused::Full
    } else {
        m::Refused::ShutDown
    }
}

/// Records `n` histories on `backend` and checks each; on the first that is not
/// linearizable, reports its minimal failing prefix. A history the search cannot decide within
/// [`BUDGET`] nodes fails the row too (counted, with its seed): a pass never rests on a search
/// that gave up.
pub fn check(backend: &Backend, n: u32) -> Row {
    check_within(backend, n, BUDGET)
}

/// [`check`] with a search budget of `budget` nodes per history.
fn check_within(backend: &Backend, n: u32, budget: u64) -> Row {
    let mut work = Work::default();
    let row = |status, work| Row {
        check: "histories.linearizable",
        section: "§3, §5, §7 (concurrent)",
        status,
        work,
    };
    if !backend.caps().events {
        return row(
            Status::Unsupported("needs the pool's events for its workers' steps".into()),
            work,
        );
    }
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let seed0 = std::env::var("CONFORMANCE_HISTORY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(base);
    let mut undecided = Vec::new();
    for i in 0..u64::from(n) {
        let seed = seed0.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        work.histories = i + 1;
        let recorded =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| record(backend, seed, 3, 8)))
                .unwrap_or_else(|_| Err("the history panicked".to_owned()));
        let rec = match recorded {
            Ok(r) => r,
            Err(e) => return row(Status::Fail(format!("history seed {seed}: {e}")), work),
        };
        let (verdict, nodes) = search(&rec.history, rec.setup, &rec.outcomes, budget);
        work.largest_search = work.largest_search.max(nodes);
        match verdict {
            Some(true) => {}
            None => {
                undecided.push(seed);
                work.undecided += 1;
            }
            Some(false) => {
                let min = minimal_prefix(&rec.history, rec.setup, &rec.outcomes);
                return row(
                    Status::Fail(format!(
                        "history seed {seed} ({:?}) is not linearizable; its shortest failing prefix:\n{min}",
                        rec.setup
                    )),
                    work,
                );
            }
        }
        if let Err(e) = rec.ledger {
            return row(Status::Fail(format!("history seed {seed}: {e}")), work);
        }
    }
    if !undecided.is_empty() {
        let shown: Vec<String> = undecided.iter().take(5).map(u64::to_string).collect();
        return row(
            Status::Fail(format!(
                "{} of {n} histories undecided: the linearizability search gave up after {budget} \
                 nodes (a pass would rest on them); seeds (CONFORMANCE_HISTORY_SEED): {}{}",
                undecided.len(),
                shown.join(", "),
                if undecided.len() > shown.len() {
                    ", ..."
                } else {
                    ""
                },
            )),
            work,
        );
    }
    row(Status::Pass, work)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETUP: HistorySetup = HistorySetup {
        min: 0,
        max: 1,
        capacity: Some(1),
    };

    fn call(thread: usize, call: Call, inv: u64, res: u64, ret: Ret) -> Entry {
        Entry {
            thread,
            call,
            inv,
            res,
            ret: Some(ret),
        }
    }

    fn w(n: u64) -> m::WorkerId {
        m::WorkerId(n)
    }

    fn j(n: u64) -> m::JobId {
        m::JobId(n)
    }

    fn check(h: &History) -> Option<bool> {
        linearizable(h, SETUP, &Outcomes::new())
    }

    fn put_then_started(id: u64) -> History {
        History {
            calls: vec![
                call(0, Call::Put, 0, 1, Ret::Put(Ok(j(id)))),
                call(
                    0,
                    Call::Stats,
                    4,
                    5,
                    Ret::Stats(Snapshot {
                        sizes: (1, 0, 0, 0),
                        counts: (0, 0, 0, 0),
                        state: m::PoolState::Running,
                    }),
                ),
            ],
            events: vec![
                (2, m::Event::WorkerStarted { worker: w(0) }),
                (
                    3,
                    m::Event::JobStarted {
                        job: j(0),
                        worker: w(0),
                    },
                ),
            ],
        }
    }

    #[test]
    fn a_sequential_history_that_follows_the_model_is_linearizable() {
        assert_eq!(check(&put_then_started(0)), Some(true));
    }

    #[test]
    fn a_wrong_id_is_not_linearizable() {
        assert_eq!(check(&put_then_started(1)), Some(false));
    }

    #[test]
    fn stats_must_include_an_event_seen_before_them() {
        let mut h = put_then_started(0);
        h.calls[1].ret = Some(Ret::Stats(Snapshot {
            sizes: (1, 0, 1, 0), // the job still queued, though JobStarted came before
            counts: (0, 0, 0, 0),
            state: m::PoolState::Running,
        }));
        assert_eq!(check(&h), Some(false));
    }

    #[test]
    fn overlapping_shrinks_cannot_both_take_the_last_worker_above_min() {
        let mut h = put_then_started(0);
        h.calls.push(call(1, Call::Shrink(1), 6, 9, Ret::Count(1)));
        h.calls.push(call(2, Call::Shrink(1), 7, 8, Ret::Count(0)));
        assert_eq!(check(&h), Some(true));
        h.calls[3].ret = Some(Ret::Count(1));
        assert_eq!(check(&h), Some(false));
    }

    #[test]
    fn a_put_overlapping_a_stop_may_go_either_way_but_not_after_it() {
        let stop = |inv, res| call(1, Call::Stop, inv, res, Ret::Stopped(0, Vec::new()));
        let overlapping = History {
            calls: vec![call(0, Call::Put, 0, 3, Ret::Put(Ok(j(0)))), stop(1, 2)],
            events: vec![],
        };
        // The put linearizes first; its worker has not started, so stop reports it running.
        let mut h = overlapping.clone();
        h.calls[1].ret = Some(Ret::Stopped(1, Vec::new()));
        assert_eq!(check(&h), Some(true));
        let after = History {
            calls: vec![stop(0, 1), call(0, Call::Put, 2, 3, Ret::Put(Ok(j(0))))],
            events: vec![],
        };
        assert_eq!(check(&after), Some(false));
    }

    #[test]
    fn a_history_the_search_cannot_decide_fails_the_row() {
        let classic = Backend::new("classic", Builder::classic);
        let row = check_within(&classic, 3, 1);
        assert_eq!((row.work.histories, row.work.undecided), (3, 3), "{row:?}");
        match &row.status {
            Status::Fail(m) => assert!(m.starts_with("3 of 3 histories undecided"), "{m}"),
            other => panic!("a row of undecided histories passed: {other:?}"),
        }
        let row = check_within(&classic, 3, BUDGET);
        assert_eq!((row.status, row.work.undecided), (Status::Pass, 0));
        assert!(row.work.largest_search > 1, "{:?}", row.work);
    }

    #[test]
    fn the_minimal_prefix_is_the_first_cut_that_fails() {
        let mut h = put_then_started(0);
        h.calls.push(call(0, Call::Shrink(1), 6, 7, Ret::Count(1)));
        h.calls.push(call(0, Call::Shrink(1), 8, 9, Ret::Count(1))); // over-shrinks
        h.calls.push(call(0, Call::Grow(1), 10, 11, Ret::Count(0)));
        assert_eq!(check(&h), Some(false));
        let min = minimal_prefix(&h, SETUP, &Outcomes::new());
        assert_eq!(min.calls.len(), 4, "{min}");
        assert_eq!(check(&min), Some(false));
    }
}

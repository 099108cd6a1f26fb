//! Pool configuration and its builder.

use std::fmt;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::{ConfigError, ConfigErrorKind, validate_bounds};
use crate::event::Event;
use crate::job::{Job, JobId, Outcome, Panic};
use crate::sync::DynArc as Arc;

/// What happens to a job that finds the queue full when its wait is over.
#[derive(Clone, Default)]
pub enum Policy {
    /// Hand the job back in [`crate::PutError::Full`] (the default).
    #[default]
    Reject,
    /// Run the job on the submitting thread, now.
    CallerRuns,
    /// Evict the oldest queued job, give it to this handler, and queue the new one.
    DiscardOldest(Arc<dyn Fn(Job) + Send + Sync>),
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Reject => "Reject",
            Policy::CallerRuns => "CallerRuns",
            Policy::DiscardOldest(_) => "DiscardOldest",
        })
    }
}

/// A hook with no arguments (worker start / exit).
pub type Hook = Arc<dyn Fn() + Send + Sync>;
/// A hook told about a job before it runs (`before_job`).
pub type JobHook = Arc<dyn Fn(JobId) + Send + Sync>;
/// A hook told about a job after it ended, and how (`after_job`).
pub type AfterJobHook = Arc<dyn Fn(JobId, JobEnd) + Send + Sync>;

/// How a job ended, as `after_job` is told (Java's `afterExecute(r, t)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobEnd {
    /// The job returned.
    Completed,
    /// The job panicked, or its `before_job` hook panicked and it never ran (a veto).
    Panicked,
}
/// A listener for lifecycle [`Event`]s. It runs at the moment of the event, possibly while the
/// pool holds an internal lock: it must be quick and must not call into the pool.
pub type EventListener = Arc<dyn Fn(&Event) + Send + Sync>;
/// Gets the panics of jobs that have no handle and no callback.
pub type PanicHandler = Arc<dyn Fn(JobId, Panic) + Send + Sync>;

/// Everything a backend needs to build a pool. Made by [`Builder`]; always valid.
#[derive(Clone)]
pub struct Config {
    /// Workers kept alive even when idle.
    pub(crate) min: usize,
    /// Most workers at once; `None` is unbounded.
    pub(crate) max: Option<usize>,
    /// Most jobs waiting in the queue; `None` is unbounded.
    pub(crate) capacity: Option<usize>,
    /// How long a worker above `min` may stay idle before it exits.
    pub(crate) keep_alive: Duration,
    /// How long `put` waits for room in a full queue.
    pub(crate) put_timeout: Duration,
    /// How long dropping the pool waits for its queue to drain (real time).
    pub(crate) drop_timeout: Duration,
    pub(crate) policy: Policy,
    pub(crate) thread_name: String,
    pub(crate) stack_size: Option<usize>,
    pub(crate) clock: Clock,
    pub(crate) on_event: Option<EventListener>,
    pub(crate) on_worker_start: Option<Hook>,
    pub(crate) on_worker_exit: Option<Hook>,
    pub(crate) before_job: Option<JobHook>,
    pub(crate) after_job: Option<AfterJobHook>,
    pub(crate) panic_handler: Option<PanicHandler>,
    /// Build the pool not started (`Created`): jobs queue until `start` (see
    /// [`Builder::queue_before_start`]). Otherwise the pool is built running.
    pub(crate) queue_before_start: bool,
    /// A deliberate bug (feature `mutants`): see [`Builder::mutation`].
    #[cfg(feature = "mutants")]
    pub(crate) mutation: Option<Mutation>,
}

/// Deliberately broken behaviours of the backends, so the conformance kit can show that its
/// suite catches real bugs (feature `mutants`; never enabled outside tests). The first four
/// break the classic backend, the others the fast one; a backend ignores the other's.
#[cfg(feature = "mutants")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mutation {
    /// `"late-sentinel"`: a stopping pool still admits jobs, so they land behind the last
    /// stop sentinel and are never run.
    LateSentinel,
    /// `"over-shrink"`: `shrink` ignores the pending stops, so repeated shrinks go below `min`.
    OverShrink,
    /// `"double-callback"`: a panicking job that finishes while the pool is stopping gets its
    /// panic handler (its callback) run twice.
    DoubleCallback,
    /// `"finishing-idle"`: a worker counts as idle capacity as soon as its job returned, before
    /// its after-job bookkeeping is done.
    FinishingIdle,
    /// `"lost-wakeup"` (fast): a worker registering as idle does not look at the queue again,
    /// so a put that queued meanwhile and saw no idle worker is left behind a parked worker.
    LostWakeup,
    /// `"claim-kept"` (fast): a worker that held a claim (it was woken or started for an
    /// entry) takes a job without ending the claim, so the pool counts it as still on its way
    /// and the backlog comes out one short.
    ClaimKept,
    /// `"early-stop"` (fast): a shrink's stop boundary is registered one position early, so
    /// the stop overtakes the last job queued before it.
    EarlyStop,
    /// `"cancel-keeps-room"` (fast): a job cancelled while queued keeps its unit of the
    /// capacity, so the backlog comes out one high and puts are refused with room left.
    CancelKeepsRoom,
}

impl Config {
    /// The minimum number of workers.
    pub fn min(&self) -> usize {
        self.min
    }
    /// The maximum number of workers (`None`: unbounded).
    pub fn max(&self) -> Option<usize> {
        self.max
    }
    /// The queue capacity (`None`: unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.capacity
    }
    /// The idle keep-alive of workers above `min`.
    pub fn keep_alive(&self) -> Duration {
        self.keep_alive
    }
    /// How long `put` waits for room.
    pub fn put_timeout(&self) -> Duration {
        self.put_timeout
    }
    /// The rejection policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
    /// The thread-name prefix.
    pub fn thread_name(&self) -> &str {
        &self.thread_name
    }
    /// The worker stack size, if set.
    pub fn stack_size(&self) -> Option<usize> {
        self.stack_size
    }
    /// Whether a pool built from this configuration waits for `start` (see
    /// [`Builder::queue_before_start`]); otherwise it is built running.
    pub fn queue_before_start(&self) -> bool {
        self.queue_before_start
    }

    /// Sends `e` to the `tracing` subscriber and the listener; a panicking listener is caught
    /// and reported as `true`.
    pub(crate) fn emit(&self, e: &Event) -> bool {
        e.trace();
        match &self.on_event {
            Some(l) => crate::job::catch(|| l(e)).is_err(),
            None => false,
        }
    }

    /// Whether anyone listens to events (the `tracing` subscriber or a listener).
    pub fn has_listener(&self) -> bool {
        self.on_event.is_some() || tracing::enabled!(target: "pool", tracing::Level::TRACE)
    }

    /// Runs `hook` catching a panic; true if it panicked.
    pub(crate) fn run_hook(hook: &Option<Hook>) -> bool {
        hook.as_ref()
            .is_some_and(|h| crate::job::catch(|| h()).is_err())
    }

    /// Runs `before_job`, catching a panic: its payload vetoes the job.
    pub(crate) fn run_before_job(&self, id: JobId) -> Option<Panic> {
        let h = self.before_job.as_ref()?;
        crate::job::catch(|| h(id)).err()
    }

    /// Runs `after_job`, catching a panic; true if it panicked.
    pub(crate) fn run_after_job(&self, id: JobId, panicked: bool) -> bool {
        let end = if panicked {
            JobEnd::Panicked
        } else {
            JobEnd::Completed
        };
        self.after_job
            .as_ref()
            .is_some_and(|h| crate::job::catch(|| h(id, end)).is_err())
    }

    /// Gives a job's panic to the panic handler (catching a panic there); true if it panicked.
    pub(crate) fn handle_panic(&self, id: JobId, outcome: Outcome) -> bool {
        match (outcome, &self.panic_handler) {
            (Outcome::Panicked(Some(p)), Some(h)) => crate::job::catch(|| h(id, p)).is_err(),
            _ => false,
        }
    }

    /// Whether this pool carries the deliberate bug `m` (feature `mutants`).
    #[cfg(feature = "mutants")]
    pub(crate) fn mutated(&self, m: Mutation) -> bool {
        self.mutation == Some(m)
    }

    /// [`Config::run_job`] calling `finished` once the job, its callback and the panic handler
    /// are done, before `after_job` (feature `mutants`, for [`Mutation::FinishingIdle`]).
    #[cfg(feature = "mutants")]
    pub(crate) fn run_job_then(&self, id: JobId, job: Job, finished: impl FnOnce()) -> (bool, u64) {
        let report = match self.run_before_job(id) {
            Some(veto) => job.fail_claimed(veto),
            None => job.run_claimed(),
        };
        let panicked = matches!(report.outcome, Outcome::Panicked(_));
        let mut hook_panics = u64::from(report.callback_panicked);
        hook_panics += u64::from(self.handle_panic(id, report.outcome));
        finished();
        hook_panics += u64::from(self.run_after_job(id, panicked));
        (panicked, hook_panics)
    }

    /// Runs `before_job`, `run` (a job's closure, returning whether it panicked) and
    /// `after_job` on this thread, for a job a `join` runs itself; reports (panicked, hook
    /// panics).
    pub(crate) fn run_hooked(
        &self,
        id: JobId,
        run: &mut dyn FnMut(Option<Panic>) -> bool,
    ) -> (bool, u64) {
        let panicked = run(self.run_before_job(id));
        let hook_panics = u64::from(self.run_after_job(id, panicked));
        (panicked, hook_panics)
    }

    /// Runs the worker-side hooks around a claimed job and reports (panicked, hook panics).
    ///
    /// A `before_job` that panics vetoes the job (Java does not run a task whose
    /// `beforeExecute` threw): it never runs, and ends as panicked with the hook's payload,
    /// which goes where the job's own panic would (handle, callback, panic handler).
    pub(crate) fn run_job(&self, id: JobId, job: Job) -> (bool, u64) {
        let report = match self.run_before_job(id) {
            Some(veto) => job.fail_claimed(veto),
            None => job.run_claimed(),
        };
        let panicked = matches!(report.outcome, Outcome::Panicked(_));
        let mut hook_panics = u64::from(report.callback_panicked);
        hook_panics += u64::from(self.handle_panic(id, report.outcome));
        hook_panics += u64::from(self.run_after_job(id, panicked));
        (panicked, hook_panics)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("min", &self.min)
            .field("max", &self.max)
            .field("capacity", &self.capacity)
            .field("keep_alive", &self.keep_alive)
            .field("put_timeout", &self.put_timeout)
            .field("policy", &self.policy)
            .field("thread_name", &self.thread_name)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Config`] and, from it, a pool of any backend.
///
/// Defaults: `min = 0`, `max` = the machine's parallelism, unbounded queue, keep-alive 60 s, put
/// timeout 10 s, policy [`Policy::Reject`], thread names `pool-worker-N`, the system clock.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `classic()`, `fast()` or `config()` is called"]
pub struct Builder {
    cfg: Config,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A builder with the defaults.
    pub fn new() -> Builder {
        let par = crate::sync::available_parallelism();
        Builder {
            cfg: Config {
                min: 0,
                max: Some(par),
                capacity: None,
                keep_alive: Duration::from_secs(60),
                put_timeout: Duration::from_secs(10),
                drop_timeout: Duration::from_secs(10),
                policy: Policy::Reject,
                thread_name: "pool-worker".to_owned(),
                stack_size: None,
                clock: Clock::system(),
                on_event: None,
                on_worker_start: None,
                on_worker_exit: None,
                before_job: None,
                after_job: None,
                panic_handler: None,
                queue_before_start: false,
                #[cfg(feature = "mutants")]
                mutation: None,
            },
        }
    }

    /// Workers kept even when idle (cheroot `min`, twisted `minthreads`).
    pub fn min(mut self, min: usize) -> Self {
        self.cfg.min = min;
        self
    }
    /// Most workers at once (cheroot `max`, pywin32 `max_workers`).
    pub fn max(mut self, max: usize) -> Self {
        self.cfg.max = Some(max);
        self
    }
    /// No upper bound on workers (cheroot `max=-1`).
    pub fn unbounded(mut self) -> Self {
        self.cfg.max = None;
        self
    }
    /// A fixed number of workers: `min = max = n`.
    pub fn fixed(self, n: usize) -> Self {
        self.min(n).max(n)
    }
    /// Most jobs waiting in the queue (cheroot `accepted_queue_size`).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.cfg.capacity = Some(capacity);
        self
    }
    /// How long an idle worker above `min` lives (Java keep-alive).
    pub fn keep_alive(mut self, d: Duration) -> Self {
        self.cfg.keep_alive = d;
        self
    }
    /// How long `put` waits for room (cheroot `accepted_queue_timeout`).
    pub fn put_timeout(mut self, d: Duration) -> Self {
        self.cfg.put_timeout = d;
        self
    }
    /// How long dropping the pool waits (real time) for the jobs already queued to run and the
    /// workers to exit, as `stop` would (default 10 s; `Duration::ZERO`: a stop that does not
    /// wait; `Duration::MAX`: no deadline). What had not run by then is reported by
    /// [`Event::DroppedWithWork`] and a `tracing` warning (Python's executor joins at exit,
    /// Java's threads keep the process alive).
    pub fn drop_timeout(mut self, d: Duration) -> Self {
        self.cfg.drop_timeout = d;
        self
    }
    /// The rejection policy.
    pub fn policy(mut self, p: Policy) -> Self {
        self.cfg.policy = p;
        self
    }
    /// Policy [`Policy::DiscardOldest`] with this eviction handler.
    pub fn discard_oldest(self, handler: impl Fn(Job) + Send + Sync + 'static) -> Self {
        self.policy(Policy::DiscardOldest(Arc::new(handler)))
    }
    /// Worker thread names are `{prefix}-{n}`.
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.cfg.thread_name = prefix.into();
        self
    }
    /// Worker stack size in bytes.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.cfg.stack_size = Some(bytes);
        self
    }
    /// The clock for every deadline (see [`Clock::manual`] for tests).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.cfg.clock = clock;
        self
    }
    /// Listens to lifecycle events (see [`EventListener`] for the rules).
    pub fn on_event(mut self, f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.cfg.on_event = Some(Arc::new(f));
        self
    }
    /// Runs on each worker thread when it starts.
    pub fn on_worker_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.cfg.on_worker_start = Some(Arc::new(f));
        self
    }
    /// Runs on each worker thread as it exits.
    pub fn on_worker_exit(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.cfg.on_worker_exit = Some(Arc::new(f));
        self
    }
    /// Runs on the worker before each job. If it panics, the job does not run: it ends as
    /// panicked with the hook's payload (delivered as the job's own panic would be) and is
    /// counted in `panicked` (Java's `beforeExecute` throwing).
    pub fn before_job(mut self, f: impl Fn(JobId) + Send + Sync + 'static) -> Self {
        self.cfg.before_job = Some(Arc::new(f));
        self
    }
    /// Runs on the worker after each job (and its callback), told how the job ended (Java's
    /// `afterExecute(r, t)`): [`JobEnd::Completed`] or [`JobEnd::Panicked`] (a job vetoed by
    /// `before_job` included).
    pub fn after_job(mut self, f: impl Fn(JobId, JobEnd) + Send + Sync + 'static) -> Self {
        self.cfg.after_job = Some(Arc::new(f));
        self
    }
    /// Receives panics of jobs that have no handle and no callback.
    pub fn panic_handler(mut self, f: impl Fn(JobId, Panic) + Send + Sync + 'static) -> Self {
        self.cfg.panic_handler = Some(Arc::new(f));
        self
    }

    /// Builds the pool *not started*: jobs put before [`crate::Pool::start`] are accepted and
    /// queued, and no worker exists until `start` is called (twisted's and cheroot's
    /// queue-before-start). Without it, [`Builder::classic`] and [`Builder::fast`] return a
    /// running pool, as rayon's `build()` and `threadpool::ThreadPool::new` do.
    ///
    /// A job queued in a pool that was never started does not make its `join` hang: the joiner
    /// runs it itself (`docs/semantics.md`, "`join` on a pool that was never started").
    pub fn queue_before_start(mut self) -> Self {
        self.cfg.queue_before_start = true;
        self
    }

    /// Builds a deliberately broken pool (feature `mutants`, only for the conformance kit's test
    /// that its suite catches real bugs): `"late-sentinel"`, `"over-shrink"`, `"double-callback"`
    /// or `"finishing-idle"` for the classic backend; `"lost-wakeup"`, `"claim-kept"`,
    /// `"early-stop"` or `"cancel-keeps-room"` for the fast one (see `Mutation`).
    ///
    /// # Panics
    /// On any other name.
    #[cfg(feature = "mutants")]
    #[doc(hidden)]
    pub fn mutation(mut self, name: &str) -> Self {
        self.cfg.mutation = Some(match name {
            "late-sentinel" => Mutation::LateSentinel,
            "over-shrink" => Mutation::OverShrink,
            "double-callback" => Mutation::DoubleCallback,
            "finishing-idle" => Mutation::FinishingIdle,
            "lost-wakeup" => Mutation::LostWakeup,
            "claim-kept" => Mutation::ClaimKept,
            "early-stop" => Mutation::EarlyStop,
            "cancel-keeps-room" => Mutation::CancelKeepsRoom,
            other => panic!("unknown mutation {other:?}"),
        });
        self
    }

    /// Validates and returns the configuration.
    ///
    /// # Errors
    /// A [`ConfigError`] whose message names the values, for the first rule broken
    /// (`docs/semantics.md` §2): `max = 0`, `max < min`, `capacity = 0`.
    pub fn config(self) -> Result<Config, ConfigError> {
        validate_bounds(self.cfg.min, self.cfg.max)?;
        if self.cfg.capacity == Some(0) {
            return Err(ConfigError::new(ConfigErrorKind::ZeroCapacity));
        }
        if self.cfg.thread_name.contains('\0') {
            return Err(ConfigError::new(ConfigErrorKind::NulInThreadName));
        }
        Ok(self.cfg)
    }

    /// Builds a running [`crate::ClassicPool`] (with [`Builder::queue_before_start`], one not
    /// started).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the values, if the configuration is invalid.
    pub fn classic(self) -> Result<crate::ClassicPool, ConfigError> {
        let cfg = self.config()?;
        crate::ClassicPool::check_limits(cfg.min, cfg.max, cfg.capacity)?;
        Ok(crate::ClassicPool::new(cfg))
    }

    /// Builds a running [`crate::FastPool`] (with [`Builder::queue_before_start`], one not
    /// started): the same semantics as the classic pool, with a lock-free put / take path.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the values, if the configuration is invalid.
    pub fn fast(self) -> Result<crate::FastPool, ConfigError> {
        let cfg = self.config()?;
        crate::FastPool::check_limits(cfg.min, cfg.max, cfg.capacity)?;
        Ok(crate::FastPool::new(cfg))
    }
}

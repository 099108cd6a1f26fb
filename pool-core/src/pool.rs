//! The contract every backend implements.
//!
//! [`Pool`] is object-safe (`&dyn Pool` works) and speaks in [`Job`]s. [`PoolExt`], implemented
//! for every pool, adds the typed forms: `execute`, `submit` (a [`JobHandle`]),
//! `submit_with_callback`, `submit_batch`; each hands the caller's own closure back when the job is
//! refused. The semantics are specified in `docs/semantics.md`.

use std::time::Duration;

use crate::error::{ConfigError, PutError, StartError};
use crate::handle::{CallbackTask, HandleTask, JobHandle, JoinError};
use crate::job::{FnJob, Job, JobId, Panic};
use crate::map::Map;
#[cfg(doc)]
use crate::map::MapError;
use crate::scope::Scope;
use crate::stats::{Stats, StopReport};

/// How long a put may wait for room in a full queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Up to the pool's configured put timeout ([`Pool::put`]).
    Wait,
    /// Not at all ([`Pool::try_put`]).
    Try,
    /// Up to this long ([`Pool::put_timeout`]).
    Timeout(Duration),
}

/// A thread pool. Every backend of the workspace implements it; `docs/semantics.md` says what each
/// operation does, when it may be called, and what a caller observes.
pub trait Pool: Send + Sync {
    /// The backend's name (for reports).
    fn backend(&self) -> &'static str;

    /// Starts `max(min, min(backlog, max))` workers and returns how many; for a pool built with
    /// [`Builder::queue_before_start`](crate::Builder::queue_before_start), whose jobs wait in
    /// its queue until then (the builder's other pools are running already).
    ///
    /// # Errors
    /// [`StartError::AlreadyStarted`] on a running pool (every pool the builder returns, unless
    /// built with `queue_before_start`); [`StartError::ShutDown`] on a stopped one.
    fn start(&self) -> Result<usize, StartError>;

    /// Queues `job` as `admission` allows (see [`Admission`]); a refused job comes back in the
    /// error. Returns the id the pool gave the job.
    ///
    /// # Errors
    /// [`PutError::ShutDown`] with the job once the pool is stopping or stopped;
    /// [`PutError::Full`] with the job when the queue is full and no room came by the deadline
    /// under [`Policy::Reject`](crate::Policy::Reject) (`CallerRuns` runs it on this thread
    /// instead, `DiscardOldest` evicts the oldest queued job to make room).
    fn put_with(&self, job: Job, admission: Admission) -> Result<JobId, PutError<Job>>;

    /// Queues `job`, waiting up to the configured put timeout for room.
    ///
    /// # Errors
    /// [`PutError::ShutDown`] with the job once the pool is stopping or stopped;
    /// [`PutError::Full`] with the job when the queue is full and no room came by the deadline
    /// under [`Policy::Reject`](crate::Policy::Reject) (`CallerRuns` runs it on this thread
    /// instead, `DiscardOldest` evicts the oldest queued job to make room).
    fn put(&self, job: Job) -> Result<JobId, PutError<Job>> {
        self.put_with(job, Admission::Wait)
    }

    /// Queues `job` without waiting.
    ///
    /// # Errors
    /// As [`Pool::put_with`], with no wait for room.
    fn try_put(&self, job: Job) -> Result<JobId, PutError<Job>> {
        self.put_with(job, Admission::Try)
    }

    /// Queues `job`, waiting up to `timeout` for room.
    ///
    /// # Errors
    /// As [`Pool::put_with`], with a deadline `timeout` from now.
    fn put_timeout(&self, job: Job, timeout: Duration) -> Result<JobId, PutError<Job>> {
        self.put_with(job, Admission::Timeout(timeout))
    }

    /// Starts up to `n` more workers (never above `max`); returns how many it started.
    fn grow(&self, n: usize) -> usize;

    /// Queues stop sentinels for up to `n` workers (never below `min`, counting stops already
    /// pending); returns how many it queued.
    fn shrink(&self, n: usize) -> usize;

    /// Sets new bounds; on a running pool, grows to `min` and shrinks to `max`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the values when the bounds break the rules of
    /// [`validate_bounds`](crate::validate_bounds); nothing changes then.
    fn resize(&self, min: usize, max: Option<usize>) -> Result<(), ConfigError>;

    /// A snapshot of the pool.
    #[must_use = "taking a snapshot has no effect of its own"]
    fn stats(&self) -> Stats;

    /// Refuses new work, lets the queue drain, waits until every worker exits or `timeout` (pool
    /// clock) passes. Idempotent; safe to call from inside a job.
    fn stop(&self, timeout: Duration) -> StopReport;

    /// Refuses new work and hands back every job that has not started, in queue order; does not
    /// wait.
    fn stop_now(&self) -> StopReport;

    /// Waits up to `timeout` (pool clock) until the pool is stopped and every worker has exited.
    fn await_termination(&self, timeout: Duration) -> bool;

    /// Waits up to `timeout` until the pool is **quiescent**: no job queued and every live worker
    /// idle (parked and unclaimed), so nothing runs and nothing is about to (the `threadpool`
    /// crate's `join`, Java's `awaitQuiescence`). Returns whether it is; does not stop the pool,
    /// and jobs put meanwhile are waited for too. A pool with no worker and nothing queued is
    /// quiescent; a `Created` pool with queued jobs is not (it waits the whole timeout). Jobs
    /// running on callers (`CallerRuns`) are not the pool's and are not waited for.
    ///
    /// The backends of this crate wait on the pool clock and are woken by the change; this
    /// default (for other backends) checks [`Pool::stats`] every millisecond of real time.
    fn await_quiescence(&self, timeout: Duration) -> bool {
        let quiet = |s: Stats| s.queued == 0 && s.idle == s.workers;
        let deadline = std::time::Instant::now().checked_add(timeout);
        loop {
            if quiet(self.stats()) {
                return true;
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return false;
            }
            crate::sync::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Typed conveniences over any [`Pool`], including `dyn Pool`.
pub trait PoolExt: Pool {
    /// Runs `f` on the pool, fire-and-forget (cheroot `put`, twisted `callInThread`). A panic goes
    /// to the pool's panic handler.
    ///
    /// # Errors
    /// As [`Pool::put_with`]; the closure itself comes back in the [`PutError`].
    fn execute<F>(&self, f: F) -> Result<JobId, PutError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.execute_with(f, Admission::Wait)
    }

    /// [`PoolExt::execute`] without waiting for room.
    ///
    /// # Errors
    /// As [`Pool::try_put`]; the closure itself comes back in the [`PutError`].
    fn try_execute<F>(&self, f: F) -> Result<JobId, PutError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.execute_with(f, Admission::Try)
    }

    /// [`PoolExt::execute`] with an explicit admission.
    ///
    /// # Errors
    /// As [`Pool::put_with`]; the closure itself comes back in the [`PutError`].
    fn execute_with<F>(&self, f: F, admission: Admission) -> Result<JobId, PutError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.put_with(Job::from_runnable(FnJob(f)), admission)
            .map_err(|e| {
                e.map(|job| match job.downcast::<F>() {
                    Ok(f) => f,
                    Err(_) => unreachable!("a refused job is the one we built"),
                })
            })
    }

    /// Runs `f` on the pool and returns a handle to its result (join, try_join, join_timeout,
    /// cancel), which is also a [`Future`](std::future::Future).
    ///
    /// # Errors
    /// As [`Pool::put_with`]; the closure itself comes back in the [`PutError`].
    fn submit<F, T>(&self, f: F) -> Result<JobHandle<T>, PutError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit_with(f, Admission::Wait)
    }

    /// [`PoolExt::submit`] without waiting for room.
    ///
    /// # Errors
    /// As [`Pool::try_put`]; the closure itself comes back in the [`PutError`].
    fn try_submit<F, T>(&self, f: F) -> Result<JobHandle<T>, PutError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit_with(f, Admission::Try)
    }

    /// [`PoolExt::submit`] with an explicit admission.
    ///
    /// # Errors
    /// As [`Pool::put_with`]; the closure itself comes back in the [`PutError`].
    fn submit_with<F, T>(&self, f: F, admission: Admission) -> Result<JobHandle<T>, PutError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (job, task) = JobHandle::new_task(f);
        match self.put_with(job, admission) {
            Ok(id) => Ok(JobHandle::from_task(task, id)),
            Err(e) => Err(e.map(|job| match job.downcast_raw::<HandleTask<F, T>>() {
                Ok(task) => task.into_closure(),
                Err(_) => unreachable!("a refused job is the one we built"),
            })),
        }
    }

    /// Runs `f`, then `on_result(Ok(value) | Err(panic))` on the same worker thread right after,
    /// exactly once (twisted `callInThreadWithCallback`). A panicking callback is caught and
    /// counted in `hook_panics`.
    ///
    /// # Errors
    /// As [`Pool::put_with`]; both closures come back in the [`PutError`] and `on_result` is
    /// not called.
    fn submit_with_callback<F, T, C>(&self, f: F, on_result: C) -> Result<JobId, PutError<(F, C)>>
    where
        F: FnOnce() -> T + Send + 'static,
        C: FnOnce(Result<T, Panic>) + Send + 'static,
        T: 'static,
    {
        self.submit_with_callback_with(f, on_result, Admission::Wait)
    }

    /// [`PoolExt::submit_with_callback`] with an explicit admission.
    ///
    /// # Errors
    /// As [`PoolExt::submit_with_callback`].
    fn submit_with_callback_with<F, T, C>(
        &self,
        f: F,
        on_result: C,
        admission: Admission,
    ) -> Result<JobId, PutError<(F, C)>>
    where
        F: FnOnce() -> T + Send + 'static,
        C: FnOnce(Result<T, Panic>) + Send + 'static,
        T: 'static,
    {
        let job = Job::from_runnable(CallbackTask { f, on_result });
        self.put_with(job, admission).map_err(|e| {
            e.map(|job| match job.downcast_raw::<CallbackTask<F, C>>() {
                Ok(t) => (t.f, t.on_result),
                Err(_) => unreachable!("a refused job is the one we built"),
            })
        })
    }

    /// Runs `f` with a [`Scope`] whose jobs may borrow from the caller's stack; returns once
    /// every job spawned in it has finished (as `std::thread::scope` and `rayon::scope`).
    ///
    /// - Jobs the pool's workers have not started when the scope closure returns are taken back
    ///   and run on the calling thread, newest first, while the workers go on with the others;
    ///   so a scope inside a job of a pool with no free worker (a one-worker pool, say)
    ///   completes instead of waiting forever. The pool counts a job taken back as cancelled.
    /// - A job the pool refuses runs at once on the spawning thread ([`Scope::spawn`]).
    /// - Panics: if `f` panics, or a job whose handle was not joined panicked, the panic is
    ///   re-raised here, after every job has finished (`f`'s panic first, else the first job's,
    ///   with its original payload).
    ///
    /// ```
    /// use pool_core::prelude::*;
    ///
    /// let pool = Builder::new().fixed(2).fast()?;
    /// let words = vec!["scoped", "jobs", "borrow"];
    /// let mut lengths = vec![0; words.len()];
    /// pool.scope(|s| {
    ///     for (word, len) in words.iter().zip(lengths.iter_mut()) {
    ///         s.spawn(move || *len = word.len()); // borrows `words` and `lengths`
    ///     }
    /// });
    /// assert_eq!(lengths, [6, 4, 6]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn scope<'env, F, R>(&'env self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env, Self>) -> R,
    {
        crate::scope::scope(self, f)
    }

    /// `f(input)` for every input, on the pool; the results come back lazily, in input order,
    /// with at most a buffer's worth of items in flight (Python's `executor.map(f, inputs,
    /// buffersize=)`; see [`Map`] for the buffer and for what `next` waits on).
    ///
    /// Each item is `Ok(value)`, or a [`MapError`]: `Panicked(payload)` if `f` panicked on it,
    /// `Refused(PutError)` / `NotRun` with the input handed back if its job did not run.
    ///
    /// ```
    /// use pool_core::prelude::*;
    /// use std::num::NonZeroUsize;
    ///
    /// let pool = Builder::new().fixed(4).fast()?;
    /// let lengths = pool
    ///     .map(["a", "bb", "ccc"], |s: &str| s.len())
    ///     .buffer(NonZeroUsize::new(2).unwrap()) // at most 2 items in flight
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// assert_eq!(lengths, [1, 2, 3]);
    /// // A panic is that item's error; the other items still come, in order.
    /// let halves: Vec<_> = pool.map([4, 0, 8], |x: u32| 8 / x).collect();
    /// assert_eq!(halves[0].as_ref().ok(), Some(&2));
    /// assert!(matches!(halves[1], Err(MapError::Panicked(_))));
    /// assert_eq!(halves[2].as_ref().ok(), Some(&1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn map<It, F, T>(&self, inputs: It, f: F) -> Map<'_, Self, It::IntoIter, F, T>
    where
        It: IntoIterator,
        It::Item: Send + 'static,
        F: Fn(It::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        Map::new(self, inputs.into_iter(), f)
    }

    /// Submits every closure (Arndt `makeRequests` + `putRequest`); [`Batch::join_all`] gives the
    /// results in input order. A refused closure is handed back in its place.
    fn submit_batch<I, F, T>(&self, jobs: I) -> Batch<T, F>
    where
        I: IntoIterator<Item = F>,
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Batch {
            entries: jobs.into_iter().map(|f| self.submit(f)).collect(),
        }
    }
}

impl<P: Pool + ?Sized> PoolExt for P {}

/// Jobs submitted together; results come back in input order.
pub struct Batch<T, F> {
    entries: Vec<Result<JobHandle<T>, PutError<F>>>,
}

/// Why one entry of a [`Batch`] has no value.
pub enum BatchError<F> {
    /// The job was refused; the closure is handed back.
    Refused(PutError<F>),
    /// The job ran but has no value (panic, cancel, drop).
    Join(JoinError),
}

impl<T, F> Batch<T, F> {
    /// The entries: a handle, or the refusal with the closure.
    pub fn entries(&self) -> &[Result<JobHandle<T>, PutError<F>>] {
        &self.entries
    }

    /// How many jobs the batch holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<T: Send + 'static, F> Batch<T, F> {
    /// Waits for every job; results in input order.
    pub fn join_all(self) -> Vec<Result<T, BatchError<F>>> {
        self.entries
            .into_iter()
            .map(|e| match e {
                Ok(h) => h.join().map_err(BatchError::Join),
                Err(refused) => Err(BatchError::Refused(refused)),
            })
            .collect()
    }
}

impl<T, F> std::fmt::Debug for Batch<T, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("len", &self.entries.len())
            .finish()
    }
}

impl<F> std::fmt::Display for BatchError<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchError::Refused(e) => write!(f, "the batch's job was refused: {e}"),
            BatchError::Join(e) => write!(f, "the batch's job has no value: {e}"),
        }
    }
}

impl<F> std::error::Error for BatchError<F> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // A `PutError<F>` is only `'static` when `F` is; its kind says the same thing.
            BatchError::Refused(_) => None,
            BatchError::Join(e) => Some(e),
        }
    }
}

impl<F> std::fmt::Debug for BatchError<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchError::Refused(e) => write!(f, "Refused({e:?})"),
            BatchError::Join(e) => write!(f, "Join({e:?})"),
        }
    }
}

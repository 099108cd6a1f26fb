//! [`JobHandle`]: the result of a submitted job, and the task types behind `submit` and
//! `submit_with_callback`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::job::{Control, Job, Outcome, Panic, Retired, RunReport, Runnable, catch};
use crate::sync::atomic::{AtomicU8, Ordering};
use crate::sync::cell::UnsafeCell;
use crate::sync::{Condvar, DynArc, Mutex, lock, spin_until, wait, wait_timeout};

/// Why a [`JobHandle`] has no value.
///
/// `Send + Sync + 'static` and an [`std::error::Error`], so `handle.join()?` goes into
/// `anyhow::Error` or `Box<dyn Error + Send + Sync>`; the panic payload stays reachable through
/// [`JoinError::into_panic`] / [`JoinError::try_into_panic`] (as tokio's `JoinError`).
///
/// ```
/// use pool_core::{Builder, PoolExt};
///
/// fn answer() -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
///     let pool = Builder::new().fixed(1).fast()?;
///     let handle = pool.submit(|| 6 * 7).map_err(|e| e.kind())?; // the closure is not `Sync`
///     Ok(handle.join()?)
/// }
/// assert_eq!(answer().unwrap(), 42);
/// ```
#[derive(Debug)]
pub enum JoinError {
    /// The job panicked; here is the payload.
    Panicked(Panic),
    /// The job was cancelled before it started.
    Cancelled,
    /// The job was dropped without running (handed back by `stop_now` or a refusal, and then
    /// dropped by its holder).
    Dropped,
}

impl JoinError {
    /// Whether the job panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// Whether the job was cancelled before it started.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }

    /// The panic, if the job panicked; else the error back.
    ///
    /// # Errors
    /// `Err(self)` when the job did not panic ([`JoinError::Cancelled`], [`JoinError::Dropped`]).
    pub fn try_into_panic(self) -> Result<Panic, JoinError> {
        match self {
            JoinError::Panicked(p) => Ok(p),
            other => Err(other),
        }
    }

    /// The panic of a job that panicked (see [`JoinError::is_panic`]).
    ///
    /// # Panics
    /// When the job did not panic; use [`JoinError::try_into_panic`] to find out without one.
    #[track_caller]
    pub fn into_panic(self) -> Panic {
        match self.try_into_panic() {
            Ok(p) => p,
            Err(e) => panic!("`JoinError::into_panic` on an error that is not a panic: {e}"),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(p) => write!(f, "the job panicked: {p}"),
            JoinError::Cancelled => f.write_str("the job was cancelled before it started"),
            JoinError::Dropped => f.write_str("the job was dropped without running"),
        }
    }
}

impl std::error::Error for JoinError {}

// Result-slot state bits. A slot goes EMPTY -> WRITING -> WRITING|READY, with WAITING added by a
// joiner that is about to block or a future that stored its waker.
/// A joiner holds (or is about to wait on) `Slot::lock`, or a waker is stored in it; the writer
/// must notify `Slot::done` and wake the waker.
const WAITING: u8 = 1;
/// A writer won the right to store the result (the first one wins; later ones drop theirs).
const WRITING: u8 = 2;
/// The result is stored and published; the handle may take it.
const READY: u8 = 4;

/// How long a joiner spins before it blocks: a worker that is already running the job usually
/// answers well within this, and a blocked joiner costs a wakeup of 10-25 us on an idle core.
const JOIN_SPIN: Duration = Duration::from_micros(20);

/// Where a task's result lands.
pub(crate) struct Slot<T> {
    pub(crate) control: Control,
    /// [`WAITING`] | [`WRITING`] | [`READY`] bits; only ever gains bits.
    state: AtomicU8,
    /// `Some` once the task is over (ran, panicked, was cancelled or dropped). Written once, by
    /// the thread that set WRITING, before it sets READY; taken only by the handle after it saw
    /// READY (and the handle is consumed by taking it).
    result: UnsafeCell<Option<Result<T, JoinError>>>,
    /// Held by a blocking joiner from setting WAITING until it waits, so a notify cannot fall
    /// between its check and its wait. Holds the waker of the last poll of the handle as a
    /// future: stored, then WAITING set, under the lock; the writer, seeing WAITING, takes it
    /// under the same lock (so after the poll stored it) and wakes it.
    lock: Mutex<Option<Waker>>,
    /// Blocking joiners wait here.
    done: Condvar,
}

// SAFETY: `result` is the only non-`Sync` part. It is written once by the unique thread that set
// WRITING, and read only after READY was observed with Acquire (READY is set with Release after
// the write), by the one handle that owns the slot's reading side.
unsafe impl<T: Send> Sync for Slot<T> {}

impl<T> Slot<T> {
    fn new() -> Slot<T> {
        Slot {
            control: Control::new(),
            state: AtomicU8::new(0),
            result: UnsafeCell::new(None),
            lock: Mutex::new(None),
            done: Condvar::new(),
        }
    }

    /// Stores the result unless one is there already (the first writer wins).
    fn complete(&self, r: Result<T, JoinError>) {
        if self.state.fetch_or(WRITING, Ordering::Acquire) & WRITING != 0 {
            return;
        }
        // SAFETY: we set WRITING first, so we are the only writer, and the reader waits for
        // READY, which we have not set yet.
        self.result.with_mut(|p| unsafe { *p = Some(r) });
        if self.state.fetch_or(READY, Ordering::AcqRel) & WAITING != 0 {
            let waker = {
                let mut g = lock(&self.lock);
                self.done.notify_all();
                g.take()
            };
            // Woken outside the lock: a waker may run arbitrary code (even poll us again).
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Stores `waker` to be woken when the result is stored; true if it is stored already (then
    /// nobody will wake the waker). Race-free against [`Slot::complete`]: the waker is in place
    /// before WAITING is set (under the lock), and the RMW setting WAITING is ordered against
    /// the writer's RMW setting READY, so either we see READY or the writer sees WAITING and
    /// takes the waker under the lock, after we released it.
    fn register(&self, waker: &Waker) -> bool {
        let mut g = lock(&self.lock);
        match &mut *g {
            Some(old) if old.will_wake(waker) => {}
            other => *other = Some(waker.clone()),
        }
        self.state.fetch_or(WAITING, Ordering::AcqRel) & READY != 0
    }

    fn is_ready(&self) -> bool {
        self.state.load(Ordering::Acquire) & READY != 0
    }

    /// Waits until the result is stored, or until `deadline` (real time) passes; true if it is.
    /// Spins briefly first, then blocks.
    fn wait_ready(&self, deadline: Option<Instant>) -> bool {
        if self.is_ready() || spin_until(JOIN_SPIN, || self.is_ready()) {
            return true;
        }
        let mut g = lock(&self.lock);
        loop {
            // An RMW, so that it is ordered against the writer's RMW setting READY: either we see
            // READY or the writer sees WAITING (and then notifies under `lock`, after we wait).
            if self.state.fetch_or(WAITING, Ordering::AcqRel) & READY != 0 {
                return true;
            }
            match deadline {
                None => g = wait(&self.done, g),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    g = wait_timeout(&self.done, g, left);
                }
            }
        }
    }

    /// Takes the stored result: `None` if it was taken already (a future polled after it
    /// completed). Only the handle calls it, after it saw READY.
    fn take(&self) -> Option<Result<T, JoinError>> {
        // SAFETY: READY was observed (Acquire), so the write is complete and visible, and no
        // other thread reads or writes the result any more (see the field's doc): only the
        // handle, which `&mut` / by-value access makes unique, takes it.
        self.result.with_mut(|p| unsafe { (*p).take() })
    }
}

/// What a submitted job and its handle share: the result slot and the closure itself. The
/// closure lives here, not in the queued [`Job`], so a winning `cancel` can drop it at once
/// whichever backend queued the job (a lock-free queue cannot give an item back), and so a
/// submitted job is one pointer in the queue, whatever the closure's size.
pub(crate) struct Task<F, T> {
    pub(crate) slot: Slot<T>,
    /// The closure until it runs or is dropped unrun. Owned, as the state machine in
    /// `slot.control` says, by the holder of the [`Job`] (who may claim and run it, or drop it
    /// unrun), except once a `cancel` won it out of a pool's queue (QUEUED -> CANCELLED): then
    /// by that canceller, and once a `join` won it out of a queue that was not started
    /// (QUEUED -> JOINED): by that joiner. Only the owner touches it.
    f: UnsafeCell<Option<F>>,
}

// SAFETY: `slot` is `Sync` (see `Slot`); `f` is touched only by the single owner the task's
// state machine names (see the field's doc), and ownership passes with AcqRel compare-exchanges
// on `slot.control`, so every access happens-after the previous one. `F: Send` because the
// owner may be on any thread.
unsafe impl<F: Send, T: Send> Sync for Task<F, T> {}

impl<F, T> Task<F, T> {
    /// Takes the closure out. Only the task's owner (see `f`) may call it.
    fn take_f(&self) -> Option<F> {
        // SAFETY: the caller owns `f` by the state machine, so no other access is in progress.
        self.f.with_mut(|p| unsafe { (*p).take() })
    }
}

/// The handle's view of a [`Task`], with the closure's type erased.
pub(crate) trait TaskShared<T>: Send + Sync {
    fn slot(&self) -> &Slot<T>;
    /// `JobHandle::cancel`.
    fn cancel(&self) -> bool;
    /// For a `join` about to block: runs the job here if its pool was never started
    /// ([`Control::run_unstarted`]); true if it did (the result is then stored).
    fn run_unstarted(&self) -> bool;
}

impl<F: FnOnce() -> T + Send, T: Send> TaskShared<T> for Task<F, T> {
    fn slot(&self) -> &Slot<T> {
        &self.slot
    }

    fn cancel(&self) -> bool {
        // Winning the cancel makes the closure ours: it is dropped inside `Control::cancel`,
        // before the pool is told.
        let won = self.slot.control.cancel(|| drop(self.take_f()));
        if won {
            // The job may sit in a lock-free queue until a worker skips it: answer joiners now.
            self.slot.complete(Err(JoinError::Cancelled));
        }
        won
    }

    fn run_unstarted(&self) -> bool {
        self.slot.control.run_unstarted(&mut |veto| {
            // JOINED: the closure is ours (see `f`).
            let Some(f) = self.take_f() else {
                return false;
            };
            if let Some(p) = veto {
                // `before_job` panicked: the job does not run (see `Config::run_job`).
                let _ = catch(move || drop(f));
                self.slot.complete(Err(JoinError::Panicked(p)));
                return true;
            }
            match catch(f) {
                Ok(v) => {
                    self.slot.complete(Ok(v));
                    false
                }
                Err(p) => {
                    self.slot.complete(Err(JoinError::Panicked(p)));
                    true
                }
            }
        })
    }
}

/// The job behind [`crate::PoolExt::submit`]: runs the task's closure and stores its result.
pub(crate) struct HandleTask<F, T> {
    task: DynArc<Task<F, T>>,
    /// Ran, or its closure was taken back (a refused submit): dropping it does nothing more.
    done: bool,
}

impl<F, T> HandleTask<F, T> {
    /// The closure of a job that never reached a pool (a refused submit): nobody else holds a
    /// handle to it, so it is ours to take.
    pub(crate) fn into_closure(mut self) -> F {
        self.done = true;
        self.task.take_f().expect("a refused task has not run")
    }
}

impl<F, T> Runnable for HandleTask<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>) -> RunReport {
        (*self).run_inline()
    }

    fn run_inline(mut self) -> RunReport {
        self.done = true;
        // Claimed by whoever runs us: the closure is ours.
        let f = self.task.take_f().expect("a task runs once");
        let slot = &self.task.slot;
        let outcome = match catch(f) {
            Ok(v) => {
                slot.complete(Ok(v));
                Outcome::Completed
            }
            Err(p) => {
                slot.complete(Err(JoinError::Panicked(p)));
                Outcome::Panicked(None)
            }
        };
        RunReport {
            outcome,
            callback_panicked: false,
        }
    }

    fn fail(mut self: Box<Self>, p: Panic) -> RunReport {
        self.done = true;
        // Claimed by us: the closure is ours; dropped unrun.
        let f = self.task.take_f();
        let _ = catch(move || drop(f));
        self.task.slot.complete(Err(JoinError::Panicked(p)));
        RunReport {
            outcome: Outcome::Panicked(None),
            callback_panicked: false,
        }
    }

    fn control(&self) -> Option<&Control> {
        Some(&self.task.slot.control)
    }

    const HAS_CONTROL: bool = true;
}

impl<F, T> Drop for HandleTask<F, T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Never ran: cancelled, or dropped by whoever held it. Retire the task first so a later
        // `cancel` cannot claim to have cancelled a job that is already gone; the closure is
        // ours to drop unless a cancel won it out of a queue (and dropped it already).
        let slot = &self.task.slot;
        match slot.control.retire() {
            Retired::Dropped => {
                drop(self.task.take_f());
                slot.complete(Err(JoinError::Dropped));
            }
            Retired::CancelledHeld => {
                drop(self.task.take_f());
                slot.complete(Err(JoinError::Cancelled));
            }
            Retired::Cancelled => slot.complete(Err(JoinError::Cancelled)),
            // A join took it to run it itself: the closure and the result are the joiner's.
            Retired::Joined => {}
        }
    }
}

/// The task behind [`crate::PoolExt::submit_with_callback`].
pub(crate) struct CallbackTask<F, C> {
    pub(crate) f: F,
    pub(crate) on_result: C,
}

impl<F, C, T> Runnable for CallbackTask<F, C>
where
    F: FnOnce() -> T + Send + 'static,
    C: FnOnce(Result<T, Panic>) + Send + 'static,
    T: 'static,
{
    fn run(self: Box<Self>) -> RunReport {
        (*self).run_inline()
    }

    fn run_inline(self) -> RunReport {
        let CallbackTask { f, on_result } = self;
        let r = catch(f);
        let outcome = if r.is_ok() {
            Outcome::Completed
        } else {
            Outcome::Panicked(None)
        };
        let callback_panicked = catch(move || on_result(r)).is_err();
        RunReport {
            outcome,
            callback_panicked,
        }
    }

    fn fail(self: Box<Self>, p: Panic) -> RunReport {
        let CallbackTask { f, on_result } = *self;
        let _ = catch(move || drop(f));
        let callback_panicked = catch(move || on_result(Err(p))).is_err();
        RunReport {
            outcome: Outcome::Panicked(None),
            callback_panicked,
        }
    }
}

/// The result of a job submitted with [`crate::PoolExt::submit`].
///
/// Dropping the handle detaches it: the job still runs.
pub struct JobHandle<T> {
    task: DynArc<dyn TaskShared<T>>,
    id: crate::JobId,
}

impl<T: Send + 'static> JobHandle<T> {
    /// A task running `f` and its handle (the id is filled in once a pool accepts the job).
    pub(crate) fn new_task<F>(f: F) -> (Job, DynArc<dyn TaskShared<T>>)
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let task = DynArc::new(Task {
            slot: Slot::new(),
            f: UnsafeCell::new(Some(f)),
        });
        let shared: DynArc<dyn TaskShared<T>> = task.clone();
        let job = Job::from_runnable(HandleTask { task, done: false });
        (job, shared)
    }

    pub(crate) fn from_task(task: DynArc<dyn TaskShared<T>>, id: crate::JobId) -> JobHandle<T> {
        JobHandle { task, id }
    }
}

impl<T> JobHandle<T> {
    /// The id the pool gave the job.
    pub fn id(&self) -> crate::JobId {
        self.id
    }

    /// Whether the job is over (finished, panicked, cancelled or dropped).
    pub fn is_finished(&self) -> bool {
        self.slot().is_ready()
    }

    /// Waits for the job and returns its value. (In async code, `.await` the handle instead: it
    /// is a [`Future`] with the same output.)
    ///
    /// A job still queued in a pool that was never started (built with
    /// [`crate::Builder::queue_before_start`] and not yet started) would wait for a `start`
    /// that may never come: `join` runs it on this thread instead, with the pool's
    /// `before_job`/`after_job` hooks, and the pool counts it as run by a caller
    /// (`docs/semantics.md`, "`join` on a pool that was never started").
    ///
    /// # Errors
    /// [`JoinError::Panicked`] with the payload if the job panicked, [`JoinError::Cancelled`] if
    /// it was cancelled before it started, [`JoinError::Dropped`] if it was dropped unrun (handed
    /// back by `stop_now` and dropped by its holder).
    pub fn join(self) -> Result<T, JoinError> {
        if !self.slot().is_ready() {
            self.task.run_unstarted();
        }
        self.slot().wait_ready(None);
        self.taken()
    }

    /// The result if the job is over, else the handle back.
    ///
    /// # Errors
    /// `Err(handle)` while the job is not over; the inner result's errors are
    /// [`JobHandle::join`]'s.
    pub fn try_join(self) -> Result<Result<T, JoinError>, JobHandle<T>> {
        if self.slot().is_ready() {
            Ok(self.taken())
        } else {
            Err(self)
        }
    }

    /// Waits at most `timeout` (real time) for the job; on timeout, the handle back.
    ///
    /// ```
    /// use pool_core::{Builder, Pool, PoolExt};
    /// use std::time::Duration;
    ///
    /// let pool = Builder::new().fixed(1).fast()?;
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let slow = pool.submit(move || rx.recv().is_ok())?; // waits for our word
    /// let slow = slow.join_timeout(Duration::from_millis(10)).unwrap_err(); // not yet: handle back
    /// let queued = pool.submit(|| "never")?;
    /// assert!(queued.cancel(), "still queued behind the slow job, so cancelled");
    /// tx.send(()).unwrap();
    /// assert_eq!(slow.join_timeout(Duration::from_secs(60)).unwrap()?, true);
    /// assert!(queued.join().unwrap_err().is_cancelled());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// `Err(handle)` when the job is not over by the deadline; the inner result's errors are
    /// [`JobHandle::join`]'s.
    pub fn join_timeout(self, timeout: Duration) -> Result<Result<T, JoinError>, JobHandle<T>> {
        let deadline = Instant::now().checked_add(timeout);
        if deadline.is_none() {
            // Too far to represent: no deadline.
            self.slot().wait_ready(None);
            return Ok(self.taken());
        }
        if self.slot().wait_ready(deadline) {
            Ok(self.taken())
        } else {
            Err(self)
        }
    }

    /// Cancels the job if it has not started: returns true if this call cancelled it (then
    /// `join` gives [`JoinError::Cancelled`] and the job never runs).
    ///
    /// The job's closure is dropped before `cancel` returns, on this thread.
    pub fn cancel(&self) -> bool {
        self.task.cancel()
    }
}

impl<T> JobHandle<T> {
    fn slot(&self) -> &Slot<T> {
        self.task.slot()
    }

    /// The result, after READY was seen; the consuming methods call it once.
    fn taken(&self) -> Result<T, JoinError> {
        self.slot()
            .take()
            .expect("READY means the result is stored and not yet taken")
    }

    /// A wrapper that cancels the job when it is dropped before the job started (tokio's
    /// `AbortHandle` idea, opt-in: a plain `JobHandle` detaches on drop and the job still runs).
    ///
    /// Useful when the handle is awaited and the awaiting future may be dropped (a `select!`
    /// that lost, a timeout): the job is then not run for nobody.
    ///
    /// ```
    /// use pool_core::{Builder, Pool, PoolExt};
    /// use std::sync::{Arc, Barrier};
    ///
    /// let pool = Builder::new().fixed(1).fast()?;
    /// let gate = Arc::new(Barrier::new(2));
    /// let g = Arc::clone(&gate);
    /// let busy = pool.submit(move || { g.wait(); })?; // holds the one worker
    /// let queued = pool.submit(|| unreachable!("cancelled before it started"))?.cancel_on_drop();
    /// drop(queued);
    /// gate.wait();
    /// busy.join()?;
    /// pool.stop(std::time::Duration::from_secs(5));
    /// assert_eq!(pool.stats().cancelled, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel_on_drop(self) -> CancelOnDrop<T> {
        CancelOnDrop(Some(self))
    }
}

/// `.await` a handle: the job's result, as [`JobHandle::join`] gives it, without blocking the
/// executor's thread (tokio's `spawn_blocking`). Works with any executor; the waker of the last
/// poll is woken once the result is stored. Dropping the future detaches the job (it still runs);
/// see [`JobHandle::cancel_on_drop`] to cancel it instead.
///
/// ```
/// use pool_core::{Builder, Pool, PoolExt};
///
/// let pool = Builder::new().fixed(2).fast()?;
/// let answer = futures_lite::future::block_on(async {
///     let a = pool.submit(|| 6).unwrap();
///     let b = pool.submit(|| 7).unwrap();
///     a.await.unwrap() * b.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Panics
/// When polled again after it returned `Ready` (as most futures do).
impl<T> Future for JobHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let slot = self.slot();
        if slot.is_ready() || slot.register(cx.waker()) {
            Poll::Ready(
                slot.take()
                    .expect("a JobHandle polled again after it completed"),
            )
        } else {
            Poll::Pending
        }
    }
}

/// A [`JobHandle`] that cancels its job when dropped before the job started
/// ([`JobHandle::cancel_on_drop`]). It joins and awaits as the handle does.
#[derive(Debug)]
pub struct CancelOnDrop<T>(Option<JobHandle<T>>);

impl<T> CancelOnDrop<T> {
    fn handle(&self) -> &JobHandle<T> {
        self.0
            .as_ref()
            .expect("only `into_handle` takes the handle, consuming the wrapper")
    }

    /// The plain handle back: dropping it no longer cancels.
    pub fn into_handle(mut self) -> JobHandle<T> {
        self.0
            .take()
            .expect("only `into_handle` takes the handle, consuming the wrapper")
    }

    /// Cancels the job now if it has not started ([`JobHandle::cancel`]).
    pub fn cancel(&self) -> bool {
        self.handle().cancel()
    }

    /// Whether the job is over.
    pub fn is_finished(&self) -> bool {
        self.handle().is_finished()
    }
}

impl<T> CancelOnDrop<T> {
    /// Waits for the job and returns its value ([`JobHandle::join`]).
    ///
    /// # Errors
    /// As [`JobHandle::join`].
    pub fn join(self) -> Result<T, JoinError> {
        self.into_handle().join()
    }
}

impl<T> Future for CancelOnDrop<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let handle = self
            .0
            .as_mut()
            .expect("only `into_handle` takes the handle, consuming the wrapper");
        Pin::new(handle).poll(cx)
    }
}

impl<T> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.cancel();
        }
    }
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("id", &self.id)
            .field("finished", &self.slot().is_ready())
            .finish()
    }
}

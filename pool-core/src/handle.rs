//! [`JobHandle`]: the result of a submitted job, and the task types behind `submit` and
//! `submit_with_callback`.

use std::fmt;
use std::time::{Duration, Instant};

use crate::job::{Control, Job, Outcome, Panic, RunReport, Runnable, catch};
use crate::sync::{Arc, Condvar, Mutex, lock, wait, wait_timeout};

/// Why a [`JobHandle`] has no value.
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

/// Where a task's result lands.
pub(crate) struct Slot<T> {
    pub(crate) control: Control,
    /// `Some` once the task is over (ran, panicked, was cancelled or dropped). Written once.
    result: Mutex<Option<Result<T, JoinError>>>,
    done: Condvar,
}

impl<T> Slot<T> {
    fn new() -> Slot<T> {
        Slot {
            control: Control::new(),
            result: Mutex::new(None),
            done: Condvar::new(),
        }
    }

    /// Stores the result unless one is there already (the first writer wins).
    fn complete(&self, r: Result<T, JoinError>) {
        let mut g = lock(&self.result);
        if g.is_none() {
            *g = Some(r);
            self.done.notify_all();
        }
    }
}

/// The task behind [`crate::PoolExt::submit`]: runs `f` and stores its result in the slot.
pub(crate) struct HandleTask<F, T> {
    /// `None` once run.
    pub(crate) f: Option<F>,
    pub(crate) slot: Arc<Slot<T>>,
}

impl<F, T> Runnable for HandleTask<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn run(mut self: Box<Self>) -> RunReport {
        let f = self.f.take().expect("a task runs once");
        let outcome = match catch(f) {
            Ok(v) => {
                self.slot.complete(Ok(v));
                Outcome::Completed
            }
            Err(p) => {
                self.slot.complete(Err(JoinError::Panicked(p)));
                Outcome::Panicked(None)
            }
        };
        RunReport {
            outcome,
            callback_panicked: false,
        }
    }
    fn control(&self) -> Option<&Control> {
        Some(&self.slot.control)
    }
}

impl<F, T> Drop for HandleTask<F, T> {
    fn drop(&mut self) {
        if self.f.is_some() {
            // Never ran: cancelled, or dropped by whoever held it.
            let cancelled = self.slot.control.is_cancelled();
            self.slot.complete(Err(if cancelled {
                JoinError::Cancelled
            } else {
                JoinError::Dropped
            }));
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
        let CallbackTask { f, on_result } = *self;
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
}

/// The result of a job submitted with [`crate::PoolExt::submit`].
///
/// Dropping the handle detaches it: the job still runs.
pub struct JobHandle<T> {
    slot: Arc<Slot<T>>,
    id: crate::JobId,
}

impl<T: Send + 'static> JobHandle<T> {
    /// A task running `f` and its handle (the id is filled in once a pool accepts the job).
    pub(crate) fn new_task<F>(f: F) -> (Job, Arc<Slot<T>>)
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let slot = Arc::new(Slot::new());
        let job = Job::from_runnable(HandleTask {
            f: Some(f),
            slot: Arc::clone(&slot),
        });
        (job, slot)
    }

    pub(crate) fn from_slot(slot: Arc<Slot<T>>, id: crate::JobId) -> JobHandle<T> {
        JobHandle { slot, id }
    }

    /// The id the pool gave the job.
    pub fn id(&self) -> crate::JobId {
        self.id
    }

    /// Whether the job is over (finished, panicked, cancelled or dropped).
    pub fn is_finished(&self) -> bool {
        lock(&self.slot.result).is_some()
    }

    /// Waits for the job and returns its value.
    pub fn join(self) -> Result<T, JoinError> {
        let mut g = lock(&self.slot.result);
        loop {
            if let Some(r) = g.take() {
                return r;
            }
            g = wait(&self.slot.done, g);
        }
    }

    /// The result if the job is over, else the handle back.
    pub fn try_join(self) -> Result<Result<T, JoinError>, JobHandle<T>> {
        let r = lock(&self.slot.result).take();
        r.ok_or(self)
    }

    /// Waits at most `timeout` (real time) for the job; on timeout, the handle back.
    pub fn join_timeout(self, timeout: Duration) -> Result<Result<T, JoinError>, JobHandle<T>> {
        let deadline = Instant::now().checked_add(timeout);
        let mut g = lock(&self.slot.result);
        loop {
            if let Some(r) = g.take() {
                return Ok(r);
            }
            let left = match deadline {
                None => Duration::MAX,
                Some(d) => d.saturating_duration_since(Instant::now()),
            };
            if left.is_zero() {
                drop(g);
                return Err(self);
            }
            g = wait_timeout(&self.slot.done, g, left);
        }
    }

    /// Cancels the job if it has not started: returns true if this call cancelled it (then
    /// `join` gives [`JoinError::Cancelled`] and the job never runs).
    pub fn cancel(&self) -> bool {
        let won = self.slot.control.cancel();
        if won {
            // The job may sit in a lock-free queue until a worker skips it: answer joiners now.
            self.slot.complete(Err(JoinError::Cancelled));
        }
        won
    }
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("id", &self.id)
            .field("finished", &lock(&self.slot.result).is_some())
            .finish()
    }
}

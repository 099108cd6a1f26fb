//! Scoped jobs: [`PoolExt::scope`](crate::PoolExt::scope) runs jobs that borrow from the
//! caller's stack, as `std::thread::scope` and `rayon::scope` do, on any pool.
//!
//! # How a scope ends, and why it cannot deadlock on a busy pool
//!
//! Every spawned job's work (the closure, wrapped so it stores its result) sits in a
//! [`ScopedTask`] that the scope keeps in a list, and a shell [`ScopedJob`] pointing at it is put
//! on the pool. Whoever takes the work out of the task first runs it, exactly once: a worker that
//! reaches the shell, or the scope's own waiting thread. When the scope closure has returned (or
//! panicked), the waiting thread *takes back* the jobs no worker has started, newest first (the
//! end of the queue the workers are not taking from, as a rayon worker pops its own deque), runs
//! each on itself, and cancels its shell in the pool's queue; then it waits for the jobs workers
//! are running. A scope inside a job of a one-worker pool therefore completes: its jobs run on the
//! waiting thread. A `join` of a scoped handle whose job has not started takes it back the same
//! way. A job the pool refuses (stopped, or full under `Reject` after the put timeout) runs at
//! once on the spawning thread, so no job is lost.
//!
//! The pool counts a job taken back as cancelled (the pool did not run it; the scope did), and
//! emits `JobCancelled` for it.
//!
//! # Lifetimes
//!
//! The work borrows from the scope (`'scope`), but pools take `'static` jobs, so the work's
//! lifetime is erased when it is boxed ([`Scope::spawn`], the one `unsafe` block). That is sound
//! because the work can only be reached through its task, and [`scope`] does not return until
//! every task's work has been consumed: the count of unfinished tasks goes up before the task
//! can be reached by anyone and down only after its work has returned and been dropped, and the
//! waiting thread consumes itself any work still in its task. Shells may outlive the scope (in a
//! queue, or handed back by `stop_now`), but by then their task holds no work: nothing with the
//! erased lifetime is left to reach.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::handle::JoinError;
use crate::job::{Control, Job, JobId, Outcome, Panic, RunReport, Runnable, catch};
use crate::pool::{Admission, Pool};
use crate::sync::{Condvar, DynArc, Mutex, lock, wait};

/// The work of one scoped job, lifetime erased (see the module docs): runs the closure, stores
/// its result, and says whether it panicked. Never unwinds.
/// A scoped job's work: runs the closure (or, given the panic of a `before_job` that vetoes
/// it, drops it unrun and stores that panic as its result); returns whether it panicked.
type Work = Box<dyn FnOnce(Option<Panic>) -> bool + Send + 'static>;

/// What a scope and its jobs share.
struct ScopeState {
    inner: Mutex<Inner>,
    /// Notified when a job finishes or is spawned: the scope's waiter and joiners wait here.
    changed: Condvar,
}

/// The scope's lock-held state.
struct Inner {
    /// Spawned jobs whose work has not finished yet (not taken, or running). The scope returns
    /// only once it is 0.
    unfinished: usize,
    /// Tasks whose work may still be untaken, oldest first. Every task is here from its spawn
    /// until the waiting thread pops it; a task whose work a worker took stays until then (or
    /// until a spawn prunes it), harmlessly.
    takeable: Vec<DynArc<ScopedTask>>,
    /// The first panic of a job whose handle did not take it: the scope re-raises it.
    panic: Option<Panic>,
}

impl ScopeState {
    /// One job's work has returned and been dropped.
    fn finish_one(&self) {
        let mut g = lock(&self.inner);
        debug_assert!(g.unfinished > 0, "a scoped job finished twice");
        g.unfinished -= 1;
        self.changed.notify_all();
    }

    /// Takes back and runs the jobs not yet started, newest first, then waits until every job
    /// has finished.
    fn help_until_done(&self) {
        let mut g = lock(&self.inner);
        loop {
            if let Some(task) = g.takeable.pop() {
                drop(g);
                task.take_back();
                // Dropped outside the lock: a task may hold the last reference to a result slot,
                // whose drop locks `inner`.
                drop(task);
                g = lock(&self.inner);
            } else if g.unfinished == 0 {
                return;
            } else {
                g = wait(&self.changed, g);
            }
        }
    }
}

/// One spawned job: its work until someone takes it, and the control block of its shell in the
/// pool (so a take-back can cancel the shell out of the queue).
struct ScopedTask {
    control: Control,
    /// `Some` until taken; whoever takes it runs it, then calls `scope.finish_one`.
    work: Mutex<Option<Work>>,
    scope: DynArc<ScopeState>,
}

impl ScopedTask {
    /// Runs the work if nobody took it yet. Returns whether the work ran here and panicked.
    fn run_if_untaken(&self, veto: Option<Panic>) -> Option<bool> {
        let work = lock(&self.work).take();
        let work = work?;
        let panicked = work(veto);
        self.scope.finish_one();
        Some(panicked)
    }

    /// Takes the work back from the pool if no worker started it, and runs it on this thread;
    /// cancels the shell so the pool drops it from its queue (best effort: a worker that already
    /// took the shell finds it empty).
    fn take_back(&self) {
        let Some(work) = lock(&self.work).take() else {
            return;
        };
        self.control.cancel(|| ());
        work(None);
        self.scope.finish_one();
    }
}

/// The shell put on the pool for a scoped job.
struct ScopedJob(DynArc<ScopedTask>);

impl Runnable for ScopedJob {
    fn run(self: Box<Self>) -> RunReport {
        (*self).run_inline()
    }

    fn run_inline(self) -> RunReport {
        // A shell whose work the scope took back (and could not cancel in time) counts as a job
        // that completed: it did nothing.
        let outcome = match self.0.run_if_untaken(None) {
            Some(true) => Outcome::Panicked(None),
            _ => Outcome::Completed,
        };
        RunReport {
            outcome,
            callback_panicked: false,
        }
    }

    fn fail(self: Box<Self>, p: Panic) -> RunReport {
        // Vetoed by `before_job`: the work stores the panic as its result without running.
        let outcome = match self.0.run_if_untaken(Some(p)) {
            Some(_) => Outcome::Panicked(None),
            None => Outcome::Completed,
        };
        RunReport {
            outcome,
            callback_panicked: false,
        }
    }

    fn control(&self) -> Option<&Control> {
        Some(&self.0.control)
    }

    const HAS_CONTROL: bool = true;
}

// Dropping a shell unrun (handed back by `stop_now` and dropped, a dropped `Created` pool, an
// eviction handler) leaves the work in its task: the scope runs it. No `Drop` impl needed.

/// Where a scoped job's result lands, shared by the job's work and its handle.
struct ScopedSlot<T> {
    result: Mutex<Option<Result<T, Panic>>>,
    scope: DynArc<ScopeState>,
}

impl<T> Drop for ScopedSlot<T> {
    fn drop(&mut self) {
        // Nobody joined a job that panicked: the scope re-raises the first such panic.
        let result = lock(&self.result).take();
        if let Some(Err(p)) = result {
            let mut g = lock(&self.scope.inner);
            if g.panic.is_none() {
                g.panic = Some(p);
            }
        }
    }
}

/// A scope for jobs that borrow from the caller: made by
/// [`PoolExt::scope`](crate::PoolExt::scope).
///
/// `'scope` is the scope's own life, `'env` what its jobs may borrow (as in
/// [`std::thread::Scope`]).
pub struct Scope<'scope, 'env: 'scope, P: ?Sized> {
    pool: &'env P,
    state: DynArc<ScopeState>,
    /// Invariant in `'scope` and `'env`, as `std::thread::Scope`.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

impl<'scope, 'env, P: Pool + ?Sized> Scope<'scope, 'env, P> {
    /// Runs `f` on the pool; `f` may borrow anything that outlives the scope. The scope waits for
    /// it before it returns.
    ///
    /// The job is put with the pool's usual admission (it may wait up to the put timeout for
    /// room). If the pool refuses it (stopped, or full under `Reject`), `f` runs at once on this
    /// thread instead: a scoped job is never lost, and `spawn` never fails. A job may spawn more
    /// jobs on the same scope.
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJobHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let slot = DynArc::new(ScopedSlot {
            result: Mutex::new(None),
            scope: DynArc::clone(&self.state),
        });
        let theirs = DynArc::clone(&slot);
        let work: Box<dyn FnOnce(Option<Panic>) -> bool + Send + 'scope> = Box::new(move |veto| {
            let r = match veto {
                Some(p) => {
                    let _ = catch(move || drop(f));
                    Err(p)
                }
                None => catch(f),
            };
            let panicked = r.is_err();
            // Storing may drop the slot (the handle is gone) and with it a value whose drop
            // panics: caught, the job is over either way.
            let _ = catch(move || *lock(&theirs.result) = Some(r));
            panicked
        });
        // SAFETY: only the lifetime changes ('scope -> 'static; same type and layout). The box
        // is reachable only through the task below, and `scope` does not return before the box
        // has been called and dropped: `unfinished` counts it from before the task is reachable
        // (we add it to `takeable` under the same lock) until after its call returned (the
        // caller then calls `finish_one`), and `scope`'s waiter takes and calls itself any box
        // still in a task. So every borrow the box holds outlives every use of it.
        let work: Work = unsafe {
            std::mem::transmute::<Box<dyn FnOnce(Option<Panic>) -> bool + Send + 'scope>, Work>(
                work,
            )
        };
        let task = DynArc::new(ScopedTask {
            control: Control::new(),
            work: Mutex::new(Some(work)),
            scope: DynArc::clone(&self.state),
        });
        let pruned = {
            let mut g = lock(&self.state.inner);
            g.unfinished += 1;
            // Drop tasks whose work is gone, so a long scope does not keep one per job.
            let pruned = prune(&mut g.takeable);
            g.takeable.push(DynArc::clone(&task));
            self.state.changed.notify_all();
            pruned
        };
        drop(pruned);
        let id = match self.pool.put_with(
            Job::from_runnable(ScopedJob(DynArc::clone(&task))),
            Admission::Wait,
        ) {
            Ok(id) => Some(id),
            Err(refused) => {
                drop(refused);
                task.run_if_untaken(None);
                None
            }
        };
        ScopedJobHandle {
            task,
            slot,
            id,
            _scope: PhantomData,
        }
    }

    /// The pool the scope's jobs run on.
    pub fn pool(&self) -> &'env P {
        self.pool
    }
}

/// Takes out of `takeable` the tasks whose work was taken, keeping the order; returns them so the
/// caller drops them after releasing the lock.
fn prune(takeable: &mut Vec<DynArc<ScopedTask>>) -> Vec<DynArc<ScopedTask>> {
    let mut gone = Vec::new();
    let mut i = 0;
    // Only the oldest entries are likely taken (workers take the queue's head): stop at the
    // first one still holding work, so a spawn costs O(1) amortised.
    while i < takeable.len() && lock(&takeable[i].work).is_none() {
        i += 1;
    }
    gone.extend(takeable.drain(..i));
    gone
}

impl<P: ?Sized> fmt::Debug for Scope<'_, '_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = lock(&self.state.inner);
        f.debug_struct("Scope")
            .field("unfinished", &g.unfinished)
            .finish_non_exhaustive()
    }
}

/// The handle of a job spawned in a [`Scope`]. Dropping it does not detach the job from the
/// scope: the scope still waits for it, and re-raises its panic if it panicked.
pub struct ScopedJobHandle<'scope, T> {
    task: DynArc<ScopedTask>,
    slot: DynArc<ScopedSlot<T>>,
    id: Option<JobId>,
    _scope: PhantomData<&'scope ()>,
}

impl<T> ScopedJobHandle<'_, T> {
    /// The id the pool gave the job; `None` if the pool refused it and it ran on the spawning
    /// thread.
    pub fn id(&self) -> Option<JobId> {
        self.id
    }

    /// Whether the job is over.
    pub fn is_finished(&self) -> bool {
        lock(&self.slot.result).is_some()
    }

    /// Waits for the job and returns its value. A job no worker has started yet is taken back
    /// and run on this thread (so a `join` inside a job of a busy pool does not wait for a
    /// worker that may never come).
    ///
    /// # Errors
    /// [`JoinError::Panicked`] with the payload if the job panicked (the scope then does not
    /// re-raise it). A scoped job is never cancelled or dropped, so no other error occurs.
    pub fn join(self) -> Result<T, JoinError> {
        self.task.take_back();
        let state = &self.slot.scope;
        let mut g = lock(&state.inner);
        let result = loop {
            if let Some(r) = lock(&self.slot.result).take() {
                break r;
            }
            g = wait(&state.changed, g);
        };
        drop(g);
        result.map_err(JoinError::Panicked)
    }
}

impl<T> fmt::Debug for ScopedJobHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJobHandle")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// [`PoolExt::scope`](crate::PoolExt::scope).
pub(crate) fn scope<'env, P, F, R>(pool: &'env P, f: F) -> R
where
    P: Pool + ?Sized,
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env, P>) -> R,
{
    let scope = Scope {
        pool,
        state: DynArc::new(ScopeState {
            inner: Mutex::new(Inner {
                unfinished: 0,
                takeable: Vec::new(),
                panic: None,
            }),
            changed: Condvar::new(),
        }),
        scope: PhantomData,
        env: PhantomData,
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    scope.state.help_until_done();
    let job_panic = lock(&scope.state.inner).panic.take();
    match (result, job_panic) {
        (Err(payload), _) => std::panic::resume_unwind(payload),
        (Ok(_), Some(p)) => p.resume(),
        (Ok(r), None) => r,
    }
}

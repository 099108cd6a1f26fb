//! How a pool stops, seen from its handle: the part both backends share.
//!
//! Each backend says how it begins a stop (refusing new work and queueing its sentinels, or
//! handing back the queue of a pool that never started) and where its counts live
//! ([`Stopping`]); what a caller then sees is written once here: `Pool::stop` waits on the pool
//! clock for the worker threads to finish (a stop called from inside a job does not wait for the
//! worker running it), `await_termination` for the `Terminated` state, and dropping the handle
//! is a stop that does not wait. `Debug` shows the stats.

use std::time::Duration;

use crate::clock::Clock;
use crate::event::Event;
use crate::job::Job;
use crate::stats::{Stats, StopReport};
use crate::sync::thread::{self, ThreadId};
use crate::sync::{Condvar, Mutex, MutexGuard, lock, wait, wait_timeout};

/// What a backend's shared state tells the stop code: its state lock and what lies under it.
pub(crate) trait Stopping {
    /// What the state lock guards.
    type State;

    /// The state lock.
    fn state(&self) -> &Mutex<Self::State>;

    /// The pool's clock (deadlines are on it).
    fn clock(&self) -> &Clock;

    /// Notified when a worker thread finishes and when the state changes to `Terminated`.
    fn exited(&self) -> &Condvar;

    /// Refuses new work and queues the sentinels (see each backend's `begin_stop`); returns the
    /// jobs handed back (only a pool that never started has any).
    fn begin(&self, st: &mut Self::State) -> Vec<Job>;

    /// Worker threads not yet finished (exit hook included).
    fn num_threads(st: &Self::State) -> usize;

    /// The threads of the live workers.
    fn threads(st: &Self::State) -> &[ThreadId];

    /// Whether the pool has reached `Terminated`.
    fn terminated(&self, st: &Self::State) -> bool;

    /// The stop report, with `returned` handed back.
    fn report(&self, st: &Self::State, returned: Vec<Job>) -> StopReport;

    /// How long a dropped handle waits for the queue to drain (`Builder::drop_timeout`).
    fn drop_timeout(&self) -> Duration;

    /// Jobs in the queue now (`Stats::queued`).
    fn queued(&self, st: &Self::State) -> usize;

    /// Emits `e` under the state lock.
    fn emit_locked(&self, st: &mut Self::State, e: Event);
}

/// `Pool::stop`: begins the stop, then waits until every worker thread but the caller's own
/// (when called from inside a job) has finished, or `timeout` passed on the pool clock.
pub(crate) fn stop_and_wait<S: Stopping>(sh: &S, timeout: Duration) -> StopReport {
    let mut st = lock(sh.state());
    let deadline = sh.clock().deadline_after(timeout);
    let returned = sh.begin(&mut st);
    let me = thread::current().id();
    let inside = usize::from(S::threads(&st).contains(&me));
    while S::num_threads(&st) > inside && sh.clock().now() < deadline {
        st = wait_until(sh.clock(), sh.exited(), st, Some(deadline));
    }
    sh.report(&st, returned)
}

/// `Pool::await_termination`: waits until the pool is `Terminated` or `timeout` passed.
pub(crate) fn await_termination<S: Stopping>(sh: &S, timeout: Duration) -> bool {
    let mut st = lock(sh.state());
    let deadline = sh.clock().deadline_after(timeout);
    while !sh.terminated(&st) && sh.clock().now() < deadline {
        st = wait_until(sh.clock(), sh.exited(), st, Some(deadline));
    }
    sh.terminated(&st)
}

/// A stop for a dropped handle: no new work; waits up to the drop timeout (real time, so a
/// manual clock nobody advances cannot hang a drop) for the queue to drain and the workers to
/// exit, as `stop` does. What had not run by then is reported, by `Event::DroppedWithWork` and a
/// `tracing` warning naming the counts: the jobs still queued (they may still run, on the
/// detached workers, if the process lives on) and those of a pool never started (dropped
/// unrun). Jobs handed back are dropped after the lock is released (their drops run user code).
pub(crate) fn stop_on_drop<S: Stopping>(sh: &S) {
    let mut st = lock(sh.state());
    let deadline = std::time::Instant::now().checked_add(sh.drop_timeout());
    let returned = sh.begin(&mut st);
    let me = thread::current().id();
    let inside = usize::from(S::threads(&st).contains(&me));
    while S::num_threads(&st) > inside {
        let left = match deadline {
            Some(d) => d.saturating_duration_since(std::time::Instant::now()),
            None => Duration::MAX,
        };
        if left.is_zero() {
            break;
        }
        st = if left == Duration::MAX {
            wait(sh.exited(), st)
        } else {
            wait_timeout(sh.exited(), st, left)
        };
    }
    let unrun = returned.len() + sh.queued(&st);
    let busy = S::num_threads(&st).saturating_sub(inside);
    if unrun > 0 || busy > 0 {
        sh.emit_locked(
            &mut st,
            Event::DroppedWithWork {
                unrun,
                still_running: busy,
            },
        );
        tracing::warn!(
            target: "pool",
            unrun,
            still_running = busy,
            "a pool was dropped before {unrun} queued job(s) ran ({busy} worker thread(s) still busy)"
        );
    }
    drop(st);
    drop(returned);
}

/// Waits on `cv` until notified or until `deadline` on `clock`.
pub(crate) fn wait_until<'a, T>(
    clock: &Clock,
    cv: &Condvar,
    g: MutexGuard<'a, T>,
    deadline: Option<Duration>,
) -> MutexGuard<'a, T> {
    match clock.wait_for(deadline) {
        None => wait(cv, g),
        Some(left) if left.is_zero() => g,
        Some(left) => wait_timeout(cv, g, left),
    }
}

/// A pool's `Debug`: its name and a snapshot of its stats.
pub(crate) fn fmt_pool(
    f: &mut std::fmt::Formatter<'_>,
    name: &str,
    stats: Stats,
) -> std::fmt::Result {
    f.debug_struct(name).field("stats", &stats).finish()
}

//! The interface every pool under test is driven through, and the jobs the workloads give it.
//!
//! A job is a [`Task`]: plain data ([`Work`] plus a [`Countdown`] to tick, or W2's reply channel
//! to send on), not a boxed closure, so that each subject wraps it in a closure of a concrete type
//! and allocates exactly as it does for its own users; the harness adds no box of its own to
//! anyone's cost.

use std::fmt;
use std::hint;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::waiter::{Waited, Waiter};
use crate::workloads::Group;

/// What one job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Nothing at all.
    Empty,
    /// Sleeps this long (a stand-in for blocking I/O: the worker is parked, the core is free).
    Sleep(Duration),
    /// Spins on the CPU this long (a stand-in for computation).
    Spin(Duration),
    /// W7: computes (spins) for `compute`, then blocks (sleeps) for `block` inside a
    /// `pool_iocp::blocking` region: on a completion-port pool the worker gives its running slot
    /// up while it sleeps; everywhere else the region is a plain call.
    ComputeThenBlock {
        /// Time on the CPU.
        compute: Duration,
        /// Time blocked.
        block: Duration,
    },
}

impl Work {
    /// Does the work on the calling thread.
    pub fn run(self) {
        match self {
            Work::Empty => hint::black_box(()),
            Work::Sleep(d) => thread::sleep(d),
            Work::Spin(d) => {
                let end = Instant::now() + d;
                while Instant::now() < end {
                    hint::spin_loop();
                }
            }
            Work::ComputeThenBlock { compute, block } => {
                Work::Spin(compute).run();
                pool_iocp::blocking(|| thread::sleep(block));
            }
        }
    }
}

/// Counts jobs down to zero; [`Countdown::wait`] returns once the last one has finished.
///
/// Jobs hold it as `&'static` rather than through an `Arc`: an `Arc` clone per job would bounce
/// the reference count's cache line between the submitter and the workers and add that cost to
/// every subject. [`Countdown::this_thread`] hands out one per thread, allocated once and reused.
/// The count is an atomic so that a finishing job costs one `fetch_sub`; only the last one takes
/// the lock to wake the waiter. Aligned to its own cache lines, so nothing else shares them.
#[derive(Debug)]
#[repr(align(128))]
pub struct Countdown {
    /// Jobs not yet finished.
    remaining: AtomicUsize,
    /// When the job that brought `remaining` to zero finished (set under the lock by that job);
    /// cleared by `reset`.
    finished: Mutex<Option<Instant>>,
    /// Notified when `finished` is set.
    cv: Condvar,
}

thread_local! {
    /// The calling thread's countdown (see [`Countdown::this_thread`]).
    static THIS_THREAD: &'static Countdown = Box::leak(Box::new(Countdown::new(0)));
}

impl Countdown {
    /// A countdown from `n`; with `n == 0` it is already finished.
    pub fn new(n: usize) -> Countdown {
        Countdown {
            remaining: AtomicUsize::new(n),
            finished: Mutex::new((n == 0).then(Instant::now)),
            cv: Condvar::new(),
        }
    }

    /// The calling thread's countdown, reset to `n`: one allocation per thread, never freed.
    /// Its previous use must be over (waited for), which holds when one thread runs one
    /// workload at a time.
    pub fn this_thread(n: usize) -> &'static Countdown {
        let c = THIS_THREAD.with(|c| *c);
        c.reset(n);
        c
    }

    /// Starts counting down from `n` again. Every job of the previous count must have counted
    /// down (a late `notify_all` from the last of them is harmless).
    pub fn reset(&self, n: usize) {
        let mut finished = self.lock();
        debug_assert_eq!(
            self.remaining.load(Ordering::Acquire),
            0,
            "a countdown was reset while jobs were still counting"
        );
        self.remaining.store(n, Ordering::Release);
        *finished = (n == 0).then(Instant::now);
    }

    /// Marks one job finished; the last one notes the time and wakes the waiter.
    pub fn count_down(&self) {
        let before = self.remaining.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before > 0, "a countdown went below zero");
        if before == 1 {
            let at = Instant::now();
            *self.lock() = Some(at);
            self.cv.notify_all();
        }
    }

    /// Blocks until every job has counted down; returns when the last one finished (so a
    /// measurement does not include the waiter's own wakeup, which on a VM whose idle cores
    /// halt costs 10–25 µs).
    pub fn wait(&self) -> Instant {
        let mut finished = self.lock();
        loop {
            if let Some(at) = *finished {
                return at;
            }
            finished = self
                .cv
                .wait(finished)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Instant>> {
        self.finished.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One job: do the [`Work`], then say so: tick a [`Countdown`] (the bursts) or send on the
/// caller's channel (W2 through [`crate::Waiter::Channel`]).
#[derive(Clone, Debug)]
pub struct Task {
    work: Work,
    done: Done,
}

/// How a [`Task`] reports that it has finished.
#[derive(Clone, Debug)]
enum Done {
    /// Counts a shared countdown down.
    Count(&'static Countdown),
    /// Sends `()` on a `bounded(1)` channel whose receiver the submitter blocks on.
    Reply(crossbeam_channel::Sender<()>),
}

impl Task {
    /// A job that does `work` and then counts `done` down.
    pub fn new(work: Work, done: &'static Countdown) -> Task {
        Task {
            work,
            done: Done::Count(done),
        }
    }

    /// A job that does `work` and then sends `()` on `reply`.
    pub fn replying(work: Work, reply: crossbeam_channel::Sender<()>) -> Task {
        Task {
            work,
            done: Done::Reply(reply),
        }
    }

    /// Runs the job on the calling thread.
    pub fn run(self) {
        self.work.run();
        match self.done {
            Done::Count(c) => c.count_down(),
            // The caller may have given up (it panicked); nobody is left to tell.
            Done::Reply(tx) => drop(tx.send(())),
        }
    }
}

/// A pool under test, as every workload sees it.
pub trait Subject: Send + Sync {
    /// Runs `task` on the pool, fire-and-forget, through the pool's ordinary submission call.
    fn execute(&self, task: Task);

    /// W2's round trip: runs `work` on the pool and blocks until it has run, waiting the way
    /// this subject's users wait for a result (its [`crate::Factory::waiter`]), and says which
    /// waiter that was. Fire-and-forget pools use [`crate::waiter::through_channel`].
    fn submit_wait(&self, work: Work) -> Waited;
}

/// How many workers a workload asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizing {
    /// Workers kept even when idle.
    pub min: usize,
    /// Most workers at once. Subjects that cannot grow start this many.
    pub max: usize,
}

impl Sizing {
    /// Exactly `n` workers.
    pub fn fixed(n: usize) -> Sizing {
        Sizing { min: n, max: n }
    }

    /// At least `min`, growing on demand up to `max`.
    pub fn growable(min: usize, max: usize) -> Sizing {
        Sizing { min, max }
    }
}

/// Whether a subject is one of the workspace's backends or a peer it is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A backend of this workspace (`pool-core`).
    Backend,
    /// Another pool, measured for comparison.
    Peer,
}

impl Kind {
    /// `"backend"` or `"peer"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Backend => "backend",
            Kind::Peer => "peer",
        }
    }
}

/// Why a subject cannot be built with the asked-for [`Sizing`] (in this process).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

/// Builds one subject; an entry of the list [`crate::subjects()`].
#[derive(Clone, Copy)]
pub struct Factory {
    /// Short name: a row of every table, a column of the ratios.
    pub name: &'static str,
    /// Backend or peer.
    pub kind: Kind,
    /// One line on what the subject is and how it is driven.
    pub about: &'static str,
    /// How W2's caller waits for its job: the way this subject's users get a result.
    pub waiter: Waiter,
    /// `Some(base)`: the subject `base` again, differing only in its [`Factory::waiter`], so it
    /// is measured only in the workloads where the waiter matters ([`Group::waits`]).
    pub variant_of: Option<&'static str>,
    /// Builds a started subject with this sizing.
    pub(crate) build: fn(Sizing) -> Result<Box<dyn Subject>, Unsupported>,
}

impl Factory {
    /// A started subject sized as asked.
    pub fn build(&self, sizing: Sizing) -> Result<Box<dyn Subject>, Unsupported> {
        (self.build)(sizing)
    }

    /// Whether `group` measures this subject: every group for a subject of its own, only the
    /// groups whose result depends on the waiter for a [`Factory::variant_of`].
    pub fn measures(&self, group: Group) -> bool {
        self.variant_of.is_none() || group.waits()
    }
}

impl fmt::Debug for Factory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Factory")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("waiter", &self.waiter)
            .field("variant_of", &self.variant_of)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdown_from_zero_is_finished() {
        Countdown::new(0).wait();
        Countdown::this_thread(0).wait();
    }

    #[test]
    fn countdown_reports_when_the_last_job_finished() {
        let done = Countdown::this_thread(2);
        Task::new(Work::Empty, done).run();
        let before_last = Instant::now();
        let last = thread::spawn(move || {
            Task::new(Work::Empty, done).run();
            Instant::now()
        });
        let after_last = last.join().expect("job thread");
        let finished = done.wait();
        assert!(
            before_last <= finished && finished <= after_last,
            "the finish time is the last job's, not the first's or the waiter's"
        );
    }

    #[test]
    fn countdown_wakes_the_waiter_after_the_last_job() {
        for round in 1..4 {
            let done = Countdown::this_thread(round);
            let jobs: Vec<_> = (0..round)
                .map(|_| {
                    let task = Task::new(Work::Empty, done);
                    thread::spawn(move || task.run())
                })
                .collect();
            done.wait();
            for j in jobs {
                j.join().expect("job thread");
            }
        }
    }

    #[test]
    fn spin_takes_at_least_its_duration() {
        let t = Instant::now();
        Work::Spin(Duration::from_micros(200)).run();
        assert!(t.elapsed() >= Duration::from_micros(200));
    }
}

//! [`ResultQueue`]: Arndt's `threadpool` model. Workers put results on a queue; the caller's
//! thread collects them with [`ResultQueue::poll`] / [`ResultQueue::wait`], and callbacks run
//! there, in completion order.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::fmt;

use crate::error::PutError;
use crate::handle::JoinError;
use crate::job::{Job, JobId, Outcome, Panic, RunReport, Runnable, catch};
use crate::pool::{Admission, Pool};
use crate::stats::PoolState;
use crate::sync::{Arc, Condvar, Mutex, lock, wait};

/// Why [`ResultQueue::poll`] has nothing to give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollError {
    /// No request is outstanding (Arndt `NoResultsPending`).
    NoResultsPending,
    /// Requests are outstanding but the pool has no worker that could run them (Arndt
    /// `NoWorkersAvailable`).
    NoWorkersAvailable,
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PollError::NoResultsPending => "no results pending",
            PollError::NoWorkersAvailable => "requests are pending but the pool has no workers",
        })
    }
}

impl std::error::Error for PollError {}

/// A finished request whose result no callback consumed.
#[derive(Debug)]
pub struct Completed<T> {
    /// The request's job id.
    pub id: JobId,
    /// Its value, or why there is none.
    pub result: Result<T, JoinError>,
}

type Callback<T> = Box<dyn FnOnce(JobId, T)>;
type ExcCallback = Box<dyn FnOnce(JobId, JoinError)>;
/// An outstanding request: its job id and, if given, its callbacks.
type Request<T> = (JobId, Option<(Callback<T>, ExcCallback)>);

struct Channel<T> {
    /// Finished requests in completion order: (request number, result).
    done: Mutex<VecDeque<(u64, Result<T, JoinError>)>>,
    ready: Condvar,
}

/// The task behind a request: runs `f`, puts the result on the channel.
struct RequestTask<F, T> {
    /// `None` once run.
    f: Option<F>,
    seq: u64,
    channel: Arc<Channel<T>>,
}

impl<F, T> RequestTask<F, T> {
    fn send(&self, r: Result<T, JoinError>) {
        lock(&self.channel.done).push_back((self.seq, r));
        self.channel.ready.notify_all();
    }
}

impl<F, T> Runnable for RequestTask<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn run(mut self: Box<Self>) -> RunReport {
        let f = self.f.take().expect("a request runs once");
        let outcome = match catch(f) {
            Ok(v) => {
                self.send(Ok(v));
                Outcome::Completed
            }
            Err(p) => {
                self.send(Err(JoinError::Panicked(p)));
                Outcome::Panicked(None)
            }
        };
        RunReport {
            outcome,
            callback_panicked: false,
        }
    }

    fn fail(mut self: Box<Self>, p: Panic) -> RunReport {
        let f = self.f.take();
        let _ = catch(move || drop(f));
        self.send(Err(JoinError::Panicked(p)));
        RunReport {
            outcome: Outcome::Panicked(None),
            callback_panicked: false,
        }
    }
}

impl<F, T> Drop for RequestTask<F, T> {
    fn drop(&mut self) {
        if self.f.is_some() {
            // Never ran (handed back by stop_now and dropped): the request is still answered.
            self.send(Err(JoinError::Dropped));
        }
    }
}

/// Requests whose results the caller's thread collects (Arndt's `ThreadPool` result side).
///
/// ```
/// use pool_core::{Builder, Pool, ResultQueue};
/// let pool = Builder::new().fixed(2).classic().unwrap();
/// let mut rq = ResultQueue::new(&pool);
/// let mut sum = std::rc::Rc::new(std::cell::Cell::new(0));
/// for i in 0..4 {
///     let sum = sum.clone();
///     rq.put_request_with(move || i * 10, move |_id, v| sum.set(sum.get() + v), |_id, _e| ())
///         .unwrap();
/// }
/// rq.wait().unwrap();
/// assert_eq!(sum.get(), 60);
/// ```
pub struct ResultQueue<'p, T> {
    pool: &'p dyn Pool,
    channel: Arc<Channel<T>>,
    /// Outstanding requests by number: (job id, callbacks). Only the caller's thread touches it.
    outstanding: HashMap<u64, Request<T>>,
    next_seq: u64,
}

impl<'p, T: Send + 'static> ResultQueue<'p, T> {
    /// A result queue over `pool`.
    pub fn new(pool: &'p dyn Pool) -> ResultQueue<'p, T> {
        ResultQueue {
            pool,
            channel: Arc::new(Channel {
                done: Mutex::new(VecDeque::new()),
                ready: Condvar::new(),
            }),
            outstanding: HashMap::new(),
            next_seq: 0,
        }
    }

    /// How many requests have not been collected yet.
    pub fn pending(&self) -> usize {
        self.outstanding.len()
    }

    /// Queues a request whose result [`ResultQueue::poll`] returns (Arndt `putRequest` without a
    /// callback).
    ///
    /// # Errors
    /// As [`Pool::put`]: the closure comes back in the [`PutError`].
    pub fn put_request<F>(&mut self, f: F) -> Result<JobId, PutError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.put(f, None, Admission::Wait)
    }

    /// Queues a request with a `callback` for its value and an `exc_callback` for a panic; both
    /// run in the thread that polls, in completion order.
    ///
    /// # Errors
    /// As [`Pool::put`]: the closure comes back in the [`PutError`]; the callbacks are dropped
    /// unrun.
    pub fn put_request_with<F>(
        &mut self,
        f: F,
        callback: impl FnOnce(JobId, T) + 'static,
        exc_callback: impl FnOnce(JobId, JoinError) + 'static,
    ) -> Result<JobId, PutError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.put(
            f,
            Some((Box::new(callback), Box::new(exc_callback))),
            Admission::Wait,
        )
    }

    fn put<F>(
        &mut self,
        f: F,
        callbacks: Option<(Callback<T>, ExcCallback)>,
        admission: Admission,
    ) -> Result<JobId, PutError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let seq = self.next_seq;
        let task = RequestTask {
            f: Some(f),
            seq,
            channel: Arc::clone(&self.channel),
        };
        match self.pool.put_with(Job::from_runnable(task), admission) {
            Ok(id) => {
                self.next_seq += 1;
                self.outstanding.insert(seq, (id, callbacks));
                Ok(id)
            }
            Err(e) => Err(e.map(|job| match job.downcast_raw::<RequestTask<F, T>>() {
                Ok(mut t) => t.f.take().expect("a refused request has not run"),
                Err(_) => unreachable!("a refused job is the one we built"),
            })),
        }
    }

    /// Collects finished requests: runs their callbacks here, in completion order, and returns
    /// the results that had no callback. With `block`, waits until at least one is ready.
    ///
    /// A panicking callback propagates out of `poll` (after its result is consumed); results not
    /// processed yet stay queued for the next poll.
    ///
    /// # Errors
    /// [`PollError::NoResultsPending`] when nothing is outstanding;
    /// [`PollError::NoWorkersAvailable`] when blocking with requests outstanding, none ready, and
    /// no worker that could run them (the pool is not started, or has no live worker).
    pub fn poll(&mut self, block: bool) -> Result<Vec<Completed<T>>, PollError> {
        if self.outstanding.is_empty() {
            return Err(PollError::NoResultsPending);
        }
        let ready: Vec<_> = {
            let mut g = lock(&self.channel.done);
            if block {
                while g.is_empty() {
                    let stats = self.pool.stats();
                    let no_workers = stats.workers == 0
                        && matches!(stats.state, PoolState::Created | PoolState::Terminated);
                    if no_workers {
                        return Err(PollError::NoWorkersAvailable);
                    }
                    g = wait(&self.channel.ready, g);
                }
            }
            g.drain(..).collect()
        };
        let mut out = Vec::new();
        let mut ready = ready.into_iter();
        while let Some((seq, result)) = ready.next() {
            let Some((id, callbacks)) = self.outstanding.remove(&seq) else {
                continue;
            };
            let ran = match (callbacks, result) {
                (Some((cb, _)), Ok(v)) => catch(move || cb(id, v)),
                (Some((_, exc)), Err(e)) => catch(move || exc(id, e)),
                (None, result) => {
                    out.push(Completed { id, result });
                    Ok(())
                }
            };
            if let Err(panic) = ran {
                // A callback panicked: put back what is not processed yet, so no result is lost,
                // and let the panic reach the caller (Arndt's callbacks raise out of `poll`).
                let mut g = lock(&self.channel.done);
                for item in ready.rev() {
                    g.push_front(item);
                }
                drop(g);
                std::panic::resume_unwind(panic.into_payload());
            }
        }
        Ok(out)
    }

    /// Polls, blocking, until no request is outstanding (Arndt `wait`); returns the results that
    /// had no callback, in completion order.
    ///
    /// # Errors
    /// [`PollError::NoWorkersAvailable`] as [`ResultQueue::poll`] says (requests outstanding and
    /// no worker that could run them); the results collected before are then lost to the
    /// caller, so poll by hand where that matters.
    pub fn wait(&mut self) -> Result<Vec<Completed<T>>, PollError> {
        let mut all = Vec::new();
        loop {
            match self.poll(true) {
                Ok(mut got) => all.append(&mut got),
                Err(PollError::NoResultsPending) => return Ok(all),
                Err(e) => return Err(e),
            }
        }
    }
}

impl<T> fmt::Debug for ResultQueue<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultQueue")
            .field("pending", &self.outstanding.len())
            .finish()
    }
}

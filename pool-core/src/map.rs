//! [`Map`]: [`PoolExt::map`](crate::PoolExt::map), a lazy parallel map whose results come back
//! in input order with a bounded number of jobs in flight (Python's `executor.map(...,
//! buffersize=)`), handing back the input of every job that did not run.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroUsize;

use crate::error::PutError;
use crate::job::{Job, Outcome, Panic, RunReport, Runnable, catch};
use crate::pool::{Admission, Pool};
use crate::sync::{Condvar, DynArc, Mutex, lock, wait};

/// Why one item of a [`Map`] has no value. Every variant but `Panicked` hands the input back.
pub enum MapError<I> {
    /// The pool refused the job (stopped, or full under `Reject`); the input is inside.
    Refused(PutError<I>),
    /// `f` panicked on this input; here is the payload.
    Panicked(Panic),
    /// The job left the pool unrun (handed back by `stop_now` and dropped by its holder, or a
    /// dropped pool that never started); the input is handed back.
    NotRun(I),
}

impl<I> MapError<I> {
    /// The input, unless `f` consumed it (a panic).
    pub fn into_input(self) -> Option<I> {
        match self {
            MapError::Refused(e) => Some(e.into_inner()),
            MapError::NotRun(i) => Some(i),
            MapError::Panicked(_) => None,
        }
    }
}

impl<I> fmt::Debug for MapError<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Refused(e) => write!(f, "Refused({e:?})"),
            MapError::Panicked(p) => write!(f, "Panicked({p:?})"),
            MapError::NotRun(_) => f.write_str("NotRun(..)"),
        }
    }
}

impl<I> fmt::Display for MapError<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Refused(e) => write!(f, "the item's job was refused: {}", e.kind()),
            MapError::Panicked(p) => write!(f, "the item's job panicked: {p}"),
            MapError::NotRun(_) => f.write_str("the item's job left the pool without running"),
        }
    }
}

impl<I> std::error::Error for MapError<I> {}

type ItemResult<I, T> = Result<T, MapError<I>>;

/// Where the jobs of one map put their results: (item number, result), in completion order.
struct Channel<I, T> {
    done: Mutex<Vec<(u64, ItemResult<I, T>)>>,
    ready: Condvar,
}

impl<I, T> Channel<I, T> {
    fn send(&self, seq: u64, r: ItemResult<I, T>) {
        lock(&self.done).push((seq, r));
        self.ready.notify_all();
    }
}

/// One item's job: `f(input)`, its result sent to the channel; dropped unrun, the input is sent
/// back instead.
struct MapJob<I, F, T> {
    /// `Some` until the job runs (or is taken back from a refusal).
    input: Option<I>,
    f: DynArc<F>,
    seq: u64,
    channel: DynArc<Channel<I, T>>,
}

impl<I, F, T> Runnable for MapJob<I, F, T>
where
    I: Send + 'static,
    F: Fn(I) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>) -> RunReport {
        (*self).run_inline()
    }

    fn run_inline(mut self) -> RunReport {
        let input = self.input.take().expect("a map job runs once");
        let f = DynArc::clone(&self.f);
        let (result, outcome) = match catch(move || f(input)) {
            Ok(v) => (Ok(v), Outcome::Completed),
            Err(p) => (Err(MapError::Panicked(p)), Outcome::Panicked(None)),
        };
        self.channel.send(self.seq, result);
        RunReport {
            outcome,
            callback_panicked: false,
        }
    }
}

impl<I, F, T> Drop for MapJob<I, F, T> {
    fn drop(&mut self) {
        if let Some(input) = self.input.take() {
            self.channel.send(self.seq, Err(MapError::NotRun(input)));
        }
    }
}

/// The iterator [`PoolExt::map`](crate::PoolExt::map) returns: `f(input)` for each input, in
/// input order.
///
/// Lazy: nothing is submitted before the first `next`. Each `next` tops the window up to the
/// buffer size (submitting the next inputs, each with the pool's usual admission), then waits
/// for the oldest item's result. So at most `buffer` items are submitted and not yet yielded;
/// the default buffer is twice the pool's `max` (or the machine's parallelism for an unbounded
/// pool), and [`Map::buffer`] sets it.
///
/// Dropping the iterator does not wait: jobs already submitted still run, and their results are
/// dropped.
///
/// Waiting for a result blocks the calling thread. Called from inside a job of the same pool,
/// the map's jobs need another worker to run on: with one worker they would wait forever (use
/// [`PoolExt::scope`](crate::PoolExt::scope) there, which runs its jobs on the waiting thread
/// when no worker takes them).
#[must_use = "a map does nothing until iterated"]
pub struct Map<'p, P: ?Sized, It: Iterator, F, T> {
    pool: &'p P,
    inputs: std::iter::Fuse<It>,
    f: DynArc<F>,
    channel: DynArc<Channel<It::Item, T>>,
    /// The items submitted and not yet yielded, oldest first; `Some` once its result is in.
    window: VecDeque<Option<ItemResult<It::Item, T>>>,
    /// The item number of `window[0]`.
    head: u64,
    buffer: usize,
}

impl<'p, P, It, F, T> Map<'p, P, It, F, T>
where
    P: Pool + ?Sized,
    It: Iterator,
    It::Item: Send + 'static,
    F: Fn(It::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    pub(crate) fn new(pool: &'p P, inputs: It, f: F) -> Self {
        let max = pool
            .stats()
            .max
            .unwrap_or_else(crate::sync::available_parallelism);
        Map {
            pool,
            inputs: inputs.fuse(),
            f: DynArc::new(f),
            channel: DynArc::new(Channel {
                done: Mutex::new(Vec::new()),
                ready: Condvar::new(),
            }),
            window: VecDeque::new(),
            head: 0,
            buffer: max.saturating_mul(2).max(1),
        }
    }

    /// At most `n` items submitted and not yet yielded (Python's `buffersize`); `n = 1` runs the
    /// map one item at a time.
    pub fn buffer(mut self, n: NonZeroUsize) -> Self {
        self.buffer = n.get();
        self
    }

    /// Submits inputs until the window is full or the inputs run out.
    fn fill(&mut self) {
        while self.window.len() < self.buffer {
            let Some(input) = self.inputs.next() else {
                return;
            };
            let seq = self.head + self.window.len() as u64;
            let job = MapJob {
                input: Some(input),
                f: DynArc::clone(&self.f),
                seq,
                channel: DynArc::clone(&self.channel),
            };
            let slot = match self.pool.put_with(Job::from_runnable(job), Admission::Wait) {
                Ok(_) => None,
                Err(refused) => Some(Err(MapError::Refused(refused.map(|job| {
                    match job.downcast_raw::<MapJob<It::Item, F, T>>() {
                        Ok(mut job) => job.input.take().expect("a refused job has not run"),
                        Err(_) => unreachable!("a refused job is the one we built"),
                    }
                })))),
            };
            self.window.push_back(slot);
        }
    }

    /// Moves the results that arrived into the window.
    fn collect(&mut self, arrived: Vec<(u64, ItemResult<It::Item, T>)>) {
        for (seq, r) in arrived {
            let at = usize::try_from(seq - self.head).expect("an item in the window");
            self.window[at] = Some(r);
        }
    }
}

impl<P, It, F, T> Iterator for Map<'_, P, It, F, T>
where
    P: Pool + ?Sized,
    It: Iterator,
    It::Item: Send + 'static,
    F: Fn(It::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = Result<T, MapError<It::Item>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.fill();
        if self.window.is_empty() {
            return None;
        }
        while self.window[0].is_none() {
            let arrived = {
                let mut g = lock(&self.channel.done);
                while g.is_empty() {
                    g = wait(&self.channel.ready, g);
                }
                std::mem::take(&mut *g)
            };
            self.collect(arrived);
        }
        self.head += 1;
        self.window.pop_front().flatten()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lo, hi) = self.inputs.size_hint();
        let n = self.window.len();
        (lo.saturating_add(n), hi.and_then(|h| h.checked_add(n)))
    }
}

impl<P: ?Sized, It: Iterator, F, T> fmt::Debug for Map<'_, P, It, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("in_flight", &self.window.len())
            .field("buffer", &self.buffer)
            .finish_non_exhaustive()
    }
}

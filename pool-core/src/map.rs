//! [`Map`]: [`PoolExt::map`](crate::PoolExt::map), a lazy parallel map whose results come back
//! in input order with a bounded number of jobs in flight (Python's `executor.map(...,
//! buffersize=)`), handing back the input of every job that did not run.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroUsize;

use crate::error::PutError;
use crate::job::{Control, Job, Outcome, Panic, RunReport, Runnable, catch};
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

/// One item: its input until someone takes it, and the control block of its job in the pool (so
/// the map can take a job no worker started back out of the queue).
struct MapTask<I, F, T> {
    control: Control,
    /// `Some` until taken: by a worker (which runs `f` on it and sends the result), by the map
    /// (which runs it itself, or gets it back from a refusal), or by the drop of a job that
    /// never ran (which sends it back as `NotRun`).
    input: Mutex<Option<I>>,
    f: DynArc<F>,
    seq: u64,
    channel: DynArc<Channel<I, T>>,
}

impl<I, F, T> MapTask<I, F, T>
where
    F: Fn(I) -> T,
{
    fn take_input(&self) -> Option<I> {
        lock(&self.input).take()
    }

    /// Runs `f` on the input; whether it panicked.
    fn run(&self, input: I) -> (ItemResult<I, T>, bool) {
        match catch(|| (self.f)(input)) {
            Ok(v) => (Ok(v), false),
            Err(p) => (Err(MapError::Panicked(p)), true),
        }
    }
}

/// The job put on the pool for one item.
struct MapJob<I, F, T>(DynArc<MapTask<I, F, T>>);

impl<I, F, T> Runnable for MapJob<I, F, T>
where
    I: Send + 'static,
    F: Fn(I) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>) -> RunReport {
        (*self).run_inline()
    }

    fn run_inline(self) -> RunReport {
        // Empty when the map took the item back first (and could not cancel the job in time):
        // then this job did nothing, and counts as completed.
        let mut panicked = false;
        if let Some(input) = self.0.take_input() {
            let (result, p) = self.0.run(input);
            panicked = p;
            self.0.channel.send(self.0.seq, result);
        }
        RunReport {
            outcome: if panicked {
                Outcome::Panicked(None)
            } else {
                Outcome::Completed
            },
            callback_panicked: false,
        }
    }

    fn fail(self: Box<Self>, p: Panic) -> RunReport {
        // Vetoed by `before_job`: the item ends as panicked, its input dropped unrun.
        let mut outcome = Outcome::Completed;
        if let Some(input) = self.0.take_input() {
            let _ = catch(move || drop(input));
            self.0.channel.send(self.0.seq, Err(MapError::Panicked(p)));
            outcome = Outcome::Panicked(None);
        }
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

impl<I, F, T> Drop for MapJob<I, F, T> {
    fn drop(&mut self) {
        // Dropped unrun (handed back by `stop_now` and dropped): the input goes back to the map.
        if let Some(input) = lock(&self.0.input).take() {
            self.0
                .channel
                .send(self.0.seq, Err(MapError::NotRun(input)));
        }
    }
}

/// An item of the window: its job, or its result once it is in.
enum Entry<I, F, T> {
    Pending(DynArc<MapTask<I, F, T>>),
    Done(ItemResult<I, T>),
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
/// When the oldest item's job has not been started by any worker when `next` wants it, `next`
/// takes it back out of the queue and runs it on the calling thread (the pool counts the job as
/// cancelled), as a scope does: so a map inside a job of a one-worker pool completes, and a
/// caller waiting for its map lends a hand instead of idling. Otherwise `next` waits for the
/// worker running it.
#[must_use = "a map does nothing until iterated"]
pub struct Map<'p, P: ?Sized, It: Iterator, F, T> {
    pool: &'p P,
    inputs: std::iter::Fuse<It>,
    f: DynArc<F>,
    channel: DynArc<Channel<It::Item, T>>,
    /// The items submitted and not yet yielded, oldest first.
    window: VecDeque<Entry<It::Item, F, T>>,
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
            let task = DynArc::new(MapTask {
                control: Control::new(),
                input: Mutex::new(Some(input)),
                f: DynArc::clone(&self.f),
                seq,
                channel: DynArc::clone(&self.channel),
            });
            let job = Job::from_runnable(MapJob(DynArc::clone(&task)));
            let entry = match self.pool.put_with(job, Admission::Wait) {
                Ok(_) => Entry::Pending(task),
                Err(refused) => Entry::Done(Err(MapError::Refused(refused.map(|job| {
                    // The input first, so the job's drop finds nothing to send back.
                    let input = task.take_input().expect("a refused job has not run");
                    drop(job);
                    input
                })))),
            };
            self.window.push_back(entry);
        }
    }

    /// Moves the results that arrived into the window.
    fn collect(&mut self, arrived: Vec<(u64, ItemResult<It::Item, T>)>) {
        for (seq, r) in arrived {
            let at = usize::try_from(seq - self.head).expect("an item in the window");
            self.window[at] = Entry::Done(r);
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
        if let Entry::Pending(task) = &self.window[0]
            && let Some(input) = task.take_input()
        {
            // No worker has started it: take it back and run it here.
            task.control.cancel(|| ());
            let (result, _) = task.run(input);
            self.window[0] = Entry::Done(result);
        }
        while matches!(self.window[0], Entry::Pending(_)) {
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
        match self.window.pop_front() {
            Some(Entry::Done(r)) => Some(r),
            _ => unreachable!("the oldest item's result is in"),
        }
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

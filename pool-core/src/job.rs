//! Jobs, their ids, panics, and the per-task state shared with a [`JobHandle`].
//!
//! A [`Job`] is a type-erased `FnOnce` with an optional [`Control`] block. A job whose task fits
//! in [`INLINE_WORDS`] pointer-aligned words is stored inline, so building and queueing it
//! allocates nothing; a larger one is boxed. The control block is what makes `cancel` race-free
//! against a worker taking the job: both sides move the task state out of [`QUEUED`] with a
//! compare-exchange, so exactly one of them wins.
//!
//! [`JobHandle`]: crate::JobHandle

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use crate::sync::cell::UnsafeCell;
use crate::sync::{Backoff, DynArc};

/// The id a pool gives every job it accepts: 0, 1, 2, … in acceptance order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {}", self.0)
    }
}

/// The payload of a panic caught from a job, callback or hook.
///
/// `Panic` is `Send + Sync + 'static`, so errors that carry one ([`JoinError`]) go through `?`
/// into `anyhow::Error` or `Box<dyn Error + Send + Sync>`. The payload itself is only `Send` (it is
/// whatever `panic!` was given): it is reachable by value ([`Panic::into_payload`], for
/// [`std::panic::resume_unwind`]) or by `&mut` ([`Panic::payload_mut`]), never through a shared
/// reference, which is what makes sharing a `&Panic` sound. The message of a string payload is
/// copied out when the panic is caught, so [`Panic::message`] needs no access to the payload.
///
/// ```
/// use pool_core::{Builder, JoinError, PoolExt};
///
/// let pool = Builder::new().fixed(1).fast()?;
/// let err = pool.submit(|| -> u32 { panic!("bad input 7") })?.join().unwrap_err();
/// assert!(err.is_panic());
/// let panic = err.into_panic();
/// assert_eq!(panic.message(), Some("bad input 7"));
/// // Re-raise it on this thread, as if the job had run here:
/// let caught = std::panic::catch_unwind(move || panic.resume());
/// assert!(caught.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`JoinError`]: crate::JoinError
pub struct Panic {
    /// The message of a `&'static str` or `String` payload, copied when the panic was caught.
    message: Option<Cow<'static, str>>,
    /// The payload, out of reach of `&Panic`.
    payload: Exclusive<Box<dyn Any + Send + 'static>>,
}

/// A value that is `Send` but perhaps not `Sync`, offering no access through `&self`: only by
/// value or through `&mut self`. Sharing an `&Exclusive<T>` between threads therefore shares
/// nothing of the `T`, so it is `Sync` whatever `T` is (the `sync_wrapper` crate's argument;
/// tokio's `JoinError` does the same for its panic payload).
struct Exclusive<T>(T);

// SAFETY: an `&Exclusive<T>` gives no access to the `T` at all (there is no method taking
// `&self`), so two threads holding one cannot both reach the value; moving it (or a `&mut` to it)
// to another thread needs `T: Send`, which the bound requires.
unsafe impl<T: Send> Sync for Exclusive<T> {}

impl<T> Exclusive<T> {
    fn get_mut(&mut self) -> &mut T {
        &mut self.0
    }

    fn into_inner(self) -> T {
        self.0
    }
}

impl Panic {
    pub(crate) fn new(payload: Box<dyn Any + Send + 'static>) -> Panic {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            Some(Cow::Borrowed(*s))
        } else {
            payload
                .downcast_ref::<String>()
                .map(|s| Cow::Owned(s.clone()))
        };
        Panic {
            message,
            payload: Exclusive(payload),
        }
    }

    /// The panic message when the payload is a string (as `panic!("...")` makes it).
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The raw payload, for [`std::panic::resume_unwind`] or a downcast to a custom type.
    pub fn into_payload(self) -> Box<dyn Any + Send + 'static> {
        self.payload.into_inner()
    }

    /// The raw payload, borrowed mutably (a shared borrow would make `Panic` non-`Sync`).
    pub fn payload_mut(&mut self) -> &mut (dyn Any + Send + 'static) {
        &mut **self.payload.get_mut()
    }

    /// Continues the panic on this thread, with the original payload
    /// ([`std::panic::resume_unwind`]).
    pub fn resume(self) -> ! {
        std::panic::resume_unwind(self.into_payload())
    }
}

// A `Panic` moved into `catch_unwind` (to `resume` it there) or shared by reference leaves nothing
// half-updated behind: a `&Panic` reaches only the copied message.
impl std::panic::UnwindSafe for Panic {}
impl std::panic::RefUnwindSafe for Panic {}

impl fmt::Debug for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message() {
            Some(m) => write!(f, "Panic({m:?})"),
            None => f.write_str("Panic(<non-string payload>)"),
        }
    }
}

impl fmt::Display for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message().unwrap_or("<non-string panic payload>"))
    }
}

/// Runs `f`, catching a panic.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Panic> {
    catch_unwind(AssertUnwindSafe(f)).map_err(Panic::new)
}

/// What running a job came to.
#[derive(Debug)]
pub enum Outcome {
    /// The job returned.
    Completed,
    /// The job panicked. The payload is here unless it was delivered to the job's handle or
    /// callback (then `None`).
    Panicked(Option<Panic>),
    /// The job was cancelled before it started; it did not run.
    Cancelled,
}

/// What a worker reports after running a job.
#[derive(Debug)]
pub(crate) struct RunReport {
    pub(crate) outcome: Outcome,
    /// The job's callback panicked (caught).
    pub(crate) callback_panicked: bool,
}

// Task states. Every transition is a compare-exchange, so each has exactly one winner.
/// Not in any pool's custody: new, refused, or handed back by `stop_now`. May be run by its holder.
pub(crate) const PENDING: u8 = 0;
/// In a pool's queue. Leaves by a worker taking it (RUNNING), `cancel` (CANCELLING), or
/// `stop_now` / an eviction (back to PENDING).
pub(crate) const QUEUED: u8 = 1;
/// Started; cannot be cancelled any more.
pub(crate) const RUNNING: u8 = 2;
/// Cancelled while QUEUED; it will never run. The winning `cancel` dropped its closure.
pub(crate) const CANCELLED: u8 = 3;
/// Cancelled while PENDING (outside any pool); it will never run. Its closure stays with the
/// `Job`'s holder, who drops it with the job.
pub(crate) const CANCELLED_HELD: u8 = 4;
/// A `cancel` won the job out of QUEUED and is finishing under the pool's lock
/// ([`CancelSink::cancel_queued`]): it becomes CANCELLED there, unless the pool hands the job
/// back first (`stop_now`, an eviction: back to PENDING) or a worker takes it first (RUNNING;
/// the cancel then returns false), so that a cancel is atomic with everything the pool does.
pub(crate) const CANCELLING: u8 = 5;
/// A `join` won the job out of QUEUED because it was queued in a pool that had not started
/// ([`Control::run_unstarted`]), and is finishing under the pool's lock
/// ([`CancelSink::run_unstarted`]): JOINED there if the pool is still not started, else back to
/// QUEUED. A worker that takes it first wins (RUNNING), and so does a pool handing it back
/// (PENDING), as with CANCELLING.
pub(crate) const JOINING: u8 = 6;
/// Taken out of a pool that had not started by a `join`, which runs it on its own thread; the
/// pool counted it as run by a caller. The `Job` left in (or taken from) the queue is a shell:
/// whoever drops it does nothing more, and no worker runs it.
pub(crate) const JOINED: u8 = 7;

/// Whether the holder of a job that will never run must drop its closure ([`Control::retire`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retired {
    /// It was not cancelled: the holder retired it (or had claimed it) and owns the closure.
    Dropped,
    /// Cancelled while held outside a pool: the holder owns the closure.
    CancelledHeld,
    /// Cancelled while queued: the canceller dropped the closure.
    Cancelled,
    /// Taken by a `join` that runs it ([`JOINED`]): the joiner owns the closure and the result.
    Joined,
}

/// How a pool takes part in cancelling a job it holds in its queue.
pub trait CancelSink: Send + Sync {
    /// A handle is cancelling the job `id`, queued in this pool. The pool calls `finish` under
    /// the lock it holds when it hands queued jobs back (`stop_now`, evictions), so that a cancel
    /// and those are atomic with each other. `finish` returns false if the pool handed the job
    /// back first (it is the holder's now, and is cancelled there); true if the job is now
    /// cancelled: the pool removes it from its counts and emits `JobCancelled`. Returns what
    /// `finish` returned.
    fn cancel_queued(&self, id: JobId, finish: &mut dyn FnMut() -> bool) -> bool;

    /// Dropping the closure of a job cancelled in this pool panicked (caught): count it.
    fn cancelled_drop_panicked(&self);

    /// A `join` is waiting for the job `id`, which was queued while this pool was not started
    /// (`Created`). Under the pool's lock, the pool calls `decide(true)` if it is still not
    /// started, else `decide(false)` (which puts the job back in the queue's custody). If
    /// `decide(true)` returned true the job is the joiner's: the pool takes it out of its queue
    /// and its counts (as `caller_runs`), runs `before_job`, `run` (the job, on this thread,
    /// given the `before_job` panic that vetoes it, if any; it returns whether the job
    /// panicked), `after_job`, then counts the outcome and emits
    /// `JobRanByCaller`, and returns true. Otherwise it returns false and the joiner waits as
    /// usual (a worker will run the job, or it was handed back).
    ///
    /// The default (a pool that never defers its start) puts the job back and returns false.
    fn run_unstarted(
        &self,
        id: JobId,
        decide: &mut dyn FnMut(bool) -> bool,
        run: &mut dyn FnMut(Option<Panic>) -> bool,
    ) -> bool {
        let _ = (id, &run);
        decide(false)
    }
}

/// The pool holding a queued job, and the job's id there.
type SinkEntry = Option<(JobId, DynArc<dyn CancelSink>)>;

/// The part of a task shared between the job and its handle.
pub(crate) struct Control {
    /// One of [`PENDING`], [`QUEUED`], [`RUNNING`], [`CANCELLED`], [`CANCELLED_HELD`],
    /// [`CANCELLING`], [`JOINING`], [`JOINED`].
    state: AtomicU8,
    /// How many `cancel` (or `run_unstarted`) calls are between announcing that they may take
    /// `sink` (just before their QUEUED -> CANCELLING / JOINING compare-exchange) and being done
    /// with it (right after the take, or after losing the compare-exchange). Nonzero only for
    /// those few steps, which take no lock. [`Job::enqueue`] waits for it to read 0 (Acquire)
    /// before it writes `sink`, so a taker's take happens-before the next write even when the
    /// pool handed the job back (CANCELLING / JOINING -> PENDING) before the take and its new
    /// holder queues it again at once.
    num_sink_takers: AtomicU32,
    /// The pool holding the job while it is QUEUED, and its id there. Guarded by `state`, not by
    /// a lock: the enqueuer writes it while the job is PENDING, the PENDING -> QUEUED
    /// compare-exchange publishes it, and afterwards only the single winner of a transition out
    /// of QUEUED touches it: a releaser (QUEUED -> PENDING) takes it; a canceller
    /// (QUEUED -> CANCELLING) takes it and keeps it through CANCELLING, even when the pool hands
    /// the job back from CANCELLING (the releaser then leaves the sink alone); a worker's
    /// QUEUED -> RUNNING leaves it in place (it is dropped with the control block), so the hot
    /// path does not touch the sink's reference count. The one window the state alone does not
    /// close, a job handed back from CANCELLING before its canceller took the sink and queued
    /// again, `num_sink_takers` closes.
    sink: UnsafeCell<SinkEntry>,
    /// Set by the enqueuer (with `sink`, while PENDING) when the pool it queues the job in has not
    /// started: only then may a `join` take the job to run it itself. Never cleared; a join that
    /// finds the pool started meanwhile just waits.
    unstarted: AtomicBool,
}

// SAFETY: `sink` is the only non-`Sync` part, and no two threads ever access it without one
// access happening-before the other:
// - the enqueuer writes it while the job is PENDING (it owns the job by value), after reading
//   `num_sink_takers` as 0 with Acquire: every canceller that may still have been taking the
//   sink left a previous QUEUED period and decremented the count (Release) after its take;
// - the PENDING -> QUEUED compare-exchange (AcqRel) publishes the write to whoever wins the job
//   out of QUEUED next (a compare-exchange with Acquire): the releaser, which takes the sink, or
//   the canceller, which takes it, or a worker, which does not touch it;
// - a canceller's increment of `num_sink_takers` comes before its compare-exchange, so a
//   releaser that moves the job on from CANCELLING (Acquire, reading the canceller's
//   compare-exchange) and every later holder of the job see the increment (or a later value),
//   and any next enqueue waits for the decrement, which follows the take;
// - the failed-enqueue path takes back what the enqueuer wrote, never having published it.
// The control block is dropped by the last `DynArc` holder, after every other access.
unsafe impl Sync for Control {}

impl Control {
    pub(crate) fn new() -> Control {
        Control {
            state: AtomicU8::new(PENDING),
            num_sink_takers: AtomicU32::new(0),
            sink: UnsafeCell::new(None),
            unstarted: AtomicBool::new(false),
        }
    }

    fn transition(&self, from: u8, to: u8) -> bool {
        self.state
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Takes the sink out. Only the thread the state machine gives the sink to may call it.
    fn take_sink(&self) -> SinkEntry {
        // SAFETY: the caller owns `sink` by the state machine (see the field's doc), so no other
        // access is in progress.
        self.sink.with_mut(|p| unsafe { (*p).take() })
    }

    /// Marks a task that will never run (its holder drops it unrun) as over, so `cancel` fails
    /// from now on; says whether a `cancel` got there first and who owns the closure.
    pub(crate) fn retire(&self) -> Retired {
        if self.transition(PENDING, RUNNING)
            || self.transition(QUEUED, RUNNING)
            || self.transition(JOINING, RUNNING)
        {
            return Retired::Dropped;
        }
        match self.state.load(Ordering::Acquire) {
            JOINED => Retired::Joined,
            // A worker skipped it out of the queue; the canceller finishes (nobody else can
            // take it back now) and owns the closure.
            CANCELLED | CANCELLING => Retired::Cancelled,
            CANCELLED_HELD => Retired::CancelledHeld,
            _ => Retired::Dropped,
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        matches!(
            self.state.load(Ordering::Acquire),
            CANCELLED | CANCELLED_HELD | CANCELLING
        )
    }

    /// Cancels the task if it has not started. A job cancelled in a pool's queue is the
    /// canceller's to discard: `discard` drops its closure here, after the pool counted the
    /// cancel, so the closure is gone when `cancel` returns whichever backend queued it. A job
    /// held outside a pool (handed back, refused, not yet queued) keeps its closure: its holder
    /// drops it.
    pub(crate) fn cancel(&self, discard: impl FnOnce()) -> bool {
        let mut discard = Some(discard);
        loop {
            match self.state.load(Ordering::Acquire) {
                QUEUED => {
                    // Announce the take before the compare-exchange that may win the sink: a
                    // releaser that moves the job on from CANCELLING reads that
                    // compare-exchange, so it and every later holder see the announcement, and
                    // the next `Job::enqueue` waits until we are done with the sink.
                    self.num_sink_takers.fetch_add(1, Ordering::Relaxed);
                    if !self.transition(QUEUED, CANCELLING) {
                        self.num_sink_takers.fetch_sub(1, Ordering::Release);
                        continue;
                    }
                    // We won the job out of QUEUED: the sink is ours.
                    let taken = self.take_sink();
                    // Release: our take happens-before the write of whoever enqueues the job
                    // next (it reads the count as 0 with Acquire).
                    self.num_sink_takers.fetch_sub(1, Ordering::Release);
                    let Some((id, sink)) = taken else {
                        unreachable!("a queued job has its pool's sink");
                    };
                    let finish = &mut || self.transition(CANCELLING, CANCELLED);
                    if sink.cancel_queued(id, finish) {
                        if let Some(d) = discard.take()
                            && catch(d).is_err()
                        {
                            sink.cancelled_drop_panicked();
                        }
                        return true;
                    }
                    // Handed back by the pool first: it is PENDING now; cancel it there.
                }
                PENDING => {
                    if self.transition(PENDING, CANCELLED_HELD) {
                        return true;
                    }
                }
                _ => return false,
            }
        }
    }
}

impl Control {
    /// For a `join` about to block: if the job sits in the queue of a pool that has not
    /// started, takes it out of the pool's custody and runs it here with `run` (which runs the
    /// closure and stores the result; it returns whether the job panicked). True if it ran
    /// here; false if the pool has started (a worker will run it), or the job is not queued.
    pub(crate) fn run_unstarted(&self, run: &mut dyn FnMut(Option<Panic>) -> bool) -> bool {
        if !self.unstarted.load(Ordering::Relaxed) {
            return false;
        }
        // Announce the take before the compare-exchange, as `cancel` does: a stop that hands
        // the job back from JOINING before our take must not let its next holder's
        // `Job::enqueue` write the sink while we read it (see `num_sink_takers`).
        self.num_sink_takers.fetch_add(1, Ordering::Relaxed);
        if !self.transition(QUEUED, JOINING) {
            self.num_sink_takers.fetch_sub(1, Ordering::Release);
            return false;
        }
        // We won the job out of QUEUED: the sink is ours until we leave JOINING.
        let taken = self.take_sink();
        // Release: our take happens-before the write of whoever enqueues the job next.
        self.num_sink_takers.fetch_sub(1, Ordering::Release);
        let Some((id, sink)) = taken else {
            unreachable!("a queued job has its pool's sink");
        };
        let back = DynArc::clone(&sink);
        let mut back = Some(back);
        let decide = &mut |not_started: bool| {
            if not_started {
                return self.transition(JOINING, JOINED);
            }
            // Under the pool's lock, so no hand-back (which needs it) moves the job out of
            // JOINING meanwhile; a worker's take (to RUNNING) may, and never reads the sink.
            if self.state.load(Ordering::Acquire) == JOINING
                && let Some(b) = back.take()
            {
                // SAFETY: the job is JOINING or (taken by a worker since the load) RUNNING: in
                // both the sink is ours (see the field's doc); nobody else reads or writes it.
                let old = self.sink.with_mut(|p| unsafe { (*p).replace((id, b)) });
                drop(old);
                // Publishes the sink with the job, back in the queue's custody.
                self.transition(JOINING, QUEUED);
            }
            false
        };
        sink.run_unstarted(id, decide, run)
    }
}

/// The behaviour behind a [`Job`].
pub(crate) trait Runnable: Any + Send {
    /// Runs the job (it has already been claimed); never unwinds.
    fn run(self: Box<Self>) -> RunReport;
    /// Runs the job stored inline (no box); never unwinds. Tasks that can run without a box
    /// override it; the default boxes the task and calls [`Runnable::run`].
    fn run_inline(self) -> RunReport
    where
        Self: Sized,
    {
        Box::new(self).run()
    }
    /// Ends the job (already claimed) as panicked with `p` without running it (its
    /// `before_job` hook panicked: a veto): the payload goes where a panic of the job would;
    /// never unwinds.
    fn fail(self: Box<Self>, p: Panic) -> RunReport;
    /// The control block, for jobs that have a handle.
    fn control(&self) -> Option<&Control> {
        None
    }
    /// Whether [`Runnable::control`] is ever `Some` for this type (so a job without one skips
    /// the call).
    const HAS_CONTROL: bool = false;
}

/// A plain closure.
pub(crate) struct FnJob<F>(pub(crate) F);

impl<F: FnOnce() + Send + 'static> Runnable for FnJob<F> {
    fn run(self: Box<Self>) -> RunReport {
        (*self).run_inline()
    }

    fn fail(self: Box<Self>, p: Panic) -> RunReport {
        // The closure is dropped unrun (a panicking drop is caught and ignored: the job already
        // ends as panicked).
        let _ = catch(move || drop(self));
        RunReport {
            outcome: Outcome::Panicked(Some(p)),
            callback_panicked: false,
        }
    }

    fn run_inline(self) -> RunReport {
        let outcome = match catch(self.0) {
            Ok(()) => Outcome::Completed,
            Err(p) => Outcome::Panicked(Some(p)),
        };
        RunReport {
            outcome,
            callback_panicked: false,
        }
    }
}

/// Pointer-sized words a [`Job`] stores its task in without allocating: room for a closure of
/// up to six words (a few `Arc`s and integers), or a `submit` task whose closure has up to four.
/// With the vtable pointer a job is seven words, so a queue slot with its state word is one
/// 64-byte cache line.
pub(crate) const INLINE_WORDS: usize = 6;

/// Where a [`Job`] keeps its task: the task itself when it fits, else a `Box` of it.
type Storage = MaybeUninit<[usize; INLINE_WORDS]>;

/// Whether a task of type `R` is stored inline (else boxed). A pure function of `R`, so the
/// code that stores a task and the code that reads it back always agree.
const fn fits<R>() -> bool {
    size_of::<R>() <= size_of::<Storage>() && align_of::<R>() <= align_of::<Storage>()
}

/// The operations of one task type, for a type-erased [`Job`].
struct VTable {
    /// The task's type, for downcasts.
    type_id: fn() -> TypeId,
    /// Runs the task, moving it out of the storage.
    run: unsafe fn(*mut Storage) -> RunReport,
    /// Ends the task as panicked without running it, moving it out of the storage.
    fail: unsafe fn(*mut Storage, Panic) -> RunReport,
    /// Drops the task in place.
    drop: unsafe fn(*mut Storage),
    /// The task's control block, if it has one.
    control: unsafe fn(*const Storage) -> Option<*const Control>,
    /// `R::HAS_CONTROL`: whether `control` can return `Some`.
    has_control: bool,
}

/// The [`VTable`] functions for task type `R`.
struct Erased<R>(PhantomData<R>);

impl<R: Runnable> Erased<R> {
    fn type_id() -> TypeId {
        TypeId::of::<R>()
    }

    /// # Safety
    /// `p` holds a live `R` (inline, or boxed when `R` does not fit) that nobody uses afterwards.
    unsafe fn run(p: *mut Storage) -> RunReport {
        if fits::<R>() {
            // SAFETY: the caller guarantees an inline `R` we may move out.
            unsafe { p.cast::<R>().read() }.run_inline()
        } else {
            // SAFETY: the caller guarantees a `Box<R>` we may move out.
            unsafe { p.cast::<Box<R>>().read() }.run()
        }
    }

    /// # Safety
    /// `p` holds a live `R` (inline, or boxed when `R` does not fit) that nobody uses afterwards.
    unsafe fn fail(p: *mut Storage, panic: Panic) -> RunReport {
        let task: Box<R> = if fits::<R>() {
            // SAFETY: the caller guarantees an inline `R` we may move out.
            Box::new(unsafe { p.cast::<R>().read() })
        } else {
            // SAFETY: the caller guarantees a `Box<R>` we may move out.
            unsafe { p.cast::<Box<R>>().read() }
        };
        task.fail(panic)
    }

    /// # Safety
    /// `p` holds a live `R` (inline or boxed) that nobody uses afterwards.
    unsafe fn drop(p: *mut Storage) {
        if fits::<R>() {
            // SAFETY: the caller guarantees a live inline `R` that is not used again.
            unsafe { p.cast::<R>().drop_in_place() }
        } else {
            // SAFETY: the caller guarantees a live `Box<R>` that is not used again.
            unsafe { p.cast::<Box<R>>().drop_in_place() }
        }
    }

    /// # Safety
    /// `p` holds a live `R` (inline or boxed) for as long as the returned pointer is used.
    unsafe fn control(p: *const Storage) -> Option<*const Control> {
        let r: &R = if fits::<R>() {
            // SAFETY: the caller guarantees a live inline `R`.
            unsafe { &*p.cast::<R>() }
        } else {
            // SAFETY: the caller guarantees a live `Box<R>`.
            unsafe { &*p.cast::<Box<R>>() }
        };
        r.control().map(|c| c as *const Control)
    }

    const VTABLE: VTable = VTable {
        type_id: Self::type_id,
        run: Self::run,
        fail: Self::fail,
        drop: Self::drop,
        control: Self::control,
        has_control: R::HAS_CONTROL,
    };
}

/// A unit of work: a closure, perhaps tied to a [`JobHandle`] or a callback.
///
/// Pools take jobs and hand them back in errors ([`crate::PutError`]) and stop reports; a job
/// handed back can be run by its holder with [`Job::run`], or turned back into the closure with
/// [`Job::downcast`]. Building a job allocates only when its closure is larger than a few words.
///
/// [`JobHandle`]: crate::JobHandle
pub struct Job {
    /// How to run, drop and inspect what `storage` holds.
    vtable: &'static VTable,
    /// The task (`fits`) or a `Box` of it; always initialised while the `Job` exists.
    storage: Storage,
    /// A job is `Send` but not `Sync`, like the `Box<dyn Runnable>` it stands for.
    _marker: PhantomData<Box<dyn Any + Send>>,
}

impl Job {
    /// A job that runs `f`.
    pub fn new<F: FnOnce() + Send + 'static>(f: F) -> Job {
        Job::from_runnable(FnJob(f))
    }

    pub(crate) fn from_runnable<R: Runnable>(r: R) -> Job {
        let mut storage = Storage::uninit();
        if fits::<R>() {
            // SAFETY: `fits` checked that an `R` fits the storage's size and alignment.
            unsafe { storage.as_mut_ptr().cast::<R>().write(r) }
        } else {
            // SAFETY: a `Box<R>` is one pointer, which the storage fits.
            unsafe { storage.as_mut_ptr().cast::<Box<R>>().write(Box::new(r)) }
        }
        Job {
            vtable: const { &Erased::<R>::VTABLE },
            storage,
            _marker: PhantomData,
        }
    }

    /// The control block, for jobs that have a handle.
    fn control(&self) -> Option<&Control> {
        if !self.vtable.has_control {
            return None;
        }
        // SAFETY: the storage holds the live task `vtable` was made for; the pointer it returns
        // borrows from it and does not outlive `&self`.
        unsafe { (self.vtable.control)(&self.storage).map(|c| &*c) }
    }

    /// Runs the job on the current thread and reports how it went. A panic is caught; for a job
    /// with a handle or a callback it goes there, as if a worker had run it.
    pub fn run(self) -> Outcome {
        if !self.claim() {
            return Outcome::Cancelled;
        }
        self.run_claimed().outcome
    }

    /// Turns a job made by [`Job::new`] back into its closure.
    ///
    /// # Errors
    /// The job back, unchanged, when it was not made by [`Job::new`] from an `F` (a `submit`
    /// job, a callback job, a request, another closure type).
    pub fn downcast<F: FnOnce() + Send + 'static>(self) -> Result<F, Job> {
        self.downcast_raw::<FnJob<F>>().map(|j| j.0)
    }

    pub(crate) fn downcast_raw<R: Runnable>(self) -> Result<R, Job> {
        if (self.vtable.type_id)() != TypeId::of::<R>() {
            return Err(self);
        }
        let this = ManuallyDrop::new(self);
        let p = this.storage.as_ptr();
        Ok(if fits::<R>() {
            // SAFETY: the type check says the storage holds an `R`, inline since it fits; `this`
            // is never dropped, so the value is moved out exactly once.
            unsafe { p.cast::<R>().read() }
        } else {
            // SAFETY: as above, boxed since it does not fit.
            *unsafe { p.cast::<Box<R>>().read() }
        })
    }

    /// Whether this job has been cancelled (it will not run).
    pub fn is_cancelled(&self) -> bool {
        self.control().is_some_and(Control::is_cancelled)
    }

    /// Whether the job can be cancelled (it belongs to a [`JobHandle`]).
    ///
    /// [`JobHandle`]: crate::JobHandle
    pub(crate) fn has_control(&self) -> bool {
        self.control().is_some()
    }

    /// Moves the job into a pool's custody as `id`. Returns false if it was already cancelled.
    /// `unstarted`: the pool has not started, so a `join` may run the job itself rather than
    /// wait for a `start` that may never come.
    pub(crate) fn enqueue(
        &self,
        id: JobId,
        sink: &DynArc<dyn CancelSink>,
        unstarted: bool,
    ) -> bool {
        match self.control() {
            None => true,
            Some(c) => {
                c.unstarted.store(unstarted, Ordering::Relaxed);
                // A cancel that won the job out of a pool's queue may not have taken that pool's
                // sink yet when the pool handed the job back: wait until it has (a few steps, no
                // lock; see `num_sink_takers`).
                let mut backoff = Backoff::default();
                while c.num_sink_takers.load(Ordering::Acquire) != 0 {
                    backoff.snooze();
                }
                // SAFETY: we own the job by value and it is not QUEUED (jobs outside a pool are
                // PENDING or CANCELLED_HELD), and every cancel that took the sink before is done
                // with it (the Acquire load above read 0 after its Release decrement), so no
                // other thread touches `sink` now (see its doc and `unsafe impl Sync`).
                let old = c
                    .sink
                    .with_mut(|p| unsafe { (*p).replace((id, DynArc::clone(sink))) });
                drop(old);
                if c.transition(PENDING, QUEUED) {
                    true
                } else {
                    // Cancelled first: nobody will read the sink; take ours back.
                    drop(c.take_sink());
                    false
                }
            }
        }
    }

    /// Takes the job out of the queue to run it: false if `cancel` won the race.
    ///
    /// A cancel still finishing (CANCELLING: it won the job out of QUEUED but has not yet
    /// finished under the pool's lock) loses to the taker, as it loses to a pool handing the job
    /// back ([`Job::release`]): the job leaves the queue in one step, taken or cancelled. Were
    /// the taker to skip it instead, it could start the next job while this one still counted as
    /// queued and not yet cancelled: a state no sequential order of the two calls shows (found by
    /// the conformance kit's histories).
    pub(crate) fn claim(&self) -> bool {
        match self.control() {
            None => true,
            Some(c) => {
                if c.transition(QUEUED, RUNNING) {
                    return true;
                }
                // Not one compare-exchange per state in turn: a join that finds the pool started
                // puts the job back from JOINING to QUEUED, and a taker that tried QUEUED first
                // and JOINING next would miss it in both (found by the conformance kit's loom
                // model of a join racing `start`).
                loop {
                    match c.state.load(Ordering::Acquire) {
                        s @ (QUEUED | PENDING | CANCELLING | JOINING) => {
                            if c.transition(s, RUNNING) {
                                return true;
                            }
                        }
                        _ => return false,
                    }
                }
            }
        }
    }

    /// Takes the job out of the queue to hand it back: false if `cancel` won the race.
    pub(crate) fn release(&self) -> bool {
        match self.control() {
            None => true,
            Some(c) => {
                if c.transition(QUEUED, PENDING) {
                    drop(c.take_sink());
                    true
                } else {
                    // A cancel or join in flight loses to the pool handing the job back (the
                    // caller holds the pool's lock, which they wait for); it keeps the sink.
                    c.transition(CANCELLING, PENDING) || c.transition(JOINING, PENDING)
                }
            }
        }
    }

    /// Ends a job whose [`Job::claim`] succeeded as panicked with `p`, without running it.
    pub(crate) fn fail_claimed(self, p: Panic) -> RunReport {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: the storage holds the live task `vtable` was made for; `this` is never dropped,
        // so the task is moved out exactly once.
        unsafe { (this.vtable.fail)(&mut this.storage, p) }
    }

    /// Runs a job whose [`Job::claim`] succeeded.
    pub(crate) fn run_claimed(self) -> RunReport {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: the storage holds the live task `vtable` was made for; `this` is never dropped,
        // so the task is moved out exactly once.
        unsafe { (this.vtable.run)(&mut this.storage) }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // SAFETY: the storage holds the live task `vtable` was made for (a job that ran or was
        // downcast is wrapped in `ManuallyDrop` and never gets here).
        unsafe { (self.vtable.drop)(&mut self.storage) }
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::{JobHandle, JobId};
    use std::sync::Mutex;

    /// A pool whose lock a worker holds when a cancel arrives: the worker takes the queued job
    /// (and runs it) before the cancel can finish.
    #[derive(Default)]
    struct WorkerFirst {
        queued: Mutex<Option<Job>>,
    }

    impl CancelSink for WorkerFirst {
        fn cancel_queued(&self, _id: JobId, finish: &mut dyn FnMut() -> bool) -> bool {
            let job = self
                .queued
                .lock()
                .unwrap()
                .take()
                .expect("the job is queued");
            assert!(
                job.claim(),
                "the worker lost the job to an unfinished cancel"
            );
            job.run_claimed();
            finish()
        }

        fn cancelled_drop_panicked(&self) {}
    }

    /// A pool that says whether it has started, and runs what a joiner hands it; it tells
    /// `told` when it put a job back.
    struct Unstarted(bool, Mutex<std::sync::mpsc::Sender<()>>);

    impl CancelSink for Unstarted {
        fn cancel_queued(&self, _id: JobId, finish: &mut dyn FnMut() -> bool) -> bool {
            finish()
        }
        fn cancelled_drop_panicked(&self) {}
        fn run_unstarted(
            &self,
            _id: JobId,
            decide: &mut dyn FnMut(bool) -> bool,
            run: &mut dyn FnMut(Option<Panic>) -> bool,
        ) -> bool {
            if !decide(!self.0) {
                self.1.lock().unwrap().send(()).unwrap();
                return false;
            }
            run(None);
            true
        }
    }

    #[test]
    fn a_join_runs_a_job_of_a_pool_never_started_and_leaves_a_started_one_queued() {
        for started in [false, true] {
            let (told, put_back) = std::sync::mpsc::channel();
            let sink: DynArc<dyn CancelSink> = DynArc::new(Unstarted(started, Mutex::new(told)));
            let (job, task) = JobHandle::new_task(|| 5);
            assert!(job.enqueue(JobId(0), &sink, true));
            let handle = JobHandle::from_task(task, JobId(0));
            if started {
                let joiner = std::thread::spawn(move || handle.join().ok());
                // The join found the pool started and put the job back: a worker runs it.
                put_back.recv().unwrap();
                assert!(job.claim(), "the job went back to QUEUED");
                job.run_claimed();
                assert_eq!(joiner.join().unwrap(), Some(5));
            } else {
                assert_eq!(handle.join().ok(), Some(5), "the joiner ran it");
                assert!(!job.claim(), "no worker may run it again");
                drop(job);
            }
        }
    }

    #[test]
    fn a_failed_job_delivers_the_panic_and_drops_its_closure_unrun() {
        // Inline and boxed tasks, with a handle and without.
        let big = [7u64; 16];
        let (job, task) = JobHandle::new_task(move || big[0]);
        assert!(job.claim());
        let report = job.fail_claimed(Panic::new(Box::new("veto")));
        assert!(matches!(report.outcome, Outcome::Panicked(None)));
        match JobHandle::from_task(task, JobId(0)).join() {
            Err(crate::JoinError::Panicked(p)) => assert_eq!(p.message(), Some("veto")),
            other => panic!("{other:?}"),
        }
        let dropped = DynArc::new(std::sync::atomic::AtomicUsize::new(0));
        struct Count(DynArc<std::sync::atomic::AtomicUsize>);
        impl Drop for Count {
            fn drop(&mut self) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let c = Count(dropped.clone());
        let job = Job::new(move || drop(c));
        assert!(job.claim());
        let report = job.fail_claimed(Panic::new(Box::new("veto")));
        assert!(matches!(report.outcome, Outcome::Panicked(Some(_))));
        assert_eq!(
            dropped.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "dropped once, unrun"
        );
    }

    #[test]
    fn a_cancel_that_has_not_finished_loses_to_the_worker_that_takes_the_job() {
        let pool = DynArc::new(WorkerFirst::default());
        let sink: DynArc<dyn CancelSink> = pool.clone();
        let (job, task) = JobHandle::new_task(|| 7);
        assert!(job.enqueue(JobId(0), &sink, false));
        *pool.queued.lock().unwrap() = Some(job);
        let handle = JobHandle::from_task(task, JobId(0));
        assert!(!handle.cancel(), "the cancel won a job a worker took");
        assert_eq!(handle.join().ok(), Some(7), "the job did not run");
    }
}

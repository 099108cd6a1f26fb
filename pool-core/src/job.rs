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

use crate::sync::atomic::{AtomicU8, AtomicU32, Ordering};
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

/// Whether the holder of a job that will never run must drop its closure ([`Control::retire`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retired {
    /// It was not cancelled: the holder retired it (or had claimed it) and owns the closure.
    Dropped,
    /// Cancelled while held outside a pool: the holder owns the closure.
    CancelledHeld,
    /// Cancelled while queued: the canceller dropped the closure.
    Cancelled,
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
}

/// The pool holding a queued job, and the job's id there.
type SinkEntry = Option<(JobId, DynArc<dyn CancelSink>)>;

/// The part of a task shared between the job and its handle.
pub(crate) struct Control {
    /// One of [`PENDING`], [`QUEUED`], [`RUNNING`], [`CANCELLED`], [`CANCELLED_HELD`],
    /// [`CANCELLING`].
    state: AtomicU8,
    /// How many `cancel` calls are between announcing that they may take `sink` (just before
    /// their QUEUED -> CANCELLING compare-exchange) and being done with it (right after the
    /// take, or after losing the compare-exchange). Nonzero only for those few steps, which
    /// take no lock. [`Job::enqueue`] waits for it to read 0 (Acquire) before it writes `sink`,
    /// so a canceller's take happens-before the next write even when the pool handed the job
    /// back (CANCELLING -> PENDING) before the take and its new holder queues it again at once.
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
        if self.transition(PENDING, RUNNING) || self.transition(QUEUED, RUNNING) {
            return Retired::Dropped;
        }
        match self.state.load(Ordering::Acquire) {
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
    pub(crate) fn enqueue(&self, id: JobId, sink: &DynArc<dyn CancelSink>) -> bool {
        match self.control() {
            None => true,
            Some(c) => {
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
                c.transition(QUEUED, RUNNING)
                    || c.transition(PENDING, RUNNING)
                    || c.transition(CANCELLING, RUNNING)
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
                    // A cancel in flight loses to the pool handing the job back (the caller
                    // holds the pool's lock, which the canceller waits for); it keeps the sink.
                    c.transition(CANCELLING, PENDING)
                }
            }
        }
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

    #[test]
    fn a_cancel_that_has_not_finished_loses_to_the_worker_that_takes_the_job() {
        let pool = DynArc::new(WorkerFirst::default());
        let sink: DynArc<dyn CancelSink> = pool.clone();
        let (job, task) = JobHandle::new_task(|| 7);
        assert!(job.enqueue(JobId(0), &sink));
        *pool.queued.lock().unwrap() = Some(job);
        let handle = JobHandle::from_task(task, JobId(0));
        assert!(!handle.cancel(), "the cancel won a job a worker took");
        assert_eq!(handle.join().ok(), Some(7), "the job did not run");
    }
}

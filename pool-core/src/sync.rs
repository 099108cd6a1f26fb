//! The sync shim: the one place that names `std::sync` and `std::thread`.
//!
//! Under `--cfg loom` every primitive comes from [`loom`] instead, so the `conformance` crate can
//! model-check the backends. No other module of this crate imports std's primitives directly.

#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard, atomic};

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard, atomic};

/// Reference-counted trait objects (hooks, listeners, sinks). Loom's `Arc` cannot hold unsized
/// values; these objects are immutable once built, so there is nothing for loom to model in them.
pub(crate) type DynArc<T> = std::sync::Arc<T>;

/// Threads: std's or loom's.
pub(crate) mod thread {
    #[cfg(not(loom))]
    pub(crate) use std::thread::{Builder, ThreadId, current, yield_now};

    #[cfg(loom)]
    pub(crate) use loom::thread::{Builder, ThreadId, current, yield_now};

    /// Sleeps for `d` of real time (only the default `Pool::await_quiescence`, for foreign
    /// backends, polls with it). Under loom there is no time: it yields.
    pub(crate) fn sleep(d: std::time::Duration) {
        #[cfg(not(loom))]
        std::thread::sleep(d);
        #[cfg(loom)]
        {
            let _ = d;
            yield_now();
        }
    }
}

/// A thread's park token, split in the half the thread parks on and the half others wake it with:
/// std's `park` / `Thread::unpark` (an unpark before the park makes it return at once; spurious
/// returns are possible). Under loom it is a flag under a mutex with a condvar, because loom's
/// `unpark` also wakes a thread that is blocked on a mutex, which std's never does.
pub(crate) mod park {
    /// The half the parking thread keeps.
    pub(crate) struct Parker(#[cfg(loom)] super::Arc<Token>);

    /// The half that wakes it; cheap to clone.
    #[derive(Clone)]
    pub(crate) struct Unparker(
        #[cfg(not(loom))] std::thread::Thread,
        #[cfg(loom)] super::Arc<Token>,
    );

    /// Loom's token: set by `unpark`, consumed by `park`.
    #[cfg(loom)]
    pub(crate) struct Token {
        set: super::Mutex<bool>,
        cv: super::Condvar,
    }

    /// A token for the calling thread.
    pub(crate) fn pair() -> (Parker, Unparker) {
        #[cfg(not(loom))]
        return (Parker(), Unparker(std::thread::current()));
        #[cfg(loom)]
        {
            let t = super::Arc::new(Token {
                set: super::Mutex::new(false),
                cv: super::Condvar::new(),
            });
            (Parker(super::Arc::clone(&t)), Unparker(t))
        }
    }

    impl Parker {
        /// Blocks until unparked (or spuriously).
        pub(crate) fn park(&self) {
            #[cfg(not(loom))]
            std::thread::park();
            #[cfg(loom)]
            {
                let mut set = super::lock(&self.0.set);
                while !*set {
                    set = super::wait(&self.0.cv, set);
                }
                *set = false;
            }
        }

        /// Blocks until unparked or `d` of real time passed (or spuriously). Under loom there is
        /// no time: it is `park`.
        pub(crate) fn park_timeout(&self, d: std::time::Duration) {
            #[cfg(not(loom))]
            std::thread::park_timeout(d);
            #[cfg(loom)]
            {
                let _ = d;
                self.park();
            }
        }
    }

    impl Unparker {
        /// Makes the thread's next (or current) park return.
        pub(crate) fn unpark(&self) {
            #[cfg(not(loom))]
            self.0.unpark();
            #[cfg(loom)]
            {
                *super::lock(&self.0.set) = true;
                self.0.cv.notify_one();
            }
        }
    }
}

/// A busy-wait hint. Under loom it yields to the scheduler, so a spin loop lets the thread it
/// waits for make progress.
pub(crate) fn spin_loop() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::hint::spin_loop();
}

/// Waiting out another thread's step in flight (a slot being written, a block being linked):
/// spins a little, then yields the CPU on every further call.
///
/// The step is usually nanoseconds away, but its thread may have been preempted in the middle
/// of it; on a machine with more threads than cores a waiter that only spins would then hold a
/// core the waited-for thread needs, for a whole scheduler time slice (measured: a worker spun
/// for milliseconds on a slot its submitter, preempted on the same core, had reserved but not
/// yet written, halving a one-submitter pool's throughput).
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    /// Spins this many doubling rounds of CPU hints (1 + 2 + … + 64) before yielding.
    const SPIN_LIMIT: u32 = 6;

    /// Waits a little longer than last time. Under loom: one hint (a switch to another thread).
    pub(crate) fn snooze(&mut self) {
        if cfg!(loom) {
            spin_loop();
        } else if self.step <= Self::SPIN_LIMIT {
            for _ in 0..1u32 << self.step {
                spin_loop();
            }
            self.step += 1;
        } else {
            thread::yield_now();
        }
    }

    /// Backs off after losing a compare-exchange to another thread: spins a little longer each
    /// time (up to the same limit), never yields, since the winner has made progress. Letting
    /// the winner run a few operations on a line it holds beats taking the line back at once
    /// (measured: two submitters retrying at once pass the tail's line back and forth on every
    /// put). Under loom: nothing (a lost compare-exchange is already a switch).
    pub(crate) fn spin(&mut self) {
        if !cfg!(loom) {
            for _ in 0..1u32 << self.step.min(Self::SPIN_LIMIT) {
                spin_loop();
            }
            if self.step <= Self::SPIN_LIMIT {
                self.step += 1;
            }
        }
    }
}

/// Polls `done` in a busy loop for about `budget` of real time; true as soon as it holds.
///
/// The loop spins with CPU hints at first and yields the CPU between polls once it has spun for a
/// while, so a spinner does not starve the thread it waits for on an oversubscribed machine.
/// Under loom it polls once: there is no time, spinning only multiplies the interleavings to
/// explore, and the blocking path that follows is the one worth checking.
#[cfg(not(loom))]
pub(crate) fn spin_until(budget: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    /// Polls with only CPU hints between them before time is read or the CPU is yielded.
    const HOT_POLLS: u32 = 16;
    if done() {
        return true;
    }
    let start = std::time::Instant::now();
    let mut polls = 0u32;
    loop {
        if polls < HOT_POLLS {
            for _ in 0..(1u32 << (polls / 4).min(3)) {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
        polls = polls.saturating_add(1);
        if done() {
            return true;
        }
        if polls % 8 == 0 && start.elapsed() >= budget {
            return false;
        }
    }
}

/// Like [`spin_until`], for a poll that reads a location someone else is busy writing: the
/// gaps between polls grow from `first_gap` to `max_gap`, so the poller does not pull that cache
/// line away from its writer on every step. (A worker that found the queue empty polls the
/// queue's tail, which the submitter writes on every put: polled every few nanoseconds, each put
/// pays a cache miss on it and the queue never fills; polled every microsecond or so, a few
/// dozen jobs arrive between polls and the worker takes them without touching the tail.) After
/// `yield_after` it also yields the CPU between polls. The first poll comes after `first_gap`.
#[cfg(not(loom))]
pub(crate) fn poll_spaced(
    budget: std::time::Duration,
    first_gap: std::time::Duration,
    max_gap: std::time::Duration,
    yield_after: std::time::Duration,
    mut done: impl FnMut() -> bool,
) -> bool {
    use std::time::Instant;
    let start = Instant::now();
    let mut gap = first_gap;
    let mut now = start;
    loop {
        let until = now + gap;
        loop {
            for _ in 0..8 {
                std::hint::spin_loop();
            }
            now = Instant::now();
            if now >= until {
                break;
            }
        }
        if done() {
            return true;
        }
        let spent = now - start;
        if spent >= budget {
            return false;
        }
        if spent >= yield_after {
            std::thread::yield_now();
        }
        gap = (gap * 2).min(max_gap);
    }
}

/// Under loom: one poll (see the std version).
#[cfg(loom)]
pub(crate) fn poll_spaced(
    _budget: std::time::Duration,
    _first_gap: std::time::Duration,
    _max_gap: std::time::Duration,
    _yield_after: std::time::Duration,
    mut done: impl FnMut() -> bool,
) -> bool {
    done()
}

/// Under loom: one poll (see the std version).
#[cfg(loom)]
pub(crate) fn spin_until(_budget: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    done()
}

/// `UnsafeCell` with loom's closure API (`with` / `with_mut`), so loom can check every access.
pub(crate) mod cell {
    #[cfg(loom)]
    pub(crate) use loom::cell::UnsafeCell;

    /// std's `UnsafeCell` behind loom's API.
    #[cfg(not(loom))]
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    #[cfg(not(loom))]
    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(v: T) -> UnsafeCell<T> {
            UnsafeCell(std::cell::UnsafeCell::new(v))
        }

        /// Calls `f` with a shared pointer to the value.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Calls `f` with an exclusive pointer to the value.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

/// Locks a mutex, ignoring poisoning. A held lock is tried again a few times, backing off in
/// between ([`Backoff::spin`]), before the thread blocks: std's mutex, once a waiter has slept,
/// makes every unlock a futex call until the lock is free of waiters again, and the classic
/// pool's one lock, shared by a submitter and its workers, otherwise stayed in that mode
/// (measured: 30% of a one-submitter stream's time in futex calls). Under loom: a plain lock.
///
/// The only user code that may run under one of our locks is an event listener, and every call
/// to it is wrapped in `catch_unwind`; a poisoned lock can only come from a bug in this crate,
/// and the state it guards stays coherent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(not(loom))]
    {
        let mut backoff = Backoff::default();
        for _ in 0..LOCK_TRIES {
            if let Some(g) = try_lock(m) {
                return g;
            }
            backoff.spin();
        }
    }
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The lock if it is free now (ignoring poisoning, see [`lock`]); `None` if another thread
/// holds it. Never waits.
pub(crate) fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// How many times [`lock`] tries a held lock, backing off in between, before it blocks.
#[cfg(not(loom))]
const LOCK_TRIES: u32 = 8;

/// Waits on a condvar, ignoring poisoning (see [`lock`]).
pub(crate) fn wait<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(g)
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits on a condvar for at most `d` of real time, ignoring poisoning (see [`lock`]).
#[cfg(not(loom))]
pub(crate) fn wait_timeout<'a, T>(
    cv: &Condvar,
    g: MutexGuard<'a, T>,
    d: std::time::Duration,
) -> MutexGuard<'a, T> {
    match cv.wait_timeout(g, d) {
        Ok((g, _)) => g,
        Err(e) => e.into_inner().0,
    }
}

/// Under loom there is no time: a timed wait is an untimed one (the model wakes it).
#[cfg(loom)]
pub(crate) fn wait_timeout<'a, T>(
    cv: &Condvar,
    g: MutexGuard<'a, T>,
    _d: std::time::Duration,
) -> MutexGuard<'a, T> {
    wait(cv, g)
}

/// The machine's parallelism (at least 1): the default `max`.
pub(crate) fn available_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    #[cfg_attr(
        miri,
        ignore = "times gaps of 100 ns to 1 us against a 50 us budget: miri's clock advances \
                  with every basic block it interprets, so the first gap alone spends the budget \
                  and the poller polls once"
    )]
    fn poll_spaced_returns_once_the_condition_holds_and_gives_up_after_its_budget() {
        let mut polls = 0;
        let ns = Duration::from_nanos;
        assert!(poll_spaced(
            Duration::from_secs(60),
            ns(100),
            ns(200),
            ns(0),
            || {
                polls += 1;
                polls == 3
            }
        ));
        assert_eq!(polls, 3, "it stops polling once the condition holds");
        let mut polls = 0;
        assert!(!poll_spaced(
            Duration::from_micros(50),
            ns(100),
            ns(1_000),
            ns(0),
            || {
                polls += 1;
                false
            }
        ));
        assert!(polls >= 2, "it polls until the budget is spent");
    }
}

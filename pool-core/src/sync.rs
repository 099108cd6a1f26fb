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
    pub(crate) use std::thread::{Builder, Thread, ThreadId, current, park};

    #[cfg(loom)]
    pub(crate) use loom::thread::{Builder, Thread, ThreadId, current, park};

    /// Parks the current thread for at most `d` of real time (spurious wakeups possible).
    #[cfg(not(loom))]
    pub(crate) fn park_timeout(d: std::time::Duration) {
        std::thread::park_timeout(d);
    }

    /// Under loom there is no time: a timed park is an untimed one (the model unparks it).
    #[cfg(loom)]
    pub(crate) fn park_timeout(_d: std::time::Duration) {
        park();
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

/// Polls `done` in a busy loop for about `budget` of real time; true as soon as it holds.
///
/// The loop spins with CPU hints at first and yields the CPU between polls once it has spun for a
/// while, so a spinner does not starve the thread it waits for on an oversubscribed machine.
/// Under loom it polls once: there is no time, spinning only multiplies the interleavings to
/// explore, and the blocking path that follows is the one worth checking.
#[cfg(not(loom))]
pub(crate) fn spin_until(budget: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    /// Polls with only CPU hints between them before time is read or the CPU is yielded.
    const HOT_POLLS: u32 = 64;
    if done() {
        return true;
    }
    let start = std::time::Instant::now();
    let mut polls = 0u32;
    loop {
        if polls < HOT_POLLS {
            for _ in 0..(1u32 << (polls / 8).min(5)) {
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

/// Locks a mutex, ignoring poisoning. The only user code that may run under one of our locks is
/// an event listener, and every call to it is wrapped in `catch_unwind`; a poisoned lock can only
/// come from a bug in this crate, and the state it guards stays coherent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

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

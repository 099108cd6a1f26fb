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
    pub(crate) use std::thread::{Builder, ThreadId, current};

    #[cfg(loom)]
    pub(crate) use loom::thread::{Builder, ThreadId, current};
}

/// Locks a mutex, ignoring poisoning: no user code ever runs while one of our locks is held, so a
/// poisoned lock can only come from a bug in this crate, and the state it guards stays coherent.
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

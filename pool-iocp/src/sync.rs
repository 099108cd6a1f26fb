//! The sync shim: pool-core's (std's primitives, or loom's under `--cfg loom`), so this crate is
//! model-checked with the same primitives as the other backends. No other module of this crate
//! names `std::sync` or `std::thread`.

pub(crate) use pool_core::__backend::{
    Arc, Condvar, DynArc, Mutex, MutexGuard, atomic, lock, thread, wait, wait_timeout,
};

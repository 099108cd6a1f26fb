//! pywin32's `isapi.threaded_extension.ThreadPoolExtension`, on an [`IocpPool`].
//!
//! The user implements [`Extension::dispatch`] (pywin32 `Dispatch`), called on a worker and
//! allowed to block, and may override [`Extension::handle_dispatch_error`]
//! (`HandleDispatchError`), called when `dispatch` panics. [`ThreadPoolExtension::submit`]
//! (`HttpExtensionProc`) queues the request and returns at once, as `HttpExtensionProc` returns
//! `HSE_STATUS_PENDING`. Every request ends exactly once, as `DoneWithSession` demands: it is
//! dispatched or failed (then [`Extension::done_with_session`] gets it back with its
//! [`Ending`]), refused at submit (handed back in the error), or handed back by
//! [`ThreadPoolExtension::terminate_extension`]. The seed's `TerminateExtension` abandons the
//! requests still queued; ours drains them until its deadline and hands back every request that
//! was not dispatched, so none is dropped silently.

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use pool_core::{JobId, Pool, PoolExt, Stats};

use crate::builder::{BuildError, IocpBuilder};
use crate::pool::IocpPool;
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::{Arc, DynArc, Mutex, lock};

/// The id of a submitted request (the pool's id of its job).
pub type RequestId = JobId;

/// How a dispatched request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ending {
    /// `dispatch` returned.
    Dispatched,
    /// `dispatch` panicked; `handle_dispatch_error` had it.
    Failed,
}

/// The panic of a `dispatch` call, for [`Extension::handle_dispatch_error`].
pub struct DispatchPanic(Box<dyn Any + Send + 'static>);

impl DispatchPanic {
    /// The panic message when the payload is a string.
    pub fn message(&self) -> Option<&str> {
        if let Some(s) = self.0.downcast_ref::<&'static str>() {
            Some(s)
        } else {
            self.0.downcast_ref::<String>().map(String::as_str)
        }
    }

    /// The raw payload.
    pub fn payload(&self) -> &(dyn Any + Send) {
        &*self.0
    }
}

impl fmt::Debug for DispatchPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DispatchPanic({:?})",
            self.message().unwrap_or("<non-string payload>")
        )
    }
}

/// What a ThreadPoolExtension's user provides (pywin32: the subclass).
pub trait Extension: Send + Sync + 'static {
    /// One request (pywin32: the `EXTENSION_CONTROL_BLOCK`).
    type Request: Send + 'static;

    /// Handles one request, on a worker thread; may block (wrap long waits in
    /// [`crate::blocking`] so the port lets another worker run meanwhile, as the kernel does by
    /// itself for a real port). pywin32 `Dispatch`.
    fn dispatch(&self, request: &mut Self::Request);

    /// Called when `dispatch` panicked, with the request and the panic (pywin32
    /// `HandleDispatchError`). The default logs it (`tracing`, target `pool`) and the request
    /// ends as [`Ending::Failed`]; an HTTP host turns that into a 500 page here.
    fn handle_dispatch_error(&self, request: &mut Self::Request, panic: &DispatchPanic) {
        let _ = request;
        tracing::error!(
            target: "pool",
            panic = panic.message().unwrap_or("<non-string payload>"),
            "dispatch failed"
        );
    }

    /// The request is done (pywin32: `DoneWithSession`): called exactly once for every request
    /// that was dispatched or failed, on the worker, after `dispatch` (and
    /// `handle_dispatch_error`). The default drops it.
    fn done_with_session(&self, request: Self::Request, ending: Ending) {
        let _ = (request, ending);
    }
}

/// A submit that was refused; the request is handed back.
pub struct Refused<R> {
    /// The request.
    pub request: R,
    /// True if the extension was terminating (else the pool's queue was full).
    pub shut_down: bool,
}

impl<R> fmt::Debug for Refused<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refused")
            .field("shut_down", &self.shut_down)
            .finish_non_exhaustive()
    }
}

/// What [`ThreadPoolExtension::terminate_extension`] found.
pub struct TerminateReport<R> {
    /// Requests dispatched over the extension's life (`dispatch` returned).
    pub dispatched: u64,
    /// Requests whose `dispatch` panicked.
    pub failed: u64,
    /// Requests never dispatched, handed back (in queue order for those still queued).
    pub returned: Vec<R>,
    /// Workers still running at the deadline (detached, never joined).
    pub still_running: usize,
}

impl<R> fmt::Debug for TerminateReport<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminateReport")
            .field("dispatched", &self.dispatched)
            .field("failed", &self.failed)
            .field("returned", &self.returned.len())
            .field("still_running", &self.still_running)
            .finish()
    }
}

/// What the extension and its queued requests share.
struct Common<E: Extension> {
    ext: E,
    dispatched: AtomicU64,
    failed: AtomicU64,
    /// Requests whose job was dropped without running (handed back by the pool, or by an
    /// eviction policy), waiting to be handed back to the caller.
    returned: Mutex<Vec<E::Request>>,
}

/// A queued request: taken by the worker that runs it, or handed home when its job is dropped
/// unrun. `slot` is shared with the submitter until its put returns, so a refused submit can
/// take the request back.
struct Parcel<E: Extension> {
    common: Arc<Common<E>>,
    slot: DynArc<Mutex<Option<E::Request>>>,
}

impl<E: Extension> Parcel<E> {
    fn run(self) {
        let Some(mut request) = lock(&self.slot).take() else {
            return;
        };
        let c = &self.common;
        let ending = match catch_unwind(AssertUnwindSafe(|| c.ext.dispatch(&mut request))) {
            Ok(()) => {
                c.dispatched.fetch_add(1, Ordering::Relaxed);
                Ending::Dispatched
            }
            Err(payload) => {
                let panic = DispatchPanic(payload);
                c.failed.fetch_add(1, Ordering::Relaxed);
                if catch_unwind(AssertUnwindSafe(|| {
                    c.ext.handle_dispatch_error(&mut request, &panic);
                }))
                .is_err()
                {
                    tracing::error!(target: "pool", "handle_dispatch_error panicked");
                }
                Ending::Failed
            }
        };
        // A panicking `done_with_session` is the pool's to count (a job panic).
        c.ext.done_with_session(request, ending);
    }
}

impl<E: Extension> Drop for Parcel<E> {
    fn drop(&mut self) {
        if let Some(r) = lock(&self.slot).take() {
            lock(&self.common.returned).push(r);
        }
    }
}

/// pywin32's `ThreadPoolExtension` on an [`IocpPool`] (see the module docs).
///
/// ```
/// use pool_iocp::{Ending, Extension, ThreadPoolExtension};
/// use std::sync::Mutex;
/// use std::time::Duration;
///
/// #[derive(Default)]
/// struct Echo(Mutex<Vec<(String, Ending)>>);
///
/// impl Extension for Echo {
///     type Request = String;
///     fn dispatch(&self, request: &mut String) {
///         if request == "boom" {
///             panic!("bad request");
///         }
///         request.push_str(" ok");
///     }
///     fn done_with_session(&self, request: String, ending: Ending) {
///         self.0.lock().unwrap().push((request, ending));
///     }
/// }
///
/// let ext = ThreadPoolExtension::new(Echo::default()).unwrap();
/// ext.submit("a".to_owned()).unwrap();
/// ext.submit("boom".to_owned()).unwrap();
/// let report = ext.terminate_extension(Duration::from_secs(10));
/// assert_eq!((report.dispatched, report.failed), (1, 1));
/// assert!(report.returned.is_empty());
/// let mut done = ext.extension().0.lock().unwrap().clone();
/// done.sort();
/// assert_eq!(done, [("a ok".to_owned(), Ending::Dispatched), ("boom".to_owned(), Ending::Failed)]);
/// ```
pub struct ThreadPoolExtension<E: Extension> {
    common: Arc<Common<E>>,
    pool: IocpPool,
}

impl<E: Extension> ThreadPoolExtension<E> {
    /// The extension on a pool with pywin32's defaults (`max_workers` 20, concurrency = cores),
    /// started.
    ///
    /// # Errors
    /// The OS refusing the completion port.
    pub fn new(ext: E) -> Result<ThreadPoolExtension<E>, BuildError> {
        ThreadPoolExtension::with_builder(ext, IocpBuilder::new())
    }

    /// The extension on a pool built by `builder`, started.
    ///
    /// # Errors
    /// An invalid configuration, or the OS refusing the completion port.
    pub fn with_builder(
        ext: E,
        builder: IocpBuilder,
    ) -> Result<ThreadPoolExtension<E>, BuildError> {
        let pool = builder.build()?;
        // Started by the builder or not: either is fine.
        let _ = pool.start();
        Ok(ThreadPoolExtension {
            common: Arc::new(Common {
                ext,
                dispatched: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                returned: Mutex::new(Vec::new()),
            }),
            pool,
        })
    }

    /// Queues `request` for `dispatch` on a worker and returns at once (pywin32
    /// `HttpExtensionProc` returning `HSE_STATUS_PENDING`); never waits for room. A refused
    /// request is handed back.
    ///
    /// # Errors
    /// [`Refused`] with the request: the extension is terminating, or the pool's queue (if
    /// bounded) is full.
    pub fn submit(&self, request: E::Request) -> Result<RequestId, Refused<E::Request>> {
        let slot = DynArc::new(Mutex::new(Some(request)));
        let parcel = Parcel {
            common: Arc::clone(&self.common),
            slot: DynArc::clone(&slot),
        };
        match self.pool.try_execute(move || parcel.run()) {
            Ok(id) => Ok(id),
            Err(e) => {
                let shut_down = e.is_shut_down();
                // Take the request back before the refused closure (and its parcel) drops.
                let request = lock(&slot).take();
                drop(e);
                match request {
                    Some(request) => Err(Refused { request, shut_down }),
                    None => unreachable!("a refused job never ran"),
                }
            }
        }
    }

    /// [`ThreadPoolExtension::submit`] under the seed's name.
    ///
    /// # Errors
    /// As [`ThreadPoolExtension::submit`].
    pub fn http_extension_proc(
        &self,
        request: E::Request,
    ) -> Result<RequestId, Refused<E::Request>> {
        self.submit(request)
    }

    /// Stops taking requests, lets the workers dispatch what is queued until `timeout`, then
    /// hands back every request not dispatched (pywin32 `TerminateExtension`, which abandons
    /// them instead). Requests being dispatched at the deadline finish on their workers.
    /// Idempotent.
    pub fn terminate_extension(&self, timeout: Duration) -> TerminateReport<E::Request> {
        let drained = self.pool.stop(timeout);
        let rest = self.pool.stop_now();
        // Dropping an unrun job hands its request home (`Parcel::drop`).
        drop(drained.returned);
        drop(rest.returned);
        let returned = std::mem::take(&mut *lock(&self.common.returned));
        TerminateReport {
            dispatched: self.common.dispatched.load(Ordering::Relaxed),
            failed: self.common.failed.load(Ordering::Relaxed),
            returned,
            still_running: rest.still_running,
        }
    }

    /// The user's extension.
    pub fn extension(&self) -> &E {
        &self.common.ext
    }

    /// The pool under it.
    pub fn pool(&self) -> &IocpPool {
        &self.pool
    }

    /// The pool's stats.
    pub fn stats(&self) -> Stats {
        self.pool.stats()
    }
}

impl<E: Extension> fmt::Debug for ThreadPoolExtension<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolExtension")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

//! The completion-port abstraction: post a packet (completion key + payload), get one packet with
//! a timeout (nothing yet on timeout), get many at once, and the port's concurrency value.
//!
//! Two implementations keep the same rules: [`crate::WindowsPort`] (a real I/O completion port,
//! Windows only) and [`crate::EmulatedPort`] (portable, on pool-core's sync shim, loom-checked).
//! A packet's payload is owned by the port from `post` until exactly one `get` (or `close`)
//! hands it back: never duplicated, never leaked.

use std::fmt;
use std::io;
use std::time::Duration;

use pool_core::Clock;

/// A packet's completion key: what the packet means to whoever dequeues it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CompletionKey(pub usize);

/// pywin32's `ISAPI_REQUEST` (= 1): "a request is waiting; take it".
pub const ISAPI_REQUEST: CompletionKey = CompletionKey(1);
/// pywin32's `ISAPI_SHUTDOWN` (= 2): "one worker exits".
pub const ISAPI_SHUTDOWN: CompletionKey = CompletionKey(2);

/// One dequeued completion packet: its key and its payload, now owned by the caller.
#[derive(Debug, PartialEq, Eq)]
pub struct Packet<T> {
    /// The completion key it was posted with.
    pub key: CompletionKey,
    /// The payload it was posted with.
    pub payload: T,
}

/// A post that failed; the payload is handed back with the OS error.
pub struct PostError<T> {
    /// Why the port refused the packet.
    pub error: io::Error,
    /// The payload, back with its owner.
    pub payload: T,
}

impl<T> fmt::Debug for PostError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for PostError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the completion port refused the packet ({}); its payload is handed back",
            self.error
        )
    }
}

impl<T> std::error::Error for PostError<T> {}

/// How often a getter in [`CompletionPort::get_until`] on a port that cannot be woken (a real
/// completion port: nothing but a packet or a time-out ends a wait) re-reads a manual clock.
pub(crate) const MANUAL_CLOCK_POLL: Duration = Duration::from_millis(2);

/// How often such a getter looks whether it was interrupted ([`CompletionPort::wake_getters`]).
pub(crate) const INTERRUPT_POLL: Duration = Duration::from_millis(50);

/// An I/O completion port carrying payloads of type `T`.
///
/// The rules every implementation keeps (the kernel's):
/// - packets are dequeued first-in-first-out, each by exactly one caller;
/// - waiting threads are released last-in-first-out (the most recent waiter, whose stack and
///   cache are hot, gets the next packet);
/// - a thread that dequeued a packet counts against [`CompletionPort::concurrency`] until it
///   waits on the port again (or blocks, see [`crate::blocking`]); no waiter is released while
///   that many threads run. A thread whose wait ended runs at once, even if that takes the count
///   above the limit for a while (the port then releases no one until it is back below).
pub trait CompletionPort<T: Send>: Send + Sync {
    /// Posts a packet. On error the payload comes back inside [`PostError`].
    fn post(&self, key: CompletionKey, payload: T) -> Result<(), PostError<T>>;

    /// Dequeues one packet, waiting up to `timeout` of real time (`None`: no limit).
    /// `Ok(None)`: nothing yet (the wait timed out).
    fn get(&self, timeout: Option<Duration>) -> io::Result<Option<Packet<T>>>;

    /// Dequeues up to `max` packets at once (`GetQueuedCompletionStatusEx`), waiting up to
    /// `timeout` for the first. Empty: nothing yet.
    fn get_many(&self, max: usize, timeout: Option<Duration>) -> io::Result<Vec<Packet<T>>>;

    /// The most threads the port lets run at once.
    fn concurrency(&self) -> usize;

    /// Dequeues one packet, waiting until `deadline` on `clock` (`None`: no deadline) or until
    /// `interrupted()` holds. `Ok(None)`: the deadline passed, or the wait was interrupted. The
    /// caller makes `interrupted` true and then calls [`CompletionPort::wake_getters`]; a port
    /// that cannot be woken re-reads a manual clock every few milliseconds and `interrupted` every
    /// [`INTERRUPT_POLL`] of real time while it waits.
    fn get_until(
        &self,
        clock: &Clock,
        deadline: Option<Duration>,
        interrupted: &dyn Fn() -> bool,
    ) -> io::Result<Option<Packet<T>>> {
        loop {
            if interrupted() {
                return Ok(None);
            }
            let left = deadline.map(|d| d.saturating_sub(clock.now()));
            if left.is_some_and(|l| l.is_zero()) {
                return Ok(None);
            }
            let slice = if clock.is_manual() {
                MANUAL_CLOCK_POLL
            } else {
                INTERRUPT_POLL
            };
            let wait = Some(left.map_or(slice, |l| l.min(slice)));
            if let Some(p) = self.get(wait)? {
                return Ok(Some(p));
            }
        }
    }

    /// Getters waiting in [`CompletionPort::get_until`] look again at their deadline (the manual
    /// clock moved) and at their `interrupted` condition.
    fn wake_getters(&self) {}

    /// Counts the calling thread against the concurrency limit from now on (it is about to run
    /// work it did not dequeue from the port), waiting for room if the port is full. The kernel
    /// associates a thread with its port at its first wait; [`crate::EmulatedPort`] lets a new
    /// worker ask for its slot before it runs its first job. A no-op on a real port.
    fn attach(&self) {}

    /// The calling thread, which counts against the limit, finished a work item it did not
    /// dequeue from the port and is about to take another the same way: if the port is over its
    /// limit (threads back from waits run above it, as the kernel lets them), it gives its slot
    /// up and waits for one, as a thread calling `GetQueuedCompletionStatus` on a full port
    /// would. A no-op otherwise, and on a real port.
    fn checkpoint(&self) {}

    /// The calling thread leaves the port for good (it exits): its slot is free.
    fn detach(&self) {}

    /// Takes every packet still in the port, in order (nothing waits).
    fn drain(&self) -> Vec<Packet<T>>;
}

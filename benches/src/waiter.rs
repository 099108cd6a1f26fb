//! How W2's caller waits for the one job it submitted: each subject waits the way its own users
//! do, and says which way it was.
//!
//! A waiter is one of four, each written once here: [`Waiter::JobHandle`] (pool-core's
//! `JobHandle::join`), [`Waiter::Channel`] (a fresh `crossbeam_channel::bounded(1)` per round
//! trip, sent on by the job and `recv`ed by the caller: what a user of a fire-and-forget pool
//! writes), [`Waiter::JoinHandle`] (tokio's `JoinHandle` awaited with `Runtime::block_on`) and
//! [`Waiter::Task`] (smol's `blocking::Task` awaited with `futures_lite::future::block_on`).
//!
//! Every wait returns a [`Waited`] naming the waiter it went through, and only the functions of
//! this module can make one, so [`crate::Subject::submit_wait`] cannot claim a waiter it did not
//! use; the tests check each subject's against the one its [`crate::Factory`] declares.

use std::fmt;

use crate::subject::{Subject, Task, Work};

/// A way of waiting for one job's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Waiter {
    /// pool-core's `PoolExt::submit` then `JobHandle::join` (spins briefly, then parks on the
    /// handle's condvar).
    JobHandle,
    /// `crossbeam_channel::bounded(1)`, one per round trip: the job sends `()` after its work,
    /// the caller blocks in `Receiver::recv` (which spins briefly, then parks).
    Channel,
    /// tokio's `spawn_blocking` `JoinHandle`, awaited with `Runtime::block_on`.
    JoinHandle,
    /// smol's `blocking::unblock` `Task`, awaited with `futures_lite::future::block_on`.
    Task,
}

impl Waiter {
    /// A short name for tables and JSON: `"JobHandle"`, `"channel"`, `"JoinHandle"`, `"Task"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Waiter::JobHandle => "JobHandle",
            Waiter::Channel => "channel",
            Waiter::JoinHandle => "JoinHandle",
            Waiter::Task => "Task",
        }
    }

    /// What the caller does, in a phrase (for the report).
    pub fn about(self) -> &'static str {
        match self {
            Waiter::JobHandle => "`submit` then `JobHandle::join`",
            Waiter::Channel => {
                "a fresh `crossbeam_channel::bounded(1)`: the job `send`s, the caller `recv`s"
            }
            Waiter::JoinHandle => "`Runtime::block_on` of the `spawn_blocking` `JoinHandle`",
            Waiter::Task => "`futures_lite::future::block_on` of the `unblock` `Task`",
        }
    }
}

impl fmt::Display for Waiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Proof that a round trip waited through a [`Waiter`]: only this module's wait functions make
/// one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a round trip reports the waiter it went through"]
pub struct Waited(Waiter);

impl Waited {
    /// The waiter the round trip went through.
    pub fn waiter(self) -> Waiter {
        self.0
    }
}

/// [`Waiter::Channel`]: `work` runs through the subject's ordinary fire-and-forget
/// [`Subject::execute`] and sends on a fresh `bounded(1)` channel, which the caller receives on.
pub fn through_channel(s: &(impl Subject + ?Sized), work: Work) -> Waited {
    let (tx, rx) = crossbeam_channel::bounded(1);
    s.execute(Task::replying(work, tx));
    rx.recv().expect("the job sends before it drops its sender");
    Waited(Waiter::Channel)
}

/// [`Waiter::JobHandle`]: joins a pool-core handle.
pub(crate) fn joined<T>(handle: pool_core::JobHandle<T>) -> Waited
where
    T: Send + 'static,
{
    if let Err(e) = handle.join() {
        panic!("a round-trip job did not complete: {e}");
    }
    Waited(Waiter::JobHandle)
}

/// [`Waiter::JoinHandle`]: awaits a tokio `spawn_blocking` handle on its runtime.
pub(crate) fn awaited_join_handle<T>(
    rt: &tokio::runtime::Runtime,
    handle: tokio::task::JoinHandle<T>,
) -> Waited {
    if let Err(e) = rt.block_on(handle) {
        panic!("a round-trip job did not complete: {e}");
    }
    Waited(Waiter::JoinHandle)
}

/// [`Waiter::Task`]: awaits a smol `blocking` task.
pub(crate) fn awaited_task<T>(task: blocking::Task<T>) -> Waited {
    futures_lite::future::block_on(task);
    Waited(Waiter::Task)
}

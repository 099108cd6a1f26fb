//! The peers every backend is compared with: two minimal pools written here ([`ChannelPool`],
//! [`CondvarPool`]) and adapters over `threadpool`, `rayon-core`, tokio's blocking pool and smol's
//! `blocking`.

mod channel_pool;
mod condvar_pool;

use std::env;

pub use channel_pool::ChannelPool;
pub use condvar_pool::CondvarPool;

use crate::subject::{Sizing, Subject, Task, Unsupported, Work};
use crate::waiter::{self, Waited};

impl Subject for ChannelPool {
    fn execute(&self, task: Task) {
        ChannelPool::execute(self, move || task.run());
    }

    fn submit_wait(&self, work: Work) -> Waited {
        waiter::through_channel(self, work)
    }
}

impl Subject for CondvarPool {
    fn execute(&self, task: Task) {
        CondvarPool::execute(self, move || task.run());
    }

    fn submit_wait(&self, work: Work) -> Waited {
        waiter::through_channel(self, work)
    }
}

/// `threadpool::ThreadPool`; dropping it waits for the queued jobs.
struct ThreadpoolPeer(threadpool::ThreadPool);

/// Builds a `threadpool` peer of `max` threads.
pub(crate) fn threadpool(s: Sizing) -> Result<Box<dyn Subject>, Unsupported> {
    let pool = threadpool::Builder::new()
        .num_threads(s.max)
        .thread_name("threadpool".to_owned())
        .build();
    Ok(Box::new(ThreadpoolPeer(pool)))
}

impl Subject for ThreadpoolPeer {
    fn execute(&self, task: Task) {
        self.0.execute(move || task.run());
    }

    fn submit_wait(&self, work: Work) -> Waited {
        waiter::through_channel(self, work)
    }
}

impl Drop for ThreadpoolPeer {
    fn drop(&mut self) {
        self.0.join();
    }
}

/// `rayon_core::ThreadPool`, driven by `spawn` from outside the pool.
struct RayonPeer(rayon_core::ThreadPool);

/// Builds a rayon-core peer of `max` threads.
pub(crate) fn rayon(s: Sizing) -> Result<Box<dyn Subject>, Unsupported> {
    rayon_core::ThreadPoolBuilder::new()
        .num_threads(s.max)
        .thread_name(|i| format!("rayon-{i}"))
        .build()
        .map(|pool| Box::new(RayonPeer(pool)) as Box<dyn Subject>)
        .map_err(|e| Unsupported(e.to_string()))
}

impl Subject for RayonPeer {
    fn execute(&self, task: Task) {
        self.0.spawn(move || task.run());
    }

    fn submit_wait(&self, work: Work) -> Waited {
        waiter::through_channel(self, work)
    }
}

/// tokio's blocking pool. The runtime is current-thread so that it has no scheduler threads of
/// its own: only the blocking pool, which `spawn_blocking` grows on demand up to `max`.
struct TokioPeer(tokio::runtime::Runtime);

/// Builds a tokio runtime whose blocking pool may grow to `max` threads.
pub(crate) fn tokio(s: Sizing) -> Result<Box<dyn Subject>, Unsupported> {
    tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(s.max)
        .thread_name("tokio-blocking")
        .build()
        .map(|rt| Box::new(TokioPeer(rt)) as Box<dyn Subject>)
        .map_err(|e| Unsupported(e.to_string()))
}

impl Subject for TokioPeer {
    fn execute(&self, task: Task) {
        // Dropping the JoinHandle detaches the job; it still runs.
        drop(self.0.spawn_blocking(move || task.run()));
    }

    fn submit_wait(&self, work: Work) -> Waited {
        waiter::awaited_join_handle(&self.0, self.0.spawn_blocking(move || work.run()))
    }
}

/// smol's `blocking` pool: one per process, grown on demand up to `BLOCKING_MAX_THREADS`.
struct BlockingPeer;

/// What `blocking` reads (once per process) for its most threads, and its default.
const BLOCKING_MAX_THREADS: &str = "BLOCKING_MAX_THREADS";
const BLOCKING_DEFAULT_MAX: usize = 500;

/// The `blocking` peer, if this process's `BLOCKING_MAX_THREADS` is `max`: its pool is global
/// and sized once from the environment, so another size needs another process (the report runs
/// each measurement in a child process with the variable set).
pub(crate) fn blocking(s: Sizing) -> Result<Box<dyn Subject>, Unsupported> {
    let max = env::var(BLOCKING_MAX_THREADS)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BLOCKING_DEFAULT_MAX);
    if max == s.max {
        Ok(Box::new(BlockingPeer))
    } else {
        Err(Unsupported(format!(
            "blocking sizes its one pool per process from {BLOCKING_MAX_THREADS} (here {max}); \
             run with {BLOCKING_MAX_THREADS}={} for this workload",
            s.max
        )))
    }
}

impl Subject for BlockingPeer {
    fn execute(&self, task: Task) {
        // Dropping a `blocking::Task` would cancel it; detached, it runs.
        blocking::unblock(move || task.run()).detach();
    }

    fn submit_wait(&self, work: Work) -> Waited {
        waiter::awaited_task(blocking::unblock(move || work.run()))
    }
}

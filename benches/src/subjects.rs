//! The one list of subjects: every workspace backend, then every peer. Each workload, the
//! criterion benches and the report iterate over [`subjects()`]; a new backend is one entry here.

use std::time::Duration;

use pool_core::{Builder, ConfigError, Pool, PoolExt};

use crate::peers;
use crate::subject::{Factory, Kind, Subject, Task, Unsupported, Work};

/// Every subject, backends first, in the order the report shows them.
pub fn subjects() -> Vec<Factory> {
    vec![
        Factory {
            name: "classic",
            kind: Kind::Backend,
            about: "pool-core `ClassicPool` (one Mutex, Condvars); W2 joins the `JobHandle`",
            build: |s| started(Builder::new().min(s.min).max(s.max).classic()),
        },
        Factory {
            name: "fast",
            kind: Kind::Backend,
            about: "pool-core `FastPool` (lock-free put/take, spin-then-park); W2 joins the `JobHandle`",
            build: |s| started(Builder::new().min(s.min).max(s.max).fast()),
        },
        Factory {
            name: "crossbeam-channel",
            kind: Kind::Peer,
            about: "N threads looping on a `crossbeam_channel::Receiver<Box<dyn FnOnce()>>` (`peers::ChannelPool`); fixed at `max`",
            build: |s| Ok(Box::new(peers::ChannelPool::new(s.max))),
        },
        Factory {
            name: "condvar",
            kind: Kind::Peer,
            about: "a plain `Mutex<VecDeque>` + `Condvar` pool (`peers::CondvarPool`); fixed at `max`",
            build: |s| Ok(Box::new(peers::CondvarPool::new(s.max))),
        },
        Factory {
            name: "threadpool",
            kind: Kind::Peer,
            about: "the `threadpool` crate, `ThreadPool::new(max).execute`",
            build: peers::threadpool,
        },
        Factory {
            name: "rayon-core",
            kind: Kind::Peer,
            about: "`rayon_core::ThreadPool::spawn`, `num_threads(max)`",
            build: peers::rayon,
        },
        Factory {
            name: "tokio",
            kind: Kind::Peer,
            about: "tokio `Runtime::spawn_blocking` (current-thread runtime, `max_blocking_threads(max)`); W2 awaits the `JoinHandle`",
            build: peers::tokio,
        },
        Factory {
            name: "blocking",
            kind: Kind::Peer,
            about: "smol's `blocking::unblock` (one pool per process, sized by `BLOCKING_MAX_THREADS=max`); W2 awaits the `Task`",
            build: peers::blocking,
        },
    ]
}

/// A workspace backend, started, stopped (draining) on drop.
struct Backend<P: Pool> {
    pool: P,
}

/// A freshly built backend (the builder returns it running).
fn started<P: Pool + 'static>(
    pool: Result<P, ConfigError>,
) -> Result<Box<dyn Subject>, Unsupported> {
    let pool = pool.map_err(|e| Unsupported(e.to_string()))?;
    Ok(Box::new(Backend { pool }))
}

impl<P: Pool> Subject for Backend<P> {
    fn execute(&self, task: Task) {
        if let Err(e) = self.pool.execute(move || task.run()) {
            panic!("{} refused a job: {e}", self.pool.backend());
        }
    }

    fn submit_wait(&self, work: Work) {
        match self.pool.submit(move || work.run()) {
            Ok(handle) => handle.join().expect("an empty job has a value"),
            Err(e) => panic!("{} refused a job: {e}", self.pool.backend()),
        }
    }
}

impl<P: Pool> Drop for Backend<P> {
    fn drop(&mut self) {
        self.pool.stop(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_backends_come_first() {
        let all = subjects();
        let names: HashSet<_> = all.iter().map(|f| f.name).collect();
        assert_eq!(names.len(), all.len());
        let first_peer = all.iter().position(|f| f.kind == Kind::Peer);
        assert!(
            all.iter()
                .skip(first_peer.unwrap_or(all.len()))
                .all(|f| f.kind == Kind::Peer)
        );
    }
}

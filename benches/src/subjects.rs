//! The one list of subjects: every workspace backend, then every peer. Each workload, the
//! criterion benches and the report iterate over [`subjects()`]; a new backend is one entry here.

use std::time::Duration;

use pool_core::{Builder, ConfigError, Pool, PoolExt};

use crate::peers;
use crate::subject::{Factory, Kind, Subject, Task, Unsupported, Work};
use crate::waiter::{self, Waited, Waiter};

/// Every subject, backends first, in the order the report shows them.
pub fn subjects() -> Vec<Factory> {
    vec![
        Factory {
            name: "classic",
            kind: Kind::Backend,
            about: "pool-core `ClassicPool` (one Mutex, Condvars)",
            waiter: Waiter::JobHandle,
            variant_of: None,
            build: |s| {
                started(
                    Builder::new().min(s.min).max(s.max).classic(),
                    Waiter::JobHandle,
                )
            },
        },
        Factory {
            name: "classic (channel)",
            kind: Kind::Backend,
            about: "`classic` again, its W2 result returned through the peers' channel (`execute`, not `submit`)",
            waiter: Waiter::Channel,
            variant_of: Some("classic"),
            build: |s| {
                started(
                    Builder::new().min(s.min).max(s.max).classic(),
                    Waiter::Channel,
                )
            },
        },
        Factory {
            name: "fast",
            kind: Kind::Backend,
            about: "pool-core `FastPool` (lock-free put/take, spin-then-park)",
            waiter: Waiter::JobHandle,
            variant_of: None,
            build: |s| {
                started(
                    Builder::new().min(s.min).max(s.max).fast(),
                    Waiter::JobHandle,
                )
            },
        },
        Factory {
            name: "fast (channel)",
            kind: Kind::Backend,
            about: "`fast` again, its W2 result returned through the peers' channel (`execute`, not `submit`)",
            waiter: Waiter::Channel,
            variant_of: Some("fast"),
            build: |s| started(Builder::new().min(s.min).max(s.max).fast(), Waiter::Channel),
        },
        Factory {
            name: "iocp",
            kind: Kind::Backend,
            about: "pool-iocp `IocpPool` on `EmulatedPort` (concurrency = cores: at most that many workers run; a job inside `pool_iocp::blocking` gives its slot up)",
            waiter: Waiter::JobHandle,
            variant_of: None,
            build: |s| {
                started(
                    pool_iocp::IocpBuilder::from_builder(Builder::new().min(s.min).max(s.max))
                        .build_emulated(),
                    Waiter::JobHandle,
                )
            },
        },
        Factory {
            name: "iocp (channel)",
            kind: Kind::Backend,
            about: "`iocp` again, its W2 result returned through the peers' channel (`execute`, not `submit`)",
            waiter: Waiter::Channel,
            variant_of: Some("iocp"),
            build: |s| {
                started(
                    pool_iocp::IocpBuilder::from_builder(Builder::new().min(s.min).max(s.max))
                        .build_emulated(),
                    Waiter::Channel,
                )
            },
        },
        Factory {
            name: "crossbeam-channel",
            kind: Kind::Peer,
            about: "N threads looping on a `crossbeam_channel::Receiver<Box<dyn FnOnce()>>` (`peers::ChannelPool`); fixed at `max`",
            waiter: Waiter::Channel,
            variant_of: None,
            build: |s| Ok(Box::new(peers::ChannelPool::new(s.max))),
        },
        Factory {
            name: "condvar",
            kind: Kind::Peer,
            about: "a plain `Mutex<VecDeque>` + `Condvar` pool (`peers::CondvarPool`); fixed at `max`",
            waiter: Waiter::Channel,
            variant_of: None,
            build: |s| Ok(Box::new(peers::CondvarPool::new(s.max))),
        },
        Factory {
            name: "threadpool",
            kind: Kind::Peer,
            about: "the `threadpool` crate, `ThreadPool::new(max).execute`",
            waiter: Waiter::Channel,
            variant_of: None,
            build: peers::threadpool,
        },
        Factory {
            name: "rayon-core",
            kind: Kind::Peer,
            about: "`rayon_core::ThreadPool::spawn`, `num_threads(max)`",
            waiter: Waiter::Channel,
            variant_of: None,
            build: peers::rayon,
        },
        Factory {
            name: "tokio",
            kind: Kind::Peer,
            about: "tokio `Runtime::spawn_blocking` (current-thread runtime, `max_blocking_threads(max)`)",
            waiter: Waiter::JoinHandle,
            variant_of: None,
            build: peers::tokio,
        },
        Factory {
            name: "blocking",
            kind: Kind::Peer,
            about: "smol's `blocking::unblock` (one pool per process, sized by `BLOCKING_MAX_THREADS=max`)",
            waiter: Waiter::Task,
            variant_of: None,
            build: peers::blocking,
        },
    ]
}

/// A workspace backend, started, stopped (draining) on drop.
struct Backend<P: Pool> {
    pool: P,
    /// How [`Subject::submit_wait`] waits: [`Waiter::JobHandle`] (`submit` and `join`) or
    /// [`Waiter::Channel`] (`execute` and the peers' channel).
    waiter: Waiter,
}

/// A freshly built backend (the builder returns it running) whose W2 waits through `waiter`.
fn started<P: Pool + 'static>(
    pool: Result<P, ConfigError>,
    waiter: Waiter,
) -> Result<Box<dyn Subject>, Unsupported> {
    let pool = pool.map_err(|e| Unsupported(e.to_string()))?;
    Ok(Box::new(Backend { pool, waiter }))
}

impl<P: Pool> Subject for Backend<P> {
    fn execute(&self, task: Task) {
        if let Err(e) = self.pool.execute(move || task.run()) {
            panic!("{} refused a job: {e}", self.pool.backend());
        }
    }

    fn submit_wait(&self, work: Work) -> Waited {
        match self.waiter {
            Waiter::Channel => waiter::through_channel(self, work),
            _ => match self.pool.submit(move || work.run()) {
                Ok(handle) => waiter::joined(handle),
                Err(e) => panic!("{} refused a job: {e}", self.pool.backend()),
            },
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
    use crate::subject::Sizing;
    use crate::workloads::Group;
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

    /// Each subject's W2 round trip goes through the waiter its factory declares (which the
    /// report prints), not through another one.
    #[test]
    fn every_round_trip_goes_through_the_declared_waiter() {
        for f in subjects() {
            // `blocking`'s one pool is sized from the environment; any size it accepts will do.
            let pool = f
                .build(Sizing::fixed(2))
                .or_else(|_| f.build(Sizing::fixed(500)))
                .unwrap_or_else(|e| panic!("{}: {e}", f.name));
            for _ in 0..3 {
                assert_eq!(
                    pool.submit_wait(Work::Empty).waiter(),
                    f.waiter,
                    "{}",
                    f.name
                );
            }
        }
    }

    /// The backends are measured twice in W2, through their `JobHandle` and through the same
    /// channel as the fire-and-forget peers; a variant is its base with another waiter, measured
    /// only where the waiter matters.
    #[test]
    fn every_backend_is_measured_through_its_handle_and_the_peers_channel() {
        let all = subjects();
        for base in all
            .iter()
            .filter(|f| f.kind == Kind::Backend && f.variant_of.is_none())
        {
            assert_eq!(base.waiter, Waiter::JobHandle, "{}", base.name);
            let variants: Vec<_> = all
                .iter()
                .filter(|v| v.variant_of == Some(base.name))
                .collect();
            assert_eq!(variants.len(), 1, "{}", base.name);
            assert_eq!(variants[0].waiter, Waiter::Channel, "{}", variants[0].name);
            assert_eq!(variants[0].kind, Kind::Backend, "{}", variants[0].name);
        }
        for v in all.iter().filter(|f| f.variant_of.is_some()) {
            let base = v.variant_of.expect("a variant");
            assert!(
                all.iter().any(|f| f.name == base && f.variant_of.is_none()),
                "{} is a variant of no subject",
                v.name
            );
            for g in Group::ALL {
                assert_eq!(v.measures(g), g.waits(), "{} in {}", v.name, g.id());
            }
        }
        assert!(
            all.iter()
                .filter(|f| f.kind == Kind::Peer)
                .any(|f| f.waiter == Waiter::Channel)
        );
    }
}

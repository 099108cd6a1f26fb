//! Peers through the same kit: adapters that put the `threadpool` crate and rayon-core's
//! `ThreadPool` behind the `Pool` contract, run on the part of the suite they can express
//! (their `Caps`), side by side with ours.
//!
//! The adapters add no semantics of their own: a job goes to the peer as a closure that runs
//! it (a panic of a fire-and-forget job is re-raised on the peer's thread, so the peer's own
//! panic handling shows); `stop` is the peer's own way to wait for its work (`join` for
//! `threadpool`, dropping the pool and waiting for the jobs it had for rayon); the counters are
//! counted by the adapter from each job's outcome.
//!
//! `CONFORMANCE_UPDATE_DOCS=1 cargo test -p conformance --test peers` also runs our backends
//! and the mutants and rewrites the table in `docs/conformance.md`.

use std::panic::resume_unwind;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use conformance::{Backend, Caps, Options, Report, Status};
use pool_core::{
    Admission, Builder, Config, ConfigError, Job, JobId, Outcome, Pool, PoolState, PutError,
    StartError, Stats, StopReport,
};

/// Jobs the adapter has seen end, by outcome.
#[derive(Default)]
struct Counts {
    completed: AtomicU64,
    panicked: AtomicU64,
    cancelled: AtomicU64,
    /// Jobs the adapter handed back because the peer is gone.
    rejected: AtomicU64,
    /// Jobs handed to the peer and not yet over (queued or running there).
    outstanding: Mutex<usize>,
    done: Condvar,
    /// Jobs running now.
    running: AtomicUsize,
}

impl Counts {
    /// Runs `job` on the peer's thread, counts how it ended, and re-raises the panic of a
    /// fire-and-forget job so the peer handles it its own way.
    fn run(&self, job: Job) {
        self.running.fetch_add(1, SeqCst);
        let outcome = job.run();
        self.running.fetch_sub(1, SeqCst);
        let panic = match outcome {
            Outcome::Completed => {
                self.completed.fetch_add(1, SeqCst);
                None
            }
            Outcome::Panicked(p) => {
                self.panicked.fetch_add(1, SeqCst);
                p
            }
            Outcome::Cancelled => {
                self.cancelled.fetch_add(1, SeqCst);
                None
            }
        };
        *self.outstanding.lock().unwrap() -= 1;
        self.done.notify_all();
        if let Some(p) = panic {
            resume_unwind(p.into_payload());
        }
    }

    fn submitted(&self) {
        *self.outstanding.lock().unwrap() += 1;
    }

    /// Waits until every job handed to the peer is over, up to `timeout`.
    fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut g = self.outstanding.lock().unwrap();
        while *g > 0 {
            g = match deadline {
                None => self.done.wait(g).unwrap(),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.done.wait_timeout(g, left).unwrap().0
                }
            };
        }
        true
    }

    fn stats(&self, workers: usize, queued: usize, n: usize, state: PoolState) -> Stats {
        let busy = self.running.load(SeqCst).min(workers);
        Stats {
            workers,
            idle: workers - busy,
            busy,
            queued,
            completed: self.completed.load(SeqCst),
            panicked: self.panicked.load(SeqCst),
            cancelled: self.cancelled.load(SeqCst),
            rejected: self.rejected.load(SeqCst),
            peak_workers: n,
            min: n,
            max: Some(n),
            state,
            ..Stats::default()
        }
    }
}

/// The `threadpool` crate: a fixed set of threads started when built, one unbounded FIFO
/// channel, `join` to wait for the work; no shutdown, so work put after a "stop" still runs.
struct ThreadpoolPool {
    inner: Mutex<threadpool::ThreadPool>,
    n: usize,
    started: AtomicBool,
    stopped: AtomicBool,
    next: AtomicU64,
    counts: Arc<Counts>,
}

impl ThreadpoolPool {
    fn new(cfg: Config) -> ThreadpoolPool {
        let n = cfg.max().unwrap_or(4);
        let inner = threadpool::Builder::new()
            .num_threads(n)
            .thread_name(cfg.thread_name().to_owned())
            .build();
        ThreadpoolPool {
            inner: Mutex::new(inner),
            n,
            started: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            next: AtomicU64::new(0),
            counts: Arc::default(),
        }
    }
}

impl Pool for ThreadpoolPool {
    fn backend(&self) -> &'static str {
        "threadpool"
    }
    fn start(&self) -> Result<usize, StartError> {
        if self.started.swap(true, SeqCst) {
            Err(StartError::AlreadyStarted)
        } else {
            Ok(self.n)
        }
    }
    fn put_with(&self, job: Job, _admission: Admission) -> Result<JobId, PutError<Job>> {
        let counts = Arc::clone(&self.counts);
        counts.submitted();
        self.inner.lock().unwrap().execute(move || counts.run(job));
        Ok(JobId(self.next.fetch_add(1, SeqCst)))
    }
    fn grow(&self, _n: usize) -> usize {
        0
    }
    fn shrink(&self, _n: usize) -> usize {
        0
    }
    fn resize(&self, _min: usize, _max: Option<usize>) -> Result<(), ConfigError> {
        Ok(())
    }
    fn stats(&self) -> Stats {
        let p = self.inner.lock().unwrap();
        let state = if self.stopped.load(SeqCst) {
            PoolState::Terminated
        } else {
            PoolState::Running
        };
        self.counts
            .stats(p.max_count(), p.queued_count(), self.n, state)
    }
    fn stop(&self, _timeout: Duration) -> StopReport {
        let p = self.inner.lock().unwrap().clone();
        p.join();
        self.stopped.store(true, SeqCst);
        StopReport {
            completed: self.counts.completed.load(SeqCst),
            panicked: self.counts.panicked.load(SeqCst),
            cancelled: self.counts.cancelled.load(SeqCst),
            ..StopReport::default()
        }
    }
    fn stop_now(&self) -> StopReport {
        StopReport::default()
    }
    fn await_termination(&self, timeout: Duration) -> bool {
        self.counts.drain(timeout)
    }
}

/// rayon-core's `ThreadPool`: threads started when built, work-stealing deques fed by a global
/// FIFO injector for work spawned from outside; no way to wait for `spawn`ed work but dropping
/// the pool, after which it can take no more.
struct RayonPool {
    inner: Mutex<Option<rayon_core::ThreadPool>>,
    n: usize,
    started: AtomicBool,
    next: AtomicU64,
    counts: Arc<Counts>,
}

impl RayonPool {
    fn new(cfg: Config) -> RayonPool {
        let n = cfg.max().unwrap_or(4);
        let prefix = cfg.thread_name().to_owned();
        let inner = rayon_core::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(move |i| format!("{prefix}-{i}"))
            // Without a handler rayon aborts the process on a panic in `spawn`.
            .panic_handler(|_| {})
            .build()
            .expect("a rayon pool");
        RayonPool {
            inner: Mutex::new(Some(inner)),
            n,
            started: AtomicBool::new(false),
            next: AtomicU64::new(0),
            counts: Arc::default(),
        }
    }
}

impl Pool for RayonPool {
    fn backend(&self) -> &'static str {
        "rayon-core"
    }
    fn start(&self) -> Result<usize, StartError> {
        if self.started.swap(true, SeqCst) {
            Err(StartError::AlreadyStarted)
        } else {
            Ok(self.n)
        }
    }
    fn put_with(&self, job: Job, _admission: Admission) -> Result<JobId, PutError<Job>> {
        let g = self.inner.lock().unwrap();
        let Some(pool) = g.as_ref() else {
            self.counts.rejected.fetch_add(1, SeqCst);
            return Err(PutError::ShutDown(job));
        };
        let counts = Arc::clone(&self.counts);
        counts.submitted();
        pool.spawn(move || counts.run(job));
        Ok(JobId(self.next.fetch_add(1, SeqCst)))
    }
    fn grow(&self, _n: usize) -> usize {
        0
    }
    fn shrink(&self, _n: usize) -> usize {
        0
    }
    fn resize(&self, _min: usize, _max: Option<usize>) -> Result<(), ConfigError> {
        Ok(())
    }
    fn stats(&self) -> Stats {
        let alive = self.inner.lock().unwrap().is_some();
        let (workers, state) = if alive {
            (self.n, PoolState::Running)
        } else {
            (0, PoolState::Terminated)
        };
        self.counts.stats(workers, 0, self.n, state)
    }
    fn stop(&self, timeout: Duration) -> StopReport {
        drop(self.inner.lock().unwrap().take());
        let clean = self.counts.drain(timeout);
        StopReport {
            completed: self.counts.completed.load(SeqCst),
            panicked: self.counts.panicked.load(SeqCst),
            cancelled: self.counts.cancelled.load(SeqCst),
            still_running: usize::from(!clean),
            returned: Vec::new(),
        }
    }
    fn stop_now(&self) -> StopReport {
        drop(self.inner.lock().unwrap().take());
        StopReport::default()
    }
    fn await_termination(&self, timeout: Duration) -> bool {
        self.counts.drain(timeout)
    }
}

fn threadpool() -> Backend {
    Backend::new("threadpool", |b: Builder| {
        b.config().map(ThreadpoolPool::new)
    })
    .with_caps(Caps::BASIC)
}

fn rayon() -> Backend {
    Backend::new("rayon-core", |b: Builder| b.config().map(RayonPool::new)).with_caps(Caps::BASIC)
}

fn mutant(name: &'static str) -> Backend {
    Backend::new(format!("mutant-{name}"), move |b: Builder| {
        b.mutation(name).classic()
    })
}

/// Rewrites the part of `docs/conformance.md` between the table markers.
fn update_docs(table: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/conformance.md");
    let doc = std::fs::read_to_string(path).expect("docs/conformance.md");
    let (begin, end) = ("<!-- table:begin -->\n", "<!-- table:end -->");
    let (Some(a), Some(b)) = (doc.find(begin), doc.find(end)) else {
        panic!("docs/conformance.md has no table markers");
    };
    let new = format!("{}{begin}{table}{}", &doc[..a], &doc[b..]);
    std::fs::write(path, new).expect("writing docs/conformance.md");
}

#[test]
fn peers_through_the_same_kit() {
    let opts = Options::from_env();
    let peers: Vec<Report> = [threadpool(), rayon()]
        .iter()
        .map(|b| conformance::check(b, &opts))
        .collect();
    for r in &peers {
        r.print_as_peer();
        // What every pool does, peers included: each job runs exactly once, panics stay in
        // their job, results reach their handle.
        for check in ["jobs.run_exactly_once", "handle.value_and_panic"] {
            assert_eq!(
                r.row(check).map(|x| &x.status),
                Some(&Status::Pass),
                "{} fails {check}:\n{r}",
                r.backend
            );
        }
    }
    if std::env::var_os("CONFORMANCE_UPDATE_DOCS").is_some() {
        let mut ours = vec![conformance::check(
            &Backend::new("classic", Builder::classic),
            &opts,
        )];
        ours.push(conformance::check(
            &Backend::new("fast", Builder::fast),
            &opts,
        ));
        ours.extend(peers);
        let mutants: Vec<Report> = [
            "late-sentinel",
            "over-shrink",
            "double-callback",
            "finishing-idle",
        ]
        .into_iter()
        .map(|m| conformance::check(&mutant(m), &opts))
        .collect();
        let table = format!(
            "Our backends and the peers:\n\n{}\nThe mutants (§6), each of which must fail:\n\n{}\n\
             Generated by `CONFORMANCE_UPDATE_DOCS=1 cargo test -p conformance --test peers` with \
             {} lock-step cases and {} histories per backend.\n",
            Report::markdown_table(&ours),
            Report::markdown_table(&mutants),
            opts.cases,
            opts.histories
        );
        update_docs(&table);
    }
}

//! The plain Mutex + Condvar pool: the textbook pool, as a reference point.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

/// A job of the minimal pools.
type Job = Box<dyn FnOnce() + Send>;

/// What the lock guards.
struct State {
    /// Jobs not yet taken, in submission order.
    queue: VecDeque<Job>,
    /// Set once, on drop: workers exit when it is set and the queue is empty.
    stopping: bool,
}

/// Shared between the pool and its workers.
struct Shared {
    state: Mutex<State>,
    /// Notified once per queued job, and for everyone on stop.
    work: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// N threads taking jobs from a `Mutex<VecDeque>`, parked on one `Condvar`. Dropping it lets the
/// queued jobs run and joins the threads.
pub struct CondvarPool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl CondvarPool {
    /// Starts `threads` workers.
    pub fn new(threads: usize) -> CondvarPool {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                stopping: false,
            }),
            work: Condvar::new(),
        });
        let threads = (0..threads)
            .map(|i| {
                let shared = Arc::clone(&shared);
                thread::Builder::new()
                    .name(format!("condvar-{i}"))
                    .spawn(move || worker(&shared))
                    .expect("spawn a condvar worker")
            })
            .collect();
        CondvarPool { shared, threads }
    }

    /// Queues `f` and wakes one worker.
    pub fn execute(&self, f: impl FnOnce() + Send + 'static) {
        self.shared.lock().queue.push_back(Box::new(f));
        self.shared.work.notify_one();
    }
}

fn worker(shared: &Shared) {
    loop {
        let job = {
            let mut st = shared.lock();
            loop {
                if let Some(job) = st.queue.pop_front() {
                    break job;
                }
                if st.stopping {
                    return;
                }
                st = shared.work.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
        };
        job();
    }
}

impl Drop for CondvarPool {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.work.notify_all();
        for t in self.threads.drain(..) {
            // A panicked job took its worker down; nothing to report here.
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for CondvarPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CondvarPool")
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

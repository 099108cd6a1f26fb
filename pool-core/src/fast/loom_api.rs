//! The queue's operations, for the loom models in `tests/loom_fast.rs`. Compiled only under
//! loom; not part of the crate's API.

use super::queue::{JobQueue, Pop};
use crate::job::Job;

/// What [`Queue::pop`] found.
#[derive(Debug)]
pub enum Popped {
    /// A job and its position (its id).
    Job(u64, Job),
    /// A dead position.
    Dead(u64),
    /// Nothing queued.
    Empty,
    /// A stop is due before the next job.
    StopDue,
}

/// The fast backend's job queue.
pub struct Queue(JobQueue);

impl Default for Queue {
    fn default() -> Self {
        Queue(JobQueue::new())
    }
}

impl Queue {
    /// Queues `job`; returns its position.
    pub fn push(&self, job: Job) -> u64 {
        self.0.push_with(|_| Some(job))
    }

    /// Queues a dead position (as a refused or caller-run put does); returns it.
    pub fn push_dead(&self) -> u64 {
        self.0.push_with(|_| None)
    }

    /// Takes the head (see `JobQueue::pop`).
    pub fn pop(&self, honor_stops: bool) -> Popped {
        self.pop_seen(honor_stops, &mut 0)
    }

    /// Takes the head as a worker does, remembering the tail it saw in `seen_tail` (see
    /// `JobQueue::pop_seen`).
    pub fn pop_seen(&self, honor_stops: bool, seen_tail: &mut u64) -> Popped {
        match self.0.pop_seen(honor_stops, seen_tail) {
            Pop::Item(pos, Some(job)) => Popped::Job(pos, job),
            Pop::Item(pos, None) => Popped::Dead(pos),
            Pop::Empty => Popped::Empty,
            Pop::StopDue => Popped::StopDue,
        }
    }

    /// Registers a stop behind everything reserved so far (as `shrink` does); returns its
    /// boundary.
    pub fn register_stop(&self) -> u64 {
        self.0.hold_tail(|at| {
            self.0.set_stop_at(at.min(self.0.stop_at()));
            at
        })
    }

    /// Forgets the pending stop (as the worker that takes it does).
    pub fn take_stop(&self) {
        self.0.set_stop_at(u64::MAX);
    }

    /// Whether a worker about to park has something to take.
    pub fn has_work(&self) -> bool {
        self.0.has_work()
    }
}

//! Following the pool's threads: each event the pool reports is applied to the model as the
//! step it stands for (`WorkerStarted`/`JobStarted`/`WorkerParked`/`SentinelTaken` its `take`,
//! `JobFinished`/`JobPanicked` its `finish`, an idle `WorkerExited` its `time_out`); `sync`
//! waits on the event stream until both are settled (`quiescent`), then `compare` checks what a
//! caller sees: stats, the callback and panic-handler logs. Also the translation of pool types to
//! the model's (`model_event`, `model_state`, `stats_diff`), which `history.rs` shares.

use std::time::{Duration, Instant};

use pool_core as pc;
use pool_core::Pool;
use spec_model as m;

use crate::kit::{Obs, Plan, T, Ticket, lock};

use super::{Driver, Res, jid, pjid, wid};

/// The model's form of a pool event; `None` for the caller-side events the model has no
/// counterpart of (`PutWaiting`, `StopRequested`), and `UnknownWakeup`: a packet the kit never
/// posts, which changes nothing the model sees.
pub(crate) fn model_event(e: &pc::Event) -> Option<m::Event> {
    use m::Event as M;
    use pc::Event as E;
    let reason = |r: pc::ExitReason| match r {
        pc::ExitReason::Sentinel => m::ExitReason::Sentinel,
        pc::ExitReason::IdleTimeout => m::ExitReason::IdleTimeout,
    };
    Some(match *e {
        E::WorkerStarted { worker } => M::WorkerStarted {
            worker: wid(worker),
        },
        E::WorkerParked { worker } => M::WorkerParked {
            worker: wid(worker),
        },
        E::WorkerExited { worker, reason: r } => M::WorkerExited {
            worker: wid(worker),
            reason: reason(r),
        },
        E::JobStarted { job, worker } => M::JobStarted {
            job: jid(job),
            worker: wid(worker),
        },
        E::JobFinished { job, worker } => M::JobFinished {
            job: jid(job),
            worker: wid(worker),
        },
        E::JobPanicked { job, worker } => M::JobPanicked {
            job: jid(job),
            worker: wid(worker),
        },
        E::JobRanByCaller { job, panicked } => M::JobRanByCaller {
            job: jid(job),
            panicked,
        },
        E::JobCancelled { job } => M::JobCancelled { job: jid(job) },
        E::SentinelTaken { worker } => M::SentinelTaken {
            worker: wid(worker),
        },
        _ => return None,
    })
}

/// `pool_core::PoolState` as the model's.
pub(crate) fn model_state(s: pc::PoolState) -> m::PoolState {
    match s {
        pc::PoolState::Created => m::PoolState::Created,
        pc::PoolState::Running => m::PoolState::Running,
        pc::PoolState::Stopping => m::PoolState::Stopping,
        pc::PoolState::Terminated => m::PoolState::Terminated,
    }
}

/// The fields in which the pool's stats differ from the model's, or `None`.
pub(crate) fn stats_diff(real: &pc::Stats, model: &m::Stats) -> Option<String> {
    let mut diffs = Vec::new();
    macro_rules! cmp {
        ($($f:ident),*) => {$(
            if real.$f != model.$f {
                diffs.push(format!("{} = {:?} (model {:?})", stringify!($f), real.$f, model.$f));
            }
        )*};
    }
    cmp!(
        workers,
        idle,
        busy,
        queued,
        pending_stops,
        completed,
        panicked,
        cancelled,
        rejected,
        caller_runs,
        hook_panics,
        peak_workers,
        min,
        max
    );
    if model_state(real.state) != model.state {
        diffs.push(format!(
            "state = {:?} (model {:?})",
            real.state, model.state
        ));
    }
    (!diffs.is_empty()).then(|| diffs.join(", "))
}

/// Whether `real` and `model` hold the same entries, in the same order for each runner
/// (entries from different threads may interleave either way when they ran at once).
pub(super) fn same_per_runner<X: PartialEq>(
    real: &[(X, m::Runner)],
    model: &[(X, m::Runner)],
) -> bool {
    real.len() == model.len()
        && real.iter().chain(model).all(|(_, at)| {
            let a = real.iter().filter(|e| e.1 == *at).map(|e| &e.0);
            let b = model.iter().filter(|e| e.1 == *at).map(|e| &e.0);
            a.eq(b)
        })
}

impl Driver {
    pub(super) fn take(&mut self, worker: m::WorkerId, want: m::Taken) -> Res {
        if self.model.worker(worker) == Some(m::WorkerState::Starting)
            && !self.starting.remove(&worker)
        {
            return Err(format!(
                "{worker} took from the queue ({want:?}) before reporting WorkerStarted"
            ));
        }
        let got = self.model.take(worker).map_err(|e| {
            format!(
                "the pool reports {worker} took {want:?}, the model cannot: {e} (model workers {:?}, queue {:?})",
                self.model.workers(),
                self.model.queue()
            )
        })?;
        if got != want {
            return Err(format!(
                "{worker} took {want:?} in the pool, the model's queue head gives {got:?}"
            ));
        }
        for e in self.model.drain_events() {
            if matches!(e, m::Event::WorkerExited { .. }) {
                self.expect.push(e);
            }
        }
        Ok(())
    }

    pub(super) fn expected(&mut self, e: m::Event) -> Res {
        match self.expect.iter().position(|x| *x == e) {
            Some(i) => {
                self.expect.remove(i);
                Ok(())
            }
            None => Err(format!(
                "the pool reported {e:?}, which the model does not expect (expecting {:?})",
                self.expect
            )),
        }
    }

    pub(super) fn finish(&mut self, job: m::JobId, reported: m::Event) -> Res {
        let (t, kind) = self.ticket_of(job)?;
        let plan = t
            .plan()
            .ok_or_else(|| format!("{job} finished before the test opened its gate"))?;
        let outcome = plan.outcome(kind);
        let status = self.model.status(job);
        self.model.finish(job, outcome).map_err(|e| {
            format!("the pool reports {reported:?}; the model cannot finish it: {e} ({status:?})")
        })?;
        let events = self.model.drain_events();
        if events != [reported] {
            return Err(format!(
                "the pool reported {reported:?}, the model {events:?} (plan {plan:?})"
            ));
        }
        let (m::Event::JobFinished { worker, .. } | m::Event::JobPanicked { worker, .. }) =
            reported
        else {
            unreachable!("finish is called for finish events")
        };
        if !self.ran_on.contains_key(&job) {
            self.after_finish(job, &t, kind, plan, m::Runner::Worker(worker));
        }
        self.held.remove(&job);
        Ok(())
    }

    /// Records what a finished job's callback and panic handler must have done.
    pub(super) fn after_finish(
        &mut self,
        job: m::JobId,
        t: &Ticket,
        kind: m::JobKind,
        plan: Plan,
        at: m::Runner,
    ) {
        self.ran_on.insert(job, at);
        if kind == m::JobKind::Callback {
            self.callbacks.push((t.tag(), at, plan.job_panics));
        }
        if kind == m::JobKind::Plain && plan.job_panics {
            self.handler.push((pjid(job), at));
        }
    }

    pub(super) fn apply(&mut self, o: Obs) -> Res {
        self.trace.push(format!("  {o:?}"));
        match o {
            Obs::Pool(e) => self.apply_event(&e),
            Obs::Held(id) => {
                let job = jid(id);
                match self.model.status(job) {
                    Some(m::JobStatus::Running(at @ m::Runner::Worker(_))) if self.releasing => {
                        // Entered before everything was let go; it goes on at once.
                        let (t, kind) = self.ticket_of(job)?;
                        let plan = t.plan().unwrap_or_default();
                        self.after_finish(job, &t, kind, plan, at);
                        Ok(())
                    }
                    Some(m::JobStatus::Running(at @ m::Runner::Worker(_))) => {
                        // The job, its callback and the panic handler are done; the model
                        // finishes them all at `JobFinished`, after the hook.
                        let (t, kind) = self.ticket_of(job)?;
                        let plan = t.plan().unwrap_or_default();
                        self.after_finish(job, &t, kind, plan, at);
                        self.held.insert(job);
                        Ok(())
                    }
                    s => Err(format!(
                        "{job} reached after_job while the model has it {s:?}"
                    )),
                }
            }
            Obs::Returned(token) => self.stop_returned(token),
        }
    }

    pub(super) fn apply_event(&mut self, e: &pc::Event) -> Res {
        let Some(me) = model_event(e) else {
            return Ok(());
        };
        match me {
            m::Event::WorkerStarted { worker } => {
                if self.model.worker(worker) != Some(m::WorkerState::Starting)
                    || !self.starting.insert(worker)
                {
                    return Err(format!(
                        "{worker} reported WorkerStarted but the model has it {:?}",
                        self.model.worker(worker)
                    ));
                }
                Ok(())
            }
            m::Event::JobStarted { job, worker } => self.take(worker, m::Taken::Job(job)),
            m::Event::WorkerParked { worker } => self.take(worker, m::Taken::Nothing),
            m::Event::SentinelTaken { worker } => self.take(worker, m::Taken::Stop),
            m::Event::WorkerExited {
                worker,
                reason: m::ExitReason::IdleTimeout,
            } => {
                self.model.time_out(worker).map_err(|err| {
                    format!(
                        "{worker} exited on its idle timeout; the model says it cannot: {err} (now {:?}, workers {:?})",
                        self.model.now(),
                        self.model.workers()
                    )
                })?;
                self.model.drain_events();
                Ok(())
            }
            m::Event::WorkerExited { .. }
            | m::Event::JobRanByCaller { .. }
            | m::Event::JobCancelled { .. } => self.expected(me),
            m::Event::JobFinished { job, .. } | m::Event::JobPanicked { job, .. } => {
                self.finish(job, me)
            }
        }
    }

    /// Whether the pool is settled as the model sees it.
    pub(super) fn quiescent(&self) -> bool {
        if !self.model.is_settled() || !self.expect.is_empty() || !self.starting.is_empty() {
            return false;
        }
        for w in self.model.workers() {
            if let m::WorkerState::Running(job) = *w {
                let plan = self
                    .tags
                    .get(&job)
                    .and_then(|&tag| self.tickets[tag as usize].0.plan());
                let waiting = match plan {
                    None => true,
                    Some(p) => p.hold_after && self.held.contains(&job),
                };
                if !waiting {
                    return false;
                }
            }
        }
        if self.wake_all && self.timeout_enabled() {
            return false;
        }
        !self
            .pending_stops
            .iter()
            .any(|p| self.stop_should_return(p.deadline))
    }

    pub(super) fn describe_wait(&self) -> String {
        format!(
            "the pool did not settle within {T:?}: model workers {:?}, queue {:?}, expecting events {:?}, started {:?}, held {:?}, pending stops {}",
            self.model.workers(),
            self.model.queue(),
            self.expect,
            self.starting,
            self.held,
            self.pending_stops.len()
        )
    }

    /// Follows the pool until it is settled, then compares everything observable.
    pub(super) fn sync(&mut self, pool: Option<&dyn Pool>) -> Res {
        let deadline = Instant::now() + T;
        loop {
            let new = self.stream.since(self.cursor);
            self.cursor += new.len();
            for o in new {
                self.apply(o)?;
            }
            if !self.wake_all && self.timeout_enabled() {
                // An idle worker whose keep-alive ran out earlier may time out now (the pool
                // grew above `min`, say). A pool decides when it looks (when it is woken), so
                // it may do so at any moment, racing the next operation: step the clock by
                // zero, which wakes every parked worker to look, and wait for the time-outs.
                self.hand.advance(Duration::ZERO);
                self.wake_all = true;
            }
            if self.quiescent() {
                break;
            }
            if !self.stream.wait_beyond(self.cursor, deadline) {
                return Err(self.describe_wait());
            }
        }
        self.wake_all = false;
        self.model
            .check_invariants()
            .map_err(|v| format!("model: {v}"))?;
        self.compare(pool)
    }

    /// Whether the model has an idle timeout it would allow now.
    pub(super) fn timeout_enabled(&self) -> bool {
        self.model
            .enabled_steps()
            .iter()
            .any(|s| matches!(s, m::Step::TimeOut(_)))
    }

    pub(super) fn compare(&mut self, pool: Option<&dyn Pool>) -> Res {
        if let Some(pool) = pool {
            let real = pool.stats();
            if let Some(d) = stats_diff(&real, &self.model.stats()) {
                return Err(format!("stats differ: {d}"));
            }
        }
        for (&job, h) in &self.handles {
            // A held job's handle already has its value (it is stored before the job counts).
            let done = self.job_over(job) || self.held.contains(&job);
            if h.is_finished() != done {
                return Err(format!(
                    "the handle of {job} says finished = {}, the model has it {:?} ({:?})",
                    h.is_finished(),
                    self.model.status(job),
                    self.model.disposal(job)
                ));
            }
        }
        let cbs = lock(&self.logs.callbacks).clone();
        let by_runner = |v: &[(u64, m::Runner, bool)]| -> Vec<((u64, bool), m::Runner)> {
            v.iter().map(|&(t, at, p)| ((t, p), at)).collect()
        };
        if !same_per_runner(&by_runner(&cbs), &by_runner(&self.callbacks)) {
            return Err(format!(
                "callbacks ran as (tag, where, got a panic) {cbs:?}, the model says {:?}",
                self.callbacks
            ));
        }
        let handled = lock(&self.logs.handler).clone();
        if !same_per_runner(&handled, &self.handler) {
            return Err(format!(
                "the panic handler ran for {handled:?}, the model says {:?}",
                self.handler
            ));
        }
        Ok(())
    }

    /// Whether a job is over for its handle: ran, cancelled, or handed back and disposed of.
    pub(super) fn job_over(&self, job: m::JobId) -> bool {
        match self.model.status(job) {
            Some(m::JobStatus::Completed | m::JobStatus::Panicked | m::JobStatus::Cancelled) => {
                true
            }
            Some(m::JobStatus::Returned | m::JobStatus::Evicted) => {
                self.model.disposal(job).is_some()
            }
            _ => false,
        }
    }
}

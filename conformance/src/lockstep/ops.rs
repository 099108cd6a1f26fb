//! The longer operations of a step: what a `Put` checks (`Driver::put`: the return value or
//! the error and the job it hands back, against the model's admission, with a clock pusher for
//! a put that waits for room), the disposal of jobs handed back (`dispose`), a result-queue
//! poll (`poll`), and a stop (`stop`: called on another thread when it must wait, its report
//! compared when it returns: `stop_returned`, `compare_report`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pool_core as pc;
use pool_core::{Job, JoinError, Pool, PoolExt, ResultQueue};
use spec_model as m;

use crate::kit::{self, Obs, Plan, Stream, T, Ticket, lock};
use crate::ledger::Fate;

use super::observe::same_per_runner;
use super::scenario::{Adm, Kind};
use super::{Driver, Res, jid, secs};

/// A stop the driver called on another thread and has not seen return yet.
pub(super) struct PendingStop {
    pub(super) token: u64,
    /// Its deadline on the pool clock.
    pub(super) deadline: Duration,
    /// The report, once it returned.
    pub(super) slot: Arc<Mutex<Option<pc::StopReport>>>,
}

/// What the clock pusher saw while a put ran.
#[derive(Default)]
pub(super) struct Waited {
    /// The put reported `PutWaiting`.
    pub(super) waited: bool,
    /// How far the pusher moved the clock.
    pub(super) advanced: Duration,
    /// The put did not return after the clock passed its deadline.
    pub(super) stuck: bool,
}

/// Moves the clock by `wait` once the put reports `PutWaiting`, so a put that waits for room
/// reaches its deadline; does nothing if the put returns first.
pub(super) fn spawn_pusher(
    stream: Stream,
    hand: pc::ManualClock,
    token: u64,
    from: usize,
    wait: Duration,
) -> std::thread::JoinHandle<Waited> {
    std::thread::spawn(move || {
        let first = |s: &[Obs]| {
            s.get(from..).unwrap_or(&[]).iter().find_map(|o| match o {
                Obs::Pool(pc::Event::PutWaiting) => Some(true),
                Obs::Returned(t) if *t == token => Some(false),
                _ => None,
            })
        };
        let deadline = Instant::now() + T;
        if !stream.wait_until(deadline, |s| first(s).is_some()) {
            return Waited::default();
        }
        let snapshot = stream.since(0);
        if first(&snapshot) == Some(false) {
            return Waited::default();
        }
        hand.advance(wait);
        let returned = |s: &[Obs]| s.get(from..).unwrap_or(&[]).contains(&Obs::Returned(token));
        if stream.wait_until(Instant::now() + T, returned) {
            return Waited {
                waited: true,
                advanced: wait,
                stuck: false,
            };
        }
        let far = Duration::from_secs(1_000_000);
        hand.advance(far);
        stream.wait_until(Instant::now() + T, returned);
        Waited {
            waited: true,
            advanced: wait + far,
            stuck: true,
        }
    })
}

/// A put's result, with the handed-back job already dropped (its ticket records the drop).
pub(super) enum PutOut {
    Accepted(pc::JobId),
    /// Refused; `full` tells `Full` from `ShutDown`; `ours` whether the job handed back was
    /// the one submitted.
    Refused {
        full: bool,
        ours: bool,
    },
}

pub(super) fn put_plain<F: FnOnce() + Send + 'static>(
    pool: &dyn Pool,
    f: F,
    adm: pc::Admission,
) -> PutOut {
    match pool.put_with(Job::new(f), adm) {
        Ok(id) => PutOut::Accepted(id),
        Err(e) => {
            let full = e.is_full();
            let ours = e.into_inner().downcast::<F>().is_ok();
            PutOut::Refused { full, ours }
        }
    }
}

impl Driver {
    pub(super) fn put(
        &mut self,
        pool: &dyn Pool,
        rq: &mut ResultQueue<'_, u64>,
        kind: Kind,
        adm: Adm,
        panics: bool,
    ) -> Res {
        let tag = self.tickets.len() as u64;
        let t = Ticket::new(tag, &self.logs, &self.stream, &self.prefix);
        let mkind = kind.model();
        self.tickets.push((t.clone(), mkind));
        let adm = match kind {
            Kind::Request | Kind::RequestPlain => Adm::Wait,
            _ => adm,
        };
        let (admission, madm, wait) = match adm {
            Adm::Wait => (
                pc::Admission::Wait,
                m::Admission::Wait,
                self.setup.put_timeout,
            ),
            Adm::Try => (pc::Admission::Try, m::Admission::Try, 0),
            Adm::Timeout(s) => (
                pc::Admission::Timeout(secs(s)),
                m::Admission::Timeout(secs(s)),
                s,
            ),
        };
        let predicted = self.model.clone().put(mkind, madm);
        let full_path = match predicted {
            Err(m::Refused::Full) => true,
            Ok(a) => a.caller_ran || a.evicted.is_some(),
            Err(m::Refused::ShutDown) => false,
        };
        if matches!(predicted, Ok(a) if a.caller_ran) {
            t.open(Plan {
                job_panics: panics,
                ..Plan::default()
            });
        }
        let token = self.token();
        let pusher = (wait > 0).then(|| {
            spawn_pusher(
                self.stream.clone(),
                self.hand.clone(),
                token,
                self.stream.len(),
                secs(wait),
            )
        });
        let logs = Arc::clone(&self.logs);
        let real = match kind {
            Kind::Plain => put_plain(pool, t.plain_job(), admission),
            Kind::Handle => match pool.submit_with(t.job(), admission) {
                Ok(h) => {
                    let id = h.id();
                    self.handles.insert(jid(id), h);
                    PutOut::Accepted(id)
                }
                Err(e) => PutOut::Refused {
                    full: e.is_full(),
                    ours: true,
                },
            },
            Kind::Callback => {
                match pool.submit_with_callback_with(t.job(), t.callback(), admission) {
                    Ok(id) => PutOut::Accepted(id),
                    Err(e) => PutOut::Refused {
                        full: e.is_full(),
                        ours: true,
                    },
                }
            }
            Kind::Request => {
                let l2 = Arc::clone(&logs);
                let r = rq.put_request_with(
                    t.job(),
                    move |id, v| {
                        let kind = if v == tag {
                            m::ResultKind::Value
                        } else {
                            m::ResultKind::Dropped // a wrong value: shows up as a mismatch
                        };
                        lock(&logs.results).push((id, kind));
                    },
                    move |id, e| {
                        let kind = match e {
                            JoinError::Panicked(_) => m::ResultKind::Panicked,
                            JoinError::Dropped | JoinError::Cancelled => m::ResultKind::Dropped,
                        };
                        lock(&l2.results).push((id, kind));
                    },
                );
                match r {
                    Ok(id) => {
                        self.with_callbacks.insert(jid(id));
                        PutOut::Accepted(id)
                    }
                    Err(e) => PutOut::Refused {
                        full: e.is_full(),
                        ours: true,
                    },
                }
            }
            Kind::RequestPlain => match rq.put_request(t.job()) {
                Ok(id) => PutOut::Accepted(id),
                Err(e) => PutOut::Refused {
                    full: e.is_full(),
                    ours: true,
                },
            },
        };
        self.stream.push(Obs::Returned(token));
        let waited = pusher
            .map(|p| p.join().unwrap_or_default())
            .unwrap_or_default();
        let model = self.model.put(mkind, madm);
        if !waited.advanced.is_zero() {
            self.model.pass_time(waited.advanced);
            self.wake_all = true;
        }
        if waited.stuck {
            return Err(format!(
                "a {adm:?} put did not give up when the clock passed its deadline ({wait}s)"
            ));
        }
        if waited.waited && !full_path {
            return Err(format!(
                "a {adm:?} put waited for room; the model admits it at once ({predicted:?})"
            ));
        }
        if !waited.waited && full_path && wait > 0 {
            return Err(format!(
                "a {adm:?} put on a full queue did not wait for room until its deadline"
            ));
        }
        match (real, model) {
            (PutOut::Accepted(id), Ok(a)) => {
                if jid(id) != a.id {
                    return Err(format!("{kind:?} put accepted as {id}, model {}", a.id));
                }
                self.tags.insert(a.id, tag);
                if a.caller_ran {
                    let plan = t.plan().unwrap_or_default();
                    self.model
                        .finish(a.id, plan.outcome(mkind))
                        .map_err(|e| format!("model: {e}"))?;
                    for e in self.model.drain_events() {
                        self.expect.push(e);
                    }
                    self.after_finish(a.id, &t, mkind, plan, m::Runner::Caller);
                }
                if let Some(evicted) = a.evicted {
                    let jobs: Vec<Job> = std::mem::take(&mut *lock(&self.logs.evicted));
                    self.dispose(jobs, &[evicted], false)?;
                } else if !lock(&self.logs.evicted).is_empty() {
                    return Err("the pool evicted a job; the model evicts none".to_owned());
                }
            }
            (PutOut::Refused { full, ours }, Err(r)) => {
                let same = full == (r == m::Refused::Full);
                if !same {
                    let got = if full { "Full" } else { "ShutDown" };
                    return Err(format!("{kind:?} put refused with {got}, model {r:?}"));
                }
                if !ours || !t.dropped_unrun() {
                    return Err(format!(
                        "{kind:?} put refused ({r:?}) but did not hand the submitted job back"
                    ));
                }
                self.ledger.set(tag, Fate::Refused);
            }
            (PutOut::Accepted(id), Err(r)) => {
                self.tags.insert(jid(id), tag);
                return Err(format!(
                    "{kind:?} put accepted as {id}; the model refuses it ({r:?})"
                ));
            }
            (PutOut::Refused { full, .. }, Ok(a)) => {
                let got = if full { "Full" } else { "ShutDown" };
                return Err(format!(
                    "{kind:?} put refused with {got}; the model accepts it as {} ({a:?})",
                    a.id
                ));
            }
        }
        Ok(())
    }

    /// Takes handed-back `jobs` (a stop report, an eviction): checks they are `expected`, in
    /// order, then runs them (`run`) or drops them, and tells the model.
    pub(super) fn dispose(&mut self, jobs: Vec<Job>, expected: &[m::JobId], run: bool) -> Res {
        if jobs.len() != expected.len() {
            return Err(format!(
                "{} jobs handed back, the model hands back {expected:?}",
                jobs.len()
            ));
        }
        let mut got = Vec::new();
        if run {
            for &job in expected {
                let t = self.ticket_of(job)?.0;
                if t.plan().is_none() {
                    t.open(Plan::default());
                }
            }
            for job in jobs {
                let _ = job.run();
                got.push(kit::take_last_ran().map(|t| t.tag()));
            }
        } else {
            let before = lock(&self.logs.dropped).len();
            drop(jobs);
            got = lock(&self.logs.dropped)[before..]
                .iter()
                .map(|&t| Some(t))
                .collect();
        }
        let want: Vec<Option<u64>> = expected.iter().map(|j| self.tags.get(j).copied()).collect();
        if got != want {
            return Err(format!(
                "handed back the jobs tagged {got:?}, the model hands back {expected:?} (tags {want:?})"
            ));
        }
        for &job in expected {
            let (t, kind) = self.ticket_of(job)?;
            let panics = t.plan().is_some_and(|p| p.job_panics);
            let disposal = match (run, panics) {
                (false, _) => m::Disposal::Dropped,
                (true, false) => m::Disposal::Completed,
                (true, true) => m::Disposal::Panicked,
            };
            self.model
                .dispose(job, disposal)
                .map_err(|e| format!("model: {e}"))?;
            if run && kind == m::JobKind::Callback {
                self.callbacks.push((t.tag(), m::Runner::Caller, panics));
            }
            let fate = if self.model.status(job) == Some(m::JobStatus::Evicted) {
                Fate::Evicted
            } else {
                Fate::Returned
            };
            self.ledger.set(t.tag(), fate);
        }
        Ok(())
    }

    pub(super) fn poll(&mut self, rq: &mut ResultQueue<'_, u64>, block: bool) -> Res {
        if self.model.results_pending() != rq.pending() {
            return Err(format!(
                "ResultQueue::pending() = {}, model {}",
                rq.pending(),
                self.model.results_pending()
            ));
        }
        let mut ready = Vec::new();
        let model = loop {
            match self.model.poll_result(false) {
                Ok(Some(r)) => ready.push(r),
                Ok(None) => break Ok(()),
                Err(_) if !ready.is_empty() => break Ok(()), // delivered everything
                Err(e) => break Err(e),
            }
        };
        let block = block && ready.is_empty();
        let model = match (model, block) {
            (Err(e), _) => Err(e),
            (Ok(()), true) => match self.model.poll_result(true) {
                Err(e) => Err(e),
                Ok(_) => Ok(()), // it would wait: poll without blocking instead
            },
            (Ok(()), false) => Ok(()),
        };
        let real_block = block && model.is_err();
        let real = rq.poll(real_block);
        let real = match (real, model) {
            (Err(a), Err(b)) => {
                if format!("{a:?}") != format!("{b:?}") {
                    return Err(format!("poll({block}) = Err({a:?}), model Err({b:?})"));
                }
                return Ok(());
            }
            (Ok(v), Ok(())) => v,
            (a, b) => return Err(format!("poll({block}) = {a:?}, model {b:?}")),
        };
        let returned: Vec<(m::JobId, m::ResultKind)> = real
            .into_iter()
            .map(|c| {
                let kind = match c.result {
                    Ok(v) if self.tags.get(&jid(c.id)) == Some(&v) => m::ResultKind::Value,
                    Ok(_) | Err(JoinError::Dropped | JoinError::Cancelled) => {
                        m::ResultKind::Dropped
                    }
                    Err(JoinError::Panicked(_)) => m::ResultKind::Panicked,
                };
                (jid(c.id), kind)
            })
            .collect();
        let called: Vec<(m::JobId, m::ResultKind)> = lock(&self.logs.results)[self.results_seen..]
            .iter()
            .map(|&(id, k)| (jid(id), k))
            .collect();
        self.results_seen += called.len();
        let at = |job: &m::JobId| self.ran_on.get(job).copied().unwrap_or(m::Runner::Caller);
        let split = |cb: bool| -> Vec<((m::JobId, m::ResultKind), m::Runner)> {
            ready
                .iter()
                .filter(|r| self.with_callbacks.contains(&r.job) == cb)
                .map(|r| ((r.job, r.result), at(&r.job)))
                .collect()
        };
        let with_runner =
            |v: &[(m::JobId, m::ResultKind)]| -> Vec<((m::JobId, m::ResultKind), m::Runner)> {
                v.iter().map(|&(j, k)| ((j, k), at(&j))).collect()
            };
        if !same_per_runner(&with_runner(&called), &split(true))
            || !same_per_runner(&with_runner(&returned), &split(false))
        {
            return Err(format!(
                "poll delivered {called:?} to callbacks and returned {returned:?}; the model delivers {ready:?}"
            ));
        }
        Ok(())
    }

    pub(super) fn stop(&mut self, pool: &Arc<dyn Pool>, s: u64) -> Res {
        // A stop of a pool that is already stopping reports no `StopRequested`, so nothing
        // would tell when it fixed its deadline: it is called with a zero timeout instead.
        let s = if self.model.state() == m::PoolState::Stopping {
            0
        } else {
            s
        };
        let sync = s == 0
            || matches!(
                self.model.state(),
                m::PoolState::Created | m::PoolState::Terminated
            );
        if sync {
            let real = pool.stop(secs(s));
            self.model.begin_stop(secs(s));
            let returned = self.model.stop_report().returned;
            self.compare_report("stop", &real, &returned)?;
            return self.dispose(real.returned, &returned, false);
        }
        let token = self.token();
        let slot = Arc::new(Mutex::new(None));
        let from = self.stream.len();
        let announces = self.model.state() == m::PoolState::Running;
        let (p, sl, stream) = (Arc::clone(pool), Arc::clone(&slot), self.stream.clone());
        std::thread::spawn(move || {
            let r = p.stop(secs(s));
            *lock(&sl) = Some(r);
            drop(p);
            stream.push(Obs::Returned(token));
        });
        // Let the stop begin (it reports `StopRequested`) before the next operation, which
        // would otherwise race with it. The clock only moves on this thread, so its deadline is
        // now + s.
        if announces {
            let begun = |o: &[Obs]| {
                o.get(from..).unwrap_or(&[]).iter().any(|o| {
                    matches!(o, Obs::Pool(pc::Event::StopRequested)) || *o == Obs::Returned(token)
                })
            };
            if !self.stream.wait_until(Instant::now() + T, begun) {
                return Err("stop(timeout) did not report StopRequested".to_owned());
            }
        }
        self.model.begin_stop(secs(s));
        self.pending_stops.push(PendingStop {
            token,
            deadline: self.model.now() + secs(s),
            slot,
        });
        Ok(())
    }

    pub(super) fn stop_should_return(&self, deadline: Duration) -> bool {
        let exits_pending = self
            .expect
            .iter()
            .any(|e| matches!(e, m::Event::WorkerExited { .. }));
        (self.model.stats().workers == 0 && !exits_pending) || self.model.now() >= deadline
    }

    pub(super) fn stop_returned(&mut self, token: u64) -> Res {
        let Some(i) = self.pending_stops.iter().position(|p| p.token == token) else {
            return Ok(()); // a put's token, for its clock pusher
        };
        let ps = self.pending_stops.remove(i);
        if !self.stop_should_return(ps.deadline) {
            return Err(format!(
                "stop returned before its deadline ({:?}, now {:?}) with {} workers left in the model",
                ps.deadline,
                self.model.now(),
                self.model.stats().workers
            ));
        }
        let report = lock(&ps.slot)
            .take()
            .ok_or("stop signalled its return without a report")?;
        self.compare_report("stop", &report, &[])
    }

    pub(super) fn compare_report(
        &self,
        what: &str,
        real: &pc::StopReport,
        returned: &[m::JobId],
    ) -> Res {
        let want = self.model.stop_report();
        let got = (
            real.completed,
            real.panicked,
            real.cancelled,
            real.still_running,
            real.returned.len(),
        );
        let exp = (
            want.completed,
            want.panicked,
            want.cancelled,
            self.model.stats().workers,
            returned.len(),
        );
        if got != exp {
            return Err(format!(
                "{what} reported (completed, panicked, cancelled, still_running, returned) = {got:?}, model {exp:?}"
            ));
        }
        Ok(())
    }
}

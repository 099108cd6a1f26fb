//! One operation: `Driver::step` applies an [`Op`] to the pool and to the model, compares what
//! each returned, and follows the pool until it is settled. The short operations (start, the
//! test's releases and unholds, cancel, grow, shrink, resize, a clock step, `stop_now`) are
//! here in full; a put, a poll and a stop are in `ops.rs`.

use std::sync::Arc;

use pool_core::{Pool, ResultQueue};
use spec_model as m;

use crate::kit::Plan;

use super::scenario::Op;
use super::{Driver, Res, secs};

impl Driver {
    pub(super) fn step(
        &mut self,
        pool: &Arc<dyn Pool>,
        rq: &mut ResultQueue<'_, u64>,
        op: Op,
    ) -> Res {
        self.ops += 1;
        self.trace.push(format!("{op:?}"));
        match op {
            Op::Start => {
                let real = pool.start().map_err(|e| format!("{e:?}"));
                let model = self.model.start().map_err(|e| format!("{e:?}"));
                if real != model {
                    return Err(format!("start() = {real:?}, model {model:?}"));
                }
            }
            Op::Put(kind, adm, panics) => self.put(&**pool, rq, kind, adm, panics)?,
            Op::Release(pick, plan) => {
                let open: Vec<m::JobId> = self
                    .tags
                    .iter()
                    .filter(|&(&job, &tag)| {
                        self.tickets[tag as usize].0.plan().is_none()
                            && matches!(
                                self.model.status(job),
                                Some(m::JobStatus::Queued | m::JobStatus::Running(_))
                            )
                    })
                    .map(|(&job, _)| job)
                    .collect();
                if let Some(&job) = open.get(usize::from(pick) % open.len().max(1)) {
                    let (t, kind) = self.ticket_of(job)?;
                    // A request's result reaches the queue before `after_job`, where the model
                    // has none yet: requests are never held.
                    let hold_after = plan.hold_after && kind != m::JobKind::ResultQueue;
                    t.open(Plan { hold_after, ..plan });
                }
            }
            Op::Unhold(pick) => {
                let held: Vec<m::JobId> = self.held.iter().copied().collect();
                if let Some(&job) = held.get(usize::from(pick) % held.len().max(1)) {
                    self.held.remove(&job);
                    self.ticket_of(job)?.0.unhold();
                }
            }
            Op::Cancel(pick) => {
                let ids: Vec<m::JobId> = self.handles.keys().copied().collect();
                if let Some(&job) = ids.get(usize::from(pick) % ids.len().max(1)) {
                    let real = self.handles[&job].cancel();
                    let model = self.model.cancel(job);
                    if real != model {
                        return Err(format!(
                            "cancel() of {job} = {real}, model {model} (model has it {:?}, {:?})",
                            self.model.status(job),
                            self.model.disposal(job)
                        ));
                    }
                    for e in self.model.drain_events() {
                        self.expect.push(e);
                    }
                }
            }
            Op::Poll(block) => self.poll(rq, block)?,
            Op::Grow(n) => {
                let (real, model) = (pool.grow(n), self.model.grow(n));
                if real != model {
                    return Err(format!("grow({n}) = {real}, model {model}"));
                }
            }
            Op::Shrink(n) => {
                let (real, model) = (pool.shrink(n), self.model.shrink(n));
                if real != model {
                    return Err(format!("shrink({n}) = {real}, model {model}"));
                }
            }
            Op::Resize(min, max) => {
                let running = self.model.state() == m::PoolState::Running;
                let real = pool.resize(min, max).map_err(|e| e.to_string());
                let model = self.model.resize(min, max).map_err(|e| e.to_string());
                if real != model {
                    return Err(format!(
                        "resize({min}, {max:?}) = {real:?}, model {model:?}"
                    ));
                }
                self.wake_all = running && real.is_ok();
            }
            Op::Advance(s) => {
                self.hand.advance(secs(s));
                self.model.pass_time(secs(s));
                self.wake_all = true;
            }
            Op::Stop(s) => self.stop(pool, s)?,
            Op::StopNow(run) => {
                let real = pool.stop_now();
                let model = self.model.stop_now();
                self.compare_report("stop_now", &real, &model.returned)?;
                self.dispose(real.returned, &model.returned, run)?;
            }
            Op::Drop => unreachable!("the case runner handles Drop"),
        }
        self.sync(Some(&**pool))
    }
}

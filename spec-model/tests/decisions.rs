//! One test per rule and edge case of `notes/DECISIONS.md`, through the public API only,
//! grouped by the section of DECISIONS they check. Every test checks the model's
//! invariants as it goes (debug builds also check them inside every operation).

use spec_model::{
    Accepted, Admission, CallbackEntry, Config, ConfigErrorKind, Disposal, Event, ExitReason, Item,
    JobId, JobKind, JobStatus, Model, Outcome, Policy, PollError, PoolState, QueuedResult, Refused,
    ResultKind, Runner, StartError, Stats, Step, StepError, Taken, WorkerId, WorkerState,
};
use std::time::Duration;

fn model(config: Config) -> Model {
    Model::new(config).expect("valid config")
}

/// A started pool with bounds `min`/`max` and otherwise default config.
fn started(min: usize, max: Option<usize>) -> Model {
    started_with(Config::new(min, max))
}

/// Started and settled: the new workers have begun and parked, as a driver waits for.
fn started_with(config: Config) -> Model {
    let mut m = model(config);
    m.start().expect("first start");
    m.settle();
    m
}

/// `grow(n)` and let the new workers begin (and park, or take queued items).
fn grow(m: &mut Model, n: usize) -> usize {
    let k = m.grow(n);
    m.settle();
    check(m);
    k
}

/// An accepted `try_put` of a job of `kind`; panics if refused.
fn put(m: &mut Model, kind: JobKind) -> JobId {
    let accepted = m.put(kind, Admission::Try).expect("accepted");
    check(m);
    accepted.id
}

fn check(m: &Model) {
    if let Err(violation) = m.check_invariants() {
        panic!("{violation}");
    }
    assert!(m.accounted().balanced(), "{:?}", m.accounted());
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn idle(m: &Model, w: u64) -> bool {
    m.worker(WorkerId(w)).is_some_and(WorkerState::is_idle)
}

/// Finishes `job` as completed and settles.
fn complete(m: &mut Model, job: JobId) {
    m.finish(job, Outcome::Completed).expect("job was running");
    m.settle();
    check(m);
}

mod config {
    use super::*;

    #[test]
    fn new_model_rejects_invalid_config_naming_the_values() {
        let err = Model::new(Config::new(2, Some(1))).unwrap_err();
        assert_eq!(err.to_string(), "max=1 must be >= min=2");
        assert_eq!(err.kind(), ConfigErrorKind::MaxBelowMin { min: 2, max: 1 });

        let err = Model::new(Config::new(0, Some(0))).unwrap_err();
        assert_eq!(err.to_string(), "max=0 must be >= 1 (or unbounded)");
        assert_eq!(err.kind(), ConfigErrorKind::ZeroMax);

        let err = Model::new(Config::new(0, None).with_capacity(Some(0))).unwrap_err();
        assert_eq!(err.to_string(), "capacity=0 must be >= 1 (or unbounded)");
        assert_eq!(err.kind(), ConfigErrorKind::ZeroCapacity);
    }

    #[test]
    fn resize_rejects_invalid_bounds_with_config_errors_and_changes_nothing() {
        let mut m = started(1, Some(3));
        let before = m.stats();
        let err = m.resize(4, Some(2)).unwrap_err();
        assert_eq!(err.to_string(), "max=2 must be >= min=4");
        let err = m.resize(0, Some(0)).unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::ZeroMax);
        assert_eq!(m.stats(), before);
        check(&m);
    }
}

mod states {
    use super::*;

    #[test]
    fn new_pool_is_created_without_workers() {
        let m = model(Config::new(3, None));
        let stats = m.stats();
        assert_eq!(stats.state, PoolState::Created);
        assert_eq!((stats.workers, stats.idle, stats.busy), (0, 0, 0));
        assert!(m.events().is_empty());
    }

    #[test]
    fn created_pool_can_be_stopped_directly_and_terminates() {
        let mut m = model(Config::new(1, None));
        let report = m.stop(secs(1));
        assert_eq!(m.state(), PoolState::Terminated);
        assert_eq!(report.still_running, 0);
        assert_eq!(m.now(), Duration::ZERO, "no worker to wait for");
        check(&m);
    }

    #[test]
    fn pool_is_stopping_while_workers_live_then_terminated() {
        let mut m = started(1, Some(1));
        let job = put(&mut m, JobKind::Plain);
        m.settle();
        m.begin_stop(secs(1));
        assert_eq!(m.state(), PoolState::Stopping);
        assert!(!m.is_terminated());
        complete(&mut m, job);
        assert_eq!(m.state(), PoolState::Terminated);
        assert!(m.is_terminated());
    }

    #[test]
    fn is_terminated_is_false_for_a_running_pool_without_workers() {
        let m = started(0, Some(2));
        assert_eq!(m.stats().workers, 0);
        assert!(!m.is_terminated(), "no stop was requested");
    }
}

mod job_ids {
    use super::*;

    #[test]
    fn job_ids_follow_acceptance_order_and_refused_jobs_get_none() {
        let mut m = model(Config::new(1, Some(1)).with_capacity(Some(1)));
        assert_eq!(put(&mut m, JobKind::Plain), JobId(0));
        assert_eq!(m.put(JobKind::Plain, Admission::Try), Err(Refused::Full));
        m.start().unwrap();
        m.settle();
        assert_eq!(
            put(&mut m, JobKind::Plain),
            JobId(1),
            "the refused put took no id"
        );
        m.stop_now();
        assert_eq!(
            m.put(JobKind::Plain, Admission::Try),
            Err(Refused::ShutDown)
        );
        assert_eq!(m.accounted().accepted, 2);
        assert_eq!(m.accounted().refused, 2);
    }

    #[test]
    fn caller_run_jobs_get_ids_in_acceptance_order() {
        let config = Config::new(1, Some(1))
            .with_capacity(Some(1))
            .with_policy(Policy::CallerRuns);
        let mut m = started_with(config);
        let a = put(&mut m, JobKind::Plain);
        let b = put(&mut m, JobKind::Plain);
        let c = m.put(JobKind::Plain, Admission::Try).unwrap();
        assert_eq!((a, b, c.id), (JobId(0), JobId(1), JobId(2)));
        assert!(c.caller_ran);
    }
}

mod idle_accounting {
    use super::*;

    #[test]
    fn put_claims_an_idle_worker_instead_of_spawning() {
        let mut m = started(1, Some(4));
        assert_eq!(m.stats().idle, 1);
        put(&mut m, JobKind::Plain);
        let stats = m.stats();
        assert_eq!((stats.workers, stats.idle, stats.busy), (1, 0, 1));
        assert_eq!(
            m.worker(WorkerId(0)),
            Some(WorkerState::Parked {
                since: Duration::ZERO,
                claimed: true
            })
        );
    }

    #[test]
    fn put_claims_the_most_recently_parked_idle_worker() {
        let mut m = started(2, None);
        let job = put(&mut m, JobKind::Plain);
        m.settle();
        m.advance_clock(secs(10));
        complete(&mut m, job); // worker 0 parks again at 10 s; worker 1 idle since 0 s
        put(&mut m, JobKind::Plain);
        assert!(!idle(&m, 0), "the worker that parked last is claimed");
        assert!(idle(&m, 1), "the long-idle worker keeps ageing");
    }

    #[test]
    fn finishing_worker_is_not_spare_capacity() {
        let mut m = started(1, Some(2));
        let first = put(&mut m, JobKind::Plain);
        m.settle();
        m.finish(first, Outcome::Completed).unwrap();
        assert_eq!(m.worker(WorkerId(0)), Some(WorkerState::Finishing));
        assert_eq!(m.stats().idle, 0, "a finishing worker is busy");
        assert_eq!(m.stats().busy, 1);
        let second = put(&mut m, JobKind::Plain);
        assert_eq!(m.stats().workers, 2, "a worker was spawned for the job");
        assert_eq!(m.worker(WorkerId(1)), Some(WorkerState::Starting));
        // Either may take it; stepping lowest id first, the finishing worker does.
        m.settle();
        assert_eq!(m.worker(WorkerId(0)), Some(WorkerState::Running(second)));
        assert!(idle(&m, 1));
        assert_eq!(
            m.events()[m.events().len() - 2..],
            [
                Event::WorkerStarted {
                    worker: WorkerId(1)
                },
                Event::WorkerParked {
                    worker: WorkerId(1)
                },
            ]
        );
        check(&m);
    }

    #[test]
    fn starting_workers_are_busy_so_a_put_right_after_start_spawns_below_max() {
        let mut m = model(Config::new(1, Some(3)));
        m.start().unwrap();
        assert_eq!(m.worker(WorkerId(0)), Some(WorkerState::Starting));
        assert_eq!(m.stats().idle, 0);
        put(&mut m, JobKind::Plain);
        assert_eq!(m.stats().workers, 2, "no idle worker to claim: spawned");
        let taken = m.settle();
        assert_eq!(taken[0].1, Taken::Job(JobId(0)), "worker 0 begins first");
        assert_eq!(taken[1].1, Taken::Nothing);
    }

    #[test]
    fn stats_idle_counts_only_unclaimed_parked_workers() {
        let mut m = started(3, None);
        assert_eq!(m.stats().idle, 3);
        m.shrink(0);
        let job = put(&mut m, JobKind::Plain); // claims one
        assert_eq!(m.stats().idle, 2);
        m.settle(); // it runs the job
        assert_eq!(m.stats().idle, 2);
        m.finish(job, Outcome::Completed).unwrap(); // finishing: busy
        assert_eq!(m.stats().idle, 2);
        m.settle();
        assert_eq!(m.stats().idle, 3);
        assert_eq!(m.stats().busy, 0);
    }

    #[test]
    fn settled_state_has_idle_workers_only_with_an_empty_queue() {
        let mut m = started(2, Some(2));
        let jobs: Vec<_> = (0..5).map(|_| put(&mut m, JobKind::Plain)).collect();
        m.settle();
        assert!(m.is_settled());
        assert_eq!(m.stats().idle, 0);
        assert_eq!(m.stats().queued, 3);
        for job in jobs {
            complete(&mut m, job);
            assert!(m.is_settled());
            assert!(m.stats().idle == 0 || m.queue().is_empty());
        }
        assert_eq!(m.stats().idle, 2);
    }

    #[test]
    fn claimed_worker_finding_the_queue_empty_parks_idle_from_now() {
        let mut m = started(2, None);
        put(&mut m, JobKind::Plain); // claims worker 0
        m.advance_clock(secs(3));
        // Worker 1 moves the claim and takes the job first; worker 0 finds nothing.
        m.take(WorkerId(1)).unwrap();
        assert_eq!(m.stats().idle, 1);
        assert!(idle(&m, 0));
        assert_eq!(
            m.worker(WorkerId(0)),
            Some(WorkerState::Parked {
                since: Duration::ZERO,
                claimed: false
            })
        );
        // A claimed worker that finds the queue empty re-parks from now.
        let mut m = started(1, None);
        let job = put(&mut m, JobKind::Handle);
        assert!(m.cancel(job));
        m.advance_clock(secs(3));
        assert_eq!(m.take(WorkerId(0)), Ok(Taken::Nothing));
        assert_eq!(
            m.worker(WorkerId(0)),
            Some(WorkerState::Parked {
                since: secs(3),
                claimed: false
            })
        );
        check(&m);
    }

    #[test]
    fn take_by_idle_worker_moves_the_claim() {
        let mut m = started(2, None);
        let job = put(&mut m, JobKind::Plain);
        assert!(!idle(&m, 0) && idle(&m, 1));
        assert_eq!(m.take(WorkerId(1)), Ok(Taken::Job(job)));
        assert!(idle(&m, 0), "worker 0 gave its claim up");
        assert_eq!(
            m.take(WorkerId(0)),
            Err(StepError::CannotTake(WorkerId(0))),
            "no claim left to move"
        );
        check(&m);
    }

    #[test]
    fn take_is_refused_for_running_exited_and_unknown_workers() {
        let mut m = started(1, None);
        let job = put(&mut m, JobKind::Plain);
        m.settle();
        assert_eq!(m.worker(WorkerId(0)), Some(WorkerState::Running(job)));
        assert_eq!(m.take(WorkerId(0)), Err(StepError::CannotTake(WorkerId(0))));
        assert_eq!(
            m.take(WorkerId(7)),
            Err(StepError::NoSuchWorker(WorkerId(7)))
        );
        complete(&mut m, job);
        m.stop(secs(1));
        assert_eq!(m.take(WorkerId(0)), Err(StepError::CannotTake(WorkerId(0))));
    }
}

mod admission {
    use super::*;

    #[test]
    fn put_after_stop_is_refused_shut_down_and_counted_rejected() {
        let mut m = started(2, None);
        m.begin_stop(secs(1));
        assert_eq!(m.stats().idle, 0, "the sentinels claimed the idle workers");
        assert_eq!(
            m.put(JobKind::Plain, Admission::Try),
            Err(Refused::ShutDown)
        );
        m.settle();
        assert_eq!(
            m.put(JobKind::Handle, Admission::Wait),
            Err(Refused::ShutDown)
        );
        assert_eq!(m.stats().rejected, 2);
        assert_eq!(m.stats().queued, 0);
        check(&m);
    }

    #[test]
    fn put_after_stop_is_refused_even_with_room_and_an_idle_worker() {
        // Refusal is step 1: it comes before any idle worker or room in the queue.
        let mut m = started(1, None);
        m.stop_now();
        assert_eq!(
            m.put(JobKind::Plain, Admission::Try),
            Err(Refused::ShutDown)
        );
    }

    #[test]
    fn put_spawns_a_worker_while_below_max() {
        let mut m = started(0, Some(2));
        put(&mut m, JobKind::Plain);
        put(&mut m, JobKind::Plain);
        assert_eq!(m.stats().workers, 2);
        put(&mut m, JobKind::Plain);
        assert_eq!(m.stats().workers, 2, "at max: queued instead");
        assert_eq!(m.stats().queued, 3);
        m.settle();
        assert_eq!(m.stats().queued, 1);
    }

    #[test]
    fn put_at_max_queues_until_capacity_then_is_full() {
        let mut m = started_with(Config::new(0, Some(1)).with_capacity(Some(2)));
        put(&mut m, JobKind::Plain);
        m.settle();
        put(&mut m, JobKind::Plain);
        put(&mut m, JobKind::Plain);
        assert_eq!(m.put(JobKind::Plain, Admission::Try), Err(Refused::Full));
        assert_eq!(m.stats().rejected, 1);
        assert_eq!(m.stats().queued, 2);
    }

    #[test]
    fn jobs_committed_to_claimed_or_starting_workers_do_not_count_against_capacity() {
        // A claimed worker has not taken its job yet, but the put must not depend on when
        // it wakes: its job is not backlog.
        let mut m = started_with(Config::new(1, Some(1)).with_capacity(Some(1)));
        put(&mut m, JobKind::Plain); // claims worker 0
        put(&mut m, JobKind::Plain); // backlog 0 < 1: queued
        assert_eq!(m.put(JobKind::Plain, Admission::Try), Err(Refused::Full));
        assert_eq!(m.stats().queued, 2);
        // The same with starting workers.
        let mut m = started_with(Config::new(0, Some(2)).with_capacity(Some(1)));
        put(&mut m, JobKind::Plain); // spawns worker 0
        put(&mut m, JobKind::Plain); // spawns worker 1
        put(&mut m, JobKind::Plain); // at max, the two first are committed: queued
        assert_eq!(m.put(JobKind::Plain, Admission::Try), Err(Refused::Full));
        m.settle();
        assert_eq!(m.stats().queued, 1);
        assert_eq!(m.put(JobKind::Plain, Admission::Try), Err(Refused::Full));
    }

    #[test]
    fn workers_on_their_way_count_for_jobs_only_beyond_the_pending_stops() {
        // Two starting workers and three queued jobs; lowering max queues a stop behind them.
        // Either starting worker may be the one that takes that stop, so the pool counts on
        // only one of them for a job, whatever the order in the queue: backlog 3 - 1 = 2.
        let mut m = started_with(Config::new(0, Some(2)).with_capacity(Some(2)));
        put(&mut m, JobKind::Plain); // spawns worker 0
        put(&mut m, JobKind::Plain); // spawns worker 1
        put(&mut m, JobKind::Plain); // at max, backlog 3 - 2 = 1 < 2: queued
        m.resize(0, Some(1)).unwrap();
        check(&m);
        assert_eq!((m.stats().pending_stops, m.stats().queued), (1, 3));
        assert_eq!(m.put(JobKind::Plain, Admission::Try), Err(Refused::Full));
        // Worker 0 takes job 0 (its claim ends with it): 2 jobs, 1 worker on its way, 1 stop.
        assert!(matches!(m.take(WorkerId(0)), Ok(Taken::Job(_))));
        check(&m);
        assert_eq!(m.put(JobKind::Plain, Admission::Try), Err(Refused::Full));
        // Worker 1 takes job 1: 1 job, nobody on its way: backlog 1 < 2.
        assert!(matches!(m.take(WorkerId(1)), Ok(Taken::Job(_))));
        put(&mut m, JobKind::Plain);
        assert_eq!(m.stats().queued, 2);
    }

    #[test]
    fn put_on_created_pool_queues_without_workers() {
        let mut m = model(Config::new(2, Some(4)));
        for _ in 0..3 {
            put(&mut m, JobKind::Plain);
        }
        assert_eq!(m.stats().queued, 3);
        assert_eq!(m.stats().workers, 0);
        assert!(m.events().is_empty());
    }

    #[test]
    fn full_created_pool_applies_the_policy() {
        let config = Config::new(1, None)
            .with_capacity(Some(1))
            .with_policy(Policy::DiscardOldest);
        let mut m = model(config);
        let first = put(&mut m, JobKind::Plain);
        let second = m.put(JobKind::Plain, Admission::Try).unwrap();
        assert_eq!(second.evicted, Some(first));
        assert_eq!(
            m.queue().iter().copied().collect::<Vec<_>>(),
            [Item::Job(second.id)]
        );
    }

    #[test]
    fn reject_policy_refuses_full_and_counts_rejected() {
        let mut m = started_with(Config::new(1, Some(1)).with_capacity(Some(1)));
        put(&mut m, JobKind::Plain);
        m.settle();
        put(&mut m, JobKind::Plain);
        for admission in [
            Admission::Try,
            Admission::Wait,
            Admission::Timeout(secs(3600)),
        ] {
            assert_eq!(m.put(JobKind::Plain, admission), Err(Refused::Full));
        }
        assert_eq!(m.stats().rejected, 3);
        assert_eq!(m.stats().queued, 1);
    }

    #[test]
    fn waiting_put_on_full_queue_resolves_at_once_without_advancing_the_clock() {
        let config = Config::new(1, Some(1))
            .with_capacity(Some(1))
            .with_policy(Policy::CallerRuns);
        let mut m = started_with(config);
        put(&mut m, JobKind::Plain);
        m.settle();
        put(&mut m, JobKind::Plain);
        let waited = m.put(JobKind::Plain, Admission::Timeout(secs(30))).unwrap();
        assert!(waited.caller_ran);
        m.finish(waited.id, Outcome::Completed).unwrap();
        let waited = m.put(JobKind::Plain, Admission::Wait).unwrap();
        assert!(waited.caller_ran);
        assert_eq!(m.now(), Duration::ZERO);
    }

    #[test]
    fn try_put_on_full_queue_applies_the_policy_at_once() {
        let config = Config::new(1, Some(1))
            .with_capacity(Some(1))
            .with_policy(Policy::CallerRuns);
        let mut m = started_with(config);
        put(&mut m, JobKind::Plain);
        m.settle();
        put(&mut m, JobKind::Plain);
        assert!(m.put(JobKind::Plain, Admission::Try).unwrap().caller_ran);
    }

    #[test]
    fn caller_runs_policy_runs_the_job_on_the_caller_and_counts_it() {
        let config = Config::new(1, Some(1))
            .with_capacity(Some(1))
            .with_policy(Policy::CallerRuns);
        let mut m = started_with(config);
        put(&mut m, JobKind::Plain);
        m.settle();
        put(&mut m, JobKind::Plain);
        let events_before = m.events().len();
        let ran = m.put(JobKind::Callback, Admission::Try).unwrap();
        assert_eq!(
            ran,
            Accepted {
                id: JobId(2),
                caller_ran: true,
                evicted: None
            }
        );
        assert_eq!(m.status(ran.id), Some(JobStatus::Running(Runner::Caller)));
        assert_eq!(m.stats().caller_runs, 1);
        assert_eq!(m.stats().queued, 1, "not queued");
        assert!(m.enabled_steps().contains(&Step::Finish(ran.id)));
        m.finish(ran.id, Outcome::Panicked).unwrap();
        assert_eq!(m.stats().panicked, 1);
        assert_eq!(m.stats().rejected, 0);
        assert_eq!(
            m.callback_log(),
            [CallbackEntry {
                job: ran.id,
                runner: Runner::Caller,
                job_panicked: true,
                callback_panicked: false
            }]
        );
        assert_eq!(
            m.events()[events_before..],
            [Event::JobRanByCaller {
                job: ran.id,
                panicked: true
            }]
        );
        check(&m);
    }

    #[test]
    fn discard_oldest_hands_evicted_job_to_handler() {
        let config = Config::new(1, Some(1))
            .with_capacity(Some(2))
            .with_policy(Policy::DiscardOldest);
        let mut m = started_with(config);
        let running = put(&mut m, JobKind::Plain);
        m.settle();
        let oldest = put(&mut m, JobKind::Handle);
        let next = put(&mut m, JobKind::Plain);
        let events_before = m.events().len();
        let newest = m.put(JobKind::Plain, Admission::Try).unwrap();
        assert_eq!(newest.evicted, Some(oldest));
        assert!(!newest.caller_ran);
        assert_eq!(m.status(oldest), Some(JobStatus::Evicted));
        assert_eq!(m.stats().rejected, 1, "the eviction counts as a rejection");
        assert_eq!(
            m.queue().iter().copied().collect::<Vec<_>>(),
            [Item::Job(next), Item::Job(newest.id)]
        );
        assert_eq!(m.events().len(), events_before);
        assert_eq!(m.accounted().evicted, 1);
        // The handler holds it: its handle can still cancel it, outside the pool's counters.
        assert!(m.cancel(oldest));
        assert_eq!(m.disposal(oldest), Some(Disposal::Cancelled));
        assert_eq!(m.stats().cancelled, 0);
        assert!(!m.cancel(oldest), "already cancelled");
        complete(&mut m, running);
        check(&m);
    }

    #[test]
    fn evicted_request_is_answered_when_the_handler_disposes_of_it() {
        let config = Config::new(0, None)
            .with_capacity(Some(1))
            .with_policy(Policy::DiscardOldest);
        let mut m = model(config);
        let evicted = put(&mut m, JobKind::ResultQueue);
        let kept = m.put(JobKind::Plain, Admission::Try).unwrap();
        assert_eq!(kept.evicted, Some(evicted));
        assert_eq!(m.results_pending(), 1);
        m.dispose(evicted, Disposal::Completed).unwrap();
        assert_eq!(
            m.poll_result(true),
            Ok(Some(QueuedResult {
                job: evicted,
                result: ResultKind::Value
            }))
        );
        assert_eq!(
            m.stats().completed,
            0,
            "run by the handler, outside the pool"
        );
        assert_eq!(
            m.dispose(kept.id, Disposal::Dropped),
            Err(StepError::NotHandedBack(kept.id)),
            "still queued"
        );
    }

    #[test]
    fn discard_oldest_evicts_the_oldest_job_not_a_sentinel() {
        let config = Config::new(0, None)
            .with_capacity(Some(1))
            .with_policy(Policy::DiscardOldest);
        let mut m = started_with(config);
        for _ in 0..3 {
            put(&mut m, JobKind::Plain);
        }
        m.settle();
        m.resize(0, Some(2)).unwrap(); // 3 busy workers, 1 sentinel queued
        assert_eq!(m.queue().iter().copied().collect::<Vec<_>>(), [Item::Stop]);
        let kept = put(&mut m, JobKind::Plain);
        let newest = m.put(JobKind::Plain, Admission::Try).unwrap();
        assert_eq!(newest.evicted, Some(kept));
        assert_eq!(
            m.queue().iter().copied().collect::<Vec<_>>(),
            [Item::Stop, Item::Job(newest.id)]
        );
        assert_eq!(m.stats().pending_stops, 1);
    }

    #[test]
    fn job_queued_behind_all_pending_stops_gets_a_new_worker() {
        // min = 0: a shrink can cover every live worker with a sentinel. A job queued behind
        // them would never run, so admission does not count those workers as capacity.
        let mut m = started(0, Some(1));
        let first = put(&mut m, JobKind::Plain);
        m.settle();
        assert_eq!(m.shrink(1), 1);
        let second = put(&mut m, JobKind::Plain);
        assert_eq!(
            m.stats().workers,
            2,
            "a worker was spawned despite live == max"
        );
        assert_eq!(
            m.queue().iter().copied().collect::<Vec<_>>(),
            [Item::Stop, Item::Job(second)]
        );
        complete(&mut m, first);
        assert_eq!(
            m.status(second),
            Some(JobStatus::Running(Runner::Worker(WorkerId(1))))
        );
        assert_eq!(m.stats().workers, 1);
        assert_eq!(m.stats().peak_workers, 2);
    }
}

mod start {
    use super::*;

    #[test]
    fn queued_before_start_creates_min_backlog_max_workers() {
        // backlog below min: min
        let mut m = model(Config::new(2, Some(4)));
        put(&mut m, JobKind::Plain);
        assert_eq!(m.start(), Ok(2));
        assert_eq!(m.stats().idle, 0, "starting workers are busy");
        m.settle();
        assert_eq!(m.stats().idle, 1, "one took the job, one parked");
        // backlog between min and max: backlog
        let mut m = model(Config::new(1, Some(4)));
        for _ in 0..3 {
            put(&mut m, JobKind::Plain);
        }
        assert_eq!(m.start(), Ok(3));
        assert_eq!(m.stats().idle, 0);
        // backlog above max: max
        let mut m = model(Config::new(1, Some(4)));
        for _ in 0..6 {
            put(&mut m, JobKind::Plain);
        }
        assert_eq!(m.start(), Ok(4));
        m.settle();
        assert_eq!((m.stats().busy, m.stats().queued), (4, 2));
        // unbounded: backlog
        let mut m = model(Config::new(0, None));
        for _ in 0..5 {
            put(&mut m, JobKind::Plain);
        }
        assert_eq!(m.start(), Ok(5));
        check(&m);
    }

    #[test]
    fn start_with_empty_queue_creates_min_idle_workers() {
        let mut m = model(Config::new(3, Some(5)));
        assert_eq!(m.start(), Ok(3));
        assert_eq!(m.stats().state, PoolState::Running);
        assert_eq!((m.stats().workers, m.stats().busy), (3, 3), "starting");
        assert!(m.events().is_empty(), "no thread has begun its loop yet");
        m.settle();
        assert_eq!(m.stats().idle, 3);
        let started: Vec<_> = (0..3)
            .flat_map(|w| {
                let worker = WorkerId(w);
                [
                    Event::WorkerStarted { worker },
                    Event::WorkerParked { worker },
                ]
            })
            .collect();
        assert_eq!(m.events(), started);
    }

    #[test]
    fn second_start_is_an_error() {
        let mut m = started(1, None);
        let before = m.stats();
        assert_eq!(m.start(), Err(StartError::AlreadyStarted));
        assert_eq!(m.stats(), before, "no workers added");
    }

    #[test]
    fn start_after_stop_is_a_shut_down_error() {
        let mut m = model(Config::new(1, None));
        m.stop(secs(1));
        assert_eq!(m.start(), Err(StartError::ShutDown));
        let mut m = started(1, None);
        m.begin_stop(secs(1));
        assert_eq!(m.start(), Err(StartError::ShutDown));
    }
}

mod order {
    use super::*;

    #[test]
    fn jobs_start_in_acceptance_order() {
        let mut m = started(0, Some(3));
        let jobs: Vec<_> = (0..6).map(|_| put(&mut m, JobKind::Plain)).collect();
        let started: Vec<_> = m
            .settle()
            .into_iter()
            .filter_map(|(_, taken)| match taken {
                Taken::Job(job) => Some(job),
                _ => None,
            })
            .collect();
        assert_eq!(started, jobs[..3]);
        for job in &jobs[..3] {
            complete(&mut m, *job);
        }
        let all_started: Vec<_> = m
            .events()
            .iter()
            .filter_map(|e| match e {
                Event::JobStarted { job, .. } => Some(*job),
                _ => None,
            })
            .collect();
        assert_eq!(all_started, jobs);
    }

    #[test]
    fn one_worker_completes_jobs_in_acceptance_order() {
        let mut m = started(1, Some(1));
        let jobs: Vec<_> = (0..4).map(|_| put(&mut m, JobKind::Plain)).collect();
        m.settle();
        let mut completed = Vec::new();
        while let Some(Step::Finish(job)) = m.enabled_steps().first().copied() {
            complete(&mut m, job);
            completed.push(job);
        }
        assert_eq!(completed, jobs);
    }

    #[test]
    fn sentinel_never_overtakes_earlier_job() {
        let mut m = started(0, Some(1));
        let first = put(&mut m, JobKind::Plain);
        m.settle();
        let queued = put(&mut m, JobKind::Plain);
        assert_eq!(m.shrink(1), 1);
        assert_eq!(
            m.queue().iter().copied().collect::<Vec<_>>(),
            [Item::Job(queued), Item::Stop]
        );
        m.finish(first, Outcome::Completed).unwrap();
        assert_eq!(m.take(WorkerId(0)), Ok(Taken::Job(queued)));
        m.finish(queued, Outcome::Completed).unwrap();
        assert_eq!(m.take(WorkerId(0)), Ok(Taken::Stop));
        check(&m);
    }

    #[test]
    fn stop_sentinels_queue_behind_jobs_queued_before_them() {
        let mut m = started(1, Some(1));
        let first = put(&mut m, JobKind::Plain);
        m.settle();
        let queued = put(&mut m, JobKind::Plain);
        m.begin_stop(secs(1));
        assert_eq!(
            m.queue().iter().copied().collect::<Vec<_>>(),
            [Item::Job(queued), Item::Stop]
        );
        complete(&mut m, first);
        assert_eq!(
            m.status(queued),
            Some(JobStatus::Running(Runner::Worker(WorkerId(0))))
        );
    }
}

mod worker_loop {
    use super::*;

    #[test]
    fn callback_runs_on_the_same_worker_right_after_the_job_exactly_once() {
        let mut m = started(2, None);
        put(&mut m, JobKind::Plain);
        let job = put(&mut m, JobKind::Callback);
        m.settle();
        m.finish(job, Outcome::Completed).unwrap();
        let entry = CallbackEntry {
            job,
            runner: Runner::Worker(WorkerId(1)),
            job_panicked: false,
            callback_panicked: false,
        };
        // Already logged while the worker is still finishing (before it looks at the queue).
        assert_eq!(m.worker(WorkerId(1)), Some(WorkerState::Finishing));
        assert_eq!(m.callback_log(), [entry]);
        m.settle();
        assert_eq!(m.callback_log(), [entry]);
        assert_eq!(
            m.finish(job, Outcome::Completed),
            Err(StepError::NotRunning(job))
        );
    }

    #[test]
    fn callback_receives_the_panic_of_a_panicking_job() {
        let mut m = started(1, None);
        let job = put(&mut m, JobKind::Callback);
        m.settle();
        m.finish(job, Outcome::Panicked).unwrap();
        assert!(m.callback_log()[0].job_panicked);
        assert_eq!(m.stats().panicked, 1);
        assert_eq!(m.stats().hook_panics, 0);
    }

    #[test]
    fn callback_panic_is_caught_and_counted_in_hook_panics() {
        let mut m = started(1, None);
        let job = put(&mut m, JobKind::Callback);
        m.settle();
        m.finish(job, Outcome::CompletedCallbackPanicked).unwrap();
        let stats = m.stats();
        assert_eq!(
            (stats.completed, stats.panicked, stats.hook_panics),
            (1, 0, 1)
        );
        assert!(m.callback_log()[0].callback_panicked);
        m.settle();
        assert_eq!(m.stats().idle, 1, "the worker survives the callback panic");
    }

    #[test]
    fn plain_job_panic_is_counted_and_its_panic_handler_panic_is_a_hook_panic() {
        let mut m = started(1, None);
        let job = put(&mut m, JobKind::Plain);
        m.settle();
        m.finish(job, Outcome::PanickedCallbackPanicked).unwrap();
        assert_eq!((m.stats().panicked, m.stats().hook_panics), (1, 1));
        assert!(m.callback_log().is_empty(), "only callback jobs are logged");
        assert_eq!(
            m.events().last(),
            Some(&Event::JobPanicked {
                job,
                worker: WorkerId(0)
            })
        );
    }

    #[test]
    fn finish_refuses_a_callback_panic_for_a_job_without_callback() {
        let mut m = started(1, None);
        let plain = put(&mut m, JobKind::Plain);
        let handle = put(&mut m, JobKind::Handle);
        m.take(WorkerId(0)).unwrap();
        grow(&mut m, 1);
        m.settle();
        let before = m.stats();
        assert_eq!(
            m.finish(plain, Outcome::CompletedCallbackPanicked),
            Err(StepError::NoCallback(plain))
        );
        assert_eq!(
            m.finish(handle, Outcome::PanickedCallbackPanicked),
            Err(StepError::NoCallback(handle))
        );
        assert_eq!(m.stats(), before, "refused steps change nothing");
        assert_eq!(
            m.finish(JobId(99), Outcome::Completed),
            Err(StepError::NotRunning(JobId(99)))
        );
    }

    #[test]
    fn worker_taking_a_sentinel_exits_and_pending_stops_drop() {
        let mut m = started(0, None);
        grow(&mut m, 2);
        assert_eq!(m.shrink(1), 1);
        assert_eq!(m.stats().pending_stops, 1);
        let taken = m.settle();
        assert_eq!(taken, [(WorkerId(0), Taken::Stop)]);
        assert_eq!(
            m.worker(WorkerId(0)),
            Some(WorkerState::Exited(ExitReason::Sentinel))
        );
        let stats = m.stats();
        assert_eq!((stats.workers, stats.pending_stops, stats.idle), (1, 0, 1));
        assert_eq!(
            m.events()[4..],
            [
                Event::SentinelTaken {
                    worker: WorkerId(0)
                },
                Event::WorkerExited {
                    worker: WorkerId(0),
                    reason: ExitReason::Sentinel
                },
            ]
        );
    }

    #[test]
    fn idle_timeout_retires_workers_above_min_after_keep_alive() {
        let mut m = started_with(Config::new(1, None).with_keep_alive(secs(10)));
        grow(&mut m, 2);
        assert_eq!(m.next_idle_timeout(), Some(secs(10)));
        assert!(
            m.advance_clock(secs(9)).is_empty(),
            "keep_alive not reached"
        );
        assert_eq!(m.stats().workers, 3);
        let retired = m.advance_clock(secs(1));
        assert_eq!(retired, [WorkerId(0), WorkerId(1)]);
        assert_eq!(m.stats().workers, 1);
        assert_eq!(
            m.events()[6..],
            [
                Event::WorkerExited {
                    worker: WorkerId(0),
                    reason: ExitReason::IdleTimeout
                },
                Event::WorkerExited {
                    worker: WorkerId(1),
                    reason: ExitReason::IdleTimeout
                },
            ]
        );
    }

    #[test]
    fn idle_timeout_never_goes_below_min() {
        let mut m = started_with(Config::new(2, None).with_keep_alive(secs(10)));
        grow(&mut m, 3);
        assert_eq!(m.advance_clock(secs(10)).len(), 3);
        assert_eq!(m.stats().workers, 2);
        assert_eq!(m.next_idle_timeout(), None);
        assert!(m.advance_clock(secs(1000)).is_empty());
        assert_eq!(m.stats().workers, 2);
        // min = 0 lets a pool retire every idle worker.
        let mut m = started_with(Config::new(0, None).with_keep_alive(secs(1)));
        grow(&mut m, 2);
        m.advance_clock(secs(1));
        assert_eq!(m.stats().workers, 0);
        assert_eq!(m.state(), PoolState::Running);
    }

    #[test]
    fn idle_timeout_retires_the_oldest_idle_worker_first() {
        let mut m = started_with(Config::new(1, None).with_keep_alive(secs(10)));
        grow(&mut m, 1); // workers 0 and 1 idle since 0 s
        m.advance_clock(secs(5));
        let job = put(&mut m, JobKind::Plain); // claims worker 0 (ties: lowest id)
        m.settle();
        complete(&mut m, job); // worker 0 idle since 5 s
        assert_eq!(m.next_idle_timeout(), Some(secs(10)));
        assert_eq!(
            m.advance_clock(secs(100)),
            [WorkerId(1)],
            "only one above min, the oldest"
        );
        assert!(idle(&m, 0));
    }

    #[test]
    fn idle_timeout_counts_pending_stops_toward_min() {
        let mut m = started_with(Config::new(1, None).with_keep_alive(secs(10)));
        grow(&mut m, 2);
        assert_eq!(m.shrink(1), 1); // claims worker 0; two idle remain
        assert_eq!(
            m.advance_clock(secs(10)),
            [WorkerId(1)],
            "worker 0 will leave by its sentinel"
        );
        m.settle();
        assert_eq!(
            m.stats().workers,
            1,
            "never below min once the sentinel is taken"
        );
    }

    #[test]
    fn idle_time_restarts_when_a_worker_parks_again() {
        let mut m = started_with(Config::new(0, None).with_keep_alive(secs(10)));
        grow(&mut m, 1);
        m.advance_clock(secs(8));
        let job = put(&mut m, JobKind::Plain);
        m.settle();
        m.advance_clock(secs(8)); // running: no idle timeout
        complete(&mut m, job);
        assert_eq!(m.next_idle_timeout(), Some(secs(26)));
        assert!(m.advance_clock(secs(9)).is_empty());
        assert_eq!(m.advance_clock(secs(1)), [WorkerId(0)]);
    }

    #[test]
    fn a_driver_chooses_which_expired_idle_worker_times_out() {
        let mut m = started_with(Config::new(1, None).with_keep_alive(secs(10)));
        grow(&mut m, 2);
        assert_eq!(
            m.time_out(WorkerId(2)),
            Err(StepError::CannotTimeOut(WorkerId(2))),
            "keep_alive not reached"
        );
        m.pass_time(secs(10));
        assert_eq!(m.stats().workers, 3, "pass_time retires nobody");
        let timeouts = (0..3).map(|w| Step::TimeOut(WorkerId(w)));
        assert_eq!(m.enabled_steps(), timeouts.collect::<Vec<_>>());
        m.time_out(WorkerId(2)).unwrap();
        m.time_out(WorkerId(0)).unwrap();
        assert_eq!(
            m.time_out(WorkerId(1)),
            Err(StepError::CannotTimeOut(WorkerId(1))),
            "at min"
        );
        assert!(m.enabled_steps().is_empty());
        assert_eq!(
            m.events()[6..],
            [2, 0].map(|w| Event::WorkerExited {
                worker: WorkerId(w),
                reason: ExitReason::IdleTimeout
            })
        );
        assert_eq!(
            m.time_out(WorkerId(9)),
            Err(StepError::NoSuchWorker(WorkerId(9)))
        );
    }

    #[test]
    fn a_claimed_worker_may_time_out_while_another_parked_worker_takes_over_its_claim() {
        let mut m = started_with(Config::new(0, None).with_keep_alive(secs(10)));
        grow(&mut m, 2);
        m.pass_time(secs(10));
        put(&mut m, JobKind::Plain); // claims one of the two parked workers
        let claimed = |m: &Model| {
            (0..2)
                .filter(|&w| {
                    matches!(
                        m.worker(WorkerId(w)),
                        Some(WorkerState::Parked { claimed: true, .. })
                    )
                })
                .collect::<Vec<_>>()
        };
        let [c] = claimed(&m)[..] else {
            panic!("one claim")
        };
        // The claimed one times out; the other holds the claim and takes the job.
        m.time_out(WorkerId(c)).unwrap();
        assert_eq!(claimed(&m), [1 - c]);
        assert!(matches!(m.take(WorkerId(1 - c)), Ok(Taken::Job(_))));
        check(&m);
        // With nobody to take the claim over, a claimed worker cannot time out.
        let mut m = started_with(Config::new(0, None).with_keep_alive(secs(10)));
        grow(&mut m, 1);
        m.pass_time(secs(10));
        put(&mut m, JobKind::Plain);
        assert_eq!(
            m.time_out(WorkerId(0)),
            Err(StepError::CannotTimeOut(WorkerId(0)))
        );
    }

    #[test]
    fn other_hook_panics_count_in_hook_panics_only() {
        let mut m = started(1, None);
        let before = m.stats();
        m.hook_panicked();
        let after = m.stats();
        assert_eq!(after.hook_panics, before.hook_panics + 1);
        assert_eq!(
            Stats {
                hook_panics: before.hook_panics,
                ..after
            },
            before
        );
    }

    #[test]
    fn busy_and_claimed_workers_never_time_out() {
        let mut m = started_with(Config::new(0, None).with_keep_alive(secs(1)));
        grow(&mut m, 2);
        put(&mut m, JobKind::Plain); // claims one
        let job = put(&mut m, JobKind::Plain); // claims the other
        assert!(m.advance_clock(secs(5)).is_empty());
        m.settle();
        assert!(m.advance_clock(secs(5)).is_empty());
        m.finish(job, Outcome::Completed).unwrap();
        assert!(m.advance_clock(secs(5)).is_empty(), "finishing is busy");
    }
}

mod grow_shrink_resize {
    use super::*;

    #[test]
    fn grow_starts_idle_workers_up_to_max() {
        let mut m = started(1, Some(4));
        assert_eq!(grow(&mut m, 2), 2);
        assert_eq!(m.stats().idle, 3);
        assert_eq!(grow(&mut m, 5), 1);
        assert_eq!(grow(&mut m, 1), 0);
        assert_eq!(m.stats().workers, 4);
    }

    #[test]
    fn grow_on_a_pool_not_running_returns_zero() {
        let mut m = model(Config::new(1, None));
        assert_eq!(grow(&mut m, 3), 0);
        m.start().unwrap();
        m.begin_stop(secs(1));
        assert_eq!(grow(&mut m, 3), 0);
        m.settle();
        assert_eq!(grow(&mut m, 3), 0);
        assert_eq!(m.stats().workers, 0);
    }

    #[test]
    fn grown_worker_takes_a_waiting_job() {
        let mut m = started(0, Some(1));
        put(&mut m, JobKind::Plain);
        m.settle();
        let waiting = put(&mut m, JobKind::Plain);
        m.resize(0, Some(3)).unwrap();
        assert_eq!(grow(&mut m, 2), 2);
        assert_eq!(
            m.stats().idle,
            1,
            "one spawned for the waiting job, one idle"
        );
        m.settle();
        assert_eq!(
            m.status(waiting),
            Some(JobStatus::Running(Runner::Worker(WorkerId(1))))
        );
    }

    #[test]
    fn shrink_enqueues_sentinels_that_claim_idle_workers() {
        let mut m = started(0, None);
        grow(&mut m, 3);
        assert_eq!(m.shrink(2), 2);
        let stats = m.stats();
        assert_eq!((stats.workers, stats.idle, stats.pending_stops), (3, 1, 2));
        m.settle();
        assert_eq!((m.stats().workers, m.stats().pending_stops), (1, 0));
    }

    #[test]
    fn repeated_shrink_before_sentinels_taken_stops_at_min() {
        let mut m = started(1, None);
        grow(&mut m, 3);
        assert_eq!(m.shrink(2), 2);
        assert_eq!(m.shrink(2), 1);
        assert_eq!(m.shrink(5), 0);
        assert_eq!(m.stats().pending_stops, 3);
        m.settle();
        assert_eq!(m.stats().workers, 1);
        assert_eq!(m.shrink(1), 0);
    }

    #[test]
    fn shrink_never_interrupts_a_busy_worker() {
        let mut m = started(0, None);
        let job = put(&mut m, JobKind::Plain);
        m.settle();
        assert_eq!(m.shrink(1), 1);
        m.settle();
        assert_eq!(m.worker(WorkerId(0)), Some(WorkerState::Running(job)));
        assert_eq!(m.stats().pending_stops, 1);
        complete(&mut m, job);
        assert_eq!(m.status(job), Some(JobStatus::Completed));
        assert_eq!(m.stats().workers, 0);
    }

    #[test]
    fn shrink_on_a_pool_not_running_returns_zero() {
        let mut m = model(Config::new(0, None));
        assert_eq!(m.shrink(1), 0);
        m.start().unwrap();
        grow(&mut m, 2);
        m.begin_stop(secs(1));
        assert_eq!(m.shrink(1), 0);
        assert_eq!(m.stats().pending_stops, 2);
    }

    #[test]
    fn resize_on_running_pool_grows_to_min() {
        let mut m = started(0, Some(4));
        m.resize(3, Some(4)).unwrap();
        assert_eq!(m.stats().workers, 3);
        assert_eq!((m.stats().min, m.stats().max), (3, Some(4)));
    }

    #[test]
    fn resize_on_running_pool_replaces_workers_pending_stops_would_take_below_min() {
        let mut m = started(0, Some(4));
        grow(&mut m, 4);
        assert_eq!(m.shrink(3), 3);
        m.resize(2, Some(4)).unwrap();
        assert_eq!(
            m.stats().workers,
            5,
            "one started to replace a leaving worker"
        );
        m.settle();
        assert_eq!(m.stats().workers, 2);
    }

    #[test]
    fn resize_on_running_pool_shrinks_to_max_counting_pending_stops() {
        let mut m = started(0, None);
        grow(&mut m, 5);
        assert_eq!(m.shrink(2), 2);
        m.resize(0, Some(2)).unwrap();
        assert_eq!(
            m.stats().pending_stops,
            3,
            "only the excess over the pending stops"
        );
        m.settle();
        assert_eq!(m.stats().workers, 2);
    }

    #[test]
    fn resize_shrink_never_interrupts_busy_workers() {
        let mut m = started(0, None);
        let jobs: Vec<_> = (0..3).map(|_| put(&mut m, JobKind::Plain)).collect();
        m.settle();
        m.resize(0, Some(1)).unwrap();
        m.settle();
        assert_eq!(m.stats().workers, 3, "busy workers finish first");
        for job in jobs {
            complete(&mut m, job);
        }
        assert_eq!(m.stats().workers, 1);
    }

    #[test]
    fn resize_on_stopped_pool_only_records_bounds() {
        let mut m = started(1, Some(2));
        m.stop(secs(1));
        let events = m.events().len();
        m.resize(3, Some(5)).unwrap();
        let stats = m.stats();
        assert_eq!((stats.min, stats.max, stats.workers), (3, Some(5), 0));
        assert_eq!(m.events().len(), events, "no worker started");
        assert_eq!(m.state(), PoolState::Terminated);
    }

    #[test]
    fn resize_on_created_pool_only_records_bounds_used_by_start() {
        let mut m = model(Config::new(1, Some(2)));
        m.resize(3, Some(6)).unwrap();
        assert_eq!(m.stats().workers, 0);
        assert!(m.events().is_empty());
        assert_eq!(m.start(), Ok(3));
    }
}

mod cancel {
    use super::*;

    #[test]
    fn cancel_only_before_start() {
        let mut m = started(1, Some(1));
        let running = put(&mut m, JobKind::Handle);
        m.settle();
        let queued = put(&mut m, JobKind::Handle);
        assert!(!m.cancel(running), "already started");
        assert!(m.cancel(queued));
        assert_eq!(m.status(queued), Some(JobStatus::Cancelled));
        let stats = m.stats();
        assert_eq!((stats.queued, stats.cancelled), (0, 1));
        assert_eq!(
            m.events().last(),
            Some(&Event::JobCancelled { job: queued })
        );
        assert!(!m.cancel(queued), "already cancelled");
        complete(&mut m, running);
        assert!(!m.cancel(running), "already finished");
        assert!(!m.cancel(JobId(42)), "unknown");
        assert_eq!(m.stats().cancelled, 1);
    }

    #[test]
    fn cancel_works_on_a_created_pool() {
        let mut m = model(Config::new(0, None));
        let job = put(&mut m, JobKind::Handle);
        assert!(m.cancel(job));
        assert_eq!(m.start(), Ok(0), "nothing left to start workers for");
    }

    #[test]
    fn exactly_one_of_cancel_and_take_wins() {
        // take first
        let mut m = started(1, None);
        let job = put(&mut m, JobKind::Handle);
        assert_eq!(m.take(WorkerId(0)), Ok(Taken::Job(job)));
        assert!(!m.cancel(job));
        // cancel first
        let mut m = started(1, None);
        let job = put(&mut m, JobKind::Handle);
        assert!(m.cancel(job));
        assert_eq!(m.take(WorkerId(0)), Ok(Taken::Nothing));
        assert_eq!(m.status(job), Some(JobStatus::Cancelled));
        assert!(
            m.events()
                .iter()
                .all(|e| !matches!(e, Event::JobStarted { .. }))
        );
    }

    #[test]
    fn cancel_needs_a_handle() {
        let mut m = model(Config::new(0, None));
        for kind in [JobKind::Plain, JobKind::Callback, JobKind::ResultQueue] {
            let job = put(&mut m, kind);
            assert!(!m.cancel(job), "{kind:?} has no handle");
            assert_eq!(m.status(job), Some(JobStatus::Queued));
        }
    }

    #[test]
    fn cancel_of_a_handed_back_job_marks_it_cancelled_without_counting() {
        let mut m = model(Config::new(0, None));
        let job = put(&mut m, JobKind::Handle);
        assert_eq!(m.stop_now().returned, [job]);
        assert!(m.cancel(job), "its holder has not run it yet");
        assert_eq!(m.status(job), Some(JobStatus::Returned));
        assert_eq!(m.disposal(job), Some(Disposal::Cancelled));
        assert_eq!(m.stats().cancelled, 0, "already accounted as handed back");
        assert!(m.events().is_empty());
        assert!(!m.cancel(job));
        assert_eq!(
            m.dispose(job, Disposal::Completed),
            Err(StepError::NotHandedBack(job)),
            "a cancelled job cannot run"
        );
    }

    #[test]
    fn cancel_after_the_holder_ran_a_handed_back_job_fails() {
        let mut m = model(Config::new(0, None));
        let job = put(&mut m, JobKind::Handle);
        m.stop_now();
        m.dispose(job, Disposal::Completed).unwrap();
        assert!(!m.cancel(job));
        assert_eq!(m.stats().completed, 0, "run outside the pool");
    }
}

mod results {
    use super::*;

    #[test]
    fn result_queue_delivers_results_in_completion_order() {
        let mut m = started(3, None);
        let jobs: Vec<_> = (0..3).map(|_| put(&mut m, JobKind::ResultQueue)).collect();
        m.settle();
        assert_eq!(
            m.poll_result(true),
            Ok(None),
            "outstanding, workers alive: would block"
        );
        m.finish(jobs[2], Outcome::Completed).unwrap();
        m.finish(jobs[0], Outcome::Panicked).unwrap();
        m.finish(jobs[1], Outcome::Completed).unwrap();
        assert_eq!(
            m.poll_result(true),
            Ok(Some(QueuedResult {
                job: jobs[2],
                result: ResultKind::Value
            }))
        );
        assert_eq!(
            m.poll_result(true),
            Ok(Some(QueuedResult {
                job: jobs[0],
                result: ResultKind::Panicked
            }))
        );
        assert_eq!(
            m.poll_result(true),
            Ok(Some(QueuedResult {
                job: jobs[1],
                result: ResultKind::Value
            }))
        );
        assert_eq!(m.poll_result(true), Err(PollError::NoResultsPending));
        check(&m);
    }

    #[test]
    fn poll_with_nothing_outstanding_is_no_results_pending() {
        let mut m = started(1, None);
        assert_eq!(m.poll_result(true), Err(PollError::NoResultsPending));
        let other = put(&mut m, JobKind::Plain);
        m.settle();
        assert_eq!(
            m.poll_result(true),
            Err(PollError::NoResultsPending),
            "only result-queue jobs count"
        );
        complete(&mut m, other);
    }

    #[test]
    fn poll_before_start_is_no_workers_available() {
        let mut m = model(Config::new(1, None));
        let job = put(&mut m, JobKind::ResultQueue);
        assert_eq!(m.poll_result(true), Err(PollError::NoWorkersAvailable));
        m.start().unwrap();
        assert_eq!(m.poll_result(true), Ok(None));
        m.settle();
        m.finish(job, Outcome::Completed).unwrap();
        assert_eq!(m.poll_result(true).unwrap().map(|r| r.job), Some(job));
    }

    #[test]
    fn ready_results_are_delivered_even_after_all_workers_are_gone() {
        let mut m = started(1, None);
        let job = put(&mut m, JobKind::ResultQueue);
        m.settle();
        m.finish(job, Outcome::Completed).unwrap();
        m.stop(secs(1));
        assert_eq!(m.stats().workers, 0);
        assert_eq!(
            m.poll_result(true),
            Ok(Some(QueuedResult {
                job,
                result: ResultKind::Value
            }))
        );
        assert_eq!(m.poll_result(true), Err(PollError::NoResultsPending));
    }

    #[test]
    fn handed_back_requests_stay_pending_until_their_holder_disposes_of_them() {
        let mut m = model(Config::new(1, None));
        let dropped = put(&mut m, JobKind::ResultQueue);
        let ran = put(&mut m, JobKind::ResultQueue);
        assert_eq!(m.stop_now().returned, [dropped, ran]);
        assert_eq!(m.results_pending(), 2);
        assert_eq!(m.poll_result(false), Ok(None));
        assert_eq!(m.poll_result(true), Err(PollError::NoWorkersAvailable));
        m.dispose(ran, Disposal::Panicked).unwrap();
        m.dispose(dropped, Disposal::Dropped).unwrap();
        assert_eq!(
            m.dispose(dropped, Disposal::Dropped),
            Err(StepError::NotHandedBack(dropped))
        );
        let results = [m.poll_result(true), m.poll_result(true)];
        let expected = [(ran, ResultKind::Panicked), (dropped, ResultKind::Dropped)]
            .map(|(job, result)| Ok(Some(QueuedResult { job, result })));
        assert_eq!(results, expected, "in disposal order");
        assert_eq!(m.poll_result(true), Err(PollError::NoResultsPending));
        assert_eq!(m.stats().panicked, 0, "run outside the pool");
    }

    #[test]
    fn dropping_a_created_pool_drops_its_jobs_and_answers_its_requests() {
        let mut m = model(Config::new(1, None));
        let handle = put(&mut m, JobKind::Handle);
        let request = put(&mut m, JobKind::ResultQueue);
        m.drop_pool();
        assert!(m.is_terminated());
        assert_eq!(m.disposal(handle), Some(Disposal::Dropped));
        assert_eq!(
            m.poll_result(true),
            Ok(Some(QueuedResult {
                job: request,
                result: ResultKind::Dropped
            }))
        );
        assert_eq!(m.accounted().returned, 2);
    }

    #[test]
    fn poll_without_block_never_reports_no_workers() {
        let mut m = model(Config::new(1, None));
        put(&mut m, JobKind::ResultQueue);
        assert_eq!(m.poll_result(false), Ok(None));
        assert_eq!(m.poll_result(true), Err(PollError::NoWorkersAvailable));
    }

    #[test]
    fn batch_results_come_back_in_input_order_via_ids() {
        let mut m = started(4, None);
        let batch = m.put_batch(JobKind::Handle, 4, Admission::Wait);
        let ids: Vec<_> = batch.into_iter().map(|r| r.unwrap().id).collect();
        assert_eq!(ids, [JobId(0), JobId(1), JobId(2), JobId(3)]);
        m.settle();
        let outcomes = [
            Outcome::Completed,
            Outcome::Panicked,
            Outcome::Completed,
            Outcome::Panicked,
        ];
        for (&job, outcome) in ids.iter().zip(outcomes).rev() {
            m.finish(job, outcome).unwrap();
        }
        let finished: Vec<_> = m
            .events()
            .iter()
            .filter_map(|e| match e {
                Event::JobFinished { job, .. } | Event::JobPanicked { job, .. } => Some(*job),
                _ => None,
            })
            .collect();
        assert_eq!(
            finished,
            [JobId(3), JobId(2), JobId(1), JobId(0)],
            "completion order"
        );
        let expected = [
            JobStatus::Completed,
            JobStatus::Panicked,
            JobStatus::Completed,
            JobStatus::Panicked,
        ];
        assert_eq!(m.statuses(&ids), expected.map(Some), "input order");
    }

    #[test]
    fn batch_on_a_full_queue_reports_each_refusal_in_input_order() {
        let mut m = model(Config::new(1, Some(1)).with_capacity(Some(2)));
        let batch = m.put_batch(JobKind::Plain, 3, Admission::Try);
        assert_eq!(batch[0].map(|a| a.id), Ok(JobId(0)));
        assert_eq!(batch[1].map(|a| a.id), Ok(JobId(1)));
        assert_eq!(batch[2], Err(Refused::Full));
    }
}

mod stop {
    use super::*;

    #[test]
    fn stop_drains_queued_jobs_before_workers_exit() {
        let mut m = started(1, Some(1));
        let jobs: Vec<_> = (0..3).map(|_| put(&mut m, JobKind::Plain)).collect();
        m.settle();
        m.begin_stop(secs(5));
        assert_eq!(m.stats().pending_stops, 1);
        for &job in &jobs {
            assert_eq!(m.state(), PoolState::Stopping);
            complete(&mut m, job);
        }
        assert_eq!(m.state(), PoolState::Terminated);
        let report = m.stop_report();
        assert_eq!((report.completed, report.still_running), (3, 0));
        assert!(
            report.returned.is_empty(),
            "queued work drained, not handed back"
        );
    }

    #[test]
    fn stop_claims_idle_workers_with_its_sentinels() {
        let mut m = started(3, None);
        m.begin_stop(secs(1));
        let stats = m.stats();
        assert_eq!((stats.idle, stats.busy, stats.pending_stops), (0, 3, 3));
        m.settle();
        assert!(m.is_terminated());
    }

    #[test]
    fn stop_sends_one_sentinel_per_live_worker_not_already_covered() {
        let mut m = started(0, None);
        grow(&mut m, 3);
        assert_eq!(m.shrink(1), 1);
        m.begin_stop(secs(1));
        assert_eq!(m.stats().pending_stops, 3);
    }

    #[test]
    fn stop_is_idempotent() {
        let mut m = started(1, Some(1));
        let job = put(&mut m, JobKind::Plain);
        m.settle();
        let first = m.stop(secs(5));
        assert_eq!(m.stats().pending_stops, 1);
        assert_eq!(first.still_running, 1);
        let second = m.stop(secs(5));
        assert_eq!(
            m.stats().pending_stops,
            1,
            "a second stop adds no sentinels"
        );
        assert_eq!(second, first);
        assert_eq!(m.now(), secs(10), "each stop waited for its own deadline");
        complete(&mut m, job);
        assert!(m.is_terminated());
        let third = m.stop(secs(5));
        assert_eq!((third.completed, third.still_running), (1, 0));
        assert_eq!(m.now(), secs(10), "nothing left to wait for");
    }

    #[test]
    fn stop_report_counts_workers_alive_at_the_deadline_as_still_running() {
        let mut m = started(2, None);
        let job = put(&mut m, JobKind::Plain);
        m.settle();
        let report = m.stop(secs(5));
        assert_eq!(
            report.still_running, 1,
            "the idle worker exited, the busy one did not"
        );
        assert_eq!(m.now(), secs(5), "the stop waited until its deadline");
        assert_eq!(m.state(), PoolState::Stopping);
        // The detached worker still finishes and exits later.
        complete(&mut m, job);
        assert!(m.is_terminated());
    }

    #[test]
    fn stop_deadline_is_now_plus_timeout_saturating() {
        let mut m = started(1, None);
        let job = put(&mut m, JobKind::Plain);
        m.settle();
        m.advance_clock(secs(3));
        m.begin_stop(secs(5));
        assert_eq!(m.stop_deadline(), Some(secs(8)));
        let report = m.stop(Duration::MAX);
        assert_eq!(m.stop_deadline(), Some(Duration::MAX), "no deadline");
        assert_eq!(report.still_running, 1);
        complete(&mut m, job);
        assert!(m.is_terminated());
    }

    #[test]
    fn stop_on_created_pool_returns_queued_jobs() {
        let mut m = model(Config::new(1, None));
        let jobs: Vec<_> = (0..2).map(|_| put(&mut m, JobKind::Handle)).collect();
        let report = m.stop(secs(1));
        assert_eq!(report.returned, jobs);
        assert_eq!(m.statuses(&jobs), [Some(JobStatus::Returned); 2]);
        assert_eq!(m.stats().queued, 0);
        assert!(m.is_terminated());
        assert_eq!(m.accounted().returned, 2);
    }

    #[test]
    fn stop_now_returns_exactly_never_started_jobs_in_order() {
        let mut m = started(1, Some(1));
        let running = put(&mut m, JobKind::Handle);
        m.settle();
        let queued: Vec<_> = (0..3).map(|_| put(&mut m, JobKind::Handle)).collect();
        assert!(m.cancel(queued[1]));
        let report = m.stop_now();
        assert_eq!(report.returned, [queued[0], queued[2]]);
        assert_eq!(report.still_running, 1, "no waiting");
        assert_eq!(m.now(), Duration::ZERO);
        assert_eq!(m.status(queued[0]), Some(JobStatus::Returned));
        assert_eq!(m.status(queued[1]), Some(JobStatus::Cancelled));
        assert_eq!(m.queue().iter().copied().collect::<Vec<_>>(), [Item::Stop]);
        assert!(
            m.events()
                .iter()
                .all(|e| !matches!(e, Event::JobStarted { job, .. } if *job != running))
        );
        complete(&mut m, running);
        assert!(m.is_terminated());
        assert_eq!(m.status(running), Some(JobStatus::Completed));
        assert_eq!(m.stop_now().returned, [], "nothing left to hand back");
    }

    #[test]
    fn stop_now_escalates_a_draining_stop() {
        let mut m = started(1, Some(1));
        put(&mut m, JobKind::Plain);
        m.settle();
        let queued = put(&mut m, JobKind::Plain);
        m.begin_stop(secs(1));
        let report = m.stop_now();
        assert_eq!(report.returned, [queued]);
        assert_eq!(m.stats().pending_stops, 1, "no extra sentinel");
    }

    #[test]
    fn stop_from_inside_a_job_waits_for_the_other_workers_only() {
        let mut m = started(2, None);
        let job = put(&mut m, JobKind::Plain);
        m.settle();
        let report = m.stop_from_job(job, secs(5)).unwrap();
        assert_eq!(m.now(), Duration::ZERO, "the other worker exited: no wait");
        assert_eq!(report.still_running, 1, "its own worker still counts");
        assert!(!report.is_clean());
        assert_eq!(m.state(), PoolState::Stopping);
        complete(&mut m, job);
        assert!(m.is_terminated());
        // Called from outside, the same stop waits for the busy worker.
        let mut m = started(2, None);
        let job = put(&mut m, JobKind::Plain);
        m.settle();
        assert_eq!(m.stop(secs(5)).still_running, 1);
        assert_eq!(m.now(), secs(5));
        assert_eq!(
            m.begin_stop_from_job(JobId(9), secs(1)),
            Err(StepError::NotRunning(JobId(9)))
        );
        complete(&mut m, job);
    }

    #[test]
    fn drop_is_a_non_blocking_stop_and_queued_jobs_still_run() {
        let mut m = started(1, Some(1));
        let first = put(&mut m, JobKind::Plain);
        m.settle();
        let second = put(&mut m, JobKind::Plain);
        m.drop_pool();
        assert_eq!(m.state(), PoolState::Stopping);
        assert_eq!(m.now(), Duration::ZERO);
        complete(&mut m, first);
        complete(&mut m, second);
        assert_eq!(m.status(second), Some(JobStatus::Completed));
        assert!(m.is_terminated());
    }
}

mod stats_and_events {
    use super::*;

    #[test]
    fn stats_snapshot_tracks_every_counter() {
        let config = Config::new(1, Some(2))
            .with_capacity(Some(1))
            .with_policy(Policy::Reject);
        let mut m = started_with(config);
        let a = put(&mut m, JobKind::Callback);
        let b = put(&mut m, JobKind::Handle);
        m.settle();
        let c = put(&mut m, JobKind::Handle);
        assert!(m.put(JobKind::Plain, Admission::Try).is_err());
        assert!(m.cancel(c));
        m.settle();
        m.finish(a, Outcome::CompletedCallbackPanicked).unwrap();
        m.finish(b, Outcome::Panicked).unwrap();
        m.settle();
        let stats = m.stats();
        assert_eq!(
            (
                stats.workers,
                stats.idle,
                stats.busy,
                stats.queued,
                stats.pending_stops
            ),
            (2, 2, 0, 0, 0)
        );
        assert_eq!(
            (
                stats.completed,
                stats.panicked,
                stats.cancelled,
                stats.rejected
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(
            (stats.caller_runs, stats.hook_panics, stats.peak_workers),
            (0, 1, 2)
        );
        assert_eq!(
            (stats.min, stats.max, stats.state),
            (1, Some(2), PoolState::Running)
        );
        assert!(stats.to_string().contains("hook panics:   1"));
    }

    #[test]
    fn event_log_records_worker_and_job_lifecycle() {
        let mut m = started(0, Some(1));
        let run = put(&mut m, JobKind::Handle);
        let cancelled = put(&mut m, JobKind::Handle);
        assert!(m.cancel(cancelled));
        m.settle();
        m.finish(run, Outcome::Panicked).unwrap();
        m.stop(secs(1));
        let w = WorkerId(0);
        assert_eq!(
            m.drain_events(),
            [
                Event::JobCancelled { job: cancelled },
                Event::WorkerStarted { worker: w },
                Event::JobStarted {
                    job: run,
                    worker: w
                },
                Event::JobPanicked {
                    job: run,
                    worker: w
                },
                Event::SentinelTaken { worker: w },
                Event::WorkerExited {
                    worker: w,
                    reason: ExitReason::Sentinel
                },
            ]
        );
        assert!(m.events().is_empty(), "drained");
    }

    #[test]
    fn enabled_steps_list_takes_then_finishes() {
        let mut m = started(3, None);
        let a = put(&mut m, JobKind::Plain); // claims worker 0
        let b = put(&mut m, JobKind::Plain); // claims worker 1
        assert_eq!(
            m.enabled_steps(),
            [Step::Take(WorkerId(0)), Step::Take(WorkerId(1))]
        );
        m.take(WorkerId(1)).unwrap(); // worker 1 takes `a`
        assert_eq!(
            m.enabled_steps(),
            [Step::Take(WorkerId(0)), Step::Finish(a)]
        );
        m.settle();
        assert_eq!(m.enabled_steps(), [Step::Finish(b), Step::Finish(a)]);
        m.finish(b, Outcome::Completed).unwrap();
        assert_eq!(
            m.enabled_steps(),
            [Step::Take(WorkerId(0)), Step::Finish(a)]
        );
        assert!(!m.is_settled());
    }
}

//! Shared test support: a gate jobs block on, event predicates, and the contract suite that every
//! backend instantiates with `contract_suite!(factory)`.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod contract;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use pool_core::{Event, EventLog, ExitReason, JobId};

/// Generous real-time bound for anything a test waits on: a failure, never a hang.
pub const T: Duration = Duration::from_secs(20);

/// A latch jobs block on until the test opens it.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }
    pub fn open(&self) {
        *self.0.0.lock().unwrap() = true;
        self.0.1.notify_all();
    }
    /// Blocks until opened (bounded by `T`; panics after, which the pool catches and counts).
    pub fn wait(&self) {
        let g = self.0.0.lock().unwrap();
        let (g, _) = self.0.1.wait_timeout_while(g, T, |open| !*open).unwrap();
        assert!(*g, "gate never opened");
    }
    /// A job that blocks on this gate.
    pub fn job(&self) -> impl FnOnce() + Send + 'static {
        let g = self.clone();
        move || g.wait()
    }
}

pub fn started(id: JobId) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::JobStarted { job, .. } if *job == id)
}
pub fn finished(id: JobId) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::JobFinished { job, .. } | Event::JobPanicked { job, .. } if *job == id)
}
pub fn parked(e: &Event) -> bool {
    matches!(e, Event::WorkerParked { .. })
}
pub fn worker_started(e: &Event) -> bool {
    matches!(e, Event::WorkerStarted { .. })
}
pub fn exited(e: &Event) -> bool {
    matches!(e, Event::WorkerExited { .. })
}
pub fn exited_idle(e: &Event) -> bool {
    matches!(
        e,
        Event::WorkerExited {
            reason: ExitReason::IdleTimeout,
            ..
        }
    )
}

/// Waits until `n` events match.
pub fn wait_n(log: &EventLog, n: usize, pred: impl Fn(&Event) -> bool) {
    log.wait_count(T, n, pred)
        .unwrap_or_else(|e| panic!("{e}: {:#?}", log.events()));
}

/// Waits until one event matches.
pub fn wait1(log: &EventLog, pred: impl Fn(&Event) -> bool) {
    wait_n(log, 1, pred);
}

/// Instantiates every contract test for a backend: `contract_suite!(|b: Builder| b.classic().unwrap());`
#[macro_export]
macro_rules! contract_suite {
    ($make:expr) => {
        $crate::contract_suite!(@tests $make;
            config_errors_name_the_values,
            work_queued_before_start_creates_exactly_min_backlog_max_workers,
            start_with_empty_backlog_creates_min_workers,
            absurd_sizes_are_config_errors_and_record_nothing,
            a_worker_whose_start_hook_panics_runs_no_job_and_strands_none,
            await_quiescence_waits_until_nothing_is_queued_and_every_worker_is_idle,
            terminated_is_emitted_once_when_the_pool_has_stopped,
            a_panicking_before_job_vetoes_the_job_and_after_job_is_told_how_jobs_ended,
            the_builder_returns_a_running_pool,
            join_on_a_pool_never_started_runs_the_job_on_the_joiner,
            second_start_is_an_error,
            finishing_worker_is_not_spare_capacity,
            idle_worker_is_reused_instead_of_spawning,
            max_bounds_the_workers_and_extra_jobs_queue,
            try_put_on_full_queue_hands_the_closure_back,
            put_timeout_gives_up_at_the_clock_deadline,
            put_waiting_for_room_is_admitted_when_room_appears,
            caller_runs_policy_runs_the_job_on_the_submitting_thread,
            discard_oldest_hands_the_evicted_job_to_the_handler,
            submit_join_returns_the_value,
            try_join_and_join_timeout_hand_the_handle_back_until_done,
            cancel_succeeds_only_before_the_job_starts,
            cancel_drops_the_closure_before_it_returns,
            callback_runs_on_the_worker_right_after_the_job_exactly_once,
            panicking_job_does_not_kill_its_worker,
            panicking_callback_hook_and_handler_are_caught_and_counted,
            result_queue_runs_callbacks_in_the_polling_thread_in_completion_order,
            result_queue_errors_no_results_pending_and_no_workers_available,
            batch_results_come_back_in_input_order,
            grow_starts_at_most_max_minus_live,
            repeated_shrink_before_the_sentinels_are_consumed_stops_at_min,
            shrink_never_interrupts_a_busy_worker,
            a_job_submitted_behind_a_shrink_sentinel_still_runs,
            result_queue_callback_panic_loses_no_result,
            idle_excludes_workers_with_a_pending_stop,
            resize_grows_to_min_and_shrinks_to_max,
            resize_validates_and_only_records_bounds_when_not_running,
            idle_timeout_retires_workers_above_min_on_a_clock_step,
            stop_drains_queued_jobs_before_workers_exit,
            stop_deadline_detaches_a_stuck_worker,
            stop_is_idempotent,
            stop_from_inside_a_job_neither_deadlocks_nor_waits_for_its_own_thread,
            stop_now_returns_exactly_the_never_started_jobs_in_order,
            stop_before_start_hands_the_queued_jobs_back,
            put_after_stop_is_refused_with_the_job_handed_back,
            drop_waits_for_the_queued_jobs_within_the_drop_timeout,
            drop_is_a_nonblocking_stop_that_still_runs_queued_jobs,
            thread_names_use_the_prefix,
            lifecycle_hooks_run_on_the_worker_threads,
            stats_display_like_dump_stats,
            one_submitter_jobs_start_in_submission_order_and_one_worker_completes_in_order,
            stop_sentinel_never_overtakes_an_earlier_job,
            await_termination_reports_whether_every_worker_exited,
            every_job_is_run_once_or_handed_back,
        );
        $crate::contract_suite!(@not_miri $make;
            a_thread_the_os_refuses_is_counted_and_its_job_comes_back_from_stop,
        );
    };
    (@not_miri $make:expr; $($name:ident,)*) => {
        $(
            #[test]
            #[cfg_attr(
                miri,
                ignore = "miri ignores a thread's stack size, so no spawn is ever refused there"
            )]
            fn $name() {
                support::contract::$name($make);
            }
        )*
    };
    (@tests $make:expr; $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                support::contract::$name($make);
            }
        )*
    };
}

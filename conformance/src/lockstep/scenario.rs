//! What a case is: the pool's configuration ([`Setup`]) and a short sequence of operations
//! ([`Op`]), and the proptest strategies that generate them ([`scenarios`]).

use std::fmt;

use proptest::prelude::*;
use spec_model as m;

use crate::kit::Plan;

/// The rejection policy of a scenario's pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// `Policy::Reject`.
    Reject,
    /// `Policy::CallerRuns`.
    CallerRuns,
    /// `Policy::DiscardOldest`, with an eviction handler that gives the job to the test.
    DiscardOldest,
}

/// The configuration of a scenario's pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Setup {
    /// `min`.
    pub min: usize,
    /// `max` (`None`: unbounded).
    pub max: Option<usize>,
    /// Queue capacity (`None`: unbounded).
    pub capacity: Option<usize>,
    /// Rejection policy.
    pub policy: PolicyKind,
    /// Keep-alive, in seconds of the manual clock.
    pub keep_alive: u64,
    /// Put timeout, in seconds of the manual clock (at least 1, so a blocking put waits).
    pub put_timeout: u64,
    /// Whether the pool is started before the first operation.
    pub start: bool,
}

/// How a scenario submits a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `Pool::put_with(Job::new(..))` (fire-and-forget; a panic goes to the panic handler).
    Plain,
    /// `PoolExt::submit_with` (a `JobHandle`).
    Handle,
    /// `PoolExt::submit_with_callback_with`.
    Callback,
    /// `ResultQueue::put_request_with` (callbacks run by `poll`).
    Request,
    /// `ResultQueue::put_request` (results returned by `poll`).
    RequestPlain,
}

impl Kind {
    pub(super) fn model(self) -> m::JobKind {
        match self {
            Kind::Plain => m::JobKind::Plain,
            Kind::Handle => m::JobKind::Handle,
            Kind::Callback => m::JobKind::Callback,
            Kind::Request | Kind::RequestPlain => m::JobKind::ResultQueue,
        }
    }
}

/// How long a put may wait for room (result-queue requests always use `Wait`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Adm {
    /// `put` / `Admission::Wait` (the configured put timeout).
    Wait,
    /// `try_put` / `Admission::Try`.
    Try,
    /// `put_timeout(secs)`.
    Timeout(u64),
}

/// One step of a scenario. Operations that pick a job take `pick` modulo the candidates (and
/// do nothing when there are none), so every sequence is valid and shrinks well.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `start()`.
    Start,
    /// Submit a gated job; `panics` is its plan if the caller has to run it (`CallerRuns`).
    Put(Kind, Adm, bool),
    /// Open the gate of a queued or running job: it ends by the plan.
    Release(u8, Plan),
    /// Let a worker held in `after_job` go.
    Unhold(u8),
    /// `JobHandle::cancel` of a submitted job.
    Cancel(u8),
    /// `ResultQueue::poll(block)` (a blocking poll only where the model says it returns).
    Poll(bool),
    /// `grow(n)`.
    Grow(usize),
    /// `shrink(n)`.
    Shrink(usize),
    /// `resize(min, max)` (invalid bounds included).
    Resize(usize, Option<usize>),
    /// Advance the manual clock by this many seconds.
    Advance(u64),
    /// `stop(secs)`: with a zero timeout it returns at once; otherwise it waits on another
    /// thread until the workers are gone or the clock passes its deadline. On a pool that is
    /// already stopping it is called with a zero timeout (no event tells when such a stop
    /// fixed its deadline).
    Stop(u64),
    /// `stop_now()`; the handed-back jobs are run by the test (true) or dropped.
    StopNow(bool),
    /// Drop the pool (the last operation that takes effect).
    Drop,
}

/// A configuration and the operations to apply.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// The pool's configuration.
    pub setup: Setup,
    /// The operations, in order.
    pub ops: Vec<Op>,
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ops: {:?}", self.setup, self.ops)
    }
}

/// The proptest strategy for scenarios: up to 4 workers, up to `max_ops` operations.
pub fn scenarios(max_ops: usize) -> impl Strategy<Value = Scenario> {
    let setup = (
        0usize..=2,
        prop_oneof![7 => (1usize..=3).prop_map(Some), 1 => Just(None)],
        prop_oneof![1 => Just(None), 1 => (1usize..=3).prop_map(Some)],
        prop_oneof![
            2 => Just(PolicyKind::Reject),
            1 => Just(PolicyKind::CallerRuns),
            1 => Just(PolicyKind::DiscardOldest)
        ],
        1u64..=3,
        1u64..=2,
        prop_oneof![7 => Just(true), 1 => Just(false)],
    )
        .prop_map(
            |(min, extra, capacity, policy, keep_alive, put_timeout, start)| {
                // max = min + extra, at least 1 and at most 4; unbounded stays unbounded.
                let max = extra.map(|e| (min + e - 1).clamp(1, 4).max(min));
                Setup {
                    min,
                    max,
                    capacity,
                    policy,
                    keep_alive,
                    put_timeout,
                    start,
                }
            },
        );
    (setup, prop::collection::vec(op(), 1..=max_ops))
        .prop_map(|(setup, ops)| Scenario { setup, ops })
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(job_panics, callback_panics, hold_after)| Plan {
            job_panics,
            callback_panics,
            hold_after,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let kind = prop_oneof![
        3 => Just(Kind::Plain),
        3 => Just(Kind::Handle),
        2 => Just(Kind::Callback),
        1 => Just(Kind::Request),
        1 => Just(Kind::RequestPlain),
    ];
    let adm = prop_oneof![
        3 => Just(Adm::Try),
        1 => Just(Adm::Timeout(0)),
        1 => (1u64..=2).prop_map(Adm::Timeout),
        1 => Just(Adm::Wait),
    ];
    prop_oneof![
        2 => Just(Op::Start),
        30 => (kind, adm, prop::bool::weighted(0.25)).prop_map(|(k, a, p)| Op::Put(k, a, p)),
        22 => (any::<u8>(), plan()).prop_map(|(i, p)| Op::Release(i, p)),
        4 => any::<u8>().prop_map(Op::Unhold),
        6 => any::<u8>().prop_map(Op::Cancel),
        4 => any::<bool>().prop_map(Op::Poll),
        3 => (1usize..=2).prop_map(Op::Grow),
        5 => (1usize..=2).prop_map(Op::Shrink),
        3 => (0usize..=3, prop_oneof![1 => Just(None), 5 => (0usize..=4).prop_map(Some)])
            .prop_map(|(min, max)| Op::Resize(min, max)),
        5 => (1u64..=3).prop_map(Op::Advance),
        4 => (0u64..=3).prop_map(Op::Stop),
        2 => any::<bool>().prop_map(Op::StopNow),
        1 => Just(Op::Drop),
    ]
}

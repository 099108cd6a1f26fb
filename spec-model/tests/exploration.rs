//! Random walks over caller operations and environment steps (a fixed-seed generator, no
//! dependencies): after every operation the model's invariants hold and its ledger
//! balances, and every walk ends, after `stop_now` and draining, with every accepted job in
//! a final state.

use spec_model::{
    Admission, Config, Disposal, JobId, JobKind, JobStatus, Model, Outcome, Policy, PollError,
    PoolState, Step, StepError, WorkerId,
};
use std::time::Duration;

/// xorshift64*: deterministic, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn usize_below(&mut self, n: usize) -> usize {
        usize::try_from(self.below(n as u64)).unwrap()
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.usize_below(items.len())]
    }
}

const KINDS: [JobKind; 4] = [
    JobKind::Plain,
    JobKind::Handle,
    JobKind::Callback,
    JobKind::ResultQueue,
];
const OUTCOMES: [Outcome; 4] = [
    Outcome::Completed,
    Outcome::Panicked,
    Outcome::CompletedCallbackPanicked,
    Outcome::PanickedCallbackPanicked,
];

fn random_config(rng: &mut Rng) -> Config {
    let min = rng.usize_below(3);
    let max = if rng.below(3) == 0 {
        None
    } else {
        Some(min.max(1) + rng.usize_below(3))
    };
    let capacity = if rng.below(2) == 0 {
        None
    } else {
        Some(1 + rng.usize_below(3))
    };
    let policy = rng.pick(&[Policy::Reject, Policy::CallerRuns, Policy::DiscardOldest]);
    Config::new(min, max)
        .with_capacity(capacity)
        .with_policy(policy)
        .with_keep_alive(Duration::from_secs(rng.below(4)))
}

/// Checks the invariants and the ledger; `context` describes the walk on failure.
fn check(m: &Model, context: impl Fn() -> String) {
    if let Err(violation) = m.check_invariants() {
        panic!("{}: {violation}", context());
    }
    let ledger = m.accounted();
    assert!(ledger.balanced(), "{}: {ledger:?}", context());
    let stats = m.stats();
    assert_eq!(stats.workers, stats.idle + stats.busy, "{}", context());
    assert!(stats.peak_workers >= stats.workers, "{}", context());
    assert_eq!(
        stats.rejected,
        ledger.refused + ledger.evicted,
        "{}",
        context()
    );
}

/// Applies one random environment step, if any is enabled.
fn random_step(m: &mut Model, rng: &mut Rng) -> String {
    let steps = m.enabled_steps();
    if steps.is_empty() {
        return "no step".to_owned();
    }
    match rng.pick(&steps) {
        Step::Take(worker) => {
            let taken = m.take(worker).expect("enabled take");
            format!("take({worker}) -> {taken:?}")
        }
        Step::Finish(job) => {
            let outcome = rng.pick(&OUTCOMES);
            match m.finish(job, outcome) {
                Ok(()) => format!("finish({job}, {outcome:?})"),
                Err(StepError::NoCallback(_)) => {
                    let plain = if outcome.job_panicked() {
                        Outcome::Panicked
                    } else {
                        Outcome::Completed
                    };
                    m.finish(job, plain).expect("enabled finish");
                    format!("finish({job}, {plain:?})")
                }
                Err(other) => panic!("enabled finish refused: {other}"),
            }
        }
        Step::TimeOut(worker) => {
            m.time_out(worker).expect("enabled time-out");
            format!("time_out({worker})")
        }
    }
}

/// One random caller operation or environment step; stops (`begin_stop`, `stop_now`,
/// drop) only when `may_stop`.
fn random_operation(m: &mut Model, rng: &mut Rng, may_stop: bool) -> String {
    let jobs = m.accounted().accepted;
    match rng.below(20) {
        0..=5 => {
            let kind = rng.pick(&KINDS);
            let admission = rng.pick(&[
                Admission::Try,
                Admission::Wait,
                Admission::Timeout(Duration::from_secs(1)),
            ]);
            format!("put({kind:?}) -> {:?}", m.put(kind, admission))
        }
        6..=10 => random_step(m, rng),
        11 => format!("grow -> {}", m.grow(rng.usize_below(3))),
        12 => format!("shrink -> {}", m.shrink(rng.usize_below(3))),
        13 => {
            let min = rng.usize_below(3);
            let max = if rng.below(3) == 0 {
                None
            } else {
                Some(rng.usize_below(4))
            };
            format!("resize({min}, {max:?}) -> {:?}", m.resize(min, max))
        }
        14 => {
            let job = JobId(rng.below(jobs + 1));
            format!("cancel({job}) -> {}", m.cancel(job))
        }
        15 => {
            let d = Duration::from_secs(rng.below(3));
            if rng.below(2) == 0 {
                format!("advance_clock({d:?}) -> {:?}", m.advance_clock(d))
            } else {
                m.pass_time(d);
                format!("pass_time({d:?})")
            }
        }
        16 => {
            let block = rng.below(2) == 0;
            format!("poll({block}) -> {:?}", m.poll_result(block))
        }
        17 => format!("start -> {:?}", m.start()),
        18 => format!("settle -> {:?}", m.settle()),
        _ => match rng.below(8) {
            0 | 1 | 5 if !may_stop => random_step(m, rng),
            0 => {
                m.begin_stop(Duration::from_secs(1));
                "begin_stop".to_owned()
            }
            1 => format!("stop_now -> {:?}", m.stop_now().returned),
            2 => {
                // An idle worker may try to move a claim: refused or accepted, never broken.
                let worker = WorkerId(rng.below(m.workers().len() as u64 + 1));
                format!("take({worker}) -> {:?}", m.take(worker))
            }
            3 => {
                let job = JobId(rng.below(jobs + 1));
                let disposal = rng.pick(&[
                    Disposal::Dropped,
                    Disposal::Completed,
                    Disposal::Panicked,
                    Disposal::Cancelled,
                ]);
                format!(
                    "dispose({job}, {disposal:?}) -> {:?}",
                    m.dispose(job, disposal)
                )
            }
            4 => {
                m.hook_panicked();
                "hook_panicked".to_owned()
            }
            5 => {
                m.drop_pool();
                "drop_pool".to_owned()
            }
            _ => random_step(m, rng),
        },
    }
}

/// Stops the pool and runs every remaining step to the end.
fn drain(m: &mut Model, rng: &mut Rng) {
    m.stop_now();
    for _ in 0..10_000 {
        if m.enabled_steps().is_empty() {
            break;
        }
        random_step(m, rng);
        check(m, || "drain".to_owned());
    }
    assert!(m.enabled_steps().is_empty(), "drain did not finish");
    assert_eq!(m.state(), PoolState::Terminated);
    let ledger = m.accounted();
    assert_eq!((ledger.queued, ledger.running), (0, 0));
    for id in 0..ledger.accepted {
        let status = m.status(JobId(id)).unwrap();
        assert!(
            !matches!(status, JobStatus::Queued | JobStatus::Running(_)),
            "{} left {status:?}",
            JobId(id)
        );
    }
    for id in 0..ledger.accepted {
        let job = JobId(id);
        if matches!(
            m.status(job),
            Some(JobStatus::Returned | JobStatus::Evicted)
        ) && m.disposal(job).is_none()
        {
            m.dispose(job, Disposal::Dropped).expect("a held job");
        }
    }
    while let Ok(Some(_)) = m.poll_result(true) {}
    assert_eq!(
        m.poll_result(true),
        Err(PollError::NoResultsPending),
        "every request answered and collected"
    );
}

#[test]
fn random_walks_keep_invariants_and_account_for_every_job() {
    for seed in 1..=300_u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let config = random_config(&mut rng);
        let mut m = Model::new(config).expect("random configs are valid");
        let stop_from = rng.below(250);
        let mut trace = Vec::new();
        for op in 0..200 {
            trace.push(random_operation(&mut m, &mut rng, op >= stop_from));
            check(&m, || {
                format!("seed {seed}, {config:?}, after {}", trace.join("; "))
            });
        }
        drain(&mut m, &mut rng);
    }
}

#[test]
fn settle_always_reaches_a_settled_state() {
    for seed in 1..=100_u64 {
        let mut rng = Rng(seed.wrapping_mul(0xd1b5_4a32_d192_ed03) | 1);
        let mut m = Model::new(random_config(&mut rng)).unwrap();
        let stop_from = rng.below(120);
        for op in 0..100 {
            random_operation(&mut m, &mut rng, op >= stop_from);
            m.settle();
            assert!(m.is_settled(), "seed {seed}");
            let stats = m.stats();
            assert!(
                stats.idle == 0 || stats.queued == 0,
                "seed {seed}: idle workers beside queued jobs"
            );
            assert!(
                m.enabled_steps()
                    .iter()
                    .all(|s| matches!(s, Step::Finish(_) | Step::TimeOut(_))),
                "seed {seed}"
            );
        }
    }
}

//! The workloads, each written once over `&dyn Subject`.
//!
//! | group | what | sizing | metrics |
//! |---|---|---|---|
//! | W1 | 100k empty jobs from one submitter | 2 workers | jobs/s; process CPU time per job |
//! | W2 | submit one job, wait for it (through the subject's [`crate::Waiter`]), repeat | 2 workers | round-trip p50, p99 |
//! | W3 | 2 submitters × 50k empty jobs | 2 workers | jobs/s |
//! | W4 | 64 jobs that each sleep 1 ms | may grow to 64; fixed 2; fixed 4 | time to finish all |
//! | W5 | an idle, started pool for one second | 2 workers | process CPU time used |
//! | W6 | 90% empty, 10% 100 µs spinning jobs from 4 submitters | 2 workers | time to finish all |
//! | W7 | 64 jobs: 50 µs computing, then 50 µs blocked inside `pool_iocp::blocking` | fixed `cores`; fixed 4 × `cores` | time, process CPU time, voluntary and involuntary context switches |
//!
//! A [`Group`] is what one measurement process runs (one pool, built with the group's
//! [`Sizing`]); it yields one value per [`Metric`] per repetition.

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use crate::cpu::{involuntary_context_switches, process_cpu_time, voluntary_context_switches};
use crate::stats::percentile;
use crate::subject::{Countdown, Sizing, Subject, Task, Work};

/// The workloads' sizes. [`Params::full`] is the issue's; [`Params::quick`] keeps the same jobs
/// and trims only the sample counts.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// W1: empty jobs from one submitter.
    pub w1_jobs: usize,
    /// W2: round trips per repetition.
    pub w2_round_trips: usize,
    /// W3: submitters.
    pub w3_submitters: usize,
    /// W3: jobs per submitter.
    pub w3_jobs_each: usize,
    /// W4: sleeping jobs.
    pub w4_jobs: usize,
    /// W4: how long each sleeps.
    pub w4_sleep: Duration,
    /// W4 (growable): most workers.
    pub w4_grow_to: usize,
    /// W5: how long the idle pool is watched.
    pub w5_window: Duration,
    /// W6: submitters.
    pub w6_submitters: usize,
    /// W6: jobs per submitter.
    pub w6_jobs_each: usize,
    /// W6: every this many jobs, one is long (10 → 10%).
    pub w6_long_every: usize,
    /// W6: how long a long job spins.
    pub w6_long: Duration,
    /// W7: jobs per burst.
    pub w7_jobs: usize,
    /// W7: how long each job computes before it blocks.
    pub w7_compute: Duration,
    /// W7: how long each job then blocks (inside `pool_iocp::blocking`).
    pub w7_block: Duration,
}

impl Params {
    /// The sizes.
    pub fn full() -> Params {
        Params {
            w1_jobs: 100_000,
            w2_round_trips: 10_000,
            w3_submitters: 2,
            w3_jobs_each: 50_000,
            w4_jobs: 64,
            w4_sleep: Duration::from_millis(1),
            w4_grow_to: 64,
            w5_window: Duration::from_secs(1),
            w6_submitters: 4,
            w6_jobs_each: 10_000,
            w6_long_every: 10,
            w6_long: Duration::from_micros(100),
            w7_jobs: 64,
            w7_compute: Duration::from_micros(50),
            w7_block: Duration::from_micros(50),
        }
    }

    /// The same workloads with fewer W2 round trips and a shorter W6 stream.
    pub fn quick() -> Params {
        Params {
            w2_round_trips: 2_000,
            w6_jobs_each: 2_500,
            ..Params::full()
        }
    }
}

/// How a metric is measured, and which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Jobs per second: higher is better.
    JobsPerSec,
    /// Nanoseconds (of wall or CPU time): lower is better.
    Nanos,
    /// A count of events (context switches): lower is better.
    Count,
}

impl Unit {
    /// Whether a larger value is the better one.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Unit::JobsPerSec)
    }
}

/// One number the report tabulates: a row of the JSON, a table of the Markdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// W1 throughput.
    W1Throughput,
    /// W1 process CPU time per job.
    W1CpuPerJob,
    /// W2 round-trip latency, median.
    W2P50,
    /// W2 round-trip latency, 99th percentile.
    W2P99,
    /// W3 throughput.
    W3Throughput,
    /// W4 on a pool that may grow to 64.
    W4Grow64,
    /// W4 on 2 fixed workers.
    W4Fixed2,
    /// W4 on 4 fixed workers.
    W4Fixed4,
    /// W5 CPU time of an idle pool.
    W5IdleCpu,
    /// W6 time to finish the mix.
    W6Mix,
    /// W7 on `cores` workers: time to finish.
    W7CoresTime,
    /// W7 on `cores` workers: process CPU time.
    W7CoresCpu,
    /// W7 on `cores` workers: voluntary context switches.
    W7CoresSwitches,
    /// W7 on `cores` workers: involuntary context switches (preemptions).
    W7CoresPreemptions,
    /// W7 on 4 × `cores` workers: time to finish.
    W7WideTime,
    /// W7 on 4 × `cores` workers: process CPU time.
    W7WideCpu,
    /// W7 on 4 × `cores` workers: voluntary context switches.
    W7WideSwitches,
    /// W7 on 4 × `cores` workers: involuntary context switches (preemptions).
    W7WidePreemptions,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 18] = [
        Metric::W1Throughput,
        Metric::W1CpuPerJob,
        Metric::W2P50,
        Metric::W2P99,
        Metric::W3Throughput,
        Metric::W4Grow64,
        Metric::W4Fixed2,
        Metric::W4Fixed4,
        Metric::W5IdleCpu,
        Metric::W6Mix,
        Metric::W7CoresTime,
        Metric::W7CoresCpu,
        Metric::W7CoresSwitches,
        Metric::W7CoresPreemptions,
        Metric::W7WideTime,
        Metric::W7WideCpu,
        Metric::W7WideSwitches,
        Metric::W7WidePreemptions,
    ];

    /// The stable id (the JSON's `workload`).
    pub fn id(self) -> &'static str {
        match self {
            Metric::W1Throughput => "w1_throughput",
            Metric::W1CpuPerJob => "w1_cpu_per_job",
            Metric::W2P50 => "w2_latency_p50",
            Metric::W2P99 => "w2_latency_p99",
            Metric::W3Throughput => "w3_two_submitters",
            Metric::W4Grow64 => "w4_sleep_grow64",
            Metric::W4Fixed2 => "w4_sleep_fixed2",
            Metric::W4Fixed4 => "w4_sleep_fixed4",
            Metric::W5IdleCpu => "w5_idle_cpu",
            Metric::W6Mix => "w6_mix",
            Metric::W7CoresTime => "w7_cores_time",
            Metric::W7CoresCpu => "w7_cores_cpu",
            Metric::W7CoresSwitches => "w7_cores_voluntary_switches",
            Metric::W7CoresPreemptions => "w7_cores_involuntary_switches",
            Metric::W7WideTime => "w7_wide_time",
            Metric::W7WideCpu => "w7_wide_cpu",
            Metric::W7WideSwitches => "w7_wide_voluntary_switches",
            Metric::W7WidePreemptions => "w7_wide_involuntary_switches",
        }
    }

    /// The metric with this id.
    pub fn from_id(id: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.id() == id)
    }

    /// The group whose repetitions yield this metric.
    pub fn group(self) -> Group {
        Group::ALL
            .into_iter()
            .find(|g| g.metrics().contains(&self))
            .expect("every metric belongs to a group")
    }

    /// A one-line title.
    pub fn title(self) -> &'static str {
        match self {
            Metric::W1Throughput => "W1: 100k empty jobs, one submitter, 2 workers: throughput",
            Metric::W1CpuPerJob => "W1: process CPU time per empty job",
            Metric::W2P50 => "W2: submit one job and wait for it: round trip, p50",
            Metric::W2P99 => "W2: submit one job and wait for it: round trip, p99",
            Metric::W3Throughput => "W3: 2 submitters × 50k empty jobs, 2 workers: throughput",
            Metric::W4Grow64 => "W4: 64 jobs sleeping 1 ms, pool may grow to 64: time to finish",
            Metric::W4Fixed2 => "W4: 64 jobs sleeping 1 ms, 2 fixed workers: time to finish",
            Metric::W4Fixed4 => "W4: 64 jobs sleeping 1 ms, 4 fixed workers: time to finish",
            Metric::W5IdleCpu => "W5: CPU time an idle started pool uses in one second",
            Metric::W6Mix => {
                "W6: 90% empty / 10% 100 µs jobs from 4 submitters, 2 workers: time to finish"
            }
            Metric::W7CoresTime => {
                "W7: 64 jobs computing 50 µs then blocking 50 µs, `cores` workers: time to finish"
            }
            Metric::W7CoresCpu => "W7: same, `cores` workers: process CPU time",
            Metric::W7CoresSwitches => "W7: same, `cores` workers: voluntary context switches",
            Metric::W7CoresPreemptions => {
                "W7: same, `cores` workers: involuntary context switches (preemptions)"
            }
            Metric::W7WideTime => {
                "W7: same, 4 × `cores` workers (iocp: concurrency `cores`): time to finish"
            }
            Metric::W7WideCpu => "W7: same, 4 × `cores` workers: process CPU time",
            Metric::W7WideSwitches => "W7: same, 4 × `cores` workers: voluntary context switches",
            Metric::W7WidePreemptions => {
                "W7: same, 4 × `cores` workers: involuntary context switches (preemptions)"
            }
        }
    }

    /// A short label for the chart.
    pub fn short(self) -> &'static str {
        match self {
            Metric::W1Throughput => "W1 throughput",
            Metric::W1CpuPerJob => "W1 CPU per job",
            Metric::W2P50 => "W2 round trip p50",
            Metric::W2P99 => "W2 round trip p99",
            Metric::W3Throughput => "W3 2 submitters",
            Metric::W4Grow64 => "W4 sleep, grow to 64",
            Metric::W4Fixed2 => "W4 sleep, fixed 2",
            Metric::W4Fixed4 => "W4 sleep, fixed 4",
            Metric::W5IdleCpu => "W5 idle CPU per second",
            Metric::W6Mix => "W6 mixed jobs",
            Metric::W7CoresTime => "W7 cores: time",
            Metric::W7CoresCpu => "W7 cores: CPU",
            Metric::W7CoresSwitches => "W7 cores: switches",
            Metric::W7CoresPreemptions => "W7 cores: preemptions",
            Metric::W7WideTime => "W7 4×cores: time",
            Metric::W7WideCpu => "W7 4×cores: CPU",
            Metric::W7WideSwitches => "W7 4×cores: switches",
            Metric::W7WidePreemptions => "W7 4×cores: preemptions",
        }
    }

    /// How it is measured.
    pub fn unit(self) -> Unit {
        match self {
            Metric::W1Throughput | Metric::W3Throughput => Unit::JobsPerSec,
            Metric::W7CoresSwitches
            | Metric::W7WideSwitches
            | Metric::W7CoresPreemptions
            | Metric::W7WidePreemptions => Unit::Count,
            _ => Unit::Nanos,
        }
    }
}

/// What one measurement process runs: one pool, one sizing, one or more metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    /// 100k empty jobs from one submitter.
    W1,
    /// Submit, wait, repeat.
    W2,
    /// Two submitters.
    W3,
    /// Sleeping jobs on a pool that may grow.
    W4Grow,
    /// Sleeping jobs on 2 workers.
    W4Fixed2,
    /// Sleeping jobs on 4 workers.
    W4Fixed4,
    /// The idle pool.
    W5,
    /// The mix.
    W6,
    /// Compute-then-block jobs on `cores` workers.
    W7Cores,
    /// Compute-then-block jobs on 4 × `cores` workers.
    W7Wide,
}

impl Group {
    /// Every group, in report order.
    pub const ALL: [Group; 10] = [
        Group::W1,
        Group::W2,
        Group::W3,
        Group::W4Grow,
        Group::W4Fixed2,
        Group::W4Fixed4,
        Group::W5,
        Group::W6,
        Group::W7Cores,
        Group::W7Wide,
    ];

    /// The stable id (the report's `--cell` argument, the criterion group name).
    pub fn id(self) -> &'static str {
        match self {
            Group::W1 => "w1",
            Group::W2 => "w2",
            Group::W3 => "w3",
            Group::W4Grow => "w4_grow64",
            Group::W4Fixed2 => "w4_fixed2",
            Group::W4Fixed4 => "w4_fixed4",
            Group::W5 => "w5",
            Group::W6 => "w6",
            Group::W7Cores => "w7_cores",
            Group::W7Wide => "w7_wide",
        }
    }

    /// The group with this id.
    pub fn from_id(id: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.id() == id)
    }

    /// Whether the group's result depends on how the caller waits for a job (the subject's
    /// [`crate::Waiter`]): W2 only; the others wait once per burst, on the same [`Countdown`]
    /// for every subject.
    pub fn waits(self) -> bool {
        matches!(self, Group::W2)
    }

    /// The metrics one repetition yields, in the order [`Group::run`] returns them.
    pub fn metrics(self) -> &'static [Metric] {
        match self {
            Group::W1 => &[Metric::W1Throughput, Metric::W1CpuPerJob],
            Group::W2 => &[Metric::W2P50, Metric::W2P99],
            Group::W3 => &[Metric::W3Throughput],
            Group::W4Grow => &[Metric::W4Grow64],
            Group::W4Fixed2 => &[Metric::W4Fixed2],
            Group::W4Fixed4 => &[Metric::W4Fixed4],
            Group::W5 => &[Metric::W5IdleCpu],
            Group::W6 => &[Metric::W6Mix],
            Group::W7Cores => &[
                Metric::W7CoresTime,
                Metric::W7CoresCpu,
                Metric::W7CoresSwitches,
                Metric::W7CoresPreemptions,
            ],
            Group::W7Wide => &[
                Metric::W7WideTime,
                Metric::W7WideCpu,
                Metric::W7WideSwitches,
                Metric::W7WidePreemptions,
            ],
        }
    }

    /// The workers the group's pool gets.
    pub fn sizing(self, p: &Params) -> Sizing {
        match self {
            Group::W4Grow => Sizing::growable(2, p.w4_grow_to),
            Group::W4Fixed4 => Sizing::fixed(4),
            Group::W7Cores => Sizing::fixed(cores()),
            Group::W7Wide => Sizing::fixed(4 * cores()),
            _ => Sizing::fixed(2),
        }
    }

    /// Runs once, untimed, so that every pool has its threads and caches warm (a pool that
    /// grows on demand has grown).
    pub fn warm_up(self, s: &dyn Subject, p: &Params) {
        match self {
            Group::W2 => drop(round_trips(s, p.w2_round_trips / 10)),
            Group::W5 => {
                burst(s, 1, 100, |_| Work::Empty);
                // An untimed idle window, as the other groups' warm-up is an untimed run: the
                // workers' brief spinning after the burst ends inside it, so the timed windows
                // see the pool idle. (No event says "every worker parked" for the peers, so a
                // window of time is the only definition of settled that fits every subject.)
                let _settled = idle_cpu(p.w5_window / 10);
            }
            _ => drop(self.run(s, p)),
        }
    }

    /// One repetition: a value per metric of [`Group::metrics`], in that order. A value is
    /// `None` where it cannot be measured here (no process CPU clock).
    pub fn run(self, s: &dyn Subject, p: &Params) -> Vec<Option<f64>> {
        match self {
            Group::W1 => {
                let cpu0 = process_cpu_time();
                let wall = burst(s, 1, p.w1_jobs, |_| Work::Empty);
                let cpu = process_cpu_time()
                    .zip(cpu0)
                    .map(|(b, a)| b.saturating_sub(a));
                vec![
                    Some(per_second(p.w1_jobs, wall)),
                    cpu.map(|c| c.as_nanos() as f64 / p.w1_jobs as f64),
                ]
            }
            Group::W2 => {
                let mut rt = round_trips(s, p.w2_round_trips);
                rt.sort_unstable();
                [0.50, 0.99]
                    .into_iter()
                    .map(|q| percentile(&rt, q).map(|d| d.as_nanos() as f64))
                    .collect()
            }
            Group::W3 => {
                let wall = burst(s, p.w3_submitters, p.w3_jobs_each, |_| Work::Empty);
                vec![Some(per_second(p.w3_submitters * p.w3_jobs_each, wall))]
            }
            Group::W4Grow | Group::W4Fixed2 | Group::W4Fixed4 => {
                vec![Some(nanos(sleepers(s, p)))]
            }
            Group::W5 => vec![idle_cpu(p.w5_window).map(nanos)],
            Group::W6 => vec![Some(nanos(mix(s, p)))],
            Group::W7Cores | Group::W7Wide => {
                let cpu0 = process_cpu_time();
                let (vol0, inv0) = (voluntary_context_switches(), involuntary_context_switches());
                let wall = compute_then_block(s, p);
                let (vol1, inv1) = (voluntary_context_switches(), involuntary_context_switches());
                let cpu = process_cpu_time()
                    .zip(cpu0)
                    .map(|(b, a)| b.saturating_sub(a));
                let diff = |b: Option<u64>, a: Option<u64>| {
                    b.zip(a).map(|(b, a)| b.saturating_sub(a) as f64)
                };
                vec![
                    Some(nanos(wall)),
                    cpu.map(nanos),
                    diff(vol1, vol0),
                    diff(inv1, inv0),
                ]
            }
        }
    }

    /// For criterion's `iter_custom`: the time `iters` iterations take. An iteration is one
    /// round trip (W2), one idle `window` measured in CPU time (W5), or one whole workload.
    pub fn criterion_time(
        self,
        s: &dyn Subject,
        p: &Params,
        window: Duration,
        iters: u64,
    ) -> Duration {
        match self {
            Group::W2 => {
                let start = Instant::now();
                for _ in 0..iters {
                    let _waited = s.submit_wait(Work::Empty);
                }
                start.elapsed()
            }
            Group::W5 => (0..iters).filter_map(|_| idle_cpu(window)).sum(),
            Group::W1 => (0..iters)
                .map(|_| burst(s, 1, p.w1_jobs, |_| Work::Empty))
                .sum(),
            Group::W3 => (0..iters)
                .map(|_| burst(s, p.w3_submitters, p.w3_jobs_each, |_| Work::Empty))
                .sum(),
            Group::W4Grow | Group::W4Fixed2 | Group::W4Fixed4 => {
                (0..iters).map(|_| sleepers(s, p)).sum()
            }
            Group::W6 => (0..iters).map(|_| mix(s, p)).sum(),
            Group::W7Cores | Group::W7Wide => (0..iters).map(|_| compute_then_block(s, p)).sum(),
        }
    }

    /// Jobs per criterion iteration, for its throughput line (`None`: not a throughput).
    pub fn criterion_elements(self, p: &Params) -> Option<u64> {
        let n = match self {
            Group::W1 => p.w1_jobs,
            Group::W3 => p.w3_submitters * p.w3_jobs_each,
            Group::W6 => p.w6_submitters * p.w6_jobs_each,
            Group::W7Cores | Group::W7Wide => p.w7_jobs,
            Group::W2 | Group::W4Grow | Group::W4Fixed2 | Group::W4Fixed4 | Group::W5 => {
                return None;
            }
        };
        u64::try_from(n).ok()
    }
}

/// Runs `jobs_each` jobs from each of `submitters` threads (`work(i)` is the i-th job of a
/// submitter) and returns the time from the first submission until the last job has finished.
/// One submitter submits from the calling thread; several start together at a barrier. The
/// time runs from the earliest submitter's first submission to the moment the last job finished
/// (as the job noted it, not when the waiting thread woke up).
pub fn burst(
    s: &dyn Subject,
    submitters: usize,
    jobs_each: usize,
    work: impl Fn(usize) -> Work + Sync,
) -> Duration {
    let done = Countdown::this_thread(submitters * jobs_each);
    let submit = || {
        for i in 0..jobs_each {
            s.execute(Task::new(work(i), done));
        }
    };
    if submitters == 1 {
        let start = Instant::now();
        submit();
        return done.wait().saturating_duration_since(start);
    }
    // Each submitter notes when it starts: the calling thread may not run again until well after
    // the barrier opens (more threads than cores), so its own clock would start late.
    let go = Barrier::new(submitters);
    thread::scope(|scope| {
        let submitters: Vec<_> = (0..submitters)
            .map(|_| {
                scope.spawn(|| {
                    go.wait();
                    let start = Instant::now();
                    submit();
                    start
                })
            })
            .collect();
        let first = submitters
            .into_iter()
            .map(|s| s.join().expect("a submitter does not panic"))
            .min()
            .expect("at least one submitter");
        done.wait().saturating_duration_since(first)
    })
}

/// W2: `n` round trips (submit an empty job, wait for it), each timed.
pub fn round_trips(s: &dyn Subject, n: usize) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let start = Instant::now();
            let _waited = s.submit_wait(Work::Empty);
            start.elapsed()
        })
        .collect()
}

/// W4: the sleeping jobs, from one submitter.
pub fn sleepers(s: &dyn Subject, p: &Params) -> Duration {
    burst(s, 1, p.w4_jobs, |_| Work::Sleep(p.w4_sleep))
}

/// W6: the mix, from several submitters.
pub fn mix(s: &dyn Subject, p: &Params) -> Duration {
    burst(s, p.w6_submitters, p.w6_jobs_each, |i| {
        if i % p.w6_long_every == p.w6_long_every - 1 {
            Work::Spin(p.w6_long)
        } else {
            Work::Empty
        }
    })
}

/// W7: the compute-then-block jobs, from one submitter.
///
/// What to expect of the port's pool (concurrency `cores`, 4 × `cores` workers): it finishes
/// sooner than a `cores` pool (a job's block lets another run) and is preempted less than a
/// 4 × `cores` pool (at most `cores` compute at once), but it makes more *voluntary* switches
/// than the latter: besides each job's sleep, a job whose block ends while the port is full
/// comes back above the limit and, at its end, waits for a slot, as a thread calling
/// `GetQueuedCompletionStatus` on a full kernel port would. With block ≈ compute that is most
/// jobs.
pub fn compute_then_block(s: &dyn Subject, p: &Params) -> Duration {
    burst(s, 1, p.w7_jobs, |_| Work::ComputeThenBlock {
        compute: p.w7_compute,
        block: p.w7_block,
    })
}

/// The machine's parallelism (W7's `cores`).
pub fn cores() -> usize {
    thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// W5: the process CPU time used while the calling thread sleeps for `window` (the pool under
/// test being idle, this is what its threads use).
pub fn idle_cpu(window: Duration) -> Option<Duration> {
    let before = process_cpu_time()?;
    thread::sleep(window);
    Some(process_cpu_time()?.saturating_sub(before))
}

fn per_second(jobs: usize, wall: Duration) -> f64 {
    jobs as f64 / wall.as_secs_f64()
}

fn nanos(d: Duration) -> f64 {
    d.as_nanos() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_belongs_to_exactly_one_group() {
        for m in Metric::ALL {
            let owners = Group::ALL
                .iter()
                .filter(|g| g.metrics().contains(&m))
                .count();
            assert_eq!(owners, 1, "{m:?}");
            assert!(m.group().metrics().contains(&m), "{m:?}");
            assert_eq!(Metric::from_id(m.id()), Some(m));
        }
        for g in Group::ALL {
            assert_eq!(Group::from_id(g.id()), Some(g));
        }
    }

    #[test]
    fn the_mix_is_one_long_job_in_ten() {
        let p = Params::full();
        let long = (0..p.w6_jobs_each)
            .filter(|i| i % p.w6_long_every == p.w6_long_every - 1)
            .count();
        assert_eq!(long * 10, p.w6_jobs_each);
    }
}

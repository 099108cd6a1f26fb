//! criterion benches: every workload group on every subject of `benches::subjects()`, in one
//! process. `cargo bench -p benches [-- FILTER]`; criterion ids are `GROUP/SUBJECT`.
//!
//! W2 times one round trip per iteration (through each subject's `Waiter`; the backends' "(channel)"
//! variants run only there); W5 reports the process CPU time of one 100 ms idle
//! window per iteration (the report uses 1 s windows); the others time one whole workload.
//! `blocking` sizes its single pool from `BLOCKING_MAX_THREADS` once per process, so it runs only
//! in the groups whose worker count matches (default 500: none); e.g.
//! `BLOCKING_MAX_THREADS=2 cargo bench -p benches -- blocking`. The `report` binary, which runs
//! each cell in its own process, has no such limit.

use std::time::Duration;

use benches::subjects;
use benches::workloads::{Group, Params};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

/// W5's idle window per iteration.
const IDLE_WINDOW: Duration = Duration::from_millis(100);

fn workloads(c: &mut Criterion) {
    let p = Params::full();
    for group in Group::ALL {
        let mut g = c.benchmark_group(group.id());
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        if let Some(n) = group.criterion_elements(&p) {
            g.throughput(Throughput::Elements(n));
        }
        for factory in subjects().into_iter().filter(|f| f.measures(group)) {
            let pool = match factory.build(group.sizing(&p)) {
                Ok(pool) => pool,
                Err(why) => {
                    eprintln!("{}/{}: skipped: {why}", group.id(), factory.name);
                    continue;
                }
            };
            g.bench_function(factory.name, |b| {
                b.iter_custom(|iters| group.criterion_time(&*pool, &p, IDLE_WINDOW, iters));
            });
        }
        g.finish();
    }
}

criterion_group!(benches, workloads);
criterion_main!(benches);

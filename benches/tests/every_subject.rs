//! Every subject runs every workload (shrunk) to completion, and the report's child mode prints a
//! value for each metric. Liveness only: no numbers are checked.

use std::process::Command;
use std::time::Duration;

use benches::workloads::{Group, Params};
use benches::{Work, subjects};

fn tiny() -> Params {
    Params {
        w1_jobs: 500,
        w2_round_trips: 50,
        w3_submitters: 2,
        w3_jobs_each: 250,
        w4_jobs: 16,
        w4_sleep: Duration::from_micros(200),
        w4_grow_to: 8,
        w5_window: Duration::from_millis(10),
        w6_submitters: 4,
        w6_jobs_each: 50,
        w6_long_every: 10,
        w6_long: Duration::from_micros(20),
        w7_jobs: 16,
        w7_compute: Duration::from_micros(20),
        w7_block: Duration::from_micros(20),
    }
}

#[test]
fn every_subject_finishes_every_workload() {
    let p = tiny();
    for factory in subjects() {
        for group in Group::ALL.into_iter().filter(|g| factory.measures(*g)) {
            // `blocking` is sized once per process; the report test below covers it.
            let Ok(pool) = factory.build(group.sizing(&p)) else {
                continue;
            };
            group.warm_up(&*pool, &p);
            let values = group.run(&*pool, &p);
            assert_eq!(values.len(), group.metrics().len(), "{}", factory.name);
            assert_eq!(
                pool.submit_wait(Work::Empty).waiter(),
                factory.waiter,
                "{}",
                factory.name
            );
        }
    }
}

#[test]
fn report_cell_mode_prints_each_metric_once_per_repetition() {
    for (group, subject) in [
        ("w2", "classic"),
        ("w2", "fast (channel)"),
        ("w3", "blocking"),
        ("w4_grow64", "tokio"),
    ] {
        let g = Group::from_id(group).expect("a group");
        let out = Command::new(env!("CARGO_BIN_EXE_report"))
            .args(["--cell", group, subject, "--reps", "2", "--quick"])
            .env(
                "BLOCKING_MAX_THREADS",
                g.sizing(&Params::quick()).max.to_string(),
            )
            .output()
            .expect("run the report binary");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{group} {subject}: {stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        for m in g.metrics() {
            let lines = stdout
                .lines()
                .filter(|l| l.starts_with(&format!("{} ", m.id())))
                .count();
            assert_eq!(lines, 2, "{group} {subject}: {stdout}");
        }
    }
}

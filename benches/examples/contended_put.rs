//! The cost of a put when submitters put at once (two by default), with the workers held so
//! that only the submitters touch the queue: what the fast backend's backoff on a lost
//! compare-exchange is for.
//!
//! `cargo run --release -p benches --example contended_put [fast|classic] [ROUNDS] [SUBMITTERS]`
//! (defaults: fast, 40 rounds, 2 submitters; 1 submitter gives the uncontended cost)
//!
//! Each round holds both workers with a gate job, lets each submitter put 50k empty jobs, times
//! the puts (wall time per job, all submitters together), then opens the gate; the next round's
//! gate jobs start once the workers have taken every job before them. Prints quantiles over the
//! rounds. A diagnostic, not part of the report.

use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Instant;

use pool_core::{Builder, Pool, PoolExt};

const JOBS_EACH: usize = 50_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "fast".to_owned());
    let mut positive = |what: &str, default: usize| match args.next().map(|r| r.parse()) {
        None => default,
        Some(Ok(r)) if r > 0 => r,
        Some(_) => {
            eprintln!("{what} must be a positive integer");
            std::process::exit(2);
        }
    };
    let rounds = positive("rounds", 40);
    let submitters = positive("submitters", 2);
    let builder = Builder::new().fixed(2);
    let pool: Arc<dyn Pool> = match backend.as_str() {
        "fast" => Arc::new(builder.fast().expect("a valid configuration")),
        "classic" => Arc::new(builder.classic().expect("a valid configuration")),
        other => {
            eprintln!("unknown backend {other:?}: fast or classic");
            std::process::exit(2);
        }
    };
    let mut per_job = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        // Hold both workers until the puts are done: each gate job says it has started, then
        // blocks on the barrier the main thread joins once the puts are timed.
        let gate = Arc::new(Barrier::new(3));
        let (started, holding) = mpsc::channel();
        for _ in 0..2 {
            let gate = Arc::clone(&gate);
            let started = started.clone();
            pool.execute(move || {
                started.send(()).expect("the main thread waits");
                gate.wait();
            })
            .expect("a running pool takes jobs");
        }
        holding.recv().expect("a worker holds");
        holding.recv().expect("a worker holds");
        // Each submitter times its own puts; the round spans the first start to the last end
        // (the main thread may be descheduled while they run).
        let go = Arc::new(Barrier::new(submitters));
        let spans: Vec<(Instant, Instant)> = (0..submitters)
            .map(|_| {
                let pool = Arc::clone(&pool);
                let go = Arc::clone(&go);
                thread::spawn(move || {
                    go.wait();
                    let start = Instant::now();
                    for _ in 0..JOBS_EACH {
                        pool.execute(|| {}).expect("a running pool takes jobs");
                    }
                    (start, Instant::now())
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|s| s.join().expect("a submitter does not panic"))
            .collect();
        let first = spans
            .iter()
            .map(|s| s.0)
            .min()
            .expect("at least one submitter");
        let last = spans
            .iter()
            .map(|s| s.1)
            .max()
            .expect("at least one submitter");
        per_job.push((last - first).as_nanos() as f64 / (submitters * JOBS_EACH) as f64);
        // The next round's gate jobs queue behind these, so it starts once they are taken.
        gate.wait();
    }
    per_job.sort_by(f64::total_cmp);
    let q = |p: f64| per_job[((per_job.len() - 1) as f64 * p).round() as usize];
    println!(
        "{backend}: ns per put, {submitters} submitter(s) at once, {rounds} rounds: p10 {:.1}  p25 {:.1}  median {:.1}  p75 {:.1}  p90 {:.1}",
        q(0.1),
        q(0.25),
        q(0.5),
        q(0.75),
        q(0.9)
    );
}

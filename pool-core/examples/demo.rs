//! The workspace's main job until `pool-http` lands: exercise a pool through every result form
//! and print what it did.
//!
//! `cargo run --release -p pool-core --example demo [classic|fast]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pool_core::{Builder, Pool, PoolExt, ResultQueue};

fn main() {
    let backend = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "classic".to_owned());
    let builder = Builder::new()
        .min(2)
        .max(8)
        .capacity(1024)
        .thread_name("demo");
    let pool: Box<dyn Pool> = match backend.as_str() {
        "classic" => Box::new(builder.classic().expect("valid configuration")),
        "fast" => Box::new(builder.fast().expect("valid configuration")),
        other => {
            eprintln!("unknown backend {other:?}; try: classic or fast");
            std::process::exit(2);
        }
    };
    // The builder returns a running pool with its `min` workers.
    let started = pool.stats().workers;
    println!("{} pool started with {started} workers", pool.backend());

    // Fire-and-forget (cheroot put / twisted callInThread).
    let sum = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    for i in 0..100_000u64 {
        let s = Arc::clone(&sum);
        pool.execute(move || {
            s.fetch_add(i, Ordering::Relaxed);
        })
        .expect("the queue has room");
    }

    // Handles (join), callbacks (twisted callInThreadWithCallback), a batch in input order.
    let squares = pool
        .submit_batch((0..10u64).map(|i| move || i * i))
        .join_all();
    let (tx, rx) = std::sync::mpsc::channel();
    pool.submit_with_callback(
        || "callback ran on a worker",
        move |r| tx.send(r.is_ok()).unwrap(),
    )
    .expect("accepted");
    let answer = pool
        .submit(|| 6 * 7)
        .expect("accepted")
        .join()
        .expect("no panic");

    // Arndt's result queue: callbacks run here, in completion order.
    let mut rq = ResultQueue::new(&*pool);
    for i in 0..5u64 {
        rq.put_request(move || i * 100).expect("accepted");
    }
    let collected: u64 = rq
        .wait()
        .expect("workers are running")
        .iter()
        .map(|c| c.result.as_ref().copied().unwrap_or(0))
        .sum();

    // A panicking job does not kill its worker. (Quiet the default hook's backtrace for it.)
    std::panic::set_hook(Box::new(|info| {
        eprintln!("(a job panicked, as planned: {info})")
    }));
    let panicked = pool
        .submit(|| -> u8 { panic!("a job may panic") })
        .expect("accepted")
        .join();

    let report = pool.stop(Duration::from_secs(10));
    let elapsed = t0.elapsed();
    println!(
        "sum of 0..100000 = {} (expected {})",
        sum.load(Ordering::Relaxed),
        99_999u64 * 100_000 / 2
    );
    println!(
        "batch squares: {:?}",
        squares.into_iter().map(|r| r.ok()).collect::<Vec<_>>()
    );
    println!("callback delivered: {}", rx.recv().unwrap_or(false));
    println!("submit(|| 6 * 7) = {answer}; result queue total = {collected}");
    println!("panicking job handed to its handle: {}", panicked.is_err());
    println!(
        "stopped cleanly: {} ({} jobs in {elapsed:.2?})",
        report.is_clean(),
        report.completed + report.panicked
    );
    println!("--- stats ---\n{}", pool.stats());
}

//! A tour of a pool's ways to take work and give results back, printed as a short report.
//!
//! `cargo run --release -p pool-core --example demo -- [--backend fast|classic]`

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pool_core::ResultQueue;
use pool_core::prelude::*;

/// `writeln!` into the report (writing to a `String` cannot fail).
macro_rules! say {
    ($out:expr) => {{
        $out.push('\n');
    }};
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

const USAGE: &str = "usage: demo [--backend fast|classic]";

/// The message of the demo's one deliberate panic; the panic hook keeps it off stderr.
const PLANNED_PANIC: &str = "a job may panic; its worker lives on";

fn main() -> ExitCode {
    let backend = match parse_args(std::env::args().skip(1)) {
        Ok(b) => b,
        Err(msg) => {
            eprintln!("demo: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&backend) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The backend named by `--backend NAME` / `--backend=NAME` (default `fast`).
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<String, String> {
    let mut backend = "fast".to_owned();
    while let Some(arg) = args.next() {
        let value = if arg == "--backend" {
            args.next()
                .ok_or("--backend needs a value: fast or classic")?
        } else if let Some(v) = arg.strip_prefix("--backend=") {
            v.to_owned()
        } else if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        } else {
            return Err(format!("unknown argument {arg:?}"));
        };
        match value.as_str() {
            "fast" | "classic" => backend = value,
            other => {
                return Err(format!(
                    "unknown backend {other:?}; expected fast or classic"
                ));
            }
        }
    }
    Ok(backend)
}

fn run(backend: &str) -> Result<(), Box<dyn std::error::Error>> {
    // The report is written at the end in one go: a reader piping it into `head` closes stdout
    // early, which must not turn into a panic message.
    let mut out = String::new();
    let builder = Builder::new()
        .min(2)
        .max(8)
        .capacity(1024)
        .thread_name("demo");
    let pool: Box<dyn Pool> = match backend {
        "classic" => Box::new(builder.classic()?),
        _ => Box::new(builder.fast()?),
    };
    // The builder returns a running pool with its `min` workers.
    say!(
        out,
        "pool-core demo: the {} backend, {} of 2 to 8 workers running, a queue of at most 1024 \
         jobs",
        pool.backend(),
        pool.stats().workers
    );
    say!(out,);
    let t0 = Instant::now();

    // Fire and forget (cheroot `put`, twisted `callInThread`).
    let sum = Arc::new(AtomicU64::new(0));
    const N: u64 = 100_000;
    for i in 0..N {
        let s = Arc::clone(&sum);
        pool.execute(move || {
            s.fetch_add(i, Ordering::Relaxed);
        })
        .map_err(|e| e.kind())?;
    }

    // A handle, a callback on the worker, a batch in input order.
    let answer = pool.submit(|| 6 * 7).map_err(|e| e.kind())?.join()?;
    let (tx, rx) = std::sync::mpsc::channel();
    pool.submit_with_callback(
        || std::thread::current().name().unwrap_or("?").to_owned(),
        move |r| {
            let _ = tx.send(r.ok());
        },
    )
    .map_err(|e| e.kind())?;
    let squares: Vec<String> = pool
        .submit_batch((0..8u64).map(|i| move || i * i))
        .join_all()
        .into_iter()
        .map(|r| r.map_or_else(|e| format!("({e})"), |v| v.to_string()))
        .collect();

    // Arndt's result queue: results collected on this thread.
    let mut rq = ResultQueue::new(&*pool);
    for i in 1..=5u64 {
        rq.put_request(move || i * 100).map_err(|e| e.kind())?;
    }
    let collected: u64 = rq
        .wait()?
        .iter()
        .filter_map(|c| c.result.as_ref().ok())
        .sum();

    // Scoped jobs borrow from this stack frame; map keeps input order.
    let words = ["scoped", "jobs", "borrow", "from", "the", "stack"];
    let mut lengths = [0usize; 6];
    let taken_before = pool.stats().cancelled;
    pool.scope(|s| {
        for (w, l) in words.iter().zip(lengths.iter_mut()) {
            s.spawn(move || *l = w.len());
        }
    });
    let taken_back = pool.stats().cancelled - taken_before;
    let cubes = pool
        .map(1..=5u64, |x| x * x * x)
        .collect::<Result<Vec<_>, _>>()?;

    // A panicking job reaches its handle; the worker survives. The default panic hook would
    // print the planned panic to stderr: let this one through quietly, and any other as usual.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let msg = p
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| p.downcast_ref::<String>().map(String::as_str));
        if msg != Some(PLANNED_PANIC) {
            default_hook(info);
        }
    }));
    let panicked = pool
        .submit(|| -> u8 { panic!("{}", PLANNED_PANIC) })
        .map_err(|e| e.kind())?
        .join();
    let _ = std::panic::take_hook();

    let report = pool.stop(Duration::from_secs(10));
    let elapsed = t0.elapsed();

    let expected = (N - 1) * N / 2;
    let ok = |b: bool| if b { "as expected" } else { "WRONG" };
    let total = sum.load(Ordering::Relaxed);
    say!(
        out,
        "  fire and forget  {N} jobs added up 0..{N} = {total} ({})",
        ok(total == expected)
    );
    say!(out, "  submit + join    6 * 7 = {answer}");
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Some(name)) => say!(out, "  callback         ran on worker thread {name:?}"),
        _ => say!(out, "  callback         did not report back"),
    }
    say!(
        out,
        "  batch            squares of 0..8: {}",
        squares.join(", ")
    );
    say!(
        out,
        "  result queue     5 requests collected here, total {collected}"
    );
    say!(
        out,
        "  scope            word lengths, computed in place: {} ({taken_back} of the 6 jobs run by \
         the waiting thread itself; the pool counts those as cancelled)",
        lengths.map(|l| l.to_string()).join(", ")
    );
    say!(
        out,
        "  map              cubes of 1..=5 in input order: {}",
        cubes
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    match panicked {
        Err(e) => say!(
            out,
            "  panic            caught and handed to the job's handle: {e}"
        ),
        Ok(v) => say!(
            out,
            "  panic            the job returned {v} instead of panicking (WRONG)"
        ),
    }
    say!(out,);
    say!(
        out,
        "stopped {} after {elapsed:.1?}: {} jobs completed, {} panicked",
        if report.is_clean() {
            "cleanly"
        } else {
            "with workers still running"
        },
        report.completed,
        report.panicked
    );
    say!(out,);
    say!(out, "final stats:");
    for line in pool.stats().to_string().lines() {
        say!(out, "  {line}");
    }
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(())
}

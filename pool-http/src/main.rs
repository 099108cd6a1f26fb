//! `pool-http`: serve a directory over HTTP/1.1 on a pool of the workspace.
//!
//! `cargo run --release` at the workspace root serves `docs/` on `127.0.0.1:8080`; SIGINT or
//! SIGTERM stops it with a 5 s deadline and prints the report.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use pool_core::{Builder, Pool};
use pool_http::{Config, Limits, Server, StaticFiles};

/// A strict HTTP/1.1 static-file server whose requests run on a thread pool.
#[derive(Parser, Debug)]
#[command(name = "pool-http", version, allow_negative_numbers = true)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// The pool backend.
    #[arg(long, value_enum, default_value_t = Backend::Fast)]
    backend: Backend,
    /// Workers kept even when idle.
    #[arg(long, default_value_t = 4)]
    min_workers: usize,
    /// Most workers at once.
    #[arg(long, default_value_t = 16, value_parser = positive_usize)]
    max_workers: usize,
    /// Requests waiting for a worker (the pool's bounded accepted queue).
    #[arg(long, default_value_t = 256, value_parser = positive_usize)]
    queue_size: usize,
    /// Seconds a request may wait for room in the queue before a 503 (fractions accepted).
    #[arg(long, default_value = "10", value_parser = seconds)]
    queue_timeout: Duration,
    /// Seconds for a request head to arrive before a 408.
    #[arg(long, default_value = "10", value_parser = positive_seconds)]
    header_timeout: Duration,
    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, default_value = "5", value_parser = positive_seconds)]
    keep_alive_timeout: Duration,
    /// Largest request head, bytes (431 above it).
    #[arg(long, default_value_t = 32 * 1024, value_parser = head_bytes)]
    max_header_bytes: usize,
    /// Largest request body, bytes (413 above it).
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    max_body_bytes: u64,
    /// Show a handler's panic text in 500 pages (never do this facing the public).
    #[arg(long)]
    debug_errors: bool,
    /// Do not serve the live stats page (`/_stats`, `/_stats.json`).
    #[arg(long)]
    no_stats: bool,
    /// The directory to serve.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs"))]
    root: PathBuf,
    /// Log each request (access log) and more with -vv.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Backend {
    /// One mutex and condvars: the reference backend.
    Classic,
    /// Lock-free put / take: the fast backend.
    Fast,
    /// Workers on one I/O completion port (pool-iocp: a real port on Windows, the emulated
    /// port elsewhere); concurrency = the machine's cores.
    Iocp,
}

fn positive_usize(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a whole number ({e})")),
    }
}

fn head_bytes(s: &str) -> Result<usize, String> {
    let n = positive_usize(s)?;
    if n < 256 {
        return Err("must be at least 256".into());
    }
    Ok(n)
}

fn seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !v.is_finite() || !(0.0..=1e9).contains(&v) {
        return Err(format!("{s} must be a number of seconds from 0 to 1e9"));
    }
    Ok(Duration::from_secs_f64(v))
}

fn positive_seconds(s: &str) -> Result<Duration, String> {
    let d = seconds(s)?;
    if d.is_zero() {
        return Err("must be more than 0 seconds".into());
    }
    Ok(d)
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let level = match args.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_max_level(
            level
                .parse::<tracing::Level>()
                .unwrap_or(tracing::Level::WARN),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pool-http: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.min_workers > args.max_workers {
        return Err(format!(
            "--min-workers {} must not exceed --max-workers {}",
            args.min_workers, args.max_workers
        )
        .into());
    }
    let files = StaticFiles::new(&args.root).map_err(|e| format!("--root: {e}"))?;
    let builder = Builder::new()
        .min(args.min_workers)
        .max(args.max_workers)
        .capacity(args.queue_size)
        .thread_name("pool-http-worker");
    let pool: Arc<dyn Pool> = match args.backend {
        Backend::Classic => Arc::new(builder.classic()?),
        Backend::Fast => Arc::new(builder.fast()?),
        Backend::Iocp => Arc::new(pool_iocp::IocpBuilder::from_builder(builder).build()?),
    };
    let config = Config {
        limits: Limits {
            max_header_bytes: args.max_header_bytes,
            max_body_bytes: args.max_body_bytes,
            ..Limits::default()
        },
        header_timeout: args.header_timeout,
        keep_alive_timeout: args.keep_alive_timeout,
        queue_timeout: args.queue_timeout,
        debug_errors: args.debug_errors,
        stats_page: !args.no_stats,
        ..Config::default()
    };
    let (tx, rx) = crossbeam_channel::bounded(1);
    ctrlc::set_handler(move || {
        let _ = tx.try_send(());
    })
    .map_err(|e| format!("cannot install the SIGINT/SIGTERM handler: {e}"))?;
    let root = files.root().to_path_buf();
    let server = Server::bind(args.bind, pool, files, config)
        .map_err(|e| format!("--bind {}: {e}", args.bind))?;
    eprintln!(
        "pool-http: serving {} on http://{} ({:?} backend, {}..{} workers, queue {}); Ctrl-C stops",
        root.display(),
        server.local_addr(),
        args.backend,
        args.min_workers,
        args.max_workers,
        args.queue_size
    );
    let _ = rx.recv();
    eprintln!("pool-http: stopping (5 s deadline)");
    let report = server.stop(Duration::from_secs(5));
    println!("{report}");
    Ok(())
}

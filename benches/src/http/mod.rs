//! The HTTP section of the report: pool-http on each backend against hello-world servers on
//! tiny_http, astra and hyper + tokio, each in its own process, one at a time, all on
//! `127.0.0.1`.
//!
//! - `http-c64`: 64 keep-alive connections, one request outstanding on each, for a fixed time
//!   (or a request budget): requests/s, p50/p99/p99.9, requests per second of the server's CPU
//!   time (`/proc/<pid>/stat`) and how many of the 64 connections got responses; a server that
//!   starved a connection is marked in the table.
//! - `http-idle10k`: 10,000 idle keep-alive connections (each answered once), then a fresh
//!   client's latency over 1,000 requests and the server's resident memory.
//!
//! The servers are in [`servers`], the load client in [`client`], the measurements in
//! [`harness`], the tables, chart and JSON records in [`render`].

pub mod client;
pub mod harness;
pub mod render;
pub mod servers;

use std::path::Path;
use std::time::{Duration, Instant};

use client::Load;
use harness::{IdleFigures, LoadFigures, ServerProcess};
use servers::ServerKind;

/// How big the HTTP section is.
#[derive(Clone, Copy, Debug)]
pub struct HttpParams {
    /// Rounds over every server.
    pub runs: usize,
    /// The untimed warm-up load before each measured one.
    pub warm: Load,
    /// The measured 64-connection load.
    pub load: Load,
    /// Idle connections of the big-idle case.
    pub idle_connections: usize,
    /// Requests the fresh client times in the big-idle case.
    pub fresh_requests: usize,
    /// How long the big-idle case may spend opening its connections (a server that leaves new
    /// connections unanswered costs 2 s a batch).
    pub idle_open_budget: Duration,
}

impl HttpParams {
    /// The full report: 3 rounds of 10 s (the `wrk -t2 -c64 -d10s` of issue 15).
    pub fn full() -> HttpParams {
        HttpParams {
            runs: 3,
            warm: Load {
                connections: 64,
                threads: 2,
                duration: Duration::from_secs(1),
                max_requests: 2_000_000,
            },
            load: Load {
                connections: 64,
                threads: 2,
                duration: Duration::from_secs(10),
                max_requests: 20_000_000,
            },
            idle_connections: 10_000,
            fresh_requests: 1_000,
            idle_open_budget: Duration::from_secs(30),
        }
    }

    /// CI: one round of 1 s; the big-idle case at full size (it takes a second or two).
    pub fn quick() -> HttpParams {
        let mut p = HttpParams::full();
        p.runs = 1;
        p.warm.duration = Duration::from_millis(200);
        p.load.duration = Duration::from_secs(1);
        p.idle_open_budget = Duration::from_secs(8);
        p
    }
}

/// One server's figures in one round.
#[derive(Clone, Debug)]
pub struct HttpRun {
    /// Which server.
    pub server: ServerKind,
    /// The round (0-based).
    pub round: usize,
    /// The 64-connection load, or why it failed.
    pub load: Result<LoadFigures, String>,
    /// The big-idle case, or why it failed.
    pub idle: Result<IdleFigures, String>,
}

/// Everything the HTTP section measured.
#[derive(Clone, Debug)]
pub struct HttpResults {
    /// The parameters it ran with.
    pub params: HttpParams,
    /// Every (server, round).
    pub runs: Vec<HttpRun>,
    /// The servers, in report order.
    pub servers: Vec<ServerKind>,
    /// What happened to `RLIMIT_NOFILE` (raised to the hard limit, or why not).
    pub nofile: String,
}

/// Raises this process's `RLIMIT_NOFILE` soft limit to the hard limit (the servers inherit it);
/// says what it got.
pub fn raise_nofile() -> (u64, String) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => (n, format!("RLIMIT_NOFILE raised to the hard limit, {n}")),
        Err(e) => {
            let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |(s, _)| s);
            (
                soft,
                format!("RLIMIT_NOFILE could not be raised ({e}); soft limit {soft}"),
            )
        }
    }
}

/// Measures every server in `servers` for `p.runs` rounds (order rotated each round), each
/// case in a fresh server process (this binary, `exe --serve NAME`). Logs progress to stderr.
pub fn run_section(exe: &Path, servers: &[ServerKind], mut p: HttpParams) -> HttpResults {
    let (limit, nofile) = raise_nofile();
    // Each side holds one descriptor per connection; keep some for everything else.
    let room = usize::try_from(limit.saturating_sub(256)).unwrap_or(usize::MAX);
    let nofile = if room < p.idle_connections {
        p.idle_connections = room;
        format!("{nofile}: the big-idle case holds only {room} connections")
    } else {
        nofile
    };
    eprintln!("http: {nofile}");
    let mut runs = Vec::new();
    for round in 0..p.runs {
        for k in 0..servers.len() {
            let server = servers[(k + round) % servers.len()];
            let t = Instant::now();
            let load = ServerProcess::start(exe, server)
                .and_then(|s| harness::measure_load(&s, p.warm, p.load));
            let idle = ServerProcess::start(exe, server).and_then(|s| {
                harness::measure_idle(&s, p.idle_connections, p.fresh_requests, p.idle_open_budget)
            });
            eprintln!(
                "[http {}/{}] {:<18} {:>6.2} s  {}  |  {}",
                round + 1,
                p.runs,
                server.name(),
                t.elapsed().as_secs_f64(),
                match &load {
                    Ok(l) => format!(
                        "{:.0} req/s, p99 {:.0} µs, {:.0} req/CPU-s, {}/{} served",
                        l.rate,
                        l.p99 / 1e3,
                        l.per_cpu_s,
                        l.served,
                        l.connections
                    ),
                    Err(e) => format!("load FAILED: {e}"),
                },
                match &idle {
                    Ok(i) => format!(
                        "idle {}: p99 {:.2} ms, {:.0} B/conn, {} held",
                        i.opened,
                        i.p99 / 1e6,
                        i.per_connection(),
                        i.held
                    ),
                    Err(e) => format!("idle FAILED: {e}"),
                }
            );
            runs.push(HttpRun {
                server,
                round,
                load,
                idle,
            });
        }
    }
    HttpResults {
        params: p,
        runs,
        servers: servers.to_vec(),
        nofile,
    }
}

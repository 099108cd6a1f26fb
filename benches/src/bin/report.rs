//! Runs every workload on every subject and writes `docs/benchmarks.md`, `docs/benchmarks.svg`
//! and `<target dir>/bench-report.json`.
//!
//! ```text
//! cargo run --release -p benches --bin report              # 3 runs × 5 repetitions per cell
//! cargo run --release -p benches --bin report -- --quick   # 1 run × 3 repetitions (CI)
//! ```
//!
//! Options: `--runs N`, `--reps N`, `--only NAME,NAME` (subjects), `--docs DIR`, `--json PATH`,
//! `--cell-timeout SECS`, `--no-http` (skip the HTTP section), `--http-only` (only the HTTP
//! section; the pool tables stay empty), `--http-servers NAME,NAME`. The HTTP section (`benches::http`) runs each server in
//! a child process of this binary (`--serve NAME`) and writes `docs/benchmarks-http.svg`. Each (workload, subject) cell runs in a child process of this binary
//! (`--cell GROUP SUBJECT`): every pool starts from a clean process, the process CPU clock sees
//! only that pool, and `blocking` (sized once per process from `BLOCKING_MAX_THREADS`) gets each
//! workload's size. The report never asserts numbers; a cell that fails or times out is shown as
//! such.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use std::{env, fs, thread};

use benches::http::{self, HttpParams, servers::ServerKind};
use benches::machine::Machine;
use benches::report::{self, Cell, Results};
use benches::stats::median;
use benches::workloads::{Group, Metric, Params, idle_cpu};
use benches::{Factory, subjects};

/// The command line.
struct Args {
    quick: bool,
    runs: usize,
    reps: usize,
    only: Option<Vec<String>>,
    docs: PathBuf,
    json: PathBuf,
    cell_timeout: Duration,
    /// Internal: measure one cell and print `metric value` lines.
    cell: Option<(String, String)>,
    /// Internal: run one HTTP server until stdin closes.
    serve: Option<String>,
    no_http: bool,
    http_only: bool,
    /// The HTTP servers to measure (all by default).
    http_servers: Vec<ServerKind>,
}

const USAGE: &str = "usage: report [--quick] [--runs N] [--reps N] [--only NAME,NAME] \
    [--docs DIR] [--json PATH] [--cell-timeout SECS] [--no-http | --http-only] [--http-servers NAME,NAME]";

fn parse_args() -> Result<Args, String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut args = Args {
        quick: false,
        runs: 0,
        reps: 0,
        only: None,
        docs: workspace.join("docs"),
        json: target_dir(&workspace).join("bench-report.json"),
        cell_timeout: Duration::from_secs(120),
        cell: None,
        serve: None,
        no_http: false,
        http_only: false,
        http_servers: ServerKind::ALL.to_vec(),
    };
    let mut it = env::args().skip(1);
    let number = |v: Option<String>, flag: &str| -> Result<usize, String> {
        v.and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{flag} needs a positive number\n{USAGE}"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => args.quick = true,
            "--runs" => args.runs = number(it.next(), "--runs")?,
            "--reps" => args.reps = number(it.next(), "--reps")?,
            "--cell-timeout" => {
                let secs = number(it.next(), "--cell-timeout")?;
                args.cell_timeout = Duration::from_secs(u64::try_from(secs).unwrap_or(u64::MAX));
            }
            "--only" => {
                let v = it.next().ok_or(format!("--only needs names\n{USAGE}"))?;
                args.only = Some(v.split(',').map(str::to_owned).collect());
            }
            "--docs" => args.docs = it.next().ok_or(USAGE)?.into(),
            "--json" => args.json = it.next().ok_or(USAGE)?.into(),
            "--cell" => {
                let g = it.next().ok_or(USAGE)?;
                let s = it.next().ok_or(USAGE)?;
                args.cell = Some((g, s));
            }
            "--serve" => args.serve = Some(it.next().ok_or(USAGE)?),
            "--no-http" => args.no_http = true,
            "--http-only" => args.http_only = true,
            "--http-servers" => {
                let v = it
                    .next()
                    .ok_or(format!("--http-servers needs names\n{USAGE}"))?;
                args.http_servers = v
                    .split(',')
                    .map(|n| {
                        ServerKind::from_name(n).ok_or_else(|| {
                            let all: Vec<&str> = ServerKind::ALL.iter().map(|k| k.name()).collect();
                            format!(
                                "--http-servers: no server {n:?} (one of {})",
                                all.join(", ")
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            // `cargo bench` passes `--bench` to every target it runs.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if args.runs == 0 {
        args.runs = if args.quick { 1 } else { 3 };
    }
    if args.reps == 0 {
        args.reps = if args.quick { 3 } else { 5 };
    }
    Ok(args)
}

/// The cargo target directory this binary was built in (the ancestor holding `CACHEDIR.TAG`, so
/// `CARGO_TARGET_DIR` is honoured), else `<workspace>/target`.
fn target_dir(workspace: &Path) -> PathBuf {
    env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|d| d.join("CACHEDIR.TAG").is_file())
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| workspace.join("target"))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(name) = &args.serve {
        let Some(kind) = ServerKind::from_name(name) else {
            eprintln!("no server {name:?}");
            return ExitCode::from(2);
        };
        return match http::servers::serve(kind) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{name}: {e}");
                ExitCode::from(3)
            }
        };
    }
    let params = if args.quick {
        Params::quick()
    } else {
        Params::full()
    };
    if let Some((group, subject)) = &args.cell {
        // The cell enforces its own deadline: a watchdog waits for the measurement to finish
        // (a channel, not a poll) and ends the process if the deadline passes first, so the
        // parent just waits for it.
        let (finished, watch) = std::sync::mpsc::channel::<()>();
        let timeout = args.cell_timeout;
        thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(timeout) {
                eprintln!("timed out after {} s", timeout.as_secs());
                std::process::exit(4);
            }
        });
        let r = measure_cell(group, subject, args.reps, &params);
        drop(finished);
        return match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(3)
            }
        };
    }
    match report(&args, &params) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("report: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Child mode: build the subject, warm up, run `reps` repetitions, print `metric value` lines.
fn measure_cell(group: &str, subject: &str, reps: usize, p: &Params) -> Result<(), String> {
    let group = Group::from_id(group).ok_or_else(|| format!("no workload {group:?}"))?;
    let factory = subjects()
        .into_iter()
        .find(|f| f.name == subject)
        .ok_or_else(|| format!("no subject {subject:?}"))?;
    if !factory.measures(group) {
        return Err(format!(
            "{subject:?} is {:?} with another waiter; it is measured only where the waiter matters",
            factory.variant_of.unwrap_or_default()
        ));
    }
    let pool = factory.build(group.sizing(p)).map_err(|e| e.to_string())?;
    group.warm_up(&*pool, p);
    let mut out = String::new();
    for _ in 0..reps {
        for (metric, value) in group.metrics().iter().zip(group.run(&*pool, p)) {
            let value = value.map_or_else(|| "none".to_owned(), |v| v.to_string());
            out.push_str(&format!("{} {value}\n", metric.id()));
        }
    }
    drop(pool);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| e.to_string())
}

/// Parent mode: every cell of every run in a child, then the three files.
fn report(args: &Args, p: &Params) -> Result<(), String> {
    let exe = env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let all = subjects();
    let chosen: Vec<Factory> = match &args.only {
        Some(names) => {
            for n in names {
                if !all.iter().any(|f| f.name == n) {
                    return Err(format!("no subject {n:?}"));
                }
            }
            all.into_iter()
                .filter(|f| names.iter().any(|n| n == f.name))
                .collect()
        }
        None => all,
    };
    let mut cells: BTreeMap<(Metric, &'static str), Cell> = BTreeMap::new();
    let mut baseline = Vec::new();
    let started = Instant::now();
    for run in 0..if args.http_only { 0 } else { args.runs } {
        // W5's floor: this process, no pool, nothing running, the same window.
        let floor: Vec<f64> = (0..args.reps)
            .filter_map(|_| idle_cpu(p.w5_window))
            .map(|d| d.as_nanos() as f64)
            .collect();
        baseline.extend(median(&floor));
        for group in Group::ALL {
            // Rotate the order each run so no subject always goes first.
            for k in 0..chosen.len() {
                let f = &chosen[(k + run) % chosen.len()];
                if !f.measures(group) {
                    continue;
                }
                let t = Instant::now();
                let outcome = run_cell(&exe, args, p, group, f);
                eprintln!(
                    "[run {}/{}] {:<10} {:<18} {:>6.2} s{}",
                    run + 1,
                    args.runs,
                    group.id(),
                    f.name,
                    t.elapsed().as_secs_f64(),
                    outcome
                        .as_ref()
                        .err()
                        .map_or_else(String::new, |e| format!("  FAILED: {e}"))
                );
                for metric in group.metrics() {
                    let cell = cells.entry((*metric, f.name)).or_default();
                    match &outcome {
                        Ok(values) => match values.get(metric).and_then(|v| median(v)) {
                            Some(m) => cell.run_medians.push(m),
                            None => cell.error = Some("no value measured".to_owned()),
                        },
                        Err(e) => cell.error = Some(e.clone()),
                    }
                }
            }
        }
    }
    eprintln!("measured in {:.1} s", started.elapsed().as_secs_f64());
    let results = Results {
        mode: if args.quick { "quick" } else { "full" },
        runs: args.runs,
        reps: args.reps,
        machine: Machine::detect(),
        subjects: chosen,
        cells,
        idle_baseline_ns: median(&baseline),
    };
    let mut md = report::markdown(&results);
    let mut extra = Vec::new();
    if !args.no_http {
        let mut hp = if args.quick {
            HttpParams::quick()
        } else {
            HttpParams::full()
        };
        hp.runs = args.runs;
        let t = Instant::now();
        let h = http::run_section(&exe, &args.http_servers, hp);
        eprintln!(
            "http section measured in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        md.push_str(&http::render::markdown(&h));
        let m = &results.machine;
        let machine = format!(
            "{}, {} cores, kernel {}, {}",
            m.cpu_model, m.cores, m.kernel, m.date
        );
        write(
            &args.docs.join("benchmarks-http.svg"),
            &http::render::svg(&h, &machine),
        )?;
        extra = http::render::json_records(&h);
    }
    write(&args.docs.join("benchmarks.md"), &md)?;
    write(&args.docs.join("benchmarks.svg"), &report::svg(&results))?;
    write(&args.json, &report::json_with(&results, &extra))?;
    print!("{md}");
    Ok(())
}

fn write(path: &Path, contents: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    fs::write(path, contents).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Runs one cell in a child process; the values of each metric, one per repetition.
fn run_cell(
    exe: &Path,
    args: &Args,
    p: &Params,
    group: Group,
    f: &Factory,
) -> Result<BTreeMap<Metric, Vec<f64>>, String> {
    let mut cmd = Command::new(exe);
    cmd.args([
        "--cell",
        group.id(),
        f.name,
        "--reps",
        &args.reps.to_string(),
    ])
    .env("BLOCKING_MAX_THREADS", group.sizing(p).max.to_string())
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if args.quick {
        cmd.arg("--quick");
    }
    cmd.args(["--cell-timeout", &args.cell_timeout.as_secs().to_string()]);
    // The child ends itself at its deadline (see `main`), so this wait is bounded.
    let child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("output: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("").trim();
        return Err(format!("{} ({last})", out.status));
    }
    let mut values: BTreeMap<Metric, Vec<f64>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((id, v)) = line.split_once(' ') else {
            continue;
        };
        let (Some(metric), Ok(v)) = (Metric::from_id(id), v.parse::<f64>()) else {
            continue;
        };
        values.entry(metric).or_default().push(v);
    }
    Ok(values)
}

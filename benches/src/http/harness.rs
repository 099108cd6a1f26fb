//! Runs one server in its own process and measures it: the 64-connection load (throughput,
//! latency, CPU time from `/proc/<pid>/stat`, connections served) and the big-idle case (many
//! idle keep-alive connections, a fresh client's latency, the server's resident memory).

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::client::{self, Load, Parsed, REQUEST, parse_response};
use super::servers::ServerKind;

/// A server running in a child process (`<exe> --serve NAME`); dropping it stops it.
pub struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `kind` and waits (up to 10 s) for the address it listens on.
    pub fn start(exe: &Path, kind: ServerKind) -> Result<ServerProcess, String> {
        let mut child = Command::new(exe)
            .args(["--serve", kind.name()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", kind.name()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let r = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = tx.send(r);
        });
        let mut p = ServerProcess {
            child,
            stdin,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(format!("{} did not start: {e}", kind.name())),
            Err(_) => return Err(format!("{} did not start within 10 s", kind.name())),
        };
        p.addr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("{} said {line:?}, not `listening ADDR`", kind.name()))?;
        Ok(p)
    }

    /// The server's user + system CPU time so far (`/proc/<pid>/stat`, clock ticks).
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        cpu_from_stat(&stat, ticks_per_second())
    }

    /// The server's resident memory, bytes (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        rss_from_status(&status)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.stdin.take()); // the server exits when its stdin closes
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ticks_per_second() -> u64 {
    #[cfg(unix)]
    {
        rustix::param::clock_ticks_per_second()
    }
    #[cfg(not(unix))]
    {
        100
    }
}

/// utime + stime of a `/proc/<pid>/stat` line (fields 14 and 15; the name in parentheses may
/// hold spaces, so fields are counted after its closing parenthesis).
pub fn cpu_from_stat(stat: &str, ticks_per_s: u64) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let ticks = utime + stime;
    let tps = ticks_per_s.max(1);
    Some(
        Duration::from_secs(ticks / tps)
            + Duration::from_nanos((ticks % tps) * 1_000_000_000 / tps),
    )
}

/// `VmRSS` of a `/proc/<pid>/status`, bytes.
pub fn rss_from_status(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The 64-connection figures of one run.
#[derive(Clone, Debug)]
pub struct LoadFigures {
    /// Responses per second.
    pub rate: f64,
    /// Latency quantiles, ns.
    pub p50: f64,
    /// 99th percentile, ns.
    pub p99: f64,
    /// 99.9th percentile, ns.
    pub p999: f64,
    /// Responses per second of the server's CPU time.
    pub per_cpu_s: f64,
    /// The server's CPU time during the load, s.
    pub cpu_s: f64,
    /// Connections that received at least one response.
    pub served: usize,
    /// Connections asked for.
    pub connections: usize,
    /// Connections reopened after a close, reset or non-200.
    pub errors: u64,
}

/// Warms `server` up with `warm`, then measures `load` on it.
pub fn measure_load(server: &ServerProcess, warm: Load, load: Load) -> Result<LoadFigures, String> {
    client::run(server.addr, warm).map_err(|e| format!("warm-up: {e}"))?;
    let cpu0 = server
        .cpu_time()
        .ok_or("cannot read the server's CPU time")?;
    let r = client::run(server.addr, load).map_err(|e| format!("load: {e}"))?;
    let cpu1 = server
        .cpu_time()
        .ok_or("cannot read the server's CPU time")?;
    let cpu_s = (cpu1.saturating_sub(cpu0)).as_secs_f64();
    let q = |q: f64| r.latency(q).map_or(f64::NAN, |v| v as f64);
    Ok(LoadFigures {
        rate: r.rate(),
        p50: q(0.5),
        p99: q(0.99),
        p999: q(0.999),
        per_cpu_s: if cpu_s > 0.0 {
            r.responses as f64 / cpu_s
        } else {
            f64::NAN
        },
        cpu_s,
        served: r.served(),
        connections: load.connections,
        errors: r.errors,
    })
}

/// The big-idle figures of one run.
#[derive(Clone, Debug)]
pub struct IdleFigures {
    /// Idle connections asked for.
    pub wanted: usize,
    /// Idle connections opened and answered once.
    pub opened: usize,
    /// Of those, still open after the fresh client's requests.
    pub held: usize,
    /// Connections opened that got no response within 2 s (closed, not counted in `opened`).
    pub unanswered: usize,
    /// The fresh client's latency, ns.
    pub p50: f64,
    /// 99th percentile, ns.
    pub p99: f64,
    /// The fresh client's requests that got a `200`.
    pub fresh_ok: usize,
    /// Server RSS before the idle connections, bytes.
    pub rss_before: u64,
    /// Server RSS with them open (after the fresh client), bytes.
    pub rss_with: u64,
}

impl IdleFigures {
    /// Resident memory added per idle connection, bytes.
    pub fn per_connection(&self) -> f64 {
        self.rss_with.saturating_sub(self.rss_before) as f64 / self.opened.max(1) as f64
    }
}

/// One blocking request on `sock` (reading into `buf`); the response's status.
fn request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Result<u16, String> {
    sock.write_all(REQUEST).map_err(|e| format!("write: {e}"))?;
    let mut end = 0;
    loop {
        if end == buf.len() {
            buf.resize(buf.len().max(1024) * 2, 0);
        }
        let n = sock
            .read(&mut buf[end..])
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed by the server".into());
        }
        end += n;
        if let Parsed::Done { status, len } = parse_response(&buf[..end])? {
            if len != end {
                return Err("more bytes than one response".into());
            }
            return Ok(status);
        }
    }
}

fn open(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(ANSWER_WITHIN))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// How long a connection of the big-idle case (or a fresh request) waits for its response.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// Opens `wanted` keep-alive connections, each answered once and then left idle (in batches of
/// 64, each batch answered before the next opens, so no accept backlog overflows; a connection
/// not answered within 2 s is counted and closed; the opening stops after `budget`), then times
/// `fresh` requests on a new connection and reads the server's memory.
pub fn measure_idle(
    server: &ServerProcess,
    wanted: usize,
    fresh: usize,
    budget: Duration,
) -> Result<IdleFigures, String> {
    let mut buf = vec![0; 4096];
    let mut unanswered = 0;
    // Warm up on connections of their own; a server that loses a new connection gets others.
    let mut warm_ok = 0;
    for _ in 0..10 {
        let Ok(mut warm) = open(server.addr) else {
            continue;
        };
        while warm_ok < 100 && request(&mut warm, &mut buf).is_ok() {
            warm_ok += 1;
        }
        if warm_ok == 100 {
            break;
        }
    }
    if warm_ok < 100 {
        return Err(format!("warm-up: {warm_ok} of 100 requests answered"));
    }
    let rss_before = server.rss().ok_or("cannot read the server's RSS")?;
    let mut idle: Vec<TcpStream> = Vec::with_capacity(wanted);
    let mut failure = None;
    let started = Instant::now();
    'open: while idle.len() < wanted {
        if started.elapsed() > budget {
            failure = Some(format!(
                "{} opened in {:.0} s",
                idle.len(),
                budget.as_secs_f64()
            ));
            break;
        }
        let batch = (wanted - idle.len()).min(64);
        let mut fresh_batch = Vec::with_capacity(batch);
        for _ in 0..batch {
            match open(server.addr).and_then(|mut s| {
                s.write_all(REQUEST).map_err(|e| format!("write: {e}"))?;
                Ok(s)
            }) {
                Ok(s) => fresh_batch.push(s),
                Err(e) => {
                    failure = Some(e);
                    break 'open;
                }
            }
        }
        let deadline = Instant::now() + ANSWER_WITHIN;
        for mut s in fresh_batch {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            if s.set_read_timeout(Some(left)).is_ok() && read_one(&mut s, &mut buf).is_ok() {
                idle.push(s);
            } else {
                unanswered += 1;
            }
        }
    }
    if idle.len() < wanted / 2 {
        return Err(format!(
            "only {} idle connections ({unanswered} not answered within {} s{})",
            idle.len(),
            ANSWER_WITHIN.as_secs(),
            failure.map_or_else(String::new, |f| format!("; {f}"))
        ));
    }
    let opened = idle.len();
    let after = |e: String| format!("the fresh client, after {opened} idle connections: {e}");
    let mut fresh_sock = open(server.addr).map_err(after)?;
    let mut lat = Vec::with_capacity(fresh);
    let mut fresh_ok = 0;
    for _ in 0..fresh {
        let t = Instant::now();
        match request(&mut fresh_sock, &mut buf) {
            Ok(200) => fresh_ok += 1,
            Ok(_) => {}
            Err(_) => {
                // Timed out or closed: a new connection for the next request; this one's
                // latency (at least the 2 s waited) still counts.
                fresh_sock = open(server.addr).map_err(after)?;
            }
        }
        lat.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    lat.sort_unstable();
    let rss_with = server.rss().ok_or("cannot read the server's RSS")?;
    let held = idle.iter().filter(|s| still_open(s)).count();
    let q = |q: f64| crate::stats::percentile(&lat, q).map_or(f64::NAN, |v| v as f64);
    Ok(IdleFigures {
        wanted,
        opened,
        held,
        unanswered,
        p50: q(0.5),
        p99: q(0.99),
        fresh_ok,
        rss_before,
        rss_with,
    })
}

/// Reads one whole response (to a request already written).
fn read_one(s: &mut TcpStream, buf: &mut [u8]) -> Result<(), String> {
    let mut end = 0;
    loop {
        let n = s.read(&mut buf[end..]).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("an idle connection was closed before its response".into());
        }
        end += n;
        match parse_response(&buf[..end])? {
            Parsed::Done { .. } => return Ok(()),
            Parsed::Partial if end == buf.len() => return Err("response too large".into()),
            Parsed::Partial => {}
        }
    }
}

/// Whether the server still holds `s` open (a read would block rather than see EOF).
fn still_open(s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return false;
    }
    let mut b = [0u8; 1];
    matches!((&*s).read(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_from_a_stat_line_with_spaces_in_the_name() {
        let stat = "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3";
        assert_eq!(cpu_from_stat(stat, 100), Some(Duration::from_secs(3)));
        assert_eq!(cpu_from_stat(stat, 1000), Some(Duration::from_millis(300)));
        assert_eq!(cpu_from_stat("garbage", 100), None);
    }

    #[test]
    fn rss_from_a_status_file() {
        let s = "Name:\tx\nVmPeak:\t  9999 kB\nVmRSS:\t    2048 kB\nThreads:\t3\n";
        assert_eq!(rss_from_status(s), Some(2048 * 1024));
        assert_eq!(rss_from_status("Name:\tx\n"), None);
    }
}

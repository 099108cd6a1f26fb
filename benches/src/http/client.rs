//! The load client of the HTTP section: keep-alive `GET /` requests, one outstanding per
//! connection (as `wrk` does), on a few threads each driving its share of the connections
//! through `mio`. Unlike `wrk` it counts the responses each connection received, so a server
//! that starves some connections is seen. Bounded in requests and in time; loopback only.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};

/// The request every connection sends.
pub const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: benches\r\n\r\n";

/// What a load run asks for.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Connections kept open at once.
    pub connections: usize,
    /// Client threads (the connections are split between them).
    pub threads: usize,
    /// The run ends after this long ...
    pub duration: Duration,
    /// ... or after this many responses in all, whichever comes first.
    pub max_requests: u64,
}

/// What a load run measured.
#[derive(Clone, Debug, Default)]
pub struct LoadResult {
    /// Complete `200` responses.
    pub responses: u64,
    /// From the first request to the end of the run.
    pub elapsed: Duration,
    /// Every response's latency (request written to response read), sorted.
    pub latencies_ns: Vec<u64>,
    /// Responses per connection slot, in slot order.
    pub per_connection: Vec<u64>,
    /// Connections the server closed or reset, or that returned something other than a
    /// `200` (each was reopened).
    pub errors: u64,
}

impl LoadResult {
    /// Responses per second.
    pub fn rate(&self) -> f64 {
        self.responses as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Connection slots that received at least one response.
    pub fn served(&self) -> usize {
        self.per_connection.iter().filter(|n| **n > 0).count()
    }

    /// The `q` quantile of the latencies, ns.
    pub fn latency(&self, q: f64) -> Option<u64> {
        crate::stats::percentile(&self.latencies_ns, q)
    }
}

/// Where a response stands in a connection's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not all of it yet.
    Partial,
    /// A whole response of `len` bytes with this status.
    Done {
        /// The status code.
        status: u16,
        /// Bytes of head and body.
        len: usize,
    },
}

/// Parses one HTTP/1.1 response at the front of `buf` (`Content-Length` or chunked framing).
pub fn parse_response(buf: &[u8]) -> Result<Parsed, String> {
    let Some(head_end) = find(buf, b"\r\n\r\n").map(|i| i + 4) else {
        return Ok(Parsed::Partial);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "head not UTF-8".to_owned())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut length = None;
    let mut chunked = false;
    for l in lines {
        let Some((name, value)) = l.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    if chunked {
        let mut at = head_end;
        loop {
            let Some(eol) = find(&buf[at..], b"\r\n") else {
                return Ok(Parsed::Partial);
            };
            let line = std::str::from_utf8(&buf[at..at + eol]).map_err(|_| "bad chunk size")?;
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {line:?}"))?;
            at += eol + 2;
            if size == 0 {
                // No trailers from these servers: the last chunk ends with one CRLF.
                return Ok(if buf.len() >= at + 2 {
                    Parsed::Done {
                        status,
                        len: at + 2,
                    }
                } else {
                    Parsed::Partial
                });
            }
            if buf.len() < at + size + 2 {
                return Ok(Parsed::Partial);
            }
            at += size + 2;
        }
    }
    let len = head_end + length.unwrap_or(0);
    Ok(if buf.len() >= len {
        Parsed::Done { status, len }
    } else {
        Parsed::Partial
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

struct Conn {
    sock: MioStream,
    buf: Vec<u8>,
    end: usize,
    sent_at: Instant,
    responses: u64,
}

/// Runs `load` against `addr`. Fails only when no connection can be made at all.
pub fn run(addr: SocketAddr, load: Load) -> io::Result<LoadResult> {
    let threads = load.threads.clamp(1, load.connections.max(1));
    let start = Instant::now();
    let deadline = start + load.duration;
    let budget = std::sync::atomic::AtomicU64::new(load.max_requests);
    let parts: Vec<io::Result<LoadResult>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let n = load.connections / threads + usize::from(t < load.connections % threads);
                let budget = &budget;
                s.spawn(move || drive(addr, n, deadline, budget))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("client thread panicked")))
            })
            .collect()
    });
    let mut all = LoadResult::default();
    for p in parts {
        let p = p?;
        all.responses += p.responses;
        all.errors += p.errors;
        all.latencies_ns.extend(p.latencies_ns);
        all.per_connection.extend(p.per_connection);
    }
    all.elapsed = start.elapsed();
    all.latencies_ns.sort_unstable();
    Ok(all)
}

fn connect(addr: SocketAddr) -> io::Result<MioStream> {
    let s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    Ok(MioStream::from_std(s))
}

/// One client thread: `n` connections until `deadline` or until `budget` runs out.
fn drive(
    addr: SocketAddr,
    n: usize,
    deadline: Instant,
    budget: &std::sync::atomic::AtomicU64,
) -> io::Result<LoadResult> {
    use std::sync::atomic::Ordering::Relaxed;
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut sock = connect(addr)?;
        poll.registry()
            .register(&mut sock, Token(i), Interest::READABLE)?;
        conns.push(Conn {
            sock,
            buf: vec![0; 4096],
            end: 0,
            sent_at: Instant::now(),
            responses: 0,
        });
    }
    let mut out = LoadResult {
        per_connection: vec![0; n],
        ..LoadResult::default()
    };
    let take = || {
        budget
            .fetch_update(Relaxed, Relaxed, |b| b.checked_sub(1))
            .is_ok()
    };
    for c in &mut conns {
        if !take() {
            break;
        }
        c.sent_at = Instant::now();
        (&c.sock).write_all(REQUEST)?;
    }
    let mut events = Events::with_capacity(1024);
    let mut stopped = false;
    while !stopped {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        match poll.poll(&mut events, Some(deadline - now)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut conns[i];
            let mut reopen = false;
            loop {
                if c.end == c.buf.len() {
                    c.buf.resize(c.buf.len() * 2, 0);
                }
                match (&c.sock).read(&mut c.buf[c.end..]) {
                    Ok(0) => {
                        reopen = true;
                        break;
                    }
                    Ok(k) => c.end += k,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        reopen = true;
                        break;
                    }
                }
            }
            match parse_response(&c.buf[..c.end]) {
                Ok(Parsed::Partial) => {}
                Ok(Parsed::Done { status, len }) => {
                    let lat = c.sent_at.elapsed();
                    c.buf.copy_within(len..c.end, 0);
                    c.end -= len;
                    if status == 200 {
                        out.responses += 1;
                        c.responses += 1;
                        out.per_connection[i] += 1;
                        out.latencies_ns
                            .push(u64::try_from(lat.as_nanos()).unwrap_or(u64::MAX));
                    } else {
                        out.errors += 1;
                    }
                    if c.end != 0 {
                        reopen = true; // a response nobody asked for
                    } else if take() {
                        c.sent_at = Instant::now();
                        if (&c.sock).write_all(REQUEST).is_err() {
                            reopen = true;
                        }
                    } else {
                        stopped = true;
                    }
                }
                Err(_) => reopen = true,
            }
            if reopen && Instant::now() < deadline && !stopped {
                out.errors += 1;
                let _ = poll.registry().deregister(&mut c.sock);
                let Ok(mut sock) = connect(addr) else {
                    continue;
                };
                poll.registry()
                    .register(&mut sock, Token(i), Interest::READABLE)?;
                c.sock = sock;
                c.end = 0;
                if take() {
                    c.sent_at = Instant::now();
                    if (&c.sock).write_all(REQUEST).is_err() {
                        out.errors += 1;
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_length_and_chunked_responses() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1";
        assert_eq!(
            parse_response(r),
            Ok(Parsed::Done {
                status: 200,
                len: r.len() - 8
            })
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"),
            Ok(Parsed::Partial)
        );
        let c = b"HTTP/1.1 503 X\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(c),
            Ok(Parsed::Done {
                status: 503,
                len: c.len()
            })
        );
        assert_eq!(parse_response(&c[..c.len() - 1]), Ok(Parsed::Partial));
        assert!(parse_response(b"HTTP/1.1 2x0 OK\r\n\r\n").is_err());
    }
}

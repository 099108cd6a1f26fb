//! A connection and its buffers. A [`Conn`] has exactly one owner at a time, by type: the loop's
//! slot table while its head arrives or it is idle, a pool job (and the worker running it) while
//! its request is served, the loop again after the response. The socket inside moves with it;
//! nobody else holds it or a duplicate of it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::parse::{Head, HeaderSpan};

/// How long one blocking read or write waits before the worker looks at the stop flags again.
const SLICE: Duration = Duration::from_millis(100);

/// Bytes read from the socket: `data[..end]` is filled; `data` is zero-initialised once and
/// reused, so reading never allocates once the buffer has its size.
#[derive(Default)]
pub(crate) struct Buf {
    pub(crate) data: Vec<u8>,
    pub(crate) end: usize,
}

impl Buf {
    pub(crate) fn with_capacity(n: usize) -> Buf {
        Buf {
            data: vec![0; n],
            end: 0,
        }
    }

    /// Makes room for at least `min_free` more bytes, growing to at most `cap` in total; returns
    /// whether there is any free room.
    pub(crate) fn reserve(&mut self, min_free: usize, cap: usize) -> bool {
        if self.data.len() - self.end < min_free && self.data.len() < cap {
            let want = (self.end + min_free)
                .max(self.data.len() * 2)
                .min(cap)
                .max(self.data.len());
            self.data.resize(want, 0);
        }
        self.end < self.data.len()
    }
}

/// One client connection.
pub(crate) struct Conn {
    /// The loop's slot (and the poll token).
    pub(crate) token: usize,
    /// The socket, non-blocking unless `blocking`.
    pub(crate) sock: TcpStream,
    pub(crate) peer: SocketAddr,
    /// Bytes read and not yet consumed (a head, its body's first bytes, pipelined requests).
    pub(crate) buf: Buf,
    /// The head at the front of `buf`, set when it is dispatched.
    pub(crate) head: Option<Head>,
    /// Its header fields (ranges into `buf`); reused.
    pub(crate) spans: Vec<HeaderSpan>,
    /// The response being written; reused.
    pub(crate) out: Vec<u8>,
    /// Response header lines the handler set; reused.
    pub(crate) extra: Vec<u8>,
    /// When the head became complete (for the latency figure and the access log).
    pub(crate) head_at: Instant,
    /// Requests served on this connection.
    pub(crate) served: u64,
}

/// The socket as a worker uses it: non-blocking until a call would block, then blocking in
/// slices of [`SLICE`] so that the stop deadline (`cut`) and the I/O timeout are seen.
pub(crate) struct Io<'a> {
    pub(crate) sock: &'a TcpStream,
    blocking: std::cell::Cell<bool>,
    cut: &'a AtomicBool,
    timeout: Duration,
    /// The client asked for `100 Continue` and has not been sent it: it holds its body back,
    /// so a response built now leaves the body unread and must close (set by the body reader,
    /// read by the response writer; both hold this `Io`).
    pub(crate) continue_pending: std::cell::Cell<bool>,
}

impl<'a> Io<'a> {
    pub(crate) fn new(sock: &'a TcpStream, cut: &'a AtomicBool, timeout: Duration) -> Io<'a> {
        Io {
            sock,
            blocking: std::cell::Cell::new(false),
            cut,
            timeout,
            continue_pending: std::cell::Cell::new(false),
        }
    }

    /// Back to non-blocking, for the loop.
    pub(crate) fn restore(&self) -> io::Result<()> {
        if self.blocking.get() {
            self.sock.set_nonblocking(true)?;
            self.blocking.set(false);
        }
        Ok(())
    }

    fn go_blocking(&self) -> io::Result<()> {
        if !self.blocking.get() {
            self.sock.set_nonblocking(false)?;
            self.sock.set_read_timeout(Some(SLICE))?;
            self.sock.set_write_timeout(Some(SLICE))?;
            self.blocking.set(true);
        }
        Ok(())
    }

    /// Runs `op` until it does not block, within the I/O timeout and before the stop deadline.
    fn retry<T>(&self, mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        let mut started: Option<Instant> = None;
        loop {
            if self.cut.load(Ordering::Relaxed) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the server's stop deadline passed",
                ));
            }
            match op() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    let t0 = *started.get_or_insert_with(Instant::now);
                    if t0.elapsed() >= self.timeout {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the client did not keep up within the I/O timeout",
                        ));
                    }
                    self.go_blocking()?;
                }
                other => return other,
            }
        }
    }

    pub(crate) fn read(&self, dst: &mut [u8]) -> io::Result<usize> {
        let mut s = self.sock;
        self.retry(|| s.read(dst))
    }

    pub(crate) fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        let mut s = self.sock;
        while !data.is_empty() {
            match self.retry(|| s.write(data))? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => data = &data[n..],
            }
        }
        Ok(())
    }

    /// Writes `a` then `b`, with one `writev` where the socket takes it all.
    pub(crate) fn write_two(&self, a: &[u8], b: &[u8]) -> io::Result<()> {
        let mut s = self.sock;
        let total = a.len() + b.len();
        let n = self.retry(|| s.write_vectored(&[io::IoSlice::new(a), io::IoSlice::new(b)]))?;
        if n == total {
            return Ok(());
        }
        if n < a.len() {
            self.write_all(&a[n..])?;
            self.write_all(b)
        } else {
            self.write_all(&b[n - a.len()..])
        }
    }
}

//! What a handler writes: a status, header fields and a streaming body. The writer owns the
//! framing: `Content-Length` when the length is known, chunked otherwise (close-delimited for an
//! HTTP/1.0 client), and no body at all for HEAD, 1xx, 204 and 304.

use std::cell::Cell;
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use http::StatusCode;

use crate::conn::Io;

/// Buffered response bytes are written once they pass this.
const FLUSH_AT: usize = 16 * 1024;

/// A header field a handler may not set, or one with bytes HTTP does not allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidHeader(String);

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidHeader {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// The head has not been built.
    Fresh,
    /// `Content-Length`: this many body bytes still to come.
    Sized(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// No length, HTTP/1.0: the body ends when the connection closes.
    UntilClose,
    /// No body may be sent (HEAD, 1xx, 204, 304); writes are dropped.
    Bodiless,
    /// The response is complete.
    Done,
}

/// The response to one request.
pub struct Response<'a> {
    io: &'a Io<'a>,
    /// Bytes not yet written (the head, then body bytes).
    out: &'a mut Vec<u8>,
    /// Header lines set by the handler.
    extra: &'a mut Vec<u8>,
    /// Whether any byte of the head has reached the socket.
    head_sent: &'a Cell<bool>,
    /// The server is stopping: the head says `Connection: close`.
    stopping: &'a AtomicBool,
    status: StatusCode,
    is_head: bool,
    minor: u8,
    keep_alive: bool,
    has_date: bool,
    framing: Framing,
    /// Body bytes accepted so far (for the access log).
    pub(crate) body_bytes: u64,
    /// A write failed or the body was short: the connection must close.
    pub(crate) broken: bool,
}

impl<'a> Response<'a> {
    #[expect(
        clippy::too_many_arguments,
        reason = "one constructor, called from one place"
    )]
    pub(crate) fn new(
        io: &'a Io<'a>,
        out: &'a mut Vec<u8>,
        extra: &'a mut Vec<u8>,
        head_sent: &'a Cell<bool>,
        stopping: &'a AtomicBool,
        is_head: bool,
        minor: u8,
        keep_alive: bool,
    ) -> Response<'a> {
        out.clear();
        extra.clear();
        Response {
            io,
            out,
            extra,
            head_sent,
            stopping,
            status: StatusCode::OK,
            is_head,
            minor,
            keep_alive,
            has_date: false,
            framing: Framing::Fresh,
            body_bytes: 0,
            broken: false,
        }
    }

    /// The status (200 until set).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Sets the status; ignored once the head is built.
    pub fn set_status(&mut self, status: StatusCode) -> &mut Self {
        if self.framing == Framing::Fresh {
            self.status = status;
        }
        self
    }

    /// Adds a header field (`http::HeaderName` / `HeaderValue`, or text). The framing fields
    /// (`Content-Length`, `Transfer-Encoding`) are the writer's and refused; `Connection: close`
    /// closes the connection after the response; a `Date` replaces the server's.
    pub fn header(
        &mut self,
        name: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<&mut Self, InvalidHeader> {
        let (name, value) = (name.as_ref(), value.as_ref());
        if self.framing != Framing::Fresh {
            return Err(InvalidHeader("the response head was already built".into()));
        }
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(InvalidHeader(format!(
                "invalid header name {:?}",
                String::from_utf8_lossy(name)
            )));
        }
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(InvalidHeader(format!(
                "invalid value for header {:?}",
                String::from_utf8_lossy(name)
            )));
        }
        if name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"transfer-encoding")
        {
            return Err(InvalidHeader(format!(
                "{} is set by the writer: use send() or start(len)",
                String::from_utf8_lossy(name)
            )));
        }
        if name.eq_ignore_ascii_case(b"connection") {
            if value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
            {
                self.keep_alive = false;
            }
            return Ok(self);
        }
        self.has_date |= name.eq_ignore_ascii_case(b"date");
        self.extra.extend_from_slice(name);
        self.extra.extend_from_slice(b": ");
        self.extra.extend_from_slice(value);
        self.extra.extend_from_slice(b"\r\n");
        Ok(self)
    }

    /// Closes the connection after this response (`Connection: close`), if the head is not built.
    pub fn close(&mut self) -> &mut Self {
        if self.framing == Framing::Fresh {
            self.keep_alive = false;
        }
        self
    }

    /// Whether the head has been built (set_status and header no longer apply).
    pub fn is_started(&self) -> bool {
        self.framing != Framing::Fresh
    }

    /// Whether the connection may stay open after this response.
    pub(crate) fn keeps_alive(&self) -> bool {
        self.keep_alive && !self.broken
    }

    pub(crate) fn is_done(&self) -> bool {
        self.framing == Framing::Done
    }

    fn bodiless(&self) -> bool {
        self.status.is_informational()
            || self.status == StatusCode::NO_CONTENT
            || self.status == StatusCode::NOT_MODIFIED
    }

    fn build_head(&mut self, len: Option<u64>) {
        if self.stopping.load(Ordering::Relaxed) || self.io.continue_pending.get() {
            // A client still waiting for `100 Continue` holds its body back: answering now
            // leaves the body unread, so the connection closes, and the head says so
            // (RFC 9110 §10.1.1).
            self.keep_alive = false;
        }
        let out = &mut *self.out;
        out.clear();
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(self.status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(
            self.status
                .canonical_reason()
                .unwrap_or("Unknown")
                .as_bytes(),
        );
        out.extend_from_slice(b"\r\n");
        if !self.has_date {
            out.extend_from_slice(b"Date: ");
            crate::date::append_now(out);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(self.extra);
        let bodiless_status = self.status.is_informational()
            || self.status == StatusCode::NO_CONTENT
            || self.status == StatusCode::NOT_MODIFIED;
        self.framing = if bodiless_status {
            Framing::Bodiless
        } else {
            match len {
                Some(n) => {
                    out.extend_from_slice(b"Content-Length: ");
                    out.extend_from_slice(itoa(n, &mut [0; 20]));
                    out.extend_from_slice(b"\r\n");
                    if self.is_head {
                        Framing::Bodiless
                    } else {
                        Framing::Sized(n)
                    }
                }
                None if self.is_head => Framing::Bodiless,
                None if self.minor == 0 => {
                    self.keep_alive = false;
                    Framing::UntilClose
                }
                None => {
                    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
                    Framing::Chunked
                }
            }
        };
        if !self.keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if self.minor == 0 {
            out.extend_from_slice(b"Connection: Keep-Alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Sends the whole response with this body (`Content-Length`), in one write where it fits.
    pub fn send(&mut self, body: &[u8]) -> io::Result<()> {
        if self.framing != Framing::Fresh {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "send() after the response was started",
            ));
        }
        let len = if self.bodiless() {
            None
        } else {
            Some(body.len() as u64)
        };
        self.build_head(len);
        if matches!(self.framing, Framing::Sized(_)) {
            self.body_bytes = body.len() as u64;
            self.framing = Framing::Done;
            if body.len() <= FLUSH_AT {
                self.out.extend_from_slice(body);
                return self.flush_out();
            }
            self.head_sent.set(true);
            let r = self.io.write_two(self.out, body);
            self.out.clear();
            return r.inspect_err(|_| self.broken = true);
        }
        self.framing = Framing::Done;
        self.flush_out()
    }

    /// Builds the head for a streamed body: `Some(len)` sends `Content-Length` (and then exactly
    /// `len` bytes must be written), `None` sends chunked. The head is written with the first
    /// body bytes.
    pub fn start(&mut self, len: Option<u64>) -> io::Result<()> {
        if self.framing != Framing::Fresh {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the response was already started",
            ));
        }
        self.build_head(len);
        Ok(())
    }

    /// Completes the response: the last chunk, or a check that the declared length was written.
    pub fn finish(&mut self) -> io::Result<()> {
        match self.framing {
            Framing::Fresh => self.send(b""),
            Framing::Done => Ok(()),
            Framing::Sized(0) | Framing::Bodiless | Framing::UntilClose => {
                self.framing = Framing::Done;
                self.flush_out()
            }
            Framing::Sized(n) => {
                // A handler's mistake, not the socket's: if nothing was sent yet the server
                // still answers 500 instead.
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("the body ended {n} bytes short of its Content-Length"),
                ))
            }
            Framing::Chunked => {
                self.out.extend_from_slice(b"0\r\n\r\n");
                self.framing = Framing::Done;
                self.flush_out()
            }
        }
    }

    fn flush_out(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.head_sent.set(true);
        let r = self.io.write_all(self.out);
        self.out.clear();
        r.inspect_err(|_| self.broken = true)
    }
}

impl Write for Response<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.framing == Framing::Fresh {
            self.start(None)?;
        }
        if data.is_empty() {
            return Ok(0);
        }
        match self.framing {
            Framing::Fresh => unreachable!("started above"),
            Framing::Done => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write after the response was finished",
            )),
            Framing::Bodiless => Ok(data.len()),
            Framing::Sized(n) => {
                if data.len() as u64 > n {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "more body bytes than the Content-Length",
                    ));
                }
                self.framing = Framing::Sized(n - data.len() as u64);
                self.push(data)?;
                Ok(data.len())
            }
            Framing::UntilClose => {
                self.push(data)?;
                Ok(data.len())
            }
            Framing::Chunked => {
                let mut hex = [0u8; 16];
                let n = hex_len(data.len(), &mut hex);
                self.out.extend_from_slice(n);
                self.out.extend_from_slice(b"\r\n");
                self.push(data)?;
                self.out.extend_from_slice(b"\r\n");
                Ok(data.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.framing == Framing::Fresh {
            self.start(None)?;
        }
        self.flush_out()
    }
}

impl Response<'_> {
    /// Queues body bytes: small ones are buffered, large ones written with the buffer at once.
    fn push(&mut self, data: &[u8]) -> io::Result<()> {
        self.body_bytes += data.len() as u64;
        if self.out.len() + data.len() <= FLUSH_AT {
            self.out.extend_from_slice(data);
            return Ok(());
        }
        self.head_sent.set(true);
        let r = self.io.write_two(self.out, data);
        self.out.clear();
        r.inspect_err(|_| self.broken = true)
    }
}

impl fmt::Debug for Response<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("started", &self.is_started())
            .finish_non_exhaustive()
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Decimal digits of `n`, without allocating.
pub(crate) fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

fn hex_len(mut n: usize, buf: &mut [u8; 16]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[n & 15];
        n >>= 4;
        if n == 0 {
            return &buf[i..];
        }
    }
}

//! What a handler reads: the request head (as `http` types, built only when asked for) and a
//! streaming body reader that enforces the framing.

use std::cell::{Cell, OnceCell};
use std::fmt;
use std::io::{self, Read};
use std::net::SocketAddr;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};

use crate::chunked::{ChunkError, ChunkedDecoder};
use crate::conn::Io;
use crate::parse::{Framing, Head, HeaderSpan};

/// A request, as a handler sees it. The head is borrowed from the connection's buffer.
pub struct Request<'a> {
    bytes: &'a [u8],
    head: &'a Head,
    spans: &'a [HeaderSpan],
    method: Method,
    peer: SocketAddr,
    headers: OnceCell<HeaderMap>,
    uri: OnceCell<Option<Uri>>,
    body: Body<'a>,
}

impl<'a> Request<'a> {
    pub(crate) fn new(
        bytes: &'a [u8],
        head: &'a Head,
        spans: &'a [HeaderSpan],
        peer: SocketAddr,
        body: Body<'a>,
    ) -> Request<'a> {
        // The parser checked the method is a token, so this cannot fail.
        let method = Method::from_bytes(&bytes[head.method.clone()]).unwrap_or(Method::GET);
        Request {
            bytes,
            head,
            spans,
            method,
            peer,
            headers: OnceCell::new(),
            uri: OnceCell::new(),
            body,
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request target exactly as sent (origin-form `/path?query`, absolute-form, `*`, or
    /// authority-form for CONNECT).
    pub fn target(&self) -> &str {
        std::str::from_utf8(&self.bytes[self.head.target.clone()]).unwrap_or("")
    }

    /// The target's path (absolute-form reduced to its path), without the query.
    pub fn path(&self) -> &str {
        let t = self.target();
        let t = match t.find("://") {
            Some(i) if !t.starts_with('/') => {
                let after = &t[i + 3..];
                after.find('/').map_or("/", |p| &after[p..])
            }
            _ => t,
        };
        t.split('?').next().unwrap_or(t)
    }

    /// The host the request is for (RFC 9112 §3.2.2, §3.3): the authority of an absolute-form
    /// target, which overrides any `Host` field; the target itself for CONNECT's
    /// authority-form; otherwise the `Host` field (`None` for an HTTP/1.0 request without one).
    pub fn host(&self) -> Option<&str> {
        let t = self.target();
        if !t.starts_with('/') && t != "*" {
            if let Some(i) = t.find("://") {
                let after = &t[i + 3..];
                let end = after.find(['/', '?']).unwrap_or(after.len());
                return Some(&after[..end]);
            }
            return Some(t);
        }
        self.header_str("host")
    }

    /// The query, without its `?`.
    pub fn query(&self) -> Option<&str> {
        self.target().split_once('?').map(|(_, q)| q)
    }

    /// The target as an `http::Uri` (parsed on first use; `None` if `http` refuses it).
    pub fn uri(&self) -> Option<&Uri> {
        self.uri
            .get_or_init(|| Uri::try_from(self.target()).ok())
            .as_ref()
    }

    /// The version (HTTP/1.0 or HTTP/1.1).
    pub fn version(&self) -> Version {
        if self.head.minor == 0 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        }
    }

    /// The header fields as an `http::HeaderMap` (built on first use).
    pub fn headers(&self) -> &HeaderMap {
        self.headers.get_or_init(|| {
            let mut map = HeaderMap::with_capacity(self.spans.len());
            for (n, v) in self.spans {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(&self.bytes[n.clone()]),
                    HeaderValue::from_bytes(&self.bytes[v.clone()]),
                ) {
                    map.append(n, v);
                }
            }
            map
        })
    }

    /// The first value of the field `name` (case-insensitive), without building the map.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.spans
            .iter()
            .find(|(n, _)| self.bytes[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &self.bytes[v.clone()])
    }

    /// The first value of `name` as text, if it is valid UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The declared body length (`Content-Length`; `None` for chunked; `Some(0)` for none).
    pub fn content_length(&self) -> Option<u64> {
        match self.head.framing {
            Framing::None => Some(0),
            Framing::Length(n) => Some(n),
            Framing::Chunked => None,
        }
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The body: reading it sends `100 Continue` first when the client asked for it.
    pub fn body(&mut self) -> &mut Body<'a> {
        &mut self.body
    }

    pub(crate) fn into_body(self) -> Body<'a> {
        self.body
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("target", &self.target())
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

enum State {
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// Why a body could not be read: the server answers 400 (or 413) for it when the handler fails
/// before sending its head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyFailure {
    /// Bad chunked framing.
    Framing(ChunkError),
    /// The client closed or stalled before the body's end.
    Short,
}

/// The request body: a `Read` that ends exactly where the framing says, and fails (never reads
/// past it) when the framing is broken.
pub struct Body<'a> {
    io: &'a Io<'a>,
    /// `rest[start..end]`: bytes read from the socket after the head and not yet handed out.
    rest: &'a mut [u8],
    start: usize,
    end: usize,
    state: State,
    /// `Expect: 100-continue` not yet answered.
    continue_pending: bool,
    /// Whether the response head has reached the socket.
    head_sent: &'a Cell<bool>,
    pub(crate) failure: Option<BodyFailure>,
}

impl<'a> Body<'a> {
    pub(crate) fn new(
        io: &'a Io<'a>,
        rest: &'a mut [u8],
        end: usize,
        framing: Framing,
        expect_continue: bool,
        head_sent: &'a Cell<bool>,
        max_body: u64,
    ) -> Body<'a> {
        let state = match framing {
            Framing::None => State::Length(0),
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(ChunkedDecoder::new(max_body)),
        };
        io.continue_pending
            .set(expect_continue && framing != Framing::None);
        Body {
            io,
            rest,
            start: 0,
            end,
            state,
            continue_pending: expect_continue,
            head_sent,
            failure: None,
        }
    }

    /// Whether the whole body has been read.
    pub fn is_complete(&self) -> bool {
        match &self.state {
            State::Length(n) => *n == 0,
            State::Chunked(d) => d.is_done(),
        }
    }

    /// Whether the client asked for `100 Continue` and has not been sent it (so it has not sent
    /// the body either).
    pub(crate) fn continue_pending(&self) -> bool {
        self.continue_pending && !self.is_complete()
    }

    /// The bytes after the body that were already read (pipelined requests): `(start, end)` in
    /// the buffer after the head.
    pub(crate) fn leftover(&self) -> (usize, usize) {
        (self.start, self.end)
    }

    /// Reads and drops the rest of the body, up to `limit` bytes; whether it all came.
    pub(crate) fn drain(&mut self, limit: u64) -> bool {
        if self.continue_pending() || self.failure.is_some() {
            return false;
        }
        let mut scratch = [0u8; 4096];
        let mut seen = 0u64;
        while !self.is_complete() {
            match self.read(&mut scratch) {
                Ok(0) | Err(_) => return false,
                Ok(n) => seen += n as u64,
            }
            if seen > limit {
                return false;
            }
        }
        true
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.rest.len() {
            self.rest.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self.io.read(&mut self.rest[self.end..]).inspect_err(|_| {
            self.failure = Some(BodyFailure::Short);
        })?;
        if n == 0 {
            self.failure = Some(BodyFailure::Short);
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the client closed the connection before the body's end",
            ));
        }
        self.end += n;
        Ok(())
    }

    fn send_continue(&mut self) -> io::Result<()> {
        self.continue_pending = false;
        self.io.continue_pending.set(false);
        if !self.head_sent.get() {
            self.io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        Ok(())
    }
}

impl Read for Body<'_> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        if dst.is_empty() || self.is_complete() {
            return Ok(0);
        }
        if let Some(f) = self.failure {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the body is unreadable: {f:?}"),
            ));
        }
        if self.continue_pending {
            self.send_continue()?;
        }
        match &mut self.state {
            State::Length(remaining) => {
                let want = dst
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                let n = if self.start < self.end {
                    let n = want.min(self.end - self.start);
                    dst[..n].copy_from_slice(&self.rest[self.start..self.start + n]);
                    self.start += n;
                    n
                } else {
                    let n = self.io.read(&mut dst[..want]).inspect_err(|_| {
                        self.failure = Some(BodyFailure::Short);
                    })?;
                    if n == 0 {
                        self.failure = Some(BodyFailure::Short);
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the client closed the connection before the body's end",
                        ));
                    }
                    n
                };
                if let State::Length(r) = &mut self.state {
                    *r -= n as u64;
                }
                Ok(n)
            }
            State::Chunked(_) => loop {
                if self.start < self.end {
                    let State::Chunked(d) = &mut self.state else {
                        unreachable!("the state is chunked")
                    };
                    match d.decode(&self.rest[self.start..self.end], dst) {
                        Ok((used, produced)) => {
                            self.start += used;
                            if produced > 0 || d.is_done() {
                                return Ok(produced);
                            }
                        }
                        Err(e) => {
                            self.failure = Some(BodyFailure::Framing(e));
                            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                        }
                    }
                }
                self.fill()?;
            },
        }
    }
}

impl fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("complete", &self.is_complete())
            .finish_non_exhaustive()
    }
}

//! The request-head parser: `httparse` for the grammar, then every framing rule of RFC 9112 that
//! `httparse` leaves to its caller, strictly (anything that could smuggle a request is refused).
//!
//! The parser works on the connection's buffer and returns byte ranges into it, so a parsed head
//! costs no allocation; the worker builds `http` types from the ranges only when a handler asks.

use std::ops::Range;

use http::StatusCode;

/// The size limits a head is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (method, target, version), without its CRLF → 414 above it.
    pub max_request_line: usize,
    /// Largest head (request line and header block, CRLFs included) → 431 above it.
    pub max_header_bytes: usize,
    /// Most header fields → 431 above it.
    pub max_headers: usize,
    /// Largest request body → 413 above it (before any of it is read, when it is declared).
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            max_body_bytes: 16 * 1024 * 1024,
        }
    }
}

/// How the request's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed head: byte ranges into the buffer it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Bytes from the start of the buffer to the end of the head (its empty line included).
    pub len: usize,
    /// The method token.
    pub method: Range<usize>,
    /// The request target.
    pub target: Range<usize>,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1 (and a higher 1.x, served as 1.1).
    pub minor: u8,
    /// The body's framing.
    pub framing: Framing,
    /// Whether the client lets the connection stay open after the response.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on HTTP/1.1.
    pub expect_continue: bool,
}

/// One header field: (name, value) byte ranges.
pub type HeaderSpan = (Range<usize>, Range<usize>);

/// A head the server refuses: the status to answer with and why (for the log and the stats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// 400, 413, 414, 417, 431, 501 or 505.
    pub status: StatusCode,
    /// The rule the head broke.
    pub reason: &'static str,
}

fn reject<T>(status: StatusCode, reason: &'static str) -> Result<T, Rejection> {
    Err(Rejection { status, reason })
}

fn bad<T>(reason: &'static str) -> Result<T, Rejection> {
    reject(StatusCode::BAD_REQUEST, reason)
}

/// Parses the head at the start of `buf`. `Ok(None)`: not complete yet (and within the limits).
/// `headers` is cleared and filled with the header fields. `buf` may be changed in one way only:
/// a version `HTTP/1.x` with `x > 1` is rewritten to `HTTP/1.1` (RFC 9110 §2.5).
pub fn parse_head(
    buf: &mut [u8],
    limits: &Limits,
    headers: &mut Vec<HeaderSpan>,
) -> Result<Option<Head>, Rejection> {
    headers.clear();
    // RFC 9112 §2.2: ignore empty lines (CRLF) before the request line.
    let mut start = 0;
    while buf.len() >= start + 2 && &buf[start..start + 2] == b"\r\n" {
        start += 2;
    }
    if start > limits.max_request_line {
        return reject(
            StatusCode::URI_TOO_LONG,
            "empty lines before the request line",
        );
    }
    match buf.get(start) {
        None => return Ok(None),
        Some(b'\n') => return bad("bare LF before the request line"),
        Some(b'\r') if buf.len() == start + 1 => return Ok(None),
        _ => {}
    }
    // The request line.
    let rest = &buf[start..];
    let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
        if rest.len() > limits.max_request_line {
            return reject(StatusCode::URI_TOO_LONG, "request line too long");
        }
        return Ok(None);
    };
    if lf == 0 || rest[lf - 1] != b'\r' {
        return bad("bare LF in the request line");
    }
    let line = &rest[..lf - 1];
    if line.len() > limits.max_request_line {
        return reject(StatusCode::URI_TOO_LONG, "request line too long");
    }
    if line.contains(&b'\r') {
        return bad("bare CR in the request line");
    }
    let minor = check_version(buf, start, start + lf - 1)?;

    // The end of the head, refusing bare CR and bare LF on the way.
    let from = start + lf - 1; // the CR of the request line
    let end = match find_head_end(buf, from)? {
        Some(end) => end,
        None => {
            if buf.len() - start > limits.max_header_bytes {
                return reject(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "header block too large",
                );
            }
            return Ok(None);
        }
    };
    if end - start > limits.max_header_bytes {
        return reject(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "header block too large",
        );
    }

    // The grammar.
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS_CEILING];
    let n = limits.max_headers.min(MAX_HEADERS_CEILING);
    let mut req = httparse::Request::new(&mut fields[..n]);
    let head = &buf[..end];
    match req.parse(&head[start..]) {
        Ok(httparse::Status::Complete(used)) if used == end - start => {}
        Ok(_) => return bad("malformed head"),
        Err(httparse::Error::TooManyHeaders) => {
            return reject(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "too many header fields",
            );
        }
        Err(httparse::Error::HeaderName) => return bad("invalid header name"),
        Err(httparse::Error::HeaderValue) => return bad("invalid header value"),
        Err(httparse::Error::Token) => return bad("invalid method"),
        Err(httparse::Error::NewLine) => return bad("invalid line ending"),
        Err(_) => return bad("malformed request line"),
    }
    let base = head.as_ptr() as usize;
    let span = |s: &[u8]| {
        let at = s.as_ptr() as usize - base;
        at..at + s.len()
    };
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return bad("malformed request line");
    };
    if method.bytes().any(|b| b.is_ascii_lowercase()) {
        // Methods are case-sensitive and every registered one is uppercase: `GeT` is a
        // client's mistake, refused as cheroot and nginx refuse it (not a 405 or 501).
        return bad("method with lowercase letters");
    }
    let method_r = span(method.as_bytes());
    let target_r = span(target.as_bytes());
    check_target(method.as_bytes(), target.as_bytes())?;

    // The fields that decide framing and the connection.
    let mut hosts = 0;
    let mut length: Option<u64> = None;
    let mut codings = Codings::default();
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect: Option<&[u8]> = None;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        let value = trim_ows(h.value);
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return bad("control character in a header value");
        }
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            check_host(value)?;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            for item in value.split(|&b| b == b',') {
                let n = parse_length(trim_ows(item))?;
                match length {
                    Some(prev) if prev != n => return bad("Content-Length values differ"),
                    _ => length = Some(n),
                }
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            codings.add(value)?;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',').map(trim_ows) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            if expect.is_some() {
                return reject(StatusCode::EXPECTATION_FAILED, "more than one Expect");
            }
            expect = Some(value);
        }
        headers.push((span(name), span(h.value)));
    }
    if minor == 1 && hosts == 0 {
        return bad("HTTP/1.1 request without Host");
    }
    if hosts > 1 {
        return bad("more than one Host");
    }
    let framing = match (codings.seen, length) {
        (true, Some(_)) => return bad("both Content-Length and Transfer-Encoding"),
        (true, None) if minor == 0 => return bad("Transfer-Encoding in an HTTP/1.0 request"),
        (true, None) => {
            codings.finish()?;
            Framing::Chunked
        }
        (false, Some(n)) if n > limits.max_body_bytes => {
            return reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Content-Length over the limit",
            );
        }
        (false, Some(0)) | (false, None) => Framing::None,
        (false, Some(n)) => Framing::Length(n),
    };
    let mut expect_continue = false;
    if let (1, Some(v)) = (minor, expect) {
        if v.eq_ignore_ascii_case(b"100-continue") {
            expect_continue = framing != Framing::None;
        } else {
            return reject(StatusCode::EXPECTATION_FAILED, "unsupported expectation");
        }
    }
    let keep_alive = !close && (minor == 1 || keep_alive_token);
    Ok(Some(Head {
        len: end,
        method: method_r,
        target: target_r,
        minor,
        framing,
        keep_alive,
        expect_continue,
    }))
}

/// `httparse` needs a fixed array of fields; `Limits::max_headers` is capped at this.
const MAX_HEADERS_CEILING: usize = 256;

/// Checks the version token of the request line `buf[start..line_end]`; rewrites `HTTP/1.x`
/// (`x > 1`) to `HTTP/1.1`. Returns the minor version served.
fn check_version(buf: &mut [u8], start: usize, line_end: usize) -> Result<u8, Rejection> {
    let line = &buf[start..line_end];
    let Some(sp) = line.iter().rposition(|&b| b == b' ') else {
        return bad("request line without a version");
    };
    if !line[..sp].contains(&b' ') {
        return bad("request line without a version");
    }
    let v = &line[sp + 1..];
    match v {
        b"HTTP/1.1" => Ok(1),
        b"HTTP/1.0" => Ok(0),
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if d.is_ascii_digit() => {
            // RFC 9110 §2.5: a higher minor version is served as the highest we implement.
            let at = start + sp + 1 + 7;
            buf[at] = b'1';
            Ok(1)
        }
        [b'H', b'T', b'T', b'P', b'/', rest @ ..] if is_other_major(rest) => {
            // A well-formed version of another major (`HTTP/2.0`, `HTTP/2.15`, `HTTP/10.0`):
            // 505, as cheroot and nginx answer (RFC 9110 §15.6.6), not a syntax error.
            reject(
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                "unsupported HTTP version",
            )
        }
        _ => bad("malformed HTTP version"),
    }
}

/// `major "." minor`, both digits, the major not `1`: a version we do not speak.
fn is_other_major(v: &[u8]) -> bool {
    let Some(dot) = v.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (major, minor) = (&v[..dot], &v[dot + 1..]);
    let digits = |s: &[u8]| !s.is_empty() && s.len() <= 3 && s.iter().all(u8::is_ascii_digit);
    digits(major) && digits(minor) && major != b"1"
}

/// Finds the end of the head (the index after its empty line), scanning from the CR that ends
/// the request line; a bare CR or LF anywhere is refused.
fn find_head_end(buf: &[u8], from: usize) -> Result<Option<usize>, Rejection> {
    let mut i = from;
    while i < buf.len() {
        match buf[i] {
            b'\r' => match buf.get(i + 1) {
                None => return Ok(None),
                Some(b'\n') => {
                    // A line ends at i; an empty line follows when the next two bytes are CRLF.
                    match (buf.get(i + 2), buf.get(i + 3)) {
                        (Some(b'\r'), Some(b'\n')) => return Ok(Some(i + 4)),
                        (Some(b'\r'), Some(_)) => return bad("bare CR in the header block"),
                        (Some(b'\n'), _) => return bad("bare LF in the header block"),
                        (Some(b' ' | b'\t'), _) if i == from => {
                            return bad("whitespace before the first header field");
                        }
                        (Some(b' ' | b'\t'), _) => return bad("obs-fold in a header field"),
                        _ => i += 2,
                    }
                }
                Some(_) => return bad("bare CR in the header block"),
            },
            b'\n' => return bad("bare LF in the header block"),
            _ => i += 1,
        }
    }
    Ok(None)
}

/// The request-target must be in the form its method allows (RFC 9112 §3.2).
fn check_target(method: &[u8], target: &[u8]) -> Result<(), Rejection> {
    if target.contains(&b'#') {
        return bad("fragment in the request target");
    }
    if !target.is_ascii() {
        // A URI is ASCII (RFC 3986); raw UTF-8 must be percent-encoded. httparse lets it
        // through, cheroot refuses it ("Malformed Request-URI").
        return bad("non-ASCII byte in the request target");
    }
    if method == b"CONNECT" && !target.starts_with(b"/") {
        // authority-form: host:port. An origin-form CONNECT goes on to the handler, which
        // refuses the method (cheroot and nginx answer `CONNECT /x` with 405).
        return match target.iter().rposition(|&b| b == b':') {
            Some(c) if c > 0 && c + 1 < target.len() && !target.contains(&b'/') => Ok(()),
            _ => bad("CONNECT needs an authority-form target"),
        };
    }
    match target {
        [b'/', ..] => Ok(()),
        b"*" if method == b"OPTIONS" => Ok(()),
        _ => {
            let lower =
                |p: &[u8]| target.len() > p.len() && target[..p.len()].eq_ignore_ascii_case(p);
            if lower(b"http://") || lower(b"https://") {
                Ok(())
            } else {
                bad("request target in no valid form")
            }
        }
    }
}

/// A Host value: a uri-host with an optional port, nothing else.
fn check_host(v: &[u8]) -> Result<(), Rejection> {
    let ok = v.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b':'
                    | b'['
                    | b']'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            )
    });
    if ok {
        Ok(())
    } else {
        bad("invalid Host value")
    }
}

/// `1*DIGIT`, nothing else (no sign, no space, no hex), without overflow.
fn parse_length(v: &[u8]) -> Result<u64, Rejection> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return bad("malformed Content-Length");
    }
    v.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)
            .and_then(|a| a.checked_add(u64::from(d - b'0')))
            .ok_or(Rejection {
                status: StatusCode::BAD_REQUEST,
                reason: "Content-Length overflows",
            })
    })
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !is_ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ows(b)).map_or(start, |e| e + 1);
    &v[start..end]
}

/// The transfer codings of a request, across all its `Transfer-Encoding` fields.
#[derive(Default)]
struct Codings {
    /// A `Transfer-Encoding` field was present.
    seen: bool,
    /// `chunked` was seen (it must be the last coding, once).
    chunked: bool,
    /// A coding other than `chunked` was seen (we implement none: 501).
    unknown: bool,
}

impl Codings {
    fn add(&mut self, value: &[u8]) -> Result<(), Rejection> {
        self.seen = true;
        for coding in value.split(|&b| b == b',').map(trim_ows) {
            if coding.is_empty() {
                return bad("empty transfer coding");
            }
            if self.chunked {
                return bad("a transfer coding after chunked");
            }
            if coding.eq_ignore_ascii_case(b"chunked") {
                self.chunked = true;
            } else if coding.iter().all(|&b| is_tchar(b)) {
                self.unknown = true;
            } else {
                return bad("malformed transfer coding");
            }
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), Rejection> {
        if !self.chunked {
            return bad("chunked is not the last transfer coding");
        }
        if self.unknown {
            return reject(StatusCode::NOT_IMPLEMENTED, "unknown transfer coding");
        }
        Ok(())
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<Head>, Rejection> {
        let mut buf = s.as_bytes().to_vec();
        parse_head(&mut buf, &Limits::default(), &mut Vec::new())
    }

    fn status(s: &str) -> u16 {
        match parse(s) {
            Err(r) => r.status.as_u16(),
            Ok(Some(_)) => 200,
            Ok(None) => 0,
        }
    }

    #[test]
    fn a_simple_get_parses_with_its_ranges() {
        let mut buf = b"GET /a?b HTTP/1.1\r\nHost: x\r\n\r\nrest".to_vec();
        let mut hs = Vec::new();
        let h = parse_head(&mut buf, &Limits::default(), &mut hs)
            .unwrap()
            .unwrap();
        assert_eq!(&buf[h.method.clone()], b"GET");
        assert_eq!(&buf[h.target.clone()], b"/a?b");
        assert_eq!(h.len, buf.len() - 4);
        assert_eq!(hs.len(), 1);
        assert!(h.keep_alive);
        assert_eq!(h.framing, Framing::None);
    }

    #[test]
    fn incomplete_heads_wait() {
        assert_eq!(status("GET / HTTP/1.1\r\nHost: x\r\n"), 0);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: x\r\n\r"), 0);
        assert_eq!(status("GE"), 0);
        assert_eq!(status(""), 0);
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        let h = "GET / HTTP/1.1\r\nHost: x\r\n";
        assert_eq!(status(&format!("{h}Content-Length: +5\r\n\r\n")), 400);
        assert_eq!(status(&format!("{h}Content-Length: 5 5\r\n\r\n")), 400);
        assert_eq!(status(&format!("{h}Content-Length: 5, 6\r\n\r\n")), 400);
        assert_eq!(status(&format!("{h}Content-Length: 5, 5\r\n\r\n")), 200);
        assert_eq!(
            status(&format!(
                "{h}Content-Length: 5\r\nContent-Length: 6\r\n\r\n"
            )),
            400
        );
        assert_eq!(
            status(&format!(
                "{h}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            )),
            400
        );
        assert_eq!(
            status(&format!("{h}Transfer-Encoding: chunked, gzip\r\n\r\n")),
            400
        );
        assert_eq!(
            status(&format!("{h}Transfer-Encoding: chunked, chunked\r\n\r\n")),
            400
        );
        assert_eq!(status(&format!("{h}Transfer-Encoding: gzip\r\n\r\n")), 400);
        assert_eq!(
            status(&format!("{h}Transfer-Encoding: gzip, chunked\r\n\r\n")),
            501
        );
        assert_eq!(status("GET / HTTP/1.1\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: x\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\n Host: x\r\n\r\n"), 400);
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n"),
            400
        );
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"), 400);
        assert_eq!(status("G(T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(status("GET / HTTP/1.7\r\nHost: x\r\n\r\n"), 200);
        assert_eq!(status("GET / HTXP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
        assert_eq!(
            status("\r\n\r\n\r\nGET /abc HTTP/1.1\r\nHost: x\r\n\r\n"),
            200
        );
    }
}

//! The chunked transfer-coding decoder (RFC 9112 §7.1), incremental and strict: chunk sizes are
//! plain hex and may not overflow, every line ends in CRLF, extensions and trailers are read and
//! discarded within limits.

use std::fmt;

/// Longest chunk-size line (size and extensions), bytes.
pub(crate) const MAX_CHUNK_LINE: usize = 4096;
/// Largest trailer section, bytes.
pub(crate) const MAX_TRAILERS: usize = 8192;

/// Why a chunked body is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// A chunk size that is not plain hex (`0x5`, `+5`, `5_0`, empty).
    BadSize,
    /// A chunk size that does not fit in 64 bits.
    SizeOverflow,
    /// A chunk-size line (with its extensions) over [`MAX_CHUNK_LINE`], or a bad extension.
    BadExtension,
    /// A bare CR or LF where CRLF is required, or chunk data not followed by CRLF.
    BadLineEnding,
    /// A trailer section over [`MAX_TRAILERS`] or a malformed trailer field.
    BadTrailer,
    /// The body is larger than the server's limit.
    TooLarge,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChunkError::BadSize => "chunk size is not plain hex",
            ChunkError::SizeOverflow => "chunk size overflows",
            ChunkError::BadExtension => "malformed or oversized chunk extension",
            ChunkError::BadLineEnding => "bare CR or LF in chunked framing",
            ChunkError::BadTrailer => "malformed or oversized trailer section",
            ChunkError::TooLarge => "chunked body over the limit",
        })
    }
}

impl std::error::Error for ChunkError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size (`digits` so far).
    Size,
    /// After the size: whitespace before `;` (BWS).
    SizeWs,
    /// In the extensions after `;`.
    Ext,
    /// Saw the CR ending the size line.
    SizeLf,
    /// In chunk data (`remaining` bytes left).
    Data,
    /// After chunk data: want CR.
    DataCr,
    /// After chunk data and CR: want LF.
    DataLf,
    /// At the start of a trailer line or the final empty line.
    TrailerStart,
    /// In a trailer line.
    Trailer,
    /// Saw CR at the end of a trailer line.
    TrailerLf,
    /// Saw CR of the final empty line.
    EndLf,
    /// The body is complete.
    Done,
}

/// An incremental decoder: feed it bytes as they arrive, it hands out the chunk data.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    /// The chunk size being read, then the bytes left in the chunk.
    remaining: u64,
    /// Hex digits of the current size.
    digits: usize,
    /// Bytes of the current size line.
    line: usize,
    /// Bytes of the trailer section so far.
    trailers: usize,
    /// Data bytes decoded so far.
    total: u64,
    /// Most data bytes allowed.
    max_body: u64,
}

impl ChunkedDecoder {
    /// A decoder for a body of at most `max_body` data bytes.
    pub fn new(max_body: u64) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size,
            remaining: 0,
            digits: 0,
            line: 0,
            trailers: 0,
            total: 0,
            max_body,
        }
    }

    /// Whether the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Data bytes of every chunk whose size line has been read (checked against the limit at
    /// that moment, before the data arrives); equal to the bytes produced once the body is done.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Decodes from `input` into `out`; returns `(consumed, produced)`. Stops when `out` is full,
    /// `input` is used up, or the body is done (bytes after the body are not consumed).
    pub fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), ChunkError> {
        let mut i = 0;
        let mut o = 0;
        while i < input.len() && self.state != State::Done {
            let b = input[i];
            match self.state {
                State::Data => {
                    if o == out.len() {
                        break;
                    }
                    let n = (input.len() - i)
                        .min(out.len() - o)
                        .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                    out[o..o + n].copy_from_slice(&input[i..i + n]);
                    i += n;
                    o += n;
                    self.remaining -= n as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                    continue;
                }
                State::Size => {
                    self.line += 1;
                    if let Some(d) = hex(b) {
                        if self.remaining > (u64::MAX >> 4) {
                            return Err(ChunkError::SizeOverflow);
                        }
                        self.remaining = (self.remaining << 4) | u64::from(d);
                        self.digits += 1;
                    } else if self.digits == 0 {
                        return Err(ChunkError::BadSize);
                    } else {
                        match b {
                            b'\r' => self.state = State::SizeLf,
                            b';' => self.state = State::Ext,
                            b' ' | b'\t' => self.state = State::SizeWs,
                            b'\n' => return Err(ChunkError::BadLineEnding),
                            _ => return Err(ChunkError::BadSize),
                        }
                    }
                }
                State::SizeWs => {
                    self.line += 1;
                    match b {
                        b' ' | b'\t' => {}
                        b';' => self.state = State::Ext,
                        _ => return Err(ChunkError::BadSize),
                    }
                }
                State::Ext => {
                    self.line += 1;
                    match b {
                        b'\r' => self.state = State::SizeLf,
                        b'\n' => return Err(ChunkError::BadLineEnding),
                        b'\t' | b' '..=0x7e | 0x80..=0xff => {}
                        _ => return Err(ChunkError::BadExtension),
                    }
                }
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(ChunkError::BadLineEnding);
                    }
                    self.line = 0;
                    self.digits = 0;
                    if self.remaining == 0 {
                        self.state = State::TrailerStart;
                    } else {
                        self.total = match self.total.checked_add(self.remaining) {
                            Some(t) if t <= self.max_body => t,
                            _ => return Err(ChunkError::TooLarge),
                        };
                        self.state = State::Data;
                    }
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(ChunkError::BadLineEnding);
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(ChunkError::BadLineEnding);
                    }
                    self.state = State::Size;
                }
                State::TrailerStart => {
                    self.trailers += 1;
                    match b {
                        b'\r' => self.state = State::EndLf,
                        b'\n' => return Err(ChunkError::BadLineEnding),
                        // obs-fold or a field starting with whitespace.
                        b' ' | b'\t' | b':' => return Err(ChunkError::BadTrailer),
                        _ if is_tchar(b) => self.state = State::Trailer,
                        _ => return Err(ChunkError::BadTrailer),
                    }
                }
                State::Trailer => {
                    self.trailers += 1;
                    match b {
                        b'\r' => self.state = State::TrailerLf,
                        b'\n' => return Err(ChunkError::BadLineEnding),
                        b'\t' | b' '..=0x7e | 0x80..=0xff => {}
                        _ => return Err(ChunkError::BadTrailer),
                    }
                }
                State::TrailerLf => {
                    self.trailers += 1;
                    if b != b'\n' {
                        return Err(ChunkError::BadLineEnding);
                    }
                    self.state = State::TrailerStart;
                }
                State::EndLf => {
                    if b != b'\n' {
                        return Err(ChunkError::BadLineEnding);
                    }
                    self.state = State::Done;
                }
                State::Done => unreachable!("the loop stops at Done"),
            }
            if self.line > MAX_CHUNK_LINE {
                return Err(ChunkError::BadExtension);
            }
            if self.trailers > MAX_TRAILERS {
                return Err(ChunkError::BadTrailer);
            }
            i += 1;
        }
        Ok((i, o))
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed `step` bytes at a time.
    fn decode(input: &[u8], step: usize) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut d = ChunkedDecoder::new(1 << 20);
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        let mut at = 0;
        while !d.is_done() && at < input.len() {
            let end = (at + step).min(input.len());
            let (c, p) = d.decode(&input[at..end], &mut buf)?;
            out.extend_from_slice(&buf[..p]);
            at += c;
        }
        Ok((out, at))
    }

    #[test]
    fn decodes_in_any_split() {
        let body = b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: y\r\n\r\nNEXT";
        for step in 1..body.len() {
            let (out, used) = decode(body, step).unwrap();
            assert_eq!(out, b"hello0123456789");
            assert_eq!(&body[used..], b"NEXT", "step {step}");
        }
    }

    #[test]
    fn refuses_what_cheroot_accepts() {
        for bad in [
            &b"0x5\r\nhello\r\n0\r\n\r\n"[..],
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"5_0\r\nhello\r\n0\r\n\r\n",
            b"\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"10000000000000000\r\n",
            b"0\r\n\n",
            b"0\r\n X: y\r\n\r\n",
        ] {
            assert!(
                decode(bad, 1).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            decode(b"10000000000000000\r\n", 64).unwrap_err(),
            ChunkError::SizeOverflow
        );
    }

    #[test]
    fn the_body_limit_is_enforced_at_the_size_line() {
        let mut d = ChunkedDecoder::new(4);
        assert_eq!(
            d.decode(b"5\r\nhello", &mut [0; 16]).unwrap_err(),
            ChunkError::TooLarge
        );
    }
}

//! A static-file handler (`--root DIR`), nginx-like: GET and HEAD only, nothing outside the root
//! (`..`, encoded dots and slashes, NUL, symlinks leading out), no listings, validators
//! (`Last-Modified`, `ETag`) with their conditional requests (412, 304), byte ranges (206,
//! multipart for several, 416), directories redirected to their slash form (301), and files
//! streamed in pieces, never read whole.

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use http::{Method, StatusCode};

use crate::{Handler, HandlerError, Request, Response};

/// Serves the files under a root directory.
#[derive(Clone, Debug)]
pub struct StaticFiles {
    /// The root, canonical (symlinks resolved), so that a resolved file can be checked to be
    /// inside it.
    root: PathBuf,
}

impl StaticFiles {
    /// Serves `root`; an error names the directory when it cannot be used.
    pub fn new(root: impl AsRef<Path>) -> io::Result<StaticFiles> {
        let root = root.as_ref();
        let canonical = root
            .canonicalize()
            .map_err(|e| io::Error::new(e.kind(), format!("root {}: {e}", root.display())))?;
        if !canonical.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("root {} is not a directory", root.display()),
            ));
        }
        Ok(StaticFiles { root: canonical })
    }

    /// The root served (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file for a request path, or the status that refuses it. A directory named without
    /// its trailing slash is `Ok(None)`: nginx redirects it to the slash form (so that relative
    /// links in its index resolve), with or without an index.
    fn resolve(&self, path: &str) -> Result<Option<(PathBuf, Metadata)>, StatusCode> {
        let mut file = self.root.clone();
        let ends_with_slash = path.ends_with('/');
        for raw in path.split('/') {
            let seg = percent_decode(raw).ok_or(StatusCode::BAD_REQUEST)?;
            if seg.is_empty() || seg == b"." {
                continue;
            }
            if seg == b".."
                || seg.iter().any(|&b| b == b'/' || b == b'\\' || b == 0)
                || (cfg!(windows) && seg.contains(&b':'))
            {
                return Err(StatusCode::FORBIDDEN);
            }
            file.push(segment(&seg).ok_or(StatusCode::NOT_FOUND)?);
        }
        let mut meta = std::fs::metadata(&file).map_err(|_| StatusCode::NOT_FOUND)?;
        if meta.is_dir() {
            if !ends_with_slash {
                let real = file.canonicalize().map_err(|_| StatusCode::NOT_FOUND)?;
                if !real.starts_with(&self.root) {
                    return Err(StatusCode::FORBIDDEN);
                }
                return Ok(None);
            }
            file.push("index.html");
            meta = std::fs::metadata(&file).map_err(|_| StatusCode::NOT_FOUND)?;
        } else if ends_with_slash {
            // `/file.txt/` names a directory that is not there (nginx: ENOTDIR, 404).
            return Err(StatusCode::NOT_FOUND);
        }
        if !meta.is_file() {
            return Err(StatusCode::NOT_FOUND);
        }
        // Symlinks: the real file must be inside the root.
        let real = file.canonicalize().map_err(|_| StatusCode::NOT_FOUND)?;
        if !real.starts_with(&self.root) {
            return Err(StatusCode::FORBIDDEN);
        }
        Ok(Some((real, meta)))
    }
}

impl Handler for StaticFiles {
    fn handle(&self, req: &mut Request<'_>, res: &mut Response<'_>) -> Result<(), HandlerError> {
        let is_head = req.method() == Method::HEAD;
        if !is_head && req.method() != Method::GET {
            res.set_status(StatusCode::METHOD_NOT_ALLOWED);
            res.header("Allow", "GET, HEAD")?;
            return simple(res, StatusCode::METHOD_NOT_ALLOWED);
        }
        let (path, meta) = match self.resolve(req.path()) {
            Ok(Some(found)) => found,
            Ok(None) => {
                let mut location = format!("{}/", req.path());
                if let Some(q) = req.query() {
                    location.push('?');
                    location.push_str(q);
                }
                res.header("Location", location)?;
                return simple(res, StatusCode::MOVED_PERMANENTLY);
            }
            Err(status) => return simple(res, status),
        };
        // Opened for HEAD too, so that HEAD answers what GET would (nginx: 403 when the file
        // cannot be read, not a 500).
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return simple(res, StatusCode::FORBIDDEN);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return simple(res, StatusCode::NOT_FOUND);
            }
            Err(e) => return Err(e.into()),
        };
        let len = meta.len();
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        let secs = mtime.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let etag = format!("\"{secs:x}-{len:x}\"");
        let last_modified =
            httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(secs));

        // Conditional requests in the order of RFC 9110 §13.2.2: If-Match, else
        // If-Unmodified-Since (412 when they fail, as nginx answers); then If-None-Match, which
        // wins over If-Modified-Since (304).
        let modified = UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let precondition_failed = match req.header_str("if-match") {
            Some(im) => {
                let im = im.trim();
                im != "*"
                    && !im
                        .split(',')
                        .map(str::trim)
                        .any(|t| !t.starts_with("W/") && t == etag)
            }
            None => req
                .header_str("if-unmodified-since")
                .and_then(|v| httpdate::parse_http_date(v).ok())
                .is_some_and(|since| modified > since),
        };
        if precondition_failed {
            return simple(res, StatusCode::PRECONDITION_FAILED);
        }
        let not_modified = match req.header_str("if-none-match") {
            Some(inm) => etag_matches(inm, &etag),
            None => req
                .header_str("if-modified-since")
                .and_then(|v| httpdate::parse_http_date(v).ok())
                .is_some_and(|since| UNIX_EPOCH + std::time::Duration::from_secs(secs) <= since),
        };
        res.header("Last-Modified", &last_modified)?;
        res.header("ETag", &etag)?;
        if not_modified {
            res.set_status(StatusCode::NOT_MODIFIED);
            return Ok(res.finish()?);
        }
        res.header("Accept-Ranges", "bytes")?;
        let ctype = content_type(&path);

        // Range (RFC 9110 §14.2), evaluated after the conditionals, as nginx does it.
        let mut ranges = Vec::new();
        if let Some(r) = req.header_str("range") {
            let if_range_ok = match req.header_str("if-range") {
                None => true,
                Some(v) if v.starts_with('"') || v.starts_with("W/") => v == etag,
                Some(v) => httpdate::parse_http_date(v)
                    .is_ok_and(|d| d == UNIX_EPOCH + std::time::Duration::from_secs(secs)),
            };
            if if_range_ok {
                match parse_ranges(r, len) {
                    RangeSpec::Ignore => {}
                    RangeSpec::Unsatisfiable => {
                        res.header("Content-Range", format!("bytes */{len}"))?;
                        return simple(res, StatusCode::RANGE_NOT_SATISFIABLE);
                    }
                    RangeSpec::Bytes(list) => ranges = list,
                }
            }
        }
        let mut f = if is_head { None } else { Some(file) };
        let mut buf = Vec::new();
        match ranges.as_slice() {
            [] => {
                res.header("Content-Type", ctype)?;
                res.start(Some(len))?;
                if let Some(f) = f.as_mut() {
                    copy_range(f, 0, len, &mut buf, res)?;
                }
            }
            &[(a, b)] => {
                res.set_status(StatusCode::PARTIAL_CONTENT);
                res.header("Content-Type", ctype)?;
                res.header("Content-Range", format!("bytes {a}-{b}/{len}"))?;
                res.start(Some(b - a + 1))?;
                if let Some(f) = f.as_mut() {
                    copy_range(f, a, b - a + 1, &mut buf, res)?;
                }
            }
            many => {
                // multipart/byteranges (RFC 9110 §14.6), laid out as nginx lays it out.
                let boundary = boundary();
                let part_head = |a: u64, b: u64| {
                    format!(
                        "\r\n--{boundary}\r\nContent-Type: {ctype}\r\nContent-Range: bytes {a}-{b}/{len}\r\n\r\n"
                    )
                };
                let tail = format!("\r\n--{boundary}--\r\n");
                let total = many.iter().fold(tail.len() as u64, |t, &(a, b)| {
                    t + part_head(a, b).len() as u64 + (b - a + 1)
                });
                res.set_status(StatusCode::PARTIAL_CONTENT);
                res.header(
                    "Content-Type",
                    format!("multipart/byteranges; boundary={boundary}"),
                )?;
                res.start(Some(total))?;
                if let Some(f) = f.as_mut() {
                    for &(a, b) in many {
                        res.write_all(part_head(a, b).as_bytes())?;
                        copy_range(f, a, b - a + 1, &mut buf, res)?;
                    }
                    res.write_all(tail.as_bytes())?;
                }
            }
        }
        Ok(res.finish()?)
    }
}

/// Streams `count` bytes of `f` from `start` in 64 KiB pieces.
fn copy_range(
    f: &mut File,
    start: u64,
    count: u64,
    buf: &mut Vec<u8>,
    res: &mut Response<'_>,
) -> Result<(), HandlerError> {
    buf.resize(64 * 1024, 0);
    f.seek(SeekFrom::Start(start))?;
    let mut left = count;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            return Err("the file shrank while it was sent".into());
        }
        res.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// A multipart boundary: 16 random hex digits no file is likely to hold at a line start.
fn boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}

/// A short HTML page for `status` (the headers already set stay).
fn simple(res: &mut Response<'_>, status: StatusCode) -> Result<(), HandlerError> {
    res.set_status(status);
    res.header("Content-Type", "text/html; charset=utf-8")?;
    let page = crate::exchange::error_page(status, None);
    Ok(res.send(page.as_bytes())?)
}

/// `%XX` decoding; `None` on a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = (*b.get(i + 1)? as char).to_digit(16)?;
            let lo = (*b.get(i + 2)? as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A decoded path segment as a file name.
#[cfg(unix)]
fn segment(seg: &[u8]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(seg)))
}

#[cfg(not(unix))]
fn segment(seg: &[u8]) -> Option<PathBuf> {
    std::str::from_utf8(seg).ok().map(PathBuf::from)
}

fn etag_matches(header: &str, etag: &str) -> bool {
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    header.trim() == "*" || header.split(',').any(|t| weak(t) == weak(etag))
}

enum RangeSpec {
    Ignore,
    Unsatisfiable,
    /// Satisfiable ranges, `(first, last)` inclusive, in the order asked.
    Bytes(Vec<(u64, u64)>),
}

/// More ranges than this in one request and the whole file is sent instead.
const MAX_RANGES: usize = 64;

/// A `bytes=` range set (RFC 9110 §14.1.2; the unit is case-insensitive), as nginx reads it:
/// ranges that start past the end are dropped, none left is 416, ranges that add up to more
/// than the file (overlaps) get the whole file. Other units, bad syntax and `last < first`
/// make the field invalid, so it is ignored (the whole file is sent), as the RFC says.
fn parse_ranges(v: &str, len: u64) -> RangeSpec {
    let v = v.trim();
    let Some(spec) = v
        .get(..6)
        .filter(|u| u.eq_ignore_ascii_case("bytes="))
        .map(|_| &v[6..])
    else {
        return RangeSpec::Ignore;
    };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    let mut out = Vec::new();
    let mut sum = 0u64;
    let mut seen = 0;
    for item in spec.split(',').map(str::trim) {
        if item.is_empty() {
            continue; // empty list elements are allowed (RFC 9110 §5.6.1)
        }
        seen += 1;
        if seen > MAX_RANGES {
            return RangeSpec::Ignore;
        }
        let Some((a, b)) = item.split_once('-') else {
            return RangeSpec::Ignore;
        };
        let (first, last) = match (a.is_empty(), num(a), num(b)) {
            (true, _, Some(suffix)) => {
                if suffix == 0 || len == 0 {
                    continue;
                }
                (len.saturating_sub(suffix), len - 1)
            }
            (false, Some(first), last) if b.is_empty() || last.is_some() => {
                if last.is_some_and(|l| l < first) {
                    return RangeSpec::Ignore;
                }
                if first >= len {
                    continue;
                }
                (first, last.map_or(len - 1, |l| l.min(len - 1)))
            }
            _ => return RangeSpec::Ignore,
        };
        sum = sum.saturating_add(last - first + 1);
        out.push((first, last));
    }
    if seen == 0 {
        RangeSpec::Ignore
    } else if out.is_empty() {
        RangeSpec::Unsatisfiable
    } else if sum > len {
        RangeSpec::Ignore
    } else {
        RangeSpec::Bytes(out)
    }
}

fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "avif" => "image/avif",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &str, len: u64) -> Option<Vec<(u64, u64)>> {
        match parse_ranges(v, len) {
            RangeSpec::Bytes(b) => Some(b),
            _ => None,
        }
    }

    #[test]
    fn ranges_parse_as_the_rfc_says() {
        assert_eq!(bytes("bytes=0-4", 10), Some(vec![(0, 4)]));
        assert_eq!(bytes("bytes=5-", 10), Some(vec![(5, 9)]));
        assert_eq!(bytes("bytes=-3", 10), Some(vec![(7, 9)]));
        assert_eq!(bytes("bytes=8-100", 10), Some(vec![(8, 9)]));
        assert_eq!(bytes("BYTES=1-2", 10), Some(vec![(1, 2)]));
        assert_eq!(bytes("bytes=0-1, 3-4", 10), Some(vec![(0, 1), (3, 4)]));
        assert_eq!(bytes("bytes=0-1,,3-4", 10), Some(vec![(0, 1), (3, 4)]));
        assert_eq!(bytes("bytes=0-1,30-40", 10), Some(vec![(0, 1)]));
        assert!(matches!(
            parse_ranges("bytes=10-", 10),
            RangeSpec::Unsatisfiable
        ));
        assert!(matches!(
            parse_ranges("bytes=-0", 10),
            RangeSpec::Unsatisfiable
        ));
        assert!(matches!(
            parse_ranges("bytes=0-9,0-9", 10),
            RangeSpec::Ignore
        ));
        assert!(matches!(parse_ranges("items=0-1", 10), RangeSpec::Ignore));
        assert!(matches!(parse_ranges("bytes=5-2", 10), RangeSpec::Ignore));
        assert!(matches!(parse_ranges("bytes=+1-2", 10), RangeSpec::Ignore));
        assert!(matches!(parse_ranges("bytes=", 10), RangeSpec::Ignore));
        let many = format!("bytes={}", vec!["0-0"; MAX_RANGES + 1].join(","));
        assert!(matches!(parse_ranges(&many, 10), RangeSpec::Ignore));
    }

    #[test]
    fn percent_decoding_refuses_bad_escapes() {
        assert_eq!(percent_decode("%2e%2E").unwrap(), b"..");
        assert!(percent_decode("%2").is_none());
        assert!(percent_decode("%zz").is_none());
    }
}

//! A static-file handler (`--root DIR`), nginx-like: GET and HEAD only, nothing outside the root
//! (`..`, encoded dots and slashes, NUL, symlinks leading out), no listings, validators
//! (`Last-Modified`, `ETag`) with their conditional requests, single byte ranges, and files
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

    /// The file for a request path, or the status that refuses it.
    fn resolve(&self, path: &str) -> Result<(PathBuf, Metadata), StatusCode> {
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
                // nginx redirects to the slash form; with no index we would 404 anyway.
            }
            file.push("index.html");
            meta = std::fs::metadata(&file).map_err(|_| StatusCode::NOT_FOUND)?;
        }
        if !meta.is_file() {
            return Err(StatusCode::NOT_FOUND);
        }
        // Symlinks: the real file must be inside the root.
        let real = file.canonicalize().map_err(|_| StatusCode::NOT_FOUND)?;
        if !real.starts_with(&self.root) {
            return Err(StatusCode::FORBIDDEN);
        }
        Ok((real, meta))
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
            Ok(found) => found,
            Err(status) => return simple(res, status),
        };
        let len = meta.len();
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        let secs = mtime.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let etag = format!("\"{secs:x}-{len:x}\"");
        let last_modified =
            httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(secs));

        // Conditional requests (RFC 9110 §13.2.2): If-None-Match wins over If-Modified-Since.
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
        res.header("Content-Type", content_type(&path))?;
        res.header("Accept-Ranges", "bytes")?;

        let mut range = None;
        if let Some(r) = req.header_str("range") {
            let if_range_ok = match req.header_str("if-range") {
                None => true,
                Some(v) if v.starts_with('"') || v.starts_with("W/") => v == etag,
                Some(v) => httpdate::parse_http_date(v)
                    .is_ok_and(|d| d == UNIX_EPOCH + std::time::Duration::from_secs(secs)),
            };
            if if_range_ok {
                match parse_range(r, len) {
                    RangeSpec::Ignore => {}
                    RangeSpec::Unsatisfiable => {
                        res.set_status(StatusCode::RANGE_NOT_SATISFIABLE);
                        res.header("Content-Range", format!("bytes */{len}"))?;
                        return simple(res, StatusCode::RANGE_NOT_SATISFIABLE);
                    }
                    RangeSpec::Bytes(a, b) => range = Some((a, b)),
                }
            }
        }
        let (start, count) = match range {
            Some((a, b)) => {
                res.set_status(StatusCode::PARTIAL_CONTENT);
                res.header("Content-Range", format!("bytes {a}-{b}/{len}"))?;
                (a, b - a + 1)
            }
            None => (0, len),
        };
        res.start(Some(count))?;
        if is_head {
            return Ok(res.finish()?);
        }
        let mut f = File::open(&path)?;
        if start > 0 {
            f.seek(SeekFrom::Start(start))?;
        }
        let mut left = count;
        let mut buf = vec![0u8; 64 * 1024];
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = f.read(&mut buf[..want])?;
            if n == 0 {
                return Err("the file shrank while it was sent".into());
            }
            res.write_all(&buf[..n])?;
            left -= n as u64;
        }
        Ok(res.finish()?)
    }
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
    Bytes(u64, u64),
}

/// One `bytes=` range (RFC 9110 §14.1.2). Several ranges, other units or bad syntax are
/// ignored (the whole file is sent), as the RFC allows.
fn parse_range(v: &str, len: u64) -> RangeSpec {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if spec.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Ignore;
    };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (a.is_empty(), num(a), num(b)) {
        (true, _, Some(suffix)) => {
            if suffix == 0 || len == 0 {
                RangeSpec::Unsatisfiable
            } else {
                RangeSpec::Bytes(len.saturating_sub(suffix), len - 1)
            }
        }
        (false, Some(first), last) if b.is_empty() || last.is_some() => {
            if last.is_some_and(|l| l < first) {
                return RangeSpec::Ignore;
            }
            if first >= len {
                return RangeSpec::Unsatisfiable;
            }
            RangeSpec::Bytes(first, last.map_or(len - 1, |l| l.min(len - 1)))
        }
        _ => RangeSpec::Ignore,
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

    #[test]
    fn ranges_parse_as_the_rfc_says() {
        assert!(matches!(
            parse_range("bytes=0-4", 10),
            RangeSpec::Bytes(0, 4)
        ));
        assert!(matches!(
            parse_range("bytes=5-", 10),
            RangeSpec::Bytes(5, 9)
        ));
        assert!(matches!(
            parse_range("bytes=-3", 10),
            RangeSpec::Bytes(7, 9)
        ));
        assert!(matches!(
            parse_range("bytes=8-100", 10),
            RangeSpec::Bytes(8, 9)
        ));
        assert!(matches!(
            parse_range("bytes=10-", 10),
            RangeSpec::Unsatisfiable
        ));
        assert!(matches!(
            parse_range("bytes=-0", 10),
            RangeSpec::Unsatisfiable
        ));
        assert!(matches!(
            parse_range("bytes=0-1,3-4", 10),
            RangeSpec::Ignore
        ));
        assert!(matches!(parse_range("items=0-1", 10), RangeSpec::Ignore));
        assert!(matches!(parse_range("bytes=5-2", 10), RangeSpec::Ignore));
        assert!(matches!(parse_range("bytes=+1-2", 10), RangeSpec::Ignore));
    }

    #[test]
    fn percent_decoding_refuses_bad_escapes() {
        assert_eq!(percent_decode("%2e%2E").unwrap(), b"..");
        assert!(percent_decode("%2").is_none());
        assert!(percent_decode("%zz").is_none());
    }
}

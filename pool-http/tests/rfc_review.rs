//! Review of pool-http against cheroot's test suite, RFC 9110 / 9112 and what nginx does for a
//! static server on the same input: one test per rule a review found broken.

mod common;

use std::path::PathBuf;

use common::*;
use pool_http::{Config, HandlerError, Request, Response, Server, StaticFiles};

/// A fresh served directory.
fn root(name: &str) -> PathBuf {
    let base = std::env::temp_dir().join(format!("pool-http-review-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(base.join("withindex")).unwrap();
    std::fs::create_dir_all(base.join("noindex")).unwrap();
    std::fs::write(base.join("withindex/index.html"), "index!").unwrap();
    std::fs::write(base.join("digits.txt"), "0123456789").unwrap();
    base
}

fn files(name: &str) -> Server {
    serve(StaticFiles::new(root(name)).unwrap(), Config::default())
}

fn req(s: &Server, method: &str, path: &str, extra: &str) -> Resp {
    one(
        s.local_addr(),
        format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes(),
    )
}

fn echo_target(req: &mut Request<'_>, res: &mut Response<'_>) -> Result<(), HandlerError> {
    let text = format!("{} {}", req.method(), req.target());
    res.send(text.as_bytes())?;
    Ok(())
}

#[test]
fn a_directory_without_its_trailing_slash_is_redirected_301_as_nginx_does() {
    let s = files("redirect");
    let r = req(&s, "GET", "/withindex", "");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/withindex/"));
    assert!(
        !r.text().contains("index!"),
        "the redirect is not the index"
    );
    // The query goes along; a directory without an index is redirected too (then 404).
    let r = req(&s, "GET", "/noindex?a=1", "");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/noindex/?a=1"));
    let r = req(&s, "HEAD", "/withindex", "");
    assert_eq!(r.status, 301);
    assert_eq!(req(&s, "GET", "/withindex/", "").text(), "index!");
}

#[test]
fn a_file_named_with_a_trailing_slash_is_404() {
    let s = files("fileslash");
    assert_eq!(req(&s, "GET", "/digits.txt/", "").status, 404);
    assert_eq!(req(&s, "GET", "/digits.txt", "").status, 200);
}

#[test]
fn a_416_carries_exactly_one_content_type() {
    let s = files("416type");
    let r = req(&s, "GET", "/digits.txt", "Range: bytes=10-\r\n");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */10"));
    let types = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .count();
    assert_eq!(types, 1, "{:?}", r.headers);
}

#[test]
fn the_range_unit_is_case_insensitive() {
    let s = files("rangecase");
    let r = req(&s, "GET", "/digits.txt", "Range: Bytes=2-4\r\n");
    assert_eq!((r.status, r.text().as_str()), (206, "234"));
}

#[test]
fn multiple_ranges_get_a_multipart_byteranges_206_as_nginx_does() {
    let s = files("multirange");
    let r = req(&s, "GET", "/digits.txt", "Range: bytes=0-1,5-6\r\n");
    assert_eq!(r.status, 206);
    let ct = r.header("content-type").unwrap().to_owned();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .expect("multipart/byteranges");
    assert!(r.header("content-range").is_none());
    let body = r.text();
    assert_eq!(
        r.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    let want = format!(
        "\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-1/10\r\n\r\n01\
         \r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 5-6/10\r\n\r\n56\
         \r\n--{boundary}--\r\n"
    );
    assert_eq!(body, want);
    // HEAD gets the same head and no body.
    let h = req(&s, "HEAD", "/digits.txt", "Range: bytes=0-1,5-6\r\n");
    assert_eq!(h.status, 206);
    assert_eq!(h.header("content-length"), r.header("content-length"));
    // One satisfiable range among several: a plain 206 of that range.
    let r = req(&s, "GET", "/digits.txt", "Range: bytes=2-3,50-60\r\n");
    assert_eq!((r.status, r.text().as_str()), (206, "23"));
    assert_eq!(r.header("content-range"), Some("bytes 2-3/10"));
    // Ranges that add up to more than the file: the whole file (nginx).
    let r = req(&s, "GET", "/digits.txt", "Range: bytes=0-8,1-9\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789"));
    // None satisfiable: 416.
    let r = req(&s, "GET", "/digits.txt", "Range: bytes=20-30,40-\r\n");
    assert_eq!(r.status, 416);
}

#[test]
fn a_major_version_above_1_is_505_even_with_two_digits() {
    let s = serve(echo_target, Config::default());
    for v in ["HTTP/2.15", "HTTP/10.0"] {
        let r = one(
            s.local_addr(),
            format!("GET / {v}\r\nHost: t\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, 505, "{v}");
    }
    for v in ["HTTP/1", "HTTPS/1.1", "HTTP/1.1.1", "http/1.1"] {
        let r = one(
            s.local_addr(),
            format!("GET / {v}\r\nHost: t\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, 400, "{v}");
    }
}

#[test]
fn a_method_with_lowercase_letters_is_400_as_cheroot_and_nginx_answer() {
    let s = serve(echo_target, Config::default());
    let r = one(s.local_addr(), b"GeT / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 400);
    assert_eq!(r.header("connection"), Some("close"));
    // Uppercase extension methods still reach the handler.
    let r = one(s.local_addr(), b"PROPFIND / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "PROPFIND /"));
}

#[test]
fn connect_with_an_origin_form_target_gets_405_from_the_static_server() {
    let s = files("connect");
    let r = one(
        s.local_addr(),
        b"CONNECT /anything HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    let r = one(
        s.local_addr(),
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    );
    assert_eq!(r.status, 405);
}

#[test]
fn an_http10_keep_alive_response_says_keep_alive_as_cheroot_spells_it() {
    let s = serve(echo_target, Config::default());
    let mut r = Reader::new(connect(s.local_addr()));
    r.send(b"GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    let resp = r.response(false).unwrap();
    assert_eq!(resp.header("connection"), Some("Keep-Alive"));
    r.send(b"GET /b HTTP/1.0\r\n\r\n");
    assert_eq!(r.response(false).unwrap().text(), "GET /b");
}

fn echo_header(req: &mut Request<'_>, res: &mut Response<'_>) -> Result<(), HandlerError> {
    let raw = req.header("x-v").map(<[u8]>::to_vec).unwrap_or_default();
    let mapped = req
        .headers()
        .get("X-V")
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    let text = format!(
        "[{}][{}]",
        String::from_utf8_lossy(&raw),
        String::from_utf8_lossy(&mapped)
    );
    res.send(text.as_bytes())?;
    Ok(())
}

#[test]
fn header_values_are_trimmed_of_surrounding_whitespace_and_names_match_any_case() {
    let s = serve(echo_header, Config::default());
    let r = one(
        s.local_addr(),
        b"GET / HTTP/1.1\r\nHost: t\r\nx-V: \t a  b \t \r\n\r\n",
    );
    assert_eq!(r.text(), "[a  b][a  b]");
}

fn echo_host(req: &mut Request<'_>, res: &mut Response<'_>) -> Result<(), HandlerError> {
    let text = format!("{:?} {}", req.host(), req.path());
    res.send(text.as_bytes())?;
    Ok(())
}

#[test]
fn an_absolute_form_target_overrides_the_host_field() {
    let s = serve(echo_host, Config::default());
    let r = one(
        s.local_addr(),
        b"GET http://y.example:81/p?q HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(r.text(), "Some(\"y.example:81\") /p");
    let r = one(s.local_addr(), b"GET /p HTTP/1.1\r\nHost: x:8080\r\n\r\n");
    assert_eq!(r.text(), "Some(\"x:8080\") /p");
    let r = one(s.local_addr(), b"GET /p HTTP/1.0\r\n\r\n");
    assert_eq!(r.text(), "None /p");
}

/// A snapshot reads its counters one by one while workers move them: a request received and
/// answered between the two reads shows as answered but not received.
#[test]
fn in_flight_never_underflows_on_a_snapshot_taken_mid_update() {
    let s = serve(echo_target, Config::default());
    let mut st = s.stats();
    st.received = 5;
    st.answered = 6;
    assert_eq!(st.in_flight(), 0);
    assert!(st.to_string().contains("0 in flight"), "{st}");
}

fn read_body(req: &mut Request<'_>, res: &mut Response<'_>) -> Result<(), HandlerError> {
    use std::io::Read;
    let mut body = Vec::new();
    req.body().read_to_end(&mut body)?;
    res.send(format!("got {}", body.len()).as_bytes())?;
    Ok(())
}

#[test]
fn a_client_that_closes_mid_body_leaves_the_ledger_balanced() {
    use std::io::Write;
    let s = serve(read_body, Config::default());
    for _ in 0..3 {
        let mut c = connect(s.local_addr());
        c.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc")
            .unwrap();
        drop(c);
    }
    // Chunked, closed mid-chunk.
    let mut c = connect(s.local_addr());
    c.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc")
        .unwrap();
    drop(c);
    wait_until("the four requests settled", || {
        let st = s.stats();
        st.received == 4 && st.in_flight() == 0
    });
    let st = s.stats();
    assert_eq!(st.received, st.answered + st.cut + st.rejected_503, "{st}");
    // Chunked with trailers and Content-Length: 0 still work afterwards.
    let r = one(
        s.local_addr(),
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
    );
    assert_eq!(r.text(), "got 3");
    let r = one(
        s.local_addr(),
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(r.text(), "got 0");
}

#[test]
fn pipelined_requests_with_bodies_are_answered_in_order() {
    let s = serve(read_body, Config::default());
    let mut r = Reader::new(connect(s.local_addr()));
    r.send(
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab\
          POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n\
          GET / HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    for want in ["got 2", "got 1", "got 0"] {
        assert_eq!(r.response(false).unwrap().text(), want);
    }
}

/// RFC 9110 §10.1.1: a server that answers before reading the content SHOULD say whether it
/// will close; this one closes when the body was not read (it was never asked for, or is too
/// large to drain), so its response must say `Connection: close`.
#[test]
fn a_response_that_leaves_the_body_unread_and_closes_says_connection_close() {
    let s = serve(echo_target, Config::default());
    let mut r = Reader::new(connect(s.local_addr()));
    r.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let resp = r.response(false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("connection"), Some("close"), "{resp:?}");
    assert!(r.is_closed());
    // A handler that reads the body keeps the connection.
    let s = serve(read_body, Config::default());
    let mut r = Reader::new(connect(s.local_addr()));
    r.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(r.response(false).unwrap().status, 100);
    r.send(b"hello");
    let resp = r.response(false).unwrap();
    assert_eq!(
        (resp.text().as_str(), resp.header("connection")),
        ("got 5", None)
    );
}

#[test]
fn a_raw_non_ascii_byte_in_the_target_is_400() {
    let s = serve(echo_target, Config::default());
    let r = one(
        s.local_addr(),
        "GET /привіт HTTP/1.1\r\nHost: t\r\n\r\n".as_bytes(),
    );
    assert_eq!(r.status, 400);
    // Percent-encoded, it is an ordinary target.
    let r = one(
        s.local_addr(),
        b"GET /%D0%BF?%D1%97=1 HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(r.text(), "GET /%D0%BF?%D1%97=1");
}

#[test]
fn if_match_and_if_unmodified_since_that_fail_give_412() {
    let s = files("412");
    let etag = req(&s, "GET", "/digits.txt", "")
        .header("etag")
        .unwrap()
        .to_owned();
    let cases = [
        ("If-Match: \"nope\"\r\n".to_owned(), 412),
        (format!("If-Match: \"x\", {etag}\r\n"), 200),
        ("If-Match: *\r\n".to_owned(), 200),
        // If-Match uses the strong comparison: a weak tag never matches.
        (format!("If-Match: W/{etag}\r\n"), 412),
        (
            "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n".to_owned(),
            412,
        ),
        (
            "If-Unmodified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n".to_owned(),
            200,
        ),
        // An invalid date is ignored; If-Match wins over If-Unmodified-Since.
        ("If-Unmodified-Since: yesterday\r\n".to_owned(), 200),
        (
            format!("If-Match: {etag}\r\nIf-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"),
            200,
        ),
    ];
    for (extra, status) in cases {
        assert_eq!(
            req(&s, "GET", "/digits.txt", &extra).status,
            status,
            "{extra}"
        );
    }
}

/// nginx answers 403 for a file it may not read. As root every file is readable, so there the
/// test checks the file is served; as any other user it checks the 403.
#[cfg(unix)]
#[test]
fn a_file_the_server_may_not_read_is_403_not_500() {
    use std::os::unix::fs::PermissionsExt;
    let dir = root("unreadable");
    let file = dir.join("locked.txt");
    std::fs::write(&file, "locked").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    let readable = std::fs::File::open(&file).is_ok();
    let s = serve(StaticFiles::new(&dir).unwrap(), Config::default());
    for m in ["GET", "HEAD"] {
        let r = req(&s, m, "/locked.txt", "");
        if readable {
            assert_eq!(r.status, 200, "{m}");
        } else {
            assert_eq!(r.status, 403, "{m}");
            assert!(r.header("etag").is_none());
        }
    }
}

#[test]
fn a_head_request_the_loop_refuses_gets_no_body() {
    let s = serve(echo_target, Config::default());
    let out = exchange(
        s.local_addr(),
        b"HEAD / HTTP/1.1\r\nHost: t\r\nExpect: nope\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 417 "), "{out}");
    assert!(out.contains("Content-Length: "), "{out}");
    assert!(
        out.ends_with("\r\n\r\n"),
        "no content after the head: {out}"
    );
    let out = exchange(
        s.local_addr(),
        b"GET / HTTP/1.1\r\nHost: t\r\nExpect: nope\r\n\r\n",
    );
    assert!(out.ends_with("</html>\n"), "{out}");
}

//! RFC 9112 / 9110 rules over real sockets, one test per rule, and the handler API.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use http::StatusCode;
use pool_http::{Config, HandlerError, Limits, Request, Response, Server};

fn app(req: &mut Request<'_>, res: &mut Response<'_>) -> Result<(), HandlerError> {
    match req.path() {
        "/hello" => res.send(b"hello world")?,
        "/echo" => {
            let mut body = Vec::new();
            req.body().read_to_end(&mut body)?;
            res.send(&body)?;
        }
        "/stream" => {
            res.write_all(b"one,")?;
            res.flush()?;
            res.write_all(b"two,")?;
            res.write_all(b"three")?;
        }
        "/ignore-body" => res.send(b"ignored")?,
        "/panic" => panic!("secret panic text"),
        "/error" => return Err("secret error text".into()),
        "/panic-after-head" => {
            res.start(Some(100))?;
            res.write_all(b"partial")?;
            res.flush()?;
            panic!("late failure");
        }
        "/204" => {
            res.set_status(StatusCode::NO_CONTENT);
            res.send(b"must not appear")?;
        }
        "/304" => {
            res.set_status(StatusCode::NOT_MODIFIED);
            res.send(b"must not appear")?;
        }
        "/close" => {
            res.header("Connection", "close")?;
            res.send(b"bye")?;
        }
        p => res.send(p.as_bytes())?,
    }
    Ok(())
}

fn server() -> Server {
    serve(app, Config::default())
}

fn server_with(f: impl FnOnce(&mut Config)) -> Server {
    let mut c = Config::default();
    f(&mut c);
    serve(app, c)
}

/// Sends `req` and asserts the one response has `status` and the connection then closes.
fn refused(s: &Server, req: &[u8], status: u16) {
    let mut r = Reader::new(connect(s.local_addr()));
    r.send(req);
    let resp = r.response(false).expect("a response");
    assert_eq!(
        resp.status,
        status,
        "for {:?}",
        String::from_utf8_lossy(req)
    );
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(r.is_closed(), "the connection closes after a refused head");
}

const H: &str = "Host: t\r\n";

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let s = server();
    let mut r = Reader::new(connect(s.local_addr()));
    for _ in 0..3 {
        r.send(&get("/hello"));
        let resp = r.response(false).unwrap();
        assert_eq!((resp.status, resp.text().as_str()), (200, "hello world"));
        assert_eq!(resp.header("connection"), None);
    }
    assert_eq!(s.stats().accepted, 1);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = server();
    let mut r = Reader::new(connect(s.local_addr()));
    let mut all = Vec::new();
    for i in 0..10 {
        all.extend(get(&format!("/p{i}")));
        all.extend(format!("POST /echo HTTP/1.1\r\n{H}Content-Length: 3\r\n\r\nb{i:02}").bytes());
    }
    r.send(&all);
    for i in 0..10 {
        assert_eq!(r.response(false).unwrap().text(), format!("/p{i}"));
        assert_eq!(r.response(false).unwrap().text(), format!("b{i:02}"));
    }
}

#[test]
fn chunked_request_body_is_decoded_with_extensions_and_trailers() {
    let s = server();
    let req = format!(
        "POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    );
    let mut r = Reader::new(connect(s.local_addr()));
    r.send(req.as_bytes());
    r.send(&get("/after"));
    assert_eq!(r.response(false).unwrap().text(), "hello world");
    assert_eq!(r.response(false).unwrap().text(), "/after");
}

#[test]
fn chunked_response_when_length_unknown() {
    let s = server();
    let raw = exchange(
        s.local_addr(),
        format!("GET /stream HTTP/1.1\r\n{H}Connection: close\r\n\r\n").as_bytes(),
    );
    assert!(raw.contains("Transfer-Encoding: chunked\r\n"), "{raw}");
    assert!(!raw.contains("Content-Length"), "{raw}");
    assert!(raw.ends_with("5\r\nthree\r\n0\r\n\r\n"), "{raw}");
    let resp = one(s.local_addr(), &get("/stream"));
    assert_eq!(resp.text(), "one,two,three");
}

#[test]
fn http10_streamed_response_is_close_delimited() {
    let s = server();
    let raw = exchange(
        s.local_addr(),
        b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    assert!(!raw.contains("chunked"), "{raw}");
    assert!(raw.contains("Connection: close\r\n"), "{raw}");
    assert!(raw.ends_with("\r\n\r\none,two,three"), "{raw}");
}

#[test]
fn expect_100_continue_is_sent_only_when_the_handler_reads_the_body() {
    let s = server();
    let mut r = Reader::new(connect(s.local_addr()));
    r.send(
        format!("POST /echo HTTP/1.1\r\n{H}Content-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            .as_bytes(),
    );
    let interim = r.response(false).unwrap();
    assert_eq!(interim.status, 100);
    r.send(b"data");
    let resp = r.response(false).unwrap();
    assert_eq!((resp.status, resp.text().as_str()), (200, "data"));
}

#[test]
fn expect_100_continue_is_not_sent_when_the_handler_ignores_the_body() {
    let s = server();
    let mut r = Reader::new(connect(s.local_addr()));
    r.send(
        format!(
            "POST /ignore-body HTTP/1.1\r\n{H}Content-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        .as_bytes(),
    );
    let resp = r.response(false).unwrap();
    assert_eq!((resp.status, resp.text().as_str()), (200, "ignored"));
    // The body never came, so the connection cannot be reused: it closes.
    assert!(r.is_closed());
}

#[test]
fn an_unknown_expectation_gets_417() {
    let s = server();
    refused(
        &s,
        format!("POST /echo HTTP/1.1\r\n{H}Content-Length: 1\r\nExpect: teapot\r\n\r\nx")
            .as_bytes(),
        417,
    );
    assert_eq!(s.stats().refused_with(417), 1);
}

#[test]
fn head_gets_the_length_but_no_body() {
    let s = server();
    let mut r = Reader::new(connect(s.local_addr()));
    r.send(format!("HEAD /hello HTTP/1.1\r\n{H}\r\n").as_bytes());
    let resp = r.response(true).unwrap();
    assert_eq!(resp.header("content-length"), Some("11"));
    // The next response starts right after the head: no body bytes in between.
    r.send(&get("/next"));
    assert_eq!(r.response(false).unwrap().text(), "/next");
}

#[test]
fn status_204_and_304_have_no_body() {
    let s = server();
    let mut r = Reader::new(connect(s.local_addr()));
    for p in ["/204", "/304"] {
        r.send(&get(p));
        let resp = r.response(false).unwrap();
        assert!(
            resp.header("content-length").is_none() && resp.header("transfer-encoding").is_none()
        );
    }
    r.send(&get("/next"));
    assert_eq!(r.response(false).unwrap().text(), "/next");
}

#[test]
fn http10_without_keep_alive_closes() {
    let s = server();
    let mut r = Reader::new(connect(s.local_addr()));
    r.send(b"GET /hello HTTP/1.0\r\n\r\n");
    let resp = r.response(false).unwrap();
    assert_eq!(resp.text(), "hello world");
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(r.is_closed());
}

#[test]
fn http10_with_keep_alive_stays_open() {
    let s = server();
    let mut r = Reader::new(connect(s.local_addr()));
    for _ in 0..2 {
        r.send(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let resp = r.response(false).unwrap();
        assert!(
            resp.header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("keep-alive"))
        );
    }
}

#[test]
fn connection_close_from_the_client_is_honoured() {
    let s = server();
    let mut r = Reader::new(connect(s.local_addr()));
    r.send(format!("GET /hello HTTP/1.1\r\n{H}Connection: close\r\n\r\n").as_bytes());
    assert_eq!(
        r.response(false).unwrap().header("connection"),
        Some("close")
    );
    assert!(r.is_closed());
}

#[test]
fn connection_close_from_the_handler_is_honoured() {
    let s = server();
    let mut r = Reader::new(connect(s.local_addr()));
    r.send(&get("/close"));
    assert_eq!(
        r.response(false).unwrap().header("connection"),
        Some("close")
    );
    assert!(r.is_closed());
}

#[test]
fn every_response_has_a_date_header() {
    let s = server();
    let resp = one(s.local_addr(), &get("/hello"));
    let date = resp.header("date").expect("a Date header");
    assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    let refused = one(s.local_addr(), b"GET / HTTP/1.1\r\n\r\n");
    assert!(refused.header("date").is_some());
}

#[test]
fn a_request_line_over_the_limit_gets_414() {
    let s = server();
    let long = "a".repeat(Limits::default().max_request_line + 10);
    refused(
        &s,
        format!("GET /{long} HTTP/1.1\r\n{H}\r\n").as_bytes(),
        414,
    );
}

#[test]
fn a_header_block_over_the_limit_gets_431() {
    let s = server_with(|c| c.limits.max_header_bytes = 1024);
    let big = "b".repeat(2000);
    refused(
        &s,
        format!("GET / HTTP/1.1\r\n{H}X-Big: {big}\r\n\r\n").as_bytes(),
        431,
    );
    let many: String = (0..200).map(|i| format!("X-{i}: v\r\n")).collect();
    let s = server();
    refused(
        &s,
        format!("GET / HTTP/1.1\r\n{H}{many}\r\n").as_bytes(),
        431,
    );
}

#[test]
fn a_body_over_the_limit_gets_413_before_it_is_read() {
    let s = server_with(|c| c.limits.max_body_bytes = 100);
    // The body is never sent: the answer comes from the head alone.
    refused(
        &s,
        format!("POST /echo HTTP/1.1\r\n{H}Content-Length: 101\r\n\r\n").as_bytes(),
        413,
    );
    assert_eq!(s.stats().received, 0, "no worker saw it");
}

#[test]
fn a_chunked_body_over_the_limit_gets_413() {
    let s = server_with(|c| c.limits.max_body_bytes = 8);
    let resp = one(
        s.local_addr(),
        format!("POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n9\r\n123456789\r\n0\r\n\r\n").as_bytes(),
    );
    assert_eq!(resp.status, 413);
}

#[test]
fn a_head_that_does_not_arrive_in_time_gets_408_and_close() {
    let s = server_with(|c| c.header_timeout = Duration::from_millis(200));
    let mut r = Reader::new(connect(s.local_addr()));
    r.send(b"GET /hello HTTP/1.1\r\nHo");
    let resp = r.response(false).unwrap();
    assert_eq!(resp.status, 408);
    assert!(r.is_closed());
    assert_eq!(s.stats().refused_with(408), 1);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
    let s = server_with(|c| c.keep_alive_timeout = Duration::from_millis(200));
    let mut r = Reader::new(connect(s.local_addr()));
    r.send(&get("/hello"));
    r.response(false).unwrap();
    assert!(r.is_closed(), "closed silently, without a 408");
    wait_until("closed_idle counted", || s.stats().closed_idle == 1);
}

#[test]
fn content_length_with_transfer_encoding_is_400() {
    refused(&server(), format!("POST /echo HTTP/1.1\r\n{H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").as_bytes(), 400);
}

#[test]
fn differing_content_lengths_are_400() {
    let s = server();
    refused(
        &s,
        format!("POST /echo HTTP/1.1\r\n{H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")
            .as_bytes(),
        400,
    );
    refused(
        &s,
        format!("POST /echo HTTP/1.1\r\n{H}Content-Length: 3, 4\r\n\r\nabcd").as_bytes(),
        400,
    );
    // Identical values are one length (RFC 9112 §6.3).
    let ok = one(
        s.local_addr(),
        format!("POST /echo HTTP/1.1\r\n{H}Content-Length: 3, 3\r\n\r\nabc").as_bytes(),
    );
    assert_eq!(ok.text(), "abc");
}

#[test]
fn malformed_content_length_is_400() {
    let s = server();
    for v in [
        "+3",
        "-3",
        "3 3",
        "0x3",
        "3a",
        "",
        "99999999999999999999999",
    ] {
        refused(
            &s,
            format!("POST /echo HTTP/1.1\r\n{H}Content-Length: {v}\r\n\r\nabc").as_bytes(),
            400,
        );
    }
}

#[test]
fn chunk_sizes_that_are_not_plain_hex_or_overflow_are_400() {
    let s = server();
    for size in ["0x3", "+3", "3_0", "-3", "", "10000000000000000"] {
        let resp = one(
            s.local_addr(),
            format!("POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n{size}\r\nabc\r\n0\r\n\r\n").as_bytes(),
        );
        assert_eq!(resp.status, 400, "chunk size {size:?}");
        assert_eq!(resp.header("connection"), Some("close"));
    }
}

#[test]
fn chunked_not_last_is_400() {
    refused(
        &server(),
        format!("POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked, gzip\r\n\r\n").as_bytes(),
        400,
    );
}

#[test]
fn chunked_applied_twice_is_400() {
    let s = server();
    refused(
        &s,
        format!("POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked, chunked\r\n\r\n").as_bytes(),
        400,
    );
    refused(&s, format!("POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n").as_bytes(), 400);
}

#[test]
fn bare_lf_is_400() {
    let s = server();
    refused(&s, b"GET /hello HTTP/1.1\nHost: t\r\n\r\n", 400);
    refused(&s, b"GET /hello HTTP/1.1\r\nHost: t\n\n", 400);
    let resp = one(
        s.local_addr(),
        format!("POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(resp.status, 400);
}

#[test]
fn bare_cr_is_400() {
    let s = server();
    refused(&s, b"GET /hello HTTP/1.1\r\nHost: t\rX: y\r\n\r\n", 400);
    refused(&s, b"GET /hel\rlo HTTP/1.1\r\nHost: t\r\n\r\n", 400);
}

#[test]
fn whitespace_before_a_colon_is_400() {
    refused(&server(), b"GET /hello HTTP/1.1\r\nHost : t\r\n\r\n", 400);
}

#[test]
fn whitespace_before_the_first_header_is_400() {
    refused(&server(), b"GET /hello HTTP/1.1\r\n Host: t\r\n\r\n", 400);
}

#[test]
fn obs_fold_is_400() {
    refused(
        &server(),
        b"GET /hello HTTP/1.1\r\nHost: t\r\nX-A: b\r\n  c\r\n\r\n",
        400,
    );
}

#[test]
fn a_missing_host_on_http11_is_400() {
    let s = server();
    refused(&s, b"GET /hello HTTP/1.1\r\n\r\n", 400);
    // HTTP/1.0 may omit it.
    assert_eq!(
        one(s.local_addr(), b"GET /hello HTTP/1.0\r\n\r\n").status,
        200
    );
}

#[test]
fn a_duplicated_host_is_400() {
    refused(
        &server(),
        b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        400,
    );
}

#[test]
fn invalid_bytes_in_method_target_or_header_name_are_400() {
    let s = server();
    refused(&s, b"G(T /hello HTTP/1.1\r\nHost: t\r\n\r\n", 400);
    refused(&s, b"GET /he llo HTTP/1.1\r\nHost: t\r\n\r\n", 400);
    refused(&s, b"GET /he\x01llo HTTP/1.1\r\nHost: t\r\n\r\n", 400);
    refused(&s, b"GET hello HTTP/1.1\r\nHost: t\r\n\r\n", 400);
    refused(
        &s,
        b"GET /hello HTTP/1.1\r\nHost: t\r\nX(y): z\r\n\r\n",
        400,
    );
    refused(
        &s,
        b"GET /hello HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n",
        400,
    );
}

#[test]
fn an_unknown_transfer_coding_is_501() {
    refused(
        &server(),
        format!("POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
            .as_bytes(),
        501,
    );
}

#[test]
fn an_unsupported_version_is_505() {
    let s = server();
    refused(
        &s,
        format!("GET /hello HTTP/2.0\r\n{H}\r\n").as_bytes(),
        505,
    );
    refused(
        &s,
        format!("GET /hello HTTP/3.1\r\n{H}\r\n").as_bytes(),
        505,
    );
    // A higher 1.x minor is served as HTTP/1.1 (RFC 9110 §2.5).
    assert_eq!(
        one(
            s.local_addr(),
            format!("GET /hello HTTP/1.9\r\n{H}\r\n").as_bytes()
        )
        .status,
        200
    );
}

#[test]
fn no_byte_after_a_framing_error_is_read_as_a_request() {
    let s = server();
    let smuggled = format!(
        "POST /echo HTTP/1.1\r\n{H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n{H}\r\n"
    );
    let raw = exchange(s.local_addr(), smuggled.as_bytes());
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert_eq!(
        raw.matches("HTTP/1.1").count(),
        1,
        "one response only: {raw}"
    );
    assert!(!raw.contains("/smuggled"));
    let st = s.stats();
    assert_eq!((st.received, st.refused_with(400)), (0, 1));
}

#[test]
fn a_panicking_handler_gets_a_generic_500_without_its_text() {
    let s = server();
    let resp = one(s.local_addr(), &get("/panic"));
    assert_eq!(resp.status, 500);
    assert!(!resp.text().contains("secret"), "{}", resp.text());
    assert_eq!(resp.header("connection"), Some("close"));
    wait_until("the 500 is counted", || s.stats().answered_error == 1);
}

#[test]
fn the_panic_text_is_shown_only_with_debug_errors() {
    let s = server_with(|c| c.debug_errors = true);
    let resp = one(s.local_addr(), &get("/panic"));
    assert_eq!(resp.status, 500);
    assert!(resp.text().contains("secret panic text"), "{}", resp.text());
}

#[test]
fn a_handler_error_gets_a_500() {
    let s = server();
    let resp = one(s.local_addr(), &get("/error"));
    assert_eq!(resp.status, 500);
    assert!(!resp.text().contains("secret"));
}

#[test]
fn a_handler_that_fails_after_its_head_was_sent_gets_its_connection_closed() {
    let s = server();
    let raw = exchange(s.local_addr(), &get("/panic-after-head"));
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.ends_with("partial"), "no second response: {raw}");
    assert_eq!(raw.matches("HTTP/1.1").count(), 1);
    wait_until("the cut is counted", || s.stats().cut == 1);
}

#[test]
fn the_body_reader_stops_at_the_declared_length() {
    let s = server();
    let mut r = Reader::new(connect(s.local_addr()));
    r.send(
        format!(
            "POST /echo HTTP/1.1\r\n{H}Content-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\n{H}\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(r.response(false).unwrap().text(), "hello");
    assert_eq!(r.response(false).unwrap().text(), "/next");
}

#[test]
fn empty_lines_before_a_request_line_are_ignored() {
    let s = server();
    assert_eq!(
        one(
            s.local_addr(),
            format!("\r\n\r\nGET /hello HTTP/1.1\r\n{H}\r\n").as_bytes()
        )
        .status,
        200
    );
}

#[test]
fn transfer_encoding_in_an_http10_request_is_400() {
    refused(
        &server(),
        b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn oversized_chunk_trailers_are_400() {
    let s = server();
    let big = "x".repeat(10_000);
    let resp = one(
        s.local_addr(),
        format!("POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    );
    assert_eq!(resp.status, 400);
}

#[test]
fn a_short_body_against_the_declared_length_cuts_the_response_or_gets_a_500() {
    fn short(req: &mut Request<'_>, res: &mut Response<'_>) -> Result<(), HandlerError> {
        res.start(Some(10))?;
        res.write_all(b"12345")?;
        if req.path() == "/flushed" {
            res.flush()?;
        }
        Ok(())
    }
    let s = serve(short, Config::default());
    let raw = exchange(s.local_addr(), &get("/flushed"));
    assert!(
        raw.starts_with("HTTP/1.1 200") && raw.contains("Content-Length: 10"),
        "{raw}"
    );
    assert!(
        raw.ends_with("12345"),
        "closed after the bytes written: {raw}"
    );
    wait_until("the cut is counted", || s.stats().cut == 1);
    // Nothing had reached the socket: the server answers for the handler.
    let resp = one(s.local_addr(), &get("/buffered"));
    assert_eq!(resp.status, 500);
}

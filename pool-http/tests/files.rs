//! The static-file handler (`--root`), one test per rule of issue 13 item 5.

mod common;

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use common::*;
use pool_http::{Config, Server, StaticFiles};

/// A fresh directory under the target dir: `root/` (served) and `outside/` (not).
fn dirs(name: &str) -> (PathBuf, PathBuf) {
    let base = std::env::temp_dir().join(format!("pool-http-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    let outside = base.join("outside");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(root.join("withindex")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(root.join("hello.txt"), "hello file\n").unwrap();
    std::fs::write(root.join("page.html"), "<p>hi</p>").unwrap();
    std::fs::write(root.join("style.css"), "p{}").unwrap();
    std::fs::write(root.join("sub/data.json"), "{}").unwrap();
    std::fs::write(root.join("withindex/index.html"), "index!").unwrap();
    std::fs::write(root.join("digits.txt"), "0123456789").unwrap();
    std::fs::write(outside.join("secret.txt"), "SECRET").unwrap();
    (root, outside)
}

fn files(name: &str) -> (Server, PathBuf, PathBuf) {
    let (root, outside) = dirs(name);
    let s = serve(StaticFiles::new(&root).unwrap(), Config::default());
    (s, root, outside)
}

fn req(s: &Server, method: &str, path: &str, extra: &str) -> Resp {
    one(
        s.local_addr(),
        format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes(),
    )
}

fn never_the_secret(r: &Resp) {
    assert!(r.status == 403 || r.status == 404, "status {}", r.status);
    assert!(!r.text().contains("SECRET"));
}

#[test]
fn a_file_is_served_with_its_length_and_type() {
    let (s, ..) = files("serve");
    let r = req(&s, "GET", "/hello.txt", "");
    assert_eq!((r.status, r.text().as_str()), (200, "hello file\n"));
    assert_eq!(r.header("content-length"), Some("11"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    for (p, t) in [
        ("/page.html", "text/html; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/sub/data.json", "application/json"),
    ] {
        assert_eq!(req(&s, "GET", p, "").header("content-type"), Some(t), "{p}");
    }
}

#[test]
fn dot_dot_segments_are_refused() {
    let (s, ..) = files("dotdot");
    never_the_secret(&req(&s, "GET", "/../outside/secret.txt", ""));
    never_the_secret(&req(&s, "GET", "/sub/../../outside/secret.txt", ""));
}

#[test]
fn percent_encoded_dots_and_slashes_are_refused() {
    let (s, ..) = files("encoded");
    for p in [
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/..%2foutside%2fsecret.txt",
        "/%2e%2e%2foutside%2fsecret.txt",
        "/..%5coutside%5csecret.txt",
        "/sub%2f..%2f..%2foutside/secret.txt",
    ] {
        never_the_secret(&req(&s, "GET", p, ""));
    }
    // An encoded slash is refused even where it would stay inside the root.
    assert_eq!(req(&s, "GET", "/sub%2fdata.json", "").status, 403);
}

#[test]
fn absolute_paths_stay_inside_the_root() {
    let (root, outside) = dirs("absolute");
    let s2 = serve(StaticFiles::new(&root).unwrap(), Config::default());
    let abs = outside.join("secret.txt");
    never_the_secret(&req(&s2, "GET", &format!("/{}", abs.display()), ""));
    never_the_secret(&req(&s2, "GET", &format!("/%2f{}", abs.display()), ""));
    never_the_secret(&req(&s2, "GET", &format!("http://t{}", abs.display()), ""));
}

#[test]
fn nul_bytes_are_refused() {
    let (s, ..) = files("nul");
    let r = req(&s, "GET", "/hello.txt%00.html", "");
    assert_eq!(r.status, 403);
}

#[cfg(unix)]
#[test]
fn a_symlink_leading_outside_is_refused() {
    let (s, root, outside) = files("symlink");
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("linkdir")).unwrap();
    std::os::unix::fs::symlink(root.join("hello.txt"), root.join("inside.txt")).unwrap();
    never_the_secret(&req(&s, "GET", "/link.txt", ""));
    never_the_secret(&req(&s, "GET", "/linkdir/secret.txt", ""));
    assert_eq!(req(&s, "GET", "/inside.txt", "").text(), "hello file\n");
}

#[test]
fn a_directory_without_index_is_404_and_never_listed() {
    let (s, ..) = files("noindex");
    let r = req(&s, "GET", "/sub/", "");
    assert_eq!(r.status, 404);
    assert!(!r.text().contains("data.json"));
    assert_eq!(req(&s, "GET", "/", "").status, 404);
}

#[test]
fn a_directory_with_index_html_serves_it() {
    let (s, ..) = files("index");
    assert_eq!(req(&s, "GET", "/withindex/", "").text(), "index!");
}

#[test]
fn if_modified_since_gives_304() {
    let (s, ..) = files("ims");
    let first = req(&s, "GET", "/hello.txt", "");
    let lm = first.header("last-modified").unwrap().to_owned();
    let r = req(
        &s,
        "GET",
        "/hello.txt",
        &format!("If-Modified-Since: {lm}\r\n"),
    );
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let old = httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(1000));
    assert_eq!(
        req(
            &s,
            "GET",
            "/hello.txt",
            &format!("If-Modified-Since: {old}\r\n")
        )
        .status,
        200
    );
}

#[test]
fn if_none_match_gives_304() {
    let (s, ..) = files("inm");
    let etag = req(&s, "GET", "/hello.txt", "")
        .header("etag")
        .unwrap()
        .to_owned();
    assert_eq!(
        req(
            &s,
            "GET",
            "/hello.txt",
            &format!("If-None-Match: {etag}\r\n")
        )
        .status,
        304
    );
    assert_eq!(
        req(
            &s,
            "GET",
            "/hello.txt",
            &format!("If-None-Match: \"x\", W/{etag}\r\n")
        )
        .status,
        304
    );
    assert_eq!(
        req(&s, "GET", "/hello.txt", "If-None-Match: *\r\n").status,
        304
    );
    assert_eq!(
        req(&s, "GET", "/hello.txt", "If-None-Match: \"other\"\r\n").status,
        200
    );
}

#[test]
fn a_single_range_gives_206_with_content_range() {
    let (s, ..) = files("range");
    let r = req(&s, "GET", "/digits.txt", "Range: bytes=2-5\r\n");
    assert_eq!((r.status, r.text().as_str()), (206, "2345"));
    assert_eq!(r.header("content-range"), Some("bytes 2-5/10"));
    assert_eq!(
        req(&s, "GET", "/digits.txt", "Range: bytes=-3\r\n").text(),
        "789"
    );
    assert_eq!(
        req(&s, "GET", "/digits.txt", "Range: bytes=7-\r\n").text(),
        "789"
    );
}

#[test]
fn an_unsatisfiable_range_gives_416() {
    let (s, ..) = files("range416");
    let r = req(&s, "GET", "/digits.txt", "Range: bytes=10-20\r\n");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */10"));
}

#[test]
fn a_large_file_is_streamed_whole() {
    let (root, _) = dirs("large");
    let data: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("big.bin"), &data).unwrap();
    let s = serve(StaticFiles::new(&root).unwrap(), Config::default());
    let r = req(&s, "GET", "/big.bin", "");
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(r.body == data, "the streamed body matches the file");
}

#[test]
fn other_methods_get_405_with_allow() {
    let (s, ..) = files("405");
    for m in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let r = req(&s, m, "/hello.txt", "Content-Length: 0\r\n");
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }
}

#[test]
fn head_on_a_file_sends_its_length_and_no_body() {
    let (s, ..) = files("head");
    let mut rd = Reader::new(connect(s.local_addr()));
    rd.send(b"HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = rd.response(true).unwrap();
    assert_eq!(r.header("content-length"), Some("11"));
    rd.send(&get("/digits.txt"));
    assert_eq!(rd.response(false).unwrap().text(), "0123456789");
}

#[test]
fn a_missing_root_is_an_error_naming_it() {
    let e = StaticFiles::new(Path::new("/no/such/dir/x")).unwrap_err();
    assert!(e.to_string().contains("/no/such/dir/x"), "{e}");
}

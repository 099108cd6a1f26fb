//! The live stats page: the figures headless Chromium renders (after the page's script ran)
//! match `/_stats.json` while the server is under a bounded load; the page never shows request
//! contents; it can be switched off (`Config::stats_page`, `--no-stats`).
//!
//! Chromium: `$POOL_HTTP_CHROMIUM`, else `chromium` or `chromium-browser` on `PATH`. Where none
//! is found the browser test fails if `POOL_HTTP_REQUIRE_CHROMIUM=1` (CI sets it, see
//! `.ci/stats-page.sh`) and otherwise says loudly on stderr that it did not run.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use common::{Reader, connect, get, one};
use pool_http::{Config, HandlerError, Request, Response};

fn hello(req: &mut Request<'_>, res: &mut Response<'_>) -> Result<(), HandlerError> {
    let mut body = Vec::new();
    req.body().read_to_end(&mut body)?;
    res.header("Content-Type", "text/plain")?;
    res.send(format!("handler saw {}", req.path()).as_bytes())?;
    Ok(())
}

fn with_stats() -> Config {
    Config {
        stats_page: true,
        ..Config::default()
    }
}

/// The number at `path` (`"pool.completed"`, `"uptime_s"`) of the stats JSON; `None` for
/// `null`. Panics if the key is missing.
fn json_figure(json: &str, path: &str) -> Option<f64> {
    let (scope, key) = match path.split_once('.') {
        Some((group, key)) => {
            let start = json
                .find(&format!("\"{group}\": {{"))
                .unwrap_or_else(|| panic!("no group {group} in {json}"));
            let end = start + json[start..].find('}').expect("group ends");
            (&json[start..end], key)
        }
        None => (json, path),
    };
    let at = scope
        .find(&format!("\"{key}\": "))
        .unwrap_or_else(|| panic!("no {path} in {json}"));
    let rest = &scope[at + key.len() + 4..];
    let v: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .collect();
    if v == "null" {
        None
    } else {
        Some(v.parse().unwrap_or_else(|_| panic!("{path} = {v:?}")))
    }
}

/// Every `data-k="PATH">TEXT<` of a page.
fn rendered(dom: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(i) = rest.find("data-k=\"") {
        rest = &rest[i + 8..];
        let Some(q) = rest.find('"') else { break };
        let key = rest[..q].to_owned();
        let Some(gt) = rest.find('>') else { break };
        let Some(lt) = rest[gt..].find('<') else {
            break;
        };
        out.push((key, rest[gt + 1..gt + lt].to_owned()));
        rest = &rest[gt + lt..];
    }
    out
}

fn stats_json(addr: std::net::SocketAddr) -> String {
    let r = one(addr, &get("/_stats.json"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.text()
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("POOL_HTTP_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("chromium"), d.join("chromium-browser")])
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `url` and returns the DOM after the page's script ran (within a
/// virtual-time budget; the whole run bounded by a 90 s deadline).
fn dump_dom(chromium: &PathBuf, url: &str) -> String {
    let profile = std::env::temp_dir().join(format!(
        "pool-http-chromium-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&profile).unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=4000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut dom = String::new();
        let _ = stdout.read_to_string(&mut dom);
        let _ = tx.send(dom);
    });
    let dom = rx.recv_timeout(Duration::from_secs(90));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&profile);
    dom.expect("chromium dumped the DOM within 90 s")
}

#[test]
fn chromium_renders_the_figures_of_the_json_under_load() {
    let Some(chromium) = find_chromium() else {
        let msg = "chromium not found (set POOL_HTTP_CHROMIUM or install Debian's `chromium`): \
                   the stats page was NOT checked in a browser";
        assert!(
            std::env::var("POOL_HTTP_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "{msg}, and POOL_HTTP_REQUIRE_CHROMIUM=1 requires it"
        );
        eprintln!("WARNING: {msg}");
        return;
    };
    let server = common::serve(hello, with_stats());
    let addr = server.local_addr();
    // The bounded load: 4 keep-alive clients, at most 200,000 requests each, until told to stop
    // (or 60 s).
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
            std::thread::spawn(move || {
                let mut r = Reader::new(connect(addr));
                let until = Instant::now() + Duration::from_secs(60);
                for _ in 0..200_000 {
                    if stop.load(Relaxed) || Instant::now() > until {
                        break;
                    }
                    r.send(b"GET /load HTTP/1.1\r\nHost: x\r\n\r\n");
                    let resp = r.response(false).expect("a response");
                    assert_eq!(resp.status, 200);
                    sent.fetch_add(1, Relaxed);
                }
            })
        })
        .collect();
    common::wait_until("the load is running", || sent.load(Relaxed) >= 100);
    let before = stats_json(addr);
    let dom = dump_dom(&chromium, &format!("http://{addr}/_stats"));
    let after = stats_json(addr);
    stop.store(true, Relaxed);
    for c in clients {
        c.join().expect("a load client");
    }
    // The script ran: it counts its refreshes.
    let refreshes: u32 = dom
        .split("id=\"refreshes\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no refresh count in {dom}"));
    assert!(refreshes >= 1, "the page's script never refreshed: {dom}");
    assert!(
        dom.contains("<span id=\"status\"></span>"),
        "a refresh failed: {dom}"
    );
    let figures = rendered(&dom);
    assert!(figures.len() >= 20, "figures on the page: {figures:?}");
    for (key, text) in &figures {
        let b = json_figure(&before, key);
        let a = json_figure(&after, key);
        if key == "pool.starting" {
            assert!(b.is_none() && text == "n/a", "{key}: {text}");
            continue;
        }
        let shown: f64 = match text.parse() {
            Ok(v) => v,
            Err(_) => {
                // Percentiles are null until a response was timed; under load they are not.
                panic!("{key} shows {text:?}; the JSON had {b:?} then {a:?}")
            }
        };
        match key.as_str() {
            // Counters only grow: the page's value was read between the two JSON reads.
            // (`cut` too: the browser may go away with a refresh in flight.)
            "pool.completed" | "http.accepted" | "http.received" | "http.answered" | "http.cut"
            | "uptime_s" => {
                let (b, a) = (b.unwrap(), a.unwrap());
                assert!(
                    b <= shown && shown <= a,
                    "{key}: page {shown} not within the JSON's {b}..={a}"
                );
            }
            // Fixed under this load: exactly the JSON's figure.
            "pool.workers" | "pool.panicked" | "pool.rejected" | "http.rejected_503" => {
                assert_eq!(Some(shown), b, "{key}");
                assert_eq!(Some(shown), a, "{key}");
            }
            // Gauges: within what the load (4 clients, the browser, the test) can make.
            _ if key.starts_with("http.latency") => {
                assert!(shown >= 1.0 && b.is_some() && a.is_some(), "{key}: {shown}");
            }
            "http.requests_per_s" => assert!(shown >= 0.0, "{key}: {shown}"),
            _ => assert!(
                (0.0..=16.0).contains(&shown) && b.is_some() && a.is_some(),
                "{key}: {shown}"
            ),
        }
    }
    let answered = figures
        .iter()
        .find(|(k, _)| k == "http.answered")
        .map(|(_, v)| v.parse::<f64>().unwrap())
        .expect("answered is shown");
    assert!(answered >= 100.0, "the page saw the load: {answered}");
    // The chart was drawn from the JSON's history.
    assert!(dom.contains("id=\"rate-line\""), "{dom}");
}

#[test]
fn the_stats_page_never_shows_request_contents() {
    let server = common::serve(hello, with_stats());
    let addr = server.local_addr();
    let secret = "s3cr3t-Zq8";
    let req = format!(
        "POST /{secret}?token={secret} HTTP/1.1\r\nHost: {secret}.example\r\nX-Api-Key: {secret}\r\n\
         Content-Length: {}\r\n\r\n{secret}",
        secret.len()
    );
    assert_eq!(one(addr, req.as_bytes()).status, 200);
    let page = one(addr, &get("/_stats"));
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let json = stats_json(addr);
    assert!(
        json_figure(&json, "http.answered").unwrap() >= 2.0,
        "{json}"
    );
    for text in [page.text(), json] {
        assert!(
            !text.contains(secret) && !text.contains("X-Api-Key"),
            "{text}"
        );
        assert!(!text.contains("127.0.0.1"), "no peer address: {text}");
    }
}

#[test]
fn switched_off_the_paths_go_to_the_handler() {
    let server = common::serve(hello, Config::default());
    let addr = server.local_addr();
    for path in ["/_stats", "/_stats.json"] {
        let r = one(addr, &get(path));
        assert_eq!(r.text(), format!("handler saw {path}"));
    }
    let on = common::serve(hello, with_stats());
    let r = one(
        on.local_addr(),
        b"POST /_stats HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
}

#[test]
fn the_binary_serves_the_page_unless_no_stats() {
    for (flags, want) in [(&[][..], 200), (&["--no-stats"][..], 404)] {
        let args: Vec<&str> = ["--bind", "127.0.0.1:0"]
            .into_iter()
            .chain(flags.iter().copied())
            .collect();
        let (mut child, _err, _, addr) = common::spawn_binary(&args);
        let r = one(addr, &get("/_stats.json"));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(r.status, want, "{flags:?}: {}", r.text());
        if want == 200 {
            assert!(json_figure(&r.text(), "pool.workers").is_some());
        }
    }
}

//! The `pool-http` binary: bad flag values get an error naming the flag (never a panic), and
//! SIGTERM stops it with a report.

mod common;

use std::io::Read;
use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pool-http"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_flag_values_get_an_error_naming_the_flag() {
    for (args, flag) in [
        (&["--queue-timeout", "abc"][..], "--queue-timeout"),
        (&["--queue-timeout", "-1"], "--queue-timeout"),
        (&["--header-timeout", "0"], "--header-timeout"),
        (&["--keep-alive-timeout", "NaN"], "--keep-alive-timeout"),
        (&["--max-workers", "0"], "--max-workers"),
        (&["--queue-size", "x"], "--queue-size"),
        (&["--max-header-bytes", "10"], "--max-header-bytes"),
        (&["--max-body-bytes", "-5"], "--max-body-bytes"),
        (&["--bind", "nowhere"], "--bind"),
        (&["--backend", "nope"], "--backend"),
        (
            &["--min-workers", "9", "--max-workers", "2"],
            "--min-workers",
        ),
        (
            &["--root", "/no/such/dir", "--bind", "127.0.0.1:0"],
            "--root",
        ),
    ] {
        let (code, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_server_and_prints_the_report_and_v_logs_requests() {
    let (mut child, mut err, _, addr) = common::spawn_binary(&["--bind", "127.0.0.1:0", "-v"]);
    let resp = common::one(addr, &common::get("/architecture.md"));
    assert_eq!(resp.status, 200);
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(out.contains("stopped: 1 requests served"), "{out}");
    let mut log = String::new();
    err.read_to_string(&mut log).unwrap();
    assert!(
        log.contains("pool_http::access")
            && log.contains("status=200")
            && log.contains("architecture.md"),
        "-v logs each request: {log}"
    );
}

/// Every backend of the workspace serves by name: `--backend classic|fast|iocp`.
#[cfg(unix)]
#[test]
fn every_backend_serves_by_name() {
    for backend in ["classic", "fast", "iocp"] {
        let (mut child, _err, banner, addr) =
            common::spawn_binary(&["--bind", "127.0.0.1:0", "--backend", backend]);
        assert!(
            banner.to_lowercase().contains(backend),
            "{backend}: the banner names the backend: {banner}"
        );
        let resp = common::one(addr, &common::get("/architecture.md"));
        assert_eq!(resp.status, 200, "{backend}");
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        assert!(child.wait().unwrap().success(), "{backend}");
    }
}

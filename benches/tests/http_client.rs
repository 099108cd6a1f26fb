//! The HTTP section's load client counts what each connection received: every connection of a
//! fair server is served, and a server that never answers some connections is seen starving
//! them (which `wrk` does not report). Loopback only, bounded in requests and time.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use benches::http::client::{self, Load};

fn hello(
    _req: &mut pool_http::Request<'_>,
    res: &mut pool_http::Response<'_>,
) -> Result<(), pool_http::HandlerError> {
    res.send(b"Hello, world!")?;
    Ok(())
}

#[test]
fn every_connection_of_a_fair_server_is_served_and_counted() {
    let pool = Arc::new(pool_core::Builder::new().min(2).max(4).fast().unwrap());
    let server = pool_http::Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        pool,
        hello,
        pool_http::Config::default(),
    )
    .unwrap();
    let load = Load {
        connections: 16,
        threads: 2,
        duration: Duration::from_secs(20),
        max_requests: 2_000,
    };
    let r = client::run(server.local_addr(), load).unwrap();
    assert_eq!(r.per_connection.len(), 16);
    assert_eq!(r.served(), 16, "{:?}", r.per_connection);
    assert_eq!(r.per_connection.iter().sum::<u64>(), r.responses);
    assert_eq!(r.latencies_ns.len() as u64, r.responses);
    assert!(
        r.responses <= 2_000 && r.responses >= 2_000 - 16,
        "{}",
        r.responses
    );
    assert_eq!(r.errors, 0);
    let stats = server.stats();
    assert!(stats.answered >= r.responses);
}

#[test]
fn a_server_that_never_answers_some_connections_is_seen_starving_them() {
    // Answers keep-alive requests on the first 3 connections it accepts; holds the rest open
    // without a byte.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (i, sock) in listener.incoming().enumerate() {
            let Ok(mut sock) = sock else { return };
            if i >= 3 {
                held.push(sock);
                continue;
            }
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut have = Vec::new();
                while let Ok(n) = sock.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    have.extend_from_slice(&buf[..n]);
                    while let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                        have.drain(..end + 4);
                        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
                        if sock.write_all(ok).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    let load = Load {
        connections: 8,
        threads: 1,
        duration: Duration::from_millis(500),
        max_requests: 1_000_000,
    };
    let r = client::run(addr, load).unwrap();
    assert_eq!(r.served(), 3, "{:?}", r.per_connection);
    assert!(r.responses > 3);
}

//! Admission (503), idle and slowloris connections that hold no worker, stop, the job ledger,
//! and every backend serving.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::*;
use pool_core::{Builder, Pool};
use pool_http::{Config, HandlerError, Request, Response};

/// A latch handlers block on until the test opens it, and a count of handlers inside.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<(Mutex<bool>, Condvar)>,
    inside: Arc<AtomicUsize>,
}

impl Gate {
    fn wait(&self) {
        self.inside.fetch_add(1, Ordering::SeqCst);
        let (m, c) = &*self.open;
        let g = m.lock().unwrap();
        let (_g, t) = c.wait_timeout_while(g, DEADLINE, |open| !*open).unwrap();
        assert!(!t.timed_out(), "the test never opened the gate");
    }
    fn open(&self) {
        *self.open.0.lock().unwrap() = true;
        self.open.1.notify_all();
    }
    fn inside(&self) -> usize {
        self.inside.load(Ordering::SeqCst)
    }
}

fn app(gate: Gate) -> impl Fn(&mut Request<'_>, &mut Response<'_>) -> Result<(), HandlerError> {
    move |req, res| {
        match req.path() {
            "/block" => {
                gate.wait();
                res.send(b"unblocked")?;
            }
            "/panic" => panic!("boom"),
            "/error" => return Err("failed".into()),
            "/body" => {
                let mut b = Vec::new();
                req.body().read_to_end(&mut b)?;
                res.send(&b)?;
            }
            _ => res.send(b"hello")?,
        }
        Ok(())
    }
}

#[test]
fn a_full_queue_gets_503_with_retry_after_from_the_loop() {
    let gate = Gate::default();
    let pool: Arc<dyn Pool> = Arc::new(Builder::new().fixed(1).capacity(1).fast().unwrap());
    let cfg = Config {
        queue_timeout: Duration::from_millis(100),
        retry_after: 7,
        ..Config::default()
    };
    let s = serve_on(Arc::clone(&pool), app(gate.clone()), cfg);
    let mut c1 = Reader::new(connect(s.local_addr()));
    c1.send(&get("/block"));
    wait_until("the only worker is busy", || gate.inside() == 1);
    let mut c2 = Reader::new(connect(s.local_addr()));
    c2.send(&get("/block"));
    wait_until("the queue holds one request", || pool.stats().queued == 1);
    let mut c3 = Reader::new(connect(s.local_addr()));
    c3.send(&get("/hello"));
    let r = c3.response(false).unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c3.is_closed());
    assert_eq!(gate.inside(), 1, "answered without a worker");
    assert_eq!(s.stats().rejected_503, 1);
    gate.open();
    assert_eq!(c1.response(false).unwrap().text(), "unblocked");
    assert_eq!(c2.response(false).unwrap().text(), "unblocked");
}

#[test]
fn two_thousand_idle_keep_alive_connections_hold_no_worker_of_four() {
    const IDLE: usize = 2000;
    // Each connection is two descriptors in this process (client and server side).
    let limit = rlimit::increase_nofile_limit(2 * IDLE as u64 + 512).unwrap();
    assert!(
        limit >= 2 * IDLE as u64 + 256,
        "RLIMIT_NOFILE hard limit {limit} is too low"
    );
    let pool: Arc<dyn Pool> = Arc::new(Builder::new().fixed(4).fast().unwrap());
    let cfg = Config {
        keep_alive_timeout: Duration::from_secs(120),
        ..Config::default()
    };
    let s = serve_on(Arc::clone(&pool), app(Gate::default()), cfg);
    let mut idle: Vec<Reader> = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        let mut r = Reader::new(connect(s.local_addr()));
        r.send(&get("/hello"));
        assert_eq!(r.response(false).unwrap().status, 200);
        idle.push(r);
    }
    wait_until("2000 idle connections", || s.stats().idle == IDLE);
    wait_until("every worker parks: idle connections hold none", || {
        pool.stats().busy == 0 && s.stats().busy == 0
    });
    assert_eq!(pool.stats().workers, 4);
    // A new client is served at once, and the idle ones are still open.
    let r = one(s.local_addr(), &get("/fresh"));
    assert_eq!(r.status, 200);
    wait_until("the 2000 are still idle and open", || {
        s.stats().idle == IDLE
    });
    // And every idle one can still be used.
    for r in idle.iter_mut().step_by(97) {
        r.send(&get("/again"));
        assert_eq!(r.response(false).unwrap().status, 200);
    }
}

#[test]
fn twenty_slowloris_clients_do_not_stop_a_normal_client() {
    let pool: Arc<dyn Pool> = Arc::new(Builder::new().fixed(2).fast().unwrap());
    let cfg = Config {
        header_timeout: Duration::from_secs(60),
        ..Config::default()
    };
    let s = serve_on(Arc::clone(&pool), app(Gate::default()), cfg);
    let mut slow: Vec<TcpStream> = (0..20).map(|_| connect(s.local_addr())).collect();
    for c in &mut slow {
        c.write_all(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            .unwrap();
    }
    let done = Arc::new(AtomicBool::new(false));
    let dribbler = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            // One byte per client per round: pacing the attack, not synchronising the test.
            while !done.load(Ordering::SeqCst) {
                for c in &mut slow {
                    let _ = c.write_all(b"a");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    wait_until("20 heads arriving", || s.stats().reading == 20);
    for _ in 0..5 {
        assert_eq!(one(s.local_addr(), &get("/normal")).status, 200);
    }
    wait_until("every worker parks: half-sent heads hold none", || {
        pool.stats().busy == 0 && s.stats().busy == 0
    });
    assert_eq!(s.stats().reading, 20);
    done.store(true, Ordering::SeqCst);
    dribbler.join().unwrap();
}

#[test]
fn stop_finishes_requests_in_flight_closes_idle_connections_and_reports() {
    let gate = Gate::default();
    let s = serve(app(gate.clone()), Config::default());
    let mut busy = Reader::new(connect(s.local_addr()));
    busy.send(&get("/block"));
    let mut idle = Reader::new(connect(s.local_addr()));
    idle.send(&get("/hello"));
    idle.response(false).unwrap();
    let mut half = Reader::new(connect(s.local_addr()));
    half.send(b"GET /hello HTTP/1.1\r\nHo");
    wait_until("the handler runs and the others are parked", || {
        let st = s.stats();
        gate.inside() == 1 && st.idle == 1 && st.reading == 1
    });
    let stopper = std::thread::scope(|sc| {
        let h = sc.spawn(|| s.stop(Duration::from_secs(10)));
        assert!(idle.is_closed(), "stop closes idle connections");
        assert!(half.is_closed(), "stop closes half-read connections");
        gate.open();
        let r = busy.response(false).unwrap();
        assert_eq!(r.text(), "unblocked", "the request in flight finishes");
        assert_eq!(r.header("connection"), Some("close"));
        h.join().unwrap()
    });
    assert!(stopper.drained, "{stopper}");
    assert_eq!(stopper.served, 2);
    assert_eq!(stopper.closed_idle, 2);
    assert_eq!(stopper.cut_at_deadline, 0);
    assert!(
        TcpStream::connect(s.local_addr()).is_err(),
        "no longer accepting"
    );
}

#[test]
fn stop_cuts_a_request_still_running_at_the_deadline() {
    let s = serve(app(Gate::default()), Config::default());
    let mut c = Reader::new(connect(s.local_addr()));
    // The handler reads a body that never fully arrives.
    c.send(b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab");
    wait_until("the request is with a worker", || s.stats().busy == 1);
    let report = s.stop(Duration::from_millis(300));
    assert!(!report.drained);
    assert_eq!(report.cut_at_deadline, 1, "{report}");
    assert!(c.response(false).is_none(), "cut, not answered");
}

#[test]
fn every_request_is_answered_once_or_its_cut_is_counted() {
    let s = serve(app(Gate::default()), Config::default());
    let addr = s.local_addr();
    let mut threads = Vec::new();
    for t in 0..4 {
        threads.push(std::thread::spawn(move || {
            let mut r = Reader::new(connect(addr));
            let mut answers = 0;
            for i in 0..25 {
                let path = match (t * 25 + i) % 5 {
                    0 => "/panic",
                    1 => "/error",
                    _ => "/hello",
                };
                r.send(&get(path));
                let resp = r.response(false).expect("an answer");
                answers += 1;
                if resp.header("connection") == Some("close") {
                    r = Reader::new(connect(addr));
                }
            }
            answers
        }));
    }
    let answers: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    for _ in 0..3 {
        one(addr, b"GET / HTTP/1.1\r\n\r\n"); // no Host: refused
    }
    wait_until("all requests settled", || {
        let st = s.stats();
        st.in_flight() == 0 && st.received == 100
    });
    let st = s.stats();
    assert_eq!(answers, 100);
    assert_eq!(st.answered, 100, "{st}");
    assert_eq!(st.answered_error, 40);
    assert_eq!(st.cut + st.rejected_503, 0);
    assert_eq!(st.refused_with(400), 3);
    assert_eq!(st.received, st.answered + st.cut + st.rejected_503);
}

#[test]
fn the_classic_backend_serves_too() {
    let pool: Arc<dyn Pool> = Arc::new(Builder::new().min(1).max(2).classic().unwrap());
    let s = serve_on(pool, app(Gate::default()), Config::default());
    let mut r = Reader::new(connect(s.local_addr()));
    for _ in 0..3 {
        r.send(&get("/hello"));
        assert_eq!(r.response(false).unwrap().text(), "hello");
    }
    wait_until("three jobs completed on the classic pool", || {
        let st = s.stats();
        st.pool.completed == 3 && st.pool.min == 1
    });
}

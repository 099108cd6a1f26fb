//! pywin32's ThreadPoolExtension API: dispatch on a worker, handle_dispatch_error on a panic,
//! submits that return at once, every request ending exactly once, and a termination that
//! drains until its deadline and hands back the rest.

mod support;

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use pool_iocp::{DispatchPanic, Ending, Extension, IocpBuilder, ThreadPoolExtension};
use support::T;

/// Records how each request ended; requests named "hold" wait for `open`.
#[derive(Default)]
struct Recorder {
    done: Mutex<Vec<(u32, Ending)>>,
    errors: Mutex<Vec<(u32, String)>>,
    open: Mutex<bool>,
    opened: Condvar,
    threads: Mutex<Vec<std::thread::ThreadId>>,
}

#[derive(Debug, PartialEq, Eq)]
enum Req {
    Ok(u32),
    Panic(u32),
    Hold(u32),
}

impl Req {
    fn id(&self) -> u32 {
        match *self {
            Req::Ok(i) | Req::Panic(i) | Req::Hold(i) => i,
        }
    }
}

impl Recorder {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

impl Extension for Recorder {
    type Request = Req;

    fn dispatch(&self, request: &mut Req) {
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        match request {
            Req::Ok(_) => {}
            Req::Panic(_) => panic!("request failed on purpose"),
            Req::Hold(_) => {
                let deadline = Instant::now() + T;
                let mut open = self.open.lock().unwrap();
                while !*open && Instant::now() < deadline {
                    open = self.opened.wait_timeout(open, T).unwrap().0;
                }
            }
        }
    }

    fn handle_dispatch_error(&self, request: &mut Req, panic: &DispatchPanic) {
        let msg = panic.message().unwrap_or("?").to_owned();
        self.errors.lock().unwrap().push((request.id(), msg));
    }

    fn done_with_session(&self, request: Req, ending: Ending) {
        self.done.lock().unwrap().push((request.id(), ending));
    }
}

fn quiet_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.to_string().contains("on purpose") {
            default(info);
        }
    }));
}

#[test]
fn every_request_is_dispatched_once_and_ends_once() {
    let ext = ThreadPoolExtension::new(Recorder::default()).unwrap();
    for i in 0..50 {
        ext.submit(Req::Ok(i)).unwrap();
    }
    let report = ext.terminate_extension(T);
    assert_eq!((report.dispatched, report.failed), (50, 0));
    assert!(report.returned.is_empty());
    let mut done: Vec<_> = ext.extension().done.lock().unwrap().clone();
    done.sort_by_key(|d| d.0);
    assert_eq!(
        done,
        (0..50).map(|i| (i, Ending::Dispatched)).collect::<Vec<_>>()
    );
    let main = std::thread::current().id();
    assert!(
        ext.extension()
            .threads
            .lock()
            .unwrap()
            .iter()
            .all(|t| *t != main)
    );
}

#[test]
fn a_panicking_dispatch_goes_to_handle_dispatch_error_and_the_worker_survives() {
    quiet_panics();
    let ext =
        ThreadPoolExtension::with_builder(Recorder::default(), IocpBuilder::new().max_workers(1))
            .unwrap();
    ext.submit(Req::Panic(1)).unwrap();
    ext.submit(Req::Ok(2)).unwrap();
    let report = ext.terminate_extension(T);
    assert_eq!((report.dispatched, report.failed), (1, 1));
    let r = ext.extension();
    assert_eq!(
        *r.errors.lock().unwrap(),
        [(1, "request failed on purpose".to_owned())]
    );
    let mut done = r.done.lock().unwrap().clone();
    done.sort_by_key(|d| d.0);
    assert_eq!(done, [(1, Ending::Failed), (2, Ending::Dispatched)]);
}

#[test]
fn submit_returns_at_once_while_every_worker_is_busy() {
    let ext =
        ThreadPoolExtension::with_builder(Recorder::default(), IocpBuilder::new().max_workers(2))
            .unwrap();
    for i in 0..2 {
        ext.submit(Req::Hold(i)).unwrap();
    }
    // Both workers hold; these queue and submit does not wait for them.
    for i in 2..40 {
        ext.submit(Req::Ok(i)).unwrap();
    }
    assert!(ext.extension().done.lock().unwrap().len() < 40);
    ext.extension().open();
    let report = ext.terminate_extension(T);
    assert_eq!(report.dispatched, 40);
}

#[test]
fn terminate_drains_until_its_deadline_then_hands_back_the_rest_in_order() {
    let ext =
        ThreadPoolExtension::with_builder(Recorder::default(), IocpBuilder::new().max_workers(1))
            .unwrap();
    ext.submit(Req::Hold(0)).unwrap();
    for i in 1..6 {
        ext.submit(Req::Ok(i)).unwrap();
    }
    let report = ext.terminate_extension(Duration::from_millis(50));
    let back: Vec<_> = report.returned.iter().map(Req::id).collect();
    assert_eq!(
        back,
        [1, 2, 3, 4, 5],
        "not dispatched: handed back in queue order"
    );
    assert_eq!(
        report.still_running, 1,
        "the held request is still being dispatched"
    );
    ext.extension().open();
    assert!(ext.pool().await_termination_for_test());
    assert_eq!(
        *ext.extension().done.lock().unwrap(),
        [(0, Ending::Dispatched)]
    );
    // After termination, a submit is refused with its request.
    let refused = ext.submit(Req::Ok(9)).unwrap_err();
    assert!(refused.shut_down);
    assert_eq!(refused.request, Req::Ok(9));
}

/// `await_termination` with the tests' deadline.
trait AwaitForTest {
    fn await_termination_for_test(&self) -> bool;
}

impl<P: pool_iocp::CompletionPort<()> + 'static> AwaitForTest for pool_iocp::IocpPool<P> {
    fn await_termination_for_test(&self) -> bool {
        pool_core::Pool::await_termination(self, T)
    }
}

#[test]
fn requests_sent_back_are_never_also_dispatched() {
    let ext = Arc::new(
        ThreadPoolExtension::with_builder(Recorder::default(), IocpBuilder::new().max_workers(2))
            .unwrap(),
    );
    for i in 0..200 {
        ext.submit(Req::Ok(i)).unwrap();
    }
    let report = ext.terminate_extension(Duration::ZERO);
    ext.pool().await_termination_for_test();
    let done = ext.extension().done.lock().unwrap().clone();
    let mut seen: Vec<u32> = done.iter().map(|d| d.0).collect();
    seen.extend(report.returned.iter().map(Req::id));
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..200).collect::<Vec<_>>(),
        "each request ended exactly once"
    );
}

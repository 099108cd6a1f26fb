//! The real completion port (Windows; under Wine in CI, `.ci/windows.sh`): results checked,
//! WAIT_TIMEOUT as nothing yet, each payload recovered exactly once, packets left at drop
//! recovered and dropped. (Wine ignores the concurrency value; the limit is tested on
//! `EmulatedPort`.)
#![cfg(windows)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use pool_iocp::{CompletionKey, CompletionPort, WindowsPort};

#[test]
fn packets_come_out_first_in_first_out_with_key_and_payload() {
    let port = WindowsPort::new(1).unwrap();
    for i in 0..3u32 {
        port.post(CompletionKey(i as usize + 1), format!("p{i}"))
            .unwrap();
    }
    for i in 0..3u32 {
        let p = port
            .get(Some(Duration::from_secs(5)))
            .unwrap()
            .expect("a packet");
        assert_eq!(
            (p.key, p.payload),
            (CompletionKey(i as usize + 1), format!("p{i}"))
        );
    }
}

#[test]
fn wait_timeout_is_nothing_yet() {
    let port = WindowsPort::<u64>::new(1).unwrap();
    assert!(port.get(Some(Duration::ZERO)).unwrap().is_none());
    assert!(port.get(Some(Duration::from_millis(10))).unwrap().is_none());
    assert!(port.get_many(8, Some(Duration::ZERO)).unwrap().is_empty());
}

#[test]
fn get_many_dequeues_several_packets_at_once() {
    let port = WindowsPort::new(1).unwrap();
    for i in 0..5u64 {
        port.post(CompletionKey(1), i).unwrap();
    }
    let got: Vec<u64> = port
        .get_many(3, Some(Duration::from_secs(5)))
        .unwrap()
        .into_iter()
        .map(|p| p.payload)
        .collect();
    assert_eq!(got, [0, 1, 2]);
    let rest: Vec<u64> = port.drain().into_iter().map(|p| p.payload).collect();
    assert_eq!(rest, [3, 4]);
}

#[test]
fn each_payload_is_recovered_exactly_once_and_none_leaks_at_drop() {
    let token = Arc::new(());
    let port = WindowsPort::new(2).unwrap();
    for _ in 0..4 {
        port.post(CompletionKey(1), Arc::clone(&token)).unwrap();
    }
    assert_eq!(Arc::strong_count(&token), 5, "the port owns four payloads");
    let one = port.get(None).unwrap().expect("a packet");
    assert_eq!(
        Arc::strong_count(&token),
        5,
        "ownership moved, nothing duplicated"
    );
    drop(one);
    assert_eq!(Arc::strong_count(&token), 4);
    drop(port);
    assert_eq!(
        Arc::strong_count(&token),
        1,
        "packets left in the port were recovered"
    );
}

#[test]
fn packets_cross_threads_each_to_one_getter() {
    let port = Arc::new(WindowsPort::new(4).unwrap());
    let got = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (port, got) = (Arc::clone(&port), Arc::clone(&got));
            std::thread::spawn(move || {
                while let Some(p) = port.get(Some(Duration::from_secs(5))).unwrap() {
                    if p.key == CompletionKey(2) {
                        break;
                    }
                    got.fetch_add(p.payload, SeqCst);
                }
            })
        })
        .collect();
    for _ in 0..100 {
        port.post(CompletionKey(1), 1usize).unwrap();
    }
    for _ in 0..4 {
        port.post(CompletionKey(2), 0usize).unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(got.load(SeqCst), 100, "every packet dequeued once");
}

#[test]
fn a_concurrency_that_does_not_fit_the_api_is_an_error_naming_it() {
    let err = WindowsPort::<()>::new(usize::MAX).unwrap_err();
    assert!(err.to_string().contains(&usize::MAX.to_string()), "{err}");
}

//! Errors that compose (issue 12 item 7): `JoinError` is `Send + Sync + 'static` and goes through
//! `?` into `anyhow` and `Box<dyn Error + Send + Sync>` with its panic payload still reachable;
//! `BatchError` is an `Error`; `PutError` has a payload-free `kind()`; the plain error types
//! compare with `==`.
#![cfg(not(loom))]

use std::error::Error;
use std::time::Duration;

use pool_core::{
    BatchError, Builder, FastPool, JoinError, Panic, Pool, PoolExt, PutError, PutErrorKind,
    StartError,
};

/// A fast pool; the builder returns it running.
fn running(b: Builder) -> FastPool {
    let pool = b.fast().expect("valid configuration");
    assert_eq!(
        pool.start(),
        Err(StartError::AlreadyStarted),
        "built running"
    );
    pool
}

fn send_sync_static<T: Send + Sync + 'static>() {}

#[test]
fn join_errors_and_panics_are_send_sync_and_static() {
    send_sync_static::<JoinError>();
    send_sync_static::<Panic>();
    send_sync_static::<PutErrorKind>();
    send_sync_static::<StartError>();
    send_sync_static::<BatchError<fn() -> u8>>();
}

fn join_into_anyhow(pool: &FastPool) -> anyhow::Result<u32> {
    let handle = pool.submit(|| -> u32 { panic!("boom 7") })?;
    Ok(handle.join()?)
}

#[test]
fn a_panic_goes_through_question_mark_into_anyhow_with_its_payload() {
    let pool = running(Builder::new().fixed(1));
    let err = join_into_anyhow(&pool).unwrap_err();
    assert_eq!(err.to_string(), "the job panicked: boom 7");
    let join: JoinError = err.downcast().expect("the anyhow error is the JoinError");
    assert_eq!(join.into_panic().message(), Some("boom 7"));
}

fn join_into_box(pool: &FastPool) -> Result<u32, Box<dyn Error + Send + Sync>> {
    let handle = pool.submit(|| std::panic::panic_any(41u32 + 1))?;
    Ok(handle.join()?)
}

#[test]
fn a_panic_goes_through_question_mark_into_a_boxed_error_and_keeps_a_custom_payload() {
    let pool = running(Builder::new().fixed(1));
    let err = join_into_box(&pool).unwrap_err();
    let join = err
        .downcast::<JoinError>()
        .expect("the boxed error is the JoinError");
    assert!(join.is_panic());
    let mut panic = join.try_into_panic().expect("it panicked");
    assert_eq!(panic.message(), None, "a u32 payload has no message");
    assert_eq!(panic.payload_mut().downcast_ref::<u32>(), Some(&42));
    let payload = panic.into_payload();
    assert_eq!(payload.downcast::<u32>().ok().map(|b| *b), Some(42));
}

#[test]
fn a_resumed_panic_carries_the_original_payload() {
    let pool = running(Builder::new().fixed(1));
    let panic = pool
        .submit(|| -> () { std::panic::panic_any(String::from("owned message")) })
        .unwrap()
        .join()
        .unwrap_err()
        .into_panic();
    assert_eq!(panic.message(), Some("owned message"));
    let payload = std::panic::catch_unwind(move || panic.resume()).unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("owned message")
    );
}

#[test]
fn try_into_panic_hands_back_an_error_that_is_not_a_panic() {
    let pool = running(Builder::new().fixed(1));
    // A Cancelled the public way: a job cancelled while the one worker is busy.
    let blocker = std::sync::Arc::new(std::sync::Barrier::new(2));
    let b = std::sync::Arc::clone(&blocker);
    let busy = pool.submit(move || b.wait()).unwrap();
    let queued = pool.submit(|| 1).unwrap();
    assert!(
        queued.cancel(),
        "the one worker is busy, so the job is still queued"
    );
    blocker.wait();
    busy.join().unwrap();
    let err = queued.join().unwrap_err();
    assert!(err.is_cancelled() && !err.is_panic());
    let err = err.try_into_panic().unwrap_err();
    assert!(matches!(err, JoinError::Cancelled));
    let msg = std::panic::catch_unwind(|| JoinError::Dropped.into_panic()).unwrap_err();
    assert!(
        msg.downcast_ref::<String>()
            .is_some_and(|m| m.contains("not a panic")),
        "into_panic on a non-panic says why"
    );
}

#[test]
fn put_error_kind_is_payload_free_and_the_job_comes_back() {
    let pool = running(Builder::new().fixed(1));
    pool.stop(Duration::from_secs(5));
    let refused = pool.submit(|| 5).unwrap_err();
    assert_eq!(refused.kind(), PutErrorKind::ShutDown);
    assert!(refused.is_shut_down() && !refused.is_full());
    assert_eq!(
        refused.to_string(),
        "the pool is shut down; the job is handed back"
    );
    let boxed: Box<dyn Error + Send + Sync> = Box::new(refused.kind());
    assert_eq!(boxed.to_string(), "the pool is shut down");
    assert_eq!(
        refused.into_inner()(),
        5,
        "the closure itself is handed back"
    );
    assert_eq!(PutError::Full(3), PutError::Full(3));
    assert_ne!(PutError::Full(3), PutError::ShutDown(3));
}

#[test]
fn start_errors_compare_equal() {
    let pool = running(Builder::new().fixed(1));
    assert_eq!(pool.start(), Err(StartError::AlreadyStarted));
    pool.stop(Duration::from_secs(5));
    assert_eq!(pool.start(), Err(StartError::ShutDown));
    assert_ne!(StartError::ShutDown, StartError::AlreadyStarted);
}

#[test]
fn batch_errors_display_and_chain_to_the_join_error() {
    let pool = running(Builder::new().fixed(1));
    let results = pool
        .submit_batch([
            Box::new(|| 1) as Box<dyn FnOnce() -> i32 + Send>,
            Box::new(|| panic!("third")),
        ])
        .join_all();
    assert_eq!(results[0].as_ref().ok(), Some(&1));
    let err = results.into_iter().nth(1).unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        "the batch's job has no value: the job panicked: third"
    );
    let source = err.source().expect("a join error is the source");
    assert_eq!(source.to_string(), "the job panicked: third");
    pool.stop(Duration::from_secs(5));
    let refused = pool.submit_batch([|| 2]).join_all();
    let err = refused.into_iter().next().unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        "the batch's job was refused: the pool is shut down; the job is handed back"
    );
    let boxed: Box<dyn Error + Send + Sync> = Box::new(err);
    assert!(boxed.source().is_none());
}

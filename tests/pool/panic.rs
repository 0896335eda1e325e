//! Panicking jobs: the future resolves to `FutureError::Panicked` carrying the panic message
//! (`&str`, `String` and non-string payloads), the worker survives and runs later jobs, and the
//! errors are usable values: `Display`, the `is_*` predicates, `PanicError::message`.

mod common;

use std::error::Error;
use std::panic;
use std::thread::{self, ThreadId};

use common::{BadDrop, HANG};
use poolbridge::{BrokenReason, FutureError, FutureState, PanicError, ThreadPoolExecutor};

/// A one-worker pool whose thread never retires while idle, so "the same worker" is checkable.
fn one_worker_pool() -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(1)
        .keep_alive(None)
        .build()
        .unwrap()
}

/// Runs a job that panics with `payload`'s panic and returns its error.
fn panic_error(payload: impl FnOnce() + Send + 'static) -> FutureError {
    let pool = ThreadPoolExecutor::new(1);
    let fut = pool.submit(move || -> u32 {
        payload();
        0
    });
    fut.result_timeout(HANG)
        .expect_err("a panicking job returned a value")
}

fn panic_of(err: &FutureError) -> &PanicError {
    err.as_panic()
        .unwrap_or_else(|| panic!("expected FutureError::Panicked, got {err:?}"))
}

#[test]
fn str_payload_keeps_the_message() {
    let err = panic_error(|| panic!("disk is full"));
    assert!(matches!(err, FutureError::Panicked(_)));
    assert_eq!(panic_of(&err).message(), "disk is full");
}

#[test]
fn string_payload_keeps_the_formatted_message() {
    let item = 7;
    let err = panic_error(move || panic!("bad item {item}"));
    assert_eq!(panic_of(&err).message(), "bad item 7");
}

#[test]
fn explicit_string_payload_keeps_the_message() {
    let err = panic_error(|| panic::panic_any(String::from("owned payload")));
    assert_eq!(panic_of(&err).message(), "owned payload");
}

#[test]
fn non_string_payload_is_still_a_panic() {
    let err = panic_error(|| panic::panic_any(42_i32));
    let message = panic_of(&err).message();
    assert!(
        !message.is_empty(),
        "a non-string payload should be described, not left blank"
    );
    assert!(err.to_string().contains(message));
}

#[test]
fn panicked_future_is_finished_with_the_error() {
    let pool = ThreadPoolExecutor::new(1);
    let fut = pool.submit(|| -> u8 { panic!("state of a panic") });
    let err = fut
        .exception()
        .expect("exception() of a panicked job is None");
    assert_eq!(fut.state(), FutureState::Finished);
    assert!(!fut.cancelled());
    assert_eq!(fut.result(), Err(err.clone()));
    assert_eq!(fut.join(), Err(err));
}

// The single worker survives every panic: later jobs run, on the very same thread.
#[test]
fn worker_survives_panicking_jobs() {
    let pool = one_worker_pool();
    let before = pool.submit(|| thread::current().id()).result_timeout(HANG);
    let before: ThreadId = before.expect("the first job failed");

    let panicking: Vec<_> = (0..10)
        .map(|i| pool.submit(move || -> ThreadId { panic!("job {i} panics") }))
        .collect();
    let after = pool.submit(|| thread::current().id());

    for (i, fut) in panicking.iter().enumerate() {
        let err = fut.result_timeout(HANG).unwrap_err();
        assert_eq!(panic_of(&err).message(), format!("job {i} panics"));
    }
    assert_eq!(
        after.result_timeout(HANG),
        Ok(before),
        "the job after the panics did not run on the original worker"
    );
}

#[test]
fn panicked_error_predicates_and_display() {
    let err = panic_error(|| panic!("no route to host"));
    assert!(err.is_panic());
    assert!(!err.is_cancelled());
    assert!(!err.is_timeout());
    assert!(!err.is_shutdown());
    assert!(!err.is_broken_pool());

    let text = err.to_string();
    assert!(
        text.contains("no route to host"),
        "Display {text:?} hides the message"
    );
    assert!(
        text.contains("panic"),
        "Display {text:?} does not say the job panicked"
    );
    let panic = panic_of(&err);
    assert!(panic.to_string().contains("no route to host"));

    let as_error: &dyn Error = &err;
    assert!(!as_error.to_string().is_empty());
    assert_eq!(err.clone(), err);
    assert_ne!(err, panic_error(|| panic!("another message")));
}

#[test]
fn other_error_predicates_and_display() {
    let cases = [
        (FutureError::Cancelled, "cancel"),
        (FutureError::Timeout, "time"),
        (FutureError::Shutdown, "shut"),
        (
            FutureError::BrokenPool(BrokenReason::Other(String::from("init failed"))),
            "init failed",
        ),
    ];
    for (err, word) in &cases {
        let predicates = [
            err.is_cancelled(),
            err.is_timeout(),
            err.is_shutdown(),
            err.is_broken_pool(),
            err.is_panic(),
        ];
        assert_eq!(
            predicates.iter().filter(|p| **p).count(),
            1,
            "{err:?} answers {predicates:?}"
        );
        assert!(err.as_panic().is_none());
        let text = err.to_string().to_lowercase();
        assert!(text.contains(word), "Display of {err:?} is {text:?}");
    }
    assert!(FutureError::Cancelled.is_cancelled());
    assert!(FutureError::Timeout.is_timeout());
    assert!(FutureError::Shutdown.is_shutdown());
    assert!(FutureError::BrokenPool(BrokenReason::Other(String::new())).is_broken_pool());
}

// Panics in many jobs at once on a multi-worker pool are all reported, none lost or mixed up.
#[test]
fn concurrent_panics_keep_their_own_messages() {
    let pool = ThreadPoolExecutor::new(4);
    let futures: Vec<_> = (0..40)
        .map(|i| {
            pool.submit(move || {
                if i % 2 == 0 {
                    panic!("even {i}");
                }
                i
            })
        })
        .collect();
    for (i, fut) in futures.iter().enumerate() {
        match fut.result_timeout(HANG) {
            Ok(value) => {
                assert_eq!(value, i);
                assert!(i % 2 == 1);
            }
            Err(err) => {
                assert!(i % 2 == 0, "job {i} failed: {err}");
                assert_eq!(panic_of(&err).message(), format!("even {i}"));
            }
        }
    }
}

// The hardening issue's defect 2: a panic payload whose own `Drop` panics used to escape the
// catch, leaving the job `Running` forever and killing its worker.
#[test]
fn a_panic_payload_whose_drop_panics_is_contained() {
    let pool = one_worker_pool();
    let before = pool.submit(|| thread::current().id()).join().unwrap();
    let fut = pool.submit(|| -> u32 { panic::panic_any(BadDrop) });
    match fut.result_timeout(HANG) {
        Err(FutureError::Panicked(p)) => {
            assert!(p.message().contains("not a string"), "{p:?}")
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert_eq!(fut.state(), FutureState::Finished);
    let after = pool.submit(|| thread::current().id()).result_timeout(HANG);
    assert_eq!(after, Ok(before), "the worker died");
}
